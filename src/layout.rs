//! Where things live under the state directory (DESIGN 1).
//!
//! Every path the daemon touches on disk is named here, so that no other module builds one
//! by string; and the one way files move between its folders without ever replacing one
//! ([`move_no_replace`]). This module creates folders and moves files; it never deletes.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

/// The state directory and its fixed layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir {
    root: PathBuf,
}

/// The three folders a tenant's users see.
pub(crate) const TENANT_FOLDERS: [&str; 3] = ["upload", "receipts", "outbox"];

impl StateDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The SQLite ledger.
    /// The pseudonymisation key, where `ttp_key_file` points unless configured elsewhere.
    pub(crate) fn ttp_key(&self) -> PathBuf {
        self.root.join("ttp.key")
    }

    pub fn ledger(&self) -> PathBuf {
        self.root.join("dropgate.sqlite")
    }

    pub fn tenants(&self) -> PathBuf {
        self.root.join("tenants")
    }

    pub fn tenant(&self, tenant: &str) -> PathBuf {
        self.tenants().join(tenant)
    }

    /// Where complete uploads wait for processing.
    pub fn upload(&self, tenant: &str) -> PathBuf {
        self.tenant(tenant).join("upload")
    }

    pub fn receipts(&self, tenant: &str) -> PathBuf {
        self.tenant(tenant).join("receipts")
    }

    /// A municipality's request for a full bundle, in its outbox.
    pub fn request_full(&self, tenant: &str) -> PathBuf {
        self.outbox(tenant).join(REQUEST_FULL)
    }

    /// A municipality's request for a full Ketendata bundle of `product` (`IJW`, `IWMO`).
    pub fn request_ketendata(&self, tenant: &str, product: &str) -> PathBuf {
        self.outbox(tenant)
            .join(format!("{REQUEST_FULL}-{product}"))
    }

    pub fn outbox(&self, tenant: &str) -> PathBuf {
        self.tenant(tenant).join("outbox")
    }

    /// In-flight uploads and bundles; on the same file system as the tenant folders so that
    /// moving a finished file in is an atomic rename.
    pub fn staging(&self) -> PathBuf {
        self.root.join("staging")
    }

    /// Versions of waiting files that a user replaced or removed, until intake has recorded
    /// them as withdrawn and moved them to `archive/`: one folder per version,
    /// `withdrawn/<tenant>/<token>.<user>/<name>` (user names hold no `/`, tokens no `.`).
    pub fn withdrawn(&self) -> PathBuf {
        self.staging().join("withdrawn")
    }

    /// A new folder name for one withdrawn version (see [`StateDir::withdrawn`]).
    pub(crate) fn withdrawn_slot(&self, tenant: &str, user: &str, token: &str) -> PathBuf {
        self.withdrawn()
            .join(tenant)
            .join(format!("{token}.{user}"))
    }

    /// Uploads under temporary names (`.filepart`, `.part`, `.tmp`, dot-names): kept per user
    /// outside `upload/`, so that only their own user sees, resumes, renames or removes them.
    pub(crate) fn temp_uploads(&self, tenant: &str, user: &str) -> PathBuf {
        self.staging().join("temp").join(tenant).join(user)
    }

    /// Every tenant's temporary uploads: `temp/<tenant>/<user>/<name>`.
    pub(crate) fn temp_root(&self) -> PathBuf {
        self.staging().join("temp")
    }

    pub fn archive(&self) -> PathBuf {
        self.root.join("archive")
    }

    pub fn quarantine(&self) -> PathBuf {
        self.root.join("quarantine")
    }

    /// Copies of the ledger taken before a migration changed it.
    pub fn backups(&self) -> PathBuf {
        self.root.join("backups")
    }

    /// `backups/dropgate-v<version>-<yyyyMMddHHmmss>.sqlite`: the ledger as it was at schema
    /// `version`, copied at `at` (UTC).
    pub(crate) fn pre_migration_backup(&self, version: u32, at: DateTime<Utc>) -> PathBuf {
        self.backups()
            .join(format!("dropgate-v{version}-{}.sqlite", at.format(STAMP)))
    }

    /// The ledger's write-ahead log and shared-memory index: part of the ledger while they
    /// exist (committed rows may still be only in the `-wal`).
    pub(crate) fn ledger_companions(&self) -> [PathBuf; 2] {
        ["dropgate.sqlite-wal", "dropgate.sqlite-shm"].map(|name| self.root.join(name))
    }

    /// Where a processed original is kept until `raw_retention_days` have passed.
    pub fn archived(&self, tenant: &str) -> PathBuf {
        self.archive().join(tenant)
    }

    /// Where an unreadable original is kept.
    pub fn quarantined(&self, tenant: &str) -> PathBuf {
        self.quarantine().join(tenant)
    }

    /// Creates the state directory's fixed folders and each tenant's three folders, with
    /// owner-only permissions. Existing folders are left as they are.
    pub fn create<'a>(&self, tenants: impl IntoIterator<Item = &'a str>) -> io::Result<()> {
        for dir in [
            self.root.clone(),
            self.tenants(),
            self.staging(),
            self.archive(),
            self.quarantine(),
        ] {
            create_private_dir(&dir)?;
        }
        for tenant in tenants {
            create_private_dir(&self.tenant(tenant))?;
            for folder in TENANT_FOLDERS {
                create_private_dir(&self.tenant(tenant).join(folder))?;
            }
        }
        Ok(())
    }
}

