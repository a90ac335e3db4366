//! The SFTP file system of one session: the virtual tree of `vfs` mapped onto the tenant
//! folders, with each role's permissions (DESIGN 1).
//!
//! - `upload/`: create and write (through `upload::Upload`); list; never read. A waiting
//!   delivery may be replaced (overwrite, rename onto it) or removed: the old version is set
//!   aside for intake to record as withdrawn (`waiting`). Temporary names live in the user's
//!   own folder (`StateDir::temp_uploads`), listed in `upload/` to that user only, who may
//!   resume, rename or remove them.
//! - `receipts/`: list and read.
//! - `outbox/`: list, read, remove; create the empty `REQUEST-FULL`.
//!
//! Files are opened without following symlinks; anything that is not a regular file does not
//! exist. A name a client creates (an upload, a rename target, a folder) must pass
//! `vfs::check_new_name`. This module never parses file contents.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::Arc;

use russh_sftp::protocol::{
    Attrs, Data, ExtendedReply, File as NameEntry, FileAttributes, FileMode, Handle, Name,
    OpenFlags, Packet, Status, StatusCode, Version,
};
use russh_sftp::server::StatusReply;
use serde_json::json;

use super::Account;

mod extensions;
mod request;
mod waiting;
use super::upload::{Quotas, Refused, Times, Upload, UploadError, UploadLimits, storage_fault};
use super::vfs::{Folder, Node, PathError, VPath, check_name, check_new_name};
use crate::ingest::auditor::Auditor;
use crate::ingest::intake::Notices;
use crate::layout::{REQUEST_FULL, StateDir, UploadLock, is_temp_name, requested_product};

/// Largest READ or WRITE payload, as advertised in `limits@openssh.com`: the packet limit
/// less room for the header, as OpenSSH's own server does.
pub(super) const MAX_DATA: u32 = 255 * 1024;
/// Largest SFTP packet accepted from a client.
pub(super) const MAX_PACKET: u32 = 256 * 1024;
/// Most handles one session may hold open.
pub(super) const MAX_HANDLES: usize = 64;
/// Entries per READDIR reply.
const DIR_CHUNK: usize = 128;

/// Shared by every session of a server.
pub(super) struct FilesContext {
    pub config: tokio::sync::watch::Receiver<Arc<crate::config::Config>>,
    pub state: StateDir,
    pub quotas: Arc<Quotas>,
    pub auditor: Auditor,
    pub notices: Notices,
    /// Rung when a `REQUEST-FULL`'s acknowledgement is queued.
    pub mail: crate::mail::Wake,
}

/// An error as the client sees it: a status code and a sentence.
#[derive(Debug)]
pub(crate) struct StatusError(StatusReply);

impl StatusError {
    pub(super) fn new(code: StatusCode, message: impl Into<String>) -> Self {
        Self(code.with_message(message))
    }

    pub(super) fn denied(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PermissionDenied, message)
    }

    pub(super) fn eof() -> Self {
        Self(StatusReply::new(StatusCode::Eof))
    }

    pub(super) fn bad_handle() -> Self {
        Self::new(StatusCode::Failure, "unknown or closed handle")
    }
}

impl From<StatusError> for StatusReply {
    fn from(e: StatusError) -> Self {
        e.0
    }
}

impl From<PathError> for StatusError {
    fn from(e: PathError) -> Self {
        match e {
            PathError::NotFound(_) => Self::new(StatusCode::NoSuchFile, e.to_string()),
            PathError::InvalidName(_) => Self::new(StatusCode::Failure, e.to_string()),
        }
    }
}

fn io_error(e: io::Error) -> StatusError {
    match e.kind() {
        io::ErrorKind::NotFound => StatusError::new(StatusCode::NoSuchFile, "no such file"),
        io::ErrorKind::PermissionDenied => StatusError::denied("permission denied"),
        _ => {
            tracing::warn!(error = %e, "sftp file operation failed");
            StatusError::new(
                StatusCode::Failure,
                "the server could not complete this operation",
            )
        }
    }
}

enum Open {
    Dir(Vec<NameEntry>),
    Read {
        file: File,
        tenant: String,
        folder: Folder,
        name: String,
        size: u64,
        served: u64,
    },
    Upload(Upload),
    /// An upload refused part-way: every later request on the handle gets the same answer.
    Failed(String),
    /// An empty `REQUEST-FULL` (`product` `None`) or `REQUEST-FULL-IJW` being made.
    RequestFull {
        tenant: String,
        product: Option<&'static str>,
    },
}

/// One SFTP session's state.
pub(super) struct Files {
    ctx: Arc<FilesContext>,
    account: Arc<Account>,
    cwd: VPath,
    handles: HashMap<String, Open>,
    next_handle: u64,
}

impl Files {
    pub(super) fn new(ctx: Arc<FilesContext>, account: Arc<Account>) -> Self {
        let cwd = account.grants.home();
        Self {
            ctx,
            account,
            cwd,
            handles: HashMap::new(),
            next_handle: 0,
        }
    }

    fn node(&self, path: &str) -> Result<(VPath, Node), StatusError> {
        let vpath = VPath::resolve(&self.cwd, path)?;
        let node = vpath.node(&self.account.grants)?;
        Ok((vpath, node))
    }

