//! What a municipality's bundle holds (DESIGN 5): every CSV file and column with its kind and
//! its meaning in Dutch. The publisher writes its headers from these tables and `LEESMIJ.txt`
//! explains the same tables, so the two cannot drift apart.
//!
//! Numbers are written for a Dutch spreadsheet: a decimal comma and no thousands separator
//! ([`number`]). Codes are written as they were delivered, leading zeros kept.

use std::fmt::Write as _;

use crate::figures::MIN_CLIENTS;
use crate::mail::messages::Covers;
use crate::message::Language;

/// The bundle format, as the manifest and `LEESMIJ.txt` state it. 2: column names as the
/// dataset has them, numbers with a decimal comma and never made text, `LEESMIJ.txt`.
/// 3: `IndicatorenPerAanbieder.csv`, `Overzicht.html`, and `tijdig` last in `Kwaliteit.csv`.
pub const SCHEMA_VERSION: u32 = 3;

/// What a column holds, and so how a spreadsheet should read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
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
    pub(crate) fn name(self) -> Words {
        match self {
            Kind::Code => Words::new("code (tekst)", "code (text)"),
            Kind::Hashed => Words::new("versleuteld", "hashed"),
            Kind::Date => Words::new("datum", "date"),
            Kind::Time => Words::new("tijdstip", "time"),
            Kind::Number => Words::new("getal", "number"),
            Kind::Text => Words::new("tekst", "text"),
        }
    }
}

/// A fixed text in Dutch and English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Words {
    pub nl: &'static str,
    pub en: &'static str,
}

impl Words {
    pub(crate) const fn new(nl: &'static str, en: &'static str) -> Self {
        Self { nl, en }
    }

    pub(crate) fn pick(self, language: Language) -> &'static str {
        match language {
            Language::Dutch => self.nl,
            Language::English => self.en,
        }
    }
}

/// One column of a bundle CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Column {
    pub name: &'static str,
    pub kind: Kind,
    /// What it holds, with its code list where it has one.
    pub meaning: Words,
}

/// One CSV file of a bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct File {
    pub name: &'static str,
    /// What one row is.
    pub meaning: Words,
    pub columns: &'static [Column],
}

impl File {
    /// The header row.
    pub(crate) fn header(&self) -> Vec<&'static str> {
        self.columns.iter().map(|c| c.name).collect()
    }
}

const fn col(name: &'static str, kind: Kind, nl: &'static str, en: &'static str) -> Column {
    Column {
        name,
        kind,
        meaning: Words::new(nl, en),
    }
}

const AGB: Column = col(
    "zorgaanbiedercode",
    Kind::Code,
    "AGB-code van de zorgaanbieder (8 cijfers)",
    "AGB code of the care provider (8 digits)",
);

pub(crate) const BESCHIKKINGEN: File = File {
    name: "Beschikkingen.csv",
    meaning: Words::new(
        "uw beschikkingen, zoals u ze aanleverde (nieuw of gewijzigd sinds de vorige bundel)",
        "your decisions as you delivered them (new or changed since the previous bundle)",
    ),
    columns: &[
        col(
            "gemeentecode",
            Kind::Code,
            "CBS-code van uw gemeente (4 cijfers)",
            "CBS code of your municipality (4 digits)",
        ),
        col(
            "beschikkingnummer",
            Kind::Hashed,
            "uw beschikkingnummer, versleuteld",
            "your decision number, hashed",
        ),
        col(
            "pseudobsn",
            Kind::Hashed,
            "de cliënt, versleuteld (nooit het BSN zelf)",
            "the client, hashed (never the BSN itself)",
        ),
        AGB,
        col(
            "productcategorie",
            Kind::Code,
            "productcategorie (2 cijfers)",
            "product category (2 digits)",
        ),
        col(
            "productcode",
            Kind::Code,
            "productcode (tot 5 tekens)",
            "product code (up to 5 characters)",
        ),
        col(
            "ingangsdatum",
            Kind::Date,
            "begin van de beschikking",
            "start of the decision",
        ),
        col(
            "einddatum",
            Kind::Date,
            "einde van de beschikking; leeg zolang zij loopt",
            "end of the decision; empty while it runs",
        ),
        col(
            "redenBeeindiging",
            Kind::Code,
            "reden van beëindiging (iJw-codelijst JZ588: 02, 20, 31 tot en met 39; 32 tot en met 35 tellen als uitval); leeg zolang zij loopt",
            "reason for ending (iJw code list JZ588: 02, 20, 31 to 39; 32 to 35 count as dropout); empty while it runs",
        ),
    ],
};

