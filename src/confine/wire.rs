//! What the confined reader tells its parent, and how: frames of a little-endian `u32`
//! length and a postcard body, one per message, in file order. The parent trusts nothing
//! it reads here: a frame over its size bound, a body that does not decode, a value that
//! breaks a dataset rule or counts that do not add up are all garbage (the delivery is
//! quarantined), never a panic.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use chrono::{Datelike, NaiveDate};
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

#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub enum WireRecord {
    Meting {
        agb: String,
        bsn: [u8; 9],
        metingnummer: String,
        datum: Day,
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
        ingangsdatum: Day,
        einddatum: Option<Day>,
        reden: Option<String>,
    },
}

/// A checked row as the child sends it: borrowed, so no value is copied on its way out.
/// Its single variant encodes exactly as [`Message::Record`] (variant 0, then the same
/// fields in the same order), which is what the parent reads.
#[derive(Serialize)]
pub enum RecordFrame<'a> {
    Record { line: u64, record: RecordRef<'a> },
}

/// [`WireRecord`], borrowed.
#[derive(Serialize)]
pub enum RecordRef<'a> {
    Meting {
        agb: &'a str,
        bsn: &'a [u8; 9],
        metingnummer: &'a str,
        datum: Day,
        instrument: &'a str,
        respondent: u8,
        score: f64,
        status: Option<&'a str>,
    },
    Beschikking {
        gemeentecode: &'a str,
        beschikkingnummer: &'a str,
        bsn: &'a [u8; 9],
        agb: &'a str,
        productcategorie: &'a str,
        productcode: &'a str,
        ingangsdatum: Day,
        einddatum: Option<Day>,
        reden: Option<&'a str>,
    },
}

impl<'a> RecordRef<'a> {
    pub fn new(record: &'a Record) -> Self {
        match record {
            Record::Meting(m) => Self::Meting {
                agb: &m.agb,
                bsn: m.bsn.digits(),
                metingnummer: &m.metingnummer,
                datum: Day::from_date(m.datum),
                instrument: m.instrument.as_str(),
                respondent: m.respondent,
                score: m.score,
                status: m.status.map(Status::as_str),
            },
            Record::Beschikking(b) => Self::Beschikking {
                gemeentecode: &b.gemeentecode,
                beschikkingnummer: &b.beschikkingnummer,
                bsn: b.bsn.digits(),
                agb: &b.agb,
                productcategorie: &b.productcategorie,
                productcode: &b.productcode,
                ingangsdatum: Day::from_date(b.ingangsdatum),
                einddatum: b.einddatum.map(Day::from_date),
                reden: b.reden.as_deref(),
            },
        }
    }
}

/// A date as days since 1 January of year 1: chrono's own serde form is text, and
/// formatting and parsing it for every row cost more than the rest of the pipe.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Day(i32);

impl Day {
    fn from_date(date: NaiveDate) -> Self {
        Self(date.num_days_from_ce())
    }

    fn date(self) -> Option<NaiveDate> {
        NaiveDate::from_num_days_from_ce_opt(self.0)
    }
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
    #[cfg(test)]
    pub fn from_record(record: &Record) -> Self {
        match record {
            Record::Meting(m) => Self::Meting {
                agb: m.agb.clone(),
                bsn: *m.bsn.digits(),
                metingnummer: m.metingnummer.clone(),
                datum: Day::from_date(m.datum),
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
                ingangsdatum: Day::from_date(b.ingangsdatum),
                einddatum: b.einddatum.map(Day::from_date),
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
                datum: datum.date()?,
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
                ingangsdatum: ingangsdatum.date()?,
                einddatum: match einddatum {
                    Some(day) => Some(day.date()?),
                    None => None,
                },
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

/// Writes messages as frames, through one reused buffer.
pub struct FrameWriter<W> {
    out: W,
    body: Vec<u8>,
}

impl<W: Write> FrameWriter<W> {
    pub fn new(out: W) -> Self {
        Self {
            out,
            body: Vec::with_capacity(512),
        }
    }

    /// Writes one message (a [`Message`], or a [`RecordFrame`]) as a frame.
    pub fn write(&mut self, message: &impl Serialize) -> io::Result<()> {
        self.body.clear();
        let body = std::mem::take(&mut self.body);
        self.body = postcard::to_extend(message, body).map_err(io::Error::other)?;
        let len = u32::try_from(self.body.len()).map_err(io::Error::other)?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(&self.body)
    }
}

/// Writes one message as a frame.
#[cfg(test)]
pub fn write(out: &mut impl Write, message: &impl Serialize) -> io::Result<()> {
    FrameWriter::new(out).write(message)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_borrowed_record_frame_reads_back_as_the_record() {
        let record = Record::Meting(Meting {
            agb: "87654321".into(),
            bsn: Bsn::parse("123456782").unwrap(),
            metingnummer: "M-1".into(),
            datum: NaiveDate::from_ymd_opt(2026, 1, 5).unwrap(),
            instrument: Instrument::Gas,
            respondent: 2,
            score: -1.5,
            status: Some(Status::Onvolledig),
        });
        let mut bytes = Vec::new();
        let frame = RecordFrame::Record {
            line: 7,
            record: RecordRef::new(&record),
        };
        write(&mut bytes, &frame).unwrap();
        let read = read(&mut &bytes[..], 1 << 20, &mut Vec::new()).unwrap();
        let Some(Message::Record { line, record: wire }) = read else {
            panic!("{read:?}");
        };
        assert_eq!(line, 7);
        assert_eq!(wire, WireRecord::from_record(&record));
        assert_eq!(wire.into_record(), Some(record));
    }
}