/// The lock on a tenant's `upload/` folder, held while a waiting file is replaced, set
/// aside or given new times over SFTP, and while the daily run moves an original out: so
/// that the run never moves a file that took the place of the one it processed. An
/// advisory `flock` on the folder, so it holds between the daemon and `dropgate process`.
/// Released when dropped.
pub(crate) struct UploadLock {
    _dir: std::fs::File,
}

impl UploadLock {
    /// Waits for and takes the lock on `upload`, a tenant's `upload/` folder.
    pub(crate) fn take(upload: &Path) -> io::Result<Self> {
        use std::os::unix::io::AsRawFd;
        let dir = std::fs::File::open(upload)?;
        loop {
            // SAFETY: a valid descriptor owned by `dir` for the duration of the call.
            if unsafe { libc::flock(dir.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(Self { _dir: dir });
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

/// The lock on the outboxes: held while a bundle or a monthly report is written into
/// `staging/`, recorded and placed, and while what an interrupted run left there is placed
/// or removed; so that one publication never removes or places another's file half way
/// (the weekly and the monthly job may run at once, and `dropgate publish` beside the
/// daemon). An advisory `flock` on `staging/`, taken before the ledger's write lock.
/// Released when dropped.
pub(crate) struct OutboxLock {
    _lock: UploadLock,
}

impl OutboxLock {
    /// Waits for and takes the lock of the state directory `state`.
    pub(crate) fn take(state: &StateDir) -> io::Result<Self> {
        Ok(Self {
            _lock: UploadLock::take(&state.staging())?,
        })
    }
}

/// The lock a running daemon holds on its state directory for its whole life (an advisory
/// `flock` on the directory itself): a second daemon, or a `restore` that would swap the
/// ledger under a running one, is refused while it is held. The kernel releases it when
/// the process ends, however it ends.
pub(crate) struct DaemonLock {
    _dir: std::fs::File,
}

impl DaemonLock {
    /// Takes the lock on the state directory `state` without waiting; `None` if another
    /// process holds it.
    pub(crate) fn try_take(state: &StateDir) -> io::Result<Option<Self>> {
        use std::os::unix::io::AsRawFd;
        let dir = std::fs::File::open(state.root())?;
        loop {
            // SAFETY: a valid descriptor owned by `dir` for the duration of the call.
            if unsafe { libc::flock(dir.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                return Ok(Some(Self { _dir: dir }));
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => return Ok(None),
                _ => return Err(e),
            }
        }
    }
}

/// Creates `dir` (and its parents) if missing, readable by the owner and group only.
pub(crate) fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o750)
        .create(dir)
    {
        Ok(()) => Ok(()),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("cannot create {}: {e}", dir.display()),
        )),
    }
}

/// The longest file name (in bytes) a Linux file system takes.
const NAME_MAX: usize = 255;

/// Room kept for the `-2` ... `-1000` that [`move_no_replace`] may add.
const SUFFIX_ROOM: usize = 5;

/// `prefix + name + suffix`, with `name` shortened (at a character boundary) and marked
/// with `~` and eight hex digits of its SHA-256 when the whole would not fit in a file
/// name: a delivery's own name may already be 255 bytes long. The cut never leaves the
/// front of a run of digits: seven digits of a BSN would pass the redaction, which masks
/// runs of eight.
pub(crate) fn bounded_name(prefix: &str, name: &str, suffix: &str) -> String {
    let room = NAME_MAX - SUFFIX_ROOM;
    if prefix.len() + name.len() + suffix.len() <= room {
        return format!("{prefix}{name}{suffix}");
    }
    use sha2::Digest;
    let hash = hex::encode(&sha2::Sha256::digest(name.as_bytes())[..4]);
    let keep = room.saturating_sub(prefix.len() + suffix.len() + 1 + hash.len());
    let mut end = keep.min(name.len());
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    if name[end..].starts_with(|c: char| c.is_ascii_digit()) {
        end = name[..end]
            .trim_end_matches(|c: char| c.is_ascii_digit() || matches!(c, ' ' | '.' | '-' | '_'))
            .len();
    }
    format!("{prefix}{}~{hash}{suffix}", &name[..end])
}

/// Names that clients use while a transfer is still running, and hidden files: ignored until
/// renamed to a real name.
pub(crate) fn is_temp_name(name: &str) -> bool {
    // `.partial`: rclone 1.63 and later upload to `<name>.<hash>.partial`, then rename.
    const TEMP_SUFFIXES: [&str; 4] = [".filepart", ".part", ".partial", ".tmp"];
    name.starts_with('.')
        || TEMP_SUFFIXES
            .iter()
            .any(|suffix| name.len() > suffix.len() && name.to_ascii_lowercase().ends_with(suffix))
}

/// The file a municipality puts into its outbox to ask for a full bundle.
pub(crate) const REQUEST_FULL: &str = "REQUEST-FULL";

/// What the name of a request file in an outbox asks for: `Some(None)` a full measurement
/// bundle (`REQUEST-FULL`), `Some(Some(product))` a Ketendata total file
/// (`REQUEST-FULL-IJW`, `REQUEST-FULL-IWMO`); `None` for any other name.
pub(crate) fn requested_product(name: &str) -> Option<Option<&'static str>> {
    if name == REQUEST_FULL {
        return Some(None);
    }
    let product = name.strip_prefix(REQUEST_FULL)?.strip_prefix('-')?;
    ["IJW", "IWMO"]
        .into_iter()
        .find(|p| *p == product)
        .map(Some)
}

/// A municipality's own key, beside the TTP key in `key_dir`.
pub(crate) fn municipality_key(key_dir: &Path, tenant: &str) -> PathBuf {
    key_dir.join(format!("municipality-{tenant}.key"))
}

/// The tenant whose key a file named `name` is (see [`municipality_key`]).
pub(crate) fn municipality_of_key(name: &str) -> Option<&str> {
    name.strip_prefix("municipality-")?
        .strip_suffix(".key")
        .filter(|id| !id.is_empty())
}

/// A time in file and folder names: `yyyyMMddHHmmss`, sortable.
const STAMP: &str = "%Y%m%d%H%M%S";

/// A backup folder (`dropgate backup --to DIR`, or one night's `DIR/<yyyyMMddHHmmss>/`):
/// the ledger, the configuration, the keys under `keys/`, and the `MANIFEST` written last.
/// Names inside it are relative paths as the `MANIFEST` lists them.
#[derive(Debug, Clone)]
pub(crate) struct BackupDir {
    root: PathBuf,
}

impl BackupDir {
    /// The ledger's copy.
    pub(crate) const LEDGER: &str = "dropgate.sqlite";
    /// The configuration file's copy.
    pub(crate) const CONFIG: &str = "dropgate.toml";
    /// The list of files with their sums; a folder without one is no finished backup.
    pub(crate) const MANIFEST: &str = "MANIFEST";
    /// The folder of the keys.
    pub(crate) const KEYS: &str = "keys";
    /// The folder of the other files the configuration names (`config::NamedFile`).
    pub(crate) const FILES: &str = "files";