pub(crate) const METINGEN: File = File {
    name: "Metingen.csv",
    meaning: Words::new(
        "metingen van zorgaanbieders die bij een van uw beëindigde beschikkingen horen \
              (zelfde cliënt en zorgaanbieder, meetdatum van een maand voor tot een maand na \
              de einddatum)",
        "measurements by care providers that belong to one of your ended decisions (same client and care provider, measured from a month before to a month after the end date)",
    ),
    columns: &[
        AGB,
        col(
            "metingnummer",
            Kind::Hashed,
            "nummer van de meting bij de zorgaanbieder, versleuteld",
            "the care provider's measurement number, hashed",
        ),
        col(
            "pseudobsn",
            Kind::Hashed,
            "de cliënt, versleuteld; gelijk aan pseudobsn in Beschikkingen.csv",
            "the client, hashed; equal to pseudobsn in Beschikkingen.csv",
        ),
        col(
            "datum",
            Kind::Date,
            "datum van de meting",
            "date of the measurement",
        ),
        col(
            "gebruiktMeetinstrument",
            Kind::Code,
            "CT (cliënttevredenheid) of GAS (doelrealisatie, goal attainment scaling)",
            "CT (client satisfaction) or GAS (goal attainment scaling)",
        ),
        col(
            "typeRespondent",
            Kind::Code,
            "01 cliënt, 02 behandelaar, 03 vader, 04 moeder, 05 leerkracht, 06 voogd",
            "01 client, 02 therapist, 03 father, 04 mother, 05 teacher, 06 guardian",
        ),
        col(
            "totaalscoreMeting",
            Kind::Number,
            "totaalscore: CT 0 tot en met 10, GAS -2 tot en met 2; leeg als de meting niet is ingevuld",
            "total score: CT 0 to 10, GAS -2 to 2; empty when the measurement was not filled in",
        ),
        col(
            "status",
            Kind::Text,
            "leeg of Volledig (meting volledig), Onvolledig (deels ingevuld), Nee (uitgezet, niet ingevuld)",
            "empty or Volledig (complete), Onvolledig (partly filled in), Nee (sent out, not filled in)",
        ),
    ],
};

pub(crate) const KOPPELINGEN: File = File {
    name: "Koppelingen.csv",
    meaning: Words::new(
        "welke meting bij welke beschikking hoort",
        "which measurement belongs to which decision",
    ),
    columns: &[
        col(
            "beschikkingnummer",
            Kind::Hashed,
            "als in Beschikkingen.csv",
            "as in Beschikkingen.csv",
        ),
        AGB,
        col(
            "metingnummer",
            Kind::Hashed,
            "als in Metingen.csv",
            "as in Metingen.csv",
        ),
    ],
};

