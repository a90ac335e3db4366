//! The retention sweep (DESIGN 2.5), daily: bundles (and care providers' monthly reports,
//! recorded as bundles) `bundle_days` after their recorded publication (not their mtime), processed originals after `raw_days`, receipts after
//! `receipt_days`. Each deletion is recorded in the ledger with an audit row.
//!
//! The sweep deletes only files the ledger knows, at the paths the ledger gives; it also
//! records bundles that their tenant removed from its outbox itself.
//!
//! The one exception is temporary uploads: the SFTP users' own (`StateDir::temp_uploads`)
//! and temporary names put into `upload/` by other means (`layout::is_temp_name`). They are
//! never deliveries, so the ledger does not know them, and nothing else ever removes one that
//! its uploader abandoned. Those not changed for `temp_hours` go, each audited, and their
//! tenant is told by mail which ones. Only regular files; never through a symlink.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};

use crate::config::{Config, Tenant};
use crate::layout::{StateDir, is_temp_name};
use crate::ledger::{DeliveryState, Expired, Kept, Ledger, LedgerError, RemovedTemp};
use crate::mail::{Wake, messages};

/// What one sweep removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub bundles: u64,
    pub originals: u64,
    pub receipts: u64,
    /// Bundles and reports found gone from an outbox (removed over SFTP).
    pub removed_by_tenant: u64,
    /// Temporary files left in an `upload/` for longer than `temp_hours`.
    pub temp_files: u64,
    /// Recorded files (originals, receipts, bundles) that were already gone from the path
    /// the ledger gives when their time came: someone removed them outside dropgate.
    pub missing: u64,
}

impl std::fmt::Display for SweepReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} bundles, {} originals, {} receipts deleted; {} bundles had been removed by their tenant",
            self.bundles, self.originals, self.receipts, self.removed_by_tenant
        )?;
        // Only when there were any: most days there are none, and the line stays as it was.
        if self.temp_files > 0 {
            write!(
                f,
                "; {} temporary files removed from upload/",
                self.temp_files
            )?;
        }
        if self.missing > 0 {
            write!(f, "; {} recorded files were already missing", self.missing)?;
        }
        Ok(())
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

/// Removes `paths` and returns those that were already missing (gone either way, but a
/// recorded file that vanished outside dropgate is worth a word to the sysadmin).
fn remove(paths: &[PathBuf]) -> Result<Vec<&PathBuf>, SweepError> {
    let mut missing = Vec::new();
    for path in paths {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => missing.push(path),
            Err(source) => {
                return Err(SweepError::Io {
                    path: path.clone(),
                    source,
                });
            }
        }
    }
    Ok(missing)
}

fn days(n: u32) -> Duration {
    Duration::days(i64::from(n))
}

