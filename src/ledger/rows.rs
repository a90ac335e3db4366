//! The `measurement` and `decision` tables: one row per key, carrying the version the
//! latest delivery gave it. A claimed delivery stores its rows through a [`RowSink`], in the
//! claim's transaction; publication and the figures read them back.

use chrono::NaiveDate;
use rusqlite::{Connection, params};

use super::LedgerError;

/// A checked measurement with its pseudonym, ready to store.
pub(crate) struct MeasurementRow<'a> {
    pub agb: &'a str,
    pub metingnummer: &'a str,
    pub pseudonym: &'a str,
    pub datum: NaiveDate,
    pub instrument: &'a str,
    pub respondent: u8,
    pub score: Option<f64>,
    pub status: Option<&'a str>,
}

/// A checked decision with its pseudonym, ready to store.
pub(crate) struct DecisionRow<'a> {
    pub gemeentecode: &'a str,
    pub beschikkingnummer: &'a str,
    pub pseudonym: &'a str,
    pub agb: &'a str,
    pub productcategorie: &'a str,
    pub productcode: &'a str,
    pub ingangsdatum: NaiveDate,
    pub einddatum: Option<NaiveDate>,
    pub reden: Option<&'a str>,
}

// Storing a row is an INSERT OR IGNORE, and only for a key that exists an UPDATE: an
// INSERT ... ON CONFLICT DO UPDATE makes SQLite keep a statement journal for every row
// (measured: a fifth of the run). The UPDATE skips a row this delivery already carried
// (`seen_delivery`): the first of two equal keys in one file stands. `changed_*` move only
// when a value differs, so an identical row changes nothing but `seen_delivery`.
const INSERT_MEASUREMENT: &str = "
    INSERT OR IGNORE INTO measurement (agb, metingnummer, pseudonym, datum, instrument, respondent, score,
                                       status, changed_delivery, changed_at, seen_delivery)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?9)";

const UPDATE_MEASUREMENT: &str = "
    UPDATE measurement SET
        changed_delivery = CASE WHEN (pseudonym, datum, instrument, respondent, score, status) IS (?3, ?4, ?5, ?6, ?7, ?8)
                           THEN changed_delivery ELSE ?9 END,
        changed_at = CASE WHEN (pseudonym, datum, instrument, respondent, score, status) IS (?3, ?4, ?5, ?6, ?7, ?8)
                     THEN changed_at ELSE ?10 END,
        pseudonym = ?3, datum = ?4, instrument = ?5, respondent = ?6, score = ?7, status = ?8,
        seen_delivery = ?9
    WHERE agb = ?1 AND metingnummer = ?2 AND seen_delivery IS NOT ?9";

const INSERT_DECISION: &str = "
    INSERT OR IGNORE INTO decision (gemeentecode, beschikkingnummer, pseudonym, agb, productcategorie, productcode,
                                    ingangsdatum, einddatum, reden, changed_delivery, changed_at, seen_delivery,
                                    window_start, window_end)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?10, ?12, ?13)";

const UPDATE_DECISION: &str = "
    UPDATE decision SET
        changed_delivery = CASE WHEN (pseudonym, agb, productcategorie, productcode, ingangsdatum, einddatum, reden)
                                  IS (?3, ?4, ?5, ?6, ?7, ?8, ?9)
                           THEN changed_delivery ELSE ?10 END,
        changed_at = CASE WHEN (pseudonym, agb, productcategorie, productcode, ingangsdatum, einddatum, reden)
                            IS (?3, ?4, ?5, ?6, ?7, ?8, ?9)
                     THEN changed_at ELSE ?11 END,
        pseudonym = ?3, agb = ?4, productcategorie = ?5, productcode = ?6, ingangsdatum = ?7,
        einddatum = ?8, reden = ?9, seen_delivery = ?10, window_start = ?12, window_end = ?13
    WHERE gemeentecode = ?1 AND beschikkingnummer = ?2 AND seen_delivery IS NOT ?10";

// A decision made of messages is worked out from all of them each time one arrives, so
// it is replaced whole (no `seen_delivery` guard: one zip carries an assignment and its stop).
const UPDATE_DECISION_FROM_MESSAGE: &str = "
    UPDATE decision SET
        changed_delivery = CASE WHEN (pseudonym, agb, productcategorie, productcode, ingangsdatum, einddatum, reden)
                                  IS (?3, ?4, ?5, ?6, ?7, ?8, ?9)
                           THEN changed_delivery ELSE ?10 END,
        changed_at = CASE WHEN (pseudonym, agb, productcategorie, productcode, ingangsdatum, einddatum, reden)
                            IS (?3, ?4, ?5, ?6, ?7, ?8, ?9)
                     THEN changed_at ELSE ?11 END,
        pseudonym = ?3, agb = ?4, productcategorie = ?5, productcode = ?6, ingangsdatum = ?7,
        einddatum = ?8, reden = ?9, seen_delivery = ?10, window_start = ?12, window_end = ?13
    WHERE gemeentecode = ?1 AND beschikkingnummer = ?2";

