//! The datasets dropgate accepts (DESIGN 3): `metingen` from suppliers and `beschikkingen`
//! from municipalities. Detection from the header, and every rule of a row.
//!
//! A rejected row is data, not an error: checking returns either a typed record or the list
//! of its [`Problem`]s, each naming line, column, the value as a message may show it (a
//! citizen number masked), and the rule. Nothing here touches the disk or the ledger.

mod beschikkingen;
mod metingen;
pub(crate) mod rules;
mod values;

use std::fmt;

use chrono::NaiveDate;

pub(crate) use beschikkingen::Beschikking;
pub use metingen::Status;
pub(crate) use metingen::{Instrument, Meting};

use crate::check::formats::Row;
use crate::pseudonym::{Bsn, mask};

/// A kind of delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dataset {
    Metingen,
    Beschikkingen,
}

/// A column of a dataset.
pub struct Column {
    /// The technical name, as the dataset's specification and the XML elements have it.
    pub name: &'static str,
    /// The display name on the dataset sheet, accepted in a header as well.
    pub display: &'static str,
    /// The column must be in the header (its value may still be optional).
    pub required: bool,
    /// What it holds, in Dutch, for the delivery specification (`dropgate spec`).
    pub about: &'static str,
    /// The rules its values are checked against.
    pub rules: &'static [&'static Rule],
    /// A value that passes.
    pub example: &'static str,
}

const fn col(name: &'static str, display: &'static str) -> Column {
    Column {
        name,
        display,
        required: true,
        about: "",
        rules: &[],
        example: "",
    }
}

const fn optional(name: &'static str, display: &'static str) -> Column {
    Column {
        required: false,
        ..col(name, display)
    }
}

impl Column {
    /// The column with its specification: what it holds, its rules and an example.
    const fn spec(
        self,
        about: &'static str,
        rules: &'static [&'static Rule],
        example: &'static str,
    ) -> Self {
        Self {
            about,
            rules,
            example,
            ..self
        }
    }

    /// Whether a header cell names this column (already [`normalise`]d).
    fn named(&self, normalised: &str) -> bool {
        normalised == normalise(self.name) || normalised == normalise(self.display)
    }
}

impl Dataset {
    pub(crate) const ALL: [Self; 2] = [Self::Metingen, Self::Beschikkingen];

    pub fn name(self) -> &'static str {
        match self {
            Self::Metingen => "metingen",
            Self::Beschikkingen => "beschikkingen",
        }
    }

    /// The XML element of one record.
    pub(crate) fn xml_record(self) -> &'static str {
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
    pub(crate) fn xml_columns(root: &str) -> Option<(&'static str, Vec<String>)> {
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

    /// How `header` maps onto this dataset, or why it does not: required columns it lacks
    /// or, when it has them all, a known column it names twice.
    pub(crate) fn column_map(self, header: &[String]) -> Result<ColumnMap, HeaderError> {
        let normalised: Vec<String> = header.iter().map(|h| normalise(h)).collect();
        let mut index = Vec::new();
        let mut missing = Vec::new();
        let mut repeated = None;
        for column in self.columns() {
            let mut positions = normalised
                .iter()
                .enumerate()
                .filter(|(_, h)| column.named(h));
            match (positions.next(), positions.next()) {
                (Some((i, _)), again) => {
                    if let (None, Some((j, _))) = (&repeated, again) {
                        repeated = Some((column.name, i + 1, j + 1));
                    }
                    index.push(Some(i));
                }
                (None, _) if column.required => missing.push(column.name),
                (None, _) => index.push(None),
            }
        }
        if !missing.is_empty() {
            return Err(HeaderError::Missing(missing));
        }
        if let Some((column, first, second)) = repeated {
            return Err(HeaderError::Repeated {
                column,
                first,
                second,
            });
        }
        let extra = header
            .iter()
            .zip(&normalised)
            .filter(|(_, n)| !n.is_empty() && !self.columns().iter().any(|c| c.named(n)))
            .map(|(h, _)| h.trim().to_owned())
            .collect();
        let width = normalised
            .iter()
            .rposition(|n| !n.is_empty())
            .map_or(0, |i| i + 1);
        Ok(ColumnMap {
            dataset: self,
            index,
            extra,
            width,
        })
    }

    /// The dataset `header` belongs to.
    pub fn detect(header: &[String]) -> Result<ColumnMap, UnknownHeader> {
        let mut missing = Vec::new();
        for dataset in Self::ALL {
            match dataset.column_map(header) {
                Ok(layout) => return Ok(layout),
                Err(HeaderError::Missing(m)) => missing.push((dataset, m)),
                Err(HeaderError::Repeated {
                    column,
                    first,
                    second,
                }) => {
                    return Err(UnknownHeader {
                        found: header.to_vec(),
                        repeated: Some((column, first, second)),
                        ..UnknownHeader::default()
                    });
                }
            }
        }
        Err(UnknownHeader {
            found: header.to_vec(),
            missing,
            ..UnknownHeader::default()
        })
    }
}

