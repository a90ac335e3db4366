//! Receipts (DESIGN 6): for every processed delivery a `.result.csv` (a summary, then one
//! line per problem: line, column, masked value, rule) and a human-readable `.txt` twin.
//!
//! Problems are written to a work file as they are found, so a file with a million bad rows
//! never holds them in memory; the receipt is assembled from it at the end. Values come
//! from `datasets::shown`, which masks anything that could be a citizen number.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::Path;

use crate::check::Summary;
use crate::check::datasets::Problem;
use crate::message::Language;
use crate::sheet::{self, guard_formula};

/// Problems shown in a `.txt` receipt (the `.csv` has them all).
const TXT_PROBLEMS: usize = 200;

/// What a receipt says above the problems.
#[derive(Debug, Clone)]
pub(crate) struct Receipt {
    pub file: String,
    pub received: Option<String>,
    pub checked: String,
    /// `processed`, `rejected`, `quarantined`, or for validation `passed`/`failed`.
    pub status: String,
    pub summary: Summary,
    /// Why the file could not be read or matched no dataset (already redacted).
    pub fatal: Option<String>,
    /// The language of the `.txt` receipt (the `.csv` keeps stable English keys).
    pub language: Language,
}

/// Problems as they are found, in the receipt's CSV form.
pub(crate) struct ProblemLog {
    writer: csv::Writer<BufWriter<File>>,
    /// The language of the message column.
    language: Language,
    pub count: u64,
}

impl ProblemLog {
    /// A log at `path` whose messages are in `language` (rule ids stay as they are).
    pub(crate) fn create(path: &Path, language: Language) -> io::Result<Self> {
        let writer = sheet::writer().from_writer(BufWriter::new(File::create(path)?));
        Ok(Self {
            writer,
            language,
            count: 0,
        })
    }

    /// The language of the message column.
    pub(crate) fn language(&self) -> Language {
        self.language
    }

    pub(crate) fn push(&mut self, p: &Problem) -> io::Result<()> {
        self.count += 1;
        let line = p.line.to_string();
        let value = guard_formula(&p.value);
        self.writer
            .write_record([
                line.as_str(),
                &p.column,
                &value,
                p.rule,
                p.message.pick(self.language),
            ])
            .map_err(io::Error::other)
    }

    pub(crate) fn finish(self) -> io::Result<()> {
        let mut inner = self
            .writer
            .into_inner()
            .map_err(|e| io::Error::other(e.to_string()))?;
        inner.flush()?;
        inner.get_ref().sync_all()
    }
}

/// The summary as key and value; keys are the stable ones of the `.csv`.
fn summary_lines(r: &Receipt) -> Vec<(&'static str, String)> {
    let s = &r.summary;
    let mut lines = vec![("file", crate::redact::name(&r.file).into_owned())];
    if let Some(received) = &r.received {
        lines.push(("received", received.clone()));
    }
    lines.push(("checked", r.checked.clone()));
    lines.push(("status", r.status.clone()));
    if let Some(format) = s.format {
        lines.push(("format", format.to_owned()));
    }
    if let Some(dataset) = s.dataset {
        lines.push(("dataset", dataset.name().to_owned()));
    } else if s.messages.is_some() {
        lines.push(("dataset", "berichten".to_owned()));
    }
    if let Some(fatal) = &r.fatal {
        lines.push(("error", fatal.clone()));
    }
    lines.push(("rows", s.rows.to_string()));
    lines.push(("accepted", s.accepted.to_string()));
    lines.push(("rejected", s.rejected.to_string()));
    if let Some(messages) = s.messages.as_ref().filter(|m| m.known > 0) {
        lines.push(("known", messages.known.to_string()));
    }
    if !s.extra_columns.is_empty() {
        lines.push(("ignored columns", s.extra_columns.join(", ")));
    }
    lines
}

