//! Users invited by `dropgate invite` (issue 16, item 5): their lookup in the ledger, and the
//! enrolment session that a login with the one-time code opens.
//!
//! That session serves a tree of its own, `/.ssh/authorized_keys` and nothing else: the
//! invitee puts its public key there (`put id_ed25519.pub .ssh/authorized_keys`, WinSCP,
//! `ssh-copy-id -s`), and at its close the keys are checked as the configuration checks a
//! user's and recorded in one transaction that voids the code. A file that is no key is
//! refused with the line and what is wrong, and the code stays valid for another try.
//! `chmod` and `mkdir .ssh` are answered as a home folder would, so that scripted clients
//! run through.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use russh_sftp::protocol::{
    Attrs, Data, File as NameEntry, FileAttributes, FileMode, Handle, Name, OpenFlags, Status,
    StatusCode, Version,
};
use serde_json::json;

use super::Account;
use super::files::{StatusError, dir_attrs, ok};
use super::vfs::{PathError, VPath};
use crate::ingest::auditor::Auditor;
use crate::layout::StateDir;
use crate::ledger::{Enrolment, Ledger, LedgerError};

/// Largest `authorized_keys` accepted: room for a few RSA keys with comments.
const MAX_KEYS_BYTES: usize = 16 * 1024;
/// Most keys one user may enrol.
const MAX_KEYS: usize = 8;

/// The invited and enrolled users, as the ledger holds them. Reads go through one
/// read-only connection, off the async workers; a failed one is opened anew next time.
pub(super) struct Enrolments {
    state: StateDir,
    reader: Mutex<Option<Ledger>>,
}

impl Enrolments {
    pub(super) fn new(state: StateDir) -> Self {
        Self {
            state,
            reader: Mutex::new(None),
        }
    }

    /// The enrolment of `user`, if the ledger has one; a ledger that cannot be read is
    /// logged and counts as none (the login is then refused as an unknown user's).
    pub(super) async fn find(self: &Arc<Self>, user: &str) -> Option<Enrolment> {
        self.lookup(user).await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot read invited users from the ledger");
            None
        })
    }

    /// The enrolment of `user`, read off the async workers.
    pub(super) async fn lookup(
        self: &Arc<Self>,
        user: &str,
    ) -> Result<Option<Enrolment>, LedgerError> {
        let this = self.clone();
        let user = user.to_owned();
        tokio::task::spawn_blocking(move || {
            let mut reader = this.reader.lock().unwrap_or_else(|e| e.into_inner());
            if reader.is_none() {
                *reader = Some(Ledger::open_read_only(&this.state.ledger())?);
            }
            let result = reader.as_ref().map(|l| l.enrolment(&user)).transpose();
            if result.is_err() {
                *reader = None;
            }
            result.map(Option::flatten)
        })
        .await
        .unwrap_or_else(|e| Err(task_failed(e)))
    }

    /// Records `keys` as `user`'s, voiding its code (see `Ledger::enrol`).
    async fn enrol(
        &self,
        user: &str,
        keys: String,
        detail: serde_json::Value,
    ) -> Result<bool, LedgerError> {
        let (path, user) = (self.state.ledger(), user.to_owned());
        tokio::task::spawn_blocking(move || {
            Ledger::open(&path)?.enrol(&user, &keys, detail, crate::clock::now())
        })
        .await
        .unwrap_or_else(|e| Err(task_failed(e)))
    }
}

/// A ledger task on the blocking pool that panicked or was cancelled.
fn task_failed(e: tokio::task::JoinError) -> LedgerError {
    LedgerError::Corrupt {
        what: "enrolment task",
        value: e.to_string(),
    }
}

/// A place in the enrolment tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Root,
    Ssh,
    Keys,
}

impl Place {
    /// `path` read as the tenant tree reads one (its length, its names, `..`), from `/`.
    fn resolve(path: &str) -> Result<Self, StatusError> {
        let elsewhere = || {
            StatusError::new(
                StatusCode::NoSuchFile,
                "this login only puts your public key: .ssh/authorized_keys",
            )
        };
        let path = match VPath::resolve(&VPath::default(), path) {
            Ok(path) => path,
            Err(PathError::NotFound(_)) => return Err(elsewhere()),
            Err(e) => return Err(e.into()),
        };
        let names: Vec<&str> = path.names().iter().map(String::as_str).collect();
        match names.as_slice() {
            [] => Ok(Self::Root),
            [".ssh"] => Ok(Self::Ssh),
            [".ssh", "authorized_keys"] => Ok(Self::Keys),
            _ => Err(elsewhere()),
        }
    }

