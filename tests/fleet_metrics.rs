//! The fleet's metrics, pushed (issue 14): a gateway behind carrier-grade NAT cannot
//! be scraped, so an agent on it (vmagent, with the shipped unit's flags, config and
//! env file) scrapes its /metrics over TLS with the metrics token and remote-writes
//! to the regency's receiver (Prometheus with the shipped config, web config and
//! rules) in the `regency` namespace, reached only over the router's WAN.
//!
//! One village, one long test: the receiver gets the series with the `village` and
//! `regency` labels; the WAN is cut for over 3 minutes while phones keep being served;
//! after it comes back, the samples scraped during the cut are at the receiver (a
//! query over exactly that window); no series carries a MAC or IP label; and every
//! Grafana panel's PromQL runs against the receiver, the key ones returning the village.

use desawifi_testkit as common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{curl, ns_exec, ns_ok, portal_login, tag_for, AdminClient, Daemon, Village};
use serde_json::Value;

const FLEET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/fleet");
const DASHBOARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/grafana-dashboard.json");
const METRICS_TOKEN: &str = "fleet-metrics-token-0123456789abcdef";
/// The gateway's account at the receiver (the shipped env file names it sumber-sari).
const GATEWAY_PASSWORD: &str = "rahasia-gateway-sumber-sari";
/// The office's account (Grafana, and this test's queries).
const GRAFANA_PASSWORD: &str = "rahasia-grafana-paser";
/// The agent's scrape interval in the test (the shipped one is 60 s).
const SCRAPE_SECS: u64 = 5;
/// The WAN cut: at least 3 minutes, by design.
const CUT: Duration = Duration::from_secs(185);
const VILLAGE: &str = "Sumber Sari";
const REGENCY: &str = "Paser";

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// A process started in a namespace; killed on drop (village.sh down kills it too).
struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn start(name: &'static str, ns: &str, args: &[String], log: PathBuf) -> Proc {
        let out = fs::File::create(&log).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({e}): scripts/install-deps.sh"));
        Proc { name, child, log }
    }

    fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- {} log:\n{}",
            self.name,
            lines[lines.len().saturating_sub(30)..].join("\n")
        )
    }

    /// Panics with its log when it has exited.
    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("{} exited ({status}):\n{}", self.name, self.log_tail());
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `KEY=VALUE` lines of a systemd EnvironmentFile (comments skipped, quotes removed).
fn environment_file(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("not KEY=VALUE: {l}"));
            (k.to_string(), v.trim_matches('"').to_string())
        })
        .collect()
}

/// The unit's ExecStart as systemd runs it: continuation lines joined, split into
/// words (double quotes group), `${VAR}` from the environment file.
fn exec_start(unit: &str, env: &BTreeMap<String, String>) -> Vec<String> {
    let joined = unit.replace("\\\n", " ");
    let line = joined
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart in the unit");
    let mut words = Vec::new();
    let (mut word, mut quoted, mut any) = (String::new(), false, false);
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            ' ' | '\t' if !quoted => {
                if any || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                any = false;
            }
            _ => word.push(c),
        }
    }
    if any || !word.is_empty() {
        words.push(word);
    }
    words
        .into_iter()
        .map(|w| {
            let mut w = w;
            for (k, v) in env {
                w = w.replace(&format!("${{{k}}}"), v);
            }
            assert!(!w.contains("${"), "unset variable in {w}");
            w
        })
        .collect()
}

/// A bcrypt hash for the receiver's web config (python3's crypt: glibc's bcrypt).
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

/// The receiver's HTTP API, from the office's namespace, as Grafana asks it.
struct Receiver {
    ns: String,
    ca: PathBuf,
}

impl Receiver {
    /// GET `path` with form `params`; the decoded JSON's `data` on success.
    fn try_api(&self, path: &str, params: &[(&str, String)]) -> Result<Value, String> {
        let mut args: Vec<String> = vec![
            "--cacert".into(),
            self.ca.display().to_string(),
            "-u".into(),
            format!("grafana:{GRAFANA_PASSWORD}"),
            "-G".into(),
        ];
        for (k, v) in params {
            args.push("--data-urlencode".into());
            args.push(format!("{k}={v}"));
        }
        args.push(format!("https://fleet.example.net:9090{path}"));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = curl(&self.ns, &refs, 20.0);
        if r.code != 200 {
            return Err(format!(
                "{path} {params:?}: {} {}{}",
                r.code, r.stderr, r.body
            ));
        }
        let v: Value = serde_json::from_str(&r.body).map_err(|e| format!("{e}: {}", r.body))?;
        if v["status"] != "success" {
            return Err(format!("{path} {params:?}: {v}"));
        }
        Ok(v["data"].clone())
    }

