//! HTML forms: `application/x-www-form-urlencoded` bodies and query strings,
//! and the check that a form was posted from our own pages.

/// Decode an `application/x-www-form-urlencoded` body (or a query string).
pub fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    body.split(|&b| b == b'&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let mut parts = kv.splitn(2, |&b| b == b'=');
            let k = percent_decode(parts.next().unwrap_or_default());
            let v = percent_decode(parts.next().unwrap_or_default());
            (k, v)
        })
        .collect()
}

/// `+` is a space, `%XX` a byte; a malformed escape stays as it is.
pub fn percent_decode(s: &[u8]) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < s.len() => match (hex(s[i + 1]), hex(s[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The first value of `name` in a decoded form.
pub fn form_value<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Did this request come from one of our own pages (served over HTTPS)?
/// When the browser says where it came from (`Origin`, `Sec-Fetch-Site`), it
/// must be this very origin; a browser that says nothing is judged by the
/// form's token alone. An opaque `Origin: null` (what a browser sends under a
/// `no-referrer` policy, and what a sandboxed frame sends) passes only when
/// `Sec-Fetch-Site` vouches for the same origin.
pub fn same_origin(headers: &hyper::HeaderMap) -> bool {
    let get = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or("\u{0}"));
    let site = get("sec-fetch-site");
    if site.is_some_and(|s| s != "same-origin" && s != "none") {
        return false;
    }
    match get("origin") {
        None => true,
        Some("null") => site == Some("same-origin"),
        Some(origin) => {
            get("host").is_some_and(|host| origin.eq_ignore_ascii_case(&format!("https://{host}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_parse() {
        let f = parse_form(b"username=ani+b&password=p%40ss%3D%26&x=%zz&lang=en&empty=");
        assert_eq!(form_value(&f, "username"), Some("ani b"));
        assert_eq!(form_value(&f, "password"), Some("p@ss=&"));
        assert_eq!(form_value(&f, "x"), Some("%zz"));
        assert_eq!(form_value(&f, "empty"), Some(""));
        assert_eq!(form_value(&f, "missing"), None);
        assert_eq!(parse_form(b"a=%4"), vec![("a".to_owned(), "%4".to_owned())]);
    }
}
