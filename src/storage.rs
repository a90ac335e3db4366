//! What a full, read-only or forbidden disk means to dropgate: the kind of a storage fault
//! ([`Fault`]), the room left under a folder ([`Space`]), whether the daemon may read or
//! write a path and, if not, exactly what it lacks ([`lacks`]), and a [`Throttle`] for log
//! lines that a failing disk would otherwise repeat with every upload.
//!
//! A storage fault is a matter of the machine, never of a file or a user: those who meet
//! one wait and try again (intake), or refuse the one request in hand with a message that
//! says the server is at fault (uploads). This module only looks; it never writes, moves or
//! deletes anything.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Why the disk refused a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// No space (or no inode, or the user's disk quota) left.
    Full,
    /// A read-only file system, or a file SQLite found read-only.
    ReadOnly,
    /// The daemon's user may not write there.
    Denied,
    /// The device failed the operation.
    Io,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Fault::Full => "the disk is full",
            Fault::ReadOnly => "the storage is read-only",
            Fault::Denied => "permission denied",
            Fault::Io => "the disk reported an I/O error",
        })
    }
}

/// The storage fault behind `e`, if it is one.
pub(crate) fn fault_of(e: &io::Error) -> Option<Fault> {
    match e.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => Some(Fault::Full),
        io::ErrorKind::ReadOnlyFilesystem => Some(Fault::ReadOnly),
        io::ErrorKind::PermissionDenied => Some(Fault::Denied),
        _ if e.raw_os_error() == Some(libc::EIO) => Some(Fault::Io),
        _ => None,
    }
}

/// Below this many free bytes the disk counts as full: nothing of use fits any more (a
/// delivery, a receipt, the ledger's next pages).
pub(crate) const FULL_BELOW_BYTES: u64 = 1 << 20;

/// The room left on the file system that holds a path, for a writer without privileges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Space {
    pub free_bytes: u64,
    pub total_bytes: u64,
    /// Files that may still be made (0 on a file system that does not count them).
    pub free_inodes: u64,
    pub total_inodes: u64,
}

impl Space {
    /// Whether nothing of use fits: under [`FULL_BELOW_BYTES`] free, or no file can be made.
    pub(crate) fn is_full(&self) -> bool {
        self.free_bytes < FULL_BELOW_BYTES || (self.total_inodes > 0 && self.free_inodes == 0)
    }
}

impl std::fmt::Display for Space {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} of {} bytes free", self.free_bytes, self.total_bytes)?;
        if self.total_inodes > 0 {
            write!(
                f,
                ", {} of {} inodes free",
                self.free_inodes, self.total_inodes
            )?;
        }
        Ok(())
    }
}

