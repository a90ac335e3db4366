//! Mutation testing of the readers: thousands of damaged variants of the sample deliveries
//! (every format, good and bad) go through the real `dropgate validate --json`, so through
//! the confined reader. Whatever a variant does to its reader, the parent must not panic,
//! must not grow, and must give every variant a clear outcome.
//!
//! The variants come from a small seeded PRNG (`DROPGATE_MUTATION_SEED` picks another seed;
//! `DROPGATE_MUTATION_DIR` keeps them in that folder for a closer look).

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{BIN, Env, TENANTS};

const SEED: u64 = 0x5EED_D809_A7E0_0001;
/// Files per `validate` run, and runs at once.
const BATCH: usize = 250;
const PARALLEL: usize = 2;
/// The parent's peak resident memory (VmHWM) must stay under this.
const PARENT_MAX_HWM_KIB: u64 = 100 * 1024;
/// A batch that takes longer than this has hung (a child's own wall limit is 10 s).
const BATCH_PATIENCE: Duration = Duration::from_secs(300);
/// Small limits keep hostile variants cheap.
const LIMITS: &str = "
[limits]
reader_memory_mib = 256
reader_cpu_secs = 1
max_unpacked_bytes = 50000000
max_rows = 100000
";
const ERROR_CODES: &[&str] = &[
    "file.unreadable",
    "file.layout",
    "limit.memory",
    "limit.cpu",
    "limit.time",
    "reader.crash",
    "reader.garbage",
];
/// Bytes that mean something to one reader or another.
const SPECIAL: &[u8] = b"\0\xff\xfe\xef\xbb\xbf<>&;,\"'\t\r\n/=?![]#PK\x03\x04";

/// xorshift64*: small, seeded, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A number in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn byte(&mut self) -> u8 {
        if self.chance(50) {
            *self.pick(SPECIAL)
        } else {
            self.next() as u8
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Xlsx,
    Xls,
    Ods,
    Xml,
}

impl Format {
    fn of(name: &str) -> Option<Self> {
        Some(match name.rsplit('.').next()? {
            "csv" => Self::Csv,
            "xlsx" => Self::Xlsx,
            "xls" => Self::Xls,
            "ods" => Self::Ods,
            "xml" => Self::Xml,
            _ => return None,
        })
    }

    fn is_zip(self) -> bool {
        matches!(self, Self::Xlsx | Self::Ods)
    }
}

/// One entry of a zip-based sample, unpacked.
#[derive(Clone)]
struct Entry {
    name: String,
    data: Vec<u8>,
    stored: bool,
}

struct Sample {
    name: String,
    format: Format,
    bytes: Vec<u8>,
    entries: Vec<Entry>,
}

impl Sample {
    /// The entry that holds the rows: the first sheet or the ODS content.
    fn sheet(&self) -> usize {
        let wanted = match self.format {
            Format::Xlsx => "xl/worksheets/sheet1.xml",
            _ => "content.xml",
        };
        self.entries.iter().position(|e| e.name == wanted).unwrap()
    }
}

fn samples() -> Vec<Sample> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| Format::of(n).is_some())
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let bytes = std::fs::read(dir.join(&name)).unwrap();
            let format = Format::of(&name).unwrap();
            let entries = if format.is_zip() {
                unzip(&bytes)
            } else {
                Vec::new()
            };
            Sample {
                name,
                format,
                bytes,
                entries,
            }
        })
        .collect()
}

fn unzip(bytes: &[u8]) -> Vec<Entry> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).unwrap();
            let mut data = Vec::new();
            file.read_to_end(&mut data).unwrap();
            Entry {
                name: file.name().unwrap().into_owned(),
                data,
                stored: file.compression() == zip::CompressionMethod::Stored,
            }
        })
        .collect()
}

