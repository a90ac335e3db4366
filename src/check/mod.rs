//! Checking a whole delivered file: open it in its format, find its dataset, check every
//! row, and report each problem as it is found. Shared by `dropgate validate` (offline) and
//! the daily run, so that a vendor's pre-check and dropgate's verdict are the same.

pub mod confine;
pub mod datasets;
pub mod formats;
// Its intake (storing a message's content; issue 15's next part) reads the rest of it.
#[cfg_attr(not(test), expect(dead_code, reason = "message intake reads the rest"))]
pub(crate) mod messages;
pub(crate) mod receipt;
pub mod spec;
pub mod validate;

use std::collections::BTreeMap;
use std::path::Path;

use crate::check::datasets::{
    ColumnMap, Context, Dataset, Message, Problem, Record, UnknownHeader, rules,
};
use crate::check::formats::{FileError, Format, Limits, ReadError};

/// Why a file could not be checked at all.
#[derive(Debug, thiserror::Error)]
pub enum Fatal {
    /// Unreadable, or over a limit: the file goes to quarantine.
    #[error(transparent)]
    File(#[from] FileError),
    /// Readable, but not a known dataset: rejected.
    #[error("{0}")]
    Header(UnknownHeader),
    /// A known dataset that this deliverer does not send: rejected.
    #[error("{dataset} cannot be delivered here: this folder takes {allowed}")]
    NotAllowed { dataset: Dataset, allowed: String },
    /// An iJw or iWmo message, checked against its schema (its problems reported one by
    /// one) but not taken in: message intake is not built yet (issue 15), so the file is
    /// rejected with what the check found rather than as an unknown layout.
    #[error("{}", message_text(kind.as_deref(), about.as_ref(), *valid))]
    Message {
        /// The message type (`JW301`), when its namespace named one.
        kind: Option<String>,
        /// Its municipality and date, when its header could be read.
        about: Option<MessageAbout>,
        /// Whether it conforms to its schema.
        valid: bool,
    },
}

/// A message's municipality (its CBS code, from sender or receiver) and date, as the
/// texts about it name them. The provider's AGB code is left out: eight digits, it would
/// show masked (`redact`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageAbout {
    pub gemeente: Option<String>,
    pub dagtekening: chrono::NaiveDate,
}

impl MessageAbout {
    fn of(header: &messages::Header) -> Self {
        Self {
            gemeente: header.gemeente().map(str::to_owned),
            dagtekening: header.dagtekening,
        }
    }
}

/// What the English texts say of a message file.
fn message_text(kind: Option<&str>, about: Option<&MessageAbout>, valid: bool) -> String {
    let mut what = kind.map_or_else(
        || "an iJw or iWmo message".to_owned(),
        |k| format!("a {k} message"),
    );
    if let Some(about) = about {
        let gemeente = about.gemeente.as_deref().unwrap_or("?");
        what.push_str(&format!(
            " (municipality {gemeente}, dated {})",
            about.dagtekening
        ));
    }
    if valid {
        format!(
            "{what} that meets its schema; messages are not taken in yet, so nothing of it is stored"
        )
    } else {
        format!(
            "{what} that cannot be used (see the problems listed); messages are not taken in yet"
        )
    }
}

/// The most a message file may hold: iJw/iWmo messages are a few kilobytes, and this is
/// read into memory whole.
const MAX_MESSAGE_BYTES: usize = 8 * 1024 * 1024;

/// How far into a file the namespace of an iStandaarden message must show: its root
/// element, after at most an XML declaration and comments.
const MESSAGE_SNIFF_BYTES: usize = 4096;

/// An iJw/iWmo message at `path` checked against its schema, each problem passed to
/// `on_problem`; `None` if the file is no message (the dataset readers take it).
fn check_message<E>(
    path: &Path,
    mut on_problem: impl FnMut(&Problem) -> Result<(), E>,
) -> Result<Option<Fatal>, E> {
    use std::io::Read;
    let Ok(file) = std::fs::File::open(path) else {
        // The dataset readers report an unreadable file.
        return Ok(None);
    };
    let mut bytes = Vec::new();
    let mut head = file.take(MESSAGE_SNIFF_BYTES as u64);
    if head.read_to_end(&mut bytes).is_err()
        || !bytes
            .windows(26)
            .any(|w| w == b"http://www.istandaarden.nl")
    {
        return Ok(None);
    }
    let mut rest = head.into_inner().take(MAX_MESSAGE_BYTES as u64 + 1);
    if let Err(e) = rest.read_to_end(&mut bytes) {
        return Ok(Some(Fatal::File(FileError::Io(e))));
    }
    let reading = match messages::read(&bytes, MAX_MESSAGE_BYTES) {
        Ok(reading) => reading,
        Err(e) => {
            return Ok(Some(Fatal::File(FileError::Io(std::io::Error::other(e.0)))));
        }
    };
    Ok(Some(match reading {
        messages::Reading::NotAMessage => return Ok(None),
        messages::Reading::Valid(valid) => Fatal::Message {
            kind: Some(valid.kind.name()),
            about: Some(MessageAbout::of(&valid.header)),
            valid: true,
        },
        messages::Reading::Invalid(invalid) => {
            for problem in &invalid.problems {
                on_problem(problem)?;
            }
            Fatal::Message {
                kind: invalid.kind.map(|k| k.name()),
                about: invalid.header.as_ref().map(MessageAbout::of),
                valid: false,
            }
        }
    }))
}

