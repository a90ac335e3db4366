//! `dropgate invite` (issue 16, item 5): a new user gets word of its account by mail, with a
//! one-time code instead of a key exchanged by hand.
//!
//! The code (100 random bits) is mailed with the user name, the address to connect to and
//! the server's host-key fingerprints; the ledger keeps only its Argon2id hash, valid for
//! [`CODE_DAYS`] days. Logging in over SFTP with it as password opens an enrolment session
//! (`ingest::sftp::enrol`) in which the invitee puts its public key to
//! `/.ssh/authorized_keys`; the key then lets it in, and the code is void. Renewing gives a
//! new code to a user not yet enrolled; revoking ends an invitation or an enrolment.

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::ledger::{Enrolment, EnrolmentError, Invitation, Ledger, LedgerError};
use crate::mail::messages;

/// How long a code is valid.
pub const CODE_DAYS: i64 = 7;

/// Who does what, as the audit log records the sysadmin's acts.
const ACTOR: &str = "cli";

/// What to invite.
#[derive(Debug, Clone)]
pub struct Request {
    pub tenant: String,
    pub deliver: bool,
    pub collect: bool,
    pub email: String,
    /// The login name; by default made from the address's local part.
    pub user: Option<String>,
}

/// An invitation made or renewed, for the sysadmin to read (never the code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invited {
    pub user: String,
    pub email: String,
    pub valid_until: DateTime<Utc>,
}

/// Why an invitation step failed; the text is for the sysadmin.
#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    #[error("no tenant {0:?} in the configuration")]
    UnknownTenant(String),
    #[error("not an email address: {0:?}")]
    Address(String),
    #[error("{0} (choose one with --user)")]
    Name(String),
    #[error("user {0:?} is in the configuration already; choose another name with --user")]
    Configured(String),
    #[error(
        "cannot read the host key {}: {message}; start the daemon once so that it makes its host keys",
        path.display()
    )]
    HostKey {
        path: std::path::PathBuf,
        message: String,
    },
    #[error(transparent)]
    Enrolment(#[from] EnrolmentError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
}

/// Invites a new user: records the invitation and queues its mail, in one transaction.
pub fn invite(config: &Config, req: &Request, now: DateTime<Utc>) -> Result<Invited, InviteError> {
    let tenant = config
        .tenant(&req.tenant)
        .ok_or_else(|| InviteError::UnknownTenant(req.tenant.clone()))?;
    req.email
        .parse::<lettre::Address>()
        .map_err(|_| InviteError::Address(req.email.clone()))?;
    let user = match &req.user {
        Some(user) => user.clone(),
        None => name_from_address(&req.email),
    };
    crate::config::check_id("user", &user).map_err(InviteError::Name)?;
    if config.users.iter().any(|u| u.name == user) {
        return Err(InviteError::Configured(user));
    }
    let mut ledger = Ledger::open(&crate::layout::StateDir::new(&config.state_dir).ledger())?;
    let code = crate::secrets::one_time_code()?;
    let hash = crate::secrets::hash_password(&crate::secrets::normalise_code(&code))?;
    let valid_until = now + chrono::Duration::days(CODE_DAYS);
    let text = mail_text(config, &user, &tenant.name, &code, valid_until)?;
    let to = [req.email.clone()];
    let mail = text.to_mail("invitation", &tenant.id, &to);
    let invitation = Invitation {
        user: &user,
        tenant: &tenant.id,
        deliver: req.deliver,
        collect: req.collect,
        email: &req.email,
        code_hash: &hash,
        code_expires: valid_until,
    };
    ledger.invite(
        ACTOR,
        &invitation,
        (&mail, &crate::mail::new_message_id()),
        now,
    )?;
    tracing::info!(user, tenant = tenant.id, "invited");
    Ok(Invited {
        user,
        email: req.email.clone(),
        valid_until,
    })
}

/// A new code for a user invited but not enrolled (its old code void), mailed again.
pub fn renew(config: &Config, user: &str, now: DateTime<Utc>) -> Result<Invited, InviteError> {
    let mut ledger = Ledger::open(&crate::layout::StateDir::new(&config.state_dir).ledger())?;
    let found = ledger
        .enrolment(user)?
        .ok_or_else(|| EnrolmentError::Unknown(user.to_owned()))?;
    let tenant_name = config
        .tenant(&found.tenant)
        .map_or(found.tenant.clone(), |t| t.name.clone());
    let code = crate::secrets::one_time_code()?;
    let hash = crate::secrets::hash_password(&crate::secrets::normalise_code(&code))?;
    let valid_until = now + chrono::Duration::days(CODE_DAYS);
    let text = mail_text(config, user, &tenant_name, &code, valid_until)?;
    let to = [found.email.clone()];
    let mail = text.to_mail("invitation", &found.tenant, &to);
    ledger.renew_invitation(
        ACTOR,
        user,
        &hash,
        valid_until,
        (&mail, &crate::mail::new_message_id()),
        now,
    )?;
    tracing::info!(user, tenant = found.tenant, "invitation renewed");
    Ok(Invited {
        user: user.to_owned(),
        email: found.email,
        valid_until,
    })
}

