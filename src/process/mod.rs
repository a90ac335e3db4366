//! The daily run (DESIGN 2.3): every delivery that waits is read, checked row by row,
//! pseudonymised and stored in one transaction; then it gets its receipts, the original
//! moves to `archive/` (or `quarantine/`), and the result is announced.
//!
//! Only deliveries the ledger holds as received (or as unanswered duplicates) are read, and
//! each is claimed under the ledger's write lock, so a file is processed once however many
//! runs overlap. A run cut off after a commit is finished by the next one. A clear BSN exists
//! only between reading a row and hashing it.

mod messages;

use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::check::confine::{self, Failure, Job};
use crate::check::datasets::{Context, Dataset, Provider, Record, ScoreRanges};
use crate::check::receipt::{self, ProblemLog, Receipt};
use crate::check::{Summary, duplicate_problem};
use crate::config::{Config, TenantKind};
use crate::figures::OnTime;
use crate::fingerprint::Fingerprint;
use crate::layout::{
    RECEIPT_CSV, RECEIPT_TXT, StateDir, UploadLock, archive_name, create_private_dir,
    move_no_replace, receipt_stem,
};
use crate::ledger::{
    Claim, DecisionRow, Delivery, DeliveryState, Ledger, LedgerError, MeasurementRow,
    MessageStored, Outcome, RowSink,
};
use crate::mail::{self, Wake};
use crate::message::Language;
use crate::pseudonym::{Hex, KeyError, Keyed};

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("processing is off: {0}")]
    Key(#[from] KeyError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error("the run stopped part-way")]
    Stopped,
    #[error("reading the file failed inside dropgate: {0}")]
    Panicked(String),
    /// The confined reader could not be started: a matter of the machine, not the file.
    #[error("cannot start the confined reader: {0}")]
    Reader(io::Error),
}

impl ProcessError {
    /// Whether the environment failed (ledger, full or read-only disk, key), which stops a
    /// run, rather than this one delivery, which only gets its own outcome.
    pub(crate) fn is_environment(&self) -> bool {
        match self {
            Self::Key(_) | Self::Ledger(_) | Self::Reader(_) => true,
            Self::Io { source, .. } => matches!(
                source.kind(),
                io::ErrorKind::StorageFull
                    | io::ErrorKind::QuotaExceeded
                    | io::ErrorKind::ReadOnlyFilesystem
                    | io::ErrorKind::OutOfMemory
            ),
            Self::Stopped | Self::Panicked(_) => false,
        }
    }
}

/// Runs in a row that may fail on one delivery before it is quarantined.
pub(crate) const MAX_FAILURES: u32 = 3;

impl From<io::Error> for ProcessError {
    /// The confined reader could not be started (or its file not opened).
    fn from(source: io::Error) -> Self {
        Self::Reader(source)
    }
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> ProcessError {
    let what = what.into();
    move |source| ProcessError::Io { what, source }
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    pub processed: u64,
    pub rejected: u64,
    pub quarantined: u64,
    pub duplicates: u64,
    /// Claimed by another run, changed on disk, or of a tenant no longer configured.
    pub skipped: u64,
    /// Failed in this run without an outcome (tried again next run, up to `MAX_FAILURES`).
    pub failed: u64,
}

impl RunReport {
    /// Counts a delivery that got `outcome`.
    fn count(&mut self, outcome: DeliveryState) {
        match outcome {
            DeliveryState::Processed => self.processed += 1,
            DeliveryState::Rejected => self.rejected += 1,
            DeliveryState::Quarantined => self.quarantined += 1,
            _ => self.duplicates += 1,
        }
    }
}

impl std::fmt::Display for RunReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} processed, {} rejected, {} quarantined, {} duplicates answered, {} skipped, {} failed",
            self.processed,
            self.rejected,
            self.quarantined,
            self.duplicates,
            self.skipped,
            self.failed
        )
    }
}

