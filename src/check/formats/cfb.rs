//! The workbook stream of an `.xls` (a Compound File Binary container), read with the
//! `cfb` crate a sector at a time: the bomb checks in `bombs` walk its records before
//! calamine, which reads the whole workbook into memory first, may see the file.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use super::FileError;

fn malformed(e: impl std::fmt::Display) -> FileError {
    FileError::Spreadsheet {
        format: "xls",
        message: format!("damaged compound file: {e}"),
    }
}

/// A stream of a compound file; the file stays open as long as the stream is read.
struct OpenStream {
    stream: cfb::Stream<File>,
    _file: cfb::CompoundFile<File>,
}

impl Read for OpenStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf)
    }
}

/// The first stream in the root named one of `names` (case-insensitive), as a reader;
/// `None` when the file holds none of them (an Office file that is not a workbook).
pub(super) fn open_stream(path: &Path, names: &[&str]) -> Result<Option<Box<dyn Read>>, FileError> {
    let mut file = cfb::CompoundFile::open(File::open(path)?).map_err(malformed)?;
    let found = file
        .read_root_storage()
        .find(|e| e.is_stream() && names.iter().any(|n| n.eq_ignore_ascii_case(e.name())))
        .map(|e| e.path().to_owned());
    let Some(found) = found else {
        return Ok(None);
    };
    let stream = file.open_stream(&found).map_err(malformed)?;
    Ok(Some(Box::new(OpenStream {
        stream,
        _file: file,
    })))
}
