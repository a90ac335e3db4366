//! Requests for a full bundle (`full_request`): one per municipality, served by its next
//! publication.

use chrono::{DateTime, Utc};
use rusqlite::params;

use crate::ledger::{Ledger, LedgerError, NewMail, timestamp};

impl Ledger {
    /// Asks for a full bundle from `since` on at `municipality`'s next publication (an
    /// earlier date in a second request wins) and, if none was pending, queues `ack` (with
    /// its Message-ID) in the same transaction. Returns whether none was pending.
    pub fn request_full(
        &mut self,
        municipality: &str,
        since: chrono::NaiveDate,
        ack: Option<(&NewMail<'_>, &str)>,
        now: DateTime<Utc>,
    ) -> Result<bool, LedgerError> {
        let at = timestamp(now);
        let tx = self.write_tx()?;
        let pending: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM full_request WHERE municipality = ?1)",
            [municipality],
            |r| r.get(0),
        )?;
        tx.execute(
            "INSERT INTO full_request (municipality, since, requested_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (municipality) DO UPDATE SET since = min(since, ?2), requested_at = ?3",
            params![municipality, since.format("%Y-%m-%d").to_string(), at],
        )?;
        if let Some((mail, message_id)) = ack.filter(|_| !pending) {
            crate::ledger::mail::insert(&tx, mail, message_id, &at)?;
        }
        tx.commit()?;
        Ok(!pending)
    }

    /// The full-bundle request of `municipality` pending since `at` or before, if any.
    pub fn full_request(
        &self,
        municipality: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<chrono::NaiveDate>, LedgerError> {
        let since: Option<String> = rusqlite::OptionalExtension::optional(self.conn.query_row(
            "SELECT since FROM full_request WHERE municipality = ?1 AND requested_at <= ?2",
            params![municipality, timestamp(at)],
            |r| r.get(0),
        ))?;
        Ok(since.and_then(|s| chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok()))
    }

    /// Clears the request of `municipality` once its bundle is out, unless it was asked
    /// for again after `at` (then the next publication serves it).
    pub(crate) fn full_request_served(
        &mut self,
        municipality: &str,
        at: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        self.conn.execute(
            "DELETE FROM full_request WHERE municipality = ?1 AND requested_at <= ?2",
            params![municipality, timestamp(at)],
        )?;
        Ok(())
    }
}
