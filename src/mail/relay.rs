//! One SMTP conversation with the relay, every wait under a deadline (`[mail] timeout_secs`).
//!
//! lettre's own transport bounds only the connection: a relay that accepts it and then goes
//! silent (before its greeting, after a command, after the end of the data) would hold an
//! attempt until the whole-attempt deadline. So the conversation is driven here step by
//! step through lettre's `AsyncSmtpConnection`, each step under its own deadline; a step
//! that runs out is a temporary failure that names it ("the relay did not answer EHLO
//! within 30 s"), and the message is tried again on the retry schedule.
//!
//! The steps: connect, the TLS handshake (implicit TLS), the greeting, EHLO, STARTTLS (with
//! its handshake and second EHLO), AUTH, MAIL FROM, each RCPT TO, DATA, and the end of the
//! message (its text and the relay's answer). QUIT is sent under the same deadline and its
//! answer does not matter: the relay has taken the message by then.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::Response;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::MailError;

/// How the conversation is protected.
pub(super) enum Security {
    /// No TLS (a loopback relay only; the configuration checks that).
    Plain,
    /// Plain until STARTTLS, which the relay must offer.
    StartTls(TlsParameters),
    /// TLS from the first byte (port 465).
    Implicit {
        connector: tokio_rustls::TlsConnector,
        name: ServerName<'static>,
    },
}

/// A relay and how to talk to it.
pub(super) struct Relay {
    host: String,
    port: u16,
    security: Security,
    credentials: Option<Credentials>,
    /// The longest any one step may take.
    wait: Duration,
    hello: ClientId,
}

/// A step of the conversation, named when the relay does not finish it in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Connect,
    Handshake,
    Greeting,
    Ehlo,
    StartTls,
    Auth,
    MailFrom,
    RcptTo,
    Data,
    EndOfData,
}

impl Step {
    /// What the relay did not do in time.
    fn undone(self) -> &'static str {
        match self {
            Step::Connect => "accept the connection",
            Step::Handshake => "finish the TLS handshake",
            Step::Greeting => "greet",
            Step::Ehlo => "answer EHLO",
            Step::StartTls => "finish STARTTLS",
            Step::Auth => "answer AUTH",
            Step::MailFrom => "answer MAIL FROM",
            Step::RcptTo => "answer RCPT TO",
            Step::Data => "answer DATA",
            Step::EndOfData => "answer the end of the message",
        }
    }
}

/// What lettre reports: a 5xx is refused for good, anything else (a 4xx, a broken or
/// refused connection, TLS trouble) is worth another try.
impl From<lettre::transport::smtp::Error> for MailError {
    fn from(e: lettre::transport::smtp::Error) -> Self {
        if e.is_permanent() {
            MailError::Permanent(e.to_string())
        } else {
            MailError::Transient(e.to_string())
        }
    }
}

impl Relay {
    pub(super) fn new(
        host: String,
        port: u16,
        security: Security,
        credentials: Option<Credentials>,
        wait: Duration,
    ) -> Self {
        Self {
            host,
            port,
            security,
            credentials,
            wait,
            hello: ClientId::default(),
        }
    }

    /// `work`, given up with a temporary failure that names `step` once `wait` is over.
    async fn within<T, E>(
        &self,
        step: Step,
        work: impl Future<Output = Result<T, E>>,
    ) -> Result<T, MailError>
    where
        MailError: From<E>,
    {
        match tokio::time::timeout(self.wait, work).await {
            Ok(done) => done.map_err(MailError::from),
            Err(_) => Err(MailError::Transient(format!(
                "the relay did not {} within {} s",
                step.undone(),
                self.wait.as_secs()
            ))),
        }
    }

    /// Hands `email` to the relay for `envelope`; what the relay said when it took it.
    pub(super) async fn send(
        &self,
        envelope: &Envelope,
        email: &[u8],
    ) -> Result<Response, MailError> {
        let (host, port) = (self.host.as_str(), self.port);
        let tcp = self
            .within(Step::Connect, async {
                TcpStream::connect((host, port)).await.map_err(|e| {
                    MailError::Transient(format!("cannot connect to {host}:{port}: {e}"))
                })
            })
            .await?;
        let peer = tcp
            .peer_addr()
            .map_err(|e| MailError::Transient(format!("{host}:{port}: {e}")))?;
        let stream: Box<dyn AsyncTokioStream> = match &self.security {
            Security::Implicit { connector, name } => {
                let tls = self
                    .within(Step::Handshake, async {
                        connector.connect(name.clone(), tcp).await.map_err(|e| {
                            MailError::Transient(format!("TLS with {host}:{port}: {e}"))
                        })
                    })
                    .await?;
                Box::new(self.greeted(tls, peer).await?)
            }
            Security::Plain | Security::StartTls(_) => Box::new(self.greeted(tcp, peer).await?),
        };
        let mut conn = self
            .within(
                Step::Ehlo,
                AsyncSmtpConnection::connect_with_transport(stream, &self.hello),
            )
            .await?;
        if let Security::StartTls(tls) = &self.security {
            self.within(Step::StartTls, conn.starttls(tls.clone(), &self.hello))
                .await?;
        }
        if let Some(credentials) = &self.credentials {
            self.within(Step::Auth, conn.auth(DEFAULT_MECHANISMS, credentials))
                .await?;
        }
        let options = mail_options(&conn, envelope, email)?;
        self.within(
            Step::MailFrom,
            conn.command(Mail::new(envelope.from().cloned(), options)),
        )
        .await?;
        for to in envelope.to() {
            self.within(Step::RcptTo, conn.command(Rcpt::new(to.clone(), vec![])))
                .await?;
        }
        self.within(Step::Data, conn.command(Data)).await?;
        let taken = self.within(Step::EndOfData, conn.message(email)).await?;
        // The message is taken; a relay that does not answer QUIT changes nothing.
        let _ = tokio::time::timeout(self.wait, conn.quit()).await;
        Ok(taken)
    }

