//! Backup and restore (issue 16): a consistent copy of a running installation, restored on
//! another; tampered copies refused; keys checked against the ledger; a copy before each
//! migration; the nightly job's rotation.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::util::{Env, SAMPLES, key, public_key, sftp_batch, wait_until};

/// A supplier `zorg` with a contact and an SFTP user, a municipality `utrecht`, and mail to
/// a relay that never answers: result mails stay queued.
fn config() -> String {
    format!(
        "[mail]\ntransport = \"smtp\"\nretry_secs = [3600]\n[mail.smtp]\nhost = \"127.0.0.1\"\nport = 9\nsecurity = \"plain\"\n\
         [[tenant]]\nid = \"zorg\"\nkind = \"supplier\"\ncode = \"87654321\"\nname = \"Zorg\"\ncontacts = [\"zorg@example.org\"]\n\
         [[tenant]]\nid = \"utrecht\"\nkind = \"municipality\"\ncode = \"0344\"\nname = \"Utrecht\"\n\
         [[user]]\nname = \"linde\"\npublic_keys = [\"{}\"]\n[[user.grant]]\ntenant = \"zorg\"\nroles = [\"deliver\"]\n",
        public_key("linde")
    )
}

/// An installation with a TTP key, one processed delivery (pseudonyms, a queued mail) and
/// a published bundle (the municipality's key).
fn installation() -> Env {
    let env = Env::new(&config());
    assert!(env.cmd(&["keygen"]).status.success());
    env.start().stop();
    let content = std::fs::read(Path::new(SAMPLES).join("metingen-good.csv")).unwrap();
    crate::publish::deliver_all_at(&env, "+0s", &[("zorg", "metingen.csv", &content)]);
    assert!(env.cmd(&["publish", "--now"]).status.success());
    env
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn failed(out: &std::process::Output) -> String {
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The first column of `sql` on the ledger file `path`.
fn texts(path: &Path, sql: &str) -> Vec<String> {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    stmt.query_map([], |r| r.get::<_, rusqlite::types::Value>(0))
        .unwrap()
        .map(|v| format!("{:?}", v.unwrap()))
        .collect()
}

#[test]
fn a_backup_of_a_running_daemon_under_uploads_restores_to_what_it_held() {
    let env = installation();
    let daemon = env.start();
    let addr = daemon.sftp_addr();
    let linde = key(&env, "linde");
    let before = env.status()["deliveries"]["total"].as_u64().unwrap();
    // Uploads go on in a loop, each a new file, while the backup is made.
    let stop = Arc::new(AtomicBool::new(false));
    let uploader = {
        let (stop, dir) = (stop.clone(), env.dir.path().to_owned());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let file = dir.join(format!("upload-{n}.csv"));
                let text = std::fs::read_to_string(Path::new(SAMPLES).join("metingen-good.csv"))
                    .unwrap()
                    .replace("M-1;", &format!("M-1-{n};"));
                std::fs::write(&file, text).unwrap();
                let run = sftp_batch(
                    addr,
                    "linde",
                    &linde,
                    &format!("put {} /zorg/upload/upload-{n}.csv\n", file.display()),
                );
                assert!(run.ok, "{}", run.output);
                n += 1;
            }
            n
        })
    };
    daemon.wait_until("uploads recorded", || {
        env.status()["deliveries"]["total"].as_u64().unwrap() >= before + 2
    });
    let to = env.dir.path().join("backup");
    let printed = ok(&env.cmd(&["backup", "--to", to.to_str().unwrap()]));
    for name in [
        "dropgate.sqlite",
        "keys/ttp.key",
        "keys/municipality-utrecht.key",
        "keys/ssh_host_ed25519_key",
        "dropgate.toml",
    ] {
        assert!(printed.contains(name), "{name} not in:\n{printed}");
    }
    wait_until("more uploads after the backup", || {
        env.status()["deliveries"]["total"].as_u64().unwrap() >= before + 4
    });
    stop.store(true, Ordering::Relaxed);
    let uploads = uploader.join().unwrap();
    assert!(uploads >= 4);
    daemon.stop();

    // What the backup holds: one consistent snapshot, between what was there before the
    // backup and what arrived after it.
    let copy = to.join("dropgate.sqlite");
    assert_eq!(texts(&copy, "PRAGMA integrity_check"), ["Text(\"ok\")"]);
    let held = texts(&copy, "SELECT count(*) FROM delivery")[0].clone();
    let held: u64 = held
        .trim_start_matches("Integer(")
        .trim_end_matches(')')
        .parse()
        .unwrap();
    let total = env.status()["deliveries"]["total"].as_u64().unwrap();
    assert!(
        held >= before + 2 && held < total,
        "{before} <= {held} < {total}"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&to).unwrap().permissions().mode() & 0o777,
        0o700
    );
    for file in crate::util::files(&to) {
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600,
            "{}",
            file.display()
        );
    }

    // Restored on a new machine: its own configuration, state directory and port.
    let new = Env::bare(&config());
    let restored = ok(&new.cmd(&["restore", "--from", to.to_str().unwrap()]));
    assert!(restored.contains("dropgate.toml.restored"), "{restored}");
    assert_eq!(
        std::fs::read(new.dir.path().join("dropgate.toml.restored")).unwrap(),
        std::fs::read(env.config()).unwrap()
    );
    let daemon = new.start();
    assert_ne!(daemon.sftp_addr(), addr);
    let backup_status: serde_json::Value = serde_json::from_slice(
        &ok(&new.cmd(&["status", "--json", "--state-dir", to.to_str().unwrap()])).into_bytes(),
    )
    .unwrap();
    assert_eq!(new.status()["deliveries"], backup_status["deliveries"]);
    assert_eq!(new.status()["deliveries"]["total"].as_u64(), Some(held));
    let ledger = new.var().join("dropgate.sqlite");
    for sql in [
        "SELECT pseudonym FROM measurement ORDER BY pseudonym",
        "SELECT count(*) FROM mail WHERE state = 'queued'",
        "SELECT name || ' ' || fingerprint FROM key_fingerprint ORDER BY name",
    ] {
        assert_eq!(texts(&ledger, sql), texts(&copy, sql), "{sql}");
    }
    assert!(new.number("SELECT count(*) FROM mail WHERE state = 'queued'") > 0);
    assert!(!texts(&ledger, "SELECT pseudonym FROM measurement").is_empty());
    // The same keys: the same pseudonyms and the same hashes in the municipality's bundles.
    for key in ["ttp.key", "municipality-utrecht.key"] {
        let (a, b) = (env.var().join(key), new.var().join(key));
        assert_eq!(
            std::fs::read(&a).unwrap(),
            std::fs::read(&b).unwrap(),
            "{key}"
        );
        assert_eq!(
            dropgate::pseudonym::Keyed::load(&a).unwrap().hash(b"M-1"),
            dropgate::pseudonym::Keyed::load(&b).unwrap().hash(b"M-1")
        );
    }
    daemon.stop();
}

