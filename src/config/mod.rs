//! Configuration: the TOML file, read in two steps.
//!
//! `raw` mirrors the file; `validate` checks it whole and builds the [`Config`] the rest of
//! the daemon uses, with paths resolved, addresses and keys parsed. Loading never stops at the
//! first mistake: [`ConfigError::Invalid`] carries every problem, each with its line where the
//! TOML document can tell. This module reads files but never writes any.

mod build;
mod problem;
mod raw;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{NaiveTime, Weekday};
use chrono_tz::Tz;
use ipnet::IpNet;

use crate::message::Language;

pub(crate) use build::{MIN_RSA_BITS, authorized_keys, check_id};
pub(crate) use problem::{KeyPath, Problem};

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was read from.
    pub source: PathBuf,
    pub state_dir: PathBuf,
    pub time_zone: Tz,
    pub ttp_key_file: PathBuf,
    pub schedule: Schedule,
    pub retention: Retention,
    pub publish: Publish,
    /// The nightly backup; `None` when `[backup] dir` is not set.
    pub backup: Option<Backup>,
    /// The metrics endpoint; `None` when `[metrics] listen` is not set.
    pub metrics: Option<Metrics>,
    /// Bounds on what a delivered file may make the readers do.
    pub file_limits: crate::check::formats::Limits,
    /// The process limits of the child that reads a delivered file.
    pub reader: crate::check::confine::Confinement,
    pub sftp: SftpConfig,
    pub mail: MailConfig,
    /// The language of everything people read: receipts, mails, `validate`, `LEESMIJ.txt`.
    pub language: Language,
    pub tenants: Vec<Tenant>,
    pub users: Vec<User>,
    /// A reload may leave no tenants or users, or remove most of them.
    pub allow_empty: bool,
    /// The files this configuration names and reads that are not keys (users'
    /// `public_key_files`, `[mail.smtp] password_file` and `ca_file`; the relay's first):
    /// what a backup carries beside the keys, since without them the configuration does
    /// not load (or mail does not start) on another machine.
    pub named_files: Vec<NamedFile>,
}

/// A file the configuration names, other than a key (`ops::backup` carries keys by their
/// roles).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedFile {
    /// The setting that names it, the same on every machine with the same users:
    /// `user[<name>].public_key_files[<n>]`, `mail.smtp.password_file`, `mail.smtp.ca_file`.
    /// A user is named, not numbered, so that reordering users does not move its files.
    pub setting: String,
    /// Where it is, absolute, resolved as every path in the file is.
    pub path: PathBuf,
}

/// Local times at which the jobs run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub process_at: NaiveTime,
    pub publish_on: Weekday,
    pub publish_at: NaiveTime,
    pub sweep_at: NaiveTime,
}

/// The nightly backup job (`[backup]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    /// The folder of the nightly `<yyyyMMddHHmmss>/` backups.
    pub dir: PathBuf,
    /// Local time of the run.
    pub at: NaiveTime,
    /// Nightly backups kept (at least 1); the oldest beyond it are deleted.
    pub keep: u32,
}

/// The Prometheus metrics endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metrics {
    /// Where `GET /metrics` answers: loopback unless `allow_remote` was set.
    pub listen: std::net::SocketAddr,
}

/// How long things are kept, in days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    pub bundle_days: u32,
    pub raw_days: u32,
    pub receipt_days: u32,
    /// Hours a temporary name may stay in `upload/` before the sweep removes it.
    pub temp_hours: u32,
}

/// What the weekly publication makes and mails when a municipality has no new rows (a
/// bundle "without rows": `publish::without_rows`). Full bundles are always made and mailed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// Make the weekly bundle even without rows (the default: scripts see the week was
    /// handled).
    pub empty_bundles: bool,
    /// Mail about a weekly bundle without rows (default: no mail, nothing to fetch).
    pub mail_empty_bundles: bool,
}

/// The embedded SFTP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SftpConfig {
    pub listen: SocketAddr,
    /// Host name (or address) and port that users connect to, when it is not `listen`
    /// (behind NAT or a port mapping).
    pub public_address: Option<(String, u16)>,
    pub host_key: PathBuf,
    pub idle_timeout: Duration,
    pub max_sessions_per_user: u32,
    pub max_sessions_per_ip: u32,
    /// Connections not yet logged in, from all addresses together.
    pub max_unauthenticated: u32,
    pub ban_after_failures: u32,
    pub ban_window: Duration,
    pub ban_for: Duration,
}