    pub(crate) fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The file at `relative`, a name from [`BackupDir`]'s constants or its key names; the
    /// caller has checked that a name read from a `MANIFEST` is a plain relative path.
    pub(crate) fn file(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// The `MANIFEST` while it is written, before its rename makes the backup whole.
    pub(crate) fn manifest_in_progress(&self) -> PathBuf {
        self.root.join("MANIFEST.new")
    }

    /// The TTP key's name in a backup.
    pub(crate) fn ttp_key() -> String {
        format!("{}/ttp.key", Self::KEYS)
    }

    /// A municipality's key's name in a backup.
    pub(crate) fn municipality_key(tenant: &str) -> String {
        format!("{}/municipality-{tenant}.key", Self::KEYS)
    }

    /// An SFTP host key's name in a backup, by its kind (`ed25519`, `ecdsa`, `rsa`).
    pub(crate) fn host_key(kind: &str) -> String {
        format!("{}/ssh_host_{kind}_key", Self::KEYS)
    }

    /// The name in a backup of the `n`th file the configuration names, whose own name is
    /// `name`: the number keeps two files of one name apart, the name (cut to a plain
    /// alphabet, no spaces: the `MANIFEST` is split on them) tells a person what it is.
    pub(crate) fn named_file(n: usize, name: &str) -> String {
        let plain: String = name
            .chars()
            .take(64)
            .map(|c| match c {
                'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' | '_' => c,
                _ => '_',
            })
            .collect();
        format!("{}/{n:02}-{plain}", Self::FILES)
    }
}

/// One night's backup folder name: its local time as `yyyyMMddHHmmss`.
pub(crate) fn nightly_backup_name(local: chrono::NaiveDateTime) -> String {
    local.format(STAMP).to_string()
}

/// Whether `name` is a nightly backup folder's (fourteen digits): the only folders the
/// nightly job ever deletes in its backup folder.
pub(crate) fn is_nightly_backup_name(name: &str) -> bool {
    name.len() == 14 && name.bytes().all(|b| b.is_ascii_digit())
}

/// Where `dropgate restore` leaves the configuration a backup carried: beside the live
/// configuration `live`, which it never replaces.
pub fn restored_config(live: &Path) -> PathBuf {
    live.with_file_name("dropgate.toml.restored")
}

/// Where `dropgate restore --force` moves a file it replaces (a key, the ledger): beside
/// it, never deleted.
pub(crate) fn set_aside(path: &Path, at: DateTime<Utc>) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".before-restore-{}", at.format(STAMP)));
    PathBuf::from(name)
}

