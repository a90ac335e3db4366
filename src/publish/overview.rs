//! `Overzicht.html`, in every municipality bundle (issue 14): the bundle's figures per
//! quarter as one page that opens offline in any browser, with a chart per figure and the
//! same numbers in a table beside it.
//!
//! The page is self-contained and inert: no script, font, image or link leaves the file,
//! and its Content-Security-Policy forbids loading anything at all. Every value passes
//! maud's escaping (the template cannot concatenate unescaped text), charts are SVG drawn
//! by `publish::chart`, and the print style fits A4.

use std::collections::BTreeMap;

use maud::{DOCTYPE, Markup, html};

use super::chart::{self, Bar};
use super::codebook::{About, INDICATOREN, Words};
use crate::figures::{MIN_CLIENTS, ON_TIME_DAYS};
use crate::ledger::{DeliveryOut, Indicators, ProviderIndicators};
use crate::message::Language;
use crate::sheet::{self, percent};

/// The page's name in the bundle.
pub(crate) const NAME: &str = "Overzicht.html";

/// Nothing may load and nothing may run; only the page's own style applies.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'none'; base-uri 'none'";

/// Readable at 1280 pixels and on A4: one column, tables that fit, charts that scale.
const STYLE: &str = "\
body{font-family:sans-serif;color:#000;background:#fff;max-width:60rem;margin:1.5rem auto;padding:0 1rem;line-height:1.4}\
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #000}\
table{border-collapse:collapse;width:100%;font-size:.95rem}\
th,td{border:1px solid #444;padding:.3rem .5rem;text-align:right}\
th:first-child,td:first-child,th[scope=row]{text-align:left}\
td.niet-getoond{text-align:center;font-style:italic}td.tekst{text-align:left}\
figure{margin:1rem 0;break-inside:avoid}figure svg{max-width:40rem;height:auto}figcaption{font-weight:bold}\
dt{font-weight:bold;margin-top:.5rem}\
@page{size:A4;margin:15mm}@media print{body{max-width:none;margin:0}h2{break-after:avoid}}";

/// How many reasons the overview names per sender.
const TOP_REASONS: usize = 3;

/// The deliveries of a bundle's `Kwaliteit.csv`, summed per sender.
#[derive(Debug, Default)]
pub(crate) struct Deliveries {
    senders: BTreeMap<String, Sent>,
}

#[derive(Debug, Default)]
struct Sent {
    deliveries: u64,
    rows: i64,
    accepted: i64,
    rejected: i64,
    /// Problems per reason (its label), over the reasons each delivery lists.
    reasons: BTreeMap<String, i64>,
    /// Accepted rows of the measurement deliveries whose on-time count is known: the share
    /// on time is taken over those only, so that a delivery from before the count (or a
    /// decision file) weighs on neither side.
    measured: i64,
    /// Of those, the rows that came on time.
    on_time: i64,
}

impl Deliveries {
    /// Counts `delivery`, whose reasons are named in `language`.
    pub(crate) fn add(&mut self, delivery: &DeliveryOut, language: Language) {
        let sent = self.senders.entry(delivery.sender.clone()).or_default();
        sent.deliveries += 1;
        sent.rows += delivery.rows.unwrap_or(0);
        sent.accepted += delivery.accepted.unwrap_or(0);
        sent.rejected += delivery.rejected.unwrap_or(0);
        if let Some(on_time) = delivery.on_time {
            sent.measured += delivery.accepted.unwrap_or(0);
            sent.on_time += on_time;
        }
        for (rule, n) in &delivery.reasons {
            *sent
                .reasons
                .entry(super::reason_label(rule, language))
                .or_default() += n;
        }
    }
}

impl Sent {
    /// The most frequent reasons, most first (then by name), as `label (n)`.
    fn top_reasons(&self) -> String {
        let mut reasons: Vec<(&String, &i64)> = self.reasons.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let listed: Vec<String> = reasons
            .iter()
            .take(TOP_REASONS)
            .map(|(label, n)| format!("{label} ({n})"))
            .collect();
        listed.join(", ")
    }

    /// The share of accepted measurements that came on time, as a percentage; empty when
    /// the sender had no accepted measurement whose count is known (decisions only, say).
    fn on_time(&self) -> String {
        if self.measured > 0 {
            percent(self.on_time as f64 / self.measured as f64)
        } else {
            String::new()
        }
    }
}

/// What the page shows.
pub(crate) struct Contents<'a> {
    pub about: &'a About<'a>,
    /// The figures per quarter, oldest first (`Indicatoren.csv`).
    pub figures: &'a [Indicators],
    /// The same per quarter and provider (`IndicatorenPerAanbieder.csv`).
    pub per_provider: &'a [ProviderIndicators],
    /// The bundle's deliveries per sender (`Kwaliteit.csv`).
    pub deliveries: &'a Deliveries,
    /// Tenant names by code, for senders and providers.
    pub senders: &'a BTreeMap<&'a str, &'a str>,
}

