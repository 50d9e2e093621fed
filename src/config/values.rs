//! The value parsers every section shares: sizes, rates and durations as people
//! write them, addresses, interface names, paths and domain names. Each returns
//! the message without the key; [`super::check::Check`] adds the file and key.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::domain::{Rate, Size};

/// `value` unless it is `zero`; the error names the text and gives a hint.
pub(crate) fn positive<T: PartialEq>(s: &str, value: T, zero: T, hint: &str) -> Result<T, String> {
    if value == zero {
        return Err(format!("{s:?} must be more than zero ({hint})"));
    }
    Ok(value)
}

pub(crate) fn positive_rate(s: &str) -> Result<Rate, String> {
    positive(s, parse_rate(s)?, Rate(0), "try \"2 Mbit/s\"")
}

pub(crate) fn path_value(s: &str) -> Result<PathBuf, String> {
    if s.trim().is_empty() {
        return Err("must not be empty (try \"/var/lib/desawifi\")".to_owned());
    }
    Ok(PathBuf::from(s))
}

pub(crate) fn listen(s: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not an address with a port (try \"10.77.0.1:2050\")"))?;
    if addr.port() == 0 {
        return Err(format!(
            "{s:?} has port 0; pick a fixed port (try \"{}:2050\")",
            addr.ip()
        ));
    }
    Ok(addr)
}

/// A Linux interface name: what `ip link` accepts (IFNAMSIZ is 16 with the NUL).
pub(crate) fn interface(s: &str) -> Result<String, String> {
    let ok = (1..=15).contains(&s.len())
        && s != "."
        && s != ".."
        && !s
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control());
    if !ok {
        return Err(format!(
            "{s:?} is not an interface name (1 to 15 characters, no '/', ':' or spaces; try \"br-lan\")"
        ));
    }
    Ok(s.to_owned())
}

/// A CIDR block or a single address (which becomes a /32 or /128).
pub(crate) fn network_address(s: &str) -> Result<ipnet::IpNet, String> {
    let t = s.trim();
    let net = match t.parse::<ipnet::IpNet>() {
        Ok(net) => net,
        Err(_) => t
            .parse::<std::net::IpAddr>()
            .map(ipnet::IpNet::from)
            .map_err(|_| {
                format!("{s:?} is not an address or CIDR block (try \"203.0.113.0/24\")")
            })?,
    };
    if net.trunc() != net {
        return Err(format!(
            "{s:?} has host bits set (did you mean \"{}\"?)",
            net.trunc()
        ));
    }
    Ok(net)
}

/// A DNS name, lower-cased: letters, digits and '-' in dot-separated labels.
pub(crate) fn domain(s: &str) -> Result<String, String> {
    let name = s.trim().to_ascii_lowercase();
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
        return Err(format!(
            "{s:?} is not a domain name (letters, digits, '-' and '.', no leading or trailing dot; try \"go.id\")"
        ));
    }
    Ok(name)
}

const SIZE_UNITS: &[(&str, u64)] = &[
    ("b", 1),
    ("kib", 1 << 10),
    ("mib", 1 << 20),
    ("gib", 1 << 30),
    ("tib", 1 << 40),
    ("kb", 1_000),
    ("mb", 1_000_000),
    ("gb", 1_000_000_000),
    ("tb", 1_000_000_000_000),
];

/// Parses "500 MiB", "1.5GiB", "1 GB" (1000-based) or "0". A plain non-zero number is
/// refused: "500" is more likely a forgotten "MiB" than 500 bytes.
pub fn parse_size(s: &str) -> Result<Size, String> {
    let bad = || format!("{s:?} is not a size (try \"500 MiB\")");
    let (number, unit) = split_number(s).ok_or_else(bad)?;
    let scale = if unit.is_empty() {
        1
    } else {
        let unit = unit.to_ascii_lowercase();
        SIZE_UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .ok_or_else(bad)?
            .1
    };
    let bytes = scaled(number, scale).ok_or_else(bad)?;
    if unit.is_empty() && number.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
        return Err(format!("{s:?} needs a unit (try \"{number} MiB\")"));
    }
    u64::try_from(bytes)
        .map(Size)
        .map_err(|_| format!("{s:?} is too large for a size"))
}