/// Runs once over everything that waits. `stop` is asked between deliveries; `mail` rings
/// after each, so that its result mail goes out while the run goes on.
pub fn run(
    config: &Config,
    ledger: &mut Ledger,
    stop: &dyn Fn() -> bool,
    mail: &Wake,
) -> Result<RunReport, ProcessError> {
    let state = StateDir::new(&config.state_dir);
    let mut report = RunReport::default();
    finish_interrupted(&state, ledger, &mut report)?;
    // Checked against the fingerprint the ledger recorded: a swapped key would give every
    // citizen a second pseudonym.
    let key = crate::keys::ttp(config, ledger, crate::clock::now())?;
    for id in ledger.deliveries_to_process()? {
        if stop() {
            break;
        }
        let done = process_one(config, &state, &key, ledger, id, &mut report, None);
        // Whatever came of it: a result mail commits with its outcome, and a ring with
        // nothing queued costs the worker one look.
        mail.queued();
        let Err(error) = done else {
            continue;
        };
        if error.is_environment() {
            return Err(error);
        }
        report.failed += 1;
        let failures = record_failure(ledger, id, &error)?;
        if failures >= MAX_FAILURES {
            let why = crate::redact::text(&error.to_string()).into_owned();
            let forced = process_one(config, &state, &key, ledger, id, &mut report, Some(&why));
            mail.queued();
            if let Err(e) = forced {
                if e.is_environment() {
                    return Err(e);
                }
                tracing::error!(delivery = id, error = %crate::redact::text(&e.to_string()), "cannot quarantine a delivery that failed {failures} runs");
            }
        }
    }
    Ok(report)
}

/// Records a run's failure on one delivery; returns how many runs have failed on it.
fn record_failure(ledger: &mut Ledger, id: i64, error: &ProcessError) -> Result<u32, ProcessError> {
    let text = crate::redact::text(&error.to_string()).into_owned();
    let failures = ledger.record_failure(id, &text, crate::clock::now())?;
    tracing::error!(
        delivery = id,
        failures,
        error = %text,
        "processing failed on this delivery; the run goes on with the next"
    );
    Ok(failures)
}

/// Files of one delivery while its receipts are being made.
struct WorkFiles {
    problems: PathBuf,
    /// Repeats of a key within the file, found while storing (merged into `problems`).
    repeats: PathBuf,
    merged: PathBuf,
    csv: PathBuf,
    txt: PathBuf,
}

impl WorkFiles {
    /// Removes what an earlier, failed attempt at this delivery left (its outcome was not
    /// committed, so none of it is a receipt): each attempt starts clean.
    fn clear_attempt(&self) {
        for leftover in [&self.problems, &self.repeats, &self.merged] {
            let _ = std::fs::remove_file(leftover);
        }
    }

    fn new(state: &StateDir, id: i64) -> Self {
        let base = state.staging().join(format!("receipt-{id}"));
        let with = |ext: &str| PathBuf::from(format!("{}.{ext}", base.display()));
        Self {
            problems: with("problems.csv"),
            repeats: with("repeats.csv"),
            merged: with("merged.csv"),
            csv: with("result.csv"),
            txt: with("result.txt"),
        }
    }
}

/// One delivery, in its phases: claim and prepare, read (or judge without reading), write
/// the receipts and commit the outcome with its mail, then move the files and count it.
fn process_one(
    config: &Config,
    state: &StateDir,
    key: &Keyed,
    ledger: &mut Ledger,
    id: i64,
    report: &mut RunReport,
    // Set after `MAX_FAILURES` failed runs: quarantine with this reason, read nothing.
    forced: Option<&str>,
) -> Result<(), ProcessError> {
    let now = crate::clock::now();
    let Some(mut claim) = ledger.claim(id, now)? else {
        report.skipped += 1;
        return Ok(());
    };
    let Some((one, mut log)) = prepare(config, state, &claim.delivery, forced, now)? else {
        report.skipped += 1;
        return Ok(());
    };
    let Some(judged) = judge(config, key, &one, &mut claim, &mut log)? else {
        report.skipped += 1;
        return Ok(());
    };
    // The hash that decides whether the original may leave upload/ runs while the receipts
    // are written and the outcome committed (mostly waiting for the disk).
    let rehash = std::thread::spawn({
        let source = one.source.clone();
        move || Fingerprint::take(&source)
    });
    let mailed = commit(config, &one, claim, &judged, log)?;
    let seen = rehash
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("hashing panicked")));
    let Judged {
        state: outcome_state,
        summary,
        error,
        ..
    } = &judged;
    finish(
        state,
        ledger,
        id,
        &one.delivery,
        *outcome_state,
        &one.receipt_name,
        seen,
    )?;
    report.count(*outcome_state);
    tracing::info!(
        tenant = one.delivery.tenant,
        file = %crate::redact::name(&one.delivery.file_name),
        state = outcome_state.as_str(),
        rows = summary.rows,
        accepted = summary.accepted,
        rejected = summary.rejected,
        error = error.as_deref(),
        receipt = crate::layout::receipt_shown(&one.receipt_name),
        "delivery processed"
    );
    if !mailed {
        tracing::debug!(
            tenant = one.delivery.tenant,
            "no result mail: the tenant has no contacts"
        );
    }
    Ok(())
}