    fn path(self) -> &'static str {
        match self {
            Self::Root => "/",
            Self::Ssh => "/.ssh",
            Self::Keys => "/.ssh/authorized_keys",
        }
    }
}

enum Open {
    Dir(Vec<NameEntry>),
    Write(Vec<u8>),
    Read(Vec<u8>),
}

/// One enrolment session.
pub(super) struct Enrol {
    enrolments: Arc<Enrolments>,
    auditor: Auditor,
    account: Arc<Account>,
    /// The keys recorded in this session, as `authorized_keys` reads back.
    recorded: Option<Vec<u8>>,
    handles: HashMap<String, Open>,
    next_handle: u64,
}

impl Enrol {
    pub(super) fn new(
        enrolments: Arc<Enrolments>,
        auditor: Auditor,
        account: Arc<Account>,
    ) -> Self {
        Self {
            enrolments,
            auditor,
            account,
            recorded: None,
            handles: HashMap::new(),
            next_handle: 0,
        }
    }

    fn add_handle(&mut self, open: Open) -> Result<String, StatusError> {
        if !self.account.held.take_handle() {
            return Err(StatusError::new(
                StatusCode::Failure,
                "too many open handles",
            ));
        }
        self.next_handle += 1;
        let handle = self.next_handle.to_string();
        self.handles.insert(handle.clone(), open);
        Ok(handle)
    }

    fn keys_attrs(&self) -> Result<FileAttributes, StatusError> {
        let recorded = self.recorded.as_ref().ok_or_else(no_keys)?;
        Ok(FileAttributes {
            size: Some(recorded.len() as u64),
            permissions: Some(FileMode::REG.bits() | 0o600),
            ..Default::default()
        })
    }

    fn attrs(&self, place: Place) -> Result<FileAttributes, StatusError> {
        match place {
            Place::Root | Place::Ssh => Ok(dir_attrs()),
            Place::Keys => self.keys_attrs(),
        }
    }

    /// Checks what was put and records it; the text the client gets if not.
    async fn record(&mut self, content: Vec<u8>) -> Result<(), StatusError> {
        let user = self.account.user.clone();
        let refused = |why: String| {
            tracing::warn!(user, ip = %self.account.ip, reason = why, "enrolment refused");
            self.auditor.record(
                format!("sftp:{user}"),
                "sftp.enrol-refused",
                None,
                None,
                Some(json!({ "ip": self.account.ip.to_string(), "reason": why })),
            );
            StatusError::new(
                StatusCode::Failure,
                format!("authorized_keys refused: {why}; the code stays valid, try again"),
            )
        };
        let text = String::from_utf8(content).map_err(|_| refused("not UTF-8 text".into()))?;
        let keys = crate::config::authorized_keys(&text).map_err(|e| {
            refused(match e.starts_with(|c: char| c.is_ascii_digit()) {
                true => format!("line {e}"),
                false => format!("the file {e}"),
            })
        })?;
        if keys.len() > MAX_KEYS {
            return Err(refused(format!(
                "{} keys; at most {MAX_KEYS} are taken",
                keys.len()
            )));
        }
        let fingerprints: Vec<String> = keys
            .iter()
            .map(|k| {
                k.fingerprint(russh::keys::ssh_key::HashAlg::Sha256)
                    .to_string()
            })
            .collect();
        let lines: Vec<String> = keys.iter().filter_map(|k| k.to_openssh().ok()).collect();
        let detail = json!({ "ip": self.account.ip.to_string(), "keys": fingerprints });
        match self.enrolments.enrol(&user, lines.join("\n"), detail).await {
            Ok(true) => {
                tracing::info!(user, ip = %self.account.ip, keys = ?fingerprints, "enrolled: the user's key is recorded and its code void");
                self.recorded = Some(format!("{}\n", lines.join("\n")).into_bytes());
                Ok(())
            }
            Ok(false) => Err(StatusError::denied(
                "the one-time code is no longer valid (used, renewed, revoked or expired); ask the TTP for a new one",
            )),
            Err(e) => {
                tracing::error!(user, error = %e, "cannot record an enrolment");
                Err(StatusError::new(
                    StatusCode::Failure,
                    "the server could not record the key; try again later",
                ))
            }
        }
    }
}

