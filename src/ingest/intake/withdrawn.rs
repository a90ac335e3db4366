//! Withdrawn versions: a waiting file that its tenant replaced or removed over SFTP.
//!
//! The SFTP server moves the old version out of `upload/` into a folder of its own under
//! `staging/withdrawn/` (see [`StateDir::withdrawn_slot`]) and tells intake. Intake hashes it,
//! records it as `withdrawn` (the delivery that waited under that name, or a new one if none
//! did), moves it into `archive/` where retention will find it, and removes the folder. Kept
//! versions a crash left behind are taken the same way at start-up, before the scan, and so
//! are those a full or read-only disk held up, when intake tries again.
//!
//! [`StateDir::withdrawn_slot`]: crate::layout::StateDir::withdrawn_slot

use std::io;
use std::path::Path;

use super::{IntakeError, Worker, open_no_follow};
use crate::fingerprint::sha256_of;
use crate::layout::{archive_name, create_private_dir, move_no_replace, rename_no_replace};
use crate::ledger::{DeliveryState, Withdrawal, Withdrawn};

/// The parts of a kept version's path: `withdrawn/<tenant>/<token>.<user>/<name>`.
struct Kept<'a> {
    tenant: &'a str,
    user: &'a str,
    name: &'a str,
}

impl<'a> Kept<'a> {
    fn parse(path: &'a Path) -> Option<Self> {
        let name = path.file_name()?.to_str()?;
        let slot = path.parent()?;
        let (_token, user) = slot.file_name()?.to_str()?.split_once('.')?;
        let tenant = slot.parent()?.file_name()?.to_str()?;
        Some(Self { tenant, user, name })
    }
}

impl Worker {
    /// Records the version at `kept` as withdrawn and moves it to `archive/`. A file that
    /// cannot be read stays where it is (and is tried again at the next start); only ledger
    /// failures are errors.
    pub(super) fn withdraw(&mut self, kept: &Path) -> Result<(), IntakeError> {
        if !kept.starts_with(self.state.withdrawn()) {
            return Ok(());
        }
        let Some(parts) = Kept::parse(kept) else {
            tracing::warn!(path = %kept.display(), "not a withdrawn version; left alone");
            return Ok(());
        };
        let (size, sha256) = match open_no_follow(kept).and_then(|mut f| sha256_of(&mut f)) {
            Ok(hashed) => hashed,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                remove_slot(kept);
                return Ok(());
            }
            Err(e) => {
                tracing::error!(tenant = parts.tenant, file = %crate::redact::name(parts.name), error = %e, "cannot read a withdrawn version; left in staging/withdrawn/");
                return Ok(());
            }
        };
        let archive = self.state.archived(parts.tenant);
        let by = format!("sftp:{}", parts.user);
        let withdrawal = Withdrawal {
            tenant: parts.tenant,
            name: parts.name,
            size,
            sha256: &sha256,
            by: &by,
        };
        let Some(id) = self.record_withdrawal(kept, &parts, &withdrawal, &archive)? else {
            return Ok(());
        };
        let moved = create_private_dir(&archive)
            .and_then(|()| move_no_replace(kept, &archive, &archive_name(id, parts.name)));
        match moved {
            Ok(_) => {
                remove_slot(kept);
                tracing::info!(tenant = parts.tenant, user = parts.user, file = %crate::redact::name(parts.name), id, size, "waiting delivery withdrawn; kept in archive/");
            }
            // A full or read-only disk: intake tries again (this version with the rest)
            // when it can write.
            Err(e) if crate::storage::fault_of(&e).is_some() => {
                return Err(IntakeError::Archive {
                    path: kept.to_owned(),
                    source: e,
                });
            }
            Err(e) => {
                tracing::error!(tenant = parts.tenant, file = %crate::redact::name(parts.name), id, error = %e, "withdrawn version recorded but not moved to archive/; left in staging/withdrawn/");
            }
        }
        Ok(())
    }

    /// The id under which the version at `kept` is recorded as withdrawn: the record a
    /// crash left before its move, or a new one. `None` if the daily run had the delivery
    /// when it was set aside: then `kept` was its original, and is now where the run puts
    /// originals.
    fn record_withdrawal(
        &mut self,
        kept: &Path,
        parts: &Kept<'_>,
        withdrawal: &Withdrawal<'_>,
        archive: &Path,
    ) -> Result<Option<i64>, IntakeError> {
        // A crash after the record and before the move leaves the record: use it again.
        let unarchived = self.ledger.withdrawn_unarchived(
            parts.tenant,
            parts.name,
            withdrawal.sha256,
            |id| archive.join(archive_name(id, parts.name)).exists(),
        )?;
        if let Some(id) = unarchived {
            return Ok(Some(id));
        }
        match self
            .ledger
            .withdraw_or_taken(withdrawal, crate::clock::now())?
        {
            Withdrawn::Recorded(id) => Ok(Some(id)),
            // Set aside while the daily run had it: it was processed all the same, and
            // this is its original, for where the run would have put it.
            Withdrawn::Taken { id, state } => {
                let dir = match state {
                    DeliveryState::Quarantined => self.state.quarantined(parts.tenant),
                    _ => archive.to_owned(),
                };
                let placed = create_private_dir(&dir).and_then(|()| {
                    rename_no_replace(kept, &dir.join(archive_name(id, parts.name)))
                });
                if placed.is_ok() {
                    remove_slot(kept);
                    tracing::warn!(tenant = parts.tenant, user = parts.user, file = %crate::redact::name(parts.name), id, %state, "removed or replaced while the daily run processed it: it was processed; its original is kept as usual");
                    return Ok(None);
                }
                // Its original is in place already: this is a version of its own.
                Ok(Some(self.ledger.withdraw(withdrawal, crate::clock::now())?))
            }
        }
    }

    /// Takes every kept version a crash left in `staging/withdrawn/`, and removes empty
    /// folders there.
    pub(super) fn recover_withdrawn(&mut self) -> Result<(), IntakeError> {
        let root = self.state.withdrawn();
        let Ok(tenants) = std::fs::read_dir(&root) else {
            return Ok(());
        };
        for tenant in tenants.flatten() {
            for slot in std::fs::read_dir(tenant.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let files: Vec<_> = std::fs::read_dir(slot.path())
                    .into_iter()
                    .flatten()
                    .flatten()
                    .collect();
                // An empty one may be a slot the SFTP server is about to use: only old ones.
                let old = slot
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() > 60));
                if files.is_empty() && old {
                    let _ = std::fs::remove_dir(slot.path());
                }
                for file in files {
                    self.withdraw(&file.path())?;
                }
            }
        }
        Ok(())
    }
}

/// Removes the now empty folder of one kept version.
fn remove_slot(kept: &Path) {
    if let Some(slot) = kept.parent() {
        let _ = std::fs::remove_dir(slot);
    }
}