/// A claimed delivery, ready to be judged.
struct OneDelivery<'a> {
    delivery: Delivery,
    tenant: &'a crate::config::Tenant,
    /// The file in `upload/`.
    source: PathBuf,
    /// The file as the reader gets it; a duplicate or a forced quarantine reads nothing.
    file: Option<std::fs::File>,
    /// Set after `MAX_FAILURES` failed runs: the reason to quarantine it unread.
    forced: Option<String>,
    local: DateTime<Tz>,
    receipt_name: String,
    work: WorkFiles,
}

/// Finds the claimed delivery's tenant and file and opens its problem log; `None` (the
/// delivery left waiting) when its tenant is no longer configured or its file is gone.
fn prepare<'a>(
    config: &'a Config,
    state: &StateDir,
    delivery: &Delivery,
    forced: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<(OneDelivery<'a>, ProblemLog)>, ProcessError> {
    let shown = crate::redact::name(&delivery.file_name);
    let Some(tenant) = config.tenant(&delivery.tenant) else {
        tracing::warn!(tenant = delivery.tenant, file = %shown, "tenant no longer configured; delivery left waiting");
        return Ok(None);
    };
    let source = state.upload(&delivery.tenant).join(&delivery.file_name);
    let file = if delivery.state != DeliveryState::Duplicate && forced.is_none() {
        match std::fs::File::open(&source) {
            Ok(file) => Some(file),
            Err(e) => {
                tracing::warn!(tenant = delivery.tenant, file = %shown, error = %e, "file is gone from upload/; left waiting");
                return Ok(None);
            }
        }
    } else {
        None
    };
    let local = now.with_timezone(&config.time_zone);
    let receipt_name = receipt_stem(
        &delivery.file_name,
        &local.format("%Y%m%d%H%M%S").to_string(),
    );
    let work = WorkFiles::new(state, delivery.id);
    work.clear_attempt();
    let log = ProblemLog::create(&work.problems, config.language)
        .map_err(io_err("cannot write a receipt in staging/"))?;
    let one = OneDelivery {
        delivery: delivery.clone(),
        tenant,
        source,
        file,
        forced: forced.map(str::to_owned),
        local,
        receipt_name,
        work,
    };
    Ok(Some((one, log)))
}