    /// Where `name` in `folder` is on disk; a temporary name in `upload/` is in this user's
    /// own folder.
    fn real(&self, tenant: &str, folder: Folder, name: &str) -> PathBuf {
        if folder == Folder::Upload && is_temp_name(name) {
            return self.temps(tenant).join(name);
        }
        self.ctx
            .state
            .tenant(tenant)
            .join(folder.as_str())
            .join(name)
    }

    /// This user's temporary uploads for `tenant`.
    fn temps(&self, tenant: &str) -> PathBuf {
        self.ctx.state.temp_uploads(tenant, &self.account.user)
    }

    fn add_handle(&mut self, open: Open) -> Result<String, StatusError> {
        if !self.account.held.take_handle() {
            tracing::info!(user = %self.account.user, ip = %self.account.ip, max = MAX_HANDLES, "open refused: too many open files on this connection");
            return Err(StatusError::new(
                StatusCode::Failure,
                format!("too many open files (at most {MAX_HANDLES} per connection)"),
            ));
        }
        self.next_handle += 1;
        let handle = self.next_handle.to_string();
        self.handles.insert(handle.clone(), open);
        Ok(handle)
    }

    fn audit(&self, action: &'static str, tenant: &str, subject: &str, detail: serde_json::Value) {
        let actor = format!("sftp:{}", self.account.user);
        let mut detail = detail;
        detail["ip"] = json!(self.account.ip.to_string());
        self.ctx
            .auditor
            .record(actor, action, Some(tenant), Some(subject), Some(detail));
    }

    /// Refuses a name the client wants to create that `check_new_name` does not allow, with
    /// the reason as the status message. PERMISSION_DENIED rather than FAILURE: the request
    /// can never succeed as sent, so clients must not retry it, and OpenSSH's `sftp`, which
    /// prints only the status code's text, then at least says the server refused it.
    fn new_name(&self, tenant: &str, name: &str) -> Result<(), StatusError> {
        check_new_name(name).map_err(|why| {
            tracing::info!(user = %self.account.user, ip = %self.account.ip, tenant, file = %crate::redact::name(name), reason = %why, "name refused");
            StatusError::denied(why.to_string())
        })
    }

