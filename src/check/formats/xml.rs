//! XML: `<metingen><meting><zorgaanbiedercode>…</zorgaanbiedercode>…</meting></metingen>`
//! (and `beschikkingen`/`beschikking` alike), read as a stream with quick-xml. Element names
//! are the columns; the root element names the dataset. A DOCTYPE rejects the file, so no
//! entity is ever declared, let alone expanded; nesting is bounded.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use quick_xml::Reader;
use quick_xml::events::{BytesRef, Event};

use super::limited::{Budget, Limited, OVER_BUDGET};
use super::{FileError, Format, Limits, ReadError, Row, Table, XmlColumns};
use crate::message::Message;

/// Root, record, field: anything deeper is not our format.
const MAX_DEPTH: usize = 3;

pub(super) fn open(
    path: &Path,
    limits: Limits,
    columns_for: XmlColumns<'_>,
) -> Result<Table, FileError> {
    let budget = Budget::new(limits.max_line_bytes);
    // Limited counts what quick-xml consumes, so its newline count is the parser's line.
    let file = Limited::new(BufReader::new(File::open(path)?), budget.clone());
    let mut reader = Reader::from_reader(file);
    reader.config_mut().expand_empty_elements = true;
    let mut rows = XmlRows {
        reader,
        buf: Vec::new(),
        budget,
        limits,
        header: Vec::new(),
        count: 0,
        done: false,
    };
    // Up to the root element.
    let root = loop {
        match rows.event()? {
            Event::Start(e) => break e.local_name().as_ref().to_owned(),
            Event::Eof => return Err(FileError::NoHeader),
            _ => {}
        }
    };
    let Some((_record, header)) = columns_for(&root) else {
        return Ok(Table {
            format: Format::Xml,
            header: vec![root.clone()],
            header_line: rows.line(),
            root: Some(root),
            rows: Box::new(std::iter::empty()),
        });
    };
    rows.header = header.clone();
    Ok(Table {
        format: Format::Xml,
        header,
        header_line: rows.line(),
        root: Some(root),
        rows: Box::new(rows),
    })
}

struct XmlRows {
    reader: Reader<Limited<BufReader<File>>>,
    buf: Vec<u8>,
    budget: Budget,
    limits: Limits,
    header: Vec<String>,
    count: u64,
    done: bool,
}

impl XmlRows {
    fn line(&self) -> u64 {
        self.budget.newlines() + 1
    }

    fn event(&mut self) -> Result<Event<'static>, FileError> {
        self.budget.reset();
        self.buf.clear();
        let line = self.line();
        match self.reader.read_event_into(&mut self.buf) {
            Ok(Event::DocType(_)) => Err(FileError::Doctype),
            Ok(event) => Ok(event.into_owned()),
            Err(quick_xml::Error::Io(e)) if e.kind() == OVER_BUDGET => {
                Err(FileError::LineTooLong {
                    line,
                    limit: self.limits.max_line_bytes,
                })
            }
            Err(e) => Err(FileError::Xml {
                line,
                message: e.to_string(),
            }),
        }
    }

    /// Reads one record element (`<meting>…</meting>`) after its start tag.
    fn record(&mut self, line: u64) -> Result<Row, ReadError> {
        let mut fields = vec![String::new(); self.header.len()];
        let mut unknown = Vec::new();
        let mut field: Option<(String, String)> = None;
        let mut depth = 1;
        loop {
            match self.event()? {
                Event::Start(e) => {
                    depth += 1;
                    if depth > MAX_DEPTH - 1 {
                        return Err(self.malformed("elements nested too deep").into());
                    }
                    field = Some((e.local_name().as_ref().to_owned(), String::new()));
                }
                Event::Text(t) => append(&mut field, &t),
                Event::GeneralRef(r) => {
                    let ch = self.reference(&r, depth, line)?;
                    if let Some((_, value)) = field.as_mut() {
                        value.push(ch);
                    }
                }
                Event::CData(c) => append(&mut field, &c),
                Event::End(_) => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                    if let Some((name, value)) = field.take() {
                        self.bounded(&name, &value, depth, line)?;
                        match self
                            .header
                            .iter()
                            .position(|h| h.eq_ignore_ascii_case(&name))
                        {
                            Some(i) => fields[i] = value.trim().to_owned(),
                            None => unknown.push(name),
                        }
                    }
                }
                Event::Eof => {
                    return Err(self.malformed("the file ends inside a record").into());
                }
                _ => {}
            }
        }
        Ok(Row { line, fields })
    }

    /// The file is not XML of our shape here: it cannot be read on.
    fn malformed(&self, message: &str) -> FileError {
        FileError::Xml {
            line: self.line(),
            message: message.into(),
        }
    }

    /// The character a character reference or predefined entity stands for. Any other
    /// entity makes its record (at `line`, open to `depth`) a problem: it is skipped.
    fn reference(&mut self, r: &BytesRef<'_>, depth: usize, line: u64) -> Result<char, ReadError> {
        let name: String = r.as_ref().to_owned();
        Ok(match (name.as_str(), r.resolve_char_ref()) {
            (_, Ok(Some(ch))) => ch,
            ("amp", _) => '&',
            ("lt", _) => '<',
            ("gt", _) => '>',
            ("quot", _) => '"',
            ("apos", _) => '\'',
            _ => {
                // Without a DTD no other entity can exist: never look one up.
                self.skip_record(depth)?;
                return Err(ReadError::Row {
                    line,
                    message: Message::new(
                        format!("onbekende entiteit &{name};"),
                        format!("unknown entity &{name};"),
                    ),
                });
            }
        })
    }

    /// Whether field `<name>`'s `value` is within `max_field_bytes`; if not its record (at
    /// `line`, open to `depth`) is a problem, skipped.
    fn bounded(
        &mut self,
        name: &str,
        value: &str,
        depth: usize,
        line: u64,
    ) -> Result<(), ReadError> {
        if value.len() <= self.limits.max_field_bytes {
            return Ok(());
        }
        self.skip_record(depth)?;
        Err(ReadError::Row {
            line,
            message: Message::new(
                format!(
                    "<{name}> is langer dan {} bytes",
                    self.limits.max_field_bytes
                ),
                format!(
                    "<{name}> is longer than {} bytes",
                    self.limits.max_field_bytes
                ),
            ),
        })
    }
}

