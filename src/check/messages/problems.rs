//! What is wrong with a message, for people: each problem as a `datasets::Problem` with the
//! line, the element path (in the column), the value the file held, a `message.*` rule of
//! `datasets::rules`, and a sentence in Dutch and English.
//!
//! libxml2's own messages are English: they are the English sentence, with the namespaces
//! left out (`Element 'ToewijzingEinddatum': '2027-06-31' is not a valid value of the atomic
//! type 'LDT_Datum'.`). The Dutch sentence says the same in Dutch for what a message most
//! often gets wrong (a value its type or a facet refuses, an element out of place, one
//! missing), and gives libxml2's text beside a Dutch lead otherwise. Every text, value and
//! path passes `redact::text`, so a citizen number in a wrong place is never shown in clear.
//! A problem about the whole file has line 0.

use crate::check::datasets::{Problem, rules, shown};
use crate::message::Message;
use crate::redact;

use super::Header;
use super::allowlist::{self, Form, Keep};
use super::engine::{Reported, Reports};
use super::schemas::{MessageType, NAMESPACE_ROOT, RELEASE, Standard};

/// The longest English sentence taken from libxml2 (in characters; a long enumeration is cut).
const MAX_MESSAGE_CHARS: usize = 400;

/// libxml2's error codes (`xmlParserErrors`) that the Dutch sentences tell apart.
mod code {
    pub(super) const DATATYPE: [i32; 3] = [1824, 1825, 1826];
    pub(super) const LENGTH: i32 = 1830;
    pub(super) const MIN_LENGTH: i32 = 1831;
    pub(super) const MAX_LENGTH: i32 = 1832;
    pub(super) const MIN_INCLUSIVE: i32 = 1833;
    pub(super) const MAX_INCLUSIVE: i32 = 1834;
    pub(super) const MIN_EXCLUSIVE: i32 = 1835;
    pub(super) const MAX_EXCLUSIVE: i32 = 1836;
    pub(super) const TOTAL_DIGITS: i32 = 1837;
    pub(super) const FRACTION_DIGITS: i32 = 1838;
    pub(super) const PATTERN: i32 = 1839;
    pub(super) const ENUMERATION: i32 = 1840;
    /// Content model errors: `ELEMENT_CONTENT` and `CVC_COMPLEX_TYPE_2_1` to `2_4`.
    pub(super) const CONTENT: [i32; 5] = [1871, 1841, 1842, 1843, 1844];
}

fn problem(line: u64, path: &str, value: &str, rule: &rules::Rule, message: Message) -> Problem {
    Problem {
        line,
        column: redact::text(path).into_owned(),
        value: redact::text(&shown(value)).into_owned(),
        rule: rule.id,
        message: message.map(|t| redact::text(t).into_owned()),
    }
}

/// A message over the size limit.
pub(crate) fn too_large(max_bytes: usize) -> Problem {
    problem(
        0,
        "",
        "",
        &rules::MESSAGE_TOO_LARGE,
        Message::new(
            format!("het bericht is groter dan {max_bytes} bytes, de limiet voor één bericht"),
            format!("the message is larger than {max_bytes} bytes, the limit for one message"),
        ),
    )
}

/// A message with more rows than one message is allowed to keep.
pub(crate) fn too_many_rows(max: usize) -> Problem {
    problem(
        0,
        "",
        "",
        &rules::MESSAGE_TOO_LARGE,
        Message::new(
            format!(
                "het bericht houdt meer dan {max} producten, cliënten of prestaties, de limiet voor één bericht"
            ),
            format!(
                "the message holds more than {max} products, clients or services, the limit for one message"
            ),
        ),
    )
}

/// A valid message of a municipality other than `own`, the one whose folder it is in.
pub(crate) fn other_municipality(header: &Header, own: &str) -> Problem {
    let found = header.gemeente().unwrap_or("");
    problem(
        0,
        "Header/Afzender",
        found,
        &rules::MESSAGE_MUNICIPALITY,
        Message::new(
            format!(
                "het bericht is van of aan gemeente {found}, niet van of aan gemeente {own}; het is niet opgeslagen"
            ),
            format!(
                "the message is from or to municipality {found}, not municipality {own}; it was not stored"
            ),
        ),
    )
}

