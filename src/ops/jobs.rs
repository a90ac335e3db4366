//! Scheduled jobs inside the daemon (processing, publication, the sweep, reminders, quality
//! reports, the nightly backup): each waits for its next time (or catches up on a run
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
use crate::ledger::{Ledger, LedgerError};
use crate::mail::Wake;
use crate::schedule::{BACKUP, PROCESS, PUBLISH, QUALITY_REPORT, REMINDERS, SWEEP, of_job};
use crate::{process, publish::quality};

/// Longest sleep between looks at the clock: wall-clock jumps and reloads are noticed soon.
const RECHECK: Duration = Duration::from_secs(60);

/// A job's work, run on the blocking pool: a one-line account of what it did, or why not.
/// It rings the mail worker's [`Wake`] after each commit that queued mail.
type JobFn = fn(&Config, &mut Ledger, &dyn Fn() -> bool, &Wake) -> Result<String, String>;

fn process_work(
    config: &Config,
    ledger: &mut Ledger,
    stop: &dyn Fn() -> bool,
    mail: &Wake,
) -> Result<String, String> {
    process::run(config, ledger, stop, mail)
        .map(|r| r.to_string())
        .map_err(|e| e.to_string())
}

fn quality_work(
    config: &Config,
    ledger: &mut Ledger,
    _stop: &dyn Fn() -> bool,
    mail: &Wake,
) -> Result<String, String> {
    quality::queue_reports(config, ledger, crate::clock::now(), mail)
        .map(|n| format!("{n} reports made"))
        .map_err(|e| e.to_string())
}

fn publish_work(
    config: &Config,
    ledger: &mut Ledger,
    stop: &dyn Fn() -> bool,
    mail: &Wake,
) -> Result<String, String> {
    let municipalities = config
        .tenants
        .iter()
        .filter(|t| t.kind == crate::config::TenantKind::Municipality);
    let now = crate::clock::now();
    let outcomes = crate::publish::publish_all_due(config, ledger, municipalities, now, mail, stop);
    let made: usize = outcomes
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .map(Vec::len)
        .sum();
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|(_, r)| r.is_err())
        .map(|(t, _)| t.id.as_str())
        .collect();
    if failed.is_empty() {
        Ok(format!("{made} bundles published"))
    } else {
        Err(format!(
            "{made} bundles published; failed: {}",
            failed.join(", ")
        ))
    }
}

fn sweep_work(
    config: &Config,
    ledger: &mut Ledger,
    _stop: &dyn Fn() -> bool,
    mail: &Wake,
) -> Result<String, String> {
    crate::retention::sweep(config, ledger, crate::clock::now(), mail)
        .map(|r| r.to_string())
        .map_err(|e| e.to_string())
}

fn reminders_work(
    config: &Config,
    ledger: &mut Ledger,
    _stop: &dyn Fn() -> bool,
    mail: &Wake,
) -> Result<String, String> {
    crate::reminders::run(config, ledger, crate::clock::now(), mail)
        .map(|r| r.to_string())
        .map_err(|e| e.to_string())
}

/// The nightly backup; the job's own connection is not used: the copy reads the ledger
/// through one of its own, as `dropgate backup` does.
fn backup_work(
    config: &Config,
    _ledger: &mut Ledger,
    _stop: &dyn Fn() -> bool,
    _mail: &Wake,
) -> Result<String, String> {
    crate::ops::backup::nightly(config, crate::clock::now()).map_err(|e| e.to_string())
}

/// Runs every scheduled job until `shutdown`; what they queue rings `mail`.
pub(crate) async fn run_all(
    config: watch::Receiver<Arc<Config>>,
    mail: Wake,
    shutdown: CancellationToken,
) {
    tokio::join!(
        run(
            PROCESS,
            process_work,
            config.clone(),
            mail.clone(),
            shutdown.clone()
        ),
        run(
            PUBLISH,
            publish_work,
            config.clone(),
            mail.clone(),
            shutdown.clone()
        ),
        run(
            SWEEP,
            sweep_work,
            config.clone(),
            mail.clone(),
            shutdown.clone()
        ),
        run(
            REMINDERS,
            reminders_work,
            config.clone(),
            mail.clone(),
            shutdown.clone()
        ),
        run(
            QUALITY_REPORT,
            quality_work,
            config.clone(),
            mail.clone(),
            shutdown.clone()
        ),
        run(BACKUP, backup_work, config, mail, shutdown),
    );
}

async fn run(
    name: &'static str,
    work: JobFn,
    config: watch::Receiver<Arc<Config>>,
    mail: Wake,
    shutdown: CancellationToken,
) {
    // When this loop last ran the job: the job table's record of it may be missing (a full
    // or read-only disk refused it), and the job must then not run again at once, over and
    // over, as if its run had been missed.
    let mut attempted: Option<DateTime<Utc>> = None;
    loop {
        let current = config.borrow().clone();
        let Some(schedule) = of_job(name, &current) else {
            return;
        };
        let recorded = match last_run(&current, name).await {
            Ok(last) => last,
            Err(e) => {
                tracing::error!(job = name, error = %e, "cannot read the job table");
                None
            }
        };
        let last = recorded.max(attempted);
        let now = crate::clock::now();
        if schedule.missed(last, now) {
            tracing::info!(job = name, last_run = ?last, "a run was missed while the daemon was down; running now");
        } else {
            let next = schedule.next_after(last.map_or(now, |l| l.max(now)));
            let wait = (next - now).to_std().unwrap_or(Duration::ZERO).min(RECHECK);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            if crate::clock::now() < next {
                continue;
            }
        }
        let token = shutdown.clone();
        let mail = mail.clone();
        let started = crate::clock::now();
        attempted = Some(started);
        let outcome = tokio::task::spawn_blocking(move || {
            let state = StateDir::new(&current.state_dir);
            let mut ledger = Ledger::open(&state.ledger())?;
            let timer = std::time::Instant::now();
            let result = work(&current, &mut ledger, &|| token.is_cancelled(), &mail);
            crate::counters::job_took(name, timer.elapsed().as_secs_f64());
            match &result {
                Ok(done) => ledger.job_ran(name, started, done)?,
                Err(e) => ledger.job_failed(name, started, &format!("failed: {e}"))?,
            }
            // A run's claims or a publication's record can be large; the log they left need
            // not wait for the daemon's idle tick.
            ledger.checkpoint(crate::ledger::CHECKPOINT_PATIENCE);
            Ok::<_, LedgerError>(result)
        })
        .await;
        match outcome {
            Ok(Ok(Ok(done))) => tracing::info!(job = name, result = done, "job done"),
            Ok(Ok(Err(e))) => tracing::error!(
                job = name,
                error = e,
                "job failed; it runs again at its next time"
            ),
            Ok(Err(e)) => tracing::error!(job = name, error = %e, "job could not record itself"),
            Err(e) => tracing::error!(job = name, error = %e, "job panicked"),
        }
    }
}

async fn last_run(
    config: &Config,
    name: &'static str,
) -> Result<Option<DateTime<Utc>>, LedgerError> {
    let path = StateDir::new(&config.state_dir).ledger();
    tokio::task::spawn_blocking(move || Ledger::open_read_only(&path)?.job_last_run(name))
        .await
        .unwrap_or(Ok(None))
}
