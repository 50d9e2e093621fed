//! Headless Chromium driven through the Chrome DevTools Protocol over
//! `--remote-debugging-pipe` (CDP as NUL-separated JSON on fds 3 and 4): no
//! debugging port inside the namespace, no WebSocket client, nothing but std
//! and serde_json. The same approach as tests/browser.rs, with the screen
//! size and extra flags as parameters, for the admin console's test.
//!
//! Use it as `use desawifi_testkit::cdp;`.

use std::collections::VecDeque;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
/// How long one CDP command may take to answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a navigation may take to reach its load event.
pub const LOAD_TIMEOUT: Duration = Duration::from_secs(20);

/// Headless Chromium in a namespace. Killed (its whole process group) on drop.
pub struct Browser {
    child: Child,
    to_browser: ChildStdin,
    from_browser: Receiver<Value>,
    /// Events read while waiting for a command's answer, oldest first.
    events: VecDeque<Value>,
    next_id: u64,
    profile: PathBuf,
    log: PathBuf,
}

impl Browser {
    /// Chromium inside namespace `ns` (none when empty) with a fresh profile under `run_dir`,
    /// `extra` flags added (e.g. `--ignore-certificate-errors-spki-list=...`).
    pub fn launch(ns: &str, run_dir: &Path, extra: &[String]) -> Browser {
        assert!(
            Path::new(CHROMIUM).exists(),
            "{CHROMIUM} not found: apt-get install chromium (scripts/install-deps.sh does it)"
        );
        let profile = run_dir.join(format!("chromium-profile-{}", std::process::id()));
        let _ = fs::remove_dir_all(&profile);
        fs::create_dir_all(&profile).expect("creating chromium profile dir");
        let log = run_dir.join("chromium.log");
        let mut args: Vec<String> = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-default-apps",
            "--disable-breakpad",
            "--disable-crash-reporter",
            "--disable-dev-shm-usage",
            "--disable-features=Translate,MediaRouter,OptimizationHints,HttpsUpgrades,DnsOverHttps",
            "--no-proxy-server",
            "--hide-scrollbars",
            "--remote-debugging-pipe",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().cloned());
        // Each flag is one shell word (no quoting needed: they are ours).
        for a in &args {
            assert!(
                !a.contains(['\'', '"', ' ', '$', '`', '\\']),
                "flag {a:?} must be a plain word"
            );
        }
        // CDP's pipe is fd 3 (commands in) and fd 4 (answers out).
        let script = format!(
            "exec {CHROMIUM} {} --user-data-dir=\"$1\" about:blank 3<&0 4>&1 >\"$2\" 2>&1 </dev/null",
            args.join(" ")
        );
        // No namespace (`ns` empty): on this machine's own network, for a
        // server on the loopback (the regency office's test).
        let mut command = if ns.is_empty() {
            Command::new("bash")
        } else {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "bash"]);
            c
        };
        let mut child = command
            .args(["-c", &script, "chromium"])
            .arg(&profile)
            .arg(&log)
            .env("HOME", &profile)
            .env_remove("http_proxy")
            .env_remove("https_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("HTTPS_PROXY")
            .env_remove("all_proxy")
            .env_remove("ALL_PROXY")
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run ip netns exec {ns} chromium: {e}"));
        let to_browser = child.stdin.take().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, from_browser) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(out);
            let mut msg = Vec::new();
            loop {
                msg.clear();
                match r.read_until(0, &mut msg) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if msg.last() == Some(&0) {
                    msg.pop();
                }
                match serde_json::from_slice::<Value>(&msg) {
                    Ok(v) => {
                        if tx.send(v).is_err() {
                            return;
                        }
                    }
                    Err(e) => eprintln!("chromium sent bad CDP JSON: {e}"),
                }
            }
        });
        Browser {
            child,
            to_browser,
            from_browser,
            events: VecDeque::new(),
            next_id: 0,
            profile,
            log,
        }
    }

    pub fn chromium_log(&self) -> String {
        let log = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// One CDP command (to the browser, or to a page's `session`); its result.
    pub fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        if let Err(e) = self
            .to_browser
            .write_all(&bytes)
            .and_then(|_| self.to_browser.flush())
        {
            panic!(
                "writing {method} to chromium: {e}; chromium log:\n{}",
                self.chromium_log()
            );
        }
        let deadline = Instant::now() + CALL_TIMEOUT;
        loop {
            let m = self.recv(deadline, method);
            if m["id"].as_u64() == Some(id) {
                if let Some(err) = m.get("error") {
                    panic!("CDP {method} failed: {err}");
                }
                return m["result"].clone();
            }
            if m.get("method").is_some() {
                self.events.push_back(m);
            }
        }
    }

    fn recv(&mut self, deadline: Instant, waiting_for: &str) -> Value {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.from_browser.recv_timeout(left) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => panic!(
                "chromium did not answer {waiting_for} in time; chromium log:\n{}",
                self.chromium_log()
            ),
            Err(RecvTimeoutError::Disconnected) => panic!(
                "chromium exited while waiting for {waiting_for}; chromium log:\n{}",
                self.chromium_log()
            ),
        }
    }

    /// Waits for the event `method` (already buffered or still to come), returns it.
    pub fn wait_event(&mut self, method: &str, timeout: Duration) -> Value {
        if let Some(i) = self.events.iter().position(|e| e["method"] == method) {
            return self.events.remove(i).unwrap();
        }
        let deadline = Instant::now() + timeout;
        loop {
            let m = self.recv(deadline, method);
            if m["method"] == method {
                return m;
            }
            if m.get("method").is_some() {
                self.events.push_back(m);
            }
        }
    }

    /// Drops buffered events (and those already arrived); returns them.
    pub fn take_events(&mut self) -> Vec<Value> {
        while let Ok(m) = self.from_browser.try_recv() {
            if m.get("method").is_some() {
                self.events.push_back(m);
            }
        }
        self.events.drain(..).collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let mut bytes = serde_json::to_vec(&json!({"id": 0, "method": "Browser.close"})).unwrap();
        bytes.push(0);
        let _ = self.to_browser.write_all(&bytes);
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // SAFETY: kill(2) on our own child's process group (made by process_group(0)).
        unsafe {
            libc::kill(-(self.child.id() as i32), libc::SIGKILL);
        }
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.profile);
    }
}

