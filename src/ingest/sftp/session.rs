//! One SSH connection: authentication, then the `sftp` subsystem and nothing else.
//!
//! Every login method first checks bans and the user's address allow-list; an unknown user
//! is refused the same way, and in the same time, as a known one with the wrong secret.
//! A user not in the configuration may be one `dropgate invite` made (`enrol`): enrolled,
//! it logs in with its key; invited, with its one-time code, into an enrolment session.
//! Shells, commands, terminals, environment, agent and port forwarding are all refused.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use argon2::{Argon2, PasswordVerifier};
use russh::keys::PublicKey;
use russh::keys::ssh_key::HashAlg;
use russh::server::{Auth, ChannelOpenHandle, Msg, Session as SshSession};
use russh::{Channel, ChannelId, MethodKind, MethodSet};
use serde_json::json;
use tokio::sync::oneshot;

use super::ended::Activity;
use super::enrol::Enrol;
use super::files::{Files, MAX_PACKET};
use super::vfs::Grants;
use super::{Account, Shared, UserSlot};
use crate::config::{Grant, User};
use crate::ledger::Enrolment;

/// Longest user name, in characters, that a failed login writes to the log and the ledger.
const MAX_LOGGED_NAME: usize = 64;

/// The SSH side of one client connection.
pub(super) struct Connection {
    shared: Arc<Shared>,
    peer: SocketAddr,
    /// The user whose key was accepted, when a password must follow.
    key_passed: Option<(String, String)>,
    /// The user whose password was accepted, when a key must follow.
    password_passed: Option<String>,
    account: Option<Arc<Account>>,
    _user_slot: Option<UserSlot>,
    channels: HashMap<ChannelId, Channel<Msg>>,
    /// A rejected attempt not yet counted as a failure, with its reason (see `Drop`).
    uncounted_rejection: Option<(String, &'static str)>,
    /// Told when login succeeds, so that the login timer stops.
    logged_in: Option<oneshot::Sender<Arc<Account>>>,
    /// Marked by every SFTP request, for the idle timeout.
    activity: Arc<Activity>,
}

/// Why a login attempt was refused before any secret was looked at.
enum Refusal {
    Banned,
    UnknownUser,
    AddressNotAllowed,
    /// Past the user's `expires` day: its keys and password no longer let it in (or past
    /// an invitation's last moment: its code no longer does).
    Expired,
}

/// Who a login attempt may become.
struct Login {
    user: User,
    /// An invited user whose password is its one-time code: only its key may be put.
    enrolling: bool,
    /// Made by `dropgate invite` (enrolled or enrolling), not by the configuration.
    invited: bool,
}

impl Refusal {
    fn reason(&self) -> &'static str {
        match self {
            Self::Banned => "banned",
            Self::UnknownUser => "unknown user",
            Self::AddressNotAllowed => "address not allowed",
            Self::Expired => "login expired",
        }
    }
}

impl Connection {
    pub(super) fn new(
        shared: Arc<Shared>,
        peer: SocketAddr,
        logged_in: oneshot::Sender<Arc<Account>>,
        activity: Arc<Activity>,
    ) -> Self {
        Self {
            shared,
            peer,
            key_passed: None,
            password_passed: None,
            account: None,
            _user_slot: None,
            channels: HashMap::new(),
            uncounted_rejection: None,
            logged_in: Some(logged_in),
            activity,
        }
    }

    /// The configured or invited user, if this attempt may proceed to checking a secret.
    async fn gate(&self, name: &str) -> Result<Login, Refusal> {
        if self
            .shared
            .penalties
            .is_banned(self.peer.ip(), Instant::now())
        {
            return Err(Refusal::Banned);
        }
        let config = self.shared.config.borrow().clone();
        let Some(user) = config.users.iter().find(|u| u.name == name) else {
            let enrolment = self.shared.enrolments.find(name).await;
            return enrolment.ok_or(Refusal::UnknownUser).and_then(|e| {
                let tenant_known = config.tenant(&e.tenant).is_some();
                invited(e, tenant_known)
            });
        };
        if !user.allow_from.is_empty()
            && !user
                .allow_from
                .iter()
                .any(|net| net.contains(&self.peer.ip()))
        {
            return Err(Refusal::AddressNotAllowed);
        }
        let today = crate::clock::now()
            .with_timezone(&config.time_zone)
            .date_naive();
        if user.expires.is_some_and(|last| today > last) {
            return Err(Refusal::Expired);
        }
        Ok(Login {
            user: user.clone(),
            enrolling: false,
            invited: false,
        })
    }

