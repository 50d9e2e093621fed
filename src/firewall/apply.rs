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
    /// Usage-category counters: id -> (download, upload) bytes (site-wide, never per device).
    pub categories: CategoryCounters,
}

impl KernelState {
    /// Counters per online device, as the accounting loop wants them.
    pub fn counters(&self) -> BTreeMap<DeviceKey, DeviceCounters> {
        self.online
            .iter()
            .map(|(key, up)| {
                let download = self.down.get(&key.ip).copied().unwrap_or(0);
                (
                    *key,
                    DeviceCounters {
                        upload: *up,
                        download,
                    },
                )
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
            Err(NftablesError::NftFailed { stderr, .. })
                if stderr.contains("No such file or directory") =>
            {
                Ok(KernelState::default())
            }
            Err(e) => Err(FirewallError::Nft(e)),
        }
    }
}

/// Parse `nft -j list table inet desawifi`. Only the sets matter here; the
/// chains are rewritten whole on every full apply.
///
/// Parsed into small typed records, set by set, never into one
/// `serde_json::Value` tree: at 1,000 online devices that tree was about
/// 5 MB (the maps and every element as maps of strings), the daemon's whole
/// memory peak, once per accounting pass (BENCHMARKS.md, "Memory").
pub fn parse_table(json: &str) -> Result<KernelState, FirewallError> {
    let doc: Listing<'_> =
        serde_json::from_str(json).map_err(|e| FirewallError::Parse(e.to_string()))?;
    let mut state = KernelState {
        table_exists: true,
        ..KernelState::default()
    };
    let mut online_ok = false;
    let mut down_ok = false;
    let mut sets = Vec::new();
    for object in doc.nftables {
        if let Some(counter) = object.counter {
            if let Some((id, dir)) = categories::parse_counter_name(&counter.name) {
                let entry = state.categories.entry(id.to_owned()).or_default();
                match dir {
                    Direction::Download => entry.0 = counter.bytes,
                    Direction::Upload => entry.1 = counter.bytes,
                }
            }
        }
        sets.extend(object.set);
    }
    for set in sets {
        let counted = set.stmt.iter().any(|st| st.get("counter").is_some());
        let elems = |set: &ListedSet<'_>| -> Result<Vec<ListedElem>, FirewallError> {
            match set.elem {
                None => Ok(Vec::new()),
                Some(raw) => serde_json::from_str(raw.get())
                    .map_err(|e| FirewallError::Parse(format!("set {}: {e}", set.name))),
            }
        };
        match set.name.as_ref() {
            SET_ONLINE => {
                online_ok = counted && set.kind == serde_json::json!(["ether_addr", "ipv4_addr"]);
                for e in elems(&set)? {
                    let (val, bytes) = e.parts();
                    state
                        .online
                        .insert(device_key(val).ok_or_else(|| bad_elem(val))?, bytes);
                }
            }
            SET_ONLINE_NAT => {
                for e in elems(&set)? {
                    let (val, _) = e.parts();
                    state
                        .online_nat
                        .insert(device_key(val).ok_or_else(|| bad_elem(val))?);
                }
            }
            SET_DOWN => {
                down_ok = counted && set.kind == "ipv4_addr";
                for e in elems(&set)? {
                    let (val, bytes) = e.parts();
                    let ip = match val {
                        ElemValue::Plain(s) => s.parse().ok(),
                        ElemValue::Concat { .. } => None,
                    };
                    state.down.insert(ip.ok_or_else(|| bad_elem(val))?, bytes);
                }
            }
            _ => {}
        }
    }
    state.compatible = online_ok && down_ok;
    Ok(state)
}

/// `{"nftables": [{"set": {...}}, {"map": {...}}, {"chain": {...}}, ...]}`:
/// everything but sets is skipped unparsed.
#[derive(serde::Deserialize)]
struct Listing<'a> {
    #[serde(borrow)]
    nftables: Vec<ListedObject<'a>>,
}

