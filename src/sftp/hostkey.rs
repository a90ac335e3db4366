//! The server's ed25519 host key: loaded from the state directory, or made on first start.

use std::path::Path;

use russh::keys::ssh_key::private::{Ed25519Keypair, KeypairData};
use russh::keys::ssh_key::{HashAlg, LineEnding};
use russh::keys::{Algorithm, PrivateKey};

use crate::secrets;

/// Why the host key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum HostKeyError {
    #[error("host key {}: {message}", path.display())]
    Bad {
        path: std::path::PathBuf,
        message: String,
    },
    #[error(transparent)]
    Write(#[from] secrets::SecretError),
}

/// Loads the key at `path`, creating a new ed25519 key there (mode 0600) if there is none.
/// Returns the key and whether it was created.
pub fn load_or_create(path: &Path) -> Result<(PrivateKey, bool), HostKeyError> {
    let bad = |message: String| HostKeyError::Bad {
        path: path.to_owned(),
        message,
    };
    if path.exists() {
        let key = PrivateKey::read_openssh_file(path).map_err(|e| bad(e.to_string()))?;
        if key.algorithm() != Algorithm::Ed25519 {
            return Err(bad(format!("is {}, expected ssh-ed25519", key.algorithm())));
        }
        return Ok((key, false));
    }
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| bad(e.to_string()))?;
    let key = PrivateKey::new(
        KeypairData::Ed25519(Ed25519Keypair::from_seed(&seed)),
        "dropgate host key",
    )
    .map_err(|e| bad(e.to_string()))?;
    let text = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| bad(e.to_string()))?;
    secrets::write_new_private_file(path, text.as_bytes())?;
    Ok((key, true))
}

/// The key's SHA-256 fingerprint as OpenSSH prints it (`SHA256:...`).
pub fn fingerprint(key: &PrivateKey) -> String {
    key.public_key().fingerprint(HashAlg::Sha256).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_made_once_then_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host_key");
        let (made, created) = load_or_create(&path).unwrap();
        assert!(created);
        let (loaded, created) = load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(fingerprint(&made), fingerprint(&loaded));
        assert!(fingerprint(&made).starts_with("SHA256:"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