/// What the caller decides about a row that passed every rule.
pub enum Verdict {
    Accepted,
    /// Its key appeared earlier in the same file; the first stands.
    DuplicateInFile,
}

/// The outcome of a file whose rows could be read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub format: Option<&'static str>,
    pub dataset: Option<Dataset>,
    /// Columns the dataset does not know (ignored).
    pub extra_columns: Vec<String>,
    pub rows: u64,
    pub accepted: u64,
    pub rejected: u64,
    /// Problems per rule code.
    pub rules: BTreeMap<&'static str, u64>,
}

/// The problem of a row whose key appeared earlier in the same file.
pub(crate) fn duplicate_problem(line: u64, record: &Record) -> Problem {
    let column = match record {
        Record::Meting(_) => "metingnummer",
        Record::Beschikking(_) => "beschikkingnummer",
    };
    Problem {
        line,
        column: column.to_owned(),
        value: crate::check::datasets::shown(record.key().1),
        rule: rules::DUPLICATE_IN_FILE.id,
        message: Message::new(
            "komt eerder in dit bestand voor; de eerste telt",
            "appears earlier in this file; the first one stands",
        ),
    }
}

impl Summary {
    /// Turns one accepted row into a rejected repeat (for a caller that learns of repeats
    /// after the row was counted).
    pub(crate) fn count_duplicate(&mut self) {
        self.rejected += 1;
        *self.rules.entry(rules::DUPLICATE_IN_FILE.id).or_default() += 1;
    }

    /// Counts a row the reader could not make out, and returns its problem.
    fn count_unreadable(&mut self, line: u64, message: Message) -> Problem {
        self.rows += 1;
        self.rejected += 1;
        *self.rules.entry(rules::UNREADABLE.id).or_default() += 1;
        Problem {
            line,
            column: String::new(),
            value: String::new(),
            rule: rules::UNREADABLE.id,
            message,
        }
    }

    /// The most frequent rules, most first.
    pub(crate) fn top_rules(&self, n: usize) -> Vec<(&'static str, u64)> {
        let mut rules: Vec<_> = self.rules.iter().map(|(r, c)| (*r, *c)).collect();
        rules.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        rules.truncate(n);
        rules
    }
}

/// Checks the file at `path`. `dataset` forces a dataset instead of detecting one.
/// `on_record` receives each row that passed every rule; `on_problem` each problem.
pub fn check_file<E>(
    path: &Path,
    limits: Limits,
    dataset: Option<Dataset>,
    ctx: &Context<'_>,
    mut on_record: impl FnMut(u64, &Record) -> Result<Verdict, E>,
    mut on_problem: impl FnMut(&Problem) -> Result<(), E>,
) -> Result<Result<Summary, Fatal>, E> {
    if let Some(fatal) = check_message(path, &mut on_problem)? {
        return Ok(Err(fatal));
    }
    let table = match formats::open(path, limits, &Dataset::xml_columns) {
        Ok(table) => table,
        Err(e) => return Ok(Err(e.into())),
    };
    let format: Format = table.format;
    let layout = match find_layout(path, &table, limits, dataset, ctx) {
        Ok(layout) => layout,
        Err(fatal) => return Ok(Err(fatal)),
    };
    let mut summary = Summary {
        format: Some(format.as_str()),
        dataset: Some(layout.dataset),
        extra_columns: layout.extra.clone(),
        ..Summary::default()
    };
    for row in table.rows {
        let row = match row {
            Ok(row) => row,
            Err(ReadError::File(e)) => return Ok(Err(e.into())),
            Err(ReadError::Row { line, message }) => {
                on_problem(&summary.count_unreadable(line, message))?;
                continue;
            }
        };
        check_row(
            &layout,
            ctx,
            &row,
            &mut summary,
            &mut on_record,
            &mut on_problem,
        )?;
    }
    if summary.rows == 0 {
        return Ok(Err(FileError::NoDataRows.into()));
    }
    Ok(Ok(summary))
}

