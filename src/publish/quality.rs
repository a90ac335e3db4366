//! The monthly quality report (DESIGN 6): for each tenant with contacts, what it delivered
//! in the previous calendar month and how that fared, and the response (DESIGN 3.3) per
//! municipality — a municipality's own, a care provider's per municipality it serves —
//! over the decisions that ended in the twelve months before that month, so that every
//! decision's window (one month past its end) has closed when the report is made. A figure
//! over fewer than [`MIN_CLIENTS`](crate::figures::MIN_CLIENTS) clients is not shown.

use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveTime, Utc};

use crate::config::{Config, Tenant, TenantKind};
use crate::figures::Figures;
use crate::ledger::{Ledger, LedgerError, Response};
use crate::mail::messages::{self, ResponseFigure, ResponseSection};
use crate::mail::{Wake, new_message_id};
use crate::schedule::local_instant;

/// The previous calendar month (in the configured time zone) before `now`, as UTC bounds
/// and its first day.
pub(crate) fn previous_month(
    config: &Config,
    now: DateTime<Utc>,
) -> (DateTime<Utc>, DateTime<Utc>, NaiveDate) {
    let tz = config.time_zone;
    let today = now.with_timezone(&tz).date_naive();
    let this_month = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).expect("day 1 exists");
    let last_month = this_month - Months::new(1);
    let start = |d: NaiveDate| local_instant(tz, d, NaiveTime::MIN);
    (start(last_month), start(this_month), last_month)
}

/// The end dates whose response a report on the month starting `month` shows:
/// `[month - 12 months, month)`.
pub(crate) fn response_period(month: NaiveDate) -> (NaiveDate, NaiveDate) {
    (month - Months::new(12), month)
}

/// `tenant`'s response lines: a municipality's own figure, or a care provider's for each
/// municipality whose decisions name it.
fn response_lines(
    config: &Config,
    tenant: &Tenant,
    response: &Response,
) -> Vec<(String, ResponseFigure)> {
    let figure = |c: &Figures| {
        if c.suppressed() {
            ResponseFigure::Suppressed
        } else {
            ResponseFigure::Shown {
                responded: c.responded,
                ended: c.ended,
            }
        }
    };
    let municipality_name = |code: &str| {
        config
            .tenants
            .iter()
            .find(|t| t.kind == TenantKind::Municipality && t.code == code)
            .map_or_else(|| format!("gemeente {code}"), |t| t.name.clone())
    };
    match tenant.kind {
        TenantKind::Municipality => response
            .by_municipality
            .get(&tenant.code)
            .map(|c| (tenant.name.clone(), figure(c)))
            .into_iter()
            .collect(),
        TenantKind::Supplier => response
            .by_provider
            .iter()
            .filter(|((_, agb), _)| *agb == tenant.code)
            .map(|((code, _), c)| (municipality_name(code), figure(c)))
            .collect(),
    }
}

/// Queues the reports for the month before `now`, ringing `mail` at each; returns how many.
pub(crate) fn queue_reports(
    config: &Config,
    ledger: &mut Ledger,
    now: DateTime<Utc>,
    mail: &Wake,
) -> Result<usize, LedgerError> {
    let (from, to, first_day) = previous_month(config, now);
    let label = |d: NaiveDate| d.format("%Y-%m").to_string();
    let month = label(first_day);
    let (ended_from, ended_to) = response_period(first_day);
    let months = (label(ended_from), label(ended_to - Months::new(1)));
    let response = ledger.response(ended_from, ended_to)?;
    let mut queued = 0;
    for tenant in config.tenants.iter().filter(|t| !t.contacts.is_empty()) {
        let stats = ledger.quality_stats(&tenant.id, from, to)?;
        let section = ResponseSection {
            months: months.clone(),
            lines: response_lines(config, tenant, &response),
        };
        let text =
            messages::quality_report(config.language, &tenant.name, &month, &stats, &section);
        let report = text.to_mail("quality-report", &tenant.id, &tenant.contacts);
        ledger.enqueue_mail(&report, &new_message_id(), now)?;
        mail.queued();
        queued += 1;
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_previous_month_is_a_local_calendar_month() {
        let config = crate::config::Config::parse("", std::path::Path::new("/tmp/x.toml")).unwrap();
        let now = DateTime::parse_from_rfc3339("2026-11-01T06:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let (from, to, first_day) = previous_month(&config, now);
        assert_eq!(first_day.to_string(), "2026-10-01");
        let (ended_from, ended_to) = response_period(first_day);
        assert_eq!(
            (ended_from.to_string(), ended_to.to_string()),
            ("2025-10-01".into(), "2026-10-01".into())
        );
        // October starts in summer time (UTC+2) and November in winter time (UTC+1).
        assert_eq!(from.to_rfc3339(), "2026-09-30T22:00:00+00:00");
        assert_eq!(to.to_rfc3339(), "2026-10-31T23:00:00+00:00");
    }
}
