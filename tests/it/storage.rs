//! Storage faults: a ledger or state directory the daemon may not write, an unwritable
//! `staging/` and a store that refuses intake's writes at run time.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::ExitStatus;
use std::time::Instant;

use crate::util::{self, Daemon, Env, PATIENCE, TENANTS, key, public_key, sftp_batch};

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

/// Uploads each of `names` (`size` bytes, made in the test's folder) as `vendor`, in one
/// session that goes on past a failed upload.
fn put(env: &Env, addr: std::net::SocketAddr, names: &[&str], size: usize) -> util::ClientRun {
    let local = env.dir.path().join("local.bin");
    std::fs::write(&local, vec![b'x'; size]).unwrap();
    let commands: String = names
        .iter()
        .map(|n| format!("-put {} /alpha/upload/{n}\n", local.display()))
        .collect();
    sftp_batch(addr, "vendor", &key(env, "romvendor"), &commands)
}

fn lines_with(log: &str, needle: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}

#[test]
fn an_unwritable_staging_folder_fails_each_upload_at_the_client_and_is_logged_per_upload() {
    let env = env();
    let mut daemon = env.spawn_bound_by_modes();
    daemon.wait_for_notify("READY=1");
    let addr = daemon.sftp_addr();
    let staging = env.var().join("staging");
    chmod(&staging, 0o500);

    let names: Vec<String> = (0..3).map(|i| format!("a{i}.csv")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let run = put(&env, addr, &names, 1000);
    assert!(
        run.output.matches("Failure").count() >= 3,
        "each put fails at the client: {}",
        run.output
    );
    daemon.wait_until("a line per upload", || {
        lines_with(&daemon.log(), "upload not stored").len() == 3
    });
    for (line, name) in lines_with(&daemon.log(), "upload not stored")
        .iter()
        .zip(&names)
    {
        assert!(line.contains("permission denied"), "{line}");
        assert!(
            line.contains(&format!("path={}", staging.display())),
            "{line}"
        );
        assert!(line.contains(&format!("file={name}")), "{line}");
        assert!(line.contains("user=\"vendor\""), "{line}");
    }

    // A client that tries again and again: the log takes a bounded number of lines a
    // minute, and the next line says how many it left out.
    let many: Vec<String> = (0..25).map(|i| format!("b{i}.csv")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    put(&env, addr, &many, 10);
    daemon.wait_until("the minute's lines", || {
        lines_with(&daemon.log(), "upload not stored").len() >= 20
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        lines_with(&daemon.log(), "upload not stored").len(),
        20,
        "at most 20 lines a minute"
    );

    assert!(
        util::files(&env.upload("alpha")).is_empty(),
        "nothing was delivered"
    );
    chmod(&staging, 0o750);
    let run = put(&env, addr, &["c.csv"], 1000);
    assert!(run.ok, "{}", run.output);
    daemon.wait_until("the upload recorded", || {
        env.count("alpha", "received") == 1
    });
    daemon.stop();
}

#[test]
fn intake_held_up_by_an_unwritable_archive_goes_on_by_itself_once_it_can_write() {
    let env = env();
    let mut daemon = env.spawn_bound_by_modes();
    daemon.wait_for_notify("READY=1");
    let addr = daemon.sftp_addr();
    assert!(put(&env, addr, &["a.csv"], 100).ok);
    daemon.wait_until("a.csv recorded", || env.count("alpha", "received") == 1);
    let archive = env.var().join("archive");
    chmod(&archive, 0o500);

    // A new version sets the old one aside; intake records it as withdrawn but cannot move
    // it to archive/: it waits, and the daemon goes on serving.
    assert!(put(&env, addr, &["a.csv"], 200).ok);
    daemon.wait_for_log("intake is held up: permission denied");
    assert!(
        daemon.log().contains("cannot move"),
        "the path is named: {}",
        daemon.log()
    );
    assert!(daemon.child.try_wait().unwrap().is_none(), "still running");
    assert!(put(&env, addr, &["b.csv"], 300).ok, "uploads go on");

    chmod(&archive, 0o750);
    daemon.wait_until("everything taken in", || {
        env.count("alpha", "withdrawn") == 1 && env.count("alpha", "received") == 2
    });
    daemon.wait_for_log("intake goes on");
    assert_eq!(util::files(&archive).len(), 1, "the old version is kept");
    assert!(
        util::files(&env.var().join("staging/withdrawn")).is_empty(),
        "nothing left aside"
    );
    let log = daemon.stop();
    assert_eq!(log.matches("intake is held up").count(), 1, "{log}");
}
