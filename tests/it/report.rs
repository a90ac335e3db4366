//! The reports people look at (issue 14), from a full-size data set: three care providers
//! (one with fewer than ten clients), two municipalities, four quarters. The municipality's
//! `Overzicht.html` and a provider's monthly `Rapportage-*.html` are opened in headless
//! Chromium, and every figure cell is held against the CSV beside the page.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{Datelike, Months, NaiveDate, TimeZone};

use crate::publish::{browser, csv, decoded, deliver_all_at, zipped_text};
use crate::util::{Env, key, public_key, sftp_batch};

const UTRECHT: &str = r#"Utrecht <script>alert(1)</script> & \"Co\""#;
const UTRECHT_SHOWN: &str = r#"Utrecht <script>alert(1)</script> & "Co""#;
const ZORG_A: &str = r#"Zorg A <b>&amp; \"Zo\"</b>"#;

/// The municipalities, the providers, and a user who delivers and collects for `zorg-a`.
fn config() -> String {
    format!(
        r#"
[[tenant]]
id = "zorg-a"
kind = "supplier"
code = "87654321"
name = "{ZORG_A}"
contacts = ["a@zorg.example"]

[[tenant]]
id = "zorg-b"
kind = "supplier"
code = "12345678"
name = "Zorg B"

[[tenant]]
id = "zorg-c"
kind = "supplier"
code = "11223344"
name = "Zorg C"

[[tenant]]
id = "utrecht"
kind = "municipality"
code = "0344"
name = "{UTRECHT}"
contacts = ["data@utrecht.example"]

[[tenant]]
id = "amersfoort"
kind = "municipality"
code = "0307"
name = "Amersfoort"

[[user]]
name = "zorg-a"
public_keys = ["{}"]
[[user.grant]]
tenant = "zorg-a"
roles = ["deliver", "collect"]
"#,
        public_key("romvendor")
    )
}

/// Ended decisions of one provider for one municipality, per quarter (oldest first): how
/// many clients, and how many of them were measured completely (one more incompletely).
struct Set {
    agb: &'static str,
    municipality: &'static str,
    clients: [u32; 4],
    complete: [u32; 4],
}

const SETS: [Set; 5] = [
    Set {
        agb: "87654321",
        municipality: "0344",
        clients: [12, 12, 12, 12],
        complete: [6, 8, 10, 12],
    },
    // Four clients in the oldest quarter: too few to show there.
    Set {
        agb: "87654321",
        municipality: "0307",
        clients: [4, 10, 11, 12],
        complete: [2, 5, 6, 7],
    },
    Set {
        agb: "12345678",
        municipality: "0344",
        clients: [11, 11, 11, 11],
        complete: [3, 4, 5, 6],
    },
    Set {
        agb: "12345678",
        municipality: "0307",
        clients: [10, 0, 10, 10],
        complete: [5, 0, 5, 5],
    },
    // Under ten clients in every quarter.
    Set {
        agb: "11223344",
        municipality: "0344",
        clients: [3, 3, 3, 3],
        complete: [1, 1, 1, 1],
    },
];

/// The first days of the four quarters before the current one, oldest first.
fn quarters() -> Vec<NaiveDate> {
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Amsterdam)
        .date_naive();
    let this_quarter =
        NaiveDate::from_ymd_opt(today.year(), today.month0() / 3 * 3 + 1, 1).unwrap();
    (1..=4u32)
        .rev()
        .map(|k| this_quarter - Months::new(3 * k))
        .collect()
}

fn quarter_label(d: NaiveDate) -> String {
    format!("{}-Q{}", d.year(), d.month0() / 3 + 1)
}

/// The first day of last month: the month the monthly report is about.
fn report_month() -> NaiveDate {
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Amsterdam)
        .date_naive();
    today.with_day(1).unwrap() - Months::new(1)
}

/// The day the deliveries come: the middle of last month, so that its report counts them.
fn delivered_at() -> NaiveDate {
    report_month() + chrono::Duration::days(14)
}

