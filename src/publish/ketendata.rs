//! Ketendata bundles (issue 15, item 3): a municipality's own iJw or iWmo message traffic
//! as a standard dataset, per law. `Ketendata-IJW-<t>-<yyyyMMddHHmmss>.zip` (and `-IWMO-`)
//! holds one CSV per message type and per repeating element of it, cut as the allow-list
//! ([`allowlist::TABLES`]) is, every row carrying the message's hashed id to join on;
//! `Koppeltabel.csv`, the messages' relations (assignment and its start, stop, change
//! request and claims; request, answer and assignment; message and return message);
//! `LEESMIJ.txt`, which prints the allow-list; and `manifest.json`. Every identifier is
//! hashed with the municipality's own key, as in its measurement bundles. A message is in
//! exactly one weekly bundle: the bundle and the messages it carried are recorded in one
//! transaction, the zip placed after it and mailed as it is placed, as for the measurement
//! bundles; a full bundle
//! (from 2021-01-01 or a date, on request) repeats without changing that.

use std::fmt::Write as _;
use std::io;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

use super::bundle::{BundleWriter, Manifest};
use super::{
    PublishError, Published, free_name, io_error, municipality_key, place, place_unplaced,
    rows_per_csv,
};
use crate::check::messages::allowlist::{Table, tables_of};
use crate::check::messages::schemas::{MessageType, Standard};
use crate::config::{Config, Tenant};
use crate::layout::{OutboxLock, StateDir};
use crate::ledger::{
    BundleKind, Identity, KetendataPublication, Ledger, MessageOut, NewBundle, StoredRow,
};
use crate::mail::{Wake, messages};
use crate::message::Language;
use crate::pseudonym::Keyed;

/// The start of every Ketendata bundle's name.
pub(crate) const PREFIX: &str = "Ketendata";

/// The first date of a total file when none is asked for: Ketendata's "vanaf 1-1-2021".
pub const FROM: NaiveDate = match NaiveDate::from_ymd_opt(2021, 1, 1) {
    Some(d) => d,
    None => panic!("a valid date"),
};

/// The link table's file.
const LINKS: &str = "Koppeltabel.csv";

/// `Ketendata-IJW-<tenant>-<yyyyMMddHHmmss>.zip`, with `-totaal` before the time for a full
/// bundle.
pub(crate) fn bundle_name(
    standard: Standard,
    tenant: &str,
    full: bool,
    made: chrono::NaiveDateTime,
) -> String {
    let total = if full { "-totaal" } else { "" };
    format!(
        "{PREFIX}-{}-{tenant}{total}-{}.zip",
        standard.product(),
        made.format("%Y%m%d%H%M%S")
    )
}

/// The message types of `standard`, in the order of their numbers.
fn types(standard: Standard) -> impl Iterator<Item = MessageType> {
    MessageType::ALL
        .into_iter()
        .filter(move |t| t.standard == standard)
}

/// The columns every table starts with: the message's hashed id, and for the message
/// itself its header and when it was received; for a repeating element its position.
fn leading_columns(table: &Table) -> &'static [&'static str] {
    if table.name.is_empty() {
        &[
            "bericht",
            "berichtcode",
            "afzender",
            "ontvanger",
            "dagtekening",
            "ontvangen",
        ]
    } else {
        &["bericht", "volgnummer"]
    }
}

/// The columns of `Koppeltabel.csv`.
const LINK_COLUMNS: [&str; 5] = [
    "bericht",
    "berichttype",
    "gerelateerd_bericht",
    "gerelateerd_berichttype",
    "relatie",
];