/// The layout of `table`'s header: of `dataset`, or of the dataset it is detected as, and
/// one this deliverer may send. For a workbook whose first sheet is no dataset, the
/// problem names the other sheets that are.
fn find_layout(
    path: &Path,
    table: &formats::Table,
    limits: Limits,
    dataset: Option<Dataset>,
    ctx: &Context<'_>,
) -> Result<ColumnMap, Fatal> {
    let layout = match dataset {
        Some(d) => d
            .column_map(&table.header)
            .map_err(|e| e.into_unknown(d, &table.header)),
        None => Dataset::detect(&table.header),
    };
    let layout: ColumnMap = match layout {
        Ok(layout) => layout,
        Err(mut unknown) => {
            if unknown.repeated.is_none() {
                unknown.other_sheets = other_sheets(path, table.format, limits, dataset);
            }
            return Err(Fatal::Header(unknown));
        }
    };
    if !ctx.datasets.is_empty() && !ctx.datasets.contains(&layout.dataset) {
        let allowed = ctx
            .datasets
            .iter()
            .map(|d| d.name())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(Fatal::NotAllowed {
            dataset: layout.dataset,
            allowed,
        });
    }
    Ok(layout)
}

/// Checks one readable row against every rule of `layout`, counts it, and hands on the
/// record if it passed (a repeat of a key becomes a problem then) or each problem if not.
fn check_row<E>(
    layout: &ColumnMap,
    ctx: &Context<'_>,
    row: &formats::Row,
    summary: &mut Summary,
    on_record: &mut impl FnMut(u64, &Record) -> Result<Verdict, E>,
    on_problem: &mut impl FnMut(&Problem) -> Result<(), E>,
) -> Result<(), E> {
    summary.rows += 1;
    let line = row.line;
    match layout.check(row, ctx) {
        Ok(record) => match on_record(line, &record)? {
            Verdict::Accepted => summary.accepted += 1,
            Verdict::DuplicateInFile => {
                summary.count_duplicate();
                on_problem(&duplicate_problem(line, &record))?;
            }
        },
        Err(problems) => {
            summary.rejected += 1;
            for problem in &problems {
                *summary.rules.entry(problem.rule).or_default() += 1;
                on_problem(problem)?;
            }
        }
    }
    Ok(())
}

/// The other sheets of a workbook that start with the header of `dataset` (or of any
/// dataset), for a first sheet that does not.
fn other_sheets(
    path: &Path,
    format: Format,
    limits: Limits,
    dataset: Option<Dataset>,
) -> Vec<(String, Dataset)> {
    if !matches!(format, Format::Xlsx | Format::Xls | Format::Ods) {
        return Vec::new();
    }
    formats::other_sheet_headers(path, limits)
        .into_iter()
        .filter_map(|(sheet, header)| {
            let found = match dataset {
                Some(d) => d.column_map(&header).ok()?.dataset,
                None => Dataset::detect(&header).ok()?.dataset,
            };
            Some((sheet, found))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::datasets::ScoreRanges;
    use crate::check::formats::testfiles::{self, METING, METINGEN, ods, ods_row};

    fn check(path: &Path) -> Result<Summary, Fatal> {
        let ctx = Context {
            today: chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            scores: ScoreRanges::default(),
            provider: None,
            municipality: None,
            datasets: &[],
        };
        check_file::<()>(
            path,
            Limits::default(),
            None,
            &ctx,
            |_, _| Ok(Verdict::Accepted),
            |_| Ok(()),
        )
        .unwrap()
    }

    #[test]
    fn a_header_without_data_rows_is_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let path = testfiles::write(
            dir.path(),
            "f.csv",
            format!("{}\n;;;;;;;\n\n", METINGEN.join(";")).as_bytes(),
        );
        let fatal = check(&path).unwrap_err();
        assert!(
            matches!(fatal, Fatal::File(FileError::NoDataRows)),
            "{fatal}"
        );
        assert_eq!(
            fatal.to_string(),
            "the file holds a header but no data rows"
        );
        let path = testfiles::write(
            dir.path(),
            "g.csv",
            format!("{}\n{}\n", METINGEN.join(";"), METING.join(";")).as_bytes(),
        );
        assert_eq!(check(&path).unwrap().accepted, 1);
    }

    #[test]
    fn a_workbook_whose_data_is_on_another_sheet_says_which() {
        let dir = tempfile::tempdir().unwrap();
        let data = [ods_row(&METINGEN), ods_row(&METING)].concat();
        let content = ods(&[
            ("Uitleg", ods_row(&["Vul het blad Data in"])),
            ("Data", data),
        ]);
        let path = testfiles::write(dir.path(), "f.ods", &content);
        let fatal = check(&path).unwrap_err();
        assert!(
            fatal.to_string().contains(
                "Sheet 'Data' holds a metingen header; put it first or deliver that sheet alone."
            ),
            "{fatal}"
        );
    }

    #[test]
    fn a_repeated_column_is_a_rejected_layout() {
        let dir = tempfile::tempdir().unwrap();
        let mut header = METINGEN.to_vec();
        header.push("DATUM");
        let mut row = METING.to_vec();
        row.push("2026-10-02");
        let path = testfiles::write(
            dir.path(),
            "f.csv",
            format!("{}\n{}\n", header.join(";"), row.join(";")).as_bytes(),
        );
        let fatal = check(&path).unwrap_err();
        assert!(matches!(&fatal, Fatal::Header(u) if u.repeated == Some(("datum", 4, 9))));
    }
}
