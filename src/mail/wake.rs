//! The mail worker's wake-up: code that queues a message rings it after its commit, so that
//! the message goes out at once instead of at the worker's next look at the queue.
//!
//! Only code in the daemon's own process can ring it. A message queued by another process
//! (`dropgate process` or `publish` run by hand beside the daemon) is found by the worker's
//! slower fallback poll (`mail::worker`).

use std::sync::Arc;

use tokio::sync::Notify;

/// A cloneable handle on the mail worker's wake-up. Whatever queues mail calls
/// [`Wake::queued`] once its transaction has committed; the worker waits on
/// [`Wake::rung`] between looks at the queue.
///
/// A ring while the worker is busy sending is kept (one, however many came) and ends its
/// next wait at once: a message queued during a look is never left for the fallback poll.
#[derive(Debug, Clone, Default)]
pub struct Wake(Arc<Notify>);

impl Wake {
    /// A new wake-up, which the daemon hands to its mail worker and to what queues mail.
    pub fn new() -> Self {
        Self::default()
    }

    /// A wake-up no worker listens to, for a run by hand: there is no mail worker in its
    /// process, and the daemon's finds the mail by its fallback poll.
    pub fn unheard() -> Self {
        Self::default()
    }

    /// Tells the worker that a message was queued. Call it after the commit: rung before,
    /// the worker may look before the message is there and then wait for the next ring.
    pub fn queued(&self) {
        self.0.notify_one();
    }

    /// Waits for a ring; returns at once if there was one since the last wait ended.
    pub(crate) async fn rung(&self) {
        self.0.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_ring_while_nobody_waits_ends_the_next_wait_at_once() {
        let wake = Wake::new();
        wake.clone().queued();
        wake.clone().queued();
        tokio::time::timeout(std::time::Duration::from_secs(5), wake.rung())
            .await
            .expect("the ring before the wait is kept");
        let again = tokio::time::timeout(std::time::Duration::from_millis(50), wake.rung()).await;
        assert!(again.is_err(), "two rings before a wait end one wait");
    }
}
