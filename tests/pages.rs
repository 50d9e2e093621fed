//! The villager's pages on a cheap phone (issue 27): headless Chromium in a
//! phone's namespace renders the splash page, the privacy notice and the
//! venue-info page while captive, then the status page with the literacy
//! quiz once online, at 360 and 390 CSS pixels wide, in Indonesian and
//! English. From the DOM: no horizontal overflow, every tap target (quiz
//! answers, buttons, the foot's links) at least 44 pixels high, the quiz's
//! answers full-width under a readable question, one headline on the status
//! page; from the network: nothing asked outside the router, each page
//! under a byte budget. Screenshots go to `target/test-artifacts/pages-*.png`.

use desawifi_testkit as common;
use desawifi_testkit::cdp;

use cdp::{bytes_on_wire, external_refs, host_of, requested_urls, Browser, Tab};
use common::{portal_login, tag_for, Daemon, Village};
use serde_json::{json, Value};

const PORTAL: &str = "http://10.77.0.1:2050";
const PORTAL_HOST: &str = "10.77.0.1";
/// Cheap phones' screens, CSS pixels wide.
const WIDTHS: [u32; 2] = [360, 390];
const HEIGHT: u32 = 760;
/// The smallest comfortable tap target, CSS pixels (WCAG 2.5.5, Apple's HIG).
const TAP: f64 = 44.0;
/// The most one page (and everything it loads) may weigh on the wire, as
/// for the splash page in tests/browser.rs.
const BUDGET: f64 = 30.0 * 1024.0;
const LANGS: [&str; 2] = ["id", "en"];

/// The village's config: a garden with a suffix, two sites and an address
/// block; devices forgotten after 30 days (the privacy notice says so).
const EXTRA: &str = "forget_after = \"30d\"\n\
    [walled_garden]\naddresses = [\"203.0.113.0/24\"]\n\
    domains = [\"go.id\", \"kaltimprov.go.id\", \"lapor.go.id\"]\n";

/// Opens `url`, and checks what every portal page must: it is the page
/// asked for, asks nothing outside the router, stays under the budget, has
/// no script and no external reference, fits the screen's width, and each
/// tap target is at least [`TAP`] pixels high. Saves a screenshot
/// `pages-{name}-{width}-{lang}.png`; returns the page's text.
fn check_page(tab: &mut Tab, d: &Daemon, path: &str, name: &str, width: u32, lang: &str) -> String {
    let url = format!("{PORTAL}{path}");
    let events = tab.navigate(&url);
    let at = tab.url();
    assert_eq!(at, url, "opened {url}, landed on {at}\n{}", d.log());
    let what = format!("{name} at {width}px ({lang})");

    let urls = requested_urls(&events);
    assert!(!urls.is_empty(), "{what}: no request seen");
    for u in &urls {
        let host = host_of(u);
        assert!(
            host.is_none() || host == Some(PORTAL_HOST),
            "{what} asked outside the router: {u} (all: {urls:?})"
        );
    }
    let html = tab.html();
    assert_eq!(external_refs(&html), Vec::<String>::new(), "{what}");
    assert!(
        !html.to_ascii_lowercase().contains("<script"),
        "{what} has a script"
    );
    let weight = bytes_on_wire(&events);
    assert!(
        weight > 0.0 && weight < BUDGET,
        "{what} weighs {weight} bytes, budget {BUDGET}"
    );
    println!("{what}: {weight} bytes on the wire");

    let fit = tab.eval("[document.documentElement.scrollWidth, window.innerWidth]");
    let (scroll, inner) = (fit[0].as_f64().unwrap(), fit[1].as_f64().unwrap());
    assert!(
        inner == f64::from(width) && scroll <= inner,
        "{what}: the page is {scroll}px wide in a {inner}px window"
    );

    let small = tab.eval(&format!(
        "[...document.querySelectorAll('button, .btn, .switch a, label.opt')]\
         .map(e => {{ const r = e.getBoundingClientRect(); return {{text: e.textContent.trim(), h: r.height, w: r.width}}; }})\
         .filter(t => t.h < {TAP} || t.w < {TAP})"
    ));
    assert_eq!(small, json!([]), "{what}: tap targets under {TAP}px");
    let privacy = tab.eval("!!document.querySelector('.switch a[href^=\"/privasi\"]')");
    assert_eq!(
        privacy,
        json!(true),
        "{what}: no link to the privacy notice"
    );
    tab.screenshot(&format!("pages-{name}-{width}-{lang}.png"));
    tab.text()
}