/// One tab, with its own screen size.
pub struct Tab<'b> {
    pub b: &'b mut Browser,
    session: String,
}

impl Tab<'_> {
    /// A new tab of `width`×`height` CSS pixels (a phone's touch screen when
    /// `mobile`); in a new browser context (own cookies) when `fresh`.
    pub fn open(b: &mut Browser, fresh: bool, width: u32, height: u32, mobile: bool) -> Tab<'_> {
        let mut params = json!({"url": "about:blank"});
        if fresh {
            let ctx = b.call(None, "Target.createBrowserContext", json!({}));
            params["browserContextId"] = ctx["browserContextId"].clone();
        }
        let target = b.call(None, "Target.createTarget", params);
        let target_id = target["targetId"].as_str().expect("targetId").to_owned();
        let s = b.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        );
        let session = s["sessionId"].as_str().expect("sessionId").to_owned();
        let mut t = Tab { b, session };
        t.call("Page.enable", json!({}));
        t.call("Network.enable", json!({}));
        t.call("Network.setCacheDisabled", json!({"cacheDisabled": true}));
        t.screen(width, height, mobile);
        t.b.take_events();
        t
    }

    /// Change the screen (e.g. phone -> laptop) without reloading.
    pub fn screen(&mut self, width: u32, height: u32, mobile: bool) {
        self.call("Emulation.setDeviceMetricsOverride", json!({"width": width, "height": height, "deviceScaleFactor": if mobile { 2 } else { 1 }, "mobile": mobile}));
        self.call(
            "Emulation.setTouchEmulationEnabled",
            json!({"enabled": mobile, "maxTouchPoints": 1}),
        );
    }

    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let s = self.session.clone();
        self.b.call(Some(&s), method, params)
    }

    /// Types `url` in the address bar; waits for the load event of wherever it ends up.
    /// Returns the events seen on the way.
    pub fn navigate(&mut self, url: &str) -> Vec<Value> {
        self.b.take_events();
        let r = self.call("Page.navigate", json!({"url": url}));
        assert!(
            r.get("errorText").is_none(),
            "navigating to {url}: {r}\n{}",
            self.b.chromium_log()
        );
        self.b.wait_event("Page.loadEventFired", LOAD_TIMEOUT);
        self.b.take_events()
    }

    /// A JavaScript expression's value (run by CDP, not by the page: the
    /// page's Content-Security-Policy allows no scripts of its own).
    pub fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true}),
        );
        assert!(r.get("exceptionDetails").is_none(), "{expr}: {r}");
        r["result"]["value"].clone()
    }

    /// Clicks the element `selector` finds (a submit button: a full-page form
    /// POST) and waits for the next page's load event; the events on the way.
    pub fn click_and_wait(&mut self, selector: &str) -> Vec<Value> {
        self.b.take_events();
        let sel = serde_json::to_string(selector).unwrap();
        let found = self.eval(&format!("(() => {{ const e = document.querySelector({sel}); if (!e) return false; e.click(); return true; }})()"));
        assert_eq!(
            found,
            json!(true),
            "nothing matches {selector} on {}:\n{}",
            self.url(),
            self.text()
        );
        self.b.wait_event("Page.loadEventFired", LOAD_TIMEOUT);
        self.b.take_events()
    }

    /// Sets the value of the input `selector` finds, as typing would.
    pub fn fill(&mut self, selector: &str, value: &str) {
        let (sel, val) = (
            serde_json::to_string(selector).unwrap(),
            serde_json::to_string(value).unwrap(),
        );
        let found = self.eval(&format!("(() => {{ const e = document.querySelector({sel}); if (!e) return false; e.value = {val}; return true; }})()"));
        assert_eq!(
            found,
            json!(true),
            "no input {selector} on {}:\n{}",
            self.url(),
            self.text()
        );
    }

    pub fn url(&mut self) -> String {
        self.eval("location.href")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// What the screen shows, as text.
    pub fn text(&mut self) -> String {
        self.eval("document.body.innerText")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The page's HTML as the browser holds it.
    pub fn html(&mut self) -> String {
        self.eval("document.documentElement.outerHTML")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The cookies the browser holds for `url`, as (name, value, the whole CDP cookie).
    pub fn cookies(&mut self, url: &str) -> Vec<(String, String, Value)> {
        let r = self.call("Network.getCookies", json!({"urls": [url]}));
        r["cookies"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap_or_default().to_owned(),
                    c["value"].as_str().unwrap_or_default().to_owned(),
                    c,
                )
            })
            .collect()
    }

    /// A PNG of the whole page (not only the first screen) in target/test-artifacts/.
    pub fn screenshot(&mut self, name: &str) -> PathBuf {
        let r = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        );
        let png = base64_decode(r["data"].as_str().expect("screenshot data"));
        assert!(png.starts_with(b"\x89PNG"), "screenshot is not a PNG");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts");
        fs::create_dir_all(&dir).expect("creating target/test-artifacts");
        let path = dir.join(name);
        fs::write(&path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        println!("screenshot: {}", path.display());
        path
    }
}