/// A backup of a stopped installation, in `env`'s folder.
fn backup_of(env: &Env) -> PathBuf {
    let to = env.dir.path().join("backup");
    ok(&env.cmd(&["backup", "--to", to.to_str().unwrap()]));
    to
}

#[test]
fn restore_refuses_a_tampered_copy_and_a_state_dir_in_use() {
    let env = Env::new(&config());
    assert!(env.cmd(&["keygen"]).status.success());
    env.start().stop();
    let to = backup_of(&env);
    // Into a folder that is not empty: refused.
    let err = failed(&env.cmd(&["backup", "--to", to.to_str().unwrap()]));
    assert!(err.contains("is not empty"), "{err}");

    let key = to.join("keys/ttp.key");
    let original = std::fs::read(&key).unwrap();
    let mut changed = original.clone();
    changed[7] ^= 1;
    std::fs::write(&key, &changed).unwrap();
    let new = Env::bare(&config());
    let err = failed(&new.cmd(&["restore", "--from", to.to_str().unwrap()]));
    assert!(err.contains(&key.display().to_string()), "{err}");
    assert!(err.contains("does not match the MANIFEST"), "{err}");
    assert!(!new.var().join("dropgate.sqlite").exists());
    std::fs::write(&key, &original).unwrap();

    // A copy without its MANIFEST never finished.
    let manifest = std::fs::read(to.join("MANIFEST")).unwrap();
    std::fs::remove_file(to.join("MANIFEST")).unwrap();
    let err = failed(&new.cmd(&["restore", "--from", to.to_str().unwrap()]));
    assert!(err.contains("has no MANIFEST"), "{err}");
    std::fs::write(to.join("MANIFEST"), &manifest).unwrap();

    // A MANIFEST that names a key's place itself (`..` in a municipality's id), or a key
    // twice, is refused before anything is written.
    let evil_sum = {
        std::fs::write(to.join("evil"), b"not a key").unwrap();
        let mut file = std::fs::File::open(to.join("evil")).unwrap();
        use sha2::Digest;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut bytes).unwrap();
        hex::encode(sha2::Sha256::digest(&bytes))
    };
    let outside = new.dir.path().join("outside");
    for extra in [
        format!("{evil_sum} 9 evil\nkey municipality:../../../outside/pwned {evil_sum} evil\n"),
        format!("{evil_sum} 9 evil\nkey ttp {evil_sum} evil\n"),
    ] {
        let mut text = String::from_utf8(manifest.clone()).unwrap();
        text.push_str(&extra);
        std::fs::write(to.join("MANIFEST"), text).unwrap();
        let err = failed(&new.cmd(&["restore", "--from", to.to_str().unwrap()]));
        assert!(
            err.contains("MANIFEST") || err.contains("does not know where"),
            "{err}"
        );
        assert!(!outside.exists());
        assert!(!new.var().join("dropgate.sqlite").exists());
    }
    std::fs::write(to.join("MANIFEST"), &manifest).unwrap();
    std::fs::remove_file(to.join("evil")).unwrap();

    // A state directory in use (here: host keys made ahead) needs --force, which sets the
    // whole directory aside first; never while a daemon runs on it.
    let busy = Env::new(&config());
    let err = failed(&busy.cmd(&["restore", "--from", to.to_str().unwrap()]));
    assert!(err.contains(&busy.var().display().to_string()), "{err}");
    assert!(err.contains("not empty"), "{err}");
    let running = busy.start();
    let err = failed(&busy.cmd(&["restore", "--from", to.to_str().unwrap(), "--force"]));
    assert!(
        err.contains("a dropgate daemon runs on this state directory"),
        "{err}"
    );
    running.stop();
    ok(&busy.cmd(&["restore", "--from", to.to_str().unwrap(), "--force"]));
    assert_eq!(std::fs::read(busy.var().join("ttp.key")).unwrap(), original);
    let aside: Vec<String> = std::fs::read_dir(busy.dir.path())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("var.before-restore-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    busy.start().stop();
}

