//! The `reminder` table (issue 16, item 4): each reminder sent (a tenant that stopped
//! delivering, a login about to expire), by kind, subject and period, so that one goes out
//! at most once per period however often the job runs; and when the job first watched a
//! tenant that never delivered, to count its silence from.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{Ledger, LedgerError, NewMail, timestamp};

/// The kind of row that says since when a tenant without deliveries is watched.
const WATCHING: &str = "watching";

impl Ledger {
    /// When the last delivery of `tenant` was received (any outcome but a withdrawn
    /// version); `None` if it never delivered.
    pub(crate) fn last_delivery(&self, tenant: &str) -> Result<Option<DateTime<Utc>>, LedgerError> {
        Ok(self.conn.query_row(
            "SELECT max(received_at) FROM delivery WHERE tenant_id = ?1 AND state != 'withdrawn'",
            [tenant],
            |r| r.get(0),
        )?)
    }

    /// Since when the reminders watch `tenant`: the first time this was asked (recorded
    /// then, `now`).
    pub(crate) fn watched_since(
        &mut self,
        tenant: &str,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, LedgerError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO reminder (kind, subject, period, sent_at) VALUES (?1, ?2, '', ?3)",
            params![WATCHING, tenant, timestamp(now)],
        )?;
        Ok(self.conn.query_row(
            "SELECT sent_at FROM reminder WHERE kind = ?1 AND subject = ?2 AND period = ''",
            params![WATCHING, tenant],
            |r| r.get(0),
        )?)
    }

    /// Records reminder `kind` of `subject` for `period` and queues its `mail` (with its
    /// Message-ID) in one transaction, unless that reminder was sent before; returns
    /// whether it is new.
    pub(crate) fn remind(
        &mut self,
        (kind, subject, period): (&str, &str, &str),
        mail: (&NewMail<'_>, &str),
        now: DateTime<Utc>,
    ) -> Result<bool, LedgerError> {
        let at = timestamp(now);
        let tx = self.write_tx()?;
        let sent: Option<String> = tx
            .query_row(
                "SELECT sent_at FROM reminder WHERE kind = ?1 AND subject = ?2 AND period = ?3",
                params![kind, subject, period],
                |r| r.get(0),
            )
            .optional()?;
        if sent.is_some() {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO reminder (kind, subject, period, sent_at) VALUES (?1, ?2, ?3, ?4)",
            params![kind, subject, period, at],
        )?;
        super::mail::insert(&tx, mail.0, mail.1, &at)?;
        tx.commit()?;
        Ok(true)
    }
}
