//! The embedded SFTP server (russh + russh-sftp): logins, the per-tenant virtual tree, and
//! atomic uploads into `upload/`.
//!
//! - `session`: one SSH connection, its logins and its channels.
//! - `files`: the SFTP requests of one session on the virtual tree.
//! - `ended`: the subsystem's end told to the client (exit status 0), as sshd does.
//! - `vfs`: path resolution on the virtual tree (no disk access).
//! - `upload`: staging files, limits and the no-overwrite move into `upload/`.
//! - `penalty`: failed-login counts and bans.
//! - `revoke`: sessions ended when a reload withdraws what their user may do.
//! - `enrol`: users invited by `dropgate invite`, and the session in which one puts its key.
//! - `hostkey`: the ed25519 host key.
//!
//! The server never records deliveries and never parses what users send: a complete upload
//! is renamed into `upload/`, where intake takes it in.

mod ended;
mod enrol;
mod files;
mod framing;
pub(crate) mod hostkey;
mod packed;
mod penalty;
mod revoke;
mod session;
mod upload;
pub(crate) mod vfs;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::keys::PrivateKey;
use russh::{MethodKind, MethodSet, Preferred};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::ingest::auditor::Auditor;
use crate::layout::StateDir;
use files::FilesContext;
use penalty::{BanPolicy, Penalties};

/// How long a client has to log in before it is disconnected.
const LOGIN_GRACE: Duration = Duration::from_secs(60);
/// Pause before every refused login: the same for every reason, so that timing tells
/// nothing, and long enough to slow guessing.
const REJECTION_DELAY: Duration = Duration::from_millis(400);
/// How long shutdown waits for sessions to end after telling them to.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A logged-in user, as the file handlers need it.
pub(crate) struct Account {
    pub user: String,
    pub ip: IpAddr,
    pub grants: vfs::Grants,
    /// Upload limits per granted tenant.
    pub limits: HashMap<String, upload::UploadLimits>,
    /// What the connection holds open, over all its channels.
    pub held: Held,
    /// Logged in with an invitation's one-time code: only its key may be put.
    pub enrolling: bool,
    /// A user `dropgate invite` made: its grant is in the ledger, not the configuration.
    pub invited: bool,
}

/// SFTP channels most one connection may have open at once.
const MAX_CHANNELS: usize = 8;

/// Handles and session channels one connection holds: capped per connection, not per
/// channel, so that a client cannot take the server's file descriptors by opening channel
/// after channel.
#[derive(Debug, Default)]
pub(crate) struct Held {
    handles: std::sync::atomic::AtomicUsize,
    channels: std::sync::atomic::AtomicUsize,
}

impl Held {
    /// Takes one of `max` from `counter`; false, with nothing taken, if none is left.
    fn take(counter: &std::sync::atomic::AtomicUsize, max: usize) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        counter
            .fetch_update(SeqCst, SeqCst, |n| (n < max).then_some(n + 1))
            .is_ok()
    }

    /// A handle, if the connection has fewer than [`files::MAX_HANDLES`] open.
    pub(crate) fn take_handle(&self) -> bool {
        Self::take(&self.handles, files::MAX_HANDLES)
    }

    /// `n` handles closed.
    pub(crate) fn release_handles(&self, n: usize) {
        self.handles
            .fetch_sub(n, std::sync::atomic::Ordering::SeqCst);
    }

    /// A session channel, if the connection has fewer than [`MAX_CHANNELS`] open.
    pub(crate) fn take_channel(&self) -> bool {
        Self::take(&self.channels, MAX_CHANNELS)
    }

    /// A session channel closed.
    pub(crate) fn release_channel(&self) {
        self.channels
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Open sessions per source address and per user.
#[derive(Default)]
struct Sessions {
    per_ip: Mutex<HashMap<IpAddr, u32>>,
    per_user: Mutex<HashMap<String, u32>>,
}

fn take_slot<K: std::hash::Hash + Eq + Clone>(
    map: &Mutex<HashMap<K, u32>>,
    key: &K,
    max: u32,
) -> bool {
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    let count = map.entry(key.clone()).or_default();
    if *count >= max {
        return false;
    }
    *count += 1;
    true
}

fn free_slot<K: std::hash::Hash + Eq>(map: &Mutex<HashMap<K, u32>>, key: &K) {
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(count) = map.get_mut(key) {
        *count -= 1;
        if *count == 0 {
            map.remove(key);
        }
    }
}

/// Holds one of a user's session slots until dropped.
pub(crate) struct UserSlot {
    shared: Arc<Shared>,
    user: String,
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        free_slot(&self.shared.sessions.per_user, &self.user);
        crate::counters::SESSIONS.down();
    }
}