    fn both_methods() -> Auth {
        Auth::Reject {
            // Without naming them, russh stops offering "password" after one failure.
            proceed_with_methods: Some(MethodSet::from(
                &[MethodKind::PublicKey, MethodKind::Password][..],
            )),
            partial_success: false,
        }
    }

    fn partial(next: MethodKind) -> Auth {
        Auth::Reject {
            proceed_with_methods: Some(MethodSet::from(&[next][..])),
            partial_success: true,
        }
    }

    /// Counts and reports a failed attempt.
    fn fail(&mut self, user: &str, method: &str, reason: &str) -> Auth {
        self.uncounted_rejection = None;
        // The name comes from the client: keep what reaches the log and the ledger short.
        let user = match user.char_indices().nth(MAX_LOGGED_NAME) {
            Some((cut, _)) => &user[..cut],
            None => user,
        };
        let policy = self.shared.ban_policy();
        let banned = self
            .shared
            .penalties
            .fail(self.peer.ip(), Instant::now(), policy);
        tracing::warn!(user, ip = %self.peer.ip(), method, reason, "login failed");
        crate::counters::LOGINS_FAILED.add(1);
        let detail =
            json!({ "ip": self.peer.ip().to_string(), "method": method, "reason": reason });
        self.shared.auditor.record(
            format!("sftp:{user}"),
            "sftp.login-failed",
            None,
            None,
            Some(detail),
        );
        if banned {
            tracing::warn!(user, ip = %self.peer.ip(), "too many failed logins: address banned");
            crate::counters::BANS.add(1);
        }
        Self::both_methods()
    }

    fn refuse(&mut self, user: &str, method: &str, refusal: Refusal) -> Auth {
        match refusal {
            Refusal::Banned => {
                tracing::info!(user, ip = %self.peer.ip(), method, "login refused: address banned after failed logins");
                Self::both_methods()
            }
            Refusal::UnknownUser => self.fail(user, method, refusal.reason()),
            Refusal::AddressNotAllowed => self.fail(user, method, refusal.reason()),
            // Not a guess at a secret: an expired user's scripts must not get its office's
            // address banned for everyone there. Logged and audited, never counted.
            Refusal::Expired => {
                tracing::warn!(user, ip = %self.peer.ip(), method, reason = refusal.reason(), "login failed");
                crate::counters::LOGINS_FAILED.add(1);
                self.shared.auditor.record(
                    format!("sftp:{user}"),
                    "sftp.login-expired",
                    None,
                    None,
                    Some(json!({ "ip": self.peer.ip().to_string(), "method": method })),
                );
                Self::both_methods()
            }
        }
    }

    /// The last step of a successful login.
    fn accept(&mut self, login: &Login, method: &str, key: Option<&str>) -> Auth {
        let user = &login.user;
        let Some(slot) = self.shared.user_slot(&user.name) else {
            tracing::warn!(user = user.name, ip = %self.peer.ip(), "login refused: too many sessions for this user");
            return Auth::reject();
        };
        let config = self.shared.config.borrow().clone();
        let limits = user
            .grants
            .iter()
            .filter_map(|g| config.tenant(&g.tenant))
            .map(|t| {
                let limits = super::upload::UploadLimits {
                    max_file_bytes: t.max_file_bytes,
                    quota_bytes: t.quota_bytes,
                };
                (t.id.clone(), limits)
            })
            .collect();
        let account = Arc::new(Account {
            user: user.name.clone(),
            ip: self.peer.ip(),
            grants: Grants::from_config(&user.grants),
            limits,
            held: Default::default(),
            enrolling: login.enrolling,
            invited: login.invited,
        });
        self.account = Some(account.clone());
        self._user_slot = Some(slot);
        self.uncounted_rejection = None;
        self.activity.touch();
        if let Some(tx) = self.logged_in.take() {
            let _ = tx.send(account);
        }
        let enrolling = login.enrolling;
        tracing::info!(user = user.name, ip = %self.peer.ip(), method, key, enrolling, "login");
        crate::counters::LOGINS_OK.add(1);
        let detail = json!({ "ip": self.peer.ip().to_string(), "method": method, "key": key, "enrolling": enrolling });
        self.shared.auditor.record(
            format!("sftp:{}", user.name),
            "sftp.login",
            None,
            None,
            Some(detail),
        );
        Auth::Accept
    }

