//! The key files dropgate hashes with, and whether they are the ones the ledger was built
//! with (issue 16): the TTP key (every pseudonym) and each municipality's key (every hash in
//! its bundles). The first use of a key records its fingerprint (SHA-256 of the file's
//! bytes) in the ledger; a later load of a different file is refused, before it makes a
//! single hash that would not match the ledger's. This module never makes or writes a key.

use std::path::Path;

use chrono::{DateTime, Utc};

use crate::config::Config;
use crate::ledger::Ledger;
use crate::pseudonym::{KeyError, Keyed};

/// The TTP key's name in the ledger's `key_fingerprint` table.
pub(crate) const TTP: &str = "ttp";

/// A municipality's key's name in the ledger's `key_fingerprint` table.
pub(crate) fn municipality(tenant: &str) -> String {
    format!("municipality:{tenant}")
}

/// Where the municipality keys live: beside the TTP key.
pub(crate) fn key_dir(config: &Config) -> &Path {
    config.ttp_key_file.parent().unwrap_or(Path::new("."))
}

/// SHA-256 of a key file's bytes, lower-case hex: its fingerprint.
pub(crate) fn fingerprint(bytes: &[u8]) -> String {
    crate::fingerprint::sha256_of(&mut &bytes[..])
        .map(|(_, sum)| sum)
        .expect("reading from memory cannot fail")
}

/// The TTP key, checked against (or recorded in) the ledger.
pub(crate) fn ttp(
    config: &Config,
    ledger: &mut Ledger,
    now: DateTime<Utc>,
) -> Result<Keyed, KeyError> {
    load(ledger, TTP, "the TTP key", &config.ttp_key_file, now)
}

/// Loads the key file at `path` as key `name` (`what` names it to a reader): records its
/// fingerprint at its first use, and refuses a file whose fingerprint differs from the one
/// recorded.
pub(crate) fn load(
    ledger: &mut Ledger,
    name: &str,
    what: &str,
    path: &Path,
    now: DateTime<Utc>,
) -> Result<Keyed, KeyError> {
    let bytes = std::fs::read(path).map_err(|source| KeyError::Read {
        path: path.to_owned(),
        source,
    })?;
    let keyed = Keyed::from_file(path, &bytes)?;
    let found = fingerprint(&bytes);
    let recorded = ledger
        .key_used(name, &found, now)
        .map_err(|e| KeyError::Unrecorded {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    if recorded.fingerprint != found {
        return Err(KeyError::Changed {
            what: what.to_owned(),
            path: path.to_owned(),
            recorded: recorded
                .fingerprint
                .get(..12)
                .unwrap_or_default()
                .to_owned(),
            found: found.get(..12).unwrap_or_default().to_owned(),
            since: recorded
                .first_used_at
                .get(..10)
                .unwrap_or(&recorded.first_used_at)
                .to_owned(),
        });
    }
    Ok(keyed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_recorded_once_and_another_file_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::open(&dir.path().join("l.sqlite")).unwrap();
        let path = dir.path().join("ttp.key");
        crate::secrets::write_new_key(&path).unwrap();
        let now = chrono::Utc::now();
        let first = load(&mut ledger, TTP, "the TTP key", &path, now).unwrap();
        let again = load(&mut ledger, TTP, "the TTP key", &path, now).unwrap();
        assert_eq!(first.hash(b"x"), again.hash(b"x"));
        std::fs::remove_file(&path).unwrap();
        crate::secrets::write_new_key(&path).unwrap();
        let err = load(&mut ledger, TTP, "the TTP key", &path, now)
            .err()
            .unwrap()
            .to_string();
        assert!(err.starts_with("the TTP key "), "{err}");
        assert!(
            err.contains("is not the one this ledger was built with"),
            "{err}"
        );
        assert!(err.contains(&path.display().to_string()), "{err}");
    }
}
