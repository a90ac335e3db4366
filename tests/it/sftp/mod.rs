//! The SFTP server, as real clients use it: OpenSSH's `sftp` and `ssh`, and curl (libssh2).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

mod clients;
pub(crate) mod revoke;

use crate::util::{
    self, ClientRun, Daemon, Env, TENANTS, curl, key, public_key, sftp_batch, sftp_with_password,
    ssh, wait_until,
};

const ALICE_PASSWORD: &str = "alice-password";
const BOTH_PASSWORD: &str = "both-password";

fn hash(password: &str) -> String {
    dropgate::secrets::hash_password(password).unwrap()
}

/// Users: `vendor` delivers for alpha and beta (key), `alice` for alpha (key or password),
/// `town` collects for town (key), `both` delivers for beta (key and password), `fenced`
/// delivers for alpha but only from 10.0.0.0/8.
fn users() -> &'static str {
    static USERS: OnceLock<String> = OnceLock::new();
    USERS.get_or_init(|| {
        let user = |name: &str, key: &str, extra: &str, grants: &[(&str, &str)]| {
            let mut s = format!(
                "[[user]]\nname = \"{name}\"\npublic_keys = [\"{}\"]\n{extra}",
                public_key(key)
            );
            for (tenant, roles) in grants {
                s += &format!("[[user.grant]]\ntenant = \"{tenant}\"\nroles = {roles}\n");
            }
            s
        };
        [
            user(
                "vendor",
                "romvendor",
                "",
                &[("alpha", "[\"deliver\"]"), ("beta", "[\"deliver\"]")],
            ),
            user(
                "alice",
                "linde",
                &format!("password_hash = \"{}\"\n", hash(ALICE_PASSWORD)),
                &[("alpha", "[\"deliver\"]")],
            ),
            user("town", "gemeente-utrecht", "", &[("town", "[\"collect\"]")]),
            user(
                "both",
                "gemeente-amersfoort",
                &format!(
                    "password_hash = \"{}\"\nrequire_key_and_password = true\n",
                    hash(BOTH_PASSWORD)
                ),
                &[("beta", "[\"deliver\"]")],
            ),
            user(
                "fenced",
                "romvendor",
                "allow_from = [\"10.0.0.0/8\"]\n",
                &[("alpha", "[\"deliver\"]")],
            ),
        ]
        .concat()
    })
}

/// An installation with the test users; `sftp_settings` go into `[sftp]`, `limits` into
/// `[limits]`.
fn env_with(sftp_settings: &str, limits: &str) -> Env {
    Env::new(&format!(
        "{sftp_settings}\n[limits]\n{limits}\n{TENANTS}\n{}",
        users()
    ))
}

struct Server {
    env: Env,
    daemon: Daemon,
    addr: std::net::SocketAddr,
}

fn start_with(sftp_settings: &str, limits: &str) -> Server {
    let env = env_with(sftp_settings, limits);
    let daemon = env.start();
    let addr = daemon.sftp_addr();
    Server { env, daemon, addr }
}

fn start() -> Server {
    start_with("", "")
}

impl Server {
    fn batch(&self, user: &str, key_name: &str, commands: &str) -> ClientRun {
        sftp_batch(self.addr, user, &key(&self.env, key_name), commands)
    }

    fn vendor(&self, commands: &str) -> ClientRun {
        self.batch("vendor", "romvendor", commands)
    }

    fn local(&self, name: &str, content: &[u8]) -> PathBuf {
        let path = self.env.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    fn folder(&self, tenant: &str, folder: &str) -> PathBuf {
        self.env.var().join("tenants").join(tenant).join(folder)
    }

    fn names(&self, tenant: &str, folder: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.folder(tenant, folder))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    /// No upload or withdrawn version is left in `staging/` (users' temporary uploads,
    /// in `staging/temp/`, are theirs to keep).
    fn staging_is_empty(&self) -> bool {
        fn files(dir: &Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                if entry.file_type().unwrap().is_dir() {
                    files(&entry.path(), out);
                } else {
                    out.push(entry.path());
                }
            }
        }
        let staging = self.env.var().join("staging");
        let mut found = Vec::new();
        files(&staging, &mut found);
        found.retain(|p| !p.starts_with(staging.join("temp")));
        found.is_empty()
    }

    /// The user's temporary uploads for `tenant`, as the server keeps them.
    fn temps(&self, tenant: &str, user: &str) -> PathBuf {
        self.env.var().join("staging/temp").join(tenant).join(user)
    }
}

/// Every audit action in the ledger (read after the daemon stopped, so all are written).
fn audit_actions(env: &Env) -> BTreeSet<String> {
    env.texts("SELECT DISTINCT action FROM audit", [])
        .into_iter()
        .collect()
}

fn assert_ok(run: &ClientRun) {
    assert!(run.ok, "client failed:\n{}", run.output);
}

fn assert_refused(run: &ClientRun, what: &str) {
    assert!(!run.ok, "{what} was allowed:\n{}", run.output);
}

#[test]
fn a_deliverer_uploads_and_reads_receipts_but_cannot_read_uploads() {
    let s = start();
    let data = s.local("a.csv", b"a;b\n1;2\n");
    std::fs::write(
        s.folder("alpha", "receipts").join("a.csv.result.txt"),
        "all fine",
    )
    .unwrap();
    let run = s.vendor(&format!(
        "ls /\ncd /alpha/upload\nput {}\nput {}\n-chmod 600 a.csv\nls -l\n-get a.csv got.csv\nget /alpha/receipts/a.csv.result.txt {}\n\
         -put {} /alpha/receipts/x\n-rm /alpha/receipts/a.csv.result.txt\n-cd /town\n-ls /alpha/outbox\n",
        data.display(),
        data.display(),
        s.env.dir.path().join("receipt.txt").display(),
        data.display(),
    ));
    assert_ok(&run);
    assert!(
        run.output.contains("alpha")
            && run.output.contains("beta")
            && !run.output.contains("town/"),
        "{}",
        run.output
    );
    // The second upload of the same name replaces the first, which is withdrawn.
    assert_eq!(s.names("alpha", "upload"), ["a.csv"]);
    assert!(!Path::new("got.csv").exists());
    assert!(run.output.contains("Permission denied"), "{}", run.output);
    assert_eq!(
        std::fs::read_to_string(s.env.dir.path().join("receipt.txt")).unwrap(),
        "all fine"
    );
    assert_eq!(s.names("alpha", "receipts"), ["a.csv.result.txt"]);
    wait_until(
        "intake of the upload and of the withdrawn first one",
        || s.env.count("alpha", "received") == 1 && s.env.count("alpha", "withdrawn") == 1,
    );
    assert!(s.staging_is_empty());
    let log = s.daemon.stop();
    assert!(log.contains("upload complete user=vendor"), "{log}");
    assert_eq!(
        s.env.texts(
            "SELECT ifnull(uploaded_by, '-') FROM delivery WHERE state = 'received'",
            []
        ),
        ["vendor"]
    );
    assert!(
        log.contains("sftp host key") && log.contains("SHA256:"),
        "{log}"
    );
}

