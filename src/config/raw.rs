//! The configuration file as written: serde structs that mirror the TOML one to one.
//!
//! Nothing here is checked beyond its type; `validate` turns a [`RawConfig`] into a
//! [`Config`](super::Config) and reports every problem it finds. Unknown keys are found by
//! `serde_ignored` in `super::load`, so that all of them are listed, not just the first.

use serde::Deserialize;

/// The whole file.
#[derive(Debug, Deserialize)]
pub(super) struct RawConfig {
    /// Where the ledger, the tenant folders, staging, archive and quarantine live.
    #[serde(default = "default_state_dir")]
    pub state_dir: String,
    /// IANA time zone in which job times are meant.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// The pseudonymisation key (32 bytes, made by `dropgate keygen`); default `<state_dir>/ttp.key`.
    pub ttp_key_file: Option<String>,
    /// `nl` (default) or `en`: receipts, mails, `validate`, `LEESMIJ.txt`.
    pub language: Option<String>,
    #[serde(default)]
    pub schedule: RawSchedule,
    #[serde(default)]
    pub retention: RawRetention,
    #[serde(default)]
    pub publish: RawPublish,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub sftp: RawSftp,
    #[serde(default)]
    pub mail: RawMail,
    #[serde(default)]
    pub backup: RawBackup,
    #[serde(default)]
    pub metrics: RawMetrics,
    /// Lets a reload (SIGHUP) leave no tenants or no users, or remove more than half of
    /// either; without it such a reload is refused as a likely truncated file.
    #[serde(default)]
    pub allow_empty: bool,
    /// Organisations: care providers (`supplier`) and municipalities.
    #[serde(default, rename = "tenant")]
    pub tenants: Vec<RawTenant>,
    /// SFTP logins.
    #[serde(default, rename = "user")]
    pub users: Vec<RawUser>,
}

/// When the jobs run, in `time_zone`.
#[derive(Debug, Deserialize)]
pub(super) struct RawSchedule {
    /// Daily processing of received files, `HH:MM`.
    #[serde(default = "default_process_at")]
    pub process_at: String,
    /// Weekly publication of bundles, `<Day> HH:MM` (day: Mon..Sun).
    #[serde(default = "default_publish_at")]
    pub publish_at: String,
    /// Daily retention sweep, `HH:MM`.
    #[serde(default = "default_sweep_at")]
    pub sweep_at: String,
}

/// The nightly backup (`dropgate backup` into a new folder each night); off without `dir`.
#[derive(Debug, Deserialize)]
pub(super) struct RawBackup {
    /// The folder that holds one `<yyyyMMddHHmmss>/` backup per night; relative to the
    /// configuration file's folder.
    pub dir: Option<String>,
    /// When it runs, `HH:MM` in `time_zone`.
    #[serde(default = "default_backup_at")]
    pub at: String,
    /// How many nightly backups are kept; older ones are deleted.
    #[serde(default = "default_backup_keep")]
    pub keep: u32,
}

/// The Prometheus metrics endpoint; off without `listen`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct RawMetrics {
    /// Address and port of `GET /metrics` (`127.0.0.1:9464`).
    pub listen: Option<String>,
    /// Listen on an address other than loopback: the endpoint has no authentication, so
    /// this must be asked for.
    #[serde(default)]
    pub allow_remote: bool,
}

/// How long things are kept, in days.
#[derive(Debug, Deserialize)]
pub(super) struct RawRetention {
    /// Bundles in a municipality's outbox, counted from their publication.
    #[serde(default = "default_bundle_days")]
    pub bundle_days: u32,
    /// Processed originals in `archive/`.
    #[serde(default = "default_raw_days")]
    pub raw_days: u32,
    /// Receipts in a supplier's `receipts/`.
    #[serde(default = "default_receipt_days")]
    pub receipt_days: u32,
    /// Temporary names (dot-names, `.part`, `.filepart`, `.tmp`) left in `upload/` are
    /// removed by the sweep after this many hours.
    #[serde(default = "default_temp_hours")]
    pub temp_hours: u32,
}