pub(crate) const KWALITEIT: File = File {
    name: "Kwaliteit.csv",
    meaning: Words::new(
        "hoe elke levering verliep: die van uw gemeente en die van de zorgaanbieders \
              die uw beschikkingen noemen",
        "how each delivery fared: your municipality's and those of the care providers your decisions name",
    ),
    columns: &[
        col(
            "levering",
            Kind::Number,
            "volgnummer van de levering",
            "number of the delivery",
        ),
        col(
            "aanleverancier",
            Kind::Code,
            "AGB-code van de zorgaanbieder of CBS-code van de gemeente",
            "AGB code of the care provider or CBS code of the municipality",
        ),
        col(
            "gegevens",
            Kind::Text,
            "metingen of beschikkingen",
            "metingen or beschikkingen",
        ),
        col(
            "ontvangen",
            Kind::Time,
            "wanneer het bestand binnenkwam",
            "when the file arrived",
        ),
        col(
            "verwerkt",
            Kind::Time,
            "wanneer het werd verwerkt",
            "when it was processed",
        ),
        col(
            "uitkomst",
            Kind::Text,
            "verwerkt, afgewezen, quarantaine of dubbel",
            "verwerkt (processed), afgewezen (rejected), quarantaine (unreadable) or dubbel (duplicate)",
        ),
        col(
            "rijen",
            Kind::Number,
            "aantal rijen in het bestand",
            "rows in the file",
        ),
        col(
            "geaccepteerd",
            Kind::Number,
            "rijen die alle controles doorstonden",
            "rows that passed every check",
        ),
        col(
            "afgekeurd",
            Kind::Number,
            "rijen die zijn afgekeurd",
            "rows that were rejected",
        ),
        col(
            "redenen",
            Kind::Text,
            "meest voorkomende afkeurredenen, met aantallen",
            "most frequent rejection reasons, with counts",
        ),
        col(
            "regels",
            Kind::Text,
            "dezelfde redenen als regel-id's (zie dropgate spec), voor scripts",
            "the same reasons as rule ids (see dropgate spec), for scripts",
        ),
        // The days are `figures::ON_TIME_DAYS`; a test holds the two together.
        col(
            "tijdig",
            Kind::Number,
            "geaccepteerde metingen die op tijd kwamen: uiterlijk 91 dagen (een kwartaal) na \
             de meetdatum ontvangen; leeg bij beschikkingen",
            "accepted measurements that came on time: received at most 91 days (a quarter) \
             after the measurement date; empty for decisions",
        ),
    ],
};

pub(crate) const INDICATOREN: File = File {
    name: "Indicatoren.csv",
    meaning: Words::new(
        "de kengetallen per kwartaal van de einddatum, over al uw beëindigde beschikkingen",
        "the figures per quarter of the end date, over all your ended decisions",
    ),
    columns: &[
        col(
            "periode",
            Kind::Text,
            "kwartaal van de einddatum, zoals 2026-Q3",
            "quarter of the end date, such as 2026-Q3",
        ),
        col(
            "beeindigd",
            Kind::Number,
            "aantal beschikkingen dat in het kwartaal eindigde",
            "decisions that ended in the quarter",
        ),
        col(
            "clienten",
            Kind::Number,
            "aantal verschillende cliënten daarvan",
            "distinct clients among them",
        ),
        col(
            "respons",
            Kind::Number,
            "aandeel (0 tot 1) van die beschikkingen met minstens één volledige meting (status leeg of Volledig)",
            "share (0 to 1) of those decisions with at least one complete measurement (status empty or Volledig)",
        ),
        col(
            "ct_gemiddeld",
            Kind::Number,
            "gemiddelde CT-score over volledige metingen",
            "mean CT score over complete measurements",
        ),
        col(
            "gas_gemiddeld",
            Kind::Number,
            "gemiddelde GAS-score over volledige metingen",
            "mean GAS score over complete measurements",
        ),
        col(
            "uitval",
            Kind::Number,
            "aandeel (0 tot 1) van die beschikkingen dat voortijdig eindigde (reden 32 tot en met 35)",
            "share (0 to 1) of those decisions that ended early (reasons 32 to 35)",
        ),
        col(
            "metingen",
            Kind::Number,
            "aantal gekoppelde metingen, van elke status",
            "linked measurements, of any status",
        ),
        col(
            "onderdrukt",
            Kind::Number,
            "1 als de kengetallen niet getoond worden (minder dan 10 cliënten), anders 0",
            "1 when the figures are not shown (fewer than 10 clients), else 0",
        ),
    ],
};

/// The figures of `Indicatoren.csv` once more, per provider: side by side, each provider's
/// own quarters (suppressed under the same number of clients).
pub(crate) const INDICATOREN_PER_AANBIEDER: File = File {
    name: "IndicatorenPerAanbieder.csv",
    meaning: Words::new(
        "de kengetallen van Indicatoren.csv per kwartaal en per zorgaanbieder",
        "the figures of Indicatoren.csv per quarter and per care provider",
    ),
    columns: &PER_AANBIEDER_COLUMNS,
};