    fn api(&self, path: &str, params: &[(&str, String)]) -> Value {
        self.try_api(path, params).unwrap_or_else(|e| panic!("{e}"))
    }

    /// An instant query's result vector (or matrix, for a range selector).
    fn query(&self, q: &str, at: f64) -> Vec<Value> {
        self.api(
            "/api/v1/query",
            &[("query", q.to_string()), ("time", format!("{at:.3}"))],
        )["result"]
            .as_array()
            .unwrap()
            .clone()
    }
}

/// Polls `f` every 500 ms until it returns Some, or panics with `what` after `limit`.
fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Whether a label value is (or carries) a MAC or an IP address.
fn names_a_device_or_address(v: &str) -> bool {
    let mac = v.split([':', '-']).count() == 6
        && v.split([':', '-'])
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()));
    mac || v.parse::<IpAddr>().is_ok()
        || v.parse::<SocketAddr>().is_ok()
        || v.split(['/', ' ', ',', '=', '@'])
            .any(|w| w.parse::<IpAddr>().is_ok() || w.parse::<SocketAddr>().is_ok())
}

#[test]
fn label_values_naming_an_address_or_a_mac_are_recognised() {
    for bad in [
        "10.77.0.11",
        "127.0.0.1:8443",
        "fd77::11",
        "[fd77::11]:443",
        "02:77:00:00:00:01",
        "02-77-00-00-00-0A",
        "phone 10.77.0.12",
    ] {
        assert!(names_a_device_or_address(bad), "{bad}");
    }
    for fine in [
        "Sumber Sari",
        "gateway",
        "0.1.0",
        "desawifi",
        "online",
        "1.5",
        "+Inf",
    ] {
        assert!(!names_a_device_or_address(fine), "{fine}");
    }
}

/// Brings the router's WAN back, with its default routes if the kernel dropped them.
fn wan_up(v: &Village) {
    ns_ok(&v.router(), &["ip", "link", "set", "wan0", "up"]);
    let _ = ns_exec(
        &v.router(),
        &["ip", "route", "replace", "default", "via", "198.51.100.2"],
    );
    let _ = ns_exec(
        &v.router(),
        &[
            "ip",
            "-6",
            "route",
            "replace",
            "default",
            "via",
            "2001:db8:100::2",
        ],
    );
}

