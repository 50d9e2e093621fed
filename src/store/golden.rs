//! The bytes on disk, pinned: for every kind of record and key the store
//! writes, a fixed sample goes in through the store's own methods and the
//! raw sled trees must hold exactly the literal bytes below; the literals
//! written straight into the trees must read back as the samples. The
//! literals were taken from the code before the store got its own record
//! types, so a renamed field anywhere in the crate cannot move them (and a
//! router's existing store keeps opening).

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::domain::{AuditAction, QuotaOverride, Role, Session, Standing};

fn temp_store(name: &str) -> (Store, PathBuf) {
    let dir = std::env::temp_dir().join(format!("desawifi-golden-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    (Store::open(&dir).unwrap(), dir)
}

fn mac() -> Mac {
    "02:77:00:00:00:01".parse().unwrap()
}

fn device() -> Device {
    Device {
        mac: mac(),
        ip: Some(Ipv4Addr::new(10, 77, 0, 11)),
        session: Some(Session {
            ip: Ipv4Addr::new(10, 77, 0, 11),
            started: 1_764_230_400,
            ends: 1_764_244_800,
            last_activity: 1_764_231_000,
            seen: (1234, 56789),
            seen_free: 0,
            standing: Standing::Throttled,
            slot: Some(3),
            written: 1_764_230_990,
        }),
        blocked: true,
        quota: QuotaOverride {
            daily_data: Some(1 << 30),
            download_rate: None,
            upload_rate: Some(500_000),
            exempt: false,
        },
        first_seen: 1_764_000_000,
    }
}

fn usage() -> DailyUsage {
    DailyUsage {
        download: 700,
        upload: 30,
        free: 0,
    }
}

fn day_stats() -> DayStats {
    DayStats {
        sessions: 3,
        peak_devices: 2,
    }
}

fn site_quota() -> SiteQuotaRecord {
    SiteQuotaRecord {
        daily_data: 500 << 20,
        session_time: Duration::from_secs(4 * 3600).into(),
        idle_timeout: Duration::from_secs(30 * 60).into(),
        download_rate: 2_000_000,
        upload_rate: 1_000_000,
        after_quota_rate: 0,
        accounting_interval: Duration::from_millis(1500).into(),
    }
}

fn user() -> UserRecord {
    UserRecord {
        role: Role::Viewer,
        hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        created: 1_764_230_400,
        generation: 2,
    }
}

fn admin_session() -> AdminSession {
    AdminSession {
        username: "ani".into(),
        csrf: "k3y".into(),
        expires: 1_764_259_200,
        created: 1_764_230_400,
        generation: 2,
    }
}

fn audit_entry() -> AuditEntry {
    AuditEntry {
        at: 1_764_230_400,
        who: "ani".into(),
        action: AuditAction::QuotaSet,
        target: "site".into(),
        old: serde_json::json!({"daily_data": "500 MiB"}),
        new: serde_json::json!({"daily_data": "1 GiB", "exempt": false}),
    }
}

const DEVICE_KEY: &[u8] = &[0x02, 0x77, 0x00, 0x00, 0x00, 0x01];
const DEVICE: &[u8] = br#"{"mac":"02:77:00:00:00:01","ip":"10.77.0.11","session":{"ip":"10.77.0.11","started":1764230400,"ends":1764244800,"last_activity":1764231000,"seen":[1234,56789],"standing":"throttled","slot":3,"written":1764230990},"blocked":true,"quota":{"daily_data":1073741824,"download_rate":null,"upload_rate":500000,"exempt":false},"first_seen":1764000000}"#;
const USAGE_KEY: &[u8] = &[0x02, 0x77, 0x00, 0x00, 0x00, 0x01, 0x01, 0x35, 0x29, 0x07];
const USAGE: &[u8] = br#"{"download":700,"upload":30}"#;
/// day 20261127 (BE) + "video": no MAC, no address (issue 12).
const CATEGORY_KEY: &[u8] = b"\x01\x35\x29\x07video";
const CATEGORY_USAGE: &[u8] = br#"{"download":3145728,"upload":65536}"#;

const FREE_KEY: &[u8] = b"free_categories";
const FREE: &[u8] = br#"["layanan_publik","pendidikan"]"#;

const POLICY_GARDEN_KEY: &[u8] = b"policy_garden";
const POLICY_GARDEN: &[u8] = br#"["203.0.113.0/24","2001:db8::/48"]"#;

fn policy_garden() -> Vec<String> {
    vec!["203.0.113.0/24".into(), "2001:db8::/48".into()]
}

fn free() -> Vec<String> {
    vec!["layanan_publik".into(), "pendidikan".into()]
}

fn category_usage() -> DailyUsage {
    DailyUsage {
        download: 3_145_728,
        upload: 65_536,
        free: 0,
    }
}

const DAY_KEY: &[u8] = &[0x01, 0x35, 0x29, 0x07];
const DAY_STATS: &[u8] = br#"{"sessions":3,"peak_devices":2}"#;
const SITE_QUOTA_KEY: &[u8] = b"quota";
const SITE_QUOTA: &[u8] = br#"{"daily_data":524288000,"session_time":{"secs":14400,"nanos":0},"idle_timeout":{"secs":1800,"nanos":0},"download_rate":2000000,"upload_rate":1000000,"after_quota_rate":0,"accounting_interval":{"secs":1,"nanos":500000000}}"#;
const USER_KEY: &[u8] = b"ani";
const USER: &[u8] = br#"{"role":"viewer","hash":"$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA","created":1764230400,"generation":2}"#;
const ADMIN_SESSION_KEY: [u8; 32] = [0x5a; 32];
const ADMIN_SESSION: &[u8] =
    br#"{"username":"ani","csrf":"k3y","expires":1764259200,"created":1764230400,"generation":2}"#;
const AUDIT_KEY: &[u8] = &[0, 0, 0, 0, 0, 0, 0, 42];
const AUDIT: &[u8] = br#"{"at":1764230400,"who":"ani","action":"quota.set","target":"site","old":{"daily_data":"500 MiB"},"new":{"daily_data":"1 GiB","exempt":false}}"#;
const SCHEMA_KEY: &[u8] = b"schema";
const SCHEMA: &[u8] = &[0, 0, 0, 1];

/// The one (key, value) a tree holds.
fn only(tree: &sled::Tree) -> (Vec<u8>, Vec<u8>) {
    let all: Vec<_> = tree
        .iter()
        .map(|kv| {
            let (k, v) = kv.unwrap();
            (k.to_vec(), v.to_vec())
        })
        .collect();
    assert_eq!(all.len(), 1, "one record expected");
    all.into_iter().next().unwrap()
}

/// What the literal's bytes are, readably, for a failing comparison.
fn show(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap_or_else(|_| format!("{bytes:02x?}"))
}

fn assert_bytes(what: &str, got: (Vec<u8>, Vec<u8>), key: &[u8], value: &[u8]) {
    assert_eq!(got.0, key, "{what}: key moved");
    assert_eq!(
        got.1,
        value,
        "{what}: value moved\n got: {}\nwant: {}",
        show(&got.1),
        show(value)
    );
}

#[test]
fn records_encode_to_the_golden_bytes() {
    let (store, dir) = temp_store("encode");
    assert_bytes(
        "meta/schema",
        only(&store.db.open_tree(keys::TREE_META).unwrap()),
        SCHEMA_KEY,
        SCHEMA,
    );
    store.put_device(&device()).unwrap();
    assert_bytes("device", only(&store.devices), DEVICE_KEY, DEVICE);
    store
        .record_pass(&[], &[(mac(), 20261127, usage())])
        .unwrap();
    assert_bytes("usage", only(&store.usage), USAGE_KEY, USAGE);
    store
        .update_day_stats(20261127, |d| *d = day_stats())
        .unwrap();
    assert_bytes("day stats", only(&store.days), DAY_KEY, DAY_STATS);
    store
        .add_category_usage(20261127, &[("video".into(), category_usage())])
        .unwrap();
    assert_bytes(
        "category usage",
        only(&store.category_usage),
        CATEGORY_KEY,
        CATEGORY_USAGE,
    );
    store.put_site_quota(&site_quota()).unwrap();
    assert_bytes(
        "site quota",
        only(&store.settings),
        SITE_QUOTA_KEY,
        SITE_QUOTA,
    );
    store.settings.clear().unwrap();
    store.put_free_categories(&free()).unwrap();
    assert_bytes("free categories", only(&store.settings), FREE_KEY, FREE);
    store.settings.clear().unwrap();
    store.put_policy_garden(&policy_garden()).unwrap();
    assert_bytes(
        "policy garden",
        only(&store.settings),
        POLICY_GARDEN_KEY,
        POLICY_GARDEN,
    );
    store
        .admin
        .put_admin_session(&ADMIN_SESSION_KEY, &admin_session())
        .unwrap();
    assert_bytes(
        "admin session",
        only(&store.admin.admin_sessions),
        &ADMIN_SESSION_KEY,
        ADMIN_SESSION,
    );
    let id = store.admin.append_audit(&audit_entry()).unwrap();
    let (key, value) = only(&store.admin.audit);
    assert_eq!(key, id.to_be_bytes(), "audit: key moved");
    assert_bytes("audit", (AUDIT_KEY.to_vec(), value), AUDIT_KEY, AUDIT);
    store.admin.audit.clear().unwrap();
    assert_eq!(
        store
            .admin
            .add_user("ani", &user(), &audit_entry())
            .unwrap(),
        UserChange::Done
    );
    assert_bytes("user", only(&store.admin.users), USER_KEY, USER);
    let (_, value) = only(&store.admin.audit);
    assert_bytes("user audit", (AUDIT_KEY.to_vec(), value), AUDIT_KEY, AUDIT);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn golden_bytes_decode_to_the_records() {
    let (store, dir) = temp_store("decode");
    store.devices.insert(DEVICE_KEY, DEVICE).unwrap();
    assert_eq!(store.device(&mac()).unwrap(), Some(device()));
    assert_eq!(store.devices().unwrap(), vec![device()]);
    store.usage.insert(USAGE_KEY, USAGE).unwrap();
    assert_eq!(store.usage(&mac(), 20261127).unwrap(), usage());
    assert_eq!(
        store.usage_between(0, u32::MAX).unwrap(),
        vec![(20261127, mac(), usage())]
    );
    store.days.insert(DAY_KEY, DAY_STATS).unwrap();
    assert_eq!(
        store.day_stats_between(0, u32::MAX).unwrap(),
        vec![(20261127, day_stats())]
    );
    store
        .category_usage
        .insert(CATEGORY_KEY, CATEGORY_USAGE)
        .unwrap();
    assert_eq!(
        store.category_usage_between(0, u32::MAX).unwrap(),
        vec![(20261127, "video".to_owned(), category_usage())]
    );
    store.settings.insert(FREE_KEY, FREE).unwrap();
    assert_eq!(store.free_categories().unwrap(), Some(free()));
    store
        .settings
        .insert(POLICY_GARDEN_KEY, POLICY_GARDEN)
        .unwrap();
    assert_eq!(store.policy_garden().unwrap(), Some(policy_garden()));
    store.settings.insert(SITE_QUOTA_KEY, SITE_QUOTA).unwrap();
    assert_eq!(store.site_quota().unwrap(), Some(site_quota()));
    store.admin.users.insert(USER_KEY, USER).unwrap();
    assert_eq!(store.admin.user("ani").unwrap(), Some(user()));
    store
        .admin
        .admin_sessions
        .insert(ADMIN_SESSION_KEY, ADMIN_SESSION)
        .unwrap();
    assert_eq!(
        store.admin.admin_session(&ADMIN_SESSION_KEY).unwrap(),
        Some(admin_session())
    );
    store.admin.audit.insert(AUDIT_KEY, AUDIT).unwrap();
    assert_eq!(
        store.admin.audit_log(None, 10).unwrap(),
        vec![(42, audit_entry())]
    );
    drop(store);
    // The schema literal: a store whose meta says version 1 opens.
    let store = super::tests::reopen(&dir).unwrap();
    let meta = store.db.open_tree(keys::TREE_META).unwrap();
    assert_eq!(meta.get(SCHEMA_KEY).unwrap().unwrap(), SCHEMA);
    let _ = std::fs::remove_dir_all(&dir);
}

const SCHEDULE_KEY: &[u8] = b"schedule";
const SCHEDULE: &[u8] = br#"{"open":360,"close":1320,"garden_always_open":true}"#;
const TRUSTED_KEY: &[u8] = b"trusted";
const TRUSTED: &[u8] = br#"["02:77:00:00:00:01","02:77:00:00:00:09"]"#;

fn schedule() -> ScheduleRecord {
    ScheduleRecord {
        open: Some(360),
        close: Some(1320),
        garden_always_open: true,
    }
}

fn trusted() -> Vec<Mac> {
    vec![mac(), "02:77:00:00:00:09".parse().unwrap()]
}

#[test]
fn schedule_and_trusted_settings_are_pinned() {
    let (store, dir) = temp_store("village-life");
    store.put_schedule(&schedule()).unwrap();
    assert_bytes("schedule", only(&store.settings), SCHEDULE_KEY, SCHEDULE);
    store.settings.clear().unwrap();
    // Written unsorted and twice: kept sorted, once.
    let mut macs = trusted();
    macs.reverse();
    macs.push(mac());
    store.put_trusted(&macs).unwrap();
    assert_bytes("trusted", only(&store.settings), TRUSTED_KEY, TRUSTED);
    store.settings.clear().unwrap();
    assert_eq!(store.schedule().unwrap(), None);
    assert_eq!(store.trusted().unwrap(), Vec::<Mac>::new());
    store.settings.insert(SCHEDULE_KEY, SCHEDULE).unwrap();
    store.settings.insert(TRUSTED_KEY, TRUSTED).unwrap();
    assert_eq!(store.schedule().unwrap(), Some(schedule()));
    assert_eq!(store.trusted().unwrap(), trusted());
    let _ = std::fs::remove_dir_all(&dir);
}

const QUIZ_DEVICE_KEY: &[u8] = USAGE_KEY;
const QUIZ_DEVICE: &[u8] = br#"{"shown":true,"attempts":1,"bonus":104857600}"#;
const QUIZ_DAY_KEY: &[u8] = DAY_KEY;
const QUIZ_DAY: &[u8] = br#"{"pillars":{"aman":{"shown":0,"answered":1,"right":1}}}"#;

#[test]
fn quiz_records_are_pinned() {
    let (store, dir) = temp_store("quiz");
    let record = QuizDeviceDay {
        shown: true,
        attempts: 1,
        bonus: 100 << 20,
    };
    store
        .put_quiz(&mac(), 20261127, &record, "aman", |c| {
            c.answered += 1;
            c.right += 1;
        })
        .unwrap();
    assert_bytes(
        "quiz device",
        only(&store.quiz),
        QUIZ_DEVICE_KEY,
        QUIZ_DEVICE,
    );
    assert_bytes("quiz day", only(&store.quiz_days), QUIZ_DAY_KEY, QUIZ_DAY);
    store.quiz.clear().unwrap();
    store.quiz_days.clear().unwrap();
    store.quiz.insert(QUIZ_DEVICE_KEY, QUIZ_DEVICE).unwrap();
    store.quiz_days.insert(QUIZ_DAY_KEY, QUIZ_DAY).unwrap();
    assert_eq!(store.quiz_device(&mac(), 20261127).unwrap(), record);
    let days = store.quiz_days_between(0, u32::MAX).unwrap();
    assert_eq!(days.len(), 1);
    assert_eq!(days[0].0, 20261127);
    assert_eq!(days[0].1.pillars["aman"].right, 1);
    // A device's record goes after its day; the counts stay.
    assert_eq!(store.prune_quiz_devices(20261128).unwrap(), 1);
    assert_eq!(
        store.quiz_device(&mac(), 20261127).unwrap(),
        QuizDeviceDay::default()
    );
    assert_eq!(store.quiz_days_between(0, u32::MAX).unwrap().len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

const POLICY_KEY: &[u8] = b"policy";
const POLICY: &[u8] = br#"{"version":12,"document":"version = 12\n","signature":"ed25519 a b\n","applied_at":1764230400}"#;

fn policy_record() -> PolicyRecord {
    PolicyRecord {
        version: 12,
        document: "version = 12\n".into(),
        signature: "ed25519 a b\n".into(),
        applied_at: 1_764_230_400,
    }
}

#[test]
fn the_policy_in_force_is_pinned() {
    let (store, dir) = temp_store("policy");
    let admin = store.admin();
    assert_eq!(admin.policy().unwrap(), None);
    admin.put_policy(&policy_record()).unwrap();
    let tree = store.db.open_tree(b"fleet").unwrap();
    assert_bytes("policy", only(&tree), POLICY_KEY, POLICY);
    tree.clear().unwrap();
    tree.insert(POLICY_KEY, POLICY).unwrap();
    assert_eq!(admin.policy().unwrap(), Some(policy_record()));
    let _ = std::fs::remove_dir_all(&dir);
}

const CLOCK_KEY: &[u8] = b"clock";
const CLOCK: &[u8] = br#"{"high_water":1796558400,"prune_clock":1796515200}"#;

#[test]
fn the_clock_record_is_pinned() {
    let (store, dir) = temp_store("clock");
    let record = ClockRecord {
        high_water: 1_796_558_400,
        prune_clock: 1_796_515_200,
    };
    store.put_clock(&record).unwrap();
    assert_bytes("clock", only(&store.settings), CLOCK_KEY, CLOCK);
    store.settings.clear().unwrap();
    assert_eq!(store.clock().unwrap(), None);
    store.settings.insert(CLOCK_KEY, CLOCK).unwrap();
    assert_eq!(store.clock().unwrap(), Some(record));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 22, item 2: a day with free-category bytes (bytes only, never which
/// category) adds one field; a day without keeps [`USAGE`]'s bytes, and the
/// session's free counter is left out of [`DEVICE`] while 0.
const USAGE_FREE: &[u8] = br#"{"download":700,"upload":30,"free":2097152}"#;
const SESSION_FREE: &[u8] = br#""seen":[1234,56789],"seen_free":4096,"#;

#[test]
fn the_free_counter_has_its_golden_bytes_and_old_records_read_zero() {
    let (store, dir) = temp_store("free");
    let with_free = DailyUsage {
        free: 2 << 20,
        ..usage()
    };
    store
        .record_pass(&[], &[(mac(), 20261127, with_free)])
        .unwrap();
    assert_bytes("usage with free", only(&store.usage), USAGE_KEY, USAGE_FREE);
    assert_eq!(store.usage(&mac(), 20261127).unwrap(), with_free);
    store.usage.insert(USAGE_KEY, USAGE).unwrap();
    assert_eq!(store.usage(&mac(), 20261127).unwrap().free, 0);
    let mut d = device();
    d.session.as_mut().unwrap().seen_free = 4096;
    store.put_device(&d).unwrap();
    let (_, bytes) = only(&store.devices);
    assert!(
        bytes.windows(SESSION_FREE.len()).any(|w| w == SESSION_FREE),
        "{}",
        show(&bytes)
    );
    assert_eq!(store.device(&mac()).unwrap(), Some(d));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn heartbeat_and_outages_are_pinned() {
    let (store, dir) = temp_store("outages");
    let beat = HeartbeatRecord {
        at: 1_796_558_400,
        clean: true,
    };
    store.put_heartbeat(&beat).unwrap();
    assert_bytes(
        "heartbeat",
        only(&store.settings),
        b"heartbeat",
        br#"{"at":1796558400,"clean":true}"#,
    );
    let outage = OutageRecord {
        start: 1_796_558_400,
        end: 1_796_558_700,
        seconds: 300,
        cause: crate::domain::OutageCause::Power,
    };
    store.put_outage(&outage).unwrap();
    let mut key = 1_796_558_400i64.to_be_bytes().to_vec();
    key.extend_from_slice(b"power");
    assert_bytes(
        "outage",
        only(&store.outages),
        &key,
        br#"{"start":1796558400,"end":1796558700,"seconds":300,"cause":"power"}"#,
    );
    // Literal bytes read back; a torn heartbeat is an error the caller ignores.
    store
        .settings
        .insert(b"heartbeat", &b"{\"at\":17965"[..])
        .unwrap();
    assert!(matches!(store.heartbeat(), Err(StoreError::Corrupt { .. })));
    store
        .settings
        .insert(b"heartbeat", &br#"{"at":1796558400,"clean":true}"#[..])
        .unwrap();
    assert_eq!(store.heartbeat().unwrap(), Some(beat));
    assert_eq!(store.outages().unwrap().0, vec![outage]);
    store.outages.insert(b"torn", &b"{\"start\":1"[..]).unwrap();
    let (good, bad) = store.outages().unwrap();
    assert_eq!(
        (good, bad.len()),
        (vec![outage], 1),
        "a torn event is set apart"
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