/// The weekly bundles. A bundle "without rows" is one whose CSVs, `Indicatoren.csv` aside,
/// have no row (see `publish::without_rows`). A full bundle is always made and mailed: it
/// was asked for.
#[derive(Debug, Deserialize)]
pub(super) struct RawPublish {
    /// Make the weekly bundle also when it has no rows, so that scripts see the week was
    /// handled.
    #[serde(default = "default_empty_bundles")]
    pub empty_bundles: bool,
    /// Mail the municipality about a weekly bundle without rows too.
    #[serde(default)]
    pub mail_empty_bundles: bool,
}

/// Bounds on what users may send.
#[derive(Debug, Deserialize)]
pub(super) struct RawLimits {
    /// Largest single upload, default for every tenant.
    #[serde(default = "default_max_file_bytes")]
    pub max_file_bytes: u64,
    /// Most bytes waiting in one tenant's `upload/`, default for every tenant.
    #[serde(default = "default_quota_bytes")]
    pub quota_bytes: u64,
    /// Longest CSV record or XML node a delivered file may have.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: u64,
    /// Longest single value.
    #[serde(default = "default_max_field_bytes")]
    pub max_field_bytes: u64,
    /// Most data rows in one file.
    #[serde(default = "default_max_rows")]
    pub max_rows: u64,
    /// Most bytes an xlsx or ods may unpack to (zip-bomb guard), and the largest xls.
    #[serde(default = "default_max_unpacked_bytes")]
    pub max_unpacked_bytes: u64,
    /// Address space of the child process that reads one delivered file, in MiB.
    #[serde(default = "default_reader_memory_mib")]
    pub reader_memory_mib: u64,
    /// CPU time that child may use, in seconds.
    #[serde(default = "default_reader_cpu_secs")]
    pub reader_cpu_secs: u64,
}

/// The embedded SFTP server.
#[derive(Debug, Deserialize)]
pub(super) struct RawSftp {
    /// Address and port to listen on.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// ed25519 host key, created on first start; relative paths are under `state_dir`.
    #[serde(default = "default_host_key")]
    pub host_key: String,
    /// How users reach the server, as invitations name it: `sftp.example.nl` or
    /// `sftp.example.nl:22`; default: the listen address.
    pub public_address: Option<String>,
    /// A logged-in session without SFTP requests for this long is closed (keepalives do
    /// not count).
    #[serde(default = "default_idle_timeout_secs")]
    pub idle_timeout_secs: u64,
    #[serde(default = "default_max_sessions_per_user")]
    pub max_sessions_per_user: u32,
    #[serde(default = "default_max_sessions_per_ip")]
    pub max_sessions_per_ip: u32,
    /// Connections not yet logged in, from all addresses together.
    #[serde(default = "default_max_unauthenticated")]
    pub max_unauthenticated: u32,
    /// Failed logins from one source (IPv6: one /64) within `ban_window_secs` that ban it.
    #[serde(default = "default_ban_after_failures")]
    pub ban_after_failures: u32,
    #[serde(default = "default_ban_window_secs")]
    pub ban_window_secs: u64,
    #[serde(default = "default_ban_secs")]
    pub ban_secs: u64,
}

/// Outgoing mail.
#[derive(Debug, Deserialize)]
pub(super) struct RawMail {
    /// Sender address, `Name <addr>` or `addr`.
    #[serde(default = "default_mail_from")]
    pub from: String,
    /// Earlier place of the top-level `language`, still read.
    pub language: Option<String>,
    /// `file` (write `.eml` files) or `smtp`.
    #[serde(default = "default_transport")]
    pub transport: String,
    /// Folder for the `file` transport; relative paths are under `state_dir`.
    #[serde(default = "default_mail_dir")]
    pub dir: String,
    /// Waits between attempts, in seconds; the last repeats until `give_up_after_hours`.
    #[serde(default = "default_retry_secs")]
    pub retry_secs: Vec<u64>,
    /// A message not delivered after this long is marked failed.
    #[serde(default = "default_give_up_after_hours")]
    pub give_up_after_hours: u64,
    /// The longest wait for the relay at each step, in seconds: the connection, the TLS
    /// handshake, the greeting, each command, and the end of the message.
    #[serde(default = "default_mail_timeout_secs")]
    pub timeout_secs: u64,
    /// The longest one attempt to hand over a message may take, in seconds: a relay that
    /// answers each step in time but trickles is left then, and the message tried again
    /// on the retry schedule.
    #[serde(default = "default_send_timeout_secs")]
    pub send_timeout_secs: u64,
    /// Day of the month (1-28) on which each tenant gets its quality report.
    #[serde(default = "default_quality_report_day")]
    pub quality_report_day: u32,
    /// The TTP's own address: a copy of every reminder (a tenant that stopped delivering,
    /// a login about to expire).
    pub admin: Option<String>,
    pub smtp: Option<RawSmtp>,
}

