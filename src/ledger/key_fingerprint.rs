//! The `key_fingerprint` table: the SHA-256 of each key file the ledger's hashes were made
//! with (the TTP key, each municipality's key), recorded at its first use. A key is never
//! re-recorded: the first fingerprint stays, and a different file is the caller's to refuse.

use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::{Ledger, LedgerError, timestamp};

/// A key's fingerprint as the ledger holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordedKey {
    /// `ttp`, or `municipality:<tenant>`.
    pub(crate) name: String,
    /// SHA-256 of the key file, lower-case hex.
    pub(crate) fingerprint: String,
    /// When it was first used (RFC 3339, UTC).
    pub(crate) first_used_at: String,
}

impl Ledger {
    /// Records `fingerprint` as key `name`'s if none is recorded yet, and returns what is
    /// recorded now: this one, or the earlier one (which the caller compares). Insert and
    /// read are one statement each in autocommit; two processes racing both read the winner.
    pub(crate) fn key_used(
        &mut self,
        name: &str,
        fingerprint: &str,
        at: DateTime<Utc>,
    ) -> Result<RecordedKey, LedgerError> {
        self.conn.execute(
            "INSERT INTO key_fingerprint (name, fingerprint, first_used_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO NOTHING",
            params![name, fingerprint, timestamp(at)],
        )?;
        Ok(self.conn.query_row(
            "SELECT name, fingerprint, first_used_at FROM key_fingerprint WHERE name = ?1",
            [name],
            |r| {
                Ok(RecordedKey {
                    name: r.get(0)?,
                    fingerprint: r.get(1)?,
                    first_used_at: r.get(2)?,
                })
            },
        )?)
    }
}

/// Every fingerprint recorded in the ledger file at `path`, read without migrating or
/// writing it (a backup's copy, whatever its schema version: one from before the table
/// has none).
pub(crate) fn recorded_in(path: &Path) -> Result<Vec<RecordedKey>, LedgerError> {
    let conn =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(|source| {
            LedgerError::Open {
                path: path.to_owned(),
                source,
            }
        })?;
    let has_table: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'key_fingerprint'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if has_table.is_none() {
        return Ok(Vec::new());
    }
    let mut stmt =
        conn.prepare("SELECT name, fingerprint, first_used_at FROM key_fingerprint ORDER BY name")?;
    let keys = stmt
        .query_map([], |r| {
            Ok(RecordedKey {
                name: r.get(0)?,
                fingerprint: r.get(1)?,
                first_used_at: r.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(keys)
}
