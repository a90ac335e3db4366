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

/// An xlsx whose one data cell holds `mib` MiB of text: small on disk, past any pre-check
/// (it declares nothing), and more than the reader may hold.
fn xlsx_with_a_huge_cell(path: &Path, mib: usize) {
    use zip::write::SimpleFileOptions;
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let deflated =
        SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let entries: [(&str, &str); 4] = [
        (
            "_rels/.rels",
            r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#,
        ),
        (
            "[Content_Types].xml",
            r#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#,
        ),
        (
            "xl/workbook.xml",
            r#"<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Blad1" sheetId="1" r:id="rId1"/></sheets></workbook>"#,
        ),
        (
            "xl/_rels/workbook.xml.rels",
            r#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#,
        ),
    ];
    for (name, text) in entries {
        zip.start_file(name, deflated).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.start_file("xl/worksheets/sheet1.xml", deflated)
        .unwrap();
    let header: String = HEADER
        .trim_end()
        .split(';')
        .enumerate()
        .map(|(i, h)| {
            format!(
                r#"<c r="{}1" t="inlineStr"><is><t>{h}</t></is></c>"#,
                char::from(b'A' + i as u8)
            )
        })
        .collect();
    write!(
        zip,
        r#"<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1">{header}</row><row r="2"><c r="A2" t="inlineStr"><is><t>"#
    )
    .unwrap();
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..mib {
        zip.write_all(&chunk).unwrap();
    }
    zip.write_all(b"</t></is></c></row></sheetData></worksheet>")
        .unwrap();
    zip.finish().unwrap();
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
    xlsx_with_a_huge_cell(&dir.join("cell.xlsx"), 300);
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
        .args(["huge.xls", "cell.xlsx", "slow.csv", "good.csv"].map(|f| dir.join(f)))
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
    // The common bomb is refused by its pre-check; one that declares nothing by the limit.
    let (code, text) = outcome(0);
    assert_eq!(code, "file.unreadable");
    assert!(text.contains("ongelezen geweigerd"), "{text}");
    assert_eq!(
        outcome(1),
        (
            "limit.memory".into(),
            "het bestand vraagt meer geheugen dan toegestaan (256 MiB)".into()
        )
    );
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
    // Its own /proc files are what the C runtime reads at start (the main thread's stack
    // from /proc/self/maps); a descriptor may close while it is looked at.
    let own = format!("/proc/{child}/");
    for fd in std::fs::read_dir(format!("/proc/{child}/fd"))
        .unwrap()
        .flatten()
    {
        let Ok(target) = std::fs::read_link(fd.path()) else {
            continue;
        };
        let text = target.to_string_lossy();
        assert!(
            target == delivered
                || text.starts_with("pipe:")
                || text == "/dev/null"
                || text.starts_with(&own),
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