/// The decision files (per municipality) and measurement files (per provider) of `SETS`.
fn deliveries() -> BTreeMap<&'static str, String> {
    let mut files: BTreeMap<&'static str, String> = BTreeMap::new();
    let mut n = 0;
    for set in &SETS {
        for (q, start) in quarters().into_iter().enumerate() {
            let end = start + chrono::Duration::days(14);
            let measured = end + chrono::Duration::days(5);
            let begun = end - chrono::Duration::days(180);
            for i in 0..set.clients[q] {
                n += 1;
                let bsn = crate::util::bsn(n);
                let reason = if i % 5 == 0 { "33" } else { "02" };
                files
                    .entry(set.municipality)
                    .or_default()
                    .push_str(&format!(
                        "{};B-{n};{bsn};{};45;45A01;{begun};{end};{reason}\n",
                        set.municipality, set.agb
                    ));
                let status = match i.cmp(&set.complete[q]) {
                    std::cmp::Ordering::Less => "Volledig",
                    std::cmp::Ordering::Equal => "Onvolledig",
                    std::cmp::Ordering::Greater => continue,
                };
                files.entry(set.agb).or_default().push_str(&format!(
                    "{};{bsn};M-{n};{measured};CT;01;{};{status}\n",
                    set.agb,
                    i % 5 + 4
                ));
            }
        }
    }
    // Three measurements of recent days, taken 10, 91 and 92 days before they are
    // delivered (see `delivered_at`): the first two on time.
    let received = delivered_at();
    for (i, days) in [10, 91, 92].into_iter().enumerate() {
        let taken = received - chrono::Duration::days(days);
        files.entry("87654321").or_default().push_str(&format!(
            "87654321;{};R-{i};{taken};CT;01;5;Volledig\n",
            crate::util::bsn(9000 + i as u32)
        ));
    }
    // Two rows the checks refuse, for the report's table of checks.
    files
        .entry("87654321")
        .or_default()
        .push_str("87654321;123456782;M-X;2026-13-40;CT;01;5;Volledig\n87654321;123456782;M-Y;2026-02-01;XX;01;5;Volledig\n");
    files
}

/// Every `data-kolom` cell of `table` as the browser saw it, cut into rows at `first`.
fn rows(seen: &serde_json::Value, table: &str, first: &str) -> Vec<BTreeMap<String, String>> {
    let mut out: Vec<BTreeMap<String, String>> = Vec::new();
    for cell in seen["cells"].as_array().unwrap() {
        if cell[0] != table {
            continue;
        }
        let (column, text) = (cell[1].as_str().unwrap(), cell[2].as_str().unwrap());
        if column == first {
            out.push(BTreeMap::new());
        }
        out.last_mut()
            .unwrap()
            .insert(column.to_owned(), text.to_owned());
    }
    out
}

