//! Checking a whole delivered file: open it in its format, find its dataset, check every
//! row, and report each problem as it is found. Shared by `dropgate validate` (offline) and
//! the daily run, so that a vendor's pre-check and dropgate's verdict are the same.

pub mod confine;
pub mod datasets;
pub mod formats;
pub mod messages;
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
    /// iJw or iWmo messages in a folder that takes measurements: messages come from a
    /// municipality.
    #[error("iJw and iWmo messages cannot be delivered here: they come from a municipality")]
    MessagesNotAllowed,
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
    /// For a file of iJw/iWmo messages (a row is a message then): what storing them found.
    pub messages: Option<MessageCounts>,
}

/// What storing a file's messages found beside the check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageCounts {
    /// Accepted messages the ledger already held (by their header identity): kept once.
    pub known: u64,
}

/// The problem of a row whose key appeared earlier in the same file.
pub(crate) fn duplicate_problem(line: u64, record: &Record) -> Problem {
    let (column, value) = match record {
        Record::Meting(_) => (
            "metingnummer",
            crate::check::datasets::shown(record.key().1),
        ),
        Record::Beschikking(_) => (
            "beschikkingnummer",
            crate::check::datasets::shown(record.key().1),
        ),
        // Its identification is kept only as a keyed hash: name its type and date instead.
        Record::Bericht(m) => (
            "BerichtIdentificatie",
            format!("{} {}", m.kind(), m.header.dagtekening.format("%d-%m-%Y")),
        ),
    };
    Problem {
        line,
        column: column.to_owned(),
        value,
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
    if let Some(messages) =
        messages::delivery::check(path, limits, ctx, &mut on_record, &mut on_problem)?
    {
        return Ok(messages);
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
