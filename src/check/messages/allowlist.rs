//! The allow-list (issue 15, item 2): every value of an iJw/iWmo message that dropgate
//! keeps, in one table. A value not named here is never read out of the message: names,
//! addresses, phone numbers, e-mail addresses, free text (`Commentaar`) and everything about
//! a client's relations stay in the original only. What is kept is what a municipality needs
//! for management information: codes, dates, products, volumes, amounts, reasons, and the
//! identifiers, which leave only hashed.
//!
//! The table is cut as the Ketendata bundle is: a [`Table`] is one CSV per message type
//! (its name empty: one row per message) or per repeating element of it (`ToegewezenProduct`:
//! one row per assigned product), and its [`Column`]s are that CSV's columns after the
//! columns every table starts with. A return message (JW302 for a JW301, ...) may repeat its
//! original's content with `RetourCodes` at every level: its tables are the original's, and
//! the columns marked [`Column::in_returns_only`] are read for it alone. `LEESMIJ.txt`
//! prints this table.

use super::schemas::MessageType;

/// The form a value kept in clear must have (the schemas ask at least as much): the
/// parent checks it, so that nothing but a code, a date, a time or a number is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Letters and digits, at most 12 (`55A11`, `01`, `D`, `NL`).
    Code,
    /// `yyyy-mm-dd`.
    Date,
    /// `hh:mm:ss`.
    Time,
    /// Digits, at most 12, perhaps after a minus sign (an amount in cents, a volume).
    Integer,
}

impl Form {
    /// Whether `value` has this form.
    pub(crate) fn holds(self, value: &str) -> bool {
        let b = value.as_bytes();
        match self {
            Form::Code => (1..=12).contains(&b.len()) && b.iter().all(u8::is_ascii_alphanumeric),
            Form::Date => {
                chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok() && b.len() == 10
            }
            Form::Time => {
                chrono::NaiveTime::parse_from_str(value, "%H:%M:%S").is_ok() && b.len() == 8
            }
            Form::Integer => {
                let digits = value.strip_prefix('-').unwrap_or(value).as_bytes();
                (1..=12).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit)
            }
        }
    }
}

/// What becomes of a kept value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// As written, in this form: a code, a date, a time, an amount, a volume.
    Clear(Form),
    /// Every occurrence, joined by spaces: the `RetourCode`s of a level.
    Codes,
    /// A citizen number: the TTP pseudonym in the ledger, hashed again with the
    /// municipality's key in its bundle (the same hash as its measurement bundles' `pseudobsn`).
    Bsn,
    /// A number the municipality gives (`ToewijzingNummer`, `BeschikkingNummer`: at most
    /// nine digits): kept without leading zeros in the ledger (one that is a citizen number
    /// replaced by its keyed hash, as a decision's number is), hashed with the
    /// municipality's key in its bundle: the same hash as its decisions' `beschikkingnummer`.
    Number,
    /// A reference of free form (`ReferentieAanbieder`, `DeclaratieNummer`, a service's
    /// `ReferentieNummer`: any text, a name even): the TTP's keyed hash in the ledger,
    /// hashed again with the municipality's key in its bundle.
    Reference,
    /// A date of birth: its year only.
    Year,
    /// A postcode: its four digits only.
    Postcode4,
}

impl Keep {
    /// What `LEESMIJ.txt` says of a column kept this way.
    pub(crate) fn meaning(self) -> &'static str {
        match self {
            Keep::Clear(_) => "zoals in het bericht",
            Keep::Codes => "alle codes van dit niveau, gescheiden door een spatie",
            Keep::Bsn => {
                "gehasht (HMAC-SHA256 met de sleutel van de gemeente, over het pseudoniem van de TTP)"
            }
            Keep::Number => {
                "gehasht (HMAC-SHA256 met de sleutel van de gemeente, over het getal zonder voorloopnullen)"
            }
            Keep::Reference => {
                "gehasht (HMAC-SHA256 met de sleutel van de gemeente, over de gehashte waarde van de TTP)"
            }
            Keep::Year => "alleen het geboortejaar",
            Keep::Postcode4 => "alleen de vier cijfers van de postcode",
        }
    }

    /// Whether a bundle hashes this value.
    pub(crate) fn is_hashed(self) -> bool {
        matches!(self, Keep::Bsn | Keep::Number | Keep::Reference)
    }
}