/// An SMTP relay.
#[derive(Debug, Deserialize)]
pub(super) struct RawSmtp {
    pub host: String,
    pub port: Option<u16>,
    /// `starttls` (default), `tls` (implicit) or `plain` (only to a loopback host).
    #[serde(default = "default_security")]
    pub security: String,
    pub username: Option<String>,
    /// File holding the password; the password itself never goes in this file.
    pub password_file: Option<String>,
    /// Environment variable holding the password.
    pub password_env: Option<String>,
    /// Extra CA certificate (PEM) to trust, e.g. for a relay with a private CA.
    pub ca_file: Option<String>,
}

/// One organisation.
#[derive(Debug, Deserialize)]
pub(super) struct RawTenant {
    /// Folder name and handle: lower-case letters, digits, `-` and `_`.
    pub id: String,
    /// `supplier` or `municipality`.
    pub kind: String,
    /// AGB code (8 digits) of a supplier, CBS code (4 digits) of a municipality.
    pub code: String,
    pub name: String,
    /// Who gets this tenant's mail.
    #[serde(default)]
    pub contacts: Vec<String>,
    /// Overrides `limits.max_file_bytes` for this tenant.
    pub max_file_bytes: Option<u64>,
    /// Overrides `limits.quota_bytes` for this tenant.
    pub quota_bytes: Option<u64>,
    /// A municipality's assignments (JW301/WMO301) become its decisions (`beschikkingen`),
    /// and a stop of care (JW307/WMO307) ends them, so measurements link without a
    /// separate decisions export.
    #[serde(default)]
    pub decisions_from_messages: bool,
    /// Days without a delivery after which the tenant (and `[mail] admin`) is reminded,
    /// once per that many days of silence.
    pub expect_delivery_days: Option<u32>,
}

/// One SFTP login.
#[derive(Debug, Deserialize)]
pub(super) struct RawUser {
    pub name: String,
    /// Public keys in authorized_keys format.
    #[serde(default)]
    pub public_keys: Vec<String>,
    /// Files in authorized_keys format; relative paths are under the config file's folder.
    #[serde(default)]
    pub public_key_files: Vec<String>,
    /// Argon2id PHC string from `dropgate hash-password`.
    pub password_hash: Option<String>,
    /// Ask for a key and the password, both.
    #[serde(default)]
    pub require_key_and_password: bool,
    /// Source addresses allowed to log in (CIDR or single address); empty means any.
    #[serde(default)]
    pub allow_from: Vec<String>,
    /// Tenants this user acts for.
    #[serde(default, rename = "grant")]
    pub grants: Vec<RawGrant>,
    /// The last day (a TOML date, `2027-06-30`) its keys and password let it log in; warned
    /// of by mail 30 and 7 days before.
    pub expires: Option<toml::value::Datetime>,
}

/// What a user may do for one tenant.
#[derive(Debug, Deserialize)]
pub(super) struct RawGrant {
    pub tenant: String,
    /// `deliver` and/or `collect`.
    pub roles: Vec<String>,
}

impl Default for RawSchedule {
    fn default() -> Self {
        Self {
            process_at: default_process_at(),
            publish_at: default_publish_at(),
            sweep_at: default_sweep_at(),
        }
    }
}

impl Default for RawBackup {
    fn default() -> Self {
        Self {
            dir: None,
            at: default_backup_at(),
            keep: default_backup_keep(),
        }
    }
}

impl Default for RawRetention {
    fn default() -> Self {
        Self {
            bundle_days: default_bundle_days(),
            raw_days: default_raw_days(),
            receipt_days: default_receipt_days(),
            temp_hours: default_temp_hours(),
        }
    }
}

impl Default for RawPublish {
    fn default() -> Self {
        Self {
            empty_bundles: default_empty_bundles(),
            mail_empty_bundles: false,
        }
    }
}

