//! File formats: CSV, Excel (xlsx, xls, ods) and XML readers that all yield one header and a
//! stream of rows, each with the line (or sheet row) it came from.
//!
//! - `csv`: separator sniffed from the header; UTF-8 with or without BOM, else Windows-1252.
//! - `excel`: the first sheet through calamine; xlsx is streamed cell by cell.
//! - `xml`: quick-xml, streaming; a DOCTYPE rejects the file (no entity expansion, ever).
//! - `limited`: readers that stop a file from growing a line or a node without bound.
//! - `bombs` (with `cfb` for xls): cheap checks that refuse spreadsheet bombs before
//!   calamine reads a workbook.
//!
//! Readers never interpret values: checking them is `datasets`' work. Every reader is
//! bounded by [`Limits`]; a file that breaks one is refused as a whole ([`FileError`]),
//! while a row that cannot be read is skipped with a [`ReadError::Row`].

mod bombs;
mod cfb;
mod csv;
mod excel;
mod limited;
#[cfg(test)]
pub(crate) mod testfiles;
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
    /// Not a table at all: `kind` names what it is ("a PDF document").
    #[error("the file is {kind}, not a table: please deliver CSV, XLSX or XML in UTF-8")]
    Binary { kind: &'static str },
    #[error("the file holds a header but no data rows")]
    NoDataRows,
    /// A spreadsheet whose declared sizes would make the reader allocate without bound,
    /// refused before the spreadsheet library sees it.
    #[error("the spreadsheet is refused unread: {what}")]
    SpreadsheetBomb { what: String },
    #[error("line {line} is longer than {limit} bytes")]
    LineTooLong { line: u64, limit: usize },
    #[error("more than {limit} data rows")]
    TooManyRows { limit: u64 },
    #[error("the file unpacks to more than {}", size_text(*limit))]
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
    /// A zip of iJw/iWmo messages that cannot be read as a zip at all.
    #[error("the zip cannot be read: {0}")]
    Zip(String),
    #[error("cannot read the file: {0}")]
    Io(#[from] io::Error),
}

/// A problem met while reading rows.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// This row cannot be read; the next one can.
    #[error("line {line}: {message}")]
    Row {
        line: u64,
        message: crate::message::Message,
    },
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
pub(crate) type XmlColumns<'a> = &'a dyn Fn(&str) -> Option<(&'static str, Vec<String>)>;

/// Detects the format from the content (never trusting the name) and opens the file.
pub fn open(path: &Path, limits: Limits, xml_columns: XmlColumns<'_>) -> Result<Table, FileError> {
    let format = detect(path)?;
    match format {
        Format::Csv => csv::open(path, limits),
        Format::Xlsx | Format::Xls | Format::Ods => excel::open(path, format, limits),
        Format::Xml => xml::open(path, limits, xml_columns),
    }
}

/// For a workbook: the first non-empty row of each sheet after the first (a bounded number
/// of sheets, each only its first rows), to tell a deliverer whose first sheet holds no known
/// header which sheet does. Empty for other formats, and when the workbook cannot be read:
/// this only adds to a message.
pub(crate) fn other_sheet_headers(path: &Path, limits: Limits) -> Vec<(String, Vec<String>)> {
    match detect(path) {
        Ok(format @ (Format::Xlsx | Format::Xls | Format::Ods)) => {
            excel::other_sheet_headers(path, format, limits).unwrap_or_default()
        }
        _ => Vec::new(),
    }
}

/// The format, from the first bytes. A byte order mark comes first (UTF-16 text holds NUL
/// bytes), then the signatures of workbooks and of the files people send by mistake.
pub fn detect(path: &Path) -> Result<Format, FileError> {
    let mut head = Vec::with_capacity(HEAD);
    File::open(path)?.take(HEAD as u64).read_to_end(&mut head)?;
    if head.is_empty() {
        return Err(FileError::Empty);
    }
    if head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF") {
        return Ok(Format::Csv);
    }
    if head.starts_with(b"PK\x03\x04") {
        return excel::zip_kind(path);
    }
    if head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        return Ok(Format::Xls);
    }
    if let Some(kind) = binary_kind(&head) {
        return Err(FileError::Binary { kind });
    }
    let text = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&head);
    if text.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<') {
        return Ok(Format::Xml);
    }
    if looks_binary(&head) {
        return Err(FileError::Binary {
            kind: "a binary file of unknown kind",
        });
    }
    Ok(Format::Csv)
}

/// How much of a file [`detect`] looks at.
const HEAD: usize = 8192;

/// What a file is, by its signature, if it is a kind that is never a delivery.
fn binary_kind(head: &[u8]) -> Option<&'static str> {
    const SIGNATURES: &[(&[u8], &str)] = &[
        (b"\x1F\x8B", "a gzip archive"),
        (b"%PDF", "a PDF document"),
        (b"\x89PNG\r\n\x1A\n", "a PNG image"),
        (b"\xFF\xD8\xFF", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"7z\xBC\xAF\x27\x1C", "a 7-Zip archive"),
        (b"Rar!\x1A\x07", "a RAR archive"),
        (b"\xFD7zXZ\x00", "an xz archive"),
        (b"\x7FELF", "a program (ELF executable)"),
    ];
    if let Some((_, kind)) = SIGNATURES.iter().find(|(sig, _)| head.starts_with(sig)) {
        return Some(kind);
    }
    // "BZh" and "MZ" are also how a text may start: only with what follows them are they
    // a bzip2 stream or a Windows program.
    if let [b'B', b'Z', b'h', b'1'..=b'9', rest @ ..] = head {
        if rest.starts_with(b"\x31\x41\x59\x26\x53\x59")
            || rest.starts_with(b"\x17\x72\x45\x38\x50\x90")
        {
            return Some("a bzip2 archive");
        }
    }
    if head.starts_with(b"MZ") && head.contains(&0) {
        return Some("a Windows program (EXE or DLL)");
    }
    None
}

