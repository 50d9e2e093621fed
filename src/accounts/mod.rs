//! Accounts: users with argon2id password hashes in sled, login sessions
//! (random tokens stored as SHA-256, so a restart keeps admins logged in
//! and a copy of the store logs nobody in), the login rate limit
//! ([`limiter`]) and who a request is ([`Principal`]). A base room: the
//! gateway's admin room uses it today, the regency office next, so neither
//! copies it (docs/design-decisions.md, "Accounts are a base room").
//!
//! Hashing and verifying are deliberately slow (argon2id, [`ARGON2_M_KIB`]
//! of memory each): verifies run on the blocking pool, at most
//! [`MAX_CONCURRENT_VERIFIES`] at once in all (whatever the addresses), so a
//! burst of logins cannot take the router's memory or both of its cores; a
//! login that finds no slot free is refused at once (429, `Retry-After: 1`),
//! never queued behind the others (issue 22, item 12), and an unknown username costs the same verify against a
//! fixed dummy hash so timing does not tell which names exist.

pub mod limiter;
mod principal;
pub mod web;

pub use principal::{Principal, Via};

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use ring::rand::SecureRandom;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::clock::Clock;
use crate::domain::{AuditAction, Role};
use crate::store::{AdminSession, AdminStore, AuditEntry, StoreError, UserChange, UserRecord};

/// argon2id memory cost in KiB (19 MiB: OWASP's recommended minimum; a
/// small MIPS/ARM router verifies in well under a second).
pub const ARGON2_M_KIB: u32 = 19 * 1024;
/// argon2id passes.
pub const ARGON2_T: u32 = 2;
/// argon2id lanes (one: routers have one or two slow cores).
pub const ARGON2_P: u32 = 1;
/// Password verifies running at once, in all; a login beyond them is refused
/// at once, not queued (each holds [`ARGON2_M_KIB`] and a core; one leaves the
/// second core of a two-core router to the gateway).
pub const MAX_CONCURRENT_VERIFIES: usize = 1;

/// Shortest password accepted.
pub const MIN_PASSWORD: usize = 10;
/// Longest password accepted (characters).
pub const MAX_PASSWORD: usize = 1024;
/// Longest username.
pub const MAX_USERNAME: usize = 32;

/// Verified when the username does not exist, so a miss costs as long as a
/// wrong password. Made with the parameters above (a test checks that);
/// nothing hashes to it.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$ZGVzYXdpZmktZHVtbXktc2FsdA$Fq8Ox5zbW1HjnsTfZJfSyPUe0x6Mv9iDn5t4pVvjh0U";

/// One account as listed (never the hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub username: String,
    pub role: Role,
    /// Unix seconds.
    pub created: i64,
}

/// A successful login.
#[derive(Debug, Clone)]
pub struct LoginSession {
    /// 32 random bytes as 64 hex characters; give it back as `Authorization:
    /// Bearer` or in the `desawifi_admin` cookie.
    pub token: String,
    /// Who logged in (`via` is `Bearer`; the caller sets what it hands out).
    pub principal: Principal,
    /// Unix seconds.
    pub expires: i64,
}

/// Why a login failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// Wrong username or password (which one is not told).
    #[error("wrong username or password")]
    Invalid,
    /// Too many failures for this username or address: try again later.
    #[error("too many failed logins; try again in {retry_after_secs} s")]
    Locked { retry_after_secs: u64 },
    /// The store or the hasher failed.
    #[error("login failed: {0}")]
    Internal(String),
}

/// Why an account change was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Not 1–32 characters of a-z, 0-9, `.`, `_`, `-`.
    #[error("username {0:?} is not valid: use 1 to 32 characters of a-z, 0-9, '.', '_' and '-'")]
    BadUsername(String),
    /// Shorter than [`MIN_PASSWORD`].
    #[error("password too short: use at least {MIN_PASSWORD} characters")]
    PasswordTooShort,
    /// Longer than [`MAX_PASSWORD`].
    #[error("password too long: use at most {MAX_PASSWORD} characters")]
    PasswordTooLong,
    /// `add` of a name that is taken.
    #[error("user \"{0}\" already exists")]
    Exists(String),
    /// `passwd` or `remove` of a name that is not there.
    #[error("no user \"{0}\"")]
    NoUser(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// argon2 refused (should not happen with valid parameters).
    #[error("password hashing failed: {0}")]
    Hash(String),
}

