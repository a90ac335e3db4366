//! A publication: which rows a municipality has not yet received, and, with the bundle's
//! record, which version of each it got (`published`) and which deliveries its quality file
//! reported (`published_delivery`).
//!
//! A [`Publication`] reads from one snapshot of the ledger (a read transaction: intake and
//! processing write on meanwhile; its figures are read from the same snapshot on a second
//! connection, beside the rows), and for a weekly bundle notes, as it starts, which version
//! of each row and which deliveries that snapshot gives it (temporary tables of its own
//! connection). The write lock is held only while the two snapshots begin and for the
//! commit, which records the bundle and exactly those versions: a row changed after the
//! snapshot was not in the zip in that version, so it comes again in the next bundle. Only one publication runs at a time
//! (`layout::OutboxLock`), so nothing else writes `published` in between; and a row's
//! publication commits with the bundle's record, or neither does.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, Transaction, TransactionBehavior, params};

use super::NewBundle;
use crate::ledger::figures::{LINK_RULE, providers_of};
use crate::ledger::{DeliveryState, Indicators, Ledger, LedgerError, NewMail, timestamp};

/// A decision as it goes into a bundle (identifiers still unhashed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecisionOut {
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
pub(crate) struct MeasurementOut {
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
pub(crate) struct LinkOut {
    pub beschikkingnummer: String,
    pub agb: String,
    pub metingnummer: String,
}

/// A delivery as the quality file (`Kwaliteit.csv`) shows it: who sent what, when, and
/// how it fared. The counts are the whole file's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeliveryOut {
    pub id: i64,
    /// The sender's code: an AGB code, or the municipality's own CBS code.
    pub sender: String,
    pub dataset: Option<String>,
    pub received_at: DateTime<Utc>,
    pub processed_at: DateTime<Utc>,
    /// `processed`, `rejected`, `quarantined` or `duplicate`.
    pub state: DeliveryState,
    pub rows: Option<i64>,
    pub accepted: Option<i64>,
    pub rejected: Option<i64>,
    /// The most frequent problems, as (rule, count), most first.
    pub reasons: Vec<(String, i64)>,
    /// Accepted measurement rows that came on time (`figures::OnTime`); `None` for
    /// decisions, and for deliveries processed before it was counted.
    pub on_time: Option<i64>,
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
    WHERE m.agb IN ({providers})
      AND CASE WHEN ?4 IS NULL THEN p.changed_at IS NULL OR p.changed_at < m.changed_at ELSE m.datum >= ?4 END
      AND EXISTS (SELECT 1 FROM decision d WHERE d.gemeentecode = ?2 AND {LINK_RULE})",
        providers = providers_of("?2"),
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

/// The columns of a [`DeliveryOut`] from `delivery v JOIN tenant t` (the sender), as
/// [`delivery_out`] reads them. Rule names hold no space or newline (they are identifiers
/// like `date.future`), so "rule count" lines split back unambiguously.
pub(in crate::ledger) fn delivery_columns() -> String {
    format!(
        "v.id, t.code, v.dataset, v.received_at, v.processed_at, v.state,
         v.rows_total, v.rows_accepted, v.rows_rejected,
         (SELECT group_concat(rule || ' ' || count, char(10) ORDER BY count DESC, rule)
          FROM (SELECT rule, count FROM delivery_rule WHERE delivery_id = v.id
                ORDER BY count DESC, rule LIMIT {TOP_REASONS})),
         v.rows_on_time"
    )
}

/// A [`DeliveryOut`] from a row of [`delivery_columns`].
pub(in crate::ledger) fn delivery_out(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeliveryOut> {
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
        on_time: r.get(10)?,
    })
}

/// One publication: a snapshot of the ledger to read the bundle from, and the
/// municipality and scope it is for.
pub struct Publication<'a> {
    conn: &'a Connection,
    snapshot: Transaction<'a>,
    /// The figures, read from the same snapshot on a connection and thread of their own
    /// while the rows are written; `None` if they could not start (then read at the end).
    figures: Option<FiguresReader>,
    municipality: String,
    code: String,
    /// A full bundle's first date (`yyyy-mm-dd`); `None` for the weekly bundle.
    since: Option<String>,
}

