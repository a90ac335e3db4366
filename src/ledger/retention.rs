//! Expired files and the records of their deletion. Owns no table: it reads `bundle` and
//! `delivery` for what has outlived its keeping time, and records each deletion as a
//! timestamp on that row (`deleted_at`, `original_deleted_at`, `receipt_deleted_at`) and an
//! audit row, in one transaction. Temporary files removed from `upload/` were never
//! deliveries: they get only audit rows, and the mail that tells their tenant.

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde_json::json;

use super::audit::{self, AuditEntry};
use super::mail::{self, NewMail};
use super::{DeliveryState, Ledger, LedgerError, timestamp};

/// A temporary file the sweep removed from an `upload/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RemovedTemp {
    /// Its name as texts show it (`redact::name`).
    pub shown_name: String,
    pub size: u64,
    /// When it was last written.
    pub modified: DateTime<Utc>,
}

/// A file that may go, as the ledger knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    pub id: i64,
    pub tenant: String,
    /// Bundle name, original file name, or receipt base name.
    pub name: String,
    /// For originals: processed (archive/) or quarantined (quarantine/).
    pub state: Option<DeliveryState>,
}

/// What kind of file a deletion is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    Bundle,
    Original,
    Receipt,
}

impl Ledger {
    /// Files of `kind` whose keeping time ended before `cutoff`.
    pub(crate) fn expired(
        &self,
        kind: Kept,
        cutoff: DateTime<Utc>,
    ) -> Result<Vec<Expired>, LedgerError> {
        let sql = match kind {
            Kept::Bundle => {
                "SELECT id, tenant, name, NULL FROM bundle
                 WHERE deleted_at IS NULL AND placed_at IS NOT NULL AND created_at < ?1 ORDER BY id"
            }
            Kept::Original => {
                "SELECT id, tenant_id, file_name, state FROM delivery
                 WHERE original_deleted_at IS NULL AND finished_at IS NOT NULL AND finished_at < ?1 ORDER BY id"
            }
            Kept::Receipt => {
                "SELECT id, tenant_id, receipt, NULL FROM delivery
                 WHERE receipt_deleted_at IS NULL AND finished_at IS NOT NULL AND receipt IS NOT NULL
                   AND processed_at < ?1 ORDER BY id"
            }
        };
        let mut stmt = self.conn.prepare(sql)?;
        let mut rows = stmt.query(params![timestamp(cutoff)])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let state = r
                .get::<_, Option<String>>(3)?
                .map(|s| s.parse())
                .transpose()?;
            out.push(Expired {
                id: r.get(0)?,
                tenant: r.get(1)?,
                name: r.get(2)?,
                state,
            });
        }
        Ok(out)
    }

    /// Bundles still counted as present, for checking them against the outboxes.
    pub(crate) fn present_bundles(&self) -> Result<Vec<Expired>, LedgerError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, tenant, name FROM bundle WHERE deleted_at IS NULL AND placed_at IS NOT NULL ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(Expired {
                id: r.get(0)?,
                tenant: r.get(1)?,
                name: r.get(2)?,
                state: None,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records a deletion by `actor` (`retention`, or `sftp:<user>` for a bundle a
    /// municipality removed itself), with its audit row.
    pub fn deleted(
        &mut self,
        kind: Kept,
        file: &Expired,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let tx = self.write_tx()?;
        let (sql, action) = match kind {
            Kept::Bundle => (
                "UPDATE bundle SET deleted_at = ?2 WHERE id = ?1",
                "bundle.deleted",
            ),
            Kept::Original => (
                "UPDATE delivery SET original_deleted_at = ?2 WHERE id = ?1",
                "original.deleted",
            ),
            Kept::Receipt => (
                "UPDATE delivery SET receipt_deleted_at = ?2 WHERE id = ?1",
                "receipt.deleted",
            ),
        };
        tx.execute(sql, params![file.id, timestamp(now)])?;
        let entry = AuditEntry {
            actor,
            action,
            tenant: Some(&file.tenant),
            subject: Some(&file.name),
            detail: Some(json!({ "id": file.id })),
        };
        audit::append(&tx, &entry, now)?;
        tx.commit()?;
        Ok(())
    }
}

impl Ledger {
    /// Records the temporary files the sweep removed from `tenant`'s `upload/`: an audit row
    /// for each (`upload.temp-removed`, by `retention`), and the mail that names them, if
    /// any (with its Message-ID), in one transaction.
    pub(crate) fn temps_removed(
        &mut self,
        tenant: &str,
        files: &[RemovedTemp],
        mail: Option<(&NewMail<'_>, &str)>,
        now: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        let tx = self.write_tx()?;
        for file in files {
            let entry = AuditEntry {
                actor: "retention",
                action: "upload.temp-removed",
                tenant: Some(tenant),
                subject: Some(&file.shown_name),
                detail: Some(json!({
                    "size": file.size,
                    "modified": timestamp(file.modified),
                })),
            };
            audit::append(&tx, &entry, now)?;
        }
        if let Some((mail, message_id)) = mail {
            mail::insert(&tx, mail, message_id, &timestamp(now))?;
        }
        tx.commit()?;
        Ok(())
    }
}
