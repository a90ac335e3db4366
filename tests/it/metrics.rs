//! The metrics endpoint (issue 16, item 3), scraped with a real HTTP client (curl) after
//! known activity: a login and an upload over OpenSSH `sftp`, a failed login, a daily
//! run; the text passes Prometheus's own `promtool check metrics`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::util::{Env, SAMPLES, key, public_key, sftp_batch};

/// `GET url` with curl: the status code and the body.
fn get(url: &str) -> (String, String) {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", url])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.to_owned(), body.to_owned())
}

/// Every sample of the text (`name{labels}` → value).
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap();
            (name.to_owned(), value.parse().unwrap())
        })
        .collect()
}

/// The type `# TYPE` gives `name`.
fn type_of<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("# TYPE {name} ")))
        .unwrap_or_else(|| panic!("no TYPE of {name}"))
}

#[test]
fn the_endpoint_counts_what_happened_and_promtool_accepts_it() {
    let env = Env::new(&format!(
        "[metrics]\nlisten = \"127.0.0.1:0\"\n\
         [[tenant]]\nid = \"zorg\"\nkind = \"supplier\"\ncode = \"87654321\"\nname = \"Zorg\"\n\
         [[user]]\nname = \"romvendor\"\npublic_keys = [\"{}\"]\n\
         [[user.grant]]\ntenant = \"zorg\"\nroles = [\"deliver\"]\n",
        public_key("romvendor")
    ));
    assert!(env.cmd(&["keygen"]).status.success());
    let daemon = env.start();
    daemon.wait_for_log("metrics listening");
    let log = daemon.log();
    let addr = log
        .lines()
        .find(|l| l.contains("metrics listening"))
        .and_then(|l| l.split("addr=").nth(1))
        .and_then(|a| a.split_whitespace().next())
        .unwrap()
        .to_owned();
    let url = format!("http://{addr}/metrics");

    let sample = Path::new(SAMPLES).join("metingen-good.csv");
    let size = std::fs::metadata(&sample).unwrap().len();
    let run = sftp_batch(
        daemon.sftp_addr(),
        "romvendor",
        &key(&env, "romvendor"),
        &format!("put {} /zorg/upload/m.csv\n", sample.display()),
    );
    assert!(run.ok, "{}", run.output);
    // A key the user does not have: a failed login.
    let wrong = sftp_batch(daemon.sftp_addr(), "romvendor", &key(&env, "linde"), "ls\n");
    assert!(!wrong.ok);
    daemon.wait_until("intake", || env.status()["deliveries"]["total"] == 1);
    assert!(env.cmd(&["process"]).status.success());
    let accepted = env.number("SELECT rows_accepted FROM delivery");
    let rejected = env.number("SELECT rows_rejected FROM delivery");

    let (code, text) = get(&url);
    assert_eq!(code, "200", "{text}");
    let values = samples(&text);
    let value = |name: &str| {
        *values
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
    };
    assert_eq!(value("dropgate_sftp_logins_total{result=\"ok\"}"), 1.0);
    assert!(value("dropgate_sftp_logins_total{result=\"failed\"}") >= 1.0);
    assert_eq!(
        value("dropgate_sftp_bytes_total{direction=\"up\"}"),
        size as f64
    );
    assert_eq!(
        value("dropgate_deliveries{state=\"processed\",tenant_kind=\"supplier\"}")
            + value("dropgate_deliveries{state=\"rejected\",tenant_kind=\"supplier\"}"),
        1.0
    );
    assert_eq!(
        value("dropgate_rows_total{outcome=\"accepted\"}"),
        accepted as f64
    );
    assert_eq!(
        value("dropgate_rows_total{outcome=\"rejected\"}"),
        rejected as f64
    );
    assert_eq!(value("dropgate_mail_messages{state=\"failed\"}"), 0.0);
    let processed_at = value("dropgate_job_last_success_timestamp_seconds{job=\"process\"}");
    assert!((chrono::Utc::now().timestamp() as f64 - processed_at).abs() < 600.0);
    assert!(value("dropgate_disk_free_bytes") > 0.0);
    assert_eq!(value("dropgate_sftp_sessions"), 0.0);
    for (name, kind) in [
        ("dropgate_sftp_logins_total", "counter"),
        ("dropgate_rows_total", "counter"),
        ("dropgate_deliveries", "gauge"),
        ("dropgate_job_last_success_timestamp_seconds", "gauge"),
    ] {
        assert_eq!(type_of(&text, name), kind, "{name}");
    }
    let (code, _) = get(&format!("http://{addr}/other"));
    assert_eq!(code, "404");
    daemon.stop();

    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus) is installed by .ci/run");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let checked = promtool.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}

#[test]
fn an_endpoint_beyond_loopback_must_be_asked_for() {
    let env = Env::new("[metrics]\nlisten = \"0.0.0.0:9464\"\n");
    let out = env.cmd(&["check-config"]);
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("set allow_remote = true"), "{said}");
    let env = Env::new("[metrics]\nlisten = \"0.0.0.0:9464\"\nallow_remote = true\n");
    assert!(env.cmd(&["check-config"]).status.success());
}
