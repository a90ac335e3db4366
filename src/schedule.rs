//! When jobs run: local times in the configured time zone, with daylight saving time left to
//! the time-zone database (chrono-tz), and catch-up for runs missed while the daemon was down.
//!
//! A local time that does not exist on a given day (the spring-forward gap) fires at the
//! first local time after the gap; one that occurs twice (fall-back) fires once, at the first.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc, Weekday,
};
use chrono_tz::Tz;

use crate::config::Config;

/// Days searched for an occurrence: a monthly time recurs within 31 days, with margin.
const SEARCH_DAYS: i64 = 64;

/// How often a job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Every {
    Day(NaiveTime),
    Week(Weekday, NaiveTime),
    /// A day of the month (1-28, so that every month has it).
    Month(u32, NaiveTime),
}

/// A job's times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub every: Every,
    pub tz: Tz,
}

/// The instant local `time` on `date` is first reached in `tz`: the earlier of two in a
/// repeated hour, the first minute after a gap (gaps are shorter than a day).
pub(crate) fn local_instant(tz: Tz, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let mut local = date.and_time(time);
    for _ in 0..(24 * 60) {
        match tz.from_local_datetime(&local) {
            LocalResult::Single(t) => return t.with_timezone(&Utc),
            LocalResult::Ambiguous(first, _) => return first.with_timezone(&Utc),
            LocalResult::None => local += Duration::minutes(1),
        }
    }
    Utc.from_utc_datetime(&date.and_time(time))
}

impl Schedule {
    /// The instant `time` is reached on local `date`.
    fn instant(&self, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
        local_instant(self.tz, date, time)
    }

    fn occurs_on(&self, date: NaiveDate) -> Option<DateTime<Utc>> {
        match self.every {
            Every::Day(time) => Some(self.instant(date, time)),
            Every::Week(day, time) => (date.weekday() == day).then(|| self.instant(date, time)),
            Every::Month(day, time) => (date.day() == day).then(|| self.instant(date, time)),
        }
    }

    /// The first run strictly after `after`.
    pub(crate) fn next_after(&self, after: DateTime<Utc>) -> DateTime<Utc> {
        let start = after.with_timezone(&self.tz).date_naive() - Duration::days(1);
        (0..SEARCH_DAYS)
            .filter_map(|i| self.occurs_on(start + Duration::days(i)))
            .find(|t| *t > after)
            .expect("every schedule occurs within two months")
    }

    /// The last run at or before `at`.
    pub(crate) fn last_at_or_before(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        let start = at.with_timezone(&self.tz).date_naive() + Duration::days(1);
        (0..SEARCH_DAYS)
            .filter_map(|i| self.occurs_on(start - Duration::days(i)))
            .find(|t| *t <= at)
            .expect("every schedule occurs within two months")
    }

    /// Whether a run was missed: one was due at or before `now`, later than `last_run`.
    /// A job that never ran has missed nothing (it first runs at its next time).
    pub fn missed(&self, last_run: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
        last_run.is_some_and(|last| self.last_at_or_before(now) > last)
    }
}

/// The daily processing job.
pub const PROCESS: &str = "process";
/// The monthly quality report mails.
pub(crate) const QUALITY_REPORT: &str = "quality-report";
/// The weekly bundles for municipalities.
pub const PUBLISH: &str = "publish";
/// The daily retention sweep.
pub const SWEEP: &str = "sweep";
/// The daily reminders (at 08:00, when people read them).
pub const REMINDERS: &str = "reminders";
/// The nightly backup, when `[backup] dir` is set.
pub const BACKUP: &str = "backup";

/// The schedule of job `name` under `config`; `None` for a job that is off.
pub(crate) fn of_job(name: &str, config: &Config) -> Option<Schedule> {
    let every = match name {
        PROCESS => Every::Day(config.schedule.process_at),
        QUALITY_REPORT => Every::Month(
            config.mail.quality_report_day,
            NaiveTime::from_hms_opt(7, 0, 0)?,
        ),
        PUBLISH => Every::Week(config.schedule.publish_on, config.schedule.publish_at),
        SWEEP => Every::Day(config.schedule.sweep_at),
        REMINDERS => Every::Day(NaiveTime::from_hms_opt(8, 0, 0)?),
        BACKUP => Every::Day(config.backup.as_ref()?.at),
        _ => return None,
    };
    Some(Schedule {
        every,
        tz: config.time_zone,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn daily(h: u32, m: u32) -> Schedule {
        Schedule {
            every: Every::Day(NaiveTime::from_hms_opt(h, m, 0).unwrap()),
            tz: chrono_tz::Europe::Amsterdam,
        }
    }

    /// The runs of `schedule` from `from`, `n` of them.
    fn runs(schedule: Schedule, from: &str, n: usize) -> Vec<String> {
        let mut at = utc(from);
        (0..n)
            .map(|_| {
                at = schedule.next_after(at);
                at.to_rfc3339()
            })
            .collect()
    }

    #[test]
    fn spring_forward_fires_once_just_after_the_gap() {
        // 2026-03-29: at 02:00 CET the clocks go to 03:00 CEST; 02:00 does not exist.
        assert_eq!(
            runs(daily(2, 0), "2026-03-27T12:00:00Z", 4),
            [
                "2026-03-28T01:00:00+00:00",
                "2026-03-29T01:00:00+00:00",
                "2026-03-30T00:00:00+00:00",
                "2026-03-31T00:00:00+00:00"
            ]
        );
    }

    #[test]
    fn fall_back_fires_once_at_the_first_occurrence() {
        // 2026-10-25: at 03:00 CEST the clocks go back to 02:00 CET; 02:30 happens twice.
        assert_eq!(
            runs(daily(2, 30), "2026-10-23T12:00:00Z", 4),
            [
                "2026-10-24T00:30:00+00:00",
                "2026-10-25T00:30:00+00:00",
                "2026-10-26T01:30:00+00:00",
                "2026-10-27T01:30:00+00:00"
            ]
        );
    }

    #[test]
    fn weekly_runs_on_its_day() {
        let sunday = Schedule {
            every: Every::Week(Weekday::Sun, NaiveTime::from_hms_opt(6, 0, 0).unwrap()),
            tz: chrono_tz::Europe::Amsterdam,
        };
        assert_eq!(
            runs(sunday, "2026-11-22T04:59:00Z", 2),
            ["2026-11-22T05:00:00+00:00", "2026-11-29T05:00:00+00:00"]
        );
    }

    #[test]
    fn monthly_runs_on_its_day_across_dst() {
        let first = Schedule {
            every: Every::Month(1, NaiveTime::from_hms_opt(7, 0, 0).unwrap()),
            tz: chrono_tz::Europe::Amsterdam,
        };
        assert_eq!(
            runs(first, "2026-09-15T00:00:00Z", 3),
            [
                "2026-10-01T05:00:00+00:00",
                "2026-11-01T06:00:00+00:00",
                "2026-12-01T06:00:00+00:00"
            ]
        );
    }

    #[test]
    fn a_run_missed_while_down_is_caught_up_once() {
        let s = daily(2, 0);
        let last = Some(utc("2026-11-20T01:00:00Z"));
        assert!(
            s.missed(last, utc("2026-11-21T08:00:00Z")),
            "the 21st's run was missed"
        );
        assert!(!s.missed(
            Some(utc("2026-11-21T08:00:00Z")),
            utc("2026-11-21T09:00:00Z")
        ));
        assert!(
            !s.missed(last, utc("2026-11-20T23:00:00Z")),
            "nothing was due yet"
        );
        assert!(!s.missed(None, utc("2026-11-21T08:00:00Z")));
    }
}
