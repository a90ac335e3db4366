//! iJw and iWmo messages (issue 15): what the real binary says of them, offline
//! (`validate`) and in the daily run, through the confined reader. Until message intake is
//! built, a message is checked against its schema and refused with what the check found,
//! never taken for an unknown layout and never stored.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::{field, receipt};
use crate::publish::{all_bytes, csv_rows};
use crate::util::{BIN, Env, SAMPLES, assert_absent, files};

/// Personal values of the sample JW301 (a BSN, a street, a phone number, an e-mail
/// address, a relation's name, a comment, a full postcode): none may be kept.
const SECRETS: [&[u8]; 7] = [
    b"999900006",
    b"Woustraat",
    b"0201234567",
    b"abc@def.com",
    b"Galen",
    b"Commentaar client",
    b"9999XX",
];

/// Every sample message of `standard` (`jw` or `wmo`).
fn samples(standard: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = files(&Path::new(SAMPLES).join("berichten").join(standard))
        .into_iter()
        .filter(|p| !p.to_string_lossy().contains("ongeldig"))
        .collect();
    found.sort();
    found
}

fn validate(file: &Path) -> (Option<i32>, serde_json::Value) {
    let out = Command::new(BIN)
        .args(["validate", "--json"])
        .arg(file)
        .output()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code(), json)
}

#[test]
fn validate_accepts_each_sample_message_and_names_its_dataset() {
    let all: Vec<PathBuf> = ["jw", "wmo"].iter().flat_map(|s| samples(s)).collect();
    assert_eq!(all.len(), 14 + 7);
    for file in all {
        let (code, json) = validate(&file);
        let kind = file.file_stem().unwrap().to_string_lossy().into_owned();
        assert_eq!(code, Some(0), "{kind}: {json}");
        assert_eq!(json["dataset"], serde_json::json!(null), "{kind}: {json}");
        assert_eq!(json["accepted"], 1, "{kind}: {json}");
        assert_eq!(json["problems"], serde_json::json!([]), "{kind}");
    }
}

