//! The daily sweep's care of `upload/`: temporary names nobody wrote for `temp_hours` go,
//! audited and named in a mail to the tenant; everything else stays.

use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::util::Env;

/// Sets the mtime of `path` (not following a symlink) to `hours` ago.
fn age(path: &Path, hours: u64) {
    use std::os::unix::ffi::OsStrExt;
    let then = SystemTime::now() - Duration::from_secs(hours * 3600);
    let secs = then
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let times = [libc::timespec {
        tv_sec: secs as libc::time_t,
        tv_nsec: 0,
    }; 2];
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path and two timespecs, for the duration of the call.
    let r = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
}

/// Writes `content` to `dir/name`, last written `hours` ago.
fn file(dir: &Path, name: &str, content: &str, hours: u64) {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(hours * 3600))
        .unwrap();
}

#[test]
fn stale_temporary_names_in_upload_are_removed_audited_and_mailed() {
    let env = Env::with_tenants();
    env.start().stop(); // the ledger and the folders
    let alpha = env.upload("alpha");
    file(&alpha, ".abandoned.csv", "dot-name", 25);
    file(&alpha, "week 12345678.csv.filepart", "winscp", 25);
    file(&alpha, "fresh.csv.part", "still coming", 23);
    file(&alpha, "real.csv", "a delivery", 25);
    // A symlink under a temp name, itself old, to an old file outside: neither is touched.
    let outside = env.dir.path().join("outside.csv.tmp");
    file(env.dir.path(), "outside.csv.tmp", "outside", 25);
    std::os::unix::fs::symlink(&outside, alpha.join(".link.tmp")).unwrap();
    age(&alpha.join(".link.tmp"), 25);
    std::fs::create_dir(alpha.join(".folder.part")).unwrap();
    age(&alpha.join(".folder.part"), 25);
    // A temp file a local producer still holds open for writing, idle for a day.
    file(&alpha, "held.csv.tmp", "half", 25);
    let held = std::fs::File::options()
        .append(true)
        .open(alpha.join("held.csv.tmp"))
        .unwrap();
    // beta has no contacts: removed and audited, but no mail.
    file(&env.upload("beta"), "b.tmp", "beta", 30);

    let out = env.cmd(&["sweep"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("; 3 temporary files removed from upload/"),
        "{stdout}"
    );
    let mut left: Vec<String> = std::fs::read_dir(&alpha)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            ".folder.part",
            ".link.tmp",
            "fresh.csv.part",
            "held.csv.tmp",
            "real.csv"
        ]
    );
    assert!(outside.exists());
    assert!(!env.upload("beta").join("b.tmp").exists());
    drop(held);

    let audit = env.texts(
        "SELECT tenant_id || ' ' || subject FROM audit
         WHERE action = 'upload.temp-removed' AND actor = 'retention' ORDER BY id",
        [],
    );
    // Names pass the one redaction: no run of eight digits in clear.
    assert_eq!(
        audit,
        [
            "alpha .abandoned.csv",
            "alpha week ******78.csv.filepart",
            "beta b.tmp"
        ]
    );
    assert_eq!(
        env.texts("SELECT tenant_id FROM mail WHERE kind = 'temp-removed'", []),
        ["alpha"]
    );

    // The daemon sends the queued mail as an .eml file.
    let daemon = env.start();
    let mail_dir = env.var().join("mail");
    let mut mail = String::new();
    daemon.wait_until("the mail about the removed files", || {
        mail = std::fs::read_dir(&mail_dir)
            .map(|d| {
                d.flatten()
                    .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                    .find(|m| m.contains("verwijderd uit upload/"))
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        !mail.is_empty()
    });
    daemon.stop();
    assert!(mail.contains("To: alpha@example.org"), "{mail}");
    assert!(
        mail.contains("Subject: 2 onvoltooid bestand(en) verwijderd uit upload/"),
        "{mail}"
    );
    assert!(mail.contains(".abandoned.csv  8 bytes"), "{mail}");
    assert!(
        mail.contains("week ******78.csv.filepart  6 bytes"),
        "{mail}"
    );
    assert!(
        !mail.contains("12345678") && !mail.contains("fresh.csv"),
        "{mail}"
    );

    // Closed by its writer, the held file goes at the next sweep; then nothing is left.
    let out = env.cmd(&["sweep"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("; 1 temporary files removed"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!alpha.join("held.csv.tmp").exists());
    let out = env.cmd(&["sweep"]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("temporary"));
}

/// A recorded file that vanished outside dropgate is still recorded as deleted when its
/// time comes, and the sweep says it was missing (instead of passing over it in silence).
#[test]
fn a_recorded_file_already_missing_is_reported_by_the_sweep() {
    let env = Env::with_tenants();
    assert!(env.cmd(&["keygen"]).status.success());
    env.start().stop(); // the ledger and the folders
    std::fs::write(env.upload("alpha").join("x.csv"), "not;a;dataset\n1;2;3\n").unwrap();
    let daemon = env.start();
    daemon.wait_until("intake", || env.count("alpha", "received") == 1);
    daemon.stop();
    assert!(env.cmd(&["process"]).status.success());
    let receipts = env.var().join("tenants/alpha/receipts");
    let mut pair = crate::util::files(&receipts);
    pair.sort();
    assert_eq!(pair.len(), 2, "{pair:?}");
    std::fs::remove_file(&pair[1]).unwrap();

    // Receipts keep 365 days by default, originals 90.
    let out = env.cmd_at("+366d", &["sweep"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("0 bundles, 1 originals, 1 receipts deleted")
            && stdout.contains("; 1 recorded files were already missing"),
        "{stdout}"
    );
    assert!(crate::util::files(&receipts).is_empty());
    assert_eq!(
        env.number("SELECT count(*) FROM audit WHERE action = 'receipt.deleted'"),
        1
    );
    // The next sweep has nothing left to say.
    let out = env.cmd_at("+367d", &["sweep"]);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("missing"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
