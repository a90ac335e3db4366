//! Where things live under the state directory (DESIGN 1).
//!
//! Every path the daemon touches on disk is named here, so that no other module builds one
//! by string; and the one way files move between its folders without ever replacing one
//! ([`move_no_replace`]). This module creates folders and moves files; it never deletes.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The state directory and its fixed layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir {
    root: PathBuf,
}

/// The three folders a tenant's users see.
pub const TENANT_FOLDERS: [&str; 3] = ["upload", "receipts", "outbox"];

impl StateDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The SQLite ledger.
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

    pub fn outbox(&self, tenant: &str) -> PathBuf {
        self.tenant(tenant).join("outbox")
    }

    /// In-flight uploads and bundles; on the same file system as the tenant folders so that
    /// moving a finished file in is an atomic rename.
    pub fn staging(&self) -> PathBuf {
        self.root.join("staging")
    }

    pub fn archive(&self) -> PathBuf {
        self.root.join("archive")
    }

    pub fn quarantine(&self) -> PathBuf {
        self.root.join("quarantine")
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

/// Creates `dir` (and its parents) if missing, readable by the owner and group only.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
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
pub fn move_no_replace(from: &Path, dir: &Path, name: &str) -> io::Result<String> {
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

fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
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