struct IpSlot {
    shared: Arc<Shared>,
    ip: IpAddr,
}

/// A connection counted as not yet logged in, until login or its end.
struct PreAuth(Arc<Shared>);

impl Drop for PreAuth {
    fn drop(&mut self) {
        self.0.unauthenticated.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        free_slot(&self.shared.sessions.per_ip, &self.ip);
    }
}

/// What every connection of the server shares.
pub(crate) struct Shared {
    config: watch::Receiver<Arc<Config>>,
    penalties: Penalties,
    sessions: Sessions,
    /// Connections accepted and not yet logged in, and whether new ones are being refused
    /// for it (so that a flood is logged once, not per connection).
    unauthenticated: AtomicUsize,
    refusing_unauthenticated: AtomicBool,
    files: Arc<FilesContext>,
    auditor: Auditor,
    enrolments: Arc<enrol::Enrolments>,
    /// An Argon2id hash of nothing in particular, verified when there is no real hash.
    stand_in_hash: String,
}

impl Shared {
    fn ban_policy(&self) -> BanPolicy {
        let sftp = &self.config.borrow().sftp;
        BanPolicy {
            after: sftp.ban_after_failures,
            window: sftp.ban_window,
            ban: sftp.ban_for,
        }
    }

    /// One of `user`'s session slots, unless the user already has the most allowed.
    fn user_slot(self: &Arc<Self>, user: &str) -> Option<UserSlot> {
        let max = self.config.borrow().sftp.max_sessions_per_user;
        let user = user.to_owned();
        take_slot(&self.sessions.per_user, &user, max).then(|| {
            crate::counters::SESSIONS.up();
            UserSlot {
                shared: self.clone(),
                user,
            }
        })
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    HostKey(#[from] hostkey::HostKeyError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
}

/// A bound, ready server; [`Server::run`] serves until cancelled.
pub(crate) struct Server {
    listener: TcpListener,
    ssh: Arc<russh::server::Config>,
    shared: Arc<Shared>,
}

impl Server {
    /// Loads (or makes) the host key and binds the configured address. `mail` rings when a
    /// `REQUEST-FULL`'s acknowledgement is queued.
    pub(crate) async fn bind(
        config: watch::Receiver<Arc<Config>>,
        state: StateDir,
        auditor: Auditor,
        notices: crate::ingest::intake::Notices,
        mail: crate::mail::Wake,
    ) -> Result<Self, StartError> {
        let sftp = config.borrow().sftp.clone();
        // Making an RSA key takes a moment: off the async workers.
        let path = sftp.host_key.clone();
        let host_keys = tokio::task::spawn_blocking(move || hostkey::load_or_create_all(&path))
            .await
            .expect("making host keys does not panic")?;
        for k in &host_keys {
            tracing::info!(
                kind = k.kind.name(),
                path = %k.path.display(),
                fingerprint = hostkey::fingerprint(&k.key),
                created = k.created,
                "sftp host key"
            );
        }
        let keys = host_keys.into_iter().map(|k| k.key).collect();
        let listener =
            TcpListener::bind(sftp.listen)
                .await
                .map_err(|source| StartError::Listen {
                    addr: sftp.listen,
                    source,
                })?;
        match upload::remove_leftovers(&state.staging()) {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                files = n,
                "removed staging files of uploads cut off by a crash"
            ),
            Err(e) => tracing::error!(error = %e, "cannot clean staging/"),
        }
        let ssh = Arc::new(ssh_config(keys));
        let enrolment_state = state.clone();
        let shared = Arc::new(Shared {
            config: config.clone(),
            penalties: Penalties::default(),
            sessions: Sessions::default(),
            unauthenticated: AtomicUsize::new(0),
            refusing_unauthenticated: AtomicBool::new(false),
            files: Arc::new(FilesContext {
                config,
                quotas: Arc::new(upload::Quotas::new(state.clone())),
                state,
                auditor: auditor.clone(),
                notices,
                mail,
            }),
            auditor,
            enrolments: Arc::new(enrol::Enrolments::new(enrolment_state)),
            stand_in_hash: crate::secrets::hash_password("dropgate stand-in")?,
        });
        Ok(Self {
            listener,
            ssh,
            shared,
        })
    }

    /// The address actually bound (useful when the configuration asked for port 0).
    pub(crate) fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts connections until `shutdown`, then disconnects every session and waits (a
    /// bounded time) for them to end.
    pub(crate) async fn run(self, shutdown: CancellationToken) {
        let tracker = TaskTracker::new();
        let mut accept_failures = 0u32;
        loop {
            let (stream, peer) = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Usually out of file descriptors: back off (up to a second) instead
                        // of spinning, and say so once per streak.
                        if accept_failures == 0 {
                            tracing::error!(error = %e, "accept failed; retrying with back-off (logged once until it works again)");
                        }
                        accept_failures += 1;
                        let pause = 10u64.saturating_mul(1 << accept_failures.min(7)).min(1000);
                        tokio::time::sleep(Duration::from_millis(pause)).await;
                        continue;
                    }
                },
            };
            if accept_failures > 0 {
                tracing::info!(failures = accept_failures, "accepting connections again");
                accept_failures = 0;
            }
            let accepted_at = tokio::time::Instant::now();
            let Some((slot, pre_auth)) = self.admit(peer) else {
                continue;
            };
            let (ssh, shared, shutdown) = (self.ssh.clone(), self.shared.clone(), shutdown.clone());
            tracker.spawn(async move {
                let login_by = accepted_at + LOGIN_GRACE;
                connection(stream, peer, ssh, shared, shutdown, login_by, pre_auth).await;
                drop(slot);
            });
        }
        tracker.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("some sftp sessions did not end in time");
        }
    }

    /// Whether a new connection from `peer` may proceed: its address's session slot, and
    /// its place among the connections not yet logged in.
    fn admit(&self, peer: SocketAddr) -> Option<(IpSlot, PreAuth)> {
        let ip = peer.ip();
        if self
            .shared
            .penalties
            .is_banned(ip, std::time::Instant::now())
        {
            tracing::info!(%ip, "connection refused: address banned after failed logins");
            return None;
        }
        let (max, max_unauthenticated) = {
            let sftp = &self.shared.config.borrow().sftp;
            (sftp.max_sessions_per_ip, sftp.max_unauthenticated as usize)
        };
        let shared = &self.shared;
        let counted = shared
            .unauthenticated
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max_unauthenticated).then_some(n + 1)
            })
            .is_ok();
        if !counted {
            if !shared.refusing_unauthenticated.swap(true, Ordering::SeqCst) {
                tracing::info!(%ip, max = max_unauthenticated, "connections refused: too many not yet logged in (logged once until there is room again)");
            }
            return None;
        }
        if shared
            .refusing_unauthenticated
            .swap(false, Ordering::SeqCst)
        {
            tracing::info!("accepting connections again");
        }
        let pre_auth = PreAuth(shared.clone());
        if !take_slot(&shared.sessions.per_ip, &ip, max) {
            tracing::info!(%ip, max, "connection refused: too many sessions from this address");
            return None;
        }
        let slot = IpSlot {
            shared: shared.clone(),
            ip,
        };
        Some((slot, pre_auth))
    }
}

