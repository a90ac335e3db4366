//! Where things live under the state directory (DESIGN 1).
//!
//! Every path the daemon touches on disk is named here, so that no other module builds one
//! by string. This module creates folders; it never deletes anything.

use std::io;
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

fn create_private_dir(dir: &Path) -> io::Result<()> {
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
