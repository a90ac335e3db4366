//! Figures for reports, read from the ledger.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::params;

use super::links::LINK_RULE;
use super::{Ledger, LedgerError, timestamp};
use crate::figures::{Figures, Tally};

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

/// The figures (DESIGN 3.3) over the decisions that ended in a period, per municipality
/// (by CBS code) and per municipality and care provider (by CBS and AGB code).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Response {
    pub by_municipality: BTreeMap<String, Figures>,
    pub by_provider: BTreeMap<(String, String), Figures>,
}

impl Ledger {
    /// The figures over the decisions with an end date in `[from, to)`.
    pub fn response(
        &self,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<Response, LedgerError> {
        let range = params![from.to_string(), to.to_string()];
        // Clients are counted per group: one client may have decisions with two providers.
        let mut municipalities: Tally<String> = Tally::default();
        let mut providers: Tally<(String, String)> = Tally::default();
        let mut stmt = self.conn.prepare(
            "SELECT gemeentecode, agb, pseudonym, reden FROM decision
             WHERE einddatum >= ?1 AND einddatum < ?2",
        )?;
        let mut rows = stmt.query(range)?;
        while let Some(r) = rows.next()? {
            let (code, agb, client): (String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
            let reason: Option<String> = r.get(3)?;
            municipalities.ended(code.clone(), &client, reason.as_deref());
            providers.ended((code, agb), &client, reason.as_deref());
        }
        let mut stmt = self.conn.prepare(&format!(
            "SELECT d.gemeentecode, d.agb, d.beschikkingnummer, m.instrument, m.score, m.status,
                    m.metingnummer
             FROM measurement m CROSS JOIN decision d ON {LINK_RULE}
             WHERE d.einddatum >= ?1 AND d.einddatum < ?2"
        ))?;
        let mut rows = stmt.query(range)?;
        while let Some(r) = rows.next()? {
            let group: (String, String) = (r.get(0)?, r.get(1)?);
            let (decision, instrument): (String, String) = (r.get(2)?, r.get(3)?);
            let (score, status): (Option<f64>, Option<String>) = (r.get(4)?, r.get(5)?);
            let number: String = r.get(6)?;
            // d.agb = m.agb by the link rule.
            let measurement = (group.1.as_str(), number.as_str());
            let status = status.as_deref();
            municipalities.linked(&group.0, &decision, measurement, &instrument, score, status);
            providers.linked(&group, &decision, measurement, &instrument, score, status);
        }
        Ok(Response {
            by_municipality: municipalities.finish(),
            by_provider: providers.finish(),
        })
    }
}