/// The figures of a municipality, as a publication reads them.
type Read = Result<(Vec<Indicators>, Vec<crate::ledger::GroupIndicators>), LedgerError>;

/// The thread that reads a publication's figures (a third of a large one's work) beside
/// it. Dropped unread (the publication failed), it is interrupted and waited for.
struct FiguresReader {
    thread: Option<std::thread::JoinHandle<Read>>,
    interrupt: rusqlite::InterruptHandle,
}

impl FiguresReader {
    /// Starts reading the figures of the municipality with CBS code `code` on `reader`,
    /// which is inside a read transaction on the publication's snapshot.
    fn start(reader: Connection, code: String) -> std::io::Result<Self> {
        let interrupt = reader.get_interrupt_handle();
        let thread = std::thread::Builder::new()
            .name("bundle-figures".into())
            .spawn(move || crate::ledger::figures::figures(&reader, &code))?;
        Ok(Self {
            thread: Some(thread),
            interrupt,
        })
    }

    fn read(mut self) -> Read {
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(read)) => read,
            _ => Err(LedgerError::Corrupt {
                what: "figures thread",
                value: "panicked".into(),
            }),
        }
    }
}

impl Drop for FiguresReader {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.interrupt.interrupt();
            let _ = thread.join();
        }
    }
}

