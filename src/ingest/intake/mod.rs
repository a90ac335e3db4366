//! Intake: the one door into the ledger for uploaded files (DESIGN 2.2).
//!
//! A `notify` watcher on every tenant's `upload/` reports files that were closed after
//! writing or moved in; a full scan at start-up (and whenever the kernel's event queue
//! overflowed) finds what arrived while nobody watched. Each complete file is hashed and
//! recorded as one delivery. Intake never reads a file's content beyond hashing it, never
//! moves or deletes a file in `upload/`, and never follows a symlink.
//!
//! The SFTP server sends [`Notices`]: who uploaded a file it is about to move in (so that the
//! uploader is recorded with the delivery), and versions of waiting files that a user replaced
//! or removed, which intake records as withdrawn and moves to `archive/` (see `withdrawn`).
//!
//! A file larger than its tenant's `max_file_bytes` is not taken in, whoever put it there:
//! the SFTP server refuses such uploads, and a local copy must not be a way around that.
//! Intake cannot refuse it the way the server does (it has no one to answer, and it never
//! deletes), so it leaves the file where it is, unrecorded, and says so once: a warning
//! in the log and an `intake.too-large` audit row, naming file, size and limit.
//!
//! A storage fault (a full disk, a read-only ledger or store: `storage::Fault`) stops no
//! one: intake says so once, leaves every file where it is, and tries again with back-off
//! (a look at every `withdrawn/` version and a scan of every `upload/` folder, which stops
//! at the first file it still cannot record), and says so again when it can write. Any
//! other failure stops the daemon.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RenameMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio_util::sync::CancellationToken;

mod withdrawn;

use crate::config::Tenant;
use crate::fingerprint::sha256_of;
use crate::layout::{StateDir, is_temp_name};
use crate::ledger::{AuditEntry, Ledger, LedgerError, NewFile, Recorded};
use crate::storage::{Fault, fault_of};

/// Why intake could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("cannot watch {}: {source}", path.display())]
    Watch {
        path: PathBuf,
        source: notify::Error,
    },
    #[error("cannot start the file watcher: {0}")]
    Watcher(notify::Error),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("cannot move {} to archive/: {source}", path.display())]
    Archive { path: PathBuf, source: io::Error },
}

impl IntakeError {
    /// The storage fault behind this failure: intake waits and tries again on these.
    fn storage_fault(&self) -> Option<Fault> {
        match self {
            Self::Ledger(e) => e.storage_fault(),
            Self::Archive { source, .. } => fault_of(source),
            Self::Watch { .. } | Self::Watcher(_) => None,
        }
    }
}

/// A tenant whose `upload/` intake watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Watched {
    pub id: String,
    /// Largest file taken in: the tenant's `max_file_bytes`, as for an SFTP upload.
    pub max_file_bytes: u64,
}

impl From<&Tenant> for Watched {
    fn from(t: &Tenant) -> Self {
        Self {
            id: t.id.clone(),
            max_file_bytes: t.max_file_bytes,
        }
    }
}

enum Msg {
    Fs(notify::Result<notify::Event>),
    Tenants(Vec<Watched>),
    Uploaded(Uploaded),
    Withdrawn(PathBuf),
    Stop,
}

/// An SFTP upload about to be renamed into `upload/`.
struct Uploaded {
    tenant: String,
    name: String,
    file: FileId,
    user: String,
}

/// A file's identity on disk: device and inode.
pub(crate) type FileId = (u64, u64);

/// Most announced uploads kept while their files are not yet recorded (a rename that then
/// failed leaves one behind); past it the oldest are forgotten, and such a delivery is
/// recorded without its uploader.
const MAX_ANNOUNCED: usize = 4096;

/// What the SFTP server tells intake. Cloneable; sending never blocks.
#[derive(Clone)]
pub(crate) struct Notices {
    tx: mpsc::Sender<Msg>,
}

impl Notices {
    /// `user`'s upload `file` is about to be renamed to `name` in `tenant`'s `upload/`: if
    /// intake records that file under that name, it records `user` as its uploader. Sent
    /// before the rename, so it arrives before the file's event.
    pub(crate) fn uploaded(&self, tenant: &str, name: &str, file: FileId, user: &str) {
        let _ = self.tx.send(Msg::Uploaded(Uploaded {
            tenant: tenant.to_owned(),
            name: name.to_owned(),
            file,
            user: user.to_owned(),
        }));
    }

