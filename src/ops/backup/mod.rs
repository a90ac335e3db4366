//! `dropgate backup` and the nightly backup job (issue 16): a consistent copy of the ledger
//! (SQLite's online backup API, safe while the daemon writes), every key (the TTP key, each
//! municipality key on disk, the SFTP host keys), the configuration file and every other
//! file it names (`config::NamedFile`: users' key files, the SMTP password and CA), with a
//! `MANIFEST` of sums written last. A backup folder is new or empty, 0700, its files 0600.
//! It never changes the state directory or a key; the nightly job deletes only its own
//! `<yyyyMMddHHmmss>/` folders beyond `[backup] keep`.

pub(crate) mod manifest;

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};

use crate::config::Config;
use crate::ingest::sftp::hostkey;
use crate::layout::{BackupDir, StateDir};
use crate::ledger::LedgerError;
pub use manifest::{Entry, Named};

/// Why a backup could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{}: {message}", path.display())]
    At { path: PathBuf, message: String },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

fn at(path: &Path) -> impl Fn(io::Error) -> BackupError + '_ {
    move |e| BackupError::At {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// A key file as this machine's configuration places it.
#[derive(Debug, Clone)]
pub(crate) struct KeyFile {
    /// `ttp`, `municipality:<t>` (the ledger's names), `host:<kind>`.
    pub(crate) role: String,
    /// Where it lives.
    pub(crate) live: PathBuf,
    /// Its name in a backup.
    pub(crate) relative: String,
}

/// Where the key of `role` lives under `config`, and its name in a backup; `None` for a
/// role this build does not know.
pub(crate) fn key_file(config: &Config, role: &str) -> Option<KeyFile> {
    let (live, relative) = if role == crate::keys::TTP {
        (config.ttp_key_file.clone(), BackupDir::ttp_key())
    } else if let Some(tenant) = role.strip_prefix("municipality:") {
        // A role comes from a MANIFEST too: only a tenant id's alphabet may become a name.
        let plain = (1..=64).contains(&tenant.len())
            && tenant
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            && tenant
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric());
        if !plain {
            return None;
        }
        let dir = crate::keys::key_dir(config);
        (
            crate::layout::municipality_key(dir, tenant),
            BackupDir::municipality_key(tenant),
        )
    } else {
        let kind = role.strip_prefix("host:")?;
        let kind = hostkey::Kind::ALL.into_iter().find(|k| k.name() == kind)?;
        (
            kind.path(&config.sftp.host_key),
            BackupDir::host_key(kind.name()),
        )
    };
    Some(KeyFile {
        role: role.to_owned(),
        live,
        relative,
    })
}

/// Every key file on disk under `config`: the TTP key (which must exist), each
/// municipality key in the key folder (also of tenants no longer configured: their hashes
/// are in bundles already sent), and the host keys that exist.
fn key_files(config: &Config) -> Result<Vec<KeyFile>, BackupError> {
    let mut roles = vec![crate::keys::TTP.to_owned()];
    let dir = crate::keys::key_dir(config);
    let mut tenants: Vec<String> = std::fs::read_dir(dir)
        .map_err(at(dir))?
        .filter_map(|e| {
            let name = e.ok()?.file_name();
            crate::layout::municipality_of_key(name.to_str()?).map(str::to_owned)
        })
        .collect();
    tenants.sort();
    roles.extend(tenants.iter().map(|t| crate::keys::municipality(t)));
    roles.extend(hostkey::Kind::ALL.map(|k| format!("host:{}", k.name())));
    let files: Vec<KeyFile> = roles.iter().filter_map(|r| key_file(config, r)).collect();
    if !files[0].live.exists() {
        return Err(BackupError::At {
            path: files[0].live.clone(),
            message: "the TTP key does not exist: without it no pseudonym can be made again".into(),
        });
    }
    Ok(files
        .into_iter()
        .filter(|k| k.role == crate::keys::TTP || k.live.exists())
        .collect())
}

/// What a backup holds: each file, and where it was copied from.
#[derive(Debug)]
pub struct Made {
    pub dir: PathBuf,
    pub files: Vec<(Entry, PathBuf)>,
}

impl Made {
    /// One line per file copied, for a person.
    pub fn lines(&self) -> Vec<String> {
        self.files
            .iter()
            .map(|(e, from)| {
                let key = match (&e.key, &e.named) {
                    (Some(role), _) => format!(" [key {role}, fingerprint {}]", &e.sha256[..16]),
                    (None, Some(named)) => format!(" [{}]", named.setting),
                    (None, None) => String::new(),
                };
                format!(
                    "{:<40} {:>12} bytes  from {}{key}",
                    e.relative,
                    e.size,
                    from.display()
                )
            })
            .collect()
    }
}