/// The key a column's value relates messages on, for the link table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKey {
    /// `ToewijzingNummer`: an assignment and its start, stop, change request and claims.
    Toewijzing,
    /// `ReferentieAanbieder`: a provider's request, its answer and the assignment after it.
    Referentie,
}

impl LinkKey {
    /// Its name in the ledger.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            LinkKey::Toewijzing => "toewijzing",
            LinkKey::Referentie => "referentie",
        }
    }
}

/// One kept value: a column of a table.
#[derive(Debug)]
pub struct Column {
    /// The CSV column: the element path below the table's element, joined by `_`.
    pub name: &'static str,
    /// Where the value is, from the table's element: local names joined by `/`, `..` for
    /// the parent (a claim's `Prestatie` carries its `Client`'s number).
    pub path: &'static str,
    pub keep: Keep,
    /// Read only in a return message (its `RetourCodes`).
    pub in_returns_only: bool,
    /// The key the link table relates messages on, for the columns that hold one.
    pub link: Option<LinkKey>,
    /// What it holds, for `LEESMIJ.txt`.
    pub meaning: &'static str,
}

/// One CSV of a Ketendata bundle: messages of these types, or an element that repeats in
/// them.
#[derive(Debug)]
pub struct Table {
    /// The message numbers whose messages it reads (an original's table serves its return
    /// message too).
    pub numbers: &'static [u16],
    /// Empty for the message itself; else the repeating element's name (`ToegewezenProduct`),
    /// which the CSV's name carries after the type's (`JW301_ToegewezenProduct.csv`).
    pub name: &'static str,
    /// The path of its elements from the root `Bericht` (empty: the root).
    pub at: &'static str,
    pub columns: &'static [&'static [Column]],
}

impl Table {
    /// Its columns for messages of `kind`, in order.
    pub(crate) fn columns_for(&self, kind: MessageType) -> impl Iterator<Item = &'static Column> {
        let is_return = kind.is_return();
        self.columns
            .iter()
            .flat_map(|group| group.iter())
            .filter(move |c| is_return || !c.in_returns_only)
    }

    /// The CSV's name for messages of `kind`: `JW301.csv`, `JW301_ToegewezenProduct.csv`.
    pub(crate) fn file_name(&self, kind: MessageType) -> String {
        if self.name.is_empty() {
            format!("{kind}.csv")
        } else {
            format!("{kind}_{}.csv", self.name)
        }
    }
}

/// The tables of messages of `kind`, each with its index in [`TABLES`] (the ledger and the
/// pipe name a table by it).
pub(crate) fn tables_of(kind: MessageType) -> impl Iterator<Item = (usize, &'static Table)> {
    TABLES
        .iter()
        .enumerate()
        .filter(move |(_, t)| t.numbers.contains(&kind.number))
}

const fn col(name: &'static str, path: &'static str, keep: Keep, meaning: &'static str) -> Column {
    Column {
        name,
        path,
        keep,
        in_returns_only: false,
        link: None,
        meaning,
    }
}

const fn key(
    name: &'static str,
    path: &'static str,
    link: LinkKey,
    meaning: &'static str,
) -> Column {
    Column {
        name,
        path,
        keep: match link {
            LinkKey::Toewijzing => Keep::Number,
            LinkKey::Referentie => Keep::Reference,
        },
        in_returns_only: false,
        link: Some(link),
        meaning,
    }
}

const fn retour(name: &'static str, path: &'static str) -> Column {
    Column {
        name,
        path,
        keep: Keep::Codes,
        in_returns_only: true,
        link: None,
        meaning: "retourcodes (alleen in een retourbericht)",
    }
}

use Keep::{Bsn, Clear, Number, Postcode4, Reference, Year};