#[test]
fn a_different_ttp_key_stops_the_daemon_and_process() {
    let env = Env::new(&config());
    assert!(env.cmd(&["keygen"]).status.success());
    env.start().stop();
    let key = env.var().join("ttp.key");
    std::fs::remove_file(&key).unwrap();
    assert!(env.cmd(&["keygen"]).status.success());

    let mut daemon = env.spawn(&[]);
    let status = daemon.child.wait().unwrap();
    assert!(!status.success());
    let log = daemon.log();
    let said = format!(
        "the TTP key {} is not the one this ledger was built with",
        key.display()
    );
    wait_until("the refusal in the log", || daemon.log().contains(&said));
    assert!(
        log.contains("restore the right key from a backup")
            || daemon.log().contains("restore the right key")
    );

    let err = failed(&env.cmd(&["process"]));
    assert!(err.contains(&said), "{err}");
}

#[test]
fn an_older_ledger_is_copied_into_backups_before_it_is_migrated() {
    let env = Env::new(&config());
    env.start().stop();
    let ledger = env.var().join("dropgate.sqlite");
    let latest = dropgate::ledger::SCHEMA_VERSION;
    {
        // The schema of one version back: the last migration (20) only added these
        // two indexes; a new migration must undo its own here instead.
        let conn = rusqlite::Connection::open(&ledger).unwrap();
        conn.execute_batch("DROP INDEX bundle_unplaced; DROP INDEX decision_provider;")
            .unwrap();
        conn.pragma_update(None, "user_version", latest - 1)
            .unwrap();
    }
    let out = env.cmd(&["sweep"]);
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("ledger copied before migrating"));
    let backups = crate::util::files(&env.var().join("backups"));
    assert_eq!(backups.len(), 1, "{backups:?}");
    let name = backups[0].file_name().unwrap().to_str().unwrap().to_owned();
    assert!(
        name.starts_with(&format!("dropgate-v{}-", latest - 1)),
        "{name}"
    );
    assert_eq!(
        texts(&backups[0], "PRAGMA user_version"),
        [format!("Integer({})", latest - 1)]
    );
    assert_eq!(env.number("PRAGMA user_version"), i64::from(latest));
    ok(&env.cmd(&["sweep"]));
    assert_eq!(crate::util::files(&env.var().join("backups")).len(), 1);

    // A ledger from a newer dropgate is refused, saying which versions.
    rusqlite::Connection::open(&ledger)
        .unwrap()
        .pragma_update(None, "user_version", latest + 3)
        .unwrap();
    let err = failed(&env.cmd(&["sweep"]));
    assert!(
        err.contains(&format!("schema version {}", latest + 3)),
        "{err}"
    );
    assert!(err.contains(&format!("up to {latest}")), "{err}");
    assert!(err.contains("newer dropgate"), "{err}");
}

