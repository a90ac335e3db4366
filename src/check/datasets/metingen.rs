//! `metingen`: outcome measurements, delivered by suppliers (DESIGN 3.1).

use chrono::NaiveDate;

use super::values::{date, decimal, digits, text};
use super::{Cells, Column, Context, Message, Provider, col, optional, rules};
use crate::pseudonym::Bsn;

pub(super) const COLUMNS: &[Column] = &[
    col("zorgaanbiedercode", "AGB-code").spec(
        "AGB-code van de zorgaanbieder: die van de map waarin u levert",
        &[&rules::REQUIRED, &rules::AGB, &rules::AGB_OTHER_PROVIDER],
        "87654321",
    ),
    col("pseudobsn", "BSN").spec(
        "BSN van de cliënt; bij ontvangst vervangen door een pseudoniem, nooit bewaard",
        &[&rules::REQUIRED, &rules::BSN],
        "111222333",
    ),
    col("metingnummer", "Metingnummer").spec(
        "uw nummer van de meting, uniek per zorgaanbieder; een latere levering met \
         hetzelfde nummer vervangt de meting (correctie)",
        &[&rules::REQUIRED, &rules::TEXT, &rules::DUPLICATE_IN_FILE],
        "M-2026-0001",
    ),
    col("datum", "Datum meting").spec(
        "datum van de meting",
        &[&rules::REQUIRED, &rules::DATE, &rules::DATE_FUTURE],
        "2026-10-01",
    ),
    col("gebruiktMeetinstrument", "Soort meting").spec(
        "het meetinstrument",
        &[&rules::REQUIRED, &rules::INSTRUMENT],
        "CT",
    ),
    col("typeRespondent", "Respondent").spec(
        "wie de vragenlijst invulde",
        &[&rules::REQUIRED, &rules::RESPONDENT],
        "01",
    ),
    col("totaalscoreMeting", "Cijfer").spec(
        "de totaalscore; verplicht bij een volledige meting, mag leeg bij Onvolledig, \
         leeg bij Nee",
        &[
            &rules::REQUIRED,
            &rules::SCORE,
            &rules::SCORE_RANGE,
            &rules::SCORE_NOT_FILLED_IN,
        ],
        "8,5",
    ),
    optional("status", "Status").spec(
        "of de meting is ingevuld; de kolom mag ontbreken (dan: volledig)",
        &[&rules::STATUS],
        "Volledig",
    ),
];

/// The measuring instrument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instrument {
    /// Client satisfaction.
    Ct,
    /// Goal attainment scale.
    Gas,
}

impl Instrument {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ct => "CT",
            Self::Gas => "GAS",
        }
    }
}

/// Whether the measurement was filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Volledig,
    Onvolledig,
    Nee,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Volledig => "Volledig",
            Self::Onvolledig => "Onvolledig",
            Self::Nee => "Nee",
        }
    }
}

/// A checked measurement. The BSN is still in clear: pseudonymise it before it goes anywhere.
#[derive(Debug, Clone, PartialEq)]
pub struct Meting {
    pub agb: String,
    pub bsn: Bsn,
    pub metingnummer: String,
    pub datum: NaiveDate,
    pub instrument: Instrument,
    /// 1 client, 2 therapist, 3 father, 4 mother, 5 teacher, 6 guardian.
    pub respondent: u8,
    /// Empty for a measurement not filled in (`Nee`), and may be for `Onvolledig`.
    pub score: Option<f64>,
    /// Empty means complete, as `Volledig` (see `figures::is_complete`).
    pub status: Option<Status>,
}

pub(super) fn check(c: &mut Cells<'_>, ctx: &Context<'_>) -> Option<Meting> {
    let agb = c.required("zorgaanbiedercode", &rules::AGB, |v| digits(v, 8));
    if let (Some(agb), Some(provider)) = (&agb, ctx.provider) {
        if *agb != provider.agb {
            let message = other_provider(agb, provider);
            c.problem(
                "zorgaanbiedercode",
                agb,
                &rules::AGB_OTHER_PROVIDER,
                message,
            );
        }
    }
    let bsn = c.bsn();
    let metingnummer = c.required("metingnummer", &rules::TEXT, |v| text(v, 64));
    let datum = c.required("datum", &rules::DATE, date);
    if let Some(d) = datum {
        if d > ctx.today {
            c.problem(
                "datum",
                c.raw("datum"),
                &rules::DATE_FUTURE,
                Message::new(
                    "mag niet in de toekomst liggen",
                    "must not be in the future",
                ),
            );
        }
    }
    let instrument = c.required(
        "gebruiktMeetinstrument",
        &rules::INSTRUMENT,
        parse_instrument,
    );
    let respondent = c.required("typeRespondent", &rules::RESPONDENT, parse_respondent);
    let status = c.optional("status", &rules::STATUS, parse_status);
    let score = c.optional("totaalscoreMeting", &rules::SCORE, decimal);
    if let (Some(Some(score)), Some(instrument)) = (score, instrument) {
        check_score_range(c, ctx, score, instrument);
    }
    if let (Some(status), Some(score)) = (status, score) {
        check_score_by_status(c, status, score);
    }
    Some(Meting {
        agb: agb?,
        bsn: bsn?,
        metingnummer: metingnummer?,
        datum: datum?,
        instrument: instrument?,
        respondent: respondent?,
        score: score?,
        status: status?,
    })
}