#[test]
fn a_collector_reads_deletes_and_requests_a_full_bundle() {
    let s = start();
    std::fs::write(s.folder("town", "outbox").join("bundle-1.zip"), "zip bytes").unwrap();
    std::fs::write(
        s.folder("town", "outbox").join("bundle-2.zip"),
        "more bytes",
    )
    .unwrap();
    let empty = s.local("empty", b"");
    let full = s.local("full", b"not empty");
    let got = s.env.dir.path().join("got.zip");
    let run = s.batch(
        "town",
        "gemeente-utrecht",
        &format!(
            "cd /town/outbox\nls\nget bundle-1.zip {}\nrm bundle-2.zip\nput {} REQUEST-FULL\n\
             -put {} REQUEST-FULL\n-put {} other.zip\n-ls /town/upload\n-ls /town/receipts\n",
            got.display(),
            empty.display(),
            full.display(),
            full.display()
        ),
    );
    assert_ok(&run);
    assert_eq!(std::fs::read_to_string(&got).unwrap(), "zip bytes");
    assert_eq!(s.names("town", "outbox"), ["REQUEST-FULL", "bundle-1.zip"]);
    assert_eq!(
        std::fs::metadata(s.folder("town", "outbox").join("REQUEST-FULL"))
            .unwrap()
            .len(),
        0
    );
    assert!(
        run.output.contains("REQUEST-FULL must be empty")
            || run.output.contains("Permission denied"),
        "{}",
        run.output
    );
    let log = s.daemon.stop();
    assert!(
        log.contains("download user=town") && log.contains("complete=true"),
        "{log}"
    );
    assert!(log.contains("removed user=town"), "{log}");
    let actions = audit_actions(&s.env);
    for action in [
        "sftp.login",
        "sftp.download",
        "sftp.delete",
        "sftp.request-full",
    ] {
        assert!(actions.contains(action), "{action} not in {actions:?}");
    }
    // The request is in the ledger from the moment it was made (town has no contacts to
    // acknowledge it to), for everything.
    assert_eq!(
        s.env.texts("SELECT since FROM full_request", []),
        ["1900-01-01"]
    );
}

#[test]
fn users_of_different_tenants_see_nothing_of_each_other() {
    let s = start();
    std::fs::write(s.folder("town", "outbox").join("secret.zip"), "town only").unwrap();
    std::fs::write(
        s.folder("alpha", "receipts").join("alpha.txt"),
        "alpha only",
    )
    .unwrap();
    let alice = s.batch(
        "alice",
        "linde",
        "pwd\nls /\n-ls /town\n-get /town/outbox/secret.zip x\n",
    );
    assert_ok(&alice);
    assert!(
        alice.output.contains("Remote working directory: /alpha"),
        "{}",
        alice.output
    );
    assert!(
        alice.output.contains("sftp> ls /\n/alpha  \n"),
        "{}",
        alice.output
    );
    assert!(!alice.output.contains("town only"), "{}", alice.output);
    assert!(!s.env.dir.path().join("x").exists() && !std::path::Path::new("x").exists());
    let town = s.batch(
        "town",
        "gemeente-utrecht",
        "ls /\n-ls /alpha\n-get /alpha/receipts/alpha.txt x\n",
    );
    assert_ok(&town);
    assert!(
        town.output.contains("sftp> ls /\n/town  \n"),
        "{}",
        town.output
    );
    assert!(!town.output.contains("alpha only"), "{}", town.output);
    assert!(
        town.output.contains("Can't ls: \"/alpha\" not found"),
        "{}",
        town.output
    );
    s.daemon.stop();
}

#[test]
fn curl_over_libssh2_uploads_lists_and_downloads_with_a_password() {
    let s = start();
    let data = s.local("c.csv", b"curl upload");
    std::fs::write(
        s.folder("alpha", "receipts").join("r.txt"),
        "receipt via curl",
    )
    .unwrap();
    assert_ok(&curl(
        s.addr,
        "alice",
        ALICE_PASSWORD,
        "/alpha/upload/c.csv",
        &["-T", data.to_str().unwrap()],
    ));
    let listing = curl(
        s.addr,
        "alice",
        ALICE_PASSWORD,
        "/alpha/upload/",
        &["--list-only"],
    );
    assert_ok(&listing);
    assert_eq!(listing.output.trim(), "c.csv");
    let receipt = curl(
        s.addr,
        "alice",
        ALICE_PASSWORD,
        "/alpha/receipts/r.txt",
        &[],
    );
    assert_ok(&receipt);
    assert_eq!(receipt.output, "receipt via curl");
    let wrong = curl(
        s.addr,
        "alice",
        "not-the-password",
        "/alpha/upload/",
        &["--list-only"],
    );
    assert_refused(&wrong, "a wrong password");
    assert!(
        wrong.output.contains("(67) Authentication failure"),
        "{}",
        wrong.output
    );
    assert_eq!(s.names("alpha", "upload"), ["c.csv"]);
    s.daemon.stop();
}

#[test]
fn key_and_password_are_both_required_where_configured() {
    let s = start();
    let data = s.local("b.csv", b"both factors");
    assert_refused(
        &s.batch("both", "gemeente-amersfoort", "ls\n"),
        "the key alone",
    );
    assert_refused(
        &curl(
            s.addr,
            "both",
            BOTH_PASSWORD,
            "/beta/upload/",
            &["--list-only"],
        ),
        "the password alone",
    );
    let run = sftp_with_password(
        &s.env,
        s.addr,
        "both",
        Some(&key(&s.env, "gemeente-amersfoort")),
        BOTH_PASSWORD,
        &format!("put {} /beta/upload/b.csv\n", data.display()),
    );
    assert_ok(&run);
    assert_eq!(s.names("beta", "upload"), ["b.csv"]);
    let log = s.daemon.stop();
    assert!(log.contains("method=\"publickey+password\""), "{log}");
}

/// paramiko sends a service request before each method (patched russh answers it, as sshd
/// does); asyncssh does key and password in one go. Both get in, and only with both.
#[test]
fn key_and_password_work_with_paramiko_and_asyncssh() {
    let s = start();
    let script = r#"
import asyncio, json, socket, sys, paramiko, asyncssh
host, port, key, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
seen = {}
t = paramiko.Transport(socket.create_connection((host, port)))
t.connect()
seen["paramiko_after_key"] = t.auth_publickey("both", paramiko.Ed25519Key.from_private_key_file(key))
t.auth_password("both", password)
seen["paramiko"] = paramiko.SFTPClient.from_transport(t).listdir("/")
t.close()
async def run():
    async with asyncssh.connect(host, port, username="both", client_keys=[key], password=password,
                                known_hosts=None, agent_path=None) as conn:
        async with conn.start_sftp_client() as sftp:
            seen["asyncssh"] = await sftp.listdir("/")
    try:
        async with asyncssh.connect(host, port, username="both", client_keys=[key],
                                    known_hosts=None, agent_path=None, password=None,
                                    kbdint_auth=False) as conn:
            seen["asyncssh_key_only"] = "logged in"
    except asyncssh.PermissionDenied:
        seen["asyncssh_key_only"] = "refused"
asyncio.run(run())
print(json.dumps(seen))
"#;
    let started = Instant::now();
    let out = Command::new("/usr/bin/python3")
        .env("PYTHONWARNINGS", "ignore")
        .args([
            "-c",
            script,
            &s.addr.ip().to_string(),
            &s.addr.port().to_string(),
        ])
        .arg(key(&s.env, "gemeente-amersfoort"))
        .arg(BOTH_PASSWORD)
        .output()
        .expect("python3 with paramiko and asyncssh (.ci/run)");
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(
        seen["paramiko_after_key"],
        serde_json::json!(["password"]),
        "{seen}"
    );
    assert_eq!(seen["paramiko"], serde_json::json!(["beta"]), "{seen}");
    assert_eq!(seen["asyncssh"], serde_json::json!(["beta"]), "{seen}");
    assert_eq!(seen["asyncssh_key_only"], "refused", "{seen}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "no login waited for a time-out: {:?}",
        started.elapsed()
    );
    let log = s.daemon.stop();
    assert_eq!(
        log.matches("method=\"publickey+password\"").count(),
        2,
        "{log}"
    );
}

