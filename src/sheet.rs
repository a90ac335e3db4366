//! The one CSV dialect of everything dropgate writes for people's spreadsheets (receipts,
//! bundles, the specification): UTF-8 with a byte order mark, `;` between values, CRLF, and
//! no cell that a spreadsheet would run as a formula; numbers with a decimal comma.

/// The UTF-8 byte order mark: Excel reads the file as UTF-8 only with it.
pub(crate) const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A CSV writer builder in the dialect (`;`, CRLF); the caller writes the [`BOM`] first.
pub(crate) fn writer() -> csv::WriterBuilder {
    let mut builder = csv::WriterBuilder::new();
    builder.delimiter(b';').terminator(csv::Terminator::CRLF);
    builder
}

/// A spreadsheet program would run a cell that starts like a formula: make it text. A
/// negative number (`-1`, `-0,5`) is left a number.
pub(crate) fn guard_formula(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) && !is_number(value) {
        format!("'{value}")
    } else {
        value.to_owned()
    }
}

/// `value` with `decimals` decimals and a decimal comma, as a Dutch spreadsheet (and a Dutch
/// reader) reads it.
pub(crate) fn number(value: f64, decimals: usize) -> String {
    format!("{value:.decimals$}").replace('.', ",")
}

/// A share (0 to 1) as a percentage with one decimal and a decimal comma: `75,0%`.
pub(crate) fn percent(share: f64) -> String {
    format!("{}%", number(share * 100.0, 1))
}

/// Whether `value` is a plain decimal number: an optional minus, digits, and at most one
/// decimal comma or point followed by digits.
fn is_number(value: &str) -> bool {
    let digits = value.strip_prefix('-').unwrap_or(value);
    let mut parts = digits.splitn(2, [',', '.']);
    let whole = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    parts.next().is_some_and(whole) && parts.next().is_none_or(whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_defused() {
        assert_eq!(guard_formula("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(guard_formula("-1"), "-1");
        assert_eq!(guard_formula("-0,75"), "-0,75");
        assert_eq!(guard_formula("-2.5"), "-2.5");
        assert_eq!(guard_formula("-1+1"), "'-1+1");
        assert_eq!(guard_formula("-"), "'-");
        assert_eq!(guard_formula("-1,"), "'-1,");
        assert_eq!(guard_formula("+1"), "'+1");
        assert_eq!(guard_formula("abc"), "abc");
    }
}
