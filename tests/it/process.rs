//! The daily run and `validate`, on the sample deliveries and on hostile files.

use std::path::Path;
use std::process::Command;

use crate::util::{BIN, Env, SAMPLES, files, wait_until};

const FORMATS: [&str; 5] = ["csv", "xlsx", "xls", "ods", "xml"];

/// A supplier with the samples' AGB code and a municipality with their CBS code.
const TENANTS: &str = r#"
[[tenant]]
id = "zorg"
kind = "supplier"
code = "87654321"
name = "Zorg"

[[tenant]]
id = "utrecht"
kind = "municipality"
code = "0344"
name = "Utrecht"
"#;

fn env_with(limits: &str) -> Env {
    let env = Env::new(&format!("[limits]\n{limits}\n{TENANTS}"));
    let out = env.cmd(&["keygen"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for t in ["zorg", "utrecht"] {
        std::fs::create_dir_all(env.upload(t)).unwrap();
    }
    env
}

fn process(env: &Env) -> String {
    let out = env.cmd(&["process"]);
    assert!(
        out.status.success(),
        "process failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn copy_sample(env: &Env, tenant: &str, sample: &str, as_name: &str) {
    std::fs::copy(
        Path::new(SAMPLES).join(sample),
        env.upload(tenant).join(as_name),
    )
    .unwrap();
}

/// The receipt of `file` in `tenant`'s receipts/: its summary as pairs, and its problems
/// as `line;column;value;rule`.
pub(crate) fn receipt(env: &Env, tenant: &str, file: &str) -> (Vec<(String, String)>, Vec<String>) {
    let dir = env.var().join("tenants").join(tenant).join("receipts");
    let path = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(&format!("{file}.")) && name.ends_with(".result.csv")
        })
        .unwrap_or_else(|| panic!("no receipt for {file} in {}", dir.display()));
    assert!(
        path.with_extension("txt").exists(),
        "no .txt twin of {}",
        path.display()
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text
        .strip_prefix('\u{FEFF}')
        .expect("receipts start with a BOM");
    let (head, problems) = text
        .split_once("\r\n\r\nline;column;value;rule;message\r\n")
        .expect("summary and problems");
    let summary = head
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(';').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect();
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .has_headers(false)
        .from_reader(problems.as_bytes());
    let problems = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            format!("{};{};{};{}", &r[0], &r[1], &r[2], &r[3])
        })
        .collect();
    (summary, problems)
}

pub(crate) fn field<'a>(summary: &'a [(String, String)], key: &str) -> &'a str {
    summary
        .iter()
        .find(|(k, _)| k == key)
        .map_or("", |(_, v)| v)
}

fn expected(dataset: &str) -> Vec<String> {
    std::fs::read_to_string(
        Path::new(SAMPLES)
            .join("expected")
            .join(format!("{dataset}-bad.problems.csv")),
    )
    .unwrap()
    .lines()
    .map(str::to_owned)
    .collect()
}