impl Default for RawLimits {
    fn default() -> Self {
        Self {
            max_file_bytes: default_max_file_bytes(),
            quota_bytes: default_quota_bytes(),
            max_line_bytes: default_max_line_bytes(),
            max_field_bytes: default_max_field_bytes(),
            max_rows: default_max_rows(),
            max_unpacked_bytes: default_max_unpacked_bytes(),
            reader_memory_mib: default_reader_memory_mib(),
            reader_cpu_secs: default_reader_cpu_secs(),
        }
    }
}

impl Default for RawSftp {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            host_key: default_host_key(),
            public_address: None,
            idle_timeout_secs: default_idle_timeout_secs(),
            max_sessions_per_user: default_max_sessions_per_user(),
            max_sessions_per_ip: default_max_sessions_per_ip(),
            max_unauthenticated: default_max_unauthenticated(),
            ban_after_failures: default_ban_after_failures(),
            ban_window_secs: default_ban_window_secs(),
            ban_secs: default_ban_secs(),
        }
    }
}

impl Default for RawMail {
    fn default() -> Self {
        Self {
            from: default_mail_from(),
            language: None,
            transport: default_transport(),
            dir: default_mail_dir(),
            retry_secs: default_retry_secs(),
            give_up_after_hours: default_give_up_after_hours(),
            timeout_secs: default_mail_timeout_secs(),
            send_timeout_secs: default_send_timeout_secs(),
            quality_report_day: default_quality_report_day(),
            admin: None,
            smtp: None,
        }
    }
}

fn default_backup_at() -> String {
    "02:30".into()
}
fn default_backup_keep() -> u32 {
    7
}
fn default_state_dir() -> String {
    "./var".into()
}
fn default_time_zone() -> String {
    "Europe/Amsterdam".into()
}
fn default_process_at() -> String {
    "02:00".into()
}
fn default_publish_at() -> String {
    "Sun 06:00".into()
}
fn default_sweep_at() -> String {
    "03:30".into()
}
fn default_bundle_days() -> u32 {
    60
}
fn default_raw_days() -> u32 {
    90
}
fn default_receipt_days() -> u32 {
    365
}
fn default_empty_bundles() -> bool {
    true
}
fn default_max_file_bytes() -> u64 {
    1 << 30
}
fn default_quota_bytes() -> u64 {
    10 << 30
}
fn default_max_line_bytes() -> u64 {
    crate::check::formats::Limits::default().max_line_bytes as u64
}
fn default_max_field_bytes() -> u64 {
    crate::check::formats::Limits::default().max_field_bytes as u64
}
fn default_max_rows() -> u64 {
    crate::check::formats::Limits::default().max_rows
}
fn default_max_unpacked_bytes() -> u64 {
    crate::check::formats::Limits::default().max_unpacked_bytes
}
fn default_reader_memory_mib() -> u64 {
    crate::check::confine::Confinement::default().memory_mib
}
fn default_reader_cpu_secs() -> u64 {
    crate::check::confine::Confinement::default().cpu_secs
}
fn default_temp_hours() -> u32 {
    24
}
fn default_listen() -> String {
    "127.0.0.1:2222".into()
}
fn default_host_key() -> String {
    "ssh_host_ed25519_key".into()
}
fn default_idle_timeout_secs() -> u64 {
    600
}
fn default_max_sessions_per_user() -> u32 {
    8
}
fn default_max_sessions_per_ip() -> u32 {
    16
}
fn default_max_unauthenticated() -> u32 {
    256
}
fn default_ban_after_failures() -> u32 {
    10
}
fn default_ban_window_secs() -> u64 {
    600
}
fn default_ban_secs() -> u64 {
    900
}
fn default_mail_from() -> String {
    "dropgate <dropgate@localhost>".into()
}
fn default_transport() -> String {
    "file".into()
}
fn default_mail_dir() -> String {
    "mail".into()
}
fn default_retry_secs() -> Vec<u64> {
    vec![60, 300, 1800, 7200, 21600]
}
fn default_mail_timeout_secs() -> u64 {
    30
}
fn default_send_timeout_secs() -> u64 {
    300
}
fn default_give_up_after_hours() -> u64 {
    72
}
fn default_quality_report_day() -> u32 {
    1
}
fn default_security() -> String {
    "starttls".into()
}
