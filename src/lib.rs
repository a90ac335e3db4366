//! dropgate: a Trusted Third Party's SFTP drop box for care data.
//!
//! The modules in the order a file travels, after the foundations they share:
//!
//! - `config`: the TOML configuration, validated whole.
//! - `layout`: where things live under the state directory.
//! - `ledger`: the SQLite ledger; the only place that issues SQL.
//! - `clock`: the one source of the current time.
//! - `message`, `redact`, `sheet`: texts in Dutch and English, the redaction rule for values
//!   from a delivery, and the CSV dialect of every file written for spreadsheets.
//! - `counters`: what the running daemon did since it started, for the metrics endpoint.
//! - `pseudonym`, `fingerprint`, `link`, `figures`: the BSN and its keyed pseudonyms, a file's
//!   digest, which measurement belongs to which decision, and what each figure counts.
//! - `keys`: the key files hashed with, checked against the fingerprints the ledger holds.
//! - `storage`: what a full, read-only or forbidden disk means, and what the daemon lacks.
//! - `ingest`: the SFTP server, intake (files become deliveries) and the audit writer.
//! - `check`: formats, datasets and the confined reader that checks one file; `validate`
//!   and `spec` for suppliers.
//! - `process`: the daily run: claim, check, pseudonymise, store, receipt, archive.
//! - `mail`: the durable mail queue's sender, transports and message texts.
//! - `publish`: municipality bundles exactly once, their codebook, and the monthly quality
//!   reports.
//! - `retention`: the daily sweep of what has outlived its keeping time.
//! - `reminders`: a tenant that stopped delivering, a login about to expire.
//! - `ops`: the daemon, signals, systemd, schedule and jobs, status, secrets, pause points.
//!
//! `ARCHITECTURE.md` at the repository root has the map and the invariants.

// Foundations, shared by every stage.
pub mod clock;
pub mod config;
pub mod layout;
pub mod ledger;

pub(crate) mod counters;
pub(crate) mod figures;
pub(crate) mod fingerprint;
pub(crate) mod keys;
pub(crate) mod link;
pub(crate) mod message;
pub(crate) mod pause;
pub mod pseudonym;
pub(crate) mod redact;
pub mod schedule;
pub mod secrets;
pub(crate) mod sheet;
pub(crate) mod storage;

// The stages, in the order a file travels.
pub(crate) mod ingest;

pub mod check;

pub mod process;

pub mod mail;

pub mod publish;

pub mod retention;

pub mod reminders;

// Running it all.
pub mod ops;