#[test]
fn every_sample_in_every_format_gets_the_expected_receipt_and_no_bsn_leaks() {
    let env = env_with("");
    let daemon = env.start();
    for format in FORMATS {
        for kind in ["good", "bad"] {
            copy_sample(
                &env,
                "zorg",
                &format!("metingen-{kind}.{format}"),
                &format!("metingen-{kind}-{format}.{format}"),
            );
            copy_sample(
                &env,
                "utrecht",
                &format!("beschikkingen-{kind}.{format}"),
                &format!("beschikkingen-{kind}-{format}.{format}"),
            );
        }
    }
    wait_until("intake of all samples", || {
        env.status()["deliveries"]["total"] == 20
    });
    let report = process(&env);
    assert!(
        report.starts_with("20 processed, 0 rejected, 0 quarantined"),
        "{report}"
    );
    for format in FORMATS {
        for (tenant, dataset, good_rows) in
            [("zorg", "metingen", 5), ("utrecht", "beschikkingen", 3)]
        {
            let (summary, problems) =
                receipt(&env, tenant, &format!("{dataset}-good-{format}.{format}"));
            assert_eq!(
                field(&summary, "status"),
                "processed",
                "{dataset} good {format}"
            );
            assert_eq!(
                field(&summary, "accepted"),
                good_rows.to_string(),
                "{dataset} good {format}"
            );
            assert_eq!(field(&summary, "dataset"), dataset);
            assert!(problems.is_empty(), "{dataset} good {format}: {problems:?}");
            let (summary, problems) =
                receipt(&env, tenant, &format!("{dataset}-bad-{format}.{format}"));
            assert_eq!(
                field(&summary, "status"),
                "processed",
                "{dataset} bad {format}"
            );
            assert_eq!(field(&summary, "accepted"), "1", "{dataset} bad {format}");
            assert_eq!(problems, expected(dataset), "{dataset} bad {format}");
        }
    }
    assert!(
        std::fs::read_dir(env.upload("zorg"))
            .unwrap()
            .next()
            .is_none(),
        "upload/ is emptied"
    );
    assert_eq!(files(&env.var().join("archive")).len(), 20);
    let log = daemon.stop();

    // No citizen number of the samples in clear: not in the ledger, receipts or logs.
    let mut haystack: Vec<u8> = log.into_bytes();
    haystack.extend(report.bytes());
    for path in files(&env.var()) {
        let name = path.to_string_lossy();
        if name.contains("/archive/") || name.ends_with("ttp.key") || name.contains("host_ed25519")
        {
            continue;
        }
        haystack.extend(std::fs::read(&path).unwrap());
    }
    for bsn in [
        "111222333",
        "123456782",
        "012345672",
        "12345672",
        "999900006",
        "123456789",
        "123456788",
    ] {
        assert!(
            !haystack.windows(bsn.len()).any(|w| w == bsn.as_bytes()),
            "{bsn} found in clear in the ledger, a receipt or a log"
        );
    }
}

