//! Ketendata end to end (issue 15): hundreds of linked iJw/iWmo messages of two
//! municipalities, written by `scripts/make-messages.py` with what their bundles must hold
//! (`expected.json`), delivered as a zip and as single files with duplicates, schema
//! violations, a message of another municipality and hostile zip entries; and a
//! measurement that links to a decision made of an assignment message.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use dropgate::pseudonym::Keyed;
use serde_json::Value;

use crate::publish::{all_bytes, csv_rows, deliver_all_at};
use crate::util::{Env, SAMPLES, assert_absent, files};

/// The two municipalities of the generated messages, by tenant id and CBS code.
const MUNICIPALITIES: [(&str, &str); 2] = [("gemeente", "0384"), ("amsterdam", "0363")];

fn generate(dir: &Path) -> Value {
    let out = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/make-messages.py"))
        .arg(dir)
        .args([
            "--seed",
            "7",
            "--clients",
            "3",
            "--municipalities",
            "0384,0363",
        ])
        .args(["--faults", "--zip", "berichten.zip"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap()
}

/// A zip of the files `names` in `dir`, each under a nested path.
fn zip_of(dir: &Path, names: &[&String]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for name in names {
        zip.start_file(format!("export/2026/{name}"), options)
            .unwrap();
        std::io::Write::write_all(&mut zip, &std::fs::read(dir.join(name)).unwrap()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// The newest recorded bundle whose name starts with `prefix`, in `tenant`'s outbox.
fn bundle(env: &Env, tenant: &str, prefix: &str) -> Option<PathBuf> {
    env.texts(
        "SELECT name FROM bundle WHERE tenant = ?1 AND name LIKE ?2 || '%' ORDER BY id DESC",
        [tenant, prefix],
    )
    .first()
    .map(|n| env.var().join(format!("tenants/{tenant}/outbox/{n}")))
}

/// The text a bundle hashes into a message's id, from its identity in `expected.json`: the
/// ledger holds an identification as the TTP's keyed hash of `referentie:` and it.
fn identity_text(ttp: &Keyed, message: &Value) -> String {
    let i = &message["identity"];
    let reference = |v: &Value| ttp.hash(format!("referentie:{}", v.as_str().unwrap()).as_bytes());
    let mut text = format!(
        "{}/{}/{}/{}/{}",
        i["berichtcode"],
        i["afzender"].as_str().unwrap(),
        i["ontvanger"].as_str().unwrap(),
        reference(&i["identificatie"]),
        i["dagtekening"].as_str().unwrap()
    );
    if let Some(r) = message["retour"].as_object() {
        text.push_str(&format!(
            "/{}/{}",
            reference(&r["identificatie"]),
            r["dagtekening"].as_str().unwrap()
        ));
    }
    text
}

#[test]
fn two_municipalities_messages_become_their_ketendata_bundles_and_nothing_personal_stays() {
    let env = Env::new(
        "[[tenant]]\nid = \"gemeente\"\nkind = \"municipality\"\ncode = \"0384\"\nname = \"Gemeente\"\n\
         [[tenant]]\nid = \"amsterdam\"\nkind = \"municipality\"\ncode = \"0363\"\nname = \"Amsterdam\"\n",
    );
    assert!(env.cmd(&["keygen"]).status.success());
    env.start().stop();
    let dir = env.dir.path().join("berichten");
    let expected = generate(&dir);
    // A message of 0999 is delivered to gemeente, so the receipt test below knows where.
    let messages = expected["messages"].as_object().unwrap();
    assert!(messages.len() >= 200, "{}", messages.len());

    // gemeente: the generator's zip of every good message (amsterdam's are refused there as
    // another municipality's), its own faults and the one of municipality 0999 one by one.
    // amsterdam: a zip of its good messages, its faults one by one.
    let zip_bytes = std::fs::read(dir.join("berichten.zip")).unwrap();
    let mut deliveries: Vec<(&str, String, Vec<u8>)> =
        vec![("gemeente", "berichten.zip".into(), zip_bytes)];
    let of = |code: &str, fault: bool| -> Vec<&String> {
        messages
            .iter()
            .filter(|(_, m)| m["fault"].is_null() != fault)
            .filter(|(_, m)| {
                m["municipality"] == code
                    || (fault && code == "0384" && m["municipality"] == "0999")
            })
            .map(|(name, _)| name)
            .collect()
    };
    deliveries.push((
        "amsterdam",
        "export.zip".into(),
        zip_of(&dir, &of("0363", false)),
    ));
    for (tenant, code) in MUNICIPALITIES {
        for name in of(code, true) {
            deliveries.push((tenant, name.clone(), std::fs::read(dir.join(name)).unwrap()));
        }
    }
    let borrowed: Vec<(&str, &str, &[u8])> = deliveries
        .iter()
        .map(|(t, n, b)| (*t, n.as_str(), b.as_slice()))
        .collect();
    deliver_all_at(&env, "+0s", &borrowed);
    assert_eq!(
        env.number("SELECT count(*) FROM delivery WHERE state IN ('received', 'quarantined')"),
        0
    );

    // Each good message is stored once, with its municipality; nothing else is.
    for (tenant, code) in MUNICIPALITIES {
        let good = messages
            .values()
            .filter(|m| m["fault"].is_null() && m["municipality"] == code)
            .count();
        assert_eq!(
            env.number(&format!(
                "SELECT count(*) FROM message WHERE tenant = '{tenant}'"
            )),
            good as i64,
            "{tenant}"
        );
    }
    let out = env.cmd(&["publish", "--now"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let ttp = Keyed::load(&env.var().join("ttp.key")).unwrap();
    let mut bundles = Vec::new();
    for (tenant, code) in MUNICIPALITIES {
        let key = Keyed::load(&env.var().join(format!("municipality-{tenant}.key"))).unwrap();
        for (law, product) in [("ijw", "IJW"), ("iwmo", "IWMO")] {
            let zip = bundle(&env, tenant, &format!("Ketendata-{product}-{tenant}-2"))
                .unwrap_or_else(|| panic!("{tenant} {law}: no bundle"));
            // Every CSV holds the rows the generator counted.
            let counts = expected["counts"][code][law].as_object().unwrap();
            for (name, count) in counts {
                assert_eq!(
                    csv_rows(&zip, name).len() as u64,
                    count.as_u64().unwrap(),
                    "{tenant} {name}"
                );
            }
            // Hashes are HMAC with the municipality's key: the id of every message, and
            // the BSN (over the TTP pseudonym) of each assignment.
            let of_law: BTreeMap<&String, &Value> = messages
                .iter()
                .filter(|(_, m)| {
                    m["fault"].is_null() && m["municipality"] == code && m["law"] == law
                })
                .collect();
            let id = |m: &Value| key.hash(identity_text(&ttp, m).as_bytes());
            let prefix = if law == "ijw" { "JW" } else { "WMO" };
            let assignments = csv_rows(&zip, &format!("{prefix}301.csv"));
            for (name, m) in of_law
                .iter()
                .filter(|(_, m)| m["type"].as_str().unwrap().ends_with("301"))
            {
                let row = assignments
                    .iter()
                    .find(|r| r[0] == id(m))
                    .unwrap_or_else(|| panic!("{name}: no row"));
                let bsn = expected["bsns"][name.as_str()][0].as_str().unwrap();
                let pseudonym = ttp.pseudonym(&dropgate::pseudonym::Bsn::parse(bsn).unwrap());
                assert_eq!(row[6], key.hash(pseudonym.as_str().as_bytes()), "{name}");
            }
            // The link table is the generator's, pair by pair.
            let mut found: Vec<(String, String, String)> = csv_rows(&zip, "Koppeltabel.csv")
                .into_iter()
                .map(|r| (r[0].clone(), r[2].clone(), r[4].clone()))
                .collect();
            found.sort();
            let mut wanted: Vec<(String, String, String)> = expected["links"][code][law]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| {
                    let end = |f: &Value| id(&messages[f.as_str().unwrap()]);
                    (
                        end(&l["from"]),
                        end(&l["to"]),
                        l["relation"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            wanted.sort();
            assert!(!wanted.is_empty(), "{tenant} {law}");
            assert_eq!(found, wanted, "{tenant} {law}");
            bundles.push(zip);
        }
    }

    // The receipt of the zip says what was refused and why: amsterdam's messages as
    // another municipality's, the entry outside the zip and the zip within it.
    let (summary, problems) = crate::process::receipt(&env, "gemeente", "berichten.zip");
    let amsterdams = messages
        .values()
        .filter(|m| m["fault"].is_null() && m["municipality"] == "0363")
        .count();
    let rule_count = |rule: &str| {
        problems
            .iter()
            .filter(|p| p.ends_with(&format!(";{rule}")))
            .count()
    };
    assert_eq!(
        rule_count("message.municipality"),
        amsterdams,
        "{summary:?}"
    );
    assert_eq!(rule_count("message.zip"), 2, "{problems:?}");
    assert!(
        problems.iter().any(|p| p.contains("../buiten.xml")),
        "{problems:?}"
    );
    // No citizen number, name, street, place, phone number, e-mail or full postcode of the
    // inputs is anywhere in the state directory (beyond the originals) or in a bundle.
    let secrets: Vec<String> = [
        "bsn",
        "achternaam",
        "voornamen",
        "straatnaam",
        "plaatsnaam",
        "telefoon",
        "email",
        "postcode",
    ]
    .iter()
    .flat_map(|kind| {
        expected["secrets"][kind]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
    })
    .collect();
    assert!(secrets.len() > 100, "{}", secrets.len());
    let mut written: Vec<(String, Vec<u8>)> = files(&env.var())
        .into_iter()
        .filter(|f| {
            !f.starts_with(env.var().join("archive"))
                && !f.starts_with(env.var().join("quarantine"))
        })
        .map(|f| (f.display().to_string(), std::fs::read(&f).unwrap()))
        .collect();
    written.extend(
        bundles
            .iter()
            .map(|z| (format!("{} (unzipped)", z.display()), all_bytes(z))),
    );
    for (name, bytes) in &written {
        assert_absent(&secrets, bytes, name);
    }
}

#[test]
fn a_measurement_links_to_a_decision_made_of_an_assignment_message() {
    let env = Env::new(
        "[[tenant]]\nid = \"gemeente\"\nkind = \"municipality\"\ncode = \"0384\"\nname = \"Gemeente\"\n\
         decisions_from_messages = true\n\
         [[tenant]]\nid = \"jeugdzorg\"\nkind = \"supplier\"\ncode = \"42420001\"\nname = \"Jeugdzorg\"\n",
    );
    assert!(env.cmd(&["keygen"]).status.success());
    env.start().stop();
    let assignment = std::fs::read(Path::new(SAMPLES).join("berichten/jw/JW301.xml")).unwrap();
    // The client of the assignment (BSN 999900006), measured by its provider within the
    // month around the end of the first product (300201, 14-07-2026).
    let measurement = "zorgaanbiedercode;pseudobsn;metingnummer;datum;gebruiktMeetinstrument;typeRespondent;totaalscoreMeting;status\n\
                       42420001;999900006;M-1;2026-07-10;CT;01;8,5;Volledig\n";
    deliver_all_at(
        &env,
        "+0s",
        &[
            ("gemeente", "toewijzing.xml", &assignment),
            ("jeugdzorg", "metingen.csv", measurement.as_bytes()),
        ],
    );
    let out = env.cmd(&["publish", "--now", "--tenant", "gemeente"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let zip = bundle(&env, "gemeente", "Bundel-gemeente-").unwrap();
    let key = Keyed::load(&env.var().join("municipality-gemeente.key")).unwrap();
    let decisions = csv_rows(&zip, "Beschikkingen.csv");
    assert_eq!(decisions.len(), 2, "{decisions:?}");
    assert!(decisions.iter().any(|d| d[1] == key.hash(b"300201")
        && d[3] == "42420001"
        && d[5] == "55A11"
        && d[7] == "2026-07-14"));
    // Both products of the client and provider end in July: the measurement is in the
    // window of each.
    let links = csv_rows(&zip, "Koppelingen.csv");
    assert_eq!(links.len(), 2, "{links:?}");
    for number in [&b"300201"[..], b"300202"] {
        assert!(
            links.contains(&vec![key.hash(number), "42420001".into(), key.hash(b"M-1")]),
            "{links:?}"
        );
    }
    // The same assignment number, hashed alike, in the Ketendata bundle.
    let ketendata = bundle(&env, "gemeente", "Ketendata-IJW-gemeente-").unwrap();
    assert_eq!(
        csv_rows(&ketendata, "JW301_ToegewezenProduct.csv")[0][2],
        key.hash(b"300201")
    );
}
