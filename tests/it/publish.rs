//! Publication: what a municipality's bundle holds, hashed, exactly once.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::util::{Env, SAMPLES};

fn env() -> Env {
    env_with("")
}

/// The supplier `zorg` (AGB 87654321), the municipality `utrecht` (0344), and `extra`.
fn env_with(extra: &str) -> Env {
    let env = Env::new(&format!(
        "[[tenant]]\nid = \"zorg\"\nkind = \"supplier\"\ncode = \"87654321\"\nname = \"Zorg\"\n\
         [[tenant]]\nid = \"utrecht\"\nkind = \"municipality\"\ncode = \"0344\"\nname = \"Utrecht\"\n{extra}",
    ));
    assert!(env.cmd(&["keygen"]).status.success());
    env.start().stop(); // the ledger and the folders
    env
}

/// As `env`, with fixed keys (file name, the byte it repeats; see samples/README.md) instead
/// of new ones, written before the first start: the ledger records the fingerprint of the
/// keys it first uses and refuses others later.
fn env_with_keys(keys: &[(&str, u8)]) -> Env {
    let env = Env::new(
        "[[tenant]]\nid = \"zorg\"\nkind = \"supplier\"\ncode = \"87654321\"\nname = \"Zorg\"\n\
         [[tenant]]\nid = \"utrecht\"\nkind = \"municipality\"\ncode = \"0344\"\nname = \"Utrecht\"\n",
    );
    for (file, byte) in keys {
        std::fs::write(env.var().join(file), [*byte; 32]).unwrap();
    }
    env.start().stop();
    env
}

/// Puts `content` into `tenant`'s upload/ and processes it (intake by a short daemon run).
fn deliver(env: &Env, tenant: &str, name: &str, content: &[u8]) {
    deliver_all(env, &[(tenant, name, content)]);
}

/// Puts each `(tenant, name, content)` into its upload/ and processes them all.
fn deliver_all(env: &Env, files: &[(&str, &str, &[u8])]) {
    deliver_all_at(env, "+0s", files);
}

/// As `deliver_all`, with intake and processing on a clock moved by `offset`.
pub(crate) fn deliver_all_at(env: &Env, offset: &str, files: &[(&str, &str, &[u8])]) {
    take_in_at(env, offset, files);
    env.cmd_at(offset, &["process"]);
}

/// Puts each `(tenant, name, content)` into its upload/ and lets intake record them (a short
/// daemon run on a clock moved by `offset`), without processing them.
pub(crate) fn take_in_at(env: &Env, offset: &str, files: &[(&str, &str, &[u8])]) {
    let before = env.status()["deliveries"]["total"].as_u64().unwrap_or(0);
    for (tenant, name, content) in files {
        std::fs::write(env.upload(tenant).join(name), content).unwrap();
    }
    let daemon = env.start_at(offset);
    daemon.wait_until("intake", || {
        env.status()["deliveries"]["total"].as_u64() == Some(before + files.len() as u64)
    });
    daemon.stop();
}

/// Delivers the sample `sample` into `tenant`'s upload/ as `name`, and processes it.
fn deliver_sample(env: &Env, tenant: &str, sample: &str, name: &str) {
    deliver_sample_at(env, "+0s", tenant, sample, name);
}

/// As `deliver_sample`, with intake and processing on a clock moved by `offset`.
fn deliver_sample_at(env: &Env, offset: &str, tenant: &str, sample: &str, name: &str) {
    let content = std::fs::read(Path::new(SAMPLES).join(sample)).unwrap();
    deliver_all_at(env, offset, &[(tenant, name, &content)]);
}

/// The clock offset that has files received at 00:30 on 1 January 2027, Amsterdam time
/// (23:30 UTC on 31 December), as `scripts/expected-bundle.py` assumes: a measurement of 2
/// October 2026 is 91 days old then, on time (`tijdig`); one of 1 October is 92, late. In
/// UTC it would still be 31 December, and both on time.
fn new_year_2027() -> String {
    let at = chrono::DateTime::parse_from_rfc3339("2026-12-31T23:30:00Z").unwrap();
    crate::util::offset_to(at.to_utc())
}