/// Publishes a Ketendata bundle of `standard` for municipality `tenant` now: the messages no
/// bundle carried, or with `since` all dated from then on. `None` for a weekly bundle when
/// no message waits.
pub fn publish(
    config: &Config,
    ledger: &mut Ledger,
    tenant: &Tenant,
    standard: Standard,
    now: DateTime<Utc>,
    since: Option<NaiveDate>,
    mail: &Wake,
) -> Result<Option<Published>, PublishError> {
    if since.is_none() && !ledger.messages_waiting(&tenant.id, standard.product())? {
        return Ok(None);
    }
    let state = StateDir::new(&config.state_dir);
    let _outboxes = OutboxLock::take(&state).map_err(io_error("staging/"))?;
    place_unplaced(&state, ledger, mail)?;
    let key = municipality_key(config, ledger, tenant, now)?;
    let local = now.with_timezone(&config.time_zone);
    let base = bundle_name(standard, &tenant.id, since.is_some(), local.naive_local());
    let name = free_name(ledger, &base)?;
    let staged = state.staging().join(&name);
    let io_err = io_error(&name);
    let publication = ledger.begin_ketendata(&tenant.id, standard.product(), since)?;
    let written = BundleWriter::create(&staged, local.naive_local())
        .map_err(&io_err)
        .and_then(|writer| {
            let made = local.format("%d-%m-%Y %H:%M").to_string();
            write(
                config,
                tenant,
                standard,
                &key,
                &publication,
                writer,
                since,
                &made,
            )
        })
        .and_then(|writer| {
            let kind = if since.is_some() {
                "full"
            } else {
                "incremental"
            };
            let since = since.map(|d| d.to_string());
            let manifest = Manifest::new(&tenant.code, kind, since.as_deref(), &local.to_rfc3339());
            writer.finish(manifest).map_err(&io_err)
        });
    let manifest = match written {
        Ok(manifest) => manifest,
        Err(e) => {
            let _ = std::fs::remove_file(&staged);
            return Err(e);
        }
    };
    let rows = rows_per_csv(&manifest);
    let rows_json = json!(
        rows.iter()
            .map(|(n, r)| (n.clone(), *r))
            .collect::<std::collections::BTreeMap<_, _>>()
    );
    let (size, sha256) =
        crate::fingerprint::sha256_of(&mut std::fs::File::open(&staged).map_err(&io_err)?)
            .map_err(&io_err)?;
    let kind = if since.is_some() {
        BundleKind::Full
    } else {
        BundleKind::Incremental
    };
    let bundle = NewBundle {
        tenant: &tenant.id,
        name: &name,
        kind,
        rows: &rows_json,
        size_bytes: size,
        sha256: &sha256,
        product: Some(standard.product()),
    };
    let since_text = since.map(|d| d.format("%d-%m-%Y").to_string());
    let counts: Vec<(&str, u64)> = rows
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(n, r)| (n.as_str(), *r))
        .collect();
    let text = messages::bundle_published(
        config.language,
        &messages::BundlePublished {
            municipality: &tenant.name,
            bundle: &name,
            rows: &counts,
            kept_days: config.retention.bundle_days,
            full: since_text.as_deref().map(messages::Covers::Since),
            headline: None,
        },
    );
    let new_mail = text.to_mail("bundle-published", &tenant.id, &tenant.contacts);
    let message_id = crate::mail::new_message_id();
    let mailed = !tenant.contacts.is_empty();
    let queued = mailed.then_some((&new_mail, message_id.as_str()));
    let id = publication.commit(&bundle, queued, now)?;
    crate::pause::point("ketendata.committed");
    place(&state, ledger, id, &tenant.id, &name, mail)?;
    tracing::info!(tenant = tenant.id, bundle = name, rows = %rows_json, mailed, "Ketendata bundle published");
    Ok(Some(Published {
        name: name.clone(),
        rows,
        mailed,
    }))
}

