//! Admin accounts and their login sessions.
//!
//! - tree `users`: username (UTF-8) -> JSON of [`UserRecord`] (role, argon2id PHC string, created)
//! - tree `admin_sessions`: SHA-256 of the session token (32 bytes) -> JSON of [`AdminSession`]
//!
//! Only token hashes are stored: a copy of the database does not log anyone in.
//! A change to a user (add, new password, removal) and its audit entry are one
//! sled transaction: both reach the disk or neither does.

use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::Transactional;

use super::{keys, AdminStore, AuditEntry, StoreError};
use crate::domain::Role;

/// One admin account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub role: Role,
    /// argon2id PHC string (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`).
    pub hash: String,
    /// Unix seconds.
    pub created: i64,
    /// Bumped by every password change; a session made under an older
    /// generation is no longer valid (even one that a concurrent login wrote
    /// while the change swept the sessions away).
    #[serde(default)]
    pub generation: u64,
}

/// One login: the token itself is never stored, only its SHA-256 (the key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminSession {
    pub username: String,
    /// This session's CSRF token (sent with the console's forms).
    pub csrf: String,
    /// Unix seconds.
    pub expires: i64,
    /// Unix seconds.
    pub created: i64,
    /// The user's [`UserRecord::generation`] when this session was made.
    #[serde(default)]
    pub generation: u64,
}

/// Why a user change was not made.
#[derive(Debug, PartialEq, Eq)]
pub enum UserChange {
    Done,
    /// `add`: the name is taken.
    Exists,
    /// `replace`/`remove`: no such user.
    Missing,
}

impl AdminStore {
    /// One user, if it exists.
    pub fn user(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        self.users
            .get(username.as_bytes())?
            .map(|v| keys::decode(&v, &format!("users/{username}")))
            .transpose()
    }

