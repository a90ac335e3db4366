//! The `enrolment` table (issue 16, item 5): users invited by `dropgate invite`, beside those
//! of the configuration. An invitation holds a one-time code (its Argon2id hash) valid for a
//! few days; logging in over SFTP with it and putting a public key to
//! `/.ssh/authorized_keys` enrols the user: the key is kept, the code made void, and the
//! bodies of the mail that carried it wiped. Every step is audited in its own transaction.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::audit::{self, AuditEntry};
use super::{Ledger, LedgerError, NewMail, timestamp};

/// A new invitation, or a renewed one.
#[derive(Debug, Clone)]
pub(crate) struct Invitation<'a> {
    pub user: &'a str,
    pub tenant: &'a str,
    pub deliver: bool,
    pub collect: bool,
    pub email: &'a str,
    pub code_hash: &'a str,
    pub code_expires: DateTime<Utc>,
}

/// One enrolment as the SFTP server and `invite --list` read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Enrolment {
    pub user: String,
    pub tenant: String,
    pub deliver: bool,
    pub collect: bool,
    pub email: String,
    pub invited_at: DateTime<Utc>,
    /// The code's hash while it is valid to use (not used, not void; expiry aside).
    pub code_hash: Option<String>,
    pub code_expires: DateTime<Utc>,
    pub enrolled_at: Option<DateTime<Utc>>,
    /// The user's keys in authorized_keys format, once enrolled.
    pub public_keys: Option<String>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Why an invitation step was refused; the text is for the sysadmin.
#[derive(Debug, thiserror::Error)]
pub enum EnrolmentError {
    #[error(
        "user {0:?} has been invited already (renew a code with `dropgate invite --renew {0}`)"
    )]
    Invited(String),
    #[error("user {0:?} is enrolled already; its key is in use")]
    Enrolled(String),
    #[error("no invitation for user {0:?} (see `dropgate invite --list`)")]
    Unknown(String),
    #[error("user {0:?} was revoked; invite it anew")]
    Revoked(String),
    #[error("tenant {0:?} is not in the ledger yet: start the daemon (or reload it) with it first")]
    NoTenant(String),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl From<rusqlite::Error> for EnrolmentError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Ledger(e.into())
    }
}

const COLUMNS: &str = "user, tenant_id, deliver, collect, email, invited_at, code_hash, \
                       code_expires, enrolled_at, public_keys, revoked_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Enrolment> {
    Ok(Enrolment {
        user: r.get(0)?,
        tenant: r.get(1)?,
        deliver: r.get(2)?,
        collect: r.get(3)?,
        email: r.get(4)?,
        invited_at: r.get(5)?,
        code_hash: r.get(6)?,
        code_expires: r.get(7)?,
        enrolled_at: r.get(8)?,
        public_keys: r.get(9)?,
        revoked_at: r.get(10)?,
    })
}

/// What is left of an invitation mail once its code is void: the code must not outlive its
/// use in the mail queue (nor in the backups of the ledger).
const WIPED: &str = "(uitnodiging met eenmalige code; de code is vervallen en hier gewist / \
                     invitation with a one-time code; the code is void and wiped here)";

/// Wipes the bodies of the invitation mail `mail_id`; one not yet sent is not sent at all.
fn wipe_mail(conn: &rusqlite::Connection, mail_id: Option<i64>) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE mail SET text_body = ?2, html_body = ?2,
                state = CASE state WHEN 'queued' THEN 'failed' ELSE state END,
                last_error = CASE state WHEN 'queued' THEN 'code void before it was sent' ELSE last_error END
         WHERE id = ?1",
        params![mail_id, WIPED],
    )?;
    Ok(())
}

fn audit(
    conn: &rusqlite::Connection,
    actor: &str,
    action: &str,
    e: (&str, &str),
    detail: serde_json::Value,
    at: DateTime<Utc>,
) -> Result<(), LedgerError> {
    audit::append(
        conn,
        &AuditEntry {
            actor,
            action,
            tenant: Some(e.1),
            subject: Some(e.0),
            detail: Some(detail),
        },
        at,
    )
}