    /// Who is uploading `name` to `tenant`, for an upload the disk refused.
    fn refused<'a>(&'a self, tenant: &'a str, name: &'a str) -> Refused<'a> {
        Refused {
            user: &self.account.user,
            ip: self.account.ip,
            tenant,
            name,
        }
    }

    /// The answer to an upload that could not be begun at `path` (its staging file, its
    /// temporary file or folder): a storage fault is the server's, logged (see
    /// `upload::Refused`) and said so; anything else as any failed operation.
    fn not_stored(
        &self,
        tenant: &str,
        name: &str,
        path: &std::path::Path,
        e: io::Error,
    ) -> StatusError {
        match crate::storage::fault_of(&e) {
            Some(fault) => {
                let who = self.refused(tenant, name);
                who.log(path, fault, &e);
                StatusError::new(
                    StatusCode::Failure,
                    who.message(fault, "nothing was written"),
                )
            }
            None => io_error(e),
        }
    }

    fn limits(&self, tenant: &str) -> UploadLimits {
        self.account
            .limits
            .get(tenant)
            .copied()
            .unwrap_or(UploadLimits {
                max_file_bytes: 0,
                quota_bytes: 0,
            })
    }

    fn open_upload(
        &mut self,
        tenant: &str,
        name: &str,
        pflags: OpenFlags,
    ) -> Result<String, StatusError> {
        if !pflags.contains(OpenFlags::WRITE) || pflags.contains(OpenFlags::READ) {
            return Err(StatusError::denied(
                "upload/ is write-only: files there can be created, not read",
            ));
        }
        let path = self.real(tenant, Folder::Upload, name);
        let exists = path.symlink_metadata().is_ok();
        if pflags.contains(OpenFlags::EXCLUDE) && exists {
            return Err(StatusError::new(
                StatusCode::Failure,
                format!("{name} already exists"),
            ));
        }
        // Without TRUNC, a client continues the file that is there (APPEND: `reput`,
        // `curl -C`) or rewrites it in place (`scp`, which sets the size at the end).
        let continues = exists && !pflags.contains(OpenFlags::TRUNCATE);
        let append = pflags.contains(OpenFlags::APPEND);
        let staging = self.ctx.state.staging();
        let written_at = if is_temp_name(name) { &path } else { &staging };
        let upload = if is_temp_name(name) {
            crate::layout::create_private_dir(&self.temps(tenant))
                .map_err(|e| self.not_stored(tenant, name, &self.temps(tenant), e))?;
            Upload::temp(
                &path,
                tenant,
                name,
                continues,
                self.limits(tenant),
                self.ctx.quotas.clone(),
            )
        } else if continues && append {
            return Err(StatusError::denied(format!(
                "{name}: {}",
                UploadError::Delivered
            )));
        } else {
            // A new version; one opened without TRUNC must not turn out to be a resume.
            Upload::delivery(
                &staging,
                tenant,
                name,
                self.limits(tenant),
                self.ctx.quotas.clone(),
            )
            .map(|u| if continues { u.replacing() } else { u })
        }
        .map_err(|e| self.not_stored(tenant, name, written_at, e))?;
        let upload = if append { upload.appending() } else { upload };
        self.add_handle(Open::Upload(upload))
    }

    fn open_read(
        &mut self,
        tenant: &str,
        folder: Folder,
        name: &str,
        pflags: OpenFlags,
    ) -> Result<String, StatusError> {
        if pflags.intersects(
            OpenFlags::WRITE | OpenFlags::APPEND | OpenFlags::CREATE | OpenFlags::TRUNCATE,
        ) {
            return Err(StatusError::denied(format!(
                "{}/ is read-only",
                folder.as_str()
            )));
        }
        let file = open_regular(&self.real(tenant, folder, name)).map_err(io_error)?;
        let size = file.metadata().map_err(io_error)?.len();
        self.add_handle(Open::Read {
            file,
            tenant: tenant.to_owned(),
            folder,
            name: name.to_owned(),
            size,
            served: 0,
        })
    }

    /// The request is made at CLOSE, and only if nothing was written: a refused write
    /// must not leave a request behind.
    fn open_request_full(
        &mut self,
        tenant: &str,
        product: Option<&'static str>,
    ) -> Result<String, StatusError> {
        self.add_handle(Open::RequestFull {
            tenant: tenant.to_owned(),
            product,
        })
    }

    fn make_request_full(&self, tenant: &str, name: &str) -> Result<(), StatusError> {
        let path = self.real(tenant, Folder::Outbox, name);
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(io_error)?;
        Ok(())
    }

    fn listing(&self, node: &Node) -> Result<Vec<NameEntry>, StatusError> {
        match node {
            Node::Root => Ok(self
                .account
                .grants
                .tenants()
                .map(|(t, _)| NameEntry::new(t, dir_attrs()))
                .collect()),
            Node::Tenant(t) => {
                let roles = self.account.grants.roles(t).unwrap_or_default();
                Ok([Folder::Upload, Folder::Receipts, Folder::Outbox]
                    .into_iter()
                    .filter(|f| roles.sees(*f))
                    .map(|f| NameEntry::new(f.as_str(), dir_attrs()))
                    .collect())
            }
            Node::Folder(t, f) => {
                let dir = self.ctx.state.tenant(t).join(f.as_str());
                let mut entries = Vec::new();
                let own_temps = self.temps(t);
                let temps = match f {
                    Folder::Upload => std::fs::read_dir(&own_temps).ok(),
                    _ => None,
                };
                let listed = std::fs::read_dir(dir).map_err(io_error)?;
                for entry in listed.chain(temps.into_iter().flatten()).flatten() {
                    let Ok(name) = entry.file_name().into_string() else {
                        continue;
                    };
                    // A temporary name in upload/ itself (a local copy) is nobody's to see:
                    // in upload/, such names are the user's own.
                    if *f == Folder::Upload
                        && is_temp_name(&name)
                        && !entry.path().starts_with(&own_temps)
                    {
                        continue;
                    }
                    let Ok(meta) = entry.path().symlink_metadata() else {
                        continue;
                    };
                    if meta.is_file() && check_name(&name).is_ok() {
                        entries.push(NameEntry::new(name, file_attrs(&meta, *f)));
                    }
                }
                entries.sort_by(|a, b| a.filename.cmp(&b.filename));
                Ok(entries)
            }
            Node::Entry(..) => Err(StatusError::new(StatusCode::Failure, "not a folder")),
        }
    }

    fn attrs(&self, node: &Node) -> Result<FileAttributes, StatusError> {
        match node {
            Node::Root | Node::Tenant(_) | Node::Folder(..) => Ok(dir_attrs()),
            Node::Entry(t, f, name) => {
                // An upload this session has open is visible to it (sshfs stats a file right
                // after creating it), with the bytes written so far.
                let open_upload = self.handles.values().find_map(|open| match open {
                    Open::Upload(u)
                        if *f == Folder::Upload && u.tenant == *t && u.name == *name =>
                    {
                        Some(u)
                    }
                    _ => None,
                });
                if let Some(upload) = open_upload {
                    return self.upload_attrs(upload);
                }
                let meta = self
                    .real(t, *f, name)
                    .symlink_metadata()
                    .map_err(io_error)?;
                if !meta.is_file() {
                    return Err(StatusError::new(StatusCode::NoSuchFile, "no such file"));
                }
                Ok(file_attrs(&meta, *f))
            }
        }
    }

    /// An open upload as STAT and FSTAT show it: a write-only file of the bytes written so
    /// far, with the times set on it; one opened to replace a waiting file and not yet
    /// written is still that file.
    fn upload_attrs(&self, upload: &Upload) -> Result<FileAttributes, StatusError> {
        let mut attrs = if upload.untouched_replacement().is_some() {
            let path = self.real(&upload.tenant, Folder::Upload, &upload.name);
            file_attrs(&path.symlink_metadata().map_err(io_error)?, Folder::Upload)
        } else {
            let meta = upload.file().and_then(|f| f.metadata()).map_err(io_error)?;
            let mut attrs = file_attrs(&meta, Folder::Upload);
            attrs.size = Some(upload.size());
            attrs
        };
        let times = upload.times();
        attrs.atime = times.atime.or(attrs.atime);
        attrs.mtime = times.mtime.or(attrs.mtime);
        Ok(attrs)
    }

    async fn close_handle(&mut self, open: Open) -> Result<(), StatusError> {
        match open {
            Open::Dir(_) => Ok(()),
            Open::Failed(message) => Err(StatusError::new(StatusCode::Failure, message)),
            Open::Read {
                tenant,
                folder,
                name,
                size,
                served,
                ..
            } => {
                let complete = served >= size;
                crate::counters::BYTES_DOWN.add(served);
                tracing::info!(user = %self.account.user, ip = %self.account.ip, tenant, folder = folder.as_str(), file = %crate::redact::name(&name), bytes = served, complete, "download");
                self.audit(
                    "sftp.download",
                    &tenant,
                    &format!("{}/{name}", folder.as_str()),
                    json!({ "bytes": served, "size": size, "complete": complete }),
                );
                Ok(())
            }
            Open::RequestFull { tenant, product } => {
                let name = product.map_or_else(
                    || REQUEST_FULL.to_owned(),
                    |p| format!("{REQUEST_FULL}-{p}"),
                );
                self.make_request_full(&tenant, &name)?;
                tracing::info!(user = %self.account.user, tenant, request = name, "full bundle requested");
                self.audit("sftp.request-full", &tenant, &name, json!({}));
                self.ctx.record_full_request(&tenant, product);
                Ok(())
            }
            Open::Upload(upload) => self.close_upload(upload).await,
        }
    }

    /// CLOSE of an upload: a complete one is placed in `upload/` (or, under a temporary
    /// name, in the user's own folder); one opened and closed without a write leaves the
    /// waiting file as it was.
    async fn close_upload(&self, upload: Upload) -> Result<(), StatusError> {
        let (tenant, requested) = (upload.tenant.clone(), upload.name.clone());
        if let Some(times) = upload.untouched_replacement() {
            // Opened and closed without a write (`touch` through sshfs): the
            // waiting file stays; only the times it was given apply.
            drop(upload);
            if !times.is_empty() {
                open_regular(&self.real(&tenant, Folder::Upload, &requested))
                    .and_then(|f| f.set_times(times.file_times()))
                    .map_err(io_error)?;
            }
            return Ok(());
        }
        let (size, temp) = (upload.size(), upload.keeps_partial());
        let path = upload.path().to_owned();
        let (ctx, user) = (self.ctx.clone(), self.account.user.clone());
        let (t, n) = (tenant.clone(), requested.clone());
        // fsync and rename may take a moment on a large file: off the async workers.
        let finished = tokio::task::spawn_blocking(move || {
            upload.finish(|staged| ctx.place(staged, &t, &n, &user))
        })
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e.to_string()).into()));
        self.upload_closed(&tenant, &requested, (size, &path), temp, finished)
    }

    /// Logs and audits how an upload's CLOSE ended, and answers the client. `written` is
    /// its size and the file its bytes went to.
    fn upload_closed(
        &self,
        tenant: &str,
        requested: &str,
        written: (u64, &std::path::Path),
        temp: bool,
        finished: Result<(), UploadError>,
    ) -> Result<(), StatusError> {
        let (size, path) = written;
        match finished {
            Ok(()) if temp => {
                tracing::info!(user = %self.account.user, ip = %self.account.ip, tenant, file = %crate::redact::name(requested), size, "temporary upload closed; delivered when renamed");
                Ok(())
            }
            Ok(()) => {
                crate::counters::BYTES_UP.add(size);
                tracing::info!(user = %self.account.user, ip = %self.account.ip, tenant, file = %crate::redact::name(requested), size, "upload complete");
                self.audit("sftp.upload", tenant, requested, json!({ "size": size }));
                Ok(())
            }
            Err(e @ UploadError::Incomplete { .. }) => {
                tracing::warn!(user = %self.account.user, ip = %self.account.ip, tenant, file = %crate::redact::name(requested), size, error = %e, "upload with a hole refused");
                self.audit(
                    "sftp.upload-incomplete",
                    tenant,
                    requested,
                    json!({ "size": size, "error": e.to_string() }),
                );
                let outcome = if temp {
                    "the part before the gap is kept for a resume"
                } else {
                    "nothing was delivered"
                };
                Err(StatusError::new(
                    StatusCode::Failure,
                    format!("{requested}: {e}; {outcome}"),
                ))
            }
            Err(e) => {
                let message = match storage_fault(&e) {
                    Some(fault) => {
                        let who = self.refused(tenant, requested);
                        who.log(path, fault, &e);
                        let outcome = if temp {
                            "what was written is kept for a resume"
                        } else {
                            "nothing was delivered"
                        };
                        who.message(fault, outcome)
                    }
                    None => {
                        tracing::error!(user = %self.account.user, tenant, file = %crate::redact::name(requested), path = %path.display(), error = %e, "upload could not be stored");
                        "the upload could not be stored; please send it again".to_owned()
                    }
                };
                self.audit(
                    "sftp.upload-failed",
                    tenant,
                    requested,
                    json!({ "size": size, "error": e.to_string() }),
                );
                Err(StatusError::new(StatusCode::Failure, message))
            }
        }
    }
}

