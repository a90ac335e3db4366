//! CSV: separator `;`, `,`, tab or `|`, sniffed from the header line or named by Excel's
//! `sep=;` first line; quotes and CRLF per RFC 4180 (the `csv` crate), also lone CR line
//! ends. A file that starts with a UTF-8 BOM is UTF-8, and a row with an invalid byte
//! sequence is rejected on its own; one with a UTF-16 BOM (Excel's "Unicode text") is
//! transcoded as it is read; without a BOM, a file that is valid UTF-8 throughout is read as
//! such, and any other as Windows-1252 (`encoding_rs`). Rows of only separators and
//! whitespace are skipped; a NUL byte in a value rejects its row.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use csv::ByteRecord;
use encoding_rs::{CoderResult, Decoder, UTF_16BE, UTF_16LE};

use super::limited::{Budget, Limited, OVER_BUDGET};
use super::{FileError, Format, Limits, ReadError, Row, Table};
use crate::message::Message;

const BOM: &[u8] = b"\xEF\xBB\xBF";
const UTF16LE_BOM: &[u8] = b"\xFF\xFE";
const UTF16BE_BOM: &[u8] = b"\xFE\xFF";

/// The separators a delivery may use, `;` first: it wins ties, being the Dutch spreadsheet
/// default.
const SEPARATORS: [u8; 4] = [b';', b'\t', b'|', b','];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    /// BOM present: UTF-8, and a bad sequence is the row's fault.
    Utf8Declared,
    /// No BOM, and the whole file is valid UTF-8.
    Utf8,
    Windows1252,
    /// Excel's "Unicode text": UTF-16 with a BOM, transcoded to UTF-8 as it is read.
    Utf16(&'static encoding_rs::Encoding),
}

pub(super) fn open(path: &Path, limits: Limits) -> Result<Table, FileError> {
    let (encoding, bom_len) = encoding_of(path)?;
    let first = first_line(decoded(path, encoding, bom_len)?, limits.max_line_bytes)?;
    let (separator, sep_line) = match sep_directive(&first) {
        Some(separator) => (separator, true),
        None => (sniff_separator(&first), false),
    };
    let budget = Budget::new(limits.max_line_bytes);
    let csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(separator)
        .from_reader(Limited::new(
            decoded(path, encoding, bom_len)?,
            budget.clone(),
        ));
    let mut rows = CsvRows {
        csv,
        record: ByteRecord::new(),
        budget,
        encoding,
        limits,
        count: 0,
    };
    if sep_line {
        rows.skip_record()?;
    }
    let (header_line, header) = match rows.next_record() {
        None => return Err(FileError::NoHeader),
        Some(Err(ReadError::File(e))) => return Err(e),
        Some(Err(ReadError::Row { line, message })) => {
            return Err(FileError::Spreadsheet {
                format: "CSV header",
                message: format!("line {line}: {message}"),
            });
        }
        Some(Ok(row)) => (row.line, row.fields),
    };
    Ok(Table {
        format: Format::Csv,
        header: header.into_iter().map(|h| h.trim().to_owned()).collect(),
        header_line,
        root: None,
        rows: Box::new(rows),
    })
}

/// The encoding, from the byte order mark or (without one) a scan of the whole file, and
/// the length of the mark.
fn encoding_of(path: &Path) -> Result<(Encoding, usize), FileError> {
    let mut start = [0u8; 3];
    let n = read_up_to(&mut File::open(path)?, &mut start)?;
    let start = &start[..n];
    Ok(if start == BOM {
        (Encoding::Utf8Declared, BOM.len())
    } else if start.starts_with(UTF16LE_BOM) {
        (Encoding::Utf16(UTF_16LE), 2)
    } else if start.starts_with(UTF16BE_BOM) {
        (Encoding::Utf16(UTF_16BE), 2)
    } else if is_utf8(File::open(path)?)? {
        (Encoding::Utf8, 0)
    } else {
        (Encoding::Windows1252, 0)
    })
}

