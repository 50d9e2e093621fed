//! The portal's request handling, whole: the fuzzer's bytes are the raw
//! bytes a phone sends on one connection, served by the same hyper http1
//! settings and routes as the daemon's (`portal::serve_stream`) over an
//! in-memory pipe. That covers request-line and header parsing, the Host
//! check, routing, `?lang=`, form bodies (size, Content-Length, chunked),
//! keep-alive with several requests, login and logout through the gateway.
//!
//! Input: byte 0 picks the peer (a phone on the LAN, one with an incomplete
//! neighbour entry, an unknown one, an IPv4-mapped IPv6 one, IPv6 loopback)
//! and whether the uplink is down; the rest is the connection's bytes.
//!
//! The gateway is real (sled store in /dev/shm, the firewall task) but `nft`
//! and `tc` are small shell scripts that accept every batch, so logins work
//! without root or a kernel table. Properties: no panic, no hang (libFuzzer's
//! -timeout), never a 5xx, every response starts with a status line.
//! `DESAWIFI_FUZZ_SHOW=1` prints each response (to look at one input).

#![no_main]

#[path = "common.rs"]
mod common;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use desawifi::portal::{self, ui::Ui, Portal};
use desawifi::uplink::UplinkState;
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

/// The LAN's neighbour table as `/proc/net/arp` prints it.
const ARP: &str = "IP address       HW type     Flags       HW address            Mask     Device
10.77.0.11       0x1         0x2         02:77:00:00:00:01     *        br-lan
10.77.0.12       0x1         0x0         00:00:00:00:00:00     *        br-lan
10.77.0.13       0x1         0x2         02:77:00:00:00:03     *        br-lan
";

struct World {
    rt: tokio::runtime::Runtime,
    portal: Arc<Portal>,
    uplink: watch::Sender<UplinkState>,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let (rt, gateway, _store) = common::gateway("portal");
        let (uplink, reader) = watch::channel(UplinkState::Up);
        let portal = Portal::with_neighbour_table(gateway, Ui::load(None).unwrap(), reader, ARP.to_owned());
        World { rt, portal, uplink }
    })
}

const PEERS: [&str; 5] = ["10.77.0.11:40000", "10.77.0.12:40001", "10.77.0.99:40002", "[::ffff:10.77.0.13]:40003", "[::1]:40004"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else { return };
    let w = world();
    let peer: SocketAddr = PEERS[pick as usize % PEERS.len()].parse().unwrap();
    let state = if pick & 0x80 != 0 { UplinkState::Down { since: 1_779_990_000 } } else { UplinkState::Up };
    w.uplink.send_replace(state);
    let response = w.rt.block_on(async {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let served = tokio::spawn(portal::serve_stream(server, peer, w.portal.clone()));
        let (mut rx, mut tx) = tokio::io::split(client);
        let send = async {
            // The portal may answer and close before it has read everything.
            let _ = tx.write_all(bytes).await;
            let _ = tx.shutdown().await;
        };
        let mut response = Vec::new();
        let receive = rx.read_to_end(&mut response);
        let (_, read) = tokio::join!(send, receive);
        read.expect("reading the portal's answer");
        served.await.expect("the connection task does not panic");
        response
    });
    if std::env::var_os("DESAWIFI_FUZZ_SHOW").is_some() {
        eprintln!("--- {peer}\n{}", String::from_utf8_lossy(&response));
    }
    let status_line = |l: &[u8]| l.starts_with(b"HTTP/1.1 ") || l.starts_with(b"HTTP/1.0 ");
    if !response.is_empty() {
        assert!(status_line(&response), "not a status line: {:?}", String::from_utf8_lossy(&response[..response.len().min(200)]));
        // Every answer's status line: a 5xx means a handler failed.
        for line in response.split(|&b| b == b'\n').filter(|l| status_line(l)) {
            assert!(line.get(9) != Some(&b'5'), "server error: {:?}", String::from_utf8_lossy(line));
        }
    }
});