/// A return message's own header: its codes and the day of the message it answers.
const RETURN_HEADER: &[Column] = &[
    retour("RetourCodes", "Header/RetourCodes/RetourCode"),
    Column {
        in_returns_only: true,
        ..col(
            "DagtekeningRetour",
            "Header/DagtekeningRetour",
            Clear(Form::Date),
            "dagtekening van het bericht waarop dit het retourbericht is",
        )
    },
];

const CLIENT: &[Column] = &[
    col(
        "Client_Bsn",
        "Client/Bsn",
        Bsn,
        "burgerservicenummer van de cliënt",
    ),
    col(
        "Client_Geboortejaar",
        "Client/Geboortedatum/Datum",
        Year,
        "geboortejaar van de cliënt",
    ),
    col(
        "Client_Geslacht",
        "Client/Geslacht",
        Clear(Form::Code),
        "geslacht (code)",
    ),
];

const CLIENT_RETURN: &[Column] = &[retour(
    "Client_RetourCodes",
    "Client/RetourCodes/RetourCode",
)];

const PRODUCT: &[Column] = &[
    col(
        "Product_Categorie",
        "Product/Categorie",
        Clear(Form::Code),
        "productcategorie",
    ),
    col(
        "Product_Code",
        "Product/Code",
        Clear(Form::Code),
        "productcode",
    ),
];

const OMVANG: &[Column] = &[
    col(
        "Omvang_Volume",
        "Omvang/Volume",
        Clear(Form::Integer),
        "volume",
    ),
    col(
        "Omvang_Eenheid",
        "Omvang/Eenheid",
        Clear(Form::Code),
        "eenheid (code)",
    ),
    col(
        "Omvang_Frequentie",
        "Omvang/Frequentie",
        Clear(Form::Code),
        "frequentie (code)",
    ),
    col("Budget", "Budget", Clear(Form::Integer), "budget in centen"),
];

const TOEWIJZING: Column = key(
    "ToewijzingNummer",
    "ToewijzingNummer",
    LinkKey::Toewijzing,
    "nummer van de toewijzing",
);

const REFERENTIE: Column = key(
    "ReferentieAanbieder",
    "ReferentieAanbieder",
    LinkKey::Referentie,
    "referentie van de aanbieder",
);

const RETURN_CODES: &[Column] = &[retour("RetourCodes", "RetourCodes/RetourCode")];

const PRESTATIE: &[Column] = &[
    col(
        "Client_Bsn",
        "../../Bsn",
        Bsn,
        "burgerservicenummer van de cliënt",
    ),
    col(
        "ProductReferentie_ReferentieNummer",
        "ProductReferentie/ReferentieNummer",
        Reference,
        "referentienummer van de prestatie",
    ),
    col(
        "ProductReferentie_VorigReferentieNummer",
        "ProductReferentie/VorigReferentieNummer",
        Reference,
        "referentienummer van de prestatie die deze vervangt",
    ),
    TOEWIJZING,
    col(
        "ProductCategorie",
        "ProductCategorie",
        Clear(Form::Code),
        "productcategorie",
    ),
    col(
        "ProductCode",
        "ProductCode",
        Clear(Form::Code),
        "productcode",
    ),
    col(
        "ProductPeriode_Begindatum",
        "ProductPeriode/Begindatum",
        Clear(Form::Date),
        "begin van de periode",
    ),
    col(
        "ProductPeriode_Einddatum",
        "ProductPeriode/Einddatum",
        Clear(Form::Date),
        "einde van de periode",
    ),
    col(
        "GeleverdVolume",
        "GeleverdVolume",
        Clear(Form::Integer),
        "geleverd volume",
    ),
    col("Eenheid", "Eenheid", Clear(Form::Code), "eenheid (code)"),
    col(
        "ProductTarief",
        "ProductTarief",
        Clear(Form::Integer),
        "tarief in centen",
    ),
    col(
        "IngediendBedrag_Bedrag",
        "IngediendBedrag/Bedrag",
        Clear(Form::Integer),
        "ingediend bedrag in centen",
    ),
    col(
        "IngediendBedrag_DebetCredit",
        "IngediendBedrag/DebetCredit",
        Clear(Form::Code),
        "debet (D) of credit (C)",
    ),
];

