//! The Dutch texts of a file that could not be checked (the English ones are the errors'
//! `Display`). Values in them come from the file and are redacted by the caller.

use crate::check::Fatal;
use crate::formats::FileError;

/// What a Dutch receipt says about a file that could not be checked.
pub fn fatal(fatal: &Fatal) -> String {
    match fatal {
        Fatal::File(e) => file_error(e),
        Fatal::Layout(unknown) => {
            let mut text = String::from(
                "onbekende indeling: de kopregel is niet die van een bekende gegevensset.",
            );
            for dataset in crate::datasets::Dataset::ALL {
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
                .map(|h| crate::datasets::shown(h))
                .collect();
            text.push_str(&format!(" Gevonden: {}.", found.join(", ")));
            text
        }
        Fatal::NotAllowed { dataset, allowed } => {
            format!("{dataset} kan hier niet worden aangeleverd: deze map neemt {allowed}")
        }
    }
}

fn file_error(e: &FileError) -> String {
    match e {
        FileError::Empty => "het bestand is leeg".into(),
        FileError::NoHeader => "het bestand heeft geen kopregel".into(),
        FileError::Binary => "dit is geen tekstbestand (het bevat NUL-bytes) en geen Excel- of XML-bestand; lever CSV, XLSX of XML in UTF-8".into(),
        FileError::LineTooLong { line, limit } => {
            format!("regel {line} is langer dan {limit} bytes")
        }
        FileError::TooManyRows { limit } => format!("meer dan {limit} gegevensregels"),
        FileError::TooLarge { limit } => {
            format!("het bestand pakt uit tot meer dan {}", size(*limit))
        }
        FileError::Doctype => "XML met een DOCTYPE (DTD) wordt niet aanvaard".into(),
        FileError::Xml { line, message } => format!("XML, regel {line}: {message}"),
        FileError::Spreadsheet { format, message } => format!("{format}: {message}"),
        FileError::Io(e) => format!("het bestand kan niet worden gelezen: {e}"),
    }
}

/// A size as people read it (and as redaction leaves it: never eight digits in a row).
pub fn size(bytes: u64) -> String {
    const MIB: u64 = 1 << 20;
    if bytes >= MIB && bytes % MIB == 0 {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= MIB {
        format!("{:.1} MiB", bytes as f64 / MIB as f64)
    } else {
        format!("{bytes} bytes")
    }
}
