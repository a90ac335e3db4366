//! What a municipality's bundle holds (DESIGN 5): every CSV file and column with its kind and
//! its meaning in Dutch. The publisher writes its headers from these tables and `LEESMIJ.txt`
//! explains the same tables, so the two cannot drift apart.
//!
//! Numbers are written for a Dutch spreadsheet: a decimal comma and no thousands separator
//! ([`number`]). Codes are written as they were delivered, leading zeros kept.

use std::fmt::Write as _;

use crate::figures::MIN_CLIENTS;

/// The bundle format, as the manifest and `LEESMIJ.txt` state it. 2: column names as the
/// dataset has them, numbers with a decimal comma and never made text, `LEESMIJ.txt`.
pub const SCHEMA_VERSION: u32 = 2;

/// What a column holds, and so how a spreadsheet should read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A code that must stay text: leading zeros matter (`0344`, `01`).
    Code,
    /// A keyed hash: 64 hexadecimal characters, stable within this municipality.
    Hashed,
    /// A date, `jjjj-mm-dd`.
    Date,
    /// A moment, ISO 8601 with the offset of the configured time zone.
    Time,
    /// A number, with a decimal comma.
    Number,
    /// Free text.
    Text,
}

impl Kind {
    /// The kind as `LEESMIJ.txt` names it.
    pub fn dutch(self) -> &'static str {
        match self {
            Kind::Code => "code (tekst)",
            Kind::Hashed => "versleuteld",
            Kind::Date => "datum",
            Kind::Time => "tijdstip",
            Kind::Number => "getal",
            Kind::Text => "tekst",
        }
    }
}

/// One column of a bundle CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    /// What it holds, in Dutch, with its code list where it has one.
    pub meaning: &'static str,
}

/// One CSV file of a bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct File {
    pub name: &'static str,
    /// What one row is, in Dutch.
    pub meaning: &'static str,
    pub columns: &'static [Column],
}

impl File {
    /// The header row.
    pub fn header(&self) -> Vec<&'static str> {
        self.columns.iter().map(|c| c.name).collect()
    }
}

const fn col(name: &'static str, kind: Kind, meaning: &'static str) -> Column {
    Column {
        name,
        kind,
        meaning,
    }
}

const AGB: Column = col(
    "zorgaanbiedercode",
    Kind::Code,
    "AGB-code van de zorgaanbieder (8 cijfers)",
);

pub const BESCHIKKINGEN: File = File {
    name: "Beschikkingen.csv",
    meaning: "uw beschikkingen, zoals u ze aanleverde (nieuw of gewijzigd sinds de vorige bundel)",
    columns: &[
        col(
            "gemeentecode",
            Kind::Code,
            "CBS-code van uw gemeente (4 cijfers)",
        ),
        col(
            "beschikkingnummer",
            Kind::Hashed,
            "uw beschikkingnummer, versleuteld",
        ),
        col(
            "pseudobsn",
            Kind::Hashed,
            "de cliënt, versleuteld (nooit het BSN zelf)",
        ),
        AGB,
        col(
            "productcategorie",
            Kind::Code,
            "productcategorie (2 cijfers)",
        ),
        col("productcode", Kind::Code, "productcode (tot 5 tekens)"),
        col("ingangsdatum", Kind::Date, "begin van de beschikking"),
        col(
            "einddatum",
            Kind::Date,
            "einde van de beschikking; leeg zolang zij loopt",
        ),
        col(
            "redenBeeindiging",
            Kind::Code,
            "reden van beëindiging (iJw-codelijst JZ588: 02, 20, 31 tot en met 39; 32 tot en met 35 tellen als uitval); leeg zolang zij loopt",
        ),
    ],
};

pub const METINGEN: File = File {
    name: "Metingen.csv",
    meaning: "metingen van zorgaanbieders die bij een van uw beëindigde beschikkingen horen \
              (zelfde cliënt en zorgaanbieder, meetdatum van een maand voor tot een maand na \
              de einddatum)",
    columns: &[
        AGB,
        col(
            "metingnummer",
            Kind::Hashed,
            "nummer van de meting bij de zorgaanbieder, versleuteld",
        ),
        col(
            "pseudobsn",
            Kind::Hashed,
            "de cliënt, versleuteld; gelijk aan pseudobsn in Beschikkingen.csv",
        ),
        col("datum", Kind::Date, "datum van de meting"),
        col(
            "gebruiktMeetinstrument",
            Kind::Code,
            "CT (cliënttevredenheid) of GAS (doelrealisatie, goal attainment scaling)",
        ),
        col(
            "typeRespondent",
            Kind::Code,
            "01 cliënt, 02 behandelaar, 03 vader, 04 moeder, 05 leerkracht, 06 voogd",
        ),
        col(
            "totaalscoreMeting",
            Kind::Number,
            "totaalscore: CT 0 tot en met 10, GAS -2 tot en met 2; leeg als de meting niet is ingevuld",
        ),
        col(
            "status",
            Kind::Text,
            "leeg of Volledig (meting volledig), Onvolledig (deels ingevuld), Nee (uitgezet, niet ingevuld)",
        ),
    ],
};

