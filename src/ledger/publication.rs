//! Publication's side of the ledger: which rows a municipality has not yet received, and the
//! record of a bundle together with the versions of the rows it carried.
//!
//! A [`Publication`] is one IMMEDIATE transaction: the rows are read, written into the zip
//! and recorded as published under one lock, so no version can slip in between; and a
//! row's publication commits with the bundle's record, or neither does.

use chrono::{DateTime, Utc};
use rusqlite::{Transaction, params};

use super::links::LINK_RULE;
use super::{Ledger, LedgerError, timestamp};

/// A decision as it goes into a bundle (identifiers still unhashed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionOut {
    pub gemeentecode: String,
    pub beschikkingnummer: String,
    pub pseudonym: String,
    pub agb: String,
    pub productcategorie: String,
    pub productcode: String,
    pub ingangsdatum: String,
    pub einddatum: Option<String>,
    pub reden: Option<String>,
}

/// A measurement as it goes into a bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasurementOut {
    pub agb: String,
    pub metingnummer: String,
    pub pseudonym: String,
    pub datum: String,
    pub instrument: String,
    pub respondent: i64,
    pub score: Option<f64>,
    pub status: Option<String>,
}

/// A link between a decision and a measurement, as it goes into a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkOut {
    pub beschikkingnummer: String,
    pub agb: String,
    pub metingnummer: String,
}

/// A delivery as the quality file (`Kwaliteit.csv`) shows it: who sent what, when, and
/// how it fared. The counts are the whole file's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOut {
    pub id: i64,
    /// The sender's code: an AGB code, or the municipality's own CBS code.
    pub sender: String,
    pub dataset: Option<String>,
    pub received_at: DateTime<Utc>,
    pub processed_at: DateTime<Utc>,
    /// `processed`, `rejected`, `quarantined` or `duplicate`.
    pub state: super::DeliveryState,
    pub rows: Option<i64>,
    pub accepted: Option<i64>,
    pub rejected: Option<i64>,
    /// The most frequent problems, as (rule, count), most first.
    pub reasons: Vec<(String, i64)>,
}

/// A bundle to record.
pub struct NewBundle<'a> {
    pub municipality: &'a str,
    pub name: &'a str,
    pub kind: BundleKind,
    pub rows: &'a serde_json::Value,
    pub size_bytes: u64,
    pub sha256: &'a str,
}

/// What a bundle carries. Stored by name in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BundleKind {
    /// The weekly bundle: what the municipality has not received yet.
    Incremental,
    /// Everything from a date on, on request; later weekly bundles are not affected.
    Full,
}

impl BundleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Incremental => "incremental",
            Self::Full => "full",
        }
    }
}

impl rusqlite::types::FromSql for BundleKind {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        match value.as_str()? {
            "incremental" => Ok(Self::Incremental),
            "full" => Ok(Self::Full),
            other => Err(rusqlite::types::FromSqlError::Other(
                format!("unknown bundle kind {other:?}").into(),
            )),
        }
    }
}

/// A recorded bundle that has not reached its outbox yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnplacedBundle {
    pub id: i64,
    pub municipality: String,
    pub name: String,
}

// The rows of a bundle: with ?4 NULL (incremental), those the municipality has not
// received in their current version; with ?4 a date (full), everything from that date on.
// Its own decisions, and the measurements linked to them.
const NEW_DECISIONS: &str = "
    FROM decision d
    LEFT JOIN published p ON p.municipality = ?1 AND p.kind = 'd' AND p.k1 = d.gemeentecode AND p.k2 = d.beschikkingnummer
    WHERE d.gemeentecode = ?2 AND CASE WHEN ?4 IS NULL THEN p.changed_at IS NULL OR p.changed_at < d.changed_at
                                       ELSE d.einddatum IS NULL OR d.einddatum >= ?4 END";

fn new_measurements() -> String {
    format!(
        "
    FROM measurement m
    LEFT JOIN published p ON p.municipality = ?1 AND p.kind = 'm' AND p.k1 = m.agb AND p.k2 = m.metingnummer
    WHERE CASE WHEN ?4 IS NULL THEN p.changed_at IS NULL OR p.changed_at < m.changed_at ELSE m.datum >= ?4 END
      AND EXISTS (SELECT 1 FROM decision d WHERE d.gemeentecode = ?2 AND {LINK_RULE})"
    )
}

