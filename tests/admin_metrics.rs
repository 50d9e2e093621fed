//! `/metrics` and the fleet files: a real daemon in a namespace village
//! scraped over TLS (the admin listener's own certificate) from the
//! management side, its exposition linted by `promtool check metrics`
//! (Debian's `prometheus` package) and its numbers checked against what a
//! phone did; the Prometheus scrape and alert examples checked by promtool;
//! the Grafana dashboard checked against the metric names `/metrics` exports,
//! so neither can drift from the code.

use desawifi_testkit as common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{add_user, curl, portal_login, tag_for, AdminClient, Daemon, Village, ADMIN_ADDR};
use desawifi::admin::metrics::{
    self, DeviceCounts, ProcessStats, Snapshot, CONTENT_TYPE, FAMILIES,
};
use desawifi::domain::DailyUsage;
use desawifi::telemetry::{self, REGISTRY};
use desawifi::uplink::UplinkState;
use serde_json::Value;

const PORTAL: &str = "http://10.77.0.1:2050";
const METRICS_TOKEN: &str = "prometheus-token-metrics-0123456789";
const ADMIN: (&str, &str) = ("ani", "rahasia-admin-1");
const VIEWER: (&str, &str) = ("budi", "rahasia-viewer-1");
const MIB: u64 = 1024 * 1024;
const CONFIG_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config");

// ------------------------------------------------------------------ helpers

