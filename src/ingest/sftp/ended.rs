//! The end of an SFTP subsystem, told to the client. russh-sftp serves a channel until the
//! client's EOF and then drops it, which closes the channel; a client that waits for an
//! `exit-status` (OpenSSH's `scp` and `ssh -s sftp`) then exits 1 or 255 after a good
//! transfer, and scripts send the same delivery again. [`Watched`] holds the EOF back until
//! exit status 0 is queued, so that it goes out before the close, as sshd sends it.
//!
//! It also marks the connection's [`Activity`] at every read of the client's SFTP data:
//! idleness is time without requests, whatever keepalives the two sides exchange.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use russh::ChannelId;
use russh::server::Handle;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// When a connection last did something that counts: logged in, or sent SFTP data.
#[derive(Debug)]
pub(super) struct Activity {
    start: Instant,
    /// Milliseconds after `start`.
    last: AtomicU64,
}

impl Activity {
    pub(super) fn new() -> Self {
        Self {
            start: Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    /// Something happened now.
    pub(super) fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.fetch_max(ms, Ordering::Relaxed);
    }

    /// How long nothing has happened.
    pub(super) fn idle(&self) -> Duration {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

/// The subsystem's stream; at the client's EOF it first sends the exit status.
pub(super) struct Watched<S> {
    inner: S,
    end: End,
    activity: Arc<Activity>,
}

enum End {
    /// Still serving.
    Open { handle: Handle, channel: ChannelId },
    /// The client ended; the exit status is on its way.
    Telling(Pin<Box<dyn Future<Output = ()> + Send>>),
    /// Told.
    Told,
}

impl<S> Watched<S> {
    /// Watches `inner`, the stream of `channel` of the session behind `handle`, marking
    /// `activity` as data arrives.
    pub(super) fn new(
        inner: S,
        handle: Handle,
        channel: ChannelId,
        activity: Arc<Activity>,
    ) -> Self {
        Self {
            inner,
            end: End::Open { handle, channel },
            activity,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if matches!(this.end, End::Open { .. }) {
            let before = buf.filled().len();
            match Pin::new(&mut this.inner).poll_read(cx, buf) {
                Poll::Ready(Ok(())) if buf.filled().len() > before => {
                    this.activity.touch();
                    return Poll::Ready(Ok(()));
                }
                Poll::Ready(Ok(())) if buf.remaining() > 0 => {
                    if let End::Open { handle, channel } =
                        std::mem::replace(&mut this.end, End::Told)
                    {
                        this.end = End::Telling(Box::pin(async move {
                            let _ = handle.exit_status_request(channel, 0).await;
                        }));
                    }
                }
                other => return other,
            }
        }
        if let End::Telling(telling) = &mut this.end {
            if telling.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.end = End::Told;
        }
        // The end of the client's data.
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
