//! Reading a delivered file in a confined child process (DESIGN 2.3, invariant 7).
//!
//! Parsers of spreadsheets and XML trust what a file declares; a 5 KB file can ask for
//! petabytes. So the file is read and checked by a child of the same binary
//! (`dropgate read-delivery`), started per file with an address-space limit, a CPU-time
//! limit, no file writes, a small fd limit, `PR_SET_NO_NEW_PRIVS`, an empty environment
//! and nothing open but the file (as stdin) and two pipes. It never sees the key: it sends
//! checked rows (BSNs in clear, over the pipe only) and problems to the parent, which
//! pseudonymises and stores them. Whatever the child does (abort, get killed by a limit,
//! run out of time, write garbage) becomes a [`Failure`] of that one file.
//!
//! - `wire`: the messages and their framing.
//! - `child`: the child's main.
//! - `dutch`: the Dutch texts of a file that could not be checked.

mod child;
mod dutch;
mod wire;

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub use child::main as child_main;
pub(crate) use wire::Job;

use crate::check::datasets::{Context, Dataset, Problem, Record};
use crate::check::formats::{Format, Limits};
use crate::check::{Fatal, Summary};
use crate::message::Language;
use crate::redact;

/// The hidden subcommand that runs the child.
pub(crate) const CHILD_COMMAND: &str = "read-delivery";

/// Where the child finds the delivered file: its stdin, opened anew by each reader that
/// needs its own offset (the formats reopen a file by path).
const FILE_FD_PATH: &str = "/proc/self/fd/0";

/// Files the child may have open at once: the file, its reopenings, the pipes.
const CHILD_MAX_FDS: u64 = 16;

/// Bytes of the child's stderr kept to tell a memory failure from other crashes.
const STDERR_KEPT: usize = 16 * 1024;

/// The process limits of the child that reads one delivered file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Confinement {
    /// Address space, in MiB.
    pub memory_mib: u64,
    /// CPU time, in seconds.
    pub cpu_secs: u64,
}

impl Default for Confinement {
    fn default() -> Self {
        Self {
            memory_mib: 512,
            cpu_secs: 300,
        }
    }
}

impl Confinement {
    /// Wall-clock time after which the child is killed: twice its CPU time, since it may
    /// wait for the parent to store what it sent.
    pub fn wall(&self) -> Duration {
        Duration::from_secs(self.cpu_secs.saturating_mul(2).max(10))
    }
}

/// How a confined read ended without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breach {
    /// It asked for more memory than its limit.
    Memory,
    /// It used up its CPU time.
    Cpu,
    /// It took longer than its wall-clock limit.
    Time,
    /// It died otherwise (an abort, a signal).
    Crash,
    /// It said something that is not a valid answer.
    Garbage,
}

/// Why a file could not be checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The reader refused the file: unreadable (quarantine), or not a dataset this folder
    /// takes (rejected). Both texts are redacted.
    Refused {
        unreadable: bool,
        en: String,
        nl: String,
    },
    /// The reader broke a limit, crashed, or answered garbage.
    Breach(Breach, Confinement),
}

impl Failure {
    /// Whether the file goes to quarantine (rather than being rejected).
    pub(crate) fn quarantines(&self) -> bool {
        match self {
            Self::Refused { unreadable, .. } => *unreadable,
            Self::Breach(..) => true,
        }
    }

    /// A stable code for scripts.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Refused {
                unreadable: true, ..
            } => "file.unreadable",
            Self::Refused { .. } => "file.layout",
            Self::Breach(Breach::Memory, _) => "limit.memory",
            Self::Breach(Breach::Cpu, _) => "limit.cpu",
            Self::Breach(Breach::Time, _) => "limit.time",
            Self::Breach(Breach::Crash, _) => "reader.crash",
            Self::Breach(Breach::Garbage, _) => "reader.garbage",
        }
    }

    /// What was wrong, in plain words.
    pub fn text(&self, language: Language) -> String {
        let dutch = language == Language::Dutch;
        match self {
            Self::Refused { en, nl, .. } => if dutch { nl } else { en }.clone(),
            Self::Breach(breach, limits) => {
                let (mib, cpu, wall) = (limits.memory_mib, limits.cpu_secs, limits.wall());
                let wall = wall.as_secs();
                match (breach, dutch) {
                    (Breach::Memory, true) => {
                        format!("het bestand vraagt meer geheugen dan toegestaan ({mib} MiB)")
                    }
                    (Breach::Memory, false) => {
                        format!("the file needs more memory than allowed ({mib} MiB)")
                    }
                    (Breach::Cpu, true) => {
                        format!(
                            "het lezen van het bestand kost meer rekentijd dan toegestaan ({cpu} s)"
                        )
                    }
                    (Breach::Cpu, false) => {
                        format!("reading the file takes more CPU time than allowed ({cpu} s)")
                    }
                    (Breach::Time, true) => {
                        format!("het lezen van het bestand duurt langer dan toegestaan ({wall} s)")
                    }
                    (Breach::Time, false) => {
                        format!("reading the file takes longer than allowed ({wall} s)")
                    }
                    (Breach::Crash, true) => {
                        "het bestand kon niet worden gelezen: de lezer brak af op de inhoud".into()
                    }
                    (Breach::Crash, false) => {
                        "the file could not be read: the reader stopped on its content".into()
                    }
                    (Breach::Garbage, true) => {
                        "het bestand kon niet worden gelezen: de lezer gaf een onbruikbaar antwoord"
                            .into()
                    }
                    (Breach::Garbage, false) => {
                        "the file could not be read: the reader gave an unusable answer".into()
                    }
                }
            }
        }
    }
}