/// Serves one connection; it must log in by `login_by` (the login grace from accept: the
/// handshake included, so a client that sends nothing is let go in time too).
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    ssh: Arc<russh::server::Config>,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    login_by: tokio::time::Instant,
    pre_auth: PreAuth,
) {
    // russh applies `Config::nodelay` only to sockets it accepts itself; this one is ours.
    // With Nagle on, pipelined uploads stall for tens of milliseconds at a time.
    if let Err(e) = stream.set_nodelay(true) {
        tracing::warn!(%peer, error = %e, "cannot disable Nagle's algorithm");
    }
    let (logged_in_tx, logged_in_rx) = oneshot::channel();
    let activity = Arc::new(ended::Activity::new());
    let handler = session::Connection::new(shared.clone(), peer, logged_in_tx, activity.clone());
    let too_slow = || {
        tracing::info!(%peer, "disconnected: no login within {} s", LOGIN_GRACE.as_secs());
    };
    let handshake =
        tokio::time::timeout_at(login_by, russh::server::run_stream(ssh, stream, handler));
    let running = tokio::select! {
        started = handshake => match started {
            Ok(Ok(running)) => running,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "ssh handshake failed");
                return;
            }
            Err(_) => return too_slow(),
        },
        // A client that has not even said hello holds nothing worth waiting for.
        _ = shutdown.cancelled() => return,
    };
    let handle = running.handle();
    let login_timer = {
        let handle = handle.clone();
        async move {
            // A dropped sender (the session ended) also ends the wait.
            match tokio::time::timeout_at(login_by, logged_in_rx).await {
                Ok(Ok(account)) => {
                    drop(pre_auth);
                    tokio::select! {
                        () = idle_watch(&shared, &activity, &handle, peer) => {}
                        () = revoke::watch(&shared, &account, &handle, peer) => {}
                    }
                }
                Ok(Err(_)) => drop(pre_auth),
                Err(_) => {
                    too_slow();
                    disconnect(&handle, "login took too long").await;
                }
            }
            std::future::pending::<()>().await;
        }
    };
    tokio::pin!(running);
    tokio::select! {
        result = &mut running => {
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "ssh session ended with an error");
            }
            return;
        }
        _ = login_timer => unreachable!("the login timer never finishes"),
        _ = shutdown.cancelled() => {}
    }
    disconnect(&handle, "server shutting down").await;
    let _ = running.await;
}

