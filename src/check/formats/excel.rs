//! Spreadsheets through calamine: the first sheet, its first non-empty row as the header,
//! dates as ISO dates (a date cell with a time gives its date: every dataset takes dates).
//! xlsx is streamed cell by cell; xls and ods are read as a sheet (their size is bounded
//! first). A zip-based file is refused if it would unpack to more than `max_unpacked_bytes`
//! (zip bomb), and every workbook passes `bombs` before calamine sees it. Rows whose cells
//! are all empty or whitespace are skipped.
//!
//! The workbook is read on a thread of its own that hands rows over a small bounded channel,
//! so the rest of dropgate sees one iterator, as with CSV and XML.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use calamine::{Data, DataRef, Reader, Xls, Xlsx, open_workbook_from_rs};

use super::bombs::{self, MAX_COLUMNS};
use super::{FileError, Format, Limits, ReadError, Row, Table, number_text};

/// How many sheets after the first [`other_sheet_headers`] looks at.
const MAX_OTHER_SHEETS: usize = 32;
/// How many rows deep it looks for a sheet's first non-empty row.
const HEADER_DEPTH: u32 = 64;

/// Whether a zip file is an xlsx or an ods workbook.
pub(super) fn zip_kind(path: &Path) -> Result<Format, FileError> {
    let archive = zip::ZipArchive::new(File::open(path)?).map_err(|e| spreadsheet("zip", e))?;
    if archive.index_for_name("xl/workbook.xml").is_some() {
        Ok(Format::Xlsx)
    } else if archive.index_for_name("content.xml").is_some()
        && archive.index_for_name("mimetype").is_some()
    {
        Ok(Format::Ods)
    } else if archive.index_for_name("word/document.xml").is_some() {
        Err(FileError::Binary {
            kind: "a Word document (docx)",
        })
    } else {
        Err(FileError::Binary {
            kind: "a zip archive, not an Excel (xlsx) or OpenDocument (ods) workbook",
        })
    }
}

fn spreadsheet(format: &'static str, e: impl std::fmt::Display) -> FileError {
    FileError::Spreadsheet {
        format,
        message: e.to_string(),
    }
}

/// Refuses a zip whose entries would unpack to more than `limit` bytes in all.
fn check_unpacked_size(path: &Path, limit: u64) -> Result<(), FileError> {
    let mut archive = zip::ZipArchive::new(File::open(path)?).map_err(|e| spreadsheet("zip", e))?;
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(|e| spreadsheet("zip", e))?;
        total = total.saturating_add(entry.size());
        if total > limit {
            return Err(FileError::TooLarge { limit });
        }
    }
    Ok(())
}

/// Refuses a workbook before calamine may read it: too large, or a bomb.
fn check_size(path: &Path, format: Format, limits: Limits) -> Result<(), FileError> {
    match format {
        Format::Xls => {
            if std::fs::metadata(path)?.len() > limits.max_unpacked_bytes {
                return Err(FileError::TooLarge {
                    limit: limits.max_unpacked_bytes,
                });
            }
        }
        _ => check_unpacked_size(path, limits.max_unpacked_bytes)?,
    }
    bombs::check(path, format, limits)
}

pub(super) fn open(path: &Path, format: Format, limits: Limits) -> Result<Table, FileError> {
    check_size(path, format, limits)?;
    let (tx, rx) = mpsc::sync_channel::<Result<Row, ReadError>>(256);
    let path: PathBuf = path.to_owned();
    std::thread::Builder::new()
        .name("spreadsheet".into())
        .spawn(move || {
            let result = match format {
                Format::Xlsx => stream_xlsx(&path, &tx),
                Format::Xls => send_range(open_range::<Xls<_>>(&path, "xls"), &tx),
                _ => send_range(open_range::<calamine::Ods<_>>(&path, "ods"), &tx),
            };
            if let Err(e) = result {
                let _ = tx.send(Err(e.into()));
            }
        })
        .map_err(FileError::Io)?;
    let mut rows = rx.into_iter().peekable();
    let (header_line, header) = match rows.next() {
        None => return Err(FileError::NoHeader),
        Some(Err(ReadError::File(e))) => return Err(e),
        Some(Err(e)) => return Err(spreadsheet(format.as_str(), e)),
        Some(Ok(row)) => (row.line, row.fields),
    };
    let max_rows = limits.max_rows;
    let mut count = 0u64;
    let rows = rows.map(move |row| {
        count += 1;
        if count > max_rows {
            return Err(FileError::TooManyRows { limit: max_rows }.into());
        }
        row
    });
    Ok(Table {
        format,
        header: header.into_iter().map(|h| h.trim().to_owned()).collect(),
        header_line,
        root: None,
        rows: Box::new(rows),
    })
}

