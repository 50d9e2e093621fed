//! Request -> response. Who the device is comes from the socket's peer
//! address and the kernel's neighbour table, never from the request.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tracing::{instrument, warn};

use super::ui::Page;
use super::Portal;
use crate::domain::Size;
use crate::domain::{local_hhmm, Mac, Standing};
use crate::gateway::{DeviceView, GatewayError};
use crate::lang::Language;
use crate::web::http::{escape_html, read_body, respond, BodyError, Resp};

/// A body must arrive within this time.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Who is asking: the peer's IPv4 address and, when it is on the LAN, its MAC.
struct Client {
    ip: Ipv4Addr,
    mac: Option<Mac>,
}

#[instrument(skip_all, fields(peer = %peer, method = %req.method(), path = %req.uri().path()))]
pub async fn handle(portal: &Portal, peer: SocketAddr, req: Request<Incoming>) -> Resp {
    let config = portal.gateway.config();
    let portal_host = config.network.portal_address.to_string();
    // A request for any other host reached us through the tcp/80 redirect:
    // send it to the splash page (a 302 every OS treats as "captive").
    let public_name = config.portal.https.as_ref().map(|t| t.public_name.as_str());
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(strip_port);
    if host.is_some_and(|h| {
        !h.eq_ignore_ascii_case(&portal_host)
            && public_name.is_none_or(|n| !h.eq_ignore_ascii_case(n))
    }) {
        return redirect(StatusCode::FOUND, &portal_url(portal));
    }
    let client = identify(portal, peer);
    let lang = query_lang(req.uri().query()).unwrap_or(config.site.language);
    if req.method() == Method::POST && matches!(req.uri().path(), "/login" | "/logout" | "/quiz") {
        let hosts: Vec<&str> = [portal_host.as_str()]
            .into_iter()
            .chain(public_name)
            .collect();
        if let Some(why) = super::origin::cross_site(req.headers(), &hosts) {
            // Debug only: a page posting in a loop must not fill the journal.
            tracing::debug!(?why, "cross-site form refused");
            return message(
                portal,
                StatusCode::FORBIDDEN,
                lang,
                "cross_site_title",
                "cross_site",
            );
        }
    }
    let result = match (req.method(), req.uri().path()) {
        (&Method::GET | &Method::HEAD, "/") => splash(portal, &client, lang),
        (&Method::GET | &Method::HEAD, "/status") => status(portal, &client, lang),
        (&Method::GET | &Method::HEAD, "/api/captive") => captive_api(portal, &client),
        (&Method::GET | &Method::HEAD, "/info") => {
            Ok(html(StatusCode::OK, super::pages::info(portal, lang)))
        }
        (&Method::GET | &Method::HEAD, "/privasi") => {
            Ok(html(StatusCode::OK, super::pages::privacy(portal, lang)))
        }
        (&Method::POST, path @ ("/login" | "/quiz" | "/logout")) => {
            let path = path.to_owned();
            match read_form(req, config.portal.max_body.0 as usize).await {
                Ok(form) => {
                    let lang = form_lang(&form).unwrap_or(lang);
                    match too_many(portal, &client, lang) {
                        Some(resp) => Ok(resp),
                        None if path == "/login" => login(portal, &client, lang).await,
                        None if path == "/quiz" => quiz(portal, &client, &form, lang).await,
                        None => logout(portal, &client, lang).await,
                    }
                }
                Err(resp) => Ok(resp),
            }
        }
        (
            _,
            "/" | "/status" | "/api/captive" | "/info" | "/privasi" | "/login" | "/logout"
            | "/quiz",
        ) => Ok(message(
            portal,
            StatusCode::METHOD_NOT_ALLOWED,
            lang,
            "error_title",
            "not_found",
        )),
        _ => Ok(message(
            portal,
            StatusCode::NOT_FOUND,
            lang,
            "not_found_title",
            "not_found",
        )),
    };
    result.unwrap_or_else(|e| {
        warn!(error = %e, "portal request failed");
        message(
            portal,
            StatusCode::INTERNAL_SERVER_ERROR,
            lang,
            "error_title",
            "error",
        )
    })
}

