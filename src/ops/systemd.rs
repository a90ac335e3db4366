//! Talking to systemd through `NOTIFY_SOCKET` (Type=notify): readiness, watchdog, status.
//!
//! Every call is a no-op when the daemon does not run under systemd. Failures to notify
//! are logged and never stop the daemon.

use std::time::Duration;

use sd_notify::NotifyState;

fn send(states: &[NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}

/// The daemon serves: READY=1 with a first status line.
pub(crate) fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A reload begins; `ready` follows when it is done.
pub(crate) fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// The daemon is stopping.
pub(crate) fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// A new STATUS= line.
pub(crate) fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// WATCHDOG=1, to be sent at [`watchdog_interval`].
pub(crate) fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

/// Half of WatchdogSec when systemd expects pings, as sd_watchdog_enabled(3) advises.
pub(crate) fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|d| d / 2)
}