impl Files {
    /// REMOVE of a delivery waiting in `upload/`: set aside, for intake to record as
    /// withdrawn. Once the daily run has taken it, the name is gone from `upload/`.
    async fn withdraw(&self, id: u32, tenant: &str, name: &str) -> Result<Status, StatusError> {
        let (ctx, user) = (self.ctx.clone(), self.account.user.clone());
        let (t, n) = (tenant.to_owned(), name.to_owned());
        // Renames and the upload folder's lock: off the async workers.
        let set_aside = tokio::task::spawn_blocking(move || ctx.set_aside(&t, &n, &user))
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e.to_string())));
        if !set_aside.map_err(io_error)? {
            return Err(StatusError::new(StatusCode::NoSuchFile, "no such file"));
        }
        tracing::info!(user = %self.account.user, ip = %self.account.ip, tenant, file = %crate::redact::name(name), "waiting delivery removed (withdrawn)");
        self.audit("sftp.withdraw", tenant, name, json!({}));
        Ok(ok(id))
    }

    /// RENAME (and `posix-rename@openssh.com`): one of this user's temporary uploads to
    /// another temporary name, or to its final name in the same `upload/`, which delivers it
    /// (setting aside a version waiting under that name). A delivery is not renamed.
    async fn rename_entry(
        &mut self,
        id: u32,
        oldpath: String,
        newpath: String,
    ) -> Result<Status, StatusError> {
        let (_, from) = self.node(&oldpath)?;
        let (_, to) = self.node(&newpath)?;
        let (Node::Entry(tenant, Folder::Upload, old), Node::Entry(to_tenant, Folder::Upload, new)) =
            (from, to)
        else {
            return Err(StatusError::denied(
                "only files in upload/ can be renamed, within the same upload/",
            ));
        };
        if tenant != to_tenant {
            return Err(StatusError::denied("files cannot move between tenants"));
        }
        if !is_temp_name(&old) {
            return Err(StatusError::denied(format!(
                "{old} is delivered and will be processed; only temporary names (.filepart, .part, .partial, .tmp) can be renamed"
            )));
        }
        self.new_name(&tenant, &new)?;
        let source = self.real(&tenant, Folder::Upload, &old);
        if !source.symlink_metadata().map_err(io_error)?.is_file() {
            return Err(StatusError::new(StatusCode::NoSuchFile, "no such file"));
        }
        let open = self
            .handles
            .values()
            .any(|open| matches!(open, Open::Upload(u) if u.tenant == tenant && u.name == old));
        if open {
            return Err(StatusError::new(
                StatusCode::Failure,
                format!("{old} is still open for writing; close it first"),
            ));
        }
        if is_temp_name(&new) {
            crate::layout::rename_no_replace(&source, &self.real(&tenant, Folder::Upload, &new))
                .map_err(|e| match e.kind() {
                    io::ErrorKind::AlreadyExists => {
                        StatusError::new(StatusCode::Failure, format!("{new} already exists"))
                    }
                    _ => io_error(e),
                })?;
        } else {
            // A temporary upload delivered by its rename: its bytes count as uploaded now,
            // once (a resumed one was closed several times).
            let size = std::fs::symlink_metadata(&source).map_or(0, |m| m.len());
            crate::counters::BYTES_UP.add(size);
            let (ctx, user) = (self.ctx.clone(), self.account.user.clone());
            let (t, n) = (tenant.clone(), new.clone());
            tokio::task::spawn_blocking(move || ctx.place(&source, &t, &n, &user))
                .await
                .unwrap_or_else(|e| Err(io::Error::other(e.to_string())))
                .map_err(io_error)?;
        }
        tracing::info!(user = %self.account.user, ip = %self.account.ip, tenant, from = %crate::redact::name(&old), to = %crate::redact::name(&new), "renamed");
        self.audit("sftp.rename", &tenant, &new, json!({ "from": old }));
        Ok(ok(id))
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let handles = std::mem::take(&mut self.handles);
        self.account.held.release_handles(handles.len());
        self.account.held.release_channel();
        for (_, open) in handles {
            if let Open::Upload(upload) = open {
                let outcome = if upload.keeps_partial() {
                    "kept for a resume"
                } else {
                    "discarded"
                };
                tracing::warn!(user = %self.account.user, ip = %self.account.ip, tenant = upload.tenant, file = %crate::redact::name(&upload.name), bytes = upload.size(), "upload cut off; {outcome}");
                let detail = json!({ "bytes": upload.size(), "reason": "connection ended before close", "outcome": outcome });
                self.audit("sftp.upload-aborted", &upload.tenant, &upload.name, detail);
            }
        }
    }
}