#[test]
fn the_nightly_backup_keeps_the_newest_two() {
    use chrono::TimeZone;
    let env = Env::new(&format!(
        "{}[backup]\ndir = \"nightly\"\nat = \"02:30\"\nkeep = 2\n",
        config()
    ));
    assert!(env.cmd(&["keygen"]).status.success());
    let tz = chrono_tz::Europe::Amsterdam;
    let today = chrono::Utc::now().with_timezone(&tz).date_naive();
    let nightly = env.dir.path().join("nightly");
    let finished = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&nightly)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.path().join("MANIFEST").exists())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    let mut made = Vec::new();
    for night in 1..=3 {
        let at = tz
            .from_local_datetime(
                &(today + chrono::Duration::days(night))
                    .and_hms_opt(2, 30, 0)
                    .unwrap(),
            )
            .unwrap()
            .with_timezone(&chrono::Utc);
        let daemon = env.start_at(&crate::util::offset_to(at - chrono::Duration::seconds(2)));
        daemon.wait_until("the nightly backup", || {
            finished().iter().any(|n| !made.contains(n))
        });
        daemon.wait_for_log("job done");
        let new = finished().into_iter().find(|n| !made.contains(n)).unwrap();
        made.push(new);
        daemon.stop();
    }
    assert_eq!(made.len(), 3);
    assert_eq!(finished(), made[1..].to_vec());
    assert_eq!(std::fs::read_dir(&nightly).unwrap().count(), 2);
}

/// The files `config_with_files` names, relative to the configuration's folder, and what
/// they hold. Two share a base name; one lies in a folder with a space.
fn named_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "secrets/smtp-password",
            b"s3cret, not in the config\n".to_vec(),
        ),
        (
            "secrets/relay-ca.pem",
            b"-----BEGIN CERTIFICATE-----\nnot used by a plain relay\n-----END CERTIFICATE-----\n"
                .to_vec(),
        ),
        (
            "keys/id.pub",
            format!("{}\n", public_key("linde")).into_bytes(),
        ),
        (
            "old keys/id.pub",
            format!("# the old laptop\n{}\n", public_key("romvendor")).into_bytes(),
        ),
    ]
}

/// `config()`'s installation with its SMTP password and CA and its user's keys in files
/// beside the configuration (`named_files`); with `smtp` false, mail goes to files and the
/// configuration names only the key files.
fn config_with_files(smtp: bool) -> String {
    let mail = if smtp {
        "[mail]\ntransport = \"smtp\"\nretry_secs = [3600]\n[mail.smtp]\nhost = \"127.0.0.1\"\nport = 9\nsecurity = \"plain\"\n\
         username = \"dropgate\"\npassword_file = \"secrets/smtp-password\"\nca_file = \"secrets/relay-ca.pem\"\n"
    } else {
        ""
    };
    format!(
        "{mail}[[tenant]]\nid = \"zorg\"\nkind = \"supplier\"\ncode = \"87654321\"\nname = \"Zorg\"\n\
         [[user]]\nname = \"linde\"\npublic_key_files = [\"keys/id.pub\", \"old keys/id.pub\"]\n\
         [[user.grant]]\ntenant = \"zorg\"\nroles = [\"deliver\"]\n"
    )
}

