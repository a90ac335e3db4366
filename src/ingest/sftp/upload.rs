//! Uploads: written to `staging/`, moved into `upload/` only when the client closes the file,
//! every byte of it was written and the data is on disk.
//!
//! A CLOSE is not proof of a whole file: a client that resumes (`reput`, `put -c`, `curl -C`)
//! writes from an offset, and the bytes it skipped would be a hole of zeros. So an upload
//! keeps the ranges it was written in ([`Written`]), and one with a hole is not delivered.
//!
//! An upload under a temporary name (`.filepart`, `.part`, `.tmp`, a dot-name) is no
//! delivery yet: it is written in place in its user's own folder (`StateDir::temp_uploads`),
//! and what was written without a hole stays there when the client closes it or is cut off,
//! for that user to resume (open without truncating, write on) and rename.
//!
//! A delivery [`Upload`] that is dropped without [`Upload::finish`] (a cut connection, a
//! broken limit) removes its staging file, so a partial upload never reaches `upload/`.
//!
//! An upload the disk refuses (full, read-only, not writable by the daemon: a
//! `storage::Fault`) is the server's fault, not the client's: each is logged with the path
//! that could not be written ([`Refused::log`], at most [`REFUSED_LINES_PER_MINUTE`] lines a
//! minute), and the client is told that nothing was stored and to send it again later.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, FileTimes};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::layout::StateDir;
use crate::secrets;
use crate::storage::{Fault, Throttle, fault_of};

/// Each tenant's quota use by uploads, so that parallel uploads share one quota.
pub(super) struct Quotas {
    state: StateDir,
    usage: Mutex<HashMap<String, Usage>>,
}

/// One tenant's uploads, in bytes.
#[derive(Debug, Default, Clone, Copy)]
struct Usage {
    /// Held by uploads still open.
    in_flight: u64,
    /// Added to the tenant's folders by closed uploads since the server started (only ever
    /// grows): an upload opened earlier adds what was added after it to what it saw on
    /// disk, so that opening many handles first and writing them one after another cannot
    /// pass the quota.
    delivered: u64,
}

impl Quotas {
    pub(super) fn new(state: StateDir) -> Self {
        Self {
            state,
            usage: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Usage>> {
        self.usage.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes of `tenant`'s files on disk: what waits in `upload/` and its users' temporary
    /// uploads.
    fn on_disk(&self, tenant: &str) -> u64 {
        let temps = std::fs::read_dir(self.state.temp_root().join(tenant))
            .into_iter()
            .flatten()
            .flatten()
            .map(|user| folder_bytes(&user.path()))
            .sum::<u64>();
        folder_bytes(&self.state.upload(tenant)).saturating_add(temps)
    }

    /// Bytes of `tenant`'s quota in use: its files on disk and what its open uploads hold.
    pub(super) fn used(&self, tenant: &str) -> u64 {
        let in_flight = self.lock().get(tenant).map_or(0, |u| u.in_flight);
        self.on_disk(tenant).saturating_add(in_flight)
    }

    fn add_delivered(&self, tenant: &str, bytes: u64) {
        self.lock().entry(tenant.to_owned()).or_default().delivered += bytes;
    }
}

/// Access and modification times a client asked for, in Unix seconds (as SFTP v3 sends
/// them); either may be missing.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Times {
    pub atime: Option<u32>,
    pub mtime: Option<u32>,
}

impl Times {
    pub(super) fn is_empty(&self) -> bool {
        self.atime.is_none() && self.mtime.is_none()
    }

    /// These, with what they leave out taken from `earlier`.
    pub(super) fn over(self, earlier: Times) -> Times {
        Times {
            atime: self.atime.or(earlier.atime),
            mtime: self.mtime.or(earlier.mtime),
        }
    }

    /// As `File::set_times` takes them (a missing one is left as it is).
    pub(super) fn file_times(self) -> FileTimes {
        let at = |secs: u32| std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.into());
        let mut times = FileTimes::new();
        if let Some(atime) = self.atime {
            times = times.set_accessed(at(atime));
        }
        if let Some(mtime) = self.mtime {
            times = times.set_modified(at(mtime));
        }
        times
    }
}

/// The limits one upload must keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UploadLimits {
    pub max_file_bytes: u64,
    pub quota_bytes: u64,
}