fn open_range<R: Reader<BufReader<File>>>(
    path: &Path,
    format: &'static str,
) -> Result<calamine::Range<Data>, FileError>
where
    R::Error: std::fmt::Display,
{
    let mut workbook: R = open_workbook_from_rs(BufReader::new(File::open(path)?))
        .map_err(|e| spreadsheet(format, e))?;
    let first = workbook
        .sheet_names()
        .first()
        .cloned()
        .ok_or_else(|| spreadsheet(format, "the workbook has no sheet"))?;
    workbook
        .worksheet_range(&first)
        .map_err(|e| spreadsheet(format, e))
}

fn send_range(
    range: Result<calamine::Range<Data>, FileError>,
    tx: &mpsc::SyncSender<Result<Row, ReadError>>,
) -> Result<(), FileError> {
    for row in range_rows(&range?) {
        if tx.send(Ok(row)).is_err() {
            break;
        }
    }
    Ok(())
}

/// The rows of a sheet that hold something, with their sheet row numbers; cells beyond
/// [`MAX_COLUMNS`] are left out.
fn range_rows(range: &calamine::Range<Data>) -> impl Iterator<Item = Row> + '_ {
    let (first_row, first_col) = range.start().unwrap_or((0, 0));
    range.rows().enumerate().filter_map(move |(i, cells)| {
        let mut fields = vec![String::new(); first_col.min(MAX_COLUMNS as u32) as usize];
        fields.extend(
            cells
                .iter()
                .enumerate()
                .take_while(|(j, _)| u64::from(first_col) + (*j as u64) < MAX_COLUMNS)
                .map(|(_, cell)| data_text(cell)),
        );
        let line = u64::from(first_row) + i as u64 + 1;
        (!is_blank(&fields)).then_some(Row { line, fields })
    })
}

/// Whether a row holds nothing but empty or whitespace cells.
fn is_blank(fields: &[String]) -> bool {
    fields.iter().all(|f| f.trim().is_empty())
}

fn stream_xlsx(
    path: &Path,
    tx: &mpsc::SyncSender<Result<Row, ReadError>>,
) -> Result<(), FileError> {
    let mut workbook: Xlsx<_> = open_workbook_from_rs(BufReader::new(File::open(path)?))
        .map_err(|e| spreadsheet("xlsx", e))?;
    let first = workbook
        .sheet_names()
        .first()
        .cloned()
        .ok_or_else(|| spreadsheet("xlsx", "the workbook has no sheet"))?;
    let mut cells = workbook
        .worksheet_cells_reader(&first)
        .map_err(|e| spreadsheet("xlsx", e))?;
    let mut current: Option<(u32, Vec<String>)> = None;
    let flush = |row: Option<(u32, Vec<String>)>| -> bool {
        match row {
            Some((r, fields)) if !is_blank(&fields) => tx
                .send(Ok(Row {
                    line: u64::from(r) + 1,
                    fields,
                }))
                .is_ok(),
            _ => true,
        }
    };
    while let Some(cell) = cells.next_cell().map_err(|e| spreadsheet("xlsx", e))? {
        let (r, c) = cell.get_position();
        if u64::from(c) >= MAX_COLUMNS {
            continue;
        }
        if current.as_ref().is_none_or(|(row, _)| *row != r) {
            if !flush(current.take()) {
                return Ok(());
            }
            current = Some((r, Vec::new()));
        }
        if let Some((_, fields)) = current.as_mut() {
            if fields.len() <= c as usize {
                fields.resize(c as usize + 1, String::new());
            }
            fields[c as usize] = data_ref_text(cell.get_value());
        }
    }
    flush(current.take());
    Ok(())
}

/// A date cell as its date: the datasets take dates, and a time part (a measurement typed
/// with its hour) must not make a valid date unreadable.
fn date_text(dt: Option<chrono::NaiveDateTime>, raw: f64) -> String {
    match dt {
        Some(dt) => dt.date().format("%Y-%m-%d").to_string(),
        None => number_text(raw),
    }
}

/// An ISO date-time cell (ods) as its date, for the reason [`date_text`] gives.
fn iso_date_text(iso: &str) -> String {
    match iso.split_once('T') {
        Some((date, _)) if date.len() == 10 => date.to_owned(),
        _ => iso.to_owned(),
    }
}

