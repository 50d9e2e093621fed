//! The regency policy's status (issue 14): the policy in force, when it
//! was applied and last fetched, and the last refusal with its typed
//! reason. The puller writes it; the console's card, `/api/policy` and
//! `/metrics` read it.

use std::sync::{Arc, Mutex};

use crate::policy::Policy;
use crate::store::AdminStore;
use crate::telemetry::{PolicyRefusal, REGISTRY};

/// A refusal: when, the reason label and what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Unix seconds.
    pub at: i64,
    /// Why (the `desawifi_policy_errors_total` label).
    pub reason: PolicyRefusal,
    /// What happened, for the console and the log.
    pub message: String,
}

/// What the console and `/metrics` show about the policy.
#[derive(Debug, Clone, Default)]
pub struct Status {
    /// The policy in force (parsed from the stored record), if any.
    pub policy: Option<Policy>,
    /// When it was applied (unix seconds).
    pub applied_at: Option<i64>,
    /// The last time a fetch gave a document and its signature.
    pub fetched_at: Option<i64>,
    /// The last refusal since the daemon started.
    pub refusal: Option<Refusal>,
    /// Whether `[fleet] policy_url` is set at all.
    pub configured: bool,
}

/// The shared status (the puller writes, the console and metrics read).
#[derive(Debug, Clone, Default)]
pub struct PolicyStatus(Arc<Mutex<Status>>);

impl PolicyStatus {
    /// The status at start-up: the policy in force from the store.
    pub fn load(store: &AdminStore, configured: bool) -> PolicyStatus {
        let mut s = Status {
            configured,
            ..Status::default()
        };
        match store.policy() {
            Ok(Some(r)) => {
                s.applied_at = Some(r.applied_at);
                s.policy = Policy::parse(r.document.as_bytes()).ok();
                REGISTRY.policy_version.set(r.version);
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read the policy in force"),
        }
        PolicyStatus(Arc::new(Mutex::new(s)))
    }

    /// A copy of the status now.
    pub fn get(&self) -> Status {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Change the status (the puller: fetched, applied).
    pub fn update(&self, f: impl FnOnce(&mut Status)) {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Log, count and show a refusal at `at`; the policy in force stays.
    pub fn refused(&self, at: i64, reason: PolicyRefusal, message: String) {
        tracing::warn!(reason = reason.label(), error = %message, "regency policy refused");
        REGISTRY.policy_refused(reason);
        self.update(|s| {
            s.refusal = Some(Refusal {
                at,
                reason,
                message,
            })
        });
    }
}
