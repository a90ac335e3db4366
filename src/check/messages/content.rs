//! What dropgate keeps of one valid message: its header identity and the values of the
//! allow-list ([`allowlist::TABLES`]), read from libxml2's tree in the confined reader and
//! handed to the parent as a [`Bericht`]. The citizen numbers are still in clear here: the
//! parent replaces them by pseudonyms before anything is stored.

use chrono::NaiveDate;
use libxml::readonly::RoNode;
use serde::{Deserialize, Serialize};

use super::allowlist::{self, Column, Form, Keep};
use super::schemas::{MessageType, Standard};
use super::{Header, child};
use crate::check::datasets::Problem;

/// The most rows (the message's own and its repeating elements') kept of one message: a
/// claim of a thousand clients with ten services each fits.
pub(crate) const MAX_ROWS: usize = 20_000;

/// The longest value kept: the schemas allow at most a few dozen characters where a value
/// is kept at all.
pub(crate) const MAX_VALUE: usize = 256;

/// One message as dropgate keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bericht {
    pub standard: Standard,
    /// The number of its type: 301 for JW301.
    pub number: u16,
    /// Its header. A return message of 302 to 320 repeats the header of the message it
    /// answers (BerichtCode one higher), and names itself in `answer`.
    pub header: Header,
    /// How a return message names itself or the message it answers.
    pub answer: Option<Answer>,
    /// The rows of its tables, in document order per table.
    pub rows: Vec<Row>,
}

/// What a return message says beside its header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Answer {
    /// A return message of 302 to 320: its own `IdentificatieRetour` and
    /// `DagtekeningRetour` (its header repeats the original's identity).
    Retour(String, NaiveDate),
    /// A JW325: the `DeclaratieIdentificatie` of the claim (323) it answers.
    Declaratie(String, NaiveDate),
}

/// One row of one table of the allow-list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The table's index in [`allowlist::TABLES`].
    pub table: u16,
    /// Its values, in the order of the table's columns for the message's type; `None`
    /// where the message has no such element.
    pub values: Vec<Option<String>>,
}

impl Bericht {
    /// Its type.
    pub(crate) fn kind(&self) -> MessageType {
        MessageType {
            standard: self.standard,
            number: self.number,
        }
    }

    /// Whether the message is what the reader may send: a type here; a header whose sender
    /// and receiver are a municipality's code (4 digits, `municipality`'s when given) and a
    /// provider's (8 digits), with identifications of at most 12 characters; and rows that
    /// each name a table of its type and hold one value per column, each of its column's
    /// form. The parent's check of the confined reader.
    pub(crate) fn is_well_formed(&self, municipality: Option<&str>) -> bool {
        let kind = self.kind();
        let h = &self.header;
        let digits = |v: &str, n: usize| v.len() == n && v.bytes().all(|b| b.is_ascii_digit());
        let parties = (digits(&h.afzender, 4) && digits(&h.ontvanger, 8))
            || (digits(&h.afzender, 8) && digits(&h.ontvanger, 4));
        let identification =
            |v: &str| (1..=12).contains(&v.chars().count()) && !v.chars().any(char::is_control);
        let answer = match &self.answer {
            None => !kind.is_return(),
            Some(Answer::Retour(id, _)) => {
                kind.is_return() && kind.number != 325 && identification(id)
            }
            Some(Answer::Declaratie(id, _)) => kind.number == 325 && identification(id),
        };
        if !MessageType::ALL.contains(&kind)
            || !parties
            || municipality.is_some_and(|own| h.gemeente() != Some(own))
            || !identification(&h.identificatie)
            || !answer
            || self.rows.len() > MAX_ROWS
        {
            return false;
        }
        self.rows.iter().all(|row| {
            let Some(table) = allowlist::TABLES.get(usize::from(row.table)) else {
                return false;
            };
            let columns: Vec<&Column> = table.columns_for(kind).collect();
            table.numbers.contains(&kind.number)
                && columns.len() == row.values.len()
                && columns.iter().zip(&row.values).all(|(column, value)| {
                    value.as_deref().is_none_or(|v| has_form(column.keep, v))
                })
        })
    }
}

