//! The datasets dropgate accepts (DESIGN 3): `metingen` from suppliers and `beschikkingen`
//! from municipalities. Detection from the header, and every rule of a row.
//!
//! A rejected row is data, not an error: checking returns either a typed record or the list
//! of its [`Problem`]s, each naming line, column, the value as a message may show it (a
//! citizen number masked), and the rule. Nothing here touches the disk or the ledger.

mod beschikkingen;
mod metingen;
mod values;

use std::collections::BTreeSet;
use std::fmt;

use chrono::NaiveDate;

pub use beschikkingen::{Beschikking, REDENEN};
pub use metingen::{Instrument, Meting, Status};

use crate::formats::Row;
use crate::pseudonym::{Bsn, mask};

/// A kind of delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dataset {
    Metingen,
    Beschikkingen,
}

/// A column of a dataset.
pub struct Column {
    pub name: &'static str,
    /// The column must be in the header (its value may still be optional).
    pub required: bool,
}

const fn col(name: &'static str) -> Column {
    Column {
        name,
        required: true,
    }
}

const fn optional(name: &'static str) -> Column {
    Column {
        name,
        required: false,
    }
}

impl Dataset {
    pub const ALL: [Self; 2] = [Self::Metingen, Self::Beschikkingen];

    pub fn name(self) -> &'static str {
        match self {
            Self::Metingen => "metingen",
            Self::Beschikkingen => "beschikkingen",
        }
    }

    /// The XML element of one record.
    pub fn xml_record(self) -> &'static str {
        match self {
            Self::Metingen => "meting",
            Self::Beschikkingen => "beschikking",
        }
    }

    pub fn columns(self) -> &'static [Column] {
        match self {
            Self::Metingen => metingen::COLUMNS,
            Self::Beschikkingen => beschikkingen::COLUMNS,
        }
    }

    /// The dataset whose name is `name` (as in `--dataset`).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }

    /// For the XML reader: the dataset a root element names, and its columns.
    pub fn xml_columns(root: &str) -> Option<(&'static str, Vec<String>)> {
        let dataset = Self::ALL
            .into_iter()
            .find(|d| d.name().eq_ignore_ascii_case(root))?;
        Some((
            dataset.xml_record(),
            dataset
                .columns()
                .iter()
                .map(|c| c.name.to_owned())
                .collect(),
        ))
    }

    /// How `header` maps onto this dataset, or which required columns it lacks.
    pub fn layout(self, header: &[String]) -> Result<Layout, Vec<&'static str>> {
        let normalised: Vec<String> = header.iter().map(|h| h.trim().to_lowercase()).collect();
        let mut index = Vec::new();
        let mut missing = Vec::new();
        for column in self.columns() {
            match normalised
                .iter()
                .position(|h| *h == column.name.to_lowercase())
            {
                Some(i) => index.push(Some(i)),
                None if column.required => missing.push(column.name),
                None => index.push(None),
            }
        }
        if !missing.is_empty() {
            return Err(missing);
        }
        let known: BTreeSet<String> = self
            .columns()
            .iter()
            .map(|c| c.name.to_lowercase())
            .collect();
        let extra = header
            .iter()
            .zip(&normalised)
            .filter(|(_, n)| !n.is_empty() && !known.contains(*n))
            .map(|(h, _)| h.trim().to_owned())
            .collect();
        Ok(Layout {
            dataset: self,
            index,
            extra,
        })
    }

    /// The dataset `header` belongs to.
    pub fn detect(header: &[String]) -> Result<Layout, UnknownLayout> {
        let mut missing = Vec::new();
        for dataset in Self::ALL {
            match dataset.layout(header) {
                Ok(layout) => return Ok(layout),
                Err(m) => missing.push((dataset, m)),
            }
        }
        Err(UnknownLayout {
            found: header.to_vec(),
            missing,
        })
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where each column of a dataset is in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub dataset: Dataset,
    /// For each of `dataset.columns()`, its position in the file's rows.
    index: Vec<Option<usize>>,
    /// Columns in the file that the dataset does not know (a warning, not an error).
    pub extra: Vec<String>,
}

/// A header that fits no dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownLayout {
    pub found: Vec<String>,
    pub missing: Vec<(Dataset, Vec<&'static str>)>,
}

impl fmt::Display for UnknownLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown layout: the header is not that of a known dataset."
        )?;
        for dataset in Dataset::ALL {
            let names: Vec<&str> = dataset.columns().iter().map(|c| c.name).collect();
            write!(f, " {dataset} has the columns {}", names.join(", "))?;
            if let Some((_, missing)) = self.missing.iter().find(|(d, _)| *d == dataset) {
                write!(f, " (missing here: {})", missing.join(", "))?;
            }
            f.write_str(".")?;
        }
        let found: Vec<String> = self.found.iter().take(32).map(|h| shown(h)).collect();
        write!(f, " Found: {}.", found.join(", "))
    }
}

/// One thing wrong with one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: u64,
    /// The column, or empty for a problem of the whole row.
    pub column: String,
    /// The value as a message may show it: a possible citizen number masked, long text cut.
    pub value: String,
    /// A stable code, such as `bsn.eleven-check`.
    pub rule: &'static str,
    /// What the rule asks, in a sentence.
    pub message: String,
}