// What a page asked of the network, from the events `Tab::navigate` returns
// (shared by the villager pages' tests: nothing may leave the router).

/// The host of an http(s) URL; None for data:, about: and the like.
pub fn host_of(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let hostport = rest.split(['/', '?', '#']).next().unwrap_or("");
    Some(hostport.rsplit_once(':').map_or(hostport, |(h, _)| h))
}

/// Every URL the page asked for (`Network.requestWillBeSent`, redirects included).
pub fn requested_urls(events: &[Value]) -> Vec<String> {
    let mut urls = Vec::new();
    for e in events
        .iter()
        .filter(|e| e["method"] == "Network.requestWillBeSent")
    {
        if let Some(r) = e["params"]["redirectResponse"]["url"].as_str() {
            urls.push(r.to_owned());
        }
        urls.push(
            e["params"]["request"]["url"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    urls.dedup();
    urls
}

/// Bytes on the wire for everything loaded (`Network.loadingFinished`).
pub fn bytes_on_wire(events: &[Value]) -> f64 {
    events
        .iter()
        .filter(|e| e["method"] == "Network.loadingFinished")
        .filter_map(|e| e["params"]["encodedDataLength"].as_f64())
        .sum()
}

/// External references in a page's HTML: anything that would make the browser
/// leave the router (absolute http(s) or protocol-relative URLs, @import).
pub fn external_refs(html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let mut found = Vec::new();
    for pat in [
        "src=\"http",
        "src='http",
        "href=\"http",
        "href='http",
        "src=\"//",
        "href=\"//",
        "url(http",
        "url(\"http",
        "url('http",
        "url(//",
        "@import",
    ] {
        if let Some(i) = lower.find(pat) {
            found.push(html[i..(i + 80).min(html.len())].to_owned());
        }
    }
    found
}

pub fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("bad base64 byte {c}"),
    };
    let bytes: Vec<u8> = s
        .bytes()
        .filter(|&c| c != b'=' && !c.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n: u32 = 0;
        for (i, &c) in chunk.iter().enumerate() {
            n |= u32::from(val(c)) << (18 - 6 * i);
        }
        let b = n.to_be_bytes();
        out.extend_from_slice(&b[1..chunk.len()]);
    }
    out
}