fn open_regular(path: &std::path::Path) -> io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::from(io::ErrorKind::NotFound));
    }
    Ok(file)
}

/// Applies a SETSTAT to a file of `size` bytes in `upload/`: times are kept (through
/// `set_times`); a size equal to the file's is accepted (OpenSSH's `scp` sends one after
/// every upload); any other size, and permissions or owners, are refused, after the times,
/// with a message that says what was not done.
fn change_attrs(
    attrs: &FileAttributes,
    size: u64,
    set_times: impl FnOnce(Times) -> io::Result<()>,
) -> Result<(), StatusError> {
    if attrs.size.is_some_and(|wanted| wanted != size) {
        return Err(StatusError::denied(
            "the size of an uploaded file cannot be changed; upload it again instead",
        ));
    }
    let times = Times {
        atime: attrs.atime,
        mtime: attrs.mtime,
    };
    if !times.is_empty() {
        set_times(times).map_err(io_error)?;
    }
    if attrs.permissions.is_some() || attrs.uid.is_some() || attrs.gid.is_some() {
        return Err(StatusError::denied(
            "permissions and owners cannot be changed on this server (times, if sent, were set)",
        ));
    }
    Ok(())
}

/// [`change_attrs`] for an upload still open: its times apply at the close, and a size
/// set makes it a new version even if nothing was written (an empty file copied in place).
fn change_upload_attrs(upload: &mut Upload, attrs: &FileAttributes) -> Result<(), StatusError> {
    change_attrs(attrs, upload.size(), |times| {
        upload.set_times(times);
        Ok(())
    })?;
    if attrs.size.is_some() {
        upload.size_set();
    }
    Ok(())
}

