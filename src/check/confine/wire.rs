//! What the confined reader tells its parent, and how: frames of a little-endian `u32`
//! length and a postcard body, one per message, in file order. The parent trusts nothing
//! it reads here: a frame over its size bound, a body that does not decode, a value that
//! breaks a dataset rule or counts that do not add up are all garbage (the delivery is
//! quarantined), never a panic.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::check::datasets::{Beschikking, Instrument, Meting, Problem, Record, Status};
use crate::check::messages::content::Bericht;
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
    pub provider: Option<crate::check::datasets::Provider>,
    pub municipality: Option<String>,
    /// Datasets this deliverer may send; empty allows all.
    pub datasets: Vec<String>,
}

/// One message from the child. Its values are borrowed: the child serialises a checked row
/// without copying it, and the parent reads one without an allocation per value.
#[derive(Debug, Serialize, Deserialize)]
pub(super) enum Message<'a> {
    Record {
        line: u64,
        #[serde(borrow)]
        record: RecordRef<'a>,
    },
    Problem(WireProblem),
    /// The last message: how the file ended.
    Done(Result<WireSummary, WireFatal>),
}

/// A checked row on the pipe, borrowed from the child's [`Record`] or from the parent's
/// frame buffer.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(super) enum RecordRef<'a> {
    Meting {
        agb: &'a str,
        bsn: [u8; 9],
        metingnummer: &'a str,
        datum: Day,
        instrument: &'a str,
        respondent: u8,
        score: Option<f64>,
        status: Option<&'a str>,
    },
    Beschikking {
        gemeentecode: &'a str,
        beschikkingnummer: &'a str,
        bsn: [u8; 9],
        agb: &'a str,
        productcategorie: &'a str,
        productcode: &'a str,
        ingangsdatum: Day,
        einddatum: Option<Day>,
        reden: Option<&'a str>,
    },
    /// A message: a few values, sent whole (the parent checks their form).
    Bericht(std::borrow::Cow<'a, Bericht>),
}

impl<'a> RecordRef<'a> {
    pub(super) fn new(record: &'a Record) -> Self {
        match record {
            Record::Meting(m) => Self::Meting {
                agb: &m.agb,
                bsn: *m.bsn.digits(),
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
                bsn: *b.bsn.digits(),
                agb: &b.agb,
                productcategorie: &b.productcategorie,
                productcode: &b.productcode,
                ingangsdatum: Day::from_date(b.ingangsdatum),
                einddatum: b.einddatum.map(Day::from_date),
                reden: b.reden.as_deref(),
            },
            Record::Bericht(m) => Self::Bericht(std::borrow::Cow::Borrowed(m)),
        }
    }