// The deliveries the quality file reports: every finished delivery of the municipality
// itself and of the care providers its decisions name (by the sending tenant's code), not
// yet reported to it (incremental) or received from ?4 on (full).
const NEW_DELIVERIES: &str = "
    FROM delivery v
    JOIN tenant t ON t.id = v.tenant_id
    LEFT JOIN published_delivery p ON p.municipality = ?1 AND p.delivery_id = v.id
    WHERE v.processed_at IS NOT NULL
      AND (v.tenant_id = ?1 OR (t.kind = 'supplier' AND t.code IN (SELECT agb FROM decision WHERE gemeentecode = ?2)))
      AND CASE WHEN ?4 IS NULL THEN p.delivery_id IS NULL ELSE v.received_at >= ?4 END";

/// How many rules `Kwaliteit.csv` names per delivery.
const TOP_REASONS: usize = 3;

/// One publication under the write lock.
pub struct Publication<'a> {
    tx: Transaction<'a>,
}

impl Ledger {
    /// Takes the write lock for a publication.
    pub fn begin_publication(&mut self) -> Result<Publication<'_>, LedgerError> {
        Ok(Publication {
            tx: self.write_tx()?,
        })
    }

    /// Bundles recorded but not yet moved into their outbox (a publication cut off there).
    pub fn unplaced_bundles(&self) -> Result<Vec<UnplacedBundle>, LedgerError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, municipality, name FROM bundle WHERE placed_at IS NULL ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(UnplacedBundle {
                id: r.get(0)?,
                municipality: r.get(1)?,
                name: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Whether a bundle of this name was recorded (names are unique, also once deleted).
    pub fn bundle_recorded(&self, name: &str) -> Result<bool, LedgerError> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM bundle WHERE name = ?1)",
            [name],
            |r| r.get(0),
        )?)
    }

    pub fn bundle_placed(&mut self, id: i64, at: DateTime<Utc>) -> Result<(), LedgerError> {
        self.conn.execute(
            "UPDATE bundle SET placed_at = ?2 WHERE id = ?1",
            params![id, timestamp(at)],
        )?;
        Ok(())
    }
}

