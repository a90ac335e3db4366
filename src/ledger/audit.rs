//! The `audit` table, the append-only audit log: who did what, when. Triggers in the schema
//! refuse any update or delete, so a row once written stays. Other modules append to it
//! inside their own transactions, so that an act and its record commit together.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use super::{Ledger, LedgerError, timestamp};

/// One audited act.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry<'a> {
    /// Who: `intake`, `config`, `sftp:<user>`, ...
    pub actor: &'a str,
    /// What, as a stable verb: `delivery.received`, `tenant.added`, ...
    pub action: &'a str,
    pub tenant: Option<&'a str>,
    /// What it was done to, such as a file name.
    pub subject: Option<&'a str>,
    /// Extra facts as a JSON object.
    pub detail: Option<serde_json::Value>,
}

pub(super) fn append(
    conn: &Connection,
    entry: &AuditEntry<'_>,
    at: DateTime<Utc>,
) -> Result<(), LedgerError> {
    conn.execute(
        "INSERT INTO audit (at, actor, action, tenant_id, subject, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            timestamp(at),
            entry.actor,
            entry.action,
            entry.tenant,
            entry.subject,
            entry.detail.as_ref().map(|d| d.to_string()),
        ],
    )?;
    Ok(())
}

impl Ledger {
    /// Appends one entry to the audit log, in a transaction of its own.
    pub fn audit(&mut self, entry: &AuditEntry<'_>, at: DateTime<Utc>) -> Result<(), LedgerError> {
        append(&self.conn, entry, at)
    }

    /// Whether the log holds an entry equal to `entry` (actor, action, tenant, subject and
    /// detail; any time): for facts that are to be audited once, however often they are
    /// seen again.
    pub fn audited(&self, entry: &AuditEntry<'_>) -> Result<bool, LedgerError> {
        let found: i64 = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM audit WHERE actor = ?1 AND action = ?2
                 AND tenant_id IS ?3 AND subject IS ?4 AND detail IS ?5)",
            params![
                entry.actor,
                entry.action,
                entry.tenant,
                entry.subject,
                entry.detail.as_ref().map(|d| d.to_string()),
            ],
            |r| r.get(0),
        )?;
        Ok(found == 1)
    }

    /// How many audit entries have this action.
    #[cfg(test)]
    pub(crate) fn audit_count(&self, action: &str) -> Result<u64, LedgerError> {
        let n: i64 = self.conn.query_row(
            "SELECT count(*) FROM audit WHERE action = ?1",
            [action],
            |r| r.get(0),
        )?;
        Ok(n.unsigned_abs())
    }
}

/// An audit entry that owns its data, for entries that travel between threads.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AuditRecord {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: &'static str,
    pub tenant: Option<String>,
    pub subject: Option<String>,
    pub detail: Option<serde_json::Value>,
}

impl Ledger {
    /// Appends `records` in one transaction.
    pub(crate) fn audit_batch(&mut self, records: &[AuditRecord]) -> Result<(), LedgerError> {
        let tx = self.write_tx()?;
        for r in records {
            let entry = AuditEntry {
                actor: &r.actor,
                action: r.action,
                tenant: r.tenant.as_deref(),
                subject: r.subject.as_deref(),
                detail: r.detail.clone(),
            };
            append(&tx, &entry, r.at)?;
        }
        tx.commit()?;
        Ok(())
    }
}

impl Ledger {
    /// The SFTP user whose upload or rename last put `file_name` into `tenant`'s `upload/`
    /// since intake last recorded that name, from the audit log: for a file whose upload
    /// intake was not told about (it arrived while intake was stopping).
    pub(crate) fn uploader_from_audit(
        &self,
        tenant: &str,
        file_name: &str,
    ) -> Result<Option<String>, LedgerError> {
        let actor: Option<String> = rusqlite::OptionalExtension::optional(self.conn.query_row(
            "SELECT actor FROM audit
             WHERE tenant_id = ?1 AND subject = ?2 AND action IN ('sftp.upload', 'sftp.rename')
               AND id > ifnull((SELECT max(id) FROM audit
                                WHERE tenant_id = ?1 AND subject = ?2
                                  AND action IN ('delivery.recorded', 'delivery.replaced',
                                                 'delivery.withdrawn')), 0)
             ORDER BY id DESC LIMIT 1",
            [tenant, file_name],
            |r| r.get(0),
        ))?;
        Ok(actor.and_then(|a| a.strip_prefix("sftp:").map(str::to_owned)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audit_log_refuses_updates_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::open(&dir.path().join("l.sqlite")).unwrap();
        let entry = AuditEntry {
            actor: "test",
            action: "thing.done",
            tenant: None,
            subject: Some("x"),
            detail: None,
        };
        ledger.audit(&entry, Utc::now()).unwrap();
        for sql in ["UPDATE audit SET subject = 'y'", "DELETE FROM audit"] {
            let err = ledger.conn.execute(sql, []).unwrap_err();
            assert!(err.to_string().contains("append-only"), "{sql}: {err}");
        }
        assert_eq!(ledger.audit_count("thing.done").unwrap(), 1);
    }

    #[test]
    fn an_entry_is_found_again_only_with_the_same_facts() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::open(&dir.path().join("l.sqlite")).unwrap();
        let entry = |size: u64| AuditEntry {
            actor: "intake",
            action: "intake.too-large",
            tenant: None,
            subject: Some("big.csv"),
            detail: Some(serde_json::json!({ "size": size, "mtime": 7 })),
        };
        assert!(!ledger.audited(&entry(10)).unwrap());
        ledger.audit(&entry(10), Utc::now()).unwrap();
        assert!(ledger.audited(&entry(10)).unwrap());
        assert!(!ledger.audited(&entry(11)).unwrap());
    }
}
