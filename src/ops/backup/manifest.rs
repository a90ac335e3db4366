//! A backup's `MANIFEST`: one line per file (SHA-256, size, relative path), one per key
//! (its role, fingerprint and file) and one per file the configuration names (its setting,
//! SHA-256, file and original path), in plain text that `sha256sum` can be held against by
//! hand. It is written last, so a folder without one is a backup that never finished. A
//! `MANIFEST` from before the named files (none such lines) still reads.

use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

/// One file of a backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its path inside the backup folder (`dropgate.sqlite`, `keys/ttp.key`, ...).
    pub relative: String,
    /// SHA-256 of its bytes, lower-case hex.
    pub sha256: String,
    pub size: u64,
    /// For a key: its role (`ttp`, `municipality:<t>`, `host:<kind>`); its fingerprint is
    /// its SHA-256.
    pub key: Option<String>,
    /// For a file the configuration names: which setting, and where it was.
    pub named: Option<Named>,
}

/// Where a file the configuration names came from (`config::NamedFile` on the machine
/// backed up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// The setting that named it (`user[linde].public_key_files[0]`, ...), by which
    /// `restore` finds where it goes on the machine it restores to.
    pub setting: String,
    /// Its absolute path on the machine backed up.
    pub original: PathBuf,
}

/// The `MANIFEST`'s text for `entries`.
pub(crate) fn render(entries: &[Entry], made: &str) -> String {
    let mut out = format!(
        "# dropgate backup, made {made} by dropgate {}.\n# SHA-256, size in bytes, path; then each key's role, fingerprint (SHA-256) and file;\n# then each file the configuration names: its setting, SHA-256, file and original path.\n",
        env!("CARGO_PKG_VERSION")
    );
    for e in entries {
        let _ = writeln!(out, "{} {} {}", e.sha256, e.size, e.relative);
    }
    for e in entries {
        if let Some(role) = &e.key {
            let _ = writeln!(out, "key {role} {} {}", e.sha256, e.relative);
        }
    }
    for e in entries {
        if let Some(named) = &e.named {
            let _ = writeln!(
                out,
                "named {} {} {} {}",
                named.setting,
                e.sha256,
                e.relative,
                named.original.display()
            );
        }
    }
    out
}

/// The entries of a `MANIFEST`'s `text`, or what is wrong with its line.
pub(crate) fn parse(text: &str) -> Result<Vec<Entry>, String> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut keys = Vec::new();
    let mut named = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let bad = |what: &str| format!("line {}: {what}: {line:?}", n + 1);
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.splitn(4, ' ').collect();
        if fields[0] == "key" {
            let [_, role, sum, relative] = fields[..] else {
                return Err(bad("expected `key <role> <fingerprint> <path>`"));
            };
            keys.push((role.to_owned(), sum.to_owned(), relative.to_owned()));
            continue;
        }
        if fields[0] == "named" {
            // The original path comes last: it is the one field that may hold a space.
            let [_, setting, sum, relative, original] = line.splitn(5, ' ').collect::<Vec<_>>()[..]
            else {
                return Err(bad(
                    "expected `named <setting> <sha256> <path> <original path>`",
                ));
            };
            if !Path::new(original).is_absolute() {
                return Err(bad("the original path is not absolute"));
            }
            named.push((
                Named {
                    setting: setting.to_owned(),
                    original: PathBuf::from(original),
                },
                sum.to_owned(),
                relative.to_owned(),
            ));
            continue;
        }
        let fields: Vec<&str> = line.splitn(3, ' ').collect();
        let [sum, size, relative] = fields[..] else {
            return Err(bad("expected `<sha256> <size> <path>`"));
        };
        if sum.len() != 64 || !sum.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("not a SHA-256"));
        }
        let size = size.parse().map_err(|_| bad("not a size"))?;
        if !is_plain_relative(relative) {
            return Err(bad("a path outside the backup folder"));
        }
        entries.push(Entry {
            relative: relative.to_owned(),
            sha256: sum.to_owned(),
            size,
            key: None,
            named: None,
        });
    }
    for (n, (role, _, _)) in keys.iter().enumerate() {
        if keys[..n].iter().any(|(earlier, _, _)| earlier == role) {
            return Err(format!("key {role} is listed twice"));
        }
    }
    for (role, sum, relative) in keys {
        let Some(entry) = entries.iter_mut().find(|e| e.relative == relative) else {
            return Err(format!("key {role}: its file {relative} is not listed"));
        };
        if entry.sha256 != sum {
            return Err(format!(
                "key {role}: the fingerprint {sum} is not the SHA-256 listed for {relative}"
            ));
        }
        entry.key = Some(role);
    }
    for (n, (file, _, _)) in named.iter().enumerate() {
        if named[..n]
            .iter()
            .any(|(earlier, _, _)| earlier.setting == file.setting)
        {
            return Err(format!("{} is listed twice", file.setting));
        }
    }
    for (file, sum, relative) in named {
        let Some(entry) = entries.iter_mut().find(|e| e.relative == relative) else {
            return Err(format!(
                "{}: its file {relative} is not listed",
                file.setting
            ));
        };
        // One copy is one thing: a key is placed by its role, a named file by its setting.
        if entry.key.is_some() || entry.named.is_some() {
            return Err(format!(
                "{}: its file {relative} is listed for something else too",
                file.setting
            ));
        }
        if entry.sha256 != sum {
            return Err(format!(
                "{}: the SHA-256 {sum} is not the one listed for {relative}",
                file.setting
            ));
        }
        entry.named = Some(file);
    }
    Ok(entries)
}

