//! Every rule a delivered row (or iJw/iWmo message, `message.*`) can break, with its stable
//! id (for scripts) and what it asks (for people). The checks name these constants,
//! `dropgate spec` prints them, and the parent of the confined reader takes no rule id from
//! a child that is not here.

/// One rule.
#[derive(Debug, PartialEq, Eq)]
pub struct Rule {
    /// Stable id, as receipts, `validate --json` and `Kwaliteit.csv` give it.
    pub id: &'static str,
    /// What is wrong with a row that breaks it, in a few Dutch words (`ongeldig BSN`).
    pub label_nl: &'static str,
    /// The same in English.
    pub label_en: &'static str,
    /// What the rule asks, in Dutch.
    pub nl: &'static str,
    /// The same in English.
    pub en: &'static str,
}

const fn rule(id: &'static str, nl: &'static str, en: &'static str) -> Rule {
    Rule {
        id,
        label_nl: "",
        label_en: "",
        nl,
        en,
    }
}

impl Rule {
    /// The rule with its labels.
    const fn labelled(self, label_nl: &'static str, label_en: &'static str) -> Self {
        Self {
            label_nl,
            label_en,
            ..self
        }
    }

    /// The label in `language`.
    pub(crate) fn label(&self, language: crate::message::Language) -> &'static str {
        match language {
            crate::message::Language::Dutch => self.label_nl,
            crate::message::Language::English => self.label_en,
        }
    }
}

pub(crate) const REQUIRED: Rule = rule("required", "mag niet leeg zijn", "must not be empty")
    .labelled("lege verplichte waarde", "empty required value");
pub(crate) const AGB: Rule = rule("agb", "precies 8 cijfers", "exactly 8 digits")
    .labelled("ongeldige AGB-code", "invalid AGB code");
pub(crate) const AGB_OTHER_PROVIDER: Rule = rule(
    "agb.other-provider",
    "gelijk aan de AGB-code van de zorgaanbieder in wiens map het bestand staat",
    "the AGB code of the care provider whose folder the file is in",
)
.labelled(
    "AGB-code van een andere zorgaanbieder",
    "another care provider's AGB code",
);
pub(crate) const BSN: Rule = rule(
    "bsn",
    "9 cijfers (8 mag: gelezen met een voorloopnul) die de elfproef doorstaan, niet alleen nullen",
    "9 digits (8 read with a leading zero) that pass the 11-check, not all zeros",
)
.labelled("ongeldig BSN", "invalid BSN");
pub(crate) const TEXT: Rule = rule(
    "text",
    "1 tot en met 64 tekens, geen stuurtekens",
    "1 to 64 characters, no control characters",
)
.labelled("ongeldig of te lang nummer", "invalid or too long number");
pub(crate) const DATE: Rule = rule(
    "date",
    "een datum als jjjj-mm-dd of dd-mm-jjjj (ook met /), of een datumcel",
    "a date as yyyy-mm-dd or dd-mm-yyyy (also with /), or a date cell",
)
.labelled("ongeldige datum", "invalid date");
pub(crate) const DATE_FUTURE: Rule =
    rule("date.future", "niet in de toekomst", "not in the future")
        .labelled("datum in de toekomst", "date in the future");