/// Writes every CSV, the link table and `LEESMIJ.txt` into `writer`.
#[expect(clippy::too_many_arguments, reason = "one bundle's parts, each named")]
fn write(
    config: &Config,
    tenant: &Tenant,
    standard: Standard,
    key: &Keyed,
    publication: &KetendataPublication<'_>,
    mut writer: BundleWriter,
    since: Option<NaiveDate>,
    made: &str,
) -> Result<BundleWriter, PublishError> {
    let tz = config.time_zone;
    for kind in types(standard) {
        for (_, table) in tables_of(kind) {
            let name = table.file_name(kind);
            let io_err = io_error(&name);
            let mut header: Vec<&str> = leading_columns(table).to_vec();
            header.extend(table.columns_for(kind).map(|c| c.name));
            publication
                .messages(kind.number, |messages| {
                    let rows = messages.flat_map(|m| match m {
                        Ok(m) => rows_of(&m, kind, table, key, tz),
                        Err(e) => vec![Err(io::Error::other(e.to_string()))],
                    });
                    writer.csv(&name, &header, rows)
                })?
                .map_err(&io_err)?;
        }
    }
    let io_err = io_error(LINKS);
    publication
        .links(|links| {
            let rows = links.map(|link| {
                let link = link.map_err(|e| io::Error::other(e.to_string()))?;
                let name = |number: u16| MessageType { standard, number }.name();
                Ok(vec![
                    message_id(key, &link.from.1),
                    name(link.from.0),
                    message_id(key, &link.to.1),
                    name(link.to.0),
                    link.relation.to_owned(),
                ])
            });
            writer.csv(LINKS, &LINK_COLUMNS, rows)
        })?
        .map_err(&io_err)?;
    let about = About {
        municipality: &tenant.name,
        code: &tenant.code,
        standard,
        since,
        made,
    };
    writer
        .text("LEESMIJ.txt", &leesmij(&about, config.language))
        .map_err(io_error("LEESMIJ.txt"))?;
    Ok(writer)
}

/// A message's id in a bundle: its header identity, hashed with the municipality's key.
fn message_id(key: &Keyed, identity: &Identity) -> String {
    key.hash(identity.text().as_bytes())
}

/// The lines of `table` in message `m`.
fn rows_of(
    m: &MessageOut,
    kind: MessageType,
    table: &Table,
    key: &Keyed,
    tz: chrono_tz::Tz,
) -> Vec<io::Result<Vec<String>>> {
    let content: Vec<StoredRow> = match serde_json::from_str(&m.content) {
        Ok(content) => content,
        Err(e) => return vec![Err(io::Error::other(format!("a stored message: {e}")))],
    };
    let id = message_id(key, &m.identity);
    content
        .iter()
        .filter(|row| row.table == table.name)
        .enumerate()
        .map(|(n, row)| {
            let mut cells = vec![id.clone()];
            if table.name.is_empty() {
                let i = &m.identity;
                cells.extend([
                    i.berichtcode.to_string(),
                    i.afzender.clone(),
                    i.ontvanger.clone(),
                    i.dagtekening.clone(),
                    m.received_at
                        .with_timezone(&tz)
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
                ]);
            } else {
                cells.push((n + 1).to_string());
            }
            for column in table.columns_for(kind) {
                let value = row.values.get(column.name);
                cells.push(match value {
                    Some(v) if column.keep.is_hashed() => key.hash(v.as_bytes()),
                    Some(v) => v.clone(),
                    None => String::new(),
                });
            }
            Ok(cells)
        })
        .collect()
}

/// What `LEESMIJ.txt` says of the bundle.
struct About<'a> {
    municipality: &'a str,
    code: &'a str,
    standard: Standard,
    since: Option<NaiveDate>,
    made: &'a str,
}