pub const KOPPELINGEN: File = File {
    name: "Koppelingen.csv",
    meaning: "welke meting bij welke beschikking hoort",
    columns: &[
        col(
            "beschikkingnummer",
            Kind::Hashed,
            "als in Beschikkingen.csv",
        ),
        AGB,
        col("metingnummer", Kind::Hashed, "als in Metingen.csv"),
    ],
};

pub const KWALITEIT: File = File {
    name: "Kwaliteit.csv",
    meaning: "hoe elke levering verliep: die van uw gemeente en die van de zorgaanbieders \
              die uw beschikkingen noemen",
    columns: &[
        col("levering", Kind::Number, "volgnummer van de levering"),
        col(
            "aanleverancier",
            Kind::Code,
            "AGB-code van de zorgaanbieder of CBS-code van de gemeente",
        ),
        col("gegevens", Kind::Text, "metingen of beschikkingen"),
        col("ontvangen", Kind::Time, "wanneer het bestand binnenkwam"),
        col("verwerkt", Kind::Time, "wanneer het werd verwerkt"),
        col(
            "uitkomst",
            Kind::Text,
            "verwerkt, afgewezen, quarantaine of dubbel",
        ),
        col("rijen", Kind::Number, "aantal rijen in het bestand"),
        col(
            "geaccepteerd",
            Kind::Number,
            "rijen die alle controles doorstonden",
        ),
        col("afgekeurd", Kind::Number, "rijen die zijn afgekeurd"),
        col(
            "redenen",
            Kind::Text,
            "meest voorkomende afkeurredenen, met aantallen",
        ),
        col(
            "regels",
            Kind::Text,
            "dezelfde redenen als regel-id's (zie dropgate spec), voor scripts",
        ),
    ],
};

pub const INDICATOREN: File = File {
    name: "Indicatoren.csv",
    meaning: "de kengetallen per kwartaal van de einddatum, over al uw beëindigde beschikkingen",
    columns: &[
        col(
            "periode",
            Kind::Text,
            "kwartaal van de einddatum, zoals 2026-Q3",
        ),
        col(
            "beeindigd",
            Kind::Number,
            "aantal beschikkingen dat in het kwartaal eindigde",
        ),
        col(
            "clienten",
            Kind::Number,
            "aantal verschillende cliënten daarvan",
        ),
        col(
            "respons",
            Kind::Number,
            "aandeel (0 tot 1) van die beschikkingen met minstens één volledige meting (status leeg of Volledig)",
        ),
        col(
            "ct_gemiddeld",
            Kind::Number,
            "gemiddelde CT-score over volledige metingen",
        ),
        col(
            "gas_gemiddeld",
            Kind::Number,
            "gemiddelde GAS-score over volledige metingen",
        ),
        col(
            "uitval",
            Kind::Number,
            "aandeel (0 tot 1) van die beschikkingen dat voortijdig eindigde (reden 32 tot en met 35)",
        ),
        col(
            "metingen",
            Kind::Number,
            "aantal gekoppelde metingen, van elke status",
        ),
        col(
            "onderdrukt",
            Kind::Number,
            "1 als de kengetallen niet getoond worden (minder dan 10 cliënten), anders 0",
        ),
    ],
};

/// Every CSV of a bundle, in the order the bundle holds them.
pub const FILES: [File; 5] = [BESCHIKKINGEN, METINGEN, KOPPELINGEN, KWALITEIT, INDICATOREN];

/// `value` with `decimals` decimals and a decimal comma, as a Dutch spreadsheet reads it.
pub fn number(value: f64, decimals: usize) -> String {
    format!("{value:.decimals$}").replace('.', ",")
}

/// A delivered decimal (a score) as short as it goes, with a decimal comma.
pub fn decimal(value: f64) -> String {
    value.to_string().replace('.', ",")
}

/// What a full bundle covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Covers<'a> {
    /// Everything the ledger holds (a `REQUEST-FULL` asks for this).
    Everything,
    /// From this date on, as shown to people.
    Since(&'a str),
}

/// What the bundle covers, for `LEESMIJ.txt`.
pub struct About<'a> {
    pub bundle: &'a str,
    pub municipality: &'a str,
    pub code: &'a str,
    /// What a full bundle covers; `None` for a weekly one.
    pub full: Option<Covers<'a>>,
    /// When it was made, as people read it (`dd-mm-jjjj uu:mm`).
    pub made: &'a str,
}

