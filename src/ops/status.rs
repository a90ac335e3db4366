//! `dropgate status`: what the ledger says, for people and for scripts.
//!
//! Reads the ledger through a read-only connection, so it can run beside the daemon without
//! taking a write lock or changing a byte.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::config::Config;
use crate::layout::StateDir;
use crate::ledger::{DeliveryState, Ledger, LedgerError};

/// The whole report; its JSON form is what `status --json` prints.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub ledger: String,
    pub schema_version: u32,
    pub deliveries: DeliverySummary,
    pub tenants: Vec<TenantStatus>,
    /// Scheduled jobs that have run at least once.
    pub jobs: Vec<JobStatus>,
    /// The mail queue: queued, sent, failed.
    pub mail: crate::ledger::MailCounts,
    /// Every bundle, newest first.
    pub bundles: Vec<crate::ledger::BundleStatus>,
}

/// One scheduled job.
#[derive(Debug, Serialize)]
pub struct JobStatus {
    pub name: String,
    /// UTC, RFC 3339.
    pub last_run: String,
    pub last_result: String,
    /// From the configuration's schedule; absent when read without one.
    pub next_run: Option<String>,
}

/// Deliveries per state.
#[derive(Debug, Serialize)]
pub struct DeliverySummary {
    pub total: u64,
    /// Every state, also those with no delivery.
    pub by_state: BTreeMap<&'static str, u64>,
}

/// One tenant's deliveries.
#[derive(Debug, Serialize)]
pub struct TenantStatus {
    pub id: String,
    pub kind: String,
    pub code: String,
    pub name: String,
    /// False once the tenant was removed from the configuration.
    pub active: bool,
    pub deliveries: DeliverySummary,
}

fn summary(counts: Option<&BTreeMap<DeliveryState, u64>>) -> DeliverySummary {
    let by_state: BTreeMap<&'static str, u64> = DeliveryState::ALL
        .iter()
        .map(|s| {
            (
                s.as_str(),
                counts.and_then(|c| c.get(s)).copied().unwrap_or(0),
            )
        })
        .collect();
    DeliverySummary {
        total: by_state.values().sum(),
        by_state,
    }
}

/// Reads the report from the ledger in `state`; `config` adds the jobs' next runs.
pub fn report(state: &StateDir, config: Option<&Config>) -> Result<StatusReport, LedgerError> {
    let path = state.ledger();
    let ledger = Ledger::open_read_only(&path)?;
    let counts = ledger.delivery_counts()?;
    let tenants = ledger
        .tenants()?
        .into_iter()
        .map(|t| TenantStatus {
            deliveries: summary(counts.by_tenant.get(&t.id)),
            id: t.id,
            kind: t.kind.as_str().to_owned(),
            code: t.code,
            name: t.name,
            active: t.active,
        })
        .collect();
    let jobs = ledger
        .jobs()?
        .into_iter()
        .map(|(name, last_run, last_result)| {
            let next_run = config
                .and_then(|c| crate::schedule::of_job(&name, c))
                .map(|s| {
                    s.next_after(crate::clock::now())
                        .with_timezone(&s.tz)
                        .to_rfc3339()
                });
            JobStatus {
                name,
                last_run,
                last_result,
                next_run,
            }
        })
        .collect();
    Ok(StatusReport {
        ledger: path.display().to_string(),
        schema_version: ledger.schema_version()?,
        deliveries: summary(Some(&counts.by_state)),
        tenants,
        jobs,
        mail: ledger.mail_counts()?,
        bundles: ledger.bundles()?,
    })
}

impl StatusReport {
    /// The report as an aligned table for a terminal.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "ledger: {} (schema {})",
            self.ledger, self.schema_version
        );
        let _ = writeln!(out, "deliveries: {}", self.deliveries.total);
        self.deliveries_table(&mut out);
        let _ = writeln!(
            out,
            "\nmail: {} queued, {} sent, {} failed",
            self.mail.queued, self.mail.sent, self.mail.failed
        );
        self.bundles_table(&mut out);
        self.jobs_table(&mut out);
        out
    }

    /// Deliveries per state, a line per tenant and one for all.
    fn deliveries_table(&self, out: &mut String) {
        let states: Vec<&str> = DeliveryState::ALL.iter().map(|s| s.as_str()).collect();
        let width = self
            .tenants
            .iter()
            .map(|t| t.id.len())
            .max()
            .unwrap_or(0)
            .max(6);
        let _ = write!(out, "\n{:width$}  {:12}", "tenant", "kind");
        for s in &states {
            let _ = write!(out, "  {s:>11}");
        }
        out.push('\n');
        let mut row = |id: &str, kind: &str, d: &DeliverySummary| {
            let _ = write!(out, "{id:width$}  {kind:12}");
            for s in &states {
                let _ = write!(out, "  {:>11}", d.by_state[s]);
            }
            out.push('\n');
        };
        for t in &self.tenants {
            let kind = if t.active {
                t.kind.clone()
            } else {
                format!("{} (gone)", t.kind)
            };
            row(&t.id, &kind, &t.deliveries);
        }
        row("all", "", &self.deliveries);
    }

    /// Each bundle's age, whether it was downloaded, and its rows; nothing without bundles.
    fn bundles_table(&self, out: &mut String) {
        if self.bundles.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "\nbundle                                        age (days)  downloaded  rows"
        );
        let now = crate::clock::now();
        for b in &self.bundles {
            let age = chrono::DateTime::parse_from_rfc3339(&b.created_at)
                .map(|t| (now - t.with_timezone(&chrono::Utc)).num_days().to_string())
                .unwrap_or_default();
            let state = match (&b.deleted_at, b.downloaded) {
                (Some(_), _) => "deleted",
                (None, true) => "yes",
                (None, false) => "no",
            };
            let _ = writeln!(out, "{:45} {:>10}  {:10}  {}", b.name, age, state, b.rows);
        }
    }

    /// Each job's last and next run and its last result; nothing if no job has run yet.
    fn jobs_table(&self, out: &mut String) {
        if self.jobs.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "\njob        last run                        next run                        result"
        );
        for j in &self.jobs {
            let next = j.next_run.as_deref().unwrap_or("-");
            let _ = writeln!(
                out,
                "{:10} {:31} {:31} {}",
                j.name, j.last_run, next, j.last_result
            );
        }
    }
}
