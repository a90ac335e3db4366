//! The one source of the current time: every job, the daemon and the CLI ask `clock::now`.
//!
//! A release build reads the system clock. A test build (debug assertions, as `cargo test`
//! builds the binary it runs) also honours `DROPGATE_TEST_CLOCK`, an offset such as `+61d`,
//! `-2h`, `+90m` or `+30s` added to the system clock for the whole process, so that the
//! integration tests move time for the daemon and the CLI instead of rewriting ledger rows.

use chrono::{DateTime, TimeDelta, Utc};

/// The environment variable a test build reads its clock offset from.
pub const TEST_CLOCK_VAR: &str = "DROPGATE_TEST_CLOCK";

/// The current time, as every part of dropgate sees it.
pub fn now() -> DateTime<Utc> {
    Utc::now() + offset()
}

/// The offset a test build runs with, if any: the daemon says so at start.
pub(crate) fn moved() -> Option<TimeDelta> {
    Some(offset()).filter(|o| !o.is_zero())
}

#[cfg(debug_assertions)]
fn offset() -> TimeDelta {
    static OFFSET: std::sync::OnceLock<TimeDelta> = std::sync::OnceLock::new();
    *OFFSET.get_or_init(|| match std::env::var(TEST_CLOCK_VAR) {
        Ok(text) => parse_offset(&text)
            .unwrap_or_else(|| panic!("{TEST_CLOCK_VAR}={text:?}: expected an offset like +61d")),
        Err(_) => TimeDelta::zero(),
    })
}

#[cfg(not(debug_assertions))]
fn offset() -> TimeDelta {
    TimeDelta::zero()
}

/// `+61d`, `-2h`, `+90m`, `+30s` (the sign is required, so that a bare date is not taken for
/// an offset).
#[cfg(any(debug_assertions, test))]
fn parse_offset(text: &str) -> Option<TimeDelta> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let unit = rest.chars().last()?;
    let amount: i64 = rest[..rest.len() - unit.len_utf8()].parse().ok()?;
    let amount = sign * amount;
    match unit {
        'd' => TimeDelta::try_days(amount),
        'h' => TimeDelta::try_hours(amount),
        'm' => TimeDelta::try_minutes(amount),
        's' => TimeDelta::try_seconds(amount),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_parse_with_their_sign_and_unit() {
        assert_eq!(parse_offset("+61d"), TimeDelta::try_days(61));
        assert_eq!(parse_offset("-2h"), TimeDelta::try_hours(-2));
        assert_eq!(parse_offset("+90m"), TimeDelta::try_minutes(90));
        assert_eq!(parse_offset("+30s"), TimeDelta::try_seconds(30));
        for bad in ["61d", "+d", "+61", "+61w", "", "+", "+1.5d", "2026-12-01"] {
            assert_eq!(parse_offset(bad), None, "{bad}");
        }
    }
}
