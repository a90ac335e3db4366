//! The OpenSSH extensions clients use, beside `limits@openssh.com`:
//! `posix-rename@openssh.com` (OpenSSH's `rename` uses it when offered), `statvfs@openssh.com`
//! (the tenant's quota and what is left of it, for `df` and `rclone about`),
//! `fsync@openssh.com` (`put -f`), `expand-path@openssh.com` and `home-directory` (`cd ~`
//! goes to the user's start folder).

use russh_sftp::protocol::{ExtendedReply, Name, Packet, StatusCode};

use super::{Files, NameEntry, Open, StatusError, ok};
use crate::ingest::sftp::vfs::Node;

/// The extensions this server answers, with their versions, as `init` offers them.
pub(super) const OFFERED: [(&str, &str); 6] = [
    ("limits@openssh.com", "1"),
    ("posix-rename@openssh.com", "1"),
    ("statvfs@openssh.com", "2"),
    ("fsync@openssh.com", "1"),
    ("expand-path@openssh.com", "1"),
    ("home-directory", "1"),
];

/// Block size `statvfs` counts in.
const BLOCK: u64 = 4096;

/// The next SFTP string of an extended request's data.
fn string(data: &mut &[u8]) -> Result<String, StatusError> {
    let malformed = || StatusError::new(StatusCode::BadMessage, "malformed extended request");
    let (len, rest) = data.split_first_chunk::<4>().ok_or_else(malformed)?;
    let len = u32::from_be_bytes(*len) as usize;
    let (value, rest) = rest.split_at_checked(len).ok_or_else(malformed)?;
    *data = rest;
    Ok(String::from_utf8_lossy(value).into_owned())
}

impl Files {
    /// Answers an extended request this module knows; `None` for one it does not.
    pub(super) async fn extension(
        &mut self,
        id: u32,
        request: &str,
        mut data: &[u8],
    ) -> Option<Result<Packet, StatusError>> {
        let data = &mut data;
        Some(match request {
            "posix-rename@openssh.com" => match (string(data), string(data)) {
                (Ok(old), Ok(new)) => self.rename_entry(id, old, new).await.map(Packet::Status),
                (Err(e), _) | (_, Err(e)) => Err(e),
            },
            "statvfs@openssh.com" => string(data).and_then(|path| self.statvfs(id, &path)),
            "fsync@openssh.com" => match string(data) {
                Ok(handle) => self.fsync(id, &handle).await,
                Err(e) => Err(e),
            },
            "expand-path@openssh.com" => string(data).and_then(|path| {
                let home = self.account.grants.home().to_string();
                let expanded = match path.strip_prefix('~') {
                    Some("") => home,
                    Some(rest) if rest.starts_with('/') => format!("{home}{rest}"),
                    // `~user`: only one's own start folder is known here.
                    Some(_) => {
                        return Err(StatusError::new(StatusCode::NoSuchFile, "no such user"));
                    }
                    None => path,
                };
                self.name_of(id, &expanded)
            }),
            "home-directory" => string(data).and_then(|user| {
                if user != self.account.user {
                    return Err(StatusError::new(StatusCode::NoSuchFile, "no such user"));
                }
                let home = self.account.grants.home().to_string();
                self.name_of(id, &home)
            }),
            _ => return None,
        })
    }

    /// A NAME reply with the resolved form of `path`.
    fn name_of(&self, id: u32, path: &str) -> Result<Packet, StatusError> {
        let (vpath, _) = self.node(path)?;
        Ok(Packet::Name(Name {
            id,
            files: vec![NameEntry::dummy(vpath.to_string())],
        }))
    }

    /// The quota of the tenant `path` is in, as a file system: its size, and what may still
    /// be uploaded (less what waits in `upload/` and what open uploads hold).
    fn statvfs(&self, id: u32, path: &str) -> Result<Packet, StatusError> {
        let (_, node) = self.node(path)?;
        let tenant = match node {
            Node::Tenant(t) | Node::Folder(t, _) | Node::Entry(t, ..) => Some(t),
            Node::Root => None,
        };
        let (size, free) = match tenant {
            Some(t) => {
                let quota = self.limits(&t).quota_bytes;
                let used = self.ctx.quotas.used(&t);
                (quota, quota.saturating_sub(used))
            }
            None => (0, 0),
        };
        let fields = [
            BLOCK,                                               // f_bsize
            BLOCK,                                               // f_frsize
            size / BLOCK,                                        // f_blocks
            free / BLOCK,                                        // f_bfree
            free / BLOCK,                                        // f_bavail
            0,                                                   // f_files
            0,                                                   // f_ffree
            0,                                                   // f_favail
            0,                                                   // f_fsid
            0,                                                   // f_flag
            crate::ingest::sftp::vfs::MAX_NEW_NAME_BYTES as u64, // f_namemax
        ];
        let data = fields.iter().flat_map(|v| v.to_be_bytes()).collect();
        Ok(Packet::ExtendedReply(ExtendedReply { id, data }))
    }

    /// Makes an upload's bytes so far durable (its move into `upload/` syncs anyway), off
    /// the async workers: a large file's sync can take a while.
    async fn fsync(&self, id: u32, handle: &str) -> Result<Packet, StatusError> {
        let file = match self.handles.get(handle) {
            Some(Open::Upload(upload)) => upload.file().map_err(super::io_error)?,
            Some(_) => return Ok(Packet::Status(ok(id))),
            None => return Err(StatusError::bad_handle()),
        };
        tokio::task::spawn_blocking(move || file.sync_data())
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
            .map(|()| Packet::Status(ok(id)))
            .map_err(super::io_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_of_an_extended_request_are_bounded_by_its_data() {
        let mut data: &[u8] = &[0, 0, 0, 2, b'a', b'b', 0, 0, 0, 9, b'c'];
        assert_eq!(string(&mut data).unwrap(), "ab");
        assert!(string(&mut data).is_err(), "a length past the end");
        assert!(string(&mut &[0u8, 0][..]).is_err());
    }
}
