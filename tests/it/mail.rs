//! Mail through a real SMTP server (aiosmtpd, started per test by `smtp_server.py`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::util::{Env, wait_until};

const SERVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/smtp_server.py");
/// Debian's Python, which has python3-aiosmtpd (installed by .ci/run).
const PYTHON: &str = "/usr/bin/python3";

struct Smtp {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the test server on `port`, storing messages in `dir`.
fn smtp(port: u16, dir: &Path, args: &[&str]) -> Smtp {
    use std::io::BufRead;
    std::fs::create_dir_all(dir).unwrap();
    let mut child = Command::new(PYTHON)
        .arg(SERVER)
        .args(["--port", &port.to_string(), "--dir"])
        .arg(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 with aiosmtpd, installed by .ci/run");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready", "the SMTP server did not start");
    Smtp {
        child,
        port,
        dir: dir.to_owned(),
    }
}

/// The `.eml` files in `dir` (as the SMTP test server or the file transport writes them),
/// in the order of their names.
pub(crate) fn messages(dir: &Path) -> Vec<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "eml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

/// An installation that mails through 127.0.0.1:`port` (plain: a loopback relay), retrying
/// after a second.
fn env(port: u16, extra_mail: &str) -> Env {
    let env = Env::new(&format!(
        "[mail]\ntransport = \"smtp\"\nretry_secs = [1]\n{extra_mail}\n[mail.smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"plain\"\n\
         [[tenant]]\nid = \"zorg\"\nkind = \"supplier\"\ncode = \"87654321\"\nname = \"Zorg\"\ncontacts = [\"kwaliteit@zorg.example\", \"data@zorg.example\"]\n"
    ));
    assert!(env.cmd(&["keygen"]).status.success());
    std::fs::create_dir_all(env.upload("zorg")).unwrap();
    env
}

/// Writes `n` distinct deliveries into zorg's `upload/` and waits until a daemon recorded
/// them.
fn write_deliveries(env: &Env, n: usize) {
    let header = "zorgaanbiedercode;pseudobsn;metingnummer;datum;gebruiktMeetinstrument;typeRespondent;totaalscoreMeting\n";
    // The last daily run was two days ago, and intake took both files in then.
    env.cmd_at("-2d", &["process"]);
    let daemon = env.start_at("-2d");
    for i in 0..n {
        let content = format!(
            "{header}87654321;111222333;M-{i};2026-10-01;CT;01;7\n87654321;123456789;X-{i};2026-10-01;CT;01;7\n"
        );
        std::fs::write(env.upload("zorg").join(format!("f{i}.csv")), content).unwrap();
    }
    daemon.wait_until("intake", || env.count("zorg", "received") == n as u64);
    daemon.stop();
}

/// Delivers `n` distinct files and processes them by hand, with no daemon running: `n`
/// result mails are queued, for the daemon started next to send at once. (A daemon running
/// beside `dropgate process` would find them only at its fallback poll, 30 seconds.)
fn deliver(env: &Env, n: usize) {
    write_deliveries(env, n);
    let out = env.cmd(&["process"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// (state, attempts, last_error) of every queued message.
fn queue(env: &Env) -> Vec<(String, i64, Option<String>)> {
    let conn = env.ledger();
    let mut stmt = conn
        .prepare("SELECT state, attempts, last_error FROM mail ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn a_result_mail_arrives_with_headers_and_both_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let server = smtp(free_port(), dir.path(), &[]);
    let env = env(server.port, "");
    deliver(&env, 1);
    let daemon = env.start();
    wait_until("the mail", || messages(&server.dir).len() == 1);
    let mail = &messages(&server.dir)[0];
    for header in [
        "From: dropgate <dropgate@localhost>",
        "To: kwaliteit@zorg.example, data@zorg.example",
        "Subject: Levering f0.csv: verwerkt",
        "Message-ID: <",
        "Content-Type: multipart/alternative",
    ] {
        assert!(mail.contains(header), "{header} missing:\n{mail}");
    }
    assert!(
        mail.contains("Content-Type: text/plain; charset=utf-8")
            && mail.contains("Content-Type: text/html; charset=utf-8"),
        "{mail}"
    );
    assert!(
        mail.contains("Geaccepteerd") && mail.contains("*******89"),
        "{mail}"
    );
    for bsn in ["111222333", "123456789"] {
        assert!(!mail.contains(bsn), "a BSN in clear in the mail");
    }
    assert!(
        !mail.contains(
            &dropgate::pseudonym::Keyed::load(&env.var().join("ttp.key"))
                .unwrap()
                .pseudonym(&dropgate::pseudonym::Bsn::parse("111222333").unwrap())
                .to_string()
        ),
        "a pseudonym in the mail"
    );
    wait_until("sent in the ledger", || {
        queue(&env) == [("sent".into(), 1, None)]
    });
    daemon.stop();
}

/// Rows of the second delivery in the test below: enough to keep the daemon's run busy for
/// seconds after the first, far less than the worker's fallback poll of 30 seconds.
const BUSY_ROWS: usize = 60_000;

#[test]
fn the_daemons_run_rings_the_mail_worker_after_each_delivery() {
    let env = Env::new(
        "[[tenant]]\nid = \"zorg\"\nkind = \"supplier\"\ncode = \"87654321\"\nname = \"Zorg\"\ncontacts = [\"kwaliteit@zorg.example\"]\n",
    );
    assert!(env.cmd(&["keygen"]).status.success());
    let header = "zorgaanbiedercode;pseudobsn;metingnummer;datum;gebruiktMeetinstrument;typeRespondent;totaalscoreMeting\n";
    // The last daily run was two days ago, and intake took both files in then.
    env.cmd_at("-2d", &["process"]);
    let daemon = env.start_at("-2d");
    // A small delivery first, then one that takes the run a while.
    crate::util::drop_file(
        &env.upload("zorg"),
        "a.csv",
        format!("{header}87654321;111222333;A-1;2026-10-01;CT;01;7\n").as_bytes(),
    );
    daemon.wait_until("intake of a.csv", || env.count("zorg", "received") == 1);
    let mut busy = String::from(header);
    for i in 0..BUSY_ROWS {
        busy.push_str(&format!("87654321;111222333;B-{i};2026-10-01;CT;01;7\n"));
    }
    crate::util::drop_file(&env.upload("zorg"), "b.csv", busy.as_bytes());
    daemon.wait_until("intake of b.csv", || env.count("zorg", "received") == 2);
    daemon.stop();

    // The daily run was missed, so the daemon runs it as it starts. The worker's first look
    // at the queue comes before a.csv's outcome; only a ring brings it back before its poll.
    // Sent is what the transport wrote: the queue records it only once b.csv's transaction
    // has let go of the ledger's write lock.
    let daemon = env.start();
    let mail_dir = env.var().join("mail");
    let (mut b_state, mut a_mailed) = (Vec::new(), false);
    daemon.wait_until("a.csv's result mail, or b.csv processed", || {
        // b.csv first: a mail written after this look was written before b.csv's outcome.
        b_state = env.texts("SELECT state FROM delivery WHERE file_name = 'b.csv'", []);
        a_mailed = messages(&mail_dir)
            .iter()
            .any(|m| m.contains("Subject: Levering a.csv: verwerkt"));
        a_mailed || b_state != ["received"]
    });
    assert!(
        a_mailed && b_state == ["received"],
        "a.csv's result mail waited for the run to finish b.csv ({b_state:?}); log:\n{}",
        daemon.log()
    );
    daemon.wait_until("b.csv's result mail sent", || {
        env.number("SELECT count(*) FROM mail WHERE state = 'sent'") == 2
    });
    daemon.stop();
}

#[test]
fn with_the_server_down_mail_waits_and_goes_when_it_is_up() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let env = env(port, "");
    deliver(&env, 1);
    let daemon = env.start();
    wait_until("a failed attempt", || {
        queue(&env)
            .first()
            .is_some_and(|(s, a, e)| s == "queued" && *a >= 1 && e.is_some())
    });
    let server = smtp(port, dir.path(), &[]);
    wait_until("delivery after a retry", || {
        messages(&server.dir).len() == 1
    });
    wait_until("sent", || {
        queue(&env).first().is_some_and(|(s, _, _)| s == "sent")
    });
    let log = daemon.stop();
    assert!(log.contains("mail not sent; will retry"), "{log}");
}

#[test]
fn a_4xx_is_retried_until_the_server_takes_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let server = smtp(free_port(), dir.path(), &["--fail-first", "2"]);
    let env = env(server.port, "");
    deliver(&env, 1);
    let daemon = env.start();
    wait_until("the mail", || messages(&server.dir).len() == 1);
    wait_until("sent on the third attempt", || {
        queue(&env) == [("sent".into(), 3, None)]
    });
    daemon.stop();
}

#[test]
fn a_5xx_fails_the_message_for_good() {
    let dir = tempfile::tempdir().unwrap();
    let server = smtp(free_port(), dir.path(), &["--reject"]);
    let env = env(server.port, "");
    deliver(&env, 1);
    let daemon = env.start();
    wait_until("failed", || {
        queue(&env).first().is_some_and(|(s, _, _)| s == "failed")
    });
    let (_, attempts, error) = &queue(&env)[0];
    assert_eq!(*attempts, 1);
    assert!(error.as_deref().unwrap().contains("550"), "{error:?}");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(queue(&env)[0].1, 1, "no retry after a permanent refusal");
    let out = env.cmd(&["status"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("mail: 0 queued, 0 sent, 1 failed"));
    daemon.stop();
}

#[test]
fn a_killed_daemon_sends_its_whole_queue_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let env = env(port, "");
    deliver(&env, 5);
    let mut daemon = env.start();
    wait_until("every message tried once", || {
        queue(&env).iter().all(|(_, a, _)| *a >= 1)
    });
    daemon.child.kill().unwrap(); // SIGKILL: no clean stop
    daemon.child.wait().unwrap();
    let server = smtp(port, dir.path(), &[]);
    let daemon = env.start();
    wait_until("all five delivered", || {
        queue(&env).iter().all(|(s, _, _)| s == "sent")
    });
    let ids: std::collections::BTreeSet<String> = messages(&server.dir)
        .iter()
        .map(|m| {
            m.lines()
                .find(|l| l.starts_with("Message-ID:"))
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 5, "five distinct messages arrived");
    daemon.stop();
}

/// A private CA (self-signed) and a server certificate for `localhost` signed by it:
/// returns (CA certificate, server certificate, server key).
fn private_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()
            .expect("openssl, installed by .ci/run");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=dropgate test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "server.pem",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

/// `dropgate mail test` to a relay that speaks TLS (`security`: "starttls" or "tls") with a
/// certificate from a private CA and requires AUTH: refused without the CA in `ca_file`,
/// refused for good with a wrong password, and sent with both right.
fn tls_and_auth_to_a_relay_whose_certificate_the_configuration_trusts(security: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = private_ca(dir.path());
    let mut args = vec![
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--auth",
        "dropgate:geheim wachtwoord",
    ];
    if security == "tls" {
        args.push("--implicit-tls");
    }
    let server = smtp(free_port(), &dir.path().join("spool"), &args);
    let password_file = dir.path().join("smtp-password");
    let config = |ca: &str, password: &str| {
        std::fs::write(&password_file, format!("{password}\n")).unwrap();
        Env::new(&format!(
            "[mail]\ntransport = \"smtp\"\n[mail.smtp]\nhost = \"localhost\"\nport = {}\nsecurity = \"{security}\"\n\
             username = \"dropgate\"\npassword_file = \"{}\"\n{ca}",
            server.port,
            password_file.display()
        ))
    };
    let mail_test = |env: &Env| {
        let out = env.cmd(&["mail", "test", "--to", "admin@example.org"]);
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), said)
    };
    let trusted = format!("ca_file = \"{}\"\n", ca.display());

    let (sent, said) = mail_test(&config("", "geheim wachtwoord"));
    assert!(!sent, "{security}: {said}");
    assert!(said.starts_with("not sent:"), "{security}: {said}");
    assert!(said.contains("certificate"), "{security}: {said}");

    let (sent, said) = mail_test(&config(&trusted, "fout"));
    assert!(!sent, "{security}: {said}");
    assert!(said.starts_with("not sent: refused:"), "{security}: {said}");
    assert!(said.contains("535"), "{security}: {said}");

    let (sent, said) = mail_test(&config(&trusted, "geheim wachtwoord"));
    assert!(sent, "{security}: {said}");
    assert_eq!(said.trim(), "sent: 250 2.0.0 OK: queued", "{security}");
    assert_eq!(messages(&server.dir).len(), 1, "{security}");
    assert!(messages(&server.dir)[0].contains("Subject: dropgate: testbericht"));
}

#[test]
fn starttls_and_auth_to_a_relay_whose_certificate_the_configuration_trusts() {
    tls_and_auth_to_a_relay_whose_certificate_the_configuration_trusts("starttls");
}

#[test]
fn implicit_tls_and_auth_to_a_relay_whose_certificate_the_configuration_trusts() {
    tls_and_auth_to_a_relay_whose_certificate_the_configuration_trusts("tls");
}

#[test]
fn the_monthly_quality_report_is_queued_per_tenant_and_caught_up() {
    let env = Env::new(
        "[[tenant]]\nid = \"zorg\"\nkind = \"supplier\"\ncode = \"87654321\"\nname = \"Zorg\"\ncontacts = [\"kwaliteit@zorg.example\"]\n\
         [[tenant]]\nid = \"stil\"\nkind = \"supplier\"\ncode = \"12345678\"\nname = \"Zonder contact\"\n",
    );
    assert!(env.cmd(&["keygen"]).status.success());
    std::fs::create_dir_all(env.upload("zorg")).unwrap();
    let samples = concat!(env!("CARGO_MANIFEST_DIR"), "/samples");
    std::fs::copy(
        Path::new(samples).join("metingen-bad.csv"),
        env.upload("zorg").join("bad.csv"),
    )
    .unwrap();
    // The file came in and was processed in the middle of last month (Amsterdam time:
    // "35 days ago" falls two months back in the first days of a month)...
    let last_month = {
        use chrono::{Datelike, TimeZone};
        let today = chrono::Utc::now()
            .with_timezone(&chrono_tz::Europe::Amsterdam)
            .date_naive();
        let first = today.with_day(1).unwrap();
        let middle = (first - chrono::Duration::days(1)).with_day(15).unwrap();
        chrono_tz::Europe::Amsterdam
            .from_local_datetime(&middle.and_hms_opt(12, 0, 0).unwrap())
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    let then = crate::util::offset_to(last_month);
    let daemon = env.start_at(&then);
    wait_until("intake", || env.count("zorg", "received") == 1);
    env.cmd_at(&then, &["process"]);
    daemon.stop();
    // ...and the daemon runs when this month's report is due.
    let daemon = env.start_at(&crate::util::just_before_this_months_report());
    let mail_dir = env.var().join("mail");
    wait_until("the report", || {
        messages(&mail_dir)
            .iter()
            .any(|m| m.contains("Subject: Kwaliteitsrapport"))
    });
    let reports: Vec<String> = messages(&mail_dir)
        .into_iter()
        .filter(|m| m.contains("Kwaliteitsrapport"))
        .collect();
    assert_eq!(
        reports.len(),
        1,
        "one report: the tenant without contacts gets none"
    );
    let report = &reports[0];
    assert!(report.contains("To: kwaliteit@zorg.example"), "{report}");
    assert!(
        report.contains("Leveringen: 1") && report.contains("Afgekeurd: 18"),
        "{report}"
    );
    assert!(
        report.contains("x lege verplichte waarde [required]"),
        "{report}"
    );
    daemon.stop();
}

#[test]
fn the_quality_report_shows_response_per_municipality_and_hides_small_groups() {
    use chrono::{Datelike, Months};
    let env = Env::new(
        "[[tenant]]\nid = \"zorg\"\nkind = \"supplier\"\ncode = \"87654321\"\nname = \"Zorg\"\ncontacts = [\"kwaliteit@zorg.example\"]\n\
         [[tenant]]\nid = \"utrecht\"\nkind = \"municipality\"\ncode = \"0344\"\nname = \"Utrecht\"\ncontacts = [\"data@utrecht.example\"]\n\
         [[tenant]]\nid = \"amersfoort\"\nkind = \"municipality\"\ncode = \"0307\"\nname = \"Amersfoort\"\n",
    );
    assert!(env.cmd(&["keygen"]).status.success());
    env.start().stop();
    // Decisions that ended three months ago (inside the twelve months the report covers),
    // each measured five days later: Utrecht 12 clients, 9 of whom answered completely;
    // Amersfoort 4 clients, too few to show.
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Amsterdam)
        .date_naive();
    let ended = today.with_day(15).unwrap() - Months::new(3);
    let measured = ended + chrono::Duration::days(5);
    let (mut utrecht, mut amersfoort, mut metingen) = (String::new(), String::new(), String::new());
    for i in 0..16 {
        let (out, code) = if i < 12 {
            (&mut utrecht, "0344")
        } else {
            (&mut amersfoort, "0307")
        };
        let bsn = crate::util::bsn(i);
        out.push_str(&format!(
            "{code};B-{i};{bsn};87654321;45;45A01;2025-01-01;{ended}\n"
        ));
        let status = if i < 9 || i == 12 {
            "Volledig"
        } else {
            "Onvolledig"
        };
        metingen.push_str(&format!(
            "87654321;{bsn};M-{i};{measured};CT;01;7;{status}\n"
        ));
    }
    let decisions = "gemeentecode;beschikkingnummer;pseudobsn;zorgaanbiedercode;productcategorie;productcode;ingangsdatum;einddatum\n";
    let measurements = "zorgaanbiedercode;pseudobsn;metingnummer;datum;gebruiktMeetinstrument;typeRespondent;totaalscoreMeting;status\n";
    std::fs::write(
        env.upload("utrecht").join("b.csv"),
        format!("{decisions}{utrecht}"),
    )
    .unwrap();
    std::fs::write(
        env.upload("amersfoort").join("b.csv"),
        format!("{decisions}{amersfoort}"),
    )
    .unwrap();
    std::fs::write(
        env.upload("zorg").join("m.csv"),
        format!("{measurements}{metingen}"),
    )
    .unwrap();
    let daemon = env.start();
    wait_until("intake", || env.status()["deliveries"]["total"] == 3);
    daemon.stop();
    assert!(env.cmd(&["process"]).status.success());

    // The daemon runs when this month's report is due.
    let daemon = env.start_at(&crate::util::just_before_this_months_report());
    let mail_dir = env.var().join("mail");
    let reports = || -> Vec<String> {
        messages(&mail_dir)
            .into_iter()
            .filter(|m| m.contains("Subject: Kwaliteitsrapport"))
            .collect()
    };
    wait_until("both reports", || reports().len() == 2);
    daemon.stop();
    let report_for = |to: &str| {
        reports()
            .into_iter()
            .find(|m| m.contains(&format!("To: {to}")))
            .unwrap()
    };
    let (municipality, provider) = (
        report_for("data@utrecht.example"),
        report_for("kwaliteit@zorg.example"),
    );
    let month = |d: chrono::NaiveDate| d.format("%Y-%m").to_string();
    let report_month = today.with_day(1).unwrap() - Months::new(1);
    let period = format!(
        "{} t/m {})",
        month(report_month - Months::new(12)),
        month(report_month - Months::new(1))
    );
    for report in [&municipality, &provider] {
        assert!(report.contains(&period), "{period} in {report}");
    }
    assert!(
        municipality.contains("Utrecht: 75,0% (9 van 12)"),
        "{municipality}"
    );
    assert!(!municipality.contains("Amersfoort"), "{municipality}");
    assert!(provider.contains("Utrecht: 75,0% (9 van 12)"), "{provider}");
    assert!(
        provider.contains("Amersfoort: niet getoond (minder dan 10"),
        "{provider}"
    );
    assert!(!provider.contains("(1 van 4)"), "{provider}");
}

/// A relay that accepts connections and then goes silent at `point`: before its greeting
/// ("connect"), after its greeting (it never answers EHLO: "greeting"), or after the end of
/// the data (it never says whether it took the message: "data"). At "slow" it answers every
/// line, but each 700 ms late; at "late" only the end of the data, 1.5 s late. Each
/// connection is held open until the test ends. Returns the port, and how many times a
/// message's data has ended.
fn silent_relay(point: &'static str) -> (u16, Arc<AtomicUsize>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let ended = Arc::new(AtomicUsize::new(0));
    let counted = ended.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let ended = counted.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut out = stream;
                let mut answer = |line: &[u8]| {
                    if point == "slow" {
                        std::thread::sleep(Duration::from_millis(700));
                    }
                    let _ = out.write_all(line);
                };
                if point == "connect" {
                    std::thread::sleep(Duration::from_secs(600));
                    return;
                }
                answer(b"220 relay ready\r\n");
                if point == "greeting" {
                    std::thread::sleep(Duration::from_secs(600));
                    return;
                }
                let mut line = String::new();
                let mut in_data = false;
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                    let said = std::mem::take(&mut line);
                    if in_data {
                        if said == ".\r\n" {
                            ended.fetch_add(1, Ordering::SeqCst);
                            if point == "late" {
                                std::thread::sleep(Duration::from_millis(1500));
                            }
                            if point == "data" {
                                // The end of the data: never answered.
                                std::thread::sleep(Duration::from_secs(600));
                                return;
                            }
                            in_data = false;
                            answer(b"250 taken\r\n");
                        }
                        continue;
                    }
                    match said.get(..4).unwrap_or("").to_ascii_uppercase().as_str() {
                        "EHLO" => answer(b"250 relay\r\n"),
                        "DATA" => {
                            in_data = true;
                            answer(b"354 go on\r\n");
                        }
                        "QUIT" => answer(b"221 bye\r\n"),
                        _ => answer(b"250 ok\r\n"),
                    }
                }
            });
        }
    });
    (port, ended)
}

