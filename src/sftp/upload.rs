//! Uploads: written to `staging/`, moved into `upload/` only when the client closes the file,
//! every byte of it was written and the data is on disk. Nothing is ever overwritten: a name
//! already taken gets a suffix.
//!
//! A CLOSE is not proof of a whole file: a client that resumes (`reput`, `put -c`, `curl -C`)
//! writes from an offset, and the bytes it skipped would be a hole of zeros. So an upload
//! keeps the ranges it was written in ([`Written`]), and one with a hole is not delivered.
//!
//! An [`Upload`] that is dropped without [`Upload::finish`] (a cut connection, a broken
//! limit) removes its staging file, so a partial upload never reaches `upload/`.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::secrets;

/// Each tenant's quota use by uploads, so that parallel uploads share one quota.
#[derive(Default)]
pub struct Quotas {
    usage: Mutex<HashMap<String, Usage>>,
}

/// One tenant's uploads, in bytes.
#[derive(Debug, Default, Clone, Copy)]
struct Usage {
    /// Held by uploads still open.
    in_flight: u64,
    /// Delivered into `upload/` since the server started (only ever grows): an upload
    /// opened earlier adds what was delivered after it to what it saw waiting, so that
    /// opening many handles first and writing them one after another cannot pass the quota.
    delivered: u64,
}

impl Quotas {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Usage>> {
        self.usage.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes of `tenant`'s quota in use: what waits in `upload` (its folder) and what its
    /// open uploads hold.
    pub fn used(&self, tenant: &str, upload: &Path) -> u64 {
        let in_flight = self.lock().get(tenant).map_or(0, |u| u.in_flight);
        folder_bytes(upload).saturating_add(in_flight)
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
    #[error(
        "the upload is not whole: bytes {from} to {to} were never sent (a resumed upload must \
         continue a file of its own that is not yet delivered); nothing was delivered"
    )]
    Incomplete { from: u64, to: u64 },
    #[error(
        "the upload was written in more than {MAX_PIECES} separate pieces; write it from start to end"
    )]
    Scattered,
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
    written: Written,
    limits: Limits,
    /// Bytes waiting in `upload/` when this upload began, and the tenant's
    /// [`Usage::delivered`] then.
    waiting: u64,
    delivered_before: u64,
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
        let delivered_before = quotas.lock().get(tenant).map_or(0, |u| u.delivered);
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
            written: Written::default(),
            limits,
            waiting: folder_bytes(dest_dir),
            delivered_before,
            quotas,
            reserved: 0,
            finished: false,
        })
    }

    /// Bytes written so far (the highest offset reached).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Another descriptor of the staging file (to sync it off the async workers).
    pub fn file(&self) -> io::Result<File> {
        self.file.try_clone()
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
            let mut usage = self.quotas.lock();
            let usage = usage.entry(self.tenant.clone()).or_default();
            let waiting = self.waiting + (usage.delivered - self.delivered_before);
            if waiting + usage.in_flight + growth > self.limits.quota_bytes {
                return Err(UploadError::Quota {
                    limit: self.limits.quota_bytes,
                });
            }
            usage.in_flight += growth;
            self.reserved += growth;
        }
        // A first write past the start is a resume of bytes this upload never had. Refused
        // here and not only at CLOSE: curl (libssh2) ignores the status of a CLOSE.
        if self.written.is_empty() && offset > 0 {
            return Err(UploadError::Incomplete {
                from: 0,
                to: offset,
            });
        }
        self.written.add(offset, end)?;
        self.file.write_all_at(data, offset)?;
        self.size = self.size.max(end);
        Ok(())
    }

    /// Makes the data durable and moves the file into `upload/` under its name, or a
    /// suffixed one if that is taken. Returns the name it got. A file with a hole is not
    /// delivered (dropping the upload removes it).
    pub fn finish(mut self) -> Result<String, UploadError> {
        if let Some((from, to)) = self.written.first_hole() {
            return Err(UploadError::Incomplete { from, to });
        }
        self.file.sync_all()?;
        let name = crate::layout::move_no_replace(&self.staging, &self.dest_dir, &self.name)?;
        self.finished = true;
        self.quotas
            .lock()
            .entry(self.tenant.clone())
            .or_default()
            .delivered += self.size;
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
            let mut usage = self.quotas.lock();
            if let Some(usage) = usage.get_mut(&self.tenant) {
                usage.in_flight = usage.in_flight.saturating_sub(self.reserved);
            }
        }
    }
}