impl AccountError {
    /// The input field at fault, for a 400 `{"error", "field"}`; `None` for internal failures.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            AccountError::BadUsername(_) | AccountError::Exists(_) | AccountError::NoUser(_) => {
                Some("username")
            }
            AccountError::PasswordTooShort | AccountError::PasswordTooLong => Some("password"),
            AccountError::Store(_) | AccountError::Hash(_) => None,
        }
    }
}

/// The accounts room; cheap to clone (one shared state).
#[derive(Clone)]
pub struct Accounts {
    inner: Arc<Inner>,
}

struct Inner {
    store: AdminStore,
    session_time: Duration,
    clock: Arc<dyn Clock>,
    limiter: Mutex<limiter::Limiter>,
    verify_slots: tokio::sync::Semaphore,
    rng: ring::rand::SystemRandom,
}

impl Accounts {
    /// The accounts on the admin's own trees of the store (handed over by the daemon).
    pub fn new(store: AdminStore, session_time: Duration, clock: Arc<dyn Clock>) -> Accounts {
        Accounts {
            inner: Arc::new(Inner {
                store,
                session_time,
                clock,
                limiter: Mutex::new(limiter::Limiter::default()),
                verify_slots: tokio::sync::Semaphore::new(MAX_CONCURRENT_VERIFIES),
                rng: ring::rand::SystemRandom::new(),
            }),
        }
    }

    /// The admin's own trees of the store (accounts, sessions, the audit
    /// log, the policy in force): the admin room appends its audit entries
    /// and reads the log there.
    pub fn admin_store(&self) -> &AdminStore {
        &self.inner.store
    }

    /// Create an account. Blocking (hashes the password and flushes the
    /// store): from async code, call it on the blocking pool.
    pub fn add_user(
        &self,
        username: &str,
        role: Role,
        password: &str,
        who: &str,
    ) -> Result<(), AccountError> {
        check_username(username)?;
        let hash = self.hash(password)?;
        let now = self.inner.clock.now();
        let record = UserRecord {
            role,
            hash,
            created: now,
            generation: 0,
        };
        let audit = self.audit(
            who,
            AuditAction::UserAdd,
            username,
            serde_json::Value::Null,
            serde_json::json!({ "role": role }),
        );
        match self.inner.store.add_user(username, &record, &audit)? {
            UserChange::Done => {}
            UserChange::Exists | UserChange::Missing => {
                return Err(AccountError::Exists(username.to_owned()))
            }
        }
        self.inner.store.flush_blocking()?;
        info!(username, role = role.as_str(), who, "admin account added");
        Ok(())
    }

    /// Give an account a new password; its login sessions end. Blocking, like [`Accounts::add_user`].
    pub fn set_password(
        &self,
        username: &str,
        password: &str,
        who: &str,
    ) -> Result<(), AccountError> {
        let hash = self.hash(password)?;
        let audit = self.audit(
            who,
            AuditAction::UserPasswd,
            username,
            serde_json::Value::Null,
            serde_json::json!("new password"),
        );
        let change = |old: &UserRecord| UserRecord {
            hash: hash.clone(),
            generation: old.generation + 1,
            ..old.clone()
        };
        match self.inner.store.replace_user(username, change, &audit)? {
            UserChange::Done => {}
            UserChange::Missing | UserChange::Exists => {
                return Err(AccountError::NoUser(username.to_owned()))
            }
        }
        self.inner.store.flush_blocking()?;
        info!(username, who, "admin password changed; its sessions ended");
        Ok(())
    }

    /// Remove an account; its login sessions end. Blocking (flushes the store).
    pub fn remove_user(&self, username: &str, who: &str) -> Result<(), AccountError> {
        let Some(old) = self.inner.store.user(username)? else {
            return Err(AccountError::NoUser(username.to_owned()));
        };
        let audit = self.audit(
            who,
            AuditAction::UserRemove,
            username,
            serde_json::json!({ "role": old.role }),
            serde_json::Value::Null,
        );
        match self.inner.store.remove_user(username, &audit)? {
            UserChange::Done => {}
            UserChange::Missing | UserChange::Exists => {
                return Err(AccountError::NoUser(username.to_owned()))
            }
        }
        self.inner.store.flush_blocking()?;
        info!(username, who, "admin account removed");
        Ok(())
    }