impl Publication<'_> {
    /// Runs `sql` for the municipality (`?1` its tenant id, `?2` its code, `?4` the full
    /// bundle's first date or NULL) and calls `f` with its rows, each made by `row`.
    fn stream<R, T>(
        &self,
        sql: &str,
        (municipality, code, since): (&str, &str, Option<&str>),
        row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<R>,
        f: impl FnOnce(&mut dyn Iterator<Item = Result<R, LedgerError>>) -> T,
    ) -> Result<T, LedgerError> {
        let mut stmt = self.tx.prepare(sql)?;
        let mut rows = stmt
            .query_map(params![municipality, code, None::<i64>, since], row)?
            .map(|r| r.map_err(LedgerError::from));
        Ok(f(&mut rows))
    }

    /// Calls `f` with the municipality's decisions it has not received (or, with `since`,
    /// all from that date on).
    pub fn new_decisions<T>(
        &self,
        municipality: &str,
        code: &str,
        since: Option<&str>,
        f: impl FnOnce(&mut dyn Iterator<Item = Result<DecisionOut, LedgerError>>) -> T,
    ) -> Result<T, LedgerError> {
        self.stream(
            &format!(
                "SELECT d.gemeentecode, d.beschikkingnummer, d.pseudonym, d.agb, d.productcategorie, d.productcode,
                        d.ingangsdatum, d.einddatum, d.reden {NEW_DECISIONS} ORDER BY d.beschikkingnummer"
            ),
            (municipality, code, since),
            |r| {
                Ok(DecisionOut {
                    gemeentecode: r.get(0)?,
                    beschikkingnummer: r.get(1)?,
                    pseudonym: r.get(2)?,
                    agb: r.get(3)?,
                    productcategorie: r.get(4)?,
                    productcode: r.get(5)?,
                    ingangsdatum: r.get(6)?,
                    einddatum: r.get(7)?,
                    reden: r.get(8)?,
                })
            },
            f,
        )
    }

    /// Calls `f` with the measurements linked to the municipality that it has not received.
    pub fn new_measurements<T>(
        &self,
        municipality: &str,
        code: &str,
        since: Option<&str>,
        f: impl FnOnce(&mut dyn Iterator<Item = Result<MeasurementOut, LedgerError>>) -> T,
    ) -> Result<T, LedgerError> {
        self.stream(
            &format!(
                "SELECT m.agb, m.metingnummer, m.pseudonym, m.datum, m.instrument, m.respondent, m.score, m.status
                 {} ORDER BY m.agb, m.metingnummer",
                new_measurements()
            ),
            (municipality, code, since),
            |r| {
                Ok(MeasurementOut {
                    agb: r.get(0)?,
                    metingnummer: r.get(1)?,
                    pseudonym: r.get(2)?,
                    datum: r.get(3)?,
                    instrument: r.get(4)?,
                    respondent: r.get(5)?,
                    score: r.get(6)?,
                    status: r.get(7)?,
                })
            },
            f,
        )
    }

    /// Calls `f` with the links in which this bundle carries the decision or the measurement.
    pub fn new_links<T>(
        &self,
        municipality: &str,
        code: &str,
        since: Option<&str>,
        f: impl FnOnce(&mut dyn Iterator<Item = Result<LinkOut, LedgerError>>) -> T,
    ) -> Result<T, LedgerError> {
        self.stream(
            &format!(
            "SELECT d.beschikkingnummer, m.agb, m.metingnummer
             FROM measurement m CROSS JOIN decision d ON {LINK_RULE}
             LEFT JOIN published pd ON pd.municipality = ?1 AND pd.kind = 'd' AND pd.k1 = d.gemeentecode AND pd.k2 = d.beschikkingnummer
             LEFT JOIN published pm ON pm.municipality = ?1 AND pm.kind = 'm' AND pm.k1 = m.agb AND pm.k2 = m.metingnummer
             WHERE d.gemeentecode = ?2
               AND CASE WHEN ?4 IS NULL
                        THEN pd.changed_at IS NULL OR pd.changed_at < d.changed_at OR pm.changed_at IS NULL OR pm.changed_at < m.changed_at
                        ELSE m.datum >= ?4 AND (d.einddatum IS NULL OR d.einddatum >= ?4) END
             ORDER BY m.agb, m.metingnummer, d.beschikkingnummer"
            ),
            (municipality, code, since),
            |r| {
                Ok(LinkOut {
                    beschikkingnummer: r.get(0)?,
                    agb: r.get(1)?,
                    metingnummer: r.get(2)?,
                })
            },
            f,
        )
    }

    /// Calls `f` with the deliveries the municipality's quality file has not reported (or,
    /// with `since`, all received from that date on), oldest first.
    pub fn new_deliveries<T>(
        &self,
        municipality: &str,
        code: &str,
        since: Option<&str>,
        f: impl FnOnce(&mut dyn Iterator<Item = Result<DeliveryOut, LedgerError>>) -> T,
    ) -> Result<T, LedgerError> {
        self.stream(
            &format!(
                // Rule names hold no space or newline (they are identifiers like
                // `date.future`), so "rule count" lines split back unambiguously.
                "SELECT v.id, t.code, v.dataset, v.received_at, v.processed_at, v.state,
                        v.rows_total, v.rows_accepted, v.rows_rejected,
                        (SELECT group_concat(rule || ' ' || count, char(10) ORDER BY count DESC, rule)
                         FROM (SELECT rule, count FROM delivery_rule WHERE delivery_id = v.id
                               ORDER BY count DESC, rule LIMIT {TOP_REASONS}))
                 {NEW_DELIVERIES} ORDER BY v.id"
            ),
            (municipality, code, since),
            |r| {
                let reasons: Option<String> = r.get(9)?;
                Ok(DeliveryOut {
                    id: r.get(0)?,
                    sender: r.get(1)?,
                    dataset: r.get(2)?,
                    received_at: r.get(3)?,
                    processed_at: r.get(4)?,
                    state: r.get(5)?,
                    rows: r.get(6)?,
                    accepted: r.get(7)?,
                    rejected: r.get(8)?,
                    reasons: reasons
                        .iter()
                        .flat_map(|s| s.lines())
                        .filter_map(|l| l.rsplit_once(' '))
                        .map(|(rule, n)| (rule.to_owned(), n.parse().unwrap_or(0)))
                        .collect(),
                })
            },
            f,
        )
    }

    /// The municipality's figures per period, as of now (see `Ledger::indicators`).
    pub fn indicators(&self, code: &str) -> Result<Vec<super::Indicators>, LedgerError> {
        super::links::indicators(&self.tx, code)
    }

    /// Records the bundle and, as published in it, every row it carried (and queues `mail`
    /// with its Message-ID); then commits.
    pub fn commit(
        self,
        bundle: &NewBundle<'_>,
        municipality_code: &str,
        mail: Option<(&super::NewMail<'_>, &str)>,
        now: DateTime<Utc>,
    ) -> Result<i64, LedgerError> {
        let at = timestamp(now);
        if let Some((mail, message_id)) = mail {
            super::mail::insert(&self.tx, mail, message_id, &at)?;
        }
        self.tx.execute(
            "INSERT INTO bundle (municipality, name, kind, created_at, rows, size_bytes, sha256)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                bundle.municipality,
                bundle.name,
                bundle.kind.as_str(),
                at,
                bundle.rows.to_string(),
                i64::try_from(bundle.size_bytes).unwrap_or(i64::MAX),
                bundle.sha256
            ],
        )?;
        let id = self.tx.last_insert_rowid();
        if bundle.kind == BundleKind::Full {
            // A full bundle repeats what was sent; the incremental record stays as it is.
            self.tx.commit()?;
            return Ok(id);
        }
        // The same selections the bundle was written from, under the same lock.
        self.tx.execute(
            &format!(
                "INSERT OR REPLACE INTO published (municipality, kind, k1, k2, changed_at, bundle_id)
                 SELECT ?1, 'm', m.agb, m.metingnummer, m.changed_at, ?3 {}",
                new_measurements()
            ),
            params![bundle.municipality, municipality_code, id, None::<&str>],
        )?;
        self.tx.execute(
            &format!(
                "INSERT OR REPLACE INTO published (municipality, kind, k1, k2, changed_at, bundle_id)
                 SELECT ?1, 'd', d.gemeentecode, d.beschikkingnummer, d.changed_at, ?3 {NEW_DECISIONS}"
            ),
            params![bundle.municipality, municipality_code, id, None::<&str>],
        )?;
        self.tx.execute(
            &format!(
                "INSERT INTO published_delivery (municipality, delivery_id, bundle_id)
                 SELECT ?1, v.id, ?3 {NEW_DELIVERIES}"
            ),
            params![bundle.municipality, municipality_code, id, None::<&str>],
        )?;
        self.tx.commit()?;
        Ok(id)
    }
}

