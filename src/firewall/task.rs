//! The one task that talks to the kernel (`nft`, and `tc` for the shaping
//! slots). Requests queue on a channel; a burst of device changes (a hundred
//! phones tapping Connect after a power cut) is coalesced into one nft
//! transaction and at most one tc batch. The async runtime never waits on
//! either except through this task.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, instrument, warn};

use super::*;
use crate::shaping::{self, Plan, Tc};

mod mirror;
use mirror::{Delta, Mirror, Touched};

/// Most changes folded into one transaction.
const MAX_BATCH: usize = 4096;

enum Request {
    Changes(Vec<Change>, oneshot::Sender<Result<Deleted, FirewallError>>),
    Reconcile(Policy, oneshot::Sender<Result<KernelState, FirewallError>>),
}

/// The counters of the device elements a batch deleted, read as the kernel
/// deleted them (`netlink::DeleteWatch`); empty when they could not be read
/// (the caller then uses the counters it read before).
pub type Deleted = std::collections::BTreeMap<DeviceKey, super::DeviceCounters>;

/// A cheap, cloneable way to ask the firewall task for work.
#[derive(Clone)]
pub struct FirewallHandle {
    tx: mpsc::Sender<Request>,
    /// Counter reads run here, beside the task, not in its queue: a read of
    /// a big table takes tens of ms and a login must not wait behind it
    /// (nft gives a read a consistent snapshot while a batch applies).
    nft: Nft,
}

/// The firewall task's state: how to run nft and tc, and what the kernel holds now.
pub struct Firewall {
    nft: Nft,
    tc: Tc,
    plan: Plan,
    /// Every slot's ceilings when nobody has changed them.
    default_rates: SlotRates,
    /// The shaping trees exist (built on the first reconcile).
    shaping_ready: bool,
    /// Mirror of the kernel's `online` set (with each device's slot) after the last successful apply.
    online: Mirror,
    /// Mirror of the slots' ceilings in the kernel (absent = `default_rates`).
    rates: HashMap<u16, SlotRates>,
    rx: mpsc::Receiver<Request>,
}

impl Firewall {
    /// Make the task and its handle; run it with [`Firewall::run`].
    pub fn new(
        nft: Nft,
        tc: Tc,
        plan: Plan,
        default_rates: SlotRates,
    ) -> (Firewall, FirewallHandle) {
        let (tx, rx) = mpsc::channel(1024);
        let fw = Firewall {
            nft,
            tc,
            plan,
            default_rates,
            shaping_ready: false,
            online: Mirror::default(),
            rates: HashMap::new(),
            rx,
        };
        let reader = fw.nft.clone();
        (fw, FirewallHandle { tx, nft: reader })
    }

    /// `tc` lines for the slots whose ceilings differ from the mirror; updates the mirror.
    fn rate_changes(
        &mut self,
        wanted: impl IntoIterator<Item = (u16, SlotRates)>,
    ) -> Vec<(u16, SlotRates)> {
        let mut out: BTreeMap<u16, SlotRates> = BTreeMap::new();
        for (slot, rates) in wanted {
            let current = self.rates.get(&slot).copied().unwrap_or(self.default_rates);
            if current != rates || out.contains_key(&slot) {
                out.insert(slot, rates);
            }
        }
        out.into_iter().collect()
    }

    async fn apply_rates(&mut self, changes: Vec<(u16, SlotRates)>) -> Result<(), FirewallError> {
        if changes.is_empty() {
            return Ok(());
        }
        self.tc
            .run(&shaping::slots_script(&self.plan, &changes))
            .await?;
        for (slot, rates) in changes {
            self.rates.insert(slot, rates);
        }
        Ok(())
    }