/// Outgoing mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailConfig {
    pub from: String,
    pub transport: MailTransport,
    /// Waits between attempts; the last one repeats.
    pub retry: Vec<Duration>,
    pub give_up_after: Duration,
    /// The longest wait for the relay at each step of the conversation.
    pub timeout: Duration,
    /// The longest one attempt to hand over a message may take.
    pub send_timeout: Duration,
    /// Day of the month of the quality reports.
    pub quality_report_day: u32,
    /// The TTP's own address for copies of reminders.
    pub admin: Option<String>,
}

/// How mail leaves the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailTransport {
    /// `.eml` files in a folder: the embedded default.
    File {
        dir: PathBuf,
    },
    Smtp(SmtpConfig),
}

/// An SMTP relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub ca_file: Option<PathBuf>,
}

/// Transport security towards the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    StartTls,
    ImplicitTls,
    /// No TLS; only accepted for a loopback relay.
    Plain,
}

/// Where a secret is read from at the moment it is needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    File(PathBuf),
    Env(String),
}

/// What sort of organisation a tenant is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TenantKind {
    /// A care provider, identified by its AGB code.
    Supplier,
    /// A municipality, identified by its CBS code.
    Municipality,
}

impl TenantKind {
    /// The name used in the configuration and the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Supplier => "supplier",
            Self::Municipality => "municipality",
        }
    }
}

/// An organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// Folder name and handle.
    pub id: String,
    pub kind: TenantKind,
    /// AGB code (supplier) or CBS code (municipality).
    pub code: String,
    pub name: String,
    pub contacts: Vec<String>,
    pub max_file_bytes: u64,
    pub quota_bytes: u64,
    /// A municipality's assignment messages become its decisions (issue 15, item 5).
    pub decisions_from_messages: bool,
    /// Days without a delivery after which the tenant is reminded.
    pub expect_delivery_days: Option<u32>,
}

/// An SFTP login.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub name: String,
    pub public_keys: Vec<russh::keys::PublicKey>,
    /// Argon2id PHC string.
    pub password_hash: Option<String>,
    pub require_key_and_password: bool,
    /// Empty: any address.
    pub allow_from: Vec<IpNet>,
    pub grants: Vec<Grant>,
    /// The last local day its credentials let it log in.
    pub expires: Option<chrono::NaiveDate>,
}

/// What a user may do for one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub tenant: String,
    /// Write `upload/`, read `receipts/`.
    pub deliver: bool,
    /// Read and delete in `outbox/`: a municipality's bundles, a care provider's monthly
    /// reports.
    pub collect: bool,
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} problem(s) in {}:\n{}", problems.len(), path.display(), list(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

fn list(path: &Path, problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {}", p.in_file(path)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether a file the configuration names ([`Config::named_files`]) must exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NamedFiles {
    /// It must, and is read and checked: the configuration is to run.
    MustExist,
    /// One that does not exist is passed over (its keys are missing from the users): the
    /// configuration only says where `restore` is to put it back.
    MayBeAbsent,
}

