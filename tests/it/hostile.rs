//! The acceptance test of "no delivery can stop the service" (DESIGN 8, invariants 5-7):
//! dozens of hostile files (declared-size bombs in every spreadsheet format, zip bombs,
//! XML that nests, declares entities or never ends a node, binary junk, odd encodings, a
//! 240-byte name, citizen numbers hidden inside longer values) are dropped into one
//! supplier's `upload/` while two other tenants deliver good files, and one processing run
//! must give each its own outcome and Dutch receipt, process the good ones, stay small in
//! memory, leave the daemon running, and leave no planted citizen number in clear anywhere
//! outside `archive/` and `quarantine/`.
//!
//! The files are made by `tests/make-hostile.py` (python3, standard library only).

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{Env, drop_file, files};

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/samples");
const MAKE_HOSTILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/make-hostile.py");

/// The hostile supplier (its AGB code is the one `make-hostile.py` writes), a supplier and a
/// municipality with the samples' codes; all with contacts, so every outcome is mailed too.
/// A reader gets 30 s of CPU (60 s wall) instead of 300: a file that makes it spin still
/// gets its outcome, and the test stays bounded.
const CONFIG: &str = r#"
[limits]
reader_cpu_secs = 30

[[tenant]]
id = "vreemd"
kind = "supplier"
code = "13572468"
name = "Vreemde Zorg"
contacts = ["data@vreemd.example"]

[[tenant]]
id = "zorg"
kind = "supplier"
code = "87654321"
name = "Zorg"
contacts = ["kwaliteit@zorg.example"]

[[tenant]]
id = "utrecht"
kind = "municipality"
code = "0344"
name = "Utrecht"
contacts = ["data@utrecht.example"]
"#;

/// The peak resident memory the processing parent may reach.
const MAX_PARENT_KIB: u64 = 100 * 1024;

/// Longest a whole run over the hostile files may take before the test gives up on it.
const RUN_LIMIT: Duration = Duration::from_secs(900);

/// VmHWM (peak resident set) of process `pid`, in KiB.
fn peak_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
}

/// What one `process` did.
struct Run {
    stdout: String,
    stderr: String,
    peak_kib: u64,
    took: Duration,
}

/// Runs `process` (with debug logs), sampling its peak memory until it exits; kills
/// it and fails after [`RUN_LIMIT`].
fn process_measuring_memory(env: &Env) -> Run {
    let started = Instant::now();
    let mut child = env
        .command(&["process"])
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pipe = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let stdout = pipe(Box::new(child.stdout.take().unwrap()));
    let stderr = pipe(Box::new(child.stderr.take().unwrap()));
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = peak_kib(child.id()) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "process still running after {RUN_LIMIT:?}; its log:\n{}",
                stderr.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let run = Run {
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
        peak_kib: peak,
        took: started.elapsed(),
    };
    assert!(status.success(), "process failed: {}", run.stderr);
    run
}