/// The column that holds the citizen number in clear, in both datasets.
pub const BSN_COLUMN: &str = "pseudobsn";

/// Shows at most 64 characters of a value, and masks anything that could be a BSN.
pub fn shown(value: &str) -> String {
    let v = value.trim();
    if v.len() >= 8
        && v.len() <= 9
        && v.bytes().all(|b| b.is_ascii_digit())
        && Bsn::parse(v).is_ok()
    {
        return mask(v);
    }
    let mut out: String = v.chars().take(64).collect();
    if v.chars().count() > 64 {
        out.push('…');
    }
    out
}

/// Score bounds per instrument (configurable; DESIGN 3.1 defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreRanges {
    pub ct: (f64, f64),
    pub gas: (f64, f64),
}

impl Default for ScoreRanges {
    fn default() -> Self {
        Self {
            ct: (0.0, 10.0),
            gas: (-2.0, 2.0),
        }
    }
}

/// What a row is checked against beyond its own values.
pub struct Context<'a> {
    /// Dates after this are in the future.
    pub today: NaiveDate,
    pub scores: ScoreRanges,
    /// AGB codes the deliverer may deliver measurements for; `None` checks the shape only
    /// (offline validation).
    pub agb_codes: Option<&'a BTreeSet<String>>,
    /// The delivering municipality's CBS code; `None` checks the shape only.
    pub municipality: Option<&'a str>,
    /// The datasets this deliverer may send (suppliers `metingen`, municipalities
    /// `beschikkingen`); empty allows all (offline validation).
    pub datasets: &'a [Dataset],
}

/// A checked row.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Meting(Meting),
    Beschikking(Beschikking),
}

impl Record {
    /// The citizen number in clear: hash it, never keep or show it.
    pub fn bsn(&self) -> &Bsn {
        match self {
            Self::Meting(m) => &m.bsn,
            Self::Beschikking(b) => &b.bsn,
        }
    }

    /// What makes the row unique within its dataset (a later row with the same key is a
    /// correction; a second one in the same file is refused).
    pub fn key(&self) -> (&str, &str) {
        match self {
            Self::Meting(m) => (&m.agb, &m.metingnummer),
            Self::Beschikking(b) => (&b.gemeentecode, &b.beschikkingnummer),
        }
    }
}

/// Reads a row's values by column name, collecting problems as it goes.
pub(crate) struct Cells<'a> {
    layout: &'a Layout,
    row: &'a Row,
    pub problems: Vec<Problem>,
}

impl<'a> Cells<'a> {
    fn new(layout: &'a Layout, row: &'a Row) -> Self {
        Self {
            layout,
            row,
            problems: Vec::new(),
        }
    }

    /// The trimmed value of column `name` (empty if absent).
    pub fn raw(&self, name: &str) -> &'a str {
        let columns = self.layout.dataset.columns();
        let i = columns.iter().position(|c| c.name == name);
        i.and_then(|i| self.layout.index[i])
            .and_then(|pos| self.row.fields.get(pos))
            .map_or("", |v| v.trim())
    }

    pub fn problem(
        &mut self,
        column: &str,
        value: &str,
        rule: &'static str,
        message: impl Into<String>,
    ) {
        // Whatever stands in the BSN column is masked, valid or not: a typo is nearly a BSN.
        let value = if column == BSN_COLUMN {
            mask(value)
        } else {
            shown(value)
        };
        self.problems.push(Problem {
            line: self.row.line,
            column: column.to_owned(),
            value,
            rule,
            message: message.into(),
        });
    }

    /// Parses a required value; an empty one is a `required` problem.
    pub fn required<T>(
        &mut self,
        name: &str,
        rule: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let value = self.raw(name);
        if value.is_empty() {
            self.problem(name, value, "required", "must not be empty");
            return None;
        }
        self.optional(name, rule, parse).flatten()
    }

    /// Parses a value that may be empty (`Some(None)`).
    pub fn optional<T>(
        &mut self,
        name: &str,
        rule: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<Option<T>> {
        let value = self.raw(name);
        if value.is_empty() {
            return Some(None);
        }
        match parse(value) {
            Ok(v) => Some(Some(v)),
            Err(message) => {
                self.problem(name, value, rule, message);
                None
            }
        }
    }

    pub fn bsn(&mut self) -> Option<Bsn> {
        self.required(BSN_COLUMN, "bsn", |v| {
            Bsn::parse(v).map_err(|e| e.to_string())
        })
    }
}

impl Layout {
    /// Checks every rule of the dataset on one row.
    pub fn check(&self, row: &Row, ctx: &Context<'_>) -> Result<Record, Vec<Problem>> {
        let mut cells = Cells::new(self, row);
        let record = match self.dataset {
            Dataset::Metingen => metingen::check(&mut cells, ctx).map(Record::Meting),
            Dataset::Beschikkingen => {
                beschikkingen::check(&mut cells, ctx).map(Record::Beschikking)
            }
        };
        match record {
            Some(record) if cells.problems.is_empty() => Ok(record),
            _ => Err(cells.problems),
        }
    }
}