#[test]
fn a_wrong_key_and_an_address_outside_the_allow_list_are_refused() {
    let s = start();
    assert_refused(&s.batch("vendor", "linde", "ls\n"), "another user's key");
    assert_refused(
        &s.batch("fenced", "romvendor", "ls\n"),
        "a login from outside allow_from",
    );
    assert_refused(&s.batch("nobody", "romvendor", "ls\n"), "an unknown user");
    let log = s.daemon.stop();
    assert!(log.contains("reason=\"address not allowed\""), "{log}");
    assert!(
        log.contains("user=\"nobody\" ip=127.0.0.1 method=\"publickey\" reason=\"unknown user\""),
        "{log}"
    );
    assert!(
        log.contains(
            "user=\"vendor\" ip=127.0.0.1 method=\"publickey\" reason=\"no accepted key\""
        ),
        "{log}"
    );
    assert!(audit_actions(&s.env).contains("sftp.login-failed"));
}

#[test]
fn failed_logins_ban_the_address_until_the_ban_expires() {
    let s = start_with(
        "ban_after_failures = 3\nban_window_secs = 600\nban_secs = 3",
        "",
    );
    for _ in 0..3 {
        assert_refused(
            &curl(s.addr, "alice", "guess", "/alpha/upload/", &["--list-only"]),
            "a guess",
        );
    }
    let banned_at = Instant::now();
    assert_refused(
        &curl(
            s.addr,
            "alice",
            ALICE_PASSWORD,
            "/alpha/upload/",
            &["--list-only"],
        ),
        "the right password while banned",
    );
    assert_refused(&s.vendor("ls\n"), "another user from a banned address");
    // The ban is the address's, not alice's: from another address she logs in at once.
    let elsewhere = curl(
        s.addr,
        "alice",
        ALICE_PASSWORD,
        "/alpha/upload/",
        &["--list-only", "--interface", "127.0.0.2"],
    );
    assert_ok(&elsewhere);
    s.daemon
        .wait_for_log("too many failed logins: address banned");
    wait_until("the ban to expire", || {
        curl(
            s.addr,
            "alice",
            ALICE_PASSWORD,
            "/alpha/upload/",
            &["--list-only"],
        )
        .ok
    });
    assert!(
        banned_at.elapsed().as_secs_f64() > 2.0,
        "the ban ended too soon"
    );
    s.daemon.stop();
}

#[test]
fn an_unknown_user_fails_like_a_wrong_password_and_as_slowly() {
    let s = start_with("ban_after_failures = 100", "");
    let time = |user: &str| {
        let started = Instant::now();
        let run = curl(s.addr, user, "wrong", "/alpha/upload/", &["--list-only"]);
        (started.elapsed().as_secs_f64(), run)
    };
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..3 {
        let (t, run) = time("alice");
        known.push(t);
        let (u, run2) = time("mallory");
        unknown.push(u);
        assert_refused(&run, "alice with a wrong password");
        assert_refused(&run2, "an unknown user");
        assert_eq!(run.output, run2.output, "the two refusals differ");
    }
    known.sort_by(f64::total_cmp);
    unknown.sort_by(f64::total_cmp);
    let (k, u) = (known[1], unknown[1]);
    assert!(
        k >= 0.4 && u >= 0.4,
        "refusals should be delayed: {k:.3}s, {u:.3}s"
    );
    assert!((k - u).abs() < 0.25, "known {k:.3}s vs unknown {u:.3}s");
    s.daemon.stop();
}

/// Starts uploading a 4 GiB file as `vendor` and returns once data is arriving.
fn start_big_upload(s: &Server) -> std::process::Child {
    let big = s.env.dir.path().join("big.bin");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(4 << 30)
        .unwrap();
    let mut cmd = std::process::Command::new("sftp");
    util::ssh_options(&mut cmd, Some(&key(&s.env, "romvendor")));
    cmd.args([
        "-b",
        "-",
        "-P",
        &s.addr.port().to_string(),
        "vendor@127.0.0.1",
    ])
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null());
    let mut client = cmd.spawn().unwrap();
    use std::io::Write;
    client
        .stdin
        .take()
        .unwrap()
        .write_all(format!("put {} /alpha/upload/big.bin\n", big.display()).as_bytes())
        .unwrap();
    let staging = s.env.var().join("staging");
    wait_until("the upload to start", || {
        std::fs::read_dir(&staging)
            .unwrap()
            .flatten()
            .any(|e| e.metadata().is_ok_and(|m| m.len() > (1 << 20)))
    });
    client
}

#[test]
fn an_upload_cut_off_by_killing_the_client_leaves_nothing() {
    let s = start();
    let mut client = start_big_upload(&s);
    client.kill().unwrap();
    client.wait().unwrap();
    s.daemon.wait_for_log("upload cut off; discarded");
    wait_until("the staging file to go", || s.staging_is_empty());
    assert!(s.names("alpha", "upload").is_empty());
    assert_eq!(s.env.status()["deliveries"]["total"], 0);
    s.daemon.stop();
    assert!(audit_actions(&s.env).contains("sftp.upload-aborted"));
}

#[test]
fn sigterm_during_an_upload_stops_promptly_and_keeps_nothing_partial() {
    let s = start();
    let mut client = start_big_upload(&s);
    let log = s.daemon.stop();
    assert!(log.contains("upload cut off; discarded"), "{log}");
    assert!(
        !client.wait().unwrap().success(),
        "the client must see the upload fail"
    );
    let var = s.env.var();
    assert!(
        std::fs::read_dir(var.join("staging"))
            .unwrap()
            .next()
            .is_none()
    );
    assert!(
        std::fs::read_dir(var.join("tenants/alpha/upload"))
            .unwrap()
            .next()
            .is_none()
    );
}

#[test]
fn staging_files_left_by_a_crash_are_removed_at_start() {
    let env = env_with("", "");
    let staging = env.var().join("staging");
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::write(staging.join("upload-0123abcd.part"), "half an upload").unwrap();
    let daemon = env.start();
    daemon.wait_for_log("removed staging files of uploads cut off by a crash");
    assert!(std::fs::read_dir(&staging).unwrap().next().is_none());
    daemon.stop();
}

/// Archived originals of `tenant`, by content, with their names.
fn archived(env: &Env, tenant: &str) -> Vec<(String, String)> {
    let dir = env.var().join("archive").join(tenant);
    let mut found: Vec<(String, String)> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let content = String::from_utf8(std::fs::read(e.path()).unwrap()).unwrap();
            (content, e.file_name().into_string().unwrap())
        })
        .collect();
    found.sort();
    found
}

#[test]
fn a_waiting_delivery_can_be_replaced_or_removed_and_the_old_version_is_withdrawn() {
    let s = start();
    let v1 = s.local("v1.csv", b"version one");
    let v2 = s.local("v2.csv", b"version two");
    let v3 = s.local("v3.csv", b"to be removed");
    let run = s.vendor(&format!(
        "cd /alpha/upload\nput {} w.csv\nput {} w.csv\nput {} gone.csv\nrm gone.csv\n-rm gone.csv\nls -l\n",
        v1.display(),
        v2.display(),
        v3.display()
    ));
    assert_ok(&run);
    assert_eq!(s.names("alpha", "upload"), ["w.csv"]);
    assert_eq!(
        std::fs::read(s.folder("alpha", "upload").join("w.csv")).unwrap(),
        b"version two"
    );
    wait_until("intake of one delivery and two withdrawn versions", || {
        s.env.count("alpha", "received") == 1 && s.env.count("alpha", "withdrawn") == 2
    });
    wait_until("both versions archived", || {
        archived(&s.env, "alpha").len() == 2
    });
    assert!(s.staging_is_empty());
    let log = s.daemon.stop();
    assert!(
        log.contains("waiting delivery withdrawn; kept in archive/"),
        "{log}"
    );
    let kept = archived(&s.env, "alpha");
    assert_eq!(kept[0].0, "to be removed");
    assert_eq!(kept[1].0, "version one");
    let ids = s.env.texts(
        "SELECT id || '-' || file_name FROM delivery WHERE state = 'withdrawn' ORDER BY file_name",
        [],
    );
    assert_eq!(ids, [kept[0].1.clone(), kept[1].1.clone()]);
    assert_eq!(
        s.env.texts(
            "SELECT actor FROM audit WHERE action = 'delivery.withdrawn'",
            []
        ),
        ["sftp:vendor", "sftp:vendor"]
    );
    assert_eq!(
        s.env.texts(
            "SELECT uploaded_by FROM delivery WHERE state = 'received'",
            []
        ),
        ["vendor"]
    );
}