/// A zip entry that holds no iJw or iWmo message.
pub(crate) fn not_a_message() -> Problem {
    zip_problem(
        "dit onderdeel van de zip is geen iJw- of iWmo-bericht",
        "this entry of the zip is no iJw or iWmo message",
    )
}

/// A zip entry whose name points outside the zip.
pub(crate) fn zip_entry_outside() -> Problem {
    zip_problem(
        "de naam van dit onderdeel wijst buiten de zip (een pad met .. of een absoluut pad); het is niet gelezen",
        "the name of this entry points outside the zip (a path with .. or an absolute path); it was not read",
    )
}

/// A zip entry that cannot be unpacked (encrypted, an unknown method, not its size).
pub(crate) fn zip_entry_unreadable(why: &str) -> Problem {
    zip_problem(
        &format!("dit onderdeel kan niet worden uitgepakt ({why}); het is niet gelezen"),
        &format!("this entry cannot be unpacked ({why}); it was not read"),
    )
}

/// A zip within the zip.
pub(crate) fn zip_in_zip() -> Problem {
    zip_problem(
        "dit onderdeel is zelf een zip; een zip in een zip wordt niet gelezen",
        "this entry is a zip itself; a zip within a zip is not read",
    )
}

/// A zip entry that expands more than `ratio` times.
pub(crate) fn zip_ratio(ratio: u64) -> Problem {
    zip_problem(
        &format!("dit onderdeel pakt meer dan {ratio} keer uit; het is niet gelezen"),
        &format!("this entry expands more than {ratio} times; it was not read"),
    )
}

fn zip_problem(nl: &str, en: &str) -> Problem {
    problem(0, "", "", &rules::MESSAGE_ZIP, Message::new(nl, en))
}

/// A document type declaration (at `line`, or 0 when found only after parsing).
pub(crate) fn doctype(line: u64) -> Problem {
    problem(
        line,
        "",
        "",
        &rules::MESSAGE_DOCTYPE,
        Message::new(
            "het bestand heeft een DOCTYPE; een bericht heeft er geen, en het bestand is niet verder gelezen",
            "the file has a DOCTYPE; a message has none, and the file was not read any further",
        ),
    )
}

/// A root element in an iStandaarden namespace that is no message type here.
pub(crate) fn namespace(namespace: &str, name: &str) -> Problem {
    let known = || {
        let names: Vec<String> = MessageType::ALL.iter().map(|t| t.name()).collect();
        names.join(", ")
    };
    let parts: Vec<&str> = namespace
        .strip_prefix(NAMESPACE_ROOT)
        .unwrap_or("")
        .split('/')
        .collect();
    let standard = [Standard::Ijw, Standard::Iwmo]
        .into_iter()
        .find(|s| parts.first() == Some(&s.namespace_part()));
    let message = match (standard, parts.as_slice()) {
        (None, _) => Message::new(
            format!(
                "het element {name} is van een andere iStandaard dan iJw of iWmo (namespace {namespace}); alleen iJw- en iWmo-berichten van release 3.2 worden gelezen"
            ),
            format!(
                "the element {name} belongs to an iStandaard other than iJw or iWmo (namespace {namespace}); only iJw and iWmo messages of release 3.2 are read"
            ),
        ),
        (Some(s), [_, release, ..]) if *release != RELEASE => {
            let release = release.replace('_', ".");
            Message::new(
                format!(
                    "een {}-bericht van release {release} (namespace {namespace}); alleen release 3.2 wordt gelezen",
                    s.name()
                ),
                format!(
                    "an {} message of release {release} (namespace {namespace}); only release 3.2 is read",
                    s.name()
                ),
            )
        }
        (Some(_), _) if MessageType::by_namespace(namespace).is_some() => Message::new(
            format!("het eerste element is {name}; een bericht begint met Bericht"),
            format!("the first element is {name}; a message starts with Bericht"),
        ),
        (Some(s), _) => Message::new(
            format!(
                "een {}-bericht van een berichttype zonder schema hier (namespace {namespace}); gelezen worden {}",
                s.name(),
                known()
            ),
            format!(
                "an {} message of a type without a schema here (namespace {namespace}); read are {}",
                s.name(),
                known()
            ),
        ),
    };
    problem(0, name, namespace, &rules::MESSAGE_NAMESPACE, message)
}

