//! What both power-cut tests (`tests/power_cut.rs`: `kill -9`;
//! `tests/power_cut_fs.rs`: `kill -9` and a filesystem that forgets) do with
//! the village's phones between kills: log in and out, download, read what the
//! portal shows, and collect finished downloads. Included by both with
//! `#[path]`, so the other test binaries do not carry it.
#![allow(dead_code)]

use std::thread::JoinHandle;

use crate::common::{curl, Daemon, Http, Village};

pub const PORTAL: &str = "http://10.77.0.1:2050";
pub const KIB: u64 = 1024;
pub const MIB: u64 = 1024 * KIB;
pub const DAILY: u64 = 10 * 1024 * MIB;
/// curl's --limit-rate for every download (bytes/s): slow enough that
/// downloads run across kills, fast enough for a 3-minute test.
pub const RATE: &str = "1000k";
/// xorshift64*: small, seeded, good enough to pick kill moments.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform enough in 0..=max.
    pub fn upto(&mut self, max: u64) -> u64 {
        self.next() % (max + 1)
    }
}

/// What the test knows about one phone.
#[derive(Default)]
pub struct Phone {
    /// The portal confirmed a login (or the API said online) and nothing since said otherwise.
    pub online: bool,
    /// Payload bytes of finished downloads.
    pub payload: u64,
    /// Finished downloads.
    pub requests: u64,
    /// The highest usage the portal has shown.
    pub used: u64,
    /// A download running (bytes asked for, curl).
    pub download: Option<(u64, JoinHandle<Http>)>,
}

/// A login or logout sent in this cycle.
#[derive(Clone, Copy)]
pub enum Action {
    Login,
    Logout,
}

/// `/api/captive` for a phone: (captive, bytes used today), None if no
/// answer. A captive phone is not told its quota, so its usage is None.
pub fn captive(v: &Village, phone: usize) -> Option<(bool, Option<u64>)> {
    let r = curl(&v.phone(phone), &[&format!("{PORTAL}/api/captive")], 5.0);
    if r.code != 200 {
        return None;
    }
    let api: serde_json::Value =
        serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body));
    let captive = api["captive"] == true;
    let remaining = api["bytes-remaining"].as_u64();
    assert!(
        captive || remaining.is_some(),
        "an online phone without bytes-remaining: {api}"
    );
    Some((captive, remaining.map(|r| DAILY - r)))
}

pub fn must_captive(v: &Village, d: &Daemon, phone: usize) -> (bool, Option<u64>) {
    captive(v, phone)
        .unwrap_or_else(|| panic!("phone {phone}: /api/captive did not answer\n{}", tail(d)))
}

/// Bytes an online phone has used today, as the portal shows it.
pub fn used(v: &Village, d: &Daemon, phone: usize) -> u64 {
    must_captive(v, d, phone)
        .1
        .unwrap_or_else(|| panic!("phone {phone} is captive\n{}", tail(d)))
}

pub fn tail(d: &Daemon) -> String {
    let log = d.log();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

pub fn spawn_curl(ns: String, args: Vec<String>, max_secs: f64) -> JoinHandle<Http> {
    std::thread::spawn(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        curl(&ns, &args, max_secs)
    })
}

pub fn login(v: &Village, phone: usize) -> JoinHandle<Http> {
    spawn_curl(
        v.phone(phone),
        vec![
            "-X".into(),
            "POST".into(),
            "--data".into(),
            "lang=id".into(),
            format!("{PORTAL}/login"),
        ],
        5.0,
    )
}

pub fn logout(v: &Village, phone: usize) -> JoinHandle<Http> {
    spawn_curl(
        v.phone(phone),
        vec!["-X".into(), "POST".into(), format!("{PORTAL}/logout")],
        5.0,
    )
}

pub fn download(v: &Village, phone: usize, n: u64) -> JoinHandle<Http> {
    spawn_curl(
        v.phone(phone),
        vec![
            "--limit-rate".into(),
            RATE.into(),
            format!("http://198.51.100.2/bytes/{n}"),
        ],
        30.0,
    )
}

/// A download that ended: it must have gone through whole (the kernel's
/// table, and so the phone's access, stays while the daemon is dead).
pub fn finish_download(d: &Daemon, phone: usize, p: &mut Phone, n: u64, r: Http) {
    assert!(r.code == 200 && r.body.len() as u64 == n, "phone {phone}: download of {n} bytes failed across a restart: code {} exit {} {} ({} bytes)\n{}", r.code, r.exit, r.stderr, r.body.len(), tail(d));
    p.payload += n;
    p.requests += 1;
}

/// Collect the downloads that have ended.
pub fn reap(d: &Daemon, phones: &mut [Phone], wait: bool) {
    for (i, p) in phones.iter_mut().enumerate() {
        if p.download
            .as_ref()
            .is_some_and(|(_, h)| wait || h.is_finished())
        {
            let (n, h) = p.download.take().unwrap();
            finish_download(d, i + 1, p, n, h.join().unwrap());
        }
    }
}