    /// A version of a waiting file now lies at `kept` (a path in a
    /// [`StateDir::withdrawn_slot`]): record it as withdrawn and archive it.
    pub(crate) fn withdrawn(&self, kept: PathBuf) {
        let _ = self.tx.send(Msg::Withdrawn(kept));
    }
}

/// The running intake: a thread of its own, since hashing and SQLite both block.
pub(crate) struct Intake {
    tx: mpsc::Sender<Msg>,
    thread: JoinHandle<Result<(), IntakeError>>,
    waiting: Waiting,
}

/// What intake is waiting for while a storage fault keeps it from recording (the fault, in
/// words), shared with the daemon for systemd's STATUS=.
type Waiting = Arc<Mutex<Option<String>>>;

impl Intake {
    /// Watches the `upload/` folder of every tenant in `tenants`, then returns, and scans them
    /// in the background. Once this returns, no file that completes later can be missed.
    /// `cancel` is the daemon's shutdown: checked between files, and cancelled by intake
    /// itself if it fails, since a daemon that records nothing must not look healthy.
    pub(crate) fn start(
        state: StateDir,
        ledger: Ledger,
        tenants: Vec<Watched>,
        cancel: CancellationToken,
    ) -> Result<Self, IntakeError> {
        // A read lease (see `writer_open`) is broken by a signal, SIGIO by default, whose
        // default action would end the process; we hold leases for microseconds and never
        // need the signal.
        // SAFETY: setting a signal's disposition to SIG_IGN has no preconditions.
        unsafe { libc::signal(libc::SIGIO, libc::SIG_IGN) };
        let (tx, rx) = mpsc::channel();
        let events = tx.clone();
        let watcher = RecommendedWatcher::new(
            move |event| {
                let _ = events.send(Msg::Fs(event));
            },
            notify::Config::default(),
        )
        .map_err(IntakeError::Watcher)?;
        let mut worker = Worker {
            state,
            ledger,
            watcher,
            watched: HashMap::new(),
            limits: HashMap::new(),
            announced: VecDeque::new(),
            writing: HashMap::new(),
            cancel,
            stall: None,
            waiting: Waiting::default(),
        };
        worker.watch(&tenants)?;
        let waiting = worker.waiting.clone();
        let thread = std::thread::Builder::new()
            .name("intake".into())
            .spawn(move || {
                let cancel = worker.cancel.clone();
                let result = worker.run(rx);
                if let Err(e) = &result {
                    // Without intake nothing new is recorded: stop the whole daemon so that
                    // it exits with an error and the service manager restarts it.
                    tracing::error!(error = %e, "intake failed; stopping");
                    cancel.cancel();
                }
                result
            })
            .expect("spawning a thread only fails when the process is out of resources");
        Ok(Self {
            tx,
            thread,
            waiting,
        })
    }