/// The file after its byte order mark, as UTF-8 if it is UTF-16 (else as it is: the
/// separators and quotes are ASCII in both UTF-8 and Windows-1252).
fn decoded(path: &Path, encoding: Encoding, bom_len: usize) -> io::Result<Box<dyn Read>> {
    let mut file = File::open(path)?;
    io::copy(&mut (&mut file).take(bom_len as u64), &mut io::sink())?;
    Ok(match encoding {
        Encoding::Utf16(encoding) => Box::new(Transcoded::new(
            file,
            encoding.new_decoder_without_bom_handling(),
        )),
        _ => Box::new(file),
    })
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            m => n += m,
        }
    }
    Ok(n)
}

/// Whether the whole stream is valid UTF-8, read in chunks (never whole).
fn is_utf8(mut reader: impl Read) -> io::Result<bool> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut carry = 0;
    loop {
        let n = reader.read(&mut buf[carry..])?;
        if n == 0 {
            return Ok(carry == 0);
        }
        let filled = carry + n;
        match std::str::from_utf8(&buf[..filled]) {
            Ok(_) => carry = 0,
            // An incomplete sequence at the end of the chunk: keep it for the next one.
            Err(e) if e.error_len().is_none() => {
                let valid = e.valid_up_to();
                buf.copy_within(valid..filled, 0);
                carry = filled - valid;
            }
            Err(_) => return Ok(false),
        }
    }
}

/// A reader's first line (up to a `\r` or `\n`), at most `limit` bytes of it.
fn first_line(reader: impl Read, limit: usize) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    for byte in BufReader::new(reader.take(limit as u64)).bytes() {
        match byte? {
            b'\r' | b'\n' => break,
            b => line.push(b),
        }
    }
    Ok(line)
}

/// The separator Excel's `sep=;` first line names (also `sep=,`, `sep=|`, and `sep=` with a
/// tab or a written `\t`).
fn sep_directive(line: &[u8]) -> Option<u8> {
    let (key, value) = line.split_at_checked(4)?;
    if !key.eq_ignore_ascii_case(b"sep=") {
        return None;
    }
    match value {
        [sep] if SEPARATORS.contains(sep) => Some(*sep),
        b"\\t" => Some(b'\t'),
        _ => None,
    }
}

/// The separator that occurs most in the header line, outside quotes.
fn sniff_separator(line: &[u8]) -> u8 {
    let mut counts = [0usize; 4];
    let mut quoted = false;
    for &b in line {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted {
            if let Some(i) = SEPARATORS.iter().position(|&c| c == b) {
                counts[i] += 1;
            }
        }
    }
    let best = (0..4)
        .max_by_key(|&i| (counts[i], std::cmp::Reverse(i)))
        .unwrap_or(0);
    if counts[best] == 0 {
        b';'
    } else {
        SEPARATORS[best]
    }
}

/// A UTF-16 stream as UTF-8, decoded a chunk at a time (a file can be a gigabyte). A bad
/// sequence becomes U+FFFD, which no rule accepts, so its row is rejected, not the file.
struct Transcoded<R> {
    inner: R,
    decoder: Decoder,
    input: Box<[u8]>,
    start: usize,
    end: usize,
    output: Box<[u8]>,
    out_start: usize,
    out_end: usize,
    eof: bool,
    done: bool,
}

impl<R: Read> Transcoded<R> {
    fn new(inner: R, decoder: Decoder) -> Self {
        Self {
            inner,
            decoder,
            input: vec![0; 8 * 1024].into_boxed_slice(),
            start: 0,
            end: 0,
            output: vec![0; 16 * 1024].into_boxed_slice(),
            out_start: 0,
            out_end: 0,
            eof: false,
            done: false,
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        if self.start == self.end && !self.eof {
            self.start = 0;
            self.end = self.inner.read(&mut self.input)?;
            self.eof = self.end == 0;
        }
        let (result, read, written, _) = self.decoder.decode_to_utf8(
            &self.input[self.start..self.end],
            &mut self.output,
            self.eof,
        );
        self.start += read;
        self.out_start = 0;
        self.out_end = written;
        if self.eof && result == CoderResult::InputEmpty {
            self.done = true;
        }
        Ok(())
    }
}

impl<R: Read> Read for Transcoded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.out_start == self.out_end {
            if self.done {
                return Ok(0);
            }
            self.fill()?;
        }
        let n = buf.len().min(self.out_end - self.out_start);
        buf[..n].copy_from_slice(&self.output[self.out_start..self.out_start + n]);
        self.out_start += n;
        Ok(n)
    }
}

