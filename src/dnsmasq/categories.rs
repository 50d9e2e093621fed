//! Which nft sets each DNS domain's answers go to: the walled garden's and
//! the usage categories', merged into one `nftset=` line per domain.
//!
//! dnsmasq looks up the LONGEST `nftset=` domain above a name and adds the
//! answer to that line's sets only (a second line for the same domain
//! replaces the first). So a category domain under a walled-garden domain
//! (kemkes.go.id under go.id) must name the garden's set too, and a garden
//! domain under a category domain must name that category's set: each line
//! lists every set a name under it belongs to. The same longest match is
//! what makes the more specific category win (bpjs-kesehatan.go.id is
//! `kesehatan`, not `layanan_publik`).

use std::fmt::Write as _;

use super::probes_covered_by;
use crate::config::Config;
use crate::firewall::categories::set_name;
use crate::firewall::{SET_GARDEN_DNS4, TABLE};

/// Firefox asks this name before it turns DNS over HTTPS on by itself; an
/// NXDOMAIN answer keeps it on the router's DNS (which fills the category sets).
pub const DOH_CANARY: &str = "use-application-dns.net";

/// `d` is `parent` or a name under it.
fn covers(parent: &str, d: &str) -> bool {
    d == parent
        || d.strip_suffix(parent)
            .is_some_and(|rest| rest.ends_with('.'))
}

/// One `nftset=` line per domain, garden domains first (in their order), then
/// the category domains in the categories' order: (domain, set names).
/// Garden domains that would let a connectivity probe through are left out
/// (the caller says so in a comment).
pub fn nftsets(config: &Config) -> Vec<(String, Vec<String>)> {
    let garden: Vec<&str> = config
        .walled_garden
        .domains
        .iter()
        .map(String::as_str)
        .filter(|d| probes_covered_by(d).is_empty())
        .collect();
    let cats = &config.usage.categories;
    let category_of = |d: &str| -> Option<String> {
        cats.iter()
            .flat_map(|c| c.domains.iter().map(move |x| (x.as_str(), &c.id)))
            .filter(|(x, _)| covers(x, d))
            .max_by_key(|(x, _)| x.len())
            .map(|(_, id)| set_name(id))
    };
    let sets_of = |d: &str| -> Vec<String> {
        let mut sets = Vec::new();
        if garden.iter().any(|g| covers(g, d)) {
            sets.push(SET_GARDEN_DNS4.to_owned());
        }
        sets.extend(category_of(d));
        sets
    };
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let domains = garden
        .iter()
        .map(|d| d.to_string())
        .chain(cats.iter().flat_map(|c| c.domains.iter().cloned()));
    for d in domains {
        if out.iter().any(|(x, _)| *x == d) {
            continue;
        }
        let sets = sets_of(&d);
        out.push((d, sets));
    }
    out
}

/// `nftset=/DOMAIN/4#inet#desawifi#SET[,4#inet#desawifi#SET]`
pub fn nftset_line(domain: &str, sets: &[String]) -> String {
    let targets: Vec<String> = sets.iter().map(|s| format!("4#inet#{TABLE}#{s}")).collect();
    format!("nftset=/{domain}/{}", targets.join(","))
}

/// The category part of the snippet: the DoH canary and the category domains
/// not already written with the walled garden.
pub fn section(config: &Config, s: &mut String) {
    let _ = write!(
        s,
        "\n# Encrypted DNS must not hide what the internet is used for: Firefox turns DNS\n\
         # over HTTPS on by itself unless this name has no answer. (Apps with a DoH\n\
         # server built in still bypass the router; their traffic counts as lainnya.)\n\
         address=/{DOH_CANARY}/\n"
    );
    let cats = &config.usage.categories;
    if cats.is_empty() {
        s.push_str("# Usage categories: none.\n");
        return;
    }
    let _ = write!(
        s,
        "\n# Usage categories: dnsmasq adds the IPv4 answers for each domain, and for every\n\
         # name under it, to that category's set (cat_ID) of table inet {TABLE}; the\n\
         # firewall counts bytes per category, never per device. The longest listed\n\
         # domain above a name decides its category, and dnsmasq uses that line alone:\n\
         # so a line under a walled-garden domain names garden_dns4 too.\n"
    );
    let garden = &config.walled_garden.domains;
    for (domain, sets) in nftsets(config) {
        if !garden.contains(&domain) {
            let _ = writeln!(s, "{}", nftset_line(&domain, &sets));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(garden: &str) -> Config {
        let text = format!(
            "[site]\nname = \"Desa\"\n[network]\nlan_interface = \"br-lan\"\nwan_interface = \"wan0\"\n\
             portal_address = \"10.77.0.1\"\n[portal]\nlisten = \"0.0.0.0:2050\"\n[store]\npath = \"/tmp/x\"\n\
             [walled_garden]\ndomains = {garden}\n"
        );
        Config::parse(&text, std::path::Path::new("x.toml")).unwrap()
    }

    fn sets(all: &[(String, Vec<String>)], d: &str) -> Vec<String> {
        all.iter()
            .find(|(x, _)| x == d)
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| panic!("{d} has no line"))
    }

    #[test]
    fn more_specific_wins_and_the_garden_is_kept_under_category_domains() {
        let all = nftsets(&config("[\"go.id\", \"pom.go.id\"]"));
        assert_eq!(sets(&all, "go.id"), ["garden_dns4", "cat_layanan_publik"]);
        // A category domain under a garden domain names the garden's set too.
        assert_eq!(
            sets(&all, "bpjs-kesehatan.go.id"),
            ["garden_dns4", "cat_kesehatan"]
        );
        assert_eq!(
            sets(&all, "satusehat.kemkes.go.id"),
            ["garden_dns4", "cat_kesehatan"]
        );
        assert_eq!(sets(&all, "pom.go.id"), ["garden_dns4", "cat_kesehatan"]);
        assert_eq!(sets(&all, "youtube.com"), ["cat_video"]);
        let once: std::collections::BTreeSet<&str> = all.iter().map(|(d, _)| d.as_str()).collect();
        assert_eq!(once.len(), all.len(), "one line per domain");
        assert_eq!(
            nftset_line("go.id", &sets(&all, "go.id")),
            "nftset=/go.id/4#inet#desawifi#garden_dns4,4#inet#desawifi#cat_layanan_publik"
        );
    }

    #[test]
    fn a_garden_domain_under_a_category_domain_names_that_category() {
        let all = nftsets(&config("[\"portal.sch.id\"]"));
        assert_eq!(
            sets(&all, "portal.sch.id"),
            ["garden_dns4", "cat_pendidikan"]
        );
        assert_eq!(sets(&all, "sch.id"), ["cat_pendidikan"]);
        let mut s = String::new();
        section(&config("[]"), &mut s);
        assert!(
            s.lines().any(|l| l == "address=/use-application-dns.net/"),
            "{s}"
        );
        assert!(
            s.lines()
                .any(|l| l == "nftset=/x.com/4#inet#desawifi#cat_media_sosial"),
            "{s}"
        );
    }
}