    /// Every account, ordered by name.
    pub fn users(&self) -> Result<Vec<UserInfo>, AccountError> {
        Ok(self
            .inner
            .store
            .users()?
            .into_iter()
            .map(|(username, r)| UserInfo {
                username,
                role: r.role,
                created: r.created,
            })
            .collect())
    }

    /// Check a password and start a session. Usernames are compared in lower
    /// case (phones capitalise the first letter). Failures are counted per
    /// username and per `peer` address (see [`limiter`]). Every attempt is
    /// counted in `/metrics` (`desawifi_admin_logins_total{result}`).
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        peer: IpAddr,
    ) -> Result<LoginSession, LoginError> {
        let result = self.check_login(username, password, peer).await;
        match &result {
            Ok(_) => crate::telemetry::admin_login(crate::telemetry::AdminLogin::Ok),
            Err(LoginError::Invalid) => {
                crate::telemetry::admin_login(crate::telemetry::AdminLogin::Bad)
            }
            Err(LoginError::Locked { .. }) => {
                crate::telemetry::admin_login(crate::telemetry::AdminLogin::Locked)
            }
            Err(LoginError::Internal(_)) => {}
        }
        result
    }

    /// [`Accounts::login`]'s work.
    async fn check_login(
        &self,
        username: &str,
        password: &str,
        peer: IpAddr,
    ) -> Result<LoginSession, LoginError> {
        let username = username.trim().to_lowercase();
        self.check_limit(&username, peer)?;
        // Never a queue: a login that finds the hasher busy is told to come
        // back in a second (issue 22, item 12).
        let Ok(_slot) = self.inner.verify_slots.try_acquire() else {
            tracing::debug!(peer = %peer, "admin login refused: a password check is running");
            return Err(LoginError::Locked {
                retry_after_secs: 1,
            });
        };
        // Again: a failure may have been counted while this one waited for a slot.
        self.check_limit(&username, peer)?;
        let record = if check_username(&username).is_ok() {
            self.inner
                .store
                .user(&username)
                .map_err(|e| LoginError::Internal(e.to_string()))?
        } else {
            None
        };
        let hash = record
            .as_ref()
            .map_or_else(|| DUMMY_HASH.to_owned(), |r| r.hash.clone());
        let password = password.to_owned();
        let matches = tokio::task::spawn_blocking(move || verify(&password, &hash))
            .await
            .map_err(|e| LoginError::Internal(e.to_string()))?;
        drop(_slot);
        let now = self.inner.clock.now();
        let record = match (matches, record) {
            (true, Some(record)) => record,
            _ => {
                self.inner
                    .limiter
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .failed(&username, peer, now);
                info!(username = ?shown(&username), peer = %peer, "admin login failed");
                return Err(LoginError::Invalid);
            }
        };
        self.inner
            .limiter
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .succeeded(&username);
        let token = self.random_hex().map_err(LoginError::Internal)?;
        let csrf = self.random_hex().map_err(LoginError::Internal)?;
        let expires = now
            .saturating_add(i64::try_from(self.inner.session_time.as_secs()).unwrap_or(i64::MAX));
        let session = AdminSession {
            username: username.clone(),
            csrf: csrf.clone(),
            expires,
            created: now,
            generation: record.generation,
        };
        let store = &self.inner.store;
        let internal = |e: StoreError| LoginError::Internal(e.to_string());
        store.prune_admin_sessions(now).map_err(internal)?;
        store
            .put_admin_session(&token_hash(&token), &session)
            .map_err(internal)?;
        store.flush().await.map_err(internal)?;
        info!(username = %username, peer = %peer, role = record.role.as_str(), "admin logged in");
        Ok(LoginSession {
            token,
            principal: Principal {
                username,
                role: record.role,
                csrf,
                via: Via::Bearer,
            },
            expires,
        })
    }

    /// Who holds this session token (`None`: unknown, expired, or the user
    /// was removed or changed password since).
    pub fn authenticate(&self, token: &str, via: Via) -> Option<Principal> {
        if !is_token(token) {
            return None;
        }
        let key = token_hash(token);
        let store = &self.inner.store;
        let session = store
            .admin_session(&key)
            .inspect_err(|e| warn!(error = %e, "reading an admin session"))
            .ok()??;
        if session.expires <= self.inner.clock.now() {
            let _ = store.remove_admin_session(&key);
            return None;
        }
        let user = store
            .user(&session.username)
            .inspect_err(|e| warn!(error = %e, "reading an admin account"))
            .ok()??;
        if user.generation != session.generation {
            return None;
        }
        Some(Principal {
            username: session.username,
            role: user.role,
            csrf: session.csrf,
            via,
        })
    }

    /// End a session (unknown tokens are ignored).
    pub fn logout(&self, token: &str) {
        if !is_token(token) {
            return;
        }
        let key = token_hash(token);
        if let Ok(Some(session)) = self.inner.store.admin_session(&key) {
            info!(username = %session.username, "admin logged out");
        }
        if let Err(e) = self.inner.store.remove_admin_session(&key) {
            warn!(error = %e, "removing an admin session");
        }
    }

    fn check_limit(&self, username: &str, peer: IpAddr) -> Result<(), LoginError> {
        let now = self.inner.clock.now();
        let result = self
            .inner
            .limiter
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .check(username, peer, now);
        result.map_err(|retry_after_secs| {
            info!(username = ?shown(username), peer = %peer, retry_after_secs, "admin login refused: too many failures");
            LoginError::Locked { retry_after_secs }
        })
    }

    fn hash(&self, password: &str) -> Result<String, AccountError> {
        check_password(password)?;
        let mut salt = [0u8; 16];
        self.inner
            .rng
            .fill(&mut salt)
            .map_err(|_| AccountError::Hash("no randomness for the salt".into()))?;
        let salt = SaltString::encode_b64(&salt).map_err(|e| AccountError::Hash(e.to_string()))?;
        let hash = hasher()
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| AccountError::Hash(e.to_string()))?;
        Ok(hash.to_string())
    }

    fn random_hex(&self) -> Result<String, String> {
        let mut bytes = [0u8; 32];
        self.inner
            .rng
            .fill(&mut bytes)
            .map_err(|_| "no randomness for a session token".to_owned())?;
        Ok(hex(&bytes))
    }

    fn audit(
        &self,
        who: &str,
        action: AuditAction,
        target: &str,
        old: serde_json::Value,
        new: serde_json::Value,
    ) -> AuditEntry {
        AuditEntry {
            at: self.inner.clock.now(),
            who: who.to_owned(),
            action,
            target: target.to_owned(),
            old,
            new,
        }
    }
}