/// A header name as columns are matched: case-insensitive, and blind to spaces, hyphens
/// and underscores (`AGB-code`, `agb code`, `AGB_CODE`).
fn normalise(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_whitespace() && *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Why a header does not fit a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HeaderError {
    /// Required columns it lacks.
    Missing(Vec<&'static str>),
    /// A known column it names twice (at these 1-based positions): taking either would be
    /// a guess.
    Repeated {
        column: &'static str,
        first: usize,
        second: usize,
    },
}

impl HeaderError {
    /// As an [`UnknownHeader`] for `dataset`, the one the header was checked against.
    pub(crate) fn into_unknown(self, dataset: Dataset, header: &[String]) -> UnknownHeader {
        let found = header.to_vec();
        match self {
            Self::Missing(missing) => UnknownHeader {
                found,
                missing: vec![(dataset, missing)],
                ..UnknownHeader::default()
            },
            Self::Repeated {
                column,
                first,
                second,
            } => UnknownHeader {
                found,
                repeated: Some((column, first, second)),
                ..UnknownHeader::default()
            },
        }
    }
}

impl fmt::Display for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where each column of a dataset is in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnMap {
    pub dataset: Dataset,
    /// For each of `dataset.columns()`, its position in the file's rows.
    index: Vec<Option<usize>>,
    /// Columns in the file that the dataset does not know (a warning, not an error).
    pub extra: Vec<String>,
    /// Fields the header names (up to its last non-empty name): a value beyond them has no
    /// column.
    width: usize,
}

/// A header that fits no dataset, or names one of its columns twice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnknownHeader {
    pub found: Vec<String>,
    pub missing: Vec<(Dataset, Vec<&'static str>)>,
    /// A known column the header names twice, and the 1-based positions of both.
    pub repeated: Option<(&'static str, usize, usize)>,
    /// Other sheets of the workbook whose first row is the header of a dataset (the first
    /// sheet is, say, an instruction page).
    pub other_sheets: Vec<(String, Dataset)>,
}

impl fmt::Display for UnknownHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((column, first, second)) = self.repeated {
            return write!(
                f,
                "the header names the column {column} twice (columns {first} and {second}); \
                 name each column once"
            );
        }
        write!(
            f,
            "unknown layout: the header is not that of a known dataset."
        )?;
        for (sheet, dataset) in &self.other_sheets {
            write!(
                f,
                " Sheet '{}' holds a {dataset} header; put it first or deliver that sheet alone.",
                crate::redact::text(&shown(sheet))
            )?;
        }
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

pub use crate::message::Message;
pub(crate) use rules::Rule;

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
    pub message: Message,
}

/// The column that holds the citizen number in clear, in both datasets.
pub(crate) const BSN_COLUMN: &str = "pseudobsn";

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
    /// The care provider whose `upload/` the file came in; `None` checks the shape only
    /// (offline validation).
    pub provider: Option<&'a Provider>,
    /// The delivering municipality's CBS code; `None` checks the shape only.
    pub municipality: Option<&'a str>,
    /// The datasets this deliverer may send (suppliers `metingen`, municipalities
    /// `beschikkingen`); empty allows all (offline validation).
    pub datasets: &'a [Dataset],
}

/// The care provider a measurement file was delivered for (DESIGN 3.1): every row must
/// carry its AGB code.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Provider {
    /// The AGB code of the tenant whose `upload/` the file came in.
    pub agb: String,
    /// That tenant's id: its folder.
    pub tenant: String,
    /// The tenant id of every other care provider, by AGB code: where a row of theirs
    /// belongs.
    pub others: std::collections::BTreeMap<String, String>,
}

/// A checked row.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Meting(Meting),
    Beschikking(Beschikking),
    /// An iJw/iWmo message, as the allow-list keeps it.
    Bericht(Box<crate::check::messages::content::Bericht>),
}

impl Record {
    /// The citizen number in clear of a row (a message holds none, one or many, in its
    /// values): hash it, never keep or show it.
    pub fn bsn(&self) -> Option<&Bsn> {
        match self {
            Self::Meting(m) => Some(&m.bsn),
            Self::Beschikking(b) => Some(&b.bsn),
            Self::Bericht(_) => None,
        }
    }

