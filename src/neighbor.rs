//! Client IP -> MAC, from the kernel's neighbour (ARP) table.
//!
//! The portal identifies a device by the socket's peer address and the MAC
//! the kernel resolved for it on the LAN interface: never by a header or a
//! form field, which the client could write.

use std::net::Ipv4Addr;

use crate::domain::Mac;

/// ARP entry flag "complete" (ATF_COM).
const ATF_COM: u32 = 0x2;

/// The MAC the kernel holds for `ip` on `iface`, if the entry is complete.
pub fn mac_of(ip: Ipv4Addr, iface: &str) -> Option<Mac> {
    let table = std::fs::read_to_string("/proc/net/arp").ok()?;
    lookup(&table, ip, iface)
}

/// Every complete entry on `iface`: (IP, MAC), as the kernel holds them now
/// (trusted devices are admitted at the address found here).
pub fn entries(iface: &str) -> Vec<(Ipv4Addr, Mac)> {
    std::fs::read_to_string("/proc/net/arp")
        .map(|table| parse_entries(&table, iface))
        .unwrap_or_default()
}

/// The complete entries on `iface` in the text of `/proc/net/arp`.
pub fn parse_entries(table: &str, iface: &str) -> Vec<(Ipv4Addr, Mac)> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let addr: Ipv4Addr = line.split_whitespace().next()?.parse().ok()?;
            Some((addr, lookup(table, addr, iface)?))
        })
        .collect()
}

/// Find `ip` on `iface` in the text of `/proc/net/arp`:
/// `IP address  HW type  Flags  HW address  Mask  Device`.
pub fn lookup(table: &str, ip: Ipv4Addr, iface: &str) -> Option<Mac> {
    table.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let [addr, _hwtype, flags, hw, _mask, dev] = cols.as_slice() else {
            return None;
        };
        let flags = u32::from_str_radix(flags.trim_start_matches("0x"), 16).ok()?;
        if addr.parse::<Ipv4Addr>().ok()? != ip || *dev != iface || flags & ATF_COM == 0 {
            return None;
        }
        let mac: Mac = hw.parse().ok()?;
        (mac.0 != [0; 6]).then_some(mac)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str =
        "IP address       HW type     Flags       HW address            Mask     Device
10.77.0.11       0x1         0x2         02:77:00:00:00:01     *        br-lan
10.77.0.12       0x1         0x0         00:00:00:00:00:00     *        br-lan
198.51.100.2     0x1         0x2         02:aa:00:00:00:02     *        wan0
";

    #[test]
    fn lists_complete_entries_on_the_lan_only() {
        let all = parse_entries(TABLE, "br-lan");
        assert_eq!(
            all,
            vec![(
                "10.77.0.11".parse().unwrap(),
                "02:77:00:00:00:01".parse().unwrap()
            )]
        );
    }

    #[test]
    fn finds_complete_entries_on_the_lan_only() {
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(
            lookup(TABLE, ip("10.77.0.11"), "br-lan"),
            Some("02:77:00:00:00:01".parse().unwrap())
        );
        assert_eq!(
            lookup(TABLE, ip("10.77.0.12"), "br-lan"),
            None,
            "incomplete entry"
        );
        assert_eq!(
            lookup(TABLE, ip("198.51.100.2"), "br-lan"),
            None,
            "wrong interface"
        );
        assert_eq!(lookup(TABLE, ip("10.77.0.99"), "br-lan"), None, "absent");
    }
}