/// The per-device limit on the forms (`limit.rs`): a 429 page with
/// `Retry-After` when this device posted too often, before anything is done.
fn too_many(portal: &Portal, client: &Client, lang: Language) -> Option<Resp> {
    let mac = client.mac?;
    let wait = portal.posts.check(mac, std::time::Instant::now()).err()?;
    tracing::debug!(mac = %mac, "portal form rate-limited");
    let mut resp = message(
        portal,
        StatusCode::TOO_MANY_REQUESTS,
        lang,
        "busy_title",
        "busy",
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(wait));
    Some(resp)
}

fn splash(portal: &Portal, client: &Client, lang: Language) -> Result<Resp, GatewayError> {
    let Some(mac) = client.mac else {
        return Ok(not_on_lan(portal, lang));
    };
    let view = portal.gateway.view(mac)?;
    if view.session.is_some() {
        return Ok(redirect(
            StatusCode::SEE_OTHER,
            &format!("/status?lang={lang}"),
        ));
    }
    if let Some((title, body)) = super::hours::closed(portal, lang) {
        // No Connect button while closed: only when it opens.
        return Ok(message_text(portal, StatusCode::OK, lang, &title, &body));
    }
    let config = portal.gateway.config();
    let n = portal.tip_counter.fetch_add(1, Ordering::Relaxed);
    let tip = portal.ui.tip(n);
    let tip_text = match lang {
        Language::Id => tip.id.as_str(),
        Language::En => tip.en.as_str(),
    };
    let mut notice = if view.blocked {
        notice_html(portal, lang, "blocked")
    } else {
        String::new()
    };
    notice.push_str(&super::pages::uplink_notice(portal, lang));
    notice.push_str(&clock_notice(portal, lang));
    notice.push_str(&super::power::notice(portal, lang));
    let page = portal.ui.render(
        Page::Splash,
        lang,
        &[
            ("site_name", &config.site.name),
            ("regency", &config.site.regency),
            ("tip", tip_text),
            ("pillar", tip.pillar.name(lang)),
            ("other_lang", lang.other().tag()),
            ("notice_html", &notice),
        ],
    );
    Ok(html(StatusCode::OK, page))
}

fn status(portal: &Portal, client: &Client, lang: Language) -> Result<Resp, GatewayError> {
    let Some(mac) = client.mac else {
        return Ok(not_on_lan(portal, lang));
    };
    let view = portal.gateway.view(mac)?;
    if view.session.is_none() {
        return Ok(redirect(StatusCode::SEE_OTHER, &format!("/?lang={lang}")));
    }
    let config = portal.gateway.config();
    let left = if view.exempt {
        portal.ui.text(lang, "unlimited").to_owned()
    } else {
        Size(view.daily_data.saturating_sub(view.used_today)).to_string()
    };
    let reset = local_hhmm(view.quota_resets, &config.site.timezone);
    // One headline: connected (slowed after the quota too), or cut off.
    let (headline, state) = match view.standing {
        Standing::Normal => (
            "status_title",
            portal.ui.text(lang, "state_online").to_owned(),
        ),
        Standing::Throttled => (
            "status_title",
            portal
                .ui
                .text_with(lang, "state_throttled", &[("reset", &reset)]),
        ),
        Standing::Cut => (
            "quota_cut_title",
            portal.ui.text_with(lang, "state_cut", &[("reset", &reset)]),
        ),
    };
    let page = portal.ui.render(
        Page::Status,
        lang,
        &[
            ("site_name", &config.site.name),
            ("regency", &config.site.regency),
            ("headline", portal.ui.text(lang, headline)),
            ("state", &state),
            ("time_left", &time_left(view.seconds_remaining, lang)),
            ("data_used", &Size(view.used_today).to_string()),
            ("data_left", &left),
            (
                "notice_html",
                &(super::pages::uplink_notice(portal, lang)
                    + &clock_notice(portal, lang)
                    + &super::hours::closing_notice(portal, lang)
                    + &super::power::notice(portal, lang)),
            ),
            (
                "quiz_html",
                &super::quiz_card::status_card(portal, mac, lang)?,
            ),
            ("other_lang", lang.other().tag()),
        ],
    );
    Ok(html(StatusCode::OK, page))
}

/// `POST /quiz`: only for a device with a session (the status page's form).
async fn quiz(
    portal: &Portal,
    client: &Client,
    form: &[u8],
    lang: Language,
) -> Result<Resp, GatewayError> {
    let Some(mac) = client.mac else {
        return Ok(not_on_lan(portal, lang));
    };
    // Online (the status page's form), or cut off after the quota (the
    // "quota used" page's form); nobody else has a quiz to answer.
    let view = portal.gateway.view(mac)?;
    if view.session.is_none() && view.standing != Standing::Cut {
        return Ok(redirect(StatusCode::SEE_OTHER, &format!("/?lang={lang}")));
    }
    match super::quiz_card::answer(portal, mac, form, lang).await? {
        Some((code, title, body)) => Ok(message_text(portal, code, lang, &title, &body)),
        None => Ok(redirect(
            StatusCode::SEE_OTHER,
            &format!("/status?lang={lang}"),
        )),
    }
}