/// The page of `contents`.
pub(crate) fn render(contents: &Contents<'_>, language: Language) -> String {
    let Contents {
        about,
        figures,
        per_provider,
        deliveries,
        senders,
    } = *contents;
    let say = |nl: &'static str, en: &'static str| Words::new(nl, en).pick(language);
    let title = format!(
        "{} {} ({})",
        say("Overzicht", "Overview"),
        about.municipality,
        about.code
    );
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
                p {
                    (say("Bundel", "Bundle")) " " code { (about.bundle) } ", "
                    (say("gemaakt op", "made on")) " " (about.made) ". "
                    (say(
                        "De cijfers zijn dezelfde als in Indicatoren.csv in deze bundel.",
                        "The figures are those of Indicatoren.csv in this bundle.",
                    ))
                }
                h2 { (say("Kengetallen per kwartaal", "Figures per quarter")) }
                (table(figures, language))
                (charts(figures, language))
                h2 { (say("Per zorgaanbieder", "Per care provider")) }
                (provider_table(per_provider, senders, language))
                (provider_chart(per_provider, senders, language))
                h2 { (say("Leveringen in deze bundel", "Deliveries in this bundle")) }
                (delivery_table(deliveries, senders, language))
                h2 { (say("Uitleg", "Explanation")) }
                (explanation(language))
            }
        }
    }
    .into_string()
}

/// A provider as the page names it: its configured name (if any) and its code.
fn provider_name(code: &str, senders: &BTreeMap<&str, &str>) -> String {
    match senders.get(code) {
        Some(name) => format!("{name} ({code})"),
        None => format!("({code})"),
    }
}

/// The figures per quarter and provider, side by side (`IndicatorenPerAanbieder.csv`).
fn provider_table(
    rows: &[ProviderIndicators],
    senders: &BTreeMap<&str, &str>,
    language: Language,
) -> Markup {
    let say = |nl: &'static str, en: &'static str| Words::new(nl, en).pick(language);
    html! {
        table #per-aanbieder {
            caption { (say("Kengetallen per kwartaal en per zorgaanbieder", "Figures per quarter and per care provider")) }
            thead {
                tr {
                    th scope="col" { (say("Kwartaal", "Quarter")) }
                    th scope="col" { (say("Zorgaanbieder", "Care provider")) }
                    th scope="col" { (say("Beëindigd", "Ended")) }
                    th scope="col" { (say("Cliënten", "Clients")) }
                    th scope="col" { (say("Respons", "Response")) }
                    th scope="col" { (say("Gem. CT", "Mean CT")) }
                    th scope="col" { (say("Gem. GAS", "Mean GAS")) }
                    th scope="col" { (say("Uitval", "Dropout")) }
                    th scope="col" { (say("Metingen", "Measurements")) }
                }
            }
            tbody {
                @for ((period, agb), f) in rows {
                    tr {
                        th scope="row" data-kolom="periode" { (period) }
                        th scope="row" data-kolom="zorgaanbiedercode" { (provider_name(agb, senders)) }
                        (figure_cells(f, language))
                    }
                }
                @if rows.is_empty() {
                    tr { td colspan="9" { (say("Nog geen beëindigde beschikkingen.", "No ended decisions yet.")) } }
                }
            }
        }
    }
}

/// The response of each provider in the latest quarter, side by side.
fn provider_chart(
    rows: &[ProviderIndicators],
    senders: &BTreeMap<&str, &str>,
    language: Language,
) -> Markup {
    let say = |nl: &'static str, en: &'static str| Words::new(nl, en).pick(language);
    let Some(((latest, _), _)) = rows.last() else {
        return html! {};
    };
    let bars: Vec<Bar> = rows
        .iter()
        .filter(|((period, _), _)| period == latest)
        .map(|((_, agb), f)| {
            let value = (!f.suppressed()).then(|| f.response()).flatten();
            let shown = match value {
                Some(v) => percent(v),
                None if !f.suppressed() => say("geen", "none").to_owned(),
                None => String::new(),
            };
            Bar {
                label: provider_name(agb, senders),
                value,
                shown,
            }
        })
        .collect();
    let title = format!(
        "{} {latest}",
        say("Respons per zorgaanbieder,", "Response per care provider,")
    );
    html! {
        figure {
            figcaption { (title) }
            (chart::bars(
                "respons-per-aanbieder",
                &title,
                say("Het aandeel beëindigde beschikkingen met een volledige meting, per zorgaanbieder in het laatste kwartaal.", "The share of ended decisions with a complete measurement, per care provider in the latest quarter."),
                &bars,
                1.0,
                say("n.g.", "n.s."),
            ))
        }
    }
}

