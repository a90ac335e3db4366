//! What the running daemon did since it started, counted where it happens and read by the
//! metrics endpoint (`ops::metrics`): logins, bans, bytes over SFTP, sessions open, and how
//! long each job's last run took. Process-wide, as the events they count are; what the
//! ledger knows (deliveries, rows, mail, jobs) is read from it at each scrape instead.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// A count that only goes up.
pub(crate) struct Counter(AtomicU64);

impl Counter {
    const fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A number that goes up and down.
pub(crate) struct Level(AtomicI64);

impl Level {
    const fn new() -> Self {
        Self(AtomicI64::new(0))
    }

    pub(crate) fn up(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn down(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// SFTP logins that succeeded.
pub(crate) static LOGINS_OK: Counter = Counter::new();
/// SFTP login attempts that failed (a wrong key or password, an unknown user, a refused
/// address, an expired login).
pub(crate) static LOGINS_FAILED: Counter = Counter::new();
/// Source addresses banned for failed logins.
pub(crate) static BANS: Counter = Counter::new();
/// Bytes of uploads closed complete.
pub(crate) static BYTES_UP: Counter = Counter::new();
/// Bytes of downloads served.
pub(crate) static BYTES_DOWN: Counter = Counter::new();
/// Logged-in SFTP sessions open now.
pub(crate) static SESSIONS: Level = Level::new();

/// How long each job's last run took, in seconds.
static JOB_SECONDS: Mutex<BTreeMap<&'static str, f64>> = Mutex::new(BTreeMap::new());

/// Records how long job `name` took.
pub(crate) fn job_took(name: &'static str, seconds: f64) {
    if let Ok(mut jobs) = JOB_SECONDS.lock() {
        jobs.insert(name, seconds);
    }
}

/// How long each job's last run took, by name.
pub(crate) fn job_seconds() -> BTreeMap<&'static str, f64> {
    JOB_SECONDS.lock().map(|j| j.clone()).unwrap_or_default()
}
