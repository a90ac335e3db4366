//! The daily run's side of iJw/iWmo messages (issue 15): a message from the confined reader
//! has its citizen numbers replaced by pseudonyms (and any inside an identifier by a keyed
//! hash) before anything else sees it, is stored once per header identity with the keys of
//! the link table, and, for a municipality with `decisions_from_messages`, its assigned
//! products become decisions and its stops of care end them.

use chrono::NaiveDate;

use crate::check::messages::allowlist::{Keep, TABLES};
use crate::check::messages::content::{Answer, Bericht};
use crate::ledger::{DecisionRow, LedgerError, MessageRow, MessageSink, RowSink, StoredRow};
use crate::pseudonym::Keyed;

/// Replaces every citizen number in `m` by its pseudonym, and one written inside any other
/// value by its keyed hash (as for measurement numbers): what leaves this function holds no
/// BSN in clear.
pub(crate) fn pseudonymise(key: &Keyed, m: &mut Bericht) {
    let kind = m.kind();
    for row in &mut m.rows {
        let Some(table) = TABLES.get(usize::from(row.table)) else {
            continue;
        };
        for (column, value) in table.columns_for(kind).zip(row.values.iter_mut()) {
            let Some(v) = value.as_mut() else { continue };
            if column.keep == Keep::Bsn {
                *v = key.hash_hex(v.as_bytes()).as_str().to_owned();
            } else if let std::borrow::Cow::Owned(scrubbed) = key.scrub(v) {
                *v = scrubbed;
            }
        }
    }
    let header = &mut m.header;
    for v in [&mut header.identificatie] {
        if let std::borrow::Cow::Owned(scrubbed) = key.scrub(v) {
            *v = scrubbed;
        }
    }
    if let Some(Answer::Retour(identificatie, _) | Answer::Declaratie(identificatie, _)) =
        &mut m.answer
    {
        if let std::borrow::Cow::Owned(scrubbed) = key.scrub(identificatie) {
            *identificatie = scrubbed;
        }
    }
}

/// Stores a pseudonymised message of municipality `gemeentecode`; false if it holds it
/// already. With `decisions`, its assignments and stops become decisions.
pub(crate) fn store(
    messages: &mut MessageSink<'_>,
    rows: &mut RowSink<'_>,
    m: &Bericht,
    gemeentecode: &str,
    decisions: bool,
) -> Result<bool, LedgerError> {
    let kind = m.kind();
    let mut content = Vec::with_capacity(m.rows.len());
    let mut keys: Vec<(&'static str, &str)> = Vec::new();
    for row in &m.rows {
        let Some(table) = TABLES.get(usize::from(row.table)) else {
            continue;
        };
        let mut values = std::collections::BTreeMap::new();
        for (column, value) in table.columns_for(kind).zip(&row.values) {
            let Some(v) = value else { continue };
            if let Some(link) = column.link {
                if !keys.contains(&(link.as_str(), v.as_str())) {
                    keys.push((link.as_str(), v));
                }
            }
            values.insert(column.name.to_owned(), v.clone());
        }
        content.push(StoredRow {
            table: table.name.to_owned(),
            values,
        });
    }
    let json = serde_json::to_string(&content).map_err(|e| LedgerError::Corrupt {
        what: "message content",
        value: e.to_string(),
    })?;
    let new = messages.store(&MessageRow {
        standard: m.standard.product(),
        number: m.number,
        header: &m.header,
        answer: m.answer.as_ref(),
        content: &json,
        keys: &keys,
    })?;
    if new && decisions {
        make_decisions(rows, m, &content, gemeentecode)?;
    }
    Ok(new)
}

/// The decisions of an assignment (301: one per assigned product) or the ends of care of a
/// stop (307), from the message's stored content.
fn make_decisions(
    rows: &mut RowSink<'_>,
    m: &Bericht,
    content: &[StoredRow],
    gemeentecode: &str,
) -> Result<(), LedgerError> {
    let message = content.iter().find(|r| r.table.is_empty());
    let Some(pseudonym) = message.and_then(|r| r.values.get("Client_Bsn")) else {
        return Ok(());
    };
    let date = |row: &StoredRow, name: &str| {
        row.values
            .get(name)
            .and_then(|v| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok())
    };
    let text = |row: &'_ StoredRow, name: &str| row.values.get(name).cloned();
    let (product_table, agb) = match m.number {
        301 => ("ToegewezenProduct", &m.header.ontvanger),
        307 => ("StopProduct", &m.header.afzender),
        _ => return Ok(()),
    };
    for row in content.iter().filter(|r| r.table == product_table) {
        let Some(nummer) = text(row, "ToewijzingNummer") else {
            continue;
        };
        let product = (text(row, "Product_Categorie"), text(row, "Product_Code"));
        if m.number == 307 {
            let (Some(einddatum), Some(reden)) =
                (date(row, "Einddatum"), text(row, "RedenBeeindiging"))
            else {
                continue;
            };
            if rows.stop_decision(gemeentecode, &nummer, einddatum, &reden)? {
                continue;
            }
            // A stop before its assignment: the decision is made of the stop.
            if let ((Some(categorie), Some(code)), Some(ingang)) =
                (product, date(row, "ToewijzingIngangsdatum"))
            {
                rows.upsert_decision_from_message(&DecisionRow {
                    gemeentecode,
                    beschikkingnummer: &nummer,
                    pseudonym,
                    agb,
                    productcategorie: &categorie,
                    productcode: &code,
                    ingangsdatum: ingang,
                    einddatum: Some(einddatum),
                    reden: Some(&reden),
                })?;
            }
            continue;
        }
        let ((Some(categorie), Some(code)), Some(ingang)) = (product, date(row, "Ingangsdatum"))
        else {
            // An assignment without a product (`Product` is optional in iJw) is no decision
            // of the dataset, which needs one.
            continue;
        };
        rows.upsert_decision_from_message(&DecisionRow {
            gemeentecode,
            beschikkingnummer: &nummer,
            pseudonym,
            agb,
            productcategorie: &categorie,
            productcode: &code,
            ingangsdatum: ingang,
            einddatum: date(row, "Einddatum"),
            reden: None,
        })?;
    }
    Ok(())
}
