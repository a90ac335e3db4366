//! Revocation by reload (issue 17, item 2): SIGHUP with a user, a grant or a tenant taken
//! out ends the open OpenSSH `sftp` sessions that relied on it, and only those.

use std::io::Write;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};

use crate::util::{Daemon, Env, TENANTS, key, public_key, ssh_options, wait_until};

/// An `sftp -b -` session held open: the test writes its commands as it goes.
pub(crate) struct Held {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Held {
    pub(crate) fn open(env: &Env, daemon: &Daemon, user: &str, key_name: &str) -> Self {
        Self::open_with(daemon, user, &key(env, key_name))
    }

    /// A session of `user`, logged in with the private key at `key`.
    pub(crate) fn open_with(daemon: &Daemon, user: &str, key: &Path) -> Self {
        let addr = daemon.sftp_addr();
        let mut cmd = Command::new("sftp");
        ssh_options(&mut cmd, Some(key));
        cmd.args(["-b", "-", "-P", &addr.port().to_string()])
            .arg(format!("{user}@{}", addr.ip()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let logins = || {
            let log = daemon.log();
            let user = format!("user=\"{user}\"");
            log.lines()
                .filter(|l| l.contains(" login ") || l.contains(": login"))
                .filter(|l| l.contains(&user))
                .count()
        };
        let before = logins();
        let mut child = cmd.spawn().expect("sftp installed by .ci/run");
        let stdin = child.stdin.take();
        let mut held = Self { child, stdin };
        held.send("pwd");
        daemon.wait_until("the login", || logins() > before);
        held
    }

    /// Sends one command; a session already ended may refuse it (a broken pipe).
    pub(crate) fn send(&mut self, command: &str) {
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = writeln!(stdin, "{command}");
            let _ = stdin.flush();
        }
    }

    /// Ends the input and waits: whether every command succeeded, and what was said.
    pub(crate) fn finish(mut self) -> (bool, String) {
        drop(self.stdin.take());
        let out = self.child.wait_with_output().unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), said)
    }
}

fn user(name: &str, key_name: &str, grants: &[&str]) -> String {
    let mut s = format!(
        "[[user]]\nname = \"{name}\"\npublic_keys = [\"{}\"]\n",
        public_key(key_name)
    );
    for tenant in grants {
        s += &format!("[[user.grant]]\ntenant = \"{tenant}\"\nroles = [\"deliver\"]\n");
    }
    s
}

fn revoked(env: &Env) -> Vec<String> {
    env.texts(
        "SELECT actor || ': ' || (detail ->> 'reason') FROM audit WHERE action = 'sftp.session-revoked'",
        [],
    )
}

#[test]
fn a_reload_without_a_user_ends_its_open_session_and_no_other() {
    let sample = Path::new(crate::util::SAMPLES).join("metingen-good.csv");
    let users = |with_vendor: bool| {
        let vendor = user("vendor", "romvendor", &["alpha", "beta"]);
        let alice = user("alice", "linde", &["alpha"]);
        let third = user("third", "gemeente-utrecht", &["beta"]);
        match with_vendor {
            true => format!("{vendor}{alice}{third}"),
            false => format!("{alice}{third}"),
        }
    };
    let env = Env::new(&format!("{TENANTS}{}", users(true)));
    let daemon = env.start();
    let mut vendor = Held::open(&env, &daemon, "vendor", "romvendor");
    let mut alice = Held::open(&env, &daemon, "alice", "linde");

    env.write_config(&format!("{TENANTS}{}", users(false)));
    daemon.signal(libc::SIGHUP);
    daemon.wait_for_log("session ended: access withdrawn");
    vendor.send(&format!("put {} alpha/upload/late.csv", sample.display()));
    let (ok, said) = vendor.finish();
    assert!(!ok, "{said}");
    // The audit row is written by the audit thread, a moment after the log line.
    wait_until("the revocation audited", || !revoked(&env).is_empty());
    assert_eq!(revoked(&env), ["sftp:vendor: user removed"]);

    // Alice's session goes on, with its upload.
    alice.send(&format!("put {} upload/on-time.csv", sample.display()));
    let (ok, said) = alice.finish();
    assert!(ok, "{said}");
    daemon.wait_until("alice's upload recorded", || {
        env.count("alpha", "received") == 1
    });
    assert!(!env.upload("alpha").join("late.csv").exists());
    daemon.stop();
}

#[test]
fn a_reload_without_a_tenant_ends_the_sessions_acting_for_it() {
    let alpha_tenants: String = TENANTS
        .split("[[tenant]]")
        .filter(|t| !t.contains("\"beta\""))
        .collect::<Vec<_>>()
        .join("[[tenant]]");
    let env = Env::new(&format!(
        "{TENANTS}{}{}",
        user("vendor", "romvendor", &["alpha", "beta"]),
        user("alice", "linde", &["alpha"])
    ));
    let daemon = env.start();
    let vendor = Held::open(&env, &daemon, "vendor", "romvendor");
    let alice = Held::open(&env, &daemon, "alice", "linde");

    // beta and the vendor's grant to it go; the vendor stays, for alpha.
    env.write_config(&format!(
        "{alpha_tenants}{}{}",
        user("vendor", "romvendor", &["alpha"]),
        user("alice", "linde", &["alpha"])
    ));
    daemon.signal(libc::SIGHUP);
    daemon.wait_for_log("configuration reloaded");
    wait_until("the vendor's session ended", || !revoked(&env).is_empty());
    assert_eq!(revoked(&env), ["sftp:vendor: tenant beta removed"]);
    // The client is told why.
    let (_, said) = vendor.finish();
    assert!(
        said.contains("access withdrawn: tenant beta removed"),
        "{said}"
    );
    let (ok, said) = alice.finish();
    assert!(ok, "{said}");
    daemon.stop();
}