    /// What intake waits for, in words, while a storage fault keeps it from recording.
    pub(crate) fn waiting(&self) -> Option<String> {
        self.waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A handle for the SFTP server.
    pub(crate) fn notices(&self) -> Notices {
        Notices {
            tx: self.tx.clone(),
        }
    }

    /// Switches to a new tenant list: new tenants are watched and scanned, removed ones
    /// dropped; a tenant whose limit rose is scanned again, for files it now takes.
    pub(crate) fn set_tenants(&self, tenants: Vec<Watched>) {
        let _ = self.tx.send(Msg::Tenants(tenants));
    }

    /// Finishes the file in hand, then stops. Blocks until the thread has ended.
    pub(crate) fn stop(self) -> Result<(), IntakeError> {
        let _ = self.tx.send(Msg::Stop);
        match self.thread.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

struct Worker {
    state: StateDir,
    ledger: Ledger,
    watcher: RecommendedWatcher,
    /// Watched `upload/` folder -> tenant id.
    watched: HashMap<PathBuf, String>,
    /// Tenant id -> largest file taken in.
    limits: HashMap<String, u64>,
    /// Uploads announced by the SFTP server and not yet recorded, oldest first.
    announced: VecDeque<Uploaded>,
    /// Files last found open for writing, looked at again every [`RECHECK`]: the kernel
    /// reports a close before it drops the writer's access, so the close event itself may
    /// find the file still open, and no later event comes.
    writing: HashMap<PathBuf, Cause>,
    cancel: CancellationToken,
    /// Set while a storage fault keeps intake from recording.
    stall: Option<Stall>,
    waiting: Waiting,
}

/// How often files found open for writing are looked at again.
const RECHECK: Duration = Duration::from_secs(1);

/// The first wait before intake tries again after a storage fault; each failed try doubles
/// it, up to [`MAX_RETRY`]. A try costs little (it stops at the first file it cannot
/// record), so the cap is short: room that returns is used within seconds.
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(8);

/// Intake waiting for its storage: since when, and when it tries again.
struct Stall {
    since: Instant,
    delay: Duration,
    retry_at: Instant,
}

/// Why a file was looked at.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cause {
    /// The start-up (or overflow) scan: a waiting file of the same size is taken as known.
    Scan,
    /// Closed after writing, or moved in: the content may be new even if the name is known.
    Completed,
    /// Created; complete only if nobody has it open for writing (a hard link, say).
    Created,
}

impl Worker {
    /// Watches the `upload/` of each of `tenants` and drops the others. Returns the tenants
    /// to scan: the newly watched ones, and those whose limit rose.
    fn watch(&mut self, tenants: &[Watched]) -> Result<Vec<String>, IntakeError> {
        let wanted: HashMap<PathBuf, String> = tenants
            .iter()
            .map(|t| (self.state.upload(&t.id), t.id.clone()))
            .collect();
        let mut added = Vec::new();
        let limits: HashMap<String, u64> = tenants
            .iter()
            .map(|t| (t.id.clone(), t.max_file_bytes))
            .collect();
        for (tenant, limit) in &limits {
            if self.limits.get(tenant).is_some_and(|old| old < limit) {
                added.push(tenant.clone());
            }
        }
        self.limits = limits;
        let gone: Vec<PathBuf> = self
            .watched
            .keys()
            .filter(|dir| !wanted.contains_key(*dir))
            .cloned()
            .collect();
        for dir in gone {
            let _ = self.watcher.unwatch(&dir);
            self.watched.remove(&dir);
        }
        for (dir, tenant) in wanted {
            if self.watched.contains_key(&dir) {
                continue;
            }
            self.watcher
                .watch(&dir, RecursiveMode::NonRecursive)
                .map_err(|source| IntakeError::Watch {
                    path: dir.clone(),
                    source,
                })?;
            added.push(tenant.clone());
            self.watched.insert(dir, tenant);
        }
        added.sort();
        added.dedup();
        Ok(added)
    }

    fn run(mut self, rx: mpsc::Receiver<Msg>) -> Result<(), IntakeError> {
        let first = self.catch_up();
        self.settle(first)?;
        let mut rechecked = Instant::now();
        loop {
            // Asked before each message too, so that a stream of events cannot starve them.
            if self
                .stall
                .as_ref()
                .is_some_and(|s| Instant::now() >= s.retry_at)
            {
                let retried = self.retry();
                self.settle(retried)?;
            } else if self.stall.is_none()
                && !self.writing.is_empty()
                && rechecked.elapsed() >= RECHECK
            {
                let rechecks = self.recheck();
                self.settle(rechecks)?;
                rechecked = Instant::now();
            }
            let wake = match &self.stall {
                Some(stall) => Some(stall.retry_at),
                None if !self.writing.is_empty() => Some(rechecked + RECHECK),
                None => None,
            };
            let msg = match wake {
                None => rx.recv().ok(),
                Some(at) => match rx.recv_timeout(at.saturating_duration_since(Instant::now())) {
                    Ok(msg) => Some(msg),
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        if self.cancel.is_cancelled() {
                            break;
                        }
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => None,
                },
            };
            let Some(msg) = msg else { break };
            if self.cancel.is_cancelled() {
                break;
            }
            if matches!(msg, Msg::Stop) {
                break;
            }
            let handled = self.handle(msg);
            self.settle(handled)?;
        }
        Ok(())
    }

    /// Every tenant watched, in order.
    fn all_tenants(&self) -> Vec<String> {
        let mut tenants: Vec<String> = self.watched.values().cloned().collect();
        tenants.sort();
        tenants
    }

    /// What arrived while nobody watched (or while intake could not record): versions
    /// withdrawn first, since a scan would otherwise take the new file under a name whose
    /// old version still waits in the ledger; then every file in `upload/`.
    fn catch_up(&mut self) -> Result<(), IntakeError> {
        self.recover_withdrawn()?;
        let all = self.all_tenants();
        self.scan(&all)
    }

    /// One message. While intake waits for its storage, files are left to the next try's
    /// scan, which finds them all.
    fn handle(&mut self, msg: Msg) -> Result<(), IntakeError> {
        let stalled = self.stall.is_some();
        match msg {
            Msg::Fs(Ok(_)) if stalled => {}
            Msg::Fs(Ok(event)) if event.need_rescan() => {
                tracing::warn!(
                    "file events were lost (kernel queue overflow); scanning all upload folders"
                );
                let all = self.all_tenants();
                self.scan(&all)?;
            }
            Msg::Fs(Ok(event)) => {
                if let Some((path, cause)) = completed_path(&event) {
                    self.consider(path, cause)?;
                }
            }
            Msg::Fs(Err(e)) => tracing::warn!(error = %e, "file watcher error"),
            Msg::Tenants(tenants) => match self.watch(&tenants) {
                Ok(_) if stalled => {}
                Ok(added) => self.scan(&added)?,
                Err(e) => {
                    tracing::error!(error = %e, "cannot watch a new tenant's upload folder")
                }
            },
            Msg::Uploaded(upload) => {
                if self.announced.len() >= MAX_ANNOUNCED {
                    self.announced.pop_front();
                }
                self.announced.push_back(upload);
            }
            Msg::Withdrawn(_) if stalled => {}
            Msg::Withdrawn(kept) => self.withdraw(&kept)?,
            Msg::Stop => {}
        }
        Ok(())
    }

    /// Passes on a failure that is not a storage fault; waits (with back-off) on one.
    fn settle(&mut self, result: Result<(), IntakeError>) -> Result<(), IntakeError> {
        let Err(e) = result else { return Ok(()) };
        let Some(fault) = e.storage_fault() else {
            return Err(e);
        };
        let now = Instant::now();
        match &mut self.stall {
            Some(stall) => {
                stall.delay = (stall.delay * 2).min(MAX_RETRY);
                stall.retry_at = now + stall.delay;
                tracing::debug!(error = %e, retry_in_s = stall.delay.as_secs(), "intake still held up");
            }
            None => {
                tracing::error!(
                    error = %e,
                    "intake is held up: {fault}; what arrives waits where it is (upload/, \
                     staging/withdrawn/) and is taken in as soon as intake can write again (it \
                     tries every few seconds); downloads go on"
                );
                self.stall = Some(Stall {
                    since: now,
                    delay: FIRST_RETRY,
                    retry_at: now + FIRST_RETRY,
                });
                *self.waiting.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(format!("intake waits: {fault}"));
            }
        }
        Ok(())
    }

    /// Tries again after a storage fault: everything that arrived meanwhile is taken in.
    fn retry(&mut self) -> Result<(), IntakeError> {
        self.catch_up()?;
        if self.cancel.is_cancelled() {
            return Ok(());
        }
        if let Some(stall) = self.stall.take() {
            *self.waiting.lock().unwrap_or_else(|e| e.into_inner()) = None;
            tracing::info!(
                waited_s = stall.since.elapsed().as_secs(),
                "intake goes on; what waited meanwhile is taken in"
            );
        }
        Ok(())
    }

    /// Looks again at the files last found open for writing.
    fn recheck(&mut self) -> Result<(), IntakeError> {
        let writing: Vec<(PathBuf, Cause)> = self.writing.drain().collect();
        for (path, cause) in writing {
            if self.cancel.is_cancelled() {
                break;
            }
            self.consider(path, cause)?;
        }
        Ok(())
    }

    /// Records every complete file waiting in the tenants' `upload/` folders.
    fn scan(&mut self, tenants: &[String]) -> Result<(), IntakeError> {
        let started = Instant::now();
        let mut seen = 0usize;
        for tenant in tenants {
            let dir = self.state.upload(tenant);
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) => {
                    tracing::error!(dir = %dir.display(), error = %e, "cannot list upload folder");
                    continue;
                }
            };
            let waiting = self.ledger.waiting_files(tenant)?;
            for entry in entries.flatten() {
                if self.cancel.is_cancelled() {
                    return Ok(());
                }
                seen += 1;
                let known_size = entry
                    .file_name()
                    .to_str()
                    .and_then(|name| waiting.get(name))
                    .map(|w| w.size);
                let size = entry.metadata().map(|m| m.len()).ok();
                if known_size.is_some() && known_size == size {
                    continue;
                }
                self.consider(entry.path(), Cause::Scan)?;
            }
        }
        tracing::info!(
            tenants = tenants.len(),
            files = seen,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "upload folders scanned"
        );
        Ok(())
    }

