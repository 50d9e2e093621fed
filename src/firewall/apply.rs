//! The only place that runs `nft`: apply a document, read our table back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use nftables::helper::{self, NftablesError};
use serde_json::Value;

use super::state::Counted;
use super::*;

/// How to reach the kernel: the `nft` program (normally found on PATH).
#[derive(Debug, Clone, Default)]
pub struct Nft {
    /// Another `nft` binary, e.g. for tests; `None` uses `nft` from PATH.
    pub program: Option<String>,
    /// Set once `nft -j -i` failed where plain `nft -j list set` calls
    /// worked (an nft built without its CLI): shared by the clones.
    no_cli: Arc<AtomicBool>,
    /// Set once the netlink read failed in a way that will not mend (no
    /// socket, an answer of a shape it does not know): from then on the
    /// counters are read through `nft`. Shared by the clones.
    no_netlink: Arc<AtomicBool>,
}

impl Nft {
    /// Run this `nft` binary instead of the one on PATH.
    pub fn program(program: impl Into<String>) -> Nft {
        Nft {
            program: Some(program.into()),
            ..Nft::default()
        }
    }
}

impl Nft {
    /// Apply one document as one transaction (`nft -j -f -`): all or nothing.
    pub async fn apply(&self, document: &str) -> Result<(), FirewallError> {
        helper::apply_ruleset_raw_async(document, self.program.as_deref(), helper::DEFAULT_ARGS)
            .await
            .map(drop)
            .map_err(FirewallError::from)
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
            Err(e) => Err(e.into()),
        }
    }

    /// What every accounting pass needs: the counted sets alone
    /// ([`READ_SETS`]: `online` for upload, `down` for download, `cat_bytes`
    /// for the usage categories) with their counters, read straight from
    /// the kernel over one nf_tables netlink socket ([`super::netlink`]:
    /// about a tenth of what `nft` takes for the same sets, BENCHMARKS.md).
    /// Should that fail, this read goes through `nft`
    /// ([`Nft::counters_from_nft`]); after a failure that will not mend, every later one does.
    pub async fn counters(&self) -> Result<Counted, FirewallError> {
        if !self.no_netlink.load(Ordering::Relaxed) {
            match tokio::task::spawn_blocking(super::netlink::read_counted).await {
                Ok(Ok(state)) => return Ok(state.into_counted()),
                Ok(Err(e)) => {
                    let permanent = e.is_permanent();
                    self.no_netlink.store(permanent, Ordering::Relaxed);
                    tracing::warn!(error = %e, permanent, "reading the counters over netlink failed; reading them through nft");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the netlink counter read died; reading through nft")
                }
            }
        }
        self.counters_from_nft().await
    }

    /// The counted sets through the `nft` binary, in one process: the
    /// fallback of [`Nft::counters`] and its reference in the accounting
    /// bench. Each
    /// `list set` makes nft fetch that one set (a table, a set and an element
    /// dump); the class maps, `online_nat`, the other sets and the chains are
    /// never fetched. (`list counters` would fetch them all: nft 1.0.6 builds
    /// its whole cache for it, every element of every set; BENCHMARKS.md.)
    ///
    /// One process for two sets is `nft -j -i` with one `list set` per line
    /// on its stdin; it prints one JSON document per line. Not `nft -j -f -`:
    /// nftables 1.0.6 fetches only the last `list set`'s set into its cache,
    /// so every earlier one fails with "No such file or directory" (JSON and
    /// text input alike). An nft configured `--without-cli` (small embedded
    /// builds may be) cannot do `-i`: then each set is listed by a call of
    /// its own, still without the maps and chains.
    pub async fn counters_from_nft(&self) -> Result<Counted, FirewallError> {
        let state = if self.no_cli.load(Ordering::Relaxed) {
            self.counted_sets_one_by_one().await?
        } else {
            match self.counted_sets_interactive().await? {
                Some(state) => state,
                None => {
                    // `-i` failed but plain calls work: this nft has no CLI.
                    let state = self.counted_sets_one_by_one().await?;
                    self.no_cli.store(true, Ordering::Relaxed);
                    tracing::info!("nft -i failed; listing the counted sets one call each");
                    state
                }
            }
        };
        Ok(state.into_counted())
    }

    /// `nft -j -i` with one `list set` line per [`READ_SETS`]; `None` when nft exited with an
    /// error (no CLI in this build: "interactive CLI not supported", or an
    /// nft too old to know `-i`), so the caller tries plain calls.
    async fn counted_sets_interactive(&self) -> Result<Option<KernelState>, FirewallError> {
        use tokio::io::AsyncWriteExt;
        let program = self.program.as_deref().unwrap_or("nft");
        let failed = |inner| NftablesError::NftExecution {
            program: program.into(),
            inner,
        };
        let mut child = tokio::process::Command::new(program)
            .args(["-j", "-i"])
            // The CLI loads and rewrites $HOME/.nft.history on every run: a
            // write to the router's flash each pass, and at 100 devices the
            // reload made the read slower than the full listing. Nothing can
            // be created in /proc, so no history is read or written.
            .env("HOME", "/proc")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(failed)?;
        let input: String = READ_SETS
            .iter()
            .map(|set| format!("list set inet {TABLE} {set}\n"))
            .collect();
        let mut stdin = child.stdin.take().expect("piped stdin");
        match stdin.write_all(input.as_bytes()).await {
            Ok(()) => {}
            // nft exited before reading (a build without the CLI fails on
            // `-i` at once): its exit status below says so, not the pipe.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            Err(e) => return Err(failed(e).into()),
        }
        drop(stdin);
        let out = child.wait_with_output().await.map_err(failed)?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            tracing::debug!(stderr = %stderr.trim(), "nft -j -i failed");
            return Ok(None);
        }
        // The CLI goes on past a failed command and exits 0: its errors are
        // on stderr. A missing table or set is "No such file or directory"
        // (before the first reconcile); anything else is a failed read.
        let unexpected = stderr
            .lines()
            .any(|l| l.contains("Error:") && !l.contains("No such file or directory"));
        if unexpected {
            return Err(nft_failed(program, &stdout, &stderr).into());
        }
        parse_counted_sets(&stdout).map(Some)
    }

    /// One `nft -j list set` call per [`READ_SETS`].
    async fn counted_sets_one_by_one(&self) -> Result<KernelState, FirewallError> {
        let mut listings = String::new();
        let calls = READ_SETS
            .iter()
            .map(|set| ["list", "set", "inet", TABLE, set]);
        for args in calls {
            match helper::get_current_ruleset_raw_async(self.program.as_deref(), args).await {
                Ok(json) => {
                    listings.push_str(json.trim());
                    listings.push('\n');
                }
                Err(NftablesError::NftFailed { stderr, .. })
                    if stderr.contains("No such file or directory") => {}
                Err(e) => return Err(e.into()),
            }
        }
        parse_counted_sets(&listings)
    }
}

