//! The daily run's side of the ledger: claiming a delivery, upserting its rows, recording
//! its outcome.
//!
//! A [`Claim`] is one IMMEDIATE transaction: it holds the write lock from the moment it
//! checks that the delivery still waits until the outcome is committed. That is the lock
//! that makes each file processed once, whoever else (`process --now`, another daemon) runs.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{OptionalExtension, Transaction, params};
use serde_json::json;

use super::audit::{self, AuditEntry};
use super::{DeliveryState, Ledger, LedgerError, NewMail, timestamp};

/// A delivery as the daily run needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub tenant: String,
    pub file_name: String,
    pub sha256: String,
    pub received_at: String,
    pub state: DeliveryState,
    /// For a duplicate: the original's file name and receipt time.
    pub duplicate_of: Option<(String, String)>,
    /// The SFTP user who uploaded it, if it came over SFTP.
    pub uploaded_by: Option<String>,
}

/// A delivery processed by a run that stopped before moving its file and receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfinished {
    pub delivery: Delivery,
    /// Receipt name in `receipts/`, without `.result.csv`.
    pub receipt: String,
}

/// A checked measurement with its pseudonym, ready to store.
pub struct MeasurementRow<'a> {
    pub agb: &'a str,
    pub metingnummer: &'a str,
    pub pseudonym: &'a str,
    pub datum: NaiveDate,
    pub instrument: &'a str,
    pub respondent: u8,
    pub score: Option<f64>,
    pub status: Option<&'a str>,
}

/// A checked decision with its pseudonym, ready to store.
pub struct DecisionRow<'a> {
    pub gemeentecode: &'a str,
    pub beschikkingnummer: &'a str,
    pub pseudonym: &'a str,
    pub agb: &'a str,
    pub productcategorie: &'a str,
    pub productcode: &'a str,
    pub ingangsdatum: NaiveDate,
    pub einddatum: Option<NaiveDate>,
    pub reden: Option<&'a str>,
}

/// What the run concluded about a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome<'a> {
    pub state: DeliveryState,
    pub dataset: Option<&'a str>,
    pub format: Option<&'a str>,
    pub rows: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub error: Option<String>,
    /// Receipt name in `receipts/`, without `.result.csv`.
    pub receipt: String,
    pub rules: BTreeMap<&'static str, u64>,
}

/// A delivery under processing; dropped without [`Claim::commit`], nothing happened.
pub struct Claim<'a> {
    tx: Transaction<'a>,
    pub delivery: Delivery,
    now: DateTime<Utc>,
    /// `now` as stored, formatted once for every row the claim writes.
    at: String,
}

// Storing a row is an INSERT OR IGNORE, and only for a key that exists an UPDATE: an
// INSERT ... ON CONFLICT DO UPDATE makes SQLite keep a statement journal for every row
// (measured: a fifth of the run). The UPDATE skips a row this delivery already carried
// (`seen_delivery`): the first of two equal keys in one file stands. `changed_*` move only
// when a value differs, so an identical row changes nothing but `seen_delivery`.
const INSERT_MEASUREMENT: &str = "
    INSERT OR IGNORE INTO measurement (agb, metingnummer, pseudonym, datum, instrument, respondent, score,
                                       status, changed_delivery, changed_at, seen_delivery)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?9)";

const UPDATE_MEASUREMENT: &str = "
    UPDATE measurement SET
        changed_delivery = CASE WHEN (pseudonym, datum, instrument, respondent, score, status) IS (?3, ?4, ?5, ?6, ?7, ?8)
                           THEN changed_delivery ELSE ?9 END,
        changed_at = CASE WHEN (pseudonym, datum, instrument, respondent, score, status) IS (?3, ?4, ?5, ?6, ?7, ?8)
                     THEN changed_at ELSE ?10 END,
        pseudonym = ?3, datum = ?4, instrument = ?5, respondent = ?6, score = ?7, status = ?8,
        seen_delivery = ?9
    WHERE agb = ?1 AND metingnummer = ?2 AND seen_delivery IS NOT ?9";