    /// Hashes and records one file if it is a complete, regular, non-temporary file in a
    /// watched `upload/` folder. Problems with the file are logged, not returned: one bad file
    /// must not stop intake. Only ledger failures are errors.
    fn consider(&mut self, path: PathBuf, cause: Cause) -> Result<(), IntakeError> {
        let Some(tenant) = path.parent().and_then(|dir| self.watched.get(dir)) else {
            return Ok(());
        };
        let tenant = tenant.clone();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            tracing::warn!(tenant, file = %crate::redact::name(&path.to_string_lossy()), "file name is not UTF-8; not recorded until renamed");
            return Ok(());
        };
        if is_temp_name(name) {
            return Ok(());
        }
        let limit = self.limits.get(&tenant).copied().unwrap_or(0);
        let found = hash_complete_file(&path, cause, limit);
        if matches!(found, Ok(Found::Writing)) {
            self.writing.insert(path.clone(), cause);
        } else {
            self.writing.remove(&path);
        }
        let (size, sha256, file_id) = match found {
            Ok(Found::Complete {
                size,
                sha256,
                file_id,
            }) => (size, sha256, file_id),
            Ok(Found::Writing) => {
                tracing::debug!(
                    tenant,
                    file = %crate::redact::name(name),
                    "still open for writing; waiting for close"
                );
                return Ok(());
            }
            Ok(Found::TooLarge { size, modified }) => {
                return self.too_large(&tenant, name, size, limit, modified);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                tracing::warn!(tenant, file = %crate::redact::name(name), error = %e, "not recorded");
                return Ok(());
            }
        };
        let uploaded_by = match self.uploader(&tenant, name, file_id) {
            Some(user) => Some(user),
            None => self.ledger.uploader_from_audit(&tenant, name)?,
        };
        let file = NewFile {
            tenant: &tenant,
            name,
            size,
            sha256: &sha256,
            uploaded_by: uploaded_by.as_deref(),
        };
        match self.ledger.record_file(&file, crate::clock::now())? {
            Recorded::Unchanged { .. } => {}
            Recorded::New { id, state } => {
                tracing::info!(tenant, file = %crate::redact::name(name), size, sha256 = %&sha256[..16], id, %state, "delivery recorded")
            }
            Recorded::Replaced { id, state } => {
                tracing::warn!(tenant, file = %crate::redact::name(name), size, sha256 = %&sha256[..16], id, %state, "waiting file was rewritten before processing; record updated")
            }
        }
        Ok(())
    }

    /// The user whose announced upload is this file under this name, forgetting the
    /// announcement.
    fn uploader(&mut self, tenant: &str, name: &str, file: FileId) -> Option<String> {
        let at = self
            .announced
            .iter()
            .position(|u| u.file == file && u.tenant == tenant && u.name == name)?;
        self.announced.remove(at).map(|u| u.user)
    }

    /// Says once that a file is too large to take in: a warning and an audit row, the first
    /// time this file (name, size, modification time) is seen over this limit. Later
    /// sightings (its close, the next start's scan) add nothing.
    fn too_large(
        &mut self,
        tenant: &str,
        name: &str,
        size: u64,
        limit: u64,
        modified: i64,
    ) -> Result<(), IntakeError> {
        let shown = crate::redact::name(name);
        let entry = AuditEntry {
            actor: "intake",
            action: "intake.too-large",
            tenant: Some(tenant),
            subject: Some(&shown),
            detail: Some(serde_json::json!({
                "size": size,
                "max_file_bytes": limit,
                "mtime": modified,
            })),
        };
        if self.ledger.audited(&entry)? {
            tracing::debug!(tenant, file = %shown, size, limit, "still too large; not recorded");
            return Ok(());
        }
        tracing::warn!(
            tenant,
            file = %shown,
            size,
            limit,
            "file is larger than the tenant's max_file_bytes: not recorded, left in upload/ \
             (where it counts toward the quota); remove it, or raise the limit and reload"
        );
        self.ledger.audit(&entry, crate::clock::now())?;
        Ok(())
    }
}

