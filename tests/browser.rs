//! A real browser as the villager: headless Chromium inside phone 1's
//! namespace, a 360×640 phone screen, driven through the Chrome DevTools
//! Protocol. It opens a plain-HTTP page while captive, lands on the splash
//! page, taps "Sambungkan" and gets online. Screenshots are written to
//! `target/test-artifacts/`.
//!
//! Chromium is driven with `--remote-debugging-pipe` (CDP as NUL-separated
//! JSON on fds 3 and 4; `testkit/src/cdp.rs`, shared with the admin
//! console's test): no debugging port inside the phone's namespace.

use desawifi_testkit as common;
use desawifi_testkit::cdp;

use std::time::Instant;

use cdp::{
    base64_decode, bytes_on_wire, external_refs, host_of, requested_urls, Browser, Tab,
    LOAD_TIMEOUT,
};
use common::{tag_for, Daemon, Village};

const UPSTREAM: &str = "http://198.51.100.2/";
const PORTAL_HOST: &str = "10.77.0.1";
const UPSTREAM_HOST: &str = "198.51.100.2";
/// The phone's screen, CSS pixels.
const SCREEN: (u32, u32) = (360, 640);
/// The most the splash page (and everything it loads) may weigh on the wire.
const SPLASH_BUDGET: f64 = 30.0 * 1024.0;

/// The villager's path from captive to online: open a plain-HTTP site, land on
/// the splash page (checked: what it shows, that it fits the screen, that it
/// asks nothing outside the router, its weight), tap "Sambungkan", land on the
/// status page. Screenshots of both pages, named `{shot_prefix}-splash-360x640.png`
/// and `{shot_prefix}-status-360x640.png`.
fn captive_then_tap(tab: &mut Tab, d: &Daemon, shot_prefix: &str) {
    // Captive: the villager opens some plain-HTTP site and lands on the splash page.
    let events = tab.navigate(UPSTREAM);
    let url = tab.url();
    assert!(
        url.starts_with(&format!("http://{PORTAL_HOST}:2050/")),
        "captive browser must land on the portal, is at {url}\n{}",
        d.log()
    );
    let text = tab.text();
    assert!(
        text.contains("Desa Uji"),
        "village name on the splash page: {text}"
    );
    // The tip's heading is upper-cased by CSS, so read the DOM's text, not the rendered one.
    let tip =
        tab.eval("document.querySelector('.tip') && document.querySelector('.tip').textContent");
    let tip = tip.as_str().unwrap_or_default();
    assert!(
        tip.contains("Tip literasi digital") && tip.len() > 60,
        "a digital literacy tip: {tip:?}\n{text}"
    );
    let button = tab.eval(
        "(() => { const b = document.querySelector('form[action=\"/login\"] button[type=submit]'); \
         if (!b) return null; const r = b.getBoundingClientRect(); \
         return {text: b.innerText, top: r.top, left: r.left, right: r.right, bottom: r.bottom}; })()",
    );
    assert_eq!(
        button["text"].as_str().map(str::trim),
        Some("Sambungkan"),
        "the connect button: {button}"
    );
    // The button fits the phone's width and the first screen (no scrolling to reach it).
    let (w, h) = (f64::from(SCREEN.0), f64::from(SCREEN.1));
    assert!(
        button["left"].as_f64().unwrap() >= 0.0 && button["right"].as_f64().unwrap() <= w,
        "{button}"
    );
    assert!(
        button["bottom"].as_f64().unwrap() <= h,
        "the button is below the first screen: {button}"
    );
    let page_width = tab
        .eval("document.documentElement.scrollWidth")
        .as_f64()
        .unwrap();
    assert!(
        page_width <= w,
        "splash page is {page_width}px wide on a {w}px screen"
    );
    tab.screenshot(&format!("{shot_prefix}-splash-360x640.png"));

    // Nothing leaves the router: the only hosts asked are the one typed (redirected) and the portal.
    let urls = requested_urls(&events);
    assert!(
        urls.iter().any(|u| u.starts_with(UPSTREAM)),
        "the original request: {urls:?}"
    );
    for u in &urls {
        let host = host_of(u);
        assert!(
            host.is_none() || host == Some(UPSTREAM_HOST) || host == Some(PORTAL_HOST),
            "splash page made a request outside the router: {u} (all: {urls:?})"
        );
    }
    let html = tab
        .eval("document.documentElement.outerHTML")
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        external_refs(&html),
        Vec::<String>::new(),
        "external references in the splash HTML"
    );
    let weight = bytes_on_wire(&events);
    assert!(
        weight > 0.0 && weight < SPLASH_BUDGET,
        "splash page weighs {weight} bytes, budget {SPLASH_BUDGET}"
    );
    println!("splash page: {weight} bytes on the wire, requests: {urls:?}");

    // Tap "Sambungkan": a full-page form POST, then the status page.
    tab.b.take_events();
    tab.eval(
        "(() => { const b = document.querySelector('form[action=\"/login\"] button, form[action=\"/login\"] [type=submit]'); \
         b.click(); return true; })()",
    );
    tab.b.wait_event("Page.loadEventFired", LOAD_TIMEOUT);
    let events = tab.b.take_events();
    let posted = events.iter().any(|e| {
        e["method"] == "Network.requestWillBeSent"
            && e["params"]["request"]["method"] == "POST"
            && e["params"]["request"]["url"]
                .as_str()
                .is_some_and(|u| u.ends_with("/login"))
    });
    assert!(
        posted,
        "the tap must POST /login: {:?}",
        requested_urls(&events)
    );
    let url = tab.url();
    assert!(
        url.contains("/status"),
        "after the tap the browser is at {url}\n{}",
        d.log()
    );
    let text = tab.text();
    assert!(
        text.contains("Keluar"),
        "status page has the logout button: {text}"
    );
    let time_left = tab.eval(
        "[...document.querySelectorAll('dl.stats div')].filter(d => d.querySelector('dt').textContent.includes('Waktu tersisa')).map(d => d.querySelector('dd').textContent)[0]",
    );
    let time_left = time_left.as_str().unwrap_or_default();
    assert!(
        time_left.starts_with('4') || time_left.starts_with('3'),
        "time left of a fresh 4h session: {time_left:?}\n{text}"
    );
    tab.screenshot(&format!("{shot_prefix}-status-360x640.png"));
}