    /// Serve requests until cancelled or every handle is dropped.
    pub async fn run(mut self, cancel: CancellationToken) {
        let mut held: Option<Request> = None;
        loop {
            let req = match held.take() {
                Some(r) => r,
                None => tokio::select! {
                    _ = cancel.cancelled() => break,
                    r = self.rx.recv() => match r { Some(r) => r, None => break },
                },
            };
            match req {
                Request::Changes(changes, reply) => {
                    let mut changes = changes;
                    let mut replies = vec![reply];
                    // Coalesce whatever else is already waiting.
                    while changes.len() < MAX_BATCH {
                        match self.rx.try_recv() {
                            Ok(Request::Changes(more, r)) => {
                                changes.extend(more);
                                replies.push(r);
                            }
                            Ok(other) => {
                                held = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    let result = self.apply_changes(&changes).await;
                    for r in replies {
                        let _ = r.send(result.clone());
                    }
                }
                Request::Reconcile(policy, reply) => {
                    let _ = reply.send(self.reconcile(&policy).await);
                }
            }
        }
        debug!("firewall task stopped; the table stays as it is");
    }

    /// Make the kernel's table equal to `policy` in one transaction, keeping
    /// the elements (and counters) of devices that stay, then verify.
    #[instrument(skip_all, fields(online = policy.online.len()))]
    async fn reconcile(&mut self, policy: &Policy) -> Result<KernelState, FirewallError> {
        let started = Instant::now();
        if !self.shaping_ready {
            // Rebuild both HTB trees, every slot at the default ceilings.
            self.tc
                .run(&shaping::setup_script(&self.plan, self.default_rates))
                .await?;
            self.rates.clear();
            self.shaping_ready = true;
        }
        let wanted_rates = self.rate_changes(policy.online.iter().map(|d| (d.slot, d.rates)));
        self.apply_rates(wanted_rates).await?;
        let before = self.nft.read().await?;
        let doc = render::full(policy, &before);
        let applying = Instant::now();
        let applied = self.nft.apply(&doc).await;
        crate::telemetry::firewall_applied(applying.elapsed(), applied.is_ok());
        applied?;
        let after = self.nft.read().await?;
        let want: BTreeSet<DeviceKey> = policy.online.iter().map(|d| d.key).collect();
        let have: BTreeSet<DeviceKey> = after.online.keys().copied().collect();
        if !after.compatible || want != have {
            return Err(FirewallError::Verify {
                wanted: want.len(),
                have: have.len(),
                compatible: after.compatible,
            });
        }
        let kept = before.online.keys().filter(|k| want.contains(k)).count();
        info!(
            online = want.len(),
            kept,
            replaced = before.table_exists && !before.compatible,
            ms = started.elapsed().as_millis() as u64,
            "firewall reconciled"
        );
        self.online = Mirror::new(policy.online.iter().map(|d| (d.key, d.slot)));
        Ok(after)
    }

    /// Apply a burst of admits, revokes and rate changes: at most one tc
    /// batch, then one nft element batch. The last change for a device wins.
    #[instrument(skip_all, fields(changes = changes.len()))]
    async fn apply_changes(&mut self, changes: &[Change]) -> Result<Deleted, FirewallError> {
        // What each device touched becomes; the rest of the mirror stays as
        // it is, so a batch costs O(changes · log n), not a copy of the mirror.
        let mut touched = Touched::new();
        let mut wanted_rates = Vec::new();
        for change in changes {
            match *change {
                Change::Admit(d) => {
                    touched.insert(d.key, Some(d.slot));
                    wanted_rates.push((d.slot, d.rates));
                }
                Change::Revoke(k) => {
                    touched.insert(k, None);
                }
                Change::Rates { slot, rates } => wanted_rates.push((slot, rates)),
            }
        }
        let started = Instant::now();
        // Rates first: a phone is never let through into a class with stale ceilings.
        let rate_changes = self.rate_changes(wanted_rates);
        let tc_lines = rate_changes.len();
        self.apply_rates(rate_changes).await?;
        let Delta {
            revoke,
            revoke_ips,
            admit,
            admit_ips,
        } = self.online.delta(&touched);
        if revoke.is_empty() && admit.is_empty() {
            return Ok(Deleted::new());
        }
        let admit_slots: Vec<(DeviceKey, u16)> = admit
            .iter()
            .filter_map(|k| touched.get(k).copied().flatten().map(|slot| (*k, slot)))
            .collect();
        let admit_ips: Vec<Ipv4Addr> = admit_ips.iter().map(|(ip, _)| *ip).collect();
        // Deleted elements' counters come back with the commit (issue 22, item 12).
        let watch = if revoke.is_empty() {
            None
        } else {
            super::netlink::DeleteWatch::open()
                .map_err(|e| debug!(error = %e, "no deletion notices: counters read before"))
                .ok()
        };
        let doc = render::device_changes(&revoke, &revoke_ips, &admit_slots, &admit_ips);
        let applying = Instant::now();
        let applied = self.nft.apply(&doc).await;
        crate::telemetry::firewall_applied(applying.elapsed(), applied.is_ok());
        match applied {
            Ok(()) => {
                debug!(
                    admitted = admit.len(),
                    revoked = revoke.len(),
                    tc_lines,
                    us = started.elapsed().as_micros() as u64,
                    "firewall batch applied"
                );
                self.online.apply(&touched);
                let deleted = watch.and_then(|w| {
                    w.deleted(super::TABLE)
                        .map_err(
                            |e| warn!(error = %e, "deletion notices lost: counters read before"),
                        )
                        .ok()
                });
                Ok(deleted.map(|s| s.counters()).unwrap_or_default())
            }
            Err(e) => {
                // Our mirror may be wrong (someone flushed the table?): re-read it.
                warn!(error = %e, "firewall batch failed; re-reading the kernel's sets");
                if let Ok(state) = self.nft.read().await {
                    let slots = &self.online;
                    self.online = Mirror::new(
                        state
                            .online
                            .keys()
                            .map(|k| (*k, slots.slot(k).unwrap_or(0))),
                    );
                }
                Err(e)
            }
        }
    }
}

impl FirewallHandle {
    /// Let a device through (one element in the next batch).
    pub async fn admit(&self, device: OnlineDevice) -> Result<(), FirewallError> {
        self.changes(vec![Change::Admit(device)]).await.map(drop)
    }

    /// Make a device captive again.
    pub async fn revoke(&self, key: DeviceKey) -> Result<(), FirewallError> {
        self.changes(vec![Change::Revoke(key)]).await.map(drop)
    }

    /// Several changes, applied together (and with whatever else is queued);
    /// returns the counters of the device elements the batch deleted.
    pub async fn changes(&self, changes: Vec<Change>) -> Result<Deleted, FirewallError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Request::Changes(changes, tx))
            .await
            .map_err(|_| FirewallError::Stopped(mpsc::error::SendError(())))?;
        rx.await.map_err(FirewallError::Unanswered)?
    }

    /// Full reconcile to `policy` (start-up, SIGHUP, config change).
    pub async fn reconcile(&self, policy: Policy) -> Result<KernelState, FirewallError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Request::Reconcile(policy, tx))
            .await
            .map_err(|_| FirewallError::Stopped(mpsc::error::SendError(())))?;
        rx.await.map_err(FirewallError::Unanswered)?
    }

    /// Every online device's byte counters, read from the counted sets alone
    /// (one `nft` process, see [`Nft::counters`]), without queueing behind
    /// the task's batches.
    pub async fn counters(&self) -> Result<super::state::Counted, FirewallError> {
        self.nft.counters().await
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    const RATES: SlotRates = SlotRates::same(5_000_000, 1_000_000);

    /// A task whose `nft` and `tc` cannot be run, and every slot at `RATES`.
    fn broken() -> (Firewall, FirewallHandle) {
        let plan = Plan {
            lan_interface: "br-lan".into(),
            wan_interface: "wan0".into(),
            uplink_download: None,
            uplink_upload: None,
            slots: 4,
        };
        Firewall::new(
            Nft::program("/nonexistent/nft"),
            Tc {
                program: Some("/nonexistent/tc".into()),
            },
            plan,
            RATES,
        )
    }

    fn device(n: u8, rates: SlotRates) -> OnlineDevice {
        OnlineDevice {
            key: DeviceKey {
                mac: format!("02:77:00:00:00:{n:02x}").parse().unwrap(),
                ip: Ipv4Addr::new(10, 77, 0, n),
            },
            slot: u16::from(n),
            rates,
        }
    }

    #[tokio::test]
    async fn every_request_of_a_coalesced_batch_gets_the_nft_error_with_its_cause() {
        let (fw, handle) = broken();
        // Both queued before the task runs, so they are folded into one batch.
        let (a, b) = (handle.clone(), handle.clone());
        let first = tokio::spawn(async move { a.admit(device(1, RATES)).await });
        let second = tokio::spawn(async move { b.admit(device(2, RATES)).await });
        tokio::task::yield_now().await;
        let cancel = CancellationToken::new();
        let task = tokio::spawn(fw.run(cancel.clone()));
        for answer in [first.await.unwrap(), second.await.unwrap()] {
            let err = answer.unwrap_err();
            assert!(matches!(err, FirewallError::Nft { .. }), "{err:?}");
            let cause = err.source().expect("the nft error is kept as the cause");
            assert!(cause
                .downcast_ref::<Arc<nftables::helper::NftablesError>>()
                .is_some());
        }
        cancel.cancel();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn a_tc_failure_comes_back_as_shaping_with_its_cause() {
        let (fw, handle) = broken();
        let cancel = CancellationToken::new();
        let task = tokio::spawn(fw.run(cancel.clone()));
        let slower = SlotRates::same(256_000, 256_000);
        let err = handle.admit(device(1, slower)).await.unwrap_err();
        assert!(matches!(err, FirewallError::Shaping { .. }), "{err:?}");
        let cause = err.source().expect("the tc error is kept as the cause");
        assert!(cause
            .downcast_ref::<Arc<crate::shaping::ShapingError>>()
            .is_some());
        cancel.cancel();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn a_stopped_task_answers_stopped() {
        let (fw, handle) = broken();
        drop(fw);
        let err = handle.revoke(device(1, RATES).key).await.unwrap_err();
        assert!(matches!(err, FirewallError::Stopped(_)), "{err:?}");
        assert!(err.source().is_some());
    }

    #[tokio::test]
    async fn a_task_gone_with_the_request_queued_answers_unanswered() {
        let (fw, handle) = broken();
        let asking = tokio::spawn(async move { handle.admit(device(1, RATES)).await });
        tokio::task::yield_now().await;
        drop(fw); // the queue goes, with the request's reply channel in it
        let err = asking.await.unwrap().unwrap_err();
        assert!(matches!(err, FirewallError::Unanswered(_)), "{err:?}");
        assert!(err.source().is_some());
    }
}