/// `periode`, the provider, then the figures of `Indicatoren.csv`.
const PER_AANBIEDER_COLUMNS: [Column; 10] = {
    let c = INDICATOREN.columns;
    [
        c[0],
        col(
            "zorgaanbiedercode",
            Kind::Code,
            "AGB-code van de zorgaanbieder die de beschikkingen noemen",
            "AGB code of the care provider the decisions name",
        ),
        c[1],
        c[2],
        c[3],
        c[4],
        c[5],
        c[6],
        c[7],
        c[8],
    ]
};

/// Every CSV of a bundle, in the order the bundle holds them.
pub(crate) const FILES: [File; 6] = [
    BESCHIKKINGEN,
    METINGEN,
    KOPPELINGEN,
    KWALITEIT,
    INDICATOREN,
    INDICATOREN_PER_AANBIEDER,
];

/// A delivered decimal (a score) as short as it goes, with a decimal comma.
pub(crate) fn decimal(value: f64) -> String {
    value.to_string().replace('.', ",")
}

/// What the bundle covers, for `LEESMIJ.txt`.
pub(crate) struct About<'a> {
    pub bundle: &'a str,
    pub municipality: &'a str,
    pub code: &'a str,
    /// What a full bundle covers; `None` for a weekly one.
    pub full: Option<Covers<'a>>,
    /// When it was made, as people read it (`dd-mm-jjjj uu:mm`).
    pub made: &'a str,
}

/// `LEESMIJ.txt`: what the bundle is, each file and column, the hashed values, suppression
/// and how to open the files in Excel, in `language`. Lines end in CRLF, for Notepad.
pub(crate) fn leesmij(about: &About<'_>, language: Language) -> String {
    let mut t = String::new();
    leesmij_intro(&mut t, about, language);
    leesmij_files(&mut t, language);
    leesmij_privacy(&mut t, language);
    leesmij_excel(&mut t, language);
    t.replace('\n', "\r\n")
}

/// `nl` in Dutch, `en` in English.
fn in_language(language: Language, nl: &str, en: &str) -> String {
    if language == Language::Dutch {
        nl.to_owned()
    } else {
        en.to_owned()
    }
}

/// A section heading of `LEESMIJ.txt`, underlined.
fn heading(t: &mut String, text: String) {
    let _ = writeln!(t, "\n{text}\n{}", "-".repeat(text.chars().count()));
}

/// The title, for whom the bundle is, what kind of bundle it is and the schema version.
fn leesmij_intro(t: &mut String, about: &About<'_>, language: Language) {
    let dutch = language == Language::Dutch;
    let say = |nl: &str, en: &str| in_language(language, nl, en);
    let title = say("LEESMIJ bij", "README for");
    let _ = writeln!(t, "{title} {}", about.bundle);
    let _ = writeln!(
        t,
        "{}",
        "=".repeat(title.chars().count() + 1 + about.bundle.chars().count())
    );
    let _ = writeln!(t);
    let _ = writeln!(
        t,
        "{}",
        if dutch {
            format!(
                "Deze bundel is voor {} (CBS-code {}), gemaakt op {}.",
                about.municipality, about.code, about.made
            )
        } else {
            format!(
                "This bundle is for {} (CBS code {}), made on {}.",
                about.municipality, about.code, about.made
            )
        }
    );
    let _ = writeln!(t, "{}", bundle_kind(about.full, dutch));
    let _ = writeln!(
        t,
        "\n{}",
        if dutch {
            format!(
                "Schemaversie {SCHEMA_VERSION} (ook in manifest.json). Nieuw in versie 3: \
                 IndicatorenPerAanbieder.csv, Overzicht.html en de laatste kolom van \
                 Kwaliteit.csv (tijdig). Nieuw in versie 2: de \
                 kolomnamen volgen de dataset (metingnummer, pseudobsn, beschikkingnummer), \
                 getallen hebben een decimale komma en nooit een apostrof ervoor, en dit bestand."
            )
        } else {
            format!(
                "Schema version {SCHEMA_VERSION} (also in manifest.json). New in version 3: \
                 IndicatorenPerAanbieder.csv, Overzicht.html and the last column of \
                 Kwaliteit.csv (tijdig). New in version 2: \
                 column names as the dataset has them (metingnummer, pseudobsn, \
                 beschikkingnummer), numbers with a decimal comma and never an apostrophe \
                 before them, and this file."
            )
        }
    );
}