/// A second read-only connection to the ledger of `conn`, inside a read transaction on the
/// same snapshot as the one `start` begins on `conn`: both begin while a third connection
/// holds the write lock, so no commit can come between them. The lock is held for those
/// two reads only.
fn twin_snapshot<'c>(
    conn: &'c Connection,
    start: impl FnOnce(&'c Connection) -> Result<Transaction<'c>, LedgerError>,
) -> Result<(Transaction<'c>, Option<Connection>), LedgerError> {
    let path = conn.path().filter(|p| !p.is_empty()).map(str::to_owned);
    let Some(path) = path else {
        return Ok((start(conn)?, None));
    };
    let open = |flags| -> rusqlite::Result<Connection> {
        let c = Connection::open_with_flags(&path, flags)?;
        c.busy_timeout(crate::ledger::BUSY_TIMEOUT)?;
        // The figures seek a decision per measurement: with SQLite's default 2 MiB cache the
        // decision index is read from the file again and again (a quarter of their time).
        c.pragma_update(None, "cache_size", -16 * 1024)?;
        // And the table is read once through: from a mapping, not copied by read calls.
        c.pragma_update(None, "mmap_size", 1i64 << 30)?;
        Ok(c)
    };
    let lock = open(rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    let twin = open(
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    lock.execute_batch("BEGIN IMMEDIATE")?;
    // A read transaction takes its snapshot at its first read.
    let first_read = "SELECT count(*) FROM sqlite_schema";
    let snapshot = start(conn)?;
    snapshot.query_row(first_read, [], |_| Ok(()))?;
    twin.execute_batch("BEGIN")?;
    twin.query_row(first_read, [], |_| Ok(()))?;
    lock.execute_batch("ROLLBACK")?;
    Ok((snapshot, Some(twin)))
}

/// The temporary tables in which a weekly bundle notes what it carries: rows as `published`
/// keys them, and deliveries. Emptied at each start: a publication that failed leaves them
/// behind on its connection.
const NOTED: &str = "
    CREATE TEMP TABLE IF NOT EXISTS publishing (
        kind TEXT NOT NULL, k1 TEXT NOT NULL, k2 TEXT NOT NULL, changed_at TEXT NOT NULL);
    CREATE TEMP TABLE IF NOT EXISTS publishing_delivery (delivery_id INTEGER NOT NULL);
    DELETE FROM temp.publishing;
    DELETE FROM temp.publishing_delivery;";

impl Ledger {
    /// Starts a publication for the municipality with tenant id `municipality` and CBS code
    /// `code`: weekly, or with `since` (`yyyy-mm-dd`) a full bundle of everything from then
    /// on. It holds the write lock only while its snapshots begin (see `twin_snapshot`),
    /// and reads the figures beside the rows.
    pub(crate) fn begin_publication(
        &mut self,
        municipality: &str,
        code: &str,
        since: Option<&str>,
    ) -> Result<Publication<'_>, LedgerError> {
        let conn = &self.conn;
        let (snapshot, twin) = twin_snapshot(conn, |conn| {
            Ok(Transaction::new_unchecked(
                conn,
                TransactionBehavior::Deferred,
            )?)
        })?;
        let figures = twin.and_then(|twin| match FiguresReader::start(twin, code.to_owned()) {
            Ok(reader) => Some(reader),
            Err(e) => {
                tracing::debug!(error = %e, "figures read after the rows, not beside them");
                None
            }
        });
        let publication = Publication {
            conn,
            snapshot,
            figures,
            municipality: municipality.to_owned(),
            code: code.to_owned(),
            since: since.map(str::to_owned),
        };
        if since.is_none() {
            publication.note()?;
        }
        Ok(publication)
    }
}

impl Publication<'_> {
    /// The SQL parameters of every selection: `?1` the tenant id, `?2` the CBS code, `?4`
    /// the full bundle's first date or NULL.
    fn scope(&self) -> (&str, &str, Option<&str>) {
        (&self.municipality, &self.code, self.since.as_deref())
    }

    /// Notes what the weekly bundle carries, from the snapshot: the same selections it is
    /// then written from, in the same read transaction.
    fn note(&self) -> Result<(), LedgerError> {
        let (municipality, code, since) = self.scope();
        let params = params![municipality, code, None::<i64>, since];
        self.snapshot.execute_batch(NOTED)?;
        self.snapshot.execute(
            &format!(
                "INSERT INTO temp.publishing (kind, k1, k2, changed_at)
                 SELECT 'd', d.gemeentecode, d.beschikkingnummer, d.changed_at {NEW_DECISIONS}"
            ),
            params,
        )?;
        self.snapshot.execute(
            &format!(
                "INSERT INTO temp.publishing (kind, k1, k2, changed_at)
                 SELECT 'm', m.agb, m.metingnummer, m.changed_at {}",
                new_measurements()
            ),
            params,
        )?;
        self.snapshot.execute(
            &format!(
                "INSERT INTO temp.publishing_delivery (delivery_id) SELECT v.id {NEW_DELIVERIES}"
            ),
            params,
        )?;
        Ok(())
    }

    /// Runs `sql` for the municipality (see [`Self::scope`]) and calls `f` with its rows,
    /// each made by `row`.
    fn stream<R, T>(
        &self,
        sql: &str,
        row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<R>,
        f: impl FnOnce(&mut dyn Iterator<Item = Result<R, LedgerError>>) -> T,
    ) -> Result<T, LedgerError> {
        let (municipality, code, since) = self.scope();
        let mut stmt = self.snapshot.prepare(sql)?;
        let mut rows = stmt
            .query_map(params![municipality, code, None::<i64>, since], row)?
            .map(|r| r.map_err(LedgerError::from));
        Ok(f(&mut rows))
    }

    /// Calls `f` with the municipality's decisions it has not received (or, with `since`,
    /// all from that date on).
    pub(crate) fn new_decisions<T>(
        &self,
        f: impl FnOnce(&mut dyn Iterator<Item = Result<DecisionOut, LedgerError>>) -> T,
    ) -> Result<T, LedgerError> {
        self.stream(
            &format!(
                "SELECT d.gemeentecode, d.beschikkingnummer, d.pseudonym, d.agb, d.productcategorie, d.productcode,
                        d.ingangsdatum, d.einddatum, d.reden {NEW_DECISIONS} ORDER BY d.beschikkingnummer"
            ),
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
    pub(crate) fn new_measurements<T>(
        &self,
        f: impl FnOnce(&mut dyn Iterator<Item = Result<MeasurementOut, LedgerError>>) -> T,
    ) -> Result<T, LedgerError> {
        self.stream(
            &format!(
                "SELECT m.agb, m.metingnummer, m.pseudonym, m.datum, m.instrument, m.respondent, m.score, m.status
                 {} ORDER BY m.agb, m.metingnummer",
                new_measurements()
            ),
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
    pub(crate) fn new_links<T>(
        &self,
        f: impl FnOnce(&mut dyn Iterator<Item = Result<LinkOut, LedgerError>>) -> T,
    ) -> Result<T, LedgerError> {
        self.stream(
            &format!(
            "SELECT d.beschikkingnummer, m.agb, m.metingnummer
             FROM measurement m CROSS JOIN decision d ON {LINK_RULE}
             LEFT JOIN published pd ON pd.municipality = ?1 AND pd.kind = 'd' AND pd.k1 = d.gemeentecode AND pd.k2 = d.beschikkingnummer
             LEFT JOIN published pm ON pm.municipality = ?1 AND pm.kind = 'm' AND pm.k1 = m.agb AND pm.k2 = m.metingnummer
             WHERE m.agb IN ({providers}) AND d.gemeentecode = ?2
               AND CASE WHEN ?4 IS NULL
                        THEN pd.changed_at IS NULL OR pd.changed_at < d.changed_at OR pm.changed_at IS NULL OR pm.changed_at < m.changed_at
                        ELSE m.datum >= ?4 AND (d.einddatum IS NULL OR d.einddatum >= ?4) END
             ORDER BY m.agb, m.metingnummer, d.beschikkingnummer",
            providers = providers_of("?2"),
            ),
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
    pub(crate) fn new_deliveries<T>(
        &self,
        f: impl FnOnce(&mut dyn Iterator<Item = Result<DeliveryOut, LedgerError>>) -> T,
    ) -> Result<T, LedgerError> {
        self.stream(
            &format!(
                "SELECT {} {NEW_DELIVERIES} ORDER BY v.id",
                delivery_columns()
            ),
            delivery_out,
            f,
        )
    }

    /// The figures per quarter, and per quarter and provider, of the municipality, from one
    /// pass over its rows in the publication's snapshot.
    pub(crate) fn figures(&mut self) -> Read {
        match self.figures.take() {
            Some(reader) => reader.read(),
            None => crate::ledger::figures::figures(&self.snapshot, &self.code),
        }
    }

    /// Ends the snapshot, then, under the write lock, records the bundle (holding `mail`,
    /// with its Message-ID, until it is placed) and, for a weekly bundle, every row version
    /// and delivery it carried as published in it; returns the bundle's id.
    pub fn commit(
        self,
        bundle: &NewBundle<'_>,
        mail: Option<(&NewMail<'_>, &str)>,
        now: DateTime<Utc>,
    ) -> Result<i64, LedgerError> {
        let Self {
            conn,
            snapshot,
            municipality,
            since,
            ..
        } = self;
        // Committing a read ends it; what it noted stays in this connection's temp tables.
        snapshot.commit()?;
        let at = timestamp(now);
        let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
        let id = super::insert(&tx, bundle, mail, &at)?;
        // A full bundle repeats what was sent; the weekly record stays as it is.
        let weekly = since.is_none();
        if weekly {
            tx.execute(
                "INSERT OR REPLACE INTO published (municipality, kind, k1, k2, changed_at, bundle_id)
                 SELECT ?1, kind, k1, k2, changed_at, ?2 FROM temp.publishing",
                params![municipality, id],
            )?;
            tx.execute(
                "INSERT INTO published_delivery (municipality, delivery_id, bundle_id)
                 SELECT ?1, delivery_id, ?2 FROM temp.publishing_delivery",
                params![municipality, id],
            )?;
        }
        tx.commit()?;
        if weekly {
            conn.execute_batch(
                "DELETE FROM temp.publishing; DELETE FROM temp.publishing_delivery;",
            )?;
        }
        Ok(id)
    }
}
