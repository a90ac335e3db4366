//! iJw and iWmo messages (issue 15): what the real binary says of them, offline
//! (`validate`) and in the daily run, through the confined reader. Until message intake is
//! built, a message is checked against its schema and refused with what the check found,
//! never taken for an unknown layout and never stored.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::{field, receipt};
use crate::util::{BIN, Env, SAMPLES, files};

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
fn validate_names_each_sample_message_and_says_it_meets_its_schema() {
    let all: Vec<PathBuf> = ["jw", "wmo"].iter().flat_map(|s| samples(s)).collect();
    assert_eq!(all.len(), 14 + 7);
    for file in all {
        let (code, json) = validate(&file);
        let kind = file.file_stem().unwrap().to_string_lossy().into_owned();
        assert_eq!(code, Some(1), "{kind}: not taken in yet, so not a pass");
        let error = json["error"].as_str().unwrap();
        assert!(
            error.starts_with(&format!("een {kind}-bericht (gemeente 0384, dagtekening ")),
            "{kind}: {error}"
        );
        assert!(
            error.contains("dat aan het schema voldoet"),
            "{kind}: {error}"
        );
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
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("een JW315-bericht (gemeente 0384"),
        "{json}"
    );
}

#[test]
fn the_daily_run_refuses_a_message_with_a_receipt_that_says_what_it_is() {
    let env = Env::new(
        "[[tenant]]\nid = \"gemeente\"\nkind = \"municipality\"\ncode = \"0384\"\nname = \"Gemeente\"\n",
    );
    assert!(env.cmd(&["keygen"]).status.success());
    std::fs::create_dir_all(env.upload("gemeente")).unwrap();
    for (sample, name) in [
        ("berichten/jw/JW301.xml", "toewijzing.xml"),
        (
            "berichten/jw/ongeldig/JW315-datum-31-juni.xml",
            "verzoek.xml",
        ),
    ] {
        std::fs::copy(
            Path::new(SAMPLES).join(sample),
            env.upload("gemeente").join(name),
        )
        .unwrap();
    }
    let daemon = env.start();
    daemon.wait_until("intake", || env.status()["deliveries"]["total"] == 2);
    daemon.stop();
    assert!(env.cmd(&["process"]).status.success());
    assert_eq!(env.count("gemeente", "rejected"), 2);
    let (summary, problems) = receipt(&env, "gemeente", "toewijzing.xml");
    assert!(
        field(&summary, "error").contains(
            "een JW301-bericht (gemeente 0384, dagtekening 01-04-2026) dat aan het schema voldoet"
        ),
        "{summary:?}"
    );
    assert!(problems.is_empty(), "{problems:?}");
    let (summary, problems) = receipt(&env, "gemeente", "verzoek.xml");
    assert!(
        field(&summary, "error").contains("een JW315-bericht"),
        "{summary:?}"
    );
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].starts_with(
            "44;Client/AangevraagdeProducten/AangevraagdProduct[1]/ToewijzingEinddatum;"
        ) && problems[0].ends_with(";message.schema"),
        "{problems:?}"
    );
    // Nothing of a message is stored yet: no decision came of the assignment.
    assert_eq!(env.number("SELECT count(*) FROM decision"), 0);
    // Its citizen number is nowhere in clear.
    for file in files(&env.var()) {
        let bytes = std::fs::read(&file).unwrap();
        if file.starts_with(env.var().join("archive")) {
            continue;
        }
        assert!(
            !bytes.windows(9).any(|w| w == b"999900006"),
            "a BSN in clear in {}",
            file.display()
        );
    }
}
