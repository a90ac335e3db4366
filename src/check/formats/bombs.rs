//! Cheap checks for spreadsheet bombs, run before calamine sees a workbook. calamine trusts
//! sizes a file declares (it reserves memory for them) and expands repeats, and a failed
//! allocation aborts the whole process. The confined child's address-space limit is the real
//! protection; these checks refuse the common bombs fast and say what is wrong:
//!
//! - xls: a DIMENSIONS record (calamine reserves rows x columns cells for it) or a cell
//!   beyond the 256 columns an xls sheet has (calamine makes the sheet dense).
//! - ods: rows and cells repeated (`table:number-rows-repeated`,
//!   `table:number-columns-repeated`) far beyond what a delivery holds, or far beyond the
//!   cells the file writes, counted up to the last cell with content; the empty repeats
//!   LibreOffice writes after the data are not expanded by calamine (measured) and pass.
//!   Also a `text:s` that asks for millions of spaces.
//! - xlsx: a shared-strings table whose strings alone would take more memory than a
//!   workbook may unpack to (calamine reserves its declared `uniqueCount`). A sheet's
//!   `<dimension>` is not checked: calamine's cell reader, which `excel` uses, only keeps it.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::limited::{Budget, Limited, OVER_BUDGET};
use super::{FileError, Format, Limits, cfb};

/// The most columns a delivery's sheet may use (as `excel` reads them); also all an xls
/// sheet can have.
pub(super) const MAX_COLUMNS: u64 = 256;
/// The most rows an xls sheet can have.
const XLS_MAX_ROWS: u64 = 65_536;
/// The most cells the dense range calamine builds of one sheet may hold: a full xls sheet,
/// or every row a spreadsheet can have 16 columns wide (a delivery has at most 9); some
/// 512 MiB as calamine's cells.
pub(super) const MAX_CELLS: u64 = 16 * 1_048_576;
/// Below this many cells a sheet's expansion is not looked at: small sheets are cheap.
const EXPANSION_FLOOR: u64 = 1_048_576;
/// How many cells calamine may make of each cell an ods writes. LibreOffice writes equal
/// neighbours once with a repeat count, which in real deliveries (distinct numbers in every
/// row) saves little; a bomb writes a few cells and repeats them a million times, and
/// calamine then spends some 125 bytes on each (measured: 1 GB for 1M rows x 8 columns).
const MAX_EXPANSION: u64 = 16;
/// An XML event in a workbook may be this long, or `max_line_bytes` if that is more: a
/// long note in a cell must not refuse the file, an endless one must not be buffered.
const XML_EVENT_BYTES: usize = 1 << 20;

fn bomb(what: String) -> FileError {
    FileError::SpreadsheetBomb { what }
}

/// Refuses a workbook whose declared sizes calamine would trust too far.
pub(super) fn check(path: &Path, format: Format, limits: Limits) -> Result<(), FileError> {
    match format {
        Format::Xls => check_xls(path),
        Format::Ods => check_ods(path, limits),
        Format::Xlsx => check_xlsx(path, limits),
        Format::Csv | Format::Xml => Ok(()),
    }
}

// ---- xls ----

/// The cell records of BIFF8 that calamine turns into cells, each starting with row and
/// column.
const CELL_RECORDS: &[u16] = &[0x0203, 0x0204, 0x00D6, 0x0205, 0x027E, 0x00FD, 0x0006];
const MULRK: u16 = 0x00BD;
const DIMENSIONS: u16 = 0x0200;
const BOF: u16 = 0x0809;
const EOF: u16 = 0x000A;

fn check_xls(path: &Path) -> Result<(), FileError> {
    let Some(stream) = cfb::open_stream(path, &["Workbook", "Book"])? else {
        return Err(FileError::Binary {
            kind: "an Office file that is not an Excel workbook",
        });
    };
    walk_biff(BufReader::with_capacity(64 * 1024, stream))
}