const INSERT_DECISION: &str = "
    INSERT OR IGNORE INTO decision (gemeentecode, beschikkingnummer, pseudonym, agb, productcategorie, productcode,
                                    ingangsdatum, einddatum, reden, changed_delivery, changed_at, seen_delivery,
                                    window_start, window_end)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?10, ?12, ?13)";

const UPDATE_DECISION: &str = "
    UPDATE decision SET
        changed_delivery = CASE WHEN (pseudonym, agb, productcategorie, productcode, ingangsdatum, einddatum, reden)
                                  IS (?3, ?4, ?5, ?6, ?7, ?8, ?9)
                           THEN changed_delivery ELSE ?10 END,
        changed_at = CASE WHEN (pseudonym, agb, productcategorie, productcode, ingangsdatum, einddatum, reden)
                            IS (?3, ?4, ?5, ?6, ?7, ?8, ?9)
                     THEN changed_at ELSE ?11 END,
        pseudonym = ?3, agb = ?4, productcategorie = ?5, productcode = ?6, ingangsdatum = ?7,
        einddatum = ?8, reden = ?9, seen_delivery = ?10, window_start = ?12, window_end = ?13
    WHERE gemeentecode = ?1 AND beschikkingnummer = ?2 AND seen_delivery IS NOT ?10";

/// `yyyy-mm-dd` on the stack: binding a date to SQL then copies ten bytes, nothing more.
struct IsoDate([u8; 10]);

impl IsoDate {
    fn new(d: NaiveDate) -> Self {
        use chrono::Datelike;
        let mut b = *b"0000-00-00";
        let (y, m, day) = (d.year().clamp(0, 9999) as u32, d.month(), d.day());
        for (i, v) in [
            (0, y / 1000),
            (1, y / 100 % 10),
            (2, y / 10 % 10),
            (3, y % 10),
            (5, m / 10),
            (6, m % 10),
            (8, day / 10),
            (9, day % 10),
        ] {
            b[i] = b'0' + v as u8;
        }
        Self(b)
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("digits and dashes")
    }
}

fn date(d: NaiveDate) -> IsoDate {
    IsoDate::new(d)
}

impl Ledger {
    /// Deliveries the daily run has to do: waiting ones and duplicates not yet answered.
    pub fn deliveries_to_process(&self) -> Result<Vec<i64>, LedgerError> {
        let mut stmt = self.conn.prepare(
            "SELECT id FROM delivery WHERE state IN ('received', 'duplicate') AND processed_at IS NULL ORDER BY id",
        )?;
        let ids = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }

