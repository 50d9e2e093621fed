//! `[uplink]`: how the gateway checks its own uplink.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use super::check::{Check, Parsed, Text};
use super::values::{format_duration, parse_duration, positive};

/// How the gateway checks its own uplink (the satellite dish drops out with weather and power).
#[derive(Debug, Clone)]
pub struct Uplink {
    /// Tried with a TCP connect each round; the uplink is up if any answers.
    pub targets: Vec<SocketAddr>,
    /// Time from the start of one round to the start of the next.
    pub interval: Duration,
    /// How long one connect may take.
    pub timeout: Duration,
    /// Consecutive failed rounds before the uplink counts as down.
    pub fail_after: u32,
}

/// `[uplink]` as written: values kept as text for the check below.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields, expecting = "an [uplink] table")]
pub(crate) struct RawUplink {
    targets: Option<Vec<Text>>,
    interval: Option<Text>,
    timeout: Option<Text>,
    fail_after: Option<i64>,
}

impl Check<'_> {
    pub(super) fn uplink(&self, raw: RawUplink) -> Parsed<Uplink> {
        let targets = match raw.targets {
            None => DEFAULT_UPLINK_TARGETS
                .iter()
                .map(|t| t.parse().expect("default uplink target"))
                .collect(),
            Some(list) if list.is_empty() => {
                return Err(self.invalid(
                    "uplink.targets",
                    "must list at least one address (try [\"1.1.1.1:53\"])",
                ))
            }
            Some(list) => list
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    uplink_target(&t.0)
                        .map_err(|m| self.invalid(&format!("uplink.targets[{i}]"), m))
                })
                .collect::<Parsed<Vec<_>>>()?,
        };
        let interval = self.or("uplink.interval", raw.interval, "10s", |s| {
            let d = parse_duration(s)?;
            if d < Duration::from_secs(1) || d > Duration::from_secs(3600) {
                return Err(format!(
                    "{s:?} is out of range (must be between 1s and 1h; try \"10s\")"
                ));
            }
            Ok(d)
        })?;
        let timeout = self.or("uplink.timeout", raw.timeout, "2s", |s| {
            let d = positive(s, parse_duration(s)?, Duration::ZERO, "try \"2s\"")?;
            if d > interval {
                return Err(format!(
                    "{s:?} is longer than uplink.interval ({}; try \"2s\")",
                    format_duration(interval)
                ));
            }
            Ok(d)
        })?;
        let fail_after = match raw.fail_after {
            None => 2,
            Some(n) => u32::try_from(n).ok().filter(|&n| n > 0).ok_or_else(|| {
                self.invalid(
                    "uplink.fail_after",
                    format!("{n} is not a positive number of rounds (try 2)"),
                )
            })?,
        };
        Ok(Uplink {
            targets,
            interval,
            timeout,
            fail_after,
        })
    }
}

/// Checked when `[uplink] targets` is absent: public DNS servers answer TCP on port 53.
pub const DEFAULT_UPLINK_TARGETS: [&str; 2] = ["1.1.1.1:53", "8.8.8.8:53"];

/// An IP address and port to connect to (no names: DNS may be what is down).
fn uplink_target(s: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not an IP address with a port (try \"1.1.1.1:53\")"))?;
    if addr.port() == 0 || addr.ip().is_unspecified() {
        return Err(format!("{s:?} cannot be connected to (try \"1.1.1.1:53\")"));
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::*;

    #[test]
    fn uplink_defaults_and_errors() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.uplink.targets.len(), DEFAULT_UPLINK_TARGETS.len());
        assert_eq!(
            (c.uplink.interval, c.uplink.timeout, c.uplink.fail_after),
            (Duration::from_secs(10), Duration::from_secs(2), 2)
        );
        let set = parse(&format!(
            "{MINIMAL}[uplink]\ntargets = [\"198.51.100.2:80\", \"[2001:db8::2]:53\"]\ninterval = \"1s\"\ntimeout = \"1s\"\nfail_after = 1\n"
        ))
        .unwrap()
        .uplink;
        assert_eq!(
            set.targets,
            [
                "198.51.100.2:80".parse().unwrap(),
                "[2001:db8::2]:53".parse().unwrap()
            ] as [SocketAddr; 2]
        );
        assert_eq!(
            (set.interval, set.timeout, set.fail_after),
            (Duration::from_secs(1), Duration::from_secs(1), 1)
        );

        let e = error_with("uplink", "targets", "[\"1.1.1.1:53\", \"nohost\"]");
        assert_eq!(e, "x.toml: uplink.targets[1]: \"nohost\" is not an IP address with a port (try \"1.1.1.1:53\")");
        let e = error_with("uplink", "targets", "[\"dns.google:53\"]");
        assert!(
            e.starts_with("x.toml: uplink.targets[0]: \"dns.google:53\" is not an IP address"),
            "{e}"
        );
        let e = error_with("uplink", "targets", "[\"1.1.1.1:0\"]");
        assert_eq!(
            e,
            "x.toml: uplink.targets[0]: \"1.1.1.1:0\" cannot be connected to (try \"1.1.1.1:53\")"
        );
        assert_error(
            "uplink",
            "targets",
            "[]",
            "must list at least one address (try [\"1.1.1.1:53\"])",
        );
        assert_error(
            "uplink",
            "interval",
            "\"often\"",
            "\"often\" is not a duration (try \"30m\", \"4h\" or \"1h30m\")",
        );
        assert_error(
            "uplink",
            "interval",
            "\"500ms\"",
            "\"500ms\" is out of range (must be between 1s and 1h; try \"10s\")",
        );
        assert_error(
            "uplink",
            "timeout",
            "\"0s\"",
            "\"0s\" must be more than zero (try \"2s\")",
        );
        assert_error(
            "uplink",
            "timeout",
            "\"11s\"",
            "\"11s\" is longer than uplink.interval (10s; try \"2s\")",
        );
        assert_error(
            "uplink",
            "fail_after",
            "0",
            "0 is not a positive number of rounds (try 2)",
        );
        assert_error(
            "uplink",
            "fail_after",
            "\"2\"",
            "invalid type: string \"2\", expected i64",
        );
        let e = error_with("uplink", "target", "[\"1.1.1.1:53\"]");
        assert_eq!(e, "x.toml: uplink.target: unknown key (expected one of: targets, interval, timeout, fail_after)");
    }
}
