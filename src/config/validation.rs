//! The whole file checked in file order, section by section, and the checks that
//! span sections.

use super::check::{Check, Parsed};
use super::{categories, fleet_policy, power, Config, Network, Portal, RawConfig};

impl Check<'_> {
    pub(super) fn config(&self, raw: RawConfig) -> Parsed<Config> {
        // In file order, so the first error reported is the first one in the file.
        let site = self.site(raw.site.unwrap_or_default())?;
        let network = self.network(raw.network.unwrap_or_default())?;
        let portal = self.portal(raw.portal.unwrap_or_default())?;
        self.portal_on_the_lan(&portal, &network)?;
        Ok(Config {
            path: self.path.to_owned(),
            site,
            portal,
            network,
            admin: self.admin(raw.admin.unwrap_or_default())?,
            store: self.store(raw.store.unwrap_or_default())?,
            quota: self.quota(raw.quota.unwrap_or_default())?,
            walled_garden: self.walled_garden(raw.walled_garden.unwrap_or_default())?,
            uplink: self.uplink(raw.uplink.unwrap_or_default())?,
            usage: categories::usage(raw.usage.unwrap_or_default(), self.path)?,
            schedule: self.schedule(raw.schedule.unwrap_or_default())?,
            quiz: self.quiz_section(raw.quiz.unwrap_or_default())?,
            fleet_policy: fleet_policy::fleet_policy(raw.fleet.unwrap_or_default(), self.path)?,
            power: power::power(raw.power.unwrap_or_default(), self.path)?,
        })
    }

    /// `portal.listen` and `portal.https_listen` are on `network.portal_address`
    /// (or on every address): phones are redirected there.
    fn portal_on_the_lan(&self, portal: &Portal, network: &Network) -> Parsed<()> {
        let address = network.portal_address;
        let https = portal
            .https
            .as_ref()
            .map(|t| ("portal.https_listen", t.listen));
        for (key, addr) in [("portal.listen", portal.listen)].into_iter().chain(https) {
            if addr.ip() != address && !(addr.is_ipv4() && addr.ip().is_unspecified()) {
                return Err(self.invalid(
                    key,
                    format!(
                        "\"{addr}\" listens on {}, but network.portal_address is {address} (use \"{address}:{port}\" or \"0.0.0.0:{port}\")",
                        addr.ip(),
                        port = addr.port(),
                    ),
                ));
            }
        }
        Ok(())
    }
}