/// 1–32 characters of a-z, 0-9, `.`, `_`, `-`.
pub fn check_username(username: &str) -> Result<(), AccountError> {
    let ok = (1..=MAX_USERNAME).contains(&username.len())
        && username.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(AccountError::BadUsername(username.to_owned()))
    }
}

/// At least [`MIN_PASSWORD`] and at most [`MAX_PASSWORD`] characters.
pub fn check_password(password: &str) -> Result<(), AccountError> {
    match password.chars().count() {
        n if n < MIN_PASSWORD => Err(AccountError::PasswordTooShort),
        n if n > MAX_PASSWORD => Err(AccountError::PasswordTooLong),
        _ => Ok(()),
    }
}

fn hasher() -> Argon2<'static> {
    let params =
        Params::new(ARGON2_M_KIB, ARGON2_T, ARGON2_P, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Does `password` match the PHC string (with the parameters the string names)?
fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(e) => {
            warn!(error = %e, "a stored admin password hash is unreadable");
            false
        }
    }
}

/// A login name as typed, for the log: quoted (Debug) and cut, since anyone can type anything.
fn shown(username: &str) -> &str {
    let mut end = username.len().min(40);
    while !username.is_char_boundary(end) {
        end -= 1;
    }
    &username[..end]
}

fn is_token(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

fn token_hash(token: &str) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    digest.as_ref().try_into().expect("SHA-256 is 32 bytes")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new account's password from stdin, for the `user add` and `user
/// passwd` verbs of both programs (`desawifi`, `desawifi-regency`): asked
/// twice without echo on a terminal, else one line (a script's pipe).
pub fn read_password() -> std::io::Result<String> {
    use std::io::{BufRead, Error, IsTerminal};
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        check_password(&first).map_err(|e| Error::other(e.to_string()))?;
        let second = rpassword::prompt_password("Password again: ")?;
        if first != second {
            return Err(Error::other("the two passwords differ"));
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line
        .strip_suffix('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or(&line)
        .to_owned();
    if password.is_empty() {
        return Err(Error::other("no password on stdin (give it as one line)"));
    }
    Ok(password)
}

#[cfg(test)]
mod tests;