fn nft_failed(program: &str, stdout: &str, stderr: &str) -> NftablesError {
    NftablesError::NftFailed {
        program: program.into(),
        hint: "listing the counted sets".to_string(),
        stdout: stdout.to_string(),
        stderr: stderr.to_string(),
    }
}

/// Parse `nft -j list table inet desawifi`. Only the sets matter here; the
/// chains are rewritten whole on every full apply.
///
/// Parsed into small typed records, set by set, never into one
/// `serde_json::Value` tree: at 1,000 online devices that tree was about
/// 5 MB (the maps and every element as maps of strings), the daemon's whole
/// memory peak, once per accounting pass (BENCHMARKS.md, "Resident memory").
pub fn parse_table(json: &str) -> Result<KernelState, FirewallError> {
    let mut state = KernelState {
        table_exists: true,
        ..KernelState::default()
    };
    let shape = read_sets(json, &mut state)?;
    state.compatible = shape.online && shape.down;
    Ok(state)
}

/// Parse what [`Nft::counters`] reads: one `list set` document per line (`nft -j -i` prints each command's answer as a line of
/// its own). Only `online`, `down` and the category counters are filled in.
pub fn parse_counted_sets(out: &str) -> Result<KernelState, FirewallError> {
    let mut state = KernelState::default();
    let mut shape = Shape::default();
    for line in out.lines() {
        // Anything before the document (a prompt, should a CLI print one) is not ours.
        let Some(start) = line.find('{') else {
            continue;
        };
        let found = read_sets(&line[start..], &mut state)?;
        shape.online |= found.online;
        shape.down |= found.down;
        state.table_exists = true;
    }
    state.compatible = shape.online && shape.down;
    Ok(state)
}