    /// What makes the row unique within its dataset (a later row with the same key is a
    /// correction; a second one in the same file is refused); a message's is its
    /// sender and identification.
    pub fn key(&self) -> (&str, &str) {
        match self {
            Self::Meting(m) => (&m.agb, &m.metingnummer),
            Self::Beschikking(b) => (&b.gemeentecode, &b.beschikkingnummer),
            Self::Bericht(m) => (&m.header.afzender, &m.header.identificatie),
        }
    }
}

/// Reads a row's values by column name, collecting problems as it goes.
pub(crate) struct Cells<'a> {
    layout: &'a ColumnMap,
    row: &'a Row,
    pub problems: Vec<Problem>,
}

impl<'a> Cells<'a> {
    fn new(layout: &'a ColumnMap, row: &'a Row) -> Self {
        Self {
            layout,
            row,
            problems: Vec::new(),
        }
    }

    /// The trimmed value of column `name` (empty if absent).
    pub(crate) fn raw(&self, name: &str) -> &'a str {
        let columns = self.layout.dataset.columns();
        let i = columns.iter().position(|c| c.name == name);
        i.and_then(|i| self.layout.index[i])
            .and_then(|pos| self.row.fields.get(pos))
            .map_or("", |v| v.trim())
    }

    pub(crate) fn problem(
        &mut self,
        column: &str,
        value: &str,
        rule: &'static Rule,
        message: Message,
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
            rule: rule.id,
            message,
        });
    }

    /// Parses a required value; an empty one is a `required` problem.
    pub(crate) fn required<T>(
        &mut self,
        name: &str,
        rule: &'static Rule,
        parse: impl FnOnce(&str) -> Result<T, Message>,
    ) -> Option<T> {
        let value = self.raw(name);
        if value.is_empty() {
            self.problem(name, value, &rules::REQUIRED, required());
            return None;
        }
        self.optional(name, rule, parse).flatten()
    }

    /// Parses a value that may be empty (`Some(None)`).
    pub(crate) fn optional<T>(
        &mut self,
        name: &str,
        rule: &'static Rule,
        parse: impl FnOnce(&str) -> Result<T, Message>,
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

    pub(crate) fn bsn(&mut self) -> Option<Bsn> {
        self.required(BSN_COLUMN, &rules::BSN, |v| {
            Bsn::parse(v).map_err(|e| {
                use crate::pseudonym::BsnError;
                let nl = match e {
                    BsnError::NotDigits => "mag alleen cijfers bevatten",
                    BsnError::Length => "moet 9 cijfers zijn (of 8, gelezen met een voorloopnul)",
                    BsnError::Zero => "mag niet uit alleen nullen bestaan",
                    BsnError::ElevenCheck => "voldoet niet aan de elfproef",
                };
                Message::new(nl, e.to_string())
            })
        })
    }
}

/// The message of an empty required value.
pub fn required() -> Message {
    Message::new("mag niet leeg zijn", "must not be empty")
}

impl ColumnMap {
    /// A row with values beyond the header's last column was likely written with a
    /// separator too many (an unquoted `;` in a value): its values may have shifted.
    fn check_width(&self, cells: &mut Cells<'_>) {
        let fields = &cells.row.fields;
        let Some(last) = fields.iter().rposition(|f| !f.trim().is_empty()) else {
            return;
        };
        if last < self.width {
            return;
        }
        let message = Message::new(
            format!(
                "de kopregel heeft {} velden, deze rij {}",
                self.width,
                last + 1
            ),
            format!(
                "the header has {} fields, this row has {}",
                self.width,
                last + 1
            ),
        );
        cells.problem("", "", &rules::EXTRA_FIELDS, message);
    }

