//! Storage faults: a ledger or state directory the daemon may not write, an unwritable
//! `staging/` at run time, and a full disk (a small tmpfs) at start and at run time.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
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

/// A tmpfs mounted on a folder for a test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` on `dir`, owned by this process's user: as root, or through
    /// `sudo -n`. Says why not if neither may mount.
    fn mount(dir: &Path, size: &str) -> Result<Self, String> {
        // SAFETY: getuid and getgid cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let options = format!("size={size},mode=0750,uid={uid},gid={gid}");
        let mut tried = Vec::new();
        for sudo in [false, true] {
            if sudo && uid == 0 {
                continue;
            }
            let mut cmd = Command::new(if sudo { "sudo" } else { "mount" });
            if sudo {
                cmd.args(["-n", "mount"]);
            }
            let out = cmd
                .args(["-t", "tmpfs", "-o", &options, "tmpfs"])
                .arg(dir)
                .output();
            match out {
                Ok(out) if out.status.success() => return Ok(Self(dir.to_owned())),
                Ok(out) => tried.push(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
                Err(e) => tried.push(e.to_string()),
            }
        }
        Err(tried.join("; "))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily: a daemon killed by a failed assertion may still hold files in it.
        let root = unsafe { libc::getuid() } == 0;
        let mut cmd = Command::new(if root { "umount" } else { "sudo" });
        if !root {
            cmd.args(["-n", "umount"]);
        }
        let _ = cmd.arg("-l").arg(&self.0).status();
    }
}

/// Writes a file at `path` until the file system is full.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).unwrap();
    for chunk in [64 * 1024, 4096, 1] {
        let block = vec![0u8; chunk];
        loop {
            match file.write(&block) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
                    break;
                }
            }
        }
    }
    let _ = file.sync_all();
}

/// Empties the ledger's write-ahead log (keeping the file, as the daemon does): the next
/// write then needs new room on the disk. The daemon leaves the log as long as it grew,
/// which would otherwise take a few writes on a full disk.
fn empty_wal(env: &Env) {
    let conn = rusqlite::Connection::open(env.var().join("dropgate.sqlite")).unwrap();
    conn.file_control(
        Some(rusqlite::MAIN_DB),
        rusqlite::FileControl::PersistWal(&mut 1),
    )
    .unwrap();
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
}

#[test]
fn on_a_full_disk_the_daemon_starts_refuses_uploads_serves_downloads_and_recovers() {
    let env = env();
    // The host keys Env made ahead, put back over the mount.
    let host_keys: Vec<(PathBuf, Vec<u8>)> = util::files(&env.var())
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    let _tmpfs = match Tmpfs::mount(&env.var(), "8m") {
        Ok(mount) => mount,
        Err(why) => {
            eprintln!(
                "SKIPPED on_a_full_disk_the_daemon_starts_refuses_uploads_serves_downloads_and_recovers: \
                 mounting a tmpfs is not permitted here ({why}); run the tests as root or with \
                 passwordless sudo to run it"
            );
            return;
        }
    };
    for (path, bytes) in &host_keys {
        std::fs::write(path, bytes).unwrap();
        chmod(path, 0o600);
    }
    env.start().stop();
    let bundle = env
        .var()
        .join("tenants/town/outbox/Bundel-town-20260101000000.zip");
    std::fs::write(&bundle, b"a bundle to collect").unwrap();
    util::drop_file(&env.upload("alpha"), "waiting.csv", b"a;b\n1;2\n");
    // A weekly run last made 8 days ago: the start catches up on it, on the full disk.
    env.published_days_ago(8);
    empty_wal(&env);
    let filler = env.var().join("filler");
    fill(&filler);

    // It starts, and says the disk is full and what that means.
    let daemon = env.start();
    let addr = daemon.sftp_addr();
    daemon.wait_for_log("intake is held up: the disk is full");
    let log = daemon.log();
    assert!(
        log.contains("the disk under the state directory is full"),
        "{log}"
    );
    assert!(
        daemon
            .notes()
            .iter()
            .any(|n| n.contains("the disk is full")),
        "STATUS says so: {:?}",
        daemon.notes()
    );
    assert_eq!(env.count("alpha", "received"), 0);

    // An upload fails at the client, and leaves nothing: no file in upload/, no staging file.
    let run = put(&env, addr, &["new.csv"], 200_000);
    assert!(run.output.contains("Failure"), "{}", run.output);
    daemon.wait_for_log("upload not stored: the disk is full");
    assert!(!env.upload("alpha").join("new.csv").exists());
    assert!(
        std::fs::read_dir(env.var().join("staging"))
            .unwrap()
            .flatten()
            .all(|e| e.file_type().unwrap().is_dir()),
        "no staging file left"
    );

    // Downloads go on.
    let local = env.dir.path().join("collected.zip");
    let run = sftp_batch(
        addr,
        "town",
        &key(&env, "gemeente-utrecht"),
        &format!(
            "get /town/outbox/Bundel-town-20260101000000.zip {}\n",
            local.display()
        ),
    );
    assert!(run.ok, "{}", run.output);
    assert_eq!(std::fs::read(&local).unwrap(), b"a bundle to collect");

    // Room again: the waiting file is recorded without a restart, and uploads work.
    std::fs::remove_file(&filler).unwrap();
    daemon.wait_until("the waiting file recorded", || {
        env.count("alpha", "received") == 1
    });
    daemon.wait_for_log("intake goes on");
    let run = put(&env, addr, &["new.csv"], 200_000);
    assert!(run.ok, "{}", run.output);
    daemon.wait_until("the new upload recorded", || {
        env.count("alpha", "received") == 2
    });
    let log = daemon.stop();
    assert_eq!(
        log.matches("intake is held up").count(),
        1,
        "said once per streak: {log}"
    );
    // The caught-up run failed and could not record itself; it is not run again and again.
    let publish_runs = |what: &str| {
        log.lines()
            .filter(|l| l.contains(what) && l.contains("job=\"publish\""))
            .count()
    };
    assert_eq!(publish_runs("job could not record itself"), 1, "{log}");
    assert_eq!(publish_runs("a run was missed"), 1, "{log}");
    assert_eq!(
        env.texts("SELECT file_name FROM delivery ORDER BY file_name", []),
        ["new.csv", "waiting.csv"]
    );
}