struct CsvRows {
    csv: csv::Reader<Limited<Box<dyn Read>>>,
    record: ByteRecord,
    budget: Budget,
    encoding: Encoding,
    limits: Limits,
    count: u64,
}

impl CsvRows {
    fn next_record(&mut self) -> Option<Result<Row, ReadError>> {
        loop {
            self.budget.reset();
            match self.csv.read_byte_record(&mut self.record) {
                Ok(false) => return None,
                Ok(true) => {}
                Err(e) => return Some(Err(self.file_error(e).into())),
            }
            // csv's own line count goes astray after CRLF and lone CRs; the byte offset
            // does not, once the line ends csv skipped at it are passed.
            let offset = self.record.position().map_or(0, |p| p.byte());
            let line = self.budget.line_of_record(offset);
            // Empty lines, and Excel's rows of only separators (`;;;;`), hold no row.
            if self
                .record
                .iter()
                .all(|field| field.iter().all(u8::is_ascii_whitespace))
            {
                continue;
            }
            if self.record.as_slice().len() + self.record.len() > self.limits.max_line_bytes {
                return Some(Err(FileError::LineTooLong {
                    line,
                    limit: self.limits.max_line_bytes,
                }
                .into()));
            }
            let row = self.decode(line);
            if matches!(&row, Ok(row) if row.fields.iter().all(|f| f.trim().is_empty())) {
                continue;
            }
            return Some(row);
        }
    }

    /// Reads past one record (the `sep=;` line), whatever it holds.
    fn skip_record(&mut self) -> Result<(), FileError> {
        self.budget.reset();
        match self.csv.read_byte_record(&mut self.record) {
            Ok(_) => Ok(()),
            Err(e) => Err(self.file_error(e)),
        }
    }

    fn file_error(&self, e: csv::Error) -> FileError {
        match e.into_kind() {
            csv::ErrorKind::Io(io) if io.kind() == OVER_BUDGET => FileError::LineTooLong {
                line: self.budget.line_at(self.csv.position().byte()),
                limit: self.limits.max_line_bytes,
            },
            csv::ErrorKind::Io(io) => FileError::Io(io),
            other => FileError::Io(io::Error::other(format!("{other:?}"))),
        }
    }

    fn decode(&self, line: u64) -> Result<Row, ReadError> {
        let mut fields = Vec::with_capacity(self.record.len());
        for (i, raw) in self.record.iter().enumerate() {
            if raw.len() > self.limits.max_field_bytes {
                return Err(ReadError::Row {
                    line,
                    message: Message::new(
                        format!(
                            "waarde {} is langer dan {} bytes",
                            i + 1,
                            self.limits.max_field_bytes
                        ),
                        format!(
                            "value {} is longer than {} bytes",
                            i + 1,
                            self.limits.max_field_bytes
                        ),
                    ),
                });
            }
            if raw.contains(&0) {
                return Err(ReadError::Row {
                    line,
                    message: Message::new(
                        format!("waarde {} bevat een NUL-byte", i + 1),
                        format!("value {} holds a NUL byte", i + 1),
                    ),
                });
            }
            let text = match self.encoding {
                Encoding::Windows1252 => encoding_rs::WINDOWS_1252
                    .decode_without_bom_handling(raw)
                    .0
                    .into_owned(),
                Encoding::Utf8 | Encoding::Utf8Declared | Encoding::Utf16(_) => {
                    match std::str::from_utf8(raw) {
                        Ok(text) => text.to_owned(),
                        Err(_) => {
                            return Err(ReadError::Row {
                                line,
                                message: Message::new(
                                    format!(
                                        "waarde {} is geen geldige UTF-8 (het bestand begint met een UTF-8-BOM)",
                                        i + 1
                                    ),
                                    format!(
                                        "value {} is not valid UTF-8 (the file starts with a UTF-8 byte order mark)",
                                        i + 1
                                    ),
                                ),
                            });
                        }
                    }
                }
            };
            fields.push(text);
        }
        Ok(Row { line, fields })
    }
}