/// The delivery's outcome: read and stored through `claim` (problems to `log`), or judged
/// unread (a forced quarantine, a duplicate). `None` when the file changed since intake
/// recorded it, or a failed read's rows could not be rolled back: it is left waiting.
fn judge(
    config: &Config,
    key: &Keyed,
    one: &OneDelivery<'_>,
    claim: &mut Claim<'_>,
    log: &mut ProblemLog,
) -> Result<Option<Judged>, ProcessError> {
    let language = config.language;
    let file = match (&one.forced, &one.file) {
        (Some(why), _) => return Ok(Some(forced_outcome(why, language))),
        (None, None) => return Ok(Some(duplicate_outcome(&one.delivery, language))),
        (None, Some(file)) => file
            .try_clone()
            .map_err(io_err("cannot read the delivery"))?,
    };
    let received = chrono::DateTime::parse_from_rfc3339(&one.delivery.received_at);
    let reading = Reading {
        config,
        tenant: one.tenant,
        key,
        today: one.local.date_naive(),
        // The ledger writes every time it holds as RFC 3339; should one not parse, the
        // delivery's on-time count is unknown rather than wrong.
        on_time: received
            .ok()
            .map(|t| OnTime::received(t.to_utc(), config.time_zone)),
        source: &one.source,
        recorded_sha256: &one.delivery.sha256,
        work: &one.work,
    };
    match read_and_store(&reading, file, claim, log)? {
        Read::Outcome(outcome) => Ok(Some(outcome)),
        Read::Changed => {
            tracing::warn!(
                tenant = one.delivery.tenant,
                file = %crate::redact::name(&one.delivery.file_name),
                "file changed since it was recorded; left for intake"
            );
            one.work.clear_attempt();
            Ok(None)
        }
        Read::Failed(failure) => {
            // Rows may have been stored before the file failed part-way.
            if !claim.discard_rows()? {
                let _ = std::fs::remove_file(&one.work.problems);
                return Ok(None);
            }
            let state = if failure.quarantines() {
                DeliveryState::Quarantined
            } else {
                DeliveryState::Rejected
            };
            Ok(Some(Judged {
                state,
                summary: Summary::default(),
                error: Some(failure.text(language)),
                on_time: None,
            }))
        }
    }
}

/// Writes the receipts into the work files and commits the outcome with its result mail
/// (both or neither); returns whether a mail was queued.
fn commit(
    config: &Config,
    one: &OneDelivery<'_>,
    claim: Claim<'_>,
    judged: &Judged,
    log: ProblemLog,
) -> Result<bool, ProcessError> {
    let Judged {
        state,
        summary,
        error,
        on_time,
    } = judged;
    let verdict = (*state, summary, error.as_deref());
    let first_problems = write_receipt(config, &one.delivery, verdict, one.local, &one.work, log)?;
    let outcome = Outcome {
        state: *state,
        dataset: summary.dataset.map(|d| d.name()),
        format: summary.format,
        rows: summary.rows,
        accepted: summary.accepted,
        rejected: summary.rejected,
        error: error.clone(),
        receipt: one.receipt_name.clone(),
        rules: summary.rules.clone(),
        on_time: *on_time,
    };
    let mail = result_mail(
        config,
        &one.delivery,
        verdict,
        &one.receipt_name,
        &first_problems,
    );
    let contacts = &one.tenant.contacts;
    let new_mail = mail.to_mail("delivery-result", &one.delivery.tenant, contacts);
    let queued = (!contacts.is_empty()).then(|| (&new_mail, crate::mail::new_message_id()));
    claim.commit(&outcome, queued.as_ref().map(|(m, id)| (*m, id.as_str())))?;
    Ok(queued.is_some())
}

/// `rfc3339` (a time the ledger holds) in the configured zone, as `format` writes it;
/// unchanged if it is not a time.
fn local_time(config: &Config, rfc3339: &str, format: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339).map_or_else(
        |_| rfc3339.to_owned(),
        |t| {
            t.with_timezone(&config.time_zone)
                .format(format)
                .to_string()
        },
    )
}

/// How a delivery was judged: its state, the check's summary, and why it was not read
/// through, if it was not.
type Verdict<'a> = (DeliveryState, &'a Summary, Option<&'a str>);

/// Finishes the problem log (merging in the repeats only the store could see) and writes
/// the receipt pair into the delivery's work files; returns the first problems, for the
/// result mail.
fn write_receipt(
    config: &Config,
    delivery: &Delivery,
    (state, summary, error): Verdict<'_>,
    local: chrono::DateTime<chrono_tz::Tz>,
    work: &WorkFiles,
    log: ProblemLog,
) -> Result<Vec<mail::messages::ProblemLine>, ProcessError> {
    log.finish()
        .map_err(io_err("cannot write a receipt in staging/"))?;
    if work.repeats.exists() {
        receipt::merge_logs(&work.problems, &work.repeats, &work.merged)
            .and_then(|()| std::fs::rename(&work.merged, &work.problems))
            .map_err(io_err("cannot write a receipt in staging/"))?;
        let _ = std::fs::remove_file(&work.repeats);
    }
    // ISO 8601 with the zone's offset: the .txt shows it as people write times.
    let iso = "%Y-%m-%dT%H:%M:%S%:z";
    let receipt = Receipt {
        file: delivery.file_name.clone(),
        received: Some(local_time(config, &delivery.received_at, iso)),
        checked: local.format(iso).to_string(),
        status: state.as_str().to_owned(),
        summary: summary.clone(),
        fatal: error.map(str::to_owned),
        language: config.language,
    };
    receipt::write(&receipt, Some(&work.problems), &work.csv, &work.txt)
        .map_err(io_err("cannot write a receipt in staging/"))?;
    let first_problems = receipt::first_problems(&work.problems, 10).unwrap_or_default();
    let _ = std::fs::remove_file(&work.problems);
    Ok(first_problems)
}

