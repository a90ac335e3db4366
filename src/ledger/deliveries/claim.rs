//! The daily run's hold on a delivery: claiming it, recording its outcome (with its rules
//! in `delivery_rule`) or a failed run, and marking it finished once its file and receipt
//! have moved.
//!
//! A [`Claim`] is one IMMEDIATE transaction: it holds the write lock from the moment it
//! checks that the delivery still waits until the outcome is committed. That is the lock
//! that makes each file processed once, whoever else (`dropgate process` by hand, another daemon) runs.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};
use serde_json::json;

use super::DeliveryState;
use crate::ledger::audit::{self, AuditEntry};
use crate::ledger::{Ledger, LedgerError, NewMail, RowSink, timestamp};

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
pub(crate) struct Unfinished {
    pub delivery: Delivery,
    /// Receipt name in `receipts/`, without `.result.csv`.
    pub receipt: String,
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
    /// Accepted measurement rows that came on time (`figures::OnTime`); `None` for
    /// anything but a measurement file read through.
    pub on_time: Option<u64>,
}

/// A delivery under processing; dropped without [`Claim::commit`], nothing happened.
pub struct Claim<'a> {
    tx: Transaction<'a>,
    pub delivery: Delivery,
    now: DateTime<Utc>,
    /// `now` as stored, formatted once for every row the claim writes.
    at: String,
}

impl Ledger {
    /// Deliveries the daily run has to do: waiting ones and duplicates not yet answered.
    pub(crate) fn deliveries_to_process(&self) -> Result<Vec<i64>, LedgerError> {
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
    pub(crate) fn deliveries_to_finish(&self) -> Result<Vec<Unfinished>, LedgerError> {
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
    pub(crate) fn mark_finished(&mut self, id: i64, now: DateTime<Utc>) -> Result<(), LedgerError> {
        self.conn.execute(
            "UPDATE delivery SET finished_at = ?2 WHERE id = ?1",
            params![id, timestamp(now)],
        )?;
        Ok(())
    }

    /// Records that a run failed on delivery `id` without an outcome, with the (redacted)
    /// reason and an audit row; returns how many runs have failed on it so far.
    pub(crate) fn record_failure(
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

impl Claim<'_> {
    /// The prepared statements for this delivery's rows.
    pub fn rows(&self) -> Result<RowSink<'_>, LedgerError> {
        RowSink::prepare(&self.tx, self.delivery.id, &self.at)
    }

    /// The prepared statements for this delivery's iJw/iWmo messages.
    pub fn messages(&self) -> Result<crate::ledger::MessageSink<'_>, LedgerError> {
        crate::ledger::MessageSink::prepare(&self.tx, self.delivery.id)
    }

    /// Undoes every row stored so far (the file turned out unreadable part-way) by rolling
    /// the transaction back and taking the lock again. False if, in between, another run
    /// took the delivery. (A savepoint would make SQLite copy every page it changes into a
    /// statement journal first: measured, it tripled the writes of a large file.)
    pub(crate) fn discard_rows(&mut self) -> Result<bool, LedgerError> {
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
            crate::ledger::mail::insert(&tx, mail, message_id, &self.at)?;
        }
        let to_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        tx.execute(
            "UPDATE delivery SET state = ?2, state_at = ?3, dataset = ?4, format = ?5, rows_total = ?6,
                 rows_accepted = ?7, rows_rejected = ?8, error = ?9, processed_at = ?3, receipt = ?10,
                 rows_on_time = ?11
             WHERE id = ?1",
            params![
                self.delivery.id,
                outcome.state,
                self.at,
                outcome.dataset,
                outcome.format,
                to_i64(outcome.rows),
                to_i64(outcome.accepted),
                to_i64(outcome.rejected),
                outcome.error,
                outcome.receipt,
                outcome.on_time.map(to_i64),
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
