//! Scheduled jobs inside the daemon: each waits for its next time (or catches up on a run
//! missed while the daemon was down), runs on the blocking pool, and records the run.
//!
//! Jobs ask the shutdown token between units of work, never in the middle of one; a job
//! never runs twice at once (its loop is sequential).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::layout::StateDir;
use crate::ledger::Ledger;
use crate::process;
use crate::schedule::{Every, Schedule};

/// Longest sleep between looks at the clock: wall-clock jumps and reloads are noticed soon.
const RECHECK: Duration = Duration::from_secs(60);

/// The daily processing job.
pub const PROCESS: &str = "process";

/// The schedule of job `name` under `config`.
pub fn schedule_of(name: &str, config: &Config) -> Option<Schedule> {
    let every = match name {
        PROCESS => Every::Day(config.schedule.process_at),
        _ => return None,
    };
    Some(Schedule {
        every,
        tz: config.time_zone,
    })
}

/// Runs the processing job until `shutdown`.
pub async fn run_processing(config: watch::Receiver<Arc<Config>>, shutdown: CancellationToken) {
    loop {
        let current = config.borrow().clone();
        let Some(schedule) = schedule_of(PROCESS, &current) else {
            return;
        };
        let last = match last_run(&current, PROCESS).await {
            Ok(last) => last,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the job table");
                None
            }
        };
        let now = Utc::now();
        if schedule.missed(last, now) {
            tracing::info!(last_run = ?last, "processing run was missed while the daemon was down; running now");
        } else {
            let next = schedule.next_after(last.map_or(now, |l| l.max(now)));
            let wait = (next - now).to_std().unwrap_or(Duration::ZERO).min(RECHECK);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            if Utc::now() < next {
                continue;
            }
        }
        let token = shutdown.clone();
        let started = Utc::now();
        let outcome = tokio::task::spawn_blocking(move || {
            let state = StateDir::new(&current.state_dir);
            let mut ledger = Ledger::open(&state.ledger())?;
            let result = process::run(&current, &mut ledger, &|| token.is_cancelled());
            let summary = match &result {
                Ok(report) => report.to_string(),
                Err(e) => format!("failed: {e}"),
            };
            ledger.job_ran(PROCESS, started, &summary)?;
            Ok::<_, crate::ledger::LedgerError>(result)
        })
        .await;
        match outcome {
            Ok(Ok(Ok(report))) => tracing::info!(%report, "processing run done"),
            Ok(Ok(Err(e))) => {
                tracing::error!(error = %e, "processing run failed; files stay waiting")
            }
            Ok(Err(e)) => tracing::error!(error = %e, "processing run could not record itself"),
            Err(e) => tracing::error!(error = %e, "processing run panicked"),
        }
    }
}

async fn last_run(
    config: &Config,
    name: &'static str,
) -> Result<Option<DateTime<Utc>>, crate::ledger::LedgerError> {
    let path = StateDir::new(&config.state_dir).ledger();
    tokio::task::spawn_blocking(move || Ledger::open_read_only(&path)?.job_last_run(name))
        .await
        .unwrap_or(Ok(None))
}