/// Writes `<out>.result.csv` and `<out>.txt` (paths given whole) from `receipt` and the
/// problem log at `problems` (absent when there were none). Each is synced.
pub(crate) fn write(
    receipt: &Receipt,
    problems: Option<&Path>,
    csv_path: &Path,
    txt_path: &Path,
) -> io::Result<()> {
    let mut out = BufWriter::new(File::create(csv_path)?);
    out.write_all(sheet::BOM)?;
    let mut csv = sheet::writer().flexible(true).from_writer(out);
    for (key, value) in summary_lines(receipt) {
        csv.write_record([key, &guard_formula(&value)])
            .map_err(io::Error::other)?;
    }
    let mut csv = csv
        .into_inner()
        .map_err(|e| io::Error::other(e.to_string()))?;
    // A blank line between the summary and the problems (csv would write `""`).
    csv.write_all(b"\r\nline;column;value;rule;message\r\n")?;
    if let Some(problems) = problems {
        io::copy(&mut File::open(problems)?, &mut csv)?;
    }
    csv.flush()?;
    csv.get_ref().sync_all()?;

    let mut txt = BufWriter::new(File::create(txt_path)?);
    txt.write_all(render_text(receipt, problems)?.as_bytes())?;
    txt.flush()?;
    txt.get_ref().sync_all()
}

/// Merges two problem logs, each in line order, into one in line order (streaming: neither
/// is held in memory).
pub(crate) fn merge_logs(a: &Path, b: &Path, out: &Path) -> io::Result<()> {
    let reader = |p: &Path| -> io::Result<csv::StringRecordsIntoIter<BufReader<File>>> {
        Ok(csv::ReaderBuilder::new()
            .delimiter(b';')
            .has_headers(false)
            .flexible(true)
            .from_reader(BufReader::new(File::open(p)?))
            .into_records())
    };
    let mut writer = sheet::writer()
        .flexible(true)
        .from_writer(BufWriter::new(File::create(out)?));
    let (mut a, mut b) = (reader(a)?.peekable(), reader(b)?.peekable());
    let line = |r: &Option<&Result<csv::StringRecord, csv::Error>>| -> Option<u64> {
        r.and_then(|r| r.as_ref().ok())
            .and_then(|r| r.get(0))
            .and_then(|l| l.parse().ok())
    };
    loop {
        let take_a = match (line(&a.peek()), line(&b.peek())) {
            (None, None) if a.peek().is_none() && b.peek().is_none() => break,
            (Some(x), Some(y)) => x <= y,
            (_, None) => a.peek().is_some(),
            (None, Some(_)) => false,
        };
        let next = if take_a { a.next() } else { b.next() };
        match next {
            Some(record) => writer
                .write_record(&record.map_err(io::Error::other)?)
                .map_err(io::Error::other)?,
            None => break,
        }
    }
    let mut inner = writer
        .into_inner()
        .map_err(|e| io::Error::other(e.to_string()))?;
    inner.flush()?;
    inner.get_ref().sync_all()
}

/// The first `n` problems of a problem log, as line, column, value, rule, message.
pub(crate) fn first_problems(problems: &Path, n: usize) -> io::Result<Vec<[String; 5]>> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .has_headers(false)
        .flexible(true)
        .from_reader(BufReader::new(File::open(problems)?));
    let mut out = Vec::new();
    for record in reader.records().take(n) {
        let record = record.map_err(io::Error::other)?;
        out.push(std::array::from_fn(|i| {
            record.get(i).unwrap_or("").to_owned()
        }));
    }
    Ok(out)
}