/// What [`hash_complete_file`] found.
enum Found {
    Complete {
        size: u64,
        sha256: String,
        file_id: FileId,
    },
    /// Some process still has it open for writing.
    Writing,
    /// Complete, but over the limit: not hashed. `modified` is its mtime (Unix seconds).
    TooLarge { size: u64, modified: i64 },
}

/// The file an event says may now be complete, and why.
fn completed_path(event: &notify::Event) -> Option<(PathBuf, Cause)> {
    match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write))
        | EventKind::Modify(ModifyKind::Name(RenameMode::To)) => {
            Some((event.paths.first()?.clone(), Cause::Completed))
        }
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
            Some((event.paths.get(1)?.clone(), Cause::Completed))
        }
        EventKind::Create(CreateKind::File | CreateKind::Any) => {
            Some((event.paths.first()?.clone(), Cause::Created))
        }
        _ => None,
    }
}

/// Size and SHA-256 of a regular file that nobody is writing and that is at most `limit`
/// bytes; [`Found::Writing`] while a writer has it open (its close will bring another
/// event). A file over the limit is not read at all.
fn hash_complete_file(path: &Path, cause: Cause, limit: u64) -> io::Result<Found> {
    let mut file = open_no_follow(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    match (writer_open(&file), cause) {
        (Some(true), _) => return Ok(Found::Writing),
        // Without a lease we cannot tell, and a bare create is not a sign of completion.
        (None, Cause::Created) => return Ok(Found::Writing),
        _ => {}
    }
    if meta.len() > limit {
        use std::os::unix::fs::MetadataExt;
        return Ok(Found::TooLarge {
            size: meta.len(),
            modified: meta.mtime(),
        });
    }
    let (size, sha256) = sha256_of(&mut file)?;
    use std::os::unix::fs::MetadataExt;
    Ok(Found::Complete {
        size,
        sha256,
        file_id: (meta.dev(), meta.ino()),
    })
}

/// Opens `path` for reading without following a symlink, and without blocking on a FIFO.
fn open_no_follow(path: &Path) -> io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
}

