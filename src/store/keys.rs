//! Keys and value encodings, in one place. Schema version 1:
//!
//! - tree `meta`:    `schema` -> u32 big-endian
//! - tree `devices`: 6 MAC bytes -> JSON of [`crate::domain::Device`]
//! - tree `usage`:   6 MAC bytes + day (u32 BE, e.g. 20261127) -> JSON of [`crate::domain::DailyUsage`]
//! - tree `days`:    day (u32 BE) -> JSON of [`crate::domain::DayStats`] (logins, peak devices online)
//! - tree `category_usage`: day (u32 BE) + category id (UTF-8) -> JSON of
//!   [`crate::domain::DailyUsage`] (per site, never per device; see `categories.rs`)
//! - tree `audit`:   u64 BE sequence -> JSON of [`super::AuditEntry`] (see `audit.rs`)
//! - tree `settings`: `quota` -> JSON of [`super::SiteQuotaRecord`] (the admin's site defaults);
//!   `free_categories` -> JSON list of category ids that cost no quota (the admin's choice);
//!   `schedule` -> JSON of [`super::ScheduleRecord`] (opening hours);
//!   `policy_garden` -> JSON list of CIDR blocks the regency policy adds to the walled garden;
//!   `trusted` -> JSON list of MAC strings (devices online without a login);
//!   `clock` -> JSON of [`super::ClockRecord`] (the time high-water mark, the prune clock)
//! - tree `quiz`:    6 MAC bytes + day (u32 BE) -> JSON of [`super::QuizDeviceDay`] (pruned after its day)
//! - tree `quiz_days`: day (u32 BE) -> JSON of [`super::QuizDayStats`] (counts by pillar, no device)
//! - tree `users`:   username (UTF-8) -> JSON of [`super::UserRecord`] (role, argon2id PHC string, created)
//! - tree `admin_sessions`: SHA-256 of the login token -> JSON of [`super::AdminSession`] (see `accounts.rs`)
//! - tree `fleet`: `policy` -> JSON of [`super::PolicyRecord`] (the regency policy in force; see `policy.rs`)

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::StoreError;
use crate::domain::Mac;

pub const TREE_META: &str = "meta";
pub const TREE_DEVICES: &str = "devices";
pub const TREE_USAGE: &str = "usage";
pub const TREE_DAYS: &str = "days";
pub const TREE_CATEGORY_USAGE: &str = "category_usage";
pub const TREE_SETTINGS: &str = "settings";
pub const TREE_QUIZ: &str = "quiz";
pub const TREE_QUIZ_DAYS: &str = "quiz_days";
pub const TREE_AUDIT: &str = "audit";
pub const TREE_USERS: &str = "users";
pub const TREE_ADMIN_SESSIONS: &str = "admin_sessions";
pub const TREE_FLEET: &str = "fleet";
/// The regency office's villages (`office.rs`): slug -> JSON of `OfficeVillage`.
pub const TREE_OFFICE_VILLAGES: &str = "office_villages";
pub const SCHEMA: &[u8] = b"schema";
pub const SETTING_QUOTA: &[u8] = b"quota";
pub const SETTING_FREE_CATEGORIES: &[u8] = b"free_categories";
pub const SETTING_SCHEDULE: &[u8] = b"schedule";
pub const SETTING_TRUSTED: &[u8] = b"trusted";
pub const SETTING_POLICY_GARDEN: &[u8] = b"policy_garden";
pub const SETTING_CLOCK: &[u8] = b"clock";
pub const FLEET_POLICY: &[u8] = b"policy";

pub fn parse_day(k: &[u8]) -> Option<u32> {
    decode_u32(k)
}

pub fn usage(mac: &Mac, day: u32) -> [u8; 10] {
    let mut k = [0u8; 10];
    k[..6].copy_from_slice(&mac.0);
    k[6..].copy_from_slice(&day.to_be_bytes());
    k
}

pub fn parse_usage(k: &[u8]) -> Option<(Mac, u32)> {
    let mac: [u8; 6] = k.get(..6)?.try_into().ok()?;
    let day = u32::from_be_bytes(k.get(6..10)?.try_into().ok()?);
    Some((Mac(mac), day))
}

pub fn category_usage(day: u32, id: &str) -> Vec<u8> {
    let mut k = day.to_be_bytes().to_vec();
    k.extend_from_slice(id.as_bytes());
    k
}

pub fn parse_category_usage(k: &[u8]) -> Option<(u32, String)> {
    let day = u32::from_be_bytes(k.get(..4)?.try_into().ok()?);
    let id = std::str::from_utf8(k.get(4..)?).ok()?;
    Some((day, id.to_owned()))
}

pub fn device(mac: &Mac) -> [u8; 6] {
    mac.0
}

pub fn describe_device_key(k: &[u8]) -> String {
    <[u8; 6]>::try_from(k)
        .map(|b| Mac(b).to_string())
        .unwrap_or_else(|_| format!("{k:02x?}"))
}

pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("store records always serialize")
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8], key: &str) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        key: key.to_owned(),
        message: e.to_string(),
    })
}

pub fn decode_u32(bytes: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}
