//! The `tenant` table mirrors the configuration: tenants are added, changed, or marked
//! inactive (never deleted, because deliveries refer to them).

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde_json::json;

use super::audit::{self, AuditEntry};
use super::{Ledger, LedgerError, timestamp};
use crate::config::{Tenant, TenantKind};

stored_by_name!(
    TenantKind,
    "tenant kind",
    [TenantKind::Supplier, TenantKind::Municipality]
);

impl Ledger {
    /// Makes the tenant table match `tenants`, in one transaction, auditing each change.
    pub(crate) fn sync_tenants(
        &mut self,
        tenants: &[Tenant],
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let tx = self.write_tx()?;
        let at = timestamp(now);
        for t in tenants {
            let existing: Option<(TenantKind, String, String, i64)> = tx
                .query_row(
                    "SELECT kind, code, name, active FROM tenant WHERE id = ?1",
                    [&t.id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            let wanted = (t.kind, t.code.clone(), t.name.clone(), 1);
            let action = match existing {
                None => "tenant.added",
                Some(row) if row == wanted => continue,
                Some(_) => "tenant.changed",
            };
            tx.execute(
                "INSERT INTO tenant (id, kind, code, name, active, updated_at) VALUES (?1, ?2, ?3, ?4, 1, ?5)
                 ON CONFLICT (id) DO UPDATE SET kind = ?2, code = ?3, name = ?4, active = 1, updated_at = ?5",
                params![t.id, t.kind, t.code, t.name, at],
            )?;
            let detail = json!({ "kind": t.kind.as_str(), "code": t.code, "name": t.name });
            audit::append(
                &tx,
                &AuditEntry {
                    actor: "config",
                    action,
                    tenant: Some(&t.id),
                    subject: None,
                    detail: Some(detail),
                },
                now,
            )?;
        }
        let mut removed = Vec::new();
        {
            let mut stmt = tx.prepare("SELECT id FROM tenant WHERE active = 1")?;
            for id in stmt.query_map([], |r| r.get::<_, String>(0))? {
                let id = id?;
                if !tenants.iter().any(|t| t.id == id) {
                    removed.push(id);
                }
            }
        }
        for id in removed {
            tx.execute(
                "UPDATE tenant SET active = 0, updated_at = ?2 WHERE id = ?1",
                params![id, at],
            )?;
            audit::append(
                &tx,
                &AuditEntry {
                    actor: "config",
                    action: "tenant.deactivated",
                    tenant: Some(&id),
                    subject: None,
                    detail: None,
                },
                now,
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}

/// A tenant as the ledger knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRow {
    pub id: String,
    pub kind: TenantKind,
    pub code: String,
    pub name: String,
    pub active: bool,
}

impl Ledger {
    /// Every tenant the ledger has known, active or not, by id.
    pub fn tenants(&self) -> Result<Vec<TenantRow>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, kind, code, name, active FROM tenant ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok(TenantRow {
                id: r.get(0)?,
                kind: r.get(1)?,
                code: r.get(2)?,
                name: r.get(3)?,
                active: r.get::<_, i64>(4)? == 1,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
