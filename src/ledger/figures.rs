//! What the reports read. Owns no table: everything here is computed from the current
//! `measurement`, `decision` and `delivery` rows and never stored: the links between
//! measurements and decisions (see `link` for the rule; since nothing is stored about a
//! link, arrival order and corrections cannot make one stale), the figures per quarter and
//! per period (`crate::figures` decides what they mean), and a tenant's delivery outcomes
//! for the monthly quality report.

use std::cell::RefCell;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::params;
use rusqlite::types::Type;

use super::bundles::{delivery_columns, delivery_out};
use super::{DeliveryOut, DeliveryState, Ledger, LedgerError, timestamp};
use crate::figures::{Figures, Tally};

/// When measurement `m` belongs to decision `d` (DESIGN 3.3; `link` sets the windows), as
/// SQL. Queries join `FROM measurement m CROSS JOIN decision d ON {LINK_RULE}`: measurements
/// drive the join (CROSS JOIN fixes the order), each finding its decisions through
/// `decision_client`; the other way round, every decision would scan all measurements of
/// its provider.
pub(super) const LINK_RULE: &str = "d.pseudonym = m.pseudonym AND d.agb = m.agb AND m.datum BETWEEN d.window_start AND d.window_end";

/// The providers (AGB codes) that the decisions of the municipality whose CBS code is the
/// SQL parameter `code` (`?1`, say) name, as SQL. Only their measurements can link to its
/// decisions: `m.agb IN (...)` reads those by the measurement's key, so a municipality's
/// publication reads its providers' measurements, not all, and one without decisions reads
/// none.
pub(super) fn providers_of(code: &str) -> String {
    format!("SELECT DISTINCT agb FROM decision WHERE gemeentecode = {code}")
}

/// One measurement that belongs to one decision.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Link {
    pub beschikkingnummer: String,
    pub agb: String,
    pub metingnummer: String,
}

