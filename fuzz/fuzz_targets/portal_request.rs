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

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use desawifi::clock::ManualClock;
use desawifi::config::Config;
use desawifi::firewall::{Firewall, Nft};
use desawifi::gateway::{default_slot_rates, shaping_plan, Gateway};
use desawifi::portal::{self, ui::Ui, Portal};
use desawifi::shaping::Tc;
use desawifi::store::Store;
use desawifi::uplink::UplinkState;
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The shipped example config, with HTTPS on (so the public name is a valid
/// Host too) and the store in a scratch directory.
const CONFIG: &str = include_str!("../../config/desawifi.toml");

/// The LAN's neighbour table as `/proc/net/arp` prints it.
const ARP: &str = "IP address       HW type     Flags       HW address            Mask     Device
10.77.0.11       0x1         0x2         02:77:00:00:00:01     *        br-lan
10.77.0.12       0x1         0x0         00:00:00:00:00:00     *        br-lan
10.77.0.13       0x1         0x2         02:77:00:00:00:03     *        br-lan
";

/// `nft`: accept any batch; list an empty table of the shape this version renders.
const FAKE_NFT: &str = r#"#!/bin/sh
case " $* " in
  *" list "*) printf '%s' '{"nftables":[{"set":{"family":"inet","name":"online","table":"desawifi","type":["ether_addr","ipv4_addr"],"stmt":[{"counter":null}]}},{"set":{"family":"inet","name":"down","table":"desawifi","type":"ipv4_addr","stmt":[{"counter":null}]}}]}' ;;
  *) cat >/dev/null ;;
esac
"#;

/// `tc`: accept any batch.
const FAKE_TC: &str = "#!/bin/sh\ncat >/dev/null\n";

struct World {
    rt: tokio::runtime::Runtime,
    portal: Arc<Portal>,
    uplink: watch::Sender<UplinkState>,
}

fn script(dir: &Path, name: &str, text: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_string_lossy().into_owned()
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let base = if Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
        // Scratch stores of earlier runs whose process is gone (libFuzzer exits without cleaning up).
        for old in std::fs::read_dir(&base).into_iter().flatten().flatten() {
            let name = old.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("desawifi-fuzz-") {
                if !Path::new("/proc").join(pid).exists() {
                    let _ = std::fs::remove_dir_all(old.path());
                }
            }
        }
        let dir = base.join(format!("desawifi-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let nft = script(&dir, "nft", FAKE_NFT);
        let tc = script(&dir, "tc", FAKE_TC);
        let text = CONFIG.replace("path = \"/var/lib/desawifi\"", &format!("path = {:?}", dir.join("store"))).replace(
            "# https_listen = \"10.77.0.1:8443\"\n# tls_cert = \"/etc/desawifi/portal.crt\"   # PEM chain for public_name\n# tls_key = \"/etc/desawifi/portal.key\"    # PEM private key\n# public_name = \"portal.desa.id\"",
            "https_listen = \"10.77.0.1:8443\"\ntls_cert = \"/nonexistent/portal.crt\"\ntls_key = \"/nonexistent/portal.key\"\npublic_name = \"portal.desa.id\"",
        );
        let config = Arc::new(Config::parse(&text, Path::new("fuzz.toml")).expect("fuzz config"));
        assert!(config.portal.https.is_some(), "the example config's HTTPS lines changed; update the fuzz target");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (portal, uplink) = rt.block_on(async {
            let store = Store::open(&config.store.path).unwrap();
            let (firewall, handle) = Firewall::new(
                Nft { program: Some(nft) },
                Tc { program: Some(tc) },
                shaping_plan(&config),
                default_slot_rates(&config),
            );
            // Runs for the whole process: nobody cancels it.
            tokio::spawn(firewall.run(CancellationToken::new()));
            let clock = Arc::new(ManualClock::new(1_780_000_000));
            let gateway = Gateway::start(config.clone(), store, handle, clock).await.expect("gateway with fake nft");
            let (uplink, reader) = watch::channel(UplinkState::Up);
            let portal = Portal::with_neighbour_table(gateway, Ui::load(None).unwrap(), reader, ARP.to_owned());
            (portal, uplink)
        });
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
