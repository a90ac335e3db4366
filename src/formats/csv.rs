//! CSV: separator `;`, `,`, tab or `|`, sniffed from the header line; quotes and CRLF per
//! RFC 4180 (the `csv` crate). A file that starts with a UTF-8 BOM is UTF-8, and a row with
//! an invalid byte sequence is rejected on its own; without a BOM, a file that is valid
//! UTF-8 throughout is read as such, and any other as Windows-1252 (`encoding_rs`).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use csv::ByteRecord;

use super::limited::{Budget, Limited, OVER_BUDGET};
use super::{FileError, Format, Limits, ReadError, Row, Table};

const BOM: &[u8] = b"\xEF\xBB\xBF";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    /// BOM present: UTF-8, and a bad sequence is the row's fault.
    Utf8Declared,
    /// No BOM, and the whole file is valid UTF-8.
    Utf8,
    Windows1252,
}

pub fn open(path: &Path, limits: Limits) -> Result<Table, FileError> {
    let mut file = File::open(path)?;
    let mut start = [0u8; 3];
    let n = read_up_to(&mut file, &mut start)?;
    let has_bom = &start[..n] == BOM;
    let encoding = if has_bom {
        Encoding::Utf8Declared
    } else if is_utf8(File::open(path)?)? {
        Encoding::Utf8
    } else {
        Encoding::Windows1252
    };
    let mut file = File::open(path)?;
    if has_bom {
        file.read_exact(&mut [0u8; 3])?;
    }
    let separator = sniff_separator(&mut BufReader::new(
        (&file).take(limits.max_line_bytes as u64),
    ))?;
    let mut file = File::open(path)?;
    if has_bom {
        file.read_exact(&mut [0u8; 3])?;
    }
    let budget = Budget::new(limits.max_line_bytes);
    let csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(separator)
        .from_reader(Limited::new(file, budget.clone()));
    let mut rows = CsvRows {
        csv,
        record: ByteRecord::new(),
        budget,
        encoding,
        limits,
        count: 0,
    };
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

/// The separator that occurs most in the header line, outside quotes (`;` wins ties, being
/// the Dutch spreadsheet default).
fn sniff_separator(reader: &mut impl BufRead) -> io::Result<u8> {
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line)?;
    let candidates = [b';', b'\t', b'|', b','];
    let mut counts = [0usize; 4];
    let mut quoted = false;
    for &b in &line {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted {
            if let Some(i) = candidates.iter().position(|&c| c == b) {
                counts[i] += 1;
            }
        }
    }
    let best = (0..4)
        .max_by_key(|&i| (counts[i], std::cmp::Reverse(i)))
        .unwrap_or(0);
    Ok(if counts[best] == 0 {
        b';'
    } else {
        candidates[best]
    })
}

struct CsvRows {
    csv: csv::Reader<Limited<File>>,
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
            // csv's own line count goes astray after CRLF; the byte offset does not.
            // The offset may point at the LF of a CRLF that ended the previous record; no
            // record starts with a newline, so counting newlines up to and including the
            // offset gives the right line either way.
            let offset = self.record.position().map_or(0, |p| p.byte());
            let line = self.budget.line_at(offset + 1);
            if self.record.len() == 1 && self.record[0].is_empty() {
                continue;
            }
            if self.record.as_slice().len() + self.record.len() > self.limits.max_line_bytes {
                return Some(Err(FileError::LineTooLong {
                    line,
                    limit: self.limits.max_line_bytes,
                }
                .into()));
            }
            return Some(self.decode(line));
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
                    message: format!(
                        "value {} is longer than {} bytes",
                        i + 1,
                        self.limits.max_field_bytes
                    ),
                });
            }
            let text = match self.encoding {
                Encoding::Windows1252 => encoding_rs::WINDOWS_1252
                    .decode_without_bom_handling(raw)
                    .0
                    .into_owned(),
                Encoding::Utf8 | Encoding::Utf8Declared => match std::str::from_utf8(raw) {
                    Ok(text) => text.to_owned(),
                    Err(_) => {
                        return Err(ReadError::Row {
                            line,
                            message: format!(
                                "value {} is not valid UTF-8 (the file starts with a UTF-8 byte order mark)",
                                i + 1
                            ),
                        });
                    }
                },
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
}