/// Whether `value`, as the reader sends it, is what a column kept as `keep` can hold.
fn has_form(keep: Keep, value: &str) -> bool {
    let digits = |range: std::ops::RangeInclusive<usize>| {
        range.contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit())
    };
    match keep {
        Keep::Bsn => digits(9..=9),
        Keep::Year | Keep::Postcode4 => digits(4..=4),
        // `xs:integer` may carry leading zeros; the value is at most 999 999 999.
        Keep::Number => digits(1..=24) && value.trim_start_matches('0').len() <= 9,
        Keep::Clear(form) => form.holds(value),
        Keep::Codes => {
            value.split(' ').all(|code| Form::Code.holds(code)) && value.len() <= MAX_VALUE
        }
        Keep::Reference => value.len() <= MAX_VALUE && !value.chars().any(char::is_control),
    }
}

/// The values of the allow-list in the message whose root is `root`.
pub(crate) fn extract(kind: MessageType, header: Header, root: RoNode) -> Result<Bericht, Problem> {
    let mut rows = Vec::new();
    for (index, table) in allowlist::tables_of(kind) {
        let table_index = u16::try_from(index).unwrap_or(u16::MAX);
        for element in descend(root, table.at) {
            if rows.len() == MAX_ROWS {
                return Err(super::problems::too_many_rows(MAX_ROWS));
            }
            let values = table
                .columns_for(kind)
                .map(|column| value(element, column))
                .collect();
            rows.push(Row {
                table: table_index,
                values,
            });
        }
    }
    Ok(Bericht {
        standard: kind.standard,
        number: kind.number,
        answer: answer(kind, root),
        header,
        rows,
    })
}

/// The elements at `path` (local names joined by `/`) below `from`; `from` itself for an
/// empty path.
fn descend(from: RoNode, path: &str) -> Vec<RoNode> {
    let mut nodes = vec![from];
    for step in path.split('/').filter(|s| !s.is_empty()) {
        nodes = nodes
            .into_iter()
            .flat_map(|node| -> Vec<RoNode> {
                if step == ".." {
                    node.get_parent().into_iter().collect()
                } else {
                    node.get_child_elements()
                        .into_iter()
                        .filter(|c| c.get_name() == step)
                        .collect()
                }
            })
            .collect();
    }
    nodes
}

/// The value `column` keeps of the element `at`, or `None` if it is not there.
fn value(at: RoNode, column: &Column) -> Option<String> {
    let found = descend(at, column.path);
    let text = |node: &RoNode| {
        let content = node.get_content();
        let trimmed = content.trim();
        // A schema-valid value is far shorter; a cut is never needed, but stays bounded.
        let end = trimmed
            .char_indices()
            .nth(MAX_VALUE)
            .map_or(trimmed.len(), |(i, _)| i);
        trimmed[..end].to_owned()
    };
    let first = found.first().map(text).filter(|v| !v.is_empty());
    match column.keep {
        // `xs:integer` allows a sign: `+5` is 5.
        Keep::Number => first.map(|v| v.strip_prefix('+').map_or(v.clone(), str::to_owned)),
        Keep::Clear(_) | Keep::Reference | Keep::Bsn => first,
        Keep::Codes => {
            let codes: Vec<String> = found.iter().map(text).filter(|v| !v.is_empty()).collect();
            let joined = codes.join(" ");
            (!joined.is_empty() && joined.len() <= MAX_VALUE).then_some(joined)
        }
        Keep::Year => first.and_then(|date| date.get(..4).map(str::to_owned)),
        Keep::Postcode4 => first.and_then(|postcode| postcode.get(..4).map(str::to_owned)),
    }
    .filter(|v| has_form(column.keep, v))
}

/// How a return message names itself (302 to 320) or the claim it answers (325).
fn answer(kind: MessageType, root: RoNode) -> Option<Answer> {
    if !kind.is_return() {
        return None;
    }
    let header = child(root, "Header")?;
    let text = |node: Option<RoNode>| node.map(|n| n.get_content().trim().to_owned());
    let (identificatie, dagtekening) = if kind.number == 325 {
        let of = child(header, "DeclaratieIdentificatie")?;
        (
            text(child(of, "Identificatie"))?,
            text(child(of, "Dagtekening"))?,
        )
    } else {
        (
            text(child(header, "IdentificatieRetour"))?,
            text(child(header, "DagtekeningRetour"))?,
        )
    };
    let dagtekening = NaiveDate::parse_from_str(&dagtekening, "%Y-%m-%d").ok()?;
    Some(if kind.number == 325 {
        Answer::Declaratie(identificatie, dagtekening)
    } else {
        Answer::Retour(identificatie, dagtekening)
    })
}
