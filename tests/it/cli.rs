//! The small commands: status, keygen, hash-password, help.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use crate::util::{BIN, Env, drop_file};

#[test]
fn status_json_has_every_state_per_tenant_and_overall() {
    let env = Env::with_tenants();
    let daemon = env.start();
    drop_file(&env.upload("alpha"), "a.csv", b"a");
    drop_file(&env.upload("alpha"), "a2.csv", b"a");
    drop_file(&env.upload("town"), "t.csv", b"t");
    daemon.wait_until("three deliveries", || {
        env.status()["deliveries"]["total"] == 3
    });
    let status = env.status();
    assert_eq!(status["schema_version"], dropgate::ledger::SCHEMA_VERSION);
    assert!(
        status["ledger"]
            .as_str()
            .unwrap()
            .ends_with("dropgate.sqlite")
    );
    let states = [
        "received",
        "duplicate",
        "processed",
        "rejected",
        "quarantined",
        "withdrawn",
    ];
    let overall = &status["deliveries"]["by_state"];
    assert_eq!(overall.as_object().unwrap().len(), states.len());
    assert_eq!(
        (overall["received"].as_u64(), overall["duplicate"].as_u64()),
        (Some(2), Some(1))
    );
    let tenants = status["tenants"].as_array().unwrap();
    let ids: Vec<&str> = tenants.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["alpha", "beta", "town"]);
    for t in tenants {
        for key in ["kind", "code", "name"] {
            assert!(t[key].is_string(), "{key} in {t}");
        }
        assert!(t["active"].is_boolean());
        for state in states {
            assert!(
                t["deliveries"]["by_state"][state].is_u64(),
                "{state} in {t}"
            );
        }
    }
    assert_eq!(tenants[2]["kind"], "municipality");
    assert_eq!(tenants[2]["code"], "0344");
    assert_eq!(tenants[0]["deliveries"]["total"], 2);

    let text = String::from_utf8(env.cmd(&["status"]).stdout).unwrap();
    assert!(
        text.lines().any(|l| l.starts_with("alpha")
            && l.split_whitespace().collect::<Vec<_>>()
                == ["alpha", "supplier", "1", "1", "0", "0", "0", "0"]),
        "{text}"
    );
    daemon.stop();
}

#[test]
fn status_without_a_ledger_says_so() {
    let env = Env::with_tenants();
    let out = env.cmd(&["status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no ledger at"));
}

#[test]
fn keygen_writes_32_private_bytes_and_never_overwrites() {
    let env = Env::with_tenants();
    let out = env.cmd(&["keygen"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key_path = env.var().join("ttp.key");
    let key = std::fs::read(&key_path).unwrap();
    assert_eq!(key.len(), 32);
    assert_eq!(
        std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let again = env.cmd(&["keygen"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_eq!(std::fs::read(&key_path).unwrap(), key);

    let other = env.dir.path().join("other.key");
    assert!(
        env.cmd(&["keygen", "--out", other.to_str().unwrap()])
            .status
            .success()
    );
    assert_ne!(std::fs::read(other).unwrap(), key);
}

#[test]
fn hash_password_output_is_accepted_by_the_configuration() {
    let mut child = Command::new(BIN)
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"s3cret words\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
    assert!(!hash.contains("s3cret"));

    let env = Env::new(&format!(
        "[[tenant]]\nid = \"a\"\nkind = \"supplier\"\ncode = \"11111111\"\nname = \"A\"\n\
         [[user]]\nname = \"u\"\npassword_hash = \"{hash}\"\n[[user.grant]]\ntenant = \"a\"\nroles = [\"deliver\"]\n"
    ));
    let check = env.cmd(&["check-config"]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
}

#[test]
fn help_names_every_command() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for command in ["run", "check-config", "keygen", "hash-password", "status"] {
        assert!(help.contains(command), "{command} missing from:\n{help}");
    }
}

/// `dropgate spec` needs no configuration, and names every rule a receipt can give.
#[test]
fn spec_prints_every_column_and_rule_as_markdown_and_csv() {
    let run = |args: &[&str]| {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let md = run(&["--config", "/nonexistent.toml", "spec"]);
    let csv = run(&["spec", "--format", "csv"]);
    assert!(md.starts_with("# Aanleverspecificatie"), "{md}");
    assert!(csv.starts_with("dataset;kolom;"), "{csv}");
    // Every rule the bad samples' receipts give is specified.
    for dataset in ["metingen", "beschikkingen"] {
        let expected = std::fs::read_to_string(
            std::path::Path::new(crate::util::SAMPLES)
                .join("expected")
                .join(format!("{dataset}-bad.problems.csv")),
        )
        .unwrap();
        for line in expected.lines() {
            let rule = line.rsplit(';').next().unwrap();
            assert!(
                md.contains(&format!("`{rule}`: ")),
                "{rule} in the Markdown"
            );
            assert!(csv.contains(&format!(";{rule};")), "{rule} in the CSV");
        }
    }
}

/// A temporary key file that a `keygen` cut off left (`ttp.key.new`) neither blocks the
/// next one nor stays: it is removed, and said so.
#[test]
fn keygen_removes_what_an_interrupted_keygen_left() {
    let env = Env::new("");
    std::fs::create_dir_all(env.var()).unwrap();
    let left = env.var().join("ttp.key.new");
    std::fs::write(&left, b"half a key").unwrap();
    let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&left)
        .unwrap()
        .set_modified(long_ago)
        .unwrap();
    let out = env.cmd(&["keygen"]);
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{said}");
    assert!(said.contains("removed an unfinished key file"), "{said}");
    assert!(!left.exists());
    assert_eq!(std::fs::read(env.var().join("ttp.key")).unwrap().len(), 32);
}