    /// Deliveries whose outcome is committed but whose file or receipt has not yet been
    /// moved (the run was cut off in between), with their receipt names.
    pub fn deliveries_to_finish(&self) -> Result<Vec<Unfinished>, LedgerError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, tenant_id, file_name, sha256, received_at, state, receipt FROM delivery
             WHERE processed_at IS NOT NULL AND finished_at IS NULL ORDER BY id",
        )?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(Unfinished {
                delivery: Delivery {
                    id: r.get(0)?,
                    tenant: r.get(1)?,
                    file_name: r.get(2)?,
                    sha256: r.get(3)?,
                    received_at: r.get(4)?,
                    state: r.get::<_, String>(5)?.parse()?,
                    duplicate_of: None,
                    uploaded_by: None,
                },
                receipt: r.get(6)?,
            });
        }
        Ok(out)
    }

    /// Takes the write lock and checks that delivery `id` still waits for processing.
    /// `None` if another run got to it first.
    pub fn claim(&mut self, id: i64, now: DateTime<Utc>) -> Result<Option<Claim<'_>>, LedgerError> {
        let tx = self.write_tx()?;
        let delivery = tx
            .query_row(
                "SELECT d.id, d.tenant_id, d.file_name, d.sha256, d.received_at, d.state, o.file_name, o.received_at,
                        d.uploaded_by
                 FROM delivery d LEFT JOIN delivery o ON o.id = d.duplicate_of
                 WHERE d.id = ?1 AND d.state IN ('received', 'duplicate') AND d.processed_at IS NULL",
                [id],
                |r| {
                    Ok((
                        Delivery {
                            id: r.get(0)?,
                            tenant: r.get(1)?,
                            file_name: r.get(2)?,
                            sha256: r.get(3)?,
                            received_at: r.get(4)?,
                            state: DeliveryState::Received,
                            duplicate_of: match (r.get::<_, Option<String>>(6)?, r.get::<_, Option<String>>(7)?) {
                                (Some(name), Some(at)) => Some((name, at)),
                                _ => None,
                            },
                            uploaded_by: r.get(8)?,
                        },
                        r.get::<_, String>(5)?,
                    ))
                },
            )
            .optional()?;
        let Some((mut delivery, state)) = delivery else {
            return Ok(None);
        };
        delivery.state = state.parse()?;
        Ok(Some(Claim {
            tx,
            delivery,
            now,
            at: timestamp(now),
        }))
    }

    /// Records that `id`'s file and receipt are where they belong.
    pub fn mark_finished(&mut self, id: i64, now: DateTime<Utc>) -> Result<(), LedgerError> {
        self.conn.execute(
            "UPDATE delivery SET finished_at = ?2 WHERE id = ?1",
            params![id, timestamp(now)],
        )?;
        Ok(())
    }

    /// Records that a run failed on delivery `id` without an outcome, with the (redacted)
    /// reason and an audit row; returns how many runs have failed on it so far.
    pub fn record_failure(
        &mut self,
        id: i64,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<u32, LedgerError> {
        let tx = self.write_tx()?;
        let (tenant, name, failures): (String, String, u32) = tx.query_row(
            "UPDATE delivery SET failures = failures + 1, last_failure = ?2 WHERE id = ?1
             RETURNING tenant_id, file_name, failures",
            params![id, error],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        audit::append(
            &tx,
            &AuditEntry {
                actor: "process",
                action: "delivery.failed",
                tenant: Some(&tenant),
                subject: Some(&name),
                detail: Some(json!({ "error": error, "failures": failures })),
            },
            now,
        )?;
        tx.commit()?;
        Ok(failures)
    }
}

/// The statements of one claim, prepared once for all its rows.
pub struct RowSink<'c> {
    insert_measurement: rusqlite::Statement<'c>,
    update_measurement: rusqlite::Statement<'c>,
    insert_decision: rusqlite::Statement<'c>,
    update_decision: rusqlite::Statement<'c>,
    delivery: i64,
    at: &'c str,
}

impl Claim<'_> {
    /// The prepared statements for this delivery's rows.
    pub fn rows(&self) -> Result<RowSink<'_>, LedgerError> {
        Ok(RowSink {
            insert_measurement: self.tx.prepare(INSERT_MEASUREMENT)?,
            update_measurement: self.tx.prepare(UPDATE_MEASUREMENT)?,
            insert_decision: self.tx.prepare(INSERT_DECISION)?,
            update_decision: self.tx.prepare(UPDATE_DECISION)?,
            delivery: self.delivery.id,
            at: &self.at,
        })
    }
}

