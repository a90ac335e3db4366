//! Unix signals, mapped to what they mean for the daemon.
//!
//! SIGTERM and SIGINT ask for a clean stop, SIGHUP for a reload of the configuration. This
//! module only translates; the daemon decides what to do.

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Installs the handlers and returns a channel that yields once per SIGHUP. SIGTERM and
/// SIGINT cancel `shutdown`.
pub fn listen(shutdown: CancellationToken) -> std::io::Result<mpsc::Receiver<()>> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let (reload_tx, reload_rx) = mpsc::channel(4);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => { tracing::info!("SIGTERM: stopping"); shutdown.cancel(); }
                _ = int.recv() => { tracing::info!("SIGINT: stopping"); shutdown.cancel(); }
                _ = hup.recv() => {
                    // A full queue already holds a pending reload; one more adds nothing.
                    let _ = reload_tx.try_send(());
                }
                _ = shutdown.cancelled() => break,
            }
        }
    });
    Ok(reload_rx)
}
