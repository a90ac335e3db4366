//! The retention sweep (DESIGN 2.5), daily: bundles `bundle_days` after their recorded
//! publication (not their mtime), processed originals after `raw_days`, receipts after
//! `receipt_days`. Each deletion is recorded in the ledger with an audit row.
//!
//! The sweep deletes only files the ledger knows, at the paths the ledger gives; it also
//! records bundles that a municipality removed from its outbox itself.

use std::io;
use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};

use crate::config::Config;
use crate::layout::StateDir;
use crate::ledger::{DeliveryState, Expired, Kept, Ledger, LedgerError};

/// What one sweep removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub bundles: u64,
    pub originals: u64,
    pub receipts: u64,
    /// Bundles found gone from an outbox (removed over SFTP).
    pub removed_by_municipality: u64,
}

impl std::fmt::Display for SweepReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} bundles, {} originals, {} receipts deleted; {} bundles had been removed by their municipality",
            self.bundles, self.originals, self.receipts, self.removed_by_municipality
        )
    }
}

/// Why a sweep stopped.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("cannot delete {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

/// Removes `paths` (a missing one is fine: it is gone either way).
fn remove(paths: &[PathBuf]) -> Result<(), SweepError> {
    for path in paths {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(SweepError::Io {
                    path: path.clone(),
                    source,
                });
            }
        }
    }
    Ok(())
}

fn days(n: u32) -> Duration {
    Duration::days(i64::from(n))
}

/// Sweeps as of `now`.
pub fn sweep(
    config: &Config,
    ledger: &mut Ledger,
    now: DateTime<Utc>,
) -> Result<SweepReport, SweepError> {
    let state = StateDir::new(&config.state_dir);
    let mut report = SweepReport::default();
    for bundle in ledger.present_bundles()? {
        if !state.outbox(&bundle.tenant).join(&bundle.name).exists() {
            ledger.deleted(Kept::Bundle, &bundle, "sftp", now)?;
            report.removed_by_municipality += 1;
        }
    }
    let r = &config.retention;
    let paths = |kind: Kept, file: &Expired| -> Vec<PathBuf> {
        match kind {
            Kept::Bundle => vec![state.outbox(&file.tenant).join(&file.name)],
            Kept::Original => {
                let dir = match file.state {
                    Some(DeliveryState::Quarantined) => state.quarantined(&file.tenant),
                    _ => state.archived(&file.tenant),
                };
                vec![dir.join(format!("{}-{}", file.id, file.name))]
            }
            Kept::Receipt => {
                let dir = state.receipts(&file.tenant);
                vec![
                    dir.join(format!("{}.result.csv", file.name)),
                    dir.join(format!("{}.result.txt", file.name)),
                ]
            }
        }
    };
    for (kind, keep, count) in [
        (Kept::Bundle, r.bundle_days, &mut report.bundles),
        (Kept::Original, r.raw_days, &mut report.originals),
        (Kept::Receipt, r.receipt_days, &mut report.receipts),
    ] {
        for file in ledger.expired(kind, now - days(keep))? {
            remove(&paths(kind, &file))?;
            ledger.deleted(kind, &file, "retention", now)?;
            tracing::info!(tenant = file.tenant, file = file.name, kind = ?kind, "deleted after its retention");
            *count += 1;
        }
    }
    Ok(report)
}