fn rezip(entries: &[Entry]) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for entry in entries {
        let method = if entry.stored {
            zip::CompressionMethod::Stored
        } else {
            zip::CompressionMethod::Deflated
        };
        let options = SimpleFileOptions::default()
            .compression_method(method)
            .large_file(entry.data.len() > u32::MAX as usize);
        writer.start_file(entry.name.as_str(), options).unwrap();
        writer.write_all(&entry.data).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

// ---------------------------------------------------------------------------------------
// Byte-level mutations, for every format.

fn flip(rng: &mut Rng, data: &mut Vec<u8>) {
    if data.is_empty() {
        data.push(rng.byte());
        return;
    }
    for _ in 0..rng.range(1, 8) {
        let at = rng.below(data.len());
        if rng.chance(50) {
            data[at] ^= 1 << rng.below(8);
        } else {
            data[at] = rng.byte();
        }
    }
}

fn insert(rng: &mut Rng, data: &mut Vec<u8>) {
    let at = rng.below(data.len() + 1);
    let bytes: Vec<u8> = (0..rng.range(1, 16)).map(|_| rng.byte()).collect();
    data.splice(at..at, bytes);
}

fn delete(rng: &mut Rng, data: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    let at = rng.below(data.len());
    let len = rng.range(1, 64).min(data.len() - at);
    data.drain(at..at + len);
}

fn truncate(rng: &mut Rng, data: &mut Vec<u8>) {
    let keep = rng.below(data.len().max(1));
    data.truncate(keep);
}

fn duplicate(rng: &mut Rng, data: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    let from = rng.below(data.len());
    let len = rng.range(1, 512).min(data.len() - from);
    let times = if rng.chance(10) { 64 } else { rng.range(1, 8) };
    let chunk = data[from..from + len].repeat(times);
    let at = rng.below(data.len() + 1);
    data.splice(at..at, chunk);
}

type ByteMutation = fn(&mut Rng, &mut Vec<u8>);

const BYTE_MUTATIONS: &[(&str, ByteMutation)] = &[
    ("bytes.flip", flip),
    ("bytes.insert", insert),
    ("bytes.delete", delete),
    ("bytes.truncate", truncate),
    ("bytes.duplicate", duplicate),
];

/// One to three byte-level mutations, truncation aside (for an entry inside a zip).
fn scramble(rng: &mut Rng, data: &mut Vec<u8>) {
    for _ in 0..rng.range(1, 3) {
        let (_, mutate) = BYTE_MUTATIONS[rng.below(BYTE_MUTATIONS.len())];
        mutate(rng, data);
    }
}

// ---------------------------------------------------------------------------------------
// Helpers for text-shaped content.

/// Every position where `needle` starts in `hay`.
fn find_all(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    hay.windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A random position just after a `>` (between XML nodes or inside a text), or anywhere.
fn after_tag(rng: &mut Rng, data: &[u8]) -> usize {
    let ends = find_all(data, b">");
    if ends.is_empty() {
        rng.below(data.len() + 1)
    } else {
        rng.pick(&ends) + 1
    }
}

/// Where the end of the tag starting at `open` is (the `>` or `/>`).
fn tag_end(data: &[u8], open: usize) -> usize {
    let close = open + find(&data[open..], b">").unwrap();
    if data[close - 1] == b'/' {
        close - 1
    } else {
        close
    }
}

/// Repeats the region from the first `open` to the end of the last `close` `times` times.
fn repeat_region(data: &[u8], open: &[u8], close: &[u8], times: usize) -> Vec<u8> {
    let (Some(start), Some(last)) = (find(data, open), find_all(data, close).pop()) else {
        return data.to_vec();
    };
    let end = last + close.len();
    let mut out = data[..start].to_vec();
    out.extend(data[start..end].repeat(times));
    out.extend_from_slice(&data[end..]);
    out
}

fn huge_number(rng: &mut Rng) -> String {
    let n = [
        "1000",
        "65536",
        "1048576",
        "16777216",
        "2147483647",
        "2147483648",
        "4294967295",
        "4294967296",
        "18446744073709551615",
        "99999999999999999999999",
        "-1",
        "0",
        "1e9",
        "abc",
        "",
    ];
    rng.pick(&n).to_string()
}

// ---------------------------------------------------------------------------------------
// Structural mutations of xlsx and ods.

/// An entry's unpacked XML, damaged byte by byte; the sheet half of the time.
fn zip_entry_mutated(rng: &mut Rng, s: &Sample) -> Vec<u8> {
    let mut entries = s.entries.clone();
    let i = if rng.chance(50) {
        s.sheet()
    } else {
        rng.below(entries.len())
    };
    scramble(rng, &mut entries[i].data);
    rezip(&entries)
}

fn zip_entry_dropped(rng: &mut Rng, s: &Sample) -> Vec<u8> {
    let mut entries = s.entries.clone();
    entries.remove(rng.below(entries.len()));
    rezip(&entries)
}

/// The rows repeated many times (the same sheet, ever longer), or the whole sheet
/// document repeated after itself.
fn zip_sheet_inflated(rng: &mut Rng, s: &Sample) -> Vec<u8> {
    let mut entries = s.entries.clone();
    let i = s.sheet();
    let times = *rng.pick(&[2, 10, 100, 500, 1000]);
    let data = &entries[i].data;
    entries[i].data = if rng.chance(20) {
        data.repeat(times.min(100))
    } else if s.format == Format::Xlsx {
        repeat_region(data, b"<row ", b"</row>", times)
    } else {
        repeat_region(data, b"<table:table-row", b"</table:table-row>", times)
    };
    rezip(&entries)
}

/// ODS: `table:number-rows-repeated` / `number-columns-repeated` set to huge values.
fn ods_repeat_attribute(rng: &mut Rng, s: &Sample) -> Vec<u8> {
    let mut entries = s.entries.clone();
    let i = s.sheet();
    for _ in 0..rng.range(1, 3) {
        let data = &mut entries[i].data;
        let (tag, attr): (&[u8], &str) = if rng.chance(50) {
            (b"<table:table-row", "table:number-rows-repeated")
        } else {
            (b"<table:table-cell", "table:number-columns-repeated")
        };
        let opens = find_all(data, tag);
        if opens.is_empty() {
            continue;
        }
        let open = *rng.pick(&opens);
        let at = open + tag.len();
        let text = format!(" {attr}=\"{}\"", huge_number(rng));
        data.splice(at..at, text.into_bytes());
        if rng.chance(30) {
            // An empty, repeated row or cell as LibreOffice writes for a sheet's tail.
            let end = tag_end(data, open);
            if data[end] != b'/' {
                data.insert(end, b'/');
                let close: &[u8] = if tag == b"<table:table-row" {
                    b"</table:table-row>"
                } else {
                    b"</table:table-cell>"
                };
                if let Some(c) = find(&data[end..], close) {
                    data.drain(end + 2..end + c + close.len());
                }
            }
        }
    }
    rezip(&entries)
}

/// XLSX: `<dimension ref=...>` patched to a huge or broken range.
fn xlsx_dimension(rng: &mut Rng, s: &Sample) -> Vec<u8> {
    let mut entries = s.entries.clone();
    let i = s.sheet();
    let refs = [
        "A1:XFD1048576",
        "A1:XFD4294967295",
        "A1:ZZZZZZZZ99999999999",
        "XFD1048576:A1",
        "A1",
        "",
        ":",
        "A0:B0",
        "A1:A1048576",
        "$A$1:$H$5",
    ];
    let new = format!("<dimension ref=\"{}\" />", rng.pick(&refs));
    let data = &mut entries[i].data;
    if let Some(start) = find(data, b"<dimension ") {
        let end = start + find(&data[start..], b">").unwrap() + 1;
        data.splice(start..end, new.into_bytes());
    }
    rezip(&entries)
}

/// XLSX: a cell's `r` moved to the far corner of the sheet (or past it).
fn xlsx_cell_reference(rng: &mut Rng, s: &Sample) -> Vec<u8> {
    let mut entries = s.entries.clone();
    let i = s.sheet();
    let refs = [
        "XFD1048576",
        "A1048576",
        "XFD2",
        "A4294967295",
        "AAAAAA1",
        "A0",
        "1A",
        "",
    ];
    let data = &mut entries[i].data;
    let cells = find_all(data, b"<c r=\"");
    if !cells.is_empty() {
        let at = *rng.pick(&cells) + 6;
        let end = at + find(&data[at..], b"\"").unwrap();
        data.splice(at..end, rng.pick(&refs).bytes());
    }
    rezip(&entries)
}

/// XLSX: a shared-strings part whose counts claim billions, and cells that use it (with
/// indexes in and out of range).
fn xlsx_shared_strings(rng: &mut Rng, s: &Sample) -> Vec<u8> {
    let mut entries = s.entries.clone();
    let count = huge_number(rng);
    let unique = huge_number(rng);
    let strings = "<si><t>87654321</t></si><si><t>x</t></si>".repeat(rng.range(0, 3));
    let part = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\
         <sst xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" \
         count=\"{count}\" uniqueCount=\"{unique}\">{strings}</sst>"
    );
    entries.push(Entry {
        name: "xl/sharedStrings.xml".into(),
        data: part.into_bytes(),
        stored: false,
    });
    let i = s.sheet();
    let data = &mut entries[i].data;
    let inline = find_all(data, b"t=\"inlineStr\"><is><t>");
    let mut picks: Vec<usize> = (0..rng.range(1, 4))
        .filter_map(|_| inline.get(rng.below(inline.len().max(1))).copied())
        .collect();
    picks.sort_unstable();
    picks.dedup();
    for at in picks.into_iter().rev() {
        let Some(close) = find(&data[at..], b"</t></is>") else {
            continue;
        };
        let index = *rng.pick(&["0", "1", "5", "4294967295", "-1", "x"]);
        let cell = format!("t=\"s\"><v>{index}</v>");
        // From the last cell back, so that earlier offsets stay right.
        data.splice(at..at + close + b"</t></is>".len(), cell.into_bytes());
    }
    rezip(&entries)
}

/// A central-directory or local-header size field that lies (an entry claims to be small,
/// or huge, or its compressed size is wrong).
fn zip_size_lie(rng: &mut Rng, bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let central = find_all(&out, b"PK\x01\x02");
    let local = find_all(&out, b"PK\x03\x04");
    for _ in 0..rng.range(1, 2) {
        let (at, offsets): (usize, &[usize]) = if rng.chance(60) && !central.is_empty() {
            // Central directory: compressed size at 20, uncompressed size at 24.
            (*rng.pick(&central), &[20, 24])
        } else if !local.is_empty() {
            // Local header: compressed size at 18, uncompressed size at 22.
            (*rng.pick(&local), &[18, 22])
        } else {
            continue;
        };
        let field = at + *rng.pick(offsets);
        if field + 4 > out.len() {
            continue;
        }
        let random = rng.next() as u32;
        let value: u32 = *rng.pick(&[0, 1, 100, 0x7FFF_FFFF, 0xFFFF_FFFF, random]);
        out[field..field + 4].copy_from_slice(&value.to_le_bytes());
    }
    out
}

/// A sheet padded with whitespace past `max_unpacked_bytes` (50 MB here) that packs to
/// little: honest, or with its sizes patched to claim little.
struct Bomb {
    bytes: Vec<u8>,
}

impl Bomb {
    fn new(s: &Sample) -> Self {
        let mut entries = s.entries.clone();
        let i = s.sheet();
        let data = &mut entries[i].data;
        let at = find_all(data, b"</").pop().unwrap();
        // Built with one memset: byte-wise iterators are slow in a debug build.
        let mut padded = data[..at].to_vec();
        padded.extend_from_slice(&vec![b' '; 60_000_000]);
        padded.extend_from_slice(&data[at..]);
        *data = padded;
        Self {
            bytes: rezip(&entries),
        }
    }

    fn variant(&self, rng: &mut Rng) -> Vec<u8> {
        if rng.chance(25) {
            return self.bytes.clone();
        }
        let mut out = self.bytes.clone();
        for at in find_all(&out, b"PK\x01\x02") {
            if rng.chance(60) {
                let small = rng.range(0, 5000) as u32;
                out[at + 24..at + 28].copy_from_slice(&small.to_le_bytes());
            }
        }
        for at in find_all(&out, b"PK\x03\x04") {
            if rng.chance(60) {
                let small = rng.range(0, 5000) as u32;
                out[at + 22..at + 26].copy_from_slice(&small.to_le_bytes());
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------
// Structural mutations of xls (BIFF8 records inside a compound file).

/// The BIFF records of the workbook stream, from its BOF: (offset of the header, type, length).
fn biff_records(data: &[u8]) -> Vec<(usize, u16, usize)> {
    let mut records = Vec::new();
    let Some(mut at) = find(data, b"\x09\x08\x10\x00\x00\x06") else {
        return records;
    };
    while at + 4 <= data.len() {
        let typ = u16::from_le_bytes([data[at], data[at + 1]]);
        let len = u16::from_le_bytes([data[at + 2], data[at + 3]]) as usize;
        if at + 4 + len > data.len() {
            break;
        }
        records.push((at, typ, len));
        at += 4 + len;
    }
    records
}

fn huge_u32(rng: &mut Rng) -> u32 {
    let random = rng.next() as u32;
    *rng.pick(&[
        0,
        1,
        0xFF,
        0x100,
        0xFFFF,
        0x1_0000,
        0x10_0000,
        0x7FFF_FFFF,
        0xFFFF_FFFE,
        0xFFFF_FFFF,
        random,
    ])
}

fn huge_u16(rng: &mut Rng) -> u16 {
    let random = rng.next() as u16;
    *rng.pick(&[0, 1, 0xFF, 0x100, 0x3FFF, 0x4000, 0x7FFF, 0xFFFF, random])
}

/// DIMENSIONS (0x0200): first row, last row + 1 (u32), first col, last col + 1 (u16).
fn xls_dimensions(rng: &mut Rng, s: &Sample) -> Vec<u8> {
    let mut out = s.bytes.clone();
    let at = find(&out, b"\x00\x02\x0e\x00").unwrap() + 4;
    for _ in 0..rng.range(1, 3) {
        match rng.below(4) {
            0 => out[at..at + 4].copy_from_slice(&huge_u32(rng).to_le_bytes()),
            1 => out[at + 4..at + 8].copy_from_slice(&huge_u32(rng).to_le_bytes()),
            2 => out[at + 8..at + 10].copy_from_slice(&huge_u16(rng).to_le_bytes()),
            _ => out[at + 10..at + 12].copy_from_slice(&huge_u16(rng).to_le_bytes()),
        }
    }
    out
}

/// A record's length field set to a lie.
fn xls_record_length(rng: &mut Rng, s: &Sample) -> Vec<u8> {
    let mut out = s.bytes.clone();
    let records = biff_records(&out);
    for _ in 0..rng.range(1, 2) {
        let (at, _, len) = *rng.pick(&records);
        let random = rng.next() as u16;
        let lie = *rng.pick(&[
            0,
            1,
            2,
            len.saturating_sub(1) as u16,
            len as u16 + 1,
            0x2020,
            0xFFFF,
            random,
        ]);
        out[at + 2..at + 4].copy_from_slice(&lie.to_le_bytes());
    }
    out
}

/// A cell record (LABELSST, NUMBER, RK, LABEL, BLANK, FORMULA) moved to a far row/column.
fn xls_cell_position(rng: &mut Rng, s: &Sample) -> Vec<u8> {
    let mut out = s.bytes.clone();
    let cells: Vec<usize> = biff_records(&out)
        .into_iter()
        .filter(|(_, typ, len)| {
            matches!(typ, 0x00FD | 0x0203 | 0x027E | 0x0204 | 0x0201 | 0x0006) && *len >= 4
        })
        .map(|(at, _, _)| at + 4)
        .collect();
    for _ in 0..rng.range(1, 3) {
        let body = *rng.pick(&cells);
        let field = body + 2 * rng.below(2);
        out[field..field + 2].copy_from_slice(&huge_u16(rng).to_le_bytes());
    }
    out
}

/// SST (0x00FC): the string counts, or the first string's length, raised.
fn xls_sst(rng: &mut Rng, s: &Sample) -> Vec<u8> {
    let mut out = s.bytes.clone();
    let Some(&(at, _, _)) = biff_records(&out).iter().find(|(_, typ, _)| *typ == 0x00FC) else {
        return out;
    };
    let body = at + 4;
    match rng.below(3) {
        0 => out[body..body + 4].copy_from_slice(&huge_u32(rng).to_le_bytes()),
        1 => out[body + 4..body + 8].copy_from_slice(&huge_u32(rng).to_le_bytes()),
        _ => out[body + 8..body + 10].copy_from_slice(&huge_u16(rng).to_le_bytes()),
    }
    out
}

/// The compound-file header: sector sizes, FAT count, directory and mini-stream starts.
fn xls_cfb_header(rng: &mut Rng, s: &Sample) -> Vec<u8> {
    let mut out = s.bytes.clone();
    let fields: &[(usize, usize)] = &[
        (0x1E, 2), // sector shift
        (0x20, 2), // mini sector shift
        (0x2C, 4), // FAT sectors
        (0x30, 4), // first directory sector
        (0x38, 4), // mini stream cutoff
        (0x3C, 4), // first mini FAT sector
        (0x40, 4), // mini FAT sectors
        (0x44, 4), // first DIFAT sector
        (0x48, 4), // DIFAT sectors
        (0x4C, 4), // first FAT sector (DIFAT[0])
    ];
    let (at, width) = *rng.pick(fields);
    let value = huge_u32(rng).to_le_bytes();
    out[at..at + width].copy_from_slice(&value[..width]);
    out
}

// ---------------------------------------------------------------------------------------
// Structural mutations of XML.

fn xml_nesting(rng: &mut Rng, s: &Sample) -> Vec<u8> {
    let mut out = s.bytes.clone();
    let depth = *rng.pick(&[100, 1000, 10_000, 50_000]);
    let name = *rng.pick(&["a", "meting", "pseudobsn", "x:y"]);
    let mut nest = format!("<{name}>").repeat(depth);
    if rng.chance(70) {
        nest.push_str(&format!("</{name}>").repeat(depth));
    }
    let at = after_tag(rng, &out);
    out.splice(at..at, nest.into_bytes());
    out
}

fn xml_entity(rng: &mut Rng, s: &Sample) -> Vec<u8> {
    let mut out = s.bytes.clone();
    let entities = [
        "&lol;",
        "&#0;",
        "&#x0;",
        "&#x110000;",
        "&#99999999999;",
        "&#xD800;",
        "&amp;amp;",
        "&",
        "&#",
        "&#x41;",
        "&lt;&gt;&quot;&apos;",
        "&unknown;",
        "&xxe;",
        "&#12345678901234567890;",
    ];
    for _ in 0..rng.range(1, 3) {
        let at = after_tag(rng, &out);
        out.splice(at..at, rng.pick(&entities).bytes());
    }
    out
}

fn xml_doctype(rng: &mut Rng, s: &Sample) -> Vec<u8> {
    let mut out = s.bytes.clone();
    let root = if s.name.starts_with("metingen") {
        "metingen"
    } else {
        "beschikkingen"
    };
    let doctypes = [
        format!(
            "<!DOCTYPE {root} [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">\
             <!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\"><!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">\
             <!ENTITY lol \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\">]>"
        ),
        format!("<!DOCTYPE {root} [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>"),
        format!("<!DOCTYPE {root} SYSTEM \"http://127.0.0.1:9/x.dtd\">"),
        "<!DOCTYPE".to_string(),
        format!("<!DOCTYPE {root} [<!ELEMENT {root} ANY>"),
    ];
    let doctype = rng.pick(&doctypes).clone();
    // After the declaration (where it belongs), or anywhere between nodes.
    let at = if rng.chance(60) {
        find(&out, b"?>").map_or(0, |i| i + 2)
    } else {
        after_tag(rng, &out)
    };
    out.splice(at..at, doctype.into_bytes());
    if rng.chance(50) {
        // Use the entities in a value.
        let at = after_tag(rng, &out);
        out.splice(at..at, rng.pick(&["&lol;", "&xxe;"]).bytes());
    }
    out
}

fn xml_attribute(rng: &mut Rng, s: &Sample) -> Vec<u8> {
    let mut out = s.bytes.clone();
    let opens: Vec<usize> = find_all(&out, b"<")
        .into_iter()
        .filter(|&i| out.get(i + 1).is_some_and(u8::is_ascii_alphabetic))
        .collect();
    let open = *rng.pick(&opens);
    let end = tag_end(&out, open);
    let attribute = match rng.below(4) {
        0 => format!(
            " v=\"{}\"",
            "x".repeat(*rng.pick(&[5_000, 70_000, 300_000]))
        ),
        1 => (0..*rng.pick(&[100, 5_000, 20_000]))
            .map(|i| format!(" a{i}=\"1\""))
            .collect(),
        2 => format!(" {}=\"1\"", "n".repeat(*rng.pick(&[5_000, 70_000]))),
        _ => " a=\"1\" a=\"2\" b='unclosed".to_string(),
    };
    out.splice(end..end, attribute.into_bytes());
    out
}

fn xml_text(rng: &mut Rng, s: &Sample) -> Vec<u8> {
    let mut out = s.bytes.clone();
    let at = after_tag(rng, &out);
    let text: Vec<u8> = match rng.below(5) {
        0 => vec![b'9'; *rng.pick(&[5_000, 70_000, 300_000])],
        1 => b"<![CDATA[".iter().chain(&[b'x'; 5000]).copied().collect(),
        2 => b"<!-- never closed".to_vec(),
        3 => b"<?pi data?><![CDATA[]]]]><!---->".to_vec(),
        _ => b"\xef\xbb\xbf\xff\xfe\x00<".to_vec(),
    };
    out.splice(at..at, text);
    out
}

fn xml_declaration(rng: &mut Rng, s: &Sample) -> Vec<u8> {
    let mut out = s.bytes.clone();
    let declarations: [&[u8]; 7] = [
        b"<?xml version=\"1.0\" encoding=\"UTF-16\"?>",
        b"<?xml version=\"1.0\" encoding=\"EBCDIC-US\"?>",
        b"<?xml version=\"1.0\" encoding=\"x-no-such\"?>",
        b"<?xml version=\"9.9\"?>",
        b"\xff\xfe<\x00?\x00x\x00m\x00l\x00",
        b"\xef\xbb\xbf\xef\xbb\xbf<?xml version=\"1.0\"?>",
        b"<?xml",
    ];
    let end = find(&out, b"?>").map_or(0, |i| i + 2);
    out.splice(0..end, rng.pick(&declarations).iter().copied());
    out
}

// ---------------------------------------------------------------------------------------
// Structural mutations of CSV.

fn csv_quote(rng: &mut Rng, s: &Sample) -> Vec<u8> {
    let mut out = s.bytes.clone();
    for _ in 0..rng.range(1, 3) {
        let at = rng.below(out.len() + 1);
        out.insert(at, if rng.chance(80) { b'"' } else { b'\'' });
    }
    out
}

fn csv_long(rng: &mut Rng, s: &Sample) -> Vec<u8> {
    let mut out = s.bytes.clone();
    let at = rng.below(out.len() + 1);
    let len = *rng.pick(&[5_000, 70_000, 300_000]);
    let fill = if rng.chance(50) { b'7' } else { b';' };
    out.splice(at..at, vec![fill; len]);
    out
}

fn csv_columns(rng: &mut Rng, s: &Sample) -> Vec<u8> {
    let mut out = s.bytes.clone();
    let lines = find_all(&out, b"\n");
    let at = lines
        .get(rng.below(lines.len().max(1)))
        .copied()
        .unwrap_or(0);
    let separator = *rng.pick(&[";", ",", "\t", "|"]);
    let extra = format!("{separator}x").repeat(*rng.pick(&[300, 10_000, 30_000]));
    out.splice(at..at, extra.into_bytes());
    out
}

fn csv_encoding(rng: &mut Rng, s: &Sample) -> Vec<u8> {
    let mut out = s.bytes.clone();
    let bytes: [&[u8]; 7] = [
        b"\xef\xbb\xbf",
        b"\xff\xfe",
        b"\xfe\xff",
        b"\x00",
        b"\xc3\x28",
        b"\x80\x81\xfe",
        b"\xed\xa0\x80",
    ];
    let at = if rng.chance(30) {
        0
    } else {
        rng.below(out.len() + 1)
    };
    out.splice(at..at, rng.pick(&bytes).iter().copied());
    out
}

fn csv_lines(rng: &mut Rng, s: &Sample) -> Vec<u8> {
    let out = s.bytes.clone();
    match rng.below(4) {
        0 => out
            .iter()
            .map(|&b| if b == b'\n' { b'\r' } else { b })
            .collect(),
        1 => out.into_iter().filter(|&b| b != b'\n').collect(),
        2 => {
            let mut out = out;
            let at = rng.below(out.len() + 1);
            out.splice(at..at, std::iter::repeat_n(b'\n', 20_000));
            out
        }
        _ => out
            .iter()
            .flat_map(|&b| {
                if b == b'\n' {
                    b"\r\r\n".to_vec()
                } else {
                    vec![b]
                }
            })
            .collect(),
    }
}

// ---------------------------------------------------------------------------------------
// The plan: which mutations, how many of each, per sample.

type Structural = fn(&mut Rng, &Sample) -> Vec<u8>;

/// Variants of each byte-level kind per sample.
const PER_BYTE_KIND: usize = 30;

fn structural(format: Format) -> Vec<(&'static str, Structural, usize)> {
    match format {
        Format::Xlsx => vec![
            ("zip.entry-mutated", zip_entry_mutated as Structural, 50),
            ("zip.entry-dropped", zip_entry_dropped, 10),
            ("zip.sheet-inflated", zip_sheet_inflated, 8),
            ("zip.size-lie", |r, s| zip_size_lie(r, &s.bytes), 25),
            ("xlsx.dimension", xlsx_dimension, 15),
            ("xlsx.cell-reference", xlsx_cell_reference, 15),
            ("xlsx.shared-strings", xlsx_shared_strings, 20),
        ],
        Format::Ods => vec![
            ("zip.entry-mutated", zip_entry_mutated as Structural, 50),
            ("zip.entry-dropped", zip_entry_dropped, 10),
            ("zip.sheet-inflated", zip_sheet_inflated, 8),
            ("zip.size-lie", |r, s| zip_size_lie(r, &s.bytes), 25),
            ("ods.repeat-attribute", ods_repeat_attribute, 30),
        ],
        Format::Xls => vec![
            ("xls.dimensions", xls_dimensions as Structural, 40),
            ("xls.record-length", xls_record_length, 40),
            ("xls.cell-position", xls_cell_position, 30),
            ("xls.sst", xls_sst, 20),
            ("xls.cfb-header", xls_cfb_header, 20),
        ],
        Format::Xml => vec![
            ("xml.nesting", xml_nesting as Structural, 15),
            ("xml.entity", xml_entity, 20),
            ("xml.doctype", xml_doctype, 20),
            ("xml.attribute", xml_attribute, 15),
            ("xml.text", xml_text, 15),
            ("xml.declaration", xml_declaration, 10),
        ],
        Format::Csv => vec![
            ("csv.quote", csv_quote as Structural, 20),
            ("csv.long", csv_long, 10),
            ("csv.columns", csv_columns, 10),
            ("csv.encoding", csv_encoding, 15),
            ("csv.lines", csv_lines, 10),
        ],
    }
}

/// Zip bombs per zip sample.
const PER_BOMB: usize = 3;

struct Variant {
    path: PathBuf,
    kind: &'static str,
    sample: String,
}

fn write_variants(dir: &Path, seed: u64) -> Vec<Variant> {
    let mut rng = Rng::new(seed);
    let mut variants = Vec::new();
    let mut emit = |kind: &'static str, sample: &Sample, bytes: Vec<u8>| {
        let name = format!("v{:05}-{kind}-{}", variants.len(), sample.name);
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        variants.push(Variant {
            path,
            kind,
            sample: sample.name.clone(),
        });
    };
    let mut bombs_made = std::collections::HashSet::new();
    for sample in &samples() {
        for &(kind, mutate) in BYTE_MUTATIONS {
            for _ in 0..PER_BYTE_KIND {
                let mut bytes = sample.bytes.clone();
                mutate(&mut rng, &mut bytes);
                emit(kind, sample, bytes);
            }
        }
        for (kind, mutate, count) in structural(sample.format) {
            for _ in 0..count {
                emit(kind, sample, mutate(&mut rng, sample));
            }
        }
        // One bomb per zip format: packing 60 MB is the slowest thing here.
        if sample.format.is_zip() && bombs_made.insert(sample.format as u8) {
            let bomb = Bomb::new(sample);
            for _ in 0..PER_BOMB * 4 {
                emit("zip.bomb", sample, bomb.variant(&mut rng));
            }
        }
    }
    variants
}

// ---------------------------------------------------------------------------------------
// Running the batches.

/// What one `validate` run gave.
struct BatchResult {
    reports: Vec<Value>,
    peak_kib: u64,
}

/// The highest resident size `pid` has had, in KiB (None once it has exited).
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn run_batch(config: &Path, files: &[Variant]) -> BatchResult {
    let started = Instant::now();
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(["validate", "--json"])
        .args(files.iter().map(|v| &v.path))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    // The JSON is printed whole at the end. The reader takes its first byte and waits until
    // the parent's memory has been read: the report array is then built and serialized, and
    // the process, whose output is larger than a pipe holds, is blocked writing the rest.
    let (printing, printing_seen) = std::sync::mpsc::channel::<()>();
    let (measured, measured_seen) = std::sync::mpsc::channel::<()>();
    let out_reader = std::thread::spawn(move || {
        let mut out = vec![0];
        if stdout.read_exact(&mut out).is_err() {
            return Vec::new();
        }
        let _ = printing.send(());
        let _ = measured_seen.recv();
        stdout.read_to_end(&mut out).unwrap();
        out
    });
    let err_reader = std::thread::spawn(move || {
        let mut err = Vec::new();
        stderr.read_to_end(&mut err).unwrap();
        err
    });
    let mut peak_kib = 0;
    let status = loop {
        if let Some(kib) = vm_hwm_kib(pid) {
            peak_kib = peak_kib.max(kib);
        }
        if printing_seen.try_recv().is_ok() {
            if let Some(kib) = vm_hwm_kib(pid) {
                peak_kib = peak_kib.max(kib);
            }
            let _ = measured.send(());
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > BATCH_PATIENCE {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "validate hung: no answer after {BATCH_PATIENCE:?} for the batch from {} to {}",
                files[0].path.display(),
                files[files.len() - 1].path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = out_reader.join().unwrap();
    let err = String::from_utf8_lossy(&err_reader.join().unwrap()).into_owned();
    let first = files[0].path.display();
    assert!(
        matches!(status.code(), Some(0 | 1)),
        "validate ended with {status} on the batch from {first}; stderr:\n{err}"
    );
    assert!(
        !err.contains("panicked"),
        "validate panicked on the batch from {first}:\n{err}"
    );
    let json: Value = serde_json::from_slice(&out).unwrap_or_else(|e| {
        panic!(
            "validate gave no JSON ({e}) on the batch from {first}; status {status}; stderr:\n{err}"
        )
    });
    let reports = match json {
        Value::Array(reports) if files.len() > 1 => reports,
        report if files.len() == 1 => vec![report],
        other => panic!("not one report per file: {other}"),
    };
    assert_eq!(
        reports.len(),
        files.len(),
        "validate answered {} reports for {} files from {first}; stderr:\n{err}",
        reports.len(),
        files.len()
    );
    BatchResult { reports, peak_kib }
}

/// The outcome of one report, or why it is not a clear one.
fn outcome(report: &Value) -> Result<String, String> {
    let status = report["status"].as_str().ok_or("no status")?;
    let code = &report["error_code"];
    let error = &report["error"];
    let problems = report["problems"].as_array().ok_or("no problem list")?;
    let rows = report["rows"].as_u64().ok_or("no row count")?;
    let accepted = report["accepted"].as_u64().ok_or("no accepted count")?;
    let rejected = report["rejected"].as_u64().ok_or("no rejected count")?;
    if accepted + rejected > rows {
        return Err(format!("{accepted} + {rejected} rows of {rows}"));
    }
    match (status, code) {
        ("passed", Value::Null) if error.is_null() && rejected == 0 && rows > 0 => {
            Ok("passed".into())
        }
        ("failed", Value::String(code)) => {
            if !ERROR_CODES.contains(&code.as_str()) {
                return Err(format!("unknown error code {code:?}"));
            }
            if error.as_str().is_none_or(|e| e.trim().is_empty()) {
                return Err(format!("error code {code} without a text"));
            }
            Ok(code.clone())
        }
        ("failed", Value::Null) if error.is_null() => {
            if !problems.is_empty() && rejected > 0 {
                Ok("failed.problems".into())
            } else if rows == 0 && problems.is_empty() {
                // A header and no data: the counts say why (0 rows).
                Ok("failed.no-rows".into())
            } else {
                Err(format!(
                    "failed without a reason: {rows} rows, {rejected} rejected, {} problems",
                    problems.len()
                ))
            }
        }
        _ => Err(format!("status {status:?} with error code {code}")),
    }
}

#[test]
fn mutated_samples_all_get_a_clear_outcome_and_the_parent_stays_small() {
    let started = Instant::now();
    let seed = std::env::var("DROPGATE_MUTATION_SEED")
        .ok()
        .map_or(SEED, |s| {
            s.parse().expect("DROPGATE_MUTATION_SEED: a number")
        });
    let env = Env::new(&format!("{TENANTS}{LIMITS}"));
    let kept = std::env::var_os("DROPGATE_MUTATION_DIR").map(PathBuf::from);
    let dir = kept
        .clone()
        .unwrap_or_else(|| env.dir.path().join("variants"));
    std::fs::create_dir_all(&dir).unwrap();
    let variants = write_variants(&dir, seed);
    let generated = started.elapsed();
    assert!(variants.len() >= 5000, "only {} variants", variants.len());

    let batches: Vec<&[Variant]> = variants.chunks(BATCH).collect();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, BatchResult)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(batch) = batches.get(i) else { break };
                    let result = run_batch(&env.config(), batch);
                    results.lock().unwrap().push((i, result));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);

    let mut per_outcome: BTreeMap<String, usize> = BTreeMap::new();
    let mut per_kind: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    let mut unclear = Vec::new();
    let mut noteworthy = Vec::new();
    let mut peak_kib = 0;
    for (i, result) in &results {
        peak_kib = peak_kib.max(result.peak_kib);
        for (variant, report) in batches[*i].iter().zip(&result.reports) {
            let name = variant.path.file_name().unwrap().to_string_lossy();
            assert_eq!(report["file"], *name, "reports in the order of the files");
            match outcome(report) {
                Ok(outcome) => {
                    if matches!(
                        outcome.as_str(),
                        "reader.crash" | "reader.garbage" | "limit.time"
                    ) {
                        noteworthy.push(format!("{outcome}: {name}"));
                    }
                    *per_kind
                        .entry(variant.kind)
                        .or_default()
                        .entry(outcome.clone())
                        .or_default() += 1;
                    *per_outcome.entry(outcome).or_default() += 1;
                }
                Err(why) => unclear.push(format!("{name} ({}): {why}", variant.sample)),
            }
        }
    }

    eprintln!(
        "mutation: {} variants (seed {seed:#x}) generated in {generated:.1?}, checked in {:.1?}; \
         parent peak VmHWM {} KiB",
        variants.len(),
        started.elapsed() - generated,
        peak_kib
    );
    eprintln!("mutation: per outcome: {per_outcome:?}");
    for (kind, outcomes) in &per_kind {
        let total: usize = outcomes.values().sum();
        eprintln!("mutation:   {kind:<22} {total:>5}  {outcomes:?}");
    }
    for line in &noteworthy {
        eprintln!("mutation: contained: {line}");
    }
    assert!(
        unclear.is_empty(),
        "{} variants without a clear outcome:\n{}",
        unclear.len(),
        unclear.join("\n")
    );
    assert!(
        peak_kib < PARENT_MAX_HWM_KIB,
        "the validate process grew to {peak_kib} KiB"
    );
}