/// The mail that tells a tenant's contacts how their delivery fared.
fn result_mail(
    config: &Config,
    delivery: &Delivery,
    (state, summary, error): Verdict<'_>,
    receipt_name: &str,
    first_problems: &[mail::messages::ProblemLine],
) -> mail::messages::Text {
    mail::messages::delivery_result(
        config.language,
        &mail::messages::DeliveryResult {
            file: &crate::redact::name(&delivery.file_name),
            received: &local_time(config, &delivery.received_at, "%d-%m-%Y %H:%M"),
            state: state.as_str(),
            rows: summary.rows,
            accepted: summary.accepted,
            rejected: summary.rejected,
            error,
            receipt: &crate::layout::receipt_shown(receipt_name),
            problems: first_problems,
        },
    )
}

/// The care provider of a supplier tenant's folder, with the folders of the others: the
/// rows of a measurement file must carry its AGB code (DESIGN 3.1).
fn folder_provider(config: &Config, tenant: &crate::config::Tenant) -> Option<Provider> {
    (tenant.kind == TenantKind::Supplier).then(|| Provider {
        agb: tenant.code.clone(),
        tenant: tenant.id.clone(),
        others: config
            .tenants
            .iter()
            .filter(|t| t.kind == TenantKind::Supplier && t.code != tenant.code)
            .map(|t| (t.code.clone(), t.id.clone()))
            .collect(),
    })
}

/// A delivery's outcome before it is recorded.
struct Judged {
    state: DeliveryState,
    /// The check's summary.
    summary: Summary,
    /// Why, for a file that was not read through.
    error: Option<String>,
    /// Accepted measurement rows that came on time; `None` for anything but a measurement
    /// file read through.
    on_time: Option<u64>,
}

impl Judged {
    /// An outcome without rows: `state`, for `why`.
    fn unread(state: DeliveryState, why: String) -> Self {
        Self {
            state,
            summary: Summary::default(),
            error: Some(why),
            on_time: None,
        }
    }
}

/// The outcome of a delivery quarantined after `MAX_FAILURES` failed runs, for `why`.
fn forced_outcome(why: &str, language: Language) -> Judged {
    let why = match language {
        Language::Dutch => format!("na {MAX_FAILURES} pogingen niet verwerkt: {why}"),
        Language::English => format!("not processed after {MAX_FAILURES} attempts: {why}"),
    };
    Judged::unread(DeliveryState::Quarantined, why)
}

/// The outcome of a duplicate: it names the original it repeats.
fn duplicate_outcome(delivery: &Delivery, language: Language) -> Judged {
    let (name, at) = delivery.duplicate_of.clone().unwrap_or_default();
    let name = crate::redact::name(&name);
    let why = match language {
        Language::Dutch => format!(
            "dezelfde inhoud als {name} (ontvangen {at}) is eerder aangeleverd; niet opnieuw verwerkt"
        ),
        Language::English => format!(
            "the same content as {name} (received {at}) was delivered before; not processed again"
        ),
    };
    Judged::unread(DeliveryState::Duplicate, why)
}

/// What reading a delivered file needs beside the file itself.
struct Reading<'a> {
    config: &'a Config,
    tenant: &'a crate::config::Tenant,
    key: &'a Keyed,
    today: chrono::NaiveDate,
    /// When a measurement of this delivery is on time (`None`: its receipt time is unknown).
    on_time: Option<OnTime>,
    /// The file in `upload/`, hashed beside the reading.
    source: &'a Path,
    recorded_sha256: &'a str,
    work: &'a WorkFiles,
}

