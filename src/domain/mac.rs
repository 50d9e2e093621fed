//! Ethernet (MAC) addresses, the device identity the kernel vouches for.

use std::fmt;
use std::str::FromStr;

/// A 48-bit Ethernet address as the kernel's neighbour table reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl FromStr for Mac {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for byte in out.iter_mut() {
            let part = parts
                .next()
                .ok_or_else(|| format!("{s:?} is not a MAC address"))?;
            if part.len() != 2 {
                return Err(format!("{s:?} is not a MAC address"));
            }
            *byte =
                u8::from_str_radix(part, 16).map_err(|_| format!("{s:?} is not a MAC address"))?;
        }
        if parts.next().is_some() {
            return Err(format!("{s:?} is not a MAC address"));
        }
        Ok(Mac(out))
    }
}

impl serde::Serialize for Mac {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Mac {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_junk() {
        let mac: Mac = "02:AB:cd:00:11:ff".parse().unwrap();
        assert_eq!(mac.to_string(), "02:ab:cd:00:11:ff");
        assert_eq!("02-ab-cd-00-11-ff".parse::<Mac>().unwrap(), mac);
        for bad in [
            "",
            "02:ab:cd:00:11",
            "02:ab:cd:00:11:ff:00",
            "0g:ab:cd:00:11:ff",
            "2:ab:cd:00:11:ff0",
        ] {
            assert!(bad.parse::<Mac>().is_err(), "{bad}");
        }
    }
}