/// The counts of a run's report line (`N processed, N rejected, ...`), by word.
fn report_count(report: &str, word: &str) -> u64 {
    report
        .lines()
        .next()
        .unwrap_or("")
        .split(", ")
        .find_map(|part| {
            let (n, what) = part.split_once(' ')?;
            what.starts_with(word).then(|| n.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no {word:?} in the report {report:?}"))
}

/// Where `needle` occurs in `haystack` (a file read lossily: every needle is ASCII), with
/// some characters around it, escaped onto one line. `str` search, because it stays quick
/// in a debug build and the sources run to tens of MB.
fn occurrences(haystack: &str, needle: &str) -> Vec<String> {
    haystack
        .match_indices(needle)
        .take(3)
        .map(|(at, _)| {
            let mut from = at.saturating_sub(60);
            while !haystack.is_char_boundary(from) {
                from -= 1;
            }
            let mut to = (at + needle.len() + 60).min(haystack.len());
            while !haystack.is_char_boundary(to) {
                to += 1;
            }
            haystack[from..to].escape_debug().to_string()
        })
        .collect()
}

/// How long the run spent on each delivery (by file name): from its start (`processed_at`)
/// to the next delivery's, or to the end of the run.
fn seconds_per_delivery(
    conn: &rusqlite::Connection,
    run_started: chrono::DateTime<chrono::Utc>,
    run_ended: chrono::DateTime<chrono::Utc>,
) -> std::collections::HashMap<String, f64> {
    let mut stmt = conn
        .prepare("SELECT file_name, processed_at FROM delivery WHERE processed_at IS NOT NULL")
        .unwrap();
    let mut starts: Vec<(String, chrono::DateTime<chrono::Utc>)> = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .map(|(name, at)| {
            let at = chrono::DateTime::parse_from_rfc3339(&at).unwrap();
            (name, at.with_timezone(&chrono::Utc))
        })
        .filter(|(_, at)| *at >= run_started)
        .collect();
    starts.sort_by_key(|(_, at)| *at);
    starts
        .iter()
        .enumerate()
        .map(|(i, (name, at))| {
            let end = starts.get(i + 1).map_or(run_ended, |(_, next)| *next);
            (name.clone(), (end - *at).as_seconds_f64())
        })
        .collect()
}

#[derive(serde::Deserialize)]
struct Manifest {
    files: Vec<String>,
    planted: Vec<Planted>,
}

#[derive(serde::Deserialize)]
struct Planted {
    file: String,
    bsn: String,
    shape: String,
}

#[test]
fn no_delivery_can_stop_the_service_and_no_planted_bsn_leaks() {
    let test_started = Instant::now();
    let env = Env::new(CONFIG);
    let out = env.cmd(&["keygen"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for t in ["vreemd", "zorg", "utrecht"] {
        std::fs::create_dir_all(env.upload(t)).unwrap();
    }

    // The hostile files, made outside the state directory.
    let made = env.dir.path().join("hostile");
    let started = Instant::now();
    let out = Command::new("python3")
        .arg(MAKE_HOSTILE)
        .arg(&made)
        .output()
        .expect("python3 (in CI)");
    assert!(
        out.status.success(),
        "make-hostile.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let made_in = started.elapsed();
    let manifest: Manifest = serde_json::from_slice(&out.stdout).unwrap();
    let on_disk: u64 = files(&made)
        .iter()
        .map(|p| p.metadata().unwrap().len())
        .sum();
    println!(
        "{} hostile files, {:.1} MB on disk, made in {made_in:.1?}",
        manifest.files.len(),
        on_disk as f64 / 1e6
    );
    assert!(manifest.files.len() >= 40, "{}", manifest.files.len());
    assert!(on_disk < 60_000_000, "{on_disk} bytes of hostile files");
    let long_name = manifest
        .files
        .iter()
        .find(|f| f.len() == 240)
        .expect("a 240-byte name")
        .clone();

    let mut daemon = env.start();
    // Delivered the way local producers must (temp name, then rename), while the two other
    // tenants deliver good files.
    std::thread::scope(|s| {
        s.spawn(|| {
            let upload = env.upload("vreemd");
            for name in &manifest.files {
                let tmp = upload.join(format!(".{name}.tmp"));
                std::fs::rename(made.join(name), &tmp).unwrap();
                std::fs::rename(&tmp, upload.join(name)).unwrap();
            }
        });
        s.spawn(|| {
            for (tenant, sample) in [
                ("zorg", "metingen-good.csv"),
                ("utrecht", "beschikkingen-good.csv"),
            ] {
                let content = std::fs::read(Path::new(SAMPLES).join(sample)).unwrap();
                drop_file(&env.upload(tenant), sample, &content);
            }
        });
    });
    let expected = manifest.files.len() as u64 + 2;
    daemon.wait_until("intake of every delivery", || {
        env.status()["deliveries"]["total"] == expected
    });
    assert_eq!(
        env.count("vreemd", "received"),
        manifest.files.len() as u64,
        "every hostile file is its own delivery (no duplicates)"
    );
    assert_eq!(env.count("zorg", "received"), 1);
    assert_eq!(env.count("utrecht", "received"), 1);

    // One run.
    let run_started = chrono::Utc::now();
    let run = process_measuring_memory(&env);
    let run_ended = chrono::Utc::now();
    let daemon_peak = peak_kib(daemon.child.id()).unwrap_or(0);
    println!("report: {}", run.stdout.trim());
    println!(
        "process: {:.1?}, peak RSS {} KiB ({:.1} MiB); daemon peak RSS {} KiB",
        run.took,
        run.peak_kib,
        run.peak_kib as f64 / 1024.0,
        daemon_peak
    );

    let mut failures: Vec<String> = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            failures.push(what);
        }
    };

    // The daemon still runs and answers: status, and intake of a new file.
    check(
        daemon.child.try_wait().unwrap().is_none(),
        "the daemon exited during the run".into(),
    );
    let content = std::fs::read(Path::new(SAMPLES).join("metingen-voorbeeld.csv")).unwrap();
    drop_file(&env.upload("zorg"), "after-the-run.csv", &content);
    daemon.wait_until("intake after the run", || {
        env.count("zorg", "received") == 1
    });

    check(
        run.peak_kib > 0 && run.peak_kib < MAX_PARENT_KIB,
        format!("peak RSS of process: {} KiB", run.peak_kib),
    );
    check(
        report_count(&run.stdout, "failed") == 0 && report_count(&run.stdout, "skipped") == 0,
        format!("the run left deliveries without an outcome: {}", run.stdout),
    );

    // The good deliveries of the other tenants went through in this same run.
    for (tenant, name) in [
        ("zorg", "metingen-good.csv"),
        ("utrecht", "beschikkingen-good.csv"),
    ] {
        let states = env.texts(
            "SELECT state FROM delivery WHERE tenant_id = ?1 AND file_name = ?2",
            [tenant, name],
        );
        check(
            states == ["processed"],
            format!("{tenant}/{name}: {states:?}"),
        );
    }

    // Every hostile file: an outcome and a Dutch receipt.
    let receipts = env.var().join("tenants/vreemd/receipts");
    let conn = env.ledger();
    let took = seconds_per_delivery(&conn, run_started, run_ended);
    let mut table = vec![format!(
        "{:<34} | {:<11} | {:>6} | error",
        "file", "outcome", "secs"
    )];
    for name in &manifest.files {
        let row: Option<(String, Option<String>, Option<String>)> = conn
            .query_row(
                "SELECT state, error, receipt FROM delivery WHERE tenant_id = 'vreemd' AND file_name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .ok();
        let shown: String = if name.len() > 34 {
            format!("{}… ({} bytes)", &name[..20], name.len())
        } else {
            name.clone()
        };
        let Some((state, error, receipt)) = row else {
            check(false, format!("{shown}: not in the ledger"));
            continue;
        };
        table.push(format!(
            "{shown:<34} | {state:<11} | {:>6.1} | {}",
            took.get(name).copied().unwrap_or(f64::NAN),
            error.as_deref().unwrap_or("")
        ));
        check(
            ["processed", "rejected", "quarantined"].contains(&state.as_str()),
            format!("{shown}: left {state}"),
        );
        let Some(receipt) = receipt else {
            check(false, format!("{shown}: no receipt recorded"));
            continue;
        };
        let txt = receipts.join(format!("{receipt}.result.txt"));
        let csv = receipts.join(format!("{receipt}.result.csv"));
        let text = std::fs::read_to_string(&txt).unwrap_or_default();
        check(
            text.contains("bestand:") && text.contains("status:") && csv.exists(),
            format!("{shown}: no Dutch receipt at {}: {text:?}", txt.display()),
        );
        if *name == long_name {
            for path in [&txt, &csv] {
                let len = path.file_name().unwrap().len();
                check(
                    len <= 255,
                    format!("receipt name of the 240-byte name is {len} bytes"),
                );
            }
        }
    }
    drop(conn);
    println!("{}", table.join("\n"));
    check(
        std::fs::read_dir(env.upload("vreemd"))
            .unwrap()
            .next()
            .is_none(),
        "vreemd's upload/ is not emptied".into(),
    );

    // Every outcome mailed (the daemon's mail worker writes .eml files). A running daemon
    // finds mail that another process queued only at its fallback poll; one started now
    // sends it at once.
    let mut log = daemon.stop();
    let daemon = env.start();
    daemon.wait_until("the mail queue to empty", || {
        env.number("SELECT count(*) FROM mail WHERE state = 'queued'") == 0
    });
    log.push_str(&daemon.stop());

    // No planted citizen number in clear: every byte of the state directory except the
    // originals (in archive/, quarantine/, and the one delivered after the run still
    // waiting in upload/), the logs of the daemon and of the run, and the mails.
    let grep_started = Instant::now();
    let mut sources: Vec<(String, String)> = vec![
        ("daemon log".into(), log),
        ("process stdout".into(), run.stdout),
        ("process stderr".into(), run.stderr),
    ];
    let var = env.var();
    for path in files(&var) {
        let rel = path.strip_prefix(&var).unwrap();
        let waiting = rel.parent().is_some_and(|p| p.ends_with("upload"));
        if rel.starts_with("archive") || rel.starts_with("quarantine") || waiting {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap_or_default();
        sources.push((
            rel.display().to_string(),
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
    }
    let mails = files(&var.join("mail")).len();
    check(mails > 0, "no .eml mail written".into());
    let mut needles: Vec<(String, String)> = Vec::new();
    for p in &manifest.planted {
        needles.push((p.file.clone(), p.bsn.clone()));
        if p.shape != p.bsn {
            needles.push((p.file.clone(), p.shape.clone()));
        }
    }
    for sample in ["111222333", "123456782"] {
        needles.push(("the samples".into(), sample.into()));
    }
    for (file, needle) in &needles {
        for (source, bytes) in &sources {
            let found = occurrences(bytes, needle);
            check(
                found.is_empty(),
                format!("{needle:?} (planted in {file}) in clear in {source}: {found:?}"),
            );
        }
    }

    println!(
        "searched {} sources ({:.1} MB) for {} needles in {:.1?}",
        sources.len(),
        sources.iter().map(|(_, s)| s.len()).sum::<usize>() as f64 / 1e6,
        needles.len(),
        grep_started.elapsed()
    );
    println!("whole test: {:.1?}", test_started.elapsed());
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