/// Sweeps as of `now`; `mail` rings when a tenant's mail about removed temporary files is
/// queued.
pub fn sweep(
    config: &Config,
    ledger: &mut Ledger,
    now: DateTime<Utc>,
    mail: &Wake,
) -> Result<SweepReport, SweepError> {
    let state = StateDir::new(&config.state_dir);
    let mut report = SweepReport::default();
    for bundle in ledger.present_bundles()? {
        if !state.outbox(&bundle.tenant).join(&bundle.name).exists() {
            ledger.deleted(Kept::Bundle, &bundle, "sftp", now)?;
            report.removed_by_tenant += 1;
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
                vec![dir.join(crate::layout::archive_name(file.id, &file.name))]
            }
            Kept::Receipt => {
                let dir = state.receipts(&file.tenant);
                vec![
                    dir.join(format!("{}{}", file.name, crate::layout::RECEIPT_CSV)),
                    dir.join(format!("{}{}", file.name, crate::layout::RECEIPT_TXT)),
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
            let paths = paths(kind, &file);
            for gone in remove(&paths)? {
                tracing::warn!(tenant = file.tenant, path = %gone.display(), kind = ?kind, "a recorded file was already missing when its retention ended");
                report.missing += 1;
            }
            ledger.deleted(kind, &file, "retention", now)?;
            tracing::info!(tenant = file.tenant, file = file.name, kind = ?kind, "deleted after its retention");
            *count += 1;
        }
    }
    let cutoff = now - Duration::hours(i64::from(r.temp_hours));
    for tenant in &config.tenants {
        let removed = remove_stale_temps(&state, &tenant.id, cutoff);
        if removed.is_empty() {
            continue;
        }
        report.temp_files += removed.len() as u64;
        // Removed first, recorded after, as for the files above: a record never claims a
        // removal that failed.
        record_temps(config, ledger, tenant, &removed, now, mail)?;
    }
    Ok(report)
}

/// Removes `tenant`'s temporary files (in `upload/` and in its users' own folders) last
/// changed before `cutoff`, and returns them.
fn remove_stale_temps(state: &StateDir, tenant: &str, cutoff: DateTime<Utc>) -> Vec<RemovedTemp> {
    let users = std::fs::read_dir(state.temp_root().join(tenant))
        .into_iter()
        .flatten()
        .flatten()
        .map(|user| user.path());
    let mut removed: Vec<RemovedTemp> = std::iter::once(state.upload(tenant))
        .chain(users)
        .flat_map(|dir| remove_stale_temps_in(&dir, tenant, cutoff))
        .collect();
    removed.sort_by(|a, b| a.shown_name.cmp(&b.shown_name));
    removed
}

/// Removes the files with temporary names in `dir` last changed before `cutoff`, and returns
/// them. A file that cannot be looked at or removed is logged and kept: it is no reason to
/// stop the rest of the sweep, and the next sweep tries again.
fn remove_stale_temps_in(dir: &Path, tenant: &str, cutoff: DateTime<Utc>) -> Vec<RemovedTemp> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot list upload folder for temporary files");
            return Vec::new();
        }
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        // A name that is not UTF-8 is no temporary name intake knows either.
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !is_temp_name(&name) {
            continue;
        }
        let path = entry.path();
        let shown = crate::redact::name(&name).into_owned();
        // lstat: a symlink is not a regular file, so it is never followed nor removed.
        let Ok(meta) = path.symlink_metadata() else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        // Age by mtime: the last time anyone wrote to it.
        let Some(modified) = DateTime::<Utc>::from_timestamp(meta.mtime(), 0) else {
            continue;
        };
        if modified >= cutoff {
            continue;
        }
        // The SFTP server writes uploads in staging/, so no session holds a file here open;
        // a local producer might, idle: leave it to the writer.
        if crate::ingest::intake::writer_open_at(&path).is_ok_and(|w| w == Some(true)) {
            tracing::info!(tenant, file = %shown, "stale temporary file is still open for writing; kept");
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                tracing::warn!(tenant, file = %shown, error = %e, "cannot remove stale temporary file");
                continue;
            }
        }
        tracing::info!(tenant, file = %shown, size = meta.len(), modified = %modified, "temporary file removed after its retention");
        removed.push(RemovedTemp {
            shown_name: shown,
            size: meta.len(),
            modified,
        });
    }
    removed
}

/// Records `removed` for `tenant` with the mail to its contacts (none without contacts).
fn record_temps(
    config: &Config,
    ledger: &mut Ledger,
    tenant: &Tenant,
    removed: &[RemovedTemp],
    now: DateTime<Utc>,
    mail: &Wake,
) -> Result<(), SweepError> {
    let files: Vec<(String, u64, String)> = removed
        .iter()
        .map(|f| {
            let local = f.modified.with_timezone(&config.time_zone);
            (
                f.shown_name.clone(),
                f.size,
                local.format("%d-%m-%Y %H:%M").to_string(),
            )
        })
        .collect();
    let text = messages::temp_removed(
        config.language,
        &messages::TempRemoved {
            tenant_name: &tenant.name,
            hours: config.retention.temp_hours,
            files: &files,
        },
    );
    let notice = text.to_mail("temp-removed", &tenant.id, &tenant.contacts);
    let message_id = crate::mail::new_message_id();
    let queued = (!tenant.contacts.is_empty()).then_some((&notice, message_id.as_str()));
    if queued.is_none() {
        tracing::info!(
            tenant = tenant.id,
            "no mail about removed temporary files: the tenant has no contacts"
        );
    }
    ledger.temps_removed(&tenant.id, removed, queued, now)?;
    if queued.is_some() {
        mail.queued();
    }
    Ok(())
}
