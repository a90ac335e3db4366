//! Spreadsheets through calamine: the first sheet, its first non-empty row as the header,
//! dates as ISO dates. xlsx is streamed cell by cell; xls and ods are read as a sheet (their
//! size is bounded first). A zip-based file is refused if it would unpack to more than
//! `max_unpacked_bytes` (zip bomb).
//!
//! The workbook is read on a thread of its own that hands rows over a small bounded channel,
//! so the rest of dropgate sees one iterator, as with CSV and XML.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use calamine::{Data, DataRef, Reader, Xls, Xlsx, open_workbook_from_rs};

use super::{FileError, Format, Limits, ReadError, Row, Table, number_text};

/// Cells beyond this column are ignored: no delivery has that many columns, and a hostile
/// sheet must not make every row that wide.
const MAX_COLUMNS: u32 = 256;

/// Whether a zip file is an xlsx or an ods workbook.
pub fn zip_kind(path: &Path) -> Result<Format, FileError> {
    let archive = zip::ZipArchive::new(File::open(path)?).map_err(|e| spreadsheet("zip", e))?;
    if archive.index_for_name("xl/workbook.xml").is_some() {
        Ok(Format::Xlsx)
    } else if archive.index_for_name("content.xml").is_some()
        && archive.index_for_name("mimetype").is_some()
    {
        Ok(Format::Ods)
    } else {
        Err(FileError::Spreadsheet {
            format: "zip",
            message: "a zip file, but not an Excel (xlsx) or OpenDocument (ods) workbook".into(),
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

pub fn open(path: &Path, format: Format, limits: Limits) -> Result<Table, FileError> {
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
    let range = range?;
    let (first_row, first_col) = range.start().unwrap_or((0, 0));
    for (i, cells) in range.rows().enumerate() {
        let fields: Vec<String> = cells
            .iter()
            .enumerate()
            .take_while(|(j, _)| first_col + (*j as u32) < MAX_COLUMNS)
            .map(|(_, cell)| data_text(cell))
            .collect();
        let mut fields = fields;
        if first_col > 0 {
            let mut padded = vec![String::new(); first_col.min(MAX_COLUMNS) as usize];
            padded.append(&mut fields);
            fields = padded;
        }
        if fields.iter().all(String::is_empty) {
            continue;
        }
        let line = u64::from(first_row) + i as u64 + 1;
        if tx.send(Ok(Row { line, fields })).is_err() {
            break;
        }
    }
    Ok(())
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
            Some((r, fields)) if !fields.iter().all(String::is_empty) => tx
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
        if c >= MAX_COLUMNS {
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

fn date_text(dt: Option<chrono::NaiveDateTime>, raw: f64) -> String {
    match dt {
        Some(dt) if dt.time() == chrono::NaiveTime::MIN => dt.date().format("%Y-%m-%d").to_string(),
        Some(dt) => dt.format("%Y-%m-%d %H:%M:%S").to_string(),
        None => number_text(raw),
    }
}

fn data_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
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
        DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.clone(),
        DataRef::SharedString(s) => (*s).to_owned(),
        DataRef::Int(i) => i.to_string(),
        DataRef::Float(f) => number_text(*f),
        DataRef::Bool(b) => b.to_string(),
        DataRef::DateTime(d) => date_text(d.as_datetime(), d.as_f64()),
        DataRef::Error(e) => format!("#{e:?}"),
    }
}