    fn key_of<'a>(user: &'a User, key: &PublicKey) -> Option<&'a PublicKey> {
        user.public_keys
            .iter()
            .find(|k| k.key_data() == key.key_data())
    }
}

/// An invited user as a login: enrolled, with its keys; invited, with its one-time code as
/// password, into an enrolment session. Revoked, or acting for a tenant no longer
/// configured, it is unknown; its code past its last moment is expired.
fn invited(e: Enrolment, tenant_known: bool) -> Result<Login, Refusal> {
    if e.revoked_at.is_some() || !tenant_known {
        return Err(Refusal::UnknownUser);
    }
    let enrolled_keys = match (&e.public_keys, &e.code_hash) {
        (Some(keys), _) => Some(crate::config::authorized_keys(keys).map_err(|problem| {
            tracing::error!(
                user = e.user,
                problem,
                "the enrolled keys in the ledger are unreadable"
            );
            Refusal::UnknownUser
        })?),
        (None, Some(_)) if e.code_expires <= crate::clock::now() => {
            return Err(Refusal::Expired);
        }
        (None, Some(_)) => None,
        (None, None) => return Err(Refusal::UnknownUser),
    };
    let enrolling = enrolled_keys.is_none();
    let user = User {
        name: e.user,
        public_keys: enrolled_keys.unwrap_or_default(),
        password_hash: if enrolling { e.code_hash } else { None },
        require_key_and_password: false,
        allow_from: Vec::new(),
        grants: vec![Grant {
            tenant: e.tenant,
            deliver: e.deliver,
            collect: e.collect,
        }],
        expires: None,
    };
    Ok(Login {
        user,
        enrolling,
        invited: true,
    })
}

impl Drop for Connection {
    fn drop(&mut self) {
        // A client whose keys were all refused goes away without a password attempt: that
        // connection counts as one failure, so that scanning keys is penalised too.
        if self.account.is_none() {
            if let Some((user, reason)) = self.uncounted_rejection.take() {
                self.fail(&user, "publickey", reason);
            }
        }
    }
}