/// The English and Dutch texts of a fatal check outcome (the child renders them, where
/// the typed error is).
pub(crate) fn fatal_texts(fatal: &Fatal) -> (String, String) {
    let en = fatal.to_string();
    let nl = dutch::fatal(fatal);
    (
        redact::text(&en).into_owned(),
        redact::text(&nl).into_owned(),
    )
}

impl Job {
    /// The job of checking a file with `limits` against `ctx` (and `dataset`, if given).
    pub fn new(limits: Limits, dataset: Option<Dataset>, ctx: &Context<'_>) -> Self {
        Self {
            max_line_bytes: limits.max_line_bytes,
            max_field_bytes: limits.max_field_bytes,
            max_rows: limits.max_rows,
            max_unpacked_bytes: limits.max_unpacked_bytes,
            dataset: dataset.map(|d| d.name().to_owned()),
            today: ctx.today,
            scores_ct: ctx.scores.ct,
            scores_gas: ctx.scores.gas,
            provider: ctx.provider.cloned(),
            municipality: ctx.municipality.map(str::to_owned),
            datasets: ctx.datasets.iter().map(|d| d.name().to_owned()).collect(),
        }
    }

    /// The largest frame the parent accepts: a row of values at most one line long, or a
    /// message (its kept values are a part of its text, which is at most
    /// `MAX_MESSAGE_BYTES`; a claim's rows each repeat its client's number, a few bytes
    /// more than the element they come from).
    fn max_frame(&self) -> u32 {
        let line = self
            .max_line_bytes
            .saturating_mul(2)
            .saturating_add(64 * 1024);
        let message = crate::check::messages::delivery::MAX_MESSAGE_BYTES + (1 << 20);
        u32::try_from(line.max(message)).unwrap_or(u32::MAX)
    }
}

/// Reads and checks `file` (opened by the caller, which knows what a missing file means
/// to it) in a confined child. `on_record` gets each row that passed every rule,
/// `on_problem` each problem (values redacted), in file order. An error of a callback stops
/// the child and is returned as is; an I/O error of the parent's own (the child cannot be
/// started) is `Err` through `E: From<io::Error>`.
pub fn check<E: From<io::Error>>(
    file: File,
    job: &Job,
    limits: Confinement,
    mut on_record: impl FnMut(u64, Record) -> Result<(), E>,
    mut on_problem: impl FnMut(&Problem) -> Result<(), E>,
) -> Result<Result<Summary, Failure>, E> {
    let job_text = serde_json::to_string(job).map_err(io::Error::other)?;
    let mut command = Command::new("/proc/self/exe");
    command
        .arg(CHILD_COMMAND)
        .arg(job_text)
        .env_clear()
        .current_dir("/")
        .stdin(Stdio::from(file))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: `confine_self` only makes system calls (setrlimit, prctl, close_range), which
    // are async-signal-safe, and allocates nothing.
    unsafe {
        command.pre_exec(move || confine_self(limits));
    }
    let mut child = command.spawn()?;
    let pid = child.id();
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let stderr_reader = std::thread::spawn(move || keep_head(stderr));
    let (stop_watch, watch) = mpsc::channel::<()>();
    let wall = limits.wall();
    let watchdog = std::thread::spawn(move || {
        let expired = matches!(
            watch.recv_timeout(wall),
            Err(mpsc::RecvTimeoutError::Timeout)
        );
        if expired {
            kill(pid);
        }
        expired
    });

    widen_pipe(&stdout);
    let read = relay(stdout, job, &mut on_record, &mut on_problem);
    if !matches!(read, Relayed::Done(_)) {
        kill(pid);
    }
    let _ = stop_watch.send(());
    let timed_out = watchdog.join().unwrap_or(true);
    let status = child.wait()?;
    let stderr = stderr_reader.join().unwrap_or_default();
    let verdict = match read {
        Relayed::Callback(e) => return Err(e),
        Relayed::Done(answer) if status.success() => answer,
        Relayed::Done(_) | Relayed::Ended | Relayed::Garbage => Err(Failure::Breach(
            breach(status, timed_out, &stderr, &read),
            limits,
        )),
    };
    if let Err(Failure::Breach(breach, _)) = &verdict {
        tracing::debug!(?breach, ?status, "confined reader failed");
    }
    Ok(verdict)
}

