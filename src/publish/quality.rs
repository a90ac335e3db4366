//! The monthly quality report (DESIGN 6): for each tenant with contacts, what it delivered
//! in the previous calendar month and how that fared, and the response (DESIGN 3.3) per
//! municipality — a municipality's own, a care provider's per municipality it serves —
//! over the decisions that ended in the twelve months before that month, so that every
//! decision's window (one month past its end) has closed when the report is made. A figure
//! over fewer than [`MIN_CLIENTS`](crate::figures::MIN_CLIENTS) clients is not shown.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Months, NaiveDate, NaiveTime, Utc};

use super::{PublishError, report};
use crate::config::{Config, Tenant, TenantKind};
use crate::figures::Figures;
use crate::ledger::{Ledger, ProviderFigures, QualityStats, Response};
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

/// Whether every decision that ended in `quarter` (`2026-Q3`) has had its whole window
/// (a month past its end) by the time the report on the month starting `month` is made,
/// the first of the month after: so that its response is not shown too low. The quarter
/// must have ended by the start of the month reported on.
fn window_closed(quarter: &str, month: NaiveDate) -> bool {
    let parsed = quarter.split_once("-Q").and_then(|(year, q)| {
        let (year, q): (i32, u32) = (year.parse().ok()?, q.parse().ok()?);
        NaiveDate::from_ymd_opt(year, 3 * q - 2, 1)
    });
    parsed.is_some_and(|start| start + Months::new(3) <= month)
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
        TenantKind::Supplier => of_provider(response, &tenant.code)
            .map(|(code, c)| (municipality_name(code), figure(c)))
            .collect(),
    }
}

/// The care provider `agb`'s figures in `response`, per municipality (by CBS code).
fn of_provider<'a>(
    response: &'a Response,
    agb: &'a str,
) -> impl Iterator<Item = (&'a String, &'a Figures)> + 'a {
    response
        .by_provider
        .iter()
        .filter(move |((_, provider), _)| provider == agb)
        .map(|((code, _), f)| (code, f))
}

/// What the reports of one month share.
struct Month {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    first_day: NaiveDate,
    label: String,
    response: Response,
    response_months: (String, String),
    /// Every provider's figures; read only when some provider's report is made.
    providers: Option<BTreeMap<String, ProviderFigures>>,
}

/// Queues the reports for the month before `now`, ringing `mail` at each, and puts a care
/// provider's report in its outbox when a user may collect it; returns how many reports
/// were mailed or put. A tenant whose report fails is logged, and the others go on.
pub(crate) fn queue_reports(
    config: &Config,
    ledger: &mut Ledger,
    now: DateTime<Utc>,
    mail: &Wake,
) -> Result<usize, PublishError> {
    let (from, to, first_day) = previous_month(config, now);
    let label = |d: NaiveDate| d.format("%Y-%m").to_string();
    let (ended_from, ended_to) = response_period(first_day);
    let mut month = Month {
        from,
        to,
        first_day,
        label: label(first_day),
        response: ledger.response(ended_from, ended_to)?,
        response_months: (label(ended_from), label(ended_to - Months::new(1))),
        providers: None,
    };
    let mut done = 0;
    let mut failed = Vec::new();
    for tenant in &config.tenants {
        match report_for(config, ledger, tenant, &mut month, now, mail) {
            Ok(true) => done += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::error!(tenant = tenant.id, error = %e, "monthly report failed");
                failed.push(tenant.id.clone());
            }
        }
    }
    if failed.is_empty() {
        Ok(done)
    } else {
        Err(PublishError::Reports { done, failed })
    }
}

