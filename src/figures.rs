//! The figures of DESIGN 3.3, in one place: which measurement is complete, response, the
//! CT and GAS means, dropout, the rule that hides figures over too few clients, and when a
//! measurement was delivered on time (issue 14).
//!
//! The ledger reads the rows (ended decisions, and the measurements linked to them) and
//! feeds them to a [`Tally`]; everything a figure means is decided here, so that the bundle's
//! `Indicatoren.csv` and the monthly report's response can never count differently.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Days, NaiveDate, Utc};
use chrono_tz::Tz;

/// Figures over fewer clients than this are not shown: no one may be singled out.
pub(crate) const MIN_CLIENTS: u64 = 10;

/// Reasons for ending (iJw JZ588) that count as dropout (`uitval`): ended early.
const DROPOUT_REASONS: [&str; 4] = ["32", "33", "34", "35"];

/// Whether a measurement with this `status` is complete: the dataset says an empty status
/// means "Meting is volledig", as `Volledig` does. `Onvolledig` (partly filled in) and
/// `Nee` (sent out, not filled in) are not.
pub(crate) fn is_complete(status: Option<&str>) -> bool {
    match status {
        None => true,
        Some(s) => s.is_empty() || s.eq_ignore_ascii_case("Volledig"),
    }
}

/// Whether a decision that ended for `reason` ended early.
pub(crate) fn is_dropout(reason: Option<&str>) -> bool {
    reason.is_some_and(|r| DROPOUT_REASONS.contains(&r))
}

/// A measurement is on time (`tijdig`) when the delivery that carried it was received at
/// most this many days after the measurement's date: one quarter, so a provider that sends
/// each quarter's measurements within the quarter after it is on time. The bundle's
/// `Kwaliteit.csv`, its overview and the monthly report all count by [`OnTime`].
pub(crate) const ON_TIME_DAYS: u64 = 91;

/// The on-time rule for one delivery: the earliest measurement date it carries on time.
/// It is fixed once per delivery, so that the daily run, which stores millions of rows,
/// pays one date comparison per row.
///
/// Days count between calendar dates: the measurement's date and the date, in the
/// configured time zone, on which the delivery was received, as the provider's calendar
/// has them. A file received at 00:30 on 1 January in Amsterdam came in the new year,
/// though it is still 31 December in UTC. A measurement dated after the day it is
/// processed is not accepted (rule `date.future`); one dated between its receipt and its
/// processing counts as on time, which it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OnTime {
    earliest: NaiveDate,
}

impl OnTime {
    /// The rule for a delivery received at `received_at`, in time zone `zone`.
    pub(crate) fn received(received_at: DateTime<Utc>, zone: Tz) -> Self {
        let day = received_at.with_timezone(&zone).date_naive();
        Self {
            earliest: day
                .checked_sub_days(Days::new(ON_TIME_DAYS))
                .unwrap_or(NaiveDate::MIN),
        }
    }

    /// Whether a measurement dated `datum` came on time.
    pub(crate) fn covers(self, datum: NaiveDate) -> bool {
        datum >= self.earliest
    }
}

/// A sum and a count, for a mean.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Mean {
    pub sum: f64,
    pub count: u64,
}

impl Mean {
    fn add(&mut self, value: f64) {
        self.sum += value;
        self.count += 1;
    }

    /// The mean, if there is anything to take it of.
    pub fn value(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }
}

/// The figures of one group of ended decisions (a municipality's quarter, say).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    /// Decisions that ended.
    pub ended: u64,
    /// Distinct clients (pseudonyms) among them.
    pub clients: u64,
    /// Ended decisions with at least one complete linked measurement.
    pub responded: u64,
    /// Scores of complete linked measurements, per instrument.
    pub ct: Mean,
    pub gas: Mean,
    /// Ended early (see [`is_dropout`]).
    pub dropout: u64,
    /// Linked measurements, whatever their status.
    pub measurements: u64,
}

impl Figures {
    /// Whether these figures must not be shown: fewer than [`MIN_CLIENTS`] clients.
    pub fn suppressed(&self) -> bool {
        self.clients < MIN_CLIENTS
    }

    /// Share of ended decisions with a complete measurement.
    pub fn response(&self) -> Option<f64> {
        self.share(self.responded)
    }

    /// Share of ended decisions that ended early.
    pub(crate) fn dropout_share(&self) -> Option<f64> {
        self.share(self.dropout)
    }

    fn share(&self, n: u64) -> Option<f64> {
        (self.ended > 0).then(|| n as f64 / self.ended as f64)
    }
}

/// Builds [`Figures`] per group `K` from rows: first every ended decision, then every
/// measurement linked to one of them, after the decisions and in measurement order (all
/// rows of one measurement together, as the readers order them).
#[derive(Debug)]
pub(crate) struct Tally<K: Ord> {
    groups: BTreeMap<K, Group>,
}