/// `yyyy-mm-dd` on the stack: binding a date to SQL then copies ten bytes, nothing more.
struct IsoDate([u8; 10]);

impl IsoDate {
    fn new(d: NaiveDate) -> Self {
        use chrono::Datelike;
        let mut b = *b"0000-00-00";
        let (y, m, day) = (d.year().clamp(0, 9999) as u32, d.month(), d.day());
        for (i, v) in [
            (0, y / 1000),
            (1, y / 100 % 10),
            (2, y / 10 % 10),
            (3, y % 10),
            (5, m / 10),
            (6, m % 10),
            (8, day / 10),
            (9, day % 10),
        ] {
            b[i] = b'0' + v as u8;
        }
        Self(b)
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("digits and dashes")
    }
}

fn date(d: NaiveDate) -> IsoDate {
    IsoDate::new(d)
}

/// The statements of one claim, prepared once for all its rows.
pub struct RowSink<'c> {
    insert_measurement: rusqlite::Statement<'c>,
    update_measurement: rusqlite::Statement<'c>,
    insert_decision: rusqlite::Statement<'c>,
    update_decision: rusqlite::Statement<'c>,
    conn: &'c Connection,
    delivery: i64,
    at: &'c str,
}

impl<'c> RowSink<'c> {
    /// Prepares the statements on `conn` (a claim's transaction) for the rows of `delivery`,
    /// stamped `at`.
    pub(super) fn prepare(
        conn: &'c Connection,
        delivery: i64,
        at: &'c str,
    ) -> Result<Self, LedgerError> {
        Ok(Self {
            insert_measurement: conn.prepare(INSERT_MEASUREMENT)?,
            update_measurement: conn.prepare(UPDATE_MEASUREMENT)?,
            insert_decision: conn.prepare(INSERT_DECISION)?,
            update_decision: conn.prepare(UPDATE_DECISION)?,
            conn,
            delivery,
            at,
        })
    }
}

impl RowSink<'_> {
    /// Stores a measurement; false if this delivery already carried the same key (a repeat
    /// within one file, which is refused).
    pub(crate) fn upsert_measurement(
        &mut self,
        m: &MeasurementRow<'_>,
    ) -> Result<bool, LedgerError> {
        let datum = date(m.datum);
        let values = params![
            m.agb,
            m.metingnummer,
            m.pseudonym,
            datum.as_str(),
            m.instrument,
            m.respondent,
            m.score,
            m.status,
            self.delivery,
            self.at,
        ];
        if self.insert_measurement.execute(values)? == 1 {
            return Ok(true);
        }
        Ok(self.update_measurement.execute(values)? == 1)
    }

    /// Stores a decision worked out from assignment and stop messages: new, or in place of
    /// the one of its number (made by this delivery too).
    pub(crate) fn upsert_decision_from_message(
        &mut self,
        d: &DecisionRow<'_>,
    ) -> Result<(), LedgerError> {
        self.write_decision(d, true).map(drop)
    }

    /// Stores a decision; false if this delivery already carried the same key.
    pub(crate) fn upsert_decision(&mut self, d: &DecisionRow<'_>) -> Result<bool, LedgerError> {
        self.write_decision(d, false)
    }

    /// Inserts a decision, or updates the one of its key: as a file's row (not twice in one
    /// delivery), or `from_message` (always).
    fn write_decision(
        &mut self,
        d: &DecisionRow<'_>,
        from_message: bool,
    ) -> Result<bool, LedgerError> {
        let (start, end) = (date(d.ingangsdatum), d.einddatum.map(date));
        let window = d.einddatum.map(crate::link::window);
        let (from, to) = (window.map(|w| date(w.0)), window.map(|w| date(w.1)));
        let values = params![
            d.gemeentecode,
            d.beschikkingnummer,
            d.pseudonym,
            d.agb,
            d.productcategorie,
            d.productcode,
            start.as_str(),
            end.as_ref().map(IsoDate::as_str),
            d.reden,
            self.delivery,
            self.at,
            from.as_ref().map(IsoDate::as_str),
            to.as_ref().map(IsoDate::as_str),
        ];
        if self.insert_decision.execute(values)? == 1 {
            return Ok(true);
        }
        if from_message {
            self.conn
                .prepare_cached(UPDATE_DECISION_FROM_MESSAGE)?
                .execute(values)?;
            return Ok(true);
        }
        Ok(self.update_decision.execute(values)? == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates_are_written_by_hand_correctly() {
        for (y, m, d) in [(2026, 3, 29), (1900, 1, 1), (2999, 12, 31)] {
            let date = NaiveDate::from_ymd_opt(y, m, d).unwrap();
            assert_eq!(
                IsoDate::new(date).as_str(),
                date.format("%Y-%m-%d").to_string()
            );
        }
    }
}
