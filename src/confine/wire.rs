//! What the confined reader tells its parent, and how: frames of a little-endian `u32`
//! length and a postcard body, one per message, in file order. The parent trusts nothing
//! it reads here: a frame over its size bound, a body that does not decode, a value that
//! breaks a dataset rule or counts that do not add up are all garbage (the delivery is
//! quarantined), never a panic.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::datasets::{Beschikking, Instrument, Meting, Problem, Record, Status};
use crate::pseudonym::Bsn;

/// What the parent asks the child to do: everything `check::check_file` needs, as data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub max_line_bytes: usize,
    pub max_field_bytes: usize,
    pub max_rows: u64,
    pub max_unpacked_bytes: u64,
    /// A dataset to check against instead of detecting one (`--dataset`).
    pub dataset: Option<String>,
    pub today: NaiveDate,
    pub scores_ct: (f64, f64),
    pub scores_gas: (f64, f64),
    pub agb_codes: Option<Vec<String>>,
    pub municipality: Option<String>,
    /// Datasets this deliverer may send; empty allows all.
    pub datasets: Vec<String>,
}

/// One message from the child.
#[derive(Debug, Serialize, Deserialize)]
pub enum Message {
    Record {
        line: u64,
        record: WireRecord,
    },
    Problem(WireProblem),
    /// The last message: how the file ended.
    Done(Result<WireSummary, WireFatal>),
}

#[derive(Debug, Serialize, Deserialize)]
pub enum WireRecord {
    Meting {
        agb: String,
        bsn: [u8; 9],
        metingnummer: String,
        datum: NaiveDate,
        instrument: String,
        respondent: u8,
        score: f64,
        status: Option<String>,
    },
    Beschikking {
        gemeentecode: String,
        beschikkingnummer: String,
        bsn: [u8; 9],
        agb: String,
        productcategorie: String,
        productcode: String,
        ingangsdatum: NaiveDate,
        einddatum: Option<NaiveDate>,
        reden: Option<String>,
    },
}

#[derive(Debug, Serialize, Deserialize)]
pub struct WireProblem {
    pub line: u64,
    pub column: String,
    pub value: String,
    pub rule: String,
    pub message: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct WireSummary {
    pub format: Option<String>,
    pub dataset: Option<String>,
    pub extra_columns: Vec<String>,
    pub rows: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub rules: BTreeMap<String, u64>,
}

/// Why the file could not be checked, in both languages, with the outcome it leads to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireFatal {
    /// Unreadable (quarantine) or refused as a layout or dataset (rejected).
    pub unreadable: bool,
    pub en: String,
    pub nl: String,
}

impl WireRecord {
    pub fn from_record(record: &Record) -> Self {
        match record {
            Record::Meting(m) => Self::Meting {
                agb: m.agb.clone(),
                bsn: *m.bsn.digits(),
                metingnummer: m.metingnummer.clone(),
                datum: m.datum,
                instrument: m.instrument.as_str().to_owned(),
                respondent: m.respondent,
                score: m.score,
                status: m.status.map(|s| s.as_str().to_owned()),
            },
            Record::Beschikking(b) => Self::Beschikking {
                gemeentecode: b.gemeentecode.clone(),
                beschikkingnummer: b.beschikkingnummer.clone(),
                bsn: *b.bsn.digits(),
                agb: b.agb.clone(),
                productcategorie: b.productcategorie.clone(),
                productcode: b.productcode.clone(),
                ingangsdatum: b.ingangsdatum,
                einddatum: b.einddatum,
                reden: b.reden.clone(),
            },
        }
    }

    /// The typed record, if every value is one a checked row can hold.
    pub fn into_record(self) -> Option<Record> {
        let bsn = |digits: [u8; 9]| Bsn::parse(std::str::from_utf8(&digits).ok()?).ok();
        Some(match self {
            Self::Meting {
                agb,
                bsn: digits,
                metingnummer,
                datum,
                instrument,
                respondent,
                score,
                status,
            } => Record::Meting(Meting {
                agb,
                bsn: bsn(digits)?,
                metingnummer,
                datum,
                instrument: match instrument.as_str() {
                    "CT" => Instrument::Ct,
                    "GAS" => Instrument::Gas,
                    _ => return None,
                },
                respondent,
                score,
                status: match status.as_deref() {
                    None => None,
                    Some("Volledig") => Some(Status::Volledig),
                    Some("Onvolledig") => Some(Status::Onvolledig),
                    Some("Nee") => Some(Status::Nee),
                    Some(_) => return None,
                },
            }),
            Self::Beschikking {
                gemeentecode,
                beschikkingnummer,
                bsn: digits,
                agb,
                productcategorie,
                productcode,
                ingangsdatum,
                einddatum,
                reden,
            } => Record::Beschikking(Beschikking {
                gemeentecode,
                beschikkingnummer,
                bsn: bsn(digits)?,
                agb,
                productcategorie,
                productcode,
                ingangsdatum,
                einddatum,
                reden,
            }),
        })
    }
}

impl WireProblem {
    pub fn from_problem(p: &Problem) -> Self {
        Self {
            line: p.line,
            column: p.column.clone(),
            value: p.value.clone(),
            rule: p.rule.to_owned(),
            message: p.message.clone(),
        }
    }
}

/// Writes one message as a frame.
pub fn write(out: &mut impl Write, message: &Message) -> io::Result<()> {
    let body = postcard::to_allocvec(message).map_err(io::Error::other)?;
    let len = u32::try_from(body.len()).map_err(io::Error::other)?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(&body)
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("a message of {0} bytes is over the bound")]
    TooLarge(u32),
    #[error("a message that does not decode: {0}")]
    Decode(postcard::Error),
    #[error("the stream ends inside a message")]
    Truncated,
    #[error(transparent)]
    Io(io::Error),
}

/// Reads the next message; `None` at a clean end of the stream.
pub fn read(
    input: &mut impl Read,
    max_frame: u32,
    body: &mut Vec<u8>,
) -> Result<Option<Message>, FrameError> {
    let mut len = [0u8; 4];
    match read_full(input, &mut len)? {
        0 => return Ok(None),
        4 => {}
        _ => return Err(FrameError::Truncated),
    }
    let len = u32::from_le_bytes(len);
    if len > max_frame {
        return Err(FrameError::TooLarge(len));
    }
    body.resize(len as usize, 0);
    if read_full(input, body)? != body.len() {
        return Err(FrameError::Truncated);
    }
    postcard::from_bytes(body)
        .map(Some)
        .map_err(FrameError::Decode)
}

/// Fills `buf` unless the stream ends first; returns how much it got.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> Result<usize, FrameError> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(m) => n += m,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
    Ok(n)
}
