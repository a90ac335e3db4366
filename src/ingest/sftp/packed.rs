//! Answers packed into full SSH packets.
//!
//! russh-sftp writes each answer and flushes it, and the channel turns every write into
//! packets of at most the client's maximum packet size. A 32 KiB READ answer is 13 bytes
//! longer than OpenSSH's 32 KiB packet, so every read cost two packets, the second one
//! 13 bytes long: twice the packets to seal, send, open and parse, on both sides. sshd
//! reads its sftp-server's answers from a pipe and packs whatever is there.
//!
//! [`Packed`] does the same: it hands the channel whole packets as they fill, and at a
//! flush keeps the tail back only while the client's next request has already arrived
//! whole (so an answer follows at once) and for at most [`MAX_HELD`] flushes in a row, so
//! that a client waiting for answers before it sends more is never kept waiting.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::files::MAX_PACKET;

/// The packet size answers are packed to: OpenSSH's, curl's, paramiko's and rclone's
/// maximum. A larger maximum still gets packets of this size; a smaller one gets them cut.
const PACKET: usize = 32 * 1024;

/// Most flushes in a row whose tail is kept back.
const MAX_HELD: u32 = 16;

/// An SFTP stream whose answers go out in full packets (see the module documentation).
pub(super) struct Packed<S> {
    inner: S,
    /// Answers not yet handed to the channel.
    out: BytesMut,
    /// Client data read ahead at a flush, not yet read by russh-sftp.
    ahead: BytesMut,
    /// What reading ahead met at the end: the client's EOF or an error, told in turn.
    end: Option<io::Result<()>>,
    /// Flushes in a row whose tail was kept back.
    held: u32,
}

impl<S> Packed<S> {
    pub(super) fn new(inner: S) -> Self {
        Self {
            inner,
            out: BytesMut::new(),
            ahead: BytesMut::new(),
            end: None,
            held: 0,
        }
    }

    /// Whether a whole SFTP request that russh-sftp will take waits in `ahead`. One it
    /// refuses (too short, or over the limit) ends the session without an answer, so
    /// nothing may be held for it.
    fn request_ahead(&self) -> bool {
        let Some(len) = self.ahead.get(..4) else {
            return false;
        };
        let len = u32::from_be_bytes(len.try_into().expect("four bytes")) as usize;
        (5..=MAX_PACKET as usize).contains(&len) && self.ahead.len() >= 4 + len
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Packed<S> {
    /// Hands `out` to the channel until fewer than `below` bytes are left.
    fn drain(&mut self, cx: &mut Context<'_>, below: usize) -> Poll<io::Result<()>> {
        while self.out.len() >= below.max(1) {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.out))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out.advance(n);
        }
        Poll::Ready(Ok(()))
    }

