//! Onboarding by invitation (issue 16, item 5): `dropgate invite` mails a one-time code; the
//! invitee logs in with it over SFTP (OpenSSH's `sftp`, and `ssh-copy-id -s`), puts its
//! public key to `.ssh/authorized_keys`, and from then on logs in with that key only.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::publish::decoded;
use crate::util::{Env, TENANTS, sftp_batch, sftp_with_password, ssh_options, wait_until};

/// The decoded `.eml` invitations the daemon's file transport wrote, oldest first.
fn invitations(env: &Env) -> Vec<String> {
    crate::mail::messages(&env.var().join("mail"))
        .iter()
        .map(|m| decoded(m))
        .filter(|m| m.contains("Uw SFTP-toegang"))
        .collect()
}

/// Waits for the first invitation to be mailed, and returns it.
fn mailed(env: &Env) -> String {
    wait_until("the invitation mailed", || !invitations(env).is_empty());
    invitations(env).swap_remove(0)
}

/// The one-time code in an invitation's plain text.
fn code_in(mail: &str) -> String {
    let line = mail
        .lines()
        .find(|l| l.contains("Eenmalige code:"))
        .unwrap_or_else(|| panic!("no code in {mail}"));
    line.split_once("Eenmalige code:")
        .unwrap()
        .1
        .trim()
        .to_owned()
}

/// A new ed25519 key pair, as a user makes it.
fn new_key(env: &Env, name: &str) -> PathBuf {
    let key = env.dir.path().join(name);
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "jan@laptop", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(made.success());
    key
}