/// Ends a session from our side, saying why.
async fn disconnect(handle: &russh::server::Handle, reason: &str) {
    let _ = handle
        .disconnect(russh::Disconnect::ByApplication, reason.into(), "en".into())
        .await;
}

/// Disconnects a logged-in session once it has sent no SFTP request for
/// `idle_timeout_secs` (read anew at each look, so a reload applies). russh's own
/// inactivity timeout is not used: the server's keepalives, and the client's, reset it.
async fn idle_watch(
    shared: &Shared,
    activity: &ended::Activity,
    handle: &russh::server::Handle,
    peer: SocketAddr,
) {
    loop {
        let limit = shared.config.borrow().sftp.idle_timeout;
        let idle = activity.idle();
        if idle >= limit {
            tracing::info!(%peer, idle_secs = idle.as_secs(), "disconnected: idle (no SFTP requests)");
            disconnect(handle, "idle for too long").await;
            return;
        }
        let wait = (limit - idle).min(Duration::from_secs(30)) + Duration::from_millis(100);
        tokio::time::sleep(wait).await;
    }
}

fn ssh_config(keys: Vec<PrivateKey>) -> russh::server::Config {
    use russh::cipher;
    let preferred = Preferred {
        // OpenSSH's default list: russh's own leaves out aes128-gcm; no CBC, no 3DES.
        cipher: std::borrow::Cow::Borrowed(&[
            cipher::CHACHA20_POLY1305,
            cipher::AES_128_GCM,
            cipher::AES_256_GCM,
            cipher::AES_128_CTR,
            cipher::AES_192_CTR,
            cipher::AES_256_CTR,
        ]),
        compression: std::borrow::Cow::Borrowed(&[russh::compression::NONE]),
        // No SHA-1 host signatures (`ssh-rsa`).
        key: std::borrow::Cow::Borrowed(hostkey::OFFERED),
        // MACs matter only with the CTR ciphers (the AEAD ones come first and need none):
        // encrypt-then-MAC first; SHA-2 over the plaintext after, for libssh2 1.10 (curl in
        // Debian 12 and Ubuntu 22.04 knows neither ETM nor AEAD). No SHA-1, no UMAC.
        mac: std::borrow::Cow::Borrowed(&[
            russh::mac::HMAC_SHA256_ETM,
            russh::mac::HMAC_SHA512_ETM,
            russh::mac::HMAC_SHA256,
            russh::mac::HMAC_SHA512,
        ]),
        ..Default::default()
    };
    russh::server::Config {
        server_id: russh::SshId::Standard(
            format!("SSH-2.0-dropgate_{}", env!("CARGO_PKG_VERSION")).into(),
        ),
        methods: MethodSet::from(&[MethodKind::PublicKey, MethodKind::Password][..]),
        auth_rejection_time: REJECTION_DELAY,
        // OpenSSH clients probe with "none" first; that is no failure and needs no delay.
        auth_rejection_time_initial: Some(Duration::ZERO),
        keys,
        // Idleness is watched per connection (`idle_watch`); keepalives find dead peers.
        inactivity_timeout: None,
        keepalive_interval: Some(Duration::from_secs(60)),
        // Measured (NOTES-crates): a small channel queue can deadlock downloads. (Nagle is
        // switched off on each socket in `connection`.)
        nodelay: true,
        channel_buffer_size: 1024,
        preferred,
        ..Default::default()
    }
}
