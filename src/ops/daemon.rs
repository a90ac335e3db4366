//! The daemon: wiring of configuration, ledger, intake, the SFTP server and systemd, and
//! its life cycle.
//!
//! [`run`] starts everything, reports READY, reloads on request and stops when `shutdown` is
//! cancelled, waiting for each part to finish the unit of work in hand. It owns no business
//! logic of its own.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError};
use crate::ingest::auditor::{AuditWriter, Auditor};
use crate::ingest::intake::{Intake, IntakeError};
use crate::layout::StateDir;
use crate::ledger::{DeliveryState, Ledger, LedgerError};
use crate::{ingest::sftp, mail, ops::jobs, ops::metrics, ops::systemd};

/// Why the daemon could not start or stopped with a fault.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Intake(#[from] IntakeError),
    #[error("cannot prepare the state directory: {0}")]
    StateDir(std::io::Error),
    #[error(transparent)]
    Sftp(#[from] sftp::StartError),
    #[error("cannot listen for metrics: {0}")]
    Metrics(std::io::Error),
    #[error("another dropgate daemon runs on the state directory {}", .0.display())]
    Running(PathBuf),
    #[error("refusing to start: {0}")]
    Key(crate::pseudonym::KeyError),
    #[error("refusing to start: dropgate cannot use what it needs:\n  {}", .0.join("\n  "))]
    Unusable(Vec<String>),
    #[error(
        "{source}\nthe disk under {} is full ({space}): the ledger must open (and, before a \
         migration, be copied to backups/) before anything else can run; free some space and \
         start again",
        path.display()
    )]
    Full {
        path: PathBuf,
        /// The room left, in words.
        space: String,
        source: Box<LedgerError>,
    },
}

/// How often STATUS= is refreshed when systemd asks for no watchdog.
const STATUS_INTERVAL: Duration = Duration::from_secs(30);

/// Runs the daemon with the configuration at `config_path` until `shutdown` is cancelled.
/// Each message on `reload` re-reads the configuration; an invalid one is refused and the
/// running one stays in force.
pub async fn run(
    config_path: &Path,
    shutdown: CancellationToken,
    mut reload: mpsc::Receiver<()>,
) -> Result<(), DaemonError> {
    let config = Config::load(config_path)?;
    let state = StateDir::new(&config.state_dir);
    crate::layout::create_private_dir(state.root()).map_err(DaemonError::StateDir)?;
    // Held until this function returns: one daemon per state directory, and no restore
    // under it.
    let _lock = crate::layout::DaemonLock::try_take(&state)
        .map_err(DaemonError::StateDir)?
        .ok_or_else(|| DaemonError::Running(state.root().to_owned()))?;
    let (ledger, disk_full) = prepare(&config, &state)?;
    let (mut daemon, tasks) = start(config_path, config, state, ledger, &shutdown).await?;
    daemon.disk_full = disk_full;
    daemon.announce();
    daemon.serve(&shutdown, &mut reload).await;
    stop(daemon, tasks).await
}

/// Makes the state directory's folders, checks that the daemon may use every path it needs
/// (`ops::preflight`), and opens the daemon's own ledger connection, with the configured
/// tenants mirrored into it.
///
/// On a full disk the daemon starts all the same, unless the ledger cannot open (or must be
/// migrated, and cannot be copied first): everything else that writes waits for room on its
/// own. Mirroring the tenants writes only when the configuration changed them. Returns the
/// ledger, and whether the disk is full.
fn prepare(config: &Config, state: &StateDir) -> Result<(Ledger, bool), DaemonError> {
    state
        .create(config.tenants.iter().map(|t| t.id.as_str()))
        .map_err(DaemonError::StateDir)?;
    let found = crate::ops::preflight::check(config, state);
    for warning in &found.warnings {
        tracing::warn!("{warning}");
    }
    if !found.blocking.is_empty() {
        for problem in &found.blocking {
            tracing::error!("refusing to start: {problem}");
        }
        return Err(DaemonError::Unusable(found.blocking));
    }
    let disk_full = found
        .space
        .is_some_and(|space| say_disk(state, space, false));
    let mut ledger = Ledger::open(&state.ledger()).map_err(|e| match found.space {
        Some(space) if space.is_full() && e.storage_fault().is_some() => DaemonError::Full {
            path: state.root().to_owned(),
            space: space.to_string(),
            source: Box::new(e),
        },
        _ => e.into(),
    })?;
    check_ttp_key(config, &mut ledger)?;
    ledger.sync_tenants(&config.tenants, crate::clock::now())?;
    if let Err(e) = crate::publish::place_left_over(config, &mut ledger) {
        tracing::error!(error = %e, "cannot finish what an interrupted publication left in staging/");
    }
    Ok((ledger, disk_full))
}

