//! Citizen numbers (BSN): the 11-check, masking for messages, and keyed pseudonyms
//! (DESIGN 4).
//!
//! A clear BSN lives only in the stack frame that reads it; what leaves this module is a
//! pseudonym (HMAC-SHA256 with the TTP key, upper-case hex) or a mask that shows at most the
//! last two digits. Never a plain hash: the BSN space is small enough to try every number.

use std::fmt;
use std::path::{Path, PathBuf};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::secrets::KEY_LEN;

/// A BSN that passed the 11-check. Its `Debug` and `Display` show only the mask.
#[derive(Clone, PartialEq, Eq)]
pub struct Bsn([u8; 9]);

impl Bsn {
    /// Parses 9 digits (or 8, padded with a leading zero) that pass the 11-check
    /// `(9d1 + 8d2 + 7d3 + 6d4 + 5d5 + 4d6 + 3d7 + 2d8 - 1d9) mod 11 = 0`, not all zeros.
    pub fn parse(text: &str) -> Result<Self, BsnError> {
        let text = text.trim();
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BsnError::NotDigits);
        }
        let mut digits = [0u8; 9];
        match text.len() {
            9 => digits.copy_from_slice(text.as_bytes()),
            8 => {
                digits[0] = b'0';
                digits[1..].copy_from_slice(text.as_bytes());
            }
            _ => return Err(BsnError::Length),
        }
        Self::from_digits(digits)
    }

    /// Nine ASCII digits that pass the checks of [`Bsn::parse`] (as the confined reader
    /// sends them).
    pub(crate) fn from_digits(digits: [u8; 9]) -> Result<Self, BsnError> {
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(BsnError::NotDigits);
        }
        if digits.iter().all(|&d| d == b'0') {
            return Err(BsnError::Zero);
        }
        let sum: i32 = digits
            .iter()
            .zip([9, 8, 7, 6, 5, 4, 3, 2, -1])
            .map(|(&d, w)| i32::from(d - b'0') * w)
            .sum();
        if sum.rem_euclid(11) != 0 {
            return Err(BsnError::ElevenCheck);
        }
        Ok(Self(digits))
    }

    /// The BSN a run of digits with separators (`123 456 782`, `1234.56.782`) spells, if
    /// its eight or nine digits pass the checks of [`Bsn::parse`].
    fn in_run(run: &str) -> Option<Self> {
        // Right-aligned, so that eight digits get the leading zero they dropped.
        let mut digits = [b'0'; 9];
        let mut n = 0;
        for b in run.bytes().rev().filter(u8::is_ascii_digit) {
            n += 1;
            *digits.get_mut(9usize.checked_sub(n)?)? = b;
        }
        if n < 8 {
            return None;
        }
        Self::from_digits(digits).ok()
    }

    /// The nine digits in clear: only for hashing, or for the pipe from the confined reader.
    pub fn digits(&self) -> &[u8; 9] {
        &self.0
    }
}

impl fmt::Debug for Bsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Bsn({})",
            mask(std::str::from_utf8(&self.0).unwrap_or(""))
        )
    }
}

impl fmt::Display for Bsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&mask(std::str::from_utf8(&self.0).unwrap_or("")))
    }
}

/// Why a value is not a BSN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BsnError {
    #[error("must be digits only")]
    NotDigits,
    #[error("must be 9 digits (or 8, read with a leading zero)")]
    Length,
    #[error("must not be all zeros")]
    Zero,
    #[error("fails the 11-check")]
    ElevenCheck,
}

/// What a message may show of a value that might be a BSN: its length as `*`s and at most
/// its last two characters (none if it is shorter than five).
pub(crate) fn mask(value: &str) -> String {
    let chars: Vec<char> = value.trim().chars().collect();
    let shown = if chars.len() >= 5 { 2 } else { 0 };
    let hidden = chars.len().saturating_sub(shown).min(16);
    let mut out = "*".repeat(hidden);
    out.extend(&chars[chars.len() - shown..]);
    out
}

