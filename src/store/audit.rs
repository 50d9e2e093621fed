//! The audit log: every change an admin (or the `desawifi user` command)
//! makes, in order, kept as long as the store. Tree `audit`: sequence number
//! (u64 big-endian, from sled's monotonic id generator) -> JSON of [`AuditEntry`].

use serde::{Deserialize, Serialize};

use super::{keys, AdminStore, StoreError};

/// One change: who, when, what, old -> new.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Unix seconds.
    pub at: i64,
    /// The account (or `cli` for the `desawifi user` command on the router).
    pub who: String,
    /// What was done, e.g. `quota.set`, `device.block`, `user.add`.
    pub action: String,
    /// What it was done to: a MAC, a username, `site`.
    pub target: String,
    pub old: serde_json::Value,
    pub new: serde_json::Value,
}

impl AdminStore {
    /// Append an entry (not yet flushed; the change it records is flushed with it).
    pub fn append_audit(&self, entry: &AuditEntry) -> Result<u64, StoreError> {
        let id = self.db.generate_id()?;
        self.audit.insert(id.to_be_bytes(), keys::encode(entry))?;
        Ok(id)
    }

    /// Newest first: up to `limit` entries with ids below `before` (all when `None`).
    pub fn audit_log(
        &self,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, AuditEntry)>, StoreError> {
        let end = before.unwrap_or(u64::MAX);
        self.audit
            .range(..end.to_be_bytes())
            .rev()
            .take(limit)
            .map(|kv| {
                let (k, v) = kv?;
                let id =
                    u64::from_be_bytes(k.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                        key: format!("audit/{k:02x?}"),
                        message: "not a u64 key".into(),
                    })?);
                Ok((id, keys::decode(&v, &format!("audit/{id}"))?))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_first_and_pages_back() {
        let dir = std::env::temp_dir().join(format!("desawifi-audit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = AdminStore::open(&dir).unwrap();
        let entry = |n: i64| AuditEntry {
            at: n,
            who: "ani".into(),
            action: "quota.set".into(),
            target: "site".into(),
            old: n.into(),
            new: (n + 1).into(),
        };
        let ids: Vec<u64> = (0..5)
            .map(|n| store.append_audit(&entry(n)).unwrap())
            .collect();
        let page = store.audit_log(None, 2).unwrap();
        assert_eq!(
            page.iter().map(|(_, e)| e.at).collect::<Vec<_>>(),
            vec![4, 3]
        );
        let next = store.audit_log(Some(page[1].0), 10).unwrap();
        assert_eq!(
            next.iter().map(|(_, e)| e.at).collect::<Vec<_>>(),
            vec![2, 1, 0]
        );
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