/// Says when the disk under the state directory has filled up (`space` full, and it was
/// not), and when it has room again; returns whether it is full. What fails meanwhile
/// (uploads, intake, jobs) says so itself, but only when it is tried.
fn say_disk(state: &StateDir, space: crate::storage::Space, was_full: bool) -> bool {
    let full = space.is_full();
    if full == was_full {
        return full;
    }
    let state_dir = state.root().display();
    if full {
        tracing::error!(
            %state_dir,
            "the disk under the state directory is full ({space}): uploads are refused, and \
             files waiting in upload/ are recorded once there is room; downloads go on"
        );
    } else {
        tracing::info!(%state_dir, "the disk under the state directory has room again ({space})");
    }
    full
}

/// Records the TTP key's fingerprint at its first use, and refuses to start with a key other
/// than the one the ledger's pseudonyms were made with: every delivery processed with it
/// would give its clients second pseudonyms. A missing or unreadable key only turns
/// processing off (`Daemon::announce` says so), as before.
fn check_ttp_key(config: &Config, ledger: &mut Ledger) -> Result<(), DaemonError> {
    use crate::pseudonym::KeyError;
    match crate::keys::ttp(config, ledger, crate::clock::now()) {
        Ok(_) | Err(KeyError::Read { .. } | KeyError::Length { .. }) => Ok(()),
        // A full or read-only disk: the first use is recorded when processing next loads
        // the key, which until then fails.
        Err(e @ KeyError::Unrecorded { .. }) => {
            tracing::warn!("processing is off until this is fixed: {e}");
            Ok(())
        }
        Err(e) => {
            tracing::error!("refusing to start: {e}");
            Err(DaemonError::Key(e))
        }
    }
}

/// The parts that run beside the daemon's own loop, each with its own ledger connection.
struct Tasks {
    /// The metrics endpoint, when configured.
    metrics: Option<JoinHandle<()>>,
    sftp: JoinHandle<()>,
    jobs: JoinHandle<()>,
    mail: JoinHandle<()>,
    audit_writer: AuditWriter,
}

/// Starts intake, the audit writer, the SFTP server, the scheduled jobs and the mail
/// sender.
async fn start(
    config_path: &Path,
    config: Config,
    state: StateDir,
    ledger: Ledger,
    shutdown: &CancellationToken,
) -> Result<(Daemon, Tasks), DaemonError> {
    // Before anything starts: a taken port stops the daemon with nothing to undo.
    let metrics_listener = metrics::bind(&config).await.map_err(DaemonError::Metrics)?;
    let intake = Intake::start(
        state.clone(),
        Ledger::open(&state.ledger())?,
        tenant_ids(&config),
        shutdown.clone(),
    )?;
    let (auditor, audit_writer) = Auditor::start(Ledger::open(&state.ledger())?);
    let (config_tx, config_rx) = watch::channel(Arc::new(config));
    // Rung by what queues mail in this process (the jobs, a REQUEST-FULL over SFTP), so
    // that the mail sender does not wait for its next look at the queue.
    let mail_wake = mail::Wake::new();
    let sftp = sftp::Server::bind(
        config_rx,
        state.clone(),
        auditor,
        intake.notices(),
        mail_wake.clone(),
    )
    .await?;
    let sftp_addr = sftp.local_addr().map_err(DaemonError::StateDir)?;
    tracing::info!(addr = %sftp_addr, "sftp listening");
    let metrics = metrics_listener.map(|listener| {
        if let Some(addr) = metrics::describe(&listener) {
            tracing::info!(%addr, "metrics listening");
        }
        tokio::spawn(metrics::serve(
            listener,
            config_tx.subscribe(),
            shutdown.clone(),
        ))
    });
    let tasks = Tasks {
        metrics,
        sftp: tokio::spawn(sftp.run(shutdown.clone())),
        jobs: tokio::spawn(jobs::run_all(
            config_tx.subscribe(),
            mail_wake.clone(),
            shutdown.clone(),
        )),
        mail: tokio::spawn(mail::worker::run(
            config_tx.subscribe(),
            Ledger::open(&state.ledger())?,
            mail_wake,
            shutdown.clone(),
        )),
        audit_writer,
    };
    let running = Running::of(&config_tx.borrow());
    let daemon = Daemon {
        config_path: config_path.to_owned(),
        running,
        state,
        ledger,
        intake,
        config: config_tx,
        disk_full: false,
    };
    Ok((daemon, tasks))
}

