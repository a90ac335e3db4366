//! The `job` table: when each scheduled job last ran and what it reported, so that a run
//! missed while the daemon was down is caught up on.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{Ledger, LedgerError, timestamp};

/// When a job last ran, and last ran without failing (`None`: not since this was kept).
#[derive(Debug)]
pub(crate) struct JobTimes {
    pub name: String,
    pub last_run: DateTime<Utc>,
    pub last_ok: Option<DateTime<Utc>>,
}

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

    /// Records that job `name` ran at `at` and did its work, with `result`.
    pub fn job_ran(
        &mut self,
        name: &str,
        at: DateTime<Utc>,
        result: &str,
    ) -> Result<(), LedgerError> {
        self.conn.execute(
            "INSERT INTO job (name, last_run, last_result, last_ok) VALUES (?1, ?2, ?3, ?2)
             ON CONFLICT (name) DO UPDATE SET last_run = ?2, last_result = ?3, last_ok = ?2",
            params![name, timestamp(at), result],
        )?;
        Ok(())
    }

    /// Records that job `name` ran at `at` and failed, saying `result`.
    pub fn job_failed(
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

    /// When each job last ran, and last ran without failing.
    pub(crate) fn job_times(&self) -> Result<Vec<JobTimes>, LedgerError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, last_run, last_ok FROM job ORDER BY name")?;
        let jobs = stmt
            .query_map([], |r| {
                Ok(JobTimes {
                    name: r.get(0)?,
                    last_run: r.get(1)?,
                    last_ok: r.get(2)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(jobs)
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
