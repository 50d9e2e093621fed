//! A client of NUT's `upsd` network protocol (NUT's docs/net-protocol.txt):
//! one line per request, one line per answer (`VAR <ups> <var> "<value>"`),
//! lists between `BEGIN LIST ...` and `END LIST ...`, errors as `ERR <WORD>`.
//! Multi-word values are in double quotes, with `\"` and `\\` escaped.
//!
//! One reading is `LIST VAR <ups>` (one round trip for every variable);
//! the connection is kept between readings and made again when it breaks.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::{unix_now, Problem, Reading, Source};
use crate::config::power::NutSource;

/// The longest answer line read (upsd's values are short).
const MAX_LINE: u64 = 4096;
/// The most variables one `LIST VAR` may hold.
const MAX_VARS: usize = 2000;

/// Splits a protocol line into words: spaces separate, `"..."` groups with
/// `\` escaping the next character. `None` for an unclosed quote.
pub fn split_words(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
        let Some(&first) = chars.peek() else {
            return Some(words);
        };
        let mut word = String::new();
        if first == '"' {
            chars.next();
            loop {
                match chars.next()? {
                    '"' => break,
                    '\\' => word.push(chars.next()?),
                    c => word.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ' ' && *c != '\t') {
                if c == '\\' {
                    word.push(chars.next()?);
                } else {
                    word.push(c);
                }
            }
        }
        words.push(word);
    }
}