impl Ledger {
    /// Every link of the municipality with CBS code `gemeentecode`, in decision order.
    pub fn links(&self, gemeentecode: &str) -> Result<Vec<Link>, LedgerError> {
        // Sorting a municipality's links is the caller's wish; SQLite sorts on disk if need be.
        let mut stmt = self.conn.prepare(&format!(
            "SELECT d.beschikkingnummer, m.agb, m.metingnummer
             FROM measurement m CROSS JOIN decision d ON {LINK_RULE}
             WHERE d.gemeentecode = ?1
             ORDER BY d.beschikkingnummer, m.agb, m.metingnummer"
        ))?;
        let links = stmt
            .query_map(params![gemeentecode], |r| {
                Ok(Link {
                    beschikkingnummer: r.get(0)?,
                    agb: r.get(1)?,
                    metingnummer: r.get(2)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(links)
    }
}

/// The quarter (`2026-Q3`) of column `i` of `r`, an ISO date: computed here, not by
/// `strftime` in SQL, which parses the date twice for each of a million linked rows.
fn quarter(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<String> {
    use chrono::Datelike;
    let date = chrono::NaiveDate::parse_from_str(text(r, i)?, "%Y-%m-%d")
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, Type::Text, Box::new(e)))?;
    Ok(format!("{}-Q{}", date.year(), date.month().div_ceil(3)))
}

/// A period's figures: the calendar quarter of the end date (such as `2026-Q3`) and the
/// figures over the decisions that ended in it.
pub(crate) type Indicators = (String, Figures);

#[cfg(test)]
impl Ledger {
    /// The figures per period of the municipality with CBS code `gemeentecode`, oldest first
    /// (a publication reads them inside its own transaction).
    pub(crate) fn indicators(&self, gemeentecode: &str) -> Result<Vec<Indicators>, LedgerError> {
        Ok(figures(&self.conn, gemeentecode)?.0)
    }
}

/// A period's figures for one group: the quarter and the other party's code (a
/// provider's AGB code in a municipality's figures, a municipality's CBS code in a
/// provider's), and the figures over the decisions of that pair that ended in it.
pub(crate) type GroupIndicators = ((String, String), Figures);

/// An ended decision as the figures group it: the quarter of its end date, its
/// municipality (CBS code) and its provider (AGB code).
struct Ended {
    quarter: String,
    gemeentecode: String,
    agb: String,
}

/// What the figures read of a measurement linked to an ended decision, borrowed from the
/// row: a million of them are read for one publication.
struct Linked<'a> {
    /// The decision, as `gemeentecode/beschikkingnummer`.
    decision: &'a str,
    number: &'a str,
    instrument: &'a str,
    score: Option<f64>,
    status: Option<&'a str>,
}

impl Linked<'_> {
    /// Counts this measurement in `tally` under `group`; `agb` is the decision's provider
    /// (the measurement's too, by the link rule).
    fn count<K: Ord>(&self, tally: &mut Tally<K>, group: &K, agb: &str) {
        tally.linked(
            group,
            self.decision,
            (agb, self.number),
            self.instrument,
            self.score,
            self.status,
        );
    }
}

/// Reads the ended decisions that `filter` (an SQL condition on `d`, with `params`)
/// selects into `ended` (with the client and the reason), and then every measurement linked
/// to one of them into `linked`: the two passes a [`Tally`] takes, for every reading of
/// the figures. `measured` (a condition on `m`) narrows the measurements read before they
/// are joined, never what links. The linked rows come in measurement order (the order they
/// are read in, so no sort), as [`Tally::linked`] needs.
fn read_ended(
    conn: &rusqlite::Connection,
    (filter, measured): (&str, &str),
    params: &[&dyn rusqlite::ToSql],
    mut ended: impl FnMut(&Ended, &str, Option<&str>),
    mut linked: impl FnMut(&Ended, &Linked),
) -> Result<(), LedgerError> {
    let keys = |r: &rusqlite::Row<'_>| -> rusqlite::Result<Ended> {
        Ok(Ended {
            quarter: quarter(r, 0)?,
            gemeentecode: r.get(1)?,
            agb: r.get(2)?,
        })
    };
    let mut stmt = conn.prepare(&format!(
        "SELECT d.einddatum, d.gemeentecode, d.agb, d.pseudonym, d.reden
         FROM decision d WHERE d.einddatum IS NOT NULL AND {filter}"
    ))?;
    let mut rows = stmt.query(params)?;
    while let Some(r) = rows.next()? {
        let (client, reason): (String, Option<String>) = (r.get(3)?, r.get(4)?);
        ended(&keys(r)?, &client, reason.as_deref());
    }
    let mut stmt = conn.prepare(&format!(
        "SELECT d.einddatum, d.gemeentecode, d.agb, d.beschikkingnummer, m.metingnummer,
                m.instrument, m.score, m.status
         FROM measurement m CROSS JOIN decision d ON {LINK_RULE}
         WHERE {measured} AND d.einddatum IS NOT NULL AND {filter}
         ORDER BY m.agb, m.metingnummer"
    ))?;
    let mut rows = stmt.query(params)?;
    let mut decision = String::new();
    while let Some(r) = rows.next()? {
        let keys = keys(r)?;
        // A decision number is its municipality's own: two municipalities may both have
        // a "1001" for one provider, and a provider's figures over all of them must count
        // both.
        decision.clear();
        decision.push_str(&keys.gemeentecode);
        decision.push('/');
        decision.push_str(text(r, 3)?);
        let measurement = Linked {
            decision: &decision,
            number: text(r, 4)?,
            instrument: text(r, 5)?,
            score: r.get(6)?,
            status: r
                .get_ref(7)?
                .as_str_or_null()
                .map_err(|e| conversion(7, e))?,
        };
        linked(&keys, &measurement);
    }
    Ok(())
}

/// Column `i` of `r` as text borrowed from the row.
fn text<'r>(r: &'r rusqlite::Row<'_>, i: usize) -> rusqlite::Result<&'r str> {
    r.get_ref(i)?.as_str().map_err(|e| conversion(i, e))
}

