//! `dropgate validate`: the daily run's checks on one file, offline, for vendors to run
//! before they deliver. No key, no state, no configuration: BSNs get the 11-check only, and
//! AGB and CBS codes their shape only (who may deliver for which code is the server's call).

use std::path::Path;

use chrono::NaiveDate;
use serde_json::json;

use crate::check::{Summary, Verdict, check_file};
use crate::datasets::{Context, Dataset, Problem, ScoreRanges};
use crate::formats::Limits;
use crate::receipt::{ProblemLog, Receipt, render_text};

/// Problems listed in the JSON report (all are counted).
const JSON_PROBLEMS: usize = 1000;

/// The outcome of validating one file.
pub struct Validation {
    pub passed: bool,
    /// The receipt as the daily run would write it (`.txt` form).
    pub text: String,
    pub json: serde_json::Value,
}

/// Checks `path` as the daily run would, on `today`.
pub fn validate(
    path: &Path,
    dataset: Option<Dataset>,
    today: NaiveDate,
) -> std::io::Result<Validation> {
    let ctx = Context {
        today,
        scores: ScoreRanges::default(),
        agb_codes: None,
        municipality: None,
        datasets: &[],
    };
    let work = std::env::temp_dir().join(format!(
        "dropgate-validate-{}.csv",
        crate::secrets::random_hex(8).map_err(std::io::Error::other)?
    ));
    let result = (|| {
        let mut log = ProblemLog::create(&work)?;
        let mut listed: Vec<Problem> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let outcome = check_file(
            path,
            Limits::default(),
            dataset,
            &ctx,
            |_, record| {
                let (a, b) = record.key();
                Ok(if seen.insert((a.to_owned(), b.to_owned())) {
                    Verdict::Accepted
                } else {
                    Verdict::DuplicateInFile
                })
            },
            |problem| {
                if listed.len() < JSON_PROBLEMS {
                    listed.push(problem.clone());
                }
                log.push(problem)
            },
        )?;
        log.finish()?;
        let (summary, fatal) = match outcome {
            Ok(summary) => (summary, None),
            Err(fatal) => (Summary::default(), Some(fatal.to_string())),
        };
        let passed = fatal.is_none() && summary.rejected == 0 && summary.rows > 0;
        let receipt = Receipt {
            file: path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            received: None,
            checked: today.to_string(),
            status: if passed { "passed" } else { "failed" }.into(),
            summary: summary.clone(),
            fatal: fatal.clone(),
        };
        let text = render_text(&receipt, Some(&work))?;
        let json = json!({
            "file": receipt.file,
            "status": receipt.status,
            "format": summary.format,
            "dataset": summary.dataset.map(|d| d.name()),
            "error": fatal,
            "rows": summary.rows,
            "accepted": summary.accepted,
            "rejected": summary.rejected,
            "ignored_columns": summary.extra_columns,
            "rules": summary.rules,
            "problems": listed.iter().map(|p| json!({
                "line": p.line, "column": p.column, "value": p.value, "rule": p.rule, "message": p.message,
            })).collect::<Vec<_>>(),
            "problems_listed_all": log_count_le(&summary, listed.len()),
        });
        Ok(Validation { passed, text, json })
    })();
    let _ = std::fs::remove_file(&work);
    result
}

fn log_count_le(summary: &Summary, listed: usize) -> bool {
    summary.rules.values().sum::<u64>() <= listed as u64
}