/// `LEESMIJ.txt`: what the bundle is, each file and column, the hashed values, suppression
/// and how to open the files in Excel. Lines end in CRLF, for Notepad.
pub fn leesmij(about: &About<'_>) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "LEESMIJ bij {}", about.bundle);
    let _ = writeln!(t, "{}", "=".repeat(12 + about.bundle.chars().count()));
    let _ = writeln!(t);
    let _ = writeln!(
        t,
        "Deze bundel is voor {} (CBS-code {}), gemaakt op {}.",
        about.municipality, about.code, about.made
    );
    match about.full {
        Some(covers) => {
            let since = match covers {
                Covers::Everything => String::new(),
                Covers::Since(date) => format!(" vanaf {date}"),
            };
            let _ = writeln!(
                t,
                "Het is een totaalbundel: alle gegevens voor uw gemeente{since}, ook wat u al \
                 eerder kreeg. De wekelijkse bundels gaan daarnaast gewoon door."
            );
        }
        None => {
            let _ = writeln!(
                t,
                "Het is een wekelijkse bundel: alles wat sinds de vorige bundel nieuw is of is \
                 gewijzigd. Een rij die later wordt gecorrigeerd, komt in een volgende bundel \
                 opnieuw; de nieuwste versie geldt."
            );
        }
    }
    let _ = writeln!(
        t,
        "\nSchemaversie {SCHEMA_VERSION} (ook in manifest.json). Nieuw in versie 2: de kolomnamen \
         volgen de dataset (metingnummer, pseudobsn, beschikkingnummer), getallen hebben een \
         decimale komma en nooit een apostrof ervoor, en dit bestand."
    );
    let _ = writeln!(t, "\nBestanden\n---------");
    for file in FILES {
        let _ = writeln!(t, "\n{}: {}.", file.name, file.meaning);
        let width = file.columns.iter().map(|c| c.name.len()).max().unwrap_or(0);
        for c in file.columns {
            let _ = writeln!(
                t,
                "  {:width$}  {:13} {}",
                c.name,
                c.kind.dutch(),
                c.meaning
            );
        }
    }
    let _ = writeln!(
        t,
        "\nmanifest.json: de schemaversie, de periode, en per bestand het aantal rijen en de \
         SHA-256, om na te gaan dat alles heel is aangekomen."
    );
    let _ = writeln!(
        t,
        "\nVersleutelde waarden\n--------------------\n\
         Kolommen van de soort 'versleuteld' bevatten geen nummer dat iemand kan terugvinden: \
         het is een sleutelhash (HMAC-SHA-256) met een sleutel die alleen voor uw gemeente \
         geldt. Dezelfde cliënt, beschikking of meting heeft in al uw bundels dezelfde waarde, \
         zodat u bestanden en bundels aan elkaar kunt koppelen; een andere gemeente ziet voor \
         dezelfde cliënt een andere waarde. Een BSN staat nooit in een bundel."
    );
    let _ = writeln!(
        t,
        "\nOnderdrukking\n-------------\n\
         Kengetallen over minder dan {MIN_CLIENTS} cliënten worden niet getoond, zodat niemand \
         herkenbaar is: de kolommen blijven leeg en onderdrukt is 1. Leeg betekent dus 'niet \
         getoond', nooit nul."
    );
    let _ = writeln!(
        t,
        "\nOpenen in Excel\n---------------\n\
         De bestanden zijn UTF-8 met BOM, gescheiden door puntkomma's, met CRLF-regeleinden en \
         een decimale komma, zoals een Nederlandse Excel ze verwacht. Dubbelklikken werkt, maar \
         dan maakt Excel van codes getallen en vallen voorloopnullen weg (0344 wordt 344, 01 \
         wordt 1). Gebruik daarom Gegevens > Uit tekst/CSV (Power Query), kies bij 'Gegevens \
         transformeren' voor de codekolommen het type Tekst, en de codes blijven zoals ze \
         zijn. Een cel die met =, +, - of @ begint en geen getal is, staat er met een \
         apostrof voor, zodat Excel haar nooit als formule uitvoert."
    );
    t.replace('\n', "\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_a_decimal_comma() {
        assert_eq!(number(0.6666, 3), "0,667");
        assert_eq!(number(-1.0, 2), "-1,00");
        assert_eq!(decimal(8.5), "8,5");
        assert_eq!(decimal(-2.0), "-2");
    }

    #[test]
    fn leesmij_names_every_file_and_column() {
        let text = leesmij(&About {
            bundle: "Bundel-utrecht-20261130060000.zip",
            municipality: "Utrecht",
            code: "0344",
            full: None,
            made: "30-11-2026 06:00",
        });
        for file in FILES {
            assert!(text.contains(file.name), "{}", file.name);
            for c in file.columns {
                assert!(text.contains(&format!("  {} ", c.name)), "{}", c.name);
            }
        }
        assert!(!text.replace("\r\n", "").contains('\n'), "CRLF only");
    }
}
