//! The only place that runs `nft`: apply a document, read our table back.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use nftables::helper::{self, NftablesError};
use serde_json::Value;

use super::*;

/// How to reach the kernel: the `nft` program (normally found on PATH).
#[derive(Debug, Clone, Default)]
pub struct Nft {
    /// Another `nft` binary, e.g. for tests; `None` uses `nft` from PATH.
    pub program: Option<String>,
}

/// What the kernel has in our table, counters included.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelState {
    /// `inet desawifi` exists.
    pub table_exists: bool,
    /// Its sets have the shape this version renders (else it is replaced).
    pub compatible: bool,
    /// `online` elements with their upload byte counters.
    pub online: BTreeMap<DeviceKey, u64>,
    /// `online_nat` elements (no counters).
    pub online_nat: std::collections::BTreeSet<DeviceKey>,
    /// `down` elements with their download byte counters.
    pub down: BTreeMap<Ipv4Addr, u64>,
}

impl KernelState {
    /// Counters per online device, as the accounting loop wants them.
    pub fn counters(&self) -> BTreeMap<DeviceKey, DeviceCounters> {
        self.online
            .iter()
            .map(|(key, up)| {
                let download = self.down.get(&key.ip).copied().unwrap_or(0);
                (*key, DeviceCounters { upload: *up, download })
            })
            .collect()
    }
}

impl Nft {
    /// Apply one document as one transaction (`nft -j -f -`): all or nothing.
    pub async fn apply(&self, document: &str) -> Result<(), FirewallError> {
        helper::apply_ruleset_raw_async(document, self.program.as_deref(), helper::DEFAULT_ARGS)
            .await
            .map(drop)
            .map_err(FirewallError::Nft)
    }

    /// Read our table with its set elements and counters, in one call.
    pub async fn read(&self) -> Result<KernelState, FirewallError> {
        let args = ["list", "table", "inet", TABLE];
        match helper::get_current_ruleset_raw_async(self.program.as_deref(), args).await {
            Ok(json) => parse_table(&json),
            Err(NftablesError::NftFailed { stderr, .. }) if stderr.contains("No such file or directory") => {
                Ok(KernelState::default())
            }
            Err(e) => Err(FirewallError::Nft(e)),
        }
    }
}

/// Parse `nft -j list table inet desawifi`. Only the sets matter here; the
/// chains are rewritten whole on every full apply.
pub fn parse_table(json: &str) -> Result<KernelState, FirewallError> {
    let doc: Value = serde_json::from_str(json).map_err(|e| FirewallError::Parse(e.to_string()))?;
    let objects = doc["nftables"].as_array().ok_or_else(|| FirewallError::Parse("no \"nftables\" array".into()))?;
    let mut state = KernelState { table_exists: true, ..KernelState::default() };
    let mut online_ok = false;
    let mut down_ok = false;
    for obj in objects {
        let Some(set) = obj.get("set") else { continue };
        let counted = set["stmt"].as_array().is_some_and(|s| s.iter().any(|st| st.get("counter").is_some()));
        let elems = set["elem"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        match set["name"].as_str() {
            Some(SET_ONLINE) => {
                online_ok = counted && set["type"] == serde_json::json!(["ether_addr", "ipv4_addr"]);
                for e in elems {
                    let (val, bytes) = elem_parts(e);
                    state.online.insert(device_key(val).ok_or_else(|| bad_elem(e))?, bytes);
                }
            }
            Some(SET_ONLINE_NAT) => {
                for e in elems {
                    let (val, _) = elem_parts(e);
                    state.online_nat.insert(device_key(val).ok_or_else(|| bad_elem(e))?);
                }
            }
            Some(SET_DOWN) => {
                down_ok = counted && set["type"] == "ipv4_addr";
                for e in elems {
                    let (val, bytes) = elem_parts(e);
                    let ip = val.as_str().and_then(|s| s.parse().ok()).ok_or_else(|| bad_elem(e))?;
                    state.down.insert(ip, bytes);
                }
            }
            _ => {}
        }
    }
    state.compatible = online_ok && down_ok;
    Ok(state)
}

/// `{"concat": ["02:..", "10.77.0.11"]}` -> the device.
fn device_key(val: &Value) -> Option<DeviceKey> {
    let parts = val["concat"].as_array()?;
    let mac = parts.first()?.as_str()?.parse().ok()?;
    let ip = parts.get(1)?.as_str()?.parse().ok()?;
    Some(DeviceKey { mac, ip })
}

/// An element is either a bare value or `{"elem": {"val": .., "counter": {"bytes": ..}}}`.
fn elem_parts(e: &Value) -> (&Value, u64) {
    match e.get("elem") {
        Some(inner) => (&inner["val"], inner["counter"]["bytes"].as_u64().unwrap_or(0)),
        None => (e, 0),
    }
}

fn bad_elem(e: &Value) -> FirewallError {
    FirewallError::Parse(format!("unexpected set element {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `nft -j list table inet desawifi` as nftables 1.0.6 prints it (trimmed).
    const LISTED: &str = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}},
      {"table": {"family": "inet", "name": "desawifi", "handle": 1}},
      {"set": {"family": "inet", "name": "online", "table": "desawifi", "type": ["ether_addr", "ipv4_addr"], "handle": 1,
        "elem": [{"elem": {"val": {"concat": ["02:77:00:00:00:01", "10.77.0.11"]}, "counter": {"packets": 3, "bytes": 180}}}],
        "stmt": [{"counter": null}]}},
      {"set": {"family": "inet", "name": "down", "table": "desawifi", "type": "ipv4_addr", "handle": 2,
        "elem": [{"elem": {"val": "10.77.0.11", "counter": {"packets": 2, "bytes": 4096}}}], "stmt": [{"counter": null}]}},
      {"chain": {"family": "inet", "table": "desawifi", "name": "forward", "handle": 3, "type": "filter", "hook": "forward", "prio": 0, "policy": "accept"}}]}"#;

    #[test]
    fn reads_elements_and_counters() {
        let state = parse_table(LISTED).unwrap();
        assert!(state.table_exists && state.compatible);
        let key = DeviceKey { mac: "02:77:00:00:00:01".parse().unwrap(), ip: "10.77.0.11".parse().unwrap() };
        assert_eq!(state.counters().get(&key), Some(&DeviceCounters { upload: 180, download: 4096 }));
    }

    #[test]
    fn a_table_without_counted_sets_is_incompatible() {
        let old = LISTED.replace(r#", "stmt": [{"counter": null}]"#, "").replace(r#""stmt": [{"counter": null}]"#, r#""flags": []"#);
        let state = parse_table(&old).unwrap();
        assert!(state.table_exists && !state.compatible);
        assert!(parse_table("not json").is_err());
    }
}
