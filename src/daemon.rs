//! `desawifi run`: open the store, reconcile the firewall, serve the portal
//! and the admin room (HTTPS + the root-only control socket), expire
//! sessions, and stop cleanly on SIGTERM / SIGINT.
//!
//! Order on shutdown: stop accepting, drain HTTP, flush sled, leave the
//! firewall table as it is (clients keep working through a restart).
//!
//! SIGHUP (`systemctl reload`, OpenWrt's `reload`) re-reads and checks the
//! whole config file: a bad one is refused, named in the log, and the running
//! configuration stays; a good one is put in force by
//! [`Gateway::apply_config`] (sessions and counters kept), and every changed
//! key that needs a restart is named in the log (docs/configuration.md, "Reload").

use std::sync::Arc;

use anyhow::Context;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use crate::accounts::Accounts;
use crate::admin::{self, console::Console, core::Admin};
use crate::clock::{Clock, OffsetClock, SystemClock};
use crate::config::Config;
use crate::firewall::{Firewall, Nft};
use crate::gateway::{default_slot_rates, shaping_plan, Gateway};
use crate::portal::{self, ui::Ui, Portal};
use crate::shaping::Tc;
use crate::store::Store;

/// Run the gateway until a shutdown signal.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let ui = Ui::load(config.portal.ui_dir.as_deref()).context("loading the portal pages")?;
    let console = Console::load(config.admin.ui_dir.as_deref())
        .context("loading the admin console's pages")?;
    let store = Store::open(&config.store.path).context("opening the store")?;
    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();

    let (firewall, fw_handle) = Firewall::new(
        Nft::default(),
        Tc::default(),
        shaping_plan(&config),
        default_slot_rates(&config),
    );
    let fw_task = tokio::spawn(firewall.run(cancel.child_token()));
    let clock = clock()?;
    let gateway = Gateway::start(config.clone(), store.clone(), fw_handle, clock.clone())
        .await
        .context("reconciling the firewall with the store")?;
    // One accounting pass before the portal answers: the kernel kept counting
    // while the daemon was down, and usage not yet written (`[store]
    // write_interval`) must show on the first page, not a minute later.
    if let Err(e) = crate::gateway::accounting::pass(&gateway).await {
        tracing::warn!(error = %e, "first accounting pass failed");
    }
    let listener = portal::bind(config.portal.listen).await?;
    let admin_addr = config.admin.listen;
    let admin_listener = tokio::net::TcpListener::bind(admin_addr)
        .await
        .with_context(|| format!("cannot listen on admin.listen = {admin_addr}"))?;
    let (admin_tls, fingerprint) =
        admin::tls::acceptor(&config).context("the admin listener's certificate")?;
    info!(addr = %admin_addr, sha256 = %fingerprint, "admin certificate (check it on first connect)");
    let accounts = Accounts::new(store.admin(), config.admin.session_time, clock.clone());
    let https = match &config.portal.https {
        Some(tls) => Some((portal::bind(tls.listen).await?, portal::tls::acceptor(tls)?)),
        None => None,
    };
    // The battery (issue 25): the gateway decides what the mode means; the
    // portal and the admin room read it through the gateway. `[power]`'s
    // reader keys need a restart; `[power.saver]` applies on reload.
    if config.power.source != crate::config::power::PowerSource::None {
        let (power_tx, power_rx) = watch::channel(crate::power::PowerState::default());
        gateway.follow_power(power_rx);
        tracker.spawn(crate::power::run(
            config.power.clone(),
            power_tx,
            cancel.clone(),
        ));
    }
    let (uplink_settings, uplink_live) = watch::channel(config.uplink.clone());
    let (uplink_watcher, uplink) = crate::uplink::watcher(uplink_live, clock);
    tracker.spawn(uplink_watcher.run(cancel.clone()));
    // Heartbeat, the last stop's cause, internet outages (issue 24).
    tracker.spawn(gateway.clone().run_outages(uplink.clone(), cancel.clone()));
    let admin = Admin::new(gateway.clone(), accounts.clone(), uplink.clone());
    // Always running: a reload may set `[fleet] policy_url` later.
    tracker.spawn(admin::policy_pull::run(admin.clone(), cancel.clone()));
    tracker.spawn(admin::server::serve(
        admin_listener,
        admin,
        console,
        admin_tls,
        cancel.clone(),
    ));
    let control_path = config.store.path.join("control.sock");
    tracker.spawn(admin::control::serve(
        control_path,
        accounts,
        cancel.clone(),
    ));
    let portal = Portal::new(gateway.clone(), ui, uplink);
    tracker.spawn(portal::serve(
        listener,
        portal.clone(),
        cancel.clone(),
        None,
    ));
    if let Some((listener, acceptor)) = https {
        tracker.spawn(portal::serve(
            listener,
            portal,
            cancel.clone(),
            Some(acceptor),
        ));
    }
    tracker.spawn(gateway.clone().run_expiry(cancel.clone()));
    tracker.spawn(gateway.clone().run_schedule(cancel.clone()));
    tracker.spawn(crate::gateway::accounting::run(
        gateway.clone(),
        cancel.clone(),
    ));
    info!(site = %config.site.name, "desawifi running");
    release_startup_memory();

    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                reload(&config.path, &gateway, &uplink_settings).await;
            }
        }
    }
    info!("shutting down: draining connections");
    cancel.cancel();
    tracker.close();
    tracker.wait().await;
    let _ = fw_task.await;
    gateway.flush_blocking().context("flushing the store")?;
    info!("stopped; the firewall table stays (desawifi firewall clear removes it)");
    Ok(())
}

