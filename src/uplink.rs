//! The uplink watcher: is the village's internet (the satellite dish) reachable?
//!
//! Weather and power take the uplink down often. When it is down, villagers
//! should hear it from the portal ("not your phone") instead of blaming their
//! phones. Each round tries a TCP connect to every `[uplink] targets`
//! address at once (no ICMP, so no raw-socket privileges); the uplink is up
//! if any of them answers. `fail_after` failed rounds in a row make it down.
//!
//! The state is published on a `tokio::sync::watch` channel: the portal
//! reads the latest value without locking anything the watcher waits on.
//! Logins and sessions are untouched by it; it only changes what pages (and
//! `/metrics`: `desawifi_uplink_*`) say.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::clock::Clock;
use crate::config;

/// The uplink as the last rounds saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UplinkState {
    /// Some target answered (or no round has failed often enough yet).
    Up,
    /// No target answered for `fail_after` rounds; `since` is the unix time of
    /// the first of those failed rounds.
    Down { since: i64 },
}

/// What the portal holds: `borrow()` gives the latest state.
pub type UplinkReader = watch::Receiver<UplinkState>;

/// The watcher task; see [`watcher`].
pub struct Watcher {
    /// `[uplink]` as in force: read at each round, so a reload applies from
    /// the next one.
    settings: watch::Receiver<config::Uplink>,
    clock: Arc<dyn Clock>,
    tx: watch::Sender<UplinkState>,
}

/// A watcher (to run with [`Watcher::run`]) and the reader of its state.
/// The uplink starts as `Up`: a page says it is down only once rounds show it.
pub fn watcher(
    settings: watch::Receiver<config::Uplink>,
    clock: Arc<dyn Clock>,
) -> (Watcher, UplinkReader) {
    let (tx, rx) = watch::channel(UplinkState::Up);
    (
        Watcher {
            settings,
            clock,
            tx,
        },
        rx,
    )
}

impl Watcher {
    /// Check the uplink every `interval` until `cancel`.
    pub async fn run(self, cancel: CancellationToken) {
        let Watcher {
            settings: live,
            clock,
            tx,
        } = self;
        let mut verdict = Verdict::new(live.borrow().fail_after);
        let mut next = tokio::time::Instant::now();
        loop {
            let settings = live.borrow().clone();
            verdict.fail_after = settings.fail_after.max(1);
            let round = tokio::select! {
                _ = cancel.cancelled() => break,
                up = any_connects(&settings.targets, settings.timeout) => up,
            };
            match verdict.record(round, clock.now()) {
                Some(Change::WentDown { since }) => {
                    warn!(since, targets = ?settings.targets, "uplink down");
                    crate::telemetry::uplink_went_down();
                    tx.send_replace(UplinkState::Down { since });
                }
                Some(Change::CameBack { down_for_secs }) => {
                    info!(down_for_secs, "uplink back");
                    crate::telemetry::uplink_came_back(down_for_secs);
                    tx.send_replace(UplinkState::Up);
                }
                None => debug!(up = round, "uplink round"),
            }
            // The next round starts one interval after this one started.
            next += settings.interval;
            let now = tokio::time::Instant::now();
            if next < now {
                next = now;
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep_until(next) => {}
            }
        }
    }
}

/// One round: true if any target accepts a TCP connection within `timeout`.
/// All targets are tried at once; the first that answers ends the round.
async fn any_connects(targets: &[SocketAddr], timeout: Duration) -> bool {
    let mut tries = JoinSet::new();
    for &addr in targets {
        tries.spawn(async move {
            match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
                Ok(Ok(_)) => true,
                Ok(Err(e)) => {
                    debug!(%addr, error = %e, "uplink target refused or unreachable");
                    false
                }
                Err(_) => {
                    debug!(%addr, "uplink target did not answer in time");
                    false
                }
            }
        });
    }
    while let Some(done) = tries.join_next().await {
        if done.unwrap_or(false) {
            return true; // dropping the set aborts the other tries
        }
    }
    false
}

/// A change worth logging and publishing.
#[derive(Debug, PartialEq, Eq)]
enum Change {
    WentDown { since: i64 },
    CameBack { down_for_secs: i64 },
}

/// Rounds in, state changes out: the watcher's logic without the network.
#[derive(Debug)]
struct Verdict {
    fail_after: u32,
    /// Failed rounds in a row, and the time of the first of them.
    failures: u32,
    first_failure: i64,
    down: bool,
}

impl Verdict {
    fn new(fail_after: u32) -> Verdict {
        Verdict {
            fail_after: fail_after.max(1),
            failures: 0,
            first_failure: 0,
            down: false,
        }
    }

    fn record(&mut self, up: bool, now: i64) -> Option<Change> {
        if up {
            self.failures = 0;
            if std::mem::take(&mut self.down) {
                return Some(Change::CameBack {
                    down_for_secs: (now - self.first_failure).max(0),
                });
            }
            return None;
        }
        if self.failures == 0 {
            self.first_failure = now;
        }
        self.failures = self.failures.saturating_add(1);
        if !self.down && self.failures >= self.fail_after {
            self.down = true;
            return Some(Change::WentDown {
                since: self.first_failure,
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_after_fail_after_rounds_and_back_on_the_first_answer() {
        let mut v = Verdict::new(2);
        assert_eq!(v.record(true, 100), None);
        assert_eq!(
            v.record(false, 110),
            None,
            "one failed round is not an outage"
        );
        assert_eq!(v.record(true, 120), None);
        assert_eq!(v.record(false, 130), None);
        assert_eq!(
            v.record(false, 140),
            Some(Change::WentDown { since: 130 }),
            "since the first failed round"
        );
        assert_eq!(v.record(false, 150), None, "logged once");
        assert_eq!(
            v.record(true, 160),
            Some(Change::CameBack { down_for_secs: 30 })
        );
        assert_eq!(v.record(true, 170), None);
        let mut once = Verdict::new(1);
        assert_eq!(once.record(false, 5), Some(Change::WentDown { since: 5 }));
    }

    #[tokio::test]
    async fn a_round_is_up_if_any_target_answers() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap();
        // A port nobody listens on: bind, note it, close.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let timeout = Duration::from_secs(2);
        assert!(any_connects(&[closed, open], timeout).await);
        assert!(!any_connects(&[closed], timeout).await);
        assert!(!any_connects(&[], timeout).await);
    }

    #[tokio::test]
    async fn the_watcher_publishes_down_and_stops_on_cancel() {
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let settings = config::Uplink {
            targets: vec![closed],
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            fail_after: 1,
        };
        let (w, mut reader) = watcher(
            watch::channel(settings).1,
            Arc::new(crate::clock::ManualClock::new(1_700_000_000)),
        );
        assert_eq!(*reader.borrow(), UplinkState::Up);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(w.run(cancel.clone()));
        tokio::time::timeout(Duration::from_secs(5), reader.changed())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            *reader.borrow(),
            UplinkState::Down {
                since: 1_700_000_000
            }
        );
        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(2), task)
            .await
            .unwrap()
            .unwrap();
    }
}