fn data_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::DateTimeIso(s) => iso_date_text(s),
        Data::String(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => number_text(*f),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => date_text(d.as_datetime(), d.as_f64()),
        Data::Error(e) => format!("#{e:?}"),
    }
}

fn data_ref_text(cell: &DataRef<'_>) -> String {
    match cell {
        DataRef::Empty => String::new(),
        DataRef::DateTimeIso(s) => iso_date_text(s),
        DataRef::String(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::SharedString(s) => (*s).to_owned(),
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) => number_text(*f),
        DataRef::Bool(b) => b.to_string(),
        DataRef::DateTime(d) => date_text(d.as_datetime(), d.as_f64()),
        DataRef::Error(e) => format!("#{e:?}"),
    }
}

/// For a workbook whose first sheet holds no known header: the first non-empty row of each
/// other sheet (at most [`MAX_OTHER_SHEETS`], each looked at [`HEADER_DEPTH`] rows deep),
/// so that the deliverer can be told which sheet holds the data.
pub(super) fn other_sheet_headers(
    path: &Path,
    format: Format,
    limits: Limits,
) -> Result<Vec<(String, Vec<String>)>, FileError> {
    check_size(path, format, limits)?;
    match format {
        Format::Xlsx => {
            let mut workbook: Xlsx<_> = open_workbook_from_rs(BufReader::new(File::open(path)?))
                .map_err(|e| spreadsheet("xlsx", e))?;
            let names = other_sheets(&workbook.sheet_names());
            let mut found = Vec::new();
            for name in names {
                if let Some(header) = xlsx_first_row(&mut workbook, &name)? {
                    found.push((name, header));
                }
            }
            Ok(found)
        }
        Format::Xls => ranged_first_rows::<Xls<_>>(path, "xls"),
        Format::Ods => ranged_first_rows::<calamine::Ods<_>>(path, "ods"),
        Format::Csv | Format::Xml => Ok(Vec::new()),
    }
}

fn other_sheets(names: &[String]) -> Vec<String> {
    names
        .iter()
        .skip(1)
        .take(MAX_OTHER_SHEETS)
        .cloned()
        .collect()
}

fn ranged_first_rows<R: Reader<BufReader<File>>>(
    path: &Path,
    format: &'static str,
) -> Result<Vec<(String, Vec<String>)>, FileError>
where
    R::Error: std::fmt::Display,
{
    let mut workbook: R = open_workbook_from_rs(BufReader::new(File::open(path)?))
        .map_err(|e| spreadsheet(format, e))?;
    let mut found = Vec::new();
    for name in other_sheets(&workbook.sheet_names()) {
        let Ok(range) = workbook.worksheet_range(&name) else {
            continue;
        };
        let first = range_rows(&range).next();
        if let Some(row) = first.filter(|row| row.line <= u64::from(HEADER_DEPTH)) {
            found.push((name, row.fields));
        }
    }
    Ok(found)
}

