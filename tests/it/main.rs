//! Integration tests: the real `dropgate` binary against real files, folders and SQLite.
//! One test crate so that everything links once.

mod backup;
mod berichten;
mod bundle;
mod cli;
mod config;
mod confine;
mod daemon;
mod hostile;
mod intake;
mod invite;
mod ketendata;
mod mail;
mod metrics;
mod mutation;
mod process;
mod publish;
mod publish_faults;
mod reminders;
mod report;
mod sftp;
mod storage;
mod sweep;
mod systemd;
mod tidy;
mod util;