/// Waits for each part to finish the work in hand, then for the last audit rows and intake.
async fn stop(daemon: Daemon, tasks: Tasks) -> Result<(), DaemonError> {
    systemd::stopping();
    tracing::info!("stopping: finishing the work in hand");
    let Daemon { intake, .. } = daemon;
    if let Err(e) = tasks.sftp.await {
        tracing::error!(error = %e, "the sftp server task failed");
    }
    if let Some(Err(e)) = match tasks.metrics {
        Some(task) => Some(task.await),
        None => None,
    } {
        tracing::error!(error = %e, "the metrics endpoint failed");
    }
    if let Err(e) = tasks.jobs.await {
        tracing::error!(error = %e, "the scheduled jobs failed");
    }
    if let Err(e) = tasks.mail.await {
        tracing::error!(error = %e, "the mail sender failed");
    }
    let audit_writer = tasks.audit_writer;
    tokio::task::spawn_blocking(move || {
        // The sftp sessions held the last auditors: every audit row is now queued.
        audit_writer.finish();
        intake.stop()
    })
    .await
    .expect("the intake thread does not panic")?;
    tracing::info!("stopped");
    Ok(())
}

fn tenant_ids(config: &Config) -> Vec<crate::ingest::intake::Watched> {
    config.tenants.iter().map(Into::into).collect()
}

/// The settings that are read once, at start: what a reload is compared with to say which
/// of its changes wait for a restart.
#[derive(Debug, PartialEq)]
struct Running {
    listen: std::net::SocketAddr,
    host_key: PathBuf,
    metrics: Option<crate::config::Metrics>,
    backup: bool,
}

impl Running {
    fn of(config: &Config) -> Self {
        Self {
            listen: config.sftp.listen,
            host_key: config.sftp.host_key.clone(),
            metrics: config.metrics.clone(),
            backup: config.backup.is_some(),
        }
    }

    /// A warning for each setting of `new` that differs from what runs.
    fn warn_of_restart(&self, new: &Config) {
        let new = Self::of(new);
        if (new.listen, &new.host_key) != (self.listen, &self.host_key) {
            tracing::warn!(
                running = %self.listen,
                "sftp.listen and sftp.host_key take effect at the next restart"
            );
        }
        // The metrics endpoint is bound, and the nightly backup's job started or not, once.
        if new.metrics != self.metrics {
            tracing::warn!("[metrics] takes effect at the next restart");
        }
        if new.backup != self.backup {
            tracing::warn!("[backup] turned on or off takes effect at the next restart");
        }
    }
}

/// Refuses a reload that would leave no tenants or no users, or remove more than half of
/// either, unless the file says `allow_empty = true`: a file cut short by an editor or a
/// failed deployment would otherwise lock every user out and make every tenant inactive.
fn check_removals(current: &Config, new: &Config) -> Result<(), String> {
    if new.allow_empty {
        return Ok(());
    }
    let tenants = |c: &Config| c.tenants.iter().map(|t| t.id.clone()).collect::<Vec<_>>();
    let users = |c: &Config| c.users.iter().map(|u| u.name.clone()).collect::<Vec<_>>();
    for (what, before, after) in [
        ("tenants", tenants(current), tenants(new)),
        ("users", users(current), users(new)),
    ] {
        let removed: Vec<&String> = before.iter().filter(|n| !after.contains(n)).collect();
        if !removed.is_empty() && (after.is_empty() || 2 * removed.len() > before.len()) {
            let names: Vec<&str> = removed.iter().take(5).map(|n| n.as_str()).collect();
            return Err(format!(
                "it would remove {} of the {} {what} ({}{}), leaving {}; a file cut short? If this is meant, set allow_empty = true at the top of the file",
                removed.len(),
                before.len(),
                names.join(", "),
                if removed.len() > names.len() {
                    ", ..."
                } else {
                    ""
                },
                after.len()
            ));
        }
    }
    Ok(())
}

struct Daemon {
    config_path: PathBuf,
    /// What was read once at start.
    running: Running,
    state: StateDir,
    /// The daemon's own connection, for tenant sync and status; intake has another.
    ledger: Ledger,
    intake: Intake,
    /// The configuration in force; parts that serve users subscribe to it.
    config: watch::Sender<Arc<Config>>,
    /// Whether the disk under the state directory was full at the last look.
    disk_full: bool,
}