/// `promtool ARGS` with `stdin` fed in; fails naming the package when it is missing.
fn promtool(args: &[&str], stdin: &[u8], dir: &Path) -> Output {
    let mut child = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("promtool not found ({e}): apt-get install prometheus (scripts/install-deps.sh does)"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("feeding promtool");
    child.wait_with_output().expect("waiting for promtool")
}

fn both(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `promtool check metrics` must pass with nothing to say.
fn assert_promtool_metrics_clean(text: &str) {
    let o = promtool(&["check", "metrics"], text.as_bytes(), Path::new("."));
    assert!(
        o.status.success() && both(&o).trim().is_empty(),
        "promtool check metrics ({}):\n{}\n--- exposition:\n{text}",
        o.status,
        both(&o)
    );
}

/// The value of the one sample `series` (name plus labels exactly as exported).
fn sample(text: &str, series: &str) -> f64 {
    let hits: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .collect();
    assert_eq!(hits.len(), 1, "{series} should appear once in:\n{text}");
    hits[0]
        .parse()
        .unwrap_or_else(|e| panic!("{series}: {:?} is not a number: {e}", hits[0]))
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("desawifi-metrics-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every (label, value) pair the exposition uses, e.g. ("state", "online").
fn label_pairs(text: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some(labels) = line
            .split_once('{')
            .and_then(|(_, rest)| rest.rsplit_once('}'))
            .map(|(l, _)| l)
        else {
            continue;
        };
        for pair in labels.split("\",") {
            if let Some((k, v)) = pair.split_once("=\"") {
                out.insert((k.to_string(), v.trim_end_matches('"').to_string()));
            }
        }
    }
    out
}

/// A made-up scrape with every family present (uplink down, so its series show).
fn full_snapshot() -> Snapshot {
    Snapshot {
        site: "Desa \"Uji\" \\ Satu".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        devices: DeviceCounts {
            online: 2,
            throttled: 1,
            cut: 1,
            blocked: 1,
            captive: 4,
        },
        usage_today: DailyUsage {
            download: 5 * MIB,
            upload: MIB,
            free: 0,
        },
        usage_yesterday: DailyUsage {
            download: 50 * MIB,
            upload: 7 * MIB,
            free: 0,
        },
        daily_data_bytes: 500 * MIB,
        uplink: UplinkState::Down {
            since: 1_764_200_000,
        },
        open: true,
        process: ProcessStats::read(),
        categories: vec!["video".into(), "layanan_publik".into(), "lainnya".into()],
        outages: desawifi::gateway::outages::OutageTotals {
            by_cause: vec![(desawifi::domain::OutageCause::Power, 1, 300)],
            last_end: Some(1_764_100_000),
        },
        now: 1_764_200_100,
        power: Some(power_state()),
    }
}

/// A battery in hemat, read well by NUT, on battery.
fn power_state() -> desawifi::power::PowerState {
    use desawifi::power::{Health, Mode, PowerState, Reading, Source};
    PowerState {
        mode: Mode::Hemat,
        warning: false,
        health: Health::Good,
        reading: Some(Reading {
            charge: Some(35.0),
            volts: Some(12.4),
            on_battery: true,
            ..Reading::empty(Source::Nut, 1_764_200_090)
        }),
    }
}

// ------------------------------------------------- exposition and fleet files

#[test]
fn the_exposition_passes_promtool() {
    // Every hook once, so no family is all zeros.
    telemetry::firewall_applied(Duration::from_millis(3), true);
    telemetry::accounting_pass(Duration::from_millis(40), Some(3));
    telemetry::admin_login(telemetry::AdminLogin::Bad);
    telemetry::uplink_went_down();
    let text = metrics::render(&full_snapshot(), &REGISTRY);
    assert_promtool_metrics_clean(&text);
    assert!(
        text.contains(r#"desawifi_info{site="Desa \"Uji\" \\ Satu","#),
        "{text}"
    );
    for (name, _) in FAMILIES {
        assert!(
            text.contains(&format!("# TYPE {name} ")),
            "{name} missing:\n{text}"
        );
    }
}

#[test]
fn the_prometheus_examples_pass_promtool_and_name_every_village() {
    let dir = scratch_dir("prometheus");
    // The example's files live in /etc/prometheus; promtool wants them to exist.
    let etc = dir.join("etc");
    std::fs::create_dir_all(etc.join("desawifi-villages")).unwrap();
    std::fs::write(
        etc.join("desawifi-metrics.token"),
        format!("{METRICS_TOKEN}\n"),
    )
    .unwrap();
    std::fs::write(
        etc.join("desawifi-villages/tanah-grogot.yml"),
        "- targets: [\"10.20.4.1:8443\"]\n  labels: { village: \"Tanjung Aru\", kecamatan: \"Tanah Grogot\" }\n",
    )
    .unwrap();
    let config = std::fs::read_to_string(format!("{CONFIG_DIR}/prometheus.yml")).unwrap();
    // Every job checks the gateway's certificate.
    let settings: Vec<&str> = config
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .collect();
    let jobs = settings
        .iter()
        .filter(|l| l.starts_with("- job_name:"))
        .count();
    assert_eq!(
        settings
            .iter()
            .filter(|l| **l == "insecure_skip_verify: false")
            .count(),
        jobs,
        "{config}"
    );
    assert!(!settings
        .iter()
        .any(|l| l.contains("insecure_skip_verify: true")));
    let config = config.replace("/etc/prometheus/", &format!("{}/", etc.display()));
    std::fs::write(dir.join("prometheus.yml"), &config).unwrap();
    for f in ["desawifi-alerts.yml", "desawifi-rules.yml"] {
        std::fs::copy(format!("{CONFIG_DIR}/fleet/{f}"), dir.join(f)).unwrap();
    }

    let o = promtool(&["check", "config", "prometheus.yml"], b"", &dir);
    assert!(o.status.success(), "promtool check config:\n{}", both(&o));
    assert!(!both(&o).contains("WARNING"), "{}", both(&o));
    // The rule files themselves (and their unit tests): the_fleet_files_pass_promtool_and_vmagent.

    // The relabelling, through Prometheus' own code: every target gets a `village`
    // (its address when the inventory gave none) and is shown by it. (promtool's
    // service-discovery check stumbles over file_sd, so that job is checked without it.)
    let mut static_only = String::new();
    let mut skipping = false;
    for line in config.lines() {
        if line.starts_with("    file_sd_configs:") {
            skipping = true;
        } else if line.starts_with("    static_configs:") {
            skipping = false;
        }
        if !skipping {
            static_only.push_str(line);
            static_only.push('\n');
        }
    }
    std::fs::write(dir.join("static-only.yml"), static_only).unwrap();
    let o = promtool(
        &[
            "check",
            "service-discovery",
            "--timeout=5s",
            "static-only.yml",
            "desawifi",
        ],
        b"",
        &dir,
    );
    assert!(
        o.status.success(),
        "promtool check service-discovery:\n{}",
        both(&o)
    );
    let targets: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", both(&o)));
    let labels: BTreeMap<String, (String, String)> = targets
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let l = &t["labels"];
            let s = |k: &str| {
                l[k].as_str()
                    .unwrap_or_else(|| panic!("no {k} in {l}"))
                    .to_string()
            };
            (s("__address__"), (s("village"), s("instance")))
        })
        .collect();
    assert_eq!(
        labels["10.20.1.1:8443"],
        ("Sumber Sari".into(), "Sumber Sari".into()),
        "{labels:?}"
    );
    assert_eq!(
        labels["10.20.3.1:8443"],
        ("10.20.3.1".into(), "10.20.3.1".into()),
        "a target without a village is named by its address: {labels:?}"
    );
    assert!(
        targets
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["labels"]["__scheme__"] == "https"),
        "{targets}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The fleet files (config/fleet/): every rule file passes `promtool check rules` and
/// has unit tests that pass (each alert fires, the recording rules give the right
/// totals); the receiver's config, its web config and the agent-mode alternative pass
/// promtool; the gateway agent's scrape config passes vmagent's own check.
#[test]
fn the_fleet_files_pass_promtool_and_vmagent() {
    let fleet = Path::new(CONFIG_DIR).join("fleet");
    let mut rule_files = Vec::new();
    for e in std::fs::read_dir(&fleet).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        let Some(stem) = name.strip_suffix(".yml") else {
            continue;
        };
        let text = std::fs::read_to_string(fleet.join(&name)).unwrap();
        if text.lines().any(|l| l == "groups:") && !stem.ends_with(".test") {
            rule_files.push(stem.to_string());
        }
    }
    rule_files.sort();
    assert_eq!(
        rule_files,
        ["desawifi-alerts", "desawifi-rules"],
        "rule files in config/fleet"
    );
    for stem in &rule_files {
        let o = promtool(&["check", "rules", &format!("{stem}.yml")], b"", &fleet);
        assert!(
            o.status.success(),
            "promtool check rules {stem}.yml:\n{}",
            both(&o)
        );
        let test = format!("{stem}.test.yml");
        let tests = std::fs::read_to_string(fleet.join(&test))
            .unwrap_or_else(|e| panic!("{stem}.yml has no unit tests {test}: {e}"));
        assert!(
            tests.contains(&format!("  - {stem}.yml")),
            "{test} loads {stem}.yml"
        );
        let o = promtool(&["test", "rules", &test], b"", &fleet);
        assert!(
            o.status.success(),
            "promtool test rules {test}:\n{}",
            both(&o)
        );
    }
    // Every alert has a test in which it fires.
    let alerts = std::fs::read_to_string(fleet.join("desawifi-alerts.yml")).unwrap();
    let tests = std::fs::read_to_string(fleet.join("desawifi-alerts.test.yml")).unwrap();
    let names: Vec<&str> = alerts
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert!(names.contains(&"DesawifiVillageSilent"), "{names:?}");
    assert!(names.contains(&"DesawifiUplinkFlapping"), "{names:?}");
    for name in names {
        let fires = tests.split("alertname: ").skip(1).any(|t| {
            t.starts_with(&format!("{name}\n")) && t.contains("exp_labels:") && {
                let next = t.find("alertname: ").unwrap_or(t.len());
                t[..next].contains("exp_labels:")
            }
        });
        assert!(fires, "no unit test in which {name} fires");
    }

    // The receiver's config and web config, with their files where they say.
    let dir = scratch_dir("fleet");
    let etc = |t: &str| t.replace("/etc/prometheus/", &format!("{}/", dir.display()));
    for f in [
        "regency-prometheus.yml",
        "regency-web.yml",
        "desawifi-rules.yml",
        "desawifi-alerts.yml",
    ] {
        let text = std::fs::read_to_string(fleet.join(f)).unwrap();
        std::fs::write(dir.join(f), etc(&text)).unwrap();
    }
    for f in [
        "province.password",
        "province-ca.pem",
        "fleet.example.net.crt",
        "fleet.example.net.key",
    ] {
        std::fs::write(dir.join(f), "x\n").unwrap();
    }
    let o = promtool(&["check", "config", "regency-prometheus.yml"], b"", &dir);
    assert!(
        o.status.success(),
        "promtool check config regency-prometheus.yml:\n{}",
        both(&o)
    );
    assert!(!both(&o).contains("WARNING"), "{}", both(&o));
    let text = std::fs::read_to_string(fleet.join("regency-prometheus.yml")).unwrap();
    assert!(
        text.contains("out_of_order_time_window:"),
        "late samples after an outage"
    );
    let default = std::fs::read_to_string(fleet.join("regency-prometheus.default")).unwrap();
    for flag in [
        "--web.enable-remote-write-receiver",
        "--storage.tsdb.retention.time=",
        "--web.config.file=",
    ] {
        assert!(
            default.contains(flag),
            "regency-prometheus.default lacks {flag}"
        );
    }
    // (promtool wants a real key pair for TLS: make one.)
    common::self_signed_fleet_cert(
        &dir.join("fleet.example.net.key"),
        &dir.join("fleet.example.net.crt"),
    );
    let o = promtool(&["check", "web-config", "regency-web.yml"], b"", &dir);
    assert!(
        o.status.success(),
        "promtool check web-config:\n{}",
        both(&o)
    );

    // The gateway agent: vmagent checks its scrape config (it reads the CA and token files).
    let gw = |t: &str| {
        t.replace("/etc/desawifi/", &format!("{}/", dir.display()))
            .replace("/var/lib/desawifi/", &format!("{}/", dir.display()))
    };
    std::fs::write(dir.join("metrics.token"), format!("{METRICS_TOKEN}\n")).unwrap();
    std::fs::copy(
        dir.join("fleet.example.net.crt"),
        dir.join("admin-cert.pem"),
    )
    .unwrap();
    std::fs::copy(dir.join("fleet.example.net.crt"), dir.join("fleet-ca.pem")).unwrap();
    std::fs::write(dir.join("fleet-agent.password"), "x\n").unwrap();
    for f in ["vmagent.yml", "prometheus-agent.yml"] {
        let text = std::fs::read_to_string(fleet.join(f)).unwrap();
        assert!(text.contains("insecure_skip_verify: false"), "{f}");
        assert!(
            text.contains("scrape_interval: 60s"),
            "{f}: the shipped interval"
        );
        std::fs::write(dir.join(f), gw(&text)).unwrap();
    }
    let o = Command::new("vmagent")
        .arg(format!("-promscrape.config={}", dir.join("vmagent.yml").display()))
        .args(["-promscrape.config.dryRun", "-loggerLevel=ERROR"])
        .output()
        .unwrap_or_else(|e| panic!("vmagent not found ({e}): apt-get install victoria-metrics (scripts/install-deps.sh does)"));
    assert!(
        o.status.success(),
        "vmagent -promscrape.config.dryRun:\n{}",
        both(&o)
    );
    let o = promtool(
        &["check", "config", "--agent", "prometheus-agent.yml"],
        b"",
        &dir,
    );
    assert!(
        o.status.success(),
        "promtool check config --agent:\n{}",
        both(&o)
    );

    // The province's vmauth loads its tenants (it has no dry run: start it, read its log).
    let log = dir.join("vmauth.log");
    let mut vmauth = Command::new("vmauth")
        .arg(format!(
            "-auth.config={}",
            fleet.join("province-vmauth.yml").display()
        ))
        .arg("-httpListenAddr=127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("vmauth (victoria-metrics)");
    let deadline = Instant::now() + Duration::from_secs(10);
    let loaded = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("Loaded information about 3 users") {
            break true;
        }
        if vmauth.try_wait().unwrap().is_some() || Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = vmauth.kill();
    let _ = vmauth.wait();
    assert!(
        loaded,
        "vmauth province-vmauth.yml:\n{}",
        std::fs::read_to_string(&log).unwrap()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Metric names a PromQL expression reads (functions, keywords, label names,
/// label values, durations and Grafana variables left out).
fn metric_names(
    expr: &str,
    grouping_labels: &mut BTreeSet<String>,
    matchers: &mut Vec<(String, String)>,
) -> BTreeSet<String> {
    // Aggregations may be written `sum by (x) (...)`: not followed by '(' directly.
    const KEYWORDS: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "and",
        "or",
        "unless",
        "offset",
        "bool",
        "inf",
        "nan",
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
    ];
    const GROUPING: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    while i < chars.len() {
        let c = chars[i];
        if c == '$' {
            // A Grafana variable: $name or ${name}.
            i += 1;
            if chars.get(i) == Some(&'{') {
                while i < chars.len() && chars[i] != '}' {
                    i += 1;
                }
                i += 1;
            } else {
                while i < chars.len() && ident(chars[i]) {
                    i += 1;
                }
            }
        } else if c == '{' {
            // Label matchers: keep them for the value check.
            let end = (i..chars.len())
                .find(|&j| chars[j] == '}')
                .expect("unclosed {");
            let inner: String = chars[i + 1..end].iter().collect();
            for m in inner.split(',') {
                let m = m.trim();
                if let Some(op) = ["=~", "!~", "!=", "="].iter().find(|op| m.contains(*op)) {
                    let (k, v) = m.split_once(op).unwrap();
                    matchers.push((k.trim().to_string(), v.trim().trim_matches('"').to_string()));
                }
            }
            i = end + 1;
        } else if c == '[' {
            i = (i..chars.len())
                .find(|&j| chars[j] == ']')
                .expect("unclosed [")
                + 1;
        } else if c == '"' {
            i = (i + 1..chars.len())
                .find(|&j| chars[j] == '"')
                .expect("unclosed string")
                + 1;
        } else if c.is_ascii_digit() {
            while i < chars.len() && (ident(chars[i]) || chars[i] == '.') {
                i += 1;
            }
        } else if ident(c) {
            let start = i;
            while i < chars.len() && ident(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = chars[i..].iter().find(|c| !c.is_whitespace());
            if GROUPING.contains(&word.as_str()) && next == Some(&'(') {
                let open = (i..chars.len()).find(|&j| chars[j] == '(').unwrap();
                let close = (open..chars.len())
                    .find(|&j| chars[j] == ')')
                    .expect("unclosed (");
                let inner: String = chars[open + 1..close].iter().collect();
                grouping_labels.extend(
                    inner
                        .split(',')
                        .map(|l| l.trim().to_string())
                        .filter(|l| !l.is_empty()),
                );
                i = close + 1;
            } else if next != Some(&'(') && !KEYWORDS.contains(&word.as_str()) {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

#[test]
fn the_grafana_dashboard_asks_only_for_what_metrics_exports() {
    let text = std::fs::read_to_string(format!("{CONFIG_DIR}/grafana-dashboard.json")).unwrap();
    let dash: Value = serde_json::from_str(&text).expect("grafana-dashboard.json is JSON");
    let inputs = dash["__inputs"]
        .as_array()
        .expect("__inputs (importable dashboard)");
    assert!(
        inputs
            .iter()
            .any(|i| i["name"] == "DS_PROMETHEUS" && i["pluginId"] == "prometheus"),
        "{inputs:?}"
    );

    // What /metrics can answer: every family (histograms with their series) and
    // Prometheus' own `up`; every label value it uses.
    let exposition = metrics::render(&full_snapshot(), &REGISTRY);
    let mut exported: BTreeSet<String> = BTreeSet::from(["up".to_string()]);
    for (name, kind) in FAMILIES {
        exported.insert(name.to_string());
        if *kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                exported.insert(format!("{name}{suffix}"));
            }
        }
    }
    let exported_labels = label_pairs(&exposition);
    // Labels a series may carry: ours, plus what the scrape config or the agent adds.
    let known_labels: BTreeSet<String> = exported_labels
        .iter()
        .map(|(k, _)| k.clone())
        .chain(["village", "regency", "kecamatan", "instance", "job"].map(String::from))
        .collect();

    let mut exprs: Vec<(String, String)> = Vec::new();
    let panels = dash["panels"].as_array().expect("panels");
    let mut titles = Vec::new();
    for p in panels.iter().filter(|p| p["type"] != "row") {
        let title = p["title"].as_str().unwrap().to_string();
        assert_eq!(
            p["datasource"]["uid"], "${DS_PROMETHEUS}",
            "{title}: datasource"
        );
        let targets = p["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("{title}: no targets"));
        assert!(!targets.is_empty(), "{title}: no queries");
        for t in targets {
            assert_eq!(
                t["datasource"]["uid"], "${DS_PROMETHEUS}",
                "{title}: target datasource"
            );
            exprs.push((
                title.clone(),
                t["expr"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{title}: target without expr"))
                    .to_string(),
            ));
        }
        titles.push(title);
    }
    for v in dash["templating"]["list"].as_array().unwrap() {
        if v["type"] == "query" {
            assert_eq!(v["datasource"]["uid"], "${DS_PROMETHEUS}");
            let q = v["query"]["query"]
                .as_str()
                .or(v["query"].as_str())
                .unwrap();
            // label_values(SELECTOR, LABEL)
            let inner = q
                .strip_prefix("label_values(")
                .and_then(|s| s.strip_suffix(')'))
                .unwrap_or_else(|| panic!("{q}"));
            let (selector, label) = inner.rsplit_once(',').unwrap();
            assert!(
                known_labels.contains(label.trim()),
                "variable {} lists unknown label {label}",
                v["name"]
            );
            exprs.push((
                format!("variable {}", v["name"]),
                selector.trim().to_string(),
            ));
        }
    }
    // The panels the regency asked for.
    for want in [
        "Devices online per village",
        "Data per village per day",
        "Gateways down",
        "Villages without internet",
        "Logins per hour",
    ] {
        assert!(
            titles.iter().any(|t| t.starts_with(want)),
            "no panel {want:?} in {titles:?}"
        );
    }

    let mut used = BTreeSet::new();
    for (title, expr) in &exprs {
        let (mut grouping, mut matchers) = (BTreeSet::new(), Vec::new());
        let names = metric_names(expr, &mut grouping, &mut matchers);
        assert!(!names.is_empty(), "{title}: no metric in {expr}");
        for name in &names {
            assert!(
                exported.contains(name),
                "{title}: {name} is not exported by /metrics ({expr})"
            );
            used.insert(name.clone());
        }
        for label in &grouping {
            assert!(
                known_labels.contains(label),
                "{title}: grouping by unknown label {label} ({expr})"
            );
        }
        for (label, value) in &matchers {
            assert!(
                known_labels.contains(label),
                "{title}: matcher on unknown label {label} ({expr})"
            );
            // Our own labels' values must be ones we export (state="onlin" would match nothing, silently).
            if exported_labels.iter().any(|(k, _)| k == label)
                && !value.contains('$')
                && label != "site"
                && label != "version"
            {
                for alternative in value.split('|') {
                    assert!(
                        exported_labels.contains(&(label.clone(), alternative.to_string())),
                        "{title}: {label}={alternative:?} is never exported ({expr})"
                    );
                }
            }
        }
    }
    for must in [
        "desawifi_devices",
        "desawifi_usage_yesterday_bytes",
        "desawifi_sessions_started_total",
        "desawifi_uplink_up",
        "up",
    ] {
        assert!(
            used.contains(must),
            "the dashboard does not use {must}: {used:?}"
        );
    }

    // And every query is valid PromQL, checked by Prometheus' parser (as recording rules,
    // with Grafana's variables filled in).
    let dir = scratch_dir("dashboard");
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (n, (_, expr)) in exprs.iter().enumerate() {
        let filled = expr
            .replace("$__rate_interval", "5m")
            .replace("$__range", "1d")
            .replace("$__interval", "1h")
            .replace("$local_day_offset", "-40h")
            .replace("$village", ".*");
        rules.push_str(&format!(
            "      - record: dashboard:query_{n}\n        expr: {}\n",
            serde_json::to_string(&filled).unwrap()
        ));
    }
    std::fs::write(dir.join("dashboard-rules.yml"), &rules).unwrap();
    let o = promtool(&["check", "rules", "dashboard-rules.yml"], b"", &dir);
    assert!(
        o.status.success(),
        "the dashboard's PromQL:\n{}\n{rules}",
        both(&o)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn metric_names_are_found_in_promql() {
    let (mut g, mut m) = (BTreeSet::new(), Vec::new());
    let names = metric_names(
        r#"histogram_quantile(0.95, sum by (le, village) (rate(x_bucket{job=~"d.*", state="a|b"}[5m] offset -40h))) * 8 or on (instance) up == bool 1 and count($v) > ${w}"#,
        &mut g,
        &mut m,
    );
    assert_eq!(
        names,
        BTreeSet::from(["x_bucket".to_string(), "up".to_string()])
    );
    assert_eq!(
        g,
        BTreeSet::from([
            "le".to_string(),
            "village".to_string(),
            "instance".to_string()
        ])
    );
    assert_eq!(
        m,
        vec![
            ("job".to_string(), "d.*".to_string()),
            ("state".to_string(), "a|b".to_string())
        ]
    );
}

// ------------------------------------------------------ a real village, over TLS

#[test]
fn a_village_scraped_over_tls_counts_the_phone_online_and_its_download() {
    let v = Village::up(&tag_for("admin_metrics::a_village_scraped_over_tls"), 2);
    // The harness's base config ends with [store]: the first line lands there
    // (write every pass, so the byte counters follow within a second).
    let d = Daemon::start(
        &v,
        &format!(
            "write_interval = \"0s\"\n[admin]\nlisten = \"{ADMIN_ADDR}\"\nmetrics_token = \"{METRICS_TOKEN}\"\n[quota]\naccounting_interval = \"1s\"\ndownload_rate = \"100 Mbit/s\"\n"
        ),
    );
    add_user(&d, ADMIN.0, "admin", ADMIN.1);
    add_user(&d, VIEWER.0, "viewer", VIEWER.1);
    // Prometheus' side: the upstream ("management") network, trusting exactly the
    // certificate the daemon made.
    let c = AdminClient::new(&d, &v.upstream(), ADMIN_ADDR);
    let scrape = |token: &str| c.bearer("GET", "/metrics", token, &Value::Null);

    // Nobody, a wrong token: 401. The metrics token opens /metrics only.
    let r = scrape("");
    assert_eq!(r.status, 401, "{r:?}");
    assert!(!r.text().contains("desawifi_"), "{}", r.text());
    assert_eq!(scrape("not-the-metrics-token-0123456789").status, 401);
    assert_eq!(
        c.bearer("GET", "/api/devices", METRICS_TOKEN, &Value::Null)
            .status,
        401,
        "the metrics token is refused on the API"
    );
    assert_eq!(
        c.bearer("GET", "/api/quota", METRICS_TOKEN, &Value::Null)
            .status,
        401
    );

    // A phone logs in and downloads.
    assert_eq!(portal_login(&v, 1).code, 303, "{}", d.log_tail());
    let payload = 3 * MIB;
    let dl = curl(
        &v.phone(1),
        &[&format!("http://198.51.100.2/bytes/{payload}")],
        60.0,
    );
    assert_eq!(dl.code, 200, "{dl:?}");

    // Within a few accounting passes the scrape has counted it. A pass
    // counts the bytes midway and sets its device gauge when it ends, so a
    // scrape can fall between the two: wait for a pass that has ended with
    // the phone online too (seen once in CI: bytes counted, gauge still 0).
    let deadline = Instant::now() + Duration::from_secs(15);
    let text = loop {
        let r = scrape(METRICS_TOKEN);
        assert_eq!(r.status, 200, "{r:?}\n{}", d.log_tail());
        assert_eq!(r.header("content-type"), Some(CONTENT_TYPE));
        let text = r.text();
        if sample(&text, r#"desawifi_bytes_total{direction="download"}"#) >= payload as f64
            && sample(&text, "desawifi_accounting_pass_devices") == 1.0
        {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "the download was not counted by a finished pass within 15 s:\n{text}\n{}",
            d.log_tail()
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_promtool_metrics_clean(&text);
    assert_eq!(
        sample(
            &text,
            &format!(
                r#"desawifi_info{{site="Desa Uji",version="{}"}}"#,
                env!("CARGO_PKG_VERSION")
            )
        ),
        1.0
    );
    assert_eq!(
        sample(&text, r#"desawifi_devices{state="online"}"#),
        1.0,
        "{text}"
    );
    for state in ["throttled", "cut", "blocked", "captive"] {
        assert_eq!(
            sample(&text, &format!(r#"desawifi_devices{{state="{state}"}}"#)),
            0.0,
            "{state}\n{text}"
        );
    }
    assert_eq!(sample(&text, "desawifi_sessions_started_total"), 1.0);
    // The payload plus TCP/IP headers; the requests went up.
    let down = sample(&text, r#"desawifi_bytes_total{direction="download"}"#);
    assert!(
        down > payload as f64 && down < payload as f64 * 1.2,
        "download bytes {down} for a {payload}-byte payload"
    );
    assert!(sample(&text, r#"desawifi_bytes_total{direction="upload"}"#) > 0.0);
    assert!(
        sample(&text, r#"desawifi_usage_today_bytes{direction="download"}"#) >= down,
        "today's usage includes everything counted"
    );
    assert_eq!(
        sample(
            &text,
            r#"desawifi_usage_yesterday_bytes{direction="download"}"#
        ),
        0.0
    );
    assert!(
        sample(&text, "desawifi_firewall_apply_seconds_count") >= 2.0,
        "the start-up reconcile and the login's batch"
    );
    assert!(sample(&text, "desawifi_accounting_pass_seconds_count") >= 1.0);
    assert_eq!(sample(&text, "desawifi_accounting_pass_devices"), 1.0);
    assert_eq!(sample(&text, "desawifi_accounting_pass_errors_total"), 0.0);
    assert_eq!(sample(&text, "desawifi_firewall_apply_errors_total"), 0.0);
    let up = sample(&text, "desawifi_uplink_up");
    assert!(up == 0.0 || up == 1.0);
    assert!(sample(&text, "process_resident_memory_bytes") > 1_000_000.0);
    let started = sample(&text, "process_start_time_seconds");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        started <= now + 1.0 && started > now - 600.0,
        "start time {started}, now {now}"
    );
    assert!(
        !text.contains("mac=") && !text.contains("02:77:00"),
        "no per-device series:\n{text}"
    );

    // Accounts: a viewer's (and an admin's) session token scrape too; logins are counted.
    let viewer = c.token(VIEWER.0, VIEWER.1);
    assert_eq!(scrape(&viewer).status, 200);
    let admin = c.token(ADMIN.0, ADMIN.1);
    assert_eq!(c.login(ADMIN.0, "not my password").status, 401);
    // An admin blocks phone 2; its tap on Connect is refused and counted.
    let mac2 = v.phone_mac(2);
    let r = c.bearer(
        "POST",
        &format!("/api/devices/{mac2}/block"),
        &admin,
        &Value::Null,
    );
    assert!(r.status == 200 || r.status == 204, "{r:?}");
    assert_eq!(portal_login(&v, 2).code, 403);
    // Phone 1 logs out: captive (seen today, not online).
    let r = curl(
        &v.phone(1),
        &["-X", "POST", &format!("{PORTAL}/logout")],
        5.0,
    );
    assert_eq!(r.code, 303, "{r:?}");
    let text = scrape(&admin).text();
    assert_promtool_metrics_clean(&text);
    assert_eq!(
        sample(&text, r#"desawifi_admin_logins_total{result="ok"}"#),
        2.0,
        "{text}"
    );
    assert_eq!(
        sample(&text, r#"desawifi_admin_logins_total{result="bad"}"#),
        1.0
    );
    assert_eq!(
        sample(&text, r#"desawifi_admin_logins_total{result="locked"}"#),
        0.0
    );
    assert_eq!(
        sample(&text, r#"desawifi_logins_failed_total{reason="blocked"}"#),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            r#"desawifi_logins_failed_total{reason="quota_used"}"#
        ),
        0.0
    );
    assert_eq!(
        sample(&text, "desawifi_sessions_started_total"),
        1.0,
        "a refused login starts nothing"
    );
    assert_eq!(
        sample(&text, r#"desawifi_devices{state="online"}"#),
        0.0,
        "{text}"
    );
    assert_eq!(
        sample(&text, r#"desawifi_devices{state="captive"}"#),
        1.0,
        "{text}"
    );
    assert_eq!(
        sample(&text, r#"desawifi_devices{state="blocked"}"#),
        1.0,
        "{text}"
    );
    // The logout's final count never makes the byte counter go back.
    assert!(sample(&text, r#"desawifi_bytes_total{direction="download"}"#) >= down);
}

/// Scrape until `want(text)` holds (at most `within`); returns that exposition.
fn scrape_until(
    c: &AdminClient,
    d: &Daemon,
    within: Duration,
    what: &str,
    want: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + within;
    loop {
        let r = c.bearer("GET", "/metrics", METRICS_TOKEN, &Value::Null);
        assert_eq!(r.status, 200, "{r:?}");
        let text = r.text();
        if want(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{what} within {within:?}; last scrape:\n{text}\n{}",
            d.log_tail()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A TCP listener in the upstream namespace (an uplink target that answers), killed on drop.
struct Target(std::process::Child);

impl Target {
    fn start(ns: &str, ip: &str, port: u16) -> Target {
        let script = format!(
            "import socket,time\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('{ip}',{port}))\ns.listen(64)\ntime.sleep(120)\n"
        );
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "python3", "-c", &script])
            .stdin(Stdio::null())
            .spawn()
            .expect("python3 not found: apt-get install python3");
        Target(child)
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Also the daemon with `[admin] metrics_token_file`: that file's token scrapes, a wrong one is refused.
#[test]
fn the_uplink_going_down_and_coming_back_shows_in_the_metrics() {
    let v = Village::up(&tag_for("admin_metrics::the_uplink_going_down"), 1);
    // The token from a file, as the fleet agent reads it: one line, mode 0600.
    let token_file = v.run_dir().join("metrics.token");
    std::fs::write(&token_file, format!("{METRICS_TOKEN}\n")).unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    // The uplink's only target answers only while the test's listener runs.
    let d = Daemon::start(
        &v,
        &format!(
            "[admin]\nlisten = \"{ADMIN_ADDR}\"\nmetrics_token_file = {:?}\n[uplink]\ntargets = [\"198.51.100.2:9999\"]\ninterval = \"1s\"\ntimeout = \"1s\"\nfail_after = 1\n",
            token_file.to_str().unwrap()
        ),
    );
    let c = AdminClient::new(&d, &v.upstream(), ADMIN_ADDR);
    // The file's token opens /metrics (scrape_until below sends it); others do not.
    for wrong in ["", "not-the-metrics-token-0123456789"] {
        let r = c.bearer("GET", "/metrics", wrong, &Value::Null);
        assert_eq!(r.status, 401, "{wrong:?}: {r:?}");
        assert!(!r.text().contains("desawifi_"), "{}", r.text());
    }
    assert_eq!(
        c.bearer("GET", "/api/quota", METRICS_TOKEN, &Value::Null)
            .status,
        401,
        "the file's token is refused on the API"
    );
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    let started = now();

    let down = scrape_until(&c, &d, Duration::from_secs(8), "uplink down", |t| {
        t.contains("\ndesawifi_uplink_up 0\n")
    });
    assert_promtool_metrics_clean(&down);
    let since = sample(&down, "desawifi_uplink_down_since_seconds");
    assert!(
        since >= started - 2.0 && since <= now(),
        "down since {since}, test started {started}"
    );
    assert_eq!(sample(&down, "desawifi_uplink_outages_total"), 1.0);

    // The dish comes back: the target answers.
    let target = Target::start(&v.upstream(), "198.51.100.2", 9999);
    std::thread::sleep(Duration::from_millis(1500));
    let up = scrape_until(&c, &d, Duration::from_secs(8), "uplink back", |t| {
        t.contains("\ndesawifi_uplink_up 1\n")
    });
    assert_promtool_metrics_clean(&up);
    assert!(
        !up.contains("desawifi_uplink_down_since_seconds"),
        "no down-since while up:\n{up}"
    );
    assert_eq!(sample(&up, "desawifi_uplink_outages_total"), 1.0);
    let down_secs = sample(&up, "desawifi_uplink_down_seconds_total");
    assert!(
        down_secs >= 1.0 && down_secs <= now() - started + 1.0,
        "down for {down_secs} s"
    );
    drop(target);
}