/// Whether a head of unknown kind is binary: many NUL bytes (one stray NUL in a text is a
/// problem of its row, not a reason to refuse the file).
fn looks_binary(head: &[u8]) -> bool {
    let nuls = head.iter().filter(|b| **b == 0).count();
    nuls >= 8 && nuls * 32 > head.len()
}

/// A size as people read it, and as redaction leaves it (never eight digits in a row).
pub(crate) fn size_text(bytes: u64) -> String {
    const MIB: u64 = 1 << 20;
    match bytes {
        b if b >= MIB && b % MIB == 0 => format!("{} MiB", b / MIB),
        b if b >= MIB => format!("{:.1} MiB", b as f64 / MIB as f64),
        b => format!("{b} bytes"),
    }
}

/// A spreadsheet number as text: whole numbers without a decimal point (an AGB code or a
/// BSN typed into a number cell must read as the digits), others as written.
pub(crate) fn number_text(n: f64) -> String {
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
            Err(FileError::Binary { .. })
        ));
        assert!(matches!(check("a.csv", b""), Err(FileError::Empty)));
        assert_eq!(number_text(12345678.0), "12345678");
        assert_eq!(number_text(8.5), "8.5");
        assert_eq!(number_text(-2.0), "-2");
    }

    fn detect_bytes(content: &[u8]) -> Result<Format, FileError> {
        let dir = tempfile::tempdir().unwrap();
        detect(&testfiles::write(dir.path(), "f", content))
    }

    #[test]
    fn a_utf16_bom_is_text_though_it_holds_nuls() {
        let le: Vec<u8> = b"\xFF\xFE"
            .iter()
            .copied()
            .chain("a\tb\r\n".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let be: Vec<u8> = b"\xFE\xFF"
            .iter()
            .copied()
            .chain("a\tb\r\n".encode_utf16().flat_map(u16::to_be_bytes))
            .collect();
        assert!(matches!(detect_bytes(&le), Ok(Format::Csv)));
        assert!(matches!(detect_bytes(&be), Ok(Format::Csv)));
    }

    #[test]
    fn binary_files_are_named_and_told_what_to_send() {
        let cases: &[(&[u8], &str)] = &[
            (b"\x1F\x8B\x08\x00rest", "a gzip archive"),
            (b"%PDF-1.7\n", "a PDF document"),
            (b"\x89PNG\r\n\x1A\n\x00\x00", "a PNG image"),
            (b"\xFF\xD8\xFF\xE0\x00\x10JFIF", "a JPEG image"),
            (b"7z\xBC\xAF\x27\x1C\x00\x04", "a 7-Zip archive"),
            (b"Rar!\x1A\x07\x01\x00", "a RAR archive"),
            (b"BZh91AY&SY\x00", "a bzip2 archive"),
            (b"\xFD7zXZ\x00\x00", "an xz archive"),
            (b"\x7FELF\x02\x01\x01", "a program (ELF executable)"),
            (b"MZ\x90\x00\x03\x00", "a Windows program (EXE or DLL)"),
            (
                &[0u8, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 9, 9],
                "a binary file of unknown kind",
            ),
        ];
        for (content, kind) in cases {
            match detect_bytes(content) {
                Err(e @ FileError::Binary { .. }) => {
                    let message = e.to_string();
                    assert!(message.contains(kind), "{message}");
                    assert!(message.contains("CSV, XLSX or XML in UTF-8"), "{message}");
                }
                other => panic!("{kind}: {other:?}"),
            }
        }
        // Text that merely starts like a signature stays text.
        assert!(matches!(detect_bytes(b"BZh;MZ\n1;2\n"), Ok(Format::Csv)));
        assert!(matches!(detect_bytes(b"MZ;b\n1;2\n"), Ok(Format::Csv)));
        let dir = tempfile::tempdir().unwrap();
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        zip.start_file("notes.txt", zip::write::SimpleFileOptions::default())
            .unwrap();
        std::io::Write::write_all(&mut zip, b"hello").unwrap();
        let path = testfiles::write(dir.path(), "f.zip", &zip.finish().unwrap().into_inner());
        assert!(
            matches!(detect(&path), Err(FileError::Binary { kind }) if kind.contains("zip archive")),
        );
    }

    #[test]
    fn a_stray_nul_leaves_a_text_a_text() {
        assert!(matches!(
            detect_bytes(b"a;b\n1;\x002\n3;4\n"),
            Ok(Format::Csv)
        ));
        let mut many = b"a;b\n".to_vec();
        many.extend(std::iter::repeat_n(0u8, 200));
        assert!(matches!(detect_bytes(&many), Err(FileError::Binary { .. })));
    }
}
