//! Running it all: the daemon's wiring and life cycle (`daemon`), its scheduled jobs
//! (`jobs`), signals, systemd notification, and `dropgate status`.

pub mod daemon;
pub(crate) mod jobs;
pub mod signal;
pub mod status;
pub(crate) mod systemd;
