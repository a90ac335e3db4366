//! A delivered file of iJw/iWmo messages: one message, or a zip of many. Each message is
//! checked on its own (schema, municipality) and, if it passes, handed on as a
//! [`Record::Bericht`]; each one that does not gets its problems, named by its entry in the
//! zip. A zip is read as spreadsheets are, under bomb limits: a bounded number of entries,
//! each at most one message's size, the whole within `max_unpacked_bytes`, no entry that
//! expands more than [`MAX_RATIO`] times, no name outside the zip (absolute, `..`), and no
//! zip inside it.

use std::io::Read;
use std::path::Path;

use super::{Reading, problems};
use crate::check::datasets::{Context, Dataset, Problem, Record};
use crate::check::formats::{FileError, Limits};
use crate::check::{Fatal, MessageCounts, Summary, Verdict};

/// The most a message may hold: iJw/iWmo messages are a few kilobytes, and one is read into
/// memory whole.
pub(crate) const MAX_MESSAGE_BYTES: usize = 8 * 1024 * 1024;

/// How far into a file the namespace of an iStandaarden message must show: its root
/// element, after at most an XML declaration and comments.
const SNIFF_BYTES: usize = 4096;

/// The most entries a zip of messages may hold: about as many average messages (2 to 3 KB)
/// as the default `max_unpacked_bytes` (512 MiB) lets unpack; a zip of many tiny entries is
/// refused before they are read.
pub(crate) const MAX_ENTRIES: usize = 200_000;

/// The most an entry may expand: XML compresses some ten to twenty times; a bomb, thousands.
pub(crate) const MAX_RATIO: u64 = 200;

/// The format a zip of messages is reported as.
pub(crate) const ZIP_FORMAT: &str = "zip";

/// The messages in the file at `path`, or `None` if it holds none (the dataset readers
/// take it: a CSV, a workbook, a `<metingen>` XML file).
pub(crate) fn check<E>(
    path: &Path,
    limits: Limits,
    ctx: &Context<'_>,
    on_record: &mut impl FnMut(u64, &Record) -> Result<Verdict, E>,
    on_problem: &mut impl FnMut(&Problem) -> Result<(), E>,
) -> Result<Option<Result<Summary, Fatal>>, E> {
    let Ok(file) = std::fs::File::open(path) else {
        // The dataset readers report an unreadable file.
        return Ok(None);
    };
    let mut head = Vec::new();
    let mut reader = file.take(SNIFF_BYTES as u64);
    if reader.read_to_end(&mut head).is_err() {
        return Ok(None);
    }
    let mut messages = Messages {
        ctx,
        on_record,
        on_problem,
        summary: Summary {
            messages: Some(MessageCounts::default()),
            ..Summary::default()
        },
    };
    if head.starts_with(b"PK\x03\x04") {
        let archive = match std::fs::File::open(path).map(zip::ZipArchive::new) {
            Ok(Ok(archive)) => archive,
            Ok(Err(e)) => return Ok(Some(Err(FileError::Zip(e.to_string()).into()))),
            // The dataset readers report an unreadable file.
            Err(_) => return Ok(None),
        };
        if is_workbook(&archive) {
            return Ok(None);
        }
        if let Err(fatal) = allowed(ctx) {
            return Ok(Some(Err(fatal)));
        }
        messages.summary.format = Some(ZIP_FORMAT);
        return Ok(Some(match messages.zip(archive, limits)? {
            Ok(()) => messages.finish(),
            Err(e) => Err(e.into()),
        }));
    }
    if !head.windows(26).any(|w| w == b"http://www.istandaarden.nl") {
        return Ok(None);
    }
    let mut bytes = head;
    let mut rest = reader.into_inner().take(MAX_MESSAGE_BYTES as u64 + 1);
    if let Err(e) = rest.read_to_end(&mut bytes) {
        return Ok(Some(Err(FileError::Io(e).into())));
    }
    let reading = match super::read(&bytes, MAX_MESSAGE_BYTES) {
        Ok(Reading::NotAMessage) => return Ok(None),
        Ok(reading) => reading,
        Err(e) => return Ok(Some(Err(FileError::Io(std::io::Error::other(e.0)).into()))),
    };
    if let Err(fatal) = allowed(ctx) {
        return Ok(Some(Err(fatal)));
    }
    messages.summary.format = Some(crate::check::formats::Format::Xml.as_str());
    messages.take(1, None, reading)?;
    Ok(Some(messages.finish()))
}