/// Parses "2 Mbit/s", "256 kbit/s", "2Mbps" (decimal prefixes) or "0". The "bit" part
/// stays lower-case so that "MB/s" (bytes) is refused rather than misread.
pub fn parse_rate(s: &str) -> Result<Rate, String> {
    let bad = || format!("{s:?} is not a rate (try \"2 Mbit/s\")");
    let (number, unit) = split_number(s).ok_or_else(bad)?;
    let scale = if unit.is_empty() {
        1
    } else {
        let prefix = unit
            .strip_suffix("bit/s")
            .or_else(|| unit.strip_suffix("bps"))
            .ok_or_else(bad)?;
        match prefix {
            "" => 1,
            "k" | "K" => 1_000,
            "m" | "M" => 1_000_000,
            "g" | "G" => 1_000_000_000,
            _ => return Err(bad()),
        }
    };
    let bits = scaled(number, scale).ok_or_else(bad)?;
    if unit.is_empty() && number.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
        return Err(format!("{s:?} needs a unit (try \"{number} Mbit/s\")"));
    }
    u64::try_from(bits)
        .map(Rate)
        .map_err(|_| format!("{s:?} is too large for a rate"))
}

/// Splits "1.5 GiB" into ("1.5", "GiB"); `None` if there is no leading number.
fn split_number(s: &str) -> Option<(&str, &str)> {
    let s = s.trim();
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(end);
    (!number.is_empty()).then_some((number, unit.trim()))
}

/// `number` (decimal, optional fraction) times `scale`, rounded to the nearest unit.
fn scaled(number: &str, scale: u64) -> Option<u128> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() || (number.contains('.') && fraction.is_empty()) || fraction.len() > 18 {
        return None;
    }
    let whole: u128 = whole.parse().ok()?;
    let denominator = 10u128.pow(fraction.len() as u32);
    let fraction: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().ok()?
    };
    let part = (fraction * scale as u128 + denominator / 2) / denominator;
    whole.checked_mul(scale as u128)?.checked_add(part)
}

/// Duration units, largest first, in milliseconds.
const DURATION_UNITS: [(&str, u64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// Parses "30m", "4h", "1h30m", "90s", "1d" (largest unit first, each at most once) or "0".
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration (try \"30m\", \"4h\" or \"1h30m\")");
    let mut rest = s.trim();
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut millis: u64 = 0;
    let mut smallest_so_far = usize::MAX; // index into DURATION_UNITS of the last unit seen
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(digits);
        let tail = tail.trim_start();
        let letters = tail
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(letters);
        let index = DURATION_UNITS
            .iter()
            .position(|(name, _)| *name == unit)
            .ok_or_else(bad)?;
        if number.is_empty() || (smallest_so_far != usize::MAX && index <= smallest_so_far) {
            return Err(bad());
        }
        smallest_so_far = index;
        let n: u64 = number.parse().map_err(|_| format!("{s:?} is too long"))?;
        millis = n
            .checked_mul(DURATION_UNITS[index].1)
            .and_then(|m| millis.checked_add(m))
            .ok_or_else(|| format!("{s:?} is too long"))?;
        rest = tail.trim_start();
    }
    Ok(Duration::from_millis(millis))
}