fn no_keys() -> StatusError {
    StatusError::new(StatusCode::NoSuchFile, "no key put yet")
}

fn only_keys() -> StatusError {
    StatusError::denied("this login only puts your public key: .ssh/authorized_keys")
}

impl russh_sftp::server::Handler for Enrol {
    type Error = StatusError;

    fn unimplemented(&self) -> Self::Error {
        StatusError::new(StatusCode::OpUnsupported, "not supported by this server")
    }

    async fn init(
        &mut self,
        _version: u32,
        _extensions: HashMap<String, String>,
    ) -> Result<Version, Self::Error> {
        Ok(Version::new())
    }

    async fn open(
        &mut self,
        id: u32,
        filename: String,
        pflags: OpenFlags,
        _attrs: FileAttributes,
    ) -> Result<Handle, Self::Error> {
        let writing = pflags.intersects(OpenFlags::WRITE | OpenFlags::APPEND | OpenFlags::CREATE);
        let open = match (Place::resolve(&filename)?, writing) {
            (Place::Keys, true) if self.recorded.is_some() => {
                return Err(StatusError::denied(
                    "your key is recorded already; log in again with it",
                ));
            }
            (Place::Keys, true) => Open::Write(Vec::new()),
            (Place::Keys, false) => Open::Read(self.recorded.clone().ok_or_else(no_keys)?),
            (place, _) => {
                return Err(StatusError::new(
                    StatusCode::Failure,
                    format!("{} is a folder", place.path()),
                ));
            }
        };
        let handle = self.add_handle(open)?;
        Ok(Handle { id, handle })
    }

    async fn close(&mut self, id: u32, handle: String) -> Result<Status, Self::Error> {
        let open = self
            .handles
            .remove(&handle)
            .ok_or_else(|| StatusError::new(StatusCode::Failure, "unknown or closed handle"))?;
        self.account.held.release_handles(1);
        if let Open::Write(content) = open {
            self.record(content).await?;
        }
        Ok(ok(id))
    }