/// Walks the BIFF records of a workbook stream. Only records of each top-level substream
/// count: calamine skips those of embedded charts, as nested substreams.
fn walk_biff(mut stream: impl Read) -> Result<(), FileError> {
    let mut header = [0u8; 4];
    let mut data = vec![0u8; usize::from(u16::MAX)];
    let mut depth = 0usize;
    loop {
        if !read_full(&mut stream, &mut header)? {
            return Ok(());
        }
        let kind = u16::from_le_bytes([header[0], header[1]]);
        let len = usize::from(u16::from_le_bytes([header[2], header[3]]));
        let record = &mut data[..len];
        if !read_full(&mut stream, record)? {
            // A truncated stream is calamine's to report.
            return Ok(());
        }
        match kind {
            BOF => depth += 1,
            EOF => depth = depth.saturating_sub(1),
            DIMENSIONS if depth == 1 => check_dimensions(record)?,
            MULRK if depth == 1 && len >= 6 => check_column(u16_at(record, len - 2))?,
            k if depth == 1 && len >= 4 && CELL_RECORDS.contains(&k) => {
                check_column(u16_at(record, 2))?;
            }
            _ => {}
        }
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Fills `buf`; `false` at the end of the stream (also part-way).
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 => return Ok(false),
            n => filled += n,
        }
    }
    Ok(true)
}

/// A DIMENSIONS record: first row, last row + 1, first column, last column + 1, as calamine
/// reads them (it reserves a cell for each, and its row count wraps when the last row lies
/// before the first).
fn check_dimensions(record: &[u8]) -> Result<(), FileError> {
    let (first_row, end_row, first_col, end_col) = match record.len() {
        10 => (
            u32::from(u16_at(record, 0)),
            u32::from(u16_at(record, 2)),
            u32::from(u16_at(record, 4)),
            u32::from(u16_at(record, 6)),
        ),
        14 | 16 => (
            u32_at(record, 0),
            u32_at(record, 4),
            u32::from(u16_at(record, 8)),
            u32::from(u16_at(record, 10)),
        ),
        // calamine refuses other lengths itself.
        _ => return Ok(()),
    };
    if end_row == 0 || end_col == 0 {
        return Ok(());
    }
    let first_col = if first_col > 0xFF || end_col < first_col {
        0
    } else {
        first_col
    };
    if end_row <= first_row || end_col <= first_col {
        return Err(bomb(format!(
            "the sheet declares rows {} to {end_row} and columns {} to {end_col}",
            u64::from(first_row) + 1,
            first_col + 1
        )));
    }
    let rows = u64::from(end_row - first_row);
    let cols = u64::from(end_col - first_col);
    if rows > XLS_MAX_ROWS || cols > MAX_COLUMNS || rows * cols > MAX_CELLS {
        return Err(bomb(format!(
            "the sheet declares {rows} rows x {cols} columns"
        )));
    }
    Ok(())
}

fn check_column(col: u16) -> Result<(), FileError> {
    if u64::from(col) >= MAX_COLUMNS {
        return Err(bomb(format!(
            "a cell stands in column {}, beyond the {MAX_COLUMNS} columns of an xls sheet",
            u32::from(col) + 1
        )));
    }
    Ok(())
}

// ---- ods and xlsx: XML inside the zip ----

fn zip_error(e: impl std::fmt::Display) -> FileError {
    FileError::Spreadsheet {
        format: "zip",
        message: e.to_string(),
    }
}