/// Whether `path` stays inside the folder it is read from: relative, no `..`.
fn is_plain_relative(path: &str) -> bool {
    !path.is_empty()
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_reads_back_and_refuses_escapes_and_mismatched_keys() {
        let entries = vec![
            Entry {
                relative: "dropgate.sqlite".into(),
                sha256: "a".repeat(64),
                size: 4096,
                key: None,
                named: None,
            },
            Entry {
                relative: "keys/ttp.key".into(),
                sha256: "b".repeat(64),
                size: 32,
                key: Some("ttp".into()),
                named: None,
            },
            Entry {
                relative: "files/01-linde.pub".into(),
                sha256: "e".repeat(64),
                size: 81,
                key: None,
                named: Some(Named {
                    setting: "user[linde].public_key_files[0]".into(),
                    original: PathBuf::from("/etc/dropgate/user keys/linde.pub"),
                }),
            },
        ];
        let text = render(&entries, "2026-05-01T00:30:00Z");
        assert_eq!(parse(&text).unwrap(), entries);
        let escape = format!("{} 1 ../etc/passwd\n", "c".repeat(64));
        assert!(parse(&escape).unwrap_err().contains("outside"));
        let wrong = text.replace(
            &format!("key ttp {}", "b".repeat(64)),
            &format!("key ttp {}", "d".repeat(64)),
        );
        assert!(parse(&wrong).unwrap_err().contains("key ttp"));

        // A MANIFEST from before the named files reads as it did.
        let older: String =
            text.lines()
                .filter(|l| !l.contains("files/"))
                .fold(String::new(), |mut out, l| {
                    out.push_str(l);
                    out.push('\n');
                    out
                });
        assert_eq!(parse(&older).unwrap(), entries[..2]);
        for (from, to) in [
            (" /etc/dropgate/user", " etc/dropgate/user"),
            (" files/01-linde.pub /", " files/02-linde.pub /"),
            (
                &format!("named user[linde].public_key_files[0] {}", "e".repeat(64)),
                &format!("named user[linde].public_key_files[0] {}", "f".repeat(64)),
            ),
        ] {
            let bad = text.replace(from, to);
            assert_ne!(bad, text);
            assert!(parse(&bad).is_err(), "{bad}");
        }
        let twice = format!("{text}named ttp {} keys/ttp.key /x\n", "b".repeat(64));
        assert!(parse(&twice).unwrap_err().contains("something else"));
    }
}