#[test]
fn a_version_set_aside_before_a_crash_is_withdrawn_at_the_next_start() {
    let env = env_with("", "");
    env.start().stop();
    // As a kill -9 right after an overwrite moved the old version aside would leave it.
    let slot = env
        .var()
        .join("staging/withdrawn/alpha/0011223344556677.vendor");
    std::fs::create_dir_all(&slot).unwrap();
    std::fs::write(slot.join("old.csv"), "the old version").unwrap();
    let empty = env
        .var()
        .join("staging/withdrawn/alpha/8899aabbccddeeff.vendor");
    std::fs::create_dir_all(&empty).unwrap();
    // Empty for two minutes: no session is about to use it.
    let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(120);
    std::fs::File::open(&empty)
        .and_then(|d| d.set_modified(long_ago))
        .unwrap();
    let daemon = env.start();
    daemon.wait_until("the kept version recorded", || {
        env.count("alpha", "withdrawn") == 1
    });
    daemon.stop();
    assert_eq!(
        archived(&env, "alpha"),
        [("the old version".to_owned(), "1-old.csv".to_owned())]
    );
    assert!(!slot.exists() && !empty.exists());
}

/// A temporary upload is its user's own: another user of the same tenant neither sees it
/// nor renames, resumes or removes it.
#[test]
fn a_temporary_upload_belongs_to_its_own_user() {
    let s = start();
    let data = s.local("t.csv", b"alice's half");
    let alice = |commands: &str| {
        sftp_with_password(&s.env, s.addr, "alice", None, ALICE_PASSWORD, commands)
    };
    assert_ok(&alice(&format!(
        "put {} /alpha/upload/t.csv.part\n",
        data.display()
    )));
    let run = s.vendor("cd /alpha/upload\nls -1\n-rename t.csv.part t.csv\n-rm t.csv.part\n");
    assert!(
        !run.output.lines().any(|l| l.trim() == "t.csv.part"),
        "listed to another user: {}",
        run.output
    );
    assert!(s.names("alpha", "upload").is_empty(), "nothing delivered");
    assert_eq!(
        std::fs::read(s.temps("alpha", "alice").join("t.csv.part")).unwrap(),
        b"alice's half"
    );
    // Its own user sees it, and delivers it by renaming it.
    let run = alice("cd /alpha/upload\nls -1\nrename t.csv.part t.csv\n");
    assert!(
        run.output.lines().any(|l| l.trim() == "t.csv.part"),
        "{}",
        run.output
    );
    assert_eq!(s.names("alpha", "upload"), ["t.csv"]);
    wait_until("intake", || s.env.count("alpha", "received") == 1);
    s.daemon.stop();
    assert_eq!(
        s.env.texts("SELECT uploaded_by FROM delivery", []),
        ["alice"],
        "the renaming user, who owned it, is its uploader"
    );
}

#[test]
fn a_filepart_upload_is_renamed_into_place_and_recorded_once() {
    let s = start();
    let data = s.local("w.csv", b"winscp style");
    let run = s.vendor(&format!(
        "cd /alpha/upload\nput {} w.csv.filepart\nls\nrename w.csv.filepart w.csv\n-rename w.csv w2.csv\n",
        data.display()
    ));
    assert_ok(&run);
    assert!(run.output.contains("w.csv.filepart"), "{}", run.output);
    assert_eq!(s.names("alpha", "upload"), ["w.csv"]);
    wait_until("intake", || s.env.count("alpha", "received") == 1);
    let log = s.daemon.stop();
    assert_eq!(log.matches("delivery recorded").count(), 1, "{log}");
    assert!(audit_actions(&s.env).contains("sftp.rename"));
}

#[test]
fn long_names_and_direction_characters_are_refused_with_the_reason() {
    let s = start();
    let data = s.local("n.csv", b"name test");
    let data = data.display();
    let long = format!("{}.csv", "x".repeat(236));
    let longest = format!("{}.csv", "y".repeat(196));
    assert_eq!((long.len(), longest.len()), (240, 200));
    let reversed = "invoice\u{202E}vsc.exe";
    for (commands, what) in [
        (
            format!("put {data} /alpha/upload/{long}\n"),
            "a 240-byte name",
        ),
        (
            format!("put {data} \"/alpha/upload/{reversed}\"\n"),
            "a name with U+202E",
        ),
        (
            format!(
                "put {data} /alpha/upload/r.csv.part\nrename /alpha/upload/r.csv.part \"/alpha/upload/{reversed}\"\n"
            ),
            "a rename onto a name with U+202E",
        ),
        (
            format!("mkdir /alpha/upload/{long}\n"),
            "a folder with a 240-byte name",
        ),
    ] {
        let run = s.vendor(&commands);
        assert_refused(&run, what);
        // OpenSSH's sftp shows the status code's text, not the server's message.
        assert!(
            run.output.contains("Permission denied"),
            "{what}: {}",
            run.output
        );
    }
    assert_ok(&s.vendor(&format!("put {data} /alpha/upload/{longest}\n")));
    assert_eq!(s.names("alpha", "upload"), [longest]);
    assert!(s.temps("alpha", "vendor").join("r.csv.part").exists());
    assert!(s.staging_is_empty());
    wait_until("intake of the 200-byte name", || {
        s.env.count("alpha", "received") == 1
    });
    let log = s.daemon.stop();
    // The reason, for whoever helps the user: in the log (and in the status message,
    // which clients such as WinSCP and FileZilla show).
    assert_eq!(
        log.matches("reason=name is longer than 200 bytes (it has 240)")
            .count(),
        2,
        "{log}"
    );
    assert_eq!(
        log.matches("reason=name holds a control or direction character (U+202E)")
            .count(),
        2,
        "{log}"
    );
    assert!(
        log.contains("invoice\\u{202e}vsc.exe"),
        "the name shown escaped: {log}"
    );
}

#[test]
fn size_limit_and_quota_refuse_the_write_and_remove_the_partial_file() {
    let s = start_with("", "max_file_bytes = 400000\nquota_bytes = 600000");
    let too_big = s.local("big.csv", &vec![b'x'; 500_000]);
    let fits = s.local("fits.csv", &vec![b'y'; 300_000]);
    let fits2 = s.local("fits2.csv", &vec![b'z'; 350_000]);
    let run = s.vendor(&format!(
        "put {} /alpha/upload/big.csv\n",
        too_big.display()
    ));
    assert_refused(&run, "a file over max_file_bytes");
    assert_ok(&s.vendor(&format!("put {} /alpha/upload/fits.csv\n", fits.display())));
    assert_refused(
        &s.vendor(&format!(
            "put {} /alpha/upload/fits2.csv\n",
            fits2.display()
        )),
        "a file over the quota",
    );
    assert_ok(&s.vendor(&format!("put {} /beta/upload/fits2.csv\n", fits2.display())));
    assert_eq!(s.names("alpha", "upload"), ["fits.csv"]);
    wait_until("staging to empty", || s.staging_is_empty());
    let log = s.daemon.stop();
    assert!(
        log.contains("file too large: the limit is 400000 bytes per file"),
        "{log}"
    );
    assert!(
        log.contains("quota exceeded: at most 600000 bytes may wait in upload/"),
        "{log}"
    );
}