/// The quiz card's geometry: the question (legend) inside the card and
/// above the answers, each answer full-width and tall enough.
fn check_quiz(tab: &mut Tab, what: &str) {
    let q = tab.eval(
        "(() => { const f = document.querySelector('form[action=\"/quiz\"] fieldset'); if (!f) return null; \
         const box = e => { const r = e.getBoundingClientRect(); return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, h: r.height, w: r.width}; }; \
         const legend = f.querySelector('legend'); \
         return {fieldset: box(f), card: box(f.closest('.card')), legend: box(legend), question: legend.textContent.trim(), \
           labels: [...f.querySelectorAll('label')].map(l => ({box: box(l), radios: l.querySelectorAll('input[type=radio]').length, text: l.textContent.trim()}))}; })()",
    );
    assert!(!q.is_null(), "{what}: no quiz on the status page");
    let f = |v: &Value, k: &str| v[k].as_f64().unwrap();
    let labels = q["labels"].as_array().unwrap();
    assert!((3..=4).contains(&labels.len()), "{what}: {q}");
    assert!(q["question"].as_str().unwrap().len() > 10, "{what}: {q}");
    let (legend, fieldset, card) = (&q["legend"], &q["fieldset"], &q["card"]);
    assert!(
        f(legend, "top") >= f(card, "top") && f(legend, "bottom") <= f(&labels[0]["box"], "top"),
        "{what}: the question must sit inside the card, above the answers: {q}"
    );
    for l in labels {
        let b = &l["box"];
        assert_eq!(l["radios"], 1, "{what}: one radio button per label: {l}");
        assert!(
            f(b, "h") >= TAP,
            "{what}: answer box under {TAP}px high: {l}"
        );
        assert!(
            f(b, "w") >= f(fieldset, "w") - 1.0,
            "{what}: an answer is not full-width: {l} in {fieldset}"
        );
        assert!(!l["text"].as_str().unwrap().is_empty(), "{what}: {l}");
    }
    // Each answer is its own row: no two share a line.
    for pair in labels.windows(2) {
        assert!(
            f(&pair[1]["box"], "top") >= f(&pair[0]["box"], "bottom"),
            "{what}: answers overlap or share a line: {pair:?}"
        );
    }
}

/// Taps answer `n` (1-based) at the far end of its label, away from the
/// radio button, as a thumb would; returns which radio is then checked.
fn tap_answer(tab: &mut Tab, n: usize) -> Value {
    let at = tab.eval(&format!(
        "(() => {{ const l = document.querySelectorAll('form[action=\"/quiz\"] label')[{}]; \
         l.scrollIntoView({{block: 'center'}}); const r = l.getBoundingClientRect(); \
         return [r.right - 12, r.top + r.height / 2]; }})()",
        n - 1
    ));
    let (x, y) = (at[0].as_f64().unwrap(), at[1].as_f64().unwrap());
    tab.call(
        "Input.dispatchTouchEvent",
        json!({"type": "touchStart", "touchPoints": [{"x": x, "y": y}]}),
    );
    tab.call(
        "Input.dispatchTouchEvent",
        json!({"type": "touchEnd", "touchPoints": []}),
    );
    tab.eval(
        "[...document.querySelectorAll('form[action=\"/quiz\"] input[type=radio]')].findIndex(i => i.checked) + 1",
    )
}

