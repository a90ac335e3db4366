//! Parsers for the kinds of value the datasets share: codes of fixed digits, bounded text,
//! dates in the accepted forms, decimals with a point or a comma.

use chrono::NaiveDate;

use super::Message;

/// Exactly `n` ASCII digits.
pub(super) fn digits(value: &str, n: usize) -> Result<String, Message> {
    if value.len() == n && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(value.to_owned())
    } else {
        Err(Message::new(
            format!("moet precies {n} cijfers zijn"),
            format!("must be exactly {n} digits"),
        ))
    }
}

/// 1 to `max` printable characters.
pub(super) fn text(value: &str, max: usize) -> Result<String, Message> {
    let len = value.chars().count();
    if len == 0 {
        return Err(super::required());
    }
    if len > max {
        return Err(Message::new(
            format!("mag hoogstens {max} tekens zijn"),
            format!("must be at most {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(Message::new(
            "mag geen stuurtekens bevatten",
            "must not hold control characters",
        ));
    }
    Ok(value.to_owned())
}

/// `yyyy-mm-dd` or `dd-mm-yyyy`, also with `/`; a spreadsheet date cell arrives as
/// `yyyy-mm-dd` (with ` 00:00:00` when the cell had a time part).
pub(super) fn date(value: &str) -> Result<NaiveDate, Message> {
    let value = value.strip_suffix(" 00:00:00").unwrap_or(value);
    if let Some(date) = iso_date(value) {
        return Ok(date);
    }
    for format in ["%Y-%m-%d", "%d-%m-%Y", "%Y/%m/%d", "%d/%m/%Y"] {
        if let Ok(date) = NaiveDate::parse_from_str(value, format) {
            // chrono accepts 1- and 3-digit years; a delivered date has four.
            if (1900..=2999).contains(&chrono::Datelike::year(&date)) {
                return Ok(date);
            }
        }
    }
    Err(Message::new(
        "moet een datum zijn als jjjj-mm-dd of dd-mm-jjjj",
        "must be a date as yyyy-mm-dd or dd-mm-yyyy",
    ))
}

/// `yyyy-mm-dd` read directly: the common form, and the one chrono's general parser is
/// slowest at when called a million times.
fn iso_date(value: &str) -> Option<NaiveDate> {
    let b = value.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let year = i32::try_from(num(0..4)?).ok()?;
    if !(1900..=2999).contains(&year) {
        return None;
    }
    NaiveDate::from_ymd_opt(year, num(5..7)?, num(8..10)?)
}

/// A decimal number with a point or a comma.
pub(super) fn decimal(value: &str) -> Result<f64, Message> {
    let parsed = if value.contains(',') {
        let normalised = value.replacen(',', ".", 1);
        normalised
            .parse::<f64>()
            .ok()
            .filter(|_| !normalised.contains(['e', 'E']))
    } else {
        value
            .parse::<f64>()
            .ok()
            .filter(|_| !value.contains(['e', 'E']))
    };
    match parsed {
        Some(n) if n.is_finite() => Ok(n),
        _ => Err(Message::new(
            "moet een getal zijn (met decimale komma of punt)",
            "must be a number (decimal point or comma)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_in_every_accepted_form() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap();
        for form in [
            "2026-03-29",
            "29-03-2026",
            "2026/03/29",
            "29/03/2026",
            "2026-03-29 00:00:00",
        ] {
            assert_eq!(date(form), Ok(d), "{form}");
        }
        for bad in [
            "29-3-26",
            "2026-02-30",
            "03/29/2026",
            "",
            "tomorrow",
            "0026-03-29",
        ] {
            assert!(date(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn decimals_take_a_point_or_a_comma() {
        assert_eq!(decimal("8,5"), Ok(8.5));
        assert_eq!(decimal("-1.25"), Ok(-1.25));
        for bad in ["1,2,3", "NaN", "inf", "1e3", "", "acht"] {
            assert!(decimal(bad).is_err(), "{bad}");
        }
    }
}
