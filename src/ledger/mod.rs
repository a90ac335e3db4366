//! The ledger: one SQLite database that records every delivery and every audited act.
//!
//! This module is the only place in dropgate that issues SQL. Callers pass the current time
//! in, so that tests can choose it. The daemon opens it read-write (WAL, foreign keys,
//! migrations applied); `dropgate status` opens it read-only and never blocks the daemon.

/// Stores an enum in a text column by its name (`as_str`), read back by matching against
/// every value in `$all`. Defined before the submodules, which use it.
macro_rules! stored_by_name {
    ($type:ty, $what:literal, $all:expr) => {
        impl rusqlite::types::ToSql for $type {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(self.as_str().into())
            }
        }

        /// A name no value has is an error, never a default: the schema's CHECKs allow only
        /// known names, so another one means the ledger is not what this build expects.
        impl rusqlite::types::FromSql for $type {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                let name = value.as_str()?;
                $all.into_iter()
                    .find(|v| v.as_str() == name)
                    .ok_or_else(|| {
                        rusqlite::types::FromSqlError::Other(
                            format!(concat!("unknown ", $what, " {:?}"), name).into(),
                        )
                    })
            }
        }
    };
}

mod audit;
pub(crate) mod backup;
mod bundles;
mod deliveries;
mod enrolment;
mod fault;
mod figures;
mod jobs;
pub(crate) mod key_fingerprint;
mod mail;
mod messages;
mod migrations;
mod monitoring;
mod reminders;
mod retention;
mod rows;
mod tenants;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OpenFlags};

pub(crate) use audit::{AuditEntry, AuditRecord};
pub use bundles::Publication;
pub(crate) use bundles::{
    BundleKind, BundleStatus, DecisionOut, DeliveryOut, LinkOut, MeasurementOut, NewBundle,
};
pub(crate) use deliveries::{
    Claim, Delivery, DeliveryState, NewFile, Outcome, Recorded, Withdrawal, Withdrawn,
};
pub use enrolment::EnrolmentError;
pub(crate) use enrolment::{Enrolment, Invitation};
pub(crate) use figures::{GroupIndicators, Indicators, ProviderFigures, QualityStats, Response};
pub use mail::QueuedMail;
pub(crate) use mail::{MailCounts, NewMail};
pub(crate) use messages::{Identity, MessageOut, MessageRow, MessageStored, StoredRow, relations};
pub use messages::{KetendataPublication, MessageSink};
pub use migrations::LATEST as SCHEMA_VERSION;
pub use retention::Kept;
pub(crate) use retention::{Expired, RemovedTemp};
pub(crate) use rows::{DecisionRow, MeasurementRow, RowSink};

/// Why a ledger operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("no ledger at {}: has `dropgate run` been started with this configuration?", .0.display())]
    Missing(PathBuf),
    #[error(
        "the ledger has schema version {found}, but this dropgate knows schema versions up to {supported}: a newer dropgate made or migrated it; run that version (or a newer one), not this one"
    )]
    TooNew { found: u32, supported: u32 },
    #[error(
        "the ledger has schema version {found}, older than this build ({supported}); start the daemon once to migrate it"
    )]
    TooOld { found: u32, supported: u32 },
    #[error("ledger: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("cannot copy the ledger to {}: {source}", path.display())]
    Copy {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("ledger holds an unknown {what} {value:?}")]
    Corrupt { what: &'static str, value: String },
}

/// An open ledger.
pub struct Ledger {
    conn: Connection,
}

/// Bytes per database page for a new ledger. Measured on a million-row delivery: 16 KiB
/// pages cut the B-tree work of the inserts against SQLite's default of 4 KiB.
const PAGE_SIZE: i64 = 16 * 1024;

/// How long a writer waits for another to finish before giving up. Processing holds the
/// write lock for one whole file (one transaction per delivery), which for the largest
/// allowed file takes a minute or so; intake and the auditor must outwait that.
const BUSY_TIMEOUT: Duration = Duration::from_secs(600);

/// How long a job or a command run by hand tries to truncate the ledger's log after its
/// work: long enough to outlast intake's and the mail worker's short transactions.
pub const CHECKPOINT_PATIENCE: Duration = Duration::from_secs(2);