/// The inverse of [`parse_duration`]: "4h", "1h30m", "5s", "0s". Sub-millisecond parts
/// are dropped.
pub fn format_duration(d: Duration) -> String {
    let mut millis = d.as_millis();
    let mut out = String::new();
    for (name, unit) in DURATION_UNITS {
        let n = millis / unit as u128;
        if n > 0 {
            out.push_str(&format!("{n}{name}"));
            millis %= unit as u128;
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        for (text, bytes) in [
            ("0", 0),
            ("0 B", 0),
            ("500 MiB", 500 << 20),
            ("500MiB", 500 << 20),
            ("  500   mib ", 500 << 20),
            ("1.5 GiB", 3 << 29),
            ("16 KiB", 16384),
            ("1 GB", 1_000_000_000),
            ("1 kB", 1000),
            ("2 TiB", 2 << 40),
            ("10 B", 10),
            ("0.5 KiB", 512),
            ("16777215 TiB", 16777215 << 40),
        ] {
            assert_eq!(parse_size(text), Ok(Size(bytes)), "{text}");
        }
        for bad in [
            "lots",
            "",
            "-5 MiB",
            "+5 MiB",
            "5 MiBs",
            ".5 MiB",
            "5. MiB",
            "1.2.3 MiB",
            "MiB",
            "5 Mbit",
        ] {
            assert_eq!(
                parse_size(bad),
                Err(format!("{bad:?} is not a size (try \"500 MiB\")"))
            );
        }
        assert_eq!(
            parse_size("500"),
            Err("\"500\" needs a unit (try \"500 MiB\")".to_owned())
        );
        assert_eq!(
            parse_size("0.4"),
            Err("\"0.4\" needs a unit (try \"0.4 MiB\")".to_owned())
        );
        assert_eq!(parse_size("0.0"), Ok(Size(0)));
        assert_eq!(
            parse_size("16777216 TiB"),
            Err("\"16777216 TiB\" is too large for a size".to_owned())
        );
        assert_eq!(parse_size("18446744073709551615 B"), Ok(Size(u64::MAX)));
        assert_eq!(
            parse_size("18446744073709551616 B"),
            Err("\"18446744073709551616 B\" is too large for a size".to_owned())
        );
    }

    #[test]
    fn sizes_format() {
        for (bytes, text) in [
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1 KiB"),
            (1536, "1.5 KiB"),
            (500 << 20, "500 MiB"),
            (3 << 29, "1.5 GiB"),
            (1_000_000_000, "953.67 MiB"),
            (5 << 40, "5 TiB"),
            (5000 << 40, "5000 TiB"),
        ] {
            assert_eq!(Size(bytes).to_string(), text);
        }
        // Anything shown with at most two decimals reads back exactly.
        for bytes in [
            0,
            1,
            1023,
            1024,
            1536,
            16384,
            500 << 20,
            3 << 29,
            5 << 40,
            (1 << 30) + (1 << 28),
        ] {
            assert_eq!(
                parse_size(&Size(bytes).to_string()),
                Ok(Size(bytes)),
                "{bytes}"
            );
        }
    }

    #[test]
    fn rates_parse_and_format() {
        for (text, bits) in [
            ("0", 0),
            ("0 bit/s", 0),
            ("2 Mbit/s", 2_000_000),
            ("2Mbps", 2_000_000),
            ("2 mbit/s", 2_000_000),
            ("256 kbit/s", 256_000),
            ("256kbps", 256_000),
            ("1.5 Mbit/s", 1_500_000),
            ("1 Gbit/s", 1_000_000_000),
            ("100 bit/s", 100),
            ("100 bps", 100),
        ] {
            assert_eq!(parse_rate(text), Ok(Rate(bits)), "{text}");
        }
        for bad in [
            "fast",
            "",
            "-2 Mbit/s",
            "2 MB/s",
            "2 MBps",
            "2 Mbit",
            "2 Mib/s",
            "2 Tbit/s",
        ] {
            assert_eq!(
                parse_rate(bad),
                Err(format!("{bad:?} is not a rate (try \"2 Mbit/s\")"))
            );
        }
        assert_eq!(
            parse_rate("2"),
            Err("\"2\" needs a unit (try \"2 Mbit/s\")".to_owned())
        );
        assert_eq!(
            parse_rate("0.4"),
            Err("\"0.4\" needs a unit (try \"0.4 Mbit/s\")".to_owned())
        );
        assert_eq!(
            parse_rate("99999999999 Gbit/s"),
            Err("\"99999999999 Gbit/s\" is too large for a rate".to_owned())
        );
        for (bits, text) in [
            (0, "0 bit/s"),
            (999, "999 bit/s"),
            (256_000, "256 kbit/s"),
            (2_000_000, "2 Mbit/s"),
            (1_500_000, "1.5 Mbit/s"),
            (10_000_000_000, "10 Gbit/s"),
        ] {
            assert_eq!(Rate(bits).to_string(), text);
            assert_eq!(parse_rate(text), Ok(Rate(bits)));
        }
    }

    #[test]
    fn durations_parse_and_format() {
        for (text, secs) in [
            ("0", 0),
            ("5s", 5),
            ("90s", 90),
            ("30m", 1800),
            ("4h", 14400),
            ("1h30m", 5400),
            ("1h 30m", 5400),
            (" 1d ", 86400),
            ("1d2h3m4s", 93784),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs(secs)),
                "{text}"
            );
        }
        assert_eq!(parse_duration("1s500ms"), Ok(Duration::from_millis(1500)));
        for bad in [
            "", "5", "-5s", "4 hours", "1.5h", "30m1h", "1h1h", "h", "5x", "1h30",
        ] {
            assert_eq!(
                parse_duration(bad),
                Err(format!(
                    "{bad:?} is not a duration (try \"30m\", \"4h\" or \"1h30m\")"
                ))
            );
        }
        assert_eq!(
            parse_duration("99999999999999999999s"),
            Err("\"99999999999999999999s\" is too long".to_owned())
        );
        assert_eq!(
            parse_duration("999999999999999d"),
            Err("\"999999999999999d\" is too long".to_owned())
        );
        for (secs, text) in [
            (0, "0s"),
            (5, "5s"),
            (90, "1m30s"),
            (5400, "1h30m"),
            (14400, "4h"),
            (86400, "1d"),
            (93784, "1d2h3m4s"),
        ] {
            assert_eq!(format_duration(Duration::from_secs(secs)), text);
            assert_eq!(parse_duration(text), Ok(Duration::from_secs(secs)));
        }
        assert_eq!(format_duration(Duration::from_millis(1500)), "1s500ms");
        assert_eq!(format_duration(Duration::from_nanos(999)), "0s");
    }
}
