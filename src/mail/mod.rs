//! Outgoing mail (DESIGN 2.6, 6): every message is queued in the ledger first
//! (`ledger::mail`), then sent by `worker` through a lettre transport, with retries and
//! back-off; a failure never loses one.
//!
//! - `messages`: the texts (plain and HTML, Dutch or English). None holds a BSN or a
//!   pseudonym.
//! - `worker`: the daemon task that sends what is due.
//! - `wake`: how code that queues a message tells the worker at once.
//! - `relay`: one SMTP conversation, each step under its own deadline.
//!
//! Transports: SMTP (STARTTLS, implicit TLS, or plain to a loopback relay only) with
//! credentials from a file or an environment variable, or `.eml` files in a folder.

pub mod messages;
mod relay;
pub(crate) mod wake;
pub(crate) mod worker;

pub use wake::Wake;

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncFileTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{MailConfig, MailTransport, Secret, SmtpSecurity};
use crate::ledger::QueuedMail;

/// Why mail could not be set up or sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("mail configuration: {0}")]
    Setup(String),
    /// Refused for good (an SMTP 5xx, or a message that cannot be built).
    #[error("refused: {0}")]
    Permanent(String),
    /// Worth another try (4xx, connection or TLS trouble, timeouts).
    #[error("{0}")]
    Transient(String),
}

enum Transport {
    Smtp(relay::Relay),
    File(AsyncFileTransport<Tokio1Executor>, std::path::PathBuf),
}

/// Sends messages through the configured transport.
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    /// The longest one attempt may take (`[mail] send_timeout_secs`).
    send_timeout: Duration,
}

fn read_secret(secret: &Secret) -> Result<String, MailError> {
    match secret {
        Secret::File(path) => std::fs::read_to_string(path)
            .map(|s| s.trim_end_matches(['\r', '\n']).to_owned())
            .map_err(|e| {
                MailError::Setup(format!(
                    "cannot read the SMTP password from {}: {e}",
                    path.display()
                ))
            }),
        Secret::Env(var) => std::env::var(var).map_err(|_| {
            MailError::Setup(format!(
                "environment variable {var} (the SMTP password) is not set"
            ))
        }),
    }
}

impl Mailer {
    /// The transport `config` describes. A relative `.eml` folder is made if missing.
    pub fn new(config: &MailConfig) -> Result<Self, MailError> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| MailError::Setup(format!("from address {:?}: {e}", config.from)))?;
        let transport = match &config.transport {
            MailTransport::File { dir } => {
                crate::layout::create_private_dir(dir)
                    .map_err(|e| MailError::Setup(e.to_string()))?;
                Transport::File(AsyncFileTransport::new(dir), dir.clone())
            }
            MailTransport::Smtp(smtp) => {
                let ca = match &smtp.ca_file {
                    Some(path) => Some((
                        std::fs::read(path).map_err(|e| {
                            MailError::Setup(format!("cannot read {}: {e}", path.display()))
                        })?,
                        path.display().to_string(),
                    )),
                    None => None,
                };
                let ca = ca
                    .as_ref()
                    .map(|(pem, name)| (pem.as_slice(), name.as_str()));
                let security = match smtp.security {
                    SmtpSecurity::Plain => relay::Security::Plain,
                    SmtpSecurity::ImplicitTls => relay::implicit_tls(&smtp.host, ca)?,
                    SmtpSecurity::StartTls => relay::starttls(&smtp.host, ca)?,
                };
                let credentials = match &smtp.username {
                    Some(user) => {
                        let password = match &smtp.password {
                            Some(secret) => read_secret(secret)?,
                            None => String::new(),
                        };
                        Some(Credentials::new(user.clone(), password))
                    }
                    None => None,
                };
                Transport::Smtp(relay::Relay::new(
                    smtp.host.clone(),
                    smtp.port,
                    security,
                    credentials,
                    config.timeout,
                ))
            }
        };
        Ok(Self {
            transport,
            from,
            send_timeout: config.send_timeout,
        })
    }

    fn build(&self, mail: &QueuedMail) -> Result<Message, MailError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(mail.subject.clone())
            .message_id(Some(mail.message_id.clone()))
            .date(mail.created_at.into());
        for to in &mail.recipients {
            let mailbox: Mailbox = to
                .parse()
                .map_err(|e| MailError::Permanent(format!("recipient {to:?}: {e}")))?;
            builder = builder.to(mailbox);
        }
        builder
            .multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                mail.html.clone(),
            ))
            .map_err(|e| MailError::Permanent(e.to_string()))
    }

    /// Sends one message; on success, what the server (or file transport) said.
    pub async fn send(&self, mail: &QueuedMail) -> Result<String, MailError> {
        let message = self.build(mail)?;
        match &self.transport {
            Transport::File(transport, dir) => transport
                .send(message)
                .await
                .map(|id| format!("written to {}", dir.join(format!("{id}.eml")).display()))
                .map_err(|e| MailError::Transient(e.to_string())),
            Transport::Smtp(relay) => {
                let email = message.formatted();
                match tokio::time::timeout(
                    self.send_timeout,
                    relay.send(message.envelope(), &email),
                )
                .await
                {
                    // A relay that answers each step just in time, but too slowly for the
                    // whole: a temporary failure, tried again on the retry schedule.
                    Err(_) => Err(MailError::Transient(format!(
                        "the relay did not take the message within {} s",
                        self.send_timeout.as_secs()
                    ))),
                    Ok(Ok(response)) => Ok(format!(
                        "{} {}",
                        response.code(),
                        response.message().collect::<Vec<_>>().join(" ")
                    )),
                    Ok(Err(e)) => Err(e),
                }
            }
        }
    }
}

/// A new, globally unique Message-ID.
pub fn new_message_id() -> String {
    let token = crate::secrets::random_hex(16)
        .unwrap_or_else(|_| format!("{}", crate::clock::now().timestamp_nanos_opt().unwrap_or(0)));
    format!("<{token}@dropgate>")
}