fn conversion(i: usize, e: rusqlite::types::FromSqlError) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(i, Type::Text, Box::new(e))
}

/// The figures per period, and per period and provider (by quarter, then provider), of the
/// municipality with CBS code `gemeentecode`, on `conn`: one pass over its decisions and
/// their linked measurements feeds both.
pub(super) fn figures(
    conn: &rusqlite::Connection,
    gemeentecode: &str,
) -> Result<(Vec<Indicators>, Vec<GroupIndicators>), LedgerError> {
    let overall: RefCell<Tally<String>> = RefCell::default();
    let per_provider: RefCell<Tally<(String, String)>> = RefCell::default();
    read_ended(
        conn,
        (
            "d.gemeentecode = ?1",
            &format!("m.agb IN ({})", providers_of("?1")),
        ),
        &[&gemeentecode],
        |e, client, reason| {
            overall
                .borrow_mut()
                .ended(e.quarter.clone(), client, reason);
            per_provider
                .borrow_mut()
                .ended((e.quarter.clone(), e.agb.clone()), client, reason);
        },
        |e, m| {
            m.count(&mut overall.borrow_mut(), &e.quarter, &e.agb);
            let group = (e.quarter.clone(), e.agb.clone());
            m.count(&mut per_provider.borrow_mut(), &group, &e.agb);
        },
    )?;
    Ok((
        overall.into_inner().finish().into_iter().collect(),
        per_provider.into_inner().finish().into_iter().collect(),
    ))
}

/// A care provider's figures per period: over all municipalities whose decisions name it,
/// and per period and municipality (by quarter, then CBS code).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ProviderFigures {
    pub overall: Vec<Indicators>,
    pub per_municipality: Vec<GroupIndicators>,
}

impl Ledger {
    /// The figures of every care provider (by AGB code) that ended decisions name, from one
    /// pass over all decisions and their linked measurements.
    pub(crate) fn provider_figures(
        &self,
    ) -> Result<BTreeMap<String, ProviderFigures>, LedgerError> {
        let overall: RefCell<Tally<(String, String)>> = RefCell::default();
        let split: RefCell<Tally<(String, String, String)>> = RefCell::default();
        let groups = |e: &Ended| {
            (
                (e.agb.clone(), e.quarter.clone()),
                (e.agb.clone(), e.quarter.clone(), e.gemeentecode.clone()),
            )
        };
        read_ended(
            &self.conn,
            ("1", "1"),
            &[],
            |e, client, reason| {
                let (all, one) = groups(e);
                overall.borrow_mut().ended(all, client, reason);
                split.borrow_mut().ended(one, client, reason);
            },
            |e, m| {
                let (all, one) = groups(e);
                m.count(&mut overall.borrow_mut(), &all, &e.agb);
                m.count(&mut split.borrow_mut(), &one, &e.agb);
            },
        )?;
        let mut out: BTreeMap<String, ProviderFigures> = BTreeMap::new();
        for ((agb, quarter), f) in overall.into_inner().finish() {
            out.entry(agb).or_default().overall.push((quarter, f));
        }
        for ((agb, quarter, code), f) in split.into_inner().finish() {
            out.entry(agb)
                .or_default()
                .per_municipality
                .push(((quarter, code), f));
        }
        Ok(out)
    }
}

/// A tenant's deliveries processed in a period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct QualityStats {
    /// Deliveries per outcome, in the order of the outcomes' names (as the report lists them).
    pub deliveries: Vec<(DeliveryState, u64)>,
    pub rows: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// Accepted rows of the measurement deliveries whose on-time count is known (not those
    /// processed before it was counted).
    pub measured: u64,
    /// Of those, the rows that came on time (`figures::OnTime`).
    pub on_time: u64,
    /// Problems per rule, most first.
    pub rules: Vec<(String, u64)>,
}

