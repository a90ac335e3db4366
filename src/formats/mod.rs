//! File formats: CSV, Excel (xlsx, xls, ods) and XML readers that all yield one header and a
//! stream of rows, each with the line (or sheet row) it came from.
//!
//! - `csv`: separator sniffed from the header; UTF-8 with or without BOM, else Windows-1252.
//! - `excel`: the first sheet through calamine; xlsx is streamed cell by cell.
//! - `xml`: quick-xml, streaming; a DOCTYPE rejects the file (no entity expansion, ever).
//! - `limited`: readers that stop a file from growing a line or a node without bound.
//!
//! Readers never interpret values: checking them is `datasets`' work. Every reader is
//! bounded by [`Limits`]; a file that breaks one is refused as a whole ([`FileError`]),
//! while a row that cannot be read is skipped with a [`ReadError::Row`].

mod csv;
mod excel;
mod limited;
mod xml;

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Bounds on what a delivered file may make the reader hold or do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest CSV record or XML node, in bytes.
    pub max_line_bytes: usize,
    /// Longest single value, in bytes.
    pub max_field_bytes: usize,
    /// Most data rows in one file.
    pub max_rows: u64,
    /// Most bytes an xlsx/ods may unpack to (zip-bomb guard); also the most an xls may be.
    pub max_unpacked_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_line_bytes: 64 * 1024,
            max_field_bytes: 4 * 1024,
            max_rows: 5_000_000,
            max_unpacked_bytes: 512 * 1024 * 1024,
        }
    }
}

/// A file format dropgate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
    Xls,
    Ods,
    Xml,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "CSV",
            Self::Xlsx => "Excel (xlsx)",
            Self::Xls => "Excel (xls)",
            Self::Ods => "OpenDocument (ods)",
            Self::Xml => "XML",
        }
    }
}

/// One data row: where it came from and its values, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// 1-based line (CSV, XML) or sheet row (Excel).
    pub line: u64,
    pub fields: Vec<String>,
}

/// Why a whole file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("the file is empty")]
    Empty,
    #[error("the file holds no header row")]
    NoHeader,
    #[error("this is not a text file (it holds NUL bytes) and not an Excel or XML file")]
    Binary,
    #[error("line {line} is longer than {limit} bytes")]
    LineTooLong { line: u64, limit: usize },
    #[error("more than {limit} data rows")]
    TooManyRows { limit: u64 },
    #[error("the file unpacks to more than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("XML with a DOCTYPE (DTD) is not accepted")]
    Doctype,
    #[error("XML, line {line}: {message}")]
    Xml { line: u64, message: String },
    #[error("{format}: {message}")]
    Spreadsheet {
        format: &'static str,
        message: String,
    },
    #[error("cannot read the file: {0}")]
    Io(#[from] io::Error),
}

/// A problem met while reading rows.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// This row cannot be read; the next one can.
    #[error("line {line}: {message}")]
    Row { line: u64, message: String },
    /// The file cannot be read on.
    #[error(transparent)]
    File(#[from] FileError),
}

/// An open file: its format, header, and rows still to read.
pub struct Table {
    pub format: Format,
    /// Column names as written (trimmed), with the line they stood on.
    pub header: Vec<String>,
    pub header_line: u64,
    /// Set for XML, whose root element names the dataset.
    pub root: Option<String>,
    pub rows: Box<dyn Iterator<Item = Result<Row, ReadError>>>,
}

/// Tells the XML reader which columns a root element stands for.
pub type XmlColumns<'a> = &'a dyn Fn(&str) -> Option<(&'static str, Vec<String>)>;

/// Detects the format from the content (never trusting the name) and opens the file.
pub fn open(path: &Path, limits: Limits, xml_columns: XmlColumns<'_>) -> Result<Table, FileError> {
    let format = detect(path)?;
    match format {
        Format::Csv => csv::open(path, limits),
        Format::Xlsx | Format::Xls | Format::Ods => excel::open(path, format, limits),
        Format::Xml => xml::open(path, limits, xml_columns),
    }
}

/// The format, from the first bytes.
pub fn detect(path: &Path) -> Result<Format, FileError> {
    let mut head = Vec::with_capacity(8192);
    File::open(path)?.take(8192).read_to_end(&mut head)?;
    if head.is_empty() {
        return Err(FileError::Empty);
    }
    if head.starts_with(b"PK\x03\x04") {
        return excel::zip_kind(path);
    }
    if head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        return Ok(Format::Xls);
    }
    let text = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&head);
    if text.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<') {
        return Ok(Format::Xml);
    }
    if head.contains(&0) {
        return Err(FileError::Binary);
    }
    Ok(Format::Csv)
}

/// A spreadsheet number as text: whole numbers without a decimal point (an AGB code or a
/// BSN typed into a number cell must read as the digits), others as written.
pub fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_comes_from_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let check = |name: &str, content: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, content).unwrap();
            detect(&path)
        };
        assert!(matches!(check("a.csv", b"a;b\n"), Ok(Format::Csv)));
        assert!(matches!(check("a.xlsx", b"a;b\n"), Ok(Format::Csv)));
        assert!(matches!(
            check("a.csv", b"\xEF\xBB\xBF <metingen/>"),
            Ok(Format::Xml)
        ));
        assert!(matches!(
            check("a.csv", b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1rest"),
            Ok(Format::Xls)
        ));
        assert!(matches!(
            check("a.csv", b"MZ\x90\x00\x03\x00"),
            Err(FileError::Binary)
        ));
        assert!(matches!(check("a.csv", b""), Err(FileError::Empty)));
        assert_eq!(number_text(12345678.0), "12345678");
        assert_eq!(number_text(8.5), "8.5");
        assert_eq!(number_text(-2.0), "-2");
    }
}
