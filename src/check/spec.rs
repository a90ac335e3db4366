//! `dropgate spec`: the delivery specification, in Dutch, written from the tables the checks
//! use (each dataset's columns and `datasets::rules`), so that it cannot drift from them.

use std::fmt::Write as _;

use crate::check::datasets::{Dataset, Rule, rules};

/// Rules of a whole row, not of one column.
const ROW_RULES: [&Rule; 2] = [&rules::UNREADABLE, &rules::EXTRA_FIELDS];

/// Who delivers a dataset, in Dutch.
fn deliverer(dataset: Dataset) -> &'static str {
    match dataset {
        Dataset::Metingen => "zorgaanbieders en hun softwareleveranciers",
        Dataset::Beschikkingen => "gemeenten",
    }
}

/// The specification as Markdown.
pub fn markdown() -> String {
    let mut t = String::new();
    let _ = writeln!(t, "# Aanleverspecificatie\n");
    let _ = writeln!(
        t,
        "Lever een bestand als CSV (UTF-8 of Windows-1252, gescheiden door `;`, `,`, tab of `|`), Excel \
         (xlsx, xls, ods; het eerste werkblad) of XML (`<metingen><meting>...`). De eerste rij \
         is de kopregel: de technische kolomnamen of de namen van het datasetblad; hoofdletters, \
         spaties en streepjes maken niet uit, de volgorde ook niet. Andere kolommen worden \
         genegeerd. Elke rij wordt apart gecontroleerd: een afgekeurde rij staat in het \
         ontvangstbewijs met regel, kolom, waarde en de regel (id) die zij brak; de andere rijen \
         worden verwerkt. Controleer een bestand vooraf met `dropgate validate BESTAND`."
    );
    for dataset in Dataset::ALL {
        let _ = writeln!(
            t,
            "\n## {} (aangeleverd door {})\n",
            dataset.name(),
            deliverer(dataset)
        );
        let _ = writeln!(
            t,
            "| kolom | naam op het datasetblad | in de kopregel | inhoud | regels | voorbeeld |"
        );
        let _ = writeln!(t, "|---|---|---|---|---|---|");
        for c in dataset.columns() {
            let rules: Vec<String> = c
                .rules
                .iter()
                .map(|r| format!("`{}`: {}", r.id, r.nl))
                .collect();
            let _ = writeln!(
                t,
                "| `{}` | {} | {} | {} | {} | `{}` |",
                c.name,
                c.display,
                if c.required {
                    "verplicht"
                } else {
                    "mag ontbreken"
                },
                c.about,
                rules.join("; "),
                c.example
            );
        }
    }
    let _ = writeln!(t, "\n## Regels voor de hele rij\n");
    for r in ROW_RULES {
        let _ = writeln!(t, "- `{}`: {}", r.id, r.nl);
    }
    let _ = writeln!(t, "\n## Regels voor iJw- en iWmo-berichten\n");
    let _ = writeln!(
        t,
        "Een bericht van iJw 3.2 of iWmo 3.2 (XML) wordt herkend aan de namespace van zijn \
         element `Bericht` en gecontroleerd tegen het gepubliceerde XSD-schema van zijn \
         berichttype. Elk probleem noemt de regel in het bestand, het pad van het element \
         (zoals `Client/Bsn`) en de regel (id) die het brak.\n"
    );
    for r in rules::MESSAGE_RULES {
        let _ = writeln!(t, "- `{}`: {}", r.id, r.nl);
    }
    t
}

/// The specification as CSV (`;`, one line per column and rule), for scripts and Excel.
pub fn csv() -> String {
    let mut out = crate::sheet::writer().from_writer(Vec::new());
    let mut row = |cells: [&str; 8]| {
        out.write_record(cells)
            .expect("writing to memory cannot fail");
    };
    row([
        "dataset",
        "kolom",
        "naam op het datasetblad",
        "in de kopregel",
        "inhoud",
        "regel",
        "wat de regel vraagt",
        "voorbeeld",
    ]);
    for dataset in Dataset::ALL {
        for c in dataset.columns() {
            let required = if c.required {
                "verplicht"
            } else {
                "mag ontbreken"
            };
            for r in c.rules {
                row([
                    dataset.name(),
                    c.name,
                    c.display,
                    required,
                    c.about,
                    r.id,
                    r.nl,
                    c.example,
                ]);
            }
        }
    }
    for r in ROW_RULES {
        row(["", "", "", "", "hele rij", r.id, r.nl, ""]);
    }
    for r in rules::MESSAGE_RULES {
        row(["", "", "", "", "iJw- of iWmo-bericht", r.id, r.nl, ""]);
    }
    let bytes = out.into_inner().expect("writing to memory cannot fail");
    String::from_utf8(bytes).expect("every text here is UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The examples, one row of each dataset, pass every rule.
    #[test]
    fn the_examples_pass() {
        use crate::check::datasets::{Context, ScoreRanges};
        use crate::check::formats::Row;
        let ctx = Context {
            today: chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap(),
            scores: ScoreRanges::default(),
            provider: None,
            municipality: None,
            datasets: &[],
        };
        for dataset in Dataset::ALL {
            let columns = dataset.columns();
            let header: Vec<String> = columns.iter().map(|c| c.name.to_owned()).collect();
            let row = Row {
                line: 2,
                fields: columns.iter().map(|c| c.example.to_owned()).collect(),
            };
            let layout = Dataset::detect(&header).unwrap();
            assert!(layout.check(&row, &ctx).is_ok(), "{}", dataset.name());
        }
    }

    /// Every rule a row can break is in the specification, in both forms.
    #[test]
    fn every_rule_and_column_is_specified() {
        let (md, csv) = (markdown(), csv());
        for r in rules::ALL {
            assert!(md.contains(&format!("`{}`: {}", r.id, r.nl)), "{}", r.id);
            assert!(csv.contains(&format!(";{};", r.id)), "{}", r.id);
        }
        for dataset in Dataset::ALL {
            for c in dataset.columns() {
                assert!(!c.about.is_empty() && !c.example.is_empty(), "{}", c.name);
                assert!(!c.rules.is_empty(), "{}", c.name);
                assert!(md.contains(&format!("| `{}` |", c.name)), "{}", c.name);
            }
        }
    }
}