/// Keyed hashing with one secret key: the TTP's pseudonyms, or a municipality's hashes.
#[derive(Clone)]
pub struct Keyed {
    mac: Hmac<Sha256>,
}

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read key {}: {source} (make one with `dropgate keygen`)", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key {} holds {len} bytes; a key is exactly {KEY_LEN} bytes from `dropgate keygen`", path.display())]
    Length { path: PathBuf, len: usize },
    /// The file is not the key the ledger's hashes were made with (see `keys`).
    #[error(
        "{what} {} is not the one this ledger was built with (fingerprint {recorded}… recorded {since}, the file's is {found}…); restore the right key from a backup",
        path.display()
    )]
    Changed {
        /// `the TTP key`, `the key of municipality <t>`.
        what: String,
        path: PathBuf,
        /// The first hex digits of the recorded fingerprint and of the file's.
        recorded: String,
        found: String,
        /// The date of its first use.
        since: String,
    },
    #[error("cannot record the fingerprint of key {}: {message}", path.display())]
    Unrecorded { path: PathBuf, message: String },
}

impl Keyed {
    /// Loads a key file of exactly [`KEY_LEN`] bytes.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let key = std::fs::read(path).map_err(|source| KeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_file(path, &key)
    }

    /// A hasher with `key`, the bytes read from the key file `path`: exactly [`KEY_LEN`].
    pub(crate) fn from_file(path: &Path, key: &[u8]) -> Result<Self, KeyError> {
        if key.len() != KEY_LEN {
            return Err(KeyError::Length {
                path: path.to_owned(),
                len: key.len(),
            });
        }
        Ok(Self::from_key(key))
    }

    /// A hasher with `key` (any length; HMAC accepts all).
    pub(crate) fn from_key(key: &[u8]) -> Self {
        Self {
            mac: Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length"),
        }
    }

    /// `HMAC-SHA256(key, value)` as upper-case hex.
    pub fn hash(&self, value: &[u8]) -> String {
        self.hash_hex(value).as_str().to_owned()
    }

    /// `value` (an identifier from a delivery, such as a measurement number) with every
    /// run of digits that is a BSN (eight or nine digits that pass the 11-check, spaces,
    /// dots or dashes between them allowed) replaced by `#` and the first 16 hex digits of
    /// its keyed hash: the identifier stays stable (a correction finds its row) and no
    /// citizen number reaches the ledger inside one.
    pub(crate) fn scrub<'a>(&self, value: &'a str) -> std::borrow::Cow<'a, str> {
        let mut scrubbed: Option<String> = None;
        let mut last = 0;
        for (start, end, _) in crate::redact::digit_runs(value) {
            let Some(bsn) = Bsn::in_run(&value[start..end]) else {
                continue;
            };
            let out = scrubbed.get_or_insert_with(|| String::with_capacity(value.len() + 16));
            out.push_str(&value[last..start]);
            out.push('#');
            out.push_str(&self.pseudonym(&bsn).as_str()[..16]);
            last = end;
        }
        match scrubbed {
            None => std::borrow::Cow::Borrowed(value),
            Some(mut out) => {
                out.push_str(&value[last..]);
                std::borrow::Cow::Owned(out)
            }
        }
    }

    /// The same, without a heap allocation (the daily run hashes a row at a time).
    pub(crate) fn hash_hex(&self, value: &[u8]) -> Hex {
        let mut mac = self.mac.clone();
        mac.update(value);
        let mut out = [0u8; 64];
        hex::encode_to_slice(mac.finalize().into_bytes(), &mut out)
            .expect("32 bytes are 64 hex digits");
        // encode_to_slice writes lower case; pseudonyms are upper case by design.
        out.make_ascii_uppercase();
        Hex(out)
    }

    /// The pseudonym of a checked BSN.
    pub fn pseudonym(&self, bsn: &Bsn) -> Hex {
        self.hash_hex(&bsn.0)
    }
}

/// A keyed hash as 64 upper-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Hex([u8; 64]);