fn sample_times(series: &Value) -> Vec<(f64, String)> {
    series["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_f64().unwrap(), p[1].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn a_village_behind_nat_pushes_its_metrics_and_an_outage_arrives_afterwards() {
    let v = Village::up(&tag_for("fleet_metrics::pushes"), 2);
    let g = v.regency_up();
    let run = v.run_dir();
    // The gateway's /etc/desawifi: the metrics token written once, read by the
    // daemon (`[admin] metrics_token_file`) and by the agent (vmagent.yml).
    let etc = run.join("etc");
    fs::create_dir_all(&etc).unwrap();
    let token_file = etc.join("metrics.token");
    fs::write(&token_file, format!("{METRICS_TOKEN}\n")).unwrap();
    fs::set_permissions(&token_file, fs::Permissions::from_mode(0o600)).unwrap();
    let d = Daemon::start(
        &v,
        &format!(
            "[admin]\nlisten = \"127.0.0.1:8443\"\nmetrics_token_file = {:?}\n[quota]\naccounting_interval = \"1s\"\n",
            token_file.to_str().unwrap()
        ),
    );
    // The phone logs in before anything else, so the pushed series count it online.
    let login = portal_login(&v, 1);
    assert_eq!(login.code, 303, "{login:?}\n{}", d.log_tail());
    let local = AdminClient::new(&d, &v.router(), "127.0.0.1:8443");
    let online_now = || {
        let r = local.bearer("GET", "/metrics", METRICS_TOKEN, &Value::Null);
        assert_eq!(r.status, 200, "{r:?}");
        r.text()
            .lines()
            .find_map(|l| l.strip_prefix("desawifi_devices{state=\"online\"} "))
            .map(|n| n.trim().to_string())
    };
    wait_for(
        "the phone online in /metrics",
        Duration::from_secs(10),
        || (online_now().as_deref() == Some("1")).then_some(()),
    );

    // ---- the regency's receiver, from the shipped files
    let rx = run.join("receiver");
    fs::create_dir_all(rx.join("data")).unwrap();
    let key = rx.join("fleet.example.net.key");
    let cert = rx.join("fleet.example.net.crt");
    common::self_signed_fleet_cert(&key, &cert);
    let etc_prom = |text: &str| text.replace("/etc/prometheus/", &format!("{}/", rx.display()));
    // The web config: the shipped one, its accounts those of this test.
    let web = fs::read_to_string(format!("{FLEET}/regency-web.yml")).unwrap();
    let (head, _) = web
        .split_once("basic_auth_users:")
        .expect("accounts in regency-web.yml");
    let web = format!(
        "{}basic_auth_users:\n  grafana: {}\n  sumber-sari: {}\n",
        etc_prom(head),
        bcrypt(GRAFANA_PASSWORD),
        bcrypt(GATEWAY_PASSWORD)
    );
    fs::write(rx.join("regency-web.yml"), web).unwrap();
    // The receiver's config as shipped, without its upward write (no province here).
    let config = fs::read_to_string(format!("{FLEET}/regency-prometheus.yml")).unwrap();
    let (config, upward) = config
        .split_once("\nremote_write:")
        .expect("remote_write upward");
    assert!(upward.contains("action: keep"), "{upward}");
    fs::write(rx.join("regency-prometheus.yml"), etc_prom(config)).unwrap();
    for f in ["desawifi-rules.yml", "desawifi-alerts.yml"] {
        fs::copy(format!("{FLEET}/{f}"), rx.join(f)).unwrap();
    }
    let default = fs::read_to_string(format!("{FLEET}/regency-prometheus.default")).unwrap();
    let shipped_args = default
        .lines()
        .find_map(|l| l.strip_prefix("ARGS=\""))
        .and_then(|a| a.strip_suffix('"'))
        .expect("ARGS in regency-prometheus.default");
    assert!(shipped_args.contains("--web.enable-remote-write-receiver"));
    assert!(shipped_args.contains("--storage.tsdb.retention.time="));
    let mut args: Vec<String> = vec!["prometheus".into()];
    args.extend(etc_prom(shipped_args).split(' ').map(String::from));
    args.push(format!("--storage.tsdb.path={}", rx.join("data").display()));
    let mut receiver = Proc::start(
        "prometheus (receiver)",
        &g,
        &args,
        rx.join("prometheus.log"),
    );
    let office = Receiver {
        ns: g.clone(),
        ca: cert.clone(),
    };
    wait_for("the receiver answering", Duration::from_secs(30), || {
        receiver.assert_running();
        office.try_api("/api/v1/status/buildinfo", &[]).ok()
    });

    // ---- the gateway's agent, from the shipped unit, env file and scrape config
    let store = d.store_dir();
    let buffer = run.join("fleet-agent-buffer");
    let paths = |text: &str| {
        text.replace("/etc/desawifi/", &format!("{}/", etc.display()))
            .replace("/var/lib/desawifi/", &format!("{}/", store.display()))
            .replace(
                "/var/lib/desawifi-fleet-agent",
                &buffer.display().to_string(),
            )
    };
    let scrape = fs::read_to_string(format!("{FLEET}/vmagent.yml")).unwrap();
    assert!(scrape.contains("scrape_interval: 60s"), "{scrape}");
    let scrape = scrape.replace(
        "scrape_interval: 60s",
        &format!("scrape_interval: {SCRAPE_SECS}s"),
    );
    fs::write(etc.join("fleet-agent.yml"), paths(&scrape)).unwrap();
    fs::write(etc.join("fleet-agent.password"), GATEWAY_PASSWORD).unwrap();
    fs::copy(&cert, etc.join("fleet-ca.pem")).unwrap();
    let env = environment_file(&fs::read_to_string(format!("{FLEET}/fleet-agent.env")).unwrap());
    assert_eq!(env["DW_VILLAGE"], VILLAGE);
    assert_eq!(env["DW_REGENCY"], REGENCY);
    let unit = fs::read_to_string(format!("{FLEET}/desawifi-fleet-agent.service")).unwrap();
    let args: Vec<String> = exec_start(&unit, &env).iter().map(|a| paths(a)).collect();
    assert_eq!(args[0], "/usr/bin/vmagent");
    assert!(
        args.contains(&"-remoteWrite.label=village=Sumber Sari".to_string()),
        "{args:?}"
    );
    let mut agent = Proc::start("vmagent", &v.router(), &args, run.join("vmagent.log"));

    // ---- the series arrive, named by village and regency
    let sel = format!("village=\"{VILLAGE}\", regency=\"{REGENCY}\"");
    let t_first = wait_for(
        "the gateway's series at the receiver",
        Duration::from_secs(60),
        || {
            agent.assert_running();
            receiver.assert_running();
            let r = office.query(
                &format!("desawifi_devices{{{sel}, state=\"online\"}}"),
                now_unix(),
            );
            (r.len() == 1 && r[0]["value"][1] == "1").then(now_unix)
        },
    );
    let up = office.query(&format!("up{{job=\"desawifi\", {sel}}}"), now_unix());
    assert_eq!(up.len(), 1, "{up:?}");
    assert_eq!(
        up[0]["value"][1], "1",
        "the agent scrapes /metrics over TLS with the token"
    );
    let info = office.query("desawifi_info", now_unix());
    assert_eq!(info.len(), 1, "{info:?}");
    assert_eq!(info[0]["metric"]["village"], VILLAGE);
    assert_eq!(info[0]["metric"]["regency"], REGENCY);
    assert_eq!(info[0]["metric"]["site"], "Desa Uji");
    // A few scrapes in, so rates and increases have two points.
    wait_for(
        "four scrapes at the receiver",
        Duration::from_secs(60),
        || {
            let r = office.query(&format!("count_over_time(up{{{sel}}}[2m])"), now_unix());
            (r.len() == 1 && r[0]["value"][1].as_str().unwrap().parse::<f64>().unwrap() >= 4.0)
                .then_some(())
        },
    );

    // ---- the WAN cut: the regency hears nothing; the village goes on
    ns_ok(&v.router(), &["ip", "link", "set", "wan0", "down"]);
    let cut_start = now_unix();
    let cut_began = Instant::now();
    let mut checks = 0;
    while cut_began.elapsed() < CUT {
        // A new phone gets the portal page; the logged-in one stays online.
        let page = curl(&v.phone(2), &["http://10.77.0.1:2050/"], 5.0);
        assert_eq!(
            page.code,
            200,
            "the portal during the cut: {page:?}\n{}",
            d.log_tail()
        );
        assert_eq!(
            online_now().as_deref(),
            Some("1"),
            "the phone online during the cut"
        );
        assert!(
            office
                .try_api("/api/v1/query", &[("query", "up".into())])
                .is_ok(),
            "the office's receiver itself stays up"
        );
        agent.assert_running();
        checks += 1;
        std::thread::sleep(Duration::from_secs(5));
    }
    let cut_end = now_unix();
    // Nothing from inside the cut has arrived yet (the WAN is really cut).
    let during = office.query(
        &format!("up{{{sel}}}[{}s]", (cut_end - cut_start - 10.0) as u64),
        cut_end,
    );
    assert!(
        during.is_empty()
            || sample_times(&during[0])
                .iter()
                .all(|(t, _)| *t < cut_start + 10.0),
        "samples from inside the cut arrived while the WAN was down: {during:?}"
    );
    wan_up(&v);
    assert!(checks >= 15, "{checks} checks during the cut");

    // ---- after the cut: the samples of the outage window are at the receiver
    let window = format!("{}s", (cut_end - cut_start) as u64);
    // (The agent re-sends each failed block with a backoff of up to a minute.)
    // Every scrape of the window there: one sample per interval (vmagent scrapes at
    // fixed offsets), from the window's first interval to its last.
    let window_secs = (cut_end - cut_start) as u64;
    let window_start = cut_end - window_secs as f64;
    let step = SCRAPE_SECS as f64;
    let full = |times: &[(f64, String)]| {
        times
            .first()
            .is_some_and(|(t, _)| *t <= window_start + 1.5 * step)
            && times
                .last()
                .is_some_and(|(t, _)| *t >= cut_end - 1.5 * step)
            && times.windows(2).all(|p| p[1].0 - p[0].0 <= 1.5 * step)
    };
    // The raw samples of one series over exactly the outage window.
    let range = |name: &str, more: &str| {
        let r = office.query(&format!("{name}{{{sel}{more}}}[{window}]"), cut_end);
        assert!(r.len() <= 1, "{r:?}");
        r.first().map(sample_times).unwrap_or_default()
    };
    let (arrived, online) = wait_for(
        "the outage's samples at the receiver",
        Duration::from_secs(180),
        || {
            agent.assert_running();
            let up = range("up", "");
            let online = range("desawifi_devices", ", state=\"online\"");
            (full(&up) && full(&online)).then_some((up, online))
        },
    );
    // Every scrape of the cut, none lost, all up; and the village's own numbers from
    // inside the cut: the phone stayed online.
    for series in [&arrived, &online] {
        for pair in series.windows(2) {
            assert!(
                pair[1].0 - pair[0].0 <= 1.5 * step,
                "a gap in the outage's samples: {pair:?} of {series:?}"
            );
        }
        assert!(
            series.len() as u64 >= window_secs / SCRAPE_SECS - 1,
            "{} samples over {window}: {series:?}",
            series.len()
        );
        assert!(series.iter().all(|(_, v)| v == "1"), "{series:?}");
    }
    // The logged-in phone is still online, without logging in again.
    let out = curl(&v.phone(1), &["http://198.51.100.2/"], 10.0);
    assert_eq!(out.code, 200, "phone 1 after the cut: {out:?}");

    // ---- privacy: no label value of any series names a device or an address
    let series = office.api(
        "/api/v1/series",
        &[
            ("match[]", "{__name__=~\".+\"}".to_string()),
            ("start", format!("{:.0}", t_first - 600.0)),
        ],
    );
    let series = series.as_array().unwrap();
    assert!(series.len() > 50, "{} series", series.len());
    let mut names = BTreeSet::new();
    for s in series {
        for (k, val) in s.as_object().unwrap() {
            let val = val.as_str().unwrap();
            assert!(
                !names_a_device_or_address(val),
                "series {s} has {k}={val:?}: a MAC or an address"
            );
        }
        if s["village"] == VILLAGE {
            assert_eq!(s["regency"], REGENCY, "{s}");
            names.insert(s["__name__"].as_str().unwrap().to_string());
        }
    }
    for must in [
        "desawifi_bytes_total",
        "desawifi_uplink_up",
        "desawifi_sessions_started_total",
        "process_resident_memory_bytes",
        "up",
    ] {
        assert!(names.contains(must), "{must} not pushed: {names:?}");
    }

    // ---- the Grafana dashboard, on pushed data
    dashboard_on_pushed_data(&office, t_first, now_unix());
    receiver.assert_running();
    agent.assert_running();
    drop(agent);
    drop(receiver);
}

/// Every panel's queries run against the receiver over the test's time range, as
/// Grafana would send them; the key panels return series for the village.
fn dashboard_on_pushed_data(office: &Receiver, start: f64, end: f64) {
    let dash: Value = serde_json::from_str(&fs::read_to_string(DASHBOARD).unwrap()).unwrap();
    let vars = dash["templating"]["list"].as_array().unwrap();
    let village_var = vars.iter().find(|v| v["name"] == "village").unwrap();
    let def = village_var["definition"].as_str().unwrap();
    let selector = def
        .strip_prefix("label_values(")
        .and_then(|s| s.rsplit_once(','))
        .map(|(s, _)| s.trim().to_string())
        .unwrap();
    let villages = office.api(
        "/api/v1/label/village/values",
        &[("match[]", selector), ("start", format!("{start:.0}"))],
    );
    assert!(
        villages.as_array().unwrap().iter().any(|v| v == VILLAGE),
        "the village variable lists {villages}"
    );
    let mut answered: BTreeMap<String, usize> = BTreeMap::new();
    for p in dash["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] != "row")
    {
        let title = p["title"].as_str().unwrap().to_string();
        for t in p["targets"].as_array().unwrap() {
            // The village picked; the ranges Grafana would fill in for this range;
            // no local-day shift (the test's data is minutes old, not a day).
            let expr = t["expr"]
                .as_str()
                .unwrap()
                .replace("$village", VILLAGE)
                .replace("$__rate_interval", "1m")
                .replace("$__interval", "15s")
                .replace("$__range", &format!("{}s", (end - start) as u64 + 60))
                .replace(" offset $local_day_offset", "");
            let data = office.api(
                "/api/v1/query_range",
                &[
                    ("query", expr.clone()),
                    ("start", format!("{start:.0}")),
                    ("end", format!("{end:.0}")),
                    ("step", "15".into()),
                ],
            );
            let result = data["result"].as_array().unwrap();
            let for_village = result
                .iter()
                .filter(|s| {
                    s["metric"].get("village").is_none() || s["metric"]["village"] == VILLAGE
                })
                .filter(|s| !s["values"].as_array().unwrap().is_empty())
                .count();
            *answered.entry(title.clone()).or_default() += for_village;
        }
    }
    for key in [
        "Gateways reachable",
        "Gateways down",
        "Villages without internet",
        "Devices online",
        "Data today",
        "Devices online per village",
        "Data per village per day",
        "Gateway and internet per village",
        "Logins per hour",
        "Data today per village",
        "Traffic per village",
        "Gateways",
        "Gateway memory",
        "Accounting pass time (p95)",
    ] {
        let n = answered
            .iter()
            .find(|(t, _)| t.starts_with(key))
            .map(|(_, n)| *n)
            .unwrap_or_else(|| panic!("no panel {key:?}: {answered:?}"));
        assert!(
            n > 0,
            "panel {key:?} shows nothing for {VILLAGE} on pushed data: {answered:?}"
        );
    }
}