/// Messages come from a municipality: a folder that takes only measurements refuses them.
fn allowed(ctx: &Context<'_>) -> Result<(), Fatal> {
    if ctx.datasets.is_empty() || ctx.datasets.contains(&Dataset::Beschikkingen) {
        Ok(())
    } else {
        Err(Fatal::MessagesNotAllowed)
    }
}

/// Whether the zip is a workbook (xlsx, ods) or another document the dataset readers name,
/// rather than a zip of messages.
fn is_workbook(archive: &zip::ZipArchive<std::fs::File>) -> bool {
    [
        "xl/workbook.xml",
        "mimetype",
        "word/document.xml",
        "[Content_Types].xml",
    ]
    .iter()
    .any(|name| archive.index_for_name(name).is_some())
}

/// The messages of one file as they are taken.
struct Messages<'c, 'a, R, P> {
    ctx: &'c Context<'a>,
    on_record: &'c mut R,
    on_problem: &'c mut P,
    summary: Summary,
}

impl<R, P, E> Messages<'_, '_, R, P>
where
    R: FnMut(u64, &Record) -> Result<Verdict, E>,
    P: FnMut(&Problem) -> Result<(), E>,
{
    /// Takes one message (number `n` of the file, from zip entry `entry`).
    fn take(&mut self, n: u64, entry: Option<&str>, reading: Reading) -> Result<(), E> {
        self.summary.rows += 1;
        let (problems, named) = match reading {
            Reading::NotAMessage => (vec![problems::not_a_message()], None),
            Reading::Invalid(invalid) => {
                let named = entry.map(|e| message_name(e, invalid.kind, invalid.header.as_ref()));
                (invalid.problems, named)
            }
            Reading::Valid(valid) => {
                let named = entry.map(|e| message_name(e, Some(valid.kind), Some(&valid.header)));
                match self.accept(n, valid)? {
                    None => return Ok(()),
                    Some(problem) => (vec![problem], named),
                }
            }
        };
        self.summary.rejected += 1;
        let named = named.or_else(|| entry.map(str::to_owned));
        for mut problem in problems {
            *self.summary.rules.entry(problem.rule).or_default() += 1;
            if let Some(named) = &named {
                problem.column = in_entry(named, &problem.column);
            }
            (self.on_problem)(&problem)?;
        }
        Ok(())
    }

    /// Hands on a valid message of this municipality; the problem that refuses it if not.
    fn accept(&mut self, n: u64, valid: super::Valid) -> Result<Option<Problem>, E> {
        if let Some(own) = self.ctx.municipality {
            if valid.header.gemeente() != Some(own) {
                return Ok(Some(problems::other_municipality(&valid.header, own)));
            }
        }
        let Some(root) = valid.document.get_root_readonly() else {
            return Ok(Some(problems::namespace("", "")));
        };
        let bericht = match super::content::extract(valid.kind, valid.header.clone(), root) {
            Ok(bericht) => bericht,
            Err(problem) => return Ok(Some(problem)),
        };
        match (self.on_record)(n, &Record::Bericht(Box::new(bericht)))? {
            Verdict::Accepted => self.summary.accepted += 1,
            // A message is its header identity: the same one twice is kept once, which
            // the store counts; the reader never refuses one for it.
            Verdict::DuplicateInFile => self.summary.accepted += 1,
        }
        Ok(None)
    }

    /// Takes every entry of the zip. An entry that cannot be taken (its name points
    /// outside, it is a zip, too large or packed too tightly, encrypted, packed by a method
    /// not read here, or not the size it says) is refused on its own; the others go on.
    fn zip(
        &mut self,
        mut archive: zip::ZipArchive<std::fs::File>,
        limits: Limits,
    ) -> Result<Result<(), FileError>, E> {
        if archive.len() > MAX_ENTRIES {
            return Ok(Err(FileError::SpreadsheetBomb {
                what: format!("the zip holds more than {MAX_ENTRIES} entries"),
            }));
        }
        let mut unpacked: u64 = 0;
        let mut n = 0u64;
        for index in 0..archive.len() {
            let entry = match archive.by_index_raw(index) {
                Ok(entry) => entry,
                Err(e) => return Ok(Err(FileError::Zip(e.to_string()))),
            };
            if entry.is_dir() {
                continue;
            }
            n += 1;
            let raw_name = entry.name().map(|n| n.into_owned()).unwrap_or_default();
            let name = crate::redact::name(&raw_name).into_owned();
            let (size, packed) = (entry.size(), entry.compressed_size());
            let outside = entry.enclosed_name().is_none()
                || raw_name.starts_with('/')
                || raw_name.contains('\\');
            drop(entry);
            let refusal = if outside {
                Some(problems::zip_entry_outside())
            } else if raw_name.to_ascii_lowercase().ends_with(".zip") {
                Some(problems::zip_in_zip())
            } else if size > MAX_MESSAGE_BYTES as u64 {
                Some(problems::too_large(MAX_MESSAGE_BYTES))
            } else if size > packed.saturating_mul(MAX_RATIO).max(4096) {
                Some(problems::zip_ratio(MAX_RATIO))
            } else {
                None
            };
            if let Some(problem) = refusal {
                self.refuse(n, &name, problem)?;
                continue;
            }
            unpacked = unpacked.saturating_add(size);
            if unpacked > limits.max_unpacked_bytes {
                return Ok(Err(FileError::TooLarge {
                    limit: limits.max_unpacked_bytes,
                }));
            }
            let bytes = match read_entry(&mut archive, index, size) {
                Ok(bytes) => bytes,
                Err(why) => {
                    self.refuse(n, &name, problems::zip_entry_unreadable(&why))?;
                    continue;
                }
            };
            let reading = if bytes.starts_with(b"PK\x03\x04") {
                Reading::Invalid(super::Invalid {
                    kind: None,
                    header: None,
                    problems: vec![problems::zip_in_zip()],
                })
            } else {
                match super::read(&bytes, MAX_MESSAGE_BYTES) {
                    Ok(reading) => reading,
                    Err(e) => return Ok(Err(FileError::Io(std::io::Error::other(e.0)))),
                }
            };
            self.take(n, Some(&name), reading)?;
        }
        Ok(Ok(()))
    }

    /// Refuses entry `n` (`name`) of the zip for `problem`.
    fn refuse(&mut self, n: u64, name: &str, problem: Problem) -> Result<(), E> {
        let invalid = super::Invalid {
            kind: None,
            header: None,
            problems: vec![problem],
        };
        self.take(n, Some(name), Reading::Invalid(invalid))
    }

    /// The file's outcome: a zip without a single message is no delivery.
    fn finish(self) -> Result<Summary, Fatal> {
        if self.summary.rows == 0 {
            return Err(FileError::NoDataRows.into());
        }
        Ok(self.summary)
    }
}

