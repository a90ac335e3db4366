//! The `message` and `message_key` tables (issue 15): iJw/iWmo messages as the allow-list
//! keeps them, one row per municipality and header identity (`BerichtCode`, `Afzender`,
//! `Ontvanger`, `Identificatie`, `Dagtekening`), and the keys (`ToewijzingNummer`,
//! `ReferentieAanbieder`) the link table relates them on. A claimed delivery stores its
//! messages through a [`MessageSink`], in the claim's transaction: a message delivered again,
//! in the same file or a later one, is kept once (the first one stands). `ketendata` is
//! the publication's side: what a Ketendata bundle carries, and requests for a full one.

mod ketendata;

pub use ketendata::KetendataPublication;
pub(crate) use ketendata::{Identity, MessageOut, relations};

use rusqlite::{Connection, params};

use super::LedgerError;
use crate::check::messages::Header;
use crate::check::messages::content::Answer;
use serde::{Deserialize, Serialize};

/// One row of a stored message's content, as the ledger keeps it (JSON): its table's name
/// (empty for the message itself) and its values by column name (absent ones left out).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct StoredRow {
    #[serde(rename = "t")]
    pub table: String,
    #[serde(rename = "v")]
    pub values: std::collections::BTreeMap<String, String>,
}

/// A message ready to store: its content already holds pseudonyms, never a citizen number.
pub(crate) struct MessageRow<'a> {
    /// `IJW` or `IWMO`.
    pub standard: &'a str,
    /// Its type's number: 301 for JW301.
    pub number: u16,
    pub header: &'a Header,
    /// How a return message names itself (302 to 320) or the claim it answers (325).
    pub answer: Option<&'a Answer>,
    /// The allow-list's rows as JSON.
    pub content: &'a str,
    /// The keys of the link table: (`toewijzing` or `referentie`, value).
    pub keys: &'a [(&'static str, &'a str)],
}

// The tenant and the time of receipt are the delivery's: a message is received when the
// file that carried it was.
const INSERT_MESSAGE: &str = "
    INSERT OR IGNORE INTO message (tenant, standard, number, berichtcode, afzender, ontvanger,
                                   identificatie, dagtekening, retour_identificatie,
                                   retour_dagtekening, declaratie_identificatie,
                                   declaratie_dagtekening, delivery, received_at, content)
    SELECT tenant_id, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, id, received_at, ?13
    FROM delivery WHERE id = ?1";

// The messages of one assignment (301) and its stops (307) in the delivery's municipality,
// oldest first: what a decision made of messages is worked out from.
const ASSIGNMENT: &str = "
    SELECT m.number, m.afzender, m.ontvanger, m.content FROM message m
    JOIN message_key k ON k.message = m.id AND k.kind = 'toewijzing' AND k.value = ?3
    WHERE m.tenant = (SELECT tenant_id FROM delivery WHERE id = ?1) AND m.standard = ?2
      AND m.number IN (301, 307)
    ORDER BY m.dagtekening, m.id";

// The delivery that brought the message of this identity (the unique index's columns).
const HOLDER: &str = "
    SELECT delivery FROM message
    WHERE tenant = (SELECT tenant_id FROM delivery WHERE id = ?1)
      AND berichtcode = ?2 AND afzender = ?3 AND ontvanger = ?4 AND identificatie = ?5
      AND dagtekening = ?6 AND ifnull(retour_identificatie, '') = ifnull(?7, '')
      AND ifnull(retour_dagtekening, '') = ifnull(?8, '')";

const INSERT_KEY: &str =
    "INSERT OR IGNORE INTO message_key (message, kind, value) VALUES (?1, ?2, ?3)";

/// What storing a message found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MessageStored {
    /// It is new: stored.
    New,
    /// An earlier delivery brought it: kept once.
    Known,
    /// This delivery brought it before: the first one stands.
    Repeat,
}

/// A stored assignment (301) or stop (307), as a decision is worked out from it.
#[derive(Debug)]
pub(crate) struct AssignmentMessage {
    pub number: u16,
    pub afzender: String,
    pub ontvanger: String,
    /// The allow-list's rows (JSON).
    pub content: String,
}

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

    /// The assignments and stops of number `toewijzing` of law `standard` that the
    /// delivery's municipality holds (this delivery's too), oldest first.
    pub(crate) fn assignment(
        &self,
        standard: &str,
        toewijzing: &str,
    ) -> Result<Vec<AssignmentMessage>, LedgerError> {
        let mut stmt = self.conn.prepare_cached(ASSIGNMENT)?;
        let rows = stmt.query_map(params![self.delivery, standard, toewijzing], |r| {
            Ok(AssignmentMessage {
                number: r.get(0)?,
                afzender: r.get(1)?,
                ontvanger: r.get(2)?,
                content: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stores a message, unless its municipality holds it already (by header identity):
    /// from an earlier delivery, or earlier in this one.
    pub(crate) fn store(&mut self, m: &MessageRow<'_>) -> Result<MessageStored, LedgerError> {
        let h = m.header;
        let (retour, declaratie) = match m.answer {
            Some(Answer::Retour(id, date)) => (Some((id, date.to_string())), None),
            Some(Answer::Declaratie(id, date)) => (None, Some((id, date.to_string()))),
            None => (None, None),
        };
        let inserted = self.insert.execute(params![
            self.delivery,
            m.standard,
            m.number,
            h.berichtcode,
            h.afzender,
            h.ontvanger,
            h.identificatie,
            h.dagtekening.to_string(),
            retour.as_ref().map(|a| a.0),
            retour.as_ref().map(|a| a.1.as_str()),
            declaratie.as_ref().map(|a| a.0),
            declaratie.as_ref().map(|a| a.1.as_str()),
            m.content,
        ])?;
        if inserted == 0 {
            let earlier: i64 = self.conn.prepare_cached(HOLDER)?.query_row(
                params![
                    self.delivery,
                    h.berichtcode,
                    h.afzender,
                    h.ontvanger,
                    h.identificatie,
                    h.dagtekening.to_string(),
                    retour.as_ref().map(|a| a.0),
                    retour.as_ref().map(|a| a.1.as_str()),
                ],
                |r| r.get(0),
            )?;
            return Ok(if earlier == self.delivery {
                MessageStored::Repeat
            } else {
                MessageStored::Known
            });
        }
        let id = self.conn.last_insert_rowid();
        for (kind, value) in m.keys {
            self.key.execute(params![id, kind, value])?;
        }
        Ok(MessageStored::New)
    }
}