#[test]
fn escape_attempts_are_refused_and_nothing_is_written_outside() {
    let s = start();
    let f = s.local("payload.txt", b"payload");
    let f = f.display();
    let outside = s.env.dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), "outside secret").unwrap();
    // A local admin's symlinks must never be followed.
    std::os::unix::fs::symlink(
        outside.join("secret.txt"),
        s.folder("alpha", "receipts").join("link.txt"),
    )
    .unwrap();
    std::os::unix::fs::symlink(&outside, s.folder("alpha", "receipts").join("dirlink")).unwrap();
    std::fs::write(s.folder("alpha", "upload").join("t.csv.filepart"), "temp").unwrap();
    let o = outside.display();
    let long = "x".repeat(300);
    let attempts = [
        format!("put {f} ../../../../tmp/dropgate-evil"),
        format!("put {f} /../../tmp/dropgate-evil"),
        format!("put {f} /tmp/dropgate-evil"),
        format!("put {f} {o}/evil"),
        format!("put {f} /alpha/../../{o}/evil"),
        format!("put {f} /alpha/upload/../../beta/../../evil"),
        format!("put {f} /alpha/%2e%2e/%2e%2e/evil"),
        format!("put {f} /%2e%2e/%2e%2e{o}/evil"),
        format!("put {f} /alpha/upload/..%2f..%2f/evil"),
        format!("put {f} /town/outbox/evil"),
        format!("put {f} /town/upload/evil"),
        format!("put {f} /alpha/receipts/evil"),
        format!("put {f} /alpha/outbox/evil"),
        format!("put {f} /alpha/evil"),
        format!("put {f} /evil"),
        format!("put {f} \"/alpha/upload/a\u{1}b\""),
        format!("put {f} \"/alpha/upload/a\\\\b\""),
        format!("put {f} /alpha/upload/{long}"),
        format!("put {f} /alpha/upload/dir/evil"),
        format!("symlink {o}/secret.txt /alpha/upload/link"),
        "symlink /etc/passwd /alpha/upload/passwd".to_owned(),
        "ln /alpha/upload/t.csv.filepart /alpha/upload/hard".to_owned(),
        "rename /alpha/upload/t.csv.filepart /beta/upload/t.csv".to_owned(),
        format!("rename /alpha/upload/t.csv.filepart {o}/t.csv"),
        "rename /alpha/upload/t.csv.filepart /alpha/receipts/t.csv".to_owned(),
        "rename /alpha/upload/t.csv.filepart ../../../../tmp/t.csv".to_owned(),
        "mkdir /alpha/upload/sub".to_owned(),
        "mkdir /newtenant".to_owned(),
        "rmdir /alpha/upload".to_owned(),
        "get /etc/passwd".to_owned(),
        "get ../../../../etc/passwd".to_owned(),
        "get /alpha/upload/../../../etc/shadow".to_owned(),
        "get /alpha/receipts/link.txt".to_owned(),
        "get /alpha/receipts/dirlink/secret.txt".to_owned(),
        "ls /etc".to_owned(),
        "ls /alpha/receipts/dirlink".to_owned(),
        "cd /etc".to_owned(),
        "chmod 777 /etc/passwd".to_owned(),
        "rm /etc/passwd".to_owned(),
        format!("rm {o}/secret.txt"),
    ];
    key(&s.env, "romvendor");
    let before = tree(s.env.dir.path());
    for attempt in &attempts {
        let run = s.vendor(&format!("cd /alpha/upload\n{attempt}\n"));
        assert_refused(&run, attempt);
        assert!(
            !run.output.contains("outside secret"),
            "{attempt} leaked: {}",
            run.output
        );
    }
    // The same through curl, whose URLs are percent-decoded into raw paths.
    for path in [
        "/alpha/upload/..%2F..%2F..%2F..%2Ftmp%2Fdropgate-evil",
        "/alpha/upload/a%00b",
        "/alpha/upload/%2E%2E/%2E%2E/evil",
    ] {
        let run = curl(
            s.addr,
            "alice",
            ALICE_PASSWORD,
            path,
            &["-T", s.env.dir.path().join("payload.txt").to_str().unwrap()],
        );
        assert_refused(&run, path);
    }
    assert!(attempts.len() + 3 >= 30);
    assert_eq!(tree(s.env.dir.path()), before, "files appeared or vanished");
    assert!(!Path::new("/tmp/dropgate-evil").exists());
    assert_eq!(
        std::fs::read_to_string(outside.join("secret.txt")).unwrap(),
        "outside secret"
    );
    s.daemon.stop();
}

/// Every file under `dir` except the ledger's own, with its size.
fn tree(dir: &Path) -> BTreeSet<(PathBuf, u64)> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let meta = e.path().symlink_metadata().unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if meta.is_dir() {
                stack.push(e.path());
            } else if !name.starts_with("dropgate.sqlite") && !name.starts_with("askpass") {
                out.insert((e.path(), meta.len()));
            }
        }
    }
    out
}

#[test]
fn exec_shell_and_forwarding_are_refused() {
    let s = start();
    let k = key(&s.env, "romvendor");
    let exec = ssh(s.addr, "vendor", &k, &["cat", "/etc/passwd"]);
    assert_refused(&exec, "exec");
    assert!(!exec.output.contains("root:"), "{}", exec.output);
    assert_refused(&ssh(s.addr, "vendor", &k, &["-tt"]), "a shell");
    let stdio_forward = ssh(
        s.addr,
        "vendor",
        &k,
        &["-W", &format!("127.0.0.1:{}", s.addr.port())],
    );
    assert_refused(&stdio_forward, "stdio forwarding");
    assert!(
        stdio_forward.output.contains("stdio forwarding failed"),
        "{}",
        stdio_forward.output
    );
    let remote = ssh(
        s.addr,
        "vendor",
        &k,
        &[
            "-N",
            "-o",
            "ExitOnForwardFailure=yes",
            "-R",
            "127.0.0.1:0:127.0.0.1:22",
        ],
    );
    assert_refused(&remote, "remote forwarding");
    let log = s.daemon.stop();
    assert!(log.contains("request=\"exec\""), "{log}");
}