impl RowSink<'_> {
    /// Stores a measurement; false if this delivery already carried the same key (a repeat
    /// within one file, which is refused).
    pub fn upsert_measurement(&mut self, m: &MeasurementRow<'_>) -> Result<bool, LedgerError> {
        let datum = date(m.datum);
        let values = params![
            m.agb,
            m.metingnummer,
            m.pseudonym,
            datum.as_str(),
            m.instrument,
            m.respondent,
            m.score,
            m.status,
            self.delivery,
            self.at,
        ];
        if self.insert_measurement.execute(values)? == 1 {
            return Ok(true);
        }
        Ok(self.update_measurement.execute(values)? == 1)
    }

    /// Stores a decision; false if this delivery already carried the same key.
    pub fn upsert_decision(&mut self, d: &DecisionRow<'_>) -> Result<bool, LedgerError> {
        let (start, end) = (date(d.ingangsdatum), d.einddatum.map(date));
        let window = d.einddatum.map(crate::link::window);
        let (from, to) = (window.map(|w| date(w.0)), window.map(|w| date(w.1)));
        let values = params![
            d.gemeentecode,
            d.beschikkingnummer,
            d.pseudonym,
            d.agb,
            d.productcategorie,
            d.productcode,
            start.as_str(),
            end.as_ref().map(IsoDate::as_str),
            d.reden,
            self.delivery,
            self.at,
            from.as_ref().map(IsoDate::as_str),
            to.as_ref().map(IsoDate::as_str),
        ];
        if self.insert_decision.execute(values)? == 1 {
            return Ok(true);
        }
        Ok(self.update_decision.execute(values)? == 1)
    }
}

impl Claim<'_> {
    /// Undoes every row stored so far (the file turned out unreadable part-way) by rolling
    /// the transaction back and taking the lock again. False if, in between, another run
    /// took the delivery. (A savepoint would make SQLite copy every page it changes into a
    /// statement journal first: measured, it tripled the writes of a large file.)
    pub fn discard_rows(&mut self) -> Result<bool, LedgerError> {
        self.tx.execute_batch("ROLLBACK; BEGIN IMMEDIATE")?;
        let state: Option<String> = self
            .tx
            .query_row(
                "SELECT state FROM delivery WHERE id = ?1 AND processed_at IS NULL",
                [self.delivery.id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(state.is_some())
    }

    /// Records the outcome with its audit row (and queues `mail` with its Message-ID), and
    /// commits everything at once.
    pub fn commit(
        self,
        outcome: &Outcome<'_>,
        mail: Option<(&NewMail<'_>, &str)>,
    ) -> Result<(), LedgerError> {
        let tx = self.tx;
        if let Some((mail, message_id)) = mail {
            super::mail::insert(&tx, mail, message_id, &self.at)?;
        }
        let to_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        tx.execute(
            "UPDATE delivery SET state = ?2, state_at = ?3, dataset = ?4, format = ?5, rows_total = ?6,
                 rows_accepted = ?7, rows_rejected = ?8, error = ?9, processed_at = ?3, receipt = ?10
             WHERE id = ?1",
            params![
                self.delivery.id,
                outcome.state.as_str(),
                self.at,
                outcome.dataset,
                outcome.format,
                to_i64(outcome.rows),
                to_i64(outcome.accepted),
                to_i64(outcome.rejected),
                outcome.error,
                outcome.receipt,
            ],
        )?;
        for (rule, count) in &outcome.rules {
            tx.execute(
                "INSERT INTO delivery_rule (delivery_id, rule, count) VALUES (?1, ?2, ?3)",
                params![self.delivery.id, rule, to_i64(*count)],
            )?;
        }
        let detail = json!({
            "state": outcome.state.as_str(),
            "dataset": outcome.dataset,
            "rows": outcome.rows,
            "accepted": outcome.accepted,
            "rejected": outcome.rejected,
            "error": outcome.error,
            "receipt": outcome.receipt,
        });
        audit::append(
            &tx,
            &AuditEntry {
                actor: "process",
                action: "delivery.processed",
                tenant: Some(&self.delivery.tenant),
                subject: Some(&self.delivery.file_name),
                detail: Some(detail),
            },
            self.now,
        )?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates_are_written_by_hand_correctly() {
        for (y, m, d) in [(2026, 3, 29), (1900, 1, 1), (2999, 12, 31)] {
            let date = NaiveDate::from_ymd_opt(y, m, d).unwrap();
            assert_eq!(
                IsoDate::new(date).as_str(),
                date.format("%Y-%m-%d").to_string()
            );
        }
    }
}