/// `LEESMIJ.txt` of a Ketendata bundle: what it is, every file and column with what is kept
/// of it (the allow-list), the link table's relations, and the hashing.
fn leesmij(about: &About<'_>, language: Language) -> String {
    let dutch = language == Language::Dutch;
    let say = |nl: &str, en: &str| if dutch { nl.to_owned() } else { en.to_owned() };
    let mut t = String::new();
    let law = match about.standard {
        Standard::Ijw => say("de Jeugdwet (iJw 3.2)", "the Youth Act (iJw 3.2)"),
        Standard::Iwmo => say("de Wmo 2015 (iWmo 3.2)", "the Wmo 2015 (iWmo 3.2)"),
    };
    let title = say("LEESMIJ bij Ketendata", "README for Ketendata");
    let _ = writeln!(
        t,
        "{title} {}\n{}\n",
        about.standard.product(),
        "=".repeat(title.len() + 1 + about.standard.product().len())
    );
    let _ = writeln!(
        t,
        "{}",
        if dutch {
            format!(
                "De berichten van {law} van {} (CBS-code {}) die dropgate ontving, gemaakt op {}.",
                about.municipality, about.code, about.made
            )
        } else {
            format!(
                "The messages of {law} of {} (CBS code {}) that dropgate received, made on {}.",
                about.municipality, about.code, about.made
            )
        }
    );
    let _ = writeln!(
        t,
        "{}",
        match about.since {
            None => say(
                "Weekbestand: de berichten die nog in geen weekbestand zaten.",
                "Weekly file: the messages that no weekly file carried yet.",
            ),
            Some(since) => {
                let date = since.format("%d-%m-%Y");
                if dutch {
                    format!("Totaalbestand: alle berichten met een dagtekening vanaf {date}.")
                } else {
                    format!("Total file: every message dated from {date} on.")
                }
            }
        }
    );
    let _ = writeln!(
        t,
        "\n{}",
        say(
            "Een bericht dat vaker is aangeleverd (zelfde BerichtCode, Afzender, Ontvanger, \
             Identificatie en Dagtekening) staat er één keer in. Alleen de gegevens in de \
             lijst hieronder worden bewaard: namen, adressen, telefoonnummers, e-mailadressen, \
             vrije tekst (Commentaar) en alle gegevens van relaties nooit; van een geboortedatum \
             alleen het jaar, van een postcode alleen de vier cijfers.",
            "A message delivered more than once (same BerichtCode, Afzender, Ontvanger, \
             Identificatie and Dagtekening) is in it once. Only the values listed below are \
             kept: never names, addresses, phone numbers, e-mail addresses, free text \
             (Commentaar) or anything about relations; of a birth date only the year, of a \
             postcode only the four digits.",
        )
    );
    let _ = writeln!(
        t,
        "{}",
        say(
            "Gehasht (HMAC-SHA256 met de sleutel van uw gemeente, 64 hexadecimale tekens) zijn \
             het bericht-id, het BSN (over het pseudoniem van de TTP: dezelfde waarde als \
             pseudobsn in uw meetbundels), ToewijzingNummer (dezelfde waarde als \
             beschikkingnummer), ReferentieAanbieder, BeschikkingNummer, DeclaratieNummer en \
             de referentienummers van prestaties.",
            "Hashed (HMAC-SHA256 with your municipality's key, 64 hex digits) are the message \
             id, the BSN (over the TTP's pseudonym: the same value as pseudobsn in your \
             measurement bundles), ToewijzingNummer (the same value as beschikkingnummer), \
             ReferentieAanbieder, BeschikkingNummer, DeclaratieNummer and the reference \
             numbers of services.",
        )
    );
    let heading = |t: &mut String, text: String| {
        let _ = writeln!(t, "\n{text}\n{}", "-".repeat(text.chars().count()));
    };
    heading(&mut t, say("Bestanden en kolommen", "Files and columns"));
    let _ = writeln!(
        t,
        "{}",
        say(
            "CSV: UTF-8 met BOM, scheidingsteken ;, regeleinde CRLF, datums als jjjj-mm-dd. \
             Elke rij begint met bericht (het gehashte id van het bericht, om op te koppelen); \
             een bericht-bestand heeft daarna berichtcode, afzender, ontvanger, dagtekening en \
             ontvangen (wanneer dropgate het ontving), een bestand van een herhalend onderdeel \
             volgnummer (de plaats in het bericht).",
            "CSV: UTF-8 with BOM, separator ;, line end CRLF, dates as yyyy-mm-dd. Every row \
             starts with bericht (the message's hashed id, to join on); a message file then has \
             berichtcode, afzender, ontvanger, dagtekening and ontvangen (when dropgate \
             received it), a file of a repeating element volgnummer (its place in the message).",
        )
    );
    for kind in types(about.standard) {
        for (_, table) in tables_of(kind) {
            let _ = writeln!(t, "\n{}", table.file_name(kind));
            for column in table.columns_for(kind) {
                let _ = writeln!(
                    t,
                    "  {:<44} {} ({})",
                    column.name,
                    column.meaning,
                    column.keep.meaning()
                );
            }
        }
    }
    heading(&mut t, LINKS.to_owned());
    let _ = writeln!(
        t,
        "{}",
        say(
            "Eén rij per paar verwante berichten: bericht en berichttype, gerelateerd_bericht en \
             gerelateerd_berichttype, en de relatie. Een weekbestand noemt elk paar waarvan ten \
             minste één bericht erin zit (het andere kan in een eerder bestand staan).",
            "One row per pair of related messages: bericht and berichttype, gerelateerd_bericht \
             and gerelateerd_berichttype, and the relation. A weekly file names every pair with \
             at least one message in it (the other may be in an earlier file).",
        )
    );
    for relation in crate::ledger::relations() {
        let _ = writeln!(t, "  {relation:<24} {}", relation_meaning(relation, dutch));
    }
    t.replace('\n', "\r\n")
}

