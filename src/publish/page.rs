//! What the HTML reports share (issue 14): the frame of a self-contained page, and the
//! figures per quarter as a table and as charts. `publish::overview` (in every bundle) and
//! `publish::report` (a care provider's monthly report) are made of these.
//!
//! A page is self-contained and inert: no script, font, image or link leaves the file, and
//! its Content-Security-Policy forbids loading anything at all. Every value passes maud's
//! escaping (the template cannot concatenate unescaped text), charts are SVG drawn by
//! `publish::chart`, and the print style fits A4. Every figure cell is marked with its
//! column in the CSV beside the page (`data-kolom`), so that a test, or a reader's script,
//! can hold the two side by side.

use std::collections::BTreeMap;

use maud::{DOCTYPE, Markup, html};

use super::chart::{self, Bar};
use super::codebook::{INDICATOREN, Words};
use crate::figures::{Figures, MIN_CLIENTS};
use crate::ledger::Indicators;
use crate::message::Language;
use crate::sheet::{self, percent};

/// Nothing may load and nothing may run; only the page's own style applies.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'none'; base-uri 'none'";

/// Readable at 1280 pixels and on A4 (and on any screen down to its width): one column,
/// tables that shrink and wrap to fit, charts that scale.
const STYLE: &str = "\
body{font-family:sans-serif;color:#000;background:#fff;max-width:60rem;margin:1.5rem auto;padding:0 1rem;line-height:1.4}\
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #000}h3{font-size:1.05rem}\
table{border-collapse:collapse;width:100%;font-size:.95rem;margin-bottom:1rem}\
th,td{border:1px solid #444;padding:.3rem .5rem;text-align:right;overflow-wrap:break-word;hyphens:none}\
th:first-child,td:first-child,th[scope=row]{text-align:left}th[scope=row]{overflow-wrap:anywhere}\
td.niet-getoond{text-align:center;font-style:italic}td.tekst{text-align:left;overflow-wrap:anywhere}\
figure{margin:1rem 0;break-inside:avoid}figure svg{max-width:40rem;height:auto}figcaption{font-weight:bold}\
nav ul{columns:2}dt{font-weight:bold;margin-top:.5rem}\
@media (max-width:50rem){table{font-size:.75rem}th,td{padding:.2rem .25rem;hyphens:manual}}\
@page{size:A4;margin:15mm}@media print{body{max-width:none;margin:0;padding:0}table{font-size:.75rem}th,td{padding:.2rem .25rem;hyphens:manual}h2{break-after:avoid}nav{display:none}}";

/// The words of `language`.
pub(super) fn say(language: Language) -> impl Fn(&'static str, &'static str) -> &'static str {
    move |nl, en| Words::new(nl, en).pick(language)
}

/// A whole page: `title` as its title and first heading, then `body`.
pub(super) fn document(title: &str, body: Markup, language: Language) -> String {
    let lang = match language {
        Language::Dutch => "nl",
        Language::English => "en",
    };
    html! {
        (DOCTYPE)
        html lang=(lang) {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content=(CSP);
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (maud::PreEscaped(STYLE)) }
            }
            body {
                h1 { (title) }
                (body)
            }
        }
    }
    .into_string()
}

/// A tenant as a page names it: its configured name (if any) and its code.
pub(super) fn party_name(code: &str, names: &BTreeMap<&str, &str>) -> String {
    match names.get(code) {
        Some(name) => format!("{name} ({code})"),
        None => format!("({code})"),
    }
}

/// A line's figures after its period (and party), each cell marked with its column in
/// the CSV; suppressed figures are one cell that says so.
pub(super) fn figure_cells(f: &Figures, language: Language) -> Markup {
    let or_blank = |v: Option<String>| v.unwrap_or_default();
    html! {
        @if f.suppressed() {
            td.niet-getoond colspan="7" data-kolom="onderdrukt" { (not_shown(language)) }
        } @else {
            td data-kolom="beeindigd" { (f.ended) }
            td data-kolom="clienten" { (f.clients) }
            td data-kolom="respons" { (or_blank(f.response().map(percent))) }
            td data-kolom="ct_gemiddeld" { (or_blank(f.ct.value().map(|v| sheet::number(v, 2)))) }
            td data-kolom="gas_gemiddeld" { (or_blank(f.gas.value().map(|v| sheet::number(v, 2)))) }
            td data-kolom="uitval" { (or_blank(f.dropout_share().map(percent))) }
            td data-kolom="metingen" { (f.measurements) }
        }
    }
}

/// The suppressed figures' cell text.
pub(super) fn not_shown(language: Language) -> String {
    match language {
        Language::Dutch => format!("niet getoond (minder dan {MIN_CLIENTS} cliënten)"),
        Language::English => format!("not shown (fewer than {MIN_CLIENTS} clients)"),
    }
}

/// The header cells of the figures, after the `first` columns.
pub(super) fn figure_headers(first: &[&str], language: Language) -> Markup {
    let say = say(language);
    // Soft hyphens (U+00AD): on a narrow page (A4 in print) a long word may break there,
    // with a hyphen, instead of pushing the table wider than the page; the style honours
    // them only there (`hyphens: manual`).
    let columns = [
        say(
            "Beëin\u{ad}dig\u{ad}de be\u{ad}schik\u{ad}kin\u{ad}gen",
            "Ended decisions",
        ),
        say("Cli\u{ad}ën\u{ad}ten", "Clients"),
        say("Res\u{ad}pons", "Response"),
        say("Ge\u{ad}mid\u{ad}del\u{ad}de CT", "Mean CT"),
        say("Ge\u{ad}mid\u{ad}del\u{ad}de GAS", "Mean GAS"),
        say("Uit\u{ad}val", "Dropout"),
        say("Me\u{ad}tin\u{ad}gen", "Mea\u{ad}sure\u{ad}ments"),
    ];
    html! {
        thead { tr {
            @for c in first { th scope="col" { (c) } }
            @for c in columns { th scope="col" { (c) } }
        } }
    }
}

