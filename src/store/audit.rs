//! The audit log: every change an admin (or the `desawifi user` command)
//! makes, in order, kept as long as the store. Tree `audit`: sequence number
//! (u64 big-endian, from sled's monotonic id generator) -> JSON of [`AuditEntry`].

use serde::{Deserialize, Serialize};

use super::{keys, AdminStore, StoreError};
use crate::domain::AuditAction;

/// One change: who, when, what, old -> new.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Unix seconds.
    pub at: i64,
    /// The account (or `cli` for the `desawifi user` command on the router).
    pub who: String,
    /// What was done, kept as its dotted name (`quota.set`, `device.block`,
    /// `user.add`): the same bytes the log held when this was a string.
    pub action: AuditAction,
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
    ///
    /// Read forwards only, never with sled's reverse iterator: `Iter::next_back`
    /// carries a 1 MiB constant (the largest key, `[255; 1 MiB]`), a fifth of
    /// the router binary, and the linker drops it only if nothing iterates a
    /// tree backwards (BENCHMARKS.md, "Release builds"). [`newest`] halves the
    /// id range instead: two forward reads of at most `limit + 1` entries per
    /// halving, 64 halvings at most, however long the log is.
    pub fn audit_log(
        &self,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, AuditEntry)>, StoreError> {
        let end = before.unwrap_or(u64::MAX);
        let mut raw = Vec::with_capacity(limit);
        newest(&self.audit, 0, end, limit, &mut raw)?;
        raw.into_iter()
            .map(|(k, v)| {
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

/// Append to `out`, newest first, the newest `need` entries of `tree` whose
/// u64 big-endian keys are in `lo..hi`: if the range holds at most `need`
/// entries they are all of it (one forward read of `need + 1`), else the
/// newest are found in the upper half first and the rest in the lower half.
fn newest(
    tree: &sled::Tree,
    lo: u64,
    hi: u64,
    need: usize,
    out: &mut Vec<(sled::IVec, sled::IVec)>,
) -> Result<(), StoreError> {
    if need == 0 || lo >= hi {
        return Ok(());
    }
    let mut probe = tree
        .range(lo.to_be_bytes()..hi.to_be_bytes())
        .take(need + 1)
        .collect::<Result<Vec<_>, _>>()?;
    if probe.len() <= need {
        probe.reverse();
        out.append(&mut probe);
        return Ok(());
    }
    // More than `need` entries, so at least two ids: `hi - lo >= 2`.
    let mid = lo + (hi - lo) / 2;
    let had = out.len();
    newest(tree, mid, hi, need, out)?;
    let got = out.len() - had;
    newest(tree, lo, mid, need - got, out)
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
            action: AuditAction::QuotaSet,
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

    /// Ids with gaps (sled's id generator jumps by a million at each restart)
    /// and at both ends of u64: every page equals the reverse of a full scan.
    #[test]
    fn pages_match_a_full_reverse_scan_across_gaps() {
        let dir = std::env::temp_dir().join(format!("desawifi-audit-gaps-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = AdminStore::open(&dir).unwrap();
        let mut ids: Vec<u64> = vec![0, 1, 2, u64::MAX - 1, u64::MAX, 1 << 63];
        ids.extend(5..40);
        ids.extend(1_000_000..1_000_007);
        ids.extend((3_000_000..3_000_300).step_by(7));
        for (n, id) in ids.iter().enumerate() {
            let entry = AuditEntry {
                at: n as i64,
                who: "ani".into(),
                action: AuditAction::QuotaSet,
                target: "site".into(),
                old: serde_json::Value::Null,
                new: (*id).into(),
            };
            store
                .audit
                .insert(id.to_be_bytes(), keys::encode(&entry))
                .unwrap();
        }
        ids.sort();
        for before in [
            None,
            Some(0),
            Some(1),
            Some(3),
            Some(6),
            Some(1_000_003),
            Some(3_000_001),
            Some(1 << 63),
            Some(u64::MAX),
        ] {
            for limit in [0, 1, 2, 5, 26, 1000] {
                let want: Vec<u64> = ids
                    .iter()
                    .rev()
                    .copied()
                    .filter(|id| *id < before.unwrap_or(u64::MAX))
                    .take(limit)
                    .collect();
                let got: Vec<u64> = store
                    .audit_log(before, limit)
                    .unwrap()
                    .into_iter()
                    .map(|(id, e)| {
                        assert_eq!(e.new, serde_json::Value::from(id));
                        id
                    })
                    .collect();
                assert_eq!(got, want, "before {before:?}, limit {limit}");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