#[test]
fn the_villagers_pages_read_well_on_a_cheap_phone() {
    let v = Village::up(&tag_for("pages::cheap_phone"), 1);
    let d = Daemon::start(&v, EXTRA);
    let mut browser = Browser::launch(&v.phone(1), &v.run_dir(), &[]);

    // Captive: the splash page, the privacy notice (a tap on the foot's
    // link, then loaded on its own for its weight) and the venue-info page.
    for lang in LANGS {
        let id = lang == "id";
        for width in WIDTHS {
            let mut tab = Tab::open(&mut browser, true, width, HEIGHT, true);
            let text = check_page(
                &mut tab,
                &d,
                &format!("/?lang={lang}"),
                "splash",
                width,
                lang,
            );
            assert!(
                text.contains(if id { "Sambungkan" } else { "Connect" }),
                "{text}"
            );
            tab.click_and_wait(".switch a[href^=\"/privasi\"]");
            let url = tab.url();
            assert_eq!(
                url,
                format!("{PORTAL}/privasi?lang={lang}"),
                "the privacy link"
            );

            let text = check_page(
                &mut tab,
                &d,
                &format!("/privasi?lang={lang}"),
                "privasi",
                width,
                lang,
            );
            let expect: &[&str] = if id {
                &[
                    "Pemberitahuan privasi",
                    "Alamat MAC",
                    "30 hari",
                    "120 hari",
                    "Situs atau aplikasi apa yang Anda buka",
                    "admin kabupaten",
                    "kantor desa Desa Uji",
                    "Nomor 27 Tahun 2022",
                ]
            } else {
                &[
                    "Privacy notice",
                    "MAC address",
                    "30 days",
                    "120 days",
                    "Which sites or apps you open",
                    "regency's admins",
                    "village office of Desa Uji",
                    "Law No. 27 of 2022",
                ]
            };
            for e in expect {
                assert!(
                    text.contains(e),
                    "privacy notice ({lang}) lacks {e:?}:\n{text}"
                );
            }

            let text = check_page(
                &mut tab,
                &d,
                &format!("/info?lang={lang}"),
                "info",
                width,
                lang,
            );
            let expect: &[&str] = if id {
                &[
                    "tanpa login dan tanpa kuota",
                    "kaltimprov.go.id",
                    "lapor.go.id",
                    "semua situs yang berakhiran .go.id",
                    "Gratis setelah tersambung",
                    "tidak memotong kuota",
                    "Kesehatan",
                    "Pendidikan",
                    "Layanan publik",
                    "halodoc.com",
                ]
            } else {
                &[
                    "without logging in and without using your quota",
                    "kaltimprov.go.id",
                    "every site ending in .go.id",
                    "Free once you are connected",
                    "cost none of your daily quota",
                    "Kesehatan",
                    "Pendidikan",
                    "Layanan publik",
                    "halodoc.com",
                ]
            };
            for e in expect {
                assert!(text.contains(e), "info page ({lang}) lacks {e:?}:\n{text}");
            }
            // The address block is a small line for the technician, not a service.
            let lists = tab.eval(
                "[...document.querySelectorAll('ul.list')].map(u => u.textContent).join(' ')",
            );
            assert!(!lists.as_str().unwrap().contains("203.0.113"), "{lists}");
            let tech = tab.eval(
                "document.querySelector('.tech') && document.querySelector('.tech').textContent",
            );
            assert!(
                tech.as_str().is_some_and(|t| t.contains("203.0.113.0/24")),
                "{tech}"
            );
        }
    }

    // Online: the status page, with the quiz (shown until it is answered).
    assert_eq!(portal_login(&v, 1).code, 303, "{}", d.log());
    for lang in LANGS {
        let id = lang == "id";
        for width in WIDTHS {
            let mut tab = Tab::open(&mut browser, true, width, HEIGHT, true);
            let text = check_page(
                &mut tab,
                &d,
                &format!("/status?lang={lang}"),
                "status",
                width,
                lang,
            );
            let what = format!("status at {width}px ({lang})");
            // One headline: "connected" is said once.
            let card = tab.eval("document.querySelector('.card').textContent");
            let card = card.as_str().unwrap().to_lowercase();
            let word = if id { "tersambung" } else { "connected" };
            assert_eq!(card.matches(word).count(), 1, "{what}: {card:?}");
            let h2 = tab.eval("document.querySelector('.card h2').textContent");
            assert_eq!(
                h2,
                json!(if id {
                    "Anda sudah tersambung"
                } else {
                    "You are connected"
                }),
                "{what}\n{text}"
            );
            check_quiz(&mut tab, &what);
            assert_eq!(
                tap_answer(&mut tab, 2),
                json!(2),
                "{what}: tapping an answer's text picks it"
            );
            assert_eq!(tap_answer(&mut tab, 3), json!(3), "{what}: and another");
            tab.screenshot(&format!("pages-status-{width}-{lang}-tapped.png"));
        }
    }
}