#[test]
fn validate_lists_each_schema_violation_with_its_line_and_element() {
    let (code, json) =
        validate(&Path::new(SAMPLES).join("berichten/jw/ongeldig/JW315-datum-31-juni.xml"));
    assert_eq!(code, Some(1));
    let problems: Vec<String> = json["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{} {} {}",
                p["line"],
                p["column"].as_str().unwrap(),
                p["rule"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        problems,
        [
            "44 Client/AangevraagdeProducten/AangevraagdProduct[1]/ToewijzingEinddatum message.schema",
            "66 Client/AangevraagdeProducten/AangevraagdProduct[2]/ToewijzingEinddatum message.schema",
        ]
    );
    assert_eq!(json["rejected"], 1, "{json}");
}

/// A zip at `path` of `entries` (name, bytes).
fn write_zip<N: AsRef<str>>(path: &Path, entries: &[(N, Vec<u8>)]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in entries {
        zip.start_file(name.as_ref(), options).unwrap();
        std::io::Write::write_all(&mut zip, bytes).unwrap();
    }
    zip.finish().unwrap();
}

#[test]
fn the_daily_run_takes_messages_once_and_keeps_only_the_allow_list() {
    let env = Env::new(
        "[[tenant]]\nid = \"gemeente\"\nkind = \"municipality\"\ncode = \"0384\"\nname = \"Gemeente\"\ndecisions_from_messages = true\n",
    );
    assert!(env.cmd(&["keygen"]).status.success());
    let upload = env.upload("gemeente");
    std::fs::create_dir_all(&upload).unwrap();
    std::fs::copy(
        Path::new(SAMPLES).join("berichten/jw/JW301.xml"),
        upload.join("toewijzing.xml"),
    )
    .unwrap();
    let daemon = env.start();
    daemon.wait_until("intake", || env.status()["deliveries"]["total"] == 1);
    daemon.stop();
    assert!(env.cmd(&["process"]).status.success());
    assert_eq!(env.number("SELECT count(*) FROM message"), 1);
    // Every sample in nested folders (the JW301 again: kept once), one schema violation,
    // one of another municipality, a name outside the zip and a zip within it.
    let mut entries: Vec<(String, Vec<u8>)> = ["jw", "wmo"]
        .iter()
        .flat_map(|s| samples(s))
        .map(|p| {
            let name = format!("2026/{}", p.strip_prefix(SAMPLES).unwrap().display());
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    let other = String::from_utf8(entries[0].1.clone())
        .unwrap()
        .replace(">0384<", ">0363<");
    entries.push(("elders/JW301.xml".into(), other.into_bytes()));
    entries.push((
        "ongeldig/JW315.xml".into(),
        std::fs::read(Path::new(SAMPLES).join("berichten/jw/ongeldig/JW315-datum-31-juni.xml"))
            .unwrap(),
    ));
    entries.push(("../buiten.xml".into(), entries[0].1.clone()));
    entries.push(("binnen.zip".into(), b"PK\x03\x04 not really".to_vec()));
    // The same message twice in one zip: the first stands.
    entries.push((
        "nogmaals/JW305.xml".into(),
        std::fs::read(Path::new(SAMPLES).join("berichten/jw/JW305.xml")).unwrap(),
    ));
    let borrowed: Vec<(&str, Vec<u8>)> = entries
        .iter()
        .map(|(n, b)| (n.as_str(), b.clone()))
        .collect();
    write_zip(&upload.join("berichten.zip"), &borrowed);

    let daemon = env.start();
    daemon.wait_until("intake", || env.status()["deliveries"]["total"] == 2);
    daemon.stop();
    assert!(env.cmd(&["process"]).status.success());
    assert_eq!(env.count("gemeente", "processed"), 2);
    assert_eq!(env.number("SELECT count(*) FROM message"), 21);
    assert_eq!(
        env.number("SELECT count(DISTINCT delivery) FROM message"),
        2
    );
    let (summary, problems) = receipt(&env, "gemeente", "berichten.zip");
    assert_eq!(field(&summary, "dataset"), "berichten");
    assert_eq!(field(&summary, "rows"), "26");
    assert_eq!(field(&summary, "accepted"), "21");
    assert_eq!(field(&summary, "rejected"), "5");
    assert_eq!(
        field(&summary, "known"),
        "1",
        "the JW301 came before, alone"
    );
    let rules: Vec<&str> = problems
        .iter()
        .map(|p| p.rsplit(';').next().unwrap_or(""))
        .collect();
    for rule in [
        "message.municipality",
        "message.schema",
        "message.zip",
        "duplicate-in-file",
    ] {
        assert!(rules.contains(&rule), "{rule}: {problems:?}");
    }
    assert!(
        problems
            .iter()
            .any(|p| p.contains("elders/JW301.xml (JW301, 01-04-2026)")),
        "{problems:?}"
    );
    // The assignment's two products became decisions with its end dates. The samples' stop
    // (JW307) names the same numbers but comes from another provider: it ends nothing.
    assert_eq!(
        env.texts(
            "SELECT beschikkingnummer || ' ' || agb || ' ' || ifnull(einddatum, '-') || ' ' || ifnull(reden, '-') FROM decision ORDER BY 1",
            []
        ),
        [
            "300201 42420001 2026-07-14 -",
            "300202 42420001 2026-07-19 -",
            "WMO-101 42420001 2023-12-31 -",
            // The WMO307 stops numbers no WMO301 assigned: the stop makes the decision,
            // without the reason (iWmo's code list is not the dataset's), apart from iJw's.
            "WMO-300201 65656055 2025-07-18 -",
            "WMO-300202 65656055 2025-07-18 -",
        ]
    );
    // Kept: codes, dates, products; never a name, street, phone number, e-mail or BSN.
    let content = env.texts("SELECT content FROM message", []).join(" ");
    for kept in [
        "55A11",
        "2026-07-14",
        "\"Client_Geboortejaar\":\"2010\"",
        "\"Adres_Postcode\":\"9999\"",
    ] {
        assert!(content.contains(kept), "{kept}: {content}");
    }
    for file in files(&env.var()) {
        if file.starts_with(env.var().join("archive")) {
            continue;
        }
        let bytes = std::fs::read(&file).unwrap();
        assert_absent(&SECRETS, &bytes, &file.display().to_string());
    }
    ketendata_bundles_carry_the_messages_hashed_with_the_municipalitys_key(&env);
}

/// The weekly publication after the messages of the test above: a Ketendata bundle per
/// law, hashed as the municipality's other bundles, with the link table filled; nothing
/// again the next week; a total file on request.
fn ketendata_bundles_carry_the_messages_hashed_with_the_municipalitys_key(env: &Env) {
    let out = env.cmd(&["publish", "--now", "--tenant", "gemeente"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let outbox = env.var().join("tenants/gemeente/outbox");
    let bundle = |prefix: &str| -> PathBuf {
        let names = env.texts(
            "SELECT name FROM bundle WHERE name LIKE ?1 || '%' ORDER BY id DESC",
            [prefix],
        );
        outbox.join(
            names
                .first()
                .unwrap_or_else(|| panic!("no {prefix} bundle")),
        )
    };
    let ijw = bundle("Ketendata-IJW-gemeente-2");
    let iwmo = bundle("Ketendata-IWMO-gemeente-2");
    let measurements = bundle("Bundel-gemeente-");
    let municipality =
        dropgate::pseudonym::Keyed::load(&env.var().join("municipality-gemeente.key")).unwrap();
    let ttp = dropgate::pseudonym::Keyed::load(&env.var().join("ttp.key")).unwrap();
    let bsn = ttp
        .pseudonym(&dropgate::pseudonym::Bsn::parse("999900006").unwrap())
        .as_str()
        .to_owned();

    // One row per message, one per assigned product; every identifier hashed.
    let jw301 = csv_rows(&ijw, "JW301.csv");
    assert_eq!(jw301.len(), 1);
    // The message's id: its header, the identification as the ledger keeps it (the TTP's
    // keyed hash), hashed with the municipality's key.
    let identificatie = ttp.hash(b"referentie:123456789012");
    let message =
        municipality.hash(format!("436/0384/42420001/{identificatie}/2026-04-01").as_bytes());
    assert_eq!(jw301[0][0], message);
    assert_eq!(jw301[0][6], municipality.hash(bsn.as_bytes()), "Client_Bsn");
    assert_eq!(jw301[0][7], "2010", "Client_Geboortejaar");
    let products = csv_rows(&ijw, "JW301_ToegewezenProduct.csv");
    assert_eq!(products.len(), 2);
    assert_eq!(
        products[0][..3],
        [message.clone(), "1".into(), municipality.hash(b"300201")]
    );
    assert_eq!(products[0][5], "55A11");
    assert_eq!(csv_rows(&ijw, "JW301_Contact.csv").len(), 2);
    assert_eq!(csv_rows(&ijw, "JW323_Prestatie.csv").len(), 5);
    assert_eq!(csv_rows(&iwmo, "WMO301.csv").len(), 1);
    // The same hash as the decision made of it in the measurement bundle.
    let decisions = crate::publish::csv(&measurements, "Beschikkingen.csv").join("\n");
    assert!(
        decisions.contains(&municipality.hash(b"300201")),
        "{decisions}"
    );
    assert!(
        decisions.contains(&municipality.hash(bsn.as_bytes())),
        "{decisions}"
    );
    // The link table relates the samples on their real keys.
    let links: Vec<(String, String, String)> = csv_rows(&ijw, "Koppeltabel.csv")
        .into_iter()
        .map(|r| (r[1].clone(), r[3].clone(), r[4].clone()))
        .collect();
    let expected: Vec<(String, String, String)> = [
        ("JW301", "JW305", "toewijzing-start"),
        ("JW301", "JW307", "toewijzing-stop"),
        ("JW315", "JW301", "verzoek-toewijzing"),
        ("JW317", "JW319", "verzoek-antwoord"),
    ]
    .iter()
    .map(|(a, b, r)| ((*a).to_owned(), (*b).to_owned(), (*r).to_owned()))
    .collect();
    assert_eq!(links, expected);
    let leesmij = crate::publish::zipped_text(&ijw, "LEESMIJ.txt");
    assert!(
        leesmij.contains("JW301_ToegewezenProduct.csv")
            && leesmij.contains("alleen het geboortejaar")
    );
    for zip in [&ijw, &iwmo, &measurements] {
        let bytes = all_bytes(zip);
        assert_absent(&SECRETS, &bytes, &zip.display().to_string());
        assert_absent(&[b"300201"], &bytes, &zip.display().to_string());
    }

    // Next week: no message waits, so no Ketendata bundle.
    let before = env.number("SELECT count(*) FROM bundle WHERE product IS NOT NULL");
    assert!(
        env.cmd(&["publish", "--now", "--tenant", "gemeente"])
            .status
            .success()
    );
    assert_eq!(
        env.number("SELECT count(*) FROM bundle WHERE product IS NOT NULL"),
        before
    );
    // A total file on request, from 2021-01-01: the same messages again.
    let out = env.cmd(&[
        "publish",
        "--now",
        "--full",
        "--product",
        "ijw",
        "--tenant",
        "gemeente",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let total = bundle("Ketendata-IJW-gemeente-totaal-");
    assert_eq!(csv_rows(&total, "JW301.csv"), jw301);
    assert_eq!(csv_rows(&total, "Koppeltabel.csv").len(), 4);
}

#[test]
fn a_request_full_ijw_over_sftp_brings_a_total_file_at_the_next_publication() {
    let env = Env::new(&format!(
        "[[tenant]]\nid = \"gemeente\"\nkind = \"municipality\"\ncode = \"0384\"\nname = \"Gemeente\"\n\
         [[user]]\nname = \"gemeente\"\npublic_keys = [\"{}\"]\n\
         [[user.grant]]\ntenant = \"gemeente\"\nroles = [\"deliver\", \"collect\"]\n",
        crate::util::public_key("gemeente-utrecht")
    ));
    assert!(env.cmd(&["keygen"]).status.success());
    let empty = env.dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    let daemon = env.start();
    let run = crate::util::sftp_batch(
        daemon.sftp_addr(),
        "gemeente",
        &crate::util::key(&env, "gemeente-utrecht"),
        &format!(
            "put {} /gemeente/upload/toewijzing.xml\nput {1} /gemeente/outbox/REQUEST-FULL-IJW\n-put {1} /gemeente/outbox/REQUEST-FULL-XYZ\n",
            Path::new(SAMPLES).join("berichten/jw/JW301.xml").display(),
            empty.display()
        ),
    );
    assert!(run.ok, "{}", run.output);
    daemon.wait_until("the request recorded", || {
        daemon.log().contains("full Ketendata request recorded")
    });
    daemon.stop();
    let outbox = env.var().join("tenants/gemeente/outbox");
    assert!(outbox.join("REQUEST-FULL-IJW").exists());
    assert!(!outbox.join("REQUEST-FULL-XYZ").exists(), "no such product");
    assert_eq!(
        env.number(
            "SELECT count(*) FROM message_request WHERE standard = 'IJW' AND since = '2021-01-01'"
        ),
        1
    );
    assert!(env.cmd(&["process"]).status.success());
    let out = env.cmd(&["publish", "--now", "--tenant", "gemeente"]);
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The weekly file and the total file, each with the one assignment.
    assert!(
        printed.contains("Ketendata-IJW-gemeente-2")
            && printed.contains("Ketendata-IJW-gemeente-totaal-"),
        "{printed}"
    );
    assert!(
        !printed.contains("Ketendata-IWMO"),
        "no iWmo message, no iWmo bundle: {printed}"
    );
    assert!(!outbox.join("REQUEST-FULL-IJW").exists(), "served");
    assert_eq!(env.number("SELECT count(*) FROM message_request"), 0);
}

/// Values the schemas allow where dropgate keeps an identifier: a name and an e-mail
/// address as a provider's reference, a citizen number as an assignment number (with a
/// leading zero) or inside a claim's number. None of them reaches the ledger in clear, and
/// an amount that happens to pass the 11-check stays the amount it is.
#[test]
fn identifiers_of_free_form_never_reach_the_ledger_in_clear() {
    let env = Env::new(
        "[[tenant]]\nid = \"gemeente\"\nkind = \"municipality\"\ncode = \"0384\"\nname = \"Gemeente\"\ndecisions_from_messages = true\n",
    );
    assert!(env.cmd(&["keygen"]).status.success());
    let sample = |name: &str| {
        std::fs::read_to_string(Path::new(SAMPLES).join("berichten/jw").join(name)).unwrap()
    };
    let assignment = sample("JW301.xml")
        .replace(">40A12341234<", ">T. de Wit, jan@wit.nl<")
        .replace(">300201<", ">0123456782<");
    let claim = sample("JW323.xml")
        .replace(">DN001<", ">0612345678X<")
        .replace(">RN001<", ">Wit Tom 14-02-2010<")
        .replace("<ijw:TotaalBedrag>79000<", "<ijw:TotaalBedrag>12345672<");
    let mut entries = Vec::new();
    for (name, text) in [("toewijzing.xml", &assignment), ("declaratie.xml", &claim)] {
        let path = env.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let (code, json) = validate(&path);
        assert_eq!(code, Some(0), "{name} meets its schema: {json}");
        entries.push((name, text.clone().into_bytes()));
    }
    std::fs::create_dir_all(env.upload("gemeente")).unwrap();
    write_zip(&env.upload("gemeente").join("berichten.zip"), &entries);
    let daemon = env.start();
    daemon.wait_until("intake", || env.status()["deliveries"]["total"] == 1);
    daemon.stop();
    assert!(env.cmd(&["process"]).status.success());
    assert_eq!(env.number("SELECT count(*) FROM message"), 2);
    let content = env.texts("SELECT content FROM message", []).join(" ");
    assert!(
        content.contains("\"Declaratie_TotaalIngediendBedrag_TotaalBedrag\":\"12345672\""),
        "{content}"
    );
    for file in files(&env.var()) {
        if file.starts_with(env.var().join("archive")) {
            continue;
        }
        let bytes = std::fs::read(&file).unwrap();
        assert_absent(
            &[
                "jan@wit.nl",
                "de Wit",
                "123456782",
                "0612345678",
                "Wit Tom",
                "14-02-2010",
            ],
            &bytes,
            &file.display().to_string(),
        );
    }
    // The assignment number that is a citizen number became its keyed hash, as a decision's
    // number does; the other stays a number.
    let numbers = env.texts("SELECT beschikkingnummer FROM decision ORDER BY 1", []);
    assert_eq!(numbers.len(), 2);
    assert!(
        numbers[0].starts_with('#') || numbers[1].starts_with('#'),
        "{numbers:?}"
    );
    assert!(numbers.contains(&"300202".to_owned()), "{numbers:?}");
}

/// A claim of thousands of clients, within the size of one message, is one message: its
/// kept values cross from the confined reader in one piece, not taken for a runaway.
#[test]
fn a_claim_of_thousands_of_clients_is_read_whole() {
    let claim = std::fs::read_to_string(Path::new(SAMPLES).join("berichten/jw/JW323.xml")).unwrap();
    // 1,000 clients of ten services each: 11,000 rows, over a megabyte as the reader sends
    // them (a reader's frame was once held to one), in a message just under its size limit.
    let start = claim.find("<jw323:Client>").unwrap();
    let end = claim.rfind("</jw323:Client>").unwrap() + "</jw323:Client>".len();
    let service_start = claim.find("<jw323:Prestatie>").unwrap();
    let service_end = claim.find("</jw323:Prestatie>").unwrap() + "</jw323:Prestatie>".len();
    let service = claim[service_start..service_end]
        .replace(">RN001<", ">REF-0000000000000001<")
        .replace(">10072<", ">999999999<");
    let client = format!(
        "{}{}</jw323:Prestaties></jw323:Client>",
        &claim[start..service_start],
        service.repeat(10)
    );
    let big = format!(
        "{}{}{}",
        &claim[..start],
        client.repeat(1000),
        &claim[end..]
    );
    assert!(
        big.len() > 7_000_000 && big.len() < 8 * 1024 * 1024,
        "{}",
        big.len()
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("declaratie.xml");
    std::fs::write(&path, &big).unwrap();
    let (code, json) = validate(&path);
    assert_eq!(code, Some(0), "{json}");
    assert_eq!(json["accepted"], 1, "{json}");
}

/// An entry packed by a method not read here (bzip2) is refused on its own; the other
/// messages of the zip are taken.
#[test]
fn an_entry_that_cannot_be_unpacked_is_refused_alone() {
    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("berichten.zip");
    let jw = Path::new(SAMPLES).join("berichten/jw");
    let out = Command::new("python3")
        .arg("-c")
        .arg(
            "import sys, zipfile\n\
             with zipfile.ZipFile(sys.argv[1], 'w') as z:\n\
             \x20   z.write(sys.argv[2], 'a/JW301.xml', compress_type=zipfile.ZIP_BZIP2)\n\
             \x20   z.write(sys.argv[3], 'a/JW305.xml', compress_type=zipfile.ZIP_DEFLATED)\n",
        )
        .arg(&zip)
        .arg(jw.join("JW301.xml"))
        .arg(jw.join("JW305.xml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, json) = validate(&zip);
    assert_eq!(code, Some(1), "{json}");
    assert_eq!(
        (json["accepted"].as_u64(), json["rejected"].as_u64()),
        (Some(1), Some(1)),
        "{json}"
    );
    let problem = &json["problems"][0];
    assert_eq!(problem["rule"], "message.zip", "{json}");
    assert_eq!(problem["column"], "a/JW301.xml", "{json}");
}

/// Decisions made of messages do not depend on the order the messages come in: the latest
/// assignment (by its date) gives the product, and a stop of the same provider and client
/// ends it, even when it came first.
#[test]
fn decisions_from_messages_do_not_depend_on_their_order() {
    let env = Env::new(
        "[[tenant]]\nid = \"gemeente\"\nkind = \"municipality\"\ncode = \"0384\"\nname = \"Gemeente\"\ndecisions_from_messages = true\n",
    );
    assert!(env.cmd(&["keygen"]).status.success());
    let sample = |name: &str| {
        std::fs::read_to_string(Path::new(SAMPLES).join("berichten/jw").join(name)).unwrap()
    };
    let first = sample("JW301.xml");
    let second = first
        .replace(">123456789012<", ">V2<")
        .replace(
            "<ijw:Dagtekening>2026-04-01<",
            "<ijw:Dagtekening>2026-05-01<",
        )
        .replace(">55A11<", ">55A13<");
    let stop = sample("JW307.xml").replace(">65656055<", ">42420001<");
    let entries = [
        ("1-stop.xml", stop.into_bytes()),
        ("2-tweede.xml", second.into_bytes()),
        ("3-eerste.xml", first.into_bytes()),
    ];
    std::fs::create_dir_all(env.upload("gemeente")).unwrap();
    write_zip(&env.upload("gemeente").join("berichten.zip"), &entries);
    let daemon = env.start();
    daemon.wait_until("intake", || env.status()["deliveries"]["total"] == 1);
    daemon.stop();
    assert!(env.cmd(&["process"]).status.success());
    assert_eq!(env.number("SELECT count(*) FROM message"), 3);
    assert_eq!(
        env.texts(
            "SELECT beschikkingnummer || ' ' || productcode || ' ' || ingangsdatum || ' ' || einddatum || ' ' || reden FROM decision ORDER BY 1",
            []
        ),
        ["300201 55A13 2026-04-01 2026-07-17 31", "300202 55A12 2026-04-01 2026-07-17 31"]
    );
}
