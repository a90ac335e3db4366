//! iJw and iWmo 3.2 messages (issue 15, DESIGN 10): whether an XML file is one, of which
//! type, whether it conforms to its published schema, and its header identity.
//!
//! [`read`] takes the bytes of one file. Recognition looks only at the root element, read
//! by quick-xml before libxml2 sees anything: a root `Bericht` in the namespace of an iJw or
//! iWmo 3.2 message type (`http://www.istandaarden.nl/ijw/3_2/jw301/schema`) is a message
//! of that type; a file whose root is in no iStandaarden namespace is [`Reading::NotAMessage`]
//! (the dataset readers take it, so `<metingen>` files work as before); a root in an
//! iStandaarden namespace of another release or of a type without a schema here is a
//! problem. A `DOCTYPE` is refused there too, unparsed. A message is then parsed by libxml2
//! (no recovery, no network, nesting bounded at 256) and validated against its embedded
//! XSD (`schemas`, through `engine`), and its header is read: `BerichtCode`, `Afzender`,
//! `Ontvanger` and `BerichtIdentificatie` (`Identificatie`, `Dagtekening`).
//!
//! Every problem is a `datasets::Problem` whose column is the element path, with a rule of
//! `datasets::rules` (`message.*`) and a Dutch and English text (`problems`), every value
//! from the file redacted.

pub mod allowlist;
pub mod content;
pub(crate) mod delivery;
pub(crate) mod engine;
pub(crate) mod problems;
pub mod schemas;

use chrono::NaiveDate;
use libxml::readonly::RoNode;
use libxml::tree::Document;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

use crate::check::datasets::Problem;
pub(crate) use engine::EngineError;
pub(crate) use schemas::MessageType;

/// What a file is, read as a message.
pub(crate) enum Reading {
    /// Not an iJw or iWmo message: its root is in no iStandaarden namespace (or it is no
    /// XML this reader can make out); the dataset readers decide what it is.
    NotAMessage,
    /// A message that conforms to its schema.
    Valid(Valid),
    /// A message, or an attempt at one, that cannot be used.
    Invalid(Invalid),
}

/// A message that conforms to its schema.
pub(crate) struct Valid {
    pub(crate) kind: MessageType,
    pub(crate) header: Header,
    /// The parsed message, for reading its content (libxml2's tree: not `Send`).
    pub(crate) document: Document,
}

/// A message that cannot be used, and why.
#[derive(Debug)]
pub(crate) struct Invalid {
    /// Its type, when its namespace named one here.
    pub(crate) kind: Option<MessageType>,
    /// Its header, when the document could be parsed and the header read (whatever else is
    /// wrong), so that a receipt can name the message.
    pub(crate) header: Option<Header>,
    /// What is wrong, in document order: at most `MAX_PROBLEMS` and one line that says how
    /// many more there were.
    pub(crate) problems: Vec<Problem>,
}

/// The most problems of one message reported one by one.
#[cfg(test)]
pub(crate) const MAX_PROBLEMS: usize = engine::MAX_KEPT;

/// The identity of a message, from its header.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Header {
    /// `BerichtCode`: 436 for JW301 (fixed per type by the schema).
    pub berichtcode: u16,
    /// `Afzender`: a municipality's CBS code (4 digits) or a provider's AGB code (8),
    /// depending on the direction of the message type.
    pub afzender: String,
    /// `Ontvanger`: the other side.
    pub ontvanger: String,
    /// `BerichtIdentificatie/Identificatie`: the sender's name for the message (1 to 12
    /// characters).
    pub identificatie: String,
    /// `BerichtIdentificatie/Dagtekening`: the day it was sent.
    pub dagtekening: NaiveDate,
}

impl Header {
    /// The municipality's CBS code: whichever of sender and receiver has four digits.
    pub(crate) fn gemeente(&self) -> Option<&str> {
        [&self.afzender, &self.ontvanger]
            .into_iter()
            .find(|c| c.len() == 4 && c.bytes().all(|b| b.is_ascii_digit()))
            .map(String::as_str)
    }
}

/// Reads `bytes` as a message, refusing one over `max_bytes` (the size is looked at only
/// once the root says it is a message). An `Err` is libxml2 failing (out of memory, say):
/// not the file's fault.
pub(crate) fn read(bytes: &[u8], max_bytes: usize) -> Result<Reading, EngineError> {
    let kind = match recognise(bytes) {
        Root::Other => return Ok(Reading::NotAMessage),
        Root::Doctype { line } => return Ok(invalid(None, vec![problems::doctype(line)])),
        Root::Unknown { namespace, name } => {
            return Ok(invalid(None, vec![problems::namespace(&namespace, &name)]));
        }
        Root::Message(kind) => kind,
    };
    if bytes.len() > max_bytes {
        return Ok(invalid(Some(kind), vec![problems::too_large(max_bytes)]));
    }
    let document = match engine::parse(bytes)? {
        Ok(document) => document,
        Err(reports) => {
            return Ok(invalid(Some(kind), problems::not_well_formed(&reports)));
        }
    };
    // The root was read before libxml2 parsed the file; both must agree, and nothing may
    // have slipped a document type past that first look.
    if engine::has_doctype(&document) {
        return Ok(invalid(Some(kind), vec![problems::doctype(0)]));
    }
    let root = document.get_root_readonly();
    if root.map(qualified_name) != Some((kind.namespace(), "Bericht".to_owned())) {
        let (namespace, name) = root.map(qualified_name).unwrap_or_default();
        return Ok(invalid(
            Some(kind),
            vec![problems::namespace(&namespace, &name)],
        ));
    }
    let reports = engine::validate(kind, &document)?;
    if !reports.kept.is_empty() {
        return Ok(Reading::Invalid(Invalid {
            kind: Some(kind),
            header: root.and_then(|root| header(root).ok()),
            problems: problems::schema(&reports),
        }));
    }
    match root.map(header) {
        Some(Ok(header)) => Ok(Reading::Valid(Valid {
            kind,
            header,
            document,
        })),
        Some(Err(problem)) => Ok(invalid(Some(kind), vec![problem])),
        None => Ok(invalid(Some(kind), vec![problems::namespace("", "")])),
    }
}