pub(crate) const DATE_ORDER: Rule = rule(
    "date.order",
    "niet voor de ingangsdatum",
    "not before ingangsdatum",
)
.labelled("einddatum voor ingangsdatum", "end before start");
pub(crate) const INSTRUMENT: Rule = rule(
    "instrument",
    "CT (cliënttevredenheid) of GAS (doelrealisatie)",
    "CT (client satisfaction) or GAS (goal attainment)",
)
.labelled("onbekend meetinstrument", "unknown instrument");
pub(crate) const RESPONDENT: Rule = rule(
    "respondent",
    "01 cliënt, 02 behandelaar, 03 vader, 04 moeder, 05 leerkracht, 06 voogd (1 tot en met 6 mag ook)",
    "01 client, 02 therapist, 03 father, 04 mother, 05 teacher, 06 guardian (1 to 6 also)",
)
.labelled("onbekende respondent", "unknown respondent");
pub(crate) const SCORE: Rule = rule(
    "score",
    "een getal, met decimale komma of punt",
    "a number, with a decimal comma or point",
)
.labelled("score is geen getal", "score not a number");
pub(crate) const SCORE_RANGE: Rule = rule(
    "score.range",
    "CT van 0 tot en met 10, GAS van -2 tot en met 2",
    "CT from 0 to 10, GAS from -2 to 2",
)
.labelled("score buiten het bereik", "score out of range");
pub(crate) const SCORE_NOT_FILLED_IN: Rule = rule(
    "score.not-filled-in",
    "leeg bij status Nee (uitgezet, niet ingevuld); verplicht bij een volledige meting",
    "empty when status is Nee (sent out, not filled in); required for a complete measurement",
)
.labelled(
    "score bij een niet-ingevulde meting",
    "score on a measurement not filled in",
);
pub(crate) const STATUS: Rule = rule(
    "status",
    "leeg of Volledig (volledig), Onvolledig (deels ingevuld) of Nee (niet ingevuld); hoofdletters maken niet uit",
    "empty or Volledig (complete), Onvolledig (partly filled in) or Nee (not filled in); any case",
)
.labelled("onbekende status", "unknown status");
pub(crate) const CBS: Rule = rule("cbs", "precies 4 cijfers", "exactly 4 digits")
    .labelled("ongeldige CBS-code", "invalid CBS code");
pub(crate) const CBS_NOT_OWN: Rule = rule(
    "cbs.not-own",
    "de eigen CBS-code van de leverende gemeente",
    "the delivering municipality's own CBS code",
)
.labelled(
    "CBS-code van een andere gemeente",
    "another municipality's CBS code",
);
pub(crate) const PRODUCTCATEGORIE: Rule =
    rule("productcategorie", "precies 2 cijfers", "exactly 2 digits")
        .labelled("ongeldige productcategorie", "invalid product category");
pub(crate) const PRODUCTCODE: Rule =
    rule("productcode", "1 tot en met 5 tekens", "1 to 5 characters")
        .labelled("ongeldige productcode", "invalid product code");
pub(crate) const REDEN: Rule = rule(
    "reden",
    "een code uit de iJw-codelijst JZ588: 02, 20, 31 tot en met 39",
    "a code of the iJw code list JZ588: 02, 20, 31 to 39",
)
.labelled(
    "onbekende reden van beëindiging",
    "unknown reason for ending",
);
pub(crate) const DUPLICATE_IN_FILE: Rule = rule(
    "duplicate-in-file",
    "één keer per bestand: een tweede rij met hetzelfde nummer wordt afgekeurd, de eerste telt",
    "once per file: a second row with the same number is rejected, the first one stands",
)
.labelled("dubbel nummer in het bestand", "number twice in the file");
pub(crate) const EXTRA_FIELDS: Rule = rule(
    "row.extra-fields",
    "niet meer waarden dan de kopregel kolommen heeft (vaak een puntkomma in een waarde zonder aanhalingstekens)",
    "no more values than the header has columns (often an unquoted semicolon in a value)",
)
.labelled("te veel waarden in de rij", "too many values in the row");
pub(crate) const UNREADABLE: Rule = rule(
    "unreadable",
    "leesbaar: geldige tekst, geen NUL-bytes, waarden niet langer dan de limiet",
    "readable: valid text, no NUL bytes, values within the limit",
)
.labelled("onleesbare rij", "unreadable row");

