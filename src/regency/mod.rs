//! The regency office's wiring (`desawifi-regency run`): its config, its own
//! sled store (accounts through [`crate::accounts`] on the store's admin
//! trees), its HTTPS certificate (self-signed at first start in the store
//! directory, or the configured pair), the Prometheus client, the UI; then
//! [`crate::office::server`] until SIGTERM / SIGINT. A top room, beside
//! `daemon`: the gateway's daemon never names it, so the gateway binary
//! gains nothing (docs/office.md, "The office program").

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::accounts::{AccountError, Accounts};
use crate::clock::{Clock, SystemClock};
use crate::config::office::OfficeConfig;
use crate::domain::Role;
use crate::office::console::Console;
use crate::office::prom::{Auth, Prom};
use crate::office::registry::{Registered, VillageBook};
use crate::office::server::{self, Office};
use crate::store::{AdminStore, OfficeVillage, StoreError};
use crate::web::cert::{ensure_self_signed, sha256_fingerprint};
use crate::web::tls;

/// How long an officer's login lasts.
pub const SESSION_TIME: Duration = Duration::from_secs(12 * 3600);
/// The self-signed certificate's file name in the store directory.
pub const SELF_SIGNED_CERT: &str = "regency-cert.pem";
/// Its key (mode 0600).
pub const SELF_SIGNED_KEY: &str = "regency-key.pem";

/// Why the office could not start.
#[derive(Debug, thiserror::Error)]
pub enum RegencyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{}: {message}", path.display())]
    Tls { path: PathBuf, message: String },
    #[error("[prometheus]: {0}")]
    Prom(#[from] crate::office::prom::PromError),
    #[error(transparent)]
    Ui(#[from] crate::web::template::TemplateError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("signals: {0}")]
    Signals(std::io::Error),
}

/// The office's accounts on its own store (`store`), for the CLI's `user` verbs.
pub fn accounts(config: &OfficeConfig) -> Result<Accounts, StoreError> {
    let store = AdminStore::open(&config.store)?;
    Ok(Accounts::new(store, SESSION_TIME, Arc::new(SystemClock)))
}

/// `desawifi-regency user add`: a new account on the office's store.
pub fn add_user(
    config: &OfficeConfig,
    username: &str,
    role: Role,
    password: &str,
) -> Result<(), AccountError> {
    accounts(config)?.add_user(username, role, password, "cli")
}

/// Run the office until SIGTERM or SIGINT.
pub async fn run(config: OfficeConfig) -> Result<(), RegencyError> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = AdminStore::open(&config.store)?;
    let accounts = Accounts::new(store.clone(), SESSION_TIME, clock.clone());
    let (cert, key) = match &config.tls {
        Some(pair) => pair.clone(),
        None => {
            let (cert, key) = (
                config.store.join(SELF_SIGNED_CERT),
                config.store.join(SELF_SIGNED_KEY),
            );
            let name = format!("desawifi regency office ({})", config.regency);
            let made =
                ensure_self_signed(&cert, &key, config.listen.ip(), &name).map_err(tls_error)?;
            if made {
                info!(cert = %cert.display(), "made a self-signed certificate");
            }
            (cert, key)
        }
    };
    let acceptor = tls::acceptor(&cert, &key).map_err(tls_error)?;
    info!(cert = %cert.display(), fingerprint = %sha256_fingerprint(&acceptor.leaf), "office TLS certificate (SHA-256)");
    let p = &config.prometheus;
    let auth = match &p.basic {
        Some((user, password)) => Auth::Basic {
            user: user.clone(),
            password: password.clone(),
        },
        None => Auth::None,
    };
    let prom = Prom::new(&p.url, auth, p.ca_file.as_deref())?;
    let console = Console::load(None)?;
    let office = Arc::new(Office {
        accounts,
        prom,
        console,
        regency: config.regency.clone(),
        tz: config.time_zone.clone(),
        clock,
        book: Arc::new(Book(store)),
        setup: p.villages.clone(),
    });
    let listener =
        TcpListener::bind(config.listen)
            .await
            .map_err(|source| RegencyError::Listen {
                addr: config.listen,
                source,
            })?;
    info!(listen = %config.listen, regency = %config.regency, prometheus = %p.url, time_zone = %config.time_zone_name, "regency office started");
    let cancel = CancellationToken::new();
    let mut term = signal(SignalKind::terminate()).map_err(RegencyError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(RegencyError::Signals)?;
    let stop = cancel.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        info!("stopping");
        stop.cancel();
    });
    server::serve(listener, office, acceptor.acceptor, cancel).await;
    Ok(())
}

fn tls_error(tls::TlsFileError { path, message }: tls::TlsFileError) -> RegencyError {
    RegencyError::Tls { path, message }
}

/// The office's villages on its store's typed trees (`office_villages`, the audit log).
struct Book(AdminStore);

impl VillageBook for Book {
    fn villages(&self) -> Result<Vec<Registered>, String> {
        let all = self.0.office_villages().map_err(|e| e.to_string())?;
        Ok(all
            .into_iter()
            .map(|v| Registered {
                retired: v
                    .retired_at
                    .map(|at| (at, v.retired_by.unwrap_or_default())),
                name: v.name,
                slug: v.slug,
                added_at: v.added_at,
                added_by: v.added_by,
            })
            .collect())
    }

    fn add(&self, v: &Registered) -> Result<(), String> {
        let record = OfficeVillage {
            name: v.name.clone(),
            slug: v.slug.clone(),
            added_at: v.added_at,
            added_by: v.added_by.clone(),
            retired_at: None,
            retired_by: None,
        };
        match self.0.add_office_village(&record) {
            Ok(true) => Ok(()),
            Ok(false) => Err(format!("{} is stored already", v.slug)),
            Err(e) => Err(e.to_string()),
        }
    }

    fn retire(&self, slug: &str, who: &str, at: i64) -> Result<(), String> {
        match self.0.retire_office_village(slug, who, at) {
            Ok(true) => Ok(()),
            Ok(false) => Err(format!("{slug} is not stored or retired already")),
            Err(e) => Err(e.to_string()),
        }
    }
}