impl Config {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::load_with(path, NamedFiles::MustExist)
    }

    /// Reads the file at `path` as [`Config::load`] does, except that a file it names that
    /// does not exist is no problem, since `restore` is what puts it back. Only for
    /// `restore`: such a configuration may lack users' keys, and must not run.
    pub fn load_to_restore(path: &Path) -> Result<Self, ConfigError> {
        Self::load_with(path, NamedFiles::MayBeAbsent)
    }

    fn load_with(path: &Path, named: NamedFiles) -> Result<Self, ConfigError> {
        let source = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse_with(&source, path, named).map_err(|problems| ConfigError::Invalid {
            path: path.to_owned(),
            problems,
        })
    }

    /// Validates `source` as if read from `path` (relative paths resolve against its folder).
    pub fn parse(source: &str, path: &Path) -> Result<Self, Vec<Problem>> {
        Self::parse_with(source, path, NamedFiles::MustExist)
    }

    /// [`Config::parse`], with the files it names treated as `named` says.
    pub(crate) fn parse_with(
        source: &str,
        path: &Path,
        named: NamedFiles,
    ) -> Result<Self, Vec<Problem>> {
        let doc = match toml::de::DeTable::parse(source) {
            Ok(doc) => doc,
            Err(e) => return Err(vec![toml_problem(source, &e)]),
        };
        let mut problems = Vec::new();
        let deserializer = match toml::Deserializer::parse(source) {
            Ok(d) => d,
            Err(e) => return Err(vec![toml_problem(source, &e)]),
        };
        let raw: Result<raw::RawConfig, _> = serde_ignored::deserialize(deserializer, |p| {
            problems.push(Problem::new(KeyPath::from_ignored(&p), "unknown key"));
        });
        let raw = match raw {
            Ok(raw) => Some(raw),
            Err(e) => {
                problems.push(toml_problem(source, &e));
                None
            }
        };
        let base = base_dir(path);
        let config = raw.and_then(|raw| build::build(raw, path, &base, named, &mut problems));
        match config {
            Some(config) if problems.is_empty() => Ok(config),
            _ => Err(problems
                .into_iter()
                .map(|p| p.locate(source, doc.get_ref()))
                .collect()),
        }
    }

    /// The tenant with this id.
    pub fn tenant(&self, id: &str) -> Option<&Tenant> {
        self.tenants.iter().find(|t| t.id == id)
    }

    /// Whether some user may collect from tenant `id`'s outbox.
    pub fn collected(&self, id: &str) -> bool {
        self.users
            .iter()
            .flat_map(|u| &u.grants)
            .any(|g| g.tenant == id && g.collect)
    }
}

/// The folder relative paths in the file resolve against: the file's own, made absolute and
/// free of symlinks, so that every path the daemon uses is absolute and means one place
/// (the file watcher reports absolute paths).
fn base_dir(file: &Path) -> PathBuf {
    let dir = match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::canonicalize(dir)
        .or_else(|_| std::path::absolute(dir))
        .unwrap_or_else(|_| dir.to_owned())
}

fn toml_problem(source: &str, e: &toml::de::Error) -> Problem {
    let mut problem = Problem::new(KeyPath::default(), e.message().trim_end().to_owned());
    problem.line = e.span().map(|s| problem::line_of(source, s.start));
    problem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_a_configuration_names_are_kept_and_may_be_absent_only_to_restore() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let key = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/keys/linde.pub");
        let text = format!(
            "[mail]\ntransport = \"smtp\"\n[mail.smtp]\nhost = \"127.0.0.1\"\nsecurity = \"plain\"\n\
             password_file = \"secret/smtp\"\nca_file = \"/etc/ca.pem\"\n\
             [[tenant]]\nid = \"zorg\"\nkind = \"supplier\"\ncode = \"87654321\"\nname = \"Zorg\"\n\
             [[user]]\nname = \"linde\"\npublic_key_files = [\"{key}\", \"keys/../keys/linde.pub\"]\n\
             [[user.grant]]\ntenant = \"zorg\"\nroles = [\"deliver\"]\n"
        );
        let path = dir.path().join("dropgate.toml");
        let base = std::fs::canonicalize(dir.path()).expect("the folder exists");
        let problems = Config::parse(&text, &path).expect_err("two files are missing");
        assert_eq!(problems.len(), 2, "{problems:?}");

        let config = Config::parse_with(&text, &path, NamedFiles::MayBeAbsent)
            .expect("absent files are no problem to restore");
        let named: Vec<(&str, PathBuf)> = config
            .named_files
            .iter()
            .map(|f| (f.setting.as_str(), f.path.clone()))
            .collect();
        assert_eq!(
            named,
            [
                ("mail.smtp.password_file", base.join("secret/smtp")),
                ("mail.smtp.ca_file", PathBuf::from("/etc/ca.pem")),
                ("user[linde].public_key_files[0]", PathBuf::from(key)),
                (
                    "user[linde].public_key_files[1]",
                    base.join("keys/linde.pub")
                ),
            ]
        );
        assert_eq!(config.users[0].public_keys.len(), 1);

        // A file that is there is still read and checked.
        std::fs::create_dir(dir.path().join("keys")).expect("a new folder");
        std::fs::write(dir.path().join("keys/linde.pub"), "not a key\n").expect("writable");
        let problems =
            Config::parse_with(&text, &path, NamedFiles::MayBeAbsent).expect_err("a bad key file");
        assert!(
            problems[0].to_string().contains("public_key_files[1]"),
            "{problems:?}"
        );
    }
}
