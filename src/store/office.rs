//! The regency office's villages (`desawifi-regency`): tree
//! `office_villages`, slug -> JSON of [`OfficeVillage`]. Opened on first use,
//! so a gateway's store never gains the tree.

use serde::{Deserialize, Serialize};

use super::{keys, AdminStore, AuditEntry, StoreError};
use crate::domain::AuditAction;

/// One village the office added (kept after it is retired: its history stays).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfficeVillage {
    pub name: String,
    pub slug: String,
    pub added_at: i64,
    pub added_by: String,
    #[serde(default)]
    pub retired_at: Option<i64>,
    #[serde(default)]
    pub retired_by: Option<String>,
}

impl AdminStore {
    fn office_tree(&self) -> Result<sled::Tree, StoreError> {
        Ok(self.db.open_tree(keys::TREE_OFFICE_VILLAGES)?)
    }

    /// Every village, in slug order.
    pub fn office_villages(&self) -> Result<Vec<OfficeVillage>, StoreError> {
        self.office_tree()?
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                keys::decode(
                    &v,
                    &format!("office_villages/{}", String::from_utf8_lossy(&k)),
                )
            })
            .collect()
    }

    /// Store a new village with its `village.add` audit entry, flushed.
    /// Refused (nothing written) when its slug is taken.
    pub fn add_office_village(&self, village: &OfficeVillage) -> Result<bool, StoreError> {
        let tree = self.office_tree()?;
        let fresh = tree
            .compare_and_swap(
                village.slug.as_bytes(),
                None as Option<&[u8]>,
                Some(keys::encode(village)),
            )?
            .is_ok();
        if fresh {
            self.append_audit(&AuditEntry {
                at: village.added_at,
                who: village.added_by.clone(),
                action: AuditAction::VillageAdd,
                target: village.slug.clone(),
                old: serde_json::Value::Null,
                new: serde_json::json!({ "name": village.name }),
            })?;
            self.flush_blocking()?;
        }
        Ok(fresh)
    }

    /// Mark `slug` retired, audited (`village.retire`), flushed. `false`
    /// when no such village is stored or it was retired already.
    pub fn retire_office_village(
        &self,
        slug: &str,
        who: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let tree = self.office_tree()?;
        let Some(old) = tree.get(slug.as_bytes())? else {
            return Ok(false);
        };
        let mut v: OfficeVillage = keys::decode(&old, &format!("office_villages/{slug}"))?;
        if v.retired_at.is_some() {
            return Ok(false);
        }
        v.retired_at = Some(at);
        v.retired_by = Some(who.to_owned());
        if tree
            .compare_and_swap(slug.as_bytes(), Some(old), Some(keys::encode(&v)))?
            .is_err()
        {
            return Ok(false);
        }
        self.append_audit(&AuditEntry {
            at,
            who: who.to_owned(),
            action: AuditAction::VillageRetire,
            target: slug.to_owned(),
            old: serde_json::json!({ "name": v.name }),
            new: serde_json::Value::Null,
        })?;
        self.flush_blocking()?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_retire_and_audit() {
        let dir = std::env::temp_dir().join(format!("dw-office-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = AdminStore::open(&dir).unwrap();
        let v = OfficeVillage {
            name: "Long Kali Baru".into(),
            slug: "long-kali-baru".into(),
            added_at: 100,
            added_by: "ani".into(),
            retired_at: None,
            retired_by: None,
        };
        assert!(store.add_office_village(&v).unwrap());
        assert!(
            !store.add_office_village(&v).unwrap(),
            "a slug is taken once"
        );
        assert!(store
            .retire_office_village("long-kali-baru", "budi", 200)
            .unwrap());
        assert!(!store
            .retire_office_village("long-kali-baru", "budi", 300)
            .unwrap());
        assert!(!store.retire_office_village("nowhere", "budi", 300).unwrap());
        let all = store.office_villages().unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].retired_at, Some(200));
        assert_eq!(all[0].retired_by.as_deref(), Some("budi"));
        let log = store.audit_log(None, 10).unwrap();
        let actions: Vec<_> = log
            .iter()
            .map(|(_, e)| (e.action, e.who.as_str()))
            .collect();
        assert_eq!(
            actions,
            [
                (AuditAction::VillageRetire, "budi"),
                (AuditAction::VillageAdd, "ani")
            ]
        );
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
