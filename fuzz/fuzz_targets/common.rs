//! The world both request targets run in: the shipped example config with
//! its store in a scratch directory, a real gateway (sled, the firewall
//! task) whose `nft` and `tc` are small shell scripts that accept every
//! batch, so logins work without root or a kernel table.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use desawifi::clock::ManualClock;
use desawifi::config::Config;
use desawifi::firewall::{Firewall, Nft};
use desawifi::gateway::{default_slot_rates, shaping_plan, Gateway};
use desawifi::shaping::Tc;
use desawifi::store::Store;
use tokio_util::sync::CancellationToken;

/// The shipped example config, with HTTPS on (so the public name is a valid
/// Host too) and the store in a scratch directory.
const CONFIG: &str = include_str!("../../config/desawifi.toml");

/// `nft`: accept any batch; list an empty table of the shape this version renders.
const FAKE_NFT: &str = r#"#!/bin/sh
case " $* " in
  *" list "*) printf '%s' '{"nftables":[{"set":{"family":"inet","name":"online","table":"desawifi","type":["ether_addr","ipv4_addr"],"stmt":[{"counter":null}]}},{"set":{"family":"inet","name":"down","table":"desawifi","type":"ipv4_addr","stmt":[{"counter":null}]}}]}' ;;
  *) cat >/dev/null ;;
esac
"#;

/// `tc`: accept any batch.
const FAKE_TC: &str = "#!/bin/sh\ncat >/dev/null\n";

fn script(dir: &Path, name: &str, text: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_string_lossy().into_owned()
}

/// A current-thread runtime, a started gateway and (a clone of) its store.
pub fn gateway(tag: &str) -> (tokio::runtime::Runtime, Arc<Gateway>, Store) {
    let base = if Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
    // Scratch stores of earlier runs whose process is gone (libFuzzer exits without cleaning up).
    for old in std::fs::read_dir(&base).into_iter().flatten().flatten() {
        let name = old.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("desawifi-fuzz-").and_then(|rest| rest.split('-').next_back()) {
            if !Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(old.path());
            }
        }
    }
    let dir = base.join(format!("desawifi-fuzz-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let nft = script(&dir, "nft", FAKE_NFT);
    let tc = script(&dir, "tc", FAKE_TC);
    let text = CONFIG.replace("path = \"/var/lib/desawifi\"", &format!("path = {:?}", dir.join("store"))).replace(
        "# https_listen = \"10.77.0.1:8443\"\n# tls_cert = \"/etc/desawifi/portal.crt\"   # PEM chain for public_name\n# tls_key = \"/etc/desawifi/portal.key\"    # PEM private key\n# public_name = \"portal.desa.id\"",
        "https_listen = \"10.77.0.1:8443\"\ntls_cert = \"/nonexistent/portal.crt\"\ntls_key = \"/nonexistent/portal.key\"\npublic_name = \"portal.desa.id\"",
    );
    let config = Arc::new(Config::parse(&text, Path::new("fuzz.toml")).expect("fuzz config"));
    assert!(config.portal.https.is_some(), "the example config's HTTPS lines changed; update the fuzz targets");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (gateway, store) = rt.block_on(async {
        let store = Store::open(&config.store.path).unwrap();
        let (firewall, handle) = Firewall::new(Nft { program: Some(nft) }, Tc { program: Some(tc) }, shaping_plan(&config), default_slot_rates(&config));
        // Runs for the whole process: nobody cancels it.
        tokio::spawn(firewall.run(CancellationToken::new()));
        let clock = Arc::new(ManualClock::new(1_780_000_000));
        let gateway = Gateway::start(config.clone(), store.clone(), handle, clock).await.expect("gateway with fake nft");
        (gateway, store)
    });
    (rt, gateway, store)
}