pub(super) fn dir_attrs() -> FileAttributes {
    FileAttributes {
        permissions: Some(FileMode::DIR.bits() | 0o750),
        size: Some(0),
        ..Default::default()
    }
}

fn file_attrs(meta: &std::fs::Metadata, folder: Folder) -> FileAttributes {
    let perms = match folder {
        Folder::Upload => 0o200,
        Folder::Receipts | Folder::Outbox => 0o400,
    };
    FileAttributes {
        size: Some(meta.len()),
        permissions: Some(FileMode::REG.bits() | perms),
        mtime: Some(u32::try_from(meta.mtime()).unwrap_or(0)),
        atime: Some(u32::try_from(meta.atime()).unwrap_or(0)),
        ..Default::default()
    }
}

pub(super) fn ok(id: u32) -> Status {
    Status {
        id,
        status_code: StatusCode::Ok,
        error_message: "Ok".into(),
        language_tag: "en-US".into(),
    }
}

impl russh_sftp::server::Handler for Files {
    type Error = StatusError;

    fn unimplemented(&self) -> Self::Error {
        StatusError::new(StatusCode::OpUnsupported, "not supported by this server")
    }

    async fn init(
        &mut self,
        _version: u32,
        _extensions: HashMap<String, String>,
    ) -> Result<Version, Self::Error> {
        let mut version = Version::new();
        for (name, revision) in extensions::OFFERED {
            version.extensions.insert(name.into(), revision.into());
        }
        Ok(version)
    }

    async fn open(
        &mut self,
        id: u32,
        filename: String,
        pflags: OpenFlags,
        _attrs: FileAttributes,
    ) -> Result<Handle, Self::Error> {
        let (_, node) = self.node(&filename)?;
        let handle = match node {
            Node::Entry(t, Folder::Upload, name) => {
                // Every open in upload/ creates a file: it is write-only, and a delivered
                // file is never opened again.
                self.new_name(&t, &name)?;
                self.open_upload(&t, &name, pflags)?
            }
            Node::Entry(t, Folder::Outbox, name)
                if requested_product(&name).is_some() && pflags.contains(OpenFlags::WRITE) =>
            {
                if !self.ctx.is_municipality(&t) {
                    return Err(StatusError::new(
                        StatusCode::PermissionDenied,
                        format!(
                            "{name} asks for a full bundle, and only a municipality gets bundles; {t} gets monthly reports"
                        ),
                    ));
                }
                self.open_request_full(&t, requested_product(&name).flatten())?
            }
            Node::Entry(t, folder, name) => self.open_read(&t, folder, &name, pflags)?,
            _ => {
                return Err(StatusError::new(
                    StatusCode::Failure,
                    format!("{filename} is a folder"),
                ));
            }
        };
        Ok(Handle { id, handle })
    }

    async fn close(&mut self, id: u32, handle: String) -> Result<Status, Self::Error> {
        let open = self
            .handles
            .remove(&handle)
            .ok_or_else(StatusError::bad_handle)?;
        self.account.held.release_handles(1);
        self.close_handle(open).await.map(|()| ok(id))
    }

    async fn read(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        len: u32,
    ) -> Result<Data, Self::Error> {
        match self.handles.get_mut(&handle) {
            Some(Open::Read {
                file, served, size, ..
            }) => {
                if offset >= *size {
                    return Err(StatusError::eof());
                }
                let want = len
                    .min(MAX_DATA)
                    .min(u32::try_from(*size - offset).unwrap_or(MAX_DATA));
                let mut data = vec![0u8; want as usize];
                let n = file.read_at(&mut data, offset).map_err(io_error)?;
                if n == 0 {
                    return Err(StatusError::eof());
                }
                data.truncate(n);
                *served = (*served).max(offset + n as u64);
                Ok(Data { id, data })
            }
            Some(Open::Upload(_)) => Err(StatusError::denied("upload/ is write-only")),
            Some(_) => Err(StatusError::new(StatusCode::Failure, "not a readable file")),
            None => Err(StatusError::bad_handle()),
        }
    }