#[derive(serde::Deserialize)]
struct ListedObject<'a> {
    #[serde(borrow, default)]
    set: Option<ListedSet<'a>>,
    #[serde(borrow, default)]
    counter: Option<ListedCounter<'a>>,
}

/// A named counter: `{"counter": {"name": "cat_video_down", "bytes": 123, ...}}`.
#[derive(serde::Deserialize)]
struct ListedCounter<'a> {
    #[serde(borrow)]
    name: std::borrow::Cow<'a, str>,
    #[serde(default)]
    bytes: u64,
}

#[derive(serde::Deserialize)]
struct ListedSet<'a> {
    #[serde(borrow)]
    name: std::borrow::Cow<'a, str>,
    #[serde(rename = "type", default)]
    kind: Value,
    #[serde(default)]
    stmt: Vec<Value>,
    /// Left as text until we know the set is one of ours (garden sets hold prefixes and ranges).
    #[serde(borrow, default)]
    elem: Option<&'a serde_json::value::RawValue>,
}

/// An element is either a bare value or `{"elem": {"val": .., "counter": {"bytes": ..}}}`.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum ListedElem {
    Counted { elem: CountedElem },
    Bare(ElemValue),
}

#[derive(serde::Deserialize)]
struct CountedElem {
    val: ElemValue,
    #[serde(default)]
    counter: Option<ElemCounter>,
}

#[derive(serde::Deserialize)]
struct ElemCounter {
    #[serde(default)]
    bytes: u64,
}

/// `"10.77.0.11"` or `{"concat": ["02:..", "10.77.0.11"]}`.
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
enum ElemValue {
    Plain(String),
    Concat { concat: Vec<String> },
}

impl ListedElem {
    fn parts(&self) -> (&ElemValue, u64) {
        match self {
            ListedElem::Counted { elem } => {
                (&elem.val, elem.counter.as_ref().map_or(0, |c| c.bytes))
            }
            ListedElem::Bare(v) => (v, 0),
        }
    }
}

/// `{"concat": ["02:..", "10.77.0.11"]}` -> the device.
fn device_key(val: &ElemValue) -> Option<DeviceKey> {
    let ElemValue::Concat { concat } = val else {
        return None;
    };
    let mac = concat.first()?.parse().ok()?;
    let ip = concat.get(1)?.parse().ok()?;
    Some(DeviceKey { mac, ip })
}

fn bad_elem(val: &ElemValue) -> FirewallError {
    FirewallError::Parse(format!("unexpected set element {val:?}"))
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
      {"counter": {"family": "inet", "name": "cat_video_down", "table": "desawifi", "handle": 9, "packets": 4, "bytes": 5000}},
      {"counter": {"family": "inet", "name": "cat_video_up", "table": "desawifi", "handle": 10, "packets": 2, "bytes": 300}},
      {"chain": {"family": "inet", "table": "desawifi", "name": "forward", "handle": 3, "type": "filter", "hook": "forward", "prio": 0, "policy": "accept"}}]}"#;

    #[test]
    fn reads_elements_and_counters() {
        let state = parse_table(LISTED).unwrap();
        assert!(state.table_exists && state.compatible);
        let key = DeviceKey {
            mac: "02:77:00:00:00:01".parse().unwrap(),
            ip: "10.77.0.11".parse().unwrap(),
        };
        assert_eq!(
            state.counters().get(&key),
            Some(&DeviceCounters {
                upload: 180,
                download: 4096
            })
        );
        assert_eq!(state.categories.get("video"), Some(&(5000, 300)));
    }

    #[test]
    fn a_table_without_counted_sets_is_incompatible() {
        let old = LISTED
            .replace(r#", "stmt": [{"counter": null}]"#, "")
            .replace(r#""stmt": [{"counter": null}]"#, r#""flags": []"#);
        let state = parse_table(&old).unwrap();
        assert!(state.table_exists && !state.compatible);
        assert!(parse_table("not json").is_err());
    }
}