/// A CSV's lines (after the header) as column → value.
fn records(lines: &[String]) -> Vec<BTreeMap<String, String>> {
    let header: Vec<&str> = lines[0].trim_start_matches('\u{feff}').split(';').collect();
    lines[1..]
        .iter()
        .map(|line| {
            header
                .iter()
                .zip(line.split(';'))
                .map(|(h, v)| ((*h).to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

/// A share as the page shows it (`0,792` → `79,2%`).
fn percent(share: &str) -> String {
    if share.is_empty() {
        return String::new();
    }
    let v: f64 = share.replace(',', ".").parse().unwrap();
    format!("{:.1}%", v * 100.0).replace('.', ",")
}

/// The page's row shows the CSV line's figures, or says they are not shown.
fn same_figures(row: &BTreeMap<String, String>, line: &BTreeMap<String, String>) {
    if line["onderdrukt"] == "1" {
        assert_eq!(
            row.get("onderdrukt").map(String::as_str),
            Some("niet getoond (minder dan 10 cliënten)"),
            "{row:?} for {line:?}"
        );
        assert!(!row.contains_key("clienten"), "no number shown: {row:?}");
        return;
    }
    for column in [
        "beeindigd",
        "clienten",
        "ct_gemiddeld",
        "gas_gemiddeld",
        "metingen",
    ] {
        assert_eq!(row[column], line[column], "{column}: {row:?} for {line:?}");
    }
    for column in ["respons", "uitval"] {
        assert_eq!(
            row[column],
            percent(&line[column]),
            "{column}: {row:?} for {line:?}"
        );
    }
}

/// Saves `page` under `target/tmp/` and opens it in the browser: no console message, no
/// request, no wider than a 1280-pixel window nor than an A4 page's print area. The
/// screenshot and the printed PDF land beside it.
fn opened(page: &str, name: &str) -> serde_json::Value {
    let saved = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&saved, page).unwrap();
    assert!(!page.contains("<script"), "{page}");
    for attribute in [" src=", "url(", "@import", "href=\"http", "href=\"/"] {
        assert!(!page.contains(attribute), "{attribute} in {page}");
    }
    let seen = browser(&saved);
    assert_eq!(seen["console"], serde_json::json!([]), "{name}: {seen}");
    assert_eq!(seen["requests"], serde_json::json!([]), "{name}: {seen}");
    assert!(seen["width"].as_u64().unwrap() <= 1280, "{name}: {seen}");
    let a4 = &seen["a4"];
    assert!(
        a4["width"].as_u64().unwrap() <= a4["window"].as_u64().unwrap(),
        "{name} is wider than an A4 page's print area: {a4}"
    );
    assert!(a4["pages"].as_u64().unwrap() >= 2, "{name} printed: {a4}");
    assert!(saved.with_extension("png").exists() && saved.with_extension("pdf").exists());
    seen
}

#[test]
fn a_bundles_overview_and_a_providers_monthly_report_show_the_figures_of_their_csvs() {
    let env = Env::new(&config());
    assert!(env.cmd(&["keygen"]).status.success());
    env.start().stop();
    let report_month = report_month();
    let last_month = chrono_tz::Europe::Amsterdam
        .from_local_datetime(&delivered_at().and_hms_opt(12, 0, 0).unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    let files = deliveries();
    let decisions = "gemeentecode;beschikkingnummer;pseudobsn;zorgaanbiedercode;productcategorie;productcode;ingangsdatum;einddatum;redenBeeindiging\n";
    let measurements = "zorgaanbiedercode;pseudobsn;metingnummer;datum;gebruiktMeetinstrument;typeRespondent;totaalscoreMeting;status\n";
    let content = |code: &str, header: &str| format!("{header}{}", files[code]);
    let (b_utrecht, b_amersfoort) = (content("0344", decisions), content("0307", decisions));
    let (m_a, m_b, m_c) = (
        content("87654321", measurements),
        content("12345678", measurements),
        content("11223344", measurements),
    );
    deliver_all_at(
        &env,
        &crate::util::offset_to(last_month),
        &[
            ("utrecht", "beschikkingen.csv", b_utrecht.as_bytes()),
            ("amersfoort", "beschikkingen.csv", b_amersfoort.as_bytes()),
            ("zorg-a", "metingen.csv", m_a.as_bytes()),
            ("zorg-b", "metingen.csv", m_b.as_bytes()),
            ("zorg-c", "metingen.csv", m_c.as_bytes()),
        ],
    );
    assert_eq!(env.count("zorg-a", "processed"), 1);

    // The municipality's bundle.
    let out = env.cmd(&["publish", "--now", "--tenant", "utrecht"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let outbox = env.var().join("tenants/utrecht/outbox");
    let zip: PathBuf = crate::util::files(&outbox).pop().unwrap();
    let overview = zipped_text(&zip, "Overzicht.html");
    let seen = opened(&overview, "Overzicht-vier-kwartalen.html");
    let labels: Vec<String> = quarters().into_iter().map(quarter_label).collect();
    let per_quarter = rows(&seen, "per-kwartaal", "periode");
    let lines = records(&csv(&zip, "Indicatoren.csv"));
    assert_eq!(per_quarter.len(), 4, "{per_quarter:?}");
    for (row, line) in per_quarter.iter().zip(&lines) {
        assert_eq!(row["periode"], line["periode"]);
        same_figures(row, line);
    }
    let per_provider = rows(&seen, "per-aanbieder", "periode");
    let lines = records(&csv(&zip, "IndicatorenPerAanbieder.csv"));
    assert_eq!(per_provider.len(), lines.len());
    assert_eq!(lines.len(), 12, "three providers, four quarters: {lines:?}");
    for (row, line) in per_provider.iter().zip(&lines) {
        assert_eq!(row["periode"], line["periode"]);
        assert!(
            row["zorgaanbiedercode"].ends_with(&format!("({})", line["zorgaanbiedercode"])),
            "{row:?}"
        );
        same_figures(row, line);
        assert_eq!(
            line["onderdrukt"] == "1",
            line["zorgaanbiedercode"] == "11223344",
            "only the small provider is suppressed: {line:?}"
        );
    }
    // Per quarter, the latest side by side, and each provider over the quarters.
    assert_eq!(overview.matches("role=\"img\"").count(), 4 + 1 + 3);
    for agb in ["87654321", "12345678", "11223344"] {
        assert!(
            overview.contains(&format!("id=\"trend-{agb}-titel\"")),
            "{agb}"
        );
    }

    // The provider's monthly report, put in its outbox when it is due.
    let report_outbox = env.var().join("tenants/zorg-a/outbox");
    let month = report_month.format("%Y-%m").to_string();
    let page_name = format!("Rapportage-zorg-a-{month}.html");
    let csv_name = format!("Rapportage-zorg-a-{month}.csv");
    let daemon = env.start_at(&crate::util::just_before_this_months_report());
    daemon.wait_until("the report in the outbox", || {
        report_outbox.join(&page_name).exists() && report_outbox.join(&csv_name).exists()
    });
    daemon.wait_until("the report's mail queued", || {
        env.number(
            "SELECT count(*) FROM mail WHERE kind = 'quality-report' AND tenant_id = 'zorg-a'",
        ) == 1
    });
    daemon.stop();
    for other in ["zorg-b", "zorg-c"] {
        assert!(
            crate::util::files(&env.var().join(format!("tenants/{other}/outbox"))).is_empty(),
            "{other} has no user that collects"
        );
    }
    let page = std::fs::read_to_string(report_outbox.join(&page_name)).unwrap();
    assert!(
        page.contains("Zorg A &lt;b&gt;&amp;amp; &quot;Zo&quot;&lt;/b&gt; (87654321)"),
        "the provider's name literally: {page}"
    );
    let seen = opened(&page, "Rapportage-vier-kwartalen.html");
    let report_lines: Vec<String> = std::fs::read_to_string(report_outbox.join(&csv_name))
        .unwrap()
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let lines = records(&report_lines);
    let mut suppressed = 0;
    for (table, code) in [
        ("tabel-alle", "alle"),
        ("tabel-0344", "0344"),
        ("tabel-0307", "0307"),
    ] {
        let shown = rows(&seen, table, "periode");
        let expected: Vec<&BTreeMap<String, String>> = lines
            .iter()
            .filter(|l| l["gemeentecode"] == code && !l["periode"].contains('/'))
            .collect();
        assert_eq!(shown.len(), 4, "{table}: {shown:?}");
        assert_eq!(shown.len(), expected.len(), "{table}");
        for (row, line) in shown.iter().zip(expected) {
            assert_eq!(row["periode"], line["periode"], "{table}");
            same_figures(row, line);
            suppressed += usize::from(line["onderdrukt"] == "1");
        }
        let periods: Vec<&String> = shown.iter().map(|r| &r["periode"]).collect();
        assert_eq!(periods, labels.iter().collect::<Vec<_>>(), "{table}");
    }
    assert_eq!(suppressed, 1, "Amersfoort's oldest quarter: four clients");
    // All municipalities together, latest quarter: 12 + 12 clients, 12 + 7 complete.
    let latest = lines
        .iter()
        .find(|l| l["gemeentecode"] == "alle" && l["periode"] == labels[3])
        .unwrap();
    assert_eq!(
        (latest["clienten"].as_str(), latest["respons"].as_str()),
        ("24", "0,792")
    );
    let response = rows(&seen, "respons-twaalf-maanden", "gemeentecode");
    let expected: Vec<&BTreeMap<String, String>> = lines
        .iter()
        .filter(|l| l["periode"].contains('/'))
        .collect();
    assert!(!response.is_empty());
    assert_eq!(response.len(), expected.len());
    for (row, line) in response.iter().zip(expected) {
        assert!(
            row["gemeentecode"].ends_with(&format!("({})", line["gemeentecode"])),
            "{row:?}"
        );
        same_figures(row, line);
    }
    assert!(
        response
            .iter()
            .any(|r| r["gemeentecode"] == format!("{UTRECHT_SHOWN} (0344)")),
        "a municipality's name as a reader sees it: {response:?}"
    );
    // The month's deliveries and the checks that failed.
    let delivered = rows(&seen, "leveringen-maand", "levering");
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(delivered[0]["afgekeurd"], "2", "{delivered:?}");
    // On time: taken at most 91 days before the delivery came (two of the three recent
    // ones, and those of a quarter recent enough).
    let received = delivered_at();
    let quarter_ones: u32 = SETS
        .iter()
        .filter(|s| s.agb == "87654321")
        .flat_map(|s| {
            quarters().into_iter().enumerate().map(move |(q, start)| {
                let measured = start + chrono::Duration::days(19);
                let count = s.complete[q] + u32::from(s.clients[q] > s.complete[q]);
                if (received - measured).num_days() <= 91 {
                    count
                } else {
                    0
                }
            })
        })
        .sum();
    assert_eq!(
        delivered[0]["tijdig"],
        (quarter_ones + 2).to_string(),
        "{delivered:?}"
    );
    let checks = rows(&seen, "controles", "controle");
    assert_eq!(
        checks
            .iter()
            .map(|c| c["aantal"].as_str())
            .collect::<Vec<_>>(),
        ["1", "1"],
        "{checks:?}"
    );
    // One section per municipality, reached by links within the page.
    for section in [
        "alle-gemeenten",
        "gemeente-0344",
        "gemeente-0307",
        "respons",
        "leveringen",
    ] {
        assert!(page.contains(&format!("href=\"#{section}\"")), "{section}");
        assert!(page.contains(&format!("id=\"{section}\"")), "{section}");
    }

    // The monthly mail names the report and carries its headline figures.
    let daemon = env.start();
    daemon.wait_until("the mail sent", || {
        env.number("SELECT count(*) FROM mail WHERE state = 'queued'") == 0
    });
    daemon.stop();
    let sent: Vec<String> = crate::mail::messages(&env.var().join("mail"))
        .into_iter()
        .map(|m| decoded(&m))
        .filter(|m| m.contains("To: a@zorg.example") && m.contains("Kwaliteitsrapport"))
        .collect();
    let [mail] = sent.as_slice() else {
        panic!("one report mail to zorg-a: {sent:?}")
    };
    assert!(mail.contains(&format!("outbox/: {page_name}")), "{mail}");
    assert!(mail.contains(&csv_name), "{mail}");
    assert!(
        mail.contains(&format!("Kengetallen {} (het laatste kwartaal", labels[3])),
        "{mail}"
    );
    assert!(mail.contains(&format!("{:>16}: 24", "Cliënten")), "{mail}");
    assert!(
        mail.contains(&format!("{:>16}: 79,2%", "Respons")),
        "{mail}"
    );

    // The collecting user fetches the page over SFTP and removes the CSV; a full bundle
    // is no thing to ask a provider's outbox for.
    let daemon = env.start();
    let addr = daemon.sftp_addr();
    let fetched = env.dir.path().join("fetched.html");
    let empty = env.dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    let run = sftp_batch(
        addr,
        "zorg-a",
        &key(&env, "romvendor"),
        &format!(
            "ls -1 /zorg-a/outbox\nget /zorg-a/outbox/{page_name} {}\nrm /zorg-a/outbox/{csv_name}\n-put {} /zorg-a/outbox/REQUEST-FULL\n",
            fetched.display(),
            empty.display()
        ),
    );
    daemon.stop();
    assert!(run.ok, "{}", run.output);
    assert!(
        run.output.contains(&page_name) && run.output.contains(&csv_name),
        "{}",
        run.output
    );
    assert_eq!(std::fs::read_to_string(&fetched).unwrap(), page);
    assert!(
        !report_outbox.join("REQUEST-FULL").exists(),
        "{}",
        run.output
    );
    // The sweep records the early deletion, and removes the page after its 60 days.
    assert!(env.cmd(&["sweep"]).status.success());
    assert!(env.cmd_at("+61d", &["sweep"]).status.success());
    assert!(!report_outbox.join(&page_name).exists());
    let deleted = env.texts(
        "SELECT actor || ' ' || subject FROM audit WHERE action = 'bundle.deleted' AND tenant_id = 'zorg-a' ORDER BY id",
        [],
    );
    assert_eq!(
        deleted,
        [format!("sftp {csv_name}"), format!("retention {page_name}")]
    );
}

/// A monthly report cut off between its commit and its move into the outbox (kill -9
/// there): the next start places both files under their recorded names at once, and the
/// month's job, run again, makes and mails nothing twice.
#[test]
fn a_report_cut_off_after_its_commit_is_placed_at_the_next_start_and_mailed_once() {
    let env = Env::new(&config());
    assert!(env.cmd(&["keygen"]).status.success());
    env.start().stop();
    let last_month = chrono_tz::Europe::Amsterdam
        .from_local_datetime(&delivered_at().and_hms_opt(12, 0, 0).unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    let measurements = format!(
        "zorgaanbiedercode;pseudobsn;metingnummer;datum;gebruiktMeetinstrument;typeRespondent;totaalscoreMeting;status\n87654321;{};M-1;{};CT;01;5;Volledig\n",
        crate::util::bsn(1),
        delivered_at() - chrono::Duration::days(3)
    );
    deliver_all_at(
        &env,
        &crate::util::offset_to(last_month),
        &[("zorg-a", "metingen.csv", measurements.as_bytes())],
    );
    let mut daemon = env.spawn(&[
        (
            dropgate::clock::TEST_CLOCK_VAR,
            &crate::util::just_before_this_months_report(),
        ),
        ("DROPGATE_TEST_PAUSE_AT", "report.committed"),
    ]);
    daemon.wait_for_log("dropgate: paused at report.committed");
    daemon.child.kill().unwrap(); // SIGKILL
    daemon.child.wait().unwrap();
    let month = report_month().format("%Y-%m").to_string();
    let names = [
        format!("Rapportage-zorg-a-{month}.html"),
        format!("Rapportage-zorg-a-{month}.csv"),
    ];
    let staging = env.var().join("staging");
    let outbox = env.var().join("tenants/zorg-a/outbox");
    for name in &names {
        assert!(
            staging.join(name).exists() && !outbox.join(name).exists(),
            "{name}"
        );
    }
    let unplaced = "SELECT count(*) FROM bundle WHERE kind = 'report' AND placed_at IS NULL";
    assert_eq!(env.number(unplaced), 2);
    let mails = "SELECT count(*) FROM mail WHERE kind = 'quality-report' AND tenant_id = 'zorg-a'";
    assert_eq!(
        env.number(mails),
        0,
        "held with the record, not queued before the files are in the outbox"
    );
    assert_eq!(env.number("SELECT count(*) FROM held_mail"), 1);

    // The next start places them before anything else; the month's job runs again.
    let daemon = env.start_at(&crate::util::just_before_this_months_report());
    // Placed before the daemon said it was ready, seconds before the month's job is due.
    for name in &names {
        assert!(
            outbox.join(name).exists() && !staging.join(name).exists(),
            "{name}"
        );
    }
    assert_eq!(
        env.number("SELECT count(*) FROM job WHERE name = 'quality-report'"),
        0
    );
    daemon.wait_until("the month's job run again", || {
        env.number("SELECT count(*) FROM job WHERE name = 'quality-report'") == 1
    });
    daemon.stop();
    assert_eq!(env.number(unplaced), 0);
    assert_eq!(env.number(mails), 1, "the report is mailed once");
    assert_eq!(env.number("SELECT count(*) FROM held_mail"), 0);
    assert_eq!(
        crate::util::files(&outbox).len(),
        2,
        "no second copy under another name"
    );
}