/// How the relay of the child's messages ended.
enum Relayed<E> {
    /// A complete, consistent answer.
    Done(Result<Summary, Failure>),
    /// The stream ended without an answer (the child died).
    Ended,
    /// Something that is not a valid message, or counts that do not add up.
    Garbage,
    /// A callback failed.
    Callback(E),
}

/// Reads the child's answer to its end (the pipe is dropped on return).
fn relay<E>(
    input: impl Read,
    job: &Job,
    on_record: &mut impl FnMut(u64, Record) -> Result<(), E>,
    on_problem: &mut impl FnMut(&Problem) -> Result<(), E>,
) -> Relayed<E> {
    let mut frames = wire::FrameReader::new(input, job.max_frame());
    let mut records = 0u64;
    // A file is rows of a dataset or messages, never both.
    let mut messages: Option<bool> = None;
    loop {
        let message = match frames.next() {
            Ok(Some(message)) => message,
            Ok(None) | Err(wire::FrameError::Truncated) => return Relayed::Ended,
            Err(_) => return Relayed::Garbage,
        };
        match message {
            wire::Message::Record { line, record } => {
                let Some(record) = record.to_record(job.municipality.as_deref()) else {
                    return Relayed::Garbage;
                };
                let is_message = matches!(record, Record::Bericht(_));
                if *messages.get_or_insert(is_message) != is_message {
                    return Relayed::Garbage;
                }
                records += 1;
                if let Err(e) = on_record(line, record) {
                    return Relayed::Callback(e);
                }
            }
            wire::Message::Problem(p) => {
                let Some(rule) = intern_rule(&p.rule) else {
                    return Relayed::Garbage;
                };
                let problem = Problem {
                    line: p.line,
                    column: redact::text(&p.column).into_owned(),
                    value: redact::text(&p.value).into_owned(),
                    rule,
                    message: crate::message::Message::new(
                        redact::text(&p.nl).into_owned(),
                        redact::text(&p.en).into_owned(),
                    ),
                };
                if let Err(e) = on_problem(&problem) {
                    return Relayed::Callback(e);
                }
            }
            wire::Message::Done(done) => {
                // Nothing may follow the answer.
                if !matches!(frames.next(), Ok(None)) {
                    return Relayed::Garbage;
                }
                return match done {
                    Ok(summary) => match summary_from_wire(summary) {
                        Some(summary)
                            if summary.accepted == records
                                && messages.is_none_or(|m| m == summary.messages.is_some()) =>
                        {
                            Relayed::Done(Ok(summary))
                        }
                        _ => Relayed::Garbage,
                    },
                    Err(fatal) => Relayed::Done(Err(Failure::Refused {
                        unreadable: fatal.unreadable,
                        en: redact::text(&fatal.en).into_owned(),
                        nl: redact::text(&fatal.nl).into_owned(),
                    })),
                };
            }
        }
    }
}

fn summary_from_wire(s: wire::WireSummary) -> Option<Summary> {
    let format = match s.format {
        None => None,
        Some(name) => Some(
            [
                Format::Csv,
                Format::Xlsx,
                Format::Xls,
                Format::Ods,
                Format::Xml,
            ]
            .into_iter()
            .map(Format::as_str)
            .chain([crate::check::messages::delivery::ZIP_FORMAT])
            .find(|f| *f == name)?,
        ),
    };
    let dataset = match s.dataset {
        None => None,
        Some(name) => Some(Dataset::parse(&name)?),
    };
    let mut rules = std::collections::BTreeMap::new();
    for (rule, n) in s.rules {
        rules.insert(intern_rule(&rule)?, n);
    }
    (s.accepted.checked_add(s.rejected)? <= s.rows).then_some(Summary {
        format,
        dataset,
        extra_columns: s
            .extra_columns
            .iter()
            .map(|c| redact::text(c).into_owned())
            .collect(),
        rows: s.rows,
        accepted: s.accepted,
        rejected: s.rejected,
        rules,
        messages: s.messages.then(crate::check::MessageCounts::default),
    })
}

/// Rule codes are the fixed set of `datasets::rules`; a child that sends another is
/// answering garbage.
fn intern_rule(rule: &str) -> Option<&'static str> {
    crate::check::datasets::rules::find(rule).map(|r| r.id)
}

