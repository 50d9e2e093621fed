//! The admin API's JSON bodies, through the real handler: the fuzzer's bytes
//! are the body of an admin's request to one of the routes that parse JSON
//! (`api::handle`, so the route's own checks, the JSON parse, the unit and
//! range validation of every `[quota]` key and the change itself run).
//!
//! Input: byte 0 picks the route (and whether the MAC has been seen), the
//! rest is the body, sent with `Content-Type: application/json` by a logged-in
//! admin (a bearer session from a real account in the store). The gateway is
//! the one the portal target uses (real sled, fake `nft`/`tc`).
//!
//! Properties: no panic, no hang, never a 5xx, the answer is JSON, a 400
//! names an `error` and a `field`, and a refused change leaves the site quota
//! and the device's override exactly as they were (nothing half-applied).

#![no_main]

#[path = "common.rs"]
mod common;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use desawifi::accounts::{Accounts, Principal, Via};
use desawifi::admin::api;
use desawifi::admin::core::Admin;
use desawifi::clock::ManualClock;
use desawifi::domain::{Mac, Role};
use desawifi::uplink::UplinkState;
use hyper::body::Bytes;
use libfuzzer_sys::fuzz_target;
use tokio::sync::watch;

struct World {
    rt: tokio::runtime::Runtime,
    admin: Arc<Admin>,
    who: Principal,
    _uplink: watch::Sender<UplinkState>,
}

const SEEN: &str = "02:77:00:00:00:01";
const NEVER_SEEN: &str = "02:77:00:00:00:09";

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let (rt, gateway, store) = common::gateway("admin");
        let (uplink, reader) = watch::channel(UplinkState::Up);
        let accounts = Accounts::new(store.admin(), Duration::from_secs(3600), Arc::new(ManualClock::new(1_780_000_000)));
        accounts.add_user("ani", Role::Admin, "kelapa-muda-1", "fuzz").expect("fuzz account");
        let who = rt
            .block_on(async {
                gateway.admit(SEEN.parse::<Mac>().unwrap(), "10.77.0.11".parse().unwrap()).await.expect("a seen device");
                accounts.login("ani", "kelapa-muda-1", "192.0.2.10".parse().unwrap()).await
            })
            .expect("fuzz login")
            .principal;
        let who = Principal { via: Via::Bearer, ..who };
        let admin = Admin::new(gateway, accounts, reader);
        World { rt, admin, who, _uplink: uplink }
    })
}

/// (method, path) of the routes that take a JSON body.
fn route(pick: u8) -> (&'static str, String) {
    let mac = if pick & 0x80 == 0 { SEEN } else { NEVER_SEEN };
    match pick % 5 {
        0 => ("PUT", "/api/quota".into()),
        1 => ("PUT", format!("/api/devices/{mac}/quota")),
        2 => ("POST", "/api/session".into()),
        3 => ("POST", format!("/api/devices/{mac}/block")),
        _ => ("PUT", format!("/api/devices/{}/quota", if pick & 0x40 == 0 { "zz:77" } else { mac })),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    let w = world();
    let (method, path) = route(pick);
    let gw = w.admin.gateway.clone();
    let mac: Mac = SEEN.parse().unwrap();
    let before = (gw.quota(), gw.view(mac).unwrap().quota);
    let req = hyper::Request::builder()
        .method(method)
        .uri(&path)
        .header("host", "192.0.2.1:8443")
        .header("content-type", "application/json")
        .body(Bytes::copy_from_slice(body))
        .unwrap();
    let peer: SocketAddr = "192.0.2.10:50000".parse().unwrap();
    let resp = w.rt.block_on(api::handle(&w.admin, peer, Some(w.who.clone()), req));
    let status = resp.status();
    let bytes = w.rt.block_on(http_body_util::BodyExt::collect(resp.into_body())).unwrap().to_bytes();
    if std::env::var_os("DESAWIFI_FUZZ_SHOW").is_some() {
        eprintln!("--- {method} {path} -> {status}\n{}", String::from_utf8_lossy(&bytes));
    }
    assert!(!status.is_server_error(), "{method} {path}: {status}: {}", String::from_utf8_lossy(&bytes));
    let answer: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{method} {path}: {status}: not JSON ({e})"));
    if status.is_client_error() {
        assert!(answer["error"].is_string(), "{status} without an error: {answer}");
        if status == hyper::StatusCode::BAD_REQUEST {
            assert!(answer["field"].is_string(), "400 without a field: {answer}");
        }
        assert_eq!((gw.quota(), gw.view(mac).unwrap().quota), before, "{method} {path}: a refused change changed something");
    }
    // Keep the state small and the next input comparable: undo a block.
    if path.ends_with("/block") && status.is_success() {
        let undo = hyper::Request::builder().method("POST").uri(path.replace("/block", "/unblock")).header("content-type", "application/json").body(Bytes::new()).unwrap();
        let _ = w.rt.block_on(api::handle(&w.admin, peer, Some(w.who.clone()), undo));
    }
});