/// How a problem names a message in a zip: its entry, with its type and date when known
/// (`2026/JW315-1.xml (JW315, 01-04-2026)`).
fn message_name(
    entry: &str,
    kind: Option<super::MessageType>,
    header: Option<&super::Header>,
) -> String {
    match (kind, header) {
        (Some(kind), Some(h)) => format!("{entry} ({kind}, {})", h.dagtekening.format("%d-%m-%Y")),
        (Some(kind), None) => format!("{entry} ({kind})"),
        _ => entry.to_owned(),
    }
}

/// The bytes of entry `index`, which says it unpacks to `size`: at most that many are read,
/// and fewer or more is an error, as is an entry that cannot be unpacked here.
fn read_entry(
    archive: &mut zip::ZipArchive<std::fs::File>,
    index: usize,
    size: u64,
) -> Result<Vec<u8>, String> {
    let mut entry = archive.by_index(index).map_err(|e| e.to_string())?;
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    // The declared size is a claim: read one byte more than it to see it kept.
    (&mut entry)
        .take(size + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 != size {
        return Err("it is not the size it says".to_owned());
    }
    Ok(bytes)
}

/// A problem's column, prefixed with the zip entry it is in.
fn in_entry(entry: &str, column: &str) -> String {
    if column.is_empty() {
        entry.to_owned()
    } else {
        format!("{entry}: {column}")
    }
}
