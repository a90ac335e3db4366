//! The daemon's mail sender: sends what the queue holds as due, and reschedules or fails
//! what could not be sent, by the retry policy in the configuration.
//!
//! A message is marked sent only after the server accepted it; killed in between, the
//! daemon sends it again after the restart (at least once, with the same Message-ID).
//! When the ledger refuses the mark (a full disk), the worker keeps it in memory, sends
//! that message no more, and marks it when the ledger takes writes again; and it waits
//! [`POLL`] after any failure of the queue rather than asking it again at once.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{MailError, Mailer, Wake};
use crate::config::{Config, MailConfig};
use crate::ledger::{Ledger, LedgerError, QueuedMail};

/// Longest wait between looks at the queue. What the daemon itself queues rings the worker's
/// [`Wake`] and goes out at once; this poll is for mail that another process queued (a
/// `dropgate process` or `publish` run by hand beside the daemon), which cannot ring it:
/// that is sent this long after at most.
const POLL: Duration = Duration::from_secs(30);
/// How long an attempt in flight when the daemon stops may still take. A message the relay
/// (or the mail folder) is taking as the stop comes is then marked sent, not sent again
/// after the restart; one still unanswered is left queued, and goes out after the restart
/// with the same Message-ID. Well inside systemd's stop timeout.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// Messages taken from the queue at a time.
const BATCH: usize = 50;

/// When to try `mail` again after a failed attempt, or `None` to give up.
pub(crate) fn retry_at(
    config: &MailConfig,
    mail: &QueuedMail,
    error: &MailError,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if matches!(error, MailError::Permanent(_)) {
        return None;
    }
    let attempt = mail.attempts as usize; // attempts before this one
    let wait = config.retry[attempt.min(config.retry.len() - 1)];
    let at = now + chrono::Duration::from_std(wait).ok()?;
    let deadline = mail.created_at + chrono::Duration::from_std(config.give_up_after).ok()?;
    (at <= deadline).then_some(at)
}

/// Runs until `shutdown`: sends what is due, then waits until the next message is due, a
/// message is queued (`wake` rings), or [`POLL`] has passed.
pub(crate) async fn run(
    config: watch::Receiver<Arc<Config>>,
    ledger: Ledger,
    wake: Wake,
    shutdown: CancellationToken,
) {
    let ledger = Arc::new(Mutex::new(ledger));
    let mut unmarked = Unmarked::default();
    loop {
        let current = config.borrow().clone();
        let mut failed = false;
        match Mailer::new(&current.mail) {
            Ok(mailer) => {
                let sent = send_due(&current.mail, &mailer, &ledger, &mut unmarked, &shutdown);
                if let Err(e) = sent.await {
                    tracing::error!(error = %e, "mail queue cannot be read or updated; trying again in {} s", POLL.as_secs());
                    failed = true;
                }
            }
            Err(e) => tracing::error!(error = %e, "mail cannot be sent; it stays queued"),
        }
        let next = with_ledger(&ledger, |l| l.next_mail_due())
            .await
            .ok()
            .flatten()
            .filter(|_| !failed);
        let wait = next.map_or(POLL, |at| {
            (at - crate::clock::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(POLL)
        });
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = wake.rung() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

async fn with_ledger<T: Send + 'static>(
    ledger: &Arc<Mutex<Ledger>>,
    f: impl FnOnce(&mut Ledger) -> Result<T, LedgerError> + Send + 'static,
) -> Result<T, LedgerError> {
    let ledger = ledger.clone();
    tokio::task::spawn_blocking(move || f(&mut ledger.lock().unwrap_or_else(|e| e.into_inner())))
        .await
        .expect("ledger calls do not panic")
}

/// Messages sent whose mark the ledger refused, with when they were sent: never sent again
/// by this process, and marked as soon as the ledger takes writes.
type Unmarked = BTreeSet<(i64, DateTime<Utc>)>;

async fn send_due(
    config: &MailConfig,
    mailer: &Mailer,
    ledger: &Arc<Mutex<Ledger>>,
    unmarked: &mut Unmarked,
    shutdown: &CancellationToken,
) -> Result<(), LedgerError> {
    while let Some(&(id, at)) = unmarked.first() {
        with_ledger(ledger, move |l| l.mail_sent(id, at)).await?;
        unmarked.remove(&(id, at));
    }
    loop {
        let due = with_ledger(ledger, |l| l.due_mail(crate::clock::now(), BATCH)).await?;
        if due.is_empty() {
            return Ok(());
        }
        for mail in due {
            if shutdown.is_cancelled() {
                return Ok(());
            }
            let id = mail.id;
            let attempt = mailer.send(&mail);
            tokio::pin!(attempt);
            let sent = tokio::select! {
                sent = &mut attempt => sent,
                _ = shutdown.cancelled() => match tokio::time::timeout(STOP_GRACE, &mut attempt).await {
                    Ok(sent) => sent,
                    Err(_) => {
                        tracing::info!(id, kind = mail.kind, "stopping: mail attempt abandoned; it stays queued");
                        return Ok(());
                    }
                },
            };
            match sent {
                Ok(response) => {
                    tracing::info!(
                        id,
                        kind = mail.kind,
                        recipients = mail.recipients.len(),
                        message_id = mail.message_id,
                        response,
                        "mail sent"
                    );
                    let at = crate::clock::now();
                    if let Err(e) = with_ledger(ledger, move |l| l.mail_sent(id, at)).await {
                        unmarked.insert((id, at));
                        return Err(e);
                    }
                }
                Err(e) => {
                    let retry = retry_at(config, &mail, &e, crate::clock::now());
                    let error = e.to_string();
                    match retry {
                        Some(at) => {
                            tracing::warn!(id, kind = mail.kind, attempt = mail.attempts + 1, error, retry_at = %at, "mail not sent; will retry")
                        }
                        None => tracing::error!(
                            id,
                            kind = mail.kind,
                            attempts = mail.attempts + 1,
                            error,
                            "mail failed for good"
                        ),
                    }
                    with_ledger(ledger, move |l| l.mail_attempt_failed(id, &error, retry)).await?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MailTransport;

    #[test]
    fn back_off_follows_the_schedule_and_gives_up_in_time() {
        let config = MailConfig {
            from: "d@x.nl".into(),
            transport: MailTransport::File { dir: "/tmp".into() },
            retry: [60, 300, 21600]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
            give_up_after: Duration::from_secs(72 * 3600),
            timeout: Duration::from_secs(30),
            send_timeout: Duration::from_secs(300),
            quality_report_day: 1,
            admin: None,
        };
        let created = Utc::now();
        let mail = |attempts| QueuedMail {
            id: 1,
            kind: "t".into(),
            recipients: vec![],
            subject: String::new(),
            text: String::new(),
            html: String::new(),
            message_id: String::new(),
            created_at: created,
            attempts,
        };
        let busy = MailError::Transient("451 try later".into());
        let after = |attempts, now: DateTime<Utc>| {
            retry_at(&config, &mail(attempts), &busy, now).map(|t| (t - now).num_seconds())
        };
        assert_eq!(after(0, created), Some(60));
        assert_eq!(after(1, created), Some(300));
        assert_eq!(after(2, created), Some(21600));
        assert_eq!(after(9, created), Some(21600), "the last wait repeats");
        assert_eq!(
            after(9, created + chrono::Duration::hours(70)),
            None,
            "past 72 hours it gives up"
        );
        let refused = MailError::Permanent("550 no such user".into());
        assert_eq!(retry_at(&config, &mail(0), &refused, created), None);
    }
}
