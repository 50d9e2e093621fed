//! What a request sends the API: a JSON object body (only with
//! `Content-Type: application/json`), an empty body for actions, a strict
//! query string; each refusal an answer naming the field.

use hyper::{header, StatusCode};
use serde_json::{json, Map, Value};

use super::bad;
use crate::web::http::{json_resp, Req, Resp};

/// The body as a JSON object (an empty body is an empty object). A body
/// must say `Content-Type: application/json`: a cross-site HTML form cannot
/// send that without the browser asking first, so no other site can post
/// to the API (not even a login, which needs no token).
pub fn json_object(req: &Req) -> Result<Map<String, Value>, Resp> {
    let body = req.body();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(json_resp(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &json!({ "error": "send the body as JSON with Content-Type: application/json", "field": "content-type" }),
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(bad("body", "expected a JSON object")),
        Err(e) => Err(bad("body", &format!("not JSON: {e}"))),
    }
}

/// Actions take no input: an empty body, or `{}`.
pub fn no_body(req: &Req) -> Result<(), Resp> {
    let fields = json_object(req)?;
    match fields.keys().next() {
        None => Ok(()),
        Some(key) => Err(bad(key, "unknown key (this action takes no input)")),
    }
}

/// The query string's parameters, each known and given once.
pub fn query_params(req: &Req, known: &[&str]) -> Result<Vec<(String, String)>, Resp> {
    let mut out: Vec<(String, String)> = Vec::new();
    for pair in req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = percent_decode(k).ok_or_else(|| bad(k, "bad percent-encoding"))?;
        let v = percent_decode(v).ok_or_else(|| bad(&k, "bad percent-encoding"))?;
        if !known.contains(&k.as_str()) {
            return Err(bad(
                &k,
                &format!("unknown parameter (expected one of: {})", known.join(", ")),
            ));
        }
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(bad(&k, "given twice"));
        }
        out.push((k, v));
    }
    Ok(out)
}

/// `%3A` -> `:`, `+` -> space; `None` for broken escapes or non-UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_are_strict() {
        let req = |q: &str| {
            hyper::Request::builder()
                .uri(format!("/api/usage?{q}"))
                .body(hyper::body::Bytes::new())
                .unwrap()
        };
        let q = query_params(&req("from=2026-11-01&to=2026-11-27"), &["from", "to"]).unwrap();
        assert_eq!(
            q,
            vec![
                ("from".into(), "2026-11-01".into()),
                ("to".into(), "2026-11-27".into())
            ]
        );
        assert_eq!(
            query_params(&req("form=2026-11-01"), &["from", "to"])
                .err()
                .unwrap()
                .status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            query_params(&req("to=1&to=2"), &["from", "to"])
                .err()
                .unwrap()
                .status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(percent_decode("a%3Ab+c"), Some("a:b c".into()));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%3"), None);
    }
}
