//! dropgate: a Trusted Third Party's SFTP drop box for care data.
//!
//! - `config`: the TOML configuration, validated whole.
//! - `confine`: the child process that reads one delivered file under hard limits.
//! - `layout`: where things live under the state directory.
//! - `ledger`: the SQLite ledger; the only place that issues SQL.
//! - `intake`: watcher and start-up scan that record uploaded files in the ledger.
//! - `sftp`: the embedded SFTP server: logins, the virtual tenant tree, atomic uploads.
//! - `auditor`: non-blocking audit rows for async code.
//! - `daemon`: wiring and life cycle of the long-running process.
//! - `signal`: SIGTERM/SIGINT to shutdown, SIGHUP to reload.
//! - `systemd`: readiness, status and watchdog through `NOTIFY_SOCKET`.
//! - `status`: the report behind `dropgate status`.
//! - `secrets`: the pseudonymisation key file and password hashes.
//! - `pseudonym`: the BSN 11-check, masks, and keyed pseudonyms.
//! - `formats`: CSV, Excel and XML readers: a header and a stream of rows.
//! - `datasets`: metingen and beschikkingen: detection and the rules of a row.
//! - `check`: a whole file through its format and dataset; shared by validate and processing.
//! - `redact`: the one redaction rule for values from a delivery in any text.
//! - `message`: a sentence in Dutch and English; the reader's language picks one.
//! - `sheet`: the CSV dialect and formula guard of every file written for spreadsheets.
//! - `receipt`: the .result.csv and .txt receipts of a checked file.
//! - `validate`: the offline check behind `dropgate validate`.
//! - `spec`: the delivery specification behind `dropgate spec`, from the checks' own tables.
//! - `process`: the daily run: claim, check, pseudonymise, store, receipt, archive.
//! - `fingerprint`: a delivered file's hash and on-disk identity, checked before it moves.
//! - `schedule`: job times in a time zone (DST-correct) and catch-up after downtime.
//! - `jobs`: the daemon's scheduled jobs (processing, quality reports) and their records.
//! - `mail`: the durable mail queue's sender, transports and message texts.
//! - `quality`: the monthly quality report per tenant.
//! - `link`: which measurements belong to which decision (the date window).
//! - `figures`: response, means, dropout and suppression: what each figure counts.
//! - `bundle`: writing a bundle zip: formula-safe CSVs and a manifest.
//! - `codebook`: every bundle file and column, its kind and Dutch meaning; `LEESMIJ.txt`.
//! - `publish`: a municipality's bundle of what it has not received, exactly once.
//! - `retention`: the daily sweep of bundles, originals and receipts past their keeping time.
//! - `pause`: named points where a test can freeze the process to kill it there.
//!
//! `ARCHITECTURE.md` at the repository root has the map and the invariants.

pub mod auditor;
pub mod bundle;
pub mod check;
pub mod codebook;
pub mod config;
pub mod confine;
pub mod daemon;
pub mod datasets;
pub mod figures;
pub mod fingerprint;
pub mod formats;
pub mod intake;
pub mod jobs;
pub mod layout;
pub mod ledger;
pub mod link;
pub mod mail;
pub mod message;
pub mod pause;
pub mod process;
pub mod pseudonym;
pub mod publish;
pub mod quality;
pub mod receipt;
pub mod redact;
pub mod retention;
pub mod schedule;
pub mod secrets;
pub mod sftp;
pub mod sheet;
pub mod signal;
pub mod spec;
pub mod status;
pub mod systemd;
pub mod validate;