async fn login(portal: &Portal, client: &Client, lang: Language) -> Result<Resp, GatewayError> {
    let Some(mac) = client.mac else {
        return Ok(not_on_lan(portal, lang));
    };
    match portal.gateway.admit(mac, client.ip).await {
        // A full-page navigation (not XHR), so Apple's sheet turns "Cancel" into "Done".
        Ok(_) => {
            // Its browser's sockets that were redirected here while captive
            // would keep coming here: close them (this one after the 303).
            portal.close_connections_of(IpAddr::V4(client.ip));
            Ok(redirect(
                StatusCode::SEE_OTHER,
                &format!("/status?lang={lang}"),
            ))
        }
        Err(GatewayError::Closed { .. }) => {
            let (title, body) = super::hours::closed(portal, lang).unwrap_or_default();
            Ok(message_text(
                portal,
                StatusCode::SERVICE_UNAVAILABLE,
                lang,
                &title,
                &body,
            ))
        }
        Err(GatewayError::PowerEmergency) => {
            let (title, body) = super::power::refused(portal, lang);
            Ok(message_text(
                portal,
                StatusCode::SERVICE_UNAVAILABLE,
                lang,
                &title,
                &body,
            ))
        }
        Err(GatewayError::Blocked(_)) => Ok(message(
            portal,
            StatusCode::FORBIDDEN,
            lang,
            "blocked_title",
            "blocked",
        )),
        Err(GatewayError::Full(_)) => Ok(message(
            portal,
            StatusCode::SERVICE_UNAVAILABLE,
            lang,
            "full_title",
            "full",
        )),
        Err(GatewayError::IdentityTaken(_)) => Ok(message(
            portal,
            StatusCode::CONFLICT,
            lang,
            "identity_taken_title",
            "identity_taken",
        )),
        Err(GatewayError::QuotaUsed(_)) => {
            let view = portal.gateway.view(mac)?;
            let reset = local_hhmm(view.quota_resets, &portal.gateway.config().site.timezone);
            let body = portal.ui.text_with(lang, "quota_cut", &[("reset", &reset)]);
            // The quota is used: the quiz may earn more for today.
            let quiz = super::quiz_card::status_card(portal, mac, lang)?;
            let page = portal.ui.render(
                Page::Message,
                lang,
                &[
                    ("title", portal.ui.text(lang, "quota_cut_title")),
                    ("body", &body),
                    ("quiz_html", &quiz),
                    ("other_lang", lang.other().tag()),
                ],
            );
            Ok(html(StatusCode::FORBIDDEN, page))
        }
        Err(e) => Err(e),
    }
}

async fn logout(portal: &Portal, client: &Client, lang: Language) -> Result<Resp, GatewayError> {
    let Some(mac) = client.mac else {
        return Ok(not_on_lan(portal, lang));
    };
    portal.gateway.revoke(mac, "logout").await?;
    Ok(redirect(StatusCode::SEE_OTHER, &format!("/?lang={lang}")))
}

/// RFC 8908: the captive-portal API.
fn captive_api(portal: &Portal, client: &Client) -> Result<Resp, GatewayError> {
    let view = match client.mac {
        Some(mac) => Some(portal.gateway.view(mac)?),
        None => None,
    };
    let body = captive_json(&user_portal_url(portal), view.as_ref());
    debug_assert!(body.len() < 4096, "RFC 8908 JSON stays small");
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/captive+json"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(resp)
}

