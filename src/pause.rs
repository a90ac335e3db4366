//! Named points where a test can freeze the process to kill it there (`kill -9`).
//!
//! With `DROPGATE_TEST_PAUSE_AT=<point>` in its environment, the process announces
//! `dropgate: paused at <point>` on stderr when it reaches that point and then sleeps for
//! good. A pause only ever stops the thread that reached it: nothing is written or skipped,
//! so the binary under test is the one that ships. Without the variable a point costs one
//! cached lookup.

use std::sync::OnceLock;
use std::time::Duration;

/// The environment variable that names the point to pause at.
pub(crate) const VARIABLE: &str = "DROPGATE_TEST_PAUSE_AT";

/// Pauses for good here if the environment names `point`.
pub(crate) fn point(point: &str) {
    static AT: OnceLock<Option<String>> = OnceLock::new();
    if AT.get_or_init(|| std::env::var(VARIABLE).ok()).as_deref() != Some(point) {
        return;
    }
    eprintln!("dropgate: paused at {point}");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