/// A header that could not be read after all (`what` missing, or its `value` unusable).
pub(crate) fn header(what: &str, value: Option<&str>) -> Problem {
    let message = match value {
        None => Message::new(
            format!("de kop van het bericht mist {what}"),
            format!("the message header lacks {what}"),
        ),
        Some(v) => Message::new(
            format!(
                "{what} in de kop van het bericht is onbruikbaar: '{}'",
                shown(v)
            ),
            format!("{what} in the message header is unusable: '{}'", shown(v)),
        ),
    };
    problem(
        0,
        &format!("Header/{what}"),
        value.unwrap_or(""),
        &rules::MESSAGE_SCHEMA,
        message,
    )
}

/// The errors that made a message not well-formed XML.
pub(crate) fn not_well_formed(reports: &Reports) -> Vec<Problem> {
    let mut problems: Vec<Problem> = reports
        .kept
        .iter()
        .map(|r| {
            let said = english(&r.message);
            let nl = if r.message.starts_with("Excessive depth in document") {
                "het bericht is dieper genest dan 256 niveaus".to_owned()
            } else {
                format!("geen goedgevormde XML: {said}")
            };
            problem(
                r.line,
                "",
                "",
                &rules::MESSAGE_NOT_WELLFORMED,
                Message::new(nl, format!("not well-formed XML: {said}")),
            )
        })
        .collect();
    if problems.is_empty() {
        problems.push(problem(
            0,
            "",
            "",
            &rules::MESSAGE_NOT_WELLFORMED,
            Message::new("geen goedgevormde XML", "not well-formed XML"),
        ));
    }
    problems.extend(more(reports.more, &rules::MESSAGE_NOT_WELLFORMED));
    problems
}

/// Elements of a message header whose values a problem may repeat.
const HEADER: [&str; 8] = [
    "BerichtCode",
    "BerichtVersie",
    "BerichtSubversie",
    "Afzender",
    "Ontvanger",
    "Dagtekening",
    "BasisschemaXsdVersie",
    "BerichtXsdVersie",
];

/// What a hidden value reads as.
const HIDDEN: &str = "***";

/// Whether a problem may repeat `value` of the element at `path`: only an element whose
/// value is a code, a date, a time or an amount (those the allow-list keeps in clear, and
/// the header's), never one about a person (below `Client`'s name, contacts, relations),
/// and only a value shaped like one of those: digits, the shape of a date or a time (an
/// impossible date is worth showing), a code of letters and digits with a digit in it, or
/// of at most two letters. A name in a code's place stays hidden.
fn may_show(path: &str, value: &str) -> bool {
    let names: Vec<&str> = path
        .split('/')
        .map(|segment| segment.split('[').next().unwrap_or(segment))
        .collect();
    let about_a_person = names.iter().any(|name| {
        matches!(
            *name,
            "Naam" | "Relaties" | "Contactgegevens" | "Bsn" | "Geboortedatum" | "Commentaar"
        )
    });
    let Some(element) = names.last() else {
        return false;
    };
    let kept_in_clear = HEADER.contains(element)
        || allowlist::TABLES.iter().any(|table| {
            table.columns.iter().flat_map(|g| g.iter()).any(|column| {
                matches!(column.keep, Keep::Clear(_) | Keep::Codes)
                    && column.path.rsplit('/').next() == Some(*element)
            })
        });
    let shape = |pattern: &str| {
        value.len() == pattern.len()
            && value.bytes().zip(pattern.bytes()).all(|(v, p)| match p {
                b'9' => v.is_ascii_digit(),
                other => v == other,
            })
    };
    let code =
        Form::Code.holds(value) && (value.bytes().any(|b| b.is_ascii_digit()) || value.len() <= 2);
    let shaped = Form::Integer.holds(value) || shape("9999-99-99") || shape("99:99:99") || code;
    kept_in_clear && !about_a_person && shaped
}