/// Streams the XML entry `name` of a zip through `visit`, each event bounded.
fn walk_xml(
    path: &Path,
    name: &str,
    limits: Limits,
    format: &'static str,
    mut visit: impl FnMut(&Event<'_>) -> Result<(), FileError>,
) -> Result<(), FileError> {
    let mut archive = zip::ZipArchive::new(File::open(path)?).map_err(zip_error)?;
    let entry = match archive.by_name(name) {
        Ok(entry) => entry,
        Err(zip::result::ZipError::FileNotFound) => return Ok(()),
        Err(e) => return Err(zip_error(e)),
    };
    let budget = Budget::new(limits.max_line_bytes.max(XML_EVENT_BYTES));
    let mut reader = Reader::from_reader(Limited::new(BufReader::new(entry), budget.clone()));
    let mut buf = Vec::new();
    loop {
        budget.reset();
        buf.clear();
        match reader.read_event_into(&mut buf) {
            Ok(Event::Eof) => return Ok(()),
            Ok(event) => visit(&event)?,
            Err(quick_xml::Error::Io(e)) if e.kind() == OVER_BUDGET => {
                return Err(FileError::Spreadsheet {
                    format,
                    message: format!(
                        "{name} holds a node longer than {} bytes",
                        budget_limit(limits)
                    ),
                });
            }
            // A damaged file is calamine's to report, in its words.
            Err(_) => return Ok(()),
        }
    }
}

fn budget_limit(limits: Limits) -> usize {
    limits.max_line_bytes.max(XML_EVENT_BYTES)
}

/// The value of attribute `name` as a number (absent or unreadable: `None`).
fn number_attr(e: &BytesStart<'_>, name: &str) -> Option<u64> {
    e.attributes()
        .with_checks(false)
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .and_then(|a| a.value.trim().parse().ok())
}

fn has_attr(e: &BytesStart<'_>, names: &[&str]) -> bool {
    e.attributes()
        .with_checks(false)
        .flatten()
        .any(|a| names.contains(&a.key.as_ref()))
}

/// Attributes that give a cell a value for calamine (an empty string cell is a value too).
const ODS_VALUE_ATTRS: &[&str] = &[
    "office:value-type",
    "office:value",
    "office:string-value",
    "office:date-value",
    "office:time-value",
    "office:boolean-value",
    "table:formula",
];

/// One sheet of an ods, as calamine would expand it.
#[derive(Default)]
struct OdsSheet {
    /// Rows so far, repeats expanded.
    rows: u64,
    /// Rows up to and including the last with a value.
    used_rows: u64,
    /// Columns up to and including the last value of any row.
    used_cols: u64,
    /// Cell elements as written, repeats not expanded.
    written: u64,
    /// In the current row: its repeat, columns so far, and up to its last value.
    row_repeat: u64,
    col: u64,
    row_used: u64,
}

impl OdsSheet {
    fn start_row(&mut self, e: &BytesStart<'_>) {
        self.row_repeat = number_attr(e, "table:number-rows-repeated").unwrap_or(1);
        self.col = 0;
        self.row_used = 0;
    }

    fn cell(&mut self, e: &BytesStart<'_>) -> Result<(), FileError> {
        let repeat = number_attr(e, "table:number-columns-repeated").unwrap_or(1);
        self.col = self.col.saturating_add(repeat);
        self.written += 1;
        if has_attr(e, ODS_VALUE_ATTRS) {
            self.row_used = self.col;
            if self.row_used > MAX_COLUMNS {
                return Err(bomb(format!(
                    "a row holds values up to column {}; a delivery has at most {MAX_COLUMNS}",
                    self.row_used
                )));
            }
        }
        Ok(())
    }

    fn end_row(&mut self, limits: Limits) -> Result<(), FileError> {
        self.rows = self.rows.saturating_add(self.row_repeat);
        if self.row_used > 0 {
            self.used_rows = self.rows;
            self.used_cols = self.used_cols.max(self.row_used);
        }
        let max_rows = limits.max_rows.saturating_add(1);
        let cells = self.used_rows.saturating_mul(self.used_cols);
        let inflated =
            cells > EXPANSION_FLOOR && cells > self.written.saturating_mul(MAX_EXPANSION);
        if self.used_rows > max_rows || cells > MAX_CELLS || inflated {
            return Err(bomb(format!(
                "a sheet repeats {} written cells to {} rows x {} columns",
                self.written, self.used_rows, self.used_cols
            )));
        }
        Ok(())
    }
}

fn check_ods(path: &Path, limits: Limits) -> Result<(), FileError> {
    let mut sheet = OdsSheet::default();
    walk_xml(path, "content.xml", limits, "ods", |event| {
        match event {
            Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                "table:table" => sheet = OdsSheet::default(),
                "table:table-row" => {
                    sheet.start_row(e);
                    if matches!(event, Event::Empty(_)) {
                        sheet.end_row(limits)?;
                    }
                }
                "table:table-cell" | "table:covered-table-cell" => sheet.cell(e)?,
                "text:s" => {
                    let spaces = number_attr(e, "text:c").unwrap_or(1);
                    if spaces > limits.max_field_bytes as u64 {
                        return Err(bomb(format!("a cell asks for {spaces} spaces")));
                    }
                }
                _ => {}
            },
            Event::End(e) if e.name().as_ref() == "table:table-row" => sheet.end_row(limits)?,
            _ => {}
        }
        Ok(())
    })
}

/// Where a workbook keeps its shared strings: `xl/sharedStrings.xml` in every file Excel
/// and its imitators write; calamine looks in the workbook's folder, case-insensitively,
/// so every entry of that name is checked.
#[cfg(test)]
const SHARED_STRINGS: &str = "xl/sharedStrings.xml";

