//! `desawifi run`: open the store, reconcile the firewall, serve the portal
//! and the admin room (HTTPS + the root-only control socket), expire
//! sessions, and stop cleanly on SIGTERM / SIGINT.
//!
//! Order on shutdown: stop accepting, drain HTTP, flush sled, leave the
//! firewall table as it is (clients keep working through a restart).

use std::sync::Arc;

use anyhow::Context;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;

use crate::admin::{self, accounts::Accounts, console::Console, server::Admin};
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
    let (uplink_watcher, uplink) = crate::uplink::watcher(config.uplink.clone(), clock);
    tracker.spawn(uplink_watcher.run(cancel.clone()));
    let admin = Admin::new(gateway.clone(), accounts.clone(), uplink.clone(), console);
    tracker.spawn(admin::server::serve(
        admin_listener,
        admin,
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

    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                info!("SIGHUP: reconciling the firewall with the store");
                if let Err(e) = gateway.reconcile().await {
                    tracing::error!(error = %e, "reconcile failed");
                }
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
/// given unix time (so tests watch local midnight pass in seconds).
pub const TEST_NOW_ENV: &str = "DESAWIFI_TEST_NOW";

fn clock() -> anyhow::Result<Arc<dyn Clock>> {
    match std::env::var(TEST_NOW_ENV) {
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