pub(crate) const MESSAGE_TOO_LARGE: Rule = rule(
    "message.too-large",
    "een bericht is niet groter dan de limiet voor één bericht",
    "a message is no larger than the limit for one message",
)
.labelled("te groot bericht", "message too large");
pub(crate) const MESSAGE_DOCTYPE: Rule = rule(
    "message.doctype",
    "geen DOCTYPE: een bericht declareert geen DTD of entiteiten en verwijst naar niets buiten zichzelf",
    "no DOCTYPE: a message declares no DTD or entities and refers to nothing outside itself",
)
.labelled("bericht met DOCTYPE", "message with a DOCTYPE");
pub(crate) const MESSAGE_NOT_WELLFORMED: Rule = rule(
    "message.not-wellformed",
    "goedgevormde XML met namespaces, niet dieper genest dan 256 niveaus",
    "well-formed XML with namespaces, nested no deeper than 256 levels",
)
.labelled("geen goedgevormde XML", "not well-formed XML");
pub(crate) const MESSAGE_NAMESPACE: Rule = rule(
    "message.namespace",
    "een element Bericht in de namespace van een berichttype van iJw 3.2 (JW301 tot en met JW325) of iWmo 3.2 (WMO301 tot en met WMO323)",
    "an element Bericht in the namespace of a message type of iJw 3.2 (JW301 to JW325) or iWmo 3.2 (WMO301 to WMO323)",
)
.labelled("onbekend berichttype of onbekende versie", "unknown message type or release");
pub(crate) const MESSAGE_SCHEMA: Rule = rule(
    "message.schema",
    "voldoet aan het gepubliceerde XSD-schema van zijn berichttype",
    "conforms to the published XSD schema of its message type",
)
.labelled(
    "bericht wijkt af van het schema",
    "message does not conform to its schema",
);

pub(crate) const MESSAGE_MUNICIPALITY: Rule = rule(
    "message.municipality",
    "een bericht van of aan de gemeente in wier map het bestand staat (Afzender of Ontvanger)",
    "a message from or to the municipality whose folder the file is in (Afzender or Ontvanger)",
)
.labelled(
    "bericht van een andere gemeente",
    "message of another municipality",
);
pub(crate) const MESSAGE_ZIP: Rule = rule(
    "message.zip",
    "een zip van berichten houdt alleen berichten, elk binnen de zip (geen pad met .. of /), geen zip in een zip, niet meer dan 200 keer ingepakt",
    "a zip of messages holds only messages, each inside the zip (no path with .. or /), no zip within a zip, packed no more than 200 times",
)
.labelled("ongeldig onderdeel van een zip", "invalid zip entry");

/// Every rule, in the order the specification lists them.
pub(crate) const ALL: &[&Rule] = &[
    &REQUIRED,
    &AGB,
    &AGB_OTHER_PROVIDER,
    &BSN,
    &TEXT,
    &DATE,
    &DATE_FUTURE,
    &DATE_ORDER,
    &INSTRUMENT,
    &RESPONDENT,
    &SCORE,
    &SCORE_RANGE,
    &SCORE_NOT_FILLED_IN,
    &STATUS,
    &CBS,
    &CBS_NOT_OWN,
    &PRODUCTCATEGORIE,
    &PRODUCTCODE,
    &REDEN,
    &DUPLICATE_IN_FILE,
    &EXTRA_FIELDS,
    &UNREADABLE,
    &MESSAGE_TOO_LARGE,
    &MESSAGE_DOCTYPE,
    &MESSAGE_NOT_WELLFORMED,
    &MESSAGE_NAMESPACE,
    &MESSAGE_SCHEMA,
    &MESSAGE_MUNICIPALITY,
    &MESSAGE_ZIP,
];

/// The rules of an iJw or iWmo message as a whole, in the order they are checked.
pub(crate) const MESSAGE_RULES: [&Rule; 7] = [
    &MESSAGE_ZIP,
    &MESSAGE_TOO_LARGE,
    &MESSAGE_DOCTYPE,
    &MESSAGE_NOT_WELLFORMED,
    &MESSAGE_NAMESPACE,
    &MESSAGE_SCHEMA,
    &MESSAGE_MUNICIPALITY,
];

/// The rule with this id.
pub(crate) fn find(id: &str) -> Option<&'static Rule> {
    ALL.iter().copied().find(|r| r.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_has_labels() {
        for r in ALL {
            assert!(!r.label_nl.is_empty() && !r.label_en.is_empty(), "{}", r.id);
        }
    }

    #[test]
    fn ids_are_unique_and_well_formed() {
        let mut ids: Vec<&str> = ALL.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), ALL.len());
        for id in ids {
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'-'),
                "{id}"
            );
        }
    }
}
