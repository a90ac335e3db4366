//! Putting a whole file into a tenant's `upload/`, and setting a waiting one aside.
//!
//! A name in `upload/` holds one waiting delivery. A new version under that name (an
//! overwrite, or a rename onto it) first moves the old one out, into a folder of its own in
//! `staging/withdrawn/`, and tells intake, which records it as withdrawn and archives it; a
//! REMOVE does only that. So nothing is ever silently renamed, and no version is lost.
//! Intake is told who uploaded each new file before it appears.
//!
//! Both hold the upload folder's lock (`layout::UploadLock`), as the daily run does when it
//! moves an original out, so that it never moves a version that took another's place.
//! These calls block (renames, directory syncs, the lock): call them off the async workers.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::FilesContext;
use crate::layout::{UploadLock, create_private_dir, rename_no_replace};

/// Tries at a name that other sessions keep taking before giving up.
const MAX_TRIES: usize = 8;

impl FilesContext {
    /// Moves the whole file at `from` into `tenant`'s `upload/` as `name`, uploaded by
    /// `user`, setting aside the version that waits there.
    pub(super) fn place(
        &self,
        from: &Path,
        tenant: &str,
        name: &str,
        user: &str,
    ) -> io::Result<()> {
        let dir = self.state.upload(tenant);
        let dest = dir.join(name);
        let meta = from.symlink_metadata()?;
        self.notices
            .uploaded(tenant, name, (meta.dev(), meta.ino()), user);
        let _lock = UploadLock::take(&dir)?;
        for _ in 0..MAX_TRIES {
            match rename_no_replace(from, &dest) {
                Ok(()) => {
                    std::fs::File::open(&dir)?.sync_all()?;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    self.set_aside_locked(tenant, name, user)?;
                }
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "the name was taken again and again by other uploads; please try again",
        ))
    }

    /// Moves the file waiting in `tenant`'s `upload/` as `name` aside for intake to record as
    /// withdrawn by `user`. `false` if there was none.
    pub(super) fn set_aside(&self, tenant: &str, name: &str, user: &str) -> io::Result<bool> {
        let _lock = UploadLock::take(&self.state.upload(tenant))?;
        self.set_aside_locked(tenant, name, user)
    }

    /// [`FilesContext::set_aside`], with the upload folder's lock held.
    fn set_aside_locked(&self, tenant: &str, name: &str, user: &str) -> io::Result<bool> {
        let token = crate::secrets::random_hex(8).map_err(io::Error::other)?;
        let slot = self.state.withdrawn_slot(tenant, user, &token);
        create_private_dir(&slot)?;
        let kept = slot.join(name);
        match std::fs::rename(self.state.upload(tenant).join(name), &kept) {
            Ok(()) => {
                self.notices.withdrawn(kept);
                Ok(true)
            }
            Err(e) => {
                let _ = std::fs::remove_dir(&slot);
                if e.kind() == io::ErrorKind::NotFound {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    }
}
