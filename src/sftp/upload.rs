//! Uploads: written to `staging/`, moved into `upload/` only when the client closes the file
//! and the data is on disk. Nothing is ever overwritten: a name already taken gets a suffix.
//!
//! An [`Upload`] that is dropped without [`Upload::finish`] (a cut connection, a broken
//! limit) removes its staging file, so a partial upload never reaches `upload/`.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::secrets;

/// Bytes of unfinished uploads per tenant, so that parallel uploads share one quota.
#[derive(Default)]
pub struct Quotas {
    in_flight: Mutex<HashMap<String, u64>>,
}

impl Quotas {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The limits one upload must keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_file_bytes: u64,
    pub quota_bytes: u64,
}

/// Why a write was refused.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("file too large: the limit is {limit} bytes per file")]
    TooLarge { limit: u64 },
    #[error("quota exceeded: at most {limit} bytes may wait in upload/ for this tenant")]
    Quota { limit: u64 },
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// A file being uploaded.
pub struct Upload {
    file: File,
    staging: PathBuf,
    dest_dir: PathBuf,
    /// The name the client asked for.
    pub name: String,
    pub tenant: String,
    /// Highest byte written so far.
    size: u64,
    limits: Limits,
    /// Bytes waiting in `upload/` when this upload began.
    waiting: u64,
    quotas: Arc<Quotas>,
    reserved: u64,
    finished: bool,
}

impl Upload {
    /// Opens a new staging file for `name`, to be moved into `dest_dir` on success.
    pub fn create(
        staging_dir: &Path,
        dest_dir: &Path,
        tenant: &str,
        name: &str,
        limits: Limits,
        quotas: Arc<Quotas>,
    ) -> io::Result<Self> {
        let token = secrets::random_hex(16).map_err(io::Error::other)?;
        let staging = staging_dir.join(format!("{STAGING_PREFIX}{token}.part"));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&staging)?;
        Ok(Self {
            file,
            staging,
            dest_dir: dest_dir.to_owned(),
            name: name.to_owned(),
            tenant: tenant.to_owned(),
            size: 0,
            limits,
            waiting: folder_bytes(dest_dir),
            quotas,
            reserved: 0,
            finished: false,
        })
    }

    /// Bytes written so far (the highest offset reached).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Writes `data` at `offset`, within the file size limit and the tenant's quota.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), UploadError> {
        let end = offset.saturating_add(data.len() as u64);
        if end > self.limits.max_file_bytes {
            return Err(UploadError::TooLarge {
                limit: self.limits.max_file_bytes,
            });
        }
        let growth = end.saturating_sub(self.size);
        if growth > 0 {
            let mut in_flight = self.quotas.lock();
            let tenant_total = in_flight.entry(self.tenant.clone()).or_default();
            if self.waiting + *tenant_total + growth > self.limits.quota_bytes {
                return Err(UploadError::Quota {
                    limit: self.limits.quota_bytes,
                });
            }
            *tenant_total += growth;
            self.reserved += growth;
        }
        self.file.write_all_at(data, offset)?;
        self.size = self.size.max(end);
        Ok(())
    }

    /// Makes the data durable and moves the file into `upload/` under its name, or a
    /// suffixed one if that is taken. Returns the name it got.
    pub fn finish(mut self) -> io::Result<String> {
        self.file.sync_all()?;
        let name = crate::layout::move_no_replace(&self.staging, &self.dest_dir, &self.name)?;
        self.finished = true;
        File::open(&self.dest_dir)?.sync_all()?;
        Ok(name)
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_file(&self.staging);
        }
        if self.reserved > 0 {
            let mut in_flight = self.quotas.lock();
            if let Some(total) = in_flight.get_mut(&self.tenant) {
                *total = total.saturating_sub(self.reserved);
            }
        }
    }
}

/// Staging files have this prefix; what a crash left behind can be found by it.
const STAGING_PREFIX: &str = "upload-";

/// Removes the staging files of uploads that a crash (or kill -9) cut off, and returns how
/// many there were. Uploads cannot be resumed, so no such file has a future.
pub fn remove_leftovers(staging_dir: &Path) -> io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(staging_dir)?.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(STAGING_PREFIX) && name.ends_with(".part") {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Total size of the regular files in `dir`.
fn folder_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(dir: &Path, name: &str, limits: Limits, quotas: &Arc<Quotas>) -> Upload {
        std::fs::create_dir_all(dir.join("staging")).unwrap();
        std::fs::create_dir_all(dir.join("upload")).unwrap();
        Upload::create(
            &dir.join("staging"),
            &dir.join("upload"),
            "t",
            name,
            limits,
            quotas.clone(),
        )
        .unwrap()
    }

    const ROOMY: Limits = Limits {
        max_file_bytes: 100,
        quota_bytes: 150,
    };

    #[test]
    fn names_never_collide() {
        let dir = tempfile::tempdir().unwrap();
        let quotas = Arc::new(Quotas::default());
        let mut names = Vec::new();
        for content in [b"one", b"two", b"tri"] {
            let mut up = upload(dir.path(), "x.csv", ROOMY, &quotas);
            up.write(0, content).unwrap();
            names.push(up.finish().unwrap());
        }
        assert_eq!(names, ["x.csv", "x-2.csv", "x-3.csv"]);
        assert_eq!(
            std::fs::read(dir.path().join("upload/x.csv")).unwrap(),
            b"one"
        );
        assert_eq!(
            std::fs::read_dir(dir.path().join("staging"))
                .unwrap()
                .count(),
            0
        );
    }

    #[test]
    fn a_dropped_upload_leaves_nothing_and_frees_its_quota() {
        let dir = tempfile::tempdir().unwrap();
        let quotas = Arc::new(Quotas::default());
        let mut up = upload(dir.path(), "x.csv", ROOMY, &quotas);
        up.write(0, &[1; 100]).unwrap();
        let mut other = upload(dir.path(), "y.csv", ROOMY, &quotas);
        assert!(matches!(
            other.write(0, &[2; 60]),
            Err(UploadError::Quota { limit: 150 })
        ));
        drop(up);
        other.write(0, &[2; 60]).unwrap();
        assert!(matches!(
            other.write(100, &[0]),
            Err(UploadError::TooLarge { limit: 100 })
        ));
        drop(other);
        assert_eq!(
            std::fs::read_dir(dir.path().join("staging"))
                .unwrap()
                .count(),
            0
        );
        assert_eq!(
            std::fs::read_dir(dir.path().join("upload"))
                .unwrap()
                .count(),
            0
        );
        assert_eq!(quotas.lock()["t"], 0);
    }
}