impl Ledger {
    /// Opens (or creates) the ledger for writing and migrates it to the current schema.
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        let open_err = |source| LedgerError::Open {
            path: path.to_owned(),
            source,
        };
        let mut conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        let found = migrations::version(&conn)?;
        if found > 0 && found < migrations::LATEST {
            copy_before_migrating(&conn, path, found)?;
        }
        // Takes effect only when the database is new (before WAL and the first table).
        conn.pragma_update(None, "page_size", PAGE_SIZE)
            .map_err(open_err)?;
        // WAL lets `status` read while the daemon writes; FULL makes each commit durable,
        // since a commit is the promise that an upload has been taken in.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        // Keep the `-wal` and `-shm` when the last connection closes: SQLite cannot make a
        // new `-shm` on a full disk, and without one it cannot even read, so a daemon that
        // stopped would not start again until there was room.
        conn.file_control(
            Some(rusqlite::MAIN_DB),
            rusqlite::FileControl::PersistWal(&mut 1),
        )
        .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        // Processing writes a whole file in one transaction; with SQLite's default 2 MiB
        // cache the same pages spill to the WAL over and over (measured: half a million
        // writes for 200,000 rows). 16 MiB keeps the pages being filled in memory.
        conn.pragma_update(None, "cache_size", -16 * 1024)
            .map_err(open_err)?;
        migrations::migrate_to(&mut conn, migrations::LATEST)?;
        Ok(Self { conn })
    }

    /// Opens an existing ledger for reading only; it must already have the current schema.
    pub(crate) fn open_read_only(path: &Path) -> Result<Self, LedgerError> {
        if !path.exists() {
            return Err(LedgerError::Missing(path.to_owned()));
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| LedgerError::Open {
            path: path.to_owned(),
            source,
        })?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let found = migrations::version(&conn)?;
        match found.cmp(&migrations::LATEST) {
            std::cmp::Ordering::Less => Err(LedgerError::TooOld {
                found,
                supported: migrations::LATEST,
            }),
            std::cmp::Ordering::Greater => Err(LedgerError::TooNew {
                found,
                supported: migrations::LATEST,
            }),
            std::cmp::Ordering::Equal => Ok(Self { conn }),
        }
    }

    /// A write transaction that takes the write lock at once. A deferred one would start as a
    /// reader and fail with "database is locked", without waiting, if another connection
    /// wrote in between; an immediate one waits its turn (up to the busy timeout).
    fn write_tx(&mut self) -> Result<rusqlite::Transaction<'_>, LedgerError> {
        Ok(self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?)
    }

    /// Copies the write-ahead log into the database and truncates it to nothing
    /// (`wal_checkpoint(TRUNCATE)`): called after large transactions and when the daemon is
    /// idle, so that the `-wal` file does not keep the size of the largest one (SQLite's own
    /// checkpoints after each commit reuse the file but never shrink it). A ledger in use (a
    /// writer, or a reader of an older snapshot) is tried again until `patience` has passed,
    /// then left for the next call; that is no failure. Returns whether the log is now empty.
    pub fn checkpoint(&self, patience: Duration) -> bool {
        let started = std::time::Instant::now();
        loop {
            match self.try_checkpoint() {
                Ok(true) => {
                    tracing::debug!("ledger WAL checkpointed and truncated");
                    return true;
                }
                Ok(false) if started.elapsed() < patience => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Ok(false) => {
                    tracing::debug!("ledger in use: WAL checkpoint left for later");
                    return false;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "WAL checkpoint failed; tried again later");
                    return false;
                }
            }
        }
    }

    /// One TRUNCATE checkpoint that waits for nobody: whether it completed.
    fn try_checkpoint(&self) -> Result<bool, LedgerError> {
        // Waiting in SQLite's busy handler, a TRUNCATE checkpoint holds the write lock while
        // it waits for readers: intake would wait behind a long publication's snapshot.
        self.conn.busy_timeout(Duration::ZERO)?;
        let done = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            });
        self.conn.busy_timeout(BUSY_TIMEOUT)?;
        match done {
            Ok(busy) => Ok(busy == 0),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<u32, LedgerError> {
        migrations::version(&self.conn)
    }
}

/// Copies the ledger at `path` (schema version `found`) to
/// `backups/dropgate-v<found>-<yyyyMMddHHmmss>.sqlite` beside it before a migration changes
/// it: a migration that goes wrong, or a newer dropgate rolled back, must not cost the
/// ledger. The time in the name is UTC: opening a ledger knows no configured time zone.
/// Without the copy, nothing is migrated.
fn copy_before_migrating(conn: &Connection, path: &Path, found: u32) -> Result<(), LedgerError> {
    let state = crate::layout::StateDir::new(path.parent().unwrap_or(Path::new(".")));
    let dest = state.pre_migration_backup(found, crate::clock::now());
    if dest.exists() {
        // Another process opening the same ledger in the same second made it already.
        return Ok(());
    }
    crate::layout::create_private_dir(&state.backups()).map_err(|source| LedgerError::Copy {
        path: dest.clone(),
        source,
    })?;
    match backup::copy_from(conn, &dest) {
        // Another process opening the same old ledger in the same second made it first.
        Err(LedgerError::Copy { source, .. })
            if source.kind() == std::io::ErrorKind::AlreadyExists =>
        {
            return Ok(());
        }
        other => other?,
    }
    tracing::info!(
        from = found,
        to = migrations::LATEST,
        backup = %dest.display(),
        "ledger copied before migrating"
    );
    Ok(())
}

/// Times are stored as RFC 3339 UTC text with milliseconds: sortable, readable with `sqlite3`.
fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_empties_the_log_unless_a_reader_holds_an_older_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let state = crate::layout::StateDir::new(dir.path());
        let ledger = Ledger::open(&state.ledger()).unwrap();
        let [wal, _] = state.ledger_companions();
        let write = |rows: i64| {
            ledger
                .conn
                .execute(
                    "WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
                     INSERT INTO audit (at, actor, action, detail)
                     SELECT '2026-01-01T00:00:00.000Z', 'test', 'fill', hex(randomblob(512)) FROM n",
                    [rows],
                )
                .unwrap();
        };
        let wal_bytes = || std::fs::metadata(&wal).unwrap().len();
        write(2_000);
        assert!(wal_bytes() > 1 << 20, "{} bytes", wal_bytes());
        let reader = rusqlite::Connection::open(state.ledger()).unwrap();
        reader.execute_batch("BEGIN").unwrap();
        let _: i64 = reader
            .query_row("SELECT count(*) FROM audit", [], |r| r.get(0))
            .unwrap();
        write(10);
        assert!(
            !ledger.checkpoint(Duration::ZERO),
            "a reader of an older snapshot"
        );
        assert!(wal_bytes() > 0);
        reader.execute_batch("COMMIT").unwrap();
        assert!(ledger.checkpoint(Duration::ZERO));
        assert_eq!(wal_bytes(), 0);
        write(1);
        assert!(wal_bytes() > 0, "the log is used again as usual");
    }
}
