//! Opening hours as a gateway decision: a login outside them is refused,
//! a session never lasts past the close, and at closing time every session
//! ends (usage kept) so the phones are captive again. The window arithmetic
//! itself is in `domain::schedule`; an admin's change is kept in the store.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{Gateway, GatewayError, MAX_SLEEP};
use crate::config;
use crate::domain::{Opening, OpeningHours, TimeOfDay};
use crate::store::ScheduleRecord;

impl Gateway {
    /// The opening hours in force (the config file's until an admin saves others).
    pub fn schedule(&self) -> config::Schedule {
        self.schedule.read().expect("schedule lock").clone()
    }

    /// Where now falls in the opening hours; `None` when always open.
    pub fn opening(&self) -> Option<Opening> {
        let hours = self.schedule().hours?;
        Some(hours.at(self.now(), &self.config().site.timezone))
    }

    /// Is the wifi open now (always, without a `[schedule]`)?
    pub fn is_open(&self) -> bool {
        !matches!(self.opening(), Some(Opening::Closed { .. }))
    }

    /// Refuse a login while closed; else the end of today's window (if any),
    /// which caps the session.
    pub(super) fn closing_time(&self) -> Result<Option<i64>, GatewayError> {
        match self.opening() {
            None => Ok(None),
            Some(Opening::Open { closes }) => Ok(Some(closes)),
            Some(Opening::Closed { opens }) => Err(GatewayError::Closed { opens }),
        }
    }

    /// Change the opening hours: `change` gets the ones in force and returns
    /// the new ones (or refuses). Saved (flushed) first, then in force at
    /// once: sessions are cut to the new close, and if it is closed now every
    /// session ends. Returns (old, new).
    pub async fn change_schedule<E: From<GatewayError>>(
        &self,
        change: impl FnOnce(&config::Schedule) -> Result<config::Schedule, E>,
    ) -> Result<(config::Schedule, config::Schedule), E> {
        let (old, new) = {
            let _guard = self.records.lock().expect("records lock");
            let old = self.schedule();
            let new = change(&old)?;
            self.store
                .put_schedule(&record_of_schedule(&new))
                .map_err(GatewayError::from)?;
            *self.schedule.write().expect("schedule lock") = new.clone();
            (old, new)
        };
        self.store.flush().await.map_err(GatewayError::from)?;
        info!("opening hours changed");
        self.enforce_schedule().await?;
        if old.garden_always_open != new.garden_always_open {
            self.reconcile().await?;
        }
        self.schedule_changed.notify_one();
        Ok((old, new))
    }

    /// Make sessions agree with the opening hours now: while closed every
    /// session ends; while open none outlasts the close.
    pub(super) async fn enforce_schedule(&self) -> Result<(), GatewayError> {
        match self.opening() {
            None => Ok(()),
            Some(Opening::Closed { .. }) => {
                let online: Vec<_> = self
                    .store
                    .devices()?
                    .into_iter()
                    .filter(|d| d.session.is_some() && !self.is_trusted(&d.mac))
                    .map(|d| d.mac)
                    .collect();
                if !online.is_empty() {
                    info!(devices = online.len(), "closing time: sessions end");
                }
                self.revoke_many(&online, "closing time").await
            }
            Some(Opening::Open { closes }) => {
                let mut moved = false;
                {
                    let mut records = self.records.lock().expect("records lock");
                    for mut device in self.store.devices()? {
                        if self.is_trusted(&device.mac) {
                            continue;
                        }
                        let Some(s) = device.session.as_mut().filter(|s| s.ends > closes) else {
                            continue;
                        };
                        s.ends = closes;
                        self.store.put_device(&device)?;
                        records.wrote(&device);
                        moved = true;
                    }
                }
                if moved {
                    self.store.flush().await?;
                    self.wake.notify_one();
                }
                Ok(())
            }
        }
    }

    /// At each opening and closing time: end the sessions (closing), tell
    /// the metrics, and re-apply the walled garden when it closes with the
    /// wifi (`garden_always_open = false`).
    pub async fn run_schedule(self: Arc<Self>, cancel: CancellationToken) {
        let mut was_open = None;
        loop {
            let open = self.is_open();
            if let Err(e) = self.enforce_schedule().await {
                warn!(error = %e, "opening hours: ending sessions failed");
            }
            if was_open.is_some_and(|w| w != open) {
                info!(
                    open,
                    "opening hours: the wifi {}",
                    if open { "opens" } else { "closes" }
                );
                if !self.schedule().garden_always_open {
                    if let Err(e) = self.reconcile().await {
                        warn!(error = %e, "opening hours: firewall reconcile failed");
                    }
                }
            }
            was_open = Some(open);
            let next = match self.opening() {
                Some(Opening::Open { closes }) => Some(closes),
                Some(Opening::Closed { opens }) => Some(opens),
                None => None,
            };
            let sleep = next.map_or(MAX_SLEEP, |at| {
                Duration::from_secs((at - self.now()).max(0) as u64).min(MAX_SLEEP)
            });
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(sleep) => {}
                _ = self.schedule_changed.notified() => {}
            }
        }
    }

    /// The walled garden is shut now (closed, with `garden_always_open = false`).
    pub(super) fn garden_shut(&self) -> bool {
        !self.is_open() && !self.schedule().garden_always_open
    }
}

/// The opening hours as the store keeps them.
fn record_of_schedule(s: &config::Schedule) -> ScheduleRecord {
    ScheduleRecord {
        open: s.hours.map(|h| h.open.minutes()),
        close: s.hours.map(|h| h.close.minutes()),
        garden_always_open: s.garden_always_open,
    }
}

/// Saved opening hours back in the config room's terms (a corrupt window
/// reads as always open, never as always closed).
pub(super) fn schedule_of_record(r: ScheduleRecord) -> config::Schedule {
    let hours = match (r.open, r.close) {
        (Some(o), Some(c)) => TimeOfDay::from_minutes(o)
            .zip(TimeOfDay::from_minutes(c))
            .and_then(|(o, c)| OpeningHours::new(o, c)),
        _ => None,
    };
    config::Schedule {
        hours,
        garden_always_open: r.garden_always_open,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_records_round_trip() {
        let s = config::Schedule {
            hours: OpeningHours::new("06:00".parse().unwrap(), "22:00".parse().unwrap()),
            garden_always_open: false,
        };
        let back = schedule_of_record(record_of_schedule(&s));
        assert_eq!(back.hours, s.hours);
        assert!(!back.garden_always_open);
        let always = schedule_of_record(ScheduleRecord {
            open: Some(2000),
            close: Some(10),
            garden_always_open: true,
        });
        assert_eq!(always.hours, None, "a corrupt window is always open");
    }
}