    /// Waits (under the greeting's deadline) for the first bytes of the relay's greeting,
    /// and returns the stream that replays them to lettre, which reads the rest of the
    /// greeting and sends EHLO under the next deadline.
    async fn greeted<S>(&self, mut stream: S, peer: SocketAddr) -> Result<Greeted<S>, MailError>
    where
        S: AsyncRead + Unpin,
    {
        let mut head = vec![0; 512];
        let read = self
            .within(Step::Greeting, async {
                stream
                    .read(&mut head)
                    .await
                    .map_err(|e| MailError::Transient(format!("reading the relay's greeting: {e}")))
            })
            .await?;
        if read == 0 {
            return Err(MailError::Transient(
                "the relay closed the connection before its greeting".into(),
            ));
        }
        head.truncate(read);
        Ok(Greeted {
            head,
            replayed: 0,
            inner: stream,
            peer,
        })
    }
}

/// The MAIL FROM parameters the message needs, as lettre's own transport sets them; a relay
/// that lacks the extension refuses the message for good.
fn mail_options(
    conn: &AsyncSmtpConnection,
    envelope: &Envelope,
    email: &[u8],
) -> Result<Vec<MailParameter>, MailError> {
    let supports = |extension| conn.server_info().supports_feature(extension);
    let mut options = Vec::new();
    let non_ascii_address = envelope
        .from()
        .into_iter()
        .chain(envelope.to())
        .any(|address| !AsRef::<str>::as_ref(address).is_ascii());
    if non_ascii_address {
        if !supports(Extension::SmtpUtfEight) {
            return Err(MailError::Permanent(
                "an address is not ASCII and the relay does not offer SMTPUTF8".into(),
            ));
        }
        options.push(MailParameter::SmtpUtfEight);
    }
    if !email.is_ascii() {
        if !supports(Extension::EightBitMime) {
            return Err(MailError::Permanent(
                "the message is not ASCII and the relay does not offer 8BITMIME".into(),
            ));
        }
        options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    Ok(options)
}

/// The relay's stream with the greeting's first bytes, already read, put back in front.
struct Greeted<S> {
    head: Vec<u8>,
    replayed: usize,
    inner: S,
    peer: SocketAddr,
}

impl<S> fmt::Debug for Greeted<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Greeted").field("peer", &self.peer).finish()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Greeted<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let left = &this.head[this.replayed..];
        if left.is_empty() {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let n = left.len().min(buf.remaining());
        buf.put_slice(&left[..n]);
        this.replayed += n;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Greeted<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl<S> AsyncTokioStream for Greeted<S>
where
    S: AsyncRead + AsyncWrite + Send + Sync + Unpin,
{
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.peer)
    }
}

/// The TLS set-up for STARTTLS to `host`, which lettre's `starttls` performs: webpki's roots
/// and the certificates in `ca` (`[mail.smtp] ca_file`: its PEM text and its name).
pub(super) fn starttls(host: &str, ca: Option<(&[u8], &str)>) -> Result<Security, MailError> {
    let mut params = TlsParameters::builder(host.to_owned());
    if let Some((pem, ca_name)) = ca {
        let cert =
            Certificate::from_pem(pem).map_err(|e| MailError::Setup(format!("{ca_name}: {e}")))?;
        params = params.add_root_certificate(cert);
    }
    let params = params
        .build_rustls()
        .map_err(|e| MailError::Setup(e.to_string()))?;
    Ok(Security::StartTls(params))
}

/// The TLS set-up for implicit TLS to `host`, which is ours: the same roots as
/// [`starttls`] (webpki's and those in `ca`), with the same rustls and ring provider.
pub(super) fn implicit_tls(host: &str, ca: Option<(&[u8], &str)>) -> Result<Security, MailError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some((pem, ca_name)) = ca {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let mut found = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| MailError::Setup(format!("{ca_name}: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| MailError::Setup(format!("{ca_name}: {e}")))?;
            found += 1;
        }
        if found == 0 {
            return Err(MailError::Setup(format!(
                "{ca_name}: no PEM certificate in it"
            )));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| MailError::Setup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_owned())
        .map_err(|_| MailError::Setup(format!("{host:?} is not a name TLS can check")))?;
    Ok(Security::Implicit {
        connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
        name,
    })
}
