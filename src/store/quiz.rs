//! The literacy quiz's records: what one device did today (so a question is
//! answered once and earns once, across restarts), and the day's counts by
//! pillar for the regency, which name no device. A device's record is of no
//! use after its day and is pruned then.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{keys, Store, StoreError};
use crate::domain::Mac;

/// One device's quiz on one local day (tree `quiz`, key MAC + day).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuizDeviceDay {
    /// The question was shown (counted once a day per device).
    pub shown: bool,
    /// Answers given today.
    pub attempts: u32,
    /// Bonus bytes earned today (0 or `[quiz] bonus`).
    pub bonus: u64,
}

/// Counts of one pillar on one day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuizCounts {
    /// Devices the question was shown to.
    pub shown: u64,
    /// Answers given.
    pub answered: u64,
    /// Right answers.
    pub right: u64,
}

/// One day's quiz counts by pillar name (tree `quiz_days`, key day): the
/// only quiz figures that leave the router.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuizDayStats {
    pub pillars: BTreeMap<String, QuizCounts>,
}

impl Store {
    /// A device's quiz record for `day` (the default when it has none).
    pub fn quiz_device(&self, mac: &Mac, day: u32) -> Result<QuizDeviceDay, StoreError> {
        Ok(self
            .quiz
            .get(keys::usage(mac, day))?
            .map(|v| keys::decode(&v, "quiz"))
            .transpose()?
            .unwrap_or_default())
    }

    /// Write a device's record and change the day's counts with it, in one
    /// transaction (not yet flushed).
    pub fn put_quiz(
        &self,
        mac: &Mac,
        day: u32,
        record: &QuizDeviceDay,
        pillar: &str,
        count: impl Fn(&mut QuizCounts),
    ) -> Result<(), StoreError> {
        use sled::Transactional;
        let key = keys::usage(mac, day);
        let value = keys::encode(record);
        (&self.quiz, &self.quiz_days)
            .transaction(|(quiz, quiz_days)| {
                quiz.insert(&key, value.clone())?;
                let mut stats: QuizDayStats = match quiz_days.get(day.to_be_bytes())? {
                    Some(v) => serde_json::from_slice(&v).unwrap_or_default(),
                    None => QuizDayStats::default(),
                };
                count(stats.pillars.entry(pillar.to_owned()).or_default());
                quiz_days.insert(&day.to_be_bytes(), keys::encode(&stats))?;
                Ok(())
            })
            .map_err(|e: sled::transaction::TransactionError<()>| match e {
                sled::transaction::TransactionError::Storage(e) => StoreError::from(e),
                sled::transaction::TransactionError::Abort(()) => StoreError::Corrupt {
                    key: "quiz".into(),
                    message: "transaction aborted".into(),
                },
            })
    }

    /// The quiz counts of the days `from..=to` that have any.
    pub fn quiz_days_between(
        &self,
        from: u32,
        to: u32,
    ) -> Result<Vec<(u32, QuizDayStats)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.quiz_days.range(from.to_be_bytes()..=to.to_be_bytes()) {
            let (k, v) = kv?;
            if let Some(day) = keys::parse_day(&k) {
                out.push((day, keys::decode(&v, "quiz_days")?));
            }
        }
        Ok(out)
    }

    /// Forget the devices' quiz records of days before `before` (their day
    /// is over; the counts by pillar stay). Returns how many went.
    pub fn prune_quiz_devices(&self, before: u32) -> Result<usize, StoreError> {
        let mut gone = 0;
        for kv in self.quiz.iter() {
            let (k, _) = kv?;
            if keys::parse_usage(&k).is_some_and(|(_, day)| day < before) {
                self.quiz.remove(k)?;
                gone += 1;
            }
        }
        Ok(gone)
    }
}
