//! Requests and responses as both edges use them: whole bodies in memory,
//! read with a size cap and a deadline; HTML escaping; tokens compared in
//! constant time and made from the system's random source.

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Request, Response, StatusCode};

/// A request with its body already read (see [`read_body`]).
pub type Req = Request<Bytes>;
/// Every answer: a whole body in memory.
pub type Resp = Response<Full<Bytes>>;

/// Why a body was not read; each edge answers it in its own words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// More than the limit (declared in `Content-Length` or sent), or malformed.
    #[error("request body too large or malformed")]
    TooLarge,
    /// The body did not arrive within the deadline.
    #[error("request body too slow")]
    TooSlow,
}

impl BodyError {
    /// The status to answer with: 413 or 408.
    pub fn status(self) -> StatusCode {
        match self {
            BodyError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::TooSlow => StatusCode::REQUEST_TIMEOUT,
        }
    }
}

/// Does the request announce (`Content-Length`) a body over `limit`? Such a
/// request can be refused before a byte of its body is read.
pub fn declared_over(req: &Request<Incoming>, limit: usize) -> bool {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > limit as u64)
}

/// Read a request's body, at most `limit` bytes within `timeout`: a request
/// too big or too slow never reaches a handler.
pub async fn read_body(
    req: Request<Incoming>,
    limit: usize,
    timeout: Duration,
) -> Result<Req, BodyError> {
    let (parts, body) = req.into_parts();
    match tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await {
        Ok(Ok(collected)) => Ok(Request::from_parts(parts, collected.to_bytes())),
        Ok(Err(_)) => Err(BodyError::TooLarge),
        Err(_) => Err(BodyError::TooSlow),
    }
}

/// A small answer with its status and content type.
pub fn respond(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Resp {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// 303 See Other to `location`: after a POST the browser GETs it.
pub fn see_other(location: &str) -> Resp {
    let mut resp = respond(StatusCode::SEE_OTHER, "text/html; charset=utf-8", "");
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// On every answer of the two consoles (the gateway's admin listener and the
/// regency office): HTTPS only from now on, no MIME sniffing, never in a
/// frame, no referrer. `csp` replaces the answer's policy; without one, the
/// answer's own policy is kept but must still forbid framing. `no_store`
/// forbids caching outright; otherwise an answer that set no
/// `Cache-Control` of its own (a stylesheet does) is not cached either.
pub fn security_headers(h: &mut HeaderMap, csp: Option<&'static str>, no_store: bool) {
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if let Some(csp) = csp {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(csp),
        );
    } else {
        match h
            .get(header::CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok())
        {
            Some(csp) if csp.contains("frame-ancestors") => {}
            Some(csp) => {
                if let Ok(v) = HeaderValue::from_str(&format!("{csp}; frame-ancestors 'none'")) {
                    h.insert(header::CONTENT_SECURITY_POLICY, v);
                }
            }
            None => {
                h.insert(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static("frame-ancestors 'none'"),
                );
            }
        }
    }
    if no_store {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    } else {
        h.entry(header::CACHE_CONTROL)
            .or_insert(HeaderValue::from_static("no-store"));
    }
}

/// A JSON answer (`application/json`) with its status.
pub fn json_resp(status: StatusCode, body: &serde_json::Value) -> Resp {
    respond(
        status,
        "application/json",
        serde_json::to_vec(body).expect("JSON values serialize"),
    )
}

/// A download (`Content-Disposition: attachment`) named `filename`: the
/// CSV reports a spreadsheet opens.
pub fn attachment(
    status: StatusCode,
    content_type: &'static str,
    filename: &str,
    body: impl Into<Bytes>,
) -> Resp {
    let mut resp = respond(status, content_type, body);
    let name = format!("attachment; filename=\"{filename}\"");
    if let Ok(v) = HeaderValue::from_str(&name) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

/// Escape text for HTML element content and double- or single-quoted
/// attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    escape_into(&mut out, s);
    out
}

/// [`escape_html`] appending to `out` (the template engine's hot path).
pub fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// Equal without an early exit, so the time taken does not reveal how much
/// of a guessed token was right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 32 random bytes as 64 hex digits (session and CSRF tokens).
pub fn random_token() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system's random source works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_compares() {
        assert_eq!(
            escape_html("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        let t = random_token();
        assert_eq!(t.len(), 64);
        assert_ne!(t, random_token());
    }
}
