//! The child's side: `dropgate read-delivery JOB` with the delivered file as stdin and a
//! pipe as stdout. It runs `check::check_file` and streams what it finds; it holds no key,
//! no configuration and no ledger, and it writes nothing but the pipe.

use std::io::{self, BufWriter, Write};
use std::path::Path;

use super::wire::{self, Job, Message, RecordRef, WireFatal, WireProblem, WireSummary};
use super::{FILE_FD_PATH, fatal_texts};
use crate::check::datasets::{Context, Dataset, ScoreRanges};
use crate::check::formats::{FileError, Limits};
use crate::check::{Fatal, Verdict, check_file};

/// Exit status of a child that could not understand its job (a bug, not the file's fault).
const BAD_JOB: i32 = 3;

/// Runs the child and exits. Every panic aborts the whole child, so that a panic on a
/// reader's own thread cannot end the row stream early and pass for the end of the file.
pub fn main(job: &str) -> ! {
    std::panic::set_hook(Box::new(|info| {
        // The parent only classifies this text; it never shows it to anyone.
        eprintln!("dropgate reader panicked: {info}");
        std::process::abort();
    }));
    let job: Job = match serde_json::from_str(job) {
        Ok(job) => job,
        Err(e) => {
            eprintln!("dropgate reader: bad job: {e}");
            std::process::exit(BAD_JOB);
        }
    };
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(64 * 1024, stdout.lock());
    match run(&job, &mut out).and_then(|()| out.flush()) {
        Ok(()) => std::process::exit(0),
        // The parent hung up (it stopped reading, or is gone): nothing to tell anyone.
        Err(_) => std::process::exit(1),
    }
}

fn run(job: &Job, out: &mut impl Write) -> io::Result<()> {
    let datasets: Vec<Dataset> = job
        .datasets
        .iter()
        .filter_map(|d| Dataset::parse(d))
        .collect();
    let ctx = Context {
        today: job.today,
        scores: ScoreRanges {
            ct: job.scores_ct,
            gas: job.scores_gas,
        },
        provider: job.provider.as_ref(),
        municipality: job.municipality.as_deref(),
        datasets: &datasets,
    };
    let limits = Limits {
        max_line_bytes: job.max_line_bytes,
        max_field_bytes: job.max_field_bytes,
        max_rows: job.max_rows,
        max_unpacked_bytes: job.max_unpacked_bytes,
    };
    let dataset = job.dataset.as_deref().and_then(Dataset::parse);
    // Rows and problems go to the one pipe in the order they are found.
    let out = std::cell::RefCell::new(wire::FrameWriter::new(out));
    let checked = check_file(
        Path::new(FILE_FD_PATH),
        limits,
        dataset,
        &ctx,
        |line, record| {
            let record = RecordRef::new(record);
            out.borrow_mut().write(&Message::Record { line, record })?;
            Ok::<_, io::Error>(Verdict::Accepted)
        },
        |problem| {
            let problem = WireProblem::from_problem(problem);
            out.borrow_mut().write(&Message::Problem(problem))
        },
    )?;
    let done = checked
        .map(|s| WireSummary {
            format: s.format.map(str::to_owned),
            dataset: s.dataset.map(|d| d.name().to_owned()),
            extra_columns: s.extra_columns,
            rows: s.rows,
            accepted: s.accepted,
            rejected: s.rejected,
            rules: s
                .rules
                .into_iter()
                .map(|(rule, n)| (rule.to_owned(), n))
                .collect(),
            messages: s.messages.is_some(),
        })
        .map_err(|fatal| {
            let (en, nl) = fatal_texts(&fatal);
            WireFatal {
                // A file with a header and no rows was read; it holds nothing to take.
                unreadable: matches!(fatal, Fatal::File(e) if !matches!(e, FileError::NoDataRows)),
                en,
                nl,
            }
        });
    out.into_inner().write(&Message::Done(done))
}