/// `r` as a receipt may repeat it: a value [`may_show`] refuses replaced by [`HIDDEN`], in
/// the value and in libxml2's sentence that quotes it.
fn shareable(r: &Reported) -> Reported {
    match &r.value {
        Some(value) if !may_show(&r.path, value) => Reported {
            message: r
                .message
                .replace(&format!("'{value}'"), &format!("'{HIDDEN}'")),
            value: Some(HIDDEN.to_owned()),
            ..r.clone()
        },
        _ => r.clone(),
    }
}

/// The errors of a message against its schema.
pub(crate) fn schema(reports: &Reports) -> Vec<Problem> {
    let mut problems: Vec<Problem> = reports
        .kept
        .iter()
        .map(shareable)
        .map(|r| {
            let r = &r;
            let value = r.value.as_deref().unwrap_or("");
            let said = english(&r.message);
            problem(
                r.line,
                &r.path,
                value,
                &rules::MESSAGE_SCHEMA,
                Message::new(dutch(r, &said), said.clone()),
            )
        })
        .collect();
    problems.extend(more(reports.more, &rules::MESSAGE_SCHEMA));
    problems
}

/// The line that says how many errors were not listed.
fn more(count: u64, rule: &rules::Rule) -> Option<Problem> {
    (count > 0).then(|| {
        problem(
            0,
            "",
            "",
            rule,
            Message::new(
                format!("en nog {count} fouten, niet afzonderlijk genoemd"),
                format!("and {count} more errors, not listed one by one"),
            ),
        )
    })
}

/// libxml2's sentence without namespaces (`{http://...}Name` becomes `Name`), cut.
fn english(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find("{http") {
        out.push_str(&rest[..at]);
        match rest[at..].find('}') {
            Some(end) => rest = &rest[at + end + 1..],
            None => {
                rest = &rest[at..];
                break;
            }
        }
    }
    out.push_str(rest);
    if out.chars().count() > MAX_MESSAGE_CHARS {
        out = out.chars().take(MAX_MESSAGE_CHARS).collect();
        out.push('…');
    }
    out
}

/// The last `'quoted'` part of a libxml2 sentence (a limit, a pattern, a type).
fn last_quoted(said: &str) -> Option<&str> {
    let end = said.rfind('\'')?;
    let start = said[..end].rfind('\'')?;
    Some(&said[start + 1..end])
}

/// The names in `Expected is ( a, b )` or `Expected is one of ( a, b )`, and whether it was
/// one of several.
fn expected(said: &str) -> Option<(String, bool)> {
    let at = said.find("Expected is ")?;
    let list = &said[at..];
    let open = list.find("( ")?;
    let close = list.rfind(" )")?;
    let names = list.get(open + 2..close)?.trim().to_owned();
    Some((names, list.starts_with("Expected is one of")))
}

/// The set in `... is not an element of the set {'0', '1', '2'}.`, as `0, 1, 2`.
fn enumeration(said: &str) -> Option<String> {
    let at = said.find("the set {")?;
    let set = &said[at + "the set {".len()..];
    let set = &set[..set.rfind('}')?];
    Some(set.replace('\'', ""))
}

/// What a type's values are, in Dutch, for a value of the wrong kind: by the basisschema's
/// simple types (`LDT_*`, each derived from one XML Schema type) and the built-in types.
fn kind_of_value(type_name: &str) -> Option<&'static str> {
    match type_name {
        "LDT_Datum" | "xs:date" | "date" => Some("datum"),
        "LDT_Tijd" | "xs:time" | "time" => Some("tijd"),
        "LDT_Bedrag"
        | "LDT_BerichtSubversie"
        | "LDT_BerichtVersie"
        | "LDT_Budget"
        | "LDT_Huisnummer"
        | "LDT_Nummer"
        | "LDT_RelatieVolgorde"
        | "LDT_TotaalBedrag"
        | "LDT_Volume"
        | "xs:integer"
        | "integer" => Some("geheel getal"),
        _ => None,
    }
}

