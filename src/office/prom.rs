//! A client for the Prometheus HTTP query API (`/api/v1/query`,
//! `/api/v1/query_range`, `/api/v1/label/<name>/values`), the one store the
//! office reads: Prometheus at a regency, VictoriaMetrics (same API) at a
//! province. Over [`crate::web::client`]: one connection per query, a
//! deadline and a body cap, https with a CA file or plain http to a store on
//! the same machine, basic auth or a bearer token.
//!
//! Every failure is a [`PromError`] a page can name ("Prometheus
//! unreachable") instead of failing whole. VictoriaMetrics' extra fields
//! (`stats`, `isPartial`) are ignored; its numbers may come as JSON numbers
//! where Prometheus writes strings, and both forms are read
//! (docs/office.md, "VictoriaMetrics").

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;

use crate::web::client::{self, FetchError, Limits};

/// How long a query may take and how large its answer may be.
pub const LIMITS: Limits = Limits {
    connect: Duration::from_secs(3),
    handshake: Duration::from_secs(3),
    response: Duration::from_secs(20),
    max_body: 16 * 1024 * 1024,
};

/// How the office proves itself to the store.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    Basic { user: String, password: String },
    Bearer(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret (a log line or a test's message shows this).
        match self {
            Auth::None => f.write_str("None"),
            Auth::Basic { user, .. } => write!(f, "Basic({user}, ***)"),
            Auth::Bearer(_) => f.write_str("Bearer(***)"),
        }
    }
}

/// Why a query gave no data.
#[derive(Debug, thiserror::Error)]
pub enum PromError {
    /// The store's URL or CA file is unusable (the office's configuration).
    #[error("store configuration: {0}")]
    Config(String),
    /// No connection, or no whole answer in time: the store is down or far.
    #[error("Prometheus unreachable: {0}")]
    Unreachable(String),
    /// TLS failed: a certificate the CA file did not sign, or another name.
    #[error("Prometheus TLS: {0}")]
    Tls(String),
    /// An HTTP status without a Prometheus error document (401, 404, a proxy's 502).
    #[error("Prometheus answered HTTP {0}")]
    Status(u16),
    /// The store refused the query (`{"status":"error"}`): bad PromQL, too many samples, a timeout.
    #[error("Prometheus error ({kind}): {message}")]
    Query { kind: String, message: String },
    /// The answer was not the API's JSON.
    #[error("Prometheus answer unreadable: {0}")]
    BadAnswer(String),
    /// The answer was larger than the cap.
    #[error("Prometheus answer larger than {0} bytes")]
    TooLarge(usize),
}

impl From<FetchError> for PromError {
    fn from(e: FetchError) -> PromError {
        match e {
            FetchError::Roots { .. } => PromError::Config(e.to_string()),
            FetchError::Tls { .. } => PromError::Tls(e.to_string()),
            FetchError::Status(s) => PromError::Status(s),
            FetchError::TooLarge(n) => PromError::TooLarge(n),
            FetchError::Resolve { .. } | FetchError::Connect { .. } | FetchError::Http(_) => {
                PromError::Unreachable(e.to_string())
            }
        }
    }
}

/// One series: its labels (`__name__` included when the store gives it) and
/// its samples, (unix seconds, value); NaN and ±Inf are kept as such.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    pub labels: BTreeMap<String, String>,
    pub samples: Vec<(i64, f64)>,
}

impl Series {
    /// The label's value, "" when absent (PromQL's own rule).
    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map_or("", String::as_str)
    }

    /// The last sample's value, if any and finite.
    pub fn value(&self) -> Option<f64> {
        self.samples.last().map(|s| s.1).filter(|v| v.is_finite())
    }
}

/// A Prometheus-API store.
#[derive(Clone)]
pub struct Prom {
    tls: Option<Arc<rustls::ClientConfig>>,
    host: String,
    port: u16,
    /// The path before `/api/v1` ("" or "/prometheus", "/select/0/prometheus").
    prefix: String,
    authorization: Option<String>,
    limits: Limits,
}

impl std::fmt::Debug for Prom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the credentials.
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        write!(
            f,
            "Prom({scheme}://{}:{}{})",
            self.host, self.port, self.prefix
        )
    }
}

