//! Links between measurements and decisions, read from the current rows (see `link` for
//! the rule). Nothing is stored about a link, so arrival order and corrections cannot make
//! one stale.

use rusqlite::params;

use super::{Ledger, LedgerError};

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
        let mut stmt = self.conn.prepare(
            // Measurements drive the join (see `Publication::new_links`); sorting a
            // municipality's links is the caller's wish, and SQLite sorts on disk if need be.
            "SELECT d.beschikkingnummer, m.agb, m.metingnummer
             FROM measurement m
             CROSS JOIN decision d ON d.pseudonym = m.pseudonym AND d.agb = m.agb
                               AND m.datum BETWEEN d.window_start AND d.window_end
             WHERE d.gemeentecode = ?1
             ORDER BY d.beschikkingnummer, m.agb, m.metingnummer",
        )?;
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
            };
            ledger
                .sync_tenants(
                    &[
                        tenant("zorg", TenantKind::Supplier, "87654321"),
                        tenant("town", TenantKind::Municipality, "0344"),
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
            self.files += 1;
            let sha = format!("{:064x}", self.files);
            let name = format!("f{}", self.files);
            let file = NewFile {
                tenant,
                name: &name,
                size: 1,
                sha256: &sha,
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
                rows: 0,
                accepted: 0,
                rejected: 0,
                error: None,
                receipt: String::new(),
                rules: Default::default(),
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
                    score: 7.0,
                    status: None,
                })
                .unwrap();
            });
        }

        fn decision(&mut self, nr: &str, pseudonym: &str, einddatum: Option<&str>) {
            let (nr, pseudonym, end) = (nr.to_owned(), pseudonym.to_owned(), einddatum.map(d));
            self.deliver("town", move |sink| {
                sink.upsert_decision(&DecisionRow {
                    gemeentecode: "0344",
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
}
