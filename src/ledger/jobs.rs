//! The `job` table: when each scheduled job last ran and what it reported, so that a run
//! missed while the daemon was down is caught up on.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{Ledger, LedgerError, timestamp};

impl Ledger {
    /// When job `name` last ran.
    pub(crate) fn job_last_run(&self, name: &str) -> Result<Option<DateTime<Utc>>, LedgerError> {
        Ok(self
            .conn
            .query_row("SELECT last_run FROM job WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Records that job `name` ran at `at` with `result`.
    pub fn job_ran(
        &mut self,
        name: &str,
        at: DateTime<Utc>,
        result: &str,
    ) -> Result<(), LedgerError> {
        self.conn.execute(
            "INSERT INTO job (name, last_run, last_result) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET last_run = ?2, last_result = ?3",
            params![name, timestamp(at), result],
        )?;
        Ok(())
    }

    /// Every job with its last run and result.
    pub fn jobs(&self) -> Result<Vec<(String, String, String)>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, last_run, last_result FROM job ORDER BY name")?;
        let jobs = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        Ok(jobs)
    }
}