fn publish(env: &Env) -> String {
    let out = env.cmd(&["publish", "--now", "--tenant", "utrecht"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The bundles in utrecht's outbox, oldest first (by the ledger's record).
fn outbox(env: &Env) -> Vec<PathBuf> {
    outbox_of(env, "utrecht")
}

/// The bundles in `tenant`'s outbox, oldest first; fails if it holds anything unrecorded.
pub(crate) fn outbox_of(env: &Env, tenant: &str) -> Vec<PathBuf> {
    let dir = env.var().join(format!("tenants/{tenant}/outbox"));
    let names = env.texts(
        "SELECT name FROM bundle WHERE tenant = ?1 ORDER BY id",
        [tenant],
    );
    let zips: Vec<PathBuf> = names
        .iter()
        .map(|n| dir.join(n))
        .filter(|p| p.exists())
        .collect();
    assert_eq!(
        zips.len(),
        std::fs::read_dir(&dir).unwrap().count(),
        "only recorded bundles in the outbox"
    );
    zips
}

/// The text of the file `name` in the zip `zip`.
pub(crate) fn zipped_text(zip: &Path, name: &str) -> String {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    let mut text = String::new();
    archive
        .by_name(name)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

/// Each CSV of a bundle as its lines (BOM and header included).
pub(crate) fn csv(zip: &Path, name: &str) -> Vec<String> {
    zipped_text(zip, name)
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The rows of CSV `name` in `zip`, each as its cells (header left out).
pub(crate) fn csv_rows(zip: &Path, name: &str) -> Vec<Vec<String>> {
    csv(zip, name)
        .iter()
        .skip(1)
        .map(|l| l.split(';').map(str::to_owned).collect())
        .collect()
}

/// Every file in the zip at `zip`, unpacked, as one run of bytes.
pub(crate) fn all_bytes(zip: &Path) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    let mut out = Vec::new();
    for i in 0..archive.len() {
        archive.by_index(i).unwrap().read_to_end(&mut out).unwrap();
    }
    out
}

#[test]
fn a_bundle_carries_decisions_linked_measurements_and_links_hashed_for_the_municipality() {
    let env = env();
    deliver_sample(&env, "zorg", "metingen-good.csv", "m.csv");
    deliver_sample(&env, "utrecht", "beschikkingen-good.csv", "b.csv");
    let report = publish(&env);
    assert!(
        report.contains("(Beschikkingen.csv 3, Metingen.csv 1, Koppelingen.csv 1, Kwaliteit.csv"),
        "{report}"
    );
    let zips = outbox(&env);
    assert_eq!(zips.len(), 1);
    let zip = &zips[0];
    assert!(
        zip.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("Bundel-utrecht-")
    );
    assert!(
        std::fs::read_dir(env.var().join("staging"))
            .unwrap()
            .next()
            .is_none(),
        "nothing left in staging/"
    );

    let decisions = csv(zip, "Beschikkingen.csv");
    assert!(decisions[0].starts_with("\u{FEFF}gemeentecode;beschikkingnummer;pseudobsn;"));
    let measurements = csv(zip, "Metingen.csv");
    let links = csv(zip, "Koppelingen.csv");
    assert_eq!(
        (decisions.len(), measurements.len(), links.len()),
        (4, 2, 2)
    );
    // B-1 (client 111222333, ended 2026-09-30) and M-1 (same client, 2026-10-01) are linked:
    // the same client hash in both files, and the link names both by their hashes.
    let b1: Vec<&str> = decisions
        .iter()
        .find(|l| l.contains(";45A01;"))
        .unwrap()
        .split(';')
        .collect();
    let m1: Vec<&str> = measurements[1].split(';').collect();
    assert_eq!(b1[2], m1[2], "one client, one hash within a municipality");
    assert_eq!(links[1], format!("{};87654321;{}", b1[1], m1[1]));
    assert_eq!(&m1[3..], ["2026-10-01", "CT", "01", "8,5", "Volledig"]);

    // Nothing the TTP knows a person by is in the bundle: no BSN, no TTP pseudonym, no
    // clear decision or measurement number.
    let bytes = all_bytes(zip);
    let pseudonyms = env.texts(
        "SELECT pseudonym FROM decision UNION SELECT pseudonym FROM measurement",
        [],
    );
    assert!(!pseudonyms.is_empty());
    let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    for needle in pseudonyms.iter().map(String::as_str).chain([
        "111222333",
        "123456782",
        "999900006",
        "B-1",
        "M-1",
    ]) {
        assert!(!contains(needle), "{needle} found in the bundle");
    }
    let manifest: serde_json::Value = {
        let mut archive = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
        serde_json::from_reader(archive.by_name("manifest.json").unwrap()).unwrap()
    };
    assert_eq!(manifest["municipality"], "0344");
    // Two quarters with one client each: every figure suppressed, flagged.
    assert_eq!(
        csv(zip, "Indicatoren.csv")[1..],
        ["2026-Q2;;;;;;;;1", "2026-Q3;;;;;;;;1"]
    );
    assert_eq!(manifest["files"][1]["rows"], 1);
}

/// A citizen number from the test range that passes the 11-check, one per `n`.
fn test_bsn(n: u32) -> String {
    (0..)
        .map(|i| format!("{:08}", 10_000_000 + n * 100 + i))
        .find_map(|first| {
            let sum: u32 = first
                .bytes()
                .zip([9, 8, 7, 6, 5, 4, 3, 2])
                .map(|(d, w)| u32::from(d - b'0') * w)
                .sum();
            (sum % 11 < 10).then(|| format!("{first}{}", sum % 11))
        })
        .unwrap()
}

/// Delivers decisions of twelve clients that ended in 2026-Q3 (three early) and their
/// measurements, of every status.
fn deliver_twelve_clients(env: &Env) {
    let mut decisions = String::from(
        "gemeentecode;beschikkingnummer;pseudobsn;zorgaanbiedercode;productcategorie;productcode;ingangsdatum;einddatum;redenBeeindiging\n",
    );
    let mut measurements = String::from(
        "zorgaanbiedercode;pseudobsn;metingnummer;datum;gebruiktMeetinstrument;typeRespondent;totaalscoreMeting;status\n",
    );
    for client in 1..=12 {
        let bsn = test_bsn(client);
        // Clients 1 to 3 ended early (reason 33), the others as planned (02).
        let reason = if client <= 3 { "33" } else { "02" };
        decisions.push_str(&format!(
            "0344;B-{client};{bsn};87654321;45;45A01;2026-01-01;2026-09-30;{reason}\n"
        ));
        // 1-6: complete by an empty status, CT 8; 7-8: Volledig, CT 6; 9-10: Onvolledig,
        // CT 2 (not in the mean); 11: sent, not filled in; 12: no measurement at all.
        let (score, status) = match client {
            1..=6 => ("8", ""),
            7 | 8 => ("6", "Volledig"),
            9 | 10 => ("2", "Onvolledig"),
            11 => ("", "Nee"),
            _ => continue,
        };
        measurements.push_str(&format!(
            "87654321;{bsn};M-{client};2026-10-01;CT;01;{score};{status}\n"
        ));
    }
    // GAS: client 1 complete (-1), client 2 partly filled in (1, not in the mean).
    measurements.push_str(&format!(
        "87654321;{};G-1;2026-09-15;GAS;02;-1;\n",
        test_bsn(1)
    ));
    measurements.push_str(&format!(
        "87654321;{};G-2;2026-09-15;GAS;02;1;Onvolledig\n",
        test_bsn(2)
    ));
    deliver(env, "zorg", "m.csv", measurements.as_bytes());
    deliver(env, "utrecht", "b.csv", decisions.as_bytes());
}

/// DESIGN 3.3 end to end: twelve clients whose decisions ended in one quarter, with
/// measurements of every status; the figures a hand count gives.
#[test]
fn the_figures_count_complete_measurements_only_and_an_empty_status_is_complete() {
    let env = env();
    deliver_twelve_clients(&env);
    publish(&env);
    let zip = outbox(&env).pop().unwrap();
    assert_eq!(
        csv(&zip, "Metingen.csv").len(),
        1 + 13,
        "every measurement is linked"
    );
    // 12 ended, 12 clients; response 8 of 12; CT (6 x 8 + 2 x 6) / 8; GAS -1; dropout 3 of
    // 12; 13 linked measurements.
    assert_eq!(
        csv(&zip, "Indicatoren.csv")[1..],
        ["2026-Q3;12;12;0,667;7,50;-1,00;0,250;13;0"]
    );
}

/// A bundle as a Dutch spreadsheet reads it (`;`, decimal comma): every number column
/// holds numbers (no point, no apostrophe), every code column keeps its leading zeros, and
/// `LEESMIJ.txt` explains every file and column the bundle has.
#[test]
fn a_bundle_reads_as_typed_columns_in_a_dutch_spreadsheet_and_leesmij_explains_it() {
    let env = env();
    deliver_twelve_clients(&env);
    deliver_sample(&env, "zorg", "metingen-bad.csv", "bad.csv");
    publish(&env);
    let zip = outbox(&env).pop().unwrap();
    let numbers = [
        "totaalscoreMeting",
        "levering",
        "rijen",
        "geaccepteerd",
        "afgekeurd",
        "tijdig",
        "beeindigd",
        "clienten",
        "respons",
        "ct_gemiddeld",
        "gas_gemiddeld",
        "uitval",
        "metingen",
        "onderdrukt",
    ];
    // Code columns and their widths (aanleverancier: a CBS or an AGB code).
    let codes = [
        ("gemeentecode", &[4][..]),
        ("zorgaanbiedercode", &[8]),
        ("productcategorie", &[2]),
        ("typeRespondent", &[2]),
        ("redenBeeindiging", &[2]),
        ("aanleverancier", &[4, 8]),
    ];
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip).unwrap()).unwrap();
    let mut leesmij = String::new();
    archive
        .by_name("LEESMIJ.txt")
        .unwrap()
        .read_to_string(&mut leesmij)
        .unwrap();
    let names: Vec<String> = (0..archive.len())
        .map(|i| archive.by_index(i).unwrap().name().unwrap().into_owned())
        .collect();
    let mut seen = (0, 0, false);
    for name in names.iter().filter(|n| n.ends_with(".csv")) {
        assert!(leesmij.contains(name.as_str()), "LEESMIJ.txt names {name}");
        let mut text = String::new();
        archive
            .by_name(name)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(b';')
            .from_reader(text.trim_start_matches('\u{FEFF}').as_bytes());
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        for column in &header {
            assert!(
                leesmij.contains(&format!("  {column} ")),
                "LEESMIJ.txt explains {name} {column}"
            );
        }
        for record in reader.records() {
            let record = record.unwrap();
            for (column, cell) in header.iter().zip(record.iter()) {
                if cell.is_empty() {
                    continue;
                }
                if numbers.contains(&column.as_str()) {
                    let parsed = cell.replace(',', ".").parse::<f64>();
                    assert!(
                        parsed.is_ok() && !cell.contains('.') && !cell.starts_with('\''),
                        "{name} {column}: {cell:?} is not a Dutch number"
                    );
                    seen.0 += 1;
                    seen.2 |= cell.starts_with('-');
                }
                if let Some((_, widths)) = codes.iter().find(|(c, _)| c == column) {
                    assert!(
                        widths.contains(&cell.len()) && cell.bytes().all(|b| b.is_ascii_digit()),
                        "{name} {column}: {cell:?}"
                    );
                    seen.1 += 1;
                }
            }
        }
    }
    assert!(
        seen.0 > 25 && seen.1 > 50 && seen.2,
        "{seen:?}: numbers, codes, a negative"
    );
    assert_eq!(names.iter().filter(|n| n.ends_with(".csv")).count(), 6);
    let manifest: serde_json::Value =
        serde_json::from_reader(archive.by_name("manifest.json").unwrap()).unwrap();
    assert_eq!(manifest["schema_version"], 3);
    assert_eq!(manifest["csv"]["decimal_separator"], ",");
    assert_eq!(manifest["csv"]["delimiter"], ";");
}

#[test]
fn each_row_is_in_one_incremental_bundle_and_a_correction_comes_again() {
    let env = env();
    deliver_sample(&env, "zorg", "metingen-good.csv", "m.csv");
    deliver_sample(&env, "utrecht", "beschikkingen-good.csv", "b.csv");
    publish(&env);
    let again = publish(&env);
    assert!(
        again.contains("(Beschikkingen.csv 0, Metingen.csv 0, Koppelingen.csv 0, Kwaliteit.csv"),
        "every week a bundle, even an empty one: {again}"
    );
    // A corrected score for M-1: only that measurement (and its link) comes again.
    let header = "zorgaanbiedercode;pseudobsn;metingnummer;datum;gebruiktMeetinstrument;typeRespondent;totaalscoreMeting;status\n";
    deliver(
        &env,
        "zorg",
        "fix.csv",
        format!("{header}87654321;111222333;M-1;2026-10-01;CT;01;9;Volledig\n").as_bytes(),
    );
    let third = publish(&env);
    assert!(
        third.contains("(Beschikkingen.csv 0, Metingen.csv 1, Koppelingen.csv 1, Kwaliteit.csv"),
        "{third}"
    );
    let zips = outbox(&env);
    assert_eq!(zips.len(), 3);
    assert!(
        csv(&zips[2], "Metingen.csv")[1].contains(";9;"),
        "the corrected value"
    );
    // A formula in a decision's product code is made text.
    deliver(&env, "utrecht", "f.csv", b"gemeentecode;beschikkingnummer;pseudobsn;zorgaanbiedercode;productcategorie;productcode;ingangsdatum\n0344;B-F;123456782;87654321;45;=1+1;2026-01-01\n");
    publish(&env);
    let fourth = outbox(&env).pop().unwrap();
    assert!(
        csv(&fourth, "Beschikkingen.csv")[1].contains(";'=1+1;"),
        "{:?}",
        csv(&fourth, "Beschikkingen.csv")
    );
}

#[test]
fn the_quality_file_reports_each_delivery_for_the_municipalitys_decisions_once() {
    let env = env_with(
        "[[tenant]]\nid = \"ander\"\nkind = \"supplier\"\ncode = \"11111111\"\nname = \"Ander\"\n",
    );
    // Received on 1 January 2027: measurements of 1 October 2026 are late, later ones on
    // time.
    let at = new_year_2027();
    deliver_sample_at(&env, &at, "zorg", "metingen-good.csv", "m.csv");
    deliver_sample_at(&env, &at, "zorg", "metingen-bad.csv", "bad.csv");
    // A provider that none of utrecht's decisions names (yet).
    let header = "zorgaanbiedercode;pseudobsn;metingnummer;datum;gebruiktMeetinstrument;typeRespondent;totaalscoreMeting;status\n";
    deliver_all_at(
        &env,
        &at,
        &[(
            "ander",
            "a.csv",
            format!("{header}11111111;111222333;A-1;2026-10-01;CT;01;7;Volledig\n").as_bytes(),
        )],
    );
    deliver_sample_at(&env, &at, "utrecht", "beschikkingen-good.csv", "b.csv");
    let report = publish(&env);
    assert!(report.contains("Kwaliteit.csv 3,"), "{report}");
    let zip = outbox(&env).pop().unwrap();
    let quality = csv(&zip, "Kwaliteit.csv");
    assert_eq!(
        quality[0],
        "\u{FEFF}levering;aanleverancier;gegevens;ontvangen;verwerkt;uitkomst;rijen;geaccepteerd;afgekeurd;redenen;regels;tijdig"
    );
    let fields = |line: &str| -> Vec<String> {
        let mut f: Vec<String> = line.split(';').map(str::to_owned).collect();
        // The times: local ISO with an offset, as the configured zone has it.
        for t in &mut f[3..5] {
            assert!(
                chrono::DateTime::parse_from_rfc3339(t).is_ok() && t.ends_with(":00"),
                "{line}"
            );
            *t = String::new();
        }
        f
    };
    assert_eq!(
        quality[1..].iter().map(|l| fields(l)).collect::<Vec<_>>(),
        [
            // M-1 of 1 October is late, M-2 to M-5 on time.
            [
                "1", "87654321", "metingen", "", "", "verwerkt", "5", "5", "0", "", "", "4"
            ],
            [
                "2",
                "87654321",
                "metingen",
                "",
                "",
                "verwerkt",
                "19",
                "1",
                "18",
                "lege verplichte waarde (4), ongeldig BSN (2), score buiten het bereik (2)",
                "required (4), bsn (2), score.range (2)",
                // Its one accepted row is of 1 October: late, which is 0, not empty.
                "0"
            ],
            [
                "4",
                "0344",
                "beschikkingen",
                "",
                "",
                "verwerkt",
                "3",
                "3",
                "0",
                "",
                "",
                // Decisions have no on-time count.
                ""
            ],
        ]
        .map(|row| row.map(str::to_owned).to_vec())
    );

    // Reported once: the next bundle has none of them...
    assert!(publish(&env).contains("Kwaliteit.csv 0,"));
    // ...and once utrecht's decisions name the other provider, its earlier delivery comes.
    deliver(&env, "utrecht", "b2.csv", b"gemeentecode;beschikkingnummer;pseudobsn;zorgaanbiedercode;productcategorie;productcode;ingangsdatum\n0344;B-9;123456782;11111111;45;45A01;2026-01-01\n");
    assert!(publish(&env).contains("Kwaliteit.csv 2,"));
    let zip = outbox(&env).pop().unwrap();
    let senders: Vec<String> = csv(&zip, "Kwaliteit.csv")[1..]
        .iter()
        .map(|l| {
            let cells: Vec<&str> = l.split(';').collect();
            [cells[0], cells[1], cells[cells.len() - 1]].join(";")
        })
        .collect();
    assert_eq!(senders, ["3;11111111;0", "5;0344;"]);
}

#[test]
fn a_publication_cut_off_is_finished_or_forgotten_by_the_next() {
    let env = env();
    deliver_sample(&env, "utrecht", "beschikkingen-good.csv", "b.csv");
    publish(&env);
    // As if the first publication died after its commit, before the move into outbox/...
    let zip = outbox(&env).pop().unwrap();
    let staged = env.var().join("staging").join(zip.file_name().unwrap());
    std::fs::rename(&zip, &staged).unwrap();
    let conn = rusqlite::Connection::open(env.var().join("dropgate.sqlite")).unwrap();
    conn.execute("UPDATE bundle SET placed_at = NULL", [])
        .unwrap();
    drop(conn);
    // ...and another died before its commit, leaving an unrecorded zip.
    let orphan = env.var().join("staging/Bundel-utrecht-20260101000000.zip");
    std::fs::write(&orphan, b"half a zip").unwrap();
    let report = publish(&env);
    assert!(
        report.contains("(Beschikkingen.csv 0,"),
        "the decisions went in the first bundle: {report}"
    );
    assert!(!orphan.exists(), "the unrecorded zip is gone");
    assert!(!staged.exists());
    let zips = outbox(&env);
    assert_eq!(
        zips.len(),
        2,
        "the recorded bundle reached the outbox, and the new one"
    );
    assert_eq!(csv(&zips[0], "Beschikkingen.csv").len(), 4);
}

#[test]
fn the_weekly_publication_catches_up_and_mails_the_municipality() {
    let env = Env::new(
        "[[tenant]]\nid = \"utrecht\"\nkind = \"municipality\"\ncode = \"0344\"\nname = \"Gemeente Utrecht\"\ncontacts = [\"data@utrecht.example\"]\n",
    );
    assert!(env.cmd(&["keygen"]).status.success());
    env.start().stop();
    // The last Sunday run was missed: the last publication is eight days old (a bundle
    // without rows, made but not mailed).
    env.published_days_ago(8);
    assert_eq!(outbox(&env).len(), 1);
    // The decisions came in then too (so that intake's daemon does not publish them at once).
    deliver_sample_at(&env, "-8d", "utrecht", "beschikkingen-good.csv", "b.csv");
    let daemon = env.start();
    daemon.wait_until("the catch-up bundle", || outbox(&env).len() == 2);
    let mail_dir = env.var().join("mail");
    daemon.wait_until("the bundle mail", || {
        std::fs::read_dir(&mail_dir).is_ok_and(|d| {
            d.flatten().any(|e| {
                std::fs::read_to_string(e.path())
                    .unwrap_or_default()
                    .contains("Nieuwe bundel")
            })
        })
    });
    let mail: String = std::fs::read_dir(&mail_dir)
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .find(|m| m.contains("Nieuwe bundel"))
        .unwrap();
    assert!(mail.contains("To: data@utrecht.example"), "{mail}");
    assert!(
        mail.contains("Beschikkingen.csv: 3") && mail.contains("60 dagen"),
        "{mail}"
    );
    daemon.stop();
}

#[test]
fn the_sweep_keeps_59_days_deletes_61_and_records_every_deletion() {
    let env = env();
    deliver_sample(&env, "utrecht", "beschikkingen-good.csv", "b.csv");
    // `old.csv` was processed 400 days ago and `new.csv` 89; the first bundle was
    // published 61 days ago and the second 59.
    deliver_sample_at(&env, "-400d", "zorg", "metingen-good.csv", "old.csv");
    deliver_sample_at(&env, "-89d", "zorg", "metingen-good.xml", "new.csv");
    env.cmd_at("-61d", &["publish", "--now", "--tenant", "utrecht"]);
    env.cmd_at("-59d", &["publish", "--now", "--tenant", "utrecht"]);
    let bundles = outbox(&env);
    assert_eq!(bundles.len(), 2);
    let receipts = |name: &str| {
        std::fs::read_dir(env.var().join("tenants/zorg/receipts"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(name))
            .count()
    };
    assert_eq!((receipts("old.csv."), receipts("new.csv.")), (2, 2));
    let archived = |name: &str| {
        std::fs::read_dir(env.var().join("archive/zorg"))
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(name))
    };

    let out = env.cmd(&["sweep"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "1 bundles, 1 originals, 1 receipts deleted; 0 bundles had been removed by their tenant"
    );
    assert!(!bundles[0].exists(), "61 days: deleted");
    assert!(bundles[1].exists(), "59 days: kept");
    assert!(!archived("-old.csv") && archived("-new.csv"));
    assert_eq!((receipts("old.csv."), receipts("new.csv.")), (0, 2));

    // A municipality removes the second bundle itself; the next sweep records it.
    std::fs::remove_file(&bundles[1]).unwrap();
    let out = env.cmd(&["sweep"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 bundles had been removed by their tenant")
    );
    let conn = env.ledger();
    let audit: Vec<(String, String)> = conn
        .prepare("SELECT actor, action FROM audit WHERE action LIKE '%.deleted' ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let expected: Vec<(String, String)> = [
        ("retention", "bundle.deleted"),
        ("retention", "original.deleted"),
        ("retention", "receipt.deleted"),
        ("sftp", "bundle.deleted"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    assert_eq!(audit, expected);
}

#[test]
fn status_lists_bundles_with_age_and_whether_they_were_downloaded() {
    let env = Env::new(&format!(
        "[[tenant]]\nid = \"utrecht\"\nkind = \"municipality\"\ncode = \"0344\"\nname = \"Utrecht\"\n\
         [[user]]\nname = \"utrecht\"\npublic_keys = [\"{}\"]\n[[user.grant]]\ntenant = \"utrecht\"\nroles = [\"collect\"]\n",
        crate::util::public_key("gemeente-utrecht")
    ));
    assert!(env.cmd(&["keygen"]).status.success());
    env.start().stop();
    publish(&env);
    publish(&env);
    let status = || -> serde_json::Value {
        serde_json::from_slice(&env.cmd(&["status", "--json"]).stdout).unwrap()
    };
    let bundles = status()["bundles"].as_array().unwrap().clone();
    assert_eq!(bundles.len(), 2);
    assert!(
        bundles
            .iter()
            .all(|b| b["downloaded"] == false && b["municipality"] == "utrecht")
    );
    // The municipality fetches the older one over SFTP.
    let older = bundles[1]["name"].as_str().unwrap().to_owned();
    let daemon = env.start();
    let run = crate::util::sftp_batch(
        daemon.sftp_addr(),
        "utrecht",
        &crate::util::key(&env, "gemeente-utrecht"),
        &format!(
            "get /utrecht/outbox/{older} {}\n",
            env.dir.path().join("got.zip").display()
        ),
    );
    assert!(run.ok, "{}", run.output);
    daemon.stop();
    let bundles = status()["bundles"].as_array().unwrap().clone();
    assert_eq!(
        (
            bundles[0]["downloaded"].as_bool(),
            bundles[1]["downloaded"].as_bool()
        ),
        (Some(false), Some(true))
    );
    let text = String::from_utf8(env.cmd(&["status"]).stdout).unwrap();
    assert!(
        text.lines().any(|l| l.starts_with(&older)
            && l.split_whitespace().nth(1) == Some("0")
            && l.contains(" yes ")),
        "{text}"
    );
}

#[test]
fn a_full_bundle_comes_on_request_by_file_or_command_and_leaves_increments_alone() {
    let env = env();
    deliver_sample(&env, "zorg", "metingen-good.csv", "m.csv");
    deliver_sample(&env, "utrecht", "beschikkingen-good.csv", "b.csv");
    publish(&env);
    // The municipality drops an empty REQUEST-FULL (as over SFTP): everything comes again.
    let request = env.var().join("tenants/utrecht/outbox/REQUEST-FULL");
    std::fs::write(&request, b"").unwrap();
    let report = publish(&env);
    assert_eq!(
        report.lines().count(),
        2,
        "this week's increment and the full bundle: {report}"
    );
    assert!(
        report
            .lines()
            .nth(1)
            .unwrap()
            .contains("(Beschikkingen.csv 3, Metingen.csv 1, Koppelingen.csv 1, Kwaliteit.csv"),
        "{report}"
    );
    assert!(!request.exists(), "the request is served and gone");
    let full = outbox(&env).pop().unwrap();
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&full).unwrap()).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_reader(archive.by_name("manifest.json").unwrap()).unwrap();
    assert_eq!(manifest["kind"], "full");
    // An operator asks for everything from 1 July on: decisions still running or ended since.
    let out = env.cmd(&[
        "publish",
        "--full",
        "--tenant",
        "utrecht",
        "--since",
        "2026-07-01",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = publish(&env);
    assert!(
        report
            .lines()
            .nth(1)
            .unwrap()
            .contains("(Beschikkingen.csv 2, Metingen.csv 1, Koppelingen.csv 1, Kwaliteit.csv"),
        "{report}"
    );
    assert!(
        report
            .lines()
            .next()
            .unwrap()
            .contains("(Beschikkingen.csv 0, Metingen.csv 0, Koppelingen.csv 0, Kwaliteit.csv"),
        "full bundles leave the increments alone: {report}"
    );
    let again = publish(&env);
    assert_eq!(
        again.lines().count(),
        1,
        "the request was served once: {again}"
    );
}

#[test]
fn kill_9_at_any_point_of_a_publication_neither_loses_nor_doubles_a_row() {
    let env = env_with(
        "[[tenant]]\nid = \"amersfoort\"\nkind = \"municipality\"\ncode = \"0307\"\nname = \"Amersfoort\"\n",
    );
    let staging = env.var().join("staging");
    let staged = || -> Vec<String> {
        std::fs::read_dir(&staging)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    };
    let recorded = |sql: &str| env.texts(sql, []);
    let points = ["publish.writing", "publish.committed", "publish.placed"];
    for (round, point) in points.iter().enumerate() {
        // New rows: a decision for each municipality, and a measurement linked to each.
        let decisions = |code: &str, bsn: &str| {
            format!(
                "gemeentecode;beschikkingnummer;pseudobsn;zorgaanbiedercode;productcategorie;productcode;ingangsdatum;einddatum\n\
                 {code};B-{round};{bsn};87654321;45;45A01;2026-01-01;2026-09-30\n"
            )
        };
        let measurements = format!(
            "zorgaanbiedercode;pseudobsn;metingnummer;datum;gebruiktMeetinstrument;typeRespondent;totaalscoreMeting;status\n\
             87654321;111222333;U-{round};2026-10-01;CT;01;7;Volledig\n\
             87654321;123456782;A-{round};2026-10-01;CT;01;7;Volledig\n"
        );
        // The weekly run was missed: the last was eight days ago, and intake took these
        // files in then (so that its daemon does not publish them at once).
        let week_ago = env.published_days_ago(8);
        deliver_all_at(
            &env,
            "-8d",
            &[
                (
                    "utrecht",
                    "b.csv",
                    decisions("0344", "111222333").as_bytes(),
                ),
                (
                    "amersfoort",
                    "b.csv",
                    decisions("0307", "123456782").as_bytes(),
                ),
                ("zorg", "m.csv", measurements.as_bytes()),
            ],
        );
        // So the daemon publishes at start; it dies at `point`.
        let mut daemon = env.spawn(&[("DROPGATE_TEST_PAUSE_AT", point)]);
        daemon.wait_for_log(&format!("dropgate: paused at {point}"));
        daemon.child.kill().unwrap(); // SIGKILL
        daemon.child.wait().unwrap();

        // Whatever the point, an outbox holds only recorded, whole zips...
        for tenant in ["utrecht", "amersfoort"] {
            for zip in outbox_of(&env, tenant) {
                assert!(!all_bytes(&zip).is_empty(), "{}", zip.display());
            }
        }
        // ...and the kill happened where it was meant to.
        let names = recorded("SELECT name FROM bundle");
        let unplaced = recorded("SELECT name FROM bundle WHERE placed_at IS NULL");
        match *point {
            "publish.writing" => assert!(
                staged().iter().any(|n| !names.contains(n)) && unplaced.is_empty(),
                "a half-written, unrecorded zip in staging"
            ),
            "publish.committed" => assert!(
                unplaced.len() == 1 && staged() == unplaced,
                "a recorded zip still in staging"
            ),
            _ => assert!(
                unplaced.len() == 1
                    && staged().is_empty()
                    && env
                        .var()
                        .join("tenants/utrecht/outbox")
                        .join(&unplaced[0])
                        .exists(),
                "a zip in its outbox that the ledger does not know is placed"
            ),
        }

        // The next start catches up: it finishes or forgets the cut-off bundle and publishes.
        let daemon = env.start();
        daemon.wait_until("the publication to finish", || {
            recorded("SELECT last_run FROM job WHERE name = 'publish'") != [week_ago.clone()]
        });
        daemon.stop();
        assert!(
            staged().is_empty(),
            "nothing left in staging/ after {point}"
        );
    }

    // Over all incremental bundles, each decision and measurement came exactly once.
    for (tenant, prefix) in [("utrecht", "U-"), ("amersfoort", "A-")] {
        let zips = outbox_of(&env, tenant);
        let column = |file: &str| -> Vec<String> {
            let mut ids: Vec<String> = zips
                .iter()
                .flat_map(|z| csv(z, file).into_iter().skip(1))
                .map(|l| l.split(';').nth(1).unwrap().to_owned())
                .collect();
            ids.sort();
            ids
        };
        for file in ["Beschikkingen.csv", "Metingen.csv"] {
            let ids = column(file);
            let mut unique = ids.clone();
            unique.dedup();
            assert_eq!(ids, unique, "{tenant} {file}: a row came twice");
            assert_eq!(ids.len(), points.len(), "{tenant} {file}: a row is missing");
        }
        assert!(zips.iter().all(|z| {
            csv(z, "Metingen.csv")
                .iter()
                .all(|l| !l.contains(prefix) && !l.contains("111222333"))
        }));
    }
}

/// The bundle of the good samples, with fixed keys, equals `samples/expected/bundle/`
/// (written independently by `scripts/expected-bundle.py`) byte for byte: BOM, `;`, CRLF,
/// hashes, figures. In `Kwaliteit.csv` the times, which are the test's own, must be ISO
/// times and are then compared as `TIME`; they are received on the date the script
/// assumes, which decides `tijdig`.
#[test]
fn the_samples_bundle_equals_the_expected_csvs() {
    let env = env_with_keys(&[("ttp.key", 0x11), ("municipality-utrecht.key", 0x22)]);
    let at = new_year_2027();
    deliver_sample_at(&env, &at, "zorg", "metingen-good.csv", "metingen-good.csv");
    deliver_sample_at(
        &env,
        &at,
        "utrecht",
        "beschikkingen-good.csv",
        "beschikkingen-good.csv",
    );
    publish(&env);
    let zip = outbox(&env).pop().unwrap();
    let expected = Path::new(SAMPLES).join("expected/bundle");
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip).unwrap()).unwrap();
    for name in [
        "Beschikkingen.csv",
        "Metingen.csv",
        "Koppelingen.csv",
        "Kwaliteit.csv",
        "Indicatoren.csv",
        "IndicatorenPerAanbieder.csv",
    ] {
        let mut got = String::new();
        archive
            .by_name(name)
            .unwrap()
            .read_to_string(&mut got)
            .unwrap();
        let want = std::fs::read_to_string(expected.join(name)).unwrap();
        let got = if name == "Kwaliteit.csv" {
            got.split("\r\n")
                .map(|line| {
                    let mut cells: Vec<String> = line.split(';').map(str::to_owned).collect();
                    for cell in cells.iter_mut().skip(3).take(2) {
                        if chrono::DateTime::parse_from_rfc3339(cell).is_ok() {
                            "TIME".clone_into(cell);
                        }
                    }
                    cells.join(";")
                })
                .collect::<Vec<_>>()
                .join("\r\n")
        } else {
            got
        };
        assert_eq!(got, want, "{name}");
    }
    let mut manifest = String::new();
    archive
        .by_name("manifest.json")
        .unwrap()
        .read_to_string(&mut manifest)
        .unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    assert_eq!(
        manifest["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["name"].as_str().unwrap(), f["rows"].as_u64().unwrap()))
            .collect::<Vec<_>>(),
        [
            ("Beschikkingen.csv", 3),
            ("Metingen.csv", 1),
            ("Koppelingen.csv", 1),
            ("Kwaliteit.csv", 2),
            ("Indicatoren.csv", 2),
            ("IndicatorenPerAanbieder.csv", 2)
        ]
    );
}

/// `zorg` and `utrecht` as [`env_with`] makes them, but utrecht has a contact for mail.
const MAILED: &str = "[[tenant]]\nid = \"zorg\"\nkind = \"supplier\"\ncode = \"87654321\"\nname = \"Zorg\"\n\
     [[tenant]]\nid = \"utrecht\"\nkind = \"municipality\"\ncode = \"0344\"\nname = \"Utrecht\"\ncontacts = [\"data@utrecht.example\"]\n";

/// An installation with [`MAILED`] and `publish` as its `[publish]` section.
fn env_mailed(publish: &str) -> Env {
    let env = Env::new(&format!("[publish]\n{publish}\n{MAILED}"));
    assert!(env.cmd(&["keygen"]).status.success());
    env.start().stop();
    env
}

/// The kinds of the messages queued for utrecht, oldest first.
pub(crate) fn mail_kinds(env: &Env) -> Vec<String> {
    env.texts(
        "SELECT kind FROM mail WHERE tenant_id = 'utrecht' ORDER BY id",
        [],
    )
}

/// `eml` with its quoted-printable parts decoded (soft line breaks joined, `=XX` undone).
pub(crate) fn decoded(eml: &str) -> String {
    let joined = eml.replace("=\r\n", "").replace("=\n", "");
    let (bytes, mut out) = (joined.as_bytes(), Vec::new());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Runs the daemon until its mail worker has sent every queued message, and returns the
/// `.eml` files its file transport wrote, decoded.
fn send_all(env: &Env) -> Vec<String> {
    let daemon = env.start();
    daemon.wait_until("every queued message sent", || {
        env.number("SELECT count(*) FROM mail WHERE state = 'queued'") == 0
    });
    daemon.stop();
    crate::mail::messages(&env.var().join("mail"))
        .iter()
        .map(|m| decoded(m))
        .collect()
}

/// Whether `name` is `<prefix><14 digits>.zip`.
fn stamped(name: &str, prefix: &str) -> bool {
    name.strip_prefix(prefix)
        .and_then(|rest| rest.strip_suffix(".zip"))
        .is_some_and(|t| t.len() == 14 && t.bytes().all(|b| b.is_ascii_digit()))
}

#[test]
fn a_week_without_rows_makes_a_bundle_but_mails_only_if_configured() {
    let env = env_mailed("");
    // Nothing arrived: the week's bundle holds the figures only. It is made (scripts see
    // the week was handled), but nobody is told to fetch nothing.
    let report = publish(&env);
    assert!(
        report
            .contains("(Beschikkingen.csv 0, Metingen.csv 0, Koppelingen.csv 0, Kwaliteit.csv 0,"),
        "{report}"
    );
    assert_eq!(outbox(&env).len(), 1);
    assert_eq!(mail_kinds(&env), Vec::<String>::new());
    // A decision is news.
    deliver_sample(&env, "utrecht", "beschikkingen-good.csv", "b.csv");
    publish(&env);
    assert_eq!(mail_kinds(&env), ["delivery-result", "bundle-published"]);
    // With mail_empty_bundles, an empty week is mailed too.
    env.write_config(&format!("[publish]\nmail_empty_bundles = true\n{MAILED}"));
    let report = publish(&env);
    assert!(report.contains("(Beschikkingen.csv 0,"), "{report}");
    assert_eq!(
        mail_kinds(&env),
        ["delivery-result", "bundle-published", "bundle-published"]
    );
    let bundles = outbox(&env);
    assert_eq!(bundles.len(), 3);
    let mails = send_all(&env);
    let about = |zip: &Path| {
        let subject = format!(
            "Subject: Nieuwe bundel: {}",
            zip.file_name().unwrap().to_string_lossy()
        );
        mails.iter().filter(|m| m.contains(&subject)).count()
    };
    assert_eq!(
        bundles.iter().map(|b| about(b)).collect::<Vec<_>>(),
        [0, 1, 1],
        "{mails:?}"
    );
    // Without empty_bundles, an empty week makes nothing at all.
    env.write_config(&format!("[publish]\nempty_bundles = false\n{MAILED}"));
    let report = publish(&env);
    assert_eq!(
        report.trim(),
        "utrecht: no bundle: no rows (empty_bundles = false)"
    );
    assert_eq!(outbox(&env).len(), 3);
    assert_eq!(env.number("SELECT count(*) FROM bundle"), 3);
    assert_eq!(mail_kinds(&env).len(), 3);
    assert!(
        std::fs::read_dir(env.var().join("staging"))
            .unwrap()
            .next()
            .is_none(),
        "nothing left in staging/"
    );
}

#[test]
fn a_full_bundle_is_named_totaal_and_swept_after_its_retention() {
    let env = env();
    deliver_sample(&env, "utrecht", "beschikkingen-good.csv", "b.csv");
    std::fs::write(env.var().join("tenants/utrecht/outbox/REQUEST-FULL"), b"").unwrap();
    publish(&env);
    let names = env.texts("SELECT name FROM bundle ORDER BY id", []);
    assert_eq!(names.len(), 2, "{names:?}");
    let (weekly, full) = (&names[0], &names[1]);
    assert!(stamped(weekly, "Bundel-utrecht-"), "{weekly}");
    assert!(stamped(full, "Bundel-utrecht-totaal-"), "{full}");
    assert_eq!(
        weekly["Bundel-utrecht-".len()..],
        full["Bundel-utrecht-totaal-".len()..],
        "made at the same moment, told apart by the name alone"
    );
    let status = env.status();
    let listed: Vec<(&str, &str)> = status["bundles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["name"].as_str().unwrap(), b["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        listed,
        [(full.as_str(), "full"), (weekly.as_str(), "incremental")]
    );
    // A full bundle keeps as long as a weekly one: kept at 59 days, deleted at 61, by its
    // record.
    let swept = |offset: &str| String::from_utf8(env.cmd_at(offset, &["sweep"]).stdout).unwrap();
    let out = swept("+59d");
    assert!(out.starts_with("0 bundles, "), "{out}");
    let out = swept("+61d");
    assert!(out.starts_with("2 bundles, "), "{out}");
    let outbox_dir = env.var().join("tenants/utrecht/outbox");
    assert!(!outbox_dir.join(full).exists() && !outbox_dir.join(weekly).exists());
    let mut deleted = env.texts(
        "SELECT subject FROM audit WHERE action = 'bundle.deleted'",
        [],
    );
    deleted.sort();
    let mut made = vec![weekly.clone(), full.clone()];
    made.sort();
    assert_eq!(deleted, made);
    let text = String::from_utf8(env.cmd(&["status"]).stdout).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with(full.as_str()) && l.contains(" deleted ")),
        "{text}"
    );
}

#[test]
fn a_full_bundle_asked_for_by_command_is_acknowledged_once_and_its_mail_names_it() {
    let env = env_mailed("");
    deliver_sample(&env, "utrecht", "beschikkingen-good.csv", "b.csv");
    publish(&env);
    let ask = |since: &str| {
        let out = env.cmd(&["publish", "--full", "--tenant", "utrecht", "--since", since]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(
        ask("2026-07-01").contains("its contacts are told by mail"),
        "acknowledged"
    );
    assert!(
        ask("2026-01-01").contains("adds to the request already pending"),
        "the same request, not acknowledged again"
    );
    assert_eq!(
        mail_kinds(&env),
        ["delivery-result", "bundle-published", "full-requested"]
    );
    let report = publish(&env);
    let full = report.lines().nth(1).unwrap_or_default();
    assert!(full.contains("Bundel-utrecht-totaal-"), "{report}");
    // This week had no rows: only the full bundle is mailed.
    assert_eq!(
        mail_kinds(&env),
        [
            "delivery-result",
            "bundle-published",
            "full-requested",
            "bundle-published"
        ]
    );
    // Once served, a new request is a new one.
    assert!(ask("2026-07-01").contains("its contacts are told by mail"));
    assert_eq!(
        mail_kinds(&env)
            .iter()
            .filter(|k| *k == "full-requested")
            .count(),
        2
    );
    let mails = send_all(&env);
    let acks: Vec<&String> = mails
        .iter()
        .filter(|m| m.contains("Subject: Verzoek om totaalbundel ontvangen: Utrecht"))
        .collect();
    assert_eq!(acks.len(), 2, "{mails:?}");
    assert!(
        acks[0].contains("To: data@utrecht.example")
            && acks[0].contains(
                "Uw verzoek om een totaalbundel is ontvangen; de bundel volgt bij de volgende publicatie op zondag "
            )
            && acks[0].contains("alle gegevens vanaf 01-"),
        "{}",
        acks[0]
    );
    let name = full.split_whitespace().nth(1).unwrap();
    let ready: Vec<&String> = mails
        .iter()
        .filter(|m| m.contains(&format!("Subject: Nieuwe totaalbundel: {name}")))
        .collect();
    assert_eq!(ready.len(), 1, "{mails:?}");
    assert!(
        ready[0].contains("de gevraagde totaalbundel")
            && ready[0].contains("alle gegevens vanaf 01-01-2026"),
        "the widest request wins: {}",
        ready[0]
    );
}

#[test]
fn a_request_full_over_sftp_is_acknowledged_once_and_served_at_the_next_publication() {
    let env = Env::new(&format!(
        "{MAILED}[[user]]\nname = \"utrecht\"\npublic_keys = [\"{}\"]\n\
         [[user.grant]]\ntenant = \"utrecht\"\nroles = [\"collect\"]\n",
        crate::util::public_key("gemeente-utrecht")
    ));
    assert!(env.cmd(&["keygen"]).status.success());
    let empty = env.dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    let daemon = env.start();
    // Asked twice before the bundle is made: one request, one acknowledgement.
    let run = crate::util::sftp_batch(
        daemon.sftp_addr(),
        "utrecht",
        &crate::util::key(&env, "gemeente-utrecht"),
        &format!(
            "put {0} /utrecht/outbox/REQUEST-FULL\nput {0} /utrecht/outbox/REQUEST-FULL\n",
            empty.display()
        ),
    );
    assert!(run.ok, "{}", run.output);
    daemon.wait_until("both requests recorded", || {
        daemon.log().matches("full bundle request recorded").count() == 2
    });
    daemon.wait_until("the acknowledgement sent", || {
        env.number("SELECT count(*) FROM mail WHERE state = 'sent'") == 1
    });
    let log = daemon.stop();
    assert!(
        log.contains("new=true acknowledged=true") && log.contains("new=false acknowledged=false"),
        "{log}"
    );
    assert_eq!(mail_kinds(&env), ["full-requested"]);
    let request = env.var().join("tenants/utrecht/outbox/REQUEST-FULL");
    assert!(
        request.exists(),
        "the request stays visible until it is served"
    );
    let report = publish(&env);
    assert!(
        report
            .lines()
            .nth(1)
            .unwrap_or_default()
            .contains("Bundel-utrecht-totaal-"),
        "{report}"
    );
    assert!(!request.exists());
    assert_eq!(env.number("SELECT count(*) FROM full_request"), 0);
    assert_eq!(mail_kinds(&env), ["full-requested", "bundle-published"]);
    let mails = send_all(&env);
    assert_eq!(
        mails
            .iter()
            .filter(|m| m.contains("Subject: Verzoek om totaalbundel ontvangen"))
            .count(),
        1
    );
    assert!(
        mails.iter().any(
            |m| m.contains("Subject: Nieuwe totaalbundel: Bundel-utrecht-totaal-")
                && m.contains("de gevraagde totaalbundel")
                && m.contains("Hij bevat alle gegevens, ook")
        ),
        "{mails:?}"
    );
}

/// `Overzicht.html` in the bundle: the figures of `Indicatoren.csv` in a table, a suppressed
/// quarter said in words (never a zero), values escaped, and nothing that loads or runs. The
/// delivery table sums `Kwaliteit.csv`, with the share on time (`tijdig`), which the
/// monthly report on the month of the delivery says too.
#[test]
fn the_overview_page_shows_the_indicators_of_the_csv_and_loads_nothing() {
    let hostile = r#"Utrecht <script>alert(1)</script> & \"Co\""#;
    let provider = r#"Zorg <b>&amp; \"Zo\"</b>"#;
    let env = Env::new(&format!(
        "[[tenant]]\nid = \"zorg\"\nkind = \"supplier\"\ncode = \"87654321\"\nname = \"{provider}\"\ncontacts = [\"kwaliteit@zorg.example\"]\n\
         [[tenant]]\nid = \"utrecht\"\nkind = \"municipality\"\ncode = \"0344\"\nname = \"{hostile}\"\ncontacts = [\"data@utrecht.example\"]\n",
    ));
    assert!(env.cmd(&["keygen"]).status.success());
    env.start().stop();
    // 2026-Q1: three clients, too few to show.
    // 2026-Q2: twelve clients, nine measured completely, one of them dropped out (reason 33).
    let mut decisions = String::from(
        "gemeentecode;beschikkingnummer;pseudobsn;zorgaanbiedercode;productcategorie;productcode;ingangsdatum;einddatum;redenBeeindiging\n",
    );
    let mut measurements = String::from(
        "zorgaanbiedercode;pseudobsn;metingnummer;datum;gebruiktMeetinstrument;typeRespondent;totaalscoreMeting;status\n",
    );
    for i in 0..15u32 {
        let bsn = crate::util::bsn(i);
        let (end, measured) = if i < 12 {
            ("2026-05-15", "2026-05-20")
        } else {
            ("2026-02-15", "2026-02-20")
        };
        let reason = if i == 0 { "33" } else { "02" };
        decisions.push_str(&format!(
            "0344;B-{i};{bsn};87654321;45;45A01;2025-01-01;{end};{reason}\n"
        ));
        if !(9..12).contains(&i) {
            measurements.push_str(&format!(
                "87654321;{bsn};M-{i};{measured};CT;01;{};Volledig\n",
                i % 4 + 5
            ));
        }
    }
    // A second provider, not configured here, named by ten decisions and measured by none.
    for i in 20..30u32 {
        let bsn = crate::util::bsn(i);
        decisions.push_str(&format!(
            "0344;B-{i};{bsn};12345678;45;45A01;2025-01-01;2026-06-01;02\n"
        ));
    }
    // Two rows the checks refuse, for the reasons in the delivery table.
    measurements.push_str("87654321;123456782;M-X;2026-13-40;CT;01;5;Volledig\n");
    measurements.push_str("87654321;123456782;M-Y;2026-02-01;XX;01;5;Volledig\n");
    // Received on 19 August 2026 (noon in Amsterdam): the nine measurements of 20 May are
    // 91 days old, on time; the three of 20 February are late. 9 of 12: 75,0%.
    let received = chrono::DateTime::parse_from_rfc3339("2026-08-19T10:00:00Z").unwrap();
    deliver_all_at(
        &env,
        &crate::util::offset_to(received.to_utc()),
        &[
            ("utrecht", "b.csv", decisions.as_bytes()),
            ("zorg", "m.csv", measurements.as_bytes()),
        ],
    );
    publish(&env);
    let zip = outbox(&env).pop().unwrap();
    let page = zipped_text(&zip, "Overzicht.html");
    let saved = Path::new(env!("CARGO_TARGET_TMPDIR")).join("Overzicht.html");
    std::fs::write(&saved, &page).unwrap();

    // Inert: a policy that loads nothing, no script, no reference that leaves the file.
    assert!(
        page.contains(r#"<meta http-equiv="Content-Security-Policy" content="default-src 'none';"#),
        "{page}"
    );
    assert!(!page.contains("<script"), "{page}");
    for attribute in [" src=", " href=", "url(", "@import"] {
        assert!(!page.contains(attribute), "{attribute} in {page}");
    }
    // The municipality's name, shown literally.
    assert!(
        page.contains("Utrecht &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Co&quot;"),
        "{page}"
    );

    // Each quarter's cells equal its line of Indicatoren.csv (shares as percentages).
    let cell = |row: &str, column: &str| -> Option<String> {
        let start = row.find(&format!("data-kolom=\"{column}\""))?;
        let from = start + row[start..].find('>')? + 1;
        Some(row[from..from + row[from..].find('<')?].to_owned())
    };
    let first_table = &page[..page.find("</table>").unwrap()];
    let rows: Vec<&str> = first_table.split("<tr>").skip(2).collect();
    let lines = csv(&zip, "Indicatoren.csv");
    let header: Vec<&str> = lines[0].trim_start_matches('\u{feff}').split(';').collect();
    assert_eq!(rows.len(), lines.len() - 1, "{page}");
    let percent = |share: &str| {
        let v: f64 = share.replace(',', ".").parse().unwrap();
        format!("{:.1}%", v * 100.0).replace('.', ",")
    };
    // The figures of a CSV line (its cells by `field`) are those in the page's `row`.
    let same_figures = |row: &str, field: &dyn Fn(&str) -> String| {
        for column in [
            "beeindigd",
            "clienten",
            "ct_gemiddeld",
            "gas_gemiddeld",
            "metingen",
        ] {
            assert_eq!(cell(row, column), Some(field(column)), "{column} in {row}");
        }
        for column in ["respons", "uitval"] {
            let value = field(column);
            let expected = if value.is_empty() {
                value
            } else {
                percent(&value)
            };
            assert_eq!(cell(row, column), Some(expected), "{column} in {row}");
        }
    };
    let mut suppressed = 0;
    for (line, row) in lines[1..].iter().zip(&rows) {
        let values: Vec<&str> = line.split(';').collect();
        let field = |name: &str| values[header.iter().position(|h| *h == name).unwrap()];
        assert_eq!(
            cell(row, "periode").as_deref(),
            Some(field("periode")),
            "{row}"
        );
        if field("onderdrukt") == "1" {
            suppressed += 1;
            assert_eq!(
                cell(row, "onderdrukt").as_deref(),
                Some("niet getoond (minder dan 10 cliënten)"),
                "{row}"
            );
            assert!(
                cell(row, "clienten").is_none(),
                "no number for a suppressed quarter: {row}"
            );
            continue;
        }
        same_figures(row, &|c: &str| field(c).to_owned());
    }
    assert_eq!((lines.len() - 1, suppressed), (2, 1), "{lines:?}");

    // Per provider, side by side: each line of IndicatorenPerAanbieder.csv in its table.
    let per_provider = {
        let start = page.find(r#"<table id="per-aanbieder">"#).unwrap();
        &page[start..start + page[start..].find("</table>").unwrap()]
    };
    let lines = csv(&zip, "IndicatorenPerAanbieder.csv");
    let header: Vec<&str> = lines[0].trim_start_matches('\u{feff}').split(';').collect();
    let rows_pp: Vec<&str> = per_provider.split("<tr>").skip(2).collect();
    assert_eq!(rows_pp.len(), lines.len() - 1, "{per_provider}");
    let mut seen_providers = Vec::new();
    for (line, row) in lines[1..].iter().zip(&rows_pp) {
        let values: Vec<&str> = line.split(';').collect();
        let field = |name: &str| values[header.iter().position(|h| *h == name).unwrap()];
        seen_providers.push((
            field("periode").to_owned(),
            field("zorgaanbiedercode").to_owned(),
            field("onderdrukt").to_owned(),
        ));
        assert_eq!(
            cell(row, "periode").as_deref(),
            Some(field("periode")),
            "{row}"
        );
        assert!(
            cell(row, "zorgaanbiedercode")
                .unwrap()
                .ends_with(&format!("({})", field("zorgaanbiedercode"))),
            "{row}"
        );
        if field("onderdrukt") == "1" {
            assert_eq!(
                cell(row, "onderdrukt").as_deref(),
                Some("niet getoond (minder dan 10 cliënten)"),
                "{row}"
            );
            continue;
        }
        same_figures(row, &|c: &str| field(c).to_owned());
    }
    assert_eq!(
        seen_providers,
        [
            ("2026-Q1".to_owned(), "87654321".to_owned(), "1".to_owned()),
            ("2026-Q2".to_owned(), "12345678".to_owned(), "0".to_owned()),
            ("2026-Q2".to_owned(), "87654321".to_owned(), "0".to_owned()),
        ]
    );
    assert!(
        per_provider.contains(r#"data-kolom="respons">0,0%<"#),
        "{per_provider}"
    );
    assert!(
        page.contains(r#"data-kolom="respons">75,0%<"#),
        "nine of twelve responded: {page}"
    );
    // A chart per figure, one of the providers side by side, and one of each provider over
    // the quarters; each an image with a title and a description.
    assert_eq!(
        page.matches(r#"<svg xmlns="http://www.w3.org/2000/svg" role="img""#)
            .count(),
        4 + 1 + 2
    );
    assert_eq!(page.matches("<title id=").count(), 7);

    // The delivery table sums Kwaliteit.csv per sender, names shown literally.
    assert!(
        page.contains("Zorg &lt;b&gt;&amp;amp; &quot;Zo&quot;&lt;/b&gt; (87654321)"),
        "{page}"
    );
    let quality = csv(&zip, "Kwaliteit.csv");
    let q_header: Vec<&str> = quality[0]
        .trim_start_matches('\u{feff}')
        .split(';')
        .collect();
    // Per sender: deliveries, rows, accepted, rejected, reasons, and the accepted rows of
    // deliveries with an on-time count with those on time.
    type Sum = (u64, i64, i64, i64, Vec<(String, i64)>, (i64, i64));
    let mut sums: std::collections::BTreeMap<String, Sum> = Default::default();
    let mut on_time_cells = Vec::new();
    for line in &quality[1..] {
        let values: Vec<&str> = line.split(';').collect();
        let field = |name: &str| values[q_header.iter().position(|h| *h == name).unwrap()];
        let number = |name: &str| field(name).parse::<i64>().unwrap_or(0);
        on_time_cells.push((
            field("aanleverancier").to_owned(),
            field("tijdig").to_owned(),
        ));
        let sum = sums.entry(field("aanleverancier").to_owned()).or_default();
        sum.0 += 1;
        sum.1 += number("rijen");
        sum.2 += number("geaccepteerd");
        sum.3 += number("afgekeurd");
        if !field("tijdig").is_empty() {
            sum.5.0 += number("geaccepteerd");
            sum.5.1 += number("tijdig");
        }
        for reason in field("redenen").split("), ").filter(|r| !r.is_empty()) {
            let (label, n) = reason.trim_end_matches(')').rsplit_once(" (").unwrap();
            let n: i64 = n.parse().unwrap();
            match sum.4.iter_mut().find(|(l, _)| l == label) {
                Some(seen) => seen.1 += n,
                None => sum.4.push((label.to_owned(), n)),
            }
        }
    }
    let senders: Vec<&str> = page
        .split("data-kolom=\"aanleverancier\">")
        .skip(1)
        .collect();
    assert_eq!(senders.len(), sums.len(), "{page}");
    // Utrecht's decisions have no on-time count; of zorg's twelve accepted measurements, the
    // nine of 20 May came on time.
    assert_eq!(
        on_time_cells,
        [
            ("0344".to_owned(), String::new()),
            ("87654321".to_owned(), "9".to_owned())
        ]
    );
    for (row, (code, (n, rows_, accepted, rejected, mut reasons, (measured, on_time)))) in
        senders.iter().zip(sums)
    {
        let row = &row[..row.find("</tr>").unwrap()];
        assert!(row.contains(&format!("({code})<")), "{code} in {row}");
        reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let top: Vec<String> = reasons
            .iter()
            .take(3)
            .map(|(l, n)| format!("{l} ({n})"))
            .collect();
        let share = if measured > 0 {
            format!("{:.1}%", 100.0 * on_time as f64 / measured as f64).replace('.', ",")
        } else {
            String::new()
        };
        for (column, expected) in [
            ("leveringen", n.to_string()),
            ("rijen", rows_.to_string()),
            ("geaccepteerd", accepted.to_string()),
            ("afgekeurd", rejected.to_string()),
            ("tijdig", share),
            ("redenen", top.join(", ")),
        ] {
            assert_eq!(
                cell(row, column),
                Some(expected),
                "{column} of {code} in {row}"
            );
        }
    }
    assert!(page.contains(r#"data-kolom="afgekeurd">2<"#), "{page}");
    assert!(page.contains(r#"data-kolom="tijdig">75,0%<"#), "{page}");
    assert!(page.contains(r#"data-kolom="tijdig"><"#), "utrecht: {page}");

    // The bundle's mail carries the latest quarter's headline numbers, in both parts.
    let mail = send_all(&env)
        .into_iter()
        .find(|m| m.contains("Nieuwe bundel"))
        .unwrap();
    assert!(
        mail.contains("Kengetallen 2026-Q2 (het laatste kwartaal"),
        "{mail}"
    );
    for (label, value) in [
        // Both providers: 22 decisions, 9 of them measured completely, one dropout.
        ("Cliënten", "22"),
        ("Respons", "40,9%"),
        ("Gemiddelde CT", "6,33"),
        ("Gemiddelde GAS", "-"),
        ("Uitval", "4,5%"),
    ] {
        assert!(
            mail.contains(&format!("{label:>16}: {value}")),
            "{label} in {mail}"
        );
        assert!(
            mail.contains(&format!("<th align=\"left\">{label}</th><td>{value}</td>")),
            "{label} in {mail}"
        );
    }

    // In a real browser: no console message, no request, the same cells, 1280 pixels wide.
    let seen = browser(&saved);
    assert_eq!(seen["console"], serde_json::json!([]), "{seen}");
    assert_eq!(seen["requests"], serde_json::json!([]), "{seen}");
    assert!(seen["width"].as_u64().unwrap() <= 1280, "{seen}");
    let shown_in = |table: &str| -> Vec<(String, String)> {
        seen["cells"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c[0] == table)
            .map(|c| {
                (
                    c[1].as_str().unwrap().to_owned(),
                    c[2].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let written: Vec<(String, String)> = rows
        .iter()
        .flat_map(|row| {
            row.split("data-kolom=\"").skip(1).map(|rest| {
                let (column, rest) = rest.split_once('"').unwrap();
                let text = &rest[rest.find('>').unwrap() + 1..];
                (
                    column.to_owned(),
                    text[..text.find('<').unwrap()].to_owned(),
                )
            })
        })
        .collect();
    assert_eq!(shown_in("per-kwartaal"), written);
    let deliveries = shown_in("leveringen");
    // The names as a reader sees them: literally, markup and all.
    for name in [
        r#"Utrecht <script>alert(1)</script> & "Co" (0344)"#,
        r#"Zorg <b>&amp; "Zo"</b> (87654321)"#,
    ] {
        assert!(
            deliveries.contains(&("aanleverancier".to_owned(), name.to_owned())),
            "{deliveries:?}"
        );
    }
    let on_time: Vec<&str> = deliveries
        .iter()
        .filter(|(column, _)| column == "tijdig")
        .map(|(_, text)| text.as_str())
        .collect();
    assert_eq!(on_time, ["", "75,0%"], "utrecht, then zorg: {deliveries:?}");

    // The monthly report on August, when it is due (1 September, 07:00 in Amsterdam):
    // zorg's says how much came on time; utrecht's, on decisions only, says nothing of it.
    let due = chrono::DateTime::parse_from_rfc3339("2026-09-01T04:59:57Z").unwrap();
    let daemon = env.start_at(&crate::util::offset_to(due.to_utc()));
    daemon.wait_until("the monthly reports", || {
        env.number("SELECT count(*) FROM mail WHERE kind = 'quality-report' AND state = 'sent'")
            == 2
    });
    daemon.stop();
    let reports: Vec<String> = crate::mail::messages(&env.var().join("mail"))
        .iter()
        .map(|m| decoded(m))
        .filter(|m| m.contains("Kwaliteitsrapport over 2026-08"))
        .collect();
    let report_to = |to: &str| {
        reports
            .iter()
            .find(|m| m.contains(&format!("To: {to}")))
            .unwrap_or_else(|| panic!("no report to {to}: {reports:?}"))
    };
    let line =
        "Tijdig aangeleverd: 75,0% van de geaccepteerde metingen (binnen 91 dagen na de meetdatum)";
    let zorg = report_to("kwaliteit@zorg.example");
    // Once in the plain part, once in the HTML part.
    assert_eq!(zorg.matches(line).count(), 2, "{zorg}");
    assert!(zorg.contains(&format!("<p>{line}</p>")), "{zorg}");
    let utrecht = report_to("data@utrecht.example");
    assert!(!utrecht.contains("Tijdig"), "{utrecht}");
}

/// Runs `tests/browser.py` on `page` (headless Chromium through chromedriver): its console
/// messages, requests, `data-kolom` cells and width. The screenshot lands beside the page.
pub(crate) fn browser(page: &Path) -> serde_json::Value {
    let out = std::process::Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser.py"))
        .arg(page)
        .arg(page.with_extension("png"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tests/browser.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The browser check sees what it is there to see: a page that loads an image and throws
/// is reported with both.
#[test]
fn the_browser_check_reports_a_request_and_a_script_error() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("bad.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>x</title></head><body>\
         <img src=\"http://127.0.0.1:9/x.png\"><script>undefinedFunction()</script></body></html>",
    )
    .unwrap();
    let seen = browser(&page);
    assert_eq!(
        seen["requests"],
        serde_json::json!(["http://127.0.0.1:9/x.png"]),
        "{seen}"
    );
    assert!(
        seen["console"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["message"]
                .as_str()
                .unwrap()
                .contains("undefinedFunction is not defined")),
        "{seen}"
    );
}