/// A bundle as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BundleStatus {
    pub municipality: String,
    pub name: String,
    pub kind: BundleKind,
    pub created_at: String,
    /// Rows per CSV, as JSON.
    pub rows: serde_json::Value,
    /// Read to the end over SFTP at least once.
    pub downloaded: bool,
    pub deleted_at: Option<String>,
}

impl Ledger {
    /// Every bundle, newest first, with whether it was downloaded whole.
    pub fn bundles(&self) -> Result<Vec<BundleStatus>, LedgerError> {
        let mut stmt = self.conn.prepare(
            "SELECT b.municipality, b.name, b.created_at, b.rows, b.deleted_at,
                    b.kind, EXISTS (SELECT 1 FROM audit a WHERE a.action = 'sftp.download' AND a.tenant_id = b.municipality
                            AND a.subject = 'outbox/' || b.name AND json_extract(a.detail, '$.complete') = 1)
             FROM bundle b ORDER BY b.id DESC",
        )?;
        let rows = stmt.query_map([], |r| {
            let rows: String = r.get(3)?;
            Ok(BundleStatus {
                municipality: r.get(0)?,
                name: r.get(1)?,
                created_at: r.get(2)?,
                rows: serde_json::from_str(&rows).unwrap_or_default(),
                deleted_at: r.get(4)?,
                kind: r.get(5)?,
                downloaded: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl Ledger {
    /// Asks for a full bundle from `since` on at `municipality`'s next publication (an
    /// earlier date in a second request wins) and, if none was pending, queues `ack` (with
    /// its Message-ID) in the same transaction. Returns whether none was pending.
    pub fn request_full(
        &mut self,
        municipality: &str,
        since: chrono::NaiveDate,
        ack: Option<(&super::NewMail<'_>, &str)>,
        now: DateTime<Utc>,
    ) -> Result<bool, LedgerError> {
        let at = timestamp(now);
        let tx = self.write_tx()?;
        let pending: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM full_request WHERE municipality = ?1)",
            [municipality],
            |r| r.get(0),
        )?;
        tx.execute(
            "INSERT INTO full_request (municipality, since, requested_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (municipality) DO UPDATE SET since = min(since, ?2), requested_at = ?3",
            params![municipality, since.format("%Y-%m-%d").to_string(), at],
        )?;
        if let Some((mail, message_id)) = ack.filter(|_| !pending) {
            super::mail::insert(&tx, mail, message_id, &at)?;
        }
        tx.commit()?;
        Ok(!pending)
    }

    /// The full-bundle request of `municipality` pending since `at` or before, if any.
    pub fn full_request(
        &self,
        municipality: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<chrono::NaiveDate>, LedgerError> {
        let since: Option<String> = rusqlite::OptionalExtension::optional(self.conn.query_row(
            "SELECT since FROM full_request WHERE municipality = ?1 AND requested_at <= ?2",
            params![municipality, timestamp(at)],
            |r| r.get(0),
        ))?;
        Ok(since.and_then(|s| chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok()))
    }

    /// Clears the request of `municipality` once its bundle is out, unless it was asked
    /// for again after `at` (then the next publication serves it).
    pub fn full_request_served(
        &mut self,
        municipality: &str,
        at: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        self.conn.execute(
            "DELETE FROM full_request WHERE municipality = ?1 AND requested_at <= ?2",
            params![municipality, timestamp(at)],
        )?;
        Ok(())
    }
}