/// Separate written ranges one upload may have at a time. Clients write in order (russh-sftp
/// serves a session's requests one at a time), so a real upload has one; the bound keeps a
/// client that writes every other byte from growing the map without end.
const MAX_PIECES: usize = 1024;

/// The byte ranges of a file that were written, merged: `start -> end`, disjoint and not
/// touching.
#[derive(Debug, Default)]
pub struct Written {
    ranges: BTreeMap<u64, u64>,
}

impl Written {
    /// Records that `start..end` was written.
    pub fn add(&mut self, start: u64, end: u64) -> Result<(), UploadError> {
        if start >= end {
            return Ok(());
        }
        let (mut start, mut end) = (start, end);
        if let Some((&s, &e)) = self.ranges.range(..=start).next_back()
            && e >= start
        {
            start = s;
            end = end.max(e);
            self.ranges.remove(&s);
        }
        while let Some((&s, &e)) = self.ranges.range(start..).next() {
            if s > end {
                break;
            }
            end = end.max(e);
            self.ranges.remove(&s);
        }
        if self.ranges.len() >= MAX_PIECES {
            return Err(UploadError::Scattered);
        }
        self.ranges.insert(start, end);
        Ok(())
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The first range below the highest byte written that was never written.
    pub fn first_hole(&self) -> Option<(u64, u64)> {
        let mut at = 0;
        for (&start, &end) in &self.ranges {
            if start > at {
                return Some((at, start));
            }
            at = end;
        }
        None
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
    fn written_ranges_merge_and_show_the_first_hole() {
        let mut w = Written::default();
        assert_eq!(w.first_hole(), None, "an empty file is whole");
        w.add(0, 10).unwrap();
        w.add(20, 30).unwrap();
        w.add(50, 60).unwrap();
        assert_eq!(w.first_hole(), Some((10, 20)));
        w.add(5, 25).unwrap();
        assert_eq!(w.first_hole(), Some((30, 50)));
        w.add(30, 50).unwrap();
        assert_eq!(w.first_hole(), None);
        assert_eq!(w.ranges.len(), 1, "{w:?}");
        w.add(60, 60).unwrap();
        // Out of order, as a resume from an offset and then the start would be.
        let mut w = Written::default();
        w.add(1000, 2000).unwrap();
        assert_eq!(w.first_hole(), Some((0, 1000)));
        w.add(0, 1000).unwrap();
        assert_eq!(w.first_hole(), None);
        // Every other byte: bounded.
        let mut w = Written::default();
        let refused = (0..2 * MAX_PIECES as u64)
            .map(|i| w.add(2 * i, 2 * i + 1))
            .find_map(Result::err);
        assert!(matches!(refused, Some(UploadError::Scattered)));
    }

    #[test]
    fn an_upload_with_a_hole_is_not_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let quotas = Arc::new(Quotas::default());
        // A resume of bytes it never had is refused at the first write.
        let mut resumed = upload(dir.path(), "r.csv", ROOMY, &quotas);
        assert!(matches!(
            resumed.write(10, b"resumed"),
            Err(UploadError::Incomplete { from: 0, to: 10 })
        ));
        drop(resumed);
        // A hole in the middle is found at the close.
        let mut up = upload(dir.path(), "x.csv", ROOMY, &quotas);
        up.write(0, b"start").unwrap();
        up.write(10, b"later").unwrap();
        assert!(matches!(
            up.finish(),
            Err(UploadError::Incomplete { from: 5, to: 10 })
        ));
        for folder in ["staging", "upload"] {
            let left = std::fs::read_dir(dir.path().join(folder)).unwrap().count();
            assert_eq!(left, 0, "{folder}");
        }
        assert_eq!(quotas.lock()["t"].in_flight, 0);
    }

    #[test]
    fn uploads_opened_together_cannot_pass_the_quota_one_after_another() {
        let dir = tempfile::tempdir().unwrap();
        let quotas = Arc::new(Quotas::default());
        // Both open while nothing waits; the first is delivered before the second writes.
        let mut first = upload(dir.path(), "a.csv", ROOMY, &quotas);
        let mut second = upload(dir.path(), "b.csv", ROOMY, &quotas);
        first.write(0, &[1; 100]).unwrap();
        first.finish().unwrap();
        assert!(matches!(
            second.write(0, &[2; 60]),
            Err(UploadError::Quota { limit: 150 })
        ));
        second.write(0, &[2; 50]).unwrap();
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
        assert_eq!(quotas.lock()["t"].in_flight, 0);
    }
}
