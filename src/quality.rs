//! The monthly quality report (DESIGN 6): for each tenant with contacts, what it delivered
//! in the previous calendar month and how that fared, queued as one mail.
//!
//! Response per municipality joins in once measurements are linked to decisions; until then
//! the report covers deliveries, rows and rejection reasons.

use chrono::{DateTime, Datelike, Months, NaiveDate, TimeZone, Utc};

use crate::config::Config;
use crate::ledger::{Ledger, LedgerError};
use crate::mail::{messages, new_message_id};

/// The previous calendar month (in the configured time zone) before `now`, as UTC bounds
/// and a label such as `2026-10`.
pub fn previous_month(
    config: &Config,
    now: DateTime<Utc>,
) -> (DateTime<Utc>, DateTime<Utc>, String) {
    let tz = config.time_zone;
    let today = now.with_timezone(&tz).date_naive();
    let this_month = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).expect("day 1 exists");
    let last_month = this_month - Months::new(1);
    let start = |d: NaiveDate| {
        tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight exists"))
            .earliest()
            .map_or_else(
                || Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight")),
                |t| t.with_timezone(&Utc),
            )
    };
    (
        start(last_month),
        start(this_month),
        last_month.format("%Y-%m").to_string(),
    )
}

/// Queues the reports for the month before `now`; returns how many.
pub fn queue_reports(
    config: &Config,
    ledger: &mut Ledger,
    now: DateTime<Utc>,
) -> Result<usize, LedgerError> {
    let (from, to, month) = previous_month(config, now);
    let mut queued = 0;
    for tenant in config.tenants.iter().filter(|t| !t.contacts.is_empty()) {
        let stats = ledger.quality_stats(&tenant.id, from, to)?;
        let text = messages::quality_report(config.mail.language, &tenant.name, &month, &stats);
        let mail = text.to_mail("quality-report", &tenant.id, &tenant.contacts);
        ledger.enqueue_mail(&mail, &new_message_id(), now)?;
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
        let (from, to, label) = previous_month(&config, now);
        assert_eq!(label, "2026-10");
        // October starts in summer time (UTC+2) and November in winter time (UTC+1).
        assert_eq!(from.to_rfc3339(), "2026-09-30T22:00:00+00:00");
        assert_eq!(to.to_rfc3339(), "2026-10-31T23:00:00+00:00");
    }
}