    async fn write(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        data: Vec<u8>,
    ) -> Result<Status, Self::Error> {
        match self.handles.get_mut(&handle) {
            Some(Open::Upload(upload)) => match upload.write(offset, &data) {
                Ok(()) => Ok(ok(id)),
                Err(e) => {
                    let outcome = if upload.keeps_partial() {
                        "what was written before is kept for a resume"
                    } else {
                        "the partial file was removed"
                    };
                    let message = match storage_fault(&e) {
                        Some(fault) => {
                            let who = Refused {
                                user: &self.account.user,
                                ip: self.account.ip,
                                tenant: &upload.tenant,
                                name: &upload.name,
                            };
                            who.log(upload.path(), fault, &e);
                            who.message(fault, outcome)
                        }
                        None => {
                            tracing::warn!(user = %self.account.user, tenant = upload.tenant, file = %crate::redact::name(&upload.name), error = %e, "upload refused");
                            format!("{}: {e}; {outcome}", upload.name)
                        }
                    };
                    let (tenant, name, size) =
                        (upload.tenant.clone(), upload.name.clone(), upload.size());
                    self.audit(
                        "sftp.upload-refused",
                        &tenant,
                        &name,
                        json!({ "bytes": size, "reason": e.to_string() }),
                    );
                    // Replacing the entry drops the Upload, which removes its staging file.
                    self.handles.insert(handle, Open::Failed(message.clone()));
                    Err(StatusError::new(StatusCode::Failure, message))
                }
            },
            Some(Open::RequestFull { .. }) if data.is_empty() => Ok(ok(id)),
            Some(Open::RequestFull { .. }) => {
                let message =
                    "a request file must be empty; no full bundle was requested".to_owned();
                self.handles.insert(handle, Open::Failed(message.clone()));
                Err(StatusError::denied(message))
            }
            Some(Open::Failed(message)) => {
                Err(StatusError::new(StatusCode::Failure, message.clone()))
            }
            Some(_) => Err(StatusError::denied("this file is read-only")),
            None => Err(StatusError::bad_handle()),
        }
    }