/// What kind of bundle it is: weekly, or a full one of everything (from a date on).
fn bundle_kind(full: Option<Covers<'_>>, dutch: bool) -> String {
    let since = match full {
        Some(Covers::Since(date)) => Some(Some(date)),
        Some(Covers::Everything) => Some(None),
        None => None,
    };
    match (since, dutch) {
        (Some(since), true) => format!(
            "Het is een totaalbundel: alle gegevens voor uw gemeente{}, ook wat u al eerder \
             kreeg. De wekelijkse bundels gaan daarnaast gewoon door.",
            since.map(|d| format!(" vanaf {d}")).unwrap_or_default()
        ),
        (Some(since), false) => format!(
            "It is a full bundle: all data for your municipality{}, also what you received \
             before. The weekly bundles carry on beside it.",
            since.map(|d| format!(" from {d} on")).unwrap_or_default()
        ),
        (None, true) => "Het is een wekelijkse bundel: alles wat sinds de vorige bundel nieuw is \
                         of is gewijzigd. Een rij die later wordt gecorrigeerd, komt in een \
                         volgende bundel opnieuw; de nieuwste versie geldt."
            .to_owned(),
        (None, false) => "It is a weekly bundle: everything new or changed since the previous \
                          bundle. A row corrected later comes again in a later bundle; the \
                          newest version counts."
            .to_owned(),
    }
}

/// Each file with its columns (name, kind, meaning), and the manifest.
fn leesmij_files(t: &mut String, language: Language) {
    let say = |nl: &str, en: &str| in_language(language, nl, en);
    heading(t, say("Bestanden", "Files"));
    for file in FILES {
        let _ = writeln!(t, "\n{}: {}.", file.name, file.meaning.pick(language));
        let width = file.columns.iter().map(|c| c.name.len()).max().unwrap_or(0);
        for c in file.columns {
            let _ = writeln!(
                t,
                "  {:width$}  {:13} {}",
                c.name,
                c.kind.name().pick(language),
                c.meaning.pick(language)
            );
        }
    }
    let _ = writeln!(
        t,
        "\n{}",
        say(
            "Overzicht.html: de kengetallen van Indicatoren.csv als pagina met grafieken, die \
             in elke browser opent zonder internet.",
            "Overzicht.html: the figures of Indicatoren.csv as a page with charts, which opens \
             in any browser without internet."
        )
    );
    let _ = writeln!(
        t,
        "\n{}",
        say(
            "manifest.json: de schemaversie, de schrijfwijze van de CSV-bestanden, de periode, \
             en per bestand het aantal rijen en de SHA-256, om na te gaan dat alles heel is \
             aangekomen.",
            "manifest.json: the schema version, how the CSV files are written, the period, and \
             per file the number of rows and the SHA-256, to check that everything arrived whole."
        )
    );
}

/// Hashed values and suppression: what a municipality cannot trace back, and why some
/// figures are empty.
fn leesmij_privacy(t: &mut String, language: Language) {
    let dutch = language == Language::Dutch;
    let say = |nl: &str, en: &str| in_language(language, nl, en);
    heading(t, say("Versleutelde waarden", "Hashed values"));
    let _ = writeln!(
        t,
        "{}",
        say(
            "Kolommen van de soort 'versleuteld' bevatten geen nummer dat iemand kan \
             terugvinden: het is een sleutelhash (HMAC-SHA-256) met een sleutel die alleen voor \
             uw gemeente geldt. Dezelfde cliënt, beschikking of meting heeft in al uw bundels \
             dezelfde waarde, zodat u bestanden en bundels aan elkaar kunt koppelen; een andere \
             gemeente ziet voor dezelfde cliënt een andere waarde. Een BSN staat nooit in een \
             bundel.",
            "Columns of the kind 'hashed' hold no number anyone can trace back: it is a keyed \
             hash (HMAC-SHA-256) with a key of your municipality alone. The same client, \
             decision or measurement has the same value in all your bundles, so you can join \
             files and bundles; another municipality sees another value for the same client. A \
             BSN is never in a bundle."
        )
    );
    heading(t, say("Onderdrukking", "Suppression"));
    let _ = writeln!(
        t,
        "{}",
        if dutch {
            format!(
                "Kengetallen over minder dan {MIN_CLIENTS} cliënten worden niet getoond, zodat \
                 niemand herkenbaar is: de kolommen blijven leeg en onderdrukt is 1. Leeg \
                 betekent dus 'niet getoond', nooit nul."
            )
        } else {
            format!(
                "Figures over fewer than {MIN_CLIENTS} clients are not shown, so that no one can \
                 be recognised: the columns stay empty and onderdrukt is 1. Empty means 'not \
                 shown', never zero."
            )
        }
    );
}