#[derive(Debug, Default)]
struct Group {
    figures: Figures,
    clients: HashSet<String>,
    /// Decisions already counted as responded.
    responded: HashSet<String>,
    /// The last measurement counted (AGB code, number): one linked to two decisions of the
    /// group (two products ending together) comes in two rows one after the other, and
    /// counts once in the means and the count. Kept instead of every measurement seen: a
    /// set of a million keys cost a publication seconds and hundreds of MiB.
    last: (String, String),
}

impl<K: Ord> Default for Tally<K> {
    fn default() -> Self {
        Self {
            groups: BTreeMap::new(),
        }
    }
}

impl<K: Ord> Tally<K> {
    /// A decision of `client` ended, for `reason`, in group `group`.
    pub(crate) fn ended(&mut self, group: K, client: &str, reason: Option<&str>) {
        let g = self.groups.entry(group).or_default();
        g.figures.ended += 1;
        if !g.clients.contains(client) {
            g.clients.insert(client.to_owned());
            g.figures.clients += 1;
        }
        if is_dropout(reason) {
            g.figures.dropout += 1;
        }
    }

    /// Measurement `measurement` (AGB code and number) linked to the ended decision
    /// `decision` of group `group`. A group without ended decisions has no figures, so such
    /// a row is not counted. The rows of one measurement come one after the other.
    pub(crate) fn linked(
        &mut self,
        group: &K,
        decision: &str,
        measurement: (&str, &str),
        instrument: &str,
        score: Option<f64>,
        status: Option<&str>,
    ) {
        let Some(g) = self.groups.get_mut(group) else {
            return;
        };
        let complete = is_complete(status);
        if complete && !g.responded.contains(decision) {
            g.responded.insert(decision.to_owned());
            g.figures.responded += 1;
        }
        if g.last.0 == measurement.0 && g.last.1 == measurement.1 {
            return;
        }
        g.last.0.clear();
        g.last.0.push_str(measurement.0);
        g.last.1.clear();
        g.last.1.push_str(measurement.1);
        g.figures.measurements += 1;
        if !complete {
            return;
        }
        if let Some(score) = score {
            match instrument {
                "CT" => g.figures.ct.add(score),
                _ => g.figures.gas.add(score),
            }
        }
    }

