//! `dropgate restore --from DIR`: puts a backup (`ops::backup`) back on this machine. Every
//! file is checked against the `MANIFEST` (size and SHA-256) and the keys against the
//! fingerprints the backed-up ledger recorded before anything is written. The ledger goes
//! into the configured `state_dir`, the keys to where this machine's configuration places
//! them, each other file the configuration named to where this machine's configuration
//! names it by the same setting (or else the carried one does), and the configuration the
//! backup carried beside the live one as `dropgate.toml.restored`: the live configuration
//! is never replaced. A file that is in the way and differs is refused without `--force`,
//! and with it set aside, never deleted.

use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::config::{Config, NamedFiles};
use crate::layout::{BackupDir, StateDir};
use crate::ops::backup::{BackupError, Entry, key_file, manifest};

/// Why a restore was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("{}: {message}", path.display())]
    At { path: PathBuf, message: String },
    #[error("the backup's keys do not match its ledger: {0}")]
    Keys(BackupError),
    #[error(transparent)]
    Ledger(#[from] crate::ledger::LedgerError),
}

fn at(path: &Path) -> impl Fn(io::Error) -> RestoreError + '_ {
    move |e| RestoreError::At {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// Restores the backup in `from` onto the installation `config` describes; `force` lets
/// it write into a state directory that is not empty and set aside files in its way.
/// Returns one line per thing done.
pub fn restore(
    config: &Config,
    from: &Path,
    force: bool,
    now: DateTime<Utc>,
) -> Result<Vec<String>, RestoreError> {
    let backup = BackupDir::new(from);
    let entries = checked_entries(&backup)?;
    let named = |e: &Entry| backup.file(&e.relative).display().to_string();
    crate::ops::backup::check_keys_against_ledger(&backup.file(BackupDir::LEDGER), &entries, named)
        .map_err(RestoreError::Keys)?;

    let state = StateDir::new(&config.state_dir);
    let occupied = check_state_dir(&state, force)?;
    let mut carried = Carried::new(&backup, config);
    let mut placed = Vec::new();
    // Every destination first, so that a refusal comes before anything is written.
    for entry in &entries {
        placed.push(destination(config, &mut carried, &state, &backup, entry)?);
    }
    for (n, later) in placed.iter().enumerate() {
        if let Some(earlier) = placed[..n]
            .iter()
            .find(|p| p.dest == later.dest && p.entry.sha256 != later.entry.sha256)
        {
            return Err(RestoreError::At {
                path: later.dest.clone(),
                message: format!(
                    "both {} and {} of the backup would go here, and they differ; name them apart in the configuration",
                    earlier.entry.relative, later.entry.relative
                ),
            });
        }
    }
    for Placement { entry, dest, .. } in &placed {
        if force || !dest.exists() {
            continue;
        }
        if entry.relative == BackupDir::CONFIG {
            return Err(RestoreError::At {
                path: dest.clone(),
                message: "exists (from an earlier restore?); remove it or give --force".into(),
            });
        }
        if !same(entry, dest) {
            return Err(RestoreError::At {
                path: dest.clone(),
                message: format!(
                    "exists and differs from the backup's {}; give --force to set it aside and restore",
                    entry.relative
                ),
            });
        }
    }

    let mut done = Vec::new();
    prepare_state_dir(&state, occupied, now, &mut done)?;
    for Placement { entry, dest, note } in &placed {
        let source = backup.file(&entry.relative);
        if entry.relative == BackupDir::LEDGER {
            // The old ledger's -wal and -shm belong to it: set aside with it, or SQLite would
            // replay the old log onto the restored file.
            for companion in state.ledger_companions() {
                set_aside(&companion, now, &mut done)?;
            }
        } else if dest.exists() && same(entry, dest) {
            done.push(format!("{} is already in place{note}", dest.display()));
            continue;
        }
        set_aside(dest, now, &mut done)?;
        let bytes_copied = place(&source, dest)?;
        done.push(format!(
            "{} -> {} ({bytes_copied} bytes){note}",
            entry.relative,
            dest.display()
        ));
    }
    Ok(done)
}

/// Where one file of the backup goes, and what to say of it after the line that says so.
struct Placement<'a> {
    entry: &'a Entry,
    dest: PathBuf,
    note: String,
}

/// The configuration the backup carried, read (once, when a named file needs it) as if it
/// lay where `restore` puts it, beside the live one: its relative paths mean there what
/// they will mean when it is compared and taken over.
struct Carried<'a> {
    backup: &'a BackupDir,
    at: PathBuf,
    read: Option<Result<Config, String>>,
}