/// The first non-empty row of an xlsx sheet, if it lies within [`HEADER_DEPTH`] rows.
fn xlsx_first_row(
    workbook: &mut Xlsx<BufReader<File>>,
    name: &str,
) -> Result<Option<Vec<String>>, FileError> {
    let Ok(mut cells) = workbook.worksheet_cells_reader(name) else {
        return Ok(None);
    };
    let mut current: Option<(u32, Vec<String>)> = None;
    while let Some(cell) = cells.next_cell().map_err(|e| spreadsheet("xlsx", e))? {
        let (r, c) = cell.get_position();
        if r >= HEADER_DEPTH {
            break;
        }
        if current.as_ref().is_some_and(|(row, _)| *row != r) {
            match current.take() {
                Some((_, fields)) if !is_blank(&fields) => return Ok(Some(fields)),
                _ => {}
            }
        }
        if u64::from(c) >= MAX_COLUMNS {
            continue;
        }
        let (_, fields) = current.get_or_insert_with(|| (r, Vec::new()));
        if fields.len() <= c as usize {
            fields.resize(c as usize + 1, String::new());
        }
        fields[c as usize] = data_ref_text(cell.get_value());
    }
    Ok(current.map(|(_, fields)| fields).filter(|f| !is_blank(f)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::formats::testfiles::{self, METING, METINGEN, ods, ods_row};

    fn rows(path: &Path, format: Format) -> (Vec<String>, Vec<Row>) {
        let table = open(path, format, Limits::default()).unwrap_or_else(|e| panic!("{e}"));
        let rows = table.rows.map(|r| r.unwrap()).collect();
        (table.header, rows)
    }

    #[test]
    fn a_date_cell_with_a_time_gives_its_date() {
        let at = chrono::NaiveDate::from_ymd_opt(2024, 3, 1)
            .unwrap()
            .and_hms_opt(14, 30, 0);
        assert_eq!(date_text(at, 45352.6), "2024-03-01");
        assert_eq!(iso_date_text("2024-03-01T14:30:00"), "2024-03-01");
        assert_eq!(iso_date_text("2024-03-01"), "2024-03-01");
        let dir = tempfile::tempdir().unwrap();
        let sheet = format!(
            "{}<table:table-row><table:table-cell office:value-type=\"date\" office:date-value=\"2024-03-01T14:30:00\"><text:p>01-03-2024 14:30</text:p></table:table-cell></table:table-row>",
            ods_row(&["datum"])
        );
        let path = testfiles::write(dir.path(), "f.ods", &ods(&[("Blad1", sheet)]));
        let (_, rows) = rows(&path, Format::Ods);
        assert_eq!(rows[0].fields, ["2024-03-01"]);
    }

    #[test]
    fn rows_of_empty_or_whitespace_cells_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let sheet = [
            ods_row(&["a", "b"]),
            ods_row(&["  ", " "]),
            "<table:table-row><table:table-cell table:number-columns-repeated=\"3\"/></table:table-row>".to_owned(),
            ods_row(&["1", "2"]),
        ]
        .concat();
        let path = testfiles::write(dir.path(), "f.ods", &ods(&[("Blad1", sheet)]));
        let (header, rows) = rows(&path, Format::Ods);
        assert_eq!(header, ["a", "b"]);
        assert_eq!(
            rows,
            [Row {
                line: 4,
                fields: vec!["1".into(), "2".into()]
            }]
        );
    }

    #[test]
    fn other_sheets_give_their_first_non_empty_row() {
        let dir = tempfile::tempdir().unwrap();
        let data = [
            "<table:table-row><table:table-cell/></table:table-row>".to_owned(),
            ods_row(&METINGEN),
            ods_row(&METING),
        ]
        .concat();
        let content = ods(&[
            ("Uitleg", ods_row(&["Lees dit eerst"])),
            ("Data", data),
            ("Leeg", String::new()),
        ]);
        let path = testfiles::write(dir.path(), "f.ods", &content);
        let found = other_sheet_headers(&path, Format::Ods, Limits::default()).unwrap();
        assert_eq!(
            found,
            [("Data".to_owned(), METINGEN.map(String::from).to_vec())]
        );
    }

    #[test]
    fn other_sheets_of_an_xlsx_are_read_as_a_stream() {
        let dir = tempfile::tempdir().unwrap();
        let path = testfiles::sample("metingen-good.xlsx");
        // The sample has one sheet: nothing else to offer, and no error.
        assert!(
            other_sheet_headers(&path, Format::Xlsx, Limits::default())
                .unwrap()
                .is_empty()
        );
        let sheet2 = r#"<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="3"><c r="B3" t="inlineStr"><is><t>pseudobsn</t></is></c></row><row r="4"><c r="A4" t="inlineStr"><is><t>x</t></is></c></row></sheetData></worksheet>"#;
        let workbook = r#"<workbook xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheets><sheet name="Sheet" sheetId="1" r:id="rId1" /><sheet name="Data" sheetId="2" r:id="rId9" /></sheets></workbook>"#;
        let rels = r#"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="/xl/worksheets/sheet1.xml" Id="rId1" /><Relationship Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet2.xml" Id="rId9" /><Relationship Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml" Id="rId2" /></Relationships>"#;
        let content = testfiles::rezip(
            "metingen-good.xlsx",
            &[
                ("xl/workbook.xml", workbook.into()),
                ("xl/_rels/workbook.xml.rels", rels.into()),
                ("xl/worksheets/sheet2.xml", sheet2.into()),
            ],
        );
        let path = testfiles::write(dir.path(), "f.xlsx", &content);
        let found = other_sheet_headers(&path, Format::Xlsx, Limits::default()).unwrap();
        assert_eq!(
            found,
            [("Data".to_owned(), vec![String::new(), "pseudobsn".into()])]
        );
    }
}