fn invite(env: &Env, args: &[&str]) -> String {
    let out = env.cmd(&[&["invite"], args].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn enrolment(env: &Env, column: &str) -> Vec<String> {
    env.texts(
        &format!("SELECT ifnull({column}, '-') FROM enrolment WHERE user = 'jan.smit'"),
        [],
    )
}

#[test]
fn an_invitee_puts_its_key_with_the_code_and_then_logs_in_with_the_key_only() {
    let env = Env::new(TENANTS);
    // The daemon makes the host keys and the tenants the invitation names.
    env.start().stop();
    let printed = invite(
        &env,
        &[
            "--tenant",
            "alpha",
            "--role",
            "deliver",
            "--email",
            "Jan.Smit@alpha.example",
        ],
    );
    assert!(printed.contains("jan.smit"), "{printed}");
    // Mail another process queued goes out at the daemon's next look (at once at start).
    let daemon = env.start();
    let addr = daemon.sftp_addr();
    let mail = mailed(&env);
    // Who, where, the host key to check, the code, and how.
    let log = daemon.log();
    let fingerprint = log
        .lines()
        .find(|l| l.contains("sftp host key") && l.contains("ed25519"))
        .and_then(|l| l.split("fingerprint=").nth(1))
        .and_then(|f| f.split_whitespace().next())
        .unwrap()
        .trim_matches('"')
        .to_owned();
    for needle in [
        "To: Jan.Smit@alpha.example",
        "Gebruikersnaam: jan.smit",
        "Server: 127.0.0.1",
        &format!("Serversleutel ed25519: {fingerprint}"),
        "put ~/.ssh/id_ed25519.pub .ssh/authorized_keys",
    ] {
        assert!(mail.contains(needle), "{needle} not in {mail}");
    }
    let code = code_in(&mail);
    assert_eq!(code.len(), 23, "{code}");
    assert!(!env.texts("SELECT code_hash FROM enrolment", [])[0].contains(&code));

    // A wrong code lets nobody in; a file that is no key is refused, and the code stays.
    let wrong = sftp_with_password(
        &env,
        addr,
        "jan.smit",
        None,
        "AAAAA-BBBBB-CCCCC-DDDDD",
        "ls\n",
    );
    assert!(!wrong.ok, "{}", wrong.output);
    let junk = env.dir.path().join("junk.pub");
    std::fs::write(&junk, "ssh-ed25519 not-a-key jan@laptop\n").unwrap();
    // Typed loosely: lower case, spaces for dashes.
    let typed = code.to_lowercase().replace('-', " ");
    let refused = sftp_with_password(
        &env,
        addr,
        "jan.smit",
        None,
        &typed,
        &format!(
            "put {} .ssh/authorized_keys\nput {} /alpha/upload/x.csv\nls /alpha\n",
            junk.display(),
            junk.display()
        ),
    );
    assert!(refused.ok, "{}", refused.output);
    assert_eq!(enrolment(&env, "enrolled_at"), ["-"]);
    // The code opens nothing but the key's place.
    assert!(!refused.output.contains("receipts"), "{}", refused.output);
    assert!(crate::util::files(&env.upload("alpha")).is_empty());
    daemon.wait_for_log("enrolment refused");

    // The real key, as a script would put it (mkdir and chmod as on a home folder).
    let key = new_key(&env, "jan");
    let put = sftp_with_password(
        &env,
        addr,
        "jan.smit",
        None,
        &code,
        &format!(
            "-mkdir .ssh\nput {}.pub .ssh/authorized_keys\nchmod 600 .ssh/authorized_keys\nls -l .ssh\n",
            key.display()
        ),
    );
    assert!(put.output.contains("authorized_keys"), "{}", put.output);
    assert_ne!(enrolment(&env, "enrolled_at"), ["-"]);
    assert_eq!(enrolment(&env, "code_hash"), ["-"]);
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let stored = enrolment(&env, "public_keys").join("");
    assert!(public.starts_with(&stored), "{stored} vs {public}");
    // The code is gone from the mail queue too.
    assert_eq!(
        env.number(&format!(
            "SELECT count(*) FROM mail WHERE text_body LIKE '%{code}%' OR html_body LIKE '%{code}%'"
        )),
        0
    );

    // The code is void; the key lets the user in, to its tenant's folders.
    let again = sftp_with_password(&env, addr, "jan.smit", None, &code, "ls\n");
    assert!(!again.ok, "{}", again.output);
    let csv = Path::new(crate::util::SAMPLES).join("metingen-good.csv");
    let upload = sftp_batch(
        addr,
        "jan.smit",
        &key,
        &format!("put {} upload/\nls receipts\n", csv.display()),
    );
    assert!(upload.ok, "{}", upload.output);
    daemon.wait_until("the upload recorded", || {
        env.count("alpha", "received") == 1
    });
    for action in ["user.invited", "sftp.enrol-refused", "user.enrolled"] {
        assert_eq!(
            env.number(&format!(
                "SELECT count(*) FROM audit WHERE action = '{action}'"
            )),
            1,
            "{action}"
        );
    }

    // Revoked: its open session ends, and the key no longer lets it in.
    let held = crate::sftp::revoke::Held::open_with(&daemon, "jan.smit", &key);
    invite(&env, &["--revoke", "jan.smit"]);
    daemon.wait_for_log("session ended: access withdrawn");
    let (_, said) = held.finish();
    assert!(said.contains("access withdrawn: revoked"), "{said}");
    let revoked = sftp_batch(addr, "jan.smit", &key, "ls\n");
    assert!(!revoked.ok, "{}", revoked.output);
    let list = invite(&env, &["--list"]);
    assert!(
        list.contains("jan.smit\talpha\tdeliver\tJan.Smit@alpha.example\trevoked"),
        "{list}"
    );
    daemon.stop();
}

#[test]
fn an_expired_code_is_refused_and_a_renewed_one_enrols_through_ssh_copy_id() {
    let env = Env::new(TENANTS);
    env.start().stop();
    // Invited eight days ago: the code has expired.
    let out = env.cmd_at(
        "-8d",
        &[
            "invite",
            "--tenant",
            "town",
            "--role",
            "collect",
            "--role",
            "deliver",
            "--email",
            "jan.smit@town.example",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let daemon = env.start();
    let addr = daemon.sftp_addr();
    let old = code_in(&mailed(&env));
    let late = sftp_with_password(&env, addr, "jan.smit", None, &old, "ls\n");
    assert!(!late.ok, "{}", late.output);
    daemon.wait_until("the expired code audited", || {
        env.number("SELECT count(*) FROM audit WHERE action = 'sftp.login-expired'") == 1
    });
    let listed = invite(&env, &["--list"]);
    assert!(listed.contains("code expired"), "{listed}");

    daemon.stop();
    invite(&env, &["--renew", "jan.smit"]);
    let daemon = env.start();
    let addr = daemon.sftp_addr();
    // The file names of the mails do not say which came first: the new code is the other.
    wait_until("the renewed invitation mailed", || {
        invitations(&env).len() == 2
    });
    let new = invitations(&env)
        .iter()
        .map(|m| code_in(m))
        .find(|c| *c != old)
        .expect("a new code");

    // ssh-copy-id in its SFTP mode: fetch, append, mkdir, chmod, put, chmod.
    let key = new_key(&env, "jan");
    let home = env.dir.path().join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    let askpass = crate::util::askpass(&env, &new);
    let mut copy = Command::new("ssh-copy-id");
    copy.args(["-s", "-f", "-i"]).arg(key.with_extension("pub"));
    copy.args(["-p", &addr.port().to_string()]);
    ssh_options(&mut copy, None);
    let out = copy
        .arg(format!("jan.smit@{}", addr.ip()))
        .env("HOME", &home)
        .env("SSH_ASKPASS", &askpass)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("DISPLAY", ":0")
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert_ne!(enrolment(&env, "enrolled_at"), ["-"], "{said}");

    // Both roles: the outbox and the upload folder.
    let listing = sftp_batch(addr, "jan.smit", &key, "ls\n");
    assert!(listing.ok, "{}", listing.output);
    for folder in ["outbox", "upload", "receipts"] {
        assert!(listing.output.contains(folder), "{}", listing.output);
    }
    daemon.stop();
}

#[test]
fn an_invitation_names_what_is_wrong_with_it() {
    let env = Env::new(&format!(
        "{TENANTS}\n[[user]]\nname = \"jan\"\npublic_keys = [\"{}\"]\n[[user.grant]]\ntenant = \"alpha\"\nroles = [\"deliver\"]\n",
        crate::util::public_key("linde")
    ));
    env.start().stop();
    let deliverer = |tenant, email| vec!["--tenant", tenant, "--role", "deliver", "--email", email];
    for (args, says) in [
        (deliverer("nope", "a@b.example"), "no tenant \"nope\""),
        (deliverer("alpha", "not an address"), "not an email address"),
        (
            deliverer("alpha", "jan@alpha.example"),
            "user \"jan\" is in the configuration already",
        ),
        (
            vec!["--tenant", "alpha", "--email", "piet@alpha.example"],
            "--role deliver or --role collect",
        ),
        (
            vec!["--renew", "nobody"],
            "no invitation for user \"nobody\"",
        ),
    ] {
        let out = env.cmd(&[&["invite"], args.as_slice()].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(says),
            "{args:?}: {stderr}"
        );
    }
    assert_eq!(env.number("SELECT count(*) FROM enrolment"), 0);
    assert_eq!(env.number("SELECT count(*) FROM mail"), 0);
}