/// The room left on the file system that holds `path`.
pub(crate) fn space(path: &Path) -> io::Result<Space> {
    let c_path = CString::new(path.as_os_str().as_bytes())?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c_path` is a NUL-terminated path and `stat` is written whole on success.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), stat.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: statvfs succeeded, so it filled `stat`.
    let stat = unsafe { stat.assume_init() };
    let block = stat.f_frsize.max(1);
    Ok(Space {
        free_bytes: stat.f_bavail.saturating_mul(block),
        total_bytes: stat.f_blocks.saturating_mul(block),
        free_inodes: stat.f_favail,
        total_inodes: stat.f_files,
    })
}

/// What the daemon must be able to do with a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// Read the file.
    Read,
    /// Read and write the file.
    ReadWrite,
    /// List the folder, make and remove entries in it.
    Folder,
    /// Pass through the folder to what is below it.
    Enter,
}

/// What the daemon lacks to use `path` as `need` says, in words that name the path and
/// the permission (`None` if nothing is lacking). Asked of the kernel with the daemon's own
/// effective user and capabilities, so it is exactly what an open would meet: modes,
/// ACLs, a read-only mount (systemd's `ProtectSystem=` makes those).
pub(crate) fn lacks(path: &Path, need: Need) -> Option<String> {
    let shown = path.display();
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Some(format!("{shown}: does not exist"));
        }
        Err(e) => return Some(format!("{shown}: cannot be looked at: {e}")),
    };
    let folder = matches!(need, Need::Folder | Need::Enter);
    if folder && !meta.is_dir() {
        return Some(format!("{shown}: is not a folder"));
    }
    if !folder && meta.is_dir() {
        return Some(format!("{shown}: is a folder, not a file"));
    }
    let wanted: &[(libc::c_int, &str)] = match need {
        Need::Read => &[(libc::R_OK, "read")],
        Need::ReadWrite => &[(libc::R_OK, "read"), (libc::W_OK, "write")],
        Need::Folder => &[
            (libc::R_OK, "list"),
            (libc::W_OK, "create files in"),
            (libc::X_OK, "enter"),
        ],
        Need::Enter => &[(libc::X_OK, "enter")],
    };
    let mut missing = Vec::new();
    let mut read_only = false;
    for &(mode, what) in wanted {
        match access(path, mode) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EROFS) => read_only = true,
            Err(_) => missing.push(what),
        }
    }
    if read_only {
        return Some(format!(
            "{shown}: is on a read-only file system, and dropgate must write it"
        ));
    }
    if missing.is_empty() {
        return None;
    }
    // SAFETY: geteuid and getegid cannot fail.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    Some(format!(
        "{shown}: dropgate may not {} it (mode {:04o}, owner {}:{}; dropgate runs as {uid}:{gid})",
        missing.join(" or "),
        meta.mode() & 0o7777,
        meta.uid(),
        meta.gid(),
    ))
}

/// access(2) with the effective ids, as an open would check.
fn access(path: &Path, mode: libc::c_int) -> io::Result<()> {
    let c_path = CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: `c_path` is a NUL-terminated path; faccessat only reads it.
    let rc = unsafe { libc::faccessat(libc::AT_FDCWD, c_path.as_ptr(), mode, libc::AT_EACCESS) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// How long a throttle's window lasts.
const WINDOW: Duration = Duration::from_secs(60);

/// Lets at most `per_minute` log lines of one kind through each minute and counts the
/// others, so that a failing disk met by every upload, or a client retrying in a loop,
/// cannot flood the journal; the next line let through says how many were left out.
pub(crate) struct Throttle {
    per_minute: u32,
    window: Mutex<Window>,
}

struct Window {
    started: Option<Instant>,
    logged: u32,
    left_out: u64,
}

impl Throttle {
    pub(crate) const fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            window: Mutex::new(Window {
                started: None,
                logged: 0,
                left_out: 0,
            }),
        }
    }

    /// `Some(n)` if a line may be logged now, `n` lines having been left out since the last
    /// one let through; `None` if this one is to be left out.
    pub(crate) fn admit(&self) -> Option<u64> {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> Option<u64> {
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        if w.started.is_none_or(|s| now.duration_since(s) >= WINDOW) {
            w.started = Some(now);
            w.logged = 0;
        }
        if w.logged < self.per_minute {
            w.logged += 1;
            Some(std::mem::take(&mut w.left_out))
        } else {
            w.left_out += 1;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttle_lets_some_through_each_minute_and_counts_the_rest() {
        let throttle = Throttle::new(2);
        let t0 = Instant::now();
        assert_eq!(throttle.admit_at(t0), Some(0));
        assert_eq!(throttle.admit_at(t0), Some(0));
        assert_eq!(throttle.admit_at(t0), None);
        assert_eq!(throttle.admit_at(t0 + Duration::from_secs(59)), None);
        assert_eq!(
            throttle.admit_at(t0 + WINDOW),
            Some(2),
            "says how many it left out"
        );
        assert_eq!(throttle.admit_at(t0 + WINDOW), Some(0));
    }

    #[test]
    fn io_errors_map_to_their_fault() {
        let of = |errno| fault_of(&io::Error::from_raw_os_error(errno));
        assert_eq!(of(libc::ENOSPC), Some(Fault::Full));
        assert_eq!(of(libc::EDQUOT), Some(Fault::Full));
        assert_eq!(of(libc::EROFS), Some(Fault::ReadOnly));
        assert_eq!(of(libc::EACCES), Some(Fault::Denied));
        assert_eq!(of(libc::EIO), Some(Fault::Io));
        assert_eq!(of(libc::ENOENT), None);
    }

    #[test]
    fn what_is_lacking_names_the_path_and_the_permission() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        assert_eq!(lacks(&file, Need::ReadWrite), None);
        assert_eq!(lacks(dir.path(), Need::Folder), None);
        let missing = lacks(&dir.path().join("nope"), Need::Read).unwrap();
        assert!(missing.ends_with("nope: does not exist"), "{missing}");
        let not_a_folder = lacks(&file, Need::Folder).unwrap();
        assert!(
            not_a_folder.ends_with("f: is not a folder"),
            "{not_a_folder}"
        );
        // The kernel's answer, not the mode bits: root may write a file of mode 0444.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o444)).unwrap();
        let read_only = lacks(&file, Need::ReadWrite);
        if access(&file, libc::W_OK).is_err() {
            let said = read_only.unwrap();
            assert!(said.contains("may not write it (mode 0444"), "{said}");
        } else {
            assert_eq!(read_only, None);
        }
    }

    #[test]
    fn a_file_system_is_full_when_nothing_of_use_fits() {
        let with = |free_bytes, free_inodes| Space {
            free_bytes,
            total_bytes: 1 << 30,
            free_inodes,
            total_inodes: 1000,
        };
        assert!(with(0, 10).is_full());
        assert!(with(FULL_BELOW_BYTES - 1, 10).is_full());
        assert!(with(1 << 29, 0).is_full(), "no file can be made");
        assert!(!with(FULL_BELOW_BYTES, 10).is_full());
        let here = space(Path::new(".")).unwrap();
        assert!(here.total_bytes > 0);
    }
}