/// `s` as one protocol word: quoted and escaped when it needs to be.
pub fn quote(s: &str) -> String {
    if !s.is_empty() && !s.contains([' ', '"', '\\', '\t']) {
        return s.to_owned();
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// What went wrong talking to upsd.
#[derive(Debug)]
enum Fault {
    /// The connection: reconnect and try once more.
    Io(String),
    /// upsd said `ERR ...`.
    Err(String),
    /// Not the protocol.
    Malformed(String),
}

impl From<Fault> for Problem {
    fn from(f: Fault) -> Problem {
        match f {
            Fault::Io(m) => Problem::Unreachable(m),
            Fault::Err(m) => Problem::Refused(m),
            Fault::Malformed(m) => Problem::Malformed(m),
        }
    }
}

/// One connection to upsd.
pub struct Connection {
    stream: BufReader<TcpStream>,
}

impl Connection {
    /// Connects to `address` (`host:port`), with no deadline of its own.
    pub async fn open(address: &str) -> Result<Connection, Problem> {
        Ok(Connection::connect(address).await?)
    }

    async fn connect(address: &str) -> Result<Connection, Fault> {
        let stream = TcpStream::connect(address)
            .await
            .map_err(|e| Fault::Io(format!("{address}: {e}")))?;
        Ok(Connection {
            stream: BufReader::new(stream),
        })
    }

    async fn send(&mut self, line: &str) -> Result<(), Fault> {
        let mut bytes = line.as_bytes().to_vec();
        bytes.push(b'\n');
        self.stream
            .get_mut()
            .write_all(&bytes)
            .await
            .map_err(|e| Fault::Io(e.to_string()))
    }

    async fn line(&mut self) -> Result<String, Fault> {
        let mut buf = Vec::new();
        let n = (&mut self.stream)
            .take(MAX_LINE)
            .read_until(b'\n', &mut buf)
            .await
            .map_err(|e| Fault::Io(e.to_string()))?;
        if n == 0 {
            return Err(Fault::Io("upsd closed the connection".into()));
        }
        if buf.last() != Some(&b'\n') {
            return Err(Fault::Malformed(format!(
                "a line longer than {MAX_LINE} bytes"
            )));
        }
        let text = String::from_utf8_lossy(&buf);
        let text = text.trim_end_matches(['\n', '\r']).to_owned();
        if let Some(err) = text.strip_prefix("ERR ") {
            return Err(Fault::Err(err.trim().to_owned()));
        }
        Ok(text)
    }

    /// A command answered by `OK...` (USERNAME, PASSWORD).
    async fn expect_ok(&mut self, line: &str) -> Result<(), Fault> {
        self.send(line).await?;
        let answer = self.line().await?;
        if !answer.starts_with("OK") {
            return Err(Fault::Malformed(format!("expected OK, got {answer:?}")));
        }
        Ok(())
    }

    /// `GET VAR <ups> <var>`: the value.
    pub async fn get_var(&mut self, ups: &str, var: &str) -> Result<String, Problem> {
        self.send(&format!("GET VAR {} {}", quote(ups), quote(var)))
            .await?;
        let words = split_words(&self.line().await?)
            .ok_or_else(|| Problem::Malformed("an unclosed quote".into()))?;
        match words.as_slice() {
            [tag, u, v, value] if tag == "VAR" && u == ups && v == var => Ok(value.clone()),
            _ => Err(Problem::Malformed(format!("not a VAR answer: {words:?}"))),
        }
    }

    /// `LIST VAR <ups>`: every variable and its value.
    async fn list_var(&mut self, ups: &str) -> Result<BTreeMap<String, String>, Fault> {
        self.send(&format!("LIST VAR {}", quote(ups))).await?;
        let words = |line: &str| {
            split_words(line)
                .ok_or_else(|| Fault::Malformed(format!("an unclosed quote: {line:?}")))
        };
        let begin = words(&self.line().await?)?;
        if begin != ["BEGIN", "LIST", "VAR", ups] {
            return Err(Fault::Malformed(format!(
                "expected BEGIN LIST VAR, got {begin:?}"
            )));
        }
        let mut vars = BTreeMap::new();
        loop {
            let w = words(&self.line().await?)?;
            match w.as_slice() {
                [end, list, var, u]
                    if end == "END" && list == "LIST" && var == "VAR" && u == ups =>
                {
                    return Ok(vars)
                }
                [tag, u, name, value] if tag == "VAR" && u == ups => {
                    if vars.len() >= MAX_VARS {
                        return Err(Fault::Malformed(format!("more than {MAX_VARS} variables")));
                    }
                    vars.insert(name.clone(), value.clone());
                }
                _ => return Err(Fault::Malformed(format!("not a VAR line: {w:?}"))),
            }
        }
    }
}

/// Makes a reading of upsd's variables. `None` values are left out; a
/// reading needs `battery.charge` (or `LB` in `ups.status`).
pub fn reading_of(vars: &BTreeMap<String, String>, at: i64) -> Result<Reading, Problem> {
    let number = |name: &str| -> Result<Option<f64>, Problem> {
        vars.get(name)
            .map(|v| {
                v.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite())
                    .ok_or_else(|| Problem::Malformed(format!("{name} = {v:?} is not a number")))
            })
            .transpose()
    };
    let status = vars
        .get("ups.status")
        .ok_or_else(|| Problem::Missing("ups.status".into()))?;
    let flags: Vec<&str> = status.split_whitespace().collect();
    let mut r = Reading::empty(Source::Nut, at);
    r.charge = number("battery.charge")?.map(|c| c.clamp(0.0, 100.0));
    r.volts = number("battery.voltage")?;
    r.amps = number("battery.current")?;
    r.runtime = number("battery.runtime")?
        .filter(|s| *s >= 0.0)
        .map(Duration::from_secs_f64);
    r.on_battery = flags.contains(&"OB");
    // FSD (forced shutdown) is to be treated "just like OB LB" (net-protocol.txt).
    r.low_battery = flags.contains(&"LB") || flags.contains(&"FSD");
    r.on_battery |= flags.contains(&"FSD");
    r.status = status.clone();
    if r.charge.is_none() && !r.low_battery {
        return Err(Problem::Missing("battery.charge".into()));
    }
    Ok(r)
}

/// The NUT source, its connection kept between readings.
pub struct NutReader {
    cfg: NutSource,
    timeout: Duration,
    conn: Option<Connection>,
}

impl NutReader {
    pub fn new(cfg: NutSource, timeout: Duration) -> NutReader {
        NutReader {
            cfg,
            timeout,
            conn: None,
        }
    }

    /// A connection, logged in when credentials are configured.
    async fn connect(&self) -> Result<Connection, Fault> {
        let mut conn = Connection::connect(&self.cfg.address).await?;
        if let Some((user, password)) = &self.cfg.credentials {
            conn.expect_ok(&format!("USERNAME {}", quote(user))).await?;
            conn.expect_ok(&format!("PASSWORD {}", quote(password)))
                .await?;
        }
        Ok(conn)
    }

    /// One reading within the deadline: on the kept connection, or (when it
    /// broke) on a new one.
    pub async fn read(&mut self) -> Result<Reading, Problem> {
        let (timeout, address) = (self.timeout, self.cfg.address.clone());
        let attempt = async {
            if let Some(conn) = self.conn.as_mut() {
                match conn.list_var(&self.cfg.ups).await {
                    // The kept connection broke (upsd restarted): a new one below.
                    Err(Fault::Io(_)) => {}
                    answer => return answer,
                }
            }
            let mut conn = self.connect().await?;
            let answer = conn.list_var(&self.cfg.ups).await;
            self.conn = Some(conn);
            answer
        };
        let result = match tokio::time::timeout(timeout, attempt).await {
            Ok(r) => r,
            Err(_) => Err(Fault::Io(format!(
                "{address}: no answer within {timeout:?}"
            ))),
        };
        match result {
            Ok(vars) => reading_of(&vars, unix_now()),
            Err(e) => {
                // A half-read answer leaves the connection out of step.
                self.conn = None;
                Err(e.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_split_with_quotes_and_escapes() {
        let table: &[(&str, Option<&[&str]>)] = &[
            (
                "VAR su700 ups.status \"OL\"",
                Some(&["VAR", "su700", "ups.status", "OL"]),
            ),
            (
                "VAR s ups.mfr \"APC \\\"Back\\\" \\\\UPS\"",
                Some(&["VAR", "s", "ups.mfr", "APC \"Back\" \\UPS"]),
            ),
            ("VAR s x \"\"", Some(&["VAR", "s", "x", ""])),
            (
                "  BEGIN   LIST VAR s ",
                Some(&["BEGIN", "LIST", "VAR", "s"]),
            ),
            ("VAR s x \"open", None),
            ("VAR s x \"a\\", None),
        ];
        for (line, want) in table {
            let got = split_words(line);
            let want = want.map(|w| w.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            assert_eq!(got, want, "{line:?}");
        }
    }

    #[test]
    fn quoting_round_trips() {
        for s in ["solar", "pass word", "a\"b", "back\\slash", ""] {
            let line = format!("X {}", quote(s));
            assert_eq!(
                split_words(&line).unwrap(),
                vec!["X".to_string(), s.to_string()]
            );
        }
        assert_eq!(quote("solar"), "solar");
    }

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_reading_from_upsd_variables() {
        let r = reading_of(
            &vars(&[
                ("battery.charge", "35.5"),
                ("battery.voltage", "12.1"),
                ("battery.runtime", "1800"),
                ("ups.status", "OB DISCHRG"),
            ]),
            7,
        )
        .unwrap();
        assert_eq!(r.charge, Some(35.5));
        assert_eq!(r.volts, Some(12.1));
        assert_eq!(r.runtime, Some(Duration::from_secs(1800)));
        assert!(r.on_battery && !r.low_battery);
        assert_eq!((r.status.as_str(), r.at), ("OB DISCHRG", 7));

        let lb = reading_of(&vars(&[("ups.status", "OB LB")]), 0).unwrap();
        assert!(lb.low_battery && lb.charge.is_none());
        let fsd = reading_of(&vars(&[("ups.status", "FSD OL")]), 0).unwrap();
        assert!(fsd.low_battery);

        assert_eq!(
            reading_of(&vars(&[("ups.status", "OL")]), 0),
            Err(Problem::Missing("battery.charge".into()))
        );
        assert_eq!(
            reading_of(&vars(&[("battery.charge", "80")]), 0),
            Err(Problem::Missing("ups.status".into()))
        );
        assert_eq!(
            reading_of(
                &vars(&[("battery.charge", "full"), ("ups.status", "OL")]),
                0
            ),
            Err(Problem::Malformed(
                "battery.charge = \"full\" is not a number".into()
            ))
        );
    }
}
