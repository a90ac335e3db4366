//! Files for tests: the sample workbooks with parts replaced (so that every other part is
//! what a real writer made), and the pieces of an ods sheet.

use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;

/// The header of `metingen`.
pub(crate) const METINGEN: [&str; 8] = [
    "zorgaanbiedercode",
    "pseudobsn",
    "metingnummer",
    "datum",
    "gebruiktMeetinstrument",
    "typeRespondent",
    "totaalscoreMeting",
    "status",
];

/// A good `metingen` row.
pub(crate) const METING: [&str; 8] = [
    "87654321",
    "111222333",
    "M-1",
    "2026-10-01",
    "CT",
    "01",
    "8,5",
    "Volledig",
];

pub(crate) fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(name)
}

/// The sample zip `name` with the entries in `replace` put in (or added).
pub(crate) fn rezip(name: &str, replace: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut bytes = Vec::new();
    std::fs::File::open(sample(name))
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let deflated = SimpleFileOptions::default();
    let mut done = Vec::new();
    for i in 0..archive.len() {
        let entry = archive.by_index(i).unwrap();
        let entry_name = entry.name().unwrap().into_owned();
        match replace.iter().find(|(n, _)| *n == entry_name) {
            Some((n, content)) => {
                out.start_file(*n, deflated).unwrap();
                out.write_all(content).unwrap();
                done.push(*n);
            }
            None => out.raw_copy_file(entry).unwrap(),
        }
    }
    for (n, content) in replace.iter().filter(|(n, _)| !done.contains(n)) {
        out.start_file(*n, deflated).unwrap();
        out.write_all(content).unwrap();
    }
    out.finish().unwrap().into_inner()
}

/// An ods `content.xml` of the given sheets (name, rows as XML).
pub(crate) fn ods_content(sheets: &[(&str, String)]) -> Vec<u8> {
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" office:version="1.2"><office:body><office:spreadsheet>"#,
    );
    for (name, rows) in sheets {
        xml.push_str(&format!(
            r#"<table:table table:name="{name}">{rows}</table:table>"#
        ));
    }
    xml.push_str("</office:spreadsheet></office:body></office:document-content>");
    xml.into_bytes()
}

/// An ods row of string cells.
pub(crate) fn ods_row(cells: &[&str]) -> String {
    let cells: String = cells
        .iter()
        .map(|c| {
            format!(r#"<table:table-cell office:value-type="string"><text:p>{c}</text:p></table:table-cell>"#)
        })
        .collect();
    format!("<table:table-row>{cells}</table:table-row>")
}

/// An ods built from the sample with these sheets.
pub(crate) fn ods(sheets: &[(&str, String)]) -> Vec<u8> {
    rezip("metingen-good.ods", &[("content.xml", ods_content(sheets))])
}

pub(crate) fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}