    /// The figures of every group that had an ended decision, in group order.
    pub(crate) fn finish(self) -> BTreeMap<K, Figures> {
        self.groups
            .into_iter()
            .map(|(k, g)| (k, g.figures))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn received(utc: &str) -> OnTime {
        let at = DateTime::parse_from_rfc3339(utc).unwrap().to_utc();
        OnTime::received(at, chrono_tz::Europe::Amsterdam)
    }

    #[test]
    fn day_91_after_the_measurement_is_on_time_day_92_is_late() {
        // Received on 19 August 2026 (local): 20 May is 91 days before, 19 May 92.
        let rule = received("2026-08-19T10:00:00Z");
        assert!(rule.covers(date("2026-08-19")), "the same day");
        assert!(rule.covers(date("2026-05-20")), "day 91");
        assert!(!rule.covers(date("2026-05-19")), "day 92");
    }

    /// The receipt's date is the local one: 23:30 UTC on 31 December is 00:30 on 1 January
    /// in Amsterdam, so 1 October is 92 days back, not 91.
    #[test]
    fn the_receipt_date_is_the_local_date_in_the_configured_zone() {
        let rule = received("2026-12-31T23:30:00Z");
        assert!(rule.covers(date("2026-10-02")));
        assert!(!rule.covers(date("2026-10-01")));
        let utc = OnTime::received(
            DateTime::parse_from_rfc3339("2026-12-31T23:30:00Z")
                .unwrap()
                .to_utc(),
            chrono_tz::UTC,
        );
        assert!(
            utc.covers(date("2026-10-01")),
            "in UTC it is still 31 December"
        );
    }

    /// 22:30 UTC is the next local day in summer time (UTC+2) but not in winter time
    /// (UTC+1): on both sides of the end of summer time the receipt falls on 25 October.
    #[test]
    fn summer_and_winter_time_give_the_local_date() {
        for utc in ["2026-10-24T22:30:00Z", "2026-10-25T22:30:00Z"] {
            let rule = received(utc);
            assert!(rule.covers(date("2026-07-26")), "{utc}: day 91");
            assert!(!rule.covers(date("2026-07-25")), "{utc}: day 92");
        }
    }

    #[test]
    fn empty_and_volledig_are_complete_onvolledig_and_nee_are_not() {
        for status in [None, Some(""), Some("Volledig"), Some("volledig")] {
            assert!(is_complete(status), "{status:?}");
        }
        for status in [Some("Onvolledig"), Some("Nee")] {
            assert!(!is_complete(status), "{status:?}");
        }
    }

    /// Twelve ended decisions, each with one measurement of empty status: all responded.
    #[test]
    fn an_empty_status_counts_as_response() {
        let mut t = Tally::default();
        for i in 0..12 {
            t.ended("Q", &format!("client-{i}"), None);
        }
        for i in 0..12 {
            t.linked(
                &"Q",
                &format!("B-{i}"),
                ("1", &format!("M-{i}")),
                "CT",
                Some(8.0),
                None,
            );
        }
        let f = &t.finish()["Q"];
        assert_eq!((f.ended, f.clients, f.responded), (12, 12, 12));
        assert_eq!(f.response(), Some(1.0));
        assert_eq!(f.ct.value(), Some(8.0));
    }

    #[test]
    fn only_complete_measurements_count_for_response_and_means() {
        let mut t = Tally::default();
        for (client, reason) in [
            ("P1", None),
            ("P2", Some("33")),
            ("P3", Some("02")),
            ("P1", Some("35")),
        ] {
            t.ended("Q", client, reason);
        }
        // B-1: complete CT 8 and an incomplete CT 2; B-2: not filled in; B-3: GAS
        // incomplete without a score; B-4: two complete GAS scores (one decision).
        t.linked(&"Q", "B-1", ("1", "M-1"), "CT", Some(8.0), Some("Volledig"));
        t.linked(
            &"Q",
            "B-1",
            ("1", "M-2"),
            "CT",
            Some(2.0),
            Some("Onvolledig"),
        );
        t.linked(&"Q", "B-2", ("1", "M-3"), "CT", None, Some("Nee"));
        t.linked(&"Q", "B-3", ("1", "M-4"), "GAS", None, Some("Onvolledig"));
        t.linked(&"Q", "B-4", ("1", "M-5"), "GAS", Some(1.0), None);
        t.linked(&"Q", "B-4", ("1", "M-6"), "GAS", Some(-2.0), Some(""));
        let f = &t.finish()["Q"];
        assert_eq!(
            (f.ended, f.clients, f.responded, f.dropout, f.measurements),
            (4, 3, 2, 2, 6)
        );
        assert_eq!(f.response(), Some(0.5));
        assert_eq!(f.dropout_share(), Some(0.5));
        assert_eq!(f.ct, Mean { sum: 8.0, count: 1 });
        assert_eq!(f.gas.value(), Some(-0.5));
    }

    #[test]
    fn figures_are_per_group_and_a_measurement_without_ended_decisions_is_not_counted() {
        let mut t = Tally::default();
        t.ended(("0344", "Q3"), "P1", None);
        t.ended(("0344", "Q4"), "P1", None);
        t.linked(&("0344", "Q3"), "B-1", ("1", "M-1"), "CT", Some(6.0), None);
        t.linked(&("0363", "Q3"), "B-9", ("1", "M-9"), "CT", Some(1.0), None);
        let figures = t.finish();
        assert_eq!(figures.len(), 2);
        assert_eq!(figures[&("0344", "Q3")].responded, 1);
        assert_eq!(figures[&("0344", "Q4")].responded, 0);
        assert_eq!(figures[&("0344", "Q4")].response(), Some(0.0));
    }

    /// Two products of one client ending together: one measurement in both windows
    /// answers both decisions, and counts once in the mean and the count.
    #[test]
    fn a_measurement_linked_to_two_decisions_counts_once_in_the_means() {
        let mut t = Tally::default();
        t.ended("Q", "P1", None);
        t.ended("Q", "P1", None);
        t.ended("Q", "P2", None);
        t.linked(&"Q", "B-1", ("1", "M-1"), "CT", Some(9.0), None);
        t.linked(&"Q", "B-2", ("1", "M-1"), "CT", Some(9.0), None);
        t.linked(&"Q", "B-3", ("1", "M-2"), "CT", Some(6.0), None);
        let f = &t.finish()["Q"];
        assert_eq!((f.responded, f.measurements), (3, 2));
        assert_eq!(f.ct.value(), Some(7.5));
    }

    #[test]
    fn fewer_than_ten_clients_are_suppressed_ten_are_shown() {
        for (clients, suppressed) in [(9, true), (10, false)] {
            let mut t = Tally::default();
            for i in 0..clients {
                // Two decisions per client: clients, not decisions, decide.
                t.ended("Q", &format!("P{i}"), None);
                t.ended("Q", &format!("P{i}"), None);
            }
            let f = &t.finish()["Q"];
            assert_eq!(f.ended, 2 * clients);
            assert_eq!(f.suppressed(), suppressed, "{clients} clients");
        }
    }
}
