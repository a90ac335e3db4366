//! The one redaction rule (DESIGN 6): every value from a delivery that ends up in any text
//! (receipt, mail, `validate` output, log line, `delivery.error`, audit) passes through
//! [`text`] or [`name`]. It masks every run of eight or more digits, also when spaces, dots,
//! dashes or underscores stand between them, wherever the run stands in the value: a BSN inside a
//! longer value (a row written with the wrong separator, an unclosed quote that swallowed a
//! line) is masked as surely as a value that is one.
//!
//! A value in the shape of a date (`2026-11-30`, `30-11-2026`, also with dots, and also a
//! wrong one such as `31-02-2026` or `2026-13-01`) is left as it is: it is eight digits,
//! but no BSN is written that way, and a receipt that hid dates would hide what is wrong
//! with a row.

use std::borrow::Cow;

/// Digits in a run from which on it is masked: an 8-digit BSN (with its leading zero
/// dropped) is the shortest.
const MIN_DIGITS: usize = 8;

/// Digits of a run left visible at its end (as `pseudonym::mask` does), for runs no longer
/// than a BSN with some padding; longer runs are masked whole.
const SHOWN_DIGITS: usize = 2;
const SHOW_UP_TO: usize = 10;

/// `value` with every run of eight or more digits masked (`*` for each hidden digit;
/// separators stay), and with control characters written as `\u{..}` escapes so that a
/// value can never forge a line (or reorder one, with a bidi override) in a text.
pub(crate) fn text(value: &str) -> Cow<'_, str> {
    let escaped = escape_controls(value);
    let runs: Vec<_> = digit_runs(&escaped).collect();
    if runs.is_empty() {
        return escaped;
    }
    Cow::Owned(mask_runs(&escaped, &runs))
}

/// A file name as texts show it: redacted like any value from a delivery.
pub(crate) fn name(file_name: &str) -> Cow<'_, str> {
    text(file_name)
}

/// Whether `c` must not appear raw in a text: C0/C1 controls, and the Unicode format
/// characters that reorder or hide text (bidi overrides and isolates, zero-width marks).
pub(crate) fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}'
            | '\u{FEFF}' | '\u{061C}')
}

fn escape_controls(value: &str) -> Cow<'_, str> {
    if !value.chars().any(is_unsafe_char) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        if is_unsafe_char(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Byte ranges of the maskable digit runs in `value` (eight or more digits, separators
/// between them allowed, date shapes left out), with their digit counts. An iterator, so
/// that the daily run can look at every identifier without an allocation.
pub(crate) fn digit_runs(value: &str) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
    let bytes = value.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() {
            if !bytes[i].is_ascii_digit() {
                i += 1;
                continue;
            }
            let start = i;
            let mut end = i;
            let mut digits = 0;
            // A run goes on over one separator between two digits.
            while i < bytes.len() {
                if bytes[i].is_ascii_digit() {
                    digits += 1;
                    i += 1;
                    end = i;
                } else if matches!(bytes[i], b' ' | b'.' | b'-' | b'_')
                    && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
                {
                    i += 1;
                } else {
                    break;
                }
            }
            i = end.max(i);
            if digits >= MIN_DIGITS && !is_date(&value[start..end]) {
                return Some((start, end, digits));
            }
        }
        None
    })
}

/// The shape of a date as a delivery writes one, right or wrong: `yyyy-mm-dd` or
/// `dd-mm-yyyy` (with `-` or `.`), a year from 1000 to 2999 and day and month under 40.
fn is_date(run: &str) -> bool {
    if run.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let mut parts = run.split(['-', '.']);
    let (Some(first), Some(second), Some(third), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let num = |s: &str| s.parse::<u32>().ok();
    let (year, a, b) = match (first.len(), second.len(), third.len()) {
        (4, 2, 2) => (num(first), num(second), num(third)),
        (2, 2, 4) => (num(third), num(second), num(first)),
        _ => return false,
    };
    matches!((year, a, b), (Some(y), Some(a), Some(b)) if (1000..=2999).contains(&y) && a < 40 && b < 40)
}

fn mask_runs(value: &str, runs: &[(usize, usize, usize)]) -> String {
    let mut out = String::with_capacity(value.len());
    let mut last = 0;
    for &(start, end, digits) in runs {
        out.push_str(&value[last..start]);
        let shown = if digits <= SHOW_UP_TO {
            SHOWN_DIGITS
        } else {
            0
        };
        let mut seen = 0;
        for b in value[start..end].bytes() {
            if b.is_ascii_digit() {
                seen += 1;
                out.push(if seen > digits - shown {
                    b as char
                } else {
                    '*'
                });
            } else {
                out.push(b as char);
            }
        }
        last = end;
    }
    out.push_str(&value[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(value: &str, expected: &str) {
        assert_eq!(text(value), expected, "{value:?}");
    }

    #[test]
    fn every_run_of_eight_or_more_digits_is_masked_wherever_it_stands() {
        check("123456782", "*******82");
        check("12345678", "******78");
        check("0123456782", "********82");
        check("x;123456782;8", "x;*******82;8");
        check(
            "11111111,123456782,M1,2026-01-05",
            "******11,*******82,M1,2026-01-05",
        );
        check("1234 56 782", "**** ** *82");
        check("123.456.782", "***.***.*82");
        check("12-34-56-782", "**-**-**-*82");
        check("123_456_782.csv", "***_***_*82.csv");
        check("bsn 123456782 and 111222333", "bsn *******82 and *******33");
        check("123456782123456782", "******************");
        check("M-2024-1", "M-2024-1");
        check("1234567", "1234567");
        check("score 8.5, line 12", "score 8.5, line 12");
    }

    #[test]
    fn dates_stay_readable() {
        check("2026-11-30", "2026-11-30");
        check("30-11-2026", "30-11-2026");
        check("30.11.2026", "30.11.2026");
        check("2026-13-01", "2026-13-01");
        check("31-02-2026", "31-02-2026");
        check("1234-56-78", "****-**-78");
        check("3123-01-01", "****-**-01");
    }

    #[test]
    fn controls_and_bidi_overrides_cannot_forge_or_reorder_a_line() {
        check("a\nline: forged", "a\\u{a}line: forged");
        check("invoice\u{202E}fdp.csv", "invoice\\u{202e}fdp.csv");
        check("tab\there", "tab\\u{9}here");
        assert!(matches!(text("plain"), Cow::Borrowed(_)));
    }
}