/// A table with one row per quarter, marked `id`: each cell carries its column in
/// `Indicatoren.csv` (`data-kolom`).
pub(super) fn quarter_table(
    id: &str,
    caption: &str,
    figures: &[Indicators],
    language: Language,
) -> Markup {
    let say = say(language);
    html! {
        table id=(id) {
            caption { (caption) }
            (figure_headers(&[say("Kwartaal", "Quarter")], language))
            tbody {
                @for (period, f) in figures {
                    tr {
                        th scope="row" data-kolom="periode" { (period) }
                        (figure_cells(f, language))
                    }
                }
                @if figures.is_empty() {
                    tr { td colspan="8" { (say("Nog geen beëindigde beschikkingen.", "No ended decisions yet.")) } }
                }
            }
        }
    }
}

/// A figure's bar as a chart shows it: its value, or why there is none (suppressed, or
/// nothing to count).
fn bar(label: String, f: &Figures, value: Option<f64>, share: bool, language: Language) -> Bar {
    let value = (!f.suppressed()).then_some(value).flatten();
    let shown = match value {
        Some(v) if share => percent(v),
        Some(v) => sheet::number(v, 2),
        // Shown, but nothing to count (no GAS measurement, say).
        None if !f.suppressed() => say(language)("geen", "none").to_owned(),
        None => String::new(),
    };
    Bar {
        label,
        value,
        shown,
    }
}

/// One chart per figure over the quarters, ids starting with `id`; a suppressed quarter
/// keeps its place, marked.
pub(super) fn charts(id: &str, figures: &[Indicators], language: Language) -> Markup {
    let say = say(language);
    let missing = say("n.g.", "n.s.");
    type Pick = fn(&Figures) -> Option<f64>;
    let series: [(&str, &str, &str, Pick, bool, f64); 4] = [
        (
            "respons",
            say("Respons", "Response"),
            say(
                "Het aandeel beëindigde beschikkingen met een volledige meting, per kwartaal.",
                "The share of ended decisions with a complete measurement, per quarter.",
            ),
            |f| f.response(),
            true,
            1.0,
        ),
        (
            "ct",
            say("Gemiddelde CT-score", "Mean CT score"),
            say(
                "De gemiddelde CT-score over volledige metingen, per kwartaal.",
                "The mean CT score over complete measurements, per quarter.",
            ),
            |f| f.ct.value(),
            false,
            0.0,
        ),
        (
            "gas",
            say("Gemiddelde GAS-score", "Mean GAS score"),
            say(
                "De gemiddelde GAS-score over volledige metingen, per kwartaal.",
                "The mean GAS score over complete measurements, per quarter.",
            ),
            |f| f.gas.value(),
            false,
            0.0,
        ),
        (
            "uitval",
            say("Uitval", "Dropout"),
            say(
                "Het aandeel beschikkingen dat eindigde met reden 32 tot en met 35, per kwartaal.",
                "The share of decisions that ended for reasons 32 to 35, per quarter.",
            ),
            |f| f.dropout_share(),
            true,
            1.0,
        ),
    ];
    html! {
        @if !figures.is_empty() {
            @for (name, title, description, pick, share, max) in series {
                @let bars: Vec<Bar> = figures
                    .iter()
                    .map(|(period, f)| bar(period.clone(), f, pick(f), share, language))
                    .collect();
                figure {
                    figcaption { (title) }
                    (chart::bars(&format!("{id}-{name}"), title, description, &bars, max, missing))
                }
            }
            p { (missing) ": " (not_shown(language)) }
        }
    }
}

/// The response of one party over the quarters, as a chart titled `title` with id `id`.
pub(super) fn response_trend(
    id: &str,
    title: &str,
    figures: &[Indicators],
    language: Language,
) -> Markup {
    let say = say(language);
    let bars: Vec<Bar> = figures
        .iter()
        .map(|(period, f)| bar(period.clone(), f, f.response(), true, language))
        .collect();
    html! {
        @if !bars.is_empty() {
            figure {
                figcaption { (title) }
                (chart::bars(
                    id,
                    title,
                    say(
                        "Het aandeel beëindigde beschikkingen met een volledige meting, per kwartaal.",
                        "The share of ended decisions with a complete measurement, per quarter.",
                    ),
                    &bars,
                    1.0,
                    say("n.g.", "n.s."),
                ))
            }
        }
    }
}

/// Bars of one figure for several parties side by side (the latest quarter's response of
/// each provider, say).
pub(super) fn side_by_side(
    id: &str,
    title: &str,
    description: &str,
    parties: &[(String, &Figures)],
    language: Language,
) -> Markup {
    let bars: Vec<Bar> = parties
        .iter()
        .map(|(label, f)| bar(label.clone(), f, f.response(), true, language))
        .collect();
    html! {
        figure {
            figcaption { (title) }
            (chart::bars(id, title, description, &bars, 1.0, say(language)("n.g.", "n.s.")))
        }
    }
}

/// What each figure counts: the meanings `Indicatoren.csv` and `LEESMIJ.txt` give.
pub(super) fn explanation(language: Language) -> Markup {
    html! {
        dl {
            @for column in INDICATOREN.columns {
                dt { code { (column.name) } }
                dd { (column.meaning.pick(language)) }
            }
        }
    }
}