    /// Reads what the client has already sent, without waiting, and says whether a whole
    /// request is now ahead.
    fn read_ahead(&mut self, cx: &mut Context<'_>) -> bool {
        // Never more than the largest request russh-sftp takes: a client's data is bounded
        // here as everywhere.
        while self.end.is_none()
            && !self.request_ahead()
            && self.ahead.len() <= MAX_PACKET as usize + 4
        {
            self.ahead.reserve(PACKET);
            match tokio_util::io::poll_read_buf(Pin::new(&mut self.inner), cx, &mut self.ahead) {
                Poll::Ready(Ok(0)) => self.end = Some(Ok(())),
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => self.end = Some(Err(e)),
                Poll::Pending => break,
            }
        }
        self.request_ahead()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Packed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.ahead.is_empty() {
            let n = this.ahead.len().min(buf.remaining());
            buf.put_slice(&this.ahead[..n]);
            this.ahead.advance(n);
            return Poll::Ready(Ok(()));
        }
        match this.end.take() {
            Some(Err(e)) => {
                this.end = Some(Ok(()));
                Poll::Ready(Err(e))
            }
            Some(Ok(())) => {
                this.end = Some(Ok(()));
                Poll::Ready(Ok(()))
            }
            None => Pin::new(&mut this.inner).poll_read(cx, buf),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Packed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.drain(cx, PACKET))?;
        if this.out.is_empty() && buf.len() >= PACKET {
            // A whole packet or more: straight to the channel, which cuts one packet off.
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        }
        this.out.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.held < MAX_HELD && this.read_ahead(cx) {
            this.held += 1;
            return Poll::Ready(Ok(()));
        }
        ready!(this.drain(cx, 1))?;
        this.held = 0;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        ready!(this.drain(cx, 1))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A channel as russh's: each write takes at most one packet; reading past what the
    /// client sent waits (or ends, once the client's EOF came).
    #[derive(Default)]
    struct Channel {
        incoming: Vec<u8>,
        read: usize,
        eof: bool,
        packets: Vec<Vec<u8>>,
    }

    impl AsyncRead for Channel {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let rest = &self.incoming[self.read..];
            if rest.is_empty() && !self.eof {
                return Poll::Pending;
            }
            let n = rest.len().min(buf.remaining()).min(1000);
            buf.put_slice(&rest[..n]);
            self.read += n;
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Channel {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = buf.len().min(PACKET);
            self.packets.push(buf[..n].to_vec());
            Poll::Ready(Ok(n))
        }
        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// An SFTP packet of `len` bytes after its length field, each byte `fill`.
    fn packet(len: usize, fill: u8) -> Vec<u8> {
        let mut p = (len as u32).to_be_bytes().to_vec();
        p.resize(4 + len, fill);
        p
    }

    /// Serves `requests` requests as russh-sftp does: read one whole, write its answer
    /// with one write_all, flush. Answer `i` is `answer_len` bytes of `i`.
    async fn serve(packed: &mut Packed<Channel>, requests: usize, answer_len: usize) -> Vec<u8> {
        let mut sent = Vec::new();
        for i in 0..requests {
            let len = packed.read_u32().await.unwrap();
            packed.read_exact(&mut vec![0; len as usize]).await.unwrap();
            let answer = packet(answer_len - 4, i as u8);
            packed.write_all(&answer).await.unwrap();
            packed.flush().await.unwrap();
            sent.extend_from_slice(&answer);
        }
        sent
    }

    fn requests(n: usize) -> Vec<u8> {
        (0..n).flat_map(|_| packet(21, 5)).collect()
    }

    #[tokio::test]
    async fn read_answers_go_out_in_whole_packets_while_requests_wait() {
        let mut packed = Packed::new(Channel {
            incoming: requests(8),
            ..Channel::default()
        });
        let sent = serve(&mut packed, 8, PACKET + 13).await;
        let packets = &packed.inner.packets;
        assert_eq!(packets.concat(), sent);
        let sizes: Vec<usize> = packets.iter().map(Vec::len).collect();
        assert_eq!(sizes, [vec![PACKET; 8], vec![8 * 13]].concat());
    }

    #[tokio::test]
    async fn small_answers_are_held_back_for_a_few_flushes_at_most() {
        let n = 3 * (MAX_HELD as usize + 1) + 2;
        let mut packed = Packed::new(Channel {
            incoming: requests(n),
            ..Channel::default()
        });
        let sent = serve(&mut packed, n, 28).await;
        let packets = &packed.inner.packets;
        assert_eq!(packets.concat(), sent);
        let batch = (MAX_HELD as usize + 1) * 28;
        let sizes: Vec<usize> = packets.iter().map(Vec::len).collect();
        assert_eq!(sizes, [batch, batch, batch, 2 * 28]);
    }

    #[tokio::test]
    async fn an_answer_is_never_held_when_no_whole_request_has_arrived() {
        let mut incoming = requests(2);
        // The next request's first half only: the client may be waiting for an answer.
        incoming.extend_from_slice(&requests(1)[..10]);
        let mut packed = Packed::new(Channel {
            incoming,
            ..Channel::default()
        });
        let sent = serve(&mut packed, 2, 100).await;
        assert_eq!(packed.inner.packets.concat(), sent);
        let mut first = [0; 10];
        packed.read_exact(&mut first).await.unwrap();
        assert_eq!(first, requests(1)[..10]);
    }

    #[tokio::test]
    async fn nothing_is_held_for_a_request_the_server_will_refuse() {
        let mut incoming = requests(1);
        // A whole packet over the limit: russh-sftp refuses it and the session ends.
        incoming.extend(packet(MAX_PACKET as usize + 1, 5));
        let mut packed = Packed::new(Channel {
            incoming,
            ..Channel::default()
        });
        let sent = serve(&mut packed, 1, 100).await;
        assert_eq!(packed.inner.packets.concat(), sent, "the answer went out");
    }

    #[tokio::test]
    async fn the_clients_eof_read_ahead_comes_after_its_last_request() {
        let mut packed = Packed::new(Channel {
            incoming: requests(2),
            eof: true,
            ..Channel::default()
        });
        let sent = serve(&mut packed, 2, 100).await;
        assert_eq!(packed.inner.packets.concat(), sent);
        let mut rest = Vec::new();
        packed.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
    }
}