/// SIGHUP: re-read and check `path`; put a good file in force, refuse a bad
/// one (the running configuration stays), and reconcile the firewall with
/// the store either way.
async fn reload(
    path: &std::path::Path,
    gateway: &Gateway,
    uplink: &watch::Sender<crate::config::Uplink>,
) {
    info!(path = %path.display(), "SIGHUP: re-reading the configuration");
    let file = match Config::load(path) {
        Ok(file) => file,
        Err(e) => {
            error!("configuration refused, the running one stays: {e}");
            if let Err(e) = gateway.reconcile().await {
                error!(error = %e, "reconcile failed");
            }
            return;
        }
    };
    match gateway.apply_config(file).await {
        Ok(not_applied) => {
            for key in not_applied.needs_restart {
                warn!("{key} changed: needs a restart (the running value stays until then)");
            }
            for key in not_applied.dnsmasq {
                warn!("{key} changed: run `desawifi dnsmasq-conf` again and restart dnsmasq");
            }
            for key in not_applied.admin_wins {
                warn!("{key} changed in the file, but an admin's saved setting wins (change it in the console)");
            }
        }
        Err(e) => error!(error = %e, "applying the reloaded configuration failed"),
    }
    uplink.send_replace(gateway.config().uplink.clone());
}

/// `desawifi firewall clear`: remove our table and our shaping trees, and only ours.
pub async fn firewall_clear(config: &Config) -> anyhow::Result<()> {
    Nft::default()
        .apply(&crate::firewall::render::clear())
        .await
        .context("removing table inet desawifi")?;
    Tc::default()
        .teardown(&shaping_plan(config))
        .await
        .context("removing the shaping trees")?;
    Ok(())
}

/// Test hook: the environment variable that starts the daemon's clock at a
/// given unix time (so tests watch local midnight pass in seconds), or, as
/// an absolute path, names a file whose unix time the clock follows (a test
/// rewrites it to make the clock jump: `clock::FileClock`).
pub const TEST_NOW_ENV: &str = "DESAWIFI_TEST_NOW";

fn clock() -> anyhow::Result<Arc<dyn Clock>> {
    match std::env::var(TEST_NOW_ENV) {
        Ok(v) if v.starts_with('/') => {
            tracing::warn!(
                file = v,
                "{TEST_NOW_ENV} names a file: the clock follows it (tests only)"
            );
            Ok(Arc::new(crate::clock::FileClock::new(v)))
        }
        Ok(v) => {
            let start: i64 = v
                .parse()
                .with_context(|| format!("{TEST_NOW_ENV}={v:?} is not unix seconds"))?;
            tracing::warn!(
                start,
                "{TEST_NOW_ENV} is set: the clock is shifted (tests only)"
            );
            Ok(Arc::new(OffsetClock::starting_at(start)))
        }
        Err(_) => Ok(Arc::new(SystemClock)),
    }
}

/// Give back what only start-up needed, once the daemon is serving.
///
/// Nearly all of the binary's code and read-only data is resident by now
/// (95 % of the text at idle): start-up ran clap, the TOML and config
/// checks, the certificate, sled's recovery, the shaping trees and the full
/// reconcile, and the kernel maps file pages 64 KiB around every fault, so
/// one touched function keeps its neighbours resident. Paging the
/// read-only file mappings out (`MADV_PAGEOUT`: the binary's text and
/// rodata, and the shared libraries' pages no other process maps; the
/// kernel leaves pages mapped elsewhere alone) leaves what the running
/// daemon uses to fault back in (about 55 % of the binary's text after 20 s
/// idle, measured); the rest was start-up's. Clean file pages: nothing is written
/// anywhere, and a page needed again is read back from its file. Then
/// `malloc_trim` hands the freed part of the start-up reconcile's heap (the
/// full table listing) back to the kernel. Both only advise; failures are
/// ignored.
fn release_startup_memory() {
    #[cfg(target_os = "linux")]
    {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
        let mut paged = 0usize;
        for line in maps.lines() {
            // `start-end perms offset dev inode path`
            let mut fields = line.split_whitespace();
            let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
                continue;
            };
            let file = fields.nth(3).is_some_and(|path| path.starts_with('/'));
            // Only private read-only file mappings (code, rodata), never data.
            if !file || perms.contains('w') || !perms.ends_with('p') {
                continue;
            }
            let Some((start, end)) = range.split_once('-') else {
                continue;
            };
            let (Ok(start), Ok(end)) = (
                usize::from_str_radix(start, 16),
                usize::from_str_radix(end, 16),
            ) else {
                continue;
            };
            // SAFETY: an advice on a mapping of our own, page-aligned as
            // /proc/self/maps reports it; MADV_PAGEOUT only reclaims clean
            // pages (they fault back in from the file) and changes no contents.
            let done = unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_PAGEOUT)
            };
            if done == 0 {
                paged += end - start;
            }
        }
        #[cfg(target_env = "gnu")]
        // SAFETY: malloc_trim only returns free heap pages to the kernel.
        unsafe {
            libc::malloc_trim(0);
        }
        tracing::debug!(kib = paged / 1024, "start-up pages released");
    }
}