    /// Every user, ordered by name.
    pub fn users(&self) -> Result<Vec<(String, UserRecord)>, StoreError> {
        self.users
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                let name = String::from_utf8_lossy(&k).into_owned();
                let record = keys::decode(&v, &format!("users/{name}"))?;
                Ok((name, record))
            })
            .collect()
    }

    /// Create a user unless the name is taken, with its audit entry, atomically.
    pub fn add_user(
        &self,
        username: &str,
        record: &UserRecord,
        audit: &AuditEntry,
    ) -> Result<UserChange, StoreError> {
        let id = self.db.generate_id()?;
        self.user_transaction(|users, audit_tree| {
            if users.get(username.as_bytes())?.is_some() {
                return Ok(UserChange::Exists);
            }
            users.insert(username.as_bytes(), keys::encode(record))?;
            audit_tree.insert(&id.to_be_bytes()[..], keys::encode(audit))?;
            Ok(UserChange::Done)
        })
    }

    /// Replace an existing user's record (a new password), with its audit
    /// entry, atomically; then end the user's sessions.
    pub fn replace_user(
        &self,
        username: &str,
        change: impl Fn(&UserRecord) -> UserRecord,
        audit: &AuditEntry,
    ) -> Result<UserChange, StoreError> {
        let id = self.db.generate_id()?;
        let done = self.user_transaction(|users, audit_tree| {
            let Some(old) = users.get(username.as_bytes())? else {
                return Ok(UserChange::Missing);
            };
            let old: UserRecord = keys::decode(&old, &format!("users/{username}"))
                .map_err(ConflictableTransactionError::Abort)?;
            users.insert(username.as_bytes(), keys::encode(&change(&old)))?;
            audit_tree.insert(&id.to_be_bytes()[..], keys::encode(audit))?;
            Ok(UserChange::Done)
        })?;
        if done == UserChange::Done {
            self.remove_user_sessions(username)?;
        }
        Ok(done)
    }

    /// Remove a user, with its audit entry, atomically; then end its sessions.
    pub fn remove_user(
        &self,
        username: &str,
        audit: &AuditEntry,
    ) -> Result<UserChange, StoreError> {
        let id = self.db.generate_id()?;
        let done = self.user_transaction(|users, audit_tree| {
            if users.remove(username.as_bytes())?.is_none() {
                return Ok(UserChange::Missing);
            }
            audit_tree.insert(&id.to_be_bytes()[..], keys::encode(audit))?;
            Ok(UserChange::Done)
        })?;
        if done == UserChange::Done {
            self.remove_user_sessions(username)?;
        }
        Ok(done)
    }

    fn user_transaction(
        &self,
        body: impl Fn(
            &TransactionalTree,
            &TransactionalTree,
        ) -> Result<UserChange, ConflictableTransactionError<StoreError>>,
    ) -> Result<UserChange, StoreError> {
        match (&self.users, &self.audit).transaction(|(users, audit)| body(users, audit)) {
            Ok(change) => Ok(change),
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(StoreError::Sled(e)),
        }
    }

    /// A login session by its token's SHA-256.
    pub fn admin_session(&self, token_hash: &[u8; 32]) -> Result<Option<AdminSession>, StoreError> {
        self.admin_sessions
            .get(token_hash)?
            .map(|v| keys::decode(&v, "admin_sessions/<hash>"))
            .transpose()
    }

    /// Save a login session (not yet flushed; see [`AdminStore::flush`]).
    pub fn put_admin_session(
        &self,
        token_hash: &[u8; 32],
        session: &AdminSession,
    ) -> Result<(), StoreError> {
        self.admin_sessions
            .insert(token_hash, keys::encode(session))?;
        Ok(())
    }

    /// End one login session (logout).
    pub fn remove_admin_session(&self, token_hash: &[u8; 32]) -> Result<(), StoreError> {
        self.admin_sessions.remove(token_hash)?;
        Ok(())
    }

    /// End every session of one user; returns how many went.
    pub fn remove_user_sessions(&self, username: &str) -> Result<usize, StoreError> {
        self.remove_sessions_where(|s| s.username == username)
    }

    /// Forget sessions that expired at or before `now`; returns how many went.
    pub fn prune_admin_sessions(&self, now: i64) -> Result<usize, StoreError> {
        self.remove_sessions_where(|s| s.expires <= now)
    }

    fn remove_sessions_where(
        &self,
        doomed: impl Fn(&AdminSession) -> bool,
    ) -> Result<usize, StoreError> {
        let mut gone = 0;
        for kv in self.admin_sessions.iter() {
            let (k, v) = kv?;
            // An undecodable record is garbage either way: remove it too.
            if keys::decode::<AdminSession>(&v, "admin_sessions/<hash>")
                .map_or(true, |s| doomed(&s))
            {
                self.admin_sessions.remove(k)?;
                gone += 1;
            }
        }
        Ok(gone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AuditAction;

    fn store(name: &str) -> (AdminStore, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "desawifi-store-accounts-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        (AdminStore::open(&dir).unwrap(), dir)
    }

    fn audit(action: AuditAction) -> AuditEntry {
        AuditEntry {
            at: 1,
            who: "cli".into(),
            action,
            target: "ani".into(),
            old: serde_json::Value::Null,
            new: serde_json::Value::Null,
        }
    }

    #[test]
    fn users_and_sessions_round_trip() {
        let (store, dir) = store("round");
        let rec = UserRecord {
            role: Role::Admin,
            hash: "$argon2id$x".into(),
            created: 5,
            generation: 0,
        };
        assert_eq!(
            store
                .add_user("ani", &rec, &audit(AuditAction::UserAdd))
                .unwrap(),
            UserChange::Done
        );
        assert_eq!(
            store
                .add_user("ani", &rec, &audit(AuditAction::UserAdd))
                .unwrap(),
            UserChange::Exists
        );
        assert_eq!(store.user("ani").unwrap(), Some(rec.clone()));
        let s = AdminSession {
            username: "ani".into(),
            csrf: "c".into(),
            expires: 100,
            created: 1,
            generation: 0,
        };
        store.put_admin_session(&[1; 32], &s).unwrap();
        store
            .put_admin_session(
                &[2; 32],
                &AdminSession {
                    expires: 10,
                    ..s.clone()
                },
            )
            .unwrap();
        assert_eq!(store.prune_admin_sessions(10).unwrap(), 1);
        assert_eq!(store.admin_session(&[1; 32]).unwrap(), Some(s));
        assert_eq!(
            store
                .replace_user(
                    "ani",
                    |r| UserRecord {
                        generation: r.generation + 1,
                        ..r.clone()
                    },
                    &audit(AuditAction::UserPasswd)
                )
                .unwrap(),
            UserChange::Done
        );
        assert_eq!(
            store.admin_session(&[1; 32]).unwrap(),
            None,
            "a new password ends the sessions"
        );
        assert_eq!(store.user("ani").unwrap().unwrap().generation, 1);
        assert_eq!(
            store
                .remove_user("ani", &audit(AuditAction::UserRemove))
                .unwrap(),
            UserChange::Done
        );
        assert_eq!(
            store
                .remove_user("ani", &audit(AuditAction::UserRemove))
                .unwrap(),
            UserChange::Missing
        );
        assert_eq!(
            store
                .replace_user("ani", |r| r.clone(), &audit(AuditAction::UserPasswd))
                .unwrap(),
            UserChange::Missing
        );
        let log: Vec<String> = store
            .audit_log(None, 10)
            .unwrap()
            .into_iter()
            .map(|(_, e)| e.action.as_str().to_owned())
            .collect();
        assert_eq!(
            log,
            vec!["user.remove", "user.passwd", "user.add"],
            "only changes that happened are audited"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
