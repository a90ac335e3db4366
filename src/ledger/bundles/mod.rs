//! Bundles: the `bundle` table records every file dropgate puts in an outbox (a
//! municipality's zips, a care provider's monthly report): its kind, rows, digest, and when
//! it was placed in and deleted from its outbox, and the Message-ID of the mail that
//! announces it (held until it is placed). `publication` is the
//! transaction that selects a bundle's rows and records which versions it carried;
//! `full_requests` the requests for a full bundle at the next publication.

mod full_requests;
mod publication;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{Ledger, LedgerError, NewMail, timestamp};

pub use publication::Publication;

pub(crate) use publication::{DecisionOut, DeliveryOut, LinkOut, MeasurementOut};
pub(super) use publication::{delivery_columns, delivery_out};

/// A bundle to record.
pub struct NewBundle<'a> {
    /// Whose outbox it goes to.
    pub tenant: &'a str,
    pub name: &'a str,
    pub kind: BundleKind,
    pub rows: &'a serde_json::Value,
    pub size_bytes: u64,
    pub sha256: &'a str,
    /// A Ketendata bundle's law (`IJW`, `IWMO`); `None` for the measurement bundles and
    /// reports.
    pub product: Option<&'a str>,
}

/// What a bundle carries. Stored by name in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BundleKind {
    /// The weekly bundle: what the municipality has not received yet.
    Incremental,
    /// Everything from a date on, on request; later weekly bundles are not affected.
    Full,
    /// A care provider's monthly report (one record per file: the page and its CSV).
    Report,
}

impl BundleKind {
    /// Every kind.
    pub(crate) const ALL: [Self; 3] = [Self::Incremental, Self::Full, Self::Report];

    /// The name the ledger stores.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Incremental => "incremental",
            Self::Full => "full",
            Self::Report => "report",
        }
    }
}

stored_by_name!(BundleKind, "bundle kind", BundleKind::ALL);

/// A recorded bundle that has not reached its outbox yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnplacedBundle {
    pub id: i64,
    pub tenant: String,
    pub name: String,
}

impl Ledger {
    /// Bundles recorded but not yet moved into their outbox (a publication cut off there).
    pub(crate) fn unplaced_bundles(&self) -> Result<Vec<UnplacedBundle>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, tenant, name FROM bundle WHERE placed_at IS NULL ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok(UnplacedBundle {
                id: r.get(0)?,
                tenant: r.get(1)?,
                name: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Whether a bundle of this name was recorded (names are unique, also once deleted).
    pub(crate) fn bundle_recorded(&self, name: &str) -> Result<bool, LedgerError> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM bundle WHERE name = ?1)",
            [name],
            |r| r.get(0),
        )?)
    }

    /// Records that bundle `id` reached its outbox, and in the same transaction queues the
    /// mail that announces it once every file that mail names is placed. Returns whether a
    /// mail was queued.
    pub(crate) fn bundle_placed(
        &mut self,
        id: i64,
        at: DateTime<Utc>,
    ) -> Result<bool, LedgerError> {
        let at = timestamp(at);
        let tx = self.write_tx()?;
        tx.execute(
            "UPDATE bundle SET placed_at = ?2 WHERE id = ?1",
            params![id, at],
        )?;
        let waiting: Option<String> = tx
            .query_row(
                "SELECT b.mail FROM bundle b WHERE b.id = ?1 AND NOT EXISTS
                 (SELECT 1 FROM bundle o WHERE o.mail = b.mail AND o.placed_at IS NULL)",
                [id],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        let queued = match waiting {
            Some(message_id) => super::mail::release(&tx, &message_id, &at)?,
            None => false,
        };
        tx.commit()?;
        Ok(queued)
    }
}

/// Inserts the record of `bundle`, made `at`, not yet placed, and holds `mail` (with its
/// Message-ID) until it is placed; returns its id. Files that one mail names (a report's
/// page and CSV) each pass the same mail: it is held once.
pub(in crate::ledger) fn insert(
    tx: &rusqlite::Transaction<'_>,
    bundle: &NewBundle<'_>,
    mail: Option<(&NewMail<'_>, &str)>,
    at: &str,
) -> Result<i64, LedgerError> {
    let message_id = mail.map(|(_, id)| id);
    tx.execute(
        "INSERT INTO bundle (tenant, name, kind, created_at, rows, size_bytes, sha256, product, mail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            bundle.tenant,
            bundle.name,
            bundle.kind,
            at,
            bundle.rows.to_string(),
            i64::try_from(bundle.size_bytes).unwrap_or(i64::MAX),
            bundle.sha256,
            bundle.product,
            message_id,
        ],
    )?;
    let id = tx.last_insert_rowid();
    if let Some((mail, message_id)) = mail {
        let held: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM held_mail WHERE message_id = ?1)",
            [message_id],
            |r| r.get(0),
        )?;
        if !held {
            super::mail::hold(tx, mail, message_id)?;
        }
    }
    Ok(id)
}

impl Ledger {
    /// Records the files of a care provider's report (waiting in staging to be placed) with
    /// its `mail` (with its Message-ID), held until both are placed, in one transaction;
    /// returns the files' ids in order.
    pub(crate) fn record_report(
        &mut self,
        files: &[NewBundle<'_>],
        mail: Option<(&NewMail<'_>, &str)>,
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>, LedgerError> {
        let at = timestamp(now);
        let tx = self.write_tx()?;
        let ids = files
            .iter()
            .map(|f| insert(&tx, f, mail, &at))
            .collect::<Result<Vec<_>, _>>()?;
        tx.commit()?;
        Ok(ids)
    }
}

/// A bundle as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BundleStatus {
    /// Whose outbox holds it. Named for the first owners of bundles, as `status --json`
    /// has always shown it.
    #[serde(rename = "municipality")]
    pub tenant: String,
    pub name: String,
    pub kind: BundleKind,
    pub created_at: String,
    /// Rows per CSV, as JSON.
    pub rows: serde_json::Value,
    /// Read to the end over SFTP at least once.
    pub downloaded: bool,
    pub deleted_at: Option<String>,
}

impl Ledger {
    /// Every bundle, newest first, with whether it was downloaded whole.
    pub fn bundles(&self) -> Result<Vec<BundleStatus>, LedgerError> {
        let mut stmt = self.conn.prepare(
            "SELECT b.tenant, b.name, b.created_at, b.rows, b.deleted_at,
                    b.kind, EXISTS (SELECT 1 FROM audit a WHERE a.action = 'sftp.download' AND a.tenant_id = b.tenant
                            AND a.subject = 'outbox/' || b.name AND json_extract(a.detail, '$.complete') = 1)
             FROM bundle b ORDER BY b.id DESC",
        )?;
        let rows = stmt.query_map([], |r| {
            let rows: String = r.get(3)?;
            Ok(BundleStatus {
                tenant: r.get(0)?,
                name: r.get(1)?,
                created_at: r.get(2)?,
                rows: serde_json::from_str(&rows).unwrap_or_default(),
                deleted_at: r.get(4)?,
                kind: r.get(5)?,
                downloaded: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
