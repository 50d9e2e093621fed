//! The office's data layer against real stores: a real Prometheus 2.42
//! (Debian `prometheus`) backfilled with `promtool tsdb create-blocks-from
//! openmetrics`, and a real VictoriaMetrics single node (Debian
//! `victoria-metrics`) fed the same samples through its
//! `/api/v1/import/prometheus`. Three villages over 41 days with known
//! values (one silent since a known time, one with its internet down now,
//! one restarted mid-window and upgraded): the villages overview and a
//! village's 30 days come out equal to the model, from both stores; a
//! stopped store is a typed "unreachable" error.
//!
//! The data ends two days before the wall clock (backfilled blocks must be
//! older than Prometheus' head), and the office is asked "as of" that time.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use desawifi::office::charts;
use desawifi::office::prom::{Auth, Prom, PromError};
use desawifi::office::village::{self, Day, VillageDays};
use desawifi::office::villages::{self, VillageRow, FREE_CATEGORIES};
use desawifi_testkit::promstore::{curl, free_port, prometheus, temp_dir, tool, wait_ready, Store};
use jiff::tz::TimeZone;

const DAY: i64 = 86_400;
const STEP: i64 = 900;
const VILLAGES: [&str; 3] = ["Sumber Sari", "Muara Komam", r#"Long Kali "Ujung""#];
const CATEGORIES: [&str; 3] = ["pendidikan", "media_sosial", "lainnya"];
const PILLARS: [&str; 4] = ["cakap", "etika", "aman", "budaya"];

/// The model: every value the test writes, and so every value it expects.
struct Model {
    /// Local midnight starting the "today" of `now`.
    m0: i64,
    /// The office's "now": 10:00 local.
    now: i64,
    /// The first sample (and every daemon's first start).
    t0: i64,
    /// Long Kali's last sample.
    silent: i64,
    /// Sumber Sari's restart (02:00, no traffic then).
    restart: i64,
    /// Sumber Sari's upgrade from 0.9.1 to 0.10.0.
    upgrade: i64,
}

impl Model {
    fn new(tz: &TimeZone) -> Model {
        let wall = jiff::Timestamp::now().as_second();
        let m0 = desawifi::domain::next_midnight(wall, tz) - 3 * DAY;
        Model {
            m0,
            now: m0 + 10 * 3600,
            t0: m0 - 40 * DAY,
            silent: m0 + 10 * 3600 - 26 * 3600,
            restart: m0 - 3 * DAY + 2 * 3600,
            upgrade: m0 - 5 * DAY + 12 * 3600,
        }
    }
    /// (day index from today = 0, seconds into the local day).
    fn day_of(&self, t: i64) -> (i64, i64) {
        ((t - self.m0).div_euclid(DAY), (t - self.m0).rem_euclid(DAY))
    }
    fn n(d: i64) -> u64 {
        (d + 50) as u64
    }
    fn bytes(v: usize, d: i64) -> u64 {
        (v as u64 + 1) * 1_200_000_000 + Self::n(d) * 24_000_000
    }
    fn category(v: usize, c: usize, d: i64) -> u64 {
        match c {
            0 => (v as u64 + 1) * 100_000_000 + Self::n(d) * 1_000_000,
            1 => 300_000_000 + Self::n(d) * 2_000_000,
            _ => 50_000_000,
        }
    }
    fn quiz_right(p: usize, d: i64) -> u64 {
        Self::n(d) % 3 + p as u64
    }
    fn phones_peak(v: usize, d: i64) -> u64 {
        10 + Self::n(d) % 7 + v as u64 * 5
    }
    fn uplink_down(&self, v: usize, t: i64) -> bool {
        let (d, s) = self.day_of(t);
        v == 1
            && ((Self::n(d) % 5 == 0 && (6 * 3600..9 * 3600).contains(&s))
                || t >= self.now - 3 * 3600)
    }
    fn started(&self, v: usize, t: i64) -> i64 {
        if v == 0 && t >= self.restart {
            self.restart
        } else {
            self.t0
        }
    }
    /// Category `c`'s counter at `t`: traffic from 08:00 to 20:00, linear.
    fn category_counter(&self, v: usize, c: usize, t: i64) -> u64 {
        let start = self.started(v, t);
        let mut sum = 0;
        let mut m = self.m0 + self.day_of(start).0 * DAY;
        while m <= t {
            let (from, to) = (m + 8 * 3600, m + 20 * 3600);
            let done = (t.min(to) - from.max(start)).clamp(0, 12 * 3600) as u64;
            sum += Self::category(v, c, self.day_of(m).0) * done / (12 * 3600);
            m += DAY;
        }
        sum
    }
    /// Quiz answers of pillar `p` at `t` (each day's at 12:00): (right, wrong).
    fn quiz_counter(&self, v: usize, p: usize, t: i64) -> (u64, u64) {
        let start = self.started(v, t);
        let (mut right, mut wrong) = (0, 0);
        let mut m = self.m0 + self.day_of(start).0 * DAY;
        while m <= t {
            if (start..=t).contains(&(m + 12 * 3600)) {
                right += Self::quiz_right(p, self.day_of(m).0);
                wrong += 1;
            }
            m += DAY;
        }
        (right, wrong)
    }
    fn last(&self, v: usize) -> i64 {
        if v == 2 {
            self.silent
        } else {
            self.now
        }
    }

    /// Every sample: (series, unix seconds, value), series grouped by name.
    fn samples(&self) -> Vec<(String, i64, f64)> {
        let mut out = Vec::new();
        let series = |name: &str, v: usize, extra: &str| {
            let village = VILLAGES[v].replace('\\', "\\\\").replace('"', "\\\"");
            format!(
                r#"{name}{{job="desawifi",instance="gateway",regency="Paser",village="{village}"{extra}}}"#
            )
        };
        type Gauge<'a> = Box<dyn Fn(usize, i64) -> Option<f64> + 'a>;
        let mut metrics: Vec<(String, Gauge)> = Vec::new();
        for v in 0..3 {
            metrics.push((series("up", v, ""), Box::new(|_, _| Some(1.0))));
        }
        for v in 0..3 {
            for version in ["0.9.1", "0.10.0"] {
                let newer = version == "0.10.0";
                let s = series(
                    "desawifi_info",
                    v,
                    &format!(r#",site="x",version="{version}""#),
                );
                metrics.push((
                    s,
                    Box::new(move |v, t| {
                        let upgraded = v == 0 && t >= self.upgrade;
                        (upgraded == newer).then_some(1.0)
                    }),
                ));
            }
            metrics.push((
                series("desawifi_policy_version", v, ""),
                Box::new(|v, _| Some(3.0 + v as f64)),
            ));
            metrics.push((
                series("process_start_time_seconds", v, ""),
                Box::new(|v, t| Some(self.started(v, t) as f64)),
            ));
            metrics.push((
                series("desawifi_devices", v, r#",state="online""#),
                Box::new(|v, t| {
                    let (d, s) = self.day_of(t);
                    Some(if s == 20 * 3600 {
                        Self::phones_peak(v, d) as f64
                    } else {
                        2.0
                    })
                }),
            ));
            metrics.push((
                series("desawifi_devices", v, r#",state="throttled""#),
                Box::new(|_, _| Some(1.0)),
            ));
            metrics.push((
                series("desawifi_usage_today_bytes", v, r#",direction="download""#),
                Box::new(|v, t| {
                    let (d, s) = self.day_of(t);
                    Some((Self::bytes(v, d) * s as u64 / DAY as u64) as f64)
                }),
            ));
            metrics.push((
                series(
                    "desawifi_usage_yesterday_bytes",
                    v,
                    r#",direction="download""#,
                ),
                Box::new(|v, t| Some(Self::bytes(v, self.day_of(t).0 - 1) as f64)),
            ));
            metrics.push((
                series("desawifi_uplink_up", v, ""),
                Box::new(|v, t| Some(if self.uplink_down(v, t) { 0.0 } else { 1.0 })),
            ));
            for (c, cat) in CATEGORIES.iter().enumerate() {
                metrics.push((
                    series(
                        "desawifi_category_bytes_total",
                        v,
                        &format!(r#",category="{cat}",direction="download""#),
                    ),
                    Box::new(move |v, t| Some(self.category_counter(v, c, t) as f64)),
                ));
            }
            for (p, pillar) in PILLARS.iter().enumerate() {
                for (right, result) in [(true, "right"), (false, "wrong")] {
                    metrics.push((
                        series(
                            "desawifi_quiz_answers_total",
                            v,
                            &format!(r#",pillar="{pillar}",result="{result}""#),
                        ),
                        Box::new(move |v, t| {
                            let (r, w) = self.quiz_counter(v, p, t);
                            Some(if right { r } else { w } as f64)
                        }),
                    ));
                }
            }
        }
        metrics.sort_by(|a, b| a.0.split('{').next().cmp(&b.0.split('{').next()));
        for (s, f) in &metrics {
            let v = VILLAGES
                .iter()
                .position(|name| s.contains(&format!("village=\"{}\"", name.replace('"', "\\\""))))
                .unwrap();
            let mut t = self.t0;
            while t <= self.last(v) {
                if let Some(x) = f(v, t) {
                    out.push((s.clone(), t, x));
                }
                t += STEP;
            }
            // One push off the 5-minute grid, after `now` (vmagent pushes
            // every minute at its own offsets): "last heard" must be exact.
            if v == 0 && s.starts_with("up{") {
                out.push((s.clone(), self.now + LATE_PUSH, 1.0));
            }
        }
        out
    }

    /// The overview the office must show at `now`.
    fn rows(&self) -> Vec<VillageRow> {
        let mut rows: Vec<VillageRow> = (0..3)
            .map(|v| {
                let reporting = v != 2;
                let mut cats: Vec<(String, u64)> = if reporting {
                    (0..3)
                        .map(|c| {
                            let n = self.category_counter(v, c, self.now)
                                - self.category_counter(v, c, self.m0);
                            (CATEGORIES[c].to_owned(), n)
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                cats.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                let total: u64 = cats.iter().map(|c| c.1).sum();
                let free: u64 = cats
                    .iter()
                    .filter(|c| FREE_CATEGORIES.contains(&c.0.as_str()))
                    .map(|c| c.1)
                    .sum();
                VillageRow {
                    village: VILLAGES[v].to_owned(),
                    last_seen: Some(self.last(v)),
                    reporting,
                    internet: reporting.then_some(v != 1),
                    phones_online: reporting.then_some(3),
                    bytes_today: reporting.then(|| Self::bytes(v, 0) * 10 / 24),
                    bytes_yesterday: reporting.then(|| Self::bytes(v, -1)),
                    categories_today: cats,
                    free_share: (total > 0).then(|| free as f64 / total as f64),
                    policy_version: Some(3 + v as u64),
                    software: Some(if v == 0 { "0.10.0" } else { "0.9.1" }.to_owned()),
                    started: Some(self.started(v, self.now)),
                }
            })
            .collect();
        // Trouble first: the silent village, the one without internet, the rest.
        rows.swap(0, 2);
        rows
    }

    /// A village's 30 days as the office must show them.
    fn days(&self, v: usize, tz: &TimeZone) -> VillageDays {
        let days = (-30..0)
            .map(|d| {
                let mut categories: Vec<(String, u64)> = (0..3)
                    .map(|c| (CATEGORIES[c].to_owned(), Self::category(v, c, d)))
                    .collect();
                categories.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                let mut quiz: Vec<(String, u64, u64)> = (0..4)
                    .map(|p| (PILLARS[p].to_owned(), Self::quiz_right(p, d), 1))
                    .collect();
                quiz.sort();
                let down = v == 1 && Self::n(d) % 5 == 0;
                Day {
                    day: desawifi::domain::local_day(self.m0 + d * DAY, tz),
                    bytes: Some(Self::bytes(v, d)),
                    phones_peak: Some(Self::phones_peak(v, d) + 1),
                    hours_offline: Some(if down { 3.0 } else { 0.0 }),
                    categories,
                    quiz,
                }
            })
            .collect();
        VillageDays {
            village: VILLAGES[v].to_owned(),
            days,
        }
    }
}

/// VictoriaMetrics single node, fed through its Prometheus-text import.
fn victoria(samples: &[(String, i64, f64)]) -> Store {
    tool("/usr/bin/victoria-metrics", "victoria-metrics");
    let dir = temp_dir("vm");
    let port = free_port();
    let mut child = Command::new("victoria-metrics")
        .arg(format!("-storageDataPath={}", dir.join("data").display()))
        .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .arg("-retentionPeriod=1y")
        .arg("-search.disableCache")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    wait_ready(&format!("{url}/health"), &mut child);
    let file = dir.join("data.prom");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    for (s, t, v) in samples {
        writeln!(w, "{s} {v} {}", t * 1000).unwrap();
    }
    drop(w);
    let (ok, body) = curl(&[
        "-f",
        "--data-binary",
        &format!("@{}", file.display()),
        &format!("{url}/api/v1/import/prometheus"),
    ]);
    assert!(ok, "import: {body}");
    let (ok, body) = curl(&["-f", &format!("{url}/internal/force_flush")]);
    assert!(ok, "flush: {body}");
    Store { child, dir, url }
}

/// Seconds after `now` of one push off the 5-minute grid (`up` of the first village).
const LATE_PUSH: i64 = 200;

fn makassar() -> TimeZone {
    TimeZone::get("Asia/Makassar").expect("tzdata (apt-get install tzdata)")
}

async fn check(store: &Store, m: &Model, tz: &TimeZone, name: &str) {
    let prom = Prom::new(&store.url, Auth::None, None).unwrap();
    let rows = villages::overview(&prom, m.now, tz, FREE_CATEGORIES)
        .await
        .unwrap();
    assert_eq!(rows, m.rows(), "{name}: the villages overview");
    // A push between two of the subquery's 5-minute steps is heard at once
    // (it once was heard only at the next step: up to 6 minutes late with
    // one-minute pushes, past REPORTING_WITHIN, so a reporting village
    // showed as silent for part of every 5 minutes).
    let q = villages::Q_LAST_SEEN.replace("{days}", &villages::LAST_SEEN_DAYS.to_string());
    let late = prom.query(&q, m.now + LATE_PUSH + 50).await.unwrap();
    let heard = late
        .iter()
        .find(|s| s.label("village") == VILLAGES[0])
        .map(|s| s.samples[0].1 as i64);
    assert_eq!(
        heard,
        Some(m.now + LATE_PUSH),
        "{name}: the last push off the grid"
    );
    for (v, village_name) in VILLAGES.iter().enumerate() {
        let got = village::last_days(&prom, village_name, m.now, tz)
            .await
            .unwrap();
        let want = m.days(v, tz);
        if v == 2 {
            // Silent since yesterday 08:00: the last complete day's total
            // would come after midnight; the days before are whole.
            assert_eq!(got.days[..29], want.days[..29], "{name}: {}", village_name);
            assert_eq!(got.days[29].bytes, None, "{name}: silent yesterday");
        } else {
            assert_eq!(got, want, "{name}: {}", village_name);
            // The page's chart says yesterday's total as text.
            let last = &want.days[29];
            let text = format!(
                "{}: {}",
                village::day_label(last.day),
                charts::bytes_id(last.bytes.unwrap())
            );
            assert!(got.charts().bytes.contains(&text), "{name}: {text}");
        }
        assert_eq!(got.quiz_totals().len(), 4);
    }
    // A village the store never heard of: 30 empty days, not an error.
    let none = village::last_days(&prom, "Tidak Ada", m.now, tz)
        .await
        .unwrap();
    assert_eq!(none.days.len(), 30);
    assert!(none
        .days
        .iter()
        .all(|d| d.bytes.is_none() && d.categories.is_empty()));
    // Bad PromQL is the store's typed refusal.
    let e = prom.query("sum(", m.now).await.unwrap_err();
    assert!(matches!(e, PromError::Query { .. }), "{name}: {e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_office_reads_what_the_villages_pushed_from_both_stores() {
    let tz = makassar();
    let m = Model::new(&tz);
    let started = Instant::now();
    let samples = m.samples();
    eprintln!("{} samples made in {:?}", samples.len(), started.elapsed());
    let prom = tokio::task::block_in_place(|| prometheus(&samples));
    eprintln!("Prometheus backfilled and ready at {:?}", started.elapsed());
    check(&prom, &m, &tz, "Prometheus").await;
    eprintln!("Prometheus checked at {:?}", started.elapsed());
    let vm = tokio::task::block_in_place(|| victoria(&samples));
    eprintln!("VictoriaMetrics fed at {:?}", started.elapsed());
    check(&vm, &m, &tz, "VictoriaMetrics").await;
    eprintln!("VictoriaMetrics checked at {:?}", started.elapsed());

    // Prometheus stopped: a typed "unreachable", never a panic.
    let url = prom.url.clone();
    drop(prom);
    let client = Prom::new(&url, Auth::None, None).unwrap();
    let e = villages::overview(&client, m.now, &tz, FREE_CATEGORIES)
        .await
        .unwrap_err();
    assert!(matches!(e, PromError::Unreachable(_)), "{e}");
    assert!(e.to_string().starts_with("Prometheus unreachable"), "{e}");
}

/// A bcrypt hash for Prometheus' web config (python3's crypt: glibc's bcrypt).
fn bcrypt(password: &str) -> String {
    let o = Command::new("python3")
        .args([
            "-W",
            "ignore",
            "-c",
            "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1024)))",
            password,
        ])
        .output()
        .expect("python3");
    let h = String::from_utf8(o.stdout).unwrap().trim().to_string();
    assert!(h.starts_with("$2b$"), "no bcrypt hash: {h}");
    h
}

/// The regency's receiver as deployed (config/fleet/regency-web.yml): TLS
/// and basic auth. The office's account and CA file get answers; a wrong
/// password, no account, a bearer token or another CA get typed errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_office_reaches_a_receiver_behind_tls_and_basic_auth() {
    tool("/usr/bin/prometheus", "prometheus");
    let dir = temp_dir("tls");
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.key_pair.serialize_pem()).unwrap();
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let other_ca = dir.join("other.pem");
    std::fs::write(&other_ca, other.cert.pem()).unwrap();
    std::fs::write(
        dir.join("web.yml"),
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  office: {}\n",
            cert.display(),
            key.display(),
            bcrypt("rahasia kantor")
        ),
    )
    .unwrap();
    std::fs::write(dir.join("prometheus.yml"), "scrape_configs: []\n").unwrap();
    let port = free_port();
    let child = Command::new("prometheus")
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!(
            "--web.config.file={}",
            dir.join("web.yml").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("https://localhost:{port}");
    let store = Store { child, dir, url };
    let office = |auth: Auth, ca: &Path| Prom::new(&store.url, auth, Some(ca)).unwrap();
    let basic = |password: &str| Auth::Basic {
        user: "office".into(),
        password: password.into(),
    };
    let good = office(basic("rahasia kantor"), &cert);
    let now = jiff::Timestamp::now().as_second();
    let started = Instant::now();
    let answer = loop {
        match good.query("vector(7)", now).await {
            Ok(a) => break a,
            Err(e) if started.elapsed() < Duration::from_secs(60) => {
                eprintln!("waiting for Prometheus: {e}");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(e) => panic!("Prometheus never answered: {e}"),
        }
    };
    assert_eq!(answer.len(), 1);
    assert_eq!(answer[0].samples, vec![(now, 7.0)]);
    for auth in [
        basic("salah"),
        Auth::None,
        Auth::Bearer("rahasia kantor".into()),
    ] {
        let e = office(auth.clone(), &cert)
            .query("vector(1)", now)
            .await
            .unwrap_err();
        assert!(matches!(e, PromError::Status(401)), "{auth:?}: {e}");
    }
    let e = office(basic("rahasia kantor"), &other_ca)
        .query("vector(1)", now)
        .await
        .unwrap_err();
    assert!(matches!(e, PromError::Tls(_)), "{e}");
}
