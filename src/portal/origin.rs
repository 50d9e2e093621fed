//! Same-origin forms: `POST /login`, `POST /logout` and `POST /quiz` change
//! a device's state (the quiz: its one attempt of the day), so a page on another site must not be able to submit them (a
//! hidden form on any web page would otherwise log the phone out).
//!
//! A request is refused when `Sec-Fetch-Site` says `cross-site`, or when
//! `Origin` names a host that is neither the portal's address nor its public
//! name (or is `null`, as a sandboxed frame sends it). A POST with neither
//! header (captive-network assistants, old phones, curl) is let through: the
//! headers a browser adds are what an attacker's page cannot forge, their
//! absence is not.

use hyper::header::HeaderMap;

/// Why a form POST is refused, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrossSite {
    /// `Sec-Fetch-Site: cross-site`.
    FetchSite,
    /// An `Origin` of another host (the value, for the log).
    Origin(String),
}

/// Is this request from another site? `hosts` are the names the portal is
/// reached by (its LAN address, and its public name when it has one).
pub fn cross_site(headers: &HeaderMap, hosts: &[&str]) -> Option<CrossSite> {
    let fetch_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    if fetch_site.as_deref() == Some("cross-site") {
        return Some(CrossSite::FetchSite);
    }
    let origin = headers.get("origin")?;
    let text = origin.to_str().unwrap_or("").trim();
    let ours = origin_host(text).is_some_and(|h| hosts.iter().any(|o| o.eq_ignore_ascii_case(h)));
    (!ours).then(|| CrossSite::Origin(text.to_owned()))
}

/// The host of a serialized origin (`scheme://host[:port]`), without port
/// or IPv6 brackets; `None` for `null` or anything else.
fn origin_host(origin: &str) -> Option<&str> {
    let (_, rest) = origin.split_once("://")?;
    if rest.contains('/') {
        return None;
    }
    if let Some(v6) = rest.strip_prefix('[') {
        return v6.split_once(']').map(|(h, _)| h);
    }
    Some(rest.rsplit_once(':').map_or(rest, |(h, _)| h))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    const HOSTS: [&str; 2] = ["10.77.0.1", "wifi.desa.id"];

    #[test]
    fn no_headers_is_not_cross_site() {
        assert_eq!(cross_site(&headers(&[]), &HOSTS), None);
    }

    #[test]
    fn the_portal_itself_is_same_origin() {
        for o in [
            "http://10.77.0.1:2050",
            "https://wifi.desa.id:8443",
            "https://WIFI.desa.id",
        ] {
            let h = headers(&[("origin", o), ("sec-fetch-site", "same-origin")]);
            let mut h2 = h.clone();
            h2.insert("origin", o.parse().unwrap());
            assert_eq!(cross_site(&h2, &HOSTS), None, "{o}");
        }
        let h = headers(&[("sec-fetch-site", "none")]);
        assert_eq!(cross_site(&h, &HOSTS), None);
    }

    #[test]
    fn another_site_is_refused() {
        let h = headers(&[("origin", "http://evil.example")]);
        assert_eq!(
            cross_site(&h, &HOSTS),
            Some(CrossSite::Origin("http://evil.example".into()))
        );
        let h = headers(&[("origin", "null")]);
        assert!(cross_site(&h, &HOSTS).is_some());
        let h = headers(&[("origin", "http://10.77.0.1.evil.example")]);
        assert!(cross_site(&h, &HOSTS).is_some());
        let h = headers(&[("sec-fetch-site", "cross-site")]);
        assert_eq!(cross_site(&h, &HOSTS), Some(CrossSite::FetchSite));
    }
}