fn invalid(kind: Option<MessageType>, problems: Vec<Problem>) -> Reading {
    Reading::Invalid(Invalid {
        kind,
        header: None,
        problems,
    })
}

/// What the root element says a file is.
#[derive(Debug, PartialEq, Eq)]
enum Root {
    /// A `Bericht` in the namespace of a message type here.
    Message(MessageType),
    /// In an iStandaarden namespace, but no message type here: another release, another
    /// type, or not the element `Bericht`.
    Unknown { namespace: String, name: String },
    /// A document type declaration before the root (on this line).
    Doctype { line: u64 },
    /// Anything else: no message.
    Other,
}

/// Reads the prolog and the root's start tag (nothing further), without expanding or
/// loading anything.
fn recognise(bytes: &[u8]) -> Root {
    let mut reader = quick_xml::reader::NsReader::from_reader(bytes);
    loop {
        let before = usize::try_from(reader.buffer_position()).unwrap_or(bytes.len());
        let (namespace, event) = match reader.read_resolved_event() {
            Ok(read) => read,
            Err(_) => return Root::Other,
        };
        match event {
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::Text(t) if t.chars().all(|c| c.is_ascii_whitespace()) => {}
            Event::DocType(_) => {
                return Root::Doctype {
                    line: line_at(bytes, before),
                };
            }
            Event::Start(e) | Event::Empty(e) => {
                let ResolveResult::Bound(ns) = namespace else {
                    return Root::Other;
                };
                let namespace: &str = ns.as_ref();
                let namespace = namespace.to_owned();
                let local = e.local_name();
                let name: &str = local.as_ref();
                let name = name.to_owned();
                if !namespace.starts_with(schemas::NAMESPACE_ROOT) {
                    return Root::Other;
                }
                return match MessageType::by_namespace(&namespace) {
                    Some(kind) if name == "Bericht" => Root::Message(kind),
                    _ => Root::Unknown { namespace, name },
                };
            }
            _ => return Root::Other,
        }
    }
}

/// The line (from 1) of byte `at`.
fn line_at(bytes: &[u8], at: usize) -> u64 {
    let lines = bytes[..at.min(bytes.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count();
    u64::try_from(lines).unwrap_or(u64::MAX).saturating_add(1)
}

/// An element's namespace and local name.
fn qualified_name(node: RoNode) -> (String, String) {
    let namespace = node.get_namespace().map(|ns| ns.get_href());
    (namespace.unwrap_or_default(), node.get_name())
}

/// The first child element of `node` with this local name.
fn child(node: RoNode, name: &str) -> Option<RoNode> {
    node.get_child_elements()
        .into_iter()
        .find(|c| c.get_name() == name)
}

/// The header of the message whose root is `root` (validated, or read at one's own risk).
fn header(root: RoNode) -> Result<Header, Problem> {
    let header = child(root, "Header");
    let text = |path: &[&str]| -> Option<String> {
        let mut node = header?;
        for name in path {
            node = child(node, name)?;
        }
        Some(node.get_content().trim().to_owned())
    };
    let missing = |what: &str| problems::header(what, None);
    let berichtcode = text(&["BerichtCode"]).ok_or_else(|| missing("BerichtCode"))?;
    let berichtcode = berichtcode
        .parse::<u16>()
        .map_err(|_| problems::header("BerichtCode", Some(&berichtcode)))?;
    let afzender = text(&["Afzender"]).ok_or_else(|| missing("Afzender"))?;
    let ontvanger = text(&["Ontvanger"]).ok_or_else(|| missing("Ontvanger"))?;
    let identificatie = text(&["BerichtIdentificatie", "Identificatie"])
        .ok_or_else(|| missing("BerichtIdentificatie/Identificatie"))?;
    let dagtekening = text(&["BerichtIdentificatie", "Dagtekening"])
        .ok_or_else(|| missing("BerichtIdentificatie/Dagtekening"))?;
    let dagtekening = NaiveDate::parse_from_str(&dagtekening, "%Y-%m-%d")
        .map_err(|_| problems::header("BerichtIdentificatie/Dagtekening", Some(&dagtekening)))?;
    Ok(Header {
        berichtcode,
        afzender,
        ontvanger,
        identificatie,
        dagtekening,
    })
}

#[cfg(test)]
mod tests;