/// How reading a delivered file ended.
enum Read {
    /// Read through: its outcome.
    Outcome(Judged),
    /// Not what intake recorded any more: its rows roll back with the claim.
    Changed,
    /// The file could not be checked (unreadable, a limit, an unknown layout).
    Failed(Failure),
}

/// Reads and checks `file` in the confined reader and stores its rows in `claim`,
/// problems to `log`, while another thread hashes it to see that it is still what intake
/// recorded (the check then costs the run no time of its own).
fn read_and_store(
    r: &Reading<'_>,
    file: std::fs::File,
    claim: &mut Claim<'_>,
    log: &mut ProblemLog,
) -> Result<Read, ProcessError> {
    let provider = folder_provider(r.config, r.tenant);
    let datasets: &[Dataset] = match r.tenant.kind {
        TenantKind::Supplier => &[Dataset::Metingen],
        TenantKind::Municipality => &[Dataset::Beschikkingen],
    };
    let ctx = Context {
        today: r.today,
        scores: ScoreRanges::default(),
        provider: provider.as_ref(),
        municipality: (r.tenant.kind == TenantKind::Municipality).then_some(r.tenant.code.as_str()),
        datasets,
    };
    let job = Job::new(r.config.file_limits, None, &ctx);
    let (stored, sha) = std::thread::scope(|scope| {
        let hash = scope.spawn(|| Fingerprint::take(r.source));
        let stored = check_and_store(r, file, &job, claim, log);
        let sha = hash
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("hashing panicked")));
        (stored, sha)
    });
    // Where the run itself cannot go on, the file's hash does not matter.
    let stored = match stored {
        Err(e) if e.is_environment() => return Err(e),
        other => other,
    };
    if !sha.is_ok_and(|seen| seen.sha256 == r.recorded_sha256) {
        return Ok(Read::Changed);
    }
    let (checked, stored) = stored?;
    Ok(match checked {
        Ok(mut summary) => {
            if let Some(messages) = &mut summary.messages {
                messages.known = stored.known;
            }
            summary.accepted -= stored.repeats;
            for _ in 0..stored.repeats {
                summary.count_duplicate();
            }
            let state = if summary.accepted > 0 {
                DeliveryState::Processed
            } else {
                DeliveryState::Rejected
            };
            let measurements = summary.dataset == Some(Dataset::Metingen);
            Read::Outcome(Judged {
                state,
                on_time: r.on_time.filter(|_| measurements).map(|_| stored.on_time),
                summary,
                error: None,
            })
        }
        Err(failure) => Read::Failed(failure),
    })
}

/// Rows handed from the reading thread to the storing thread at a time.
const BATCH_ROWS: usize = 1024;

/// A row that passed every rule, with its pseudonym (a message carries its own, in its
/// values): what the storing side gets.
struct Checked {
    line: u64,
    record: Record,
    pseudonym: Option<Hex>,
}

/// What storing a file's rows counted beside the check's summary.
#[derive(Debug, Default)]
struct Stored {
    /// Rows whose key the file carried before (refused: the first one stands).
    repeats: u64,
    /// Stored measurement rows that came on time.
    on_time: u64,
    /// Messages the ledger already held (kept once).
    known: u64,
}

