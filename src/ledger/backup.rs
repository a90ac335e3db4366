//! Copies of the ledger through SQLite's online backup API (no table of its own): a
//! consistent snapshot even while the daemon writes, which a file copy of a WAL database is
//! not (the main file and its `-wal` are copied at different moments). Used by `dropgate
//! backup`, the nightly job, and [`Ledger::open`](super::Ledger::open) before it migrates.

use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::{BUSY_TIMEOUT, LedgerError};

/// Copies the ledger at `source` to a new file `dest` (mode 0600), without migrating or
/// writing the source.
pub(crate) fn copy_database(source: &Path, dest: &Path) -> Result<(), LedgerError> {
    if !source.exists() {
        return Err(LedgerError::Missing(source.to_owned()));
    }
    // Read-write without create: a WAL reader may need to write the `-shm` index, and a
    // missing file must stay missing.
    let conn = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| LedgerError::Open {
        path: source.to_owned(),
        source: e,
    })?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    copy_from(&conn, dest)
}

/// Copies the database `conn` has open to a new file `dest` (mode 0600). The copy is one
/// backup step over every page, so it reads one snapshot: a step-by-step copy restarts each
/// time another connection writes, and might never finish under a busy daemon. The copy is
/// left in rollback-journal mode, a single file that reading never changes.
pub(super) fn copy_from(conn: &Connection, dest: &Path) -> Result<(), LedgerError> {
    let io_err = |e: io::Error| LedgerError::Copy {
        path: dest.to_owned(),
        source: e,
    };
    // Made here, empty and private, before SQLite opens it: SQLite would make it 0644.
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dest)
        .map_err(io_err)?;
    let result = (|| {
        let mut copy = Connection::open(dest).map_err(|e| LedgerError::Open {
            path: dest.to_owned(),
            source: e,
        })?;
        {
            let backup = Backup::new(conn, &mut copy)?;
            let waited = std::time::Instant::now();
            loop {
                match backup.step(-1)? {
                    StepResult::Done => break,
                    // Another connection holds a lock the copy needs; wait as a writer would.
                    StepResult::Busy | StepResult::Locked if waited.elapsed() < BUSY_TIMEOUT => {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    _ => {
                        return Err(LedgerError::Copy {
                            path: dest.to_owned(),
                            source: io::Error::other("the ledger stayed locked"),
                        });
                    }
                }
            }
        }
        copy.pragma_update(None, "journal_mode", "DELETE")?;
        copy.close().map_err(|(_, e)| e)?;
        std::fs::File::open(dest)
            .and_then(|f| f.sync_all())
            .map_err(io_err)
    })();
    if result.is_err() {
        // A half-made copy must not pass for a backup.
        let _ = std::fs::remove_file(dest);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copy_is_a_single_file_with_every_committed_row() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("source.sqlite");
        let mut ledger = crate::ledger::Ledger::open(&source).unwrap();
        ledger
            .job_ran("process", chrono::Utc::now(), "done")
            .unwrap();
        let dest = dir.path().join("copy.sqlite");
        copy_database(&source, &dest).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dest).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // Bytes 18 and 19 of the header are 1 in rollback-journal mode, 2 in WAL mode.
        let bytes = std::fs::read(&dest).unwrap();
        assert_eq!(&bytes[18..20], &[1, 1]);
        let copy = crate::ledger::Ledger::open_read_only(&dest).unwrap();
        assert_eq!(copy.jobs().unwrap().len(), 1);
        assert!(copy_database(&source, &dest).is_err(), "never overwrites");
    }
}