impl Hex {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("hex digits are ASCII")
    }
}

impl fmt::Display for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eleven_check_accepts_real_test_numbers_and_refuses_the_rest() {
        for good in ["111222333", "123456782", "999900006", "12345672"] {
            assert!(Bsn::parse(good).is_ok(), "{good}");
        }
        assert_eq!(Bsn::parse("12345672"), Bsn::parse("012345672"));
        let cases = [
            ("123456789", BsnError::ElevenCheck),
            ("000000000", BsnError::Zero),
            ("1234567", BsnError::Length),
            ("1234567890", BsnError::Length),
            ("12345678a", BsnError::NotDigits),
            ("", BsnError::Length),
            ("١٢٣٤٥٦٧٨٢", BsnError::NotDigits),
        ];
        for (bad, why) in cases {
            assert_eq!(Bsn::parse(bad), Err(why), "{bad}");
        }
    }

    #[test]
    fn masks_and_debug_never_show_more_than_two_digits() {
        assert_eq!(mask("123456782"), "*******82");
        assert_eq!(mask("1234"), "****");
        assert_eq!(mask(""), "");
        let bsn = Bsn::parse("123456782").unwrap();
        assert_eq!(format!("{bsn:?}"), "Bsn(*******82)");
        assert_eq!(bsn.to_string(), "*******82");
    }

    #[test]
    fn pseudonyms_are_keyed_hmac_in_upper_hex() {
        let a = Keyed::from_key(&[1; 32]);
        let b = Keyed::from_key(&[2; 32]);
        let bsn = Bsn::parse("111222333").unwrap();
        let p = a.pseudonym(&bsn).to_string();
        assert_eq!(p.len(), 64);
        assert!(
            p.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        );
        assert_eq!(
            p,
            a.pseudonym(&Bsn::parse("111222333").unwrap()).to_string()
        );
        assert_ne!(p, b.pseudonym(&bsn).to_string());
        // RFC 4231 test case 2: HMAC-SHA256("Jefe", "what do ya want for nothing?").
        assert_eq!(
            Keyed::from_key(b"Jefe").hash(b"what do ya want for nothing?"),
            "5BDCC146BF60754E6A042426089575C75A003F089D2739839DEC58B964EC3843"
        );
    }

    #[test]
    fn a_bsn_inside_an_identifier_is_replaced_by_its_keyed_hash() {
        let key = Keyed::from_key(&[7; 32]);
        let scrubbed = key.scrub("X123456782Y");
        assert!(!scrubbed.contains("123456782"), "{scrubbed}");
        assert!(scrubbed.starts_with("X#") && scrubbed.ends_with('Y') && scrubbed.len() == 19);
        assert_eq!(key.scrub("X123456782Y"), scrubbed, "stable");
        assert!(!key.scrub("M-123.456.782").contains("456"));
        // Eight digits are a BSN with its leading zero dropped, and hash as that BSN.
        let eight = key.scrub("A10000008");
        assert_eq!(eight, key.scrub("A010000008"));
        assert!(eight.starts_with("A#"), "{eight}");
        assert_eq!(
            key.scrub("two 123456782 and 10000008").matches('#').count(),
            2
        );
        // Not a BSN: kept as delivered.
        assert_eq!(key.scrub("M000000001"), "M000000001");
        assert_eq!(key.scrub("M-2024-17"), "M-2024-17");
        assert_eq!(key.scrub("1234567890123"), "1234567890123");
    }

    #[test]
    fn a_key_file_must_hold_exactly_32_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        std::fs::write(&path, [7u8; 31]).unwrap();
        assert!(matches!(
            Keyed::load(&path),
            Err(KeyError::Length { len: 31, .. })
        ));
        std::fs::write(&path, [7u8; 32]).unwrap();
        assert!(Keyed::load(&path).is_ok());
        assert!(matches!(
            Keyed::load(&dir.path().join("none")),
            Err(KeyError::Read { .. })
        ));
    }
}