/// Ends an invitation or an enrolment at once: the next login with its code or key fails.
pub fn revoke(config: &Config, user: &str, now: DateTime<Utc>) -> Result<(), InviteError> {
    let mut ledger = Ledger::open(&crate::layout::StateDir::new(&config.state_dir).ledger())?;
    ledger.revoke_enrolment(ACTOR, user, now)?;
    tracing::info!(user, "invitation or enrolment revoked");
    Ok(())
}

/// Every invitation and enrolment, one line each, for the sysadmin.
pub fn list(config: &Config, now: DateTime<Utc>) -> Result<String, InviteError> {
    let ledger = Ledger::open_read_only(&crate::layout::StateDir::new(&config.state_dir).ledger())?;
    let mut out = String::new();
    for e in ledger.enrolments()? {
        out.push_str(&line(config, &e, now));
        out.push('\n');
    }
    if out.is_empty() {
        out.push_str("no invitations\n");
    }
    Ok(out)
}

fn line(config: &Config, e: &Enrolment, now: DateTime<Utc>) -> String {
    let local = |t: DateTime<Utc>| {
        t.with_timezone(&config.time_zone)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    };
    let roles = match (e.deliver, e.collect) {
        (true, true) => "deliver+collect",
        (true, false) => "deliver",
        _ => "collect",
    };
    let state = match (e.revoked_at, e.enrolled_at, &e.code_hash) {
        (Some(at), _, _) => format!("revoked {}", local(at)),
        (None, Some(at), _) => format!("enrolled {}", local(at)),
        (None, None, Some(_)) if e.code_expires > now => {
            format!("invited, code valid until {}", local(e.code_expires))
        }
        _ => format!(
            "invited, code expired {} (renew with --renew {})",
            local(e.code_expires),
            e.user
        ),
    };
    format!("{}\t{}\t{roles}\t{}\t{state}", e.user, e.tenant, e.email)
}

/// The invitation's text, with where to connect and the host keys to check.
fn mail_text(
    config: &Config,
    user: &str,
    tenant_name: &str,
    code: &str,
    valid_until: DateTime<Utc>,
) -> Result<messages::Text, InviteError> {
    let host_keys = host_key_fingerprints(config)?;
    let host_keys: Vec<(&str, String)> = host_keys
        .iter()
        .map(|(kind, fp)| (*kind, fp.clone()))
        .collect();
    let (host, port) = public_address(config);
    let until = valid_until
        .with_timezone(&config.time_zone)
        .format("%d-%m-%Y %H:%M")
        .to_string();
    Ok(messages::invitation(
        config.language,
        &messages::Invitation {
            user,
            tenant_name,
            host: &host,
            port,
            host_keys: &host_keys,
            code,
            valid_until: &until,
        },
    ))
}

/// The fingerprint of each host key the server offers; the ed25519 key must be there.
fn host_key_fingerprints(config: &Config) -> Result<Vec<(&'static str, String)>, InviteError> {
    use crate::ingest::sftp::hostkey::{self, Kind};
    let mut out = Vec::new();
    for kind in Kind::ALL {
        let path = kind.path(&config.sftp.host_key);
        match russh::keys::PrivateKey::read_openssh_file(&path) {
            Ok(key) => out.push((kind.name(), hostkey::fingerprint(&key))),
            // The server serves without an ECDSA or RSA key it cannot write.
            Err(_) if kind != Kind::Ed25519 && !path.exists() => {}
            Err(e) => {
                return Err(InviteError::HostKey {
                    path,
                    message: e.to_string(),
                });
            }
        }
    }
    Ok(out)
}

/// Where users connect: `[sftp] public_address`, else the listen address, else (listening
/// on every address) this machine's host name.
fn public_address(config: &Config) -> (String, u16) {
    if let Some(address) = &config.sftp.public_address {
        return address.clone();
    }
    let listen = config.sftp.listen;
    let host = if listen.ip().is_unspecified() {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "localhost".into())
    } else {
        listen.ip().to_string()
    };
    (host, listen.port())
}

/// A login name from an address's local part: lower case, other characters than letters,
/// digits, `.`, `-` and `_` made `-`.
fn name_from_address(email: &str) -> String {
    let local = email.split('@').next().unwrap_or_default();
    local
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '.' | '-' | '_' => c,
            _ => '-',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_made_from_the_address_and_checked_as_the_configuration_does() {
        let valid = |name: &str| crate::config::check_id("user", name).is_ok();
        assert_eq!(
            name_from_address("Jan.de+Vries@zorg.example"),
            "jan.de-vries"
        );
        assert!(valid("jan.de-vries"));
        assert!(!valid(&name_from_address("+jan@zorg.example")));
    }
}
