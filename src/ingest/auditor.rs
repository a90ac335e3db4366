//! The auditor: a non-blocking way for async code (the SFTP server) to append audit rows.
//!
//! A thread with its own ledger connection writes what [`Auditor::record`] sends, batching
//! what arrives together into one transaction, so that no network task ever waits on SQLite.
//! It only appends; it never reads or changes other tables.

use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::ledger::{AuditRecord, Ledger};

/// Most records written in one transaction.
const BATCH: usize = 256;

/// A cloneable handle; the writer thread ends when the last handle is dropped.
#[derive(Clone)]
pub(crate) struct Auditor {
    tx: mpsc::Sender<AuditRecord>,
}

/// The writer thread, to wait for after the last [`Auditor`] is gone.
pub(crate) struct AuditWriter(JoinHandle<()>);

impl Auditor {
    /// Starts the writer thread on `ledger`.
    pub(crate) fn start(mut ledger: Ledger) -> (Self, AuditWriter) {
        let (tx, rx) = mpsc::channel::<AuditRecord>();
        let thread = std::thread::Builder::new()
            .name("audit".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    batch.extend(rx.try_iter().take(BATCH - 1));
                    if let Err(e) = ledger.audit_batch(&batch) {
                        // The log line is then the only record; say what it was.
                        for r in &batch {
                            tracing::error!(error = %e, actor = r.actor, action = r.action, tenant = r.tenant, subject = r.subject, "audit row not written");
                        }
                    }
                }
            })
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

impl AuditWriter {
    /// Waits until every queued row is written. Call after dropping every [`Auditor`].
    pub(crate) fn finish(self) {
        let _ = self.0.join();
    }
}
