//! Running it all: the daemon's wiring and life cycle (`daemon`), its look at its storage
//! before it starts (`preflight`), its scheduled jobs (`jobs`), signals, systemd
//! notification, `dropgate status`, and `dropgate backup` and `restore`.

pub mod backup;
pub mod daemon;
pub mod invite;
pub(crate) mod jobs;
pub(crate) mod metrics;
pub(crate) mod preflight;
pub mod restore;
pub mod signal;
pub mod status;
pub(crate) mod systemd;