/// `tenant`'s report for `month`: mailed to its contacts, and for a care provider with a
/// collecting user also put in its outbox. Whether anything was made.
fn report_for(
    config: &Config,
    ledger: &mut Ledger,
    tenant: &Tenant,
    month: &mut Month,
    now: DateTime<Utc>,
    wake: &Wake,
) -> Result<bool, PublishError> {
    let in_outbox = tenant.kind == TenantKind::Supplier && config.collected(&tenant.id);
    if tenant.contacts.is_empty() && !in_outbox {
        return Ok(false);
    }
    let stats = ledger.quality_stats(&tenant.id, month.from, month.to)?;
    let section = ResponseSection {
        months: month.response_months.clone(),
        lines: response_lines(config, tenant, &month.response),
    };
    if !in_outbox {
        let text = messages::quality_report(
            config.language,
            &tenant.name,
            &month.label,
            &stats,
            &section,
            None,
        );
        let report = text.to_mail("quality-report", &tenant.id, &tenant.contacts);
        ledger.enqueue_mail(&report, &new_message_id(), now)?;
        wake.queued();
        return Ok(true);
    }
    let told = Told { stats, section };
    outbox_report(config, ledger, tenant, month, &told, now, wake)
}

/// What a tenant's monthly mail tells: its month's deliveries, and the response.
struct Told {
    stats: QualityStats,
    section: ResponseSection,
}

/// A care provider's report put in its outbox, with the mail that names it (if it has
/// contacts); whether it was made (not if an earlier run this month made it).
fn outbox_report(
    config: &Config,
    ledger: &mut Ledger,
    tenant: &Tenant,
    month: &mut Month,
    told: &Told,
    now: DateTime<Utc>,
    wake: &Wake,
) -> Result<bool, PublishError> {
    let Told { stats, section } = told;
    if month.providers.is_none() {
        month.providers = Some(ledger.provider_figures()?);
    }
    let figures = month
        .providers
        .as_ref()
        .and_then(|p| p.get(&tenant.code))
        .cloned()
        .unwrap_or_default();
    let response: Vec<(String, Figures)> = of_provider(&month.response, &tenant.code)
        .map(|(code, f)| (code.clone(), f.clone()))
        .collect();
    let municipalities = config
        .tenants
        .iter()
        .filter(|t| t.kind == TenantKind::Municipality)
        .map(|t| (t.code.as_str(), t.name.as_str()))
        .collect();
    let (page, csv) = report::names(&tenant.id, month.first_day);
    let (first, last) = &month.response_months;
    let deliveries = ledger.deliveries_processed(&tenant.id, month.from, month.to)?;
    let made = now
        .with_timezone(&config.time_zone)
        .format("%d-%m-%Y %H:%M")
        .to_string();
    let contents = report::Contents {
        tenant,
        month: month.first_day,
        made: &made,
        csv: &csv,
        figures: &figures,
        response: &response,
        response_period: &format!("{first}/{last}"),
        stats,
        deliveries: &deliveries,
        municipalities: &municipalities,
        time_zone: config.time_zone,
    };
    let files = messages::ReportFiles {
        page: &page,
        csv: &csv,
        kept_days: config.retention.bundle_days,
        headline: figures
            .overall
            .iter()
            .rfind(|(quarter, _)| window_closed(quarter, month.first_day))
            .map(|(q, f)| (q.as_str(), f)),
    };
    let text = messages::quality_report(
        config.language,
        &tenant.name,
        &month.label,
        stats,
        section,
        Some(&files),
    );
    let message_id = new_message_id();
    let report_mail = text.to_mail("quality-report", &tenant.id, &tenant.contacts);
    let mail = (!tenant.contacts.is_empty()).then_some((&report_mail, message_id.as_str()));
    report::publish(config, ledger, &contents, mail, now, wake)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quarter_is_headline_once_its_windows_have_closed() {
        let november = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        assert!(window_closed("2026-Q3", november));
        assert!(!window_closed("2026-Q4", november));
        let october = NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();
        assert!(window_closed("2026-Q3", october), "ended 30 September");
        assert!(!window_closed(
            "2026-Q3",
            NaiveDate::from_ymd_opt(2026, 9, 1).unwrap()
        ));
        assert!(!window_closed("nonsense", november));
    }

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
