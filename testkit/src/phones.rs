//! What both power-cut tests (`tests/power_cut.rs`: `kill -9`;
//! `tests/power_cut_fs.rs`: `kill -9` and a filesystem that forgets) do with
//! the village's phones between kills: log in and out, download, read what the
//! portal shows, and collect finished downloads (`use desawifi_testkit::phones::*;`).

use std::thread::JoinHandle;

use crate::{curl, Daemon, Http, Village};

const PORTAL: &str = "http://10.77.0.1:2050";
pub const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const DAILY: u64 = 10 * 1024 * MIB;
/// curl's --limit-rate for every download (bytes/s): slow enough that
/// downloads run across kills, fast enough for a 3-minute test.
const RATE: &str = "1000k";
/// xorshift64*: small, seeded, good enough to pick kill moments.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform enough in 0..=max.
    pub fn upto(&mut self, max: u64) -> u64 {
        self.next_u64() % (max + 1)
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
    requests: u64,
    /// The highest usage the portal has shown.
    pub used: u64,
    /// A download running (bytes asked for, curl).
    download: Option<(u64, JoinHandle<Http>)>,
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

fn must_captive(v: &Village, d: &Daemon, phone: usize) -> (bool, Option<u64>) {
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

fn spawn_curl(ns: String, args: Vec<String>, max_secs: f64) -> JoinHandle<Http> {
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
fn finish_download(d: &Daemon, phone: usize, p: &mut Phone, n: u64, r: Http) {
    assert!(r.code == 200 && r.body.len() as u64 == n, "phone {phone}: download of {n} bytes failed across a restart: code {} exit {} {} ({} bytes)\n{}", r.code, r.exit, r.stderr, r.body.len(), tail(d));
    p.payload += n;
    p.requests += 1;
}

/// Collect the downloads that have ended.
fn reap(d: &Daemon, phones: &mut [Phone], wait: bool) {
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

/// The phones of a power-cut run and what the test has seen of them: the
/// seeded draws, the kill moments, and the checks both tests make around
/// every kill (`name` prefixes what they print).
pub struct Crowd {
    pub name: &'static str,
    pub phones: Vec<Phone>,
    pub rng: Rng,
    /// The daemon's accounting interval (the config the test starts it with).
    pub accounting: std::time::Duration,
    /// Bytes one request may cost besides its payload (checked by `calibrate`).
    allowance: u64,
    /// When each cycle's kill came, after its actions started.
    pub kill_at: Vec<std::time::Duration>,
    pub logins: usize,
    pub logouts: usize,
    pub downloads: usize,
    /// Downloads still running when the daemon was killed.
    pub across_kill: usize,
}

/// One cycle's actions, sent all at once; the kill comes `delay` after `t0`.
pub struct Cycle {
    pub delay: std::time::Duration,
    pub t0: std::time::Instant,
    pub actions: Vec<Option<(Action, JoinHandle<Http>)>>,
    /// What the portal showed each phone just before the kill ([`Crowd::shown`]).
    pub shown: Vec<Option<u64>>,
}

impl Crowd {
    /// `phones` phones, none online; the seed from `POWER_CUT_SEED` or the
    /// clock, printed so a failing run can be repeated.
    pub fn new(
        name: &'static str,
        phones: usize,
        accounting: std::time::Duration,
        allowance: u64,
    ) -> Crowd {
        let seed = std::env::var("POWER_CUT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::SystemTime::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        println!("{name}: seed {seed} (POWER_CUT_SEED={seed} to repeat)");
        Crowd {
            name,
            phones: (0..phones).map(|_| Phone::default()).collect(),
            rng: Rng(seed),
            accounting,
            allowance,
            kill_at: Vec::new(),
            logins: 0,
            logouts: 0,
            downloads: 0,
            across_kill: 0,
        }
    }

    /// Every phone logs in; then what a request costs besides its payload is
    /// measured (empty downloads) and must be counted and under the
    /// allowance, so the end-of-test bound rests on a measurement.
    pub fn calibrate(&mut self, v: &Village, d: &Daemon) {
        self.login_captive(v);
        let before = used(v, d, 1);
        const EMPTY: u64 = 5;
        for _ in 0..EMPTY {
            assert_eq!(download(v, 1, 0).join().unwrap().code, 200);
        }
        self.settle();
        let after = used(v, d, 1);
        let per_request = (after - before) / EMPTY;
        let (name, allowance) = (self.name, self.allowance);
        println!("{name}: one empty request costs {per_request} bytes (allowance {allowance})");
        assert!(
            per_request > 0,
            "empty requests were not counted at all: {before} -> {after}"
        );
        assert!(
            per_request <= allowance,
            "a request costs {per_request} bytes, more than the allowance {allowance}"
        );
        // Those empty requests are counted against phone 1 too.
        self.phones[0].requests += EMPTY;
        self.phones[0].used = after;
    }

    /// Two accounting passes and a little: what was sent is counted by then.
    fn settle(&self) {
        std::thread::sleep(2 * self.accounting + std::time::Duration::from_millis(200));
    }

    /// Log in every captive phone (a login adds no bytes).
    fn login_captive(&mut self, v: &Village) {
        for (i, p) in self
            .phones
            .iter_mut()
            .enumerate()
            .filter(|(_, p)| !p.online)
        {
            let r = login(v, i + 1).join().unwrap();
            assert_eq!(r.code, 303, "phone {}: {r:?}", i + 1);
            p.online = true;
        }
    }

    /// Collects finished downloads, then sends the cycle's actions: in every
    /// fourth cycle one idle online phone logs out (once the portal shows its
    /// bytes counted: a logout drops the element and its counter, so bytes
    /// not yet read would be lost to the logout, not to the cut); captive
    /// phones log in; online phones start a download two times in three.
    pub fn start_cycle(
        &mut self,
        v: &Village,
        d: &Daemon,
        cycle: usize,
        max_delay_ms: u64,
    ) -> Cycle {
        reap(d, &mut self.phones, false);
        let idle: Vec<usize> = (0..self.phones.len())
            .filter(|&i| self.phones[i].online && self.phones[i].download.is_none())
            .collect();
        let leaving = (cycle % 4 == 3 && !idle.is_empty())
            .then(|| idle[self.rng.upto(idle.len() as u64 - 1) as usize]);
        if let Some(i) = leaving {
            let t = std::time::Instant::now();
            while used(v, d, i + 1) < self.phones[i].payload {
                assert!(
                    t.elapsed() < 3 * self.accounting,
                    "phone {}: {} payload bytes not counted within 3 passes\n{}",
                    i + 1,
                    self.phones[i].payload,
                    tail(d)
                );
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }

        let delay = std::time::Duration::from_millis(self.rng.upto(max_delay_ms));
        let t0 = std::time::Instant::now();
        let mut actions = Vec::with_capacity(self.phones.len());
        for (i, p) in self.phones.iter_mut().enumerate() {
            let action = if Some(i) == leaving {
                self.logouts += 1;
                Some((Action::Logout, logout(v, i + 1)))
            } else if !p.online {
                self.logins += 1;
                Some((Action::Login, login(v, i + 1)))
            } else {
                if p.download.is_none() && self.rng.upto(3) != 0 {
                    // 64 KiB .. 1 MiB at ~1 MB/s: 0.06 .. 1 s.
                    let n = 64 * KIB + self.rng.upto(MIB - 64 * KIB);
                    p.download = Some((n, download(v, i + 1, n)));
                    self.downloads += 1;
                }
                None
            };
            actions.push(action);
        }
        Cycle {
            delay,
            t0,
            actions,
            shown: Vec::new(),
        }
    }

    /// What the portal shows each phone just before the kill (read in
    /// parallel, so the kill lands 30–60 ms after the drawn moment): it must
    /// not shrink after it.
    pub fn shown(&self, v: &Village) -> Vec<Option<u64>> {
        std::thread::scope(|s| {
            let reads: Vec<_> = (1..=self.phones.len())
                .map(|i| s.spawn(move || captive(v, i).and_then(|c| c.1)))
                .collect();
            reads.into_iter().map(|r| r.join().unwrap()).collect()
        })
    }

    /// The kill comes now: note when, and the downloads it catches running.
    pub fn killing(&mut self, c: &Cycle) {
        self.kill_at.push(c.t0.elapsed());
        self.across_kill += self
            .phones
            .iter()
            .filter(|p| p.download.as_ref().is_some_and(|(_, h)| !h.is_finished()))
            .count();
    }

    /// After the restart: the answers first (one may come from the restarted
    /// daemon), then each phone's state. An answered login or logout was
    /// flushed and must have survived the `event` ("kill", "cut"); a phone
    /// nobody touched keeps its state; usage never goes backwards. Unanswered
    /// logins and logouts (cut mid-request) may have gone either way.
    /// `detail` ends every failure message.
    pub fn check_after(
        &mut self,
        v: &Village,
        d: &Daemon,
        cycle: usize,
        c: Cycle,
        event: &str,
        detail: &str,
    ) {
        let answers: Vec<Option<(Action, Http)>> = c
            .actions
            .into_iter()
            .map(|a| a.map(|(what, h)| (what, h.join().unwrap())))
            .collect();
        for (i, answer) in answers.into_iter().enumerate() {
            let phone = i + 1;
            let (captive_now, used) = must_captive(v, d, phone);
            let p = &mut self.phones[i];
            match answer {
                Some((Action::Login, r)) => {
                    if r.code == 303 {
                        assert!(
                            !captive_now,
                            "cycle {cycle}: phone {phone}'s confirmed login was lost {detail}\n{}",
                            tail(d)
                        );
                    }
                }
                Some((Action::Logout, r)) => {
                    if r.code == 303 {
                        assert!(
                            captive_now,
                            "cycle {cycle}: phone {phone}'s confirmed logout was lost {detail}\n{}",
                            tail(d)
                        );
                    }
                }
                None => {
                    if p.online {
                        assert!(!captive_now, "cycle {cycle}: phone {phone} was online before the {event} and is captive after it {detail}\n{}", tail(d));
                    }
                }
            }
            p.online = !captive_now;
            if let Some(used) = used {
                let floor = p.used.max(c.shown[i].unwrap_or(0));
                assert!(used >= floor, "cycle {cycle}: phone {phone}'s usage went backwards: {floor} before the {event}, {used} after {detail}\n{}", tail(d));
                p.used = used;
            }
        }
    }

    /// The end: every download done, every phone logged in (a captive phone
    /// is not shown its usage), two passes later each byte counted once:
    /// payload plus headers. ≤ 52 bytes of IP+TCP header per ≥ 1448-byte
    /// segment (3.6 %) and at most one 52-byte ACK per segment back (3.6 %)
    /// stay under 10 %; each request's fixed cost is the measured allowance.
    pub fn check_end(&mut self, v: &Village, d: &Daemon) {
        reap(d, &mut self.phones, true);
        self.login_captive(v);
        self.settle();
        for (i, p) in self.phones.iter().enumerate() {
            let phone = i + 1;
            let used = used(v, d, phone);
            let ceiling = p.payload + p.payload / 10 + p.requests * self.allowance;
            println!(
                "{}: phone {phone}: payload {} bytes in {} requests, counted {used} ({:+.2} % over the payload; ceiling {ceiling})",
                self.name,
                p.payload,
                p.requests,
                (used as f64 - p.payload as f64) * 100.0 / p.payload.max(1) as f64
            );
            assert!(
                used >= p.payload,
                "phone {phone}: bytes lost: {} payload, {used} counted\n{}",
                p.payload,
                tail(d)
            );
            assert!(
                used <= ceiling,
                "phone {phone}: bytes counted twice: {} payload, {used} counted, ceiling {ceiling}\n{}",
                p.payload,
                tail(d)
            );
        }
    }
}
