//! The literacy quiz as a gateway decision: one attempt per device per
//! local day (`[quiz] attempts_per_day`), a right answer adds `[quiz] bonus`
//! to the device's quota for the rest of the day (at once for the captive
//! API and the status page; within one accounting pass for the firewall),
//! and never twice. The day's counts by pillar are kept for the regency;
//! a device's own record is pruned after its day.

use std::sync::atomic::Ordering;

use tracing::info;

use super::{Gateway, GatewayError};
use crate::domain::{self, Mac};
use crate::store::{QuizDayStats, QuizDeviceDay};

/// What an answer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuizOutcome {
    /// Right: this many bonus bytes were added (0 if earned already today).
    Right { bonus: u64 },
    /// Wrong: nothing earned; this many attempts are left today (while any
    /// are, the page must not give the right answer away).
    Wrong { attempts_left: u32 },
    /// Today's attempts are used (a repost, a second answer): nothing counted.
    NoAttemptsLeft,
}

impl Gateway {
    /// The local day now.
    fn today(&self) -> u32 {
        domain::local_day(self.now(), &self.config().site.timezone)
    }

    /// This device's quiz today.
    pub fn quiz_today(&self, mac: &Mac) -> Result<QuizDeviceDay, GatewayError> {
        Ok(self.store.quiz_device(mac, self.today())?)
    }

    /// May this device answer today (attempts left, bonus not yet earned)?
    pub fn quiz_open(&self, mac: &Mac) -> Result<bool, GatewayError> {
        let q = self.quiz_today(mac)?;
        Ok(q.attempts < self.config().quiz.attempts_per_day && q.bonus == 0)
    }

    /// The question (of `pillar`) was shown to this device: counted once a
    /// day per device.
    pub fn quiz_shown(&self, mac: Mac, pillar: &str) -> Result<(), GatewayError> {
        let day = self.today();
        self.prune_quiz(day)?;
        let _guard = self.records.lock().expect("records lock");
        let mut q = self.store.quiz_device(&mac, day)?;
        if q.shown {
            return Ok(());
        }
        q.shown = true;
        self.store
            .put_quiz(&mac, day, &q, pillar, |c| c.shown += 1)?;
        Ok(())
    }

    /// An answer to today's question (of `pillar`), already checked by the
    /// caller against the bank. Saved (flushed) before answering, so a
    /// repost after a power cut cannot earn again.
    pub async fn quiz_answer(
        &self,
        mac: Mac,
        pillar: &str,
        right: bool,
    ) -> Result<QuizOutcome, GatewayError> {
        let day = self.today();
        self.prune_quiz(day)?;
        let outcome = {
            let _guard = self.records.lock().expect("records lock");
            let mut q = self.store.quiz_device(&mac, day)?;
            if q.attempts >= self.config().quiz.attempts_per_day || q.bonus > 0 {
                return Ok(QuizOutcome::NoAttemptsLeft);
            }
            q.attempts += 1;
            let bonus = if right { self.config().quiz.bonus.0 } else { 0 };
            q.bonus = bonus;
            self.store.put_quiz(&mac, day, &q, pillar, |c| {
                c.answered += 1;
                c.right += u64::from(right);
            })?;
            if right {
                QuizOutcome::Right { bonus }
            } else {
                QuizOutcome::Wrong {
                    attempts_left: self
                        .config()
                        .quiz
                        .attempts_per_day
                        .saturating_sub(q.attempts),
                }
            }
        };
        self.store.flush().await?;
        crate::telemetry::quiz_answered(pillar, right);
        info!(right, pillar, "quiz answered");
        Ok(outcome)
    }

    /// Bonus bytes this device earned today (added to its daily quota).
    pub(super) fn quiz_bonus_today(&self, mac: &Mac) -> u64 {
        self.store
            .quiz_device(mac, self.today())
            .map_or(0, |q| q.bonus)
    }

    /// The quiz counts by pillar of the days `from..=to`: no device in them.
    pub fn quiz_days(&self, from: u32, to: u32) -> Result<Vec<(u32, QuizDayStats)>, GatewayError> {
        Ok(self.store.quiz_days_between(from, to)?)
    }

    /// Once a day: forget the devices' quiz records of the days before.
    fn prune_quiz(&self, today: u32) -> Result<(), GatewayError> {
        if self.quiz_pruned.swap(today, Ordering::Relaxed) != today {
            let gone = self.store.prune_quiz_devices(today)?;
            if gone > 0 {
                info!(removed = gone, "quiz records of past days pruned");
            }
        }
        Ok(())
    }
}
