//! SFTP packets as they pass between the client's channel and russh-sftp, followed for two
//! repairs that russh-sftp does not make itself:
//!
//! - A request it cannot parse (a truncated field, an unknown type) gets a BAD_MESSAGE
//!   status with request id 0, and OpenSSH-style clients wait forever for an answer with the
//!   id they sent. russh-sftp serves one request at a time and reads exactly one packet
//!   before answering it, so the answer to a packet is the next one written: such a status
//!   gets the request's own id.
//! - A packet longer than the server takes is refused without its body being read, and the
//!   stream is then out of step for good. The session ends there (the client sees the
//!   channel close) instead of answering garbage or nothing.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::files::MAX_PACKET;

/// SSH_FXP_STATUS.
const STATUS: u8 = 101;
/// SSH_FXP_INIT: the one request without an id.
const INIT: u8 = 1;
/// Length (4), type (1), request id (4).
const HEADER: usize = 9;

/// An SFTP stream whose packets are followed (see the module documentation).
pub(super) struct Framed<S> {
    inner: S,
    incoming: Position,
    /// Id of the last request read.
    last_id: [u8; 4],
    /// The stream lost its framing: the client's data ends here.
    broken: bool,
    outgoing: Position,
    /// The id to put into the packet being written.
    patch: Option<[u8; 4]>,
}

/// Where a stream is within its current packet.
#[derive(Default)]
struct Position {
    /// Bytes of the packet seen so far, length field included.
    at: usize,
    /// The first bytes of the packet.
    header: [u8; HEADER],
}

impl Position {
    /// The packet's whole size, once its length field is known.
    fn size(&self) -> Option<usize> {
        (self.at >= 4).then(|| {
            let len = u32::from_be_bytes(self.header[..4].try_into().expect("four bytes"));
            4 + len as usize
        })
    }

    /// Takes `bytes` of the stream; returns how many belong to the current packet and
    /// whether it then ended.
    fn take(&mut self, bytes: &[u8]) -> (usize, bool) {
        let mut used = 0;
        while self.at < HEADER && used < bytes.len() {
            self.header[self.at] = bytes[used];
            self.at += 1;
            used += 1;
            if self.size().is_some_and(|size| self.at >= size) {
                return (used, true);
            }
        }
        let Some(size) = self.size() else {
            return (used, false);
        };
        let rest = (size - self.at).min(bytes.len() - used);
        self.at += rest;
        used += rest;
        (used, self.at >= size)
    }
}

impl<S> Framed<S> {
    pub(super) fn new(inner: S) -> Self {
        Self {
            inner,
            incoming: Position::default(),
            last_id: [0; 4],
            broken: false,
            outgoing: Position::default(),
            patch: None,
        }
    }

    /// Follows the client's `bytes`, as russh-sftp reads them.
    fn read(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() && !self.broken {
            if self.incoming.at == 0 {
                // A new packet: until its id is read, an answer has none to borrow.
                self.last_id = [0; 4];
            }
            let (used, ended) = self.incoming.take(bytes);
            bytes = &bytes[used..];
            if let Some(size) = self.incoming.size()
                && size - 4 > MAX_PACKET as usize
            {
                tracing::info!(
                    bytes = size,
                    "sftp packet over the limit; ending the session"
                );
                self.broken = true;
            }
            if self.incoming.at >= HEADER && self.incoming.header[4] != INIT {
                self.last_id = self.incoming.header[5..9].try_into().expect("four bytes");
            }
            if ended {
                self.incoming = Position::default();
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Framed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.broken {
            // The end of the client's data, as russh-sftp knows to stop at.
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            this.read(&buf.filled()[before..]);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Framed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        // A new packet: a status with id 0 answers the request just read. (russh-sftp writes
        // each packet whole with one `write_all`, so its first buffer holds the header; if
        // the channel then takes fewer than nine bytes, `patch` covers the rest.)
        if this.outgoing.at == 0
            && buf.len() >= HEADER
            && buf[4] == STATUS
            && buf[5..9] == [0; 4]
            && this.last_id != [0; 4]
        {
            this.patch = Some(this.last_id);
        }
        let written = match this.patch {
            Some(id) if this.outgoing.at < HEADER => {
                let mut fixed = buf.to_vec();
                for (i, byte) in id.iter().enumerate() {
                    if let Some(at) = (5 + i).checked_sub(this.outgoing.at) {
                        if let Some(slot) = fixed.get_mut(at) {
                            *slot = *byte;
                        }
                    }
                }
                Pin::new(&mut this.inner).poll_write(cx, &fixed)
            }
            _ => Pin::new(&mut this.inner).poll_write(cx, buf),
        };
        if let Poll::Ready(Ok(n)) = written {
            let mut rest = &buf[..n];
            while !rest.is_empty() {
                let (used, ended) = this.outgoing.take(rest);
                rest = &rest[used..];
                if ended {
                    this.outgoing = Position::default();
                    this.patch = None;
                }
            }
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn packet(kind: u8, id: u32, body: &[u8]) -> Vec<u8> {
        let mut p = ((5 + body.len()) as u32).to_be_bytes().to_vec();
        p.push(kind);
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(body);
        p
    }

    #[tokio::test]
    async fn a_status_with_id_0_gets_the_id_of_the_request_it_answers() {
        let (client, server) = tokio::io::duplex(1 << 20);
        let mut framed = Framed::new(server);
        let (mut client_read, mut client_write) = tokio::io::split(client);
        // A malformed OPEN (type 3) with id 7, read as russh-sftp reads it: length, then body.
        client_write
            .write_all(&packet(3, 7, &[0, 0, 9]))
            .await
            .unwrap();
        let len = framed.read_u32().await.unwrap();
        let mut body = vec![0; len as usize];
        framed.read_exact(&mut body).await.unwrap();
        // russh-sftp's answer, written as it writes every packet: whole, with one write_all.
        let answer = packet(STATUS, 0, &[0, 0, 0, 5]);
        framed.write_all(&answer).await.unwrap();
        // A good answer to a later request keeps its own id.
        client_write.write_all(&packet(17, 8, b"")).await.unwrap();
        let len = framed.read_u32().await.unwrap();
        framed.read_exact(&mut vec![0; len as usize]).await.unwrap();
        framed
            .write_all(&packet(STATUS, 8, &[0, 0, 0, 0]))
            .await
            .unwrap();
        let mut got = vec![0; 2 * answer.len()];
        client_read.read_exact(&mut got).await.unwrap();
        assert_eq!(&got[..answer.len()], &packet(STATUS, 7, &[0, 0, 0, 5])[..]);
        assert_eq!(&got[answer.len()..], &packet(STATUS, 8, &[0, 0, 0, 0])[..]);
    }

    #[tokio::test]
    async fn a_packet_over_the_limit_ends_the_clients_data() {
        let (client, server) = tokio::io::duplex(1 << 20);
        let mut framed = Framed::new(server);
        let (_client_read, mut client_write) = tokio::io::split(client);
        let mut huge = (MAX_PACKET + 100).to_be_bytes().to_vec();
        huge.extend_from_slice(&[3, 0, 0, 0, 1, 0, 0]);
        client_write.write_all(&huge).await.unwrap();
        assert_eq!(framed.read_u32().await.unwrap(), MAX_PACKET + 100);
        // russh-sftp refuses the length and reads on: the data ends.
        let mut rest = Vec::new();
        framed.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "{rest:?}");
    }
}
