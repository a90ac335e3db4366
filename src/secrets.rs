//! Making secrets: the pseudonymisation key file, private key files, random tokens and
//! Argon2id password hashes.
//!
//! Keys come from the operating system's random source; nothing here ever prints or logs a
//! key or a password.

use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use argon2::{Argon2, PasswordHasher};

/// Length of the TTP pseudonymisation key, in bytes.
pub(crate) const KEY_LEN: usize = 32;

/// Why a secret could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{} already exists; dropgate never overwrites a key (every pseudonym depends on it)", .0.display())]
    Exists(PathBuf),
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("the system's random source failed: {0}")]
    Random(String),
    #[error("the password is empty")]
    EmptyPassword,
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// Writes a new random key of [`KEY_LEN`] bytes to `path`, readable by its owner only.
/// Refuses to replace an existing file.
pub fn write_new_key(path: &Path) -> Result<(), SecretError> {
    let mut key = [0u8; KEY_LEN];
    getrandom::fill(&mut key).map_err(|e| SecretError::Random(e.to_string()))?;
    write_new_private_file(path, &key)
}

/// How old a temporary key file must be before it counts as left by a run that was cut
/// off (one being written now takes milliseconds).
const STALE_TEMP: std::time::Duration = std::time::Duration::from_secs(600);

/// Writes `content` to a new file at `path` with mode 0600, never replacing an existing one.
/// The file is complete or absent: it is written under a temporary name of its own
/// (`<name>.new-<random>`), synced, and linked into place (a link fails if `path` appeared
/// meanwhile). Temporary files a cut-off run left beside it are removed, and said so: they
/// never became the key, so nothing depends on them.
pub(crate) fn write_new_private_file(path: &Path, content: &[u8]) -> Result<(), SecretError> {
    if path.exists() {
        return Err(SecretError::Exists(path.to_owned()));
    }
    remove_stale_temps(path);
    let write_err = |source| SecretError::Write {
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(write_err)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".new-{}", random_hex(4)?));
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(content)?;
        file.sync_all()?;
        std::fs::hard_link(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    let _ = std::fs::remove_file(&tmp);
    match result {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.exists() => {
            Err(SecretError::Exists(path.to_owned()))
        }
        other => other.map_err(write_err),
    }
}

/// Removes the temporary files (`<name>.new`, `<name>.new-*`) that a run cut off while it
/// wrote `path` left, once they are older than [`STALE_TEMP`], with a warning that names
/// each.
fn remove_stale_temps(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!("{name}.new");
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(file) = file.to_str() else { continue };
        let ours = file == prefix || file.starts_with(&format!("{prefix}-"));
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age >= STALE_TEMP));
        if ours && old && std::fs::remove_file(entry.path()).is_ok() {
            tracing::warn!(
                file = %entry.path().display(),
                "removed an unfinished key file that an interrupted run left; it never became the key"
            );
        }
    }
}

/// A random token of `bytes` bytes as lower-case hex, for names nobody can guess.
pub(crate) fn random_hex(bytes: usize) -> Result<String, SecretError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| SecretError::Random(e.to_string()))?;
    Ok(hex::encode(buf))
}

/// The characters of a one-time code: capitals and digits without 0/O and 1/I, so that a
/// code read from a mail is typed right. There are 32: a random byte's low five bits pick
/// one without bias.
const CODE_ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A new one-time code of 100 random bits, as four groups of five (`K7QM2-...`).
pub(crate) fn one_time_code() -> Result<String, SecretError> {
    let mut buf = [0u8; 20];
    getrandom::fill(&mut buf).map_err(|e| SecretError::Random(e.to_string()))?;
    let chars: Vec<char> = buf
        .iter()
        .map(|b| char::from(CODE_ALPHABET[usize::from(b & 31)]))
        .collect();
    Ok(chars
        .chunks(5)
        .map(|group| group.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-"))
}

/// A one-time code as it is hashed and compared: what a person may type differently (case,
/// dashes, spaces) taken out.
pub(crate) fn normalise_code(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// An Argon2id PHC string for `password`, with a random salt and the crate's recommended
/// parameters.
pub fn hash_password(password: &str) -> Result<String, SecretError> {
    if password.is_empty() {
        return Err(SecretError::EmptyPassword);
    }
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| SecretError::Hash(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordVerifier;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_one_time_code_is_four_groups_of_five_from_the_alphabet_and_typed_loosely() {
        let code = one_time_code().unwrap();
        let groups: Vec<&str> = code.split('-').collect();
        assert_eq!(groups.len(), 4, "{code}");
        assert!(
            groups
                .iter()
                .all(|g| g.len() == 5 && g.bytes().all(|b| CODE_ALPHABET.contains(&b)))
        );
        assert_ne!(code, one_time_code().unwrap());
        let typed = format!(" {} ", code.to_lowercase().replace('-', " "));
        assert_eq!(normalise_code(&typed), code.replace('-', ""));
    }

    #[test]
    fn a_key_is_32_private_bytes_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/ttp.key");
        write_new_key(&path).unwrap();
        let key = std::fs::read(&path).unwrap();
        assert_eq!(key.len(), KEY_LEN);
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(matches!(write_new_key(&path), Err(SecretError::Exists(_))));
        assert_eq!(std::fs::read(&path).unwrap(), key);
        assert_eq!(
            std::fs::read_dir(dir.path().join("sub")).unwrap().count(),
            1
        );
    }

    #[test]
    fn a_temporary_key_file_a_crash_left_neither_blocks_nor_stays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ttp.key");
        let left = dir.path().join("ttp.key.new");
        std::fs::write(&left, b"half").unwrap();
        let old = std::time::SystemTime::now() - STALE_TEMP - std::time::Duration::from_secs(1);
        std::fs::File::options()
            .write(true)
            .open(&left)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let fresh = dir.path().join("ttp.key.new-0123abcd");
        std::fs::write(&fresh, b"being written").unwrap();
        write_new_key(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap().len(), KEY_LEN);
        assert!(!left.exists(), "the old leftover is removed");
        assert!(fresh.exists(), "one being written now is not touched");
    }

    #[test]
    fn a_password_hash_is_argon2id_and_verifies() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        let parsed = argon2::PasswordHash::new(&hash).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"wrong", &parsed)
                .is_err()
        );
        assert!(matches!(hash_password(""), Err(SecretError::EmptyPassword)));
    }
}
