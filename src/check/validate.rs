//! `dropgate validate`: the daily run's checks on one file, offline, for vendors to run
//! before they deliver, in the same confined reader with the same limits. No key and no
//! state: BSNs get the 11-check only, and AGB and CBS codes their shape only (who may
//! deliver for which code is the server's call).

use std::path::Path;

use chrono::NaiveDate;
use serde_json::json;

use crate::check::confine::{self, Confinement, Failure, Job};
use crate::check::datasets::{Context, Dataset, Problem, ScoreRanges};
use crate::check::formats::Limits;
use crate::check::receipt::{ProblemLog, Receipt, render_text};
use crate::check::{Summary, duplicate_problem};
use crate::message::Language;

/// Problems listed in the JSON report (all are counted).
const JSON_PROBLEMS: usize = 1000;

/// The outcome of validating one file.
pub struct Validation {
    pub passed: bool,
    /// The receipt as the daily run would write it (`.txt` form).
    pub text: String,
    pub json: serde_json::Value,
}

/// What `validate` runs with: the configuration's limits and language, or the defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct Settings {
    pub limits: Limits,
    pub reader: Confinement,
    pub language: Language,
}

/// Checks `path` as the daily run would, on `today`, in the same confined reader.
pub fn validate(
    path: &Path,
    dataset: Option<Dataset>,
    today: NaiveDate,
    settings: &Settings,
) -> std::io::Result<Validation> {
    let ctx = Context {
        today,
        scores: ScoreRanges::default(),
        provider: None,
        municipality: None,
        datasets: &[],
    };
    let job = Job::new(settings.limits, dataset, &ctx);
    let work = std::env::temp_dir().join(format!(
        "dropgate-validate-{}.csv",
        crate::secrets::random_hex(8).map_err(std::io::Error::other)?
    ));
    let result = check_logged(path, &job, settings, &work)
        .and_then(|checked| report(path, today, settings, &work, checked));
    let _ = std::fs::remove_file(&work);
    result
}

/// What the confined reader made of a file: its summary (repeats of a key counted), or why
/// it could not be read through, and the first [`JSON_PROBLEMS`] problems in line order.
struct Checked {
    summary: Summary,
    fatal: Option<Failure>,
    listed: Vec<Problem>,
}

/// Checks `path` in the confined reader, every problem into the problem log at `work`;
/// repeats of a key join the log after the rest, as the daily run's store finds them.
fn check_logged(
    path: &Path,
    job: &Job,
    settings: &Settings,
    work: &Path,
) -> std::io::Result<Checked> {
    let mut log = ProblemLog::create(work, settings.language)?;
    let mut listed: Vec<Problem> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut repeats = Vec::new();
    let outcome = confine::check(
        std::fs::File::open(path)?,
        job,
        settings.reader,
        |line, record| {
            // A message sent twice is kept once by the ledger: no problem of the file.
            if matches!(record, crate::check::datasets::Record::Bericht(_)) {
                return Ok(());
            }
            let (a, b) = record.key();
            if !seen.insert((a.to_owned(), b.to_owned())) {
                repeats.push(duplicate_problem(line, &record));
            }
            Ok::<_, std::io::Error>(())
        },
        |problem| {
            if listed.len() < JSON_PROBLEMS {
                listed.push(problem.clone());
            }
            log.push(problem)
        },
    )?;
    // Repeats are known only once both rows are seen; they join the log in line order.
    for problem in &repeats {
        if listed.len() < JSON_PROBLEMS {
            listed.push(problem.clone());
        }
        log.push(problem)?;
    }
    listed.sort_by_key(|p| p.line);
    log.finish()?;
    let (summary, fatal) = match outcome {
        Ok(mut summary) => {
            summary.accepted -= repeats.len() as u64;
            for _ in &repeats {
                summary.count_duplicate();
            }
            (summary, None)
        }
        Err(failure) => (Summary::default(), Some(failure)),
    };
    Ok(Checked {
        summary,
        fatal,
        listed,
    })
}

/// The verdict on `path`, as the receipt's text (its problems read from the log at `work`)
/// and as JSON.
fn report(
    path: &Path,
    today: NaiveDate,
    settings: &Settings,
    work: &Path,
    checked: Checked,
) -> std::io::Result<Validation> {
    let Checked {
        summary,
        fatal,
        listed,
    } = checked;
    let passed = fatal.is_none() && summary.rejected == 0 && summary.rows > 0;
    let receipt = Receipt {
        file: path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        received: None,
        checked: today.to_string(),
        status: if passed { "passed" } else { "failed" }.into(),
        summary: summary.clone(),
        fatal: fatal.as_ref().map(|f| f.text(settings.language)),
        language: settings.language,
    };
    let text = render_text(&receipt, Some(work))?;
    let json = json!({
        "file": crate::redact::name(&receipt.file),
        "status": receipt.status,
        "format": summary.format,
        "dataset": summary.dataset.map(|d| d.name()),
        "error": receipt.fatal,
        "error_code": fatal.as_ref().map(Failure::code),
        "rows": summary.rows,
        "accepted": summary.accepted,
        "rejected": summary.rejected,
        "ignored_columns": summary.extra_columns,
        "rules": summary.rules,
        "problems": listed.iter().map(|p| json!({
            "line": p.line, "column": p.column, "value": p.value, "rule": p.rule, "message": p.message.pick(settings.language),
        })).collect::<Vec<_>>(),
        "problems_listed_all": log_count_le(&summary, listed.len()),
    });
    Ok(Validation { passed, text, json })
}

fn log_count_le(summary: &Summary, listed: usize) -> bool {
    summary.rules.values().sum::<u64>() <= listed as u64
}
