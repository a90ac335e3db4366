//! The daily run's side of iJw/iWmo messages (issue 15): a message from the confined reader
//! has its citizen numbers replaced by pseudonyms (and any inside an identifier by a keyed
//! hash) before anything else sees it, is stored once per header identity with the keys of
//! the link table, and, for a municipality with `decisions_from_messages`, its assigned
//! products become decisions and its stops of care end them.

use chrono::NaiveDate;

use crate::check::messages::allowlist::{Keep, LinkKey, TABLES};
use crate::check::messages::content::{Answer, Bericht};
use crate::check::messages::schemas::Standard;
use crate::ledger::{
    DecisionRow, LedgerError, MessageRow, MessageSink, MessageStored, RowSink, StoredRow,
};
use crate::pseudonym::Keyed;

/// Makes `m` what the ledger may hold: a citizen number becomes its pseudonym; a reference
/// of free form (and the header's identifications) the TTP's keyed hash, under a prefix of
/// its own so that it never equals a pseudonym; a municipality's number loses its leading
/// zeros, and one that is a citizen number becomes its keyed hash (as a decision's number
/// does). Codes, dates and amounts have a checked form and stay as they are.
pub(crate) fn pseudonymise(key: &Keyed, m: &mut Bericht) {
    let kind = m.kind();
    for row in &mut m.rows {
        let Some(table) = TABLES.get(usize::from(row.table)) else {
            continue;
        };
        for (column, value) in table.columns_for(kind).zip(row.values.iter_mut()) {
            let Some(v) = value.as_mut() else { continue };
            match column.keep {
                Keep::Bsn => *v = key.hash_hex(v.as_bytes()).as_str().to_owned(),
                Keep::Reference => *v = reference(key, v),
                Keep::Number => *v = number(key, v),
                Keep::Clear(_) | Keep::Codes | Keep::Year | Keep::Postcode4 => {}
            }
        }
    }
    m.header.identificatie = reference(key, &m.header.identificatie);
    if let Some(Answer::Retour(identificatie, _) | Answer::Declaratie(identificatie, _)) =
        &mut m.answer
    {
        *identificatie = reference(key, identificatie);
    }
}

/// The ledger's form of a free reference: the TTP's keyed hash of it, prefixed.
fn reference(key: &Keyed, value: &str) -> String {
    key.hash_hex(format!("referentie:{value}").as_bytes())
        .as_str()
        .to_owned()
}

/// The ledger's form of a municipality's number: without leading zeros, a citizen number
/// among its digits replaced by its keyed hash.
fn number(key: &Keyed, value: &str) -> String {
    let trimmed = value.trim_start_matches('0');
    let canonical = if trimmed.is_empty() { "0" } else { trimmed };
    key.scrub(canonical).into_owned()
}

/// Stores a pseudonymised message of municipality `gemeentecode`, unless it holds it
/// already. With `decisions`, a new assignment or stop remakes the decisions it names.
pub(crate) fn store(
    messages: &mut MessageSink<'_>,
    rows: &mut RowSink<'_>,
    m: &Bericht,
    gemeentecode: &str,
    decisions: bool,
) -> Result<MessageStored, LedgerError> {
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
    if new == MessageStored::New && decisions && matches!(m.number, 301 | 307) {
        let numbers: Vec<&str> = keys
            .iter()
            .filter(|(kind, _)| *kind == LinkKey::Toewijzing.as_str())
            .map(|(_, v)| *v)
            .collect();
        for number in numbers {
            make_decision(messages, rows, m.standard, number, gemeentecode)?;
        }
    }
    Ok(new)
}

