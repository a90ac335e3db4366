//! Just enough of the Compound File Binary format (MS-CFB, the container of an `.xls`) to
//! read one stream without trusting the file: every sector number is checked against the
//! file's length and every chain against loops, and the stream is read a sector at a time.
//! calamine has its own reader, but it reads the whole workbook into memory before anything
//! can look at it; the bomb checks in `bombs` need the workbook stream first.

use std::fs::File;
use std::io::{self, Cursor, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::FileError;

const SIGNATURE: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
const HEADER_LEN: usize = 512;
/// Sector numbers from this on are markers (end of chain, free, FAT, DIFAT), not sectors.
const MAX_SECTOR: u32 = 0xFFFF_FFFA;
const END_OF_CHAIN: u32 = 0xFFFF_FFFE;
const DIR_ENTRY: usize = 128;
const MINI_SECTOR: u64 = 64;
const STREAM: u8 = 2;

/// An opened compound file: its sector size and allocation table.
struct Cfb {
    file: File,
    sector_size: u64,
    /// Sectors the file's length can hold (after the header).
    sectors: u32,
    fat: Vec<u32>,
    header: Vec<u8>,
}

/// One directory entry: where its data starts and how long it is.
struct Entry {
    name: String,
    kind: u8,
    start: u32,
    size: u64,
}

fn malformed(message: impl Into<String>) -> FileError {
    FileError::Spreadsheet {
        format: "xls",
        message: format!("damaged compound file: {}", message.into()),
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The first stream named one of `names` (case-insensitive), as a reader; `None` when the
/// file holds none of them (an Office file that is not a workbook).
pub fn open_stream(path: &Path, names: &[&str]) -> Result<Option<Box<dyn Read>>, FileError> {
    let cfb = Cfb::open(path)?;
    let entries = cfb.directory()?;
    let Some(entry) = entries
        .iter()
        .find(|e| e.kind == STREAM && names.iter().any(|n| n.eq_ignore_ascii_case(&e.name)))
    else {
        return Ok(None);
    };
    let cutoff = u64::from(u32_at(&cfb.header, 0x38));
    if entry.size < cutoff {
        let root = entries.first().ok_or_else(|| malformed("no root entry"))?;
        return Ok(Some(Box::new(Cursor::new(cfb.mini_stream(root, entry)?))));
    }
    let chain = cfb.chain(entry.start)?;
    if (chain.len() as u64).saturating_mul(cfb.sector_size) < entry.size {
        return Err(malformed("a stream is longer than its sectors"));
    }
    Ok(Some(Box::new(ChainReader {
        file: cfb.file,
        sector_size: cfb.sector_size,
        chain,
        position: 0,
        size: entry.size,
    })))
}

impl Cfb {
    fn open(path: &Path) -> Result<Self, FileError> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let mut header = vec![0u8; HEADER_LEN];
        file.read_exact_at(&mut header, 0)
            .map_err(|_| malformed("shorter than its header"))?;
        if !header.starts_with(SIGNATURE) {
            return Err(malformed("no compound file signature"));
        }
        let sector_size = match u16_at(&header, 0x1E) {
            9 => 512u64,
            12 => 4096,
            other => return Err(malformed(format!("sector shift {other}"))),
        };
        // Some writers cut the last sector short: it counts, and reads past the end are zeros.
        let sectors = u32::try_from(len.div_ceil(sector_size).saturating_sub(1))
            .map_err(|_| malformed("too many sectors"))?;
        let mut cfb = Self {
            file,
            sector_size,
            sectors,
            fat: Vec::new(),
            header,
        };
        cfb.fat = cfb.read_fat()?;
        Ok(cfb)
    }

    fn sector(&self, id: u32) -> Result<Vec<u8>, FileError> {
        if id >= self.sectors {
            return Err(malformed(format!(
                "sector {id} lies beyond the end of the file"
            )));
        }
        let mut buf = vec![0u8; self.sector_size as usize];
        read_padded(&self.file, &mut buf, (u64::from(id) + 1) * self.sector_size)?;
        Ok(buf)
    }

    /// The allocation table, from the 109 sector numbers in the header and the DIFAT chain.
    fn read_fat(&self) -> Result<Vec<u32>, FileError> {
        let mut fat_sectors: Vec<u32> = (0..109)
            .map(|i| u32_at(&self.header, 0x4C + 4 * i))
            .collect();
        let per_sector = (self.sector_size / 4) as usize;
        let mut next = u32_at(&self.header, 0x44);
        let mut hops = 0;
        while next < MAX_SECTOR {
            hops += 1;
            if hops > self.sectors {
                return Err(malformed("the DIFAT chain loops"));
            }
            let sector = self.sector(next)?;
            fat_sectors.extend((0..per_sector - 1).map(|i| u32_at(&sector, 4 * i)));
            next = u32_at(&sector, 4 * (per_sector - 1));
        }
        let mut fat = Vec::new();
        for id in fat_sectors.into_iter().filter(|id| *id < MAX_SECTOR) {
            if fat.len() > self.sectors as usize + per_sector {
                return Err(malformed("more allocation table than sectors"));
            }
            let sector = self.sector(id)?;
            fat.extend((0..per_sector).map(|i| u32_at(&sector, 4 * i)));
        }
        Ok(fat)
    }

    /// The sectors of a chain, in order; a loop or a sector past the end is an error.
    fn chain(&self, start: u32) -> Result<Vec<u32>, FileError> {
        follow(&self.fat, start, self.sectors)
    }

    fn directory(&self) -> Result<Vec<Entry>, FileError> {
        let mut entries = Vec::new();
        for id in self.chain(u32_at(&self.header, 0x30))? {
            let sector = self.sector(id)?;
            for raw in sector.chunks_exact(DIR_ENTRY) {
                let name_len = usize::from(u16_at(raw, 0x40)).min(64);
                let units: Vec<u16> = (0..name_len.saturating_sub(2) / 2)
                    .map(|i| u16_at(raw, 2 * i))
                    .collect();
                let mut size = u64::from(u32_at(raw, 0x78));
                // Version 3 files may leave garbage in the high half.
                if u16_at(&self.header, 0x1A) != 3 {
                    size |= u64::from(u32_at(raw, 0x7C)) << 32;
                }
                entries.push(Entry {
                    name: String::from_utf16_lossy(&units),
                    kind: raw[0x42],
                    start: u32_at(raw, 0x74),
                    size,
                });
            }
        }
        Ok(entries)
    }

    /// A small stream, kept in 64-byte mini sectors inside the root entry's data.
    fn mini_stream(&self, root: &Entry, entry: &Entry) -> Result<Vec<u8>, FileError> {
        let container = self.chain(root.start)?;
        let mut minifat = Vec::new();
        for id in self.chain(u32_at(&self.header, 0x3C))? {
            let sector = self.sector(id)?;
            minifat.extend(sector.chunks_exact(4).map(|b| u32_at(b, 0)));
        }
        let minis = u32::try_from(container.len() as u64 * self.sector_size / MINI_SECTOR)
            .map_err(|_| malformed("too many mini sectors"))?;
        let mut data = Vec::with_capacity(entry.size as usize);
        for mini in follow(&minifat, entry.start, minis)? {
            let offset = u64::from(mini) * MINI_SECTOR;
            let sector = container[(offset / self.sector_size) as usize];
            let at = (u64::from(sector) + 1) * self.sector_size + offset % self.sector_size;
            let mut buf = [0u8; MINI_SECTOR as usize];
            read_padded(&self.file, &mut buf, at)?;
            data.extend_from_slice(&buf);
            if data.len() as u64 >= entry.size {
                break;
            }
        }
        if (data.len() as u64) < entry.size {
            return Err(malformed("a stream is longer than its mini sectors"));
        }
        data.truncate(entry.size as usize);
        Ok(data)
    }
}

/// Follows a chain through an allocation table of `limit` sectors.
fn follow(table: &[u32], start: u32, limit: u32) -> Result<Vec<u32>, FileError> {
    let mut chain = Vec::new();
    let mut id = start;
    while id != END_OF_CHAIN {
        if id >= limit || chain.len() >= limit as usize {
            return Err(malformed(format!("a chain runs to sector {id} or loops")));
        }
        chain.push(id);
        id = *table
            .get(id as usize)
            .ok_or_else(|| malformed(format!("sector {id} has no allocation entry")))?;
    }
    Ok(chain)
}

/// Fills `buf` from `at`, with zeros past the end of the file.
fn read_padded(file: &File, buf: &mut [u8], at: u64) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], at + filled as u64)? {
            0 => break,
            n => filled += n,
        }
    }
    buf[filled..].fill(0);
    Ok(())
}

/// A large stream, read sector by sector from the file.
struct ChainReader {
    file: File,
    sector_size: u64,
    chain: Vec<u32>,
    position: u64,
    size: u64,
}

impl Read for ChainReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        while filled < buf.len() && self.position < self.size {
            let index = (self.position / self.sector_size) as usize;
            let within = self.position % self.sector_size;
            let n = (buf.len() - filled)
                .min((self.sector_size - within) as usize)
                .min((self.size - self.position) as usize);
            let at = (u64::from(self.chain[index]) + 1) * self.sector_size + within;
            read_padded(&self.file, &mut buf[filled..filled + n], at)?;
            filled += n;
            self.position += n as u64;
        }
        Ok(filled)
    }
}