/// Why a write was refused.
#[derive(Debug, thiserror::Error)]
pub(super) enum UploadError {
    #[error("file too large: the limit is {limit} bytes per file")]
    TooLarge { limit: u64 },
    #[error("quota exceeded: at most {limit} bytes may wait in upload/ for this tenant")]
    Quota { limit: u64 },
    #[error(
        "the upload is not whole: bytes {from} to {to} were never sent (a resumed upload must \
         continue a file of its own that is not yet delivered)"
    )]
    Incomplete { from: u64, to: u64 },
    #[error(
        "the upload was written in more than {MAX_PIECES} separate pieces; write it from start to end"
    )]
    Scattered,
    #[error(
        "this name is already delivered and cannot be continued; upload the whole file again to \
         replace it while it waits, or resume under a temporary name (.filepart, .part, \
         .partial, .tmp)"
    )]
    Delivered,
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// What becomes of an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A delivery: written to a staging file, placed into `upload/` when whole.
    Delivery,
    /// A temporary name: written in place; its whole part is kept whatever happens.
    Temp,
}

/// A file being uploaded.
pub(super) struct Upload {
    file: File,
    /// Where the bytes go: the staging file, or the temporary file itself.
    path: PathBuf,
    kind: Kind,
    /// The name the client asked for.
    pub name: String,
    pub tenant: String,
    /// Highest byte written so far.
    size: u64,
    written: Written,
    limits: UploadLimits,
    /// Bytes of the tenant's on disk when this upload began, and [`Usage::delivered`] then.
    on_disk: u64,
    delivered_before: u64,
    quotas: Arc<Quotas>,
    reserved: u64,
    /// Access and modification times a client set (FSETSTAT), applied at the close.
    times: Times,
    /// Opened with APPEND: every write goes at the end (as OpenSSH's server does through
    /// O_APPEND; asyncssh counts its offsets from 0), unless its offset lies past the end.
    append: bool,
    /// A new version of a waiting file opened without TRUNC (OpenSSH's `scp` writes in
    /// place and sets the size at the end): it must be written from its first byte.
    replacing: bool,
    /// Written to, or given its size: without either, a replacing upload changes nothing
    /// (`touch` opens a file for writing and only sets its times).
    touched: bool,
    finished: bool,
}

impl Upload {
    /// Opens a new staging file in `staging_dir` for a delivery named `name`.
    pub(super) fn delivery(
        staging_dir: &Path,
        tenant: &str,
        name: &str,
        limits: UploadLimits,
        quotas: Arc<Quotas>,
    ) -> io::Result<Self> {
        let token = secrets::random_hex(16).map_err(io::Error::other)?;
        let path = staging_dir.join(format!("{STAGING_PREFIX}{token}.part"));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        Ok(Self::new(
            file,
            path,
            Kind::Delivery,
            tenant,
            name,
            0,
            limits,
            quotas,
        ))
    }

    /// Opens the temporary file at `path`: anew (created or emptied), or, with `resume`,
    /// as it is, to be written on from its end.
    pub(super) fn temp(
        path: &Path,
        tenant: &str,
        name: &str,
        resume: bool,
        limits: UploadLimits,
        quotas: Arc<Quotas>,
    ) -> io::Result<Self> {
        let mut options = std::fs::OpenOptions::new();
        options
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
        if !resume {
            options.create(true).truncate(true);
        }
        let file = options.open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        let upload = Self::new(
            file,
            path.to_owned(),
            Kind::Temp,
            tenant,
            name,
            meta.len(),
            limits,
            quotas,
        );
        Ok(upload)
    }

    #[allow(clippy::too_many_arguments)]
    fn new(
        file: File,
        path: PathBuf,
        kind: Kind,
        tenant: &str,
        name: &str,
        initial: u64,
        limits: UploadLimits,
        quotas: Arc<Quotas>,
    ) -> Self {
        let delivered_before = quotas.lock().get(tenant).map_or(0, |u| u.delivered);
        let mut written = Written::default();
        // The bytes of a file resumed are its own: whole, from the start.
        let _ = written.add(0, initial);
        Self {
            file,
            path,
            kind,
            name: name.to_owned(),
            tenant: tenant.to_owned(),
            size: initial,
            written,
            limits,
            on_disk: quotas.on_disk(tenant),
            delivered_before,
            quotas,
            reserved: 0,
            times: Times::default(),
            append: false,
            replacing: false,
            touched: false,
            finished: false,
        }
    }

    /// Marks a new version of a waiting file, opened without TRUNC: a first write past its
    /// start is a resume of the delivered file, and refused as such.
    pub(super) fn replacing(mut self) -> Self {
        self.replacing = true;
        self
    }

    /// Makes every write go at the end of the file (the client opened it with APPEND).
    pub(super) fn appending(mut self) -> Self {
        self.append = true;
        self
    }

