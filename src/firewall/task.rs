//! The one task that talks to `nft`. Requests queue on a channel; a burst of
//! device changes (a hundred phones tapping Connect after a power cut) is
//! coalesced into one transaction. The async runtime never waits on `nft`
//! except through this task.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, instrument, warn};

use super::*;

/// Most changes folded into one transaction.
const MAX_BATCH: usize = 4096;

enum Request {
    Changes(Vec<Change>, oneshot::Sender<Result<(), String>>),
    Reconcile(Policy, oneshot::Sender<Result<KernelState, String>>),
    Read(oneshot::Sender<Result<KernelState, String>>),
}

/// A cheap, cloneable way to ask the firewall task for work.
#[derive(Clone)]
pub struct FirewallHandle {
    tx: mpsc::Sender<Request>,
}

/// The firewall task's state: how to run nft and what our sets hold now.
pub struct Firewall {
    nft: Nft,
    /// Mirror of the kernel's `online` set after the last successful apply.
    online: BTreeSet<DeviceKey>,
    rx: mpsc::Receiver<Request>,
}

impl Firewall {
    /// Make the task and its handle; run it with [`Firewall::run`].
    pub fn new(nft: Nft) -> (Firewall, FirewallHandle) {
        let (tx, rx) = mpsc::channel(1024);
        (Firewall { nft, online: BTreeSet::new(), rx }, FirewallHandle { tx })
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
                    let result = self.apply_changes(&changes).await.map_err(|e| e.to_string());
                    for r in replies {
                        let _ = r.send(result.clone());
                    }
                }
                Request::Reconcile(policy, reply) => {
                    let _ = reply.send(self.reconcile(&policy).await.map_err(|e| e.to_string()));
                }
                Request::Read(reply) => {
                    let _ = reply.send(self.nft.read().await.map_err(|e| e.to_string()));
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
        let before = self.nft.read().await?;
        let doc = render::full(policy, &before);
        self.nft.apply(&doc).await?;
        let after = self.nft.read().await?;
        let want: BTreeSet<DeviceKey> = policy.online.iter().copied().collect();
        let have: BTreeSet<DeviceKey> = after.online.keys().copied().collect();
        if !after.compatible || want != have {
            return Err(FirewallError::Verify(format!("wanted {} online devices, the kernel has {}", want.len(), have.len())));
        }
        let kept = before.online.keys().filter(|k| want.contains(k)).count();
        info!(online = want.len(), kept, replaced = before.table_exists && !before.compatible, ms = started.elapsed().as_millis() as u64, "firewall reconciled");
        self.online = have;
        Ok(after)
    }

    /// Apply a burst of admits and revokes as one element batch. The last
    /// change for a device wins.
    #[instrument(skip_all, fields(changes = changes.len()))]
    async fn apply_changes(&mut self, changes: &[Change]) -> Result<(), FirewallError> {
        let mut next = self.online.clone();
        for change in changes {
            match *change {
                Change::Admit(k) => next.insert(k),
                Change::Revoke(k) => next.remove(&k),
            };
        }
        let revoke: Vec<DeviceKey> = self.online.difference(&next).copied().collect();
        let admit: Vec<DeviceKey> = next.difference(&self.online).copied().collect();
        if revoke.is_empty() && admit.is_empty() {
            return Ok(());
        }
        let ips = |s: &BTreeSet<DeviceKey>| s.iter().map(|k| k.ip).collect::<BTreeSet<Ipv4Addr>>();
        let (old_ips, new_ips) = (ips(&self.online), ips(&next));
        let revoke_ips: Vec<Ipv4Addr> = old_ips.difference(&new_ips).copied().collect();
        let admit_ips: Vec<Ipv4Addr> = new_ips.difference(&old_ips).copied().collect();
        let doc = render::device_changes(&revoke, &revoke_ips, &admit, &admit_ips);
        let started = Instant::now();
        match self.nft.apply(&doc).await {
            Ok(()) => {
                debug!(admitted = admit.len(), revoked = revoke.len(), us = started.elapsed().as_micros() as u64, "firewall batch applied");
                self.online = next;
                Ok(())
            }
            Err(e) => {
                // Our mirror may be wrong (someone flushed the table?): re-read it.
                warn!(error = %e, "firewall batch failed; re-reading the kernel's sets");
                if let Ok(state) = self.nft.read().await {
                    self.online = state.online.keys().copied().collect();
                }
                Err(e)
            }
        }
    }
}

impl FirewallHandle {
    /// Let a device through (one element in the next batch).
    pub async fn admit(&self, key: DeviceKey) -> Result<(), FirewallError> {
        self.changes(vec![Change::Admit(key)]).await
    }

    /// Make a device captive again.
    pub async fn revoke(&self, key: DeviceKey) -> Result<(), FirewallError> {
        self.changes(vec![Change::Revoke(key)]).await
    }

    /// Several changes, applied together (and with whatever else is queued).
    pub async fn changes(&self, changes: Vec<Change>) -> Result<(), FirewallError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Request::Changes(changes, tx)).await.map_err(|_| FirewallError::Stopped)?;
        rx.await.map_err(|_| FirewallError::Stopped)?.map_err(FirewallError::Task)
    }

    /// Full reconcile to `policy` (start-up, SIGHUP, config change).
    pub async fn reconcile(&self, policy: Policy) -> Result<KernelState, FirewallError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Request::Reconcile(policy, tx)).await.map_err(|_| FirewallError::Stopped)?;
        rx.await.map_err(|_| FirewallError::Stopped)?.map_err(FirewallError::Task)
    }

    /// Read the table and its counters (one `nft` call).
    pub async fn read(&self) -> Result<KernelState, FirewallError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Request::Read(tx)).await.map_err(|_| FirewallError::Stopped)?;
        rx.await.map_err(|_| FirewallError::Stopped)?.map_err(FirewallError::Task)
    }
}