#[test]
fn a_correction_replaces_a_row_and_an_identical_row_changes_nothing() {
    let env = env_with("");
    let header = "zorgaanbiedercode;pseudobsn;metingnummer;datum;gebruiktMeetinstrument;typeRespondent;totaalscoreMeting;status\n";
    let row = |score: &str, extra: &str| {
        format!("{header}87654321;111222333;M-1;2026-10-01;CT;01;{score};Volledig\n{extra}")
    };
    let changed = || -> Vec<(String, f64, i64)> {
        let conn = env.ledger();
        let mut stmt = conn.prepare("SELECT metingnummer, score, changed_delivery FROM measurement ORDER BY metingnummer").unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    std::fs::write(env.upload("zorg").join("first.csv"), row("8", "")).unwrap();
    let daemon = env.start();
    wait_until("first", || env.status()["deliveries"]["total"] == 1);
    process(&env);
    assert_eq!(changed(), [("M-1".to_owned(), 8.0, 1)]);
    std::fs::write(env.upload("zorg").join("correction.csv"), row("9", "")).unwrap();
    wait_until("second", || env.status()["deliveries"]["total"] == 2);
    process(&env);
    assert_eq!(changed(), [("M-1".to_owned(), 9.0, 2)]);
    std::fs::write(
        env.upload("zorg").join("same.csv"),
        row("9", "87654321;123456782;M-2;2026-10-01;GAS;01;1;\n"),
    )
    .unwrap();
    wait_until("third", || env.status()["deliveries"]["total"] == 3);
    process(&env);
    assert_eq!(
        changed(),
        [("M-1".to_owned(), 9.0, 2), ("M-2".to_owned(), 1.0, 3)],
        "the identical M-1 keeps its last change"
    );
    daemon.stop();
}

/// A zip whose single sheet unpacks to `size` bytes of zeros.
fn zip_bomb(path: &Path, size: usize) {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("xl/workbook.xml", options).unwrap();
    zip.write_all(b"<workbook/>").unwrap();
    zip.start_file("xl/worksheets/sheet1.xml", options).unwrap();
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..size / chunk.len() {
        zip.write_all(&chunk).unwrap();
    }
    zip.finish().unwrap();
}

/// Runs `process` and samples its peak memory (VmHWM) while it runs.
fn process_measuring_memory(env: &Env) -> (String, u64) {
    let child = env
        .command(&["process"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0;
    let sampler = std::thread::spawn(move || {
        while let Ok(text) = std::fs::read_to_string(&status) {
            if let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
            {
                peak_kib = peak_kib.max(kib);
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        peak_kib
    });
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8(out.stdout).unwrap(),
        sampler.join().unwrap(),
    )
}

#[test]
fn hostile_files_each_get_a_receipt_and_the_run_carries_on_in_bounded_memory() {
    let env = env_with("max_unpacked_bytes = 20000000");
    let upload = env.upload("zorg");
    zip_bomb(&upload.join("bomb.xlsx"), 200 << 20);
    std::fs::write(
        upload.join("laughs.xml"),
        "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\"><!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">]>\n<metingen><meting><metingnummer>&lol2;</metingnummer></meting></metingen>\n",
    )
    .unwrap();
    {
        use std::io::Write;
        let mut long =
            std::io::BufWriter::new(std::fs::File::create(upload.join("one-line.csv")).unwrap());
        long.write_all(b"zorgaanbiedercode;pseudobsn;metingnummer;datum;gebruiktMeetinstrument;typeRespondent;totaalscoreMeting\n").unwrap();
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..100 {
            long.write_all(&chunk).unwrap();
        }
    }
    let mut junk = b"MZ\x90\x00\x03".to_vec();
    junk.extend((0..4096u32).flat_map(|i| i.to_le_bytes()));
    std::fs::write(upload.join("junk.csv"), junk).unwrap();
    std::fs::write(upload.join("empty.csv"), b"").unwrap();
    std::fs::write(
        upload.join("header-only.csv"),
        "zorgaanbiedercode;pseudobsn;metingnummer;datum;gebruiktMeetinstrument;typeRespondent;totaalscoreMeting;status\r\n",
    )
    .unwrap();
    let mut bad_utf8 = b"\xEF\xBB\xBFzorgaanbiedercode;pseudobsn;metingnummer;datum;gebruiktMeetinstrument;typeRespondent;totaalscoreMeting\n".to_vec();
    bad_utf8.extend(b"87654321;111222333;Jos\xE9;2026-10-01;CT;01;7\n87654321;123456782;ok;2026-10-01;CT;01;7\n");
    std::fs::write(upload.join("bad-utf8.csv"), bad_utf8).unwrap();
    copy_sample(&env, "zorg", "metingen-good.csv", "good-after.csv");

    let daemon = env.start();
    wait_until("intake", || env.status()["deliveries"]["total"] == 8);
    let (report, peak_kib) = process_measuring_memory(&env);
    assert!(
        report.starts_with("2 processed, 1 rejected, 5 quarantined"),
        "{report}"
    );
    assert!(
        peak_kib > 0 && peak_kib < 100 * 1024,
        "peak memory {peak_kib} KiB"
    );

    let cases = [
        (
            "bomb.xlsx",
            "quarantined",
            "het bestand pakt uit tot meer dan 19.1 MiB",
        ),
        (
            "laughs.xml",
            "quarantined",
            "XML met een DOCTYPE (DTD) wordt niet aanvaard",
        ),
        (
            "one-line.csv",
            "quarantined",
            "regel 2 is langer dan 65536 bytes",
        ),
        (
            "junk.csv",
            "quarantined",
            "een Windows-programma (EXE of DLL), geen tabel",
        ),
        ("empty.csv", "quarantined", "het bestand is leeg"),
        ("header-only.csv", "rejected", "geen gegevensregels"),
        ("bad-utf8.csv", "processed", ""),
        ("good-after.csv", "processed", ""),
    ];
    for (file, status, error) in cases {
        let (summary, problems) = receipt(&env, "zorg", file);
        assert_eq!(field(&summary, "status"), status, "{file}: {summary:?}");
        assert!(
            field(&summary, "error").contains(error),
            "{file}: {summary:?}"
        );
        if file == "bad-utf8.csv" {
            assert_eq!(problems, ["2;;;unreadable"], "{file}");
        }
    }
    assert_eq!(files(&env.var().join("quarantine")).len(), 5);
    daemon.stop();
}

/// Writes `files` deliveries of `rows` valid measurements each into zorg's upload/, as
/// `<prefix>NN.csv`.
fn write_deliveries(env: &Env, prefix: &str, files: usize, rows: usize) {
    let header = "zorgaanbiedercode;pseudobsn;metingnummer;datum;gebruiktMeetinstrument;typeRespondent;totaalscoreMeting\n";
    for i in 0..files {
        let body: String = (0..rows)
            .map(|j| format!("87654321;111222333;{prefix}-{i}-{j};2026-10-01;CT;01;7\n"))
            .collect();
        std::fs::write(
            env.upload("zorg").join(format!("{prefix}{i:02}.csv")),
            format!("{header}{body}"),
        )
        .unwrap();
    }
}

#[test]
fn two_runs_at_once_process_each_file_once() {
    let env = env_with("");
    write_deliveries(&env, "f", 30, 200);
    let daemon = env.start();
    wait_until("intake", || env.status()["deliveries"]["total"] == 30);
    let spawn = || env.cmd(&["process"]);
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(spawn);
        let b = s.spawn(spawn);
        (a.join().unwrap(), b.join().unwrap())
    });
    let processed = |out: &std::process::Output| -> u64 {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(processed(&a) + processed(&b), 30);
    assert_eq!(
        env.number("SELECT count(*) FROM audit WHERE action = 'delivery.processed'"),
        30
    );
    assert_eq!(env.number("SELECT count(*) FROM measurement"), 30 * 200);
    assert_eq!(files(&env.var().join("tenants/zorg/receipts")).len(), 60);
    daemon.stop();
}

#[test]
fn a_run_missed_while_the_daemon_was_down_happens_at_start() {
    let env = env_with("");
    // The last run was three days ago: at least two 02:00 runs were missed.
    env.cmd_at("-3d", &["process"]);
    copy_sample(&env, "zorg", "metingen-good.csv", "late.csv");
    let daemon = env.start();
    wait_until("the catch-up run", || env.count("zorg", "processed") == 1);
    daemon.wait_for_log("a run was missed while the daemon was down; running now");
    // With the configuration (not just the state directory) status knows the next run.
    let out = env.cmd(&["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let job = &status["jobs"][0];
    assert_eq!(job["name"], "process");
    assert!(
        job["next_run"].as_str().unwrap().contains("T02:00:00"),
        "{job}"
    );
    daemon.stop();
}

#[test]
fn processing_without_a_key_refuses_and_leaves_files_waiting() {
    let env = Env::new(TENANTS);
    std::fs::create_dir_all(env.upload("zorg")).unwrap();
    copy_sample(&env, "zorg", "metingen-good.csv", "waiting.csv");
    let daemon = env.start();
    wait_until("intake", || env.count("zorg", "received") == 1);
    let out = env.cmd(&["process"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("processing is off") && stderr.contains("dropgate keygen"),
        "{stderr}"
    );
    assert_eq!(env.count("zorg", "received"), 1);
    daemon.stop();
}

#[test]
fn validate_checks_offline_and_exits_by_the_outcome() {
    for format in FORMATS {
        let good = Command::new(BIN)
            .args(["validate"])
            .arg(Path::new(SAMPLES).join(format!("metingen-good.{format}")))
            .output()
            .unwrap();
        assert!(
            good.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&good.stdout)
        );
        let bad = Command::new(BIN)
            .args(["validate", "--json"])
            .arg(Path::new(SAMPLES).join(format!("beschikkingen-bad.{format}")))
            .output()
            .unwrap();
        assert_eq!(bad.status.code(), Some(1), "{format}");
        let json: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
        assert_eq!(json["status"], "failed");
        assert_eq!(json["dataset"], "beschikkingen");
        // Offline, who may deliver which code is unknown: those two rules do not apply.
        let offline: Vec<String> = expected("beschikkingen")
            .into_iter()
            .filter(|l| !l.contains("not-own"))
            .collect();
        let got: Vec<String> = json["problems"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                format!(
                    "{};{};{};{}",
                    p["line"],
                    p["column"].as_str().unwrap(),
                    p["value"].as_str().unwrap(),
                    p["rule"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(got, offline, "{format}");
    }
    let forced = Command::new(BIN)
        .args(["validate", "--dataset", "beschikkingen"])
        .arg(Path::new(SAMPLES).join("metingen-good.csv"))
        .output()
        .unwrap();
    assert_eq!(forced.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&forced.stdout).contains("hier ontbreken: gemeentecode"));
}

#[test]
fn process_now_during_a_scheduled_run_processes_each_file_once() {
    let env = env_with("");
    // The last run was two days ago, and intake took the files in then.
    env.cmd_at("-2d", &["process"]);
    write_deliveries(&env, "s", 40, 300);
    let daemon = env.start_at("-2d");
    daemon.wait_for_log("the clock is moved by -172800 s");
    daemon.wait_until("intake", || env.count("zorg", "received") == 40);
    daemon.stop();
    // The daemon finds its 02:00 run missed and starts it at once...
    let daemon = env.start();
    assert!(!daemon.log().contains("the clock is moved"));
    daemon.wait_for_log("a run was missed while the daemon was down; running now");
    // ...while an operator runs one by hand.
    let manual = env.cmd(&["process"]);
    assert!(
        manual.status.success(),
        "{}",
        String::from_utf8_lossy(&manual.stderr)
    );
    daemon.wait_until("all forty processed", || {
        env.count("zorg", "processed") == 40
    });
    daemon.wait_for_log("job done");
    assert_eq!(
        env.number("SELECT count(*) FROM audit WHERE action = 'delivery.processed'"),
        40,
        "each file processed exactly once"
    );
    assert_eq!(files(&env.var().join("tenants/zorg/receipts")).len(), 80);
    daemon.stop();
}

#[test]
fn kill_9_mid_run_leaves_everything_as_it_was_and_the_next_run_carries_on() {
    let env = env_with("");
    write_deliveries(&env, "big", 1, 300_000);
    let daemon = env.start();
    daemon.wait_until("intake", || env.count("zorg", "received") == 1);
    daemon.stop();
    let mut run = env
        .command(&["process"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it while the delivery's transaction is open (its WAL grows as rows go in).
    let wal = env.var().join("dropgate.sqlite-wal");
    wait_until("rows being written", || {
        std::fs::metadata(&wal).is_ok_and(|m| m.len() > 2 << 20)
    });
    run.kill().unwrap();
    run.wait().unwrap();
    assert_eq!(
        env.number("SELECT count(*) FROM measurement"),
        0,
        "no row of an uncommitted delivery is visible"
    );
    assert_eq!(env.count("zorg", "received"), 1);
    assert!(env.upload("zorg").join("big00.csv").exists());
    assert!(files(&env.var().join("tenants/zorg/receipts")).is_empty());
    let report = process(&env);
    assert!(report.starts_with("1 processed"), "{report}");
    assert_eq!(env.number("SELECT count(*) FROM measurement"), 300_000);
    assert!(
        files(&env.var().join("staging")).is_empty(),
        "no work files left behind"
    );
}

#[test]
fn a_run_cut_off_after_its_commit_is_finished_by_the_next() {
    let env = env_with("");
    copy_sample(&env, "zorg", "metingen-good.csv", "late.csv");
    let daemon = env.start();
    daemon.wait_until("intake", || env.count("zorg", "received") == 1);
    daemon.stop();
    process(&env);
    // Put things back as they are between the commit and the moves of a run that died there.
    let receipts = env.var().join("tenants/zorg/receipts");
    let mut receipt_files = files(&receipts);
    receipt_files.sort();
    let staging = env.var().join("staging");
    std::fs::rename(&receipt_files[0], staging.join("receipt-1.result.csv")).unwrap();
    std::fs::rename(&receipt_files[1], staging.join("receipt-1.result.txt")).unwrap();
    let archived = files(&env.var().join("archive/zorg")).pop().unwrap();
    std::fs::rename(&archived, env.upload("zorg").join("late.csv")).unwrap();
    let conn = rusqlite::Connection::open(env.var().join("dropgate.sqlite")).unwrap();
    conn.execute("UPDATE delivery SET finished_at = NULL", [])
        .unwrap();
    drop(conn);
    let report = process(&env);
    assert!(
        report.starts_with("0 processed"),
        "nothing is processed twice: {report}"
    );
    assert_eq!(files(&receipts).len(), 2, "the receipts reached receipts/");
    assert!(files(&staging).is_empty());
    assert!(
        !env.upload("zorg").join("late.csv").exists(),
        "the original left upload/"
    );
    assert_eq!(files(&env.var().join("archive/zorg")).len(), 1);
    assert_eq!(
        env.number("SELECT count(*) FROM delivery WHERE finished_at IS NULL"),
        0
    );
}

#[test]
fn a_delivery_that_cannot_be_finished_fails_alone_and_is_given_up_after_three_runs() {
    let env = env_with("");
    copy_sample(&env, "utrecht", "beschikkingen-good.csv", "b.csv");
    copy_sample(&env, "zorg", "metingen-good.csv", "m.csv");
    let daemon = env.start();
    daemon.wait_until("intake", || env.status()["deliveries"]["total"] == 2);
    daemon.stop();
    // Utrecht's receipts cannot be placed: its receipts/ is a file.
    let receipts = env.var().join("tenants/utrecht/receipts");
    std::fs::remove_dir_all(&receipts).unwrap();
    std::fs::write(&receipts, b"in the way").unwrap();
    let failures = || env.number("SELECT failures FROM delivery WHERE file_name = 'b.csv'");

    let first = process(&env);
    assert!(
        first.starts_with("1 processed") && first.contains("1 failed"),
        "the other delivery is processed in the same run: {first}"
    );
    assert_eq!(env.count("zorg", "processed"), 1);
    assert_eq!(failures(), 1);
    assert!(process(&env).contains("1 failed"));
    assert_eq!(failures(), 2);
    assert!(process(&env).contains("1 failed"));
    assert_eq!(failures(), 3);
    assert_eq!(
        env.number("SELECT count(*) FROM delivery WHERE finished_at IS NULL"),
        0,
        "given up after three runs"
    );
    assert!(process(&env).contains("0 failed"), "and not tried again");
    let last = env.texts(
        "SELECT last_failure FROM delivery WHERE file_name = 'b.csv'",
        [],
    );
    assert!(last[0].contains("cannot move a receipt"), "{last:?}");
    assert_eq!(
        env.number("SELECT count(*) FROM audit WHERE action = 'delivery.failed'"),
        3
    );
}

#[test]
fn a_delivery_that_fails_before_its_outcome_is_quarantined_after_three_runs() {
    let env = env_with("");
    // The same measurement twice: its receipt merges a log of repeats in staging/.
    let header = "zorgaanbiedercode;pseudobsn;metingnummer;datum;gebruiktMeetinstrument;typeRespondent;totaalscoreMeting;status";
    let row = "87654321;123456782;M-1;2026-10-01;CT;01;8,5;Volledig";
    std::fs::write(
        env.upload("zorg").join("twice.csv"),
        format!("{header}\n{row}\n{row}\n"),
    )
    .unwrap();
    copy_sample(&env, "utrecht", "beschikkingen-good.csv", "b.csv");
    let daemon = env.start();
    daemon.wait_until("intake", || env.status()["deliveries"]["total"] == 2);
    daemon.stop();
    let id = env.number("SELECT id FROM delivery WHERE file_name = 'twice.csv'");
    // Something in the way of that merge, found before the outcome is committed.
    std::fs::create_dir_all(env.var().join(format!("staging/receipt-{id}.merged.csv/x"))).unwrap();
    let failures = || env.number("SELECT failures FROM delivery WHERE file_name = 'twice.csv'");

    let first = process(&env);
    assert!(
        first.starts_with("1 processed") && first.contains("1 failed"),
        "the other delivery is processed in the same run: {first}"
    );
    assert_eq!(failures(), 1);
    assert_eq!(
        env.number("SELECT count(*) FROM measurement"),
        0,
        "nothing of a failed run is stored"
    );
    assert!(
        env.upload("zorg").join("twice.csv").exists(),
        "left to try again"
    );
    assert!(process(&env).contains("1 failed"));
    assert_eq!(failures(), 2);
    let third = process(&env);
    assert!(
        third.contains("1 quarantined") && third.contains("1 failed"),
        "{third}"
    );
    assert_eq!(env.count("zorg", "quarantined"), 1);
    assert_eq!(env.number("SELECT count(*) FROM measurement"), 0);
    let error = env.texts(
        "SELECT error FROM delivery WHERE file_name = 'twice.csv'",
        [],
    );
    assert!(
        error[0].starts_with("na 3 pogingen niet verwerkt: cannot write a receipt"),
        "{error:?}"
    );
    let receipts = files(&env.var().join("tenants/zorg/receipts"));
    let txt = receipts
        .iter()
        .find(|p| p.to_string_lossy().ends_with(".result.txt"))
        .expect("a receipt");
    let txt = std::fs::read_to_string(txt).unwrap();
    assert!(txt.contains("na 3 pogingen niet verwerkt"), "{txt}");
    assert!(
        !env.upload("zorg").join("twice.csv").exists()
            && files(&env.var().join("quarantine/zorg")).len() == 1,
        "the original is moved to quarantine"
    );
    assert!(
        process(&env).starts_with("0 processed"),
        "and not tried again"
    );
}

#[test]
fn a_file_changed_or_gone_since_intake_is_left_waiting_with_nothing_stored() {
    let env = env_with("");
    copy_sample(&env, "zorg", "metingen-good.csv", "m.csv");
    copy_sample(&env, "utrecht", "beschikkingen-good.csv", "b.csv");
    let daemon = env.start();
    daemon.wait_until("intake", || env.status()["deliveries"]["total"] == 2);
    daemon.stop();
    // Changed in place after intake recorded it (same name, other rows), and removed.
    let changed = env.upload("zorg").join("m.csv");
    let mut text = std::fs::read_to_string(&changed).unwrap();
    text = text.replace("M-1;", "M-9;");
    std::fs::write(&changed, text).unwrap();
    std::fs::remove_file(env.upload("utrecht").join("b.csv")).unwrap();

    let out = process(&env);
    assert!(
        out.contains("2 skipped") && out.contains("0 failed"),
        "{out}"
    );
    assert_eq!(env.number("SELECT count(*) FROM measurement"), 0);
    assert_eq!(env.number("SELECT count(*) FROM decision"), 0);
    assert_eq!(
        env.number("SELECT count(*) FROM delivery WHERE processed_at IS NULL"),
        2,
        "both wait"
    );
    assert!(changed.exists(), "the changed file stays for intake");
    assert!(files(&env.var().join("tenants/zorg/receipts")).is_empty());
    assert!(
        files(&env.var().join("staging")).is_empty(),
        "nothing left in staging/"
    );
}

/// DESIGN 3.1: a measurement belongs to the care provider whose folder it came in. A row
/// with another provider's AGB code is rejected with the folder it belongs in, whoever
/// delivered it, so that results, mails and figures speak of one provider.
#[test]
fn rows_with_another_providers_agb_code_are_rejected_with_its_folder() {
    let env = env_with(
        "\n[[tenant]]\nid = \"linde\"\nkind = \"supplier\"\ncode = \"22334455\"\nname = \"Linde\"\n",
    );
    let header = "zorgaanbiedercode;pseudobsn;metingnummer;datum;gebruiktMeetinstrument;typeRespondent;totaalscoreMeting;status\r\n";
    let rows = [
        "87654321;111222333;M-1;2026-10-01;CT;01;8;",
        "22334455;123456782;M-2;2026-10-01;CT;01;7;",
        "99887766;123456782;M-3;2026-10-01;CT;01;6;",
    ];
    std::fs::write(
        env.upload("zorg").join("mixed.csv"),
        format!("{header}{}\r\n", rows.join("\r\n")),
    )
    .unwrap();
    let daemon = env.start();
    daemon.wait_until("intake", || env.status()["deliveries"]["total"] == 1);
    daemon.stop();
    process(&env);
    let (summary, problems) = receipt(&env, "zorg", "mixed.csv");
    assert_eq!(field(&summary, "accepted"), "1");
    assert_eq!(
        problems,
        [
            "3;zorgaanbiedercode;******55;agb.other-provider",
            "4;zorgaanbiedercode;******66;agb.other-provider"
        ]
    );
    let dir = env.var().join("tenants/zorg/receipts");
    let text: String = files(&dir)
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(".result.csv"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert!(text.contains("/linde/upload/"), "{text}");
    assert!(text.contains("/zorg/upload/"), "{text}");
    let agb: Vec<String> = env
        .ledger()
        .prepare("SELECT DISTINCT agb FROM measurement")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(agb, ["87654321"]);
}

/// Receipts speak the configured language (Dutch unless English is asked for), in their
/// messages too, with stable rule ids beside them and local times as people write them.
#[test]
fn receipts_are_dutch_by_default_and_english_on_request() {
    for (language, empty, range) in [
        (
            "",
            "mag niet leeg zijn",
            "moet van 0 tot en met 10 zijn voor CT",
        ),
        (
            "language = \"en\"\n",
            "must not be empty",
            "must be from 0 to 10 for CT",
        ),
    ] {
        let env = Env::new(TENANTS);
        // A top-level key: before the tables that write_config starts with.
        std::fs::write(
            env.config(),
            format!("state_dir = \"var\"\n{language}[sftp]\nlisten = \"127.0.0.1:0\"\n{TENANTS}"),
        )
        .unwrap();
        assert!(env.cmd(&["keygen"]).status.success());
        std::fs::create_dir_all(env.upload("zorg")).unwrap();
        copy_sample(&env, "zorg", "metingen-bad.csv", "bad.csv");
        let daemon = env.start();
        daemon.wait_until("intake", || env.status()["deliveries"]["total"] == 1);
        daemon.stop();
        process(&env);
        let dir = env.var().join("tenants/zorg/receipts");
        let read = |suffix: &str| {
            files(&dir)
                .iter()
                .find(|p| p.to_string_lossy().ends_with(suffix))
                .map(|p| std::fs::read_to_string(p).unwrap())
                .unwrap()
        };
        let (csv, txt) = (read(".result.csv"), read(".txt"));
        assert!(
            csv.contains(&format!("7;metingnummer;;required;{empty}\r\n")),
            "{csv}"
        );
        assert!(csv.contains(&format!(";score.range;{range}")), "{csv}");
        assert!(txt.contains(empty) && txt.contains("[required]"), "{txt}");
        // When it was received and checked: dd-mm-jjjj uu:mm, local.
        assert!(has_people_time(&txt), "{txt}");
    }
}

/// Whether `text` has a time written as `dd-mm-yyyy hh:mm`.
fn has_people_time(text: &str) -> bool {
    text.as_bytes().windows(16).any(|w| {
        w.iter().enumerate().all(|(i, &b)| match i {
            2 | 5 => b == b'-',
            10 => b == b' ',
            13 => b == b':',
            _ => b.is_ascii_digit(),
        })
    })
}