impl<'a> Carried<'a> {
    fn new(backup: &'a BackupDir, live: &Config) -> Self {
        Self {
            backup,
            at: crate::layout::restored_config(&live.source),
            read: None,
        }
    }

    /// The carried configuration, or why it does not load here.
    fn config(&mut self) -> &Result<Config, String> {
        self.read.get_or_insert_with(|| {
            let copy = self.backup.file(BackupDir::CONFIG);
            let text = std::fs::read_to_string(&copy)
                .map_err(|e| format!("cannot read {}: {e}", copy.display()))?;
            Config::parse_with(&text, &self.at, NamedFiles::MayBeAbsent).map_err(|problems| {
                problems
                    .iter()
                    .map(|p| p.in_file(&copy))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
        })
    }
}

/// Where `entry` goes on this machine: a key only where its role puts it, and only from
/// the file its role names in a backup (a MANIFEST that pairs them otherwise is refused); a
/// file the configuration names where this machine's configuration names it by the same
/// setting, else where the carried one does, never where the MANIFEST alone says.
fn destination<'a>(
    config: &Config,
    carried: &mut Carried,
    state: &StateDir,
    backup: &BackupDir,
    entry: &'a Entry,
) -> Result<Placement<'a>, RestoreError> {
    let placement = |dest: PathBuf, note: String| Placement { entry, dest, note };
    let refused = |message: String| RestoreError::At {
        path: backup.file(&entry.relative),
        message,
    };
    if let Some(named) = &entry.named {
        let named_by = |c: &Config| {
            c.named_files
                .iter()
                .find(|f| f.setting == named.setting)
                .map(|f| f.path.clone())
        };
        let note = |whose: &str| {
            format!(
                " ({}, as {whose} names it; it was {})",
                named.setting,
                named.original.display()
            )
        };
        if let Some(dest) = named_by(config) {
            return Ok(placement(dest, note("this machine's configuration")));
        }
        return match carried.config() {
            Ok(restored) => match named_by(restored) {
                Some(dest) => Ok(placement(dest, note("the restored configuration"))),
                None => Err(refused(format!(
                    "neither this machine's configuration nor the one in the backup names {}; put it in place by hand (it was {})",
                    named.setting,
                    named.original.display()
                ))),
            },
            Err(problems) => Err(refused(format!(
                "this machine's configuration does not name {}, and the one in the backup does not load here ({problems}); put it in place by hand (it was {})",
                named.setting,
                named.original.display()
            ))),
        };
    }
    let dest = match (&entry.key, entry.relative.as_str()) {
        (Some(role), relative) => key_file(config, role)
            .filter(|key| key.relative == relative)
            .map(|key| key.live),
        (None, BackupDir::LEDGER) => Some(state.ledger()),
        (None, BackupDir::CONFIG) => Some(crate::layout::restored_config(&config.source)),
        (None, _) => None,
    };
    let dest =
        dest.ok_or_else(|| refused("this dropgate does not know where this file goes".into()))?;
    let note = entry
        .key
        .as_ref()
        .map(|r| format!(" (key {r}, fingerprint {})", &entry.sha256[..16]))
        .unwrap_or_default();
    Ok(placement(dest, note))
}

/// The `MANIFEST`'s entries, after checking that every file it lists is there with its size
/// and SHA-256, and that the ledger, the configuration and the TTP key are among them.
fn checked_entries(backup: &BackupDir) -> Result<Vec<Entry>, RestoreError> {
    let manifest_path = backup.file(BackupDir::MANIFEST);
    let text = match std::fs::read_to_string(&manifest_path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(RestoreError::At {
                path: backup.root().to_owned(),
                message: "has no MANIFEST: not a dropgate backup, or one that never finished"
                    .into(),
            });
        }
        Err(e) => return Err(at(&manifest_path)(e)),
    };
    let entries = manifest::parse(&text).map_err(|message| RestoreError::At {
        path: manifest_path.clone(),
        message,
    })?;
    for needed in [BackupDir::LEDGER, BackupDir::CONFIG, &BackupDir::ttp_key()] {
        if !entries.iter().any(|e| e.relative == needed) {
            return Err(RestoreError::At {
                path: manifest_path.clone(),
                message: format!("does not list {needed}: the backup is incomplete"),
            });
        }
    }
    for entry in &entries {
        let path = backup.file(&entry.relative);
        let mut file = std::fs::File::open(&path).map_err(at(&path))?;
        let (size, sha256) = crate::fingerprint::sha256_of(&mut file).map_err(at(&path))?;
        let what = match (&entry.key, &entry.named) {
            (Some(role), _) => format!("key {role}"),
            (None, Some(named)) => format!("file ({})", named.setting),
            (None, None) => "file".into(),
        };
        if size != entry.size || sha256 != entry.sha256 {
            return Err(RestoreError::At {
                path,
                message: format!(
                    "this {what} does not match the MANIFEST ({size} bytes, SHA-256 {}…; listed: {} bytes, {}…): the copy is damaged or was changed",
                    &sha256[..16],
                    entry.size,
                    &entry.sha256[..16]
                ),
            });
        }
    }
    Ok(entries)
}