impl Ledger {
    /// What `tenant` delivered and how it fared, for deliveries processed in `[from, to)`.
    pub(crate) fn quality_stats(
        &self,
        tenant: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<QualityStats, LedgerError> {
        let (from, to) = (timestamp(from), timestamp(to));
        let mut stats = QualityStats::default();
        let mut stmt = self.conn.prepare(
            "SELECT state, count(*), total(rows_total), total(rows_accepted), total(rows_rejected),
                    total(CASE WHEN rows_on_time IS NOT NULL THEN rows_accepted END), total(rows_on_time)
             FROM delivery
             WHERE tenant_id = ?1 AND processed_at >= ?2 AND processed_at < ?3 GROUP BY state ORDER BY state",
        )?;
        let mut rows = stmt.query(params![tenant, from, to])?;
        while let Some(r) = rows.next()? {
            let state: DeliveryState = r.get::<_, String>(0)?.parse()?;
            stats
                .deliveries
                .push((state, r.get::<_, i64>(1)?.unsigned_abs()));
            stats.rows += r.get::<_, f64>(2)? as u64;
            stats.accepted += r.get::<_, f64>(3)? as u64;
            stats.rejected += r.get::<_, f64>(4)? as u64;
            stats.measured += r.get::<_, f64>(5)? as u64;
            stats.on_time += r.get::<_, f64>(6)? as u64;
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

impl Ledger {
    /// `tenant`'s deliveries processed in `[from, to)`, oldest first, as the reports list
    /// them.
    pub(crate) fn deliveries_processed(
        &self,
        tenant: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<DeliveryOut>, LedgerError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {} FROM delivery v JOIN tenant t ON t.id = v.tenant_id
             WHERE v.tenant_id = ?1 AND v.processed_at >= ?2 AND v.processed_at < ?3
             ORDER BY v.id",
            delivery_columns()
        ))?;
        let rows = stmt.query_map(
            params![tenant, timestamp(from), timestamp(to)],
            delivery_out,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
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
        // Clients are counted per group: one client may have decisions with two providers.
        let municipalities: RefCell<Tally<String>> = RefCell::default();
        let providers: RefCell<Tally<(String, String)>> = RefCell::default();
        let (from, to) = (from.to_string(), to.to_string());
        read_ended(
            &self.conn,
            ("d.einddatum >= ?1 AND d.einddatum < ?2", "1"),
            &[&from, &to],
            |e, client, reason| {
                let code = e.gemeentecode.clone();
                municipalities.borrow_mut().ended(code, client, reason);
                let pair = (e.gemeentecode.clone(), e.agb.clone());
                providers.borrow_mut().ended(pair, client, reason);
            },
            |e, m| {
                m.count(&mut municipalities.borrow_mut(), &e.gemeentecode, &e.agb);
                let pair = (e.gemeentecode.clone(), e.agb.clone());
                m.count(&mut providers.borrow_mut(), &pair, &e.agb);
            },
        )?;
        Ok(Response {
            by_municipality: municipalities.into_inner().finish(),
            by_provider: providers.into_inner().finish(),
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, Utc};

    use super::*;
    use crate::config::{Tenant, TenantKind};
    use crate::ledger::{DecisionRow, MeasurementRow, NewFile, Recorded};

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        ledger: Ledger,
        files: usize,
    }

    impl Fixture {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let mut ledger = Ledger::open(&dir.path().join("l.sqlite")).unwrap();
            let tenant = |id: &str, kind, code: &str| Tenant {
                id: id.into(),
                kind,
                code: code.into(),
                name: id.into(),
                contacts: vec![],
                max_file_bytes: 1,
                quota_bytes: 1,
                decisions_from_messages: false,
                expect_delivery_days: None,
            };
            ledger
                .sync_tenants(
                    &[
                        tenant("zorg", TenantKind::Supplier, "87654321"),
                        tenant("town", TenantKind::Municipality, "0344"),
                        tenant("dorp", TenantKind::Municipality, "0307"),
                    ],
                    Utc::now(),
                )
                .unwrap();
            Self {
                _dir: dir,
                ledger,
                files: 0,
            }
        }

        /// Stores rows as one delivery of `tenant`, as processing would.
        fn deliver(&mut self, tenant: &str, store: impl FnOnce(&mut crate::ledger::RowSink<'_>)) {
            self.deliver_counted(tenant, 0, None, store);
        }

        /// As [`Self::deliver`], with `accepted` rows of which `on_time` came on time.
        fn deliver_counted(
            &mut self,
            tenant: &str,
            accepted: u64,
            on_time: Option<u64>,
            store: impl FnOnce(&mut crate::ledger::RowSink<'_>),
        ) {
            self.files += 1;
            let sha = format!("{:064x}", self.files);
            let name = format!("f{}", self.files);
            let file = NewFile {
                tenant,
                name: &name,
                size: 1,
                sha256: &sha,
                uploaded_by: None,
            };
            let Recorded::New { id, .. } = self.ledger.record_file(&file, Utc::now()).unwrap()
            else {
                panic!()
            };
            let claim = self.ledger.claim(id, Utc::now()).unwrap().unwrap();
            {
                let mut sink = claim.rows().unwrap();
                store(&mut sink);
            }
            let outcome = crate::ledger::Outcome {
                state: crate::ledger::DeliveryState::Processed,
                dataset: None,
                format: None,
                rows: accepted,
                accepted,
                rejected: 0,
                error: None,
                receipt: String::new(),
                rules: Default::default(),
                on_time,
            };
            claim.commit(&outcome, None).unwrap();
        }

        fn measurement(&mut self, nr: &str, pseudonym: &str, datum: &str) {
            let (nr, pseudonym, datum) = (nr.to_owned(), pseudonym.to_owned(), d(datum));
            self.deliver("zorg", move |sink| {
                sink.upsert_measurement(&MeasurementRow {
                    agb: "87654321",
                    metingnummer: &nr,
                    pseudonym: &pseudonym,
                    datum,
                    instrument: "CT",
                    respondent: 1,
                    score: Some(7.0),
                    status: None,
                })
                .unwrap();
            });
        }

        fn decision(&mut self, nr: &str, pseudonym: &str, einddatum: Option<&str>) {
            self.decision_of(("town", "0344"), nr, pseudonym, einddatum);
        }

        /// A decision of the municipality `(tenant, code)`.
        fn decision_of(
            &mut self,
            (tenant, code): (&str, &'static str),
            nr: &str,
            pseudonym: &str,
            einddatum: Option<&str>,
        ) {
            let (nr, pseudonym, end) = (nr.to_owned(), pseudonym.to_owned(), einddatum.map(d));
            self.deliver(tenant, move |sink| {
                sink.upsert_decision(&DecisionRow {
                    gemeentecode: code,
                    beschikkingnummer: &nr,
                    pseudonym: &pseudonym,
                    agb: "87654321",
                    productcategorie: "45",
                    productcode: "45A01",
                    ingangsdatum: d("2025-01-01"),
                    einddatum: end,
                    reden: None,
                })
                .unwrap();
            });
        }

        fn links(&self) -> Vec<(String, String)> {
            self.ledger
                .links("0344")
                .unwrap()
                .into_iter()
                .map(|l| (l.beschikkingnummer, l.metingnummer))
                .collect()
        }
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn links_follow_the_window_whatever_arrives_first_and_follow_corrections() {
        let mut f = Fixture::new();
        // Measurements first, the decision later: order does not matter.
        f.measurement("M-before", "P1", "2025-12-30");
        f.measurement("M-first-day", "P1", "2025-12-31");
        f.measurement("M-last-day", "P1", "2026-02-28");
        f.measurement("M-after", "P1", "2026-03-01");
        f.measurement("M-other-client", "P2", "2026-01-31");
        f.decision("B-1", "P1", Some("2026-01-31"));
        assert_eq!(
            f.links(),
            pairs(&[("B-1", "M-first-day"), ("B-1", "M-last-day")])
        );
        // A decision still running (no end date) links nothing yet...
        f.decision("B-2", "P2", None);
        assert_eq!(f.links().len(), 2);
        // ...until its end date arrives as a correction.
        f.decision("B-2", "P2", Some("2026-02-15"));
        assert_eq!(
            f.links(),
            pairs(&[
                ("B-1", "M-first-day"),
                ("B-1", "M-last-day"),
                ("B-2", "M-other-client")
            ])
        );
        // A corrected measurement date moves the link.
        f.measurement("M-after", "P1", "2026-02-01");
        assert_eq!(
            f.links(),
            pairs(&[
                ("B-1", "M-after"),
                ("B-1", "M-first-day"),
                ("B-1", "M-last-day"),
                ("B-2", "M-other-client")
            ])
        );
    }

    /// The quality report's share on time is over the deliveries whose count is known: one
    /// processed before it was counted (NULL) weighs on neither side.
    #[test]
    fn quality_stats_sum_on_time_over_the_deliveries_that_counted_it() {
        let mut f = Fixture::new();
        let from = Utc::now() - chrono::Duration::hours(1);
        f.deliver_counted("zorg", 30, Some(29), |_| {});
        f.deliver_counted("zorg", 5, Some(0), |_| {});
        f.deliver_counted("zorg", 100, None, |_| {});
        f.deliver_counted("town", 7, None, |_| {});
        let to = Utc::now() + chrono::Duration::hours(1);
        let zorg = f.ledger.quality_stats("zorg", from, to).unwrap();
        assert_eq!((zorg.accepted, zorg.measured, zorg.on_time), (135, 35, 29));
        let town = f.ledger.quality_stats("town", from, to).unwrap();
        assert_eq!((town.accepted, town.measured, town.on_time), (7, 0, 0));
    }

    #[test]
    fn figures_per_quarter_count_response_means_and_dropout() {
        let mut f = Fixture::new();
        f.decision("B-1", "P1", Some("2026-08-15"));
        f.decision("B-2", "P2", Some("2026-09-30"));
        f.decision("B-3", "P3", Some("2026-12-01"));
        f.decision("B-4", "P4", None);
        f.measurement("M-1", "P1", "2026-08-01");
        f.measurement("M-2", "P1", "2026-09-10");
        f.measurement("M-3", "P2", "2026-01-01");
        let figures = f.ledger.indicators("0344").unwrap();
        let q: Vec<(&str, u64, u64, u64, u64)> = figures
            .iter()
            .map(|(period, f)| (period.as_str(), f.ended, f.clients, f.responded, f.ct.count))
            .collect();
        assert_eq!(
            q,
            [("2026-Q3", 2, 2, 1, 2), ("2026-Q4", 1, 1, 0, 0)],
            "B-4 still runs; M-3 is outside its window; an empty status is complete"
        );
        assert_eq!(figures[0].1.ct.sum, 14.0);
    }

    #[test]
    fn a_providers_figures_over_all_municipalities_count_each_ones_decisions() {
        let mut f = Fixture::new();
        // The same decision number in two municipalities, for two clients, both measured.
        f.decision_of(("town", "0344"), "1001", "P1", Some("2026-08-15"));
        f.decision_of(("dorp", "0307"), "1001", "P2", Some("2026-08-20"));
        f.measurement("M-1", "P1", "2026-08-10");
        f.measurement("M-2", "P2", "2026-08-10");
        let figures = f.ledger.provider_figures().unwrap();
        let provider = &figures["87654321"];
        let (quarter, all) = &provider.overall[0];
        assert_eq!(quarter, "2026-Q3");
        assert_eq!((all.ended, all.responded, all.measurements), (2, 2, 2));
        let per: Vec<(&str, u64)> = provider
            .per_municipality
            .iter()
            .map(|((_, code), f)| (code.as_str(), f.responded))
            .collect();
        assert_eq!(per, [("0307", 1), ("0344", 1)]);
    }
}
