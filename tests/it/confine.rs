//! The confined reader: a file that breaks a limit is stopped and named, and the child runs
//! with its limits, an empty environment, and nothing open but the file and its pipes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{BIN, Env, PATIENCE, SAMPLES};

const HEADER: &str = "zorgaanbiedercode;pseudobsn;metingnummer;datum;gebruiktMeetinstrument;typeRespondent;totaalscoreMeting;status\n";

/// A valid BSN for `n` (the 11-check holds).
fn bsn(n: u32) -> String {
    let mut digits: Vec<u32> = format!("{:08}", 10_000_000 + n % 80_000_000)
        .bytes()
        .map(|b| u32::from(b - b'0'))
        .collect();
    loop {
        let sum: u32 = digits
            .iter()
            .zip([9, 8, 7, 6, 5, 4, 3, 2])
            .map(|(d, w)| d * w)
            .sum();
        if sum % 11 < 10 {
            digits.push(sum % 11);
            return digits.iter().map(|d| char::from(b'0' + *d as u8)).collect();
        }
        digits[7] = (digits[7] + 1) % 10;
    }
}

/// A valid `metingen` CSV of `rows` rows: large enough that reading it takes more than a
/// second of CPU time in a debug build.
fn big_csv(path: &Path, rows: u32) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    out.write_all(HEADER.as_bytes()).unwrap();
    for i in 0..rows {
        writeln!(
            out,
            "11111111;{};M{i:09};2026-01-05;CT;01;7;Volledig",
            bsn(i)
        )
        .unwrap();
    }
    out.flush().unwrap();
}

/// `samples/metingen-good.xls` with a DIMENSIONS record that claims `rows` x `cols` cells.
fn xls_claiming(path: &Path, rows: u32, cols: u16) {
    let mut data = std::fs::read(Path::new(SAMPLES).join("metingen-good.xls")).unwrap();
    let at = data
        .windows(4)
        .position(|w| w == [0x00, 0x02, 0x0e, 0x00])
        .expect("a DIMENSIONS record");
    data[at + 8..at + 12].copy_from_slice(&rows.to_le_bytes());
    data[at + 14..at + 16].copy_from_slice(&cols.to_le_bytes());
    std::fs::write(path, data).unwrap();
}

fn config_with_limits(env: &Env, limits: &str) -> PathBuf {
    env.write_config(&format!("[limits]\n{limits}\n"));
    env.config()
}

#[test]
fn a_file_that_breaks_a_limit_is_stopped_and_the_limit_named() {
    let env = Env::new("");
    let dir = env.dir.path();
    xls_claiming(&dir.join("huge.xls"), u32::MAX, u16::MAX);
    xls_claiming(&dir.join("large.xls"), 2_000_000, 256);
    big_csv(&dir.join("slow.csv"), 200_000);
    std::fs::copy(
        Path::new(SAMPLES).join("metingen-good.csv"),
        dir.join("good.csv"),
    )
    .unwrap();
    let config = config_with_limits(&env, "reader_memory_mib = 256\nreader_cpu_secs = 1");
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .args(["validate", "--json"])
        .args(["huge.xls", "large.xls", "slow.csv", "good.csv"].map(|f| dir.join(f)))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let outcome = |i: usize| {
        let r = &reports[i];
        (
            r["error_code"].as_str().unwrap_or("").to_owned(),
            r["error"].as_str().unwrap_or("").to_owned(),
        )
    };
    for i in [0, 1] {
        assert_eq!(
            outcome(i),
            (
                "limit.memory".into(),
                "het bestand vraagt meer geheugen dan toegestaan (256 MiB)".into()
            )
        );
    }
    assert_eq!(
        outcome(2),
        (
            "limit.cpu".into(),
            "het lezen van het bestand kost meer rekentijd dan toegestaan (1 s)".into()
        )
    );
    assert_eq!(reports[3]["status"], "passed");
}

#[test]
fn the_reader_has_its_limits_no_environment_and_only_the_file_open() {
    let env = Env::new("[limits]\nreader_memory_mib = 300\nreader_cpu_secs = 60\n");
    let file = env.dir.path().join("slow.csv");
    big_csv(&file, 300_000);
    let mut parent = Command::new(BIN)
        .arg("--config")
        .arg(env.config())
        .arg("validate")
        .arg(&file)
        .env("DROPGATE_TEST_SECRET", "not for the reader")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let child = find_child(parent.id()).expect("the reader child appears");
    let proc_file = |name: &str| std::fs::read(format!("/proc/{child}/{name}")).unwrap();
    let limits = String::from_utf8(proc_file("limits")).unwrap();
    let limit = |name: &str| -> Vec<String> {
        let line = limits.lines().find(|l| l.starts_with(name)).unwrap();
        line[name.len()..]
            .split_whitespace()
            .take(2)
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(limit("Max address space"), ["314572800", "314572800"]);
    assert_eq!(limit("Max cpu time"), ["60", "61"]);
    assert_eq!(limit("Max file size"), ["0", "0"]);
    assert_eq!(limit("Max open files"), ["16", "16"]);
    let status = String::from_utf8(proc_file("status")).unwrap();
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    assert!(proc_file("environ").is_empty(), "the environment is empty");
    let delivered = std::fs::canonicalize(&file).unwrap();
    for fd in std::fs::read_dir(format!("/proc/{child}/fd")).unwrap() {
        let target = std::fs::read_link(fd.unwrap().path()).unwrap();
        let text = target.to_string_lossy();
        assert!(
            target == delivered || text.starts_with("pipe:") || text == "/dev/null",
            "the reader has {text} open"
        );
    }
    parent.kill().unwrap();
    parent.wait().unwrap();
}

/// The pid of `parent`'s `read-delivery` child, once it runs.
fn find_child(parent: u32) -> Option<u32> {
    let start = Instant::now();
    while start.elapsed() < PATIENCE {
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // Field 4, after the parenthesised command name, is the parent pid.
            let ppid = stat
                .rsplit_once(") ")
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if ppid == Some(parent)
                && cmdline
                    .split(|b| *b == 0)
                    .any(|arg| arg == b"read-delivery")
            {
                return Some(pid);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}
