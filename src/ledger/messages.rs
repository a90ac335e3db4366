//! The `message` and `message_key` tables (issue 15): iJw/iWmo messages as the allow-list
//! keeps them, one row per municipality and header identity (`BerichtCode`, `Afzender`,
//! `Ontvanger`, `Identificatie`, `Dagtekening`), and the keys (`ToewijzingNummer`,
//! `ReferentieAanbieder`) the link table relates them on. A claimed delivery stores its
//! messages through a [`MessageSink`], in the claim's transaction: a message delivered again,
//! in the same file or a later one, is kept once (the first one stands).

use chrono::NaiveDate;
use rusqlite::{Connection, params};

use super::LedgerError;
use crate::check::messages::Header;

/// A message ready to store: its content already holds pseudonyms, never a citizen number.
pub(crate) struct MessageRow<'a> {
    /// `IJW` or `IWMO`.
    pub standard: &'a str,
    /// Its type's number: 301 for JW301.
    pub number: u16,
    pub header: &'a Header,
    /// For a return message: the identity of the message it answers.
    pub answers: Option<(&'a str, NaiveDate)>,
    /// The allow-list's rows as JSON.
    pub content: &'a str,
    /// The keys of the link table: (`toewijzing` or `referentie`, value).
    pub keys: &'a [(&'static str, &'a str)],
}

// The tenant and the time of receipt are the delivery's: a message is received when the
// file that carried it was.
const INSERT_MESSAGE: &str = "
    INSERT OR IGNORE INTO message (tenant, standard, number, berichtcode, afzender, ontvanger,
                                   identificatie, dagtekening, answers_identificatie,
                                   answers_dagtekening, delivery, received_at, content)
    SELECT tenant_id, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, id, received_at, ?11
    FROM delivery WHERE id = ?1";

const INSERT_KEY: &str =
    "INSERT OR IGNORE INTO message_key (message, kind, value) VALUES (?1, ?2, ?3)";

/// The statements of one claim's messages, prepared once.
pub struct MessageSink<'c> {
    conn: &'c Connection,
    insert: rusqlite::Statement<'c>,
    key: rusqlite::Statement<'c>,
    delivery: i64,
}

impl<'c> MessageSink<'c> {
    /// Prepares the statements on `conn` (a claim's transaction) for `delivery`.
    pub(super) fn prepare(conn: &'c Connection, delivery: i64) -> Result<Self, LedgerError> {
        Ok(Self {
            conn,
            insert: conn.prepare(INSERT_MESSAGE)?,
            key: conn.prepare(INSERT_KEY)?,
            delivery,
        })
    }

    /// Stores a message; false if its municipality holds it already (by header identity).
    pub(crate) fn store(&mut self, m: &MessageRow<'_>) -> Result<bool, LedgerError> {
        let h = m.header;
        let inserted = self.insert.execute(params![
            self.delivery,
            m.standard,
            m.number,
            h.berichtcode,
            h.afzender,
            h.ontvanger,
            h.identificatie,
            h.dagtekening.to_string(),
            m.answers.map(|a| a.0),
            m.answers.map(|a| a.1.to_string()),
            m.content,
        ])?;
        if inserted == 0 {
            return Ok(false);
        }
        let id = self.conn.last_insert_rowid();
        for (kind, value) in m.keys {
            self.key.execute(params![id, kind, value])?;
        }
        Ok(true)
    }
}