/// Which counted sets a listing had, each in the shape this version renders.
#[derive(Default)]
struct Shape {
    online: bool,
    down: bool,
}

/// Add the elements of our sets in one listing to `state`.
fn read_sets(json: &str, state: &mut KernelState) -> Result<Shape, FirewallError> {
    let doc: Listing<'_> = serde_json::from_str(json).map_err(|e| parse_error("the listing", e))?;
    let mut online_ok = false;
    let mut down_ok = false;
    let mut sets = Vec::new();
    for object in doc.nftables {
        sets.extend(object.set);
    }
    for set in sets {
        let counted = set.stmt.iter().any(|st| st.get("counter").is_some());
        let elems = |set: &ListedSet<'_>| -> Result<Vec<ListedElem>, FirewallError> {
            match set.elem {
                None => Ok(Vec::new()),
                Some(raw) => serde_json::from_str(raw.get())
                    .map_err(|e| parse_error(&format!("set {}", set.name), e)),
            }
        };
        match set.name.as_ref() {
            SET_ONLINE => {
                online_ok = counted && set.kind == serde_json::json!(["ether_addr", "ipv4_addr"]);
                for e in elems(&set)? {
                    let (val, bytes) = e.parts();
                    state.online.insert(
                        device_key(val).ok_or_else(|| bad_elem(SET_ONLINE, val))?,
                        bytes,
                    );
                }
            }
            SET_ONLINE_NAT => {
                for e in elems(&set)? {
                    let (val, _) = e.parts();
                    state
                        .online_nat
                        .insert(device_key(val).ok_or_else(|| bad_elem(SET_ONLINE_NAT, val))?);
                }
            }
            SET_DOWN => {
                down_ok = counted && set.kind == "ipv4_addr";
                for e in elems(&set)? {
                    let (val, bytes) = e.parts();
                    let ip = match val {
                        ElemValue::Plain(s) => s.parse().ok(),
                        ElemValue::Concat { .. } | ElemValue::Number(_) => None,
                    };
                    state
                        .down
                        .insert(ip.ok_or_else(|| bad_elem(SET_DOWN, val))?, bytes);
                }
            }
            SET_FREE => {
                for e in elems(&set)? {
                    let (val, bytes) = e.parts();
                    let ip = match val {
                        ElemValue::Plain(s) => s.parse().ok(),
                        ElemValue::Concat { .. } | ElemValue::Number(_) => None,
                    };
                    state
                        .free
                        .insert(ip.ok_or_else(|| bad_elem(SET_FREE, val))?, bytes);
                }
            }
            SET_CAT_BYTES => {
                // One counted element per category and way, named by its comment.
                for e in elems(&set)? {
                    let ListedElem::Counted { elem } = e else {
                        continue;
                    };
                    let name = elem.comment.as_deref().unwrap_or("");
                    if let Some((id, dir)) = categories::parse_counter_name(name) {
                        let bytes = elem.counter.as_ref().map_or(0, |c| c.bytes);
                        let entry = state.categories.entry(id.to_owned()).or_default();
                        match dir {
                            Direction::Download => entry.0 = bytes,
                            Direction::Upload => entry.1 = bytes,
                        }
                    }
                }
            }
            SET_DNS_ONLINE | SET_DNS_CAPTIVE | SET_DHCP_DEV => {
                state.meters.insert(set.name.to_string());
            }
            _ => {}
        }
    }
    Ok(Shape {
        online: online_ok,
        down: down_ok,
    })
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
    /// `cat_bytes` elements name their category (`"cat_video_down"`).
    #[serde(default)]
    comment: Option<String>,
}

#[derive(serde::Deserialize)]
struct ElemCounter {
    #[serde(default)]
    bytes: u64,
}