impl Daemon {
    /// Reports READY to systemd and says what runs; warns if processing cannot run.
    fn announce(&self) {
        if let Err(e) = crate::pseudonym::Keyed::load(&self.config.borrow().ttp_key_file) {
            tracing::warn!("processing is off until this is fixed: {e}");
        }
        if let Some(offset) = crate::clock::moved() {
            tracing::warn!(
                "the clock is moved by {} s (a test build's {}): jobs, retention and every time recorded follow it",
                offset.num_seconds(),
                crate::clock::TEST_CLOCK_VAR
            );
        }
        systemd::ready(&self.status_line());
        tracing::info!(
            config = %self.config_path.display(),
            state_dir = %self.state.root().display(),
            tenants = self.config.borrow().tenants.len(),
            users = self.config.borrow().users.len(),
            "dropgate running"
        );
    }

    /// Serves until `shutdown`: reloads on request, keeps systemd's STATUS= (and its
    /// watchdog, if it asks for one) fresh, and at each tick truncates the ledger's
    /// write-ahead log if nobody is using the ledger.
    async fn serve(&mut self, shutdown: &CancellationToken, reload: &mut mpsc::Receiver<()>) {
        let watchdog = systemd::watchdog_interval();
        let mut tick = tokio::time::interval(watchdog.unwrap_or(STATUS_INTERVAL));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                Some(()) = reload.recv() => self.reload(),
                _ = tick.tick() => {
                    if watchdog.is_some() {
                        systemd::watchdog();
                    }
                    self.look_at_disk();
                    systemd::status(&self.status_line());
                    // What jobs, intake and the auditor wrote since: the log stays small.
                    self.ledger.checkpoint(Duration::ZERO);
                }
            }
        }
    }

    fn reload(&mut self) {
        systemd::reloading();
        match self.try_reload() {
            Ok(config) => tracing::info!(
                tenants = config.tenants.len(),
                users = config.users.len(),
                "configuration reloaded"
            ),
            Err(e) => tracing::error!(
                "configuration reload refused; the running configuration stays in force: {e}"
            ),
        }
        systemd::ready(&self.status_line());
    }

    fn try_reload(&mut self) -> Result<Arc<Config>, String> {
        let new = Config::load(&self.config_path).map_err(|e| e.to_string())?;
        let current = self.config.borrow().clone();
        if new.state_dir != current.state_dir {
            return Err(format!(
                "state_dir changed from {} to {}; that takes a restart",
                current.state_dir.display(),
                new.state_dir.display()
            ));
        }
        check_removals(&current, &new)?;
        self.running.warn_of_restart(&new);
        self.state
            .create(new.tenants.iter().map(|t| t.id.as_str()))
            .map_err(|e| e.to_string())?;
        self.ledger
            .sync_tenants(&new.tenants, crate::clock::now())
            .map_err(|e| e.to_string())?;
        self.intake.set_tenants(tenant_ids(&new));
        let new = Arc::new(new);
        self.config.send_replace(new.clone());
        Ok(new)
    }

    /// Looks at the room under the state directory (see `say_disk`).
    fn look_at_disk(&mut self) {
        if let Ok(space) = crate::storage::space(self.state.root()) {
            self.disk_full = say_disk(&self.state, space, self.disk_full);
        }
    }

    /// One line for systemd's STATUS=.
    fn status_line(&self) -> String {
        let faults = [
            self.disk_full.then(|| "the disk is full".to_owned()),
            self.intake.waiting(),
        ];
        let faults: String = faults.into_iter().flatten().map(|f| f + "; ").collect();
        format!("{faults}{}", self.counts_line())
    }

    fn counts_line(&self) -> String {
        let tenants = self.config.borrow().tenants.len();
        match self.ledger.delivery_counts() {
            Ok(counts) => {
                let n = |s: DeliveryState| counts.by_state.get(&s).copied().unwrap_or(0);
                format!(
                    "serving {tenants} tenants; deliveries: {} received, {} duplicate, {} processed, {} rejected, {} quarantined",
                    n(DeliveryState::Received),
                    n(DeliveryState::Duplicate),
                    n(DeliveryState::Processed),
                    n(DeliveryState::Rejected),
                    n(DeliveryState::Quarantined),
                )
            }
            Err(e) => format!("serving {tenants} tenants; ledger unreadable: {e}"),
        }
    }
}
