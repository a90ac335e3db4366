//! The `mail` table, the mail queue: every outgoing message is a row first, so that no
//! failure loses it; others queue a message inside their own transaction.
//! A message moves from `queued` to `sent`, or to `failed` once it is refused for good or
//! has been tried for too long. A message about a file bound for an outbox is held
//! (`held_mail`) until the file is there, then queued in the transaction that records it.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{Ledger, LedgerError, timestamp};

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMail<'a> {
    /// What it is about: `delivery-result`, `quality-report`, `test`, ...
    pub kind: &'a str,
    pub tenant: Option<&'a str>,
    pub recipients: &'a [String],
    pub subject: &'a str,
    pub text: &'a str,
    pub html: &'a str,
}

/// A queued message, as the sender needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMail {
    pub id: i64,
    pub kind: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub message_id: String,
    pub created_at: DateTime<Utc>,
    pub attempts: u32,
}

/// Where a message stands. Stored by name in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MailState {
    /// Waiting for its next attempt.
    Queued,
    /// Accepted by the mail server.
    Sent,
    /// Refused for good, or tried for too long.
    Failed,
}

impl MailState {
    const ALL: [Self; 3] = [Self::Queued, Self::Sent, Self::Failed];

    fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }
}

stored_by_name!(MailState, "mail state", MailState::ALL);

/// Messages per state.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct MailCounts {
    pub queued: u64,
    pub sent: u64,
    pub failed: u64,
}

/// Queues `mail` on `conn` (which may be inside a larger transaction), due at once.
pub(super) fn insert(
    conn: &rusqlite::Connection,
    mail: &NewMail<'_>,
    message_id: &str,
    at: &str,
) -> Result<(), LedgerError> {
    let recipients = serde_json::to_string(mail.recipients).unwrap_or_else(|_| "[]".into());
    conn.execute(
        "INSERT INTO mail (kind, tenant_id, recipients, subject, text_body, html_body, message_id, created_at,
                           state, next_attempt_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'queued', ?8)",
        params![mail.kind, mail.tenant, recipients, mail.subject, mail.text, mail.html, message_id, at],
    )?;
    Ok(())
}

/// Keeps `mail` aside (`held_mail`) until [`release`] queues it: the announcement of a file
/// that is recorded but not yet in its outbox must not reach anyone before the file does.
pub(super) fn hold(
    conn: &rusqlite::Connection,
    mail: &NewMail<'_>,
    message_id: &str,
) -> Result<(), LedgerError> {
    let recipients = serde_json::to_string(mail.recipients).unwrap_or_else(|_| "[]".into());
    conn.execute(
        "INSERT INTO held_mail (message_id, kind, tenant_id, recipients, subject, text_body, html_body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![message_id, mail.kind, mail.tenant, recipients, mail.subject, mail.text, mail.html],
    )?;
    Ok(())
}

/// Queues the held message `message_id`, due at once, on `conn` (inside the caller's
/// transaction); whether there was one (a second release finds none).
pub(super) fn release(
    conn: &rusqlite::Connection,
    message_id: &str,
    at: &str,
) -> Result<bool, LedgerError> {
    let queued = conn.execute(
        "INSERT INTO mail (kind, tenant_id, recipients, subject, text_body, html_body, message_id, created_at,
                           state, next_attempt_at)
         SELECT kind, tenant_id, recipients, subject, text_body, html_body, message_id, ?2, 'queued', ?2
         FROM held_mail WHERE message_id = ?1",
        params![message_id, at],
    )?;
    conn.execute("DELETE FROM held_mail WHERE message_id = ?1", [message_id])?;
    Ok(queued > 0)
}

impl Ledger {
    /// Queues a message, due at once. `message_id` is the Message-ID it keeps for good.
    pub(crate) fn enqueue_mail(
        &mut self,
        mail: &NewMail<'_>,
        message_id: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, LedgerError> {
        insert(&self.conn, mail, message_id, &timestamp(now))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Queued messages whose next attempt is due at `now`, oldest first.
    pub(crate) fn due_mail(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<QueuedMail>, LedgerError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, kind, recipients, subject, text_body, html_body, message_id, created_at, attempts
             FROM mail WHERE state = 'queued' AND next_attempt_at <= ?1 ORDER BY id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![timestamp(now), limit as i64], |r| {
            let recipients: String = r.get(2)?;
            Ok(QueuedMail {
                id: r.get(0)?,
                kind: r.get(1)?,
                recipients: serde_json::from_str(&recipients).unwrap_or_default(),
                subject: r.get(3)?,
                text: r.get(4)?,
                html: r.get(5)?,
                message_id: r.get(6)?,
                created_at: r.get(7)?,
                attempts: r.get::<_, i64>(8)?.try_into().unwrap_or(0),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// When the next queued message is due, if any.
    pub(crate) fn next_mail_due(&self) -> Result<Option<DateTime<Utc>>, LedgerError> {
        Ok(self
            .conn
            .query_row(
                "SELECT min(next_attempt_at) FROM mail WHERE state = 'queued'",
                [],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    /// Records that message `id` was sent.
    pub(crate) fn mail_sent(&mut self, id: i64, now: DateTime<Utc>) -> Result<(), LedgerError> {
        self.conn.execute(
            "UPDATE mail SET state = 'sent', sent_at = ?2, attempts = attempts + 1, last_error = NULL WHERE id = ?1",
            params![id, timestamp(now)],
        )?;
        Ok(())
    }

    /// Records a failed attempt: tried again at `retry_at`, or `failed` for good if `None`.
    pub(crate) fn mail_attempt_failed(
        &mut self,
        id: i64,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), LedgerError> {
        match retry_at {
            Some(at) => self.conn.execute(
                "UPDATE mail SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3 WHERE id = ?1",
                params![id, error, timestamp(at)],
            )?,
            None => self.conn.execute(
                "UPDATE mail SET attempts = attempts + 1, last_error = ?2, state = 'failed' WHERE id = ?1",
                params![id, error],
            )?,
        };
        Ok(())
    }

    /// How many messages are queued, sent and failed.
    pub(crate) fn mail_counts(&self) -> Result<MailCounts, LedgerError> {
        let mut counts = MailCounts::default();
        let mut stmt = self
            .conn
            .prepare("SELECT state, count(*) FROM mail GROUP BY state")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let n = r.get::<_, i64>(1)?.unsigned_abs();
            match r.get(0)? {
                MailState::Queued => counts.queued = n,
                MailState::Sent => counts.sent = n,
                MailState::Failed => counts.failed = n,
            }
        }
        Ok(counts)
    }
}
