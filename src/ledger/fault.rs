//! Which ledger failures are storage faults (`storage::Fault`): a full disk
//! (`SQLITE_FULL`), a read-only ledger or file system (`SQLITE_READONLY`), a folder SQLite
//! may not create its `-wal`/`-shm` in (`SQLITE_CANTOPEN`), an I/O error (`SQLITE_IOERR`,
//! which is also what SQLite says when the `-shm` cannot grow on a full disk). Callers
//! wait and try again on these: the ledger is sound, the machine is not ready. Any other
//! failure is one of the ledger itself. This module owns no table.

use rusqlite::ErrorCode;

use super::LedgerError;
use crate::storage::{Fault, fault_of};

impl LedgerError {
    /// The storage fault behind this failure, if it is one.
    pub(crate) fn storage_fault(&self) -> Option<Fault> {
        match self {
            Self::Open { source, .. } | Self::Sql(source) => sql_fault(source),
            Self::Copy { source, .. } => fault_of(source),
            Self::Missing(_) | Self::TooNew { .. } | Self::TooOld { .. } | Self::Corrupt { .. } => {
                None
            }
        }
    }
}

fn sql_fault(e: &rusqlite::Error) -> Option<Fault> {
    let rusqlite::Error::SqliteFailure(e, _) = e else {
        return None;
    };
    match e.code {
        ErrorCode::DiskFull => Some(Fault::Full),
        ErrorCode::ReadOnly => Some(Fault::ReadOnly),
        ErrorCode::CannotOpen | ErrorCode::PermissionDenied => Some(Fault::Denied),
        ErrorCode::SystemIoFailure => Some(Fault::Io),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Ledger;

    #[test]
    fn a_full_disk_and_a_read_only_ledger_are_storage_faults_and_a_constraint_is_not() {
        let sqlite = |code| {
            LedgerError::Sql(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(code),
                None,
            ))
        };
        assert_eq!(
            sqlite(rusqlite::ffi::SQLITE_FULL).storage_fault(),
            Some(Fault::Full)
        );
        assert_eq!(
            sqlite(rusqlite::ffi::SQLITE_READONLY).storage_fault(),
            Some(Fault::ReadOnly)
        );
        assert_eq!(
            sqlite(rusqlite::ffi::SQLITE_IOERR_SHMSIZE).storage_fault(),
            Some(Fault::Io)
        );
        assert_eq!(
            sqlite(rusqlite::ffi::SQLITE_CONSTRAINT).storage_fault(),
            None
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sqlite");
        drop(Ledger::open(&path).unwrap());
        let read_only = rusqlite::Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let err = LedgerError::from(read_only.execute_batch("CREATE TABLE t (x)").unwrap_err());
        assert_eq!(err.storage_fault(), Some(Fault::ReadOnly), "{err}");
    }
}