    /// Checks every rule of the dataset on one row.
    pub fn check(&self, row: &Row, ctx: &Context<'_>) -> Result<Record, Vec<Problem>> {
        let mut cells = Cells::new(self, row);
        self.check_width(&mut cells);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn header(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    const METINGEN: [&str; 8] = [
        "zorgaanbiedercode",
        "pseudobsn",
        "metingnummer",
        "datum",
        "gebruiktMeetinstrument",
        "typeRespondent",
        "totaalscoreMeting",
        "status",
    ];

    fn ctx() -> Context<'static> {
        Context {
            today: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            scores: ScoreRanges::default(),
            provider: None,
            municipality: None,
            datasets: &[],
        }
    }

    fn row(fields: &[&str]) -> Row {
        Row {
            line: 7,
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
        }
    }

    #[test]
    fn the_dataset_sheets_display_names_are_accepted_in_any_case_and_spacing() {
        let sheet = [
            "AGB-code",
            "BSN",
            "Metingnummer",
            "Datum meting",
            "soort  meting",
            "RESPONDENT",
            "Cijfer",
            "Status",
        ];
        let layout = Dataset::detect(&header(&sheet)).unwrap();
        assert_eq!(layout.dataset, Dataset::Metingen);
        assert!(layout.extra.is_empty());
        assert_eq!(layout.index, (0..8).map(Some).collect::<Vec<_>>());
        let mut mixed = METINGEN.to_vec();
        mixed[0] = "agb code";
        mixed[6] = "Totaalscore_Meting";
        assert!(Dataset::detect(&header(&mixed)).is_ok());
        // The technical and the display name of one column: which one holds it is a guess.
        let mut both = METINGEN.to_vec();
        both.push("AGB-code");
        assert!(
            Dataset::detect(&header(&both))
                .unwrap_err()
                .repeated
                .is_some()
        );
    }

    #[test]
    fn a_known_column_named_twice_is_refused_by_name() {
        let mut names = METINGEN.to_vec();
        names.push(" Pseudo BSN ");
        let unknown = Dataset::detect(&header(&names)).unwrap_err();
        assert_eq!(unknown.repeated, Some(("pseudobsn", 2, 9)));
        assert_eq!(
            unknown.to_string(),
            "the header names the column pseudobsn twice (columns 2 and 9); name each column once"
        );
        // An unknown column twice is only an extra column.
        let mut names = METINGEN.to_vec();
        names.extend(["opmerking", "Opmerking"]);
        let layout = Dataset::detect(&header(&names)).unwrap();
        assert_eq!(layout.extra, ["opmerking", "Opmerking"]);
    }

    #[test]
    fn values_beyond_the_header_are_a_row_problem() {
        let layout = Dataset::detect(&header(&METINGEN)).unwrap();
        let good = [
            "87654321",
            "111222333",
            "M-1",
            "2026-10-01",
            "CT",
            "01",
            "8,5",
            "Volledig",
        ];
        assert!(layout.check(&row(&good), &ctx()).is_ok());
        let mut trailing = good.to_vec();
        trailing.extend(["", "  "]);
        assert!(layout.check(&row(&trailing), &ctx()).is_ok());
        let mut extra = good.to_vec();
        extra.extend(["", "x"]);
        let problems = layout.check(&row(&extra), &ctx()).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].rule, rules::EXTRA_FIELDS.id);
        assert_eq!(problems[0].line, 7);
        assert_eq!(
            problems[0].message.en,
            "the header has 8 fields, this row has 10"
        );
        assert_eq!(
            problems[0].message.nl,
            "de kopregel heeft 8 velden, deze rij 10"
        );
    }

    /// DESIGN 3.1: a score is required when the measurement is complete (status empty or
    /// `Volledig`), optional for `Onvolledig`, and must be absent for `Nee`.
    #[test]
    fn the_score_is_required_only_for_complete_measurements() {
        let layout = Dataset::detect(&header(&METINGEN)).unwrap();
        let check = |score: &str, status: &str| {
            let fields = [
                "87654321",
                "111222333",
                "M-1",
                "2026-10-01",
                "GAS",
                "01",
                score,
                status,
            ];
            match layout.check(&row(&fields), &ctx()) {
                Ok(Record::Meting(m)) => Ok((m.score, m.status)),
                Ok(other) => panic!("{other:?}"),
                Err(problems) => Err(problems
                    .iter()
                    .map(|p| (p.column.clone(), p.rule))
                    .collect::<Vec<_>>()),
            }
        };
        let score_rule = |rule| Err(vec![("totaalscoreMeting".to_owned(), rule)]);
        assert_eq!(check("-1", ""), Ok((Some(-1.0), None)));
        assert_eq!(check("", ""), score_rule("required"));
        assert_eq!(check("", "Volledig"), score_rule("required"));
        assert_eq!(
            check("", "onvolledig"),
            Ok((None, Some(Status::Onvolledig)))
        );
        assert_eq!(
            check("0,5", "Onvolledig"),
            Ok((Some(0.5), Some(Status::Onvolledig)))
        );
        assert_eq!(check("", "Nee"), Ok((None, Some(Status::Nee))));
        assert_eq!(check("1", "NEE"), score_rule("score.not-filled-in"));
        assert_eq!(check("3", "Onvolledig"), score_rule("score.range"));
    }

    #[test]
    fn other_sheets_are_named_in_the_message() {
        let unknown = UnknownHeader {
            found: header(&["Uitleg"]),
            other_sheets: vec![("Data".into(), Dataset::Metingen)],
            ..UnknownHeader::default()
        };
        assert!(
            unknown.to_string().contains(
                "Sheet 'Data' holds a metingen header; put it first or deliver that sheet alone."
            ),
            "{unknown}"
        );
    }
}
