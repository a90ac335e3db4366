//! Linking measurements to decisions (DESIGN 3.3): a measurement belongs to a decision when
//! pseudonym and AGB code match and its date lies from one calendar month before to one
//! calendar month after the decision's end date, inclusive.
//!
//! Calendar months are chrono's: a month from 31 January is the last day of February
//! (28th or 29th), never 3 March as SQLite's date modifiers would have it. That is why the
//! window is computed here and stored with each decision (`window_start`, `window_end`),
//! and the ledger only compares dates. Links are read from the current rows, so the order
//! in which measurements and decisions (or their corrections) arrive does not matter.

use chrono::{Months, NaiveDate};

/// The dates a measurement may have to belong to a decision that ended on `einddatum`.
pub(crate) fn window(einddatum: NaiveDate) -> (NaiveDate, NaiveDate) {
    let month = Months::new(1);
    (
        einddatum
            .checked_sub_months(month)
            .unwrap_or(NaiveDate::MIN),
        einddatum
            .checked_add_months(month)
            .unwrap_or(NaiveDate::MAX),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether a measurement on `datum` belongs to a decision that ended on `einddatum`
    /// (what `ledger::figures::LINK_RULE` asks in SQL).
    fn in_window(einddatum: NaiveDate, datum: NaiveDate) -> bool {
        let (start, end) = window(einddatum);
        (start..=end).contains(&datum)
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn the_window_runs_a_calendar_month_each_way_inclusive() {
        let cases = [
            // (einddatum, start, end)
            ("2026-06-15", "2026-05-15", "2026-07-15"),
            ("2026-01-31", "2025-12-31", "2026-02-28"),
            ("2024-01-31", "2023-12-31", "2024-02-29"),
            ("2026-03-31", "2026-02-28", "2026-04-30"),
            ("2024-03-30", "2024-02-29", "2024-04-30"),
            ("2026-12-31", "2026-11-30", "2027-01-31"),
        ];
        for (end, from, to) in cases {
            assert_eq!(window(d(end)), (d(from), d(to)), "{end}");
        }
    }

    #[test]
    fn the_edges_belong_and_a_day_beyond_does_not() {
        let end = d("2026-01-31");
        for (datum, inside) in [
            ("2025-12-30", false),
            ("2025-12-31", true),
            ("2026-01-31", true),
            ("2026-02-28", true),
            ("2026-03-01", false),
        ] {
            assert_eq!(in_window(end, d(datum)), inside, "{datum}");
        }
    }
}
