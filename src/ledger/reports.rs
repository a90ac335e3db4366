//! Figures for reports, read from the ledger.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::{Ledger, LedgerError, timestamp};

/// A tenant's deliveries processed in a period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QualityStats {
    /// Deliveries per outcome (`processed`, `rejected`, ...).
    pub deliveries: BTreeMap<String, u64>,
    pub rows: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// Problems per rule, most first.
    pub rules: Vec<(String, u64)>,
}

impl Ledger {
    /// What `tenant` delivered and how it fared, for deliveries processed in `[from, to)`.
    pub fn quality_stats(
        &self,
        tenant: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<QualityStats, LedgerError> {
        let (from, to) = (timestamp(from), timestamp(to));
        let mut stats = QualityStats::default();
        let mut stmt = self.conn.prepare(
            "SELECT state, count(*), total(rows_total), total(rows_accepted), total(rows_rejected) FROM delivery
             WHERE tenant_id = ?1 AND processed_at >= ?2 AND processed_at < ?3 GROUP BY state",
        )?;
        let mut rows = stmt.query(params![tenant, from, to])?;
        while let Some(r) = rows.next()? {
            stats
                .deliveries
                .insert(r.get(0)?, r.get::<_, i64>(1)?.unsigned_abs());
            stats.rows += r.get::<_, f64>(2)? as u64;
            stats.accepted += r.get::<_, f64>(3)? as u64;
            stats.rejected += r.get::<_, f64>(4)? as u64;
        }
        let mut stmt = self.conn.prepare(
            "SELECT r.rule, sum(r.count) FROM delivery_rule r JOIN delivery d ON d.id = r.delivery_id
             WHERE d.tenant_id = ?1 AND d.processed_at >= ?2 AND d.processed_at < ?3
             GROUP BY r.rule ORDER BY sum(r.count) DESC, r.rule LIMIT 10",
        )?;
        stats.rules = stmt
            .query_map(params![tenant, from, to], |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)?.unsigned_abs()))
            })?
            .collect::<Result<_, _>>()?;
        Ok(stats)
    }
}