/// What a relation of the link table means.
fn relation_meaning(relation: &str, dutch: bool) -> &'static str {
    match (relation, dutch) {
        ("toewijzing-start", true) => {
            "toewijzing (301) en de start van de zorg (305), op ToewijzingNummer"
        }
        ("toewijzing-start", false) => {
            "assignment (301) and the start of care (305), on ToewijzingNummer"
        }
        ("toewijzing-stop", true) => {
            "toewijzing (301) en de stop van de zorg (307), op ToewijzingNummer"
        }
        ("toewijzing-stop", false) => {
            "assignment (301) and the end of care (307), on ToewijzingNummer"
        }
        ("toewijzing-wijziging", true) => {
            "toewijzing (301) en een verzoek om wijziging (317) dat haar noemt, op ToewijzingNummer"
        }
        ("toewijzing-wijziging", false) => {
            "assignment (301) and a request for change (317) naming it, on ToewijzingNummer"
        }
        ("toewijzing-declaratie", true) => {
            "toewijzing (301) en een declaratie (323) op haar, op ToewijzingNummer"
        }
        ("toewijzing-declaratie", false) => {
            "assignment (301) and a claim (323) on it, on ToewijzingNummer"
        }
        ("verzoek-antwoord", true) => {
            "verzoek (315 of 317) en het antwoord (319), op ReferentieAanbieder van dezelfde aanbieder"
        }
        ("verzoek-antwoord", false) => {
            "request (315 or 317) and its answer (319), on ReferentieAanbieder of the same provider"
        }
        ("verzoek-toewijzing", true) => {
            "verzoek (315 of 317) en de toewijzing die volgde (301), op ReferentieAanbieder van dezelfde aanbieder"
        }
        ("verzoek-toewijzing", false) => {
            "request (315 or 317) and the assignment that followed (301), on ReferentieAanbieder of the same provider"
        }
        (_, true) => {
            "bericht en zijn retourbericht (302, 306, 308, 316, 318, 320; 325 bij een declaratie), op de identificatie en dagtekening die het retourbericht noemt"
        }
        (_, false) => {
            "message and its return message (302, 306, 308, 316, 318, 320; 325 for a claim), on the identification and date the return message names"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_say_the_law_the_municipality_and_whether_it_is_total() {
        let made = NaiveDate::from_ymd_opt(2026, 11, 22)
            .unwrap()
            .and_hms_opt(6, 0, 0)
            .unwrap();
        assert_eq!(
            bundle_name(Standard::Ijw, "utrecht", false, made),
            "Ketendata-IJW-utrecht-20261122060000.zip"
        );
        assert_eq!(
            bundle_name(Standard::Iwmo, "utrecht", true, made),
            "Ketendata-IWMO-utrecht-totaal-20261122060000.zip"
        );
    }

    #[test]
    fn leesmij_prints_every_kept_column_and_every_relation() {
        let about = About {
            municipality: "Gemeente",
            code: "0384",
            standard: Standard::Ijw,
            since: None,
            made: "22-11-2026 06:00",
        };
        let text = leesmij(&about, Language::Dutch);
        for kind in types(Standard::Ijw) {
            for (_, table) in tables_of(kind) {
                assert!(
                    text.contains(&table.file_name(kind)),
                    "{}",
                    table.file_name(kind)
                );
                for column in table.columns_for(kind) {
                    assert!(text.contains(column.name), "{}", column.name);
                }
            }
        }
        for relation in crate::ledger::relations() {
            assert!(text.contains(relation), "{relation}");
        }
        assert!(text.contains("alleen het geboortejaar"));
        assert!(!text.contains("Keep::"));
    }
}