/// Reads and checks the file in the confined reader, and pseudonymises its rows, on one
/// thread, while this thread stores the rows in the claim's transaction (SQLite stays on
/// the thread that owns the connection). Problems go to `log` as found; repeats of a key,
/// which only the store can see, go to the work file of repeats. Each stored measurement
/// is compared with the delivery's on-time rule as it is stored: no second pass over
/// millions of rows. Returns the check's outcome and what the store counted.
fn check_and_store(
    r: &Reading<'_>,
    file: std::fs::File,
    job: &Job,
    claim: &mut Claim<'_>,
    log: &mut ProblemLog,
) -> Result<(Result<Summary, Failure>, Stored), ProcessError> {
    let (limits, key, on_time) = (r.config.reader, r.key, r.on_time);
    let repeats_path = r.work.repeats.as_path();
    let language = log.language();
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Checked>>(4);
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let mut batch = Vec::with_capacity(BATCH_ROWS);
            let checked = confine::check(
                file,
                job,
                limits,
                |line, mut record| {
                    let pseudonym = match &mut record {
                        Record::Bericht(m) => {
                            messages::pseudonymise(key, m);
                            None
                        }
                        row => {
                            scrub_identifiers(key, row);
                            row.bsn().map(|bsn| key.pseudonym(bsn))
                        }
                    };
                    batch.push(Checked {
                        line,
                        record,
                        pseudonym,
                    });
                    if batch.len() == BATCH_ROWS {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH_ROWS));
                        // The storing side hung up: it failed, and says why.
                        tx.send(full).map_err(|_| ProcessError::Stopped)?;
                    }
                    Ok(())
                },
                |problem| log.push(problem).map_err(io_err("cannot write a receipt")),
            );
            if !batch.is_empty() {
                let _ = tx.send(batch);
            }
            checked
        });
        let stored = (|| -> Result<Stored, ProcessError> {
            let mut sink = claim.rows()?;
            let mut berichten = claim.messages()?;
            let (gemeentecode, decisions) = (&r.tenant.code, r.tenant.decisions_from_messages);
            let mut repeats: Option<ProblemLog> = None;
            let mut count = Stored::default();
            for batch in rx {
                for row in batch {
                    // A message an earlier delivery brought is kept once and no fault of
                    // this file; one this file brought before is a repeat, as a row is.
                    let first = match &row.record {
                        Record::Bericht(m) => {
                            match messages::store(
                                &mut berichten,
                                &mut sink,
                                m,
                                gemeentecode,
                                decisions,
                            )? {
                                MessageStored::New => true,
                                MessageStored::Known => {
                                    count.known += 1;
                                    true
                                }
                                MessageStored::Repeat => false,
                            }
                        }
                        _ => store(&mut sink, &row)?,
                    };
                    if first {
                        if let (Some(rule), Record::Meting(m)) = (on_time, &row.record) {
                            count.on_time += u64::from(rule.covers(m.datum));
                        }
                    } else {
                        let log = match &mut repeats {
                            Some(log) => log,
                            None => repeats.insert(
                                ProblemLog::create(repeats_path, language)
                                    .map_err(io_err("cannot write a receipt"))?,
                            ),
                        };
                        log.push(&duplicate_problem(row.line, &row.record))
                            .map_err(io_err("cannot write a receipt"))?;
                        count.repeats += 1;
                    }
                }
            }
            if let Some(log) = repeats {
                log.finish().map_err(io_err("cannot write a receipt"))?;
            }
            Ok(count)
        })();
        let checked = reader
            .join()
            .map_err(|panic| ProcessError::Panicked(panic_text(&panic)))?;
        let repeats = stored?;
        Ok((checked?, repeats))
    })
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

/// Replaces a BSN written inside a measurement or decision number by its keyed hash: the
/// rules cannot tell such a number from an honest one, and the ledger holds no BSN.
fn scrub_identifiers(key: &Keyed, record: &mut Record) {
    let number = match record {
        Record::Meting(m) => &mut m.metingnummer,
        Record::Beschikking(b) => &mut b.beschikkingnummer,
        Record::Bericht(_) => return,
    };
    if let std::borrow::Cow::Owned(scrubbed) = key.scrub(number) {
        *number = scrubbed;
    }
}

/// Stores one checked row; false if this delivery already carried its key.
fn store(sink: &mut RowSink<'_>, row: &Checked) -> Result<bool, ProcessError> {
    let Some(pseudonym) = &row.pseudonym else {
        return Ok(true);
    };
    let pseudonym = pseudonym.as_str();
    Ok(match &row.record {
        Record::Meting(m) => sink.upsert_measurement(&MeasurementRow {
            agb: &m.agb,
            metingnummer: &m.metingnummer,
            pseudonym,
            datum: m.datum,
            instrument: m.instrument.as_str(),
            respondent: m.respondent,
            score: m.score,
            status: m.status.map(|s| s.as_str()),
        })?,
        Record::Beschikking(b) => sink.upsert_decision(&DecisionRow {
            gemeentecode: &b.gemeentecode,
            beschikkingnummer: &b.beschikkingnummer,
            pseudonym,
            agb: &b.agb,
            productcategorie: &b.productcategorie,
            productcode: &b.productcode,
            ingangsdatum: b.ingangsdatum,
            einddatum: b.einddatum,
            reden: b.reden.as_deref(),
        })?,
        Record::Bericht(_) => true,
    })
}