/// The receipt name of a delivery (without `.result.csv`): its original name and the time
/// it was checked, bounded so that the longest receipt file name fits.
pub(crate) fn receipt_stem(original: &str, checked: &str) -> String {
    let stem = bounded_name("", original, &format!(".{checked}{}", RECEIPT_CSV));
    stem.strip_suffix(RECEIPT_CSV).unwrap_or(&stem).to_owned()
}

/// A receipt stem as a text (log, mail) shows it: the delivered name redacted as any value
/// from a delivery, the time stamp kept (it is ours, and it is how the receipt is found).
pub(crate) fn receipt_shown(stem: &str) -> String {
    match stem.rsplit_once('.') {
        Some((name, stamp)) if stamp.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{}.{stamp}", crate::redact::name(name))
        }
        _ => crate::redact::name(stem).into_owned(),
    }
}

/// The receipt files of a receipt stem: the `.csv` and the `.txt`.
pub(crate) const RECEIPT_CSV: &str = ".result.csv";
pub(crate) const RECEIPT_TXT: &str = ".result.txt";

/// The name of delivery `id`'s original in `archive/` or `quarantine/`.
pub(crate) fn archive_name(id: i64, original: &str) -> String {
    bounded_name(&format!("{id}-"), original, "")
}

/// `name`, then `stem-2.ext`, `stem-3.ext`, ...
pub(crate) fn candidate(name: &str, n: u32) -> String {
    if n == 1 {
        return name.to_owned();
    }
    match name.rfind('.') {
        Some(dot) if dot > 0 => format!("{}-{n}{}", &name[..dot], &name[dot..]),
        _ => format!("{name}-{n}"),
    }
}

/// Renames `from` into `dir` as `name` (or the first free suffixed name) without ever
/// replacing an existing file.
pub(crate) fn move_no_replace(from: &Path, dir: &Path, name: &str) -> io::Result<String> {
    for n in 1..=1000 {
        let target = candidate(name, n);
        match rename_no_replace(from, &dir.join(&target)) {
            Ok(()) => return Ok(target),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("no free name for {name:?} after 1000 tries"),
    ))
}