/// The decision of assignment `number` of law `standard` in municipality `gemeentecode`,
/// worked out from every assignment (301) and stop (307) of it the ledger holds, whatever
/// order they came in: the latest assignment (by `Dagtekening`) gives provider, client,
/// product and dates; the latest stop from that provider for that client, ending on or after
/// the start, gives the end and its reason. Without an assignment, a stop that names its
/// product and start makes the decision. An iWmo number is kept apart from an iJw one
/// (`WMO-` before it), and an iWmo stop's reason, of another code list, is left out.
fn make_decision(
    messages: &MessageSink<'_>,
    rows: &mut RowSink<'_>,
    standard: Standard,
    number: &str,
    gemeentecode: &str,
) -> Result<(), LedgerError> {
    let mut assignment: Option<Decided> = None;
    let mut stop: Option<Decided> = None;
    for stored in messages.assignment(standard.product(), number)? {
        let Ok(content) = serde_json::from_str::<Vec<StoredRow>>(&stored.content) else {
            continue;
        };
        let (table, agb) = match stored.number {
            301 => ("ToegewezenProduct", stored.ontvanger),
            _ => ("StopProduct", stored.afzender),
        };
        let client = content
            .iter()
            .find(|r| r.table.is_empty())
            .and_then(|r| r.values.get("Client_Bsn").cloned());
        let product = content.iter().find(|r| {
            r.table == table && r.values.get("ToewijzingNummer").map(String::as_str) == Some(number)
        });
        let (Some(client), Some(product)) = (client, product) else {
            continue;
        };
        let decided = Decided::of(product, client, agb, stored.number == 307);
        // Oldest first: a later one replaces an earlier one.
        if stored.number == 301 {
            assignment = Some(decided);
        } else {
            stop = Some(decided);
        }
    }
    let decision = match (assignment, stop) {
        (Some(mut a), Some(s)) => {
            let ends = s
                .einddatum
                .filter(|end| a.ingangsdatum.is_some_and(|start| *end >= start));
            if s.agb == a.agb && s.client == a.client && ends.is_some() {
                a.einddatum = ends;
                a.reden = s.reden;
            }
            a
        }
        (Some(a), None) => a,
        (None, Some(s)) => s,
        (None, None) => return Ok(()),
    }
    .without_end_before_start();
    let (Some(categorie), Some(code), Some(ingangsdatum)) =
        (&decision.categorie, &decision.code, decision.ingangsdatum)
    else {
        // Without a product (optional in iJw) or a start, no decision of the dataset.
        return Ok(());
    };
    let beschikkingnummer = match standard {
        Standard::Ijw => number.to_owned(),
        Standard::Iwmo => format!("WMO-{number}"),
    };
    let reden = decision.reden.filter(|_| standard == Standard::Ijw);
    rows.upsert_decision_from_message(&DecisionRow {
        gemeentecode,
        beschikkingnummer: &beschikkingnummer,
        pseudonym: &decision.client,
        agb: &decision.agb,
        productcategorie: categorie,
        productcode: code,
        ingangsdatum,
        einddatum: decision.einddatum,
        reden: reden.as_deref(),
    })
}

/// What one assignment's product or one stop says of a decision.
struct Decided {
    client: String,
    agb: String,
    categorie: Option<String>,
    code: Option<String>,
    ingangsdatum: Option<NaiveDate>,
    einddatum: Option<NaiveDate>,
    reden: Option<String>,
}

impl Decided {
    /// The same, without an end before its start (and its reason), which no decision has.
    fn without_end_before_start(mut self) -> Self {
        if self
            .einddatum
            .is_some_and(|end| self.ingangsdatum.is_none_or(|start| end < start))
        {
            self.einddatum = None;
            self.reden = None;
        }
        self
    }

    /// From the row of an assigned product (`stop` false) or a stopped one.
    fn of(row: &StoredRow, client: String, agb: String, stop: bool) -> Self {
        let text = |name: &str| row.values.get(name).cloned();
        let date = |name: &str| {
            row.values
                .get(name)
                .and_then(|v| NaiveDate::parse_from_str(v, "%Y-%m-%d").ok())
        };
        let start = if stop {
            "ToewijzingIngangsdatum"
        } else {
            "Ingangsdatum"
        };
        Self {
            client,
            agb,
            categorie: text("Product_Categorie"),
            code: text("Product_Code"),
            ingangsdatum: date(start),
            einddatum: date("Einddatum"),
            reden: if stop { text("RedenBeeindiging") } else { None },
        }
    }
}
