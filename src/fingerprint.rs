//! What a delivered file was when the daily run hashed it: its content hash and its
//! identity on disk. The run moves an original out of `upload/` only if the file at that
//! path is still the one it hashed: a hash alone cannot tell, because a client may replace
//! the file (a new upload renamed over it) between the hashing and the move, and the new
//! upload would then be archived unprocessed.

use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Size and lower-case hex SHA-256 of everything `reader` yields.
pub(crate) fn sha256_of(reader: &mut impl std::io::Read) -> io::Result<(u64, String)> {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex::encode(hasher.finalize())))
}

/// A file's content hash and identity, taken together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fingerprint {
    /// SHA-256 of the content, lower-case hex (as intake records it).
    pub sha256: String,
    stamp: Stamp,
}

/// Which file a path names, and whether it was written: another inode is another file, a
/// write changes the size or the modification and change times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(meta: &Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

impl Fingerprint {
    /// Hashes the file at `path`. A file written while it was hashed has no fingerprint.
    pub(crate) fn take(path: &Path) -> io::Result<Self> {
        let mut file = File::open(path)?;
        let before = Stamp::of(&file.metadata()?);
        let (_, sha256) = sha256_of(&mut file)?;
        let stamp = Stamp::of(&file.metadata()?);
        if stamp != before {
            return Err(io::Error::other("the file was written while it was hashed"));
        }
        Ok(Self { sha256, stamp })
    }

    /// Whether `path` still names the very file this was taken of, unwritten since.
    pub(crate) fn still_at(&self, path: &Path) -> bool {
        std::fs::symlink_metadata(path).is_ok_and(|meta| Stamp::of(&meta) == self.stamp)
    }

    /// Whether `path` still names the same file (device and inode) with the same content,
    /// hashed again now: for a file whose times a client set since it was taken.
    pub(crate) fn same_content_at(&self, path: &Path) -> bool {
        Fingerprint::take(path).is_ok_and(|now| {
            now.sha256 == self.sha256
                && (now.stamp.dev, now.stamp.ino) == (self.stamp.dev, self.stamp.ino)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_or_rewritten_file_is_not_the_one_fingerprinted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.csv");
        std::fs::write(&path, "a;b\n1;2\n").unwrap();
        let taken = Fingerprint::take(&path).unwrap();
        use sha2::Digest;
        assert_eq!(
            taken.sha256,
            hex::encode(sha2::Sha256::digest(b"a;b\n1;2\n"))
        );
        assert!(taken.still_at(&path), "untouched");

        // Replaced by another upload of the same bytes, renamed over it.
        let other = dir.path().join(".m.csv");
        std::fs::write(&other, "a;b\n1;2\n").unwrap();
        std::fs::rename(&other, &path).unwrap();
        assert!(!taken.still_at(&path), "another inode");
        assert_eq!(Fingerprint::take(&path).unwrap().sha256, taken.sha256);

        // Rewritten in place with content of the same size.
        let again = Fingerprint::take(&path).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&path, "a;b\n3;4\n").unwrap();
        assert!(!again.still_at(&path), "written since");

        std::fs::remove_file(&path).unwrap();
        assert!(!again.still_at(&path), "gone");
    }
}