impl Iterator for CsvRows {
    type Item = Result<Row, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        let row = self.next_record()?;
        if row.is_ok() {
            self.count += 1;
            if self.count > self.limits.max_rows {
                return Some(Err(FileError::TooManyRows {
                    limit: self.limits.max_rows,
                }
                .into()));
            }
        }
        Some(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(content: &[u8], limits: Limits) -> (Vec<String>, Vec<Result<Row, String>>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.csv");
        std::fs::write(&path, content).unwrap();
        let table = open(&path, limits).unwrap_or_else(|e| panic!("{e}"));
        let rows = table.rows.map(|r| r.map_err(|e| e.to_string())).collect();
        (table.header, rows)
    }

    fn fields(rows: &[Result<Row, String>]) -> Vec<(u64, Vec<&str>)> {
        rows.iter()
            .map(|r| {
                let r = r.as_ref().unwrap();
                (r.line, r.fields.iter().map(String::as_str).collect())
            })
            .collect()
    }

    #[test]
    fn each_separator_is_sniffed_from_the_header() {
        for sep in [";", ",", "\t", "|"] {
            let content =
                format!("a{sep} b {sep}c\r\n1{sep}2{sep}3\r\n\"x{sep}y\"{sep}\"q\"\"uote\"{sep}\n");
            let (header, rows) = read(content.as_bytes(), Limits::default());
            assert_eq!(header, ["a", "b", "c"], "{sep:?}");
            assert_eq!(
                fields(&rows),
                [
                    (2, vec!["1", "2", "3"]),
                    (3, vec![&format!("x{sep}y") as &str, "q\"uote", ""])
                ],
                "{sep:?}"
            );
        }
    }

    #[test]
    fn encodings_utf8_with_and_without_bom_and_windows_1252() {
        let (h, rows) = read(
            "\u{FEFF}naam;stad\nJosé;Zwolle\n".as_bytes(),
            Limits::default(),
        );
        assert_eq!(h, ["naam", "stad"]);
        assert_eq!(fields(&rows), [(2, vec!["José", "Zwolle"])]);
        let (_, rows) = read("naam;stad\nJosé;Zwolle\n".as_bytes(), Limits::default());
        assert_eq!(fields(&rows), [(2, vec!["José", "Zwolle"])]);
        let (_, rows) = read(b"naam;stad\nJos\xE9;\x80 euro\n", Limits::default());
        assert_eq!(fields(&rows), [(2, vec!["José", "€ euro"])]);
    }

    #[test]
    fn a_bad_byte_after_a_bom_rejects_only_its_row() {
        let (_, rows) = read(b"\xEF\xBB\xBFa;b\n1;2\nJos\xE9;3\n4;5\n", Limits::default());
        assert_eq!(rows.len(), 3);
        assert!(
            rows[1]
                .as_ref()
                .unwrap_err()
                .contains("line 3: value 1 is not valid UTF-8"),
            "{:?}",
            rows[1]
        );
        assert!(rows[2].is_ok());
    }

    #[test]
    fn limits_stop_long_lines_long_values_and_too_many_rows() {
        let limits = Limits {
            max_line_bytes: 100,
            max_field_bytes: 10,
            max_rows: 2,
            ..Limits::default()
        };
        let long_line = format!("a;b\n1;2\n{}\n", "x;".repeat(100));
        let (_, rows) = read(long_line.as_bytes(), limits);
        assert!(
            rows.last()
                .unwrap()
                .as_ref()
                .unwrap_err()
                .contains("line 3 is longer than 100 bytes"),
            "{rows:?}"
        );
        let (_, rows) = read(b"a;b\n12345678901;2\n", limits);
        assert!(
            rows[0]
                .as_ref()
                .unwrap_err()
                .contains("value 1 is longer than 10 bytes")
        );
        let (_, rows) = read(b"a;b\n1;2\n3;4\n5;6\n", limits);
        assert!(
            rows[2]
                .as_ref()
                .unwrap_err()
                .contains("more than 2 data rows"),
            "{rows:?}"
        );
    }

    #[test]
    fn utf8_is_checked_across_chunk_boundaries() {
        let mut text = "a".repeat(64 * 1024 - 1).into_bytes();
        text.extend("é".as_bytes());
        assert!(is_utf8(&text[..]).unwrap());
        text.push(0xE9);
        assert!(!is_utf8(&text[..]).unwrap());
    }

    fn utf16(bom: &[u8], text: &str, le: bool) -> Vec<u8> {
        let mut out = bom.to_vec();
        for unit in text.encode_utf16() {
            out.extend(if le {
                unit.to_le_bytes()
            } else {
                unit.to_be_bytes()
            });
        }
        out
    }

    #[test]
    fn utf16_with_a_bom_is_read_as_excel_unicode_text() {
        let text = "naam\tstad\r\nJosé\t\"Zwol\r\nle\"\r\n\r\n€\tAmsterdam\r\n";
        for (bom, le) in [(UTF16LE_BOM, true), (UTF16BE_BOM, false)] {
            let (header, rows) = read(&utf16(bom, text, le), Limits::default());
            assert_eq!(header, ["naam", "stad"], "le {le}");
            assert_eq!(
                fields(&rows),
                [(2, vec!["José", "Zwol\r\nle"]), (5, vec!["€", "Amsterdam"])],
                "le {le}"
            );
        }
    }

    #[test]
    fn utf16_is_decoded_across_chunks_without_reading_the_file_whole() {
        // Longer than the transcoder's buffers, with characters split across chunk ends.
        let mut text = String::from("a;b\n");
        for i in 0..5000 {
            text.push_str(&format!("é{i};€\n"));
        }
        let (_, rows) = read(&utf16(UTF16LE_BOM, &text, true), Limits::default());
        assert_eq!(rows.len(), 5000);
        let last = rows.last().unwrap().as_ref().unwrap();
        assert_eq!(
            (last.line, last.fields.clone()),
            (5001, vec!["é4999".to_owned(), "€".to_owned()])
        );
    }

    #[test]
    fn rows_of_only_separators_or_whitespace_are_skipped() {
        let (header, rows) = read(
            b";;;\na;b;c\n1;2;3\n;;;;;;;\n;  ; ;\n \t \n4;5;6\n",
            Limits::default(),
        );
        assert_eq!(header, ["a", "b", "c"]);
        assert_eq!(
            fields(&rows),
            [(3, vec!["1", "2", "3"]), (7, vec!["4", "5", "6"])]
        );
        // Windows-1252's no-break space is whitespace too.
        let (_, rows) = read(b"a;b\n\xA0;\n1;2\n", Limits::default());
        assert_eq!(fields(&rows), [(3, vec!["1", "2"])]);
    }

    #[test]
    fn a_sep_line_sets_the_separator_and_keeps_line_numbers() {
        for (line, sep) in [
            ("sep=;", ";"),
            ("sep=,", ","),
            ("sep=\t", "\t"),
            ("SEP=|", "|"),
            ("sep=\\t", "\t"),
        ] {
            // The header holds more of another separator: only sep= can say.
            let other = if sep == ";" { "," } else { ";" };
            let content =
                format!("{line}\r\na{sep}b{other}c{other}d\r\n1{sep}2{other}3{other}4\r\n");
            let (header, rows) = read(content.as_bytes(), Limits::default());
            let (b, v) = (format!("b{other}c{other}d"), format!("2{other}3{other}4"));
            assert_eq!(header, ["a", b.as_str()], "{line}");
            assert_eq!(fields(&rows), [(3, vec!["1", v.as_str()])], "{line}");
        }
        let (header, rows) = read("\u{FEFF}sep=,\na,b\n1,2\n".as_bytes(), Limits::default());
        assert_eq!(header, ["a", "b"]);
        assert_eq!(fields(&rows), [(3, vec!["1", "2"])]);
    }

    #[test]
    fn line_numbers_are_right_for_lf_crlf_and_cr_alone() {
        for end in ["\n", "\r\n", "\r"] {
            let content = format!("a;b{end}1;2{end}{end}\"multi{end}line\";3{end}4;5{end}");
            let (_, rows) = read(content.as_bytes(), Limits::default());
            let multi = format!("multi{end}line");
            assert_eq!(
                fields(&rows),
                [
                    (2, vec!["1", "2"]),
                    (4, vec![multi.as_str(), "3"]),
                    (6, vec!["4", "5"])
                ],
                "{end:?}"
            );
        }
    }

    #[test]
    fn a_nul_in_a_value_rejects_only_its_row() {
        let (_, rows) = read(b"a;b\n1;2\n3;x\x00y\n5;6\n", Limits::default());
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows[1].as_ref().unwrap_err(),
            "line 3: value 2 holds a NUL byte"
        );
        assert!(rows[2].is_ok());
    }
}
