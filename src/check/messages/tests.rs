//! Tests of `check::messages` on the sample messages in `samples/berichten/` (copied from
//! the iStandaarden samples, see its README) and on files made from them.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::*;
use crate::check::datasets::Problem;

const LIMIT: usize = 10 << 20;

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/berichten")
}

fn sample(path: &str) -> Vec<u8> {
    std::fs::read(samples().join(path)).unwrap()
}

fn text(path: &str) -> String {
    String::from_utf8(sample(path)).unwrap()
}

/// Every sample message of a folder: (file stem, bytes).
fn all_in(folder: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(samples().join(folder))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .map(|p| {
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            (stem, std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

fn invalid(bytes: &[u8]) -> Invalid {
    match read(bytes, LIMIT).unwrap() {
        Reading::Invalid(invalid) => invalid,
        Reading::Valid(v) => panic!("valid: {}", v.kind),
        Reading::NotAMessage => panic!("not a message"),
    }
}

fn valid(bytes: &[u8]) -> Valid {
    match read(bytes, LIMIT).unwrap() {
        Reading::Valid(valid) => valid,
        Reading::Invalid(i) => panic!("invalid: {:#?}", i.problems),
        Reading::NotAMessage => panic!("not a message"),
    }
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// (type, BerichtCode, Afzender, Ontvanger, Identificatie, Dagtekening) of every sample.
const HEADERS: [(&str, u16, &str, &str, &str, &str); 21] = [
    (
        "JW301",
        436,
        "0384",
        "42420001",
        "123456789012",
        "2026-04-01",
    ),
    (
        "JW302",
        437,
        "0384",
        "42420001",
        "123456789012",
        "2023-07-15",
    ),
    (
        "JW305",
        438,
        "65656055",
        "0384",
        "123456789012",
        "2026-04-15",
    ),
    (
        "JW306",
        439,
        "65656055",
        "0384",
        "123456789012",
        "2023-07-25",
    ),
    (
        "JW307",
        440,
        "65656055",
        "0384",
        "123456789012",
        "2026-07-20",
    ),
    (
        "JW308",
        441,
        "65656055",
        "0384",
        "123456789012",
        "2023-07-20",
    ),
    (
        "JW315",
        446,
        "42420001",
        "0384",
        "123456789012",
        "2026-04-01",
    ),
    (
        "JW316",
        447,
        "42420001",
        "0384",
        "123456789012",
        "2023-07-15",
    ),
    ("JW317", 486, "65656055", "0384", "987654321", "2026-01-02"),
    ("JW318", 487, "65656055", "0384", "987654321", "2023-04-03"),
    ("JW319", 488, "0384", "65656055", "876543219", "2026-04-01"),
    ("JW320", 489, "0384", "65656055", "876543219", "2023-04-04"),
    ("JW323", 490, "65656055", "0384", "765432198", "2026-05-06"),
    ("JW325", 491, "0384", "65656055", "654321987", "2023-05-07"),
    (
        "WMO301",
        414,
        "0384",
        "42420001",
        "123456789012",
        "2023-08-13",
    ),
    (
        "WMO305",
        418,
        "65656055",
        "0384",
        "123456789013",
        "2025-04-05",
    ),
    (
        "WMO307",
        420,
        "65656055",
        "0384",
        "123456789014",
        "2025-07-21",
    ),
    (
        "WMO315",
        444,
        "42420001",
        "0384",
        "123456789012",
        "2023-07-15",
    ),
    ("WMO317", 480, "65656055", "0384", "987654321", "2023-04-02"),
    ("WMO319", 482, "0384", "65656055", "876543219", "2023-04-02"),
    ("WMO323", 484, "65656055", "0384", "765432198", "2023-05-06"),
];

#[test]
fn every_sample_message_is_recognised_valid_and_its_header_read() {
    let mut seen = Vec::new();
    for folder in ["jw", "wmo"] {
        for (stem, bytes) in all_in(folder) {
            let v = valid(&bytes);
            assert_eq!(v.kind.name(), stem);
            let (_, code, from, to, id, day) = HEADERS
                .iter()
                .find(|h| h.0 == stem)
                .copied()
                .unwrap_or_else(|| panic!("no expected header for {stem}"));
            assert_eq!(
                v.header,
                Header {
                    berichtcode: code,
                    afzender: from.into(),
                    ontvanger: to.into(),
                    identificatie: id.into(),
                    dagtekening: date(day),
                },
                "{stem}"
            );
            assert_eq!(v.header.gemeente(), Some("0384"), "{stem}");
            assert_eq!(v.document.get_root_element().unwrap().get_name(), "Bericht");
            seen.push(stem);
        }
    }
    // One sample of every type with a schema.
    let mut types: Vec<String> = MessageType::ALL.iter().map(|t| t.name()).collect();
    types.sort();
    seen.sort();
    assert_eq!(seen, types);
}

#[test]
fn the_iwmo_namespace_is_the_samples() {
    let wmo301 = text("wmo/WMO301.xml");
    let kind = MessageType::ALL
        .into_iter()
        .find(|t| t.name() == "WMO301")
        .unwrap();
    assert_eq!(
        kind.namespace(),
        "http://www.istandaarden.nl/iwmo/3_2/wmo301/schema"
    );
    assert!(wmo301.contains(&format!("xmlns:wmo301=\"{}\"", kind.namespace())));
}

fn lines_and_paths(problems: &[Problem]) -> Vec<(u64, &str, &str)> {
    problems
        .iter()
        .map(|p| (p.line, p.column.as_str(), p.rule))
        .collect()
}

#[test]
fn an_impossible_date_is_a_schema_problem_on_its_line_and_element() {
    let i = invalid(&sample("jw/ongeldig/JW315-datum-31-juni.xml"));
    assert_eq!(i.kind.map(|k| k.name()), Some("JW315".to_owned()));
    assert_eq!(
        lines_and_paths(&i.problems),
        [
            (
                44,
                "Client/AangevraagdeProducten/AangevraagdProduct[1]/ToewijzingEinddatum",
                "message.schema"
            ),
            (
                66,
                "Client/AangevraagdeProducten/AangevraagdProduct[2]/ToewijzingEinddatum",
                "message.schema"
            ),
        ]
    );
    let p = &i.problems[0];
    assert_eq!(p.value, "2027-06-31");
    assert_eq!(
        p.message.nl,
        "ToewijzingEinddatum: '2027-06-31' is geen geldige datum"
    );
    assert_eq!(
        p.message.en,
        "Element 'ToewijzingEinddatum': '2027-06-31' is not a valid value of the atomic type 'LDT_Datum'."
    );
    // The header is read all the same, so a receipt can name the message.
    let header = i.header.unwrap();
    assert_eq!(
        (header.berichtcode, header.afzender.as_str()),
        (446, "42420001")
    );
}

#[test]
fn an_element_out_of_place_is_a_schema_problem_on_its_line_and_element() {
    let i = invalid(&sample("jw/ongeldig/JW318-retourcode-misplaatst.xml"));
    assert_eq!(i.kind.map(|k| k.name()), Some("JW318".to_owned()));
    assert_eq!(
        lines_and_paths(&i.problems),
        [(33, "Client/Verzoek/RetourCode", "message.schema")]
    );
    let p = &i.problems[0];
    assert_eq!(
        p.message.nl,
        "RetourCode: hoort hier niet; verwacht een van: OngewijzigdeProducten, TeWijzigenProducten, NieuweProducten, RetourCodes"
    );
    assert!(
        p.message
            .en
            .starts_with("Element 'RetourCode': This element is not expected.")
    );
}

#[test]
fn a_missing_element_is_named_on_its_parent() {
    let jw301 = text("jw/JW301.xml");
    let without = jw301.replace("<jw301:Bsn>999900006</jw301:Bsn>", "");
    let i = invalid(without.as_bytes());
    assert_eq!(i.problems.len(), 1, "{:#?}", i.problems);
    let p = &i.problems[0];
    assert_eq!(p.column, "Client/Geboortedatum");
    assert_eq!(
        p.message.nl,
        "Geboortedatum: hoort hier niet; verwacht: Bsn"
    );
    // Missing at the end of a parent: said on the parent.
    let end = jw301.replace(
        "<jw301:Afzender>0384</jw301:Afzender>",
        "<jw301:Afzender>0384</jw301:Afzender></jw301:Header><jw301:Header>",
    );
    let i = invalid(end.as_bytes());
    assert_eq!(i.problems[0].column, "Header[1]");
    assert!(
        i.problems[0]
            .message
            .nl
            .starts_with("Header: hier ontbreekt Ontvanger"),
        "{:#?}",
        i.problems
    );
}

#[test]
fn a_citizen_number_in_a_wrong_place_is_never_shown_in_clear() {
    let jw301 = text("jw/JW301.xml");
    let bad = jw301
        .replace(
            "<ijw:Datum>2010-02-14</ijw:Datum>",
            "<ijw:Datum>999900006</ijw:Datum>",
        )
        .replace(
            "<jw301:Bsn>999900006</jw301:Bsn>",
            "<jw301:Bsn>9999000061</jw301:Bsn>",
        );
    let i = invalid(bad.as_bytes());
    assert_eq!(i.problems.len(), 3, "{:#?}", i.problems);
    for p in &i.problems {
        for shown in [&p.message.nl, &p.message.en, &p.value, &p.column] {
            assert!(!shown.contains("99990000"), "{shown}");
        }
    }
    let datum = i
        .problems
        .iter()
        .find(|p| p.column == "Client/Geboortedatum/Datum")
        .unwrap();
    assert_eq!(datum.message.nl, "Datum: '***' is geen geldige datum");
}

#[test]
fn a_value_about_a_person_is_never_repeated_and_a_code_is() {
    let jw301 = text("jw/JW301.xml");
    let bad = jw301
        .replace(
            "<ijw:Straatnaam>Kerklaan</ijw:Straatnaam>",
            "<ijw:Straatnaam>Kerklaan</ijw:Straatnaam><ijw:Straatnaam>Dorpsstraat</ijw:Straatnaam>",
        )
        .replacen(
            "<ijw:Postcode>9999XX</ijw:Postcode>",
            "<ijw:Postcode>1234 AB Kerklaan</ijw:Postcode>",
            1,
        )
        .replace("<ijw:Code>55A11</ijw:Code>", "<ijw:Code>55A1X1</ijw:Code>");
    let i = invalid(bad.as_bytes());
    let about = |needle: &str| {
        i.problems
            .iter()
            .find(|p| p.column.contains(needle))
            .unwrap_or_else(|| panic!("{needle}: {:#?}", i.problems))
    };
    let postcode = about("Postcode");
    assert_eq!(postcode.value, "***", "{postcode:#?}");
    for shown in [&postcode.message.nl, &postcode.message.en] {
        assert!(!shown.contains("1234 AB"), "{shown}");
    }
    for p in &i.problems {
        for shown in [&p.message.nl, &p.message.en, &p.value] {
            assert!(
                !shown.contains("Dorpsstraat") && !shown.contains("1234 AB"),
                "{shown}"
            );
        }
    }
    // A product code is no one's: the receipt says what was wrong with it.
    assert_eq!(about("Product/Code").value, "55A1X1");
}

#[test]
fn a_doctype_is_refused_before_anything_is_loaded() {
    // A listener that would see any attempt to fetch the entity or the DTD.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "GEHEIM").unwrap();
    let jw301 = text("jw/JW301.xml");
    let doctype = format!(
        "<!DOCTYPE jw301:Bericht SYSTEM \"http://127.0.0.1:{port}/x.dtd\" [\n\
         <!ENTITY file SYSTEM \"file://{}\">\n<!ENTITY net SYSTEM \"http://127.0.0.1:{port}/e\">\n]>\n",
        secret.display()
    );
    let hostile = jw301
        .replacen("?>\r\n", &format!("?>\r\n{doctype}"), 1)
        .replace("Commentaar client", "&file;&net;");
    let i = invalid(hostile.as_bytes());
    assert_eq!(lines_and_paths(&i.problems), [(2, "", "message.doctype")]);
    assert!(i.kind.is_none());
    assert!(listener.accept().is_err(), "something connected");

    // Behind that first look, libxml2 itself loads nothing either: the same file parsed
    // directly keeps its entities unexpanded and is caught as having a doctype.
    let document = engine::parse(hostile.as_bytes()).unwrap().unwrap();
    assert!(engine::has_doctype(&document));
    let root = document.get_root_element().unwrap();
    assert!(!root.get_content().contains("GEHEIM"));
    assert!(listener.accept().is_err(), "something connected");
}

#[test]
fn a_message_of_another_release_or_type_is_a_namespace_problem() {
    let jw301 = text("jw/JW301.xml");
    let older = jw301.replace("/3_2/", "/3_1/");
    let i = invalid(older.as_bytes());
    assert!(i.kind.is_none());
    assert_eq!(
        lines_and_paths(&i.problems),
        [(0, "Bericht", "message.namespace")]
    );
    assert_eq!(
        i.problems[0].message.nl,
        "een iJw-bericht van release 3.1 (namespace http://www.istandaarden.nl/ijw/3_1/jw301/schema); alleen release 3.2 wordt gelezen"
    );
    let unknown = jw301.replace("jw301/schema", "jw399/schema");
    let i = invalid(unknown.as_bytes());
    assert_eq!(i.problems[0].rule, "message.namespace");
    assert!(
        i.problems[0]
            .message
            .nl
            .contains("berichttype zonder schema hier"),
        "{}",
        i.problems[0].message.nl
    );
    let wlz = jw301.replace("/ijw/3_2/jw301/", "/iwlz/2_4/wlz301/");
    let i = invalid(wlz.as_bytes());
    assert!(
        i.problems[0].message.en.contains("other than iJw or iWmo"),
        "{}",
        i.problems[0].message.en
    );
    let header_first = jw301.replacen("jw301:Bericht ", "jw301:Header ", 1);
    let i = invalid(header_first.as_bytes());
    assert_eq!(
        i.problems[0].message.nl,
        "het eerste element is Header; een bericht begint met Bericht"
    );
}

#[test]
fn other_xml_is_not_a_message() {
    let metingen =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/metingen-good.xml"))
            .unwrap();
    for bytes in [
        metingen.as_slice(),
        b"<metingen><meting><zorgaanbiedercode>87654321</zorgaanbiedercode></meting></metingen>",
        b"<Bericht><Header/></Bericht>",
        b"<x:Bericht xmlns:x=\"urn:other\"/>",
        b"<jw301:Bericht><jw301:Header/></jw301:Bericht>",
        b"zorgaanbiedercode;pseudobsn\n87654321;999900006\n",
        b"",
        b"\xef\xbb\xbf<metingen/>",
    ] {
        assert!(
            matches!(read(bytes, LIMIT).unwrap(), Reading::NotAMessage),
            "{}",
            String::from_utf8_lossy(bytes)
        );
    }
    // A byte order mark before a message is fine.
    let mut with_bom = b"\xef\xbb\xbf".to_vec();
    with_bom.extend(sample("jw/JW302.xml"));
    assert_eq!(valid(&with_bom).kind.name(), "JW302");
}

#[test]
fn nesting_deeper_than_256_is_refused() {
    let jw301 = text("jw/JW301.xml");
    let depth = 300;
    let deep = jw301.replace(
        "Commentaar client",
        &format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth)),
    );
    let i = invalid(deep.as_bytes());
    assert_eq!(i.problems[0].rule, "message.not-wellformed");
    assert_eq!(
        i.problems[0].message.nl,
        "het bericht is dieper genest dan 256 niveaus"
    );
    // 250 levels (under the bound with the message's own) are well-formed: the schema
    // refuses them instead.
    let shallow = jw301.replace(
        "Commentaar client",
        &format!("{}{}", "<a>".repeat(240), "</a>".repeat(240)),
    );
    assert_eq!(
        invalid(shallow.as_bytes()).problems[0].rule,
        "message.schema"
    );
}

#[test]
fn a_broken_or_too_large_message_says_so() {
    let jw301 = sample("jw/JW301.xml");
    let cut = &jw301[..jw301.len() / 2];
    let i = invalid(cut);
    assert!(!i.problems.is_empty());
    assert!(
        i.problems
            .iter()
            .all(|p| p.rule == "message.not-wellformed")
    );
    assert!(i.problems[0].line > 1);
    assert!(
        i.problems[0]
            .message
            .nl
            .starts_with("geen goedgevormde XML: ")
    );
    let undeclared = String::from_utf8(jw301.clone()).unwrap().replace(
        "<ijw:Datum>2010-02-14</ijw:Datum>",
        "<x:Datum>2010-02-14</x:Datum>",
    );
    assert_eq!(
        invalid(undeclared.as_bytes()).problems[0].rule,
        "message.not-wellformed"
    );
    match read(&jw301, 1000).unwrap() {
        Reading::Invalid(i) => {
            assert_eq!(lines_and_paths(&i.problems), [(0, "", "message.too-large")]);
            assert_eq!(i.kind.map(|k| k.name()), Some("JW301".to_owned()));
        }
        _ => panic!("not refused"),
    }
}

#[test]
fn lines_past_65535_are_told_right() {
    let jw315 = text("jw/ongeldig/JW315-datum-31-juni.xml");
    let far = jw315.replacen(
        "<jw315:Client>",
        &format!("{}<jw315:Client>", "\n".repeat(70_000)),
        1,
    );
    let i = invalid(far.as_bytes());
    let lines: Vec<u64> = i.problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, [70_044, 70_066]);
}

#[test]
fn at_most_a_hundred_problems_are_listed_and_the_rest_counted() {
    let jw315 = text("jw/ongeldig/JW315-datum-31-juni.xml");
    let start = jw315.find("<jw315:AangevraagdProduct>").unwrap();
    let end = jw315.find("</jw315:AangevraagdeProducten>").unwrap();
    let two = &jw315[start..end];
    let many = jw315.replacen(two, &two.repeat(75), 1);
    let i = invalid(many.as_bytes());
    assert_eq!(i.problems.len(), MAX_PROBLEMS + 1);
    let last = i.problems.last().unwrap();
    assert_eq!(last.message.en, "and 50 more errors, not listed one by one");
    assert_eq!(
        i.problems[99].column,
        "Client/AangevraagdeProducten/AangevraagdProduct[100]/ToewijzingEinddatum"
    );
}

#[test]
fn a_default_namespace_message_reads_the_same() {
    // The same JW318 with its own namespace as the default one: no prefix on its elements.
    let jw318 = text("jw/ongeldig/JW318-retourcode-misplaatst.xml");
    let unprefixed = jw318
        .replace("xmlns:jw318=", "xmlns=")
        .replace("<jw318:", "<")
        .replace("</jw318:", "</");
    let i = invalid(unprefixed.as_bytes());
    assert_eq!(
        lines_and_paths(&i.problems),
        [(33, "Client/Verzoek/RetourCode", "message.schema")]
    );
}

/// A named change to a message's text.
type Mutation<'a> = (&'a str, &'a dyn Fn(&str) -> String);

/// libxml2's verdicts through this module are `xmllint --noout --schema`'s (the same
/// engine, with the schema files of `src/check/messages/xsd`): on every sample and on a few
/// mutations of each, the same errors on the same lines.
#[test]
fn the_verdicts_are_xmllints() {
    let xsd = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/check/messages/xsd");
    let dir = tempfile::tempdir().unwrap();
    let mutations: [Mutation; 6] = [
        ("as is", &|s| s.to_owned()),
        ("bad date", &|s| {
            let at = s.find(":Dagtekening>").unwrap() + ":Dagtekening>".len();
            format!("{}2026-02-30{}", &s[..at], &s[at + 10..])
        }),
        ("no Afzender", &|s| {
            let start = s.find("<").unwrap();
            let a = s[start..].find(":Afzender>").unwrap() + start;
            let open = s[..a].rfind('<').unwrap();
            let close = s[a..].find("</").unwrap() + a;
            let end = s[close..].find('>').unwrap() + close + 1;
            format!("{}{}", &s[..open], &s[end..])
        }),
        ("code 999", &|s| {
            let at = s.find(":BerichtCode>").unwrap() + ":BerichtCode>".len();
            format!("{}999{}", &s[..at], &s[at + 3..])
        }),
        ("unknown element", &|s| {
            let at = s.find(":Header>").unwrap() + ":Header>".len();
            format!("{}<Onbekend>1</Onbekend>{}", &s[..at], &s[at..])
        }),
        ("text in a container", &|s| {
            let at = s.find(":BerichtIdentificatie>").unwrap() + ":BerichtIdentificatie>".len();
            format!("{}tekst{}", &s[..at], &s[at..])
        }),
    ];
    let mut compared = 0;
    for folder in ["jw", "wmo"] {
        for (stem, bytes) in all_in(folder) {
            let kind = MessageType::ALL
                .into_iter()
                .find(|t| t.name() == stem)
                .unwrap();
            let original = String::from_utf8(bytes).unwrap();
            for (what, mutate) in mutations {
                let mutated = mutate(&original);
                let file = dir.path().join(format!("{stem}.xml"));
                std::fs::write(&file, &mutated).unwrap();
                let out = std::process::Command::new("xmllint")
                    .arg("--noout")
                    .arg("--schema")
                    .arg(xsd.join(folder).join(format!("{stem}.xsd")))
                    .arg(&file)
                    .output()
                    .expect("xmllint (Debian package libxml2-utils) must be installed");
                let stderr = String::from_utf8_lossy(&out.stderr);
                let prefix = format!("{}:", file.display());
                let mut theirs: Vec<(u64, String)> = stderr
                    .lines()
                    .filter_map(|l| l.strip_prefix(&prefix))
                    .filter_map(|l| {
                        let (line, rest) = l.split_once(':')?;
                        let (_, message) = rest.split_once("Schemas validity error : ")?;
                        Some((line.parse().ok()?, message.to_owned()))
                    })
                    .collect();
                let document = engine::parse(mutated.as_bytes()).unwrap().unwrap();
                let reports = engine::validate(kind, &document).unwrap();
                let mut ours: Vec<(u64, String)> = reports
                    .kept
                    .iter()
                    .map(|r| (r.line, r.message.clone()))
                    .collect();
                theirs.sort();
                ours.sort();
                assert_eq!(ours, theirs, "{stem}, {what}");
                assert_eq!(out.status.success(), ours.is_empty(), "{stem}, {what}");
                if what != "as is" {
                    assert!(!ours.is_empty(), "{stem}, {what}: no error");
                }
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 21 * 6);
}
