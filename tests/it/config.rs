//! `dropgate check-config`: every kind of problem, with its line, all listed at once.

use std::process::Command;

use crate::util::BIN;

/// Runs check-config on `toml` and returns (success, stdout).
fn check_config(toml: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("good.pub"),
        include_str!("../../samples/keys/romvendor.pub"),
    )
    .unwrap();
    std::fs::write(dir.path().join("junk.pub"), "ssh-ed25519 not-base64!\n").unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, toml).unwrap();
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout)
        .unwrap()
        .replace(&*path.to_string_lossy(), "c.toml");
    (out.status.success(), stdout)
}

const TENANT: &str =
    "[[tenant]]\nid = \"alpha\"\nkind = \"supplier\"\ncode = \"11111111\"\nname = \"A\"\n";

/// `toml` must fail with a problem line that contains `expected` (as `c.toml:<line>: ...`).
fn check(toml: &str, expected: &str) {
    let (ok, out) = check_config(toml);
    assert!(!ok, "accepted:\n{toml}");
    assert!(
        out.lines().any(|l| l.contains(expected)),
        "expected {expected:?} in:\n{out}"
    );
}

#[test]
fn each_kind_of_problem_is_reported_with_its_line() {
    check("colour = \"blue\"\n", "c.toml:1: colour: unknown key");
    check(
        "language = \"de\"\n",
        "c.toml:1: language: expected \"nl\" or \"en\", got \"de\"",
    );
    check(
        "[sftp]\npublic_address = \"sftp.example.nl; rm -rf /\"\n",
        "c.toml:2: sftp.public_address: expected a host name with an optional port",
    );
    check(
        "[sftp]\npublic_address = \"sftp.example.nl:99999\"\n",
        "c.toml:2: sftp.public_address: expected a host name with an optional port",
    );
    check(
        "language = \"en\"\n[mail]\nlanguage = \"nl\"\n",
        "mail.language: says \"nl\" but language says \"en\"; set it once, at the top",
    );
    check(
        &format!("{TENANT}colour = 1\n"),
        "c.toml:6: tenant[0].colour: unknown key",
    );
    check(
        &format!("{TENANT}{TENANT}"),
        "c.toml:7: tenant[1].id: duplicate tenant \"alpha\"",
    );
    check(
        "[[tenant]]\nid = \"a\"\nkind = \"supplier\"\ncode = \"1234\"\nname = \"A\"\n",
        "c.toml:4: tenant[0].code: AGB code must be exactly 8 digits, got \"1234\"",
    );
    check(
        "[[tenant]]\nid = \"t\"\nkind = \"municipality\"\ncode = \"344\"\nname = \"T\"\n",
        "c.toml:4: tenant[0].code: CBS municipality code must be exactly 4 digits",
    );
    check(
        "[[tenant]]\nid = \"t\"\nkind = \"village\"\ncode = \"0344\"\nname = \"T\"\n",
        "c.toml:3: tenant[0].kind: expected \"supplier\" or \"municipality\"",
    );
    check(
        "[[tenant]]\nid = \"../etc\"\nkind = \"supplier\"\ncode = \"11111111\"\nname = \"A\"\n",
        "c.toml:2: tenant[0].id: tenant name \"../etc\" must be",
    );

    let user = |body: &str| format!("{TENANT}[[user]]\nname = \"u\"\n{body}");
    let grant = "[[user.grant]]\ntenant = \"alpha\"\nroles = [\"deliver\"]\n";
    check(
        &user(
            "public_key_files = [\"good.pub\"]\n[[user.grant]]\ntenant = \"ghost\"\nroles = [\"deliver\"]\n",
        ),
        "c.toml:10: user[0].grant[0].tenant: grant to unknown tenant \"ghost\"",
    );
    check(
        &user(&format!(
            "public_key_files = [\"good.pub\"]\nallow_from = [\"10.0.0.0/33\"]\n{grant}"
        )),
        "c.toml:9: user[0].allow_from[0]: not an address or CIDR range: \"10.0.0.0/33\"",
    );
    check(
        &user(&format!("public_key_files = [\"missing.pub\"]\n{grant}")),
        "user[0].public_key_files[0]: cannot read key file",
    );
    check(
        &user(&format!("public_key_files = [\"junk.pub\"]\n{grant}")),
        "junk.pub:1: not a public key",
    );
    check(
        &user(&format!("public_keys = [\"ssh-rsa AAAA\"]\n{grant}")),
        "c.toml:8: user[0].public_keys[0]: not a public key",
    );
    check(
        &user(&format!("password_hash = \"secret\"\n{grant}")),
        "user[0].password_hash: not a PHC password hash",
    );
    check(
        &user(grant),
        "user \"u\" has neither a public key nor a password_hash",
    );
    check(
        "time_zone = \"Mars/Olympus\"\n",
        "c.toml:1: time_zone: unknown time zone",
    );
    check(
        "[schedule]\npublish_at = \"Caturday 06:00\"\n",
        "c.toml:2: schedule.publish_at: expected a day and time",
    );
    check(
        "[publish]\nempty_bundles = false\nmail_empty_bundles = true\n",
        "c.toml:3: publish.mail_empty_bundles: needs empty_bundles = true",
    );
    check(
        "[sftp]\nlisten = \"localhost\"\n",
        "c.toml:2: sftp.listen: expected address:port",
    );
    check(
        "[mail]\ntransport = \"smtp\"\n",
        "c.toml:2: mail.transport: transport \"smtp\" needs a [mail.smtp] section",
    );
    check(
        "[mail]\ntransport = \"smtp\"\n[mail.smtp]\nhost = \"relay.example.org\"\nsecurity = \"plain\"\n",
        "c.toml:5: mail.smtp.security: \"plain\" sends credentials",
    );
    check("[[tenant]\n", "c.toml:1: unclosed array table");
    check(
        "state_dir = 5\n",
        "c.toml:1: invalid type: integer `5`, expected a string",
    );
}

#[test]
fn every_problem_is_listed_not_only_the_first() {
    let toml = format!(
        "colour = 1\n{TENANT}[[tenant]]\nid = \"alpha\"\nkind = \"supplier\"\ncode = \"12\"\nname = \"\"\nshade = 2\n\
         [[user]]\nname = \"u\"\npublic_key_files = [\"missing.pub\"]\nallow_from = [\"x\"]\n\
         [[user.grant]]\ntenant = \"ghost\"\nroles = [\"fly\"]\n"
    );
    let (ok, out) = check_config(&toml);
    assert!(!ok);
    let expected = [
        "c.toml:1: colour: unknown key",
        "c.toml:12: tenant[1].shade: unknown key",
        "c.toml:8: tenant[1].id: duplicate tenant",
        "c.toml:10: tenant[1].code: AGB code",
        "c.toml:11: tenant[1].name: must not be empty",
        "c.toml:15: user[0].public_key_files[0]: cannot read key file",
        "c.toml:16: user[0].allow_from[0]: not an address",
        "c.toml:18: user[0].grant[0].tenant: grant to unknown tenant",
        "c.toml:19: user[0].grant[0].roles[0]: unknown role \"fly\"",
    ];
    for line in expected {
        assert!(out.contains(line), "expected {line:?} in:\n{out}");
    }
    assert_eq!(out.lines().count(), expected.len(), "{out}");
}

#[test]
fn the_example_configuration_is_valid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/dropgate.toml");
    let out = Command::new(BIN)
        .args(["check-config", "--config", path])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok (4 tenants, 4 users)"));
}