fn check_xlsx(path: &Path, limits: Limits) -> Result<(), FileError> {
    let archive = zip::ZipArchive::new(File::open(path)?).map_err(zip_error)?;
    let names: Vec<String> = archive
        .file_names()
        .filter_map(Result::ok)
        .map(|n| n.into_owned())
        .filter(|n| {
            n.replace('\\', "/")
                .to_ascii_lowercase()
                .ends_with("sharedstrings.xml")
        })
        .collect();
    for name in names {
        check_shared_strings(path, &name, limits)?;
    }
    Ok(())
}

fn check_shared_strings(path: &Path, name: &str, limits: Limits) -> Result<(), FileError> {
    // What calamine holds per string before its text: the `String` itself.
    let most = limits.max_unpacked_bytes / std::mem::size_of::<String>() as u64;
    let mut strings = 0u64;
    walk_xml(path, name, limits, "xlsx", |event| {
        match event {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "sst" => {
                let declared = number_attr(e, "uniqueCount").unwrap_or(0);
                if declared > most {
                    return Err(bomb(format!(
                        "the shared strings table declares {declared} strings"
                    )));
                }
            }
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == "si" => {
                strings += 1;
                if strings > most {
                    return Err(bomb(format!(
                        "the shared strings table holds more than {most} strings"
                    )));
                }
            }
            _ => {}
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::formats::testfiles::{self, METING, METINGEN, ods, ods_row};

    /// Every BIFF record of the workbook stream of an xls: kind and its bytes with header.
    fn records(path: &Path) -> Vec<(u16, Vec<u8>)> {
        let mut stream = cfb::open_stream(path, &["Workbook"]).unwrap().unwrap();
        let mut all = Vec::new();
        let mut header = [0u8; 4];
        while read_full(&mut stream, &mut header).unwrap() {
            let len = usize::from(u16_at(&header, 2));
            let mut data = vec![0u8; len];
            assert!(read_full(&mut stream, &mut data).unwrap());
            let mut bytes = header.to_vec();
            bytes.extend(data);
            all.push((u16_at(&header, 0), bytes));
        }
        all
    }

    /// The sample xls with one record (the first of `kind` in a sheet) changed by `patch`,
    /// found in the file by its bytes.
    fn patched_xls(kind: u16, patch: impl Fn(&mut [u8])) -> Vec<u8> {
        let sample = testfiles::sample("metingen-good.xls");
        let records = records(&sample);
        let (_, original) = records
            .iter()
            .skip_while(|(k, _)| *k != EOF)
            .find(|(k, _)| *k == kind)
            .unwrap_or_else(|| panic!("no record {kind:#06x} in a sheet"));
        let mut file = std::fs::read(&sample).unwrap();
        let at: Vec<usize> = file
            .windows(original.len())
            .enumerate()
            .filter(|(_, w)| w == original)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(at.len(), 1, "the record must be found once in the file");
        patch(&mut file[at[0] + 4..at[0] + original.len()]);
        file
    }

    fn refused(path: &Path, format: Format, limits: Limits) -> String {
        match check(path, format, limits) {
            Err(e @ FileError::SpreadsheetBomb { .. }) => e.to_string(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_samples_pass() {
        for (name, format) in [
            ("metingen-good.xls", Format::Xls),
            ("beschikkingen-bad.xls", Format::Xls),
            ("metingen-good.ods", Format::Ods),
            ("metingen-good.xlsx", Format::Xlsx),
        ] {
            check(&testfiles::sample(name), format, Limits::default())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn an_xls_that_declares_a_huge_sheet_is_refused_before_calamine() {
        let dir = tempfile::tempdir().unwrap();
        let bomb = patched_xls(DIMENSIONS, |data| {
            data[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
            data[10..12].copy_from_slice(&u16::MAX.to_le_bytes());
        });
        let path = testfiles::write(dir.path(), "bomb.xls", &bomb);
        assert_eq!(
            refused(&path, Format::Xls, Limits::default()),
            "the spreadsheet is refused unread: the sheet declares 4294967295 rows x 65535 columns"
        );
        // Through the reader too: calamine never sees it.
        let opened = crate::check::formats::open(&path, Limits::default(), &|_| None);
        assert!(matches!(opened, Err(FileError::SpreadsheetBomb { .. })));
        // A last row before the first would wrap calamine's count.
        let wraps = patched_xls(DIMENSIONS, |data| {
            data[0..4].copy_from_slice(&10u32.to_le_bytes());
            data[4..8].copy_from_slice(&5u32.to_le_bytes());
        });
        let path = testfiles::write(dir.path(), "wraps.xls", &wraps);
        assert!(refused(&path, Format::Xls, Limits::default()).contains("rows 11 to 5"));
    }

    #[test]
    fn an_xls_cell_beyond_column_256_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let sample = testfiles::sample("metingen-good.xls");
        let kind = records(&sample)
            .into_iter()
            .skip_while(|(k, _)| *k != EOF)
            .map(|(k, _)| k)
            .find(|k| CELL_RECORDS.contains(k))
            .unwrap();
        let bomb = patched_xls(kind, |data| {
            data[2..4].copy_from_slice(&40_000u16.to_le_bytes())
        });
        let path = testfiles::write(dir.path(), "wide.xls", &bomb);
        assert!(refused(&path, Format::Xls, Limits::default()).contains("column 40001"));
    }

    #[test]
    fn an_office_file_without_a_workbook_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = std::fs::read(testfiles::sample("metingen-good.xls")).unwrap();
        // Rename the stream in its directory entry (UTF-16 "Workbook" -> "Document").
        let name: Vec<u8> = "Workbook"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let other: Vec<u8> = "Document"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let at = file.windows(name.len()).position(|w| w == name).unwrap();
        file[at..at + other.len()].copy_from_slice(&other);
        let path = testfiles::write(dir.path(), "doc.xls", &file);
        assert!(matches!(
            check(&path, Format::Xls, Limits::default()),
            Err(FileError::Binary { kind }) if kind.contains("not an Excel workbook")
        ));
    }

    /// What LibreOffice writes after the data of nearly every sheet.
    const LIBREOFFICE_TAIL: &str = r#"<table:table-row table:number-rows-repeated="1048553"><table:table-cell table:number-columns-repeated="1024"/></table:table-row>"#;

    fn libreoffice_sheet(rows: usize) -> String {
        let trailing = r#"<table:table-cell table:number-columns-repeated="1016"/>"#;
        let mut sheet =
            String::from(r#"<table:table-column table:number-columns-repeated="1024"/>"#);
        sheet.push_str(&ods_row(&METINGEN).replace(
            "</table:table-row>",
            &format!("{trailing}</table:table-row>"),
        ));
        for _ in 0..rows {
            sheet.push_str(&ods_row(&METING).replace(
                "</table:table-row>",
                &format!("{trailing}</table:table-row>"),
            ));
        }
        sheet.push_str(LIBREOFFICE_TAIL);
        sheet
    }

    #[test]
    fn libreoffice_trailing_empty_repeats_pass_and_open_fast() {
        let dir = tempfile::tempdir().unwrap();
        let path = testfiles::write(
            dir.path(),
            "lo.ods",
            &ods(&[
                ("Blad1", libreoffice_sheet(3)),
                ("Blad2", LIBREOFFICE_TAIL.to_owned()),
            ]),
        );
        let started = std::time::Instant::now();
        check(&path, Format::Ods, Limits::default()).unwrap();
        let table = crate::check::formats::open(&path, Limits::default(), &|_| None).unwrap();
        assert_eq!(table.header, METINGEN);
        let rows: Vec<_> = table.rows.map(Result::unwrap).collect();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[2].fields, METING);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn ods_repeats_beyond_a_delivery_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let value = |repeat: u64| {
            format!(
                r#"<table:table-cell table:number-columns-repeated="{repeat}" office:value-type="string"><text:p>x</text:p></table:table-cell>"#
            )
        };
        let tall = format!(
            r#"{}<table:table-row table:number-rows-repeated="1000000">{}</table:table-row>"#,
            ods_row(&METINGEN),
            value(100)
        );
        let path = testfiles::write(dir.path(), "tall.ods", &ods(&[("Blad1", tall)]));
        assert!(
            refused(&path, Format::Ods, Limits::default()).contains("1000001 rows x 100 columns")
        );
        let wide = format!("<table:table-row>{}</table:table-row>", value(16_384));
        let path = testfiles::write(dir.path(), "wide.ods", &ods(&[("Blad1", wide)]));
        assert!(refused(&path, Format::Ods, Limits::default()).contains("column 16384"));
        // A value far down after empty rows makes calamine fill them all in.
        let far = format!(
            r#"{}<table:table-row table:number-rows-repeated="1000000"><table:table-cell/></table:table-row>{}"#,
            ods_row(&["a"; 20]),
            ods_row(&["b"])
        );
        let path = testfiles::write(dir.path(), "far.ods", &ods(&[("Blad1", far)]));
        assert!(
            refused(&path, Format::Ods, Limits::default()).contains("1000002 rows x 20 columns")
        );
        // Within every bound but the ratio: 9 cells written, 8 million made (1 GB).
        let narrow = format!(
            r#"{}<table:table-row table:number-rows-repeated="1000000">{}</table:table-row>"#,
            ods_row(&METINGEN),
            value(8)
        );
        let path = testfiles::write(dir.path(), "narrow.ods", &ods(&[("Blad1", narrow)]));
        assert!(
            refused(&path, Format::Ods, Limits::default())
                .contains("repeats 9 written cells to 1000001 rows x 8 columns")
        );
        let rows = Limits {
            max_rows: 10,
            ..Limits::default()
        };
        let many = format!(
            r#"<table:table-row table:number-rows-repeated="20">{}</table:table-row>"#,
            value(1)
        );
        let path = testfiles::write(dir.path(), "many.ods", &ods(&[("Blad1", many)]));
        assert!(refused(&path, Format::Ods, rows).contains("20 rows x 1 columns"));
        let spaces = r#"<table:table-row><table:table-cell office:value-type="string"><text:p>a<text:s text:c="1000000000"/>b</text:p></table:table-cell></table:table-row>"#;
        let path = testfiles::write(dir.path(), "spaces.ods", &ods(&[("Blad1", spaces.into())]));
        assert!(refused(&path, Format::Ods, Limits::default()).contains("1000000000 spaces"));
    }

    fn with_shared_strings(sst: String) -> Vec<u8> {
        testfiles::rezip("metingen-good.xlsx", &[(SHARED_STRINGS, sst.into_bytes())])
    }

    #[test]
    fn an_absurd_shared_strings_table_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let declared = with_shared_strings(
            r#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="40000000" uniqueCount="40000000"><si><t>a</t></si></sst>"#.into(),
        );
        let path = testfiles::write(dir.path(), "declared.xlsx", &declared);
        let cased = testfiles::rezip(
            "metingen-good.xlsx",
            &[(
                "xl/SHAREDSTRINGS.XML",
                br#"<sst uniqueCount="40000000"></sst>"#.to_vec(),
            )],
        );
        let cased = testfiles::write(dir.path(), "cased.xlsx", &cased);
        assert!(refused(&cased, Format::Xlsx, Limits::default()).contains("40000000"));
        assert_eq!(
            refused(&path, Format::Xlsx, Limits::default()),
            "the spreadsheet is refused unread: the shared strings table declares 40000000 strings"
        );
        // Strings that are there, not only declared: 24 bytes each in calamine at least.
        let small = Limits {
            max_unpacked_bytes: 24_000,
            ..Limits::default()
        };
        let held = with_shared_strings(format!(
            r#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">{}</sst>"#,
            "<si/>".repeat(1001)
        ));
        let path = testfiles::write(dir.path(), "held.xlsx", &held);
        assert!(refused(&path, Format::Xlsx, small).contains("more than 1000 strings"));
        let fine = with_shared_strings(format!(
            r#"<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" uniqueCount="1000">{}</sst>"#,
            "<si><t>x</t></si>".repeat(1000)
        ));
        let path = testfiles::write(dir.path(), "fine.xlsx", &fine);
        check(&path, Format::Xlsx, small).unwrap();
    }

    #[test]
    fn an_xlsx_dimension_is_not_trusted_by_the_cell_reader_so_it_passes() {
        let dir = tempfile::tempdir().unwrap();
        let sample = testfiles::sample("metingen-good.xlsx");
        let mut archive = zip::ZipArchive::new(File::open(&sample).unwrap()).unwrap();
        let mut sheet = String::new();
        archive
            .by_name("xl/worksheets/sheet1.xml")
            .unwrap()
            .read_to_string(&mut sheet)
            .unwrap();
        let at = sheet.find(r#"<dimension ref="A1:"#).unwrap() + r#"<dimension ref=""#.len();
        let end = at + sheet[at..].find('"').unwrap();
        let sheet = format!("{}A1:XFD1048576{}", &sheet[..at], &sheet[end..]);
        let content = testfiles::rezip(
            "metingen-good.xlsx",
            &[("xl/worksheets/sheet1.xml", sheet.into_bytes())],
        );
        let path = testfiles::write(dir.path(), "dim.xlsx", &content);
        let started = std::time::Instant::now();
        let table = crate::check::formats::open(&path, Limits::default(), &|_| None).unwrap();
        assert_eq!(table.header, METINGEN);
        assert_eq!(table.rows.count(), 5);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