/// Renames `from` to `to`, failing with `AlreadyExists` rather than replacing a file there.
pub(crate) fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL byte"))
    };
    let (cfrom, cto) = (c(from)?, c(to)?);
    // SAFETY: both are valid NUL-terminated paths that live across the call.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            cfrom.as_ptr(),
            libc::AT_FDCWD,
            cto.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        // File systems without RENAME_NOREPLACE: a hard link also refuses to replace.
        Some(libc::EINVAL) | Some(libc::ENOSYS) => {
            std::fs::hard_link(from, to)?;
            std::fs::remove_file(from)
        }
        _ => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_files_in_a_backup_stay_apart_and_plain() {
        assert_eq!(BackupDir::named_file(1, "id.pub"), "files/01-id.pub");
        assert_ne!(
            BackupDir::named_file(2, "id.pub"),
            BackupDir::named_file(3, "id.pub")
        );
        assert_eq!(
            BackupDir::named_file(12, "relay ca/é.pem"),
            "files/12-relay_ca__.pem"
        );
        assert_eq!(BackupDir::named_file(4, ".."), "files/04-..");
        assert!(BackupDir::named_file(5, &"x".repeat(300)).len() < 80);
    }

    #[test]
    fn names_are_bounded_to_what_a_file_system_takes() {
        let long = "é".repeat(120) + ".csv";
        assert_eq!(long.len(), 244);
        let stem = receipt_stem(&long, "20261130120000");
        let receipt = format!("{stem}{RECEIPT_CSV}");
        assert!(receipt.len() <= 250, "{}", receipt.len());
        assert!(
            stem.contains('~') && stem.ends_with(".20261130120000"),
            "{stem}"
        );
        let archived = archive_name(123456, &long);
        assert!(archived.len() <= 250 && archived.starts_with("123456-"));
        assert_eq!(archive_name(7, "a.csv"), "7-a.csv");
        assert_eq!(receipt_stem("a.csv", "1"), "a.csv.1");
        // A cut through a run of digits drops the run's front too.
        let bsn_cut = format!("{}123456782.csv", "x".repeat(212));
        let stem = receipt_stem(&bsn_cut, "20261130120000");
        assert!(stem.starts_with(&format!("{}~", "x".repeat(212))), "{stem}");
        assert!(!stem.contains("123"), "{stem}");
        // Two long names that differ only at their end stay apart.
        let other = "é".repeat(120) + ".xls";
        assert_ne!(archive_name(1, &long), archive_name(1, &other));
    }

    #[test]
    fn a_shown_receipt_hides_a_bsn_in_the_name_and_keeps_the_time_stamp() {
        let stem = receipt_stem("123456782.csv", "20261201105723");
        assert_eq!(receipt_shown(&stem), "*******82.csv.20261201105723");
        assert_eq!(
            receipt_shown("metingen.csv.20261201105723"),
            "metingen.csv.20261201105723"
        );
    }

    #[test]
    fn temp_names_are_recognised() {
        for name in [
            ".x.csv",
            "x.csv.filepart",
            "x.PART",
            "x.tmp",
            "x.csv.1a2b3c4d.partial",
            ".",
            ".hidden",
        ] {
            assert!(is_temp_name(name), "{name}");
        }
        for name in ["x.csv", "tmp", "part.csv", "x.xlsx", "x.tmp.csv"] {
            assert!(!is_temp_name(name), "{name}");
        }
    }

    #[test]
    fn taken_names_get_a_suffix_before_the_extension() {
        assert_eq!(candidate("x.csv", 1), "x.csv");
        assert_eq!(candidate("noext", 2), "noext-2");
        assert_eq!(candidate(".hidden", 3), ".hidden-3");
        assert_eq!(candidate("a.tar.gz", 2), "a.tar-2.gz");
    }

    #[test]
    fn a_move_never_replaces_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, "first").unwrap();
        std::fs::write(&b, "second").unwrap();
        std::fs::write(dir.path().join("x.csv"), "taken").unwrap();
        assert_eq!(move_no_replace(&a, dir.path(), "x.csv").unwrap(), "x-2.csv");
        assert_eq!(move_no_replace(&b, dir.path(), "x.csv").unwrap(), "x-3.csv");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("x.csv")).unwrap(),
            "taken"
        );
    }
}
