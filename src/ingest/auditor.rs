//! The auditor: a non-blocking way for async code (the SFTP server) to append audit rows.
//!
//! A thread with its own ledger connection writes what [`Auditor::record`] sends, batching
//! what arrives together into one transaction, so that no network task ever waits on SQLite.
//! It only appends; it never reads or changes other tables.
//!
//! When the ledger refuses writes for a storage fault (a full disk), the rows are held in
//! memory, in order, and written when it takes writes again: said once when it starts and
//! once when it ends, rather than once per row. Rows it cannot hold (past [`MAX_HELD`], or
//! left at the stop) are logged, the log line then being their only record.

use std::collections::VecDeque;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::ledger::{AuditRecord, Ledger};

/// Most records written in one transaction.
const BATCH: usize = 256;

/// Most rows held while the ledger refuses writes; a few hours of a busy server's logins
/// and uploads, in tens of megabytes at most.
const MAX_HELD: usize = 100_000;

/// How often held rows are tried again.
const RETRY: Duration = Duration::from_secs(5);

/// A cloneable handle; the writer thread ends when the last handle is dropped.
#[derive(Clone)]
pub(crate) struct Auditor {
    tx: mpsc::Sender<AuditRecord>,
}

/// The writer thread, to wait for after the last [`Auditor`] is gone.
pub(crate) struct AuditWriter(JoinHandle<()>);

impl Auditor {
    /// Starts the writer thread on `ledger`.
    pub(crate) fn start(ledger: Ledger) -> (Self, AuditWriter) {
        let (tx, rx) = mpsc::channel::<AuditRecord>();
        let thread = std::thread::Builder::new()
            .name("audit".into())
            .spawn(move || write_all(ledger, &rx))
            .expect("spawning a thread only fails when the process is out of resources");
        (Self { tx }, AuditWriter(thread))
    }

    /// Queues one audit row, stamped now.
    pub(crate) fn record(
        &self,
        actor: impl Into<String>,
        action: &'static str,
        tenant: Option<&str>,
        subject: Option<&str>,
        detail: Option<serde_json::Value>,
    ) {
        let _ = self.tx.send(AuditRecord {
            at: crate::clock::now(),
            actor: actor.into(),
            action,
            tenant: tenant.map(str::to_owned),
            subject: subject.map(str::to_owned),
            detail,
        });
    }
}

/// Writes what arrives on `rx` until every sender is gone.
fn write_all(mut ledger: Ledger, rx: &mpsc::Receiver<AuditRecord>) {
    let mut held = Held::default();
    loop {
        let open = if held.rows.is_empty() {
            rx.recv().map(|r| held.rows.push_back(r)).is_ok()
        } else {
            match rx.recv_timeout(RETRY) {
                Ok(r) => {
                    held.rows.push_back(r);
                    true
                }
                Err(mpsc::RecvTimeoutError::Timeout) => true,
                Err(mpsc::RecvTimeoutError::Disconnected) => false,
            }
        };
        held.rows.extend(rx.try_iter());
        held.write(&mut ledger);
        if !open {
            held.give_up(held.rows.len());
            return;
        }
        held.give_up(held.rows.len().saturating_sub(MAX_HELD));
    }
}

/// Rows not yet written, oldest first, and since when the ledger refuses them.
#[derive(Default)]
struct Held {
    rows: VecDeque<AuditRecord>,
    refused_since: Option<Instant>,
}

impl Held {
    /// Writes the held rows in batches, until the ledger refuses one for a storage fault.
    fn write(&mut self, ledger: &mut Ledger) {
        while !self.rows.is_empty() {
            let n = self.rows.len().min(BATCH);
            match ledger.audit_batch(&self.rows.make_contiguous()[..n]) {
                Ok(()) => {
                    self.rows.drain(..n);
                    if let Some(since) = self.refused_since.take() {
                        tracing::info!(
                            waited_s = since.elapsed().as_secs(),
                            "audit rows are written again, the held ones first"
                        );
                    }
                }
                Err(e) => match e.storage_fault() {
                    Some(fault) => {
                        if self.refused_since.is_none() {
                            self.refused_since = Some(Instant::now());
                            tracing::error!(error = %e, "audit rows cannot be written: {fault}; they are held (at most {MAX_HELD}) and written when the ledger takes writes again");
                        }
                        return;
                    }
                    None => {
                        for r in self.rows.drain(..n) {
                            log_lost(&r, &e);
                        }
                    }
                },
            }
        }
    }

    /// Logs and drops the `n` oldest rows: the log line is then their only record.
    fn give_up(&mut self, n: usize) {
        for r in self.rows.drain(..n) {
            log_lost(
                &r,
                &"the ledger did not take it before the audit writer stopped or \
                 while too many rows were held",
            );
        }
    }
}

/// Says which audit row was not written, the log line then being its only record.
fn log_lost(r: &AuditRecord, error: &dyn std::fmt::Display) {
    tracing::error!(error = %error, at = %r.at, actor = r.actor, action = r.action, tenant = r.tenant, subject = r.subject, detail = ?r.detail, "audit row not written");
}

impl AuditWriter {
    /// Waits until every queued row is written. Call after dropping every [`Auditor`].
    pub(crate) fn finish(self) {
        let _ = self.0.join();
    }
}
