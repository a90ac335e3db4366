//! What the metrics endpoint reads from the ledger at each scrape (no table of its own):
//! deliveries by state and tenant kind, the rows accepted and rejected, the mail queue, and
//! when each job last ran and last ran without failing.

use super::{Ledger, LedgerError};

/// The ledger's figures for monitoring, at one moment.
#[derive(Debug, Default)]
pub(crate) struct Monitoring {
    /// (state, tenant kind, deliveries).
    pub deliveries: Vec<(String, String, i64)>,
    pub rows_accepted: i64,
    pub rows_rejected: i64,
    /// (state, messages) of the mail queue.
    pub mail: Vec<(String, i64)>,
    /// When each job last ran, and last ran without failing.
    pub jobs: Vec<super::jobs::JobTimes>,
}

impl Ledger {
    /// The ledger's figures for monitoring.
    pub(crate) fn monitoring(&self) -> Result<Monitoring, LedgerError> {
        let mut stmt = self.conn.prepare(
            "SELECT d.state, t.kind, count(*) FROM delivery d JOIN tenant t ON t.id = d.tenant_id
             GROUP BY d.state, t.kind ORDER BY d.state, t.kind",
        )?;
        let deliveries = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        let (rows_accepted, rows_rejected) = self.conn.query_row(
            "SELECT ifnull(sum(rows_accepted), 0), ifnull(sum(rows_rejected), 0) FROM delivery",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let mut stmt = self
            .conn
            .prepare("SELECT state, count(*) FROM mail GROUP BY state ORDER BY state")?;
        let mail = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(Monitoring {
            deliveries,
            rows_accepted,
            rows_rejected,
            mail,
            jobs: self.job_times()?,
        })
    }
}