/// Whether some process has the regular file at `path` open for writing (see
/// `writer_open`); `None` if the kernel would not say. Symlinks are not followed.
pub(crate) fn writer_open_at(path: &Path) -> io::Result<Option<bool>> {
    Ok(writer_open(&open_no_follow(path)?))
}

/// Whether some process has `file` open for writing: `Some(true)` if so, `Some(false)` if
/// not, `None` if the kernel would not say.
///
/// Linux grants a read lease only when no one has the file open for writing, so taking one
/// and dropping it at once answers the question. A lease needs the file to be ours (or
/// CAP_LEASE): files the SFTP server wrote always are.
fn writer_open(file: &File) -> Option<bool> {
    let fd = file.as_raw_fd();
    // SAFETY: `fd` is a valid descriptor owned by `file` for the duration of these calls.
    let taken = unsafe { libc::fcntl(fd, libc::F_SETLEASE, libc::F_RDLCK) };
    if taken == 0 {
        // SAFETY: as above.
        unsafe { libc::fcntl(fd, libc::F_SETLEASE, libc::F_UNLCK) };
        return Some(false);
    }
    match io::Error::last_os_error().raw_os_error() {
        Some(libc::EAGAIN) => Some(true),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_open_for_writing_is_seen_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let writer = File::create(&path).unwrap();
        let reader = File::open(&path).unwrap();
        assert_eq!(writer_open(&reader), Some(true));
        drop(writer);
        assert_eq!(writer_open(&reader), Some(false));
    }
}
