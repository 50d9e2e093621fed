//! What the usage-category sets cost per packet (issue 12), at the packet
//! sizes a village sends: desawifi with no categories, and with the shipped
//! categories and 10,000 addresses loaded in their sets (as dnsmasq would
//! learn them), against a plain router in the same run.
//!
//!     sudo cargo bench --bench categories
//!
//! The village (`scripts/village.sh up catbn 1`, `DW_VILLAGE_SALT` prefixed;
//! removed at the end even on error) has its offloads off on every link, as
//! in `benches/forwarding.rs` (see `util/fwd.rs` for how it measures). States,
//! interleaved in each round (order rotated by one per round), phone 1 online,
//! desawifi always with its HTB trees, as the daemon runs:
//!
//!   no table, no qdisc
//!   conntrack only: `ct state established,related accept` (the reference)
//!   desawifi with no categories (the chains hold only the `lainnya` counters)
//!   desawifi, the shipped categories, 10,000 addresses spread over their
//!     sets, the upstream in none of them (the worst case: every set looked up)
//!   as that, the upstream in the first (free) category: one lookup
//!
//! Knobs as the forwarding bench's with prefix CAT_: CAT_ROUNDS (default 7),
//! CAT_FLOWS (default `1`), CAT_ON_ROUNDS (default 3, 0 skips), CAT_SECS
//! (default 5), CAT_PERF=FILE (records the worst case). Asserts no thresholds.

#[path = "util/fwd.rs"]
mod fwd;
#[path = "util/mod.rs"]
mod util;

use fwd::{Knobs, Setup, State, Village};

const TAG: &str = "catbn";
const ADDRESSES: usize = 10_000;
/// The reference state (conntrack only) in [`states`].
const REFERENCE: usize = 1;
/// The state `CAT_PERF` records: every category set looked up.
const PERF_STATE: usize = 3;

fn main() {
    let village = match Village::up(TAG) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("categories bench: {e}");
            std::process::exit(1);
        }
    };
    let result = bench(&village);
    drop(village);
    if let Err(e) = result {
        eprintln!("categories bench failed: {e}");
        std::process::exit(1);
    }
}

fn states() -> Vec<State> {
    let config = fwd::config(1_000);
    let cats = fwd::shipped_categories(&config);
    let with = fwd::policy(&config, 1, cats.clone());
    vec![
        State {
            label: "no table, no qdisc".into(),
            setup: Setup::Nothing,
        },
        State {
            label: "conntrack only (ct established,related accept)".into(),
            setup: Setup::Conntrack,
        },
        State {
            label: "desawifi + HTB, no categories".into(),
            setup: Setup::desawifi(
                &config,
                &fwd::policy(&config, 1, vec![]),
                String::new(),
                true,
            ),
        },
        State {
            label: "desawifi + HTB, 10,000 category addresses, upstream in none".into(),
            setup: Setup::desawifi(
                &config,
                &with,
                fwd::category_elements(&cats, ADDRESSES, false),
                true,
            ),
        },
        State {
            label: "desawifi + HTB, 10,000 category addresses, upstream in the first (free)".into(),
            setup: Setup::desawifi(
                &config,
                &with,
                fwd::category_elements(&cats, ADDRESSES, true),
                true,
            ),
        },
    ]
}

fn bench(village: &Village) -> Result<(), String> {
    let knobs = Knobs::from_env("CAT", "1");
    village.iperf_server()?;
    let states = states();
    fwd::print_header(
        "Usage categories: forwarding cost per packet, phone 1 <-> upstream through the router",
        &knobs,
        "sudo cargo bench --bench categories",
    );
    fwd::run_all(village, &states, &knobs, REFERENCE, PERF_STATE)
}