/// A state directory that holds anything is refused without `force`: a restore over an
/// installation would mix two histories (its originals, receipts and bundles unknown to the
/// restored ledger, and never swept). One that a running daemon holds is refused either
/// way. Returns whether it holds anything, for [`prepare_state_dir`] to set aside.
fn check_state_dir(state: &StateDir, force: bool) -> Result<bool, RestoreError> {
    let root = state.root();
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries.count(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
        Err(e) => return Err(at(root)(e)),
    };
    if entries == 0 {
        return Ok(false);
    }
    // A running daemon holds the lock: its ledger must not be swapped under it.
    if crate::layout::DaemonLock::try_take(state)
        .map_err(at(root))?
        .is_none()
    {
        return Err(RestoreError::At {
            path: root.to_owned(),
            message: "a dropgate daemon runs on this state directory; stop it first".into(),
        });
    }
    if !force {
        return Err(RestoreError::At {
            path: root.to_owned(),
            message: format!(
                "the state directory is not empty ({entries} entries); restore into an empty one, or stop the daemon and give --force (the whole directory is set aside first)"
            ),
        });
    }
    Ok(true)
}

/// Sets an `occupied` state directory aside (`<state_dir>.before-restore-<time>`), and
/// makes the empty one the restore goes into.
fn prepare_state_dir(
    state: &StateDir,
    occupied: bool,
    now: DateTime<Utc>,
    done: &mut Vec<String>,
) -> Result<(), RestoreError> {
    let root = state.root();
    if occupied {
        set_aside(root, now, done).map_err(|e| match e {
            RestoreError::At { path, message } => RestoreError::At {
                path,
                message: format!(
                    "{message}; cannot set the state directory aside (is it a mount point? then empty it by hand)"
                ),
            },
            other => other,
        })?;
    }
    crate::layout::create_private_dir(root).map_err(at(root))
}

/// Whether the file at `path` is the one `entry` lists.
fn same(entry: &Entry, path: &Path) -> bool {
    std::fs::File::open(path)
        .and_then(|mut f| crate::fingerprint::sha256_of(&mut f))
        .is_ok_and(|(size, sum)| size == entry.size && sum == entry.sha256)
}

/// Moves `path`, if it exists, to its `.before-restore-<time>` name beside it.
fn set_aside(path: &Path, now: DateTime<Utc>, done: &mut Vec<String>) -> Result<(), RestoreError> {
    if !path.exists() {
        return Ok(());
    }
    let aside = crate::layout::set_aside(path, now);
    crate::layout::rename_no_replace(path, &aside).map_err(at(path))?;
    done.push(format!(
        "{} set aside as {}",
        path.display(),
        aside.display()
    ));
    Ok(())
}

/// Copies `source` to the new file `dest` (0600, synced, never over a file), streamed (a
/// ledger may be large) under a temporary name of its own and renamed into place whole.
fn place(source: &Path, dest: &Path) -> Result<u64, RestoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    let parent = dest.parent().unwrap_or(Path::new("."));
    crate::layout::create_private_dir(parent).map_err(at(parent))?;
    // A name of its own: one that a cut-off restore left must not block the next.
    let token = crate::secrets::random_hex(8).map_err(|e| RestoreError::At {
        path: dest.to_owned(),
        message: e.to_string(),
    })?;
    let mut tmp = dest.as_os_str().to_owned();
    tmp.push(format!(".restoring-{token}"));
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut from = std::fs::File::open(source).map_err(at(source))?;
        let mut to = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(at(&tmp))?;
        let copied = io::copy(&mut from, &mut to).map_err(at(&tmp))?;
        to.sync_all().map_err(at(&tmp))?;
        crate::layout::rename_no_replace(&tmp, dest).map_err(at(dest))?;
        std::fs::File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(at(parent))?;
        Ok(copied)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