/// Why `agb` is not the code of `provider`, whose folder the file came in: where the row
/// belongs, if another care provider here has that code.
fn other_provider(agb: &str, provider: &Provider) -> Message {
    // Texts mask every run of eight digits, AGB codes too: folders name the providers.
    let own = &provider.tenant;
    match provider.others.get(agb) {
        Some(other) => Message::new(
            format!(
                "is de AGB-code van een andere zorgaanbieder: lever diens rijen in \
                 /{other}/upload/, niet in /{own}/upload/"
            ),
            format!(
                "is the AGB code of another care provider: deliver its rows in \
                 /{other}/upload/, not in /{own}/upload/"
            ),
        ),
        None => Message::new(
            format!(
                "moet de AGB-code zijn van de zorgaanbieder van /{own}/upload/ \
                 (geen andere zorgaanbieder hier heeft deze code)"
            ),
            format!(
                "must be the AGB code of the care provider of /{own}/upload/ \
                 (no other care provider here has this code)"
            ),
        ),
    }
}

fn parse_instrument(v: &str) -> Result<Instrument, Message> {
    match v.to_ascii_uppercase().as_str() {
        "CT" => Ok(Instrument::Ct),
        "GAS" => Ok(Instrument::Gas),
        _ => Err(Message::new("moet CT of GAS zijn", "must be CT or GAS")),
    }
}

fn parse_respondent(v: &str) -> Result<u8, Message> {
    match v.trim_start_matches('0') {
        n @ ("1" | "2" | "3" | "4" | "5" | "6") if v.len() <= 2 => Ok(n.parse::<u8>().unwrap_or(0)),
        _ => Err(Message::new(
            "moet 01 tot en met 06 zijn (cliënt, behandelaar, vader, moeder, leerkracht, voogd)",
            "must be 01 to 06 (client, therapist, father, mother, teacher, guardian)",
        )),
    }
}

fn parse_status(v: &str) -> Result<Status, Message> {
    match v.to_lowercase().as_str() {
        "volledig" => Ok(Status::Volledig),
        "onvolledig" => Ok(Status::Onvolledig),
        "nee" => Ok(Status::Nee),
        _ => Err(Message::new(
            "moet leeg zijn, of Volledig, Onvolledig of Nee",
            "must be empty, Volledig, Onvolledig or Nee",
        )),
    }
}

/// A score within the configured range of its instrument.
fn check_score_range(c: &mut Cells<'_>, ctx: &Context<'_>, score: f64, instrument: Instrument) {
    let (lo, hi) = match instrument {
        Instrument::Ct => ctx.scores.ct,
        Instrument::Gas => ctx.scores.gas,
    };
    if !(lo..=hi).contains(&score) {
        c.problem(
            "totaalscoreMeting",
            c.raw("totaalscoreMeting"),
            &rules::SCORE_RANGE,
            Message::new(
                format!(
                    "moet van {lo} tot en met {hi} zijn voor {}",
                    instrument.as_str()
                ),
                format!("must be from {lo} to {hi} for {}", instrument.as_str()),
            ),
        );
    }
}

/// A score where the status says the measurement was filled in, and none where it says
/// it was not (`Nee`).
fn check_score_by_status(c: &mut Cells<'_>, status: Option<Status>, score: Option<f64>) {
    if crate::figures::is_complete(status.map(Status::as_str)) && score.is_none() {
        c.problem(
            "totaalscoreMeting",
            "",
            &rules::REQUIRED,
            Message::new(
                "mag niet leeg zijn bij een volledige meting (status leeg of Volledig)",
                "must not be empty for a complete measurement (status empty or Volledig)",
            ),
        );
    }
    if status == Some(Status::Nee) && score.is_some() {
        c.problem(
            "totaalscoreMeting",
            c.raw("totaalscoreMeting"),
            &rules::SCORE_NOT_FILLED_IN,
            Message::new(
                "moet leeg zijn bij status Nee (uitgezet, niet ingevuld)",
                "must be empty when status is Nee (sent out, not filled in)",
            ),
        );
    }
}