/// `"10.77.0.11"`, `{"concat": ["02:..", "10.77.0.11"]}` or a number (`cat_bytes`' marks).
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
enum ElemValue {
    Plain(String),
    Concat {
        concat: Vec<String>,
    },
    /// Read for its shape only: a category's element is named by its comment.
    Number(#[allow(dead_code)] u64),
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

fn bad_elem(set: &'static str, val: &ElemValue) -> FirewallError {
    FirewallError::Element {
        set,
        elem: format!("{val:?}"),
    }
}

fn parse_error(what: &str, e: serde_json::Error) -> FirewallError {
    FirewallError::Parse {
        what: what.to_string(),
        source: std::sync::Arc::new(e),
    }
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
      {"set": {"family": "inet", "name": "cat_bytes", "table": "desawifi", "type": "mark", "handle": 9,
        "elem": [{"elem": {"val": 9, "comment": "cat_video_down", "counter": {"packets": 4, "bytes": 5000}}},
                 {"elem": {"val": 3735928559, "comment": "cat_video_up", "counter": {"packets": 2, "bytes": 300}}}],
        "stmt": [{"counter": null}]}},
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
                download: 4096,
                free: 0
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

    /// `nft -j -i` given `list set ... online`, `... down` and `... cat_bytes`,
    /// as nftables 1.0.6 prints it: one document per line.
    const COUNTED: &str = concat!(
        r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"set": {"family": "inet", "name": "online", "table": "desawifi", "type": ["ether_addr", "ipv4_addr"], "handle": 1, "elem": [{"elem": {"val": {"concat": ["02:77:00:00:00:01", "10.77.0.11"]}, "counter": {"packets": 3, "bytes": 180}}}, {"elem": {"val": {"concat": ["02:77:00:00:00:02", "10.77.0.12"]}, "counter": {"packets": 0, "bytes": 0}}}], "stmt": [{"counter": null}]}}]}"#,
        "\n",
        r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"set": {"family": "inet", "name": "down", "table": "desawifi", "type": "ipv4_addr", "handle": 2, "elem": [{"elem": {"val": "10.77.0.11", "counter": {"packets": 2, "bytes": 4096}}}], "stmt": [{"counter": null}]}}]}"#,
        "\n",
        r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"set": {"family": "inet", "name": "free", "table": "desawifi", "type": "ipv4_addr", "handle": 3, "elem": [{"elem": {"val": "10.77.0.11", "counter": {"packets": 5, "bytes": 65536}}}], "stmt": [{"counter": null}]}}]}"#,
        "\n",
        r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"set": {"family": "inet", "name": "cat_bytes", "table": "desawifi", "type": "mark", "handle": 9, "elem": [{"elem": {"val": 9, "comment": "cat_lainnya_up", "counter": {"packets": 10, "bytes": 920}}}, {"elem": {"val": 3735928559, "comment": "cat_video_down", "counter": {"packets": 10, "bytes": 7000}}}], "stmt": [{"counter": null}]}}]}"#,
        "\n"
    );

    fn key(n: u8) -> DeviceKey {
        DeviceKey {
            mac: format!("02:77:00:00:00:{n:02x}").parse().unwrap(),
            ip: Ipv4Addr::new(10, 77, 0, 10 + n),
        }
    }

    #[test]
    fn reads_the_counted_sets_one_document_per_line() {
        let state = parse_counted_sets(COUNTED).unwrap();
        assert!(state.compatible);
        let counters = state.counters();
        assert_eq!(counters.len(), 2);
        assert_eq!(
            counters[&key(1)],
            DeviceCounters {
                upload: 180,
                download: 4096,
                free: 65536
            }
        );
        assert_eq!(counters[&key(2)], DeviceCounters::default());
        assert_eq!(state.categories.get("video"), Some(&(7000, 0)));
        assert_eq!(state.categories.get("lainnya"), Some(&(0, 920)));
        // Nothing listed (no table yet): no counters, not an error.
        assert!(parse_counted_sets("").unwrap().counters().is_empty());
        // A prompt before a document is skipped; a broken document is an error.
        let prompted = format!("nft> {COUNTED}");
        assert_eq!(parse_counted_sets(&prompted).unwrap().counters(), counters);
        assert!(matches!(
            parse_counted_sets("{\"nftables\": [").unwrap_err(),
            FirewallError::Parse { .. }
        ));
    }

    /// A stand-in `nft` in a temporary directory: a shell script.
    fn fake_nft(dir: &std::path::Path, script: &str) -> Nft {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("nft");
        std::fs::write(&path, format!("#!/bin/sh\n{script}")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        Nft::program(path.display().to_string())
    }

    /// A directory of this test's own, removed when dropped.
    struct TempDir(std::path::PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir =
                std::env::temp_dir().join(format!("desawifi-apply-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn path(&self) -> &std::path::Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[tokio::test]
    async fn an_nft_without_its_cli_is_asked_one_set_per_call() {
        let dir = TempDir::new("no-cli");
        let listing = dir.path().join("listing");
        std::fs::write(&listing, COUNTED).unwrap();
        let calls = dir.path().join("calls");
        // Like nft built --without-cli: `-i` fails; `-j list set inet desawifi NAME` answers.
        let nft = fake_nft(
            dir.path(),
            &format!(
                "echo \"$*\" >> {calls}\n\
                 [ \"$1\" = -i ] || [ \"$2\" = -i ] && {{ echo 'nft: invalid option -- i' >&2; exit 1; }}\n\
                 [ \"$6\" = online ] && sed -n 1p {listing}\n\
                 [ \"$6\" = down ] && sed -n 2p {listing}\n\
                 [ \"$6\" = free ] && sed -n 3p {listing}\n\
                 [ \"$6\" = cat_bytes ] && sed -n 4p {listing}\n\
                 exit 0\n",
                calls = calls.display(),
                listing = listing.display()
            ),
        );
        let counters = nft.counters_from_nft().await.unwrap().devices;
        assert_eq!(counters[&key(1)].download, 4096);
        assert_eq!(counters[&key(1)].upload, 180);
        assert_eq!(counters[&key(1)].free, 65536);
        // Once known, no more `-i` tries.
        let again = nft.clone().counters_from_nft().await.unwrap();
        assert_eq!(again.categories.get("video"), Some(&(7000, 0)));
        let calls = std::fs::read_to_string(&calls).unwrap();
        assert_eq!(calls.matches("-i").count(), 1, "{calls}");
        // One failed `-i`, then per round four `list set` (nothing else).
        assert_eq!(calls.lines().count(), 9, "{calls}");
    }

    #[tokio::test]
    async fn counters_come_from_one_nft_process_and_errors_on_its_stderr_count() {
        let dir = TempDir::new("counters");
        let listing = dir.path().join("listing");
        std::fs::write(&listing, COUNTED).unwrap();
        // Answers only `-j -i`, and only after reading both commands.
        let nft = fake_nft(
            dir.path(),
            &format!(
                "[ \"$*\" = \"-j -i\" ] || exit 9\n\
                 [ \"$HOME\" = /proc ] || exit 7\n\
                 grep -c 'list set inet desawifi' | grep -qx 4 || exit 8\n\
                 cat {}\n",
                listing.display()
            ),
        );
        let counters = nft.counters_from_nft().await.unwrap().devices;
        assert_eq!(counters[&key(1)].download, 4096);
        assert_eq!(counters[&key(1)].free, 65536);

        // Before the first reconcile: no table, no counters, no error.
        let missing = fake_nft(
            dir.path(),
            "cat >/dev/null; echo 'Error: No such file or directory' >&2\n",
        );
        assert!(missing
            .counters_from_nft()
            .await
            .unwrap()
            .devices
            .is_empty());

        // Any other error (exit status 0 in the CLI) is a failed read, with nft's words.
        let denied = fake_nft(
            dir.path(),
            "cat >/dev/null; echo 'Error: cache initialization failed: Operation not permitted' >&2\n",
        );
        let err = denied.counters_from_nft().await.unwrap_err();
        assert!(matches!(err, FirewallError::Nft { .. }), "{err:?}");
        assert!(err.to_string().contains("Operation not permitted"), "{err}");
    }
}
