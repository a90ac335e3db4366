//! Storage faults: a ledger or state directory the daemon may not write.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::ExitStatus;
use std::time::Instant;

use crate::util::{Daemon, Env, PATIENCE, TENANTS, public_key};

/// `vendor` delivers for alpha; `town` collects for town.
fn env() -> Env {
    Env::new(&format!(
        "{TENANTS}
[[user]]
name = \"vendor\"
public_keys = [\"{}\"]
[[user.grant]]
tenant = \"alpha\"
roles = [\"deliver\"]

[[user]]
name = \"town\"
public_keys = [\"{}\"]
[[user.grant]]
tenant = \"town\"
roles = [\"collect\"]
",
        public_key("romvendor"),
        public_key("gemeente-utrecht"),
    ))
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Waits for a daemon that must not start to exit, and returns how it exited.
fn exit_of(daemon: &mut Daemon) -> ExitStatus {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = daemon.child.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon did not exit; log:\n{}",
            daemon.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Asserts that the daemon refused to start, saying `said`, and never told systemd it was
/// ready nor logged that it runs.
fn assert_refused_start(env: &Env, said: &[&str]) {
    let mut daemon = env.spawn_bound_by_modes();
    let status = exit_of(&mut daemon);
    let log = daemon.log();
    assert!(!status.success(), "the daemon started; log:\n{log}");
    for needle in said {
        assert!(log.contains(needle), "{needle:?} not said; log:\n{log}");
    }
    assert!(
        !daemon.notes().iter().any(|n| n.contains("READY=1")),
        "READY reported; log:\n{log}"
    );
    assert!(!log.contains("dropgate running"), "{log}");
}

#[test]
fn a_read_only_ledger_or_state_directory_stops_the_start_naming_path_and_permission() {
    let env = env();
    env.start().stop();
    let ledger = env.var().join("dropgate.sqlite");
    chmod(&ledger, 0o444);
    assert_refused_start(
        &env,
        &[
            &format!("{}: dropgate may not write it (mode 0444", ledger.display()),
            "refusing to start",
        ],
    );
    chmod(&ledger, 0o640);

    chmod(&env.var(), 0o550);
    let shown = env.var().display().to_string();
    assert_refused_start(
        &env,
        &[&format!(
            "{shown}: dropgate may not create files in it (mode 0550"
        )],
    );
    chmod(&env.var(), 0o750);

    // Every folder that lacks something is named, in one go.
    let outbox = env.var().join("tenants/town/outbox");
    let staging = env.var().join("staging");
    chmod(&outbox, 0o500);
    chmod(&staging, 0o000);
    assert_refused_start(
        &env,
        &[
            &format!("{}: dropgate may not create files in it", outbox.display()),
            &format!(
                "{}: dropgate may not list or create files in or enter it (mode 0000",
                staging.display()
            ),
        ],
    );
    chmod(&outbox, 0o750);
    chmod(&staging, 0o750);
    env.start().stop();
}