    /// The typed record, if every value is one a checked row can hold (a message: of
    /// `municipality`, when the job names one).
    pub(super) fn to_record(&self, municipality: Option<&str>) -> Option<Record> {
        let bsn = |digits: &[u8; 9]| Bsn::from_digits(*digits).ok();
        Some(match *self {
            Self::Meting {
                agb,
                bsn: ref digits,
                metingnummer,
                datum,
                instrument,
                respondent,
                score,
                status,
            } => Record::Meting(Meting {
                agb: agb.to_owned(),
                bsn: bsn(digits)?,
                metingnummer: metingnummer.to_owned(),
                datum: datum.date()?,
                instrument: match instrument {
                    "CT" => Instrument::Ct,
                    "GAS" => Instrument::Gas,
                    _ => return None,
                },
                respondent,
                score,
                status: match status {
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
                bsn: ref digits,
                agb,
                productcategorie,
                productcode,
                ingangsdatum,
                einddatum,
                reden,
            } => Record::Beschikking(Beschikking {
                gemeentecode: gemeentecode.to_owned(),
                beschikkingnummer: beschikkingnummer.to_owned(),
                bsn: bsn(digits)?,
                agb: agb.to_owned(),
                productcategorie: productcategorie.to_owned(),
                productcode: productcode.to_owned(),
                ingangsdatum: ingangsdatum.date()?,
                einddatum: match einddatum {
                    Some(day) => Some(day.date()?),
                    None => None,
                },
                reden: reden.map(str::to_owned),
            }),
            Self::Bericht(ref m) => {
                if !m.is_well_formed(municipality) {
                    return None;
                }
                Record::Bericht(Box::new(m.clone().into_owned()))
            }
        })
    }
}

/// A date as days since 1 January of year 1: chrono's own serde form is text, and
/// formatting and parsing it for every row cost more than the rest of the pipe.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(super) struct Day(i32);

impl Day {
    fn from_date(date: NaiveDate) -> Self {
        Self(date.num_days_from_ce())
    }

    fn date(self) -> Option<NaiveDate> {
        NaiveDate::from_num_days_from_ce_opt(self.0)
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct WireProblem {
    pub line: u64,
    pub column: String,
    pub value: String,
    pub rule: String,
    pub nl: String,
    pub en: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct WireSummary {
    pub format: Option<String>,
    pub dataset: Option<String>,
    pub extra_columns: Vec<String>,
    pub rows: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub rules: BTreeMap<String, u64>,
    /// A file of iJw/iWmo messages.
    pub messages: bool,
}

/// Why the file could not be checked, in both languages, with the outcome it leads to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct WireFatal {
    /// Unreadable (quarantine) or refused as a layout or dataset (rejected).
    pub unreadable: bool,
    pub en: String,
    pub nl: String,
}

impl WireProblem {
    pub(super) fn from_problem(p: &Problem) -> Self {
        Self {
            line: p.line,
            column: p.column.clone(),
            value: p.value.clone(),
            rule: p.rule.to_owned(),
            nl: p.message.nl.clone(),
            en: p.message.en.clone(),
        }
    }
}

/// Writes messages as frames, through one reused buffer.
pub(super) struct FrameWriter<W> {
    out: W,
    body: Vec<u8>,
}

impl<W: Write> FrameWriter<W> {
    pub(super) fn new(out: W) -> Self {
        Self {
            out,
            body: Vec::with_capacity(512),
        }
    }

    /// Writes one message as a frame.
    pub(super) fn write(&mut self, message: &Message<'_>) -> io::Result<()> {
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
pub(super) fn write(out: &mut impl Write, message: &Message<'_>) -> io::Result<()> {
    FrameWriter::new(out).write(message)
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub(super) enum FrameError {
    #[error("a message of {0} bytes is over the bound")]
    TooLarge(u32),
    #[error("a message that does not decode: {0}")]
    Decode(postcard::Error),
    #[error("the stream ends inside a message")]
    Truncated,
    #[error(transparent)]
    Io(io::Error),
}

/// Reads the child's frames, each decoded where it lies in one reused buffer: a row's
/// values are borrowed from it, not copied out.
pub(super) struct FrameReader<R> {
    input: R,
    buf: Vec<u8>,
    /// The unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    max_frame: u32,
}

impl<R: Read> FrameReader<R> {
    /// A reader that takes frames of at most `max_frame` bytes.
    pub(super) fn new(input: R, max_frame: u32) -> Self {
        Self {
            input,
            buf: vec![0; 256 * 1024],
            start: 0,
            end: 0,
            max_frame,
        }
    }

    /// The next message; `None` at a clean end of the stream.
    pub(super) fn next(&mut self) -> Result<Option<Message<'_>>, FrameError> {
        if !self.fill(4)? {
            return match self.end - self.start {
                0 => Ok(None),
                _ => Err(FrameError::Truncated),
            };
        }
        let head = &self.buf[self.start..self.start + 4];
        let len = u32::from_le_bytes(head.try_into().expect("four bytes"));
        if len > self.max_frame {
            return Err(FrameError::TooLarge(len));
        }
        let len = len as usize;
        if !self.fill(4 + len)? {
            return Err(FrameError::Truncated);
        }
        let body = self.start + 4;
        self.start = body + len;
        postcard::from_bytes(&self.buf[body..body + len])
            .map(Some)
            .map_err(FrameError::Decode)
    }

    /// Makes `n` unread bytes available (the buffer grows to at most one frame); false if
    /// the stream ends first.
    fn fill(&mut self, n: usize) -> Result<bool, FrameError> {
        if self.end - self.start >= n {
            return Ok(true);
        }
        if self.start + n > self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if n > self.buf.len() {
                self.buf.resize(n, 0);
            }
        }
        while self.end - self.start < n {
            match self.input.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(false),
                Ok(m) => self.end += m,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(FrameError::Io(e)),
            }
        }
        Ok(true)
    }
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
            score: Some(-1.5),
            status: Some(Status::Onvolledig),
        });
        let mut bytes = Vec::new();
        let frame = Message::Record {
            line: 7,
            record: RecordRef::new(&record),
        };
        write(&mut bytes, &frame).unwrap();
        let mut frames = FrameReader::new(&bytes[..], 1 << 20);
        let read = frames.next().unwrap();
        let Some(Message::Record { line, record: wire }) = read else {
            panic!("{read:?}");
        };
        assert_eq!(line, 7);
        assert_eq!(wire, RecordRef::new(&record));
        assert_eq!(wire.to_record(None), Some(record));
        assert!(frames.next().unwrap().is_none());
    }

    /// A reader that hands out at most 7 bytes per call, as a pipe may.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(7).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn frames_across_reads_and_larger_than_the_buffer_read_back_whole() {
        let record = Record::Meting(Meting {
            agb: "87654321".into(),
            bsn: Bsn::parse("123456782").unwrap(),
            metingnummer: "M-1".into(),
            datum: NaiveDate::from_ymd_opt(2026, 1, 5).unwrap(),
            instrument: Instrument::Ct,
            respondent: 1,
            score: Some(7.5),
            status: None,
        });
        let big = "x".repeat(300 * 1024);
        let mut bytes = Vec::new();
        let mut out = FrameWriter::new(&mut bytes);
        for line in 0..5000 {
            let record = RecordRef::new(&record);
            out.write(&Message::Record { line, record }).unwrap();
        }
        let problem = WireProblem {
            line: 9,
            column: "c".into(),
            value: "v".into(),
            rule: "r".into(),
            nl: big.clone(),
            en: big.clone(),
        };
        out.write(&Message::Problem(problem)).unwrap();
        out.write(&Message::Done(Ok(WireSummary::default())))
            .unwrap();
        let mut frames = FrameReader::new(Trickle(&bytes), 1 << 20);
        for expected in 0..5000 {
            match frames.next().unwrap() {
                Some(Message::Record { line, record: r }) => {
                    assert_eq!(line, expected);
                    assert_eq!(r.to_record(None).as_ref(), Some(&record));
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(frames.next().unwrap(), Some(Message::Problem(p)) if p.en == big));
        assert!(matches!(frames.next().unwrap(), Some(Message::Done(Ok(_)))));
        assert!(frames.next().unwrap().is_none());
        // Cut inside the last frame: truncated, not a clean end.
        let mut cut = FrameReader::new(&bytes[..bytes.len() - 1], 1 << 20);
        for _ in 0..5001 {
            assert!(matches!(cut.next(), Ok(Some(_))));
        }
        assert!(matches!(cut.next(), Err(FrameError::Truncated)));
    }
}