const TOTAAL_INGEDIEND: [Column; 2] = [
    col(
        "TotaalIngediendBedrag_TotaalBedrag",
        "TotaalIngediendBedrag/TotaalBedrag",
        Clear(Form::Integer),
        "totaal ingediend bedrag in centen",
    ),
    col(
        "TotaalIngediendBedrag_DebetCredit",
        "TotaalIngediendBedrag/DebetCredit",
        Clear(Form::Code),
        "debet (D) of credit (C)",
    ),
];

/// Every table of every message type: the allow-list.
pub const TABLES: &[Table] = &[
    // 301 assignment (and 302, its return).
    Table {
        numbers: &[301, 302],
        name: "",
        at: "",
        columns: &[
            RETURN_HEADER,
            CLIENT,
            &[
                col(
                    "Client_JuridischeStatus",
                    "Client/JuridischeStatus",
                    Clear(Form::Code),
                    "juridische status (code)",
                ),
                col(
                    "Client_WettelijkeVertegenwoordiging",
                    "Client/WettelijkeVertegenwoordiging",
                    Clear(Form::Code),
                    "wettelijke vertegenwoordiging (code)",
                ),
            ],
            CLIENT_RETURN,
        ],
    },
    Table {
        numbers: &[301, 302],
        name: "ToegewezenProduct",
        at: "Client/ToegewezenProducten/ToegewezenProduct",
        columns: &[
            &[TOEWIJZING, REFERENTIE],
            PRODUCT,
            &[
                col(
                    "Toewijzingsdatum",
                    "Toewijzingsdatum",
                    Clear(Form::Date),
                    "datum van de toewijzing",
                ),
                col(
                    "Toewijzingstijd",
                    "Toewijzingstijd",
                    Clear(Form::Time),
                    "tijd van de toewijzing",
                ),
                col(
                    "Ingangsdatum",
                    "Ingangsdatum",
                    Clear(Form::Date),
                    "ingangsdatum",
                ),
                col("Einddatum", "Einddatum", Clear(Form::Date), "einddatum"),
                col(
                    "RedenWijziging",
                    "RedenWijziging",
                    Clear(Form::Code),
                    "reden van wijziging (code)",
                ),
            ],
            OMVANG,
            RETURN_CODES,
        ],
    },
    Table {
        numbers: &[301, 302],
        name: "Contact",
        at: "Client/Contactgegevens/Contact",
        columns: &[
            &[
                col("Soort", "Soort", Clear(Form::Code), "soort adres (code)"),
                col(
                    "Adres_Postcode",
                    "Adres/Postcode",
                    Postcode4,
                    "postcode: alleen de vier cijfers",
                ),
                col(
                    "Adres_LandCode",
                    "Adres/LandCode",
                    Clear(Form::Code),
                    "land (code)",
                ),
                col(
                    "Periode_Begindatum",
                    "Periode/Begindatum",
                    Clear(Form::Date),
                    "begin van de periode",
                ),
                col(
                    "Periode_Einddatum",
                    "Periode/Einddatum",
                    Clear(Form::Date),
                    "einde van de periode",
                ),
            ],
            RETURN_CODES,
        ],
    },
    // 305 start of care, 307 end of care (and their returns).
    Table {
        numbers: &[305, 306, 307, 308],
        name: "",
        at: "",
        columns: &[RETURN_HEADER, CLIENT, CLIENT_RETURN],
    },
    Table {
        numbers: &[305, 306],
        name: "StartProduct",
        at: "Client/StartProducten/StartProduct",
        columns: &[
            &[TOEWIJZING],
            PRODUCT,
            &[
                col(
                    "ToewijzingIngangsdatum",
                    "ToewijzingIngangsdatum",
                    Clear(Form::Date),
                    "ingangsdatum van de toewijzing",
                ),
                col(
                    "Begindatum",
                    "Begindatum",
                    Clear(Form::Date),
                    "begindatum van de zorg",
                ),
                col(
                    "StatusAanlevering",
                    "StatusAanlevering",
                    Clear(Form::Code),
                    "status van de aanlevering (code)",
                ),
            ],
            RETURN_CODES,
        ],
    },
    Table {
        numbers: &[307, 308],
        name: "StopProduct",
        at: "Client/StopProducten/StopProduct",
        columns: &[
            &[TOEWIJZING],
            PRODUCT,
            &[
                col(
                    "ToewijzingIngangsdatum",
                    "ToewijzingIngangsdatum",
                    Clear(Form::Date),
                    "ingangsdatum van de toewijzing",
                ),
                col(
                    "Begindatum",
                    "Begindatum",
                    Clear(Form::Date),
                    "begindatum van de zorg",
                ),
                col(
                    "RedenBeeindiging",
                    "RedenBeeindiging",
                    Clear(Form::Code),
                    "reden van beëindiging (code)",
                ),
                col(
                    "Einddatum",
                    "Einddatum",
                    Clear(Form::Date),
                    "einddatum van de zorg",
                ),
                col(
                    "StatusAanlevering",
                    "StatusAanlevering",
                    Clear(Form::Code),
                    "status van de aanlevering (code)",
                ),
            ],
            RETURN_CODES,
        ],
    },
    // 315 request for an assignment (and 316).
    Table {
        numbers: &[315, 316],
        name: "",
        at: "",
        columns: &[
            RETURN_HEADER,
            CLIENT,
            &[col(
                "Client_GezagsdragerBekend",
                "Client/GezagsdragerBekend",
                Clear(Form::Code),
                "gezagsdrager bekend (code)",
            )],
            CLIENT_RETURN,
        ],
    },
    Table {
        numbers: &[315, 316],
        name: "AangevraagdProduct",
        at: "Client/AangevraagdeProducten/AangevraagdProduct",
        columns: &[
            &[
                REFERENTIE,
                col(
                    "BeschikkingNummer",
                    "BeschikkingNummer",
                    Number,
                    "nummer van de beschikking",
                ),
            ],
            PRODUCT,
            &[
                col(
                    "BeschikkingIngangsdatum",
                    "BeschikkingIngangsdatum",
                    Clear(Form::Date),
                    "ingangsdatum van de beschikking",
                ),
                col(
                    "ToewijzingIngangsdatum",
                    "ToewijzingIngangsdatum",
                    Clear(Form::Date),
                    "gewenste ingangsdatum van de toewijzing",
                ),
                col(
                    "ToewijzingEinddatum",
                    "ToewijzingEinddatum",
                    Clear(Form::Date),
                    "gewenste einddatum van de toewijzing",
                ),
            ],
            OMVANG,
            &[
                col(
                    "Verwijzer_Type",
                    "Verwijzer/Type",
                    Clear(Form::Code),
                    "soort verwijzer (code)",
                ),
                col(
                    "Raamcontract",
                    "Raamcontract",
                    Clear(Form::Code),
                    "raamcontract (code)",
                ),
            ],
            RETURN_CODES,
        ],
    },
    // 317 request for a change (and 318).
    Table {
        numbers: &[317, 318],
        name: "",
        at: "",
        columns: &[
            RETURN_HEADER,
            &[
                col(
                    "Client_Bsn",
                    "Client/Bsn",
                    Bsn,
                    "burgerservicenummer van de cliënt",
                ),
                key(
                    "Verzoek_ReferentieAanbieder",
                    "Client/Verzoek/ReferentieAanbieder",
                    LinkKey::Referentie,
                    "referentie van de aanbieder",
                ),
                col(
                    "Verzoek_RedenVerzoek",
                    "Client/Verzoek/RedenVerzoek",
                    Clear(Form::Code),
                    "reden van het verzoek (code)",
                ),
            ],
            CLIENT_RETURN,
            &[retour(
                "Verzoek_RetourCodes",
                "Client/Verzoek/RetourCodes/RetourCode",
            )],
        ],
    },
    Table {
        numbers: &[317, 318],
        name: "OngewijzigdProduct",
        at: "Client/Verzoek/OngewijzigdeProducten/OngewijzigdProduct",
        columns: &[&[TOEWIJZING], RETURN_CODES],
    },
    Table {
        numbers: &[317, 318],
        name: "TeWijzigenProduct",
        at: "Client/Verzoek/TeWijzigenProducten/TeWijzigenProduct",
        columns: &[
            &[
                TOEWIJZING,
                col(
                    "GewensteIngangsdatum",
                    "GewensteIngangsdatum",
                    Clear(Form::Date),
                    "gewenste ingangsdatum",
                ),
                col("Einddatum", "Einddatum", Clear(Form::Date), "einddatum"),
            ],
            OMVANG,
            RETURN_CODES,
        ],
    },
    Table {
        numbers: &[317, 318],
        name: "NieuwProduct",
        at: "Client/Verzoek/NieuweProducten/NieuwProduct",
        columns: &[
            PRODUCT,
            &[
                col(
                    "GewensteIngangsdatum",
                    "GewensteIngangsdatum",
                    Clear(Form::Date),
                    "gewenste ingangsdatum",
                ),
                col("Einddatum", "Einddatum", Clear(Form::Date), "einddatum"),
            ],
            OMVANG,
            RETURN_CODES,
        ],
    },
    // 319 answer to a request (and 320).
    Table {
        numbers: &[319, 320],
        name: "",
        at: "",
        columns: &[
            RETURN_HEADER,
            &[
                key(
                    "Antwoord_ReferentieAanbieder",
                    "Antwoord/ReferentieAanbieder",
                    LinkKey::Referentie,
                    "referentie van de aanbieder",
                ),
                col(
                    "Antwoord_VerzoekAntwoord",
                    "Antwoord/VerzoekAntwoord",
                    Clear(Form::Code),
                    "antwoord op het verzoek (code)",
                ),
                col(
                    "Antwoord_RedenAfwijzingVerzoek",
                    "Antwoord/RedenAfwijzingVerzoek",
                    Clear(Form::Code),
                    "reden van afwijzing (code)",
                ),
                col(
                    "Antwoord_Woonplaatsbeginsel_Gemeente",
                    "Antwoord/Woonplaatsbeginsel/Gemeente",
                    Clear(Form::Code),
                    "gemeente volgens het woonplaatsbeginsel (CBS-code)",
                ),
                retour("Antwoord_RetourCodes", "Antwoord/RetourCodes/RetourCode"),
            ],
        ],
    },
    // 323 claim.
    Table {
        numbers: &[323],
        name: "",
        at: "",
        columns: &[&[
            col(
                "Declaratie_DeclaratieNummer",
                "Declaratie/DeclaratieNummer",
                Reference,
                "nummer van de declaratie",
            ),
            col(
                "Declaratie_DeclaratiePeriode_Begindatum",
                "Declaratie/DeclaratiePeriode/Begindatum",
                Clear(Form::Date),
                "begin van de declaratieperiode",
            ),
            col(
                "Declaratie_DeclaratiePeriode_Einddatum",
                "Declaratie/DeclaratiePeriode/Einddatum",
                Clear(Form::Date),
                "einde van de declaratieperiode",
            ),
            col(
                "Declaratie_DeclaratieDagtekening",
                "Declaratie/DeclaratieDagtekening",
                Clear(Form::Date),
                "dagtekening van de declaratie",
            ),
            col(
                "Declaratie_TotaalIngediendBedrag_TotaalBedrag",
                "Declaratie/TotaalIngediendBedrag/TotaalBedrag",
                Clear(Form::Integer),
                "totaal ingediend bedrag in centen",
            ),
            col(
                "Declaratie_TotaalIngediendBedrag_DebetCredit",
                "Declaratie/TotaalIngediendBedrag/DebetCredit",
                Clear(Form::Code),
                "debet (D) of credit (C)",
            ),
        ]],
    },
    Table {
        numbers: &[323],
        name: "Client",
        at: "Declaratie/Clienten/Client",
        columns: &[&[col("Bsn", "Bsn", Bsn, "burgerservicenummer van de cliënt")]],
    },
    Table {
        numbers: &[323],
        name: "Prestatie",
        at: "Declaratie/Clienten/Client/Prestaties/Prestatie",
        columns: &[PRESTATIE],
    },
    // 325 answer to a claim: its own structure, not its original's.
    Table {
        numbers: &[325],
        name: "",
        at: "",
        columns: &[
            &[retour("RetourCodes", "Header/RetourCodes/RetourCode")],
            &[col(
                "DeclaratieAntwoord_DeclaratieNummer",
                "DeclaratieAntwoord/DeclaratieNummer",
                Reference,
                "nummer van de declaratie",
            )],
            &[
                Column {
                    path: "DeclaratieAntwoord/TotaalIngediendBedrag/TotaalBedrag",
                    name: "DeclaratieAntwoord_TotaalIngediendBedrag_TotaalBedrag",
                    ..TOTAAL_INGEDIEND[0]
                },
                Column {
                    path: "DeclaratieAntwoord/TotaalIngediendBedrag/DebetCredit",
                    name: "DeclaratieAntwoord_TotaalIngediendBedrag_DebetCredit",
                    ..TOTAAL_INGEDIEND[1]
                },
                col(
                    "DeclaratieAntwoord_TotaalToegekendBedrag_TotaalBedrag",
                    "DeclaratieAntwoord/TotaalToegekendBedrag/TotaalBedrag",
                    Clear(Form::Integer),
                    "totaal toegekend bedrag in centen",
                ),
                col(
                    "DeclaratieAntwoord_TotaalToegekendBedrag_DebetCredit",
                    "DeclaratieAntwoord/TotaalToegekendBedrag/DebetCredit",
                    Clear(Form::Code),
                    "debet (D) of credit (C)",
                ),
                retour(
                    "DeclaratieAntwoord_RetourCodes",
                    "DeclaratieAntwoord/RetourCodes/RetourCode",
                ),
            ],
        ],
    },
    Table {
        numbers: &[325],
        name: "Client",
        at: "DeclaratieAntwoord/Clienten/Client",
        columns: &[
            &[col("Bsn", "Bsn", Bsn, "burgerservicenummer van de cliënt")],
            RETURN_CODES,
        ],
    },
    Table {
        numbers: &[325],
        name: "Prestatie",
        at: "DeclaratieAntwoord/Clienten/Client/Prestaties/Prestatie",
        columns: &[PRESTATIE, RETURN_CODES],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every type has exactly one message table and the CSV names are unique per type, so
    /// a bundle's files and the ledger's table indexes never collide.
    #[test]
    fn every_type_has_one_message_table_and_unique_columns() {
        for kind in MessageType::ALL {
            let tables: Vec<_> = tables_of(kind).map(|(_, t)| t).collect();
            assert_eq!(
                tables.iter().filter(|t| t.name.is_empty()).count(),
                1,
                "{kind}"
            );
            let mut names: Vec<_> = tables.iter().map(|t| t.file_name(kind)).collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), tables.len(), "{kind}");
            for table in tables {
                let mut columns: Vec<_> = table.columns_for(kind).map(|c| c.name).collect();
                let n = columns.len();
                columns.sort_unstable();
                columns.dedup();
                assert_eq!(columns.len(), n, "{kind} {}", table.name);
            }
        }
    }

    /// Nothing that names or reaches a person is on the list.
    #[test]
    fn no_personal_element_is_kept() {
        for table in TABLES {
            for column in table.columns.iter().flat_map(|g| g.iter()) {
                for forbidden in [
                    "Naam",
                    "Adres/Straat",
                    "Huis",
                    "Plaats",
                    "Telefoon",
                    "Email",
                    "Commentaar",
                    "Relatie",
                    "Organisatie",
                    "Verwijzer/Naam",
                    "ZorgverlenerCode",
                ] {
                    assert!(!column.path.contains(forbidden), "{}", column.path);
                }
                if column.path.ends_with("Geboortedatum/Datum") {
                    assert_eq!(column.keep, Keep::Year);
                }
                if column.path.ends_with("Postcode") {
                    assert_eq!(column.keep, Keep::Postcode4);
                }
                if column.path.ends_with("Bsn") {
                    assert_eq!(column.keep, Keep::Bsn);
                }
            }
        }
    }
}
