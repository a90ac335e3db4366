//! Helpers shared by the integration tests: a temporary state directory with an inline
//! configuration, the real `dropgate` binary, a systemd notify socket, polling with a limit.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_dropgate");

/// The example deliveries in `samples/`.
pub(crate) const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/samples");

/// Long enough for a loaded CI machine; polling returns as soon as the condition holds.
pub(crate) const PATIENCE: Duration = Duration::from_secs(20);

/// Two suppliers and a municipality, state under the test's temp dir.
pub(crate) const TENANTS: &str = r#"
[[tenant]]
id = "alpha"
kind = "supplier"
code = "11111111"
name = "Alpha Zorg"
contacts = ["alpha@example.org"]

[[tenant]]
id = "beta"
kind = "supplier"
code = "22222222"
name = "Beta Zorg"

[[tenant]]
id = "town"
kind = "municipality"
code = "0344"
name = "Town"
"#;

/// A temporary dropgate installation: a folder with `dropgate.toml` and `var/`.
pub(crate) struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    /// An installation whose configuration is `extra` after a minimal header.
    pub(crate) fn new(extra: &str) -> Self {
        let env = Self::bare(extra);
        // The RSA and ECDSA host keys, made ahead: a 3072-bit RSA key takes seconds to make.
        std::fs::create_dir_all(env.var()).unwrap();
        for name in ["ssh_host_rsa_key", "ssh_host_ecdsa_key"] {
            let source = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("samples/keys/host")
                .join(name);
            let dest = env.var().join(name);
            std::fs::copy(source, &dest).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        env
    }

    /// An installation with nothing made ahead (no host keys).
    pub(crate) fn bare(extra: &str) -> Self {
        let env = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        env.write_config(extra);
        env
    }

    /// The usual three tenants.
    pub(crate) fn with_tenants() -> Self {
        Self::new(TENANTS)
    }

    pub(crate) fn write_config(&self, extra: &str) {
        let text = format!("state_dir = \"var\"\n[sftp]\nlisten = \"127.0.0.1:0\"\n{extra}");
        std::fs::write(self.config(), text).unwrap();
    }

    pub(crate) fn config(&self) -> PathBuf {
        self.dir.path().join("dropgate.toml")
    }

    pub(crate) fn var(&self) -> PathBuf {
        self.dir.path().join("var")
    }

    pub(crate) fn upload(&self, tenant: &str) -> PathBuf {
        self.var().join("tenants").join(tenant).join("upload")
    }

    /// A dropgate command on this installation's config, ready to spawn.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg("--config").arg(self.config()).args(args);
        cmd
    }

    /// Runs a dropgate command to completion.
    pub(crate) fn cmd(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// `dropgate status --json`, parsed.
    pub(crate) fn status(&self) -> Value {
        let state_dir = self.var();
        let out = self.cmd(&[
            "status",
            "--json",
            "--state-dir",
            state_dir.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "status failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Deliveries of `tenant` in `state`, per `status --json`.
    pub(crate) fn count(&self, tenant: &str, state: &str) -> u64 {
        let status = self.status();
        status["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == tenant)
            .map_or(0, |t| t["deliveries"]["by_state"][state].as_u64().unwrap())
    }

    /// The ledger, opened directly, for checks `status` does not show.
    pub(crate) fn ledger(&self) -> rusqlite::Connection {
        rusqlite::Connection::open_with_flags(
            self.var().join("dropgate.sqlite"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap()
    }

    /// The one number `sql` (a count, say) gives on the ledger.
    pub(crate) fn number(&self, sql: &str) -> i64 {
        self.ledger().query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// The first column of every row `sql` gives on the ledger, with `params`.
    pub(crate) fn texts(&self, sql: &str, params: impl rusqlite::Params) -> Vec<String> {
        let conn = self.ledger();
        let mut stmt = conn.prepare(sql).unwrap();
        stmt.query_map(params, |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// Runs a dropgate command to completion with its clock moved by `offset` (`-8d`,
    /// `+61d`, `+90s`): a test build honours `DROPGATE_TEST_CLOCK`, so time passes for the
    /// binary as it would for a user, and no ledger row is rewritten.
    pub(crate) fn cmd_at(&self, offset: &str, args: &[&str]) -> Output {
        let out = self
            .command(args)
            .env(dropgate::clock::TEST_CLOCK_VAR, offset)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?} at {offset}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Publishes by hand `days` ago, as if the daemon had been down since: the next start
    /// catches up on the weekly run. Returns the run's time as the job table holds it.
    pub(crate) fn published_days_ago(&self, days: i64) -> String {
        self.cmd_at(&format!("-{days}d"), &["publish", "--now"]);
        self.texts("SELECT last_run FROM job WHERE name = 'publish'", [])
            .pop()
            .unwrap()
    }

    /// Starts `dropgate run` with its clock moved by `offset`, and waits for READY=1.
    pub(crate) fn start_at(&self, offset: &str) -> Daemon {
        let mut daemon = self.spawn(&[(dropgate::clock::TEST_CLOCK_VAR, offset)]);
        daemon.wait_for_notify("READY=1");
        daemon
    }

    /// Starts `dropgate run` and waits until it reports READY=1.
    pub(crate) fn start(&self) -> Daemon {
        let mut daemon = self.spawn(&[]);
        daemon.wait_for_notify("READY=1");
        daemon
    }

    /// Starts `dropgate run` with extra environment, without waiting.
    pub(crate) fn spawn(&self, env: &[(&str, &str)]) -> Daemon {
        self.spawn_cmd(self.command(&[]), env)
    }

    /// Starts `dropgate --log-format json run` and waits for READY=1.
    pub(crate) fn start_json(&self) -> Daemon {
        let cmd = self.command(&["--log-format", "json"]);
        let mut daemon = self.spawn_cmd(cmd, &[]);
        daemon.wait_for_notify("READY=1");
        daemon
    }

    /// Starts `dropgate run` from inside the installation's folder with a relative
    /// `--config`, as a person at a shell would, and waits for READY=1.
    pub(crate) fn start_relative(&self) -> Daemon {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(self.dir.path())
            .args(["--config", "dropgate.toml"]);
        let mut daemon = self.spawn_cmd(cmd, &[]);
        daemon.wait_for_notify("READY=1");
        daemon
    }

    /// Starts `dropgate run` bound by file modes, without waiting. As root, the daemon is
    /// started without the capabilities that pass over modes (`CAP_DAC_OVERRIDE`,
    /// `CAP_DAC_READ_SEARCH`, `CAP_FOWNER`), so that a mode that forbids a write forbids it
    /// to the daemon too, as it does to the dedicated user it runs as in production; as any
    /// other user it is a plain spawn.
    pub(crate) fn spawn_bound_by_modes(&self) -> Daemon {
        use std::os::unix::process::CommandExt;
        let mut cmd = self.command(&[]);
        // SAFETY: the closure only calls geteuid and prctl, which are async-signal-safe,
        // and changes nothing but the child's own capability bounding set.
        unsafe { cmd.pre_exec(drop_mode_override) };
        self.spawn_cmd(cmd, &[])
    }

    fn spawn_cmd(&self, mut cmd: Command, env: &[(&str, &str)]) -> Daemon {
        let socket_path = self
            .dir
            .path()
            .join(format!("notify-{}.sock", rand_suffix()));
        let socket = UnixDatagram::bind(&socket_path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut child = cmd
            .arg("run")
            .env("NOTIFY_SOCKET", &socket_path)
            .env("RUST_LOG", "debug")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        Daemon {
            child,
            log,
            socket,
            notes: Mutex::new(Vec::new()),
        }
    }
}

/// Drops, for root, the capabilities that pass over file modes from the bounding set: the
/// program it then executes gets none of them.
fn drop_mode_override() -> std::io::Result<()> {
    // From linux/capability.h; the libc crate does not name them.
    const CAP_DAC_OVERRIDE: libc::c_ulong = 1;
    const CAP_DAC_READ_SEARCH: libc::c_ulong = 2;
    const CAP_FOWNER: libc::c_ulong = 3;
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    for cap in [CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER] {
        // SAFETY: PR_CAPBSET_DROP takes a capability number and changes only this process.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A running `dropgate run`; killed if the test forgets to stop it.
pub(crate) struct Daemon {
    pub child: Child,
    log: Arc<Mutex<String>>,
    socket: UnixDatagram,
    notes: Mutex<Vec<String>>,
}

impl Daemon {
    /// Everything the daemon wrote to stderr so far.
    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Polls `condition` like [`wait_until`], showing the daemon's log if it never holds.
    pub(crate) fn wait_until(&self, what: &str, mut condition: impl FnMut() -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !condition() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Waits until the log contains `needle`.
    pub(crate) fn wait_for_log(&self, needle: &str) {
        wait_until(&format!("log line {needle:?}"), || {
            self.log().contains(needle)
        });
    }

    /// Every notify message received so far (each datagram one entry).
    pub(crate) fn notes(&self) -> Vec<String> {
        let mut buf = [0u8; 4096];
        let mut notes = self.notes.lock().unwrap();
        while let Ok(n) = self.socket.recv(&mut buf) {
            notes.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        notes.clone()
    }

    /// Waits until a notify message contains `needle`.
    pub(crate) fn wait_for_notify(&mut self, needle: &str) {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if self.notes().iter().any(|n| n.contains(needle)) {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "daemon exited ({status}) before {needle:?}; log:\n{}",
                    self.log()
                );
            }
        }
        panic!(
            "no {needle:?} from the daemon; notes {:?}; log:\n{}",
            self.notes(),
            self.log()
        );
    }

    pub(crate) fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, signal) }, 0);
    }

    /// SIGTERM, and the daemon must exit successfully within the time limit.
    pub(crate) fn stop(mut self) -> String {
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let log = self.log();
                assert!(status.success(), "daemon exited with {status}; log:\n{log}");
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "daemon did not stop on SIGTERM; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `condition` until it holds, or fails the test after [`PATIENCE`].
pub(crate) fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// This month's quality report time (the 1st at 07:00, Amsterdam) less three seconds, as a
/// clock offset: a daemon started on it sends the monthly reports three seconds later.
pub(crate) fn just_before_this_months_report() -> String {
    use chrono::{Datelike, TimeZone};
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Amsterdam)
        .date_naive();
    let at = chrono_tz::Europe::Amsterdam
        .from_local_datetime(&today.with_day(1).unwrap().and_hms_opt(7, 0, 0).unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    offset_to(at - chrono::Duration::seconds(3))
}

/// The clock offset (`+12345s`) that moves the binary's now to `at`.
pub(crate) fn offset_to(at: chrono::DateTime<chrono::Utc>) -> String {
    format!("{:+}s", (at - chrono::Utc::now()).num_seconds())
}

/// Writes a file the way a careful local producer does: temp name, then rename.
pub(crate) fn drop_file(dir: &Path, name: &str, content: &[u8]) {
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp).unwrap();
    f.write_all(content).unwrap();
    f.sync_all().unwrap();
    std::fs::rename(tmp, dir.join(name)).unwrap();
}

/// The sample users' private keys, copied with the permissions ssh insists on.
pub(crate) fn key(env: &Env, name: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dest = env.dir.path().join(format!("{name}.key"));
    if !dest.exists() {
        let source = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("samples/keys")
            .join(name);
        std::fs::copy(source, &dest).unwrap();
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    dest
}

/// The public half of a sample key, for inline configuration.
pub(crate) fn public_key(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("samples/keys/{name}.pub"));
    std::fs::read_to_string(path).unwrap().trim().to_owned()
}

impl Daemon {
    /// The address the SFTP server listens on, from its log.
    pub(crate) fn sftp_addr(&self) -> std::net::SocketAddr {
        self.wait_for_log("sftp listening");
        let log = self.log();
        let line = log.lines().find(|l| l.contains("sftp listening")).unwrap();
        line.split("addr=")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }
}

/// The result of running a real client.
pub(crate) struct ClientRun {
    pub ok: bool,
    pub output: String,
}

fn run_client(mut cmd: Command, stdin: Option<&str>) -> ClientRun {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("client installed by .ci/run");
    let input = stdin.unwrap_or("").to_owned();
    let mut pipe = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    ClientRun {
        ok: out.status.success(),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// OpenSSH options for a test server: no host key checks, no agent, no config files.
pub(crate) fn ssh_options(cmd: &mut Command, key: Option<&Path>) {
    cmd.args([
        "-F",
        "/dev/null",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        "-o",
        "ConnectTimeout=10",
    ]);
    match key {
        Some(key) => {
            cmd.args(["-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-i"])
                .arg(key);
        }
        None => {
            cmd.args(["-o", "PubkeyAuthentication=no"]);
        }
    }
    cmd.env_remove("SSH_AUTH_SOCK");
}

/// `sftp -b` (batch mode: key login only; stops at the first failing command unless it
/// starts with `-`).
pub(crate) fn sftp_batch(
    addr: std::net::SocketAddr,
    user: &str,
    key: &Path,
    commands: &str,
) -> ClientRun {
    let mut cmd = Command::new("sftp");
    ssh_options(&mut cmd, Some(key));
    cmd.args(["-b", "-", "-P", &addr.port().to_string()])
        .arg(format!("{user}@{}", addr.ip()));
    run_client(cmd, Some(commands))
}

/// Interactive-mode `sftp` fed on stdin, with a password given through SSH_ASKPASS (and a
/// key if `key` is set). Command failures do not change the exit status in this mode.
pub(crate) fn sftp_with_password(
    env: &Env,
    addr: std::net::SocketAddr,
    user: &str,
    key: Option<&Path>,
    password: &str,
    commands: &str,
) -> ClientRun {
    let askpass = askpass(env, password);
    let mut cmd = Command::new("sftp");
    ssh_options(&mut cmd, key);
    cmd.args([
        "-o",
        "NumberOfPasswordPrompts=1",
        "-P",
        &addr.port().to_string(),
    ])
    .arg(format!("{user}@{}", addr.ip()))
    .env("SSH_ASKPASS", &askpass)
    .env("SSH_ASKPASS_REQUIRE", "force")
    .env("DISPLAY", ":0");
    run_client(cmd, Some(commands))
}

/// A program that answers OpenSSH's password prompt with `password` (for SSH_ASKPASS).
pub(crate) fn askpass(env: &Env, password: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let askpass = env.dir.path().join(format!("askpass-{}", rand_suffix()));
    std::fs::write(&askpass, format!("#!/bin/sh\necho '{password}'\n")).unwrap();
    std::fs::set_permissions(&askpass, std::fs::Permissions::from_mode(0o700)).unwrap();
    askpass
}

/// `ssh` with a command or options (for what must be refused).
pub(crate) fn ssh(addr: std::net::SocketAddr, user: &str, key: &Path, args: &[&str]) -> ClientRun {
    let mut cmd = Command::new("ssh");
    ssh_options(&mut cmd, Some(key));
    cmd.args(["-o", "BatchMode=yes", "-p", &addr.port().to_string()])
        .arg(format!("{user}@{}", addr.ip()))
        .args(args);
    run_client(cmd, None)
}

/// curl's SFTP (libssh2), with a password.
pub(crate) fn curl(
    addr: std::net::SocketAddr,
    user: &str,
    password: &str,
    path: &str,
    args: &[&str],
) -> ClientRun {
    let mut cmd = Command::new("curl");
    cmd.args([
        "--silent",
        "--show-error",
        "--insecure",
        "--max-time",
        "30",
        "--user",
    ])
    .arg(format!("{user}:{password}"))
    .args(args)
    .arg(format!("sftp://{}:{}{path}", addr.ip(), addr.port()));
    run_client(cmd, None)
}

/// The `n`-th valid citizen number (BSN) above 100000000: nine digits that pass the
/// 11-check, for tests that need many different clients.
pub(crate) fn bsn(n: u32) -> String {
    (100_000_000u32..)
        .step_by(10)
        .filter_map(|base| {
            let digits: Vec<u32> = base
                .to_string()
                .chars()
                .map(|c| c.to_digit(10).unwrap())
                .collect();
            let sum: u32 = (0..8).map(|i| (9 - i as u32) * digits[i]).sum();
            // sum - d9 ≡ 0 (mod 11), with d9 a single digit.
            let check = sum % 11;
            (check < 10).then(|| format!("{}{check}", base / 10))
        })
        .nth(n as usize)
        .unwrap()
}

/// Every file under `dir`, recursively.
pub(crate) fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.path().is_dir() {
                out.extend(files(&e.path()));
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

/// Fails if any of `secrets` (a BSN, a name, a phone number) is in `bytes`, the content of
/// `place`.
pub(crate) fn assert_absent<S: AsRef<[u8]>>(secrets: &[S], bytes: &[u8], place: &str) {
    for secret in secrets {
        let secret = secret.as_ref();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret),
            "{} in {place}",
            String::from_utf8_lossy(secret)
        );
    }
}