/// The RFC 8908 JSON for a device (or for an unknown client: captive).
///
/// - captive, blocked, or cut off after its quota: `captive: true`;
/// - online, or throttled after its quota (still online, slower):
///   `captive: false` with `seconds-remaining` and, unless exempt,
///   `bytes-remaining` (0 when throttled).
///
/// `can-extend-session` is false: a session cannot be lengthened from the
/// portal; when it ends the villager taps Connect again.
pub fn captive_json(portal_url: &str, view: Option<&DeviceView>) -> String {
    let venue = format!("{portal_url}info");
    let mut doc = serde_json::json!({ "captive": true, "user-portal-url": portal_url, "venue-info-url": venue, "can-extend-session": false });
    if let Some(v) =
        view.filter(|v| v.session.is_some() && v.standing != Standing::Cut && !v.blocked)
    {
        doc["captive"] = false.into();
        doc["seconds-remaining"] = v.seconds_remaining.into();
        if !v.exempt {
            doc["bytes-remaining"] = v.daily_data.saturating_sub(v.used_today).into();
        }
    }
    doc.to_string()
}

fn identify(portal: &Portal, peer: SocketAddr) -> Client {
    let ip = match peer.ip() {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(v6) => v6.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED),
    };
    let mac = if ip.is_unspecified() {
        None
    } else {
        portal.mac_of(ip)
    };
    Client { ip, mac }
}

/// Time left as a villager reads it: "3 jam 59 menit" / "3 h 59 min".
fn time_left(secs: i64, lang: Language) -> String {
    let (h, m) = (secs / 3600, (secs % 3600 + 59) / 60);
    let (h, m) = if m == 60 { (h + 1, 0) } else { (h, m) };
    let (hours, minutes) = match lang {
        Language::Id => ("jam", "menit"),
        Language::En => ("h", "min"),
    };
    match (h, m) {
        (0, m) => format!("{m} {minutes}"),
        (h, 0) => format!("{h} {hours}"),
        (h, m) => format!("{h} {hours} {m} {minutes}"),
    }
}

/// RFC 8908's user-portal-url: the HTTPS name when one is configured.
fn user_portal_url(portal: &Portal) -> String {
    match &portal.gateway.config().portal.https {
        Some(tls) => format!("https://{}:{}/", tls.public_name, tls.listen.port()),
        None => portal_url(portal),
    }
}

/// Where captive plain-HTTP requests are sent: the portal by address, so it
/// works before DNS and without trusting any certificate.
fn portal_url(portal: &Portal) -> String {
    let config = portal.gateway.config();
    format!(
        "http://{}:{}/",
        config.network.portal_address,
        config.portal.listen.port()
    )
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split_once(']').map_or(host, |(addr, _)| addr);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

fn query_lang(query: Option<&str>) -> Option<Language> {
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix("lang=")?.parse().ok())
}

fn form_lang(form: &[u8]) -> Option<Language> {
    std::str::from_utf8(form)
        .ok()
        .and_then(|s| query_lang(Some(s)))
}

/// Read a small form body, bounded in size and time.
async fn read_form(req: Request<Incoming>, limit: usize) -> Result<Bytes, Resp> {
    match read_body(req, limit, BODY_TIMEOUT).await {
        Ok(req) => Ok(req.into_body()),
        Err(BodyError::TooLarge) => Err(plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large or malformed\n",
        )),
        Err(BodyError::TooSlow) => Err(plain(
            StatusCode::REQUEST_TIMEOUT,
            "request body too slow\n",
        )),
    }
}

fn not_on_lan(portal: &Portal, lang: Language) -> Resp {
    message(
        portal,
        StatusCode::FORBIDDEN,
        lang,
        "no_device_title",
        "no_device",
    )
}

fn notice_html(portal: &Portal, lang: Language, key: &str) -> String {
    format!(
        "<p class=\"notice\">{}</p>",
        escape_html(portal.ui.text(lang, key))
    )
}

/// While the router's clock is behind the last time seen (no RTC, NTP not
/// yet answered): the notice that today's quota is the last known day's
/// and times shown are estimates. Empty otherwise.
fn clock_notice(portal: &Portal, lang: Language) -> String {
    if !portal.gateway.clock_behind() {
        return String::new();
    }
    notice_html(portal, lang, "clock_behind")
}

fn message(portal: &Portal, code: StatusCode, lang: Language, title: &str, body: &str) -> Resp {
    message_text(
        portal,
        code,
        lang,
        portal.ui.text(lang, title),
        portal.ui.text(lang, body),
    )
}

fn message_text(
    portal: &Portal,
    code: StatusCode,
    lang: Language,
    title: &str,
    body: &str,
) -> Resp {
    let page = portal.ui.render(
        Page::Message,
        lang,
        &[
            ("title", title),
            ("body", body),
            ("other_lang", lang.other().tag()),
        ],
    );
    html(code, page)
}