/// How to open the files in Excel without losing leading zeros.
fn leesmij_excel(t: &mut String, language: Language) {
    let say = |nl: &str, en: &str| in_language(language, nl, en);
    heading(t, say("Openen in Excel", "Opening in Excel"));
    let _ = writeln!(
        t,
        "{}",
        say(
            "De bestanden zijn UTF-8 met BOM, gescheiden door puntkomma's, met CRLF-regeleinden \
             en een decimale komma, zoals een Nederlandse Excel ze verwacht. Dubbelklikken \
             werkt, maar dan maakt Excel van codes getallen en vallen voorloopnullen weg (0344 \
             wordt 344, 01 wordt 1). Gebruik daarom Gegevens > Uit tekst/CSV (Power Query), kies \
             bij 'Gegevens transformeren' voor de codekolommen het type Tekst, en de codes \
             blijven zoals ze zijn. Een cel die met =, +, - of @ begint en geen getal is, staat \
             er met een apostrof voor, zodat Excel haar nooit als formule uitvoert.",
            "The files are UTF-8 with a BOM, separated by semicolons, with CRLF line ends and a \
             decimal comma, as a Dutch Excel expects them. Double-clicking works, but then \
             Excel turns codes into numbers and drops leading zeros (0344 becomes 344, 01 \
             becomes 1). Use Data > From Text/CSV (Power Query) instead and give the code \
             columns the type Text under 'Transform Data': the codes stay as they are. A cell \
             that starts with =, +, - or @ and is not a number has an apostrophe before it, so \
             that Excel never runs it as a formula."
        )
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_a_decimal_comma() {
        assert_eq!(crate::sheet::number(0.6666, 3), "0,667");
        assert_eq!(crate::sheet::number(-1.0, 2), "-1,00");
        assert_eq!(decimal(8.5), "8,5");
        assert_eq!(decimal(-2.0), "-2");
    }

    #[test]
    fn leesmij_names_every_file_and_column_in_both_languages() {
        for (language, words) in [(Language::Dutch, "Bestanden"), (Language::English, "Files")] {
            let about = About {
                bundle: "Bundel-utrecht-20261130060000.zip",
                municipality: "Utrecht",
                code: "0344",
                full: Some(Covers::Everything),
                made: "30-11-2026 06:00",
            };
            let text = leesmij(&about, language);
            assert!(text.contains(words), "{text}");
            for file in FILES {
                assert!(text.contains(file.name), "{}", file.name);
                for c in file.columns {
                    assert!(text.contains(&format!("  {} ", c.name)), "{}", c.name);
                    assert!(text.contains(c.meaning.pick(language)), "{}", c.name);
                }
            }
            assert!(!text.replace("\r\n", "").contains('\n'), "CRLF only");
            assert!(!text.contains("1900"), "everything is not a date");
        }
    }

    /// `tijdig` states the days the count uses, in both languages.
    #[test]
    fn the_on_time_column_states_the_days_of_the_rule() {
        let column = KWALITEIT.columns.last().unwrap();
        assert_eq!(column.name, "tijdig");
        let days = format!("{} ", crate::figures::ON_TIME_DAYS);
        for language in [Language::Dutch, Language::English] {
            assert!(
                column.meaning.pick(language).contains(&days),
                "{language:?}"
            );
        }
    }
}