/// Adds text to the value of the field being read; text between fields is ignored.
fn append(field: &mut Option<(String, String)>, text: &str) {
    if let Some((_, value)) = field.as_mut() {
        value.push_str(text);
    }
}

impl XmlRows {
    /// Reads past the rest of a record that cannot be used, so that the next one can be.
    fn skip_record(&mut self, mut depth: usize) -> Result<(), FileError> {
        while depth > 0 {
            match self.event()? {
                Event::Start(_) => depth += 1,
                Event::End(_) => depth -= 1,
                Event::Eof => return Err(self.malformed("the file ends inside a record")),
                _ => {}
            }
        }
        Ok(())
    }
}

impl Iterator for XmlRows {
    type Item = Result<Row, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            match self.event() {
                Ok(Event::Start(_)) => {
                    // Counted after the tag was consumed: the line it ends on.
                    let line = self.line();
                    self.count += 1;
                    if self.count > self.limits.max_rows {
                        self.done = true;
                        return Some(Err(FileError::TooManyRows {
                            limit: self.limits.max_rows,
                        }
                        .into()));
                    }
                    let row = self.record(line);
                    if matches!(row, Err(ReadError::File(_))) {
                        self.done = true;
                    }
                    return Some(row);
                }
                Ok(Event::End(_)) | Ok(Event::Eof) => {
                    self.done = true;
                    return None;
                }
                Ok(_) => {}
                Err(e) => {
                    self.done = true;
                    return Some(Err(e.into()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(root: &str) -> Option<(&'static str, Vec<String>)> {
        (root == "metingen").then(|| ("meting", vec!["a".to_owned(), "b".to_owned()]))
    }

    type Read = (Vec<String>, Vec<Result<Row, String>>);

    fn read(content: &str, limits: Limits) -> Result<Read, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.xml");
        std::fs::write(&path, content).unwrap();
        let table = open(&path, limits, &columns).map_err(|e| e.to_string())?;
        Ok((
            table.header,
            table.rows.map(|r| r.map_err(|e| e.to_string())).collect(),
        ))
    }

    #[test]
    fn records_become_rows_with_their_lines() {
        let xml = "<?xml version=\"1.0\"?>\n<metingen>\n  <meting>\n    <b>2 &amp; &#233;</b><a> 1 </a><extra>x</extra>\n  </meting>\n  <meting><a><![CDATA[<3>]]></a></meting>\n</metingen>\n";
        let (header, rows) = read(xml, Limits::default()).unwrap();
        assert_eq!(header, ["a", "b"]);
        let rows: Vec<Row> = rows.into_iter().map(Result::unwrap).collect();
        assert_eq!(
            rows[0],
            Row {
                line: 3,
                fields: vec!["1".into(), "2 & é".into()]
            }
        );
        assert_eq!(
            rows[1],
            Row {
                line: 6,
                fields: vec!["<3>".into(), String::new()]
            }
        );
    }

    #[test]
    fn a_doctype_rejects_the_file_so_no_entity_is_ever_expanded() {
        let laughs = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">]>\n<metingen><meting><a>&lol2;</a></meting></metingen>";
        assert_eq!(
            read(laughs, Limits::default()).unwrap_err(),
            "XML with a DOCTYPE (DTD) is not accepted"
        );
    }

    #[test]
    fn unknown_entities_deep_nesting_and_long_nodes_are_refused() {
        let (_, rows) = read(
            "<metingen><meting><a>&x;</a></meting><meting><a>ok</a></meting></metingen>",
            Limits::default(),
        )
        .unwrap();
        assert!(rows[0].as_ref().unwrap_err().contains("unknown entity &x;"));
        assert_eq!(rows[1].as_ref().unwrap().fields[0], "ok");
        let (_, rows) = read(
            "<metingen><meting><a><b>deep</b></a></meting></metingen>",
            Limits::default(),
        )
        .unwrap();
        assert!(
            rows[0].as_ref().unwrap_err().contains("nested too deep"),
            "{rows:?}"
        );
        let long = format!(
            "<metingen><meting><a>{}</a></meting></metingen>",
            "x".repeat(10_000)
        );
        let limits = Limits {
            max_line_bytes: 1000,
            ..Limits::default()
        };
        let (_, rows) = read(&long, limits).unwrap();
        assert!(
            rows[0]
                .as_ref()
                .unwrap_err()
                .contains("longer than 1000 bytes"),
            "{rows:?}"
        );
    }
}
