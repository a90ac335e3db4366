//! The server's host keys, as OpenSSH 9 offers them: ed25519 at the configured path, RSA
//! (3072 bits; signed as rsa-sha2-512/256, never SHA-1) and ECDSA P-256 beside it. Each is
//! loaded from its file, or made on first start (mode 0600), so that clients that know only
//! RSA or ECDSA (JSch and other Java and .NET libraries) can connect.

use std::path::{Path, PathBuf};

use russh::keys::ssh_key::private::{EcdsaKeypair, Ed25519Keypair, KeypairData, RsaKeypair};
use russh::keys::ssh_key::{EcdsaCurve, HashAlg, LineEnding};
use russh::keys::{Algorithm, PrivateKey};

use crate::config::MIN_RSA_BITS;
use crate::secrets;

/// Bits of an RSA host key made here (OpenSSH's default since 9.x).
const RSA_BITS: usize = 3072;

/// Why a host key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum HostKeyError {
    #[error("host key {}: {message}", path.display())]
    Bad { path: PathBuf, message: String },
    #[error(transparent)]
    Write(#[from] secrets::SecretError),
}

/// The kinds of host key, in the order they are offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Ed25519,
    Ecdsa,
    Rsa,
}

impl Kind {
    pub(crate) const ALL: [Kind; 3] = [Kind::Ed25519, Kind::Ecdsa, Kind::Rsa];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Ed25519 => "ed25519",
            Kind::Ecdsa => "ecdsa",
            Kind::Rsa => "rsa",
        }
    }

    /// Where this kind's key is kept, given the configured (ed25519) path: `ed25519` in its
    /// file name replaced by the kind (`ssh_host_ed25519_key` -> `ssh_host_rsa_key`), or the
    /// kind appended (`host.key` -> `host.key-rsa`).
    pub(crate) fn path(self, ed25519: &Path) -> PathBuf {
        if self == Kind::Ed25519 {
            return ed25519.to_owned();
        }
        let file = ed25519
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let sibling = if file.contains("ed25519") {
            file.replace("ed25519", self.name())
        } else {
            format!("{file}-{}", self.name())
        };
        ed25519.with_file_name(sibling)
    }

    /// Whether `key` is of this kind and strong enough.
    fn check(self, key: &PrivateKey) -> Result<(), String> {
        let ok = match (self, key.key_data()) {
            (Kind::Ed25519, KeypairData::Ed25519(_)) => true,
            (Kind::Ecdsa, KeypairData::Ecdsa(k)) => k.curve() == EcdsaCurve::NistP256,
            (Kind::Rsa, KeypairData::Rsa(k)) => {
                let bits = k.key_size();
                if bits < MIN_RSA_BITS {
                    return Err(format!(
                        "is an RSA key of {bits} bits; at least {MIN_RSA_BITS} are needed (remove it and a {RSA_BITS}-bit one is made)"
                    ));
                }
                true
            }
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "is {}, expected {}",
                key.algorithm(),
                match self {
                    Kind::Ed25519 => "ssh-ed25519",
                    Kind::Ecdsa => "ecdsa-sha2-nistp256",
                    Kind::Rsa => "an RSA key",
                }
            ))
        }
    }

    fn generate(self) -> Result<PrivateKey, String> {
        let mut rng = rand::rng();
        let data = match self {
            Kind::Ed25519 => KeypairData::Ed25519(Ed25519Keypair::random(&mut rng)),
            Kind::Ecdsa => KeypairData::Ecdsa(
                EcdsaKeypair::random(&mut rng, EcdsaCurve::NistP256).map_err(|e| e.to_string())?,
            ),
            Kind::Rsa => {
                KeypairData::Rsa(RsaKeypair::random(&mut rng, RSA_BITS).map_err(|e| e.to_string())?)
            }
        };
        PrivateKey::new(data, "dropgate host key").map_err(|e| e.to_string())
    }
}

/// One host key, with where it is kept and whether it was just made.
pub(crate) struct HostKey {
    pub kind: Kind,
    pub path: PathBuf,
    pub key: PrivateKey,
    pub created: bool,
}