impl Prom {
    /// The store at `url` (`http://127.0.0.1:9090`, `https://prom.example:9090/prefix`),
    /// trusting `ca_file` (or the system's roots) for https.
    pub fn new(url: &str, auth: Auth, ca_file: Option<&Path>) -> Result<Prom, PromError> {
        let bad = |why: &str| PromError::Config(format!("store URL {url:?}: {why}"));
        let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(bad("not http:// or https://"));
        };
        let (authority, prefix) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (
                h,
                p.parse::<u16>()
                    .map_err(|_| bad("the port is not a number"))?,
            ),
            _ => (authority, if https { 443 } else { 80 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || prefix.contains(['?', '#']) {
            return Err(bad("no host, or a query in it"));
        }
        let tls = if https {
            Some(client::client_config(client::roots(ca_file)?))
        } else {
            None
        };
        let authorization = match auth {
            Auth::None => None,
            Auth::Bearer(t) => Some(format!("Bearer {t}")),
            Auth::Basic { user, password } => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            )),
        };
        Ok(Prom {
            tls,
            host: host.to_owned(),
            port,
            prefix: prefix.trim_end_matches('/').to_owned(),
            authorization,
            limits: LIMITS,
        })
    }

    /// The same store with other limits (a page's deadline).
    pub fn with_limits(mut self, limits: Limits) -> Prom {
        self.limits = limits;
        self
    }

    /// `query` evaluated at `time`: one sample per series (a scalar is one
    /// series without labels).
    pub async fn query(&self, query: &str, time: i64) -> Result<Vec<Series>, PromError> {
        let path = format!("/api/v1/query?query={}&time={time}", encode(query));
        parse_series(&self.get(&path).await?)
    }

    /// `query` evaluated at `start`, `start + step`, ... up to `end`.
    pub async fn query_range(
        &self,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<Vec<Series>, PromError> {
        let path = format!(
            "/api/v1/query_range?query={}&start={start}&end={end}&step={step}",
            encode(query)
        );
        parse_series(&self.get(&path).await?)
    }

    /// The values of label `name` on the series matching `matcher` between
    /// `start` and `end` (VictoriaMetrics looks back only one day without them).
    pub async fn label_values(
        &self,
        name: &str,
        matcher: &str,
        start: i64,
        end: i64,
    ) -> Result<Vec<String>, PromError> {
        let path = format!(
            "/api/v1/label/{}/values?match[]={}&start={start}&end={end}",
            encode(name),
            encode(matcher)
        );
        let data = self.get(&path).await?;
        let list = data
            .as_array()
            .ok_or_else(|| PromError::BadAnswer("label values: not a list".into()))?;
        let mut out: Vec<String> = list
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        out.sort();
        Ok(out)
    }

    /// GET an API path -> its `data`, or the error the store named.
    async fn get(&self, path: &str) -> Result<Value, PromError> {
        let path = format!("{}{path}", self.prefix);
        let (status, body) = client::fetch(
            self.tls.clone(),
            &self.host,
            self.port,
            &path,
            self.authorization.as_deref(),
            self.limits,
        )
        .await?;
        answer(status, &body)
    }
}

/// An API answer -> its `data` (on 200 with `"status":"success"`), or the
/// error document's type and message, or the bare HTTP status.
pub fn answer(status: u16, body: &[u8]) -> Result<Value, PromError> {
    let doc: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) if status == 200 => return Err(PromError::BadAnswer(e.to_string())),
        Err(_) => return Err(PromError::Status(status)),
    };
    match doc.get("status").and_then(Value::as_str) {
        Some("success") if status == 200 => doc
            .get("data")
            .cloned()
            .ok_or_else(|| PromError::BadAnswer("no data".into())),
        Some("error") => Err(PromError::Query {
            kind: doc
                .get("errorType")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_owned(),
            message: doc
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
        }),
        _ if status != 200 => Err(PromError::Status(status)),
        _ => Err(PromError::BadAnswer("no status".into())),
    }
}

/// `data` of a query -> series (vector, matrix, scalar).
pub fn parse_series(data: &Value) -> Result<Vec<Series>, PromError> {
    let bad = |why: &str| PromError::BadAnswer(why.to_owned());
    let kind = data.get("resultType").and_then(Value::as_str);
    let result = data.get("result").ok_or_else(|| bad("no result"))?;
    match kind {
        Some("scalar") | Some("string") => Ok(vec![Series {
            labels: BTreeMap::new(),
            samples: vec![sample(result)?],
        }]),
        Some(k @ ("vector" | "matrix")) => {
            let list = result.as_array().ok_or_else(|| bad("result not a list"))?;
            let mut out = Vec::with_capacity(list.len());
            for item in list {
                let labels = item
                    .get("metric")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                            .collect()
                    })
                    .unwrap_or_default();
                let samples = if k == "vector" {
                    vec![sample(item.get("value").ok_or_else(|| bad("no value"))?)?]
                } else {
                    item.get("values")
                        .and_then(Value::as_array)
                        .ok_or_else(|| bad("no values"))?
                        .iter()
                        .map(sample)
                        .collect::<Result<_, _>>()?
                };
                out.push(Series { labels, samples });
            }
            Ok(out)
        }
        _ => Err(bad("unknown resultType")),
    }
}