impl Ledger {
    /// The enrolment of `user`, in any state.
    pub(crate) fn enrolment(&self, user: &str) -> Result<Option<Enrolment>, LedgerError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM enrolment WHERE user = ?1"),
                [user],
                row,
            )
            .optional()?)
    }

    /// Every enrolment, by user name.
    pub(crate) fn enrolments(&self) -> Result<Vec<Enrolment>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {COLUMNS} FROM enrolment ORDER BY user"))?;
        let rows = stmt.query_map([], row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records a new invitation and queues its `mail` (with its Message-ID), audited as
    /// `user.invited` by `actor`. A revoked user may be invited anew; one invited or
    /// enrolled is refused.
    pub(crate) fn invite(
        &mut self,
        actor: &str,
        inv: &Invitation<'_>,
        mail: (&NewMail<'_>, &str),
        now: DateTime<Utc>,
    ) -> Result<(), EnrolmentError> {
        let at = timestamp(now);
        let tx = self.write_tx()?;
        let tenant: Option<i64> = tx
            .query_row("SELECT 1 FROM tenant WHERE id = ?1", [inv.tenant], |r| {
                r.get(0)
            })
            .optional()?;
        if tenant.is_none() {
            return Err(EnrolmentError::NoTenant(inv.tenant.to_owned()));
        }
        let earlier: Option<(Option<String>, Option<String>, Option<i64>)> = tx
            .query_row(
                "SELECT enrolled_at, revoked_at, mail_id FROM enrolment WHERE user = ?1",
                [inv.user],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        match earlier {
            Some((_, Some(_), _)) | None => {}
            Some((Some(_), None, _)) => return Err(EnrolmentError::Enrolled(inv.user.to_owned())),
            Some((None, None, _)) => return Err(EnrolmentError::Invited(inv.user.to_owned())),
        }
        super::mail::insert(&tx, mail.0, mail.1, &at)?;
        let mail_id = tx.last_insert_rowid();
        tx.execute(
            "INSERT OR REPLACE INTO enrolment (user, tenant_id, deliver, collect, email, invited_at,
                 code_hash, code_expires, mail_id, enrolled_at, public_keys, revoked_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, NULL, NULL)",
            params![
                inv.user,
                inv.tenant,
                inv.deliver,
                inv.collect,
                inv.email,
                at,
                inv.code_hash,
                timestamp(inv.code_expires),
                mail_id
            ],
        )?;
        let detail = serde_json::json!({
            "email": inv.email, "deliver": inv.deliver, "collect": inv.collect,
            "code_expires": timestamp(inv.code_expires),
        });
        audit(
            &tx,
            actor,
            "user.invited",
            (inv.user, inv.tenant),
            detail,
            now,
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Gives a user not yet enrolled a new code (the old one void, its mail wiped) and
    /// queues the new `mail`; audited as `user.invite-renewed`.
    pub(crate) fn renew_invitation(
        &mut self,
        actor: &str,
        user: &str,
        code_hash: &str,
        code_expires: DateTime<Utc>,
        mail: (&NewMail<'_>, &str),
        now: DateTime<Utc>,
    ) -> Result<(), EnrolmentError> {
        let at = timestamp(now);
        let tx = self.write_tx()?;
        let found: Option<(String, bool, bool, Option<i64>)> = tx
            .query_row(
                "SELECT tenant_id, enrolled_at IS NOT NULL, revoked_at IS NOT NULL, mail_id
                 FROM enrolment WHERE user = ?1",
                [user],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let (tenant, old_mail) = match found {
            None => return Err(EnrolmentError::Unknown(user.to_owned())),
            Some((_, _, true, _)) => return Err(EnrolmentError::Revoked(user.to_owned())),
            Some((_, true, false, _)) => return Err(EnrolmentError::Enrolled(user.to_owned())),
            Some((tenant, false, false, mail_id)) => (tenant, mail_id),
        };
        wipe_mail(&tx, old_mail)?;
        super::mail::insert(&tx, mail.0, mail.1, &at)?;
        let mail_id = tx.last_insert_rowid();
        tx.execute(
            "UPDATE enrolment SET code_hash = ?2, code_expires = ?3, mail_id = ?4 WHERE user = ?1",
            params![user, code_hash, timestamp(code_expires), mail_id],
        )?;
        let detail = serde_json::json!({ "code_expires": timestamp(code_expires) });
        audit(
            &tx,
            actor,
            "user.invite-renewed",
            (user, &tenant),
            detail,
            now,
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Ends an invitation or an enrolment: its code and key no longer let anyone in.
    /// Audited as `user.revoked`.
    pub(crate) fn revoke_enrolment(
        &mut self,
        actor: &str,
        user: &str,
        now: DateTime<Utc>,
    ) -> Result<(), EnrolmentError> {
        let tx = self.write_tx()?;
        let found: Option<(String, Option<String>, Option<i64>)> = tx
            .query_row(
                "SELECT tenant_id, revoked_at, mail_id FROM enrolment WHERE user = ?1",
                [user],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let (tenant, mail_id) = match found {
            None => return Err(EnrolmentError::Unknown(user.to_owned())),
            Some((_, Some(_), _)) => return Err(EnrolmentError::Revoked(user.to_owned())),
            Some((tenant, None, mail_id)) => (tenant, mail_id),
        };
        wipe_mail(&tx, mail_id)?;
        tx.execute(
            "UPDATE enrolment SET code_hash = NULL, revoked_at = ?2 WHERE user = ?1",
            params![user, timestamp(now)],
        )?;
        audit(
            &tx,
            actor,
            "user.revoked",
            (user, &tenant),
            serde_json::json!({}),
            now,
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Enrols `user` with `public_keys` (authorized_keys lines) if its code is still valid
    /// at `now`: the code becomes void and its mail is wiped, in one transaction audited as
    /// `user.enrolled` (with the keys' fingerprints in `detail`). Returns whether it was
    /// enrolled: false if the code was used, void or expired meanwhile (another session
    /// may have enrolled first).
    pub(crate) fn enrol(
        &mut self,
        user: &str,
        public_keys: &str,
        detail: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<bool, LedgerError> {
        let at = timestamp(now);
        let tx = self.write_tx()?;
        let found: Option<(String, Option<i64>)> = tx
            .query_row(
                "SELECT tenant_id, mail_id FROM enrolment
                 WHERE user = ?1 AND code_hash IS NOT NULL AND revoked_at IS NULL
                   AND enrolled_at IS NULL AND code_expires > ?2",
                params![user, at],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((tenant, mail_id)) = found else {
            return Ok(false);
        };
        tx.execute(
            "UPDATE enrolment SET code_hash = NULL, enrolled_at = ?2, public_keys = ?3 WHERE user = ?1",
            params![user, at, public_keys],
        )?;
        wipe_mail(&tx, mail_id)?;
        audit(
            &tx,
            &format!("sftp:{user}"),
            "user.enrolled",
            (user, &tenant),
            detail,
            now,
        )?;
        tx.commit()?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger() -> (tempfile::TempDir, Ledger) {
        let dir = tempfile::tempdir().unwrap();
        let ledger = Ledger::open(&dir.path().join("l.sqlite")).unwrap();
        ledger
            .conn
            .execute(
                "INSERT INTO tenant (id, kind, code, name, updated_at) VALUES ('zorg', 'supplier', '1', 'Zorg', 'x')",
                [],
            )
            .unwrap();
        (dir, ledger)
    }

    fn mail() -> NewMail<'static> {
        NewMail {
            kind: "invitation",
            tenant: Some("zorg"),
            recipients: &[],
            subject: "s",
            text: "code ABCDE",
            html: "code ABCDE",
        }
    }

    fn invitation(expires: DateTime<Utc>) -> Invitation<'static> {
        Invitation {
            user: "jan",
            tenant: "zorg",
            deliver: true,
            collect: false,
            email: "jan@zorg.example",
            code_hash: "hash",
            code_expires: expires,
        }
    }

    fn bodies(ledger: &Ledger) -> Vec<(String, String)> {
        let mut stmt = ledger
            .conn
            .prepare("SELECT text_body, state FROM mail ORDER BY id")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn a_code_enrols_once_then_is_void_and_its_mail_wiped() {
        let (_dir, mut ledger) = ledger();
        let now = Utc::now();
        let week = now + chrono::Duration::days(7);
        ledger
            .invite("cli", &invitation(week), (&mail(), "<1@x>"), now)
            .unwrap();
        assert!(matches!(
            ledger.invite("cli", &invitation(week), (&mail(), "<2@x>"), now),
            Err(EnrolmentError::Invited(_))
        ));
        let json = serde_json::json!({});
        assert!(
            ledger
                .enrol("jan", "ssh-ed25519 AAAA", json.clone(), now)
                .unwrap()
        );
        assert!(!ledger.enrol("jan", "ssh-ed25519 BBBB", json, now).unwrap());
        let e = ledger.enrolment("jan").unwrap().unwrap();
        assert_eq!(e.public_keys.as_deref(), Some("ssh-ed25519 AAAA"));
        assert_eq!(e.code_hash, None);
        // Queued, never sent: not sent at all now, and the code is gone from the queue.
        assert_eq!(
            bodies(&ledger),
            vec![(WIPED.to_owned(), "failed".to_owned())]
        );
        assert!(matches!(
            ledger.renew_invitation("cli", "jan", "h2", week, (&mail(), "<3@x>"), now),
            Err(EnrolmentError::Enrolled(_))
        ));
    }

    #[test]
    fn an_expired_code_enrols_nobody_until_renewed_and_revocation_ends_it() {
        let (_dir, mut ledger) = ledger();
        let now = Utc::now();
        let past = now - chrono::Duration::seconds(1);
        ledger
            .invite("cli", &invitation(past), (&mail(), "<1@x>"), now)
            .unwrap();
        let json = serde_json::json!({});
        assert!(!ledger.enrol("jan", "k", json.clone(), now).unwrap());
        let week = now + chrono::Duration::days(7);
        ledger
            .renew_invitation("cli", "jan", "h2", week, (&mail(), "<2@x>"), now)
            .unwrap();
        let states: Vec<String> = bodies(&ledger).into_iter().map(|b| b.1).collect();
        assert_eq!(states, ["failed", "queued"]);
        ledger.revoke_enrolment("cli", "jan", now).unwrap();
        assert!(!ledger.enrol("jan", "k", json, now).unwrap());
        assert!(matches!(
            ledger.revoke_enrolment("cli", "jan", now),
            Err(EnrolmentError::Revoked(_))
        ));
        // A revoked name may be invited anew.
        ledger
            .invite("cli", &invitation(week), (&mail(), "<3@x>"), now)
            .unwrap();
        let e = ledger.enrolment("jan").unwrap().unwrap();
        assert!(e.revoked_at.is_none() && e.code_hash.is_some());
    }
}