/// Makes a backup in `to` (new, or an empty folder) of the installation `config` describes.
/// Safe while the daemon runs. The `MANIFEST` is written last: a backup cut off half-way
/// has none, and `restore` refuses it.
pub fn make(config: &Config, to: &Path, now: DateTime<Utc>) -> Result<Made, BackupError> {
    prepare_folder(to)?;
    let backup = BackupDir::new(to);
    let keys_dir = backup.file(BackupDir::KEYS);
    make_private_dir(&keys_dir)?;
    let mut files = Vec::new();

    let ledger_from = StateDir::new(&config.state_dir).ledger();
    let ledger_to = backup.file(BackupDir::LEDGER);
    crate::ledger::backup::copy_database(&ledger_from, &ledger_to)?;
    files.push((entry(&backup, BackupDir::LEDGER, None)?, ledger_from));

    let keys = key_files(config)?;
    for key in &keys {
        copy_file(&key.live, &backup.file(&key.relative))?;
        files.push((
            entry(&backup, &key.relative, Some(key.role.clone()))?,
            key.live.clone(),
        ));
    }
    for (n, named) in config.named_files.iter().enumerate() {
        let relative = named_file(&backup, n, named)?;
        let mut e = entry(&backup, &relative, None)?;
        e.named = Some(Named {
            setting: named.setting.clone(),
            original: named.path.clone(),
        });
        files.push((e, named.path.clone()));
    }
    copy_file(&config.source, &backup.file(BackupDir::CONFIG))?;
    files.push((
        entry(&backup, BackupDir::CONFIG, None)?,
        config.source.clone(),
    ));

    let entries: Vec<Entry> = files.iter().map(|(e, _)| e.clone()).collect();
    check_keys_against_ledger(&ledger_to, &entries, |e| e.relative.clone())?;
    write_manifest(&backup, &entries, now)?;
    Ok(Made {
        dir: to.to_owned(),
        files,
    })
}

/// Refuses keys whose fingerprints differ from those the ledger at `ledger` recorded, and a
/// recorded key that is missing: such a backup could not give the same hashes again.
/// `name` says how to name an entry's file to the reader.
pub(crate) fn check_keys_against_ledger(
    ledger: &Path,
    entries: &[Entry],
    name: impl Fn(&Entry) -> String,
) -> Result<(), BackupError> {
    for recorded in crate::ledger::key_fingerprint::recorded_in(ledger)? {
        let entry = entries
            .iter()
            .find(|e| e.key.as_deref() == Some(recorded.name.as_str()));
        let problem = match entry {
            None => format!(
                "the ledger records key {} (first used {}), but there is no such key file",
                recorded.name, recorded.first_used_at
            ),
            Some(e) if e.sha256 != recorded.fingerprint => format!(
                "{} is not the key {} this ledger was built with (fingerprint {}… recorded {}, the file's is {}…)",
                name(e),
                recorded.name,
                recorded.fingerprint.get(..12).unwrap_or_default(),
                recorded.first_used_at.get(..10).unwrap_or_default(),
                &e.sha256[..12]
            ),
            Some(_) => continue,
        };
        return Err(BackupError::At {
            path: ledger.to_owned(),
            message: problem,
        });
    }
    Ok(())
}

/// `to` must not exist or be empty; it ends up existing, empty and 0700.
fn prepare_folder(to: &Path) -> Result<(), BackupError> {
    match std::fs::read_dir(to) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(BackupError::At {
                    path: to.to_owned(),
                    message: "is not empty; a backup goes into a new or empty folder".into(),
                });
            }
            std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700)).map_err(at(to))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => make_private_dir(to),
        Err(e) => Err(at(to)(e)),
    }
}

/// Makes `dir` (and missing parents) with mode 0700.
fn make_private_dir(dir: &Path) -> Result<(), BackupError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(at(dir))
}

/// Copies the `n`th (from 0) file the configuration names into the backup; returns its
/// name there. One that cannot be read fails the backup: restored without it, the
/// configuration would not load.
fn named_file(
    backup: &BackupDir,
    n: usize,
    named: &crate::config::NamedFile,
) -> Result<String, BackupError> {
    let fail = |message: String| BackupError::At {
        path: named.path.clone(),
        message,
    };
    if named.path.to_str().is_none_or(|p| p.contains(['\n', '\r'])) {
        return Err(fail(format!(
            "named by {}: a path with a line break (or not UTF-8) cannot be listed in a MANIFEST; rename the file",
            named.setting
        )));
    }
    if n == 0 {
        make_private_dir(&backup.file(BackupDir::FILES))?;
    }
    let name = named
        .path
        .file_name()
        .map(|name| name.to_string_lossy())
        .unwrap_or_default();
    let relative = BackupDir::named_file(n + 1, &name);
    let bytes = std::fs::read(&named.path).map_err(|e| {
        fail(format!(
            "cannot read the file {} names ({e}); a backup without it could not be restored to a configuration that loads",
            named.setting
        ))
    })?;
    let to = backup.file(&relative);
    crate::secrets::write_new_private_file(&to, &bytes).map_err(|e| BackupError::At {
        path: to.clone(),
        message: e.to_string(),
    })?;
    Ok(relative)
}

