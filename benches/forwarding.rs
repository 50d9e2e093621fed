//! Forwarding throughput and CPU through the router, at the packet sizes a
//! village sends: desawifi against a plain router in the same run.
//!
//!     sudo cargo bench --bench forwarding
//!
//! Builds a village (`scripts/village.sh up fwdbn 1`, `DW_VILLAGE_SALT`
//! prefixed; removed at the end even on error), turns the offloads off on
//! every link (`ethtool -K DEV gro off gso off tso off lro off`, both ends of
//! every veth and the bridge), and measures iperf3 TCP phone 1 <-> upstream,
//! download (`-R`) and upload, under six router states interleaved in each
//! round (the order rotated by one per round):
//!
//!   no table, no qdisc
//!   conntrack only: `ct state established,related accept` (the reference)
//!   desawifi as the daemon renders it (`render::full` of the config below,
//!     10,000 category addresses in the category sets, the upstream in none)
//!     with its HTB trees (`shaping::setup_script`), 1 online
//!   the same with its qdiscs removed, 1 online
//!   the same two with 1,000 online (phone 1 + 999 made up)
//!
//! The config goes through the daemon's parser (`Config::parse`,
//! `shaping_plan`, `default_slot_rates`) with uplink and device rates of
//! 40 Gbit/s, far above the veth path: HTB is on the path, never the limit.
//!
//! Knobs: FWD_ROUNDS (default 7) rounds per pass with offloads off;
//! FWD_FLOWS (default `1,4`) one pass per parallel-stream count;
//! FWD_ON_ROUNDS (default 3, 0 skips) rounds of a one-flow pass with the
//! offloads ON (the earlier figure); FWD_SECS (default 5) per transfer;
//! FWD_PERF=FILE records `perf record -a -g` of one download with 1,000 online.
//! Reports medians with their min-max, the median per-round ratio to the
//! conntrack-only router, CPU seconds per GB (see `util/fwd.rs`), and the
//! start-up reconcile cost; asserts no thresholds. Exits non-zero only when
//! something failed to run.

#[path = "util/fwd.rs"]
mod fwd;
#[path = "util/mod.rs"]
mod util;

use fwd::{Knobs, Setup, State, Village};
use util::{feed, max, median, min, ns, run};

use std::time::{Duration, Instant};

use desawifi::firewall::{render, KernelState};

const TAG: &str = "fwdbn";
/// Category addresses in the category sets (as dnsmasq would have learned them).
const CATEGORY_ADDRESSES: usize = 10_000;
/// The reference state (conntrack only) in [`states`].
const REFERENCE: usize = 1;
/// The state `FWD_PERF` records: desawifi with 1,000 online and its qdiscs.
const PERF_STATE: usize = 4;

fn main() {
    let village = match Village::up(TAG) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("forwarding bench: {e}");
            std::process::exit(1);
        }
    };
    let result = bench(&village);
    drop(village);
    if let Err(e) = result {
        eprintln!("forwarding bench failed: {e}");
        std::process::exit(1);
    }
}

fn states() -> Vec<State> {
    let config = fwd::config(1_000);
    let cats = fwd::shipped_categories(&config);
    let elements = fwd::category_elements(&cats, CATEGORY_ADDRESSES, false);
    let mut states = vec![
        State {
            label: "no table, no qdisc".into(),
            setup: Setup::Nothing,
        },
        State {
            label: "conntrack only (ct established,related accept)".into(),
            setup: Setup::Conntrack,
        },
    ];
    for (online, shown) in [(1, "1"), (1_000, "1,000")] {
        let policy = fwd::policy(&config, online, cats.clone());
        for qdiscs in [true, false] {
            states.push(State {
                label: format!(
                    "desawifi, {shown} online, 10,000 category addresses, {}",
                    if qdiscs {
                        "with its HTB qdiscs"
                    } else {
                        "qdiscs removed"
                    }
                ),
                setup: Setup::desawifi(&config, &policy, elements.clone(), qdiscs),
            });
        }
    }
    states
}

fn bench(village: &Village) -> Result<(), String> {
    let knobs = Knobs::from_env("FWD", "1,4");
    village.iperf_server()?;
    let states = states();
    fwd::print_header(
        "Forwarding throughput and CPU, phone 1 <-> upstream through the router",
        &knobs,
        "sudo cargo bench --bench forwarding",
    );
    fwd::run_all(village, &states, &knobs, REFERENCE, PERF_STATE)?;
    reconcile_cost(village)
}

/// The start-up reconcile: the whole document (no category elements)
/// applied to an empty router with `nft -j -f -`, 3 times per size.
fn reconcile_cost(village: &Village) -> Result<(), String> {
    let config = fwd::config(10_000);
    let cats = fwd::shipped_categories(&config);
    println!("\nStart-up reconcile cost: the whole document applied to an empty router with `nft -j -f -`");
    println!(
        "(process spawn included; median of 3 applies; render = render::full in this process)\n"
    );
    println!("| online devices | document bytes | render ms | apply ms (min-max) |");
    println!("|---:|---:|---:|---:|");
    for online in [1, 1_000, 10_000] {
        let t = Instant::now();
        let doc = render::full(
            &fwd::policy(&config, online, cats.clone()),
            &KernelState::default(),
        );
        let render_ms = t.elapsed().as_secs_f64() * 1e3;
        let mut ms = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            feed(&mut ns(&village.router(), &["nft", "-j", "-f", "-"]), &doc)?;
            ms.push(t.elapsed().as_secs_f64() * 1e3);
            run(&mut ns(
                &village.router(),
                &["nft", "delete", "table", "inet", "desawifi"],
            ))?;
            std::thread::sleep(Duration::from_millis(100));
        }
        println!(
            "| {online} | {} | {render_ms:.1} | {:.1} ({:.1}-{:.1}) |",
            doc.len(),
            median(ms.clone()),
            min(&ms),
            max(&ms)
        );
    }
    Ok(())
}
