//! The Dutch texts of a file that could not be checked (the English ones are the errors'
//! `Display`). Values in them come from the file and are redacted by the caller.

use crate::check::Fatal;
use crate::check::formats::{FileError, size_text};

/// What a Dutch receipt says about a file that could not be checked.
pub(super) fn fatal(fatal: &Fatal) -> String {
    match fatal {
        Fatal::File(e) => file_error(e),
        Fatal::Header(unknown) => {
            let mut text = String::from(
                "onbekende indeling: de kopregel is niet die van een bekende gegevensset.",
            );
            for dataset in crate::check::datasets::Dataset::ALL {
                let names: Vec<&str> = dataset.columns().iter().map(|c| c.name).collect();
                text.push_str(&format!(
                    " {dataset} heeft de kolommen {}",
                    names.join(", ")
                ));
                if let Some((_, missing)) = unknown.missing.iter().find(|(d, _)| *d == dataset) {
                    text.push_str(&format!(" (hier ontbreken: {})", missing.join(", ")));
                }
                text.push('.');
            }
            let found: Vec<String> = unknown
                .found
                .iter()
                .take(32)
                .map(|h| crate::check::datasets::shown(h))
                .collect();
            text.push_str(&format!(" Gevonden: {}.", found.join(", ")));
            text
        }
        Fatal::NotAllowed { dataset, allowed } => {
            format!("{dataset} kan hier niet worden aangeleverd: deze map neemt {allowed}")
        }
        Fatal::MessagesNotAllowed => {
            "iJw- en iWmo-berichten kunnen hier niet worden aangeleverd: ze komen van een gemeente"
                .to_owned()
        }
    }
}

fn file_error(e: &FileError) -> String {
    match e {
        FileError::Empty => "het bestand is leeg".into(),
        FileError::NoHeader => "het bestand heeft geen kopregel".into(),
        FileError::Binary { kind } => format!(
            "het bestand is {}, geen tabel: lever CSV, XLSX of XML in UTF-8",
            binary_kind(kind)
        ),
        FileError::NoDataRows => {
            "geen gegevensregels: het bestand heeft een kopregel maar geen gegevens".into()
        }
        FileError::SpreadsheetBomb { what } => {
            format!(
                "het werkblad wordt ongelezen geweigerd, want het is groter dan een levering kan zijn: {what}"
            )
        }
        FileError::LineTooLong { line, limit } => {
            format!("regel {line} is langer dan {limit} bytes")
        }
        FileError::TooManyRows { limit } => format!("meer dan {limit} gegevensregels"),
        FileError::TooLarge { limit } => {
            format!("het bestand pakt uit tot meer dan {}", size_text(*limit))
        }
        FileError::Doctype => "XML met een DOCTYPE (DTD) wordt niet aanvaard".into(),
        // The detail comes from the parser, in English; the sentence around it says what it
        // means for the sender.
        FileError::Xml { line, message } => {
            format!(
                "XML, regel {line}: het bestand is geen geldige XML (melding van de lezer: {message})"
            )
        }
        FileError::Spreadsheet { format, message } => format!(
            "{format}: het bestand is beschadigd of geen bruikbaar werkblad (melding van de lezer: {message})"
        ),
        FileError::Zip(message) => {
            format!("de zip kan niet worden gelezen (melding van de lezer: {message})")
        }
        FileError::Io(e) => format!("het bestand kan niet worden gelezen: {e}"),
    }
}

/// The Dutch of `formats`' binary kinds.
fn binary_kind(kind: &str) -> &str {
    match kind {
        "a gzip archive" => "een gzip-archief",
        "a PDF document" => "een PDF-document",
        "a PNG image" => "een PNG-afbeelding",
        "a JPEG image" => "een JPEG-afbeelding",
        "a GIF image" => "een GIF-afbeelding",
        "a 7-Zip archive" => "een 7-Zip-archief",
        "a RAR archive" => "een RAR-archief",
        "an xz archive" => "een xz-archief",
        "a program (ELF executable)" => "een programma (ELF)",
        "a bzip2 archive" => "een bzip2-archief",
        "a Windows program (EXE or DLL)" => "een Windows-programma (EXE of DLL)",
        "a binary file of unknown kind" => "een binair bestand van onbekende soort",
        "an Office file that is not an Excel workbook" => {
            "een Office-bestand dat geen Excel-werkmap is"
        }
        "a Word document (docx)" => "een Word-document (docx)",
        "a zip archive, not an Excel (xlsx) or OpenDocument (ods) workbook" => {
            "een zip-archief, geen Excel- (xlsx) of OpenDocument-werkmap (ods)"
        }
        other => other,
    }
}