/// Copies a small file (a key, the configuration) to a new file, 0600, synced.
fn copy_file(from: &Path, to: &Path) -> Result<(), BackupError> {
    let bytes = std::fs::read(from).map_err(at(from))?;
    crate::secrets::write_new_private_file(to, &bytes).map_err(|e| BackupError::At {
        path: to.to_owned(),
        message: e.to_string(),
    })
}

/// The `MANIFEST` line of the file at `relative`, read back from the backup itself: the
/// sums are of what reached the backup's disk.
fn entry(backup: &BackupDir, relative: &str, key: Option<String>) -> Result<Entry, BackupError> {
    let path = backup.file(relative);
    let mut file = std::fs::File::open(&path).map_err(at(&path))?;
    let (size, sha256) = crate::fingerprint::sha256_of(&mut file).map_err(at(&path))?;
    Ok(Entry {
        relative: relative.to_owned(),
        sha256,
        size,
        key,
        named: None,
    })
}

/// Writes the `MANIFEST` under a temporary name and renames it into place, then syncs the
/// folder: it appears whole, and only after every file it lists.
fn write_manifest(
    backup: &BackupDir,
    entries: &[Entry],
    now: DateTime<Utc>,
) -> Result<(), BackupError> {
    let text = manifest::render(entries, &now.to_rfc3339_opts(SecondsFormat::Secs, true));
    let tmp = backup.manifest_in_progress();
    crate::secrets::write_new_private_file(&tmp, text.as_bytes()).map_err(|e| BackupError::At {
        path: tmp.clone(),
        message: e.to_string(),
    })?;
    for folder in [BackupDir::KEYS, BackupDir::FILES] {
        let folder = backup.file(folder);
        if folder.exists() {
            std::fs::File::open(&folder)
                .and_then(|d| d.sync_all())
                .map_err(at(&folder))?;
        }
    }
    let manifest = backup.file(BackupDir::MANIFEST);
    std::fs::rename(&tmp, &manifest).map_err(at(&manifest))?;
    std::fs::File::open(backup.root())
        .and_then(|d| d.sync_all())
        .map_err(at(backup.root()))
}

/// The nightly job: a backup in `[backup] dir`/`<yyyyMMddHHmmss>` (local time), then the
/// oldest finished backups beyond `keep` deleted, and any unfinished one older than the
/// oldest kept. Nothing when `[backup]` is off.
pub(crate) fn nightly(config: &Config, now: DateTime<Utc>) -> Result<String, BackupError> {
    let Some(settings) = &config.backup else {
        return Ok("off".into());
    };
    make_private_dir(&settings.dir)?;
    let name =
        crate::layout::nightly_backup_name(now.with_timezone(&config.time_zone).naive_local());
    let made = make(config, &settings.dir.join(&name), now)?;
    let deleted = prune(&settings.dir, settings.keep, &name)?;
    let bytes: u64 = made.files.iter().map(|(e, _)| e.size).sum();
    Ok(format!(
        "backup {} made ({} files, {bytes} bytes); {} old backups deleted{}",
        made.dir.display(),
        made.files.len(),
        deleted.len(),
        if deleted.is_empty() {
            String::new()
        } else {
            format!(": {}", deleted.join(", "))
        }
    ))
}

/// Deletes the nightly backups in `dir` older than the `keep` newest finished ones (those
/// with a `MANIFEST`), never `newest`; returns their names. Other names are not touched.
fn prune(dir: &Path, keep: u32, newest: &str) -> Result<Vec<String>, BackupError> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(at(dir))?
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().into_string().ok()?;
            (crate::layout::is_nightly_backup_name(&name) && e.file_type().ok()?.is_dir())
                .then_some(name)
        })
        .collect();
    names.sort();
    let finished: Vec<&String> = names
        .iter()
        .filter(|n| {
            BackupDir::new(dir.join(n))
                .file(BackupDir::MANIFEST)
                .exists()
        })
        .collect();
    let Some(oldest_kept) = finished
        .len()
        .checked_sub(keep as usize)
        .and_then(|skip| finished.get(skip))
        .map(|n| (*n).clone())
    else {
        return Ok(Vec::new());
    };
    let mut deleted = Vec::new();
    for name in names {
        if name < oldest_kept && name != newest {
            let path = dir.join(&name);
            std::fs::remove_dir_all(&path).map_err(at(&path))?;
            tracing::info!(backup = %path.display(), "old nightly backup deleted");
            deleted.push(name);
        }
    }
    Ok(deleted)
}
