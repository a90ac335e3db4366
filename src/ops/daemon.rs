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
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError};
use crate::ingest::auditor::Auditor;
use crate::ingest::intake::{Intake, IntakeError};
use crate::layout::StateDir;
use crate::ledger::{DeliveryState, Ledger, LedgerError};
use crate::{ingest::sftp, mail, ops::jobs, ops::systemd};

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
    state
        .create(config.tenants.iter().map(|t| t.id.as_str()))
        .map_err(DaemonError::StateDir)?;
    let mut ledger = Ledger::open(&state.ledger())?;
    ledger.sync_tenants(&config.tenants, crate::clock::now())?;
    let intake = Intake::start(
        state.clone(),
        Ledger::open(&state.ledger())?,
        tenant_ids(&config),
        shutdown.clone(),
    )?;
    let (auditor, audit_writer) = Auditor::start(Ledger::open(&state.ledger())?);
    let (config_tx, config_rx) = watch::channel(Arc::new(config));
    let sftp =
        sftp::Server::bind(config_rx, state.clone(), auditor.clone(), intake.notices()).await?;
    let sftp_addr = sftp.local_addr().map_err(DaemonError::StateDir)?;
    tracing::info!(addr = %sftp_addr, "sftp listening");
    let sftp_task = tokio::spawn(sftp.run(shutdown.clone()));
    let jobs_task = tokio::spawn(jobs::run_all(config_tx.subscribe(), shutdown.clone()));
    let mail_task = tokio::spawn(mail::worker::run(
        config_tx.subscribe(),
        Ledger::open(&state.ledger())?,
        Arc::new(tokio::sync::Notify::new()),
        shutdown.clone(),
    ));
    drop(auditor);
    let mut daemon = Daemon {
        config_path: config_path.to_owned(),
        state,
        ledger,
        intake,
        config: config_tx,
    };

    if let Err(e) = crate::pseudonym::Keyed::load(&daemon.config.borrow().ttp_key_file) {
        tracing::warn!("processing is off until this is fixed: {e}");
    }
    systemd::ready(&daemon.status_line());
    tracing::info!(
        config = %config_path.display(),
        state_dir = %daemon.state.root().display(),
        tenants = daemon.config.borrow().tenants.len(),
        users = daemon.config.borrow().users.len(),
        "dropgate running"
    );

    let watchdog = systemd::watchdog_interval();
    let mut tick = tokio::time::interval(watchdog.unwrap_or(STATUS_INTERVAL));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(()) = reload.recv() => daemon.reload(),
            _ = tick.tick() => {
                if watchdog.is_some() {
                    systemd::watchdog();
                }
                systemd::status(&daemon.status_line());
            }
        }
    }

    systemd::stopping();
    tracing::info!("stopping: finishing the work in hand");
    let Daemon { intake, .. } = daemon;
    if let Err(e) = sftp_task.await {
        tracing::error!(error = %e, "the sftp server task failed");
    }
    if let Err(e) = jobs_task.await {
        tracing::error!(error = %e, "the scheduled jobs failed");
    }
    if let Err(e) = mail_task.await {
        tracing::error!(error = %e, "the mail sender failed");
    }
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

struct Daemon {
    config_path: PathBuf,
    state: StateDir,
    /// The daemon's own connection, for tenant sync and status; intake has another.
    ledger: Ledger,
    intake: Intake,
    /// The configuration in force; parts that serve users subscribe to it.
    config: watch::Sender<Arc<Config>>,
}

impl Daemon {
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
        if new.sftp.listen != current.sftp.listen || new.sftp.host_key != current.sftp.host_key {
            tracing::warn!("sftp.listen and sftp.host_key take effect at the next restart");
        }
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

    /// One line for systemd's STATUS=.
    fn status_line(&self) -> String {
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