    async fn lstat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        self.stat(id, path).await
    }

    async fn stat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        let (_, node) = self.node(&path)?;
        Ok(Attrs {
            id,
            attrs: self.attrs(&node)?,
        })
    }

    async fn fstat(&mut self, id: u32, handle: String) -> Result<Attrs, Self::Error> {
        let attrs = match self.handles.get(&handle) {
            Some(Open::Read { file, folder, .. }) => {
                file_attrs(&file.metadata().map_err(io_error)?, *folder)
            }
            Some(Open::Upload(upload)) => self.upload_attrs(upload)?,
            Some(Open::Dir(_)) => dir_attrs(),
            Some(Open::RequestFull { .. }) => FileAttributes {
                size: Some(0),
                permissions: Some(FileMode::REG.bits() | 0o600),
                ..Default::default()
            },
            Some(Open::Failed(message)) => {
                return Err(StatusError::new(StatusCode::Failure, message.clone()));
            }
            None => return Err(StatusError::bad_handle()),
        };
        Ok(Attrs { id, attrs })
    }

    async fn setstat(
        &mut self,
        id: u32,
        path: String,
        attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        let (_, node) = self.node(&path)?;
        let Node::Entry(tenant, folder, name) = node else {
            return Err(StatusError::denied("folders cannot be changed"));
        };
        if folder != Folder::Upload {
            return Err(StatusError::denied(format!(
                "{}/ is read-only",
                folder.as_str()
            )));
        }
        let open = self.handles.values_mut().find_map(|open| match open {
            Open::Upload(u) if u.tenant == tenant && u.name == name => Some(u),
            _ => None,
        });
        if let Some(upload) = open {
            change_upload_attrs(upload, &attrs)?;
        } else {
            // Not while the daily run checks and moves this tenant's originals (a wait for
            // that lock, and the file's own calls: off the async workers).
            let lock = (!is_temp_name(&name)).then(|| self.ctx.state.upload(&tenant));
            let path = self.real(&tenant, folder, &name);
            tokio::task::spawn_blocking(move || {
                let _lock = lock
                    .map(|dir| UploadLock::take(&dir))
                    .transpose()
                    .map_err(io_error)?;
                let file = open_regular(&path).map_err(io_error)?;
                let size = file.metadata().map_err(io_error)?.len();
                change_attrs(&attrs, size, |times| file.set_times(times.file_times()))
            })
            .await
            .unwrap_or_else(|e| Err(io_error(io::Error::other(e.to_string()))))?;
        }
        Ok(ok(id))
    }

    async fn fsetstat(
        &mut self,
        id: u32,
        handle: String,
        attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        match self.handles.get_mut(&handle) {
            Some(Open::Upload(upload)) => {
                change_upload_attrs(upload, &attrs)?;
                Ok(ok(id))
            }
            // The empty request file has nothing to change; its size may be set to 0.
            Some(Open::RequestFull { .. }) => {
                change_attrs(&attrs, 0, |_| Ok(()))?;
                Ok(ok(id))
            }
            Some(Open::Failed(message)) => {
                Err(StatusError::new(StatusCode::Failure, message.clone()))
            }
            Some(Open::Dir(_)) => Err(StatusError::denied("folders cannot be changed")),
            Some(Open::Read { .. }) => Err(StatusError::denied("this file is read-only")),
            None => Err(StatusError::bad_handle()),
        }
    }

    async fn opendir(&mut self, id: u32, path: String) -> Result<Handle, Self::Error> {
        let (_, node) = self.node(&path)?;
        let entries = self.listing(&node)?;
        let handle = self.add_handle(Open::Dir(entries))?;
        Ok(Handle { id, handle })
    }

    async fn readdir(&mut self, id: u32, handle: String) -> Result<Name, Self::Error> {
        match self.handles.get_mut(&handle) {
            Some(Open::Dir(entries)) if entries.is_empty() => Err(StatusError::eof()),
            Some(Open::Dir(entries)) => {
                let rest = entries.split_off(entries.len().min(DIR_CHUNK));
                let files = std::mem::replace(entries, rest);
                Ok(Name { id, files })
            }
            Some(_) => Err(StatusError::new(StatusCode::Failure, "not a folder")),
            None => Err(StatusError::bad_handle()),
        }
    }

    async fn remove(&mut self, id: u32, filename: String) -> Result<Status, Self::Error> {
        let (_, node) = self.node(&filename)?;
        let Node::Entry(tenant, folder, name) = node else {
            return Err(StatusError::denied("folders cannot be removed"));
        };
        match folder {
            Folder::Outbox => {}
            Folder::Upload if is_temp_name(&name) => {}
            Folder::Upload => return self.withdraw(id, &tenant, &name).await,
            Folder::Receipts => return Err(StatusError::denied("receipts/ is read-only")),
        }
        let path = self.real(&tenant, folder, &name);
        let meta = path.symlink_metadata().map_err(io_error)?;
        if !meta.is_file() {
            return Err(StatusError::new(StatusCode::NoSuchFile, "no such file"));
        }
        std::fs::remove_file(&path).map_err(io_error)?;
        tracing::info!(user = %self.account.user, ip = %self.account.ip, tenant, folder = folder.as_str(), file = %crate::redact::name(&name), "removed");
        self.audit(
            "sftp.delete",
            &tenant,
            &format!("{}/{name}", folder.as_str()),
            json!({ "size": meta.len() }),
        );
        Ok(ok(id))
    }

    async fn mkdir(
        &mut self,
        _id: u32,
        path: String,
        _attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        // Always refused; a name that could not be created anyway says why first. A folder
        // that is there answers as sshd does (FAILURE, "exists"), which `mkdir -p`-style
        // clients (asyncssh `makedirs(exist_ok=True)`, recursive puts) take as done.
        match self.node(&path) {
            Ok((vpath, Node::Root | Node::Tenant(_) | Node::Folder(..))) => Err(StatusError::new(
                StatusCode::Failure,
                format!("{vpath} already exists"),
            )),
            Ok((_, Node::Entry(tenant, _, name))) => {
                self.new_name(&tenant, &name)?;
                Err(StatusError::denied("folders cannot be created here"))
            }
            Err(_) => Err(StatusError::denied("folders cannot be created here")),
        }
    }

    async fn rmdir(&mut self, _id: u32, _path: String) -> Result<Status, Self::Error> {
        Err(StatusError::denied("folders cannot be removed"))
    }

    async fn realpath(&mut self, id: u32, path: String) -> Result<Name, Self::Error> {
        let (vpath, _) = self.node(&path)?;
        Ok(Name {
            id,
            files: vec![NameEntry::dummy(vpath.to_string())],
        })
    }

    async fn rename(
        &mut self,
        id: u32,
        oldpath: String,
        newpath: String,
    ) -> Result<Status, Self::Error> {
        self.rename_entry(id, oldpath, newpath).await
    }

    async fn readlink(&mut self, _id: u32, _path: String) -> Result<Name, Self::Error> {
        Err(StatusError::new(
            StatusCode::NoSuchFile,
            "there are no links here",
        ))
    }

    async fn symlink(
        &mut self,
        _id: u32,
        _linkpath: String,
        _targetpath: String,
    ) -> Result<Status, Self::Error> {
        Err(StatusError::denied("links cannot be created"))
    }

    async fn extended(
        &mut self,
        id: u32,
        request: String,
        data: Vec<u8>,
    ) -> Result<Packet, Self::Error> {
        if let Some(answer) = self.extension(id, &request, &data).await {
            return answer;
        }
        match request.as_str() {
            "limits@openssh.com" => {
                let mut data = Vec::with_capacity(32);
                for value in [
                    MAX_PACKET as u64,
                    MAX_DATA as u64,
                    MAX_DATA as u64,
                    MAX_HANDLES as u64,
                ] {
                    data.extend_from_slice(&value.to_be_bytes());
                }
                Ok(Packet::ExtendedReply(ExtendedReply { id, data }))
            }
            "hardlink@openssh.com" => Err(StatusError::denied("links cannot be created")),
            other => Err(StatusError::new(
                StatusCode::OpUnsupported,
                format!("{other} is not supported"),
            )),
        }
    }
}