/// Writes `named_files` beside `env`'s configuration.
fn write_named_files(env: &Env) {
    for (name, bytes) in named_files() {
        let path = env.dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

/// An installation of `config_with_files(true)` with a TTP key and a ledger, backed up.
fn backed_up_with_files() -> (Env, PathBuf) {
    let env = Env::new(&config_with_files(true));
    write_named_files(&env);
    assert!(env.cmd(&["keygen"]).status.success());
    env.start().stop();
    let to = backup_of(&env);
    (env, to)
}

/// The file in backup `to` that the MANIFEST lists for `setting`.
fn copy_of(to: &Path, setting: &str) -> PathBuf {
    let manifest = std::fs::read_to_string(to.join("MANIFEST")).unwrap();
    let line = manifest
        .lines()
        .find(|l| l.starts_with(&format!("named {setting} ")))
        .unwrap_or_else(|| panic!("{setting} not in:\n{manifest}"));
    to.join(line.split(' ').nth(3).unwrap())
}

#[test]
fn the_files_the_configuration_names_are_restored_where_a_new_machine_wants_them() {
    let (env, to) = backed_up_with_files();
    let manifest = std::fs::read_to_string(to.join("MANIFEST")).unwrap();
    let settings = [
        "mail.smtp.password_file",
        "mail.smtp.ca_file",
        "user[linde].public_key_files[0]",
        "user[linde].public_key_files[1]",
    ];
    for ((name, bytes), setting) in named_files().into_iter().zip(settings) {
        let copy = copy_of(&to, setting);
        assert!(copy.starts_with(to.join("files")), "{}", copy.display());
        assert_eq!(std::fs::read(&copy).unwrap(), bytes, "{name}");
        let original = std::fs::canonicalize(env.dir.path()).unwrap().join(name);
        assert!(
            manifest.contains(&format!(
                "{} {}\n",
                copy.strip_prefix(&to).unwrap().display(),
                original.display()
            )),
            "{name} and {} not in:\n{manifest}",
            original.display()
        );
    }
    assert_ne!(
        copy_of(&to, settings[2]),
        copy_of(&to, settings[3]),
        "two files named id.pub"
    );

    // A new machine with the same configuration, none of the files yet: check-config fails
    // until restore puts them where that configuration names them.
    let new = Env::bare(&config_with_files(true));
    let err = String::from_utf8_lossy(&new.cmd(&["check-config"]).stdout).into_owned();
    assert!(err.contains("keys/id.pub"), "{err}");
    let printed = ok(&new.cmd(&["restore", "--from", to.to_str().unwrap()]));
    let here = std::fs::canonicalize(new.dir.path()).unwrap();
    for ((name, bytes), setting) in named_files().into_iter().zip(settings) {
        let dest = here.join(name);
        assert_eq!(std::fs::read(&dest).unwrap(), bytes, "{name}");
        assert!(
            printed
                .lines()
                .any(|l| l.contains(&format!("-> {} (", dest.display()))
                    && l.contains(setting)
                    && l.contains("this machine's configuration")),
            "{name} not in:\n{printed}"
        );
    }
    ok(&new.cmd(&["check-config"]));
    new.start().stop();

    // A new machine whose configuration sends mail to files: the SMTP password and CA go
    // where the restored configuration names them, and it passes check-config there.
    let other = Env::bare(&config_with_files(false));
    for (name, bytes) in &named_files()[2..] {
        let path = other.dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    let printed = ok(&other.cmd(&["restore", "--from", to.to_str().unwrap()]));
    assert!(
        printed.contains("as the restored configuration names it"),
        "{printed}"
    );
    assert!(printed.contains("is already in place"), "{printed}");
    for (name, bytes) in named_files() {
        assert_eq!(
            std::fs::read(other.dir.path().join(name)).unwrap(),
            bytes,
            "{name}"
        );
    }
    let restored = other.dir.path().join("dropgate.toml.restored");
    ok(&Command::new(crate::util::BIN)
        .args(["check-config", "--config"])
        .arg(&restored)
        .output()
        .unwrap());
}

#[test]
fn a_named_file_tampered_with_missing_or_in_the_way_is_refused_by_name() {
    let (env, to) = backed_up_with_files();
    let new = Env::bare(&config_with_files(true));
    let nothing_written = || {
        assert!(!new.var().join("dropgate.sqlite").exists());
        for (name, _) in named_files() {
            assert!(!new.dir.path().join(name).exists(), "{name}");
        }
    };

    // Changed in the backup: refused, naming the copy and its setting.
    let copy = copy_of(&to, "mail.smtp.password_file");
    let original = std::fs::read(&copy).unwrap();
    std::fs::write(&copy, b"s3cret, changed\n").unwrap();
    let err = failed(&new.cmd(&["restore", "--from", to.to_str().unwrap()]));
    assert!(err.contains(&copy.display().to_string()), "{err}");
    assert!(err.contains("mail.smtp.password_file"), "{err}");
    assert!(err.contains("does not match the MANIFEST"), "{err}");
    nothing_written();
    std::fs::write(&copy, &original).unwrap();

    // A different file where one goes: refused without --force, set aside with it; an
    // identical one is left as it is.
    let in_the_way = new.dir.path().join("keys/id.pub");
    std::fs::create_dir_all(in_the_way.parent().unwrap()).unwrap();
    std::fs::write(&in_the_way, format!("{}\n", public_key("rsa-user"))).unwrap();
    let err = failed(&new.cmd(&["restore", "--from", to.to_str().unwrap()]));
    assert!(err.contains("keys/id.pub: exists and differs"), "{err}");
    assert!(!new.var().join("dropgate.sqlite").exists());
    assert!(!new.dir.path().join("secrets").exists());
    let printed = ok(&new.cmd(&["restore", "--from", to.to_str().unwrap(), "--force"]));
    assert!(printed.contains("keys/id.pub set aside as"), "{printed}");
    let aside: Vec<PathBuf> = crate::util::files(&new.dir.path().join("keys"))
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("id.pub.before-restore-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(
        std::fs::read_to_string(&aside[0]).unwrap(),
        format!("{}\n", public_key("rsa-user"))
    );
    for (name, bytes) in named_files() {
        assert_eq!(std::fs::read(new.dir.path().join(name)).unwrap(), bytes);
    }
    ok(&new.cmd(&["check-config"]));

    // Missing when the backup is made: no backup, and the file named.
    let ca = env.dir.path().join("secrets/relay-ca.pem");
    std::fs::remove_file(&ca).unwrap();
    let again = env.dir.path().join("again");
    let err = failed(&env.cmd(&["backup", "--to", again.to_str().unwrap()]));
    assert!(err.contains("relay-ca.pem"), "{err}");
    assert!(err.contains("mail.smtp.ca_file"), "{err}");
    assert!(!again.join("MANIFEST").exists());
}

#[test]
fn a_backup_from_before_named_files_still_restores() {
    let (_env, to) = backed_up_with_files();
    // What an older dropgate wrote: no `files/`, and no MANIFEST line for them.
    let manifest = std::fs::read_to_string(to.join("MANIFEST")).unwrap();
    let older: String = manifest
        .lines()
        .filter(|l| !l.contains(" files/") && !l.starts_with("# then each file"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(older.lines().count() < manifest.lines().count());
    std::fs::write(to.join("MANIFEST"), older).unwrap();
    std::fs::remove_dir_all(to.join("files")).unwrap();

    let new = Env::bare(&config_with_files(true));
    write_named_files(&new);
    let printed = ok(&new.cmd(&["restore", "--from", to.to_str().unwrap()]));
    assert!(!printed.contains("files/"), "{printed}");
    assert!(new.var().join("dropgate.sqlite").exists());
    ok(&new.cmd(&["check-config"]));
    new.start().stop();
}