/// `[<unix seconds>, "<value>"]` -> (seconds, value); "NaN", "+Inf", "-Inf" read.
fn sample(v: &Value) -> Result<(i64, f64), PromError> {
    let bad = || PromError::BadAnswer(format!("not a sample: {v}"));
    let pair = v.as_array().filter(|a| a.len() == 2).ok_or_else(bad)?;
    let number = |x: &Value| match x {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse::<f64>().ok(),
        _ => None,
    };
    let t = number(&pair[0]).ok_or_else(bad)?;
    let value = number(&pair[1]).ok_or_else(bad)?;
    Ok((t.round() as i64, value))
}

/// Percent-encode a query parameter (everything but RFC 3986's unreserved).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A PromQL string literal: `"..."` with `\` and `"` escaped (a village name
/// in a matcher never ends the string).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_of_both_stores_are_read() {
        // Prometheus: values as strings, NaN and Inf spelled its way.
        let prom = br#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"village":"A"},"value":[1700000000.5,"12"]},
            {"metric":{"village":"B"},"value":[1700000000,"NaN"]},
            {"metric":{"village":"C"},"value":[1700000000,"+Inf"]}]}}"#;
        let s = parse_series(&answer(200, prom).unwrap()).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].label("village"), "A");
        assert_eq!(s[0].samples, vec![(1_700_000_001, 12.0)]);
        assert!(s[1].samples[0].1.is_nan() && s[1].value().is_none());
        assert_eq!(s[2].samples[0].1, f64::INFINITY);
        // VictoriaMetrics: extra fields, a matrix.
        let vm = br#"{"status":"success","isPartial":false,"data":{"resultType":"matrix","result":[
            {"metric":{"__name__":"up"},"values":[[1,"1"],[2,"0"]]}]},"stats":{"seriesFetched":"1","executionTimeMsec":0}}"#;
        let s = parse_series(&answer(200, vm).unwrap()).unwrap();
        assert_eq!(s[0].samples, vec![(1, 1.0), (2, 0.0)]);
        let scalar = br#"{"status":"success","data":{"resultType":"scalar","result":[5,"2.5"]}}"#;
        assert_eq!(
            parse_series(&answer(200, scalar).unwrap()).unwrap()[0].value(),
            Some(2.5)
        );
    }

    #[test]
    fn errors_are_typed() {
        let e = answer(
            400,
            br#"{"status":"error","errorType":"bad_data","error":"parse error"}"#,
        )
        .unwrap_err();
        assert!(
            matches!(e, PromError::Query { ref kind, .. } if kind == "bad_data"),
            "{e}"
        );
        assert!(matches!(
            answer(401, b"Unauthorized"),
            Err(PromError::Status(401))
        ));
        assert!(matches!(
            answer(200, b"<html>"),
            Err(PromError::BadAnswer(_))
        ));
        assert!(matches!(
            answer(200, br#"{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"x"]}]}}"#)
                .and_then(|d| parse_series(&d)),
            Err(PromError::BadAnswer(_))
        ));
    }

    #[test]
    fn urls_and_literals_are_checked_and_escaped() {
        let p = Prom::new("http://127.0.0.1:9090/", Auth::None, None).unwrap();
        assert_eq!(format!("{p:?}"), "Prom(http://127.0.0.1:9090)");
        let p = Prom::new("http://[::1]:8428/prometheus", Auth::None, None).unwrap();
        assert_eq!(format!("{p:?}"), "Prom(http://::1:8428/prometheus)");
        for bad in ["ftp://x", "http://:90", "http://h:x", "http://h/p?q=1"] {
            assert!(
                matches!(Prom::new(bad, Auth::None, None), Err(PromError::Config(_))),
                "{bad}"
            );
        }
        assert_eq!(
            encode("up{a=\"b c\"}[5m]"),
            "up%7Ba%3D%22b%20c%22%7D%5B5m%5D"
        );
        assert_eq!(quote("a\"b\\c"), r#""a\"b\\c""#);
        let auth = Auth::Basic {
            user: "office".into(),
            password: "secret".into(),
        };
        assert_eq!(format!("{auth:?}"), "Basic(office, ***)");
        assert!(!format!("{:?}", Auth::Bearer("secret".into())).contains("secret"));
    }
}