    async fn read(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        len: u32,
    ) -> Result<Data, Self::Error> {
        match self.handles.get(&handle) {
            Some(Open::Read(content)) => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX);
                if start >= content.len() {
                    return Err(StatusError::eof());
                }
                let end = content.len().min(start + len as usize);
                Ok(Data {
                    id,
                    data: content[start..end].to_vec(),
                })
            }
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
        let Some(Open::Write(content)) = self.handles.get_mut(&handle) else {
            return Err(StatusError::denied("not opened for writing"));
        };
        let end = usize::try_from(offset)
            .ok()
            .and_then(|o| o.checked_add(data.len()))
            .filter(|end| *end <= MAX_KEYS_BYTES)
            .ok_or_else(|| {
                StatusError::new(
                    StatusCode::Failure,
                    format!(
                        "authorized_keys is limited to {} KiB",
                        MAX_KEYS_BYTES / 1024
                    ),
                )
            })?;
        if content.len() < end {
            content.resize(end, 0);
        }
        content[end - data.len()..end].copy_from_slice(&data);
        Ok(ok(id))
    }

    async fn lstat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        self.stat(id, path).await
    }

    async fn stat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        let attrs = self.attrs(Place::resolve(&path)?)?;
        Ok(Attrs { id, attrs })
    }

    async fn fstat(&mut self, id: u32, handle: String) -> Result<Attrs, Self::Error> {
        let attrs = match self.handles.get(&handle) {
            Some(Open::Dir(_)) => dir_attrs(),
            Some(Open::Write(content) | Open::Read(content)) => FileAttributes {
                size: Some(content.len() as u64),
                permissions: Some(FileMode::REG.bits() | 0o600),
                ..Default::default()
            },
            None => return Err(StatusError::bad_handle()),
        };
        Ok(Attrs { id, attrs })
    }

    /// `chmod 700 .ssh`, `chmod 600 .ssh/authorized_keys`: nothing to change, and no
    /// reason to fail a script over it.
    async fn setstat(
        &mut self,
        id: u32,
        path: String,
        _attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        Place::resolve(&path)?;
        Ok(ok(id))
    }

    async fn fsetstat(
        &mut self,
        id: u32,
        handle: String,
        _attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        match self.handles.contains_key(&handle) {
            true => Ok(ok(id)),
            false => Err(StatusError::bad_handle()),
        }
    }

    async fn opendir(&mut self, id: u32, path: String) -> Result<Handle, Self::Error> {
        let entries = match Place::resolve(&path)? {
            Place::Root => vec![NameEntry::new(".ssh", dir_attrs())],
            Place::Ssh => match self.keys_attrs() {
                Ok(attrs) => vec![NameEntry::new("authorized_keys", attrs)],
                Err(_) => Vec::new(),
            },
            Place::Keys => return Err(StatusError::new(StatusCode::Failure, "not a folder")),
        };
        let handle = self.add_handle(Open::Dir(entries))?;
        Ok(Handle { id, handle })
    }

    async fn readdir(&mut self, id: u32, handle: String) -> Result<Name, Self::Error> {
        match self.handles.get_mut(&handle) {
            Some(Open::Dir(entries)) if entries.is_empty() => Err(StatusError::eof()),
            Some(Open::Dir(entries)) => Ok(Name {
                id,
                files: std::mem::take(entries),
            }),
            Some(_) => Err(StatusError::new(StatusCode::Failure, "not a folder")),
            None => Err(StatusError::bad_handle()),
        }
    }

    async fn realpath(&mut self, id: u32, path: String) -> Result<Name, Self::Error> {
        let place = Place::resolve(&path)?;
        Ok(Name {
            id,
            files: vec![NameEntry::dummy(place.path())],
        })
    }

    /// `mkdir .ssh` finds it there, as sshd answers for a folder that exists.
    async fn mkdir(
        &mut self,
        _id: u32,
        path: String,
        _attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        match Place::resolve(&path) {
            Ok(Place::Root | Place::Ssh) => Err(StatusError::new(
                StatusCode::Failure,
                format!("{path} already exists"),
            )),
            _ => Err(only_keys()),
        }
    }

    async fn remove(&mut self, _id: u32, _filename: String) -> Result<Status, Self::Error> {
        Err(only_keys())
    }

    async fn rmdir(&mut self, _id: u32, _path: String) -> Result<Status, Self::Error> {
        Err(only_keys())
    }

    async fn rename(
        &mut self,
        _id: u32,
        _oldpath: String,
        _newpath: String,
    ) -> Result<Status, Self::Error> {
        Err(only_keys())
    }

    async fn symlink(
        &mut self,
        _id: u32,
        _linkpath: String,
        _targetpath: String,
    ) -> Result<Status, Self::Error> {
        Err(only_keys())
    }
}

impl Drop for Enrol {
    fn drop(&mut self) {
        self.account.held.release_handles(self.handles.len());
        self.account.held.release_channel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_key_file_and_its_folders_resolve() {
        assert_eq!(Place::resolve(".").unwrap(), Place::Root);
        assert_eq!(Place::resolve("/../..").unwrap(), Place::Root);
        assert_eq!(Place::resolve(".ssh/").unwrap(), Place::Ssh);
        assert_eq!(
            Place::resolve("/x/../.ssh/./authorized_keys").unwrap(),
            Place::Keys
        );
        assert!(Place::resolve("/.ssh/authorized_keys2").is_err());
        assert!(Place::resolve("/etc/passwd").is_err());
        assert!(Place::resolve(&"/".repeat(5000)).is_err());
    }

    #[test]
    fn a_key_saved_on_windows_is_read_and_a_putty_file_is_named_as_such() {
        let key =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl jan";
        let windows = format!("\u{feff}{key}\r\n\r\n");
        assert_eq!(crate::config::authorized_keys(&windows).unwrap().len(), 1);
        let putty = "---- BEGIN SSH2 PUBLIC KEY ----\r\nComment: \"jan\"\r\nAAAA\r\n---- END SSH2 PUBLIC KEY ----\r\n";
        let err = crate::config::authorized_keys(putty).unwrap_err();
        assert!(
            err.starts_with("1: this is a PuTTY (SSH2) public key file"),
            "{err}"
        );
    }
}