/// After the commit: receipts into `receipts/`, the original out of `upload/` if it is
/// still the file of `source` (a fingerprint taken after the reading) and that is what
/// intake recorded; a file replaced or rewritten in the meantime stays for intake.
fn finish(
    state: &StateDir,
    ledger: &mut Ledger,
    id: i64,
    delivery: &Delivery,
    outcome: DeliveryState,
    receipt_name: &str,
    seen: io::Result<Fingerprint>,
) -> Result<(), ProcessError> {
    // Another run may be finishing the same delivery (one that looked interrupted to it but
    // was only between its commit and these moves): a source that vanished was moved by it.
    let moved = |result: io::Result<String>| match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other.map(drop),
    };
    let work = WorkFiles::new(state, id);
    let receipts = state.receipts(&delivery.tenant);
    for (from, suffix) in [(&work.csv, RECEIPT_CSV), (&work.txt, RECEIPT_TXT)] {
        moved(move_no_replace(
            from,
            &receipts,
            &format!("{receipt_name}{suffix}"),
        ))
        .map_err(io_err(format!(
            "cannot move a receipt into {}",
            receipts.display()
        )))?;
    }
    let source = state.upload(&delivery.tenant).join(&delivery.file_name);
    // Under the lock no SFTP session replaces or sets aside the file between the check and
    // the move. Times a client set (SFTP SETSTAT) change the stamp but not the file.
    let lock = UploadLock::take(&state.upload(&delivery.tenant))
        .map_err(io_err("cannot lock the upload folder"))?;
    let here = |seen: Fingerprint| {
        seen.sha256 == delivery.sha256 && (seen.still_at(&source) || seen.same_content_at(&source))
    };
    if seen.is_ok_and(here) {
        let dest = match outcome {
            DeliveryState::Quarantined => state.quarantined(&delivery.tenant),
            _ => state.archived(&delivery.tenant),
        };
        create_private_dir(&dest).map_err(io_err("cannot create the archive"))?;
        moved(move_no_replace(
            &source,
            &dest,
            &archive_name(id, &delivery.file_name),
        ))
        .map_err(io_err(format!(
            "cannot move {} out of upload/",
            crate::redact::name(&delivery.file_name)
        )))?;
    }
    drop(lock);
    ledger.mark_finished(id, crate::clock::now())?;
    Ok(())
}

/// Finishes deliveries whose outcome was committed by a run that was cut off before it
/// moved the receipts and the original. One that cannot be finished is tried again by the
/// next runs; after `MAX_FAILURES` it is left where it is, marked finished, with an error.
fn finish_interrupted(
    state: &StateDir,
    ledger: &mut Ledger,
    report: &mut RunReport,
) -> Result<(), ProcessError> {
    for unfinished in ledger.deliveries_to_finish()? {
        let d = &unfinished.delivery;
        tracing::warn!(
            tenant = d.tenant,
            file = %crate::redact::name(&d.file_name),
            "finishing a delivery that an interrupted run processed"
        );
        let source = state.upload(&d.tenant).join(&d.file_name);
        let seen = Fingerprint::take(&source);
        let Err(error) = finish(state, ledger, d.id, d, d.state, &unfinished.receipt, seen) else {
            continue;
        };
        if error.is_environment() {
            return Err(error);
        }
        report.failed += 1;
        if record_failure(ledger, d.id, &error)? >= MAX_FAILURES {
            tracing::error!(
                tenant = d.tenant,
                file = %crate::redact::name(&d.file_name),
                "giving up moving this delivery's receipts and original; move them by hand"
            );
            ledger.mark_finished(d.id, crate::clock::now())?;
        }
    }
    Ok(())
}