/// The human-readable receipt.
pub(crate) fn render_text(receipt: &Receipt, problems: Option<&Path>) -> io::Result<String> {
    let dutch = receipt.language == Language::Dutch;
    let say = |en: &'static str| if dutch { dutch_word(en) } else { en };
    let mut out = String::new();
    for (key, value) in summary_lines(receipt) {
        let value = match key {
            "status" => say(status_word(&value)).to_owned(),
            // People read local times as dd-mm-jjjj uu:mm; the .csv keeps ISO 8601.
            "received" | "checked" => chrono::DateTime::parse_from_rfc3339(&value)
                .map_or(value, |t| t.format("%d-%m-%Y %H:%M").to_string()),
            _ => value,
        };
        // A file of messages counts messages, not data rows.
        let key = if key == "rows" && receipt.summary.messages.is_some() {
            "messages"
        } else {
            key
        };
        let _ = writeln!(out, "{:>20}: {value}", say(key));
    }
    let top = receipt.summary.top_rules(5);
    if !top.is_empty() {
        let _ = writeln!(out, "\n{}:", say("most frequent problems"));
        for (rule, count) in top {
            let label =
                crate::check::datasets::rules::find(rule).map_or("", |r| r.label(receipt.language));
            let _ = writeln!(out, "  {count:>8} x {label} [{rule}]");
        }
    }
    if let Some(problems) = problems {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(b';')
            .has_headers(false)
            .flexible(true)
            .from_reader(BufReader::new(File::open(problems)?));
        for (shown, record) in reader.records().enumerate() {
            let record = record.map_err(io::Error::other)?;
            if shown == 0 {
                let _ = writeln!(out, "\n{}:", say("problems"));
            }
            if shown == TXT_PROBLEMS {
                let _ = writeln!(out, "  ... {}", say("the rest is in the .result.csv"));
                break;
            }
            let field = |i: usize| record.get(i).unwrap_or("");
            let line = say("line");
            let _ = match field(1) {
                "" => writeln!(out, "  {line} {}: {} [{}]", field(0), field(4), field(3)),
                column => writeln!(
                    out,
                    "  {line} {}, {column} {:?}: {} [{}]",
                    field(0),
                    field(2),
                    field(4),
                    field(3)
                ),
            };
        }
    }
    Ok(out)
}

/// The stable status word of a receipt (as in the `.csv`).
fn status_word(status: &str) -> &'static str {
    match status {
        "processed" => "processed",
        "rejected" => "rejected",
        "quarantined" => "quarantined",
        "duplicate" => "duplicate",
        "passed" => "passed",
        _ => "failed",
    }
}

/// The Dutch of the `.txt` receipt's fixed words.
fn dutch_word(en: &'static str) -> &'static str {
    match en {
        "file" => "bestand",
        "received" => "ontvangen",
        "checked" => "gecontroleerd",
        "status" => "status",
        "format" => "formaat",
        "dataset" => "gegevensset",
        "error" => "fout",
        "rows" => "gegevensregels",
        "accepted" => "geaccepteerd",
        "rejected" => "afgewezen",
        "messages" => "berichten",
        "known" => "al eerder ontvangen",
        "ignored columns" => "genegeerde kolommen",
        "most frequent problems" => "meest voorkomende problemen",
        "problems" => "problemen",
        "the rest is in the .result.csv" => "de rest staat in het .result.csv-bestand",
        "line" => "regel",
        "processed" => "verwerkt",
        "quarantined" => "in quarantaine (onleesbaar)",
        "duplicate" => "dubbel (eerder aangeleverd)",
        "passed" => "goedgekeurd",
        "failed" => "afgekeurd",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_logs_merge_in_line_order() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, out) = (
            dir.path().join("a"),
            dir.path().join("b"),
            dir.path().join("out"),
        );
        std::fs::write(&a, "2;x;v;r;m\r\n2;y;v;r;m\r\n9;x;v;r;\"a;b\"\r\n").unwrap();
        std::fs::write(&b, "5;k;v;dup;m\r\n10;k;v;dup;m\r\n").unwrap();
        merge_logs(&a, &b, &out).unwrap();
        let lines: Vec<String> = std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .map(|l| l.split(';').take(2).collect::<Vec<_>>().join(";"))
            .collect();
        assert_eq!(lines, ["2;x", "2;y", "5;k", "9;x", "10;k"]);
        std::fs::write(&b, "").unwrap();
        merge_logs(&a, &b, &out).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 3);
    }
}
