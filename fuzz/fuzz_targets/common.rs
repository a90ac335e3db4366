//! Shared by the fuzz targets: one input, written to a file, read and checked in process
//! (no confined child here: libFuzzer's own limits, `-rss_limit_mb` and `-timeout`, stand
//! in for it, so a finding is an input that needs more than the reader's own bounds allow).

use std::io::Write;

use dropgate::check::{Verdict, check_file};
use dropgate::check::datasets::{Context, ScoreRanges};
use dropgate::check::formats::{Format, Limits, detect};

/// Small bounds, so that a run stays fast and a file over them is refused rather than read.
const LIMITS: Limits = Limits {
    max_line_bytes: 64 * 1024,
    max_field_bytes: 4 * 1024,
    max_rows: 10_000,
    max_unpacked_bytes: 8 * 1024 * 1024,
};

/// Checks `data` as a delivery if its content is of `format` (others belong to another
/// target, whose corpus starts from that format's samples).
pub fn run(data: &[u8], format: Format) {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(data).expect("write the input");
    let path = file.path();
    if !matches!(detect(path), Ok(f) if f == format) {
        return;
    }
    let ctx = Context {
        today: chrono::NaiveDate::from_ymd_opt(2026, 11, 30).expect("a date"),
        scores: ScoreRanges::default(),
        agb_codes: None,
        municipality: None,
        datasets: &[],
    };
    let _ = check_file::<std::io::Error>(
        path,
        LIMITS,
        None,
        &ctx,
        |_, _| Ok(Verdict::Accepted),
        |_| Ok(()),
    );
}