/// The Dutch sentence for one schema error.
fn dutch(r: &Reported, said: &str) -> String {
    let element = if r.name.is_empty() {
        "het bericht"
    } else {
        r.name.as_str()
    };
    let v = shown(r.value.as_deref().unwrap_or(""));
    let limit = last_quoted(said).unwrap_or("?");
    let sentence = match r.code {
        c if code::DATATYPE.contains(&c) => match kind_of_value(limit) {
            Some(kind) => format!("'{v}' is geen geldige {kind}"),
            None => format!("'{v}' is geen geldige waarde van het type {limit}"),
        },
        code::PATTERN => format!("'{v}' heeft niet de voorgeschreven vorm ({limit})"),
        code::ENUMERATION => match enumeration(said) {
            Some(set) => format!("'{v}' is geen toegestane code (toegestaan: {set})"),
            None => format!("'{v}' is geen toegestane code"),
        },
        code::LENGTH => format!("'{v}' heeft niet de lengte {limit}"),
        code::MIN_LENGTH => format!("'{v}' is te kort: ten minste {limit} tekens"),
        code::MAX_LENGTH => format!("'{v}' is te lang: ten hoogste {limit} tekens"),
        code::MIN_INCLUSIVE => format!("'{v}' is kleiner dan {limit}"),
        code::MAX_INCLUSIVE => format!("'{v}' is groter dan {limit}"),
        code::MIN_EXCLUSIVE => format!("'{v}' is niet groter dan {limit}"),
        code::MAX_EXCLUSIVE => format!("'{v}' is niet kleiner dan {limit}"),
        code::TOTAL_DIGITS => format!("'{v}' heeft meer dan {limit} cijfers"),
        code::FRACTION_DIGITS => {
            format!("'{v}' heeft meer dan {limit} cijfers achter de komma")
        }
        c if code::CONTENT.contains(&c) && said.contains("This element is not expected") => {
            match expected(said) {
                Some((names, false)) => format!("hoort hier niet; verwacht: {names}"),
                Some((names, true)) => format!("hoort hier niet; verwacht een van: {names}"),
                None => "hoort hier niet".to_owned(),
            }
        }
        c if code::CONTENT.contains(&c) && said.contains("Missing child element") => {
            match expected(said) {
                Some((names, false)) => format!("hier ontbreekt {names}"),
                Some((names, true)) => format!("hier ontbreekt een van: {names}"),
                None => "hier ontbreekt een element".to_owned(),
            }
        }
        _ => format!("wijkt af van het schema ({said})"),
    };
    format!("{element}: {sentence}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only a code, a date, a time or an amount is repeated, and only where the allow-list
    /// keeps one in clear: a name in any field stays hidden.
    #[test]
    fn only_code_shaped_values_of_kept_elements_are_shown() {
        for (path, value) in [
            (
                "Client/ToegewezenProducten/ToegewezenProduct[1]/Product/Code",
                "55A1X1",
            ),
            (
                "Client/AangevraagdeProducten/AangevraagdProduct[2]/ToewijzingEinddatum",
                "2027-06-31",
            ),
            ("Client/Geslacht", "3"),
            ("Header/Afzender", "0384"),
        ] {
            assert!(may_show(path, value), "{path} {value}");
        }
        for (path, value) in [
            ("Client/Geslacht", "Jansen"),
            (
                "Client/ToegewezenProducten/ToegewezenProduct[1]/Product/Code",
                "Piet Jansen Kerkstraat",
            ),
            (
                "Client/ToegewezenProducten/ToegewezenProduct[1]/ReferentieAanbieder",
                "40A12341234",
            ),
            ("Client/Bsn", "123456782"),
            ("Client/Geboortedatum/Datum", "2010-02-14"),
            ("Client/Naam/Geslachtsnaam/Achternaam", "Wit"),
            ("Client/Contactgegevens/Contact[1]/Adres/Postcode", "9999XX"),
        ] {
            assert!(!may_show(path, value), "{path} {value}");
        }
    }

    fn reported(code: i32, message: &str, name: &str, value: Option<&str>) -> Reported {
        Reported {
            line: 7,
            code,
            message: message.to_owned(),
            path: format!("Client/{name}"),
            name: name.to_owned(),
            value: value.map(str::to_owned),
        }
    }

    #[test]
    fn the_common_errors_read_as_dutch_sentences() {
        let ns = "{http://www.istandaarden.nl/ijw/3_2/jw315/schema}";
        let cases = [
            (
                reported(
                    1824,
                    &format!(
                        "Element '{ns}ToewijzingEinddatum': '2027-06-31' is not a valid value of the atomic type '{{http://www.istandaarden.nl/ijw/3_2/basisschema/schema}}LDT_Datum'."
                    ),
                    "ToewijzingEinddatum",
                    Some("2027-06-31"),
                ),
                "ToewijzingEinddatum: '2027-06-31' is geen geldige datum",
                "Element 'ToewijzingEinddatum': '2027-06-31' is not a valid value of the atomic type 'LDT_Datum'.",
            ),
            (
                reported(
                    1871,
                    &format!(
                        "Element '{ns}RetourCode': This element is not expected. Expected is one of ( {ns}OngewijzigdeProducten, {ns}RetourCodes )."
                    ),
                    "RetourCode",
                    Some("0001"),
                ),
                "RetourCode: hoort hier niet; verwacht een van: OngewijzigdeProducten, RetourCodes",
                "Element 'RetourCode': This element is not expected. Expected is one of ( OngewijzigdeProducten, RetourCodes ).",
            ),
            (
                reported(
                    1871,
                    &format!(
                        "Element '{ns}Client': Missing child element(s). Expected is ( {ns}Bsn )."
                    ),
                    "Client",
                    None,
                ),
                "Client: hier ontbreekt Bsn",
                "Element 'Client': Missing child element(s). Expected is ( Bsn ).",
            ),
            (
                reported(
                    1840,
                    &format!(
                        "Element '{ns}Geslacht': [facet 'enumeration'] The value '7' is not an element of the set {{'0', '1', '2'}}."
                    ),
                    "Geslacht",
                    Some("7"),
                ),
                "Geslacht: '7' is geen toegestane code (toegestaan: 0, 1, 2)",
                "Element 'Geslacht': [facet 'enumeration'] The value '7' is not an element of the set {'0', '1', '2'}.",
            ),
            (
                reported(
                    1832,
                    &format!(
                        "Element '{ns}Voorletters': [facet 'maxLength'] The value has a length of '7'; this exceeds the allowed maximum length of '6'."
                    ),
                    "Voorletters",
                    Some("ABCDEFG"),
                ),
                // A person's initials: the value is not repeated.
                "Voorletters: '***' is te lang: ten hoogste 6 tekens",
                "Element 'Voorletters': [facet 'maxLength'] The value has a length of '7'; this exceeds the allowed maximum length of '6'.",
            ),
        ];
        for (r, nl, en) in cases {
            let p = &schema(&Reports {
                kept: vec![r],
                more: 0,
            })[0];
            assert_eq!((p.message.nl.as_str(), p.message.en.as_str()), (nl, en));
            assert_eq!(p.rule, "message.schema");
            assert_eq!(p.line, 7);
        }
    }

    #[test]
    fn an_unknown_error_keeps_libxml2s_text_beside_a_dutch_lead() {
        let r = reported(
            1866,
            "Element 'X': The attribute 'y' is not allowed.",
            "X",
            None,
        );
        let p = &schema(&Reports {
            kept: vec![r],
            more: 3,
        });
        assert_eq!(
            p[0].message.nl,
            "X: wijkt af van het schema (Element 'X': The attribute 'y' is not allowed.)"
        );
        assert_eq!(p[1].message.en, "and 3 more errors, not listed one by one");
    }

    /// Every integer type named in `kind_of_value` is one in both basisschemas, and every
    /// integer or date type of theirs is named.
    #[test]
    fn the_value_kinds_follow_the_basisschemas() {
        for standard in [Standard::Ijw, Standard::Iwmo] {
            let xsd = super::super::schemas::by_url(&format!(
                "mem:/{}/basisschema.xsd",
                if standard == Standard::Ijw {
                    "jw"
                } else {
                    "wmo"
                }
            ))
            .unwrap();
            for part in xsd.split("<xs:simpleType name=\"").skip(1) {
                let name = &part[..part.find('"').unwrap()];
                let base = part
                    .split("base=\"")
                    .nth(1)
                    .map(|b| &b[..b.find('"').unwrap()])
                    .unwrap();
                let expected = match base {
                    "xs:integer" => Some("geheel getal"),
                    "xs:date" => Some("datum"),
                    "xs:time" => Some("tijd"),
                    _ => None,
                };
                assert_eq!(kind_of_value(name), expected, "{name} ({base})");
            }
        }
    }
}