#[test]
fn idle_sessions_are_closed_and_sessions_per_user_and_address_are_capped() {
    let s = start_with(
        "idle_timeout_secs = 3\nmax_sessions_per_user = 1\nmax_sessions_per_ip = 2",
        "",
    );
    let hold = |user: &str, key_name: &str| {
        let mut cmd = std::process::Command::new("ssh");
        util::ssh_options(&mut cmd, Some(&key(&s.env, key_name)));
        cmd.args([
            "-o",
            "BatchMode=yes",
            // Keepalives every second from the client do not make a session active.
            "-o",
            "ServerAliveInterval=1",
            "-N",
            "-p",
            &s.addr.port().to_string(),
            &format!("{user}@127.0.0.1"),
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
        cmd.spawn().unwrap()
    };
    let mut vendor = hold("vendor", "romvendor");
    s.daemon.wait_for_log("login user=\"vendor\"");
    assert_refused(
        &s.vendor("ls\n"),
        "a second session over max_sessions_per_user",
    );
    s.daemon.wait_for_log("too many sessions for this user");
    let mut alice = hold("alice", "linde");
    s.daemon.wait_for_log("login user=\"alice\"");
    assert_refused(
        &s.batch("town", "gemeente-utrecht", "ls\n"),
        "a third session from one address",
    );
    s.daemon.wait_for_log("too many sessions from this address");
    wait_until("the idle sessions to be closed", || {
        vendor.try_wait().unwrap().is_some() && alice.try_wait().unwrap().is_some()
    });
    wait_until("a new session once the slots are free", || {
        s.vendor("ls\n").ok
    });
    let log = s.daemon.stop();
    assert!(
        log.contains("disconnected: idle (no SFTP requests)"),
        "{log}"
    );
}

#[test]
fn the_host_keys_are_made_once_offered_as_openssh_does_and_kept() {
    // Bare: no host key made ahead, so all three are made here.
    let env = Env::bare(&format!("\n[limits]\n{TENANTS}\n{}", users()));
    let daemon = env.start();
    let addr = daemon.sftp_addr();
    let fingerprints = |log: &str| -> Vec<String> {
        log.lines()
            .filter(|l| l.contains("sftp host key"))
            .filter_map(|l| l.split("fingerprint=").nth(1))
            .map(|f| {
                f.split_whitespace()
                    .next()
                    .unwrap()
                    .trim_matches('"')
                    .to_owned()
            })
            .collect()
    };
    // What a client sees: one key of each kind, the ones logged.
    let scan = Command::new("ssh-keyscan")
        .args([
            "-p",
            &addr.port().to_string(),
            "-t",
            "ed25519,ecdsa,rsa",
            "127.0.0.1",
        ])
        .output()
        .unwrap();
    let scanned = String::from_utf8_lossy(&scan.stdout).into_owned();
    let keys_file = env.dir.path().join("scanned");
    std::fs::write(&keys_file, &scanned).unwrap();
    let listed = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&keys_file)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    for (kind, bits) in [("ED25519", "256"), ("ECDSA", "256"), ("RSA", "3072")] {
        assert!(
            listed
                .lines()
                .any(|l| l.starts_with(bits) && l.ends_with(&format!("({kind})"))),
            "{kind} {bits}: {listed}"
        );
    }
    let logged = fingerprints(&daemon.log());
    assert_eq!(logged.len(), 3, "{}", daemon.log());
    for fingerprint in &logged {
        assert!(
            listed.contains(fingerprint.as_str()),
            "{fingerprint}: {listed}"
        );
    }
    // Clients that insist on one kind, and on ETM MACs with a CTR cipher, get in; SHA-1
    // host signatures, SHA-1 and UMAC MACs and CBC ciphers are not offered.
    let key = key(&env, "romvendor");
    let attempt = |options: &[&str]| {
        let mut cmd = Command::new("sftp");
        util::ssh_options(&mut cmd, Some(&key));
        for option in options {
            cmd.args(["-o", option]);
        }
        cmd.args(["-b", "-", "-P", &addr.port().to_string()])
            .arg(format!("vendor@{}", addr.ip()))
            .stdin(std::process::Stdio::null());
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for host_key in [
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
        "rsa-sha2-512",
        "rsa-sha2-256",
    ] {
        let (ok, err) = attempt(&[&format!("HostKeyAlgorithms={host_key}")]);
        assert!(ok, "{host_key}: {err}");
    }
    let (ok, err) = attempt(&["HostKeyAlgorithms=ssh-rsa"]);
    assert!(!ok, "ssh-rsa: {err}");
    let (ok, err) = attempt(&["Ciphers=aes128-ctr", "MACs=hmac-sha2-256-etm@openssh.com"]);
    assert!(ok, "etm: {err}");
    let (ok, err) = attempt(&["Ciphers=aes128-ctr", "MACs=hmac-sha1,umac-64@openssh.com"]);
    assert!(!ok, "SHA-1 and UMAC MACs: {err}");
    let (ok, err) = attempt(&["Ciphers=aes128-cbc,3des-cbc"]);
    assert!(!ok, "CBC ciphers: {err}");
    let log = daemon.stop();
    assert_eq!(log.matches("created=true").count(), 3, "{log}");
    // Kept across restarts.
    let again = env.start().stop();
    assert_eq!(fingerprints(&again), logged);
    assert_eq!(again.matches("created=false").count(), 3, "{again}");
}

/// RSA user keys sign with SHA-2 or not at all; a key under 2048 bits never gets into the
/// configuration.
#[test]
fn sha1_rsa_signatures_and_weak_user_keys_are_refused() {
    let rsa = format!(
        "[[user]]\nname = \"rsa\"\npublic_keys = [\"{}\"]\n[[user.grant]]\ntenant = \"alpha\"\nroles = [\"deliver\"]\n",
        public_key("rsa-user")
    );
    let env = Env::new(&format!("\n[limits]\n{TENANTS}\n{rsa}"));
    let daemon = env.start();
    let addr = daemon.sftp_addr();
    let key = key(&env, "rsa-user");
    let login = |algorithms: &str| {
        let mut cmd = Command::new("sftp");
        util::ssh_options(&mut cmd, Some(&key));
        cmd.args(["-o", &format!("PubkeyAcceptedAlgorithms={algorithms}")])
            .args(["-b", "-", "-P", &addr.port().to_string()])
            .arg(format!("rsa@{}", addr.ip()))
            .stdin(std::process::Stdio::null());
        cmd.output().unwrap().status.success()
    };
    assert!(login("rsa-sha2-512"), "rsa-sha2-512 with a 2048-bit key");
    assert!(login("rsa-sha2-256"), "rsa-sha2-256 with a 2048-bit key");
    // OpenSSH will not even try ssh-rsa (the server does not list it); paramiko, made to,
    // signs with SHA-1 anyway, and is refused.
    assert!(!login("ssh-rsa"), "ssh-rsa (SHA-1) must be refused");
    let forced = r#"
import socket, sys, paramiko
sock = socket.create_connection((sys.argv[1], int(sys.argv[2])))
t = paramiko.Transport(sock, disabled_algorithms={"pubkeys": ["rsa-sha2-512", "rsa-sha2-256"]})
t.connect()
# Sign with SHA-1 whatever the server lists, as an old client would.
paramiko.auth_handler.AuthHandler._finalize_pubkey_algorithm = lambda self, key_type: "ssh-rsa"
try:
    t.auth_publickey("rsa", paramiko.RSAKey.from_private_key_file(sys.argv[3]))
    print("accepted")
except paramiko.AuthenticationException as e:
    print("refused:", e)
"#;
    let out = Command::new("/usr/bin/python3")
        .args([
            "-c",
            forced,
            &addr.ip().to_string(),
            &addr.port().to_string(),
        ])
        .arg(&key)
        .output()
        .expect("python3 with paramiko (Debian: python3-paramiko)");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.starts_with("refused"),
        "{said} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = daemon.stop();
    assert!(log.contains("ssh-rsa (SHA-1) signature refused"), "{said}");

    // check-config names the weak key and where it is.
    let weak_file = env.dir.path().join("weak.pub");
    std::fs::write(&weak_file, format!("# a key\n{}\n", public_key("rsa-weak"))).unwrap();
    let weak = format!(
        "[[user]]\nname = \"weak\"\npublic_key_files = [\"{}\"]\n[[user.grant]]\ntenant = \"alpha\"\nroles = [\"deliver\"]\n",
        weak_file.display()
    );
    env.write_config(&format!("\n[limits]\n{TENANTS}\n{weak}"));
    let out = env.cmd(&["check-config"]);
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("weak.pub:2") && text.contains("RSA key of 1024 bits is too weak"),
        "{text}"
    );
}

/// Resuming (`reput` in OpenSSH's sftp, `curl -C`) writes from an offset: onto a delivered
/// name it is refused at open, and onto a new name the skipped bytes would be a hole, so
/// its first write is refused (a hole further on is refused at close: see the unit tests
/// of `sftp::upload`). Neither delivers anything.
#[test]
fn a_resumed_upload_never_delivers_a_file_with_a_hole() {
    let s = start();
    let content: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let whole = s.local("whole.csv", &content);
    let half = s.local("half.csv", &content[..80_000]);
    assert_ok(&s.vendor(&format!("put {} /alpha/upload/m.csv\n", half.display())));
    wait_until("intake", || s.env.count("alpha", "received") == 1);

    // sftp's reput onto the waiting name: it would append to a delivered file.
    let reput = s.vendor(&format!("reput {} /alpha/upload/m.csv\n", whole.display()));
    assert_refused(&reput, "resuming onto a delivered name");
    // OpenSSH's client shows the status code, not the server's sentence.
    assert!(
        reput.output.contains("Permission denied"),
        "{}",
        reput.output
    );

    // curl -C onto a new name: the first 1,000 bytes are never sent.
    let resumed = curl(
        s.addr,
        "alice",
        ALICE_PASSWORD,
        "/alpha/upload/c.csv",
        &["-C", "1000", "-T", whole.to_str().unwrap()],
    );
    assert_refused(&resumed, "an upload with a hole");

    assert_eq!(
        s.names("alpha", "upload"),
        ["m.csv"],
        "nothing new delivered"
    );
    assert_eq!(
        std::fs::read(s.folder("alpha", "upload").join("m.csv")).unwrap(),
        &content[..80_000],
        "the delivered file is untouched"
    );
    wait_until("staging to empty", || s.staging_is_empty());
    let log = s.daemon.stop();
    assert!(
        log.contains("bytes 0 to 1000 were never sent"),
        "the reason is logged: {log}"
    );
    assert!(audit_actions(&s.env).contains("sftp.upload-refused"));
    assert_eq!(s.env.count("alpha", "received"), 1);
}

/// OpenSSH's `scp` (SFTP underneath) and `ssh -s sftp` wait for the subsystem's exit status:
/// without one they fail a good transfer, and scripts send the delivery again.
#[test]
fn scp_and_ssh_subsystem_exit_zero_after_a_good_transfer() {
    let s = start();
    let data = s.local("s.csv", b"scp upload");
    let mut scp = Command::new("scp");
    util::ssh_options(&mut scp, Some(&key(&s.env, "romvendor")));
    scp.args(["-P", &s.addr.port().to_string()])
        .arg(&data)
        .arg(format!("vendor@{}:/alpha/upload/s.csv", s.addr.ip()));
    let out = scp.output().unwrap();
    assert!(
        out.status.success(),
        "scp: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(s.names("alpha", "upload"), ["s.csv"]);
    assert_eq!(
        std::fs::read(s.folder("alpha", "upload").join("s.csv")).unwrap(),
        b"scp upload"
    );

    // An SFTP session that only says hello and ends: ssh -s sftp exits with its status.
    let mut ssh = Command::new("ssh");
    util::ssh_options(&mut ssh, Some(&key(&s.env, "romvendor")));
    ssh.args(["-p", &s.addr.port().to_string(), "-s"])
        .arg(format!("vendor@{}", s.addr.ip()))
        .arg("sftp")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = ssh.spawn().unwrap();
    {
        use std::io::Write;
        // SSH_FXP_INIT, version 3.
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&[0, 0, 0, 5, 1, 0, 0, 0, 3]).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    s.daemon.stop();
    assert_eq!(out.status.code(), Some(0), "ssh -s sftp: {:?}", out.status);
    assert_eq!(
        out.stdout.get(4),
        Some(&2),
        "a VERSION answer: {:?}",
        out.stdout
    );
}

/// mkdir of a folder that is there answers as sshd does ("Failure"), which clients that
/// make the target folder first take as done; a new folder is refused as not allowed.
#[test]
fn mkdir_of_an_existing_folder_says_it_exists() {
    let s = start();
    let run = s.vendor("-mkdir /alpha/upload\n-mkdir /alpha\n-mkdir /alpha/upload/sub\n");
    assert_ok(&run);
    assert!(
        run.output
            .contains("remote mkdir \"/alpha/upload\": Failure"),
        "{}",
        run.output
    );
    assert!(
        run.output.contains("remote mkdir \"/alpha\": Failure"),
        "{}",
        run.output
    );
    assert!(
        run.output
            .contains("remote mkdir \"/alpha/upload/sub\": Permission denied"),
        "{}",
        run.output
    );
    assert!(!s.folder("alpha", "upload").join("sub").exists());
    s.daemon.stop();
}

/// `cd ~` (expand-path@openssh.com), `df` (statvfs@openssh.com: the tenant's quota),
/// `put -f` (fsync@openssh.com) and `rename` (posix-rename@openssh.com) in OpenSSH's sftp.
#[test]
fn openssh_extensions_home_quota_fsync_and_rename_work() {
    let s = start_with("", "quota_bytes = 1048576");
    let data = s.local("f.csv", &[b'x'; 8192]);
    let run = s.batch(
        "alice",
        "linde",
        &format!(
            "cd /alpha/upload\nput -f {} f.csv.part\nrename f.csv.part f.csv\ndf\n",
            data.display()
        ),
    );
    assert_ok(&run);
    assert_eq!(s.names("alpha", "upload"), ["f.csv"]);
    // df: size, used and available in KiB: the quota, the 8 KiB waiting, the rest.
    let numbers: Vec<u64> = run
        .output
        .lines()
        .skip_while(|l| !l.contains("%Capacity"))
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|w| w.trim_end_matches('%').parse().ok())
        .collect();
    assert_eq!(
        numbers.get(..3),
        Some(&[1024, 8, 1016][..]),
        "{}",
        run.output
    );
    s.daemon.stop();
}

/// One client opens channels and handles on one connection until refused (8 channels, 64
/// handles over all of them); meanwhile another user logs in and uploads at once.
#[test]
fn one_connection_cannot_hold_more_than_its_handles_and_channels() {
    use std::io::{BufRead, BufReader};
    let s = start();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/sftp/hold.py");
    let mut hold = Command::new("/usr/bin/python3")
        .arg(script)
        .args([
            &s.addr.ip().to_string(),
            &s.addr.port().to_string(),
            "vendor",
        ])
        .arg(key(&s.env, "romvendor"))
        .arg("/alpha/upload")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with paramiko (Debian: python3-paramiko)");
    let mut line = String::new();
    BufReader::new(hold.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let held: serde_json::Value = serde_json::from_str(&line).expect(&line);
    assert_eq!(held["channels"], 8, "{held}");
    assert!(held["channel_refused"].is_string(), "{held}");
    assert_eq!(held["handles"], 64, "{held}");
    assert!(
        held["handle_refused"]
            .as_str()
            .is_some_and(|m| m.contains("too many open files (at most 64 per connection)")),
        "{held}"
    );

    let started = Instant::now();
    let data = s.local("a.csv", b"while another holds");
    assert_ok(&s.batch(
        "alice",
        "linde",
        &format!("put {} /alpha/upload/a.csv\n", data.display()),
    ));
    let took = started.elapsed();
    assert!(took.as_secs_f64() < 2.0, "login and upload took {took:?}");

    drop(hold.stdin.take());
    hold.wait().unwrap();
    assert_eq!(
        s.names("alpha", "upload"),
        ["a.csv"],
        "held uploads never closed"
    );
    wait_until("staging to empty", || s.staging_is_empty());
    s.daemon.stop();
}

/// Connections that never log in are capped for the whole server: past the cap a new one
/// is closed at once, and one that leaves makes room.
#[test]
fn connections_not_yet_logged_in_are_capped_for_the_whole_server() {
    use std::io::Read;
    use std::net::TcpStream;
    let s = start_with("max_unauthenticated = 3\nmax_sessions_per_ip = 50", "");
    let banner = |stream: &mut TcpStream| {
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 64];
        let n = stream.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let mut idle: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(s.addr).unwrap())
        .collect();
    for stream in &mut idle {
        assert!(banner(stream).starts_with("SSH-2.0-dropgate"));
    }
    let mut refused = TcpStream::connect(s.addr).unwrap();
    assert_eq!(banner(&mut refused), "", "closed without a banner");
    // A logged-in session does not count: alice still gets in.
    let data = s.local("x.csv", b"x");
    drop(idle.pop());
    assert_ok(&s.batch(
        "alice",
        "linde",
        &format!("put {} /alpha/upload/x.csv\n", data.display()),
    ));
    let mut later = TcpStream::connect(s.addr).unwrap();
    assert!(
        banner(&mut later).starts_with("SSH-2.0-dropgate"),
        "room again"
    );
    let log = s.daemon.stop();
    assert_eq!(
        log.matches("too many not yet logged in").count(),
        1,
        "logged once: {log}"
    );
}

/// A REQUEST-FULL with content is refused, and the refusal leaves no request behind.
#[test]
fn a_refused_request_full_requests_nothing() {
    let s = start();
    let full = s.local("full", b"not empty");
    let run = s.batch(
        "town",
        "gemeente-utrecht",
        &format!("put {} /town/outbox/REQUEST-FULL\n", full.display()),
    );
    assert_refused(&run, "a REQUEST-FULL with content");
    assert!(s.names("town", "outbox").is_empty(), "no request left");
    s.daemon.stop();
    assert!(!audit_actions(&s.env).contains("sftp.request-full"));
    assert_eq!(s.env.number("SELECT count(*) FROM full_request"), 0);
}

/// An upload in progress is visible to its own session (sshfs stats a file right after
/// creating it), with the bytes written so far; to another session it does not exist yet.
#[test]
fn an_upload_in_progress_is_visible_to_its_own_session() {
    let s = start();
    let script = r#"
import json, sys, paramiko
host, port, key = sys.argv[1], int(sys.argv[2]), sys.argv[3]
t = paramiko.Transport((host, port))
t.connect(username="vendor", pkey=paramiko.Ed25519Key.from_private_key_file(key))
own, other = paramiko.SFTPClient.from_transport(t), None
f = own.open("/alpha/upload/p.csv", "w")
f.write(b"x" * 1000)
f.flush()
seen = {"own": own.stat("/alpha/upload/p.csv").st_size, "lstat": own.lstat("/alpha/upload/p.csv").st_size}
t2 = paramiko.Transport((host, port))
t2.connect(username="vendor", pkey=paramiko.Ed25519Key.from_private_key_file(key))
try:
    paramiko.SFTPClient.from_transport(t2).stat("/alpha/upload/p.csv")
    seen["other"] = "found"
except IOError as e:
    seen["other"] = str(e)
f.close()
seen["after"] = own.stat("/alpha/upload/p.csv").st_size
print(json.dumps(seen))
"#;
    let out = Command::new("/usr/bin/python3")
        .args([
            "-c",
            script,
            &s.addr.ip().to_string(),
            &s.addr.port().to_string(),
        ])
        .arg(key(&s.env, "romvendor"))
        .output()
        .expect("python3 with paramiko (Debian: python3-paramiko)");
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(seen["own"], 1000, "{seen}");
    assert_eq!(seen["lstat"], 1000, "{seen}");
    assert!(
        seen["other"]
            .as_str()
            .is_some_and(|e| e.contains("no such file")),
        "{seen}"
    );
    assert_eq!(seen["after"], 1000, "{seen}");
    s.daemon.stop();
}

/// A request russh-sftp cannot parse is answered with its own id (clients wait for that id),
/// and a packet longer than the server takes ends the session: never a hang.
#[test]
fn a_malformed_request_gets_an_answer_with_its_own_id_and_an_oversized_one_ends_the_session() {
    use std::io::{Read, Write};
    use std::sync::mpsc;
    use std::time::Duration;
    let s = start();
    let mut ssh = Command::new("ssh");
    util::ssh_options(&mut ssh, Some(&key(&s.env, "romvendor")));
    let mut child = ssh
        .args([
            "-o",
            "BatchMode=yes",
            "-p",
            &s.addr.port().to_string(),
            "-s",
        ])
        .arg(format!("vendor@{}", s.addr.ip()))
        .arg("sftp")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let mut output = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<Option<Vec<u8>>>();
    std::thread::spawn(move || {
        loop {
            let mut len = [0u8; 4];
            if output.read_exact(&mut len).is_err() {
                let _ = tx.send(None);
                return;
            }
            let mut body = vec![0; u32::from_be_bytes(len) as usize];
            if output.read_exact(&mut body).is_err() {
                let _ = tx.send(None);
                return;
            }
            let _ = tx.send(Some(body));
        }
    });
    let packet = |kind: u8, id: Option<u32>, body: &[u8]| {
        let mut p = Vec::new();
        p.push(kind);
        if let Some(id) = id {
            p.extend_from_slice(&id.to_be_bytes());
        }
        p.extend_from_slice(body);
        let mut framed = (p.len() as u32).to_be_bytes().to_vec();
        framed.extend(p);
        framed
    };
    let patience = Duration::from_secs(10);
    input
        .write_all(&packet(1, None, &3u32.to_be_bytes()))
        .unwrap();
    let version = rx.recv_timeout(patience).unwrap().unwrap();
    assert_eq!(version[0], 2, "VERSION");
    // OPEN with id 7 whose file name claims 1,000 bytes and brings 1.
    input
        .write_all(&packet(3, Some(7), &[0, 0, 3, 232, b'a']))
        .unwrap();
    let status = rx
        .recv_timeout(patience)
        .expect("an answer, not a hang")
        .unwrap();
    assert_eq!(status[0], 101, "STATUS: {status:?}");
    assert_eq!(&status[1..5], &7u32.to_be_bytes(), "its own id: {status:?}");
    assert_eq!(
        &status[5..9],
        &5u32.to_be_bytes(),
        "BAD_MESSAGE: {status:?}"
    );
    // The session still serves: REALPATH "." with id 8.
    input
        .write_all(&packet(16, Some(8), &[0, 0, 0, 1, b'.']))
        .unwrap();
    let name = rx.recv_timeout(patience).unwrap().unwrap();
    assert_eq!(
        (name[0], &name[1..5]),
        (104, &8u32.to_be_bytes()[..]),
        "NAME"
    );
    // A packet of 10 MiB: the session ends. Length and start go in one write (atomic on a
    // pipe): the server may end the session on the length alone, and the client with it.
    let mut oversized = (10u32 << 20).to_be_bytes().to_vec();
    oversized.extend([3, 0, 0, 0, 9]);
    input.write_all(&oversized).unwrap();
    let ended = rx.recv_timeout(patience).expect("the end, not a hang");
    assert!(ended.is_none(), "{ended:?}");
    drop(input);
    let _ = child.wait();
    let log = s.daemon.stop();
    assert!(
        log.contains("sftp packet over the limit; ending the session"),
        "{log}"
    );
}
