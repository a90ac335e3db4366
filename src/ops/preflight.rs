//! The daemon's look at its storage before it opens the ledger and reports READY: every
//! path it will read or write, with exactly what it may not do with each, and whether the
//! disk has room.
//!
//! What the daemon cannot run without stops the start, all of it said at once: the state
//! directory, the ledger and its `-wal`/`-shm`, the fixed folders and each tenant's, the
//! host keys. What only one job needs is a warning, and that job fails on its own when it
//! runs: a municipality's key (its publication), `backups/` (a migration, which then
//! refuses), the nightly backup's folder, the mail folder. The TTP key is left to
//! `Daemon::announce`, which turns processing off without it. A full disk is no reason to
//! stay down: uploads are refused and intake waits until there is room, while downloads
//! and everything that only reads go on; the log says so.

use std::path::{Path, PathBuf};

use crate::config::{Config, MailTransport, TenantKind};
use crate::ingest::sftp::hostkey;
use crate::layout::StateDir;
use crate::storage::{self, Need, Space};

/// What the look found.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    /// Paths the daemon cannot run without, each with what it lacks.
    pub blocking: Vec<String>,
    /// Paths one job needs, with what it lacks and what fails because of it.
    pub warnings: Vec<String>,
    /// The room left under the state directory (`None` if it could not be asked).
    pub space: Option<Space>,
}

/// Looks at everything the daemon under `config` will read or write. The state
/// directory's folders have been made already.
pub(crate) fn check(config: &Config, state: &StateDir) -> Findings {
    let mut found = Findings {
        space: storage::space(state.root()).ok(),
        ..Findings::default()
    };
    let mut need = |path: &Path, need: Need| {
        if let Some(lack) = storage::lacks(path, need) {
            found.blocking.push(lack);
        }
    };
    need(state.root(), Need::Folder);
    for file in std::iter::once(state.ledger()).chain(state.ledger_companions()) {
        if file.exists() {
            need(&file, Need::ReadWrite);
        }
    }
    for dir in [
        state.tenants(),
        state.staging(),
        state.archive(),
        state.quarantine(),
    ] {
        need(&dir, Need::Folder);
    }
    for tenant in &config.tenants {
        let id = tenant.id.as_str();
        need(&state.tenant(id), Need::Enter);
        for folder in [state.upload(id), state.receipts(id), state.outbox(id)] {
            need(&folder, Need::Folder);
        }
    }
    // Made as they are needed; once there, they must be usable.
    let made_later = [state.temp_root(), state.withdrawn()]
        .into_iter()
        .chain(
            config
                .tenants
                .iter()
                .flat_map(|t| [state.archived(&t.id), state.quarantined(&t.id)]),
        )
        .chain(subfolders(&state.temp_root(), 2))
        .chain(subfolders(&state.withdrawn(), 1));
    for dir in made_later {
        if dir.exists() {
            need(&dir, Need::Folder);
        }
    }
    host_keys(config, &mut need);
    found.warnings = warnings(config, state);
    found
}

/// Host keys are read at every start, and made (by a new file in their folder) when
/// missing; without the ed25519 one the SFTP server cannot start. A missing ECDSA or RSA
/// key that cannot be made is only left out (`hostkey::load_or_create_all` warns).
fn host_keys(config: &Config, need: &mut impl FnMut(&Path, Need)) {
    for kind in hostkey::Kind::ALL {
        let path = kind.path(&config.sftp.host_key);
        if path.exists() {
            need(&path, Need::Read);
        } else if kind == hostkey::Kind::Ed25519 {
            need(folder_of(&path), Need::Folder);
        }
    }
}

/// What only one job needs: said, and that job fails on its own when it runs.
fn warnings(config: &Config, state: &StateDir) -> Vec<String> {
    let mut warnings = Vec::new();
    let key_dir = crate::keys::key_dir(config);
    for tenant in config
        .tenants
        .iter()
        .filter(|t| t.kind == TenantKind::Municipality)
    {
        let key = crate::layout::municipality_key(key_dir, &tenant.id);
        let lack = if key.exists() {
            storage::lacks(&key, Need::Read)
        } else {
            storage::lacks(key_dir, Need::Folder)
                .map(|lack| format!("{lack} (to make {})", key.display()))
        };
        if let Some(lack) = lack {
            warnings.push(format!(
                "{lack}: no bundle for {} until this is fixed",
                tenant.id
            ));
        }
    }
    let mut optional = vec![(state.backups(), "no copy can be taken before a migration")];
    if let Some(backup) = &config.backup {
        optional.push((backup.dir.clone(), "the nightly backup fails"));
    }
    if let MailTransport::File { dir } = &config.mail.transport {
        optional.push((dir.clone(), "mail stays queued"));
    }
    for (dir, fails) in optional {
        if dir.exists()
            && let Some(lack) = storage::lacks(&dir, Need::Folder)
        {
            warnings.push(format!("{lack}: {fails} until this is fixed"));
        }
    }
    warnings
}

/// The folders `depth` levels below `dir` (`staging/temp/<tenant>/<user>` at 2).
fn subfolders(dir: &Path, depth: usize) -> Vec<PathBuf> {
    let mut level = vec![dir.to_owned()];
    let mut all = Vec::new();
    for _ in 0..depth {
        level = level
            .iter()
            .filter_map(|d| std::fs::read_dir(d).ok())
            .flat_map(|entries| entries.flatten())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect();
        all.extend(level.iter().cloned());
    }
    all
}

fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sound_state_directory_has_nothing_to_say() {
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("dropgate.toml");
        std::fs::write(
            &config_path,
            "state_dir = \"var\"\n[[tenant]]\nid = \"town\"\nkind = \"municipality\"\ncode = \"0344\"\nname = \"Town\"\n",
        )
        .unwrap();
        let config = Config::load(&config_path).unwrap();
        let state = StateDir::new(&config.state_dir);
        state
            .create(config.tenants.iter().map(|t| t.id.as_str()))
            .unwrap();
        let found = check(&config, &state);
        assert!(found.blocking.is_empty(), "{:?}", found.blocking);
        assert!(found.warnings.is_empty(), "{:?}", found.warnings);
        assert!(found.space.is_some());
        // A tenant folder gone: named, with what is wrong.
        std::fs::remove_dir(state.outbox("town")).unwrap();
        let found = check(&config, &state);
        assert_eq!(found.blocking.len(), 1, "{:?}", found.blocking);
        assert!(
            found.blocking[0].ends_with("tenants/town/outbox: does not exist"),
            "{:?}",
            found.blocking
        );
        std::fs::create_dir(state.outbox("town")).unwrap();
        // What only one job needs is a warning (a file where a folder belongs fails as a
        // mode would, also for root).
        std::fs::write(state.backups(), b"").unwrap();
        let found = check(&config, &state);
        assert!(found.blocking.is_empty(), "{:?}", found.blocking);
        assert_eq!(found.warnings.len(), 1, "{:?}", found.warnings);
        assert!(
            found.warnings[0].ends_with(
                "backups: is not a folder: no copy can be taken before a migration until this is fixed"
            ),
            "{:?}",
            found.warnings
        );
    }
}
