//! Checking a whole delivered file: open it in its format, find its dataset, check every
//! row, and report each problem as it is found. Shared by `dropgate validate` (offline) and
//! the daily run, so that a vendor's pre-check and dropgate's verdict are the same.

use std::collections::BTreeMap;
use std::path::Path;

use crate::datasets::{Context, Dataset, Layout, Problem, Record, UnknownLayout};
use crate::formats::{self, FileError, Format, Limits, ReadError};

/// Why a file could not be checked at all.
#[derive(Debug, thiserror::Error)]
pub enum Fatal {
    /// Unreadable, or over a limit: the file goes to quarantine.
    #[error(transparent)]
    File(#[from] FileError),
    /// Readable, but not a known dataset: rejected.
    #[error("{0}")]
    Layout(UnknownLayout),
    /// A known dataset that this deliverer does not send: rejected.
    #[error("{dataset} cannot be delivered here: this folder takes {allowed}")]
    NotAllowed { dataset: Dataset, allowed: String },
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
pub fn duplicate_problem(line: u64, record: &Record) -> Problem {
    let column = match record {
        Record::Meting(_) => "metingnummer",
        Record::Beschikking(_) => "beschikkingnummer",
    };
    Problem {
        line,
        column: column.to_owned(),
        value: crate::datasets::shown(record.key().1),
        rule: DUPLICATE_IN_FILE,
        message: "appears earlier in this file; the first one stands".into(),
    }
}

/// The rule of a repeated key within one file.
pub const DUPLICATE_IN_FILE: &str = "duplicate-in-file";

impl Summary {
    /// Turns one accepted row into a rejected repeat (for a caller that learns of repeats
    /// after the row was counted).
    pub fn count_duplicate(&mut self) {
        self.rejected += 1;
        *self.rules.entry(DUPLICATE_IN_FILE).or_default() += 1;
    }

    /// The most frequent rules, most first.
    pub fn top_rules(&self, n: usize) -> Vec<(&'static str, u64)> {
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
    let table = match formats::open(path, limits, &Dataset::xml_columns) {
        Ok(table) => table,
        Err(e) => return Ok(Err(e.into())),
    };
    let format: Format = table.format;
    let layout: Layout = match dataset {
        Some(d) => match d.layout(&table.header) {
            Ok(layout) => layout,
            Err(missing) => {
                let unknown = UnknownLayout {
                    found: table.header.clone(),
                    missing: vec![(d, missing)],
                };
                return Ok(Err(Fatal::Layout(unknown)));
            }
        },
        None => match Dataset::detect(&table.header) {
            Ok(layout) => layout,
            Err(unknown) => return Ok(Err(Fatal::Layout(unknown))),
        },
    };
    if !ctx.datasets.is_empty() && !ctx.datasets.contains(&layout.dataset) {
        let allowed = ctx
            .datasets
            .iter()
            .map(|d| d.name())
            .collect::<Vec<_>>()
            .join(", ");
        return Ok(Err(Fatal::NotAllowed {
            dataset: layout.dataset,
            allowed,
        }));
    }
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
                summary.rows += 1;
                summary.rejected += 1;
                *summary.rules.entry("unreadable").or_default() += 1;
                let problem = Problem {
                    line,
                    column: String::new(),
                    value: String::new(),
                    rule: "unreadable",
                    message,
                };
                on_problem(&problem)?;
                continue;
            }
        };
        summary.rows += 1;
        let line = row.line;
        match layout.check(&row, ctx) {
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
    }
    Ok(Ok(summary))
}