/// Loads the upstream site and checks it came from the internet, not the portal.
fn reaches_upstream(tab: &mut Tab, d: &Daemon, what: &str) {
    let events = tab.navigate(UPSTREAM);
    let url = tab.url();
    let text = tab.text();
    // Where each response came from, to tell a kept-alive captive connection apart.
    let mut hops = Vec::new();
    for e in &events {
        let r = match e["method"].as_str() {
            Some("Network.responseReceived") => &e["params"]["response"],
            Some("Network.requestWillBeSent") if !e["params"]["redirectResponse"].is_null() => {
                &e["params"]["redirectResponse"]
            }
            _ => continue,
        };
        hops.push(format!(
            "{} {} (connection {}, reused {})",
            r["url"], r["status"], r["connectionId"], r["connectionReused"]
        ));
    }
    assert!(
        url == UPSTREAM && text.starts_with("upstream ok"),
        "{what}: online browser must reach upstream, is at {url} showing {text:?}; responses: {hops:?}\n{}",
        d.log()
    );
}

#[test]
fn a_villager_connects_with_a_real_browser() {
    let t0 = Instant::now();
    let v = Village::up(&tag_for("browser::a_villager_connects"), 1);
    let d = Daemon::start(&v, "");
    let mut browser = Browser::launch(
        &v.phone(1),
        &v.run_dir(),
        &[format!("--window-size={},{}", SCREEN.0, SCREEN.1)],
    );
    let mut tab = Tab::open(&mut browser, false, SCREEN.0, SCREEN.1, true);
    captive_then_tap(&mut tab, &d, "browser");
    drop(tab);

    // Online: the site now comes from the internet. A new browser context has
    // its own socket pool, so no connection opened while captive is reused
    // (the same tab is the next test).
    let mut tab = Tab::open(&mut browser, true, SCREEN.0, SCREEN.1, true);
    reaches_upstream(&mut tab, &d, "new browser context");
    tab.screenshot("browser-online-360x640.png");
    drop(tab);
    drop(browser);
    println!("browser test took {:.1}s", t0.elapsed().as_secs_f64());
}

/// The same tab right after the tap. While captive, Chromium opened more
/// than one keep-alive connection to 198.51.100.2 (a spare, preconnected one
/// too); the firewall redirected all of them to the portal, and conntrack
/// would keep sending them there, so the villager's next page would show the
/// portal again. The portal closes a phone's connections when it logs in, so
/// the same tab reaches the site at once.
#[test]
fn the_same_tab_reaches_the_site_right_after_the_tap() {
    let v = Village::up(&tag_for("browser::same_tab"), 1);
    let d = Daemon::start(&v, "");
    let mut browser = Browser::launch(
        &v.phone(1),
        &v.run_dir(),
        &[format!("--window-size={},{}", SCREEN.0, SCREEN.1)],
    );
    let mut tab = Tab::open(&mut browser, false, SCREEN.0, SCREEN.1, true);
    captive_then_tap(&mut tab, &d, "browser-same-tab");
    reaches_upstream(&mut tab, &d, "same tab, right after the tap");
}

#[test]
fn base64_decodes() {
    assert_eq!(base64_decode("aGVsbG8="), b"hello");
    assert_eq!(base64_decode("aGk="), b"hi");
    assert_eq!(base64_decode("YWJj"), b"abc");
}

#[test]
fn finds_external_references() {
    assert!(external_refs("<img src=\"/logo.svg\"><a href=\"?lang=en\">").is_empty());
    assert_eq!(
        external_refs("<link href=\"https://cdn.example/x.css\">").len(),
        1
    );
    assert_eq!(external_refs("<style>@import 'x.css';</style>").len(), 1);
    assert_eq!(
        host_of("http://10.77.0.1:2050/status?lang=id"),
        Some("10.77.0.1")
    );
    assert_eq!(host_of("data:text/html,x"), None);
}