impl russh::server::Handler for Connection {
    type Error = russh::Error;

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: russh::server::PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        // SHA-1 signatures (`ssh-rsa`) are refused, as OpenSSH 8.8 and later do; the same
        // RSA key signing with rsa-sha2-256/512 is welcome.
        if *offer.algorithm == (russh::keys::Algorithm::Rsa { hash: None }) {
            tracing::info!(user = %crate::redact::name(user), ip = %self.peer.ip(), "ssh-rsa (SHA-1) signature refused; the client should use rsa-sha2-256 or -512");
            self.uncounted_rejection = Some((user.to_owned(), "ssh-rsa (SHA-1) signature"));
            return Ok(Self::both_methods());
        }
        let reason = match self.gate(user).await {
            Ok(login) if Self::key_of(&login.user, offer.public_key).is_some() => {
                return Ok(Auth::Accept);
            }
            Ok(_) => "no accepted key",
            Err(Refusal::Banned) => return Ok(Self::both_methods()),
            Err(refusal) => refusal.reason(),
        };
        self.uncounted_rejection = Some((user.to_owned(), reason));
        Ok(Self::both_methods())
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: russh::server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        let login = match self.gate(user).await {
            Ok(login) => login,
            Err(refusal) => return Ok(self.refuse(user, "publickey", refusal)),
        };
        let Some(known_key) = Self::key_of(&login.user, key.public_key) else {
            self.uncounted_rejection = Some((user.to_owned(), "no accepted key"));
            return Ok(Self::both_methods());
        };
        let fingerprint = known_key.fingerprint(HashAlg::Sha256).to_string();
        if login.user.require_key_and_password && self.password_passed.as_deref() != Some(user) {
            self.key_passed = Some((user.to_owned(), fingerprint));
            return Ok(Self::partial(MethodKind::Password));
        }
        Ok(self.accept(&login, "publickey", Some(&fingerprint)))
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        let gate = self.gate(user).await;
        // Verify against a stand-in hash when there is no real one, so that a refusal takes
        // as long for an unknown user as for a wrong password.
        let hash = match &gate {
            Ok(login) => login
                .user
                .password_hash
                .clone()
                .unwrap_or_else(|| self.shared.stand_in_hash.clone()),
            Err(_) => self.shared.stand_in_hash.clone(),
        };
        // A one-time code is compared as typed loosely (case, dashes, spaces).
        let password = match &gate {
            Ok(login) if login.enrolling => crate::secrets::normalise_code(password),
            _ => password.to_owned(),
        };
        let verified = tokio::task::spawn_blocking(move || {
            argon2::PasswordHash::new(&hash).is_ok_and(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
        })
        .await
        .unwrap_or(false);
        let login = match gate {
            Ok(login) => login,
            Err(refusal) => return Ok(self.refuse(user, "password", refusal)),
        };
        if !verified || login.user.password_hash.is_none() {
            let reason = match login.enrolling {
                true => "wrong one-time code",
                false => "wrong password",
            };
            return Ok(self.fail(user, "password", reason));
        }
        if login.user.require_key_and_password {
            match &self.key_passed {
                Some((key_user, fingerprint)) if key_user == user => {
                    let fingerprint = fingerprint.clone();
                    return Ok(self.accept(&login, "publickey+password", Some(&fingerprint)));
                }
                _ => {
                    self.password_passed = Some(user.to_owned());
                    return Ok(Self::partial(MethodKind::PublicKey));
                }
            }
        }
        let method = match login.enrolling {
            true => "one-time code",
            false => "password",
        };
        Ok(self.accept(&login, method, None))
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        // Not logged in: the handle's drop refuses the channel.
        let Some(account) = &self.account else {
            return Ok(());
        };
        if !account.held.take_channel() {
            tracing::info!(user = %account.user, ip = %self.peer.ip(), "channel refused: too many channels on this connection");
            reply
                .reject(russh::ChannelOpenFailure::ResourceShortage)
                .await;
            return Ok(());
        }
        self.channels.insert(channel.id(), channel);
        reply.accept().await;
        Ok(())
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        // A channel that never became an SFTP session (whose `Files` releases its own).
        if self.channels.remove(&channel).is_some()
            && let Some(account) = &self.account
        {
            account.held.release_channel();
        }
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        let (Some(account), true) = (self.account.clone(), name == "sftp") else {
            tracing::warn!(ip = %self.peer.ip(), subsystem = name, "subsystem refused");
            return session.channel_failure(channel);
        };
        let Some(ch) = self.channels.remove(&channel) else {
            return session.channel_failure(channel);
        };
        session.channel_success(channel)?;
        let config = russh_sftp::server::Config {
            max_client_packet_len: MAX_PACKET,
        };
        let stream = super::ended::Watched::new(
            super::packed::Packed::new(ch.into_stream()),
            session.handle(),
            channel,
            self.activity.clone(),
        );
        let stream = super::framing::Framed::new(stream);
        if account.enrolling {
            let shared = &self.shared;
            let enrol = Enrol::new(shared.enrolments.clone(), shared.auditor.clone(), account);
            russh_sftp::server::run_with_config(stream, enrol, config).await;
        } else {
            let files = Files::new(self.shared.files.clone(), account);
            russh_sftp::server::run_with_config(stream, files, config).await;
        }
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        self.refuse_request(channel, "exec", session)
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        self.refuse_request(channel, "shell", session)
    }

    #[allow(clippy::too_many_arguments)]
    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _c: u32,
        _r: u32,
        _pw: u32,
        _ph: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        self.refuse_request(channel, "pty", session)
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        _value: &str,
        session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn x11_request(
        &mut self,
        channel: ChannelId,
        _single: bool,
        _proto: &str,
        _cookie: &str,
        _screen: u32,
        session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        self.refuse_request(channel, "x11", session)
    }
}

impl Connection {
    fn refuse_request(
        &self,
        channel: ChannelId,
        what: &str,
        session: &mut SshSession,
    ) -> Result<(), russh::Error> {
        let user = self.account.as_ref().map(|a| a.user.as_str()).unwrap_or("");
        tracing::warn!(user, ip = %self.peer.ip(), request = what, "refused: only the sftp subsystem is served");
        session.channel_failure(channel)
    }
}