#[test]
fn a_silent_relay_is_left_after_the_deadline_and_never_holds_up_a_stop() {
    // Each wait has its own deadline (1 s here), well inside the whole attempt's (60 s);
    // a relay slow at every step is left at the whole attempt's (3 s).
    for (point, config, error) in [
        (
            "connect",
            "timeout_secs = 1\nsend_timeout_secs = 60",
            "the relay did not greet within 1 s",
        ),
        (
            "greeting",
            "timeout_secs = 1\nsend_timeout_secs = 60",
            "the relay did not answer EHLO within 1 s",
        ),
        (
            "data",
            "timeout_secs = 1\nsend_timeout_secs = 60",
            "the relay did not answer the end of the message within 1 s",
        ),
        (
            "slow",
            "timeout_secs = 2\nsend_timeout_secs = 3",
            "the relay did not take the message within 3 s",
        ),
    ] {
        let (port, _) = silent_relay(point);
        let env = env(port, config);
        deliver(&env, 1);
        let started = std::time::Instant::now();
        let daemon = env.start();
        // Tried, logged as a temporary failure, and rescheduled.
        daemon.wait_for_log("mail not sent; will retry");
        let log = daemon.log();
        assert!(log.contains(error), "{point}: {log}");
        daemon.wait_until("a second attempt", || {
            queue(&env)
                .first()
                .is_some_and(|(_, attempts, _)| *attempts >= 2)
        });
        // Two attempts of a few seconds each and a retry a second apart, not minutes.
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{point}: {:?}",
            started.elapsed()
        );
        let (state, _, last_error) = queue(&env).remove(0);
        assert_eq!(state, "queued", "{point}");
        assert!(last_error.is_some_and(|e| e.contains(error)), "{point}");
        // SIGTERM ends the daemon promptly, whatever the relay does.
        let started = std::time::Instant::now();
        daemon.stop();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{point}: stopping took {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn mail_test_gives_up_on_a_silent_relay() {
    let (port, _) = silent_relay("greeting");
    let env = env(port, "timeout_secs = 1\nsend_timeout_secs = 60");
    let started = std::time::Instant::now();
    let out = env.cmd(&["mail", "test", "--to", "beheer@ttp.example"]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("not sent: the relay did not answer EHLO within 1 s"),
        "{said}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_relay_that_answers_each_step_in_time_takes_the_message() {
    // The per-step deadline is per step: six steps of 700 ms each pass a 1 s deadline.
    let (port, _) = silent_relay("slow");
    let env = env(port, "timeout_secs = 1\nsend_timeout_secs = 60");
    let out = env.cmd(&["mail", "test", "--to", "beheer@ttp.example"]);
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{said}");
    assert_eq!(said.trim(), "sent: 250 taken");
}

#[test]
fn a_message_the_relay_is_taking_as_the_daemon_stops_is_marked_sent_not_sent_again() {
    let (port, ended) = silent_relay("late");
    let env = env(port, "timeout_secs = 5");
    deliver(&env, 1);
    let daemon = env.start();
    daemon.wait_until("the message's data ended", || {
        ended.load(Ordering::SeqCst) == 1
    });
    // The stop comes while the relay takes 1.5 s to answer the end of the data.
    let started = std::time::Instant::now();
    let log = daemon.stop();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(log.contains("mail sent"), "{log}");
    assert!(!log.contains("attempt abandoned"), "{log}");
    assert_eq!(queue(&env)[0].0, "sent");
    // Not sent again after the restart.
    let daemon = env.start();
    std::thread::sleep(Duration::from_secs(2));
    daemon.stop();
    assert_eq!(ended.load(Ordering::SeqCst), 1);
}