/// Loads every host key, making those that are missing. `ed25519` is the configured path.
/// An ECDSA or RSA key that cannot be written (a read-only folder that holds a provisioned
/// ed25519 key) is left out with a warning: the server starts, offering the others.
pub(crate) fn load_or_create_all(ed25519: &Path) -> Result<Vec<HostKey>, HostKeyError> {
    let mut keys = Vec::new();
    for kind in Kind::ALL {
        let path = kind.path(ed25519);
        match load_or_create(kind, &path) {
            Ok((key, created)) => keys.push(HostKey {
                kind,
                path,
                key,
                created,
            }),
            Err(HostKeyError::Write(e)) if kind != Kind::Ed25519 => {
                tracing::warn!(error = %e, "cannot make the {} host key; serving without it until it can be written (clients that know only that kind cannot connect)", kind.name());
            }
            Err(e) => return Err(e),
        }
    }
    Ok(keys)
}

/// Loads the `kind` key at `path`, creating a new one there (mode 0600) if there is none.
/// Returns the key and whether it was created.
pub(crate) fn load_or_create(kind: Kind, path: &Path) -> Result<(PrivateKey, bool), HostKeyError> {
    let bad = |message: String| HostKeyError::Bad {
        path: path.to_owned(),
        message,
    };
    if path.exists() {
        let key = PrivateKey::read_openssh_file(path).map_err(|e| bad(e.to_string()))?;
        kind.check(&key).map_err(bad)?;
        return Ok((key, false));
    }
    let key = kind.generate().map_err(bad)?;
    let text = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| bad(e.to_string()))?;
    secrets::write_new_private_file(path, text.as_bytes())?;
    Ok((key, true))
}

/// The host key algorithms offered, strongest first: no SHA-1 (`ssh-rsa`) signatures.
pub(crate) const OFFERED: &[Algorithm] = &[
    Algorithm::Ed25519,
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP256,
    },
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP384,
    },
    Algorithm::Ecdsa {
        curve: EcdsaCurve::NistP521,
    },
    Algorithm::Rsa {
        hash: Some(HashAlg::Sha512),
    },
    Algorithm::Rsa {
        hash: Some(HashAlg::Sha256),
    },
];

/// The key's SHA-256 fingerprint as OpenSSH prints it (`SHA256:...`).
pub(crate) fn fingerprint(key: &PrivateKey) -> String {
    key.public_key().fingerprint(HashAlg::Sha256).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_is_made_once_then_loaded_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let ed25519 = dir.path().join("ssh_host_ed25519_key");
        let made = load_or_create_all(&ed25519).unwrap();
        assert!(made.iter().all(|k| k.created));
        let names: Vec<String> = made
            .iter()
            .map(|k| k.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "ssh_host_ed25519_key",
                "ssh_host_ecdsa_key",
                "ssh_host_rsa_key"
            ]
        );
        match made[2].key.key_data() {
            KeypairData::Rsa(rsa) => assert_eq!(rsa.key_size(), 3072),
            other => panic!("{other:?}"),
        }
        let loaded = load_or_create_all(&ed25519).unwrap();
        for (made, loaded) in made.iter().zip(&loaded) {
            assert!(!loaded.created);
            assert_eq!(fingerprint(&made.key), fingerprint(&loaded.key));
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&loaded.path)
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // One that cannot be written is left out; the others serve.
        let other = dir.path().join("other");
        std::fs::create_dir(&other).unwrap();
        let ed = other.join("ssh_host_ed25519_key");
        std::fs::copy(&ed25519, &ed).unwrap();
        // A dangling link where the ECDSA key belongs: linking the new key there fails.
        std::os::unix::fs::symlink("/nonexistent/x", other.join("ssh_host_ecdsa_key")).unwrap();
        let served: Vec<Kind> = load_or_create_all(&ed)
            .unwrap()
            .iter()
            .map(|k| k.kind)
            .collect();
        assert_eq!(served, [Kind::Ed25519, Kind::Rsa]);
        // A key of the wrong kind where another belongs is refused, naming the file.
        std::fs::copy(&ed25519, dir.path().join("ssh_host_rsa_key")).unwrap();
        let err = load_or_create_all(&ed25519).err().unwrap().to_string();
        assert!(
            err.contains("ssh_host_rsa_key") && err.contains("ed25519"),
            "{err}"
        );
        assert_eq!(
            Kind::Rsa.path(Path::new("/x/host.key")),
            Path::new("/x/host.key-rsa")
        );
    }
}
