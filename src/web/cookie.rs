//! Cookies: reading one from a request, and the `Set-Cookie` values that
//! start and end one (always `Secure; SameSite=Strict; Path=/`).

use hyper::header::{self, HeaderMap, HeaderValue};

/// The value of cookie `name` in a request's `Cookie` headers (any of them).
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, value)| value.trim())
}

/// The `Set-Cookie` value for `name=value`, kept `max_age_secs` (never
/// negative); `http_only` hides it from scripts (every token does).
pub fn set_cookie_header(name: &str, value: &str, max_age_secs: i64, http_only: bool) -> String {
    let http_only = if http_only { " HttpOnly;" } else { "" };
    format!(
        "{name}={value}; Secure;{http_only} SameSite=Strict; Path=/; Max-Age={}",
        max_age_secs.max(0)
    )
}

/// The `Set-Cookie` value that ends cookie `name` (an HttpOnly one).
pub fn clear_cookie_header(name: &str) -> String {
    set_cookie_header(name, "", 0, true)
}

/// Add one `Set-Cookie` value to an answer (a value that is no header value is dropped).
pub fn append_set_cookie(h: &mut HeaderMap, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.append(header::SET_COOKIE, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_read_and_set() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            "desawifi_lang=en; desawifi_admin=tok".parse().unwrap(),
        );
        h.append(header::COOKIE, "z=1".parse().unwrap());
        assert_eq!(cookie(&h, "desawifi_lang"), Some("en"));
        assert_eq!(cookie(&h, "z"), Some("1"));
        assert_eq!(cookie(&h, "desawifi"), None);
        assert_eq!(
            set_cookie_header("a", "b", 60, true),
            "a=b; Secure; HttpOnly; SameSite=Strict; Path=/; Max-Age=60"
        );
        assert_eq!(
            set_cookie_header("l", "en", -5, false),
            "l=en; Secure; SameSite=Strict; Path=/; Max-Age=0"
        );
        assert_eq!(
            clear_cookie_header("a"),
            "a=; Secure; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"
        );
    }
}