/// The deliveries of `Kwaliteit.csv` per sender: how many, their rows, the share of their
/// accepted measurements that came on time, and the most frequent reasons for rejected
/// rows.
fn delivery_table(
    deliveries: &Deliveries,
    senders: &BTreeMap<&str, &str>,
    language: Language,
) -> Markup {
    let say = |nl: &'static str, en: &'static str| Words::new(nl, en).pick(language);
    // What the "Tijdig" column counts, said under the table.
    let on_time = match language {
        Language::Dutch => format!(
            "Tijdig: het aandeel van de geaccepteerde metingen dat uiterlijk {ON_TIME_DAYS} dagen \
             na de meetdatum werd aangeleverd; leeg voor wie geen metingen leverde."
        ),
        Language::English => format!(
            "On time: the share of the accepted measurements delivered at most {ON_TIME_DAYS} \
             days after the measurement date; empty for a sender without measurements."
        ),
    };
    html! {
        table #leveringen {
            caption {
                (say(
                    "Leveringen die deze bundel in Kwaliteit.csv meldt, per aanleverancier",
                    "Deliveries this bundle reports in Kwaliteit.csv, per sender",
                ))
            }
            thead {
                tr {
                    th scope="col" { (say("Aanleverancier", "Sender")) }
                    th scope="col" { (say("Leveringen", "Deliveries")) }
                    th scope="col" { (say("Rijen", "Rows")) }
                    th scope="col" { (say("Geaccepteerd", "Accepted")) }
                    th scope="col" { (say("Afgekeurd", "Rejected")) }
                    th scope="col" { (say("Tijdig", "On time")) }
                    th scope="col" { (say("Meest voorkomende redenen", "Most frequent reasons")) }
                }
            }
            tbody {
                @for (code, sent) in &deliveries.senders {
                    tr {
                        th scope="row" data-kolom="aanleverancier" {
                            @if let Some(name) = senders.get(code.as_str()) { (name) " " }
                            "(" (code) ")"
                        }
                        td data-kolom="leveringen" { (sent.deliveries) }
                        td data-kolom="rijen" { (sent.rows) }
                        td data-kolom="geaccepteerd" { (sent.accepted) }
                        td data-kolom="afgekeurd" { (sent.rejected) }
                        td data-kolom="tijdig" { (sent.on_time()) }
                        td.tekst data-kolom="redenen" { (sent.top_reasons()) }
                    }
                }
                @if deliveries.senders.is_empty() {
                    tr { td colspan="7" { (say("Geen nieuwe leveringen.", "No new deliveries.")) } }
                }
            }
        }
        p { (on_time) }
    }
}

/// A line's figures after its period (and provider), each cell marked with its column in
/// the CSV; suppressed figures are one cell that says so.
fn figure_cells(f: &crate::figures::Figures, language: Language) -> Markup {
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
fn not_shown(language: Language) -> String {
    match language {
        Language::Dutch => format!("niet getoond (minder dan {MIN_CLIENTS} cliënten)"),
        Language::English => format!("not shown (fewer than {MIN_CLIENTS} clients)"),
    }
}

/// The table: one row per quarter, each cell marked with its column in `Indicatoren.csv`.
fn table(figures: &[Indicators], language: Language) -> Markup {
    let say = |nl: &'static str, en: &'static str| Words::new(nl, en).pick(language);
    let columns = [
        say("Kwartaal", "Quarter"),
        say("Beëindigde beschikkingen", "Ended decisions"),
        say("Cliënten", "Clients"),
        say("Respons", "Response"),
        say("Gemiddelde CT", "Mean CT"),
        say("Gemiddelde GAS", "Mean GAS"),
        say("Uitval", "Dropout"),
        say("Metingen", "Measurements"),
    ];
    html! {
        table #per-kwartaal {
            caption { (say("Kengetallen per kwartaal van de einddatum", "Figures per quarter of the end date")) }
            thead { tr { @for c in columns { th scope="col" { (c) } } } }
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

/// One chart per figure over the quarters; a suppressed quarter keeps its place, marked.
fn charts(figures: &[Indicators], language: Language) -> Markup {
    let say = |nl: &'static str, en: &'static str| Words::new(nl, en).pick(language);
    let missing = say("n.g.", "n.s.");
    let none = say("geen", "none");
    type Pick = fn(&crate::figures::Figures) -> Option<f64>;
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
            @for (id, title, description, pick, share, max) in series {
                @let bars: Vec<Bar> = figures.iter().map(|(period, f)| {
                    let value = (!f.suppressed()).then(|| pick(f)).flatten();
                    let shown = match value {
                        Some(v) if share => percent(v),
                        Some(v) => sheet::number(v, 2),
                        // Shown, but nothing to count (no GAS measurement, say).
                        None if !f.suppressed() => none.to_owned(),
                        None => String::new(),
                    };
                    Bar { label: period.clone(), value, shown }
                }).collect();
                figure {
                    figcaption { (title) }
                    (chart::bars(id, title, description, &bars, max, missing))
                }
            }
            p { (missing) ": " (not_shown(language)) }
        }
    }
}

/// What each figure counts: the meanings `Indicatoren.csv` and `LEESMIJ.txt` give.
fn explanation(language: Language) -> Markup {
    html! {
        dl {
            @for column in INDICATOREN.columns {
                dt { code { (column.name) } }
                dd { (column.meaning.pick(language)) }
            }
        }
    }
}