    /// Bytes written so far (the highest offset reached).
    pub(super) fn size(&self) -> u64 {
        self.size
    }

    /// Where the bytes go: the staging file, or the temporary file itself.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether what was written stays (under a temporary name) when the upload fails.
    pub(super) fn keeps_partial(&self) -> bool {
        self.kind == Kind::Temp
    }

    /// Another descriptor of the file being written (to sync it off the async workers).
    pub(super) fn file(&self) -> io::Result<File> {
        self.file.try_clone()
    }

    /// Times to give the file when it is closed (a client's FSETSTAT).
    pub(super) fn set_times(&mut self, times: Times) {
        self.times = times.over(self.times);
    }

    /// The times a client set so far.
    pub(super) fn times(&self) -> Times {
        self.times
    }

    /// Records that the client set the file's size (to the bytes written: an empty file
    /// copied in place is a new, empty version).
    pub(super) fn size_set(&mut self) {
        self.touched = true;
    }

    /// A waiting file opened without TRUNC and neither written nor sized: closing it must
    /// leave the waiting file as it is, apart from the times returned.
    pub(super) fn untouched_replacement(&self) -> Option<Times> {
        (self.replacing && !self.touched).then_some(self.times)
    }

    /// Writes `data` at `offset`, within the file size limit and the tenant's quota.
    pub(super) fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), UploadError> {
        // With APPEND, data goes at the end. A client that names an offset past the end
        // believes in bytes that are not there (curl -C onto a new name): that is a hole.
        // One that names an offset before it counts from its own start (asyncssh): at the end.
        if self.append && offset > self.size {
            return Err(UploadError::Incomplete {
                from: self.size,
                to: offset,
            });
        }
        let offset = if self.append { self.size } else { offset };
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
            let on_disk = self.on_disk + (usage.delivered - self.delivered_before);
            if on_disk + usage.in_flight + growth > self.limits.quota_bytes {
                return Err(UploadError::Quota {
                    limit: self.limits.quota_bytes,
                });
            }
            // A temporary file grows on disk in the tenant's folders, where uploads opened
            // later count it: as delivered bytes, not held ones, so it counts once.
            match self.kind {
                Kind::Temp => usage.delivered += growth,
                Kind::Delivery => {
                    usage.in_flight += growth;
                    self.reserved += growth;
                }
            }
        }
        // A first write past the start is a resume of bytes this upload never had. Refused
        // here and not only at CLOSE: curl (libssh2) ignores the status of a CLOSE.
        if self.written.is_empty() && offset > 0 {
            return Err(if self.replacing {
                UploadError::Delivered
            } else {
                UploadError::Incomplete {
                    from: 0,
                    to: offset,
                }
            });
        }
        // A temporary file opened without TRUNC or APPEND and written from its start is
        // written anew in place (OpenSSH's `scp`): its old tail must not stay behind.
        if self.kind == Kind::Temp && !self.touched && !self.append && offset == 0 && self.size > 0
        {
            self.file.set_len(0)?;
            self.written = Written::default();
            self.size = 0;
        }
        self.touched = true;
        self.written.add(offset, end)?;
        self.file.write_all_at(data, offset)?;
        self.size = self.size.max(end);
        Ok(())
    }

    /// Ends the upload as the client's CLOSE asks. A whole delivery is made durable and
    /// handed to `place` (which moves it into `upload/`); one with a hole is not delivered
    /// (dropping it removes it). A temporary file keeps what it has without a hole, and
    /// says if that is less than was written.
    pub(super) fn finish(
        mut self,
        place: impl FnOnce(&Path) -> io::Result<()>,
    ) -> Result<(), UploadError> {
        if let Some((from, to)) = self.written.first_hole() {
            return Err(UploadError::Incomplete { from, to });
        }
        self.file.sync_all()?;
        if !self.times.is_empty() {
            self.file.set_times(self.times.file_times())?;
        }
        if self.kind == Kind::Delivery {
            place(&self.path)?;
        }
        self.finished = true;
        if self.kind == Kind::Delivery {
            self.quotas.add_delivered(&self.tenant, self.size);
        }
        Ok(())
    }

    /// Whether the file at this upload's path is still the one it writes, as it left it.
    fn still_ours(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        match (self.file.metadata(), self.path.symlink_metadata()) {
            (Ok(open), Ok(there)) => {
                (open.dev(), open.ino()) == (there.dev(), there.ino()) && open.len() == self.size
            }
            _ => false,
        }
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        match self.kind {
            Kind::Delivery if !self.finished => {
                let _ = std::fs::remove_file(&self.path);
            }
            Kind::Temp if !self.finished => {
                // Keep the whole beginning, for a resume; a hole would be zeros. Only if the
                // file is still this upload's: a session that died long ago must not cut a
                // file that another session resumed, renamed or rewrote meanwhile.
                let whole = self
                    .written
                    .first_hole()
                    .map_or(self.size, |(from, _)| from);
                if whole < self.size && self.still_ours() && self.file.set_len(whole).is_ok() {
                    let _ = self.file.sync_all();
                }
            }
            _ => {}
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
pub(super) struct Written {
    ranges: BTreeMap<u64, u64>,
}

impl Written {
    /// Records that `start..end` was written.
    pub(super) fn add(&mut self, start: u64, end: u64) -> Result<(), UploadError> {
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
    pub(super) fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The first range below the highest byte written that was never written.
    pub(super) fn first_hole(&self) -> Option<(u64, u64)> {
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

/// Lines a minute that uploads the disk refused may add to the log: enough to follow a few
/// users, too few for a client that retries in a loop to flood the journal.
pub(super) const REFUSED_LINES_PER_MINUTE: u32 = 20;

static REFUSED: Throttle = Throttle::new(REFUSED_LINES_PER_MINUTE);

/// The storage fault behind a failed upload, if it is one.
pub(super) fn storage_fault(e: &UploadError) -> Option<Fault> {
    match e {
        UploadError::Io(e) => fault_of(e),
        _ => None,
    }
}

/// Who met a storage fault with which upload.
pub(super) struct Refused<'a> {
    pub user: &'a str,
    pub ip: std::net::IpAddr,
    pub tenant: &'a str,
    pub name: &'a str,
}

impl Refused<'_> {
    /// Logs that the disk refused this upload at `path` (the staging or temporary file, or
    /// the folder it was to be made in), unless the minute's lines are used up; the next
    /// line let through says how many were left out.
    pub(super) fn log(&self, path: &Path, fault: Fault, error: &dyn std::fmt::Display) {
        log_refused(self, path, fault, error);
    }

    /// What the client is told: the server is at fault, and what became of the upload.
    pub(super) fn message(&self, fault: Fault, outcome: &str) -> String {
        format!(
            "{}: not stored: {}; {outcome}; please send it again later",
            self.name,
            match fault {
                Fault::Full => "the server's disk is full",
                Fault::ReadOnly | Fault::Denied | Fault::Io =>
                    "the server cannot write uploads now",
            }
        )
    }
}

fn log_refused(who: &Refused<'_>, path: &Path, fault: Fault, error: &dyn std::fmt::Display) {
    let Some(left_out) = REFUSED.admit() else {
        return;
    };
    tracing::error!(
        user = who.user,
        ip = %who.ip,
        tenant = who.tenant,
        file = %crate::redact::name(who.name),
        path = %path.display(),
        error = %error,
        left_out,
        "upload not stored: {fault}{}",
        if left_out > 0 {
            format!(" ({left_out} more uploads refused since the last such line)")
        } else {
            String::new()
        }
    );
}

/// Removes the staging files of uploads that a crash (or kill -9) cut off, and returns how
/// many there were. A delivery's upload cannot be resumed, so no such file has a future
/// (temporary names are kept elsewhere, in `StateDir::temp_uploads`).
pub(super) fn remove_leftovers(staging_dir: &Path) -> io::Result<usize> {
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

    struct Fixture {
        _dir: tempfile::TempDir,
        state: StateDir,
        quotas: Arc<Quotas>,
    }

    impl Fixture {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let state = StateDir::new(dir.path());
            state.create(["t"]).unwrap();
            std::fs::create_dir_all(state.temp_uploads("t", "u")).unwrap();
            let quotas = Arc::new(Quotas::new(state.clone()));
            Self {
                _dir: dir,
                state,
                quotas,
            }
        }

        fn upload(&self, name: &str, limits: UploadLimits) -> Upload {
            Upload::delivery(
                &self.state.staging(),
                "t",
                name,
                limits,
                self.quotas.clone(),
            )
            .unwrap()
        }

        fn temp(&self, name: &str, resume: bool) -> Upload {
            let path = self.state.temp_uploads("t", "u").join(name);
            Upload::temp(&path, "t", name, resume, ROOMY, self.quotas.clone()).unwrap()
        }

        /// Finishes `up` by moving it into `upload/` under its name.
        fn deliver(&self, up: Upload) -> Result<(), UploadError> {
            let dest = self.state.upload("t").join(&up.name);
            up.finish(|staged| std::fs::rename(staged, &dest))
        }

        fn count(&self, dir: &Path) -> usize {
            std::fs::read_dir(dir).unwrap().count()
        }

        /// Staging files of deliveries.
        fn staged(&self) -> usize {
            std::fs::read_dir(self.state.staging())
                .unwrap()
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(STAGING_PREFIX))
                .count()
        }
    }

    const ROOMY: UploadLimits = UploadLimits {
        max_file_bytes: 100,
        quota_bytes: 150,
    };

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
        let f = Fixture::new();
        // A resume of bytes it never had is refused at the first write.
        let mut resumed = f.upload("r.csv", ROOMY);
        assert!(matches!(
            resumed.write(10, b"resumed"),
            Err(UploadError::Incomplete { from: 0, to: 10 })
        ));
        drop(resumed);
        // A hole in the middle is found at the close.
        let mut up = f.upload("x.csv", ROOMY);
        up.write(0, b"start").unwrap();
        up.write(10, b"later").unwrap();
        assert!(matches!(
            f.deliver(up),
            Err(UploadError::Incomplete { from: 5, to: 10 })
        ));
        assert_eq!(f.count(&f.state.upload("t")), 0);
        assert_eq!(f.staged(), 0);
        assert_eq!(f.quotas.lock()["t"].in_flight, 0);
    }

    #[test]
    fn a_temporary_upload_keeps_its_whole_beginning_and_resumes_from_there() {
        let f = Fixture::new();
        let path = f.state.temp_uploads("t", "u").join("x.csv.filepart");
        // Cut off after 5 bytes, with a stray write past a hole: the 5 stay, nothing else.
        let mut up = f.temp("x.csv.filepart", false);
        up.write(0, b"01234").unwrap();
        up.write(8, b"89").unwrap();
        drop(up);
        assert_eq!(std::fs::read(&path).unwrap(), b"01234");
        // Resumed with APPEND: continues at its end whatever the offset says (asyncssh
        // sends 0); a close with everything whole keeps it all.
        let mut up = f.temp("x.csv.filepart", true).appending();
        assert_eq!(up.size(), 5);
        up.write(0, b"56789").unwrap();
        up.finish(|_| unreachable!("a temporary file is not placed"))
            .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"0123456789");
        // A session that died with a gap in its file, dropped after another session renamed
        // that file away: the renamed file is not cut.
        let mut stale = f.temp("x.csv.filepart", true);
        stale.write(20, b"gap before").unwrap();
        let elsewhere = f.state.upload("t").join("x.csv");
        std::fs::rename(&path, &elsewhere).unwrap();
        drop(stale);
        assert_eq!(std::fs::metadata(&elsewhere).unwrap().len(), 30);
        std::fs::rename(&elsewhere, &path).unwrap();
        // Opened anew in place (no TRUNC, no APPEND, written from 0, as scp does): the old
        // tail does not stay behind.
        let mut up = f.temp("x.csv.filepart", true);
        up.write(0, b"new").unwrap();
        up.finish(|_| unreachable!()).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        // Opened anew (TRUNC): empty again.
        let up = f.temp("x.csv.filepart", false);
        assert_eq!(up.size(), 0);
        drop(up);
        assert_eq!(std::fs::read(&path).unwrap(), b"");
    }

    #[test]
    fn uploads_opened_together_cannot_pass_the_quota_one_after_another() {
        let f = Fixture::new();
        // Both open while nothing waits; the first is delivered before the second writes.
        let mut first = f.upload("a.csv", ROOMY);
        let mut second = f.upload("b.csv", ROOMY);
        first.write(0, &[1; 100]).unwrap();
        f.deliver(first).unwrap();
        assert!(matches!(
            second.write(0, &[2; 60]),
            Err(UploadError::Quota { limit: 150 })
        ));
        second.write(0, &[2; 50]).unwrap();
        // Temporary uploads count too.
        let mut temp = f.temp("c.part", false);
        assert!(matches!(
            temp.write(0, &[3; 1]),
            Err(UploadError::Quota { limit: 150 })
        ));
        assert_eq!(f.quotas.used("t"), 150);
    }

    #[test]
    fn a_dropped_upload_leaves_nothing_and_frees_its_quota() {
        let f = Fixture::new();
        let mut up = f.upload("x.csv", ROOMY);
        up.write(0, &[1; 100]).unwrap();
        let mut other = f.upload("y.csv", ROOMY);
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
        assert_eq!(f.staged(), 0);
        assert_eq!(f.count(&f.state.upload("t")), 0);
        assert_eq!(f.quotas.lock()["t"].in_flight, 0);
    }
}