fn html(code: StatusCode, page: String) -> Resp {
    let mut resp = respond(code, "text/html; charset=utf-8", page);
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn plain(code: StatusCode, text: &'static str) -> Resp {
    let mut resp = respond(code, "text/plain; charset=utf-8", text);
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

fn redirect(code: StatusCode, location: &str) -> Resp {
    let body = format!("<a href=\"{0}\">{0}</a>\n", escape_html(location));
    let mut resp = respond(code, "text/html; charset=utf-8", body);
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(location) {
        h.insert(header::LOCATION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_ports_but_not_ipv6() {
        assert_eq!(strip_port("10.77.0.1:2050"), "10.77.0.1");
        assert_eq!(strip_port("example.com"), "example.com");
        assert_eq!(strip_port("[::1]:80"), "::1");
        assert_eq!(strip_port("[::1]"), "::1");
    }

    #[test]
    fn time_left_reads_naturally() {
        assert_eq!(time_left(4 * 3600, Language::Id), "4 jam");
        assert_eq!(time_left(3 * 3600 + 59 * 60 + 30, Language::Id), "4 jam");
        assert_eq!(time_left(2 * 3600 + 15 * 60, Language::En), "2 h 15 min");
        assert_eq!(time_left(61, Language::Id), "2 menit");
        assert_eq!(time_left(0, Language::Id), "0 menit");
    }

    #[test]
    fn language_comes_from_query_or_form() {
        assert_eq!(query_lang(Some("a=1&lang=en")), Some(Language::En));
        assert_eq!(query_lang(Some("lang=xx")), None);
        assert_eq!(form_lang(b"lang=id"), Some(Language::Id));
    }

    #[test]
    fn captive_json_follows_rfc_8908() {
        let url = "http://10.77.0.1:2050/";
        let captive: serde_json::Value = serde_json::from_str(&captive_json(url, None)).unwrap();
        let venue = format!("{url}info");
        assert_eq!(
            captive,
            serde_json::json!({"captive": true, "user-portal-url": url, "venue-info-url": venue, "can-extend-session": false})
        );
        let view = DeviceView {
            mac: "02:77:00:00:00:01".parse().unwrap(),
            ip: Some(Ipv4Addr::new(10, 77, 0, 11)),
            first_seen: 0,
            quota: Default::default(),
            blocked: false,
            session: Some(crate::domain::Session::new(
                Ipv4Addr::new(10, 77, 0, 11),
                0,
                100,
            )),
            seconds_remaining: 90,
            used_today: 100,
            daily_data: 1000,
            exempt: false,
            trust: None,
            standing: crate::domain::Standing::Normal,
            quota_resets: 0,
        };
        let online: serde_json::Value =
            serde_json::from_str(&captive_json(url, Some(&view))).unwrap();
        assert_eq!(online["captive"], false);
        assert_eq!(online["seconds-remaining"], 90);
        assert_eq!(online["bytes-remaining"], 900);
        let cut = DeviceView {
            standing: crate::domain::Standing::Cut,
            used_today: 2000,
            ..view.clone()
        };
        let cut: serde_json::Value = serde_json::from_str(&captive_json(url, Some(&cut))).unwrap();
        assert_eq!(
            cut["captive"], true,
            "cut off after quota: captive (walled garden only)"
        );
        let throttled = DeviceView {
            standing: crate::domain::Standing::Throttled,
            used_today: 2000,
            ..view.clone()
        };
        let throttled: serde_json::Value =
            serde_json::from_str(&captive_json(url, Some(&throttled))).unwrap();
        assert_eq!(
            (
                throttled["captive"].clone(),
                throttled["bytes-remaining"].clone()
            ),
            (false.into(), 0.into()),
            "throttled is still online"
        );
        let blocked = DeviceView {
            blocked: true,
            ..view.clone()
        };
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&captive_json(url, Some(&blocked))).unwrap()
                ["captive"],
            true
        );
        // RFC 8908: small UTF-8 JSON, even for the longest URL we can make.
        let long_url = format!("https://{}:65535/", "a".repeat(253));
        assert!(captive_json(&long_url, Some(&view)).len() < 4096);
        let exempt = DeviceView {
            exempt: true,
            ..view
        };
        let exempt: serde_json::Value =
            serde_json::from_str(&captive_json(url, Some(&exempt))).unwrap();
        assert!(
            exempt.get("bytes-remaining").is_none(),
            "no quota, no bytes-remaining"
        );
    }
}