/// Which limit a child that gave no answer broke.
fn breach<E>(status: ExitStatus, timed_out: bool, stderr: &str, read: &Relayed<E>) -> Breach {
    if timed_out {
        return Breach::Time;
    }
    // The parent kills a child whose answer it cannot use: that kill is no CPU limit.
    if matches!(read, Relayed::Garbage) {
        return Breach::Garbage;
    }
    let out_of_memory = stderr.contains("memory allocation of")
        || stderr.contains("Cannot allocate memory")
        || stderr.contains("os error 12")
        || stderr.contains("capacity overflow");
    match status.signal() {
        Some(libc::SIGXCPU) => Breach::Cpu,
        // The hard CPU limit, one second past the soft one, kills outright.
        Some(libc::SIGKILL) => Breach::Cpu,
        _ if out_of_memory => Breach::Memory,
        Some(_) => Breach::Crash,
        None => Breach::Crash,
    }
}

/// Lets the child get further ahead of the parent (1 MiB instead of the 64 KiB default),
/// so that the two wake each other less often. Best effort: a system whose
/// `fs.pipe-max-size` is lower keeps the default.
fn widen_pipe(pipe: &impl std::os::fd::AsRawFd) {
    // SAFETY: fcntl on a pipe descriptor we own, with an integer argument.
    unsafe {
        libc::fcntl(pipe.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20);
    }
}

/// The first bytes of a stream; the rest is read and dropped so the child never blocks.
fn keep_head(mut stream: impl Read) -> String {
    let mut kept = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = STDERR_KEPT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

fn kill(pid: u32) {
    // SAFETY: plain kill(2) on our own child, which is not yet reaped (we wait for it only
    // after the watchdog has finished), so the pid cannot have been reused.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGKILL);
    }
}

/// Runs in the child between fork and exec: only system calls, nothing that allocates.
fn confine_self(limits: Confinement) -> io::Result<()> {
    let set = |resource, soft: u64, hard: u64| -> io::Result<()> {
        let limit = libc::rlimit {
            rlim_cur: soft as libc::rlim_t,
            rlim_max: hard as libc::rlim_t,
        };
        // SAFETY: setrlimit with a valid pointer to a local struct.
        if unsafe { libc::setrlimit(resource, &limit) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    };
    let memory = limits.memory_mib.saturating_mul(1 << 20);
    set(libc::RLIMIT_AS, memory, memory)?;
    set(
        libc::RLIMIT_CPU,
        limits.cpu_secs,
        limits.cpu_secs.saturating_add(1),
    )?;
    // The child writes to its pipes only; a regular file write is a breach (SIGXFSZ).
    set(libc::RLIMIT_FSIZE, 0, 0)?;
    set(libc::RLIMIT_CORE, 0, 0)?;
    set(libc::RLIMIT_NOFILE, CHILD_MAX_FDS, CHILD_MAX_FDS)?;
    // SAFETY: prctl with integer arguments only.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(io::Error::last_os_error());
        }
        // A child outliving a killed daemon would read on for nobody.
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
            return Err(io::Error::last_os_error());
        }
        // Descriptors the daemon holds (ledger, sockets, watches) are close-on-exec; this
        // makes sure of it for any a library opened without the flag. Kernels before 5.9
        // lack close_range; close-on-exec still holds there.
        libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_codes_are_interned_and_bounded() {
        assert_eq!(intern_rule("bsn"), Some("bsn"));
        assert!(std::ptr::eq(
            intern_rule("score.range").unwrap(),
            intern_rule("score.range").unwrap()
        ));
        assert_eq!(intern_rule("Not A Rule"), None);
        assert_eq!(intern_rule(""), None);
        assert_eq!(intern_rule(&"x".repeat(49)), None);
    }

    #[test]
    fn frames_that_lie_are_garbage_not_panics() {
        let job = Job::new(
            Limits::default(),
            None,
            &Context {
                today: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
                scores: Default::default(),
                provider: None,
                municipality: None,
                datasets: &[],
            },
        );
        let run = |bytes: &[u8]| match relay::<io::Error>(
            bytes,
            &job,
            &mut |_, _| Ok(()),
            &mut |_| Ok(()),
        ) {
            Relayed::Done(_) => "done",
            Relayed::Ended => "ended",
            Relayed::Garbage => "garbage",
            Relayed::Callback(_) => "callback",
        };
        assert_eq!(run(b""), "ended");
        assert_eq!(run(&[0xFF, 0xFF, 0xFF, 0x7F]), "garbage");
        assert_eq!(run(&[3, 0, 0, 0, 9, 9, 9]), "garbage");
        assert_eq!(run(&[9, 0, 0, 0, 1]), "ended");
        let mut done = Vec::new();
        let summary = wire::WireSummary {
            rows: 1,
            accepted: 1,
            ..Default::default()
        };
        wire::write(&mut done, &wire::Message::Done(Ok(summary))).unwrap();
        // It claims an accepted row it never sent.
        assert_eq!(run(&done), "garbage");
    }
}
