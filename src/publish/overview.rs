//! `Overzicht.html`, in every municipality bundle (issue 14): the bundle's figures per
//! quarter as one page that opens offline in any browser, with a chart per figure and the
//! same numbers in a table beside it.
//!
//! Per care provider its figures side by side, and each one's response over the quarters.
//! Built from `publish::page`, which makes it self-contained and inert.

use std::collections::BTreeMap;

use maud::{Markup, html};

use super::codebook::{About, Words};
use super::page;
use crate::figures::{Figures, ON_TIME_DAYS};
use crate::ledger::{DeliveryOut, GroupIndicators, Indicators};
use crate::message::Language;
use crate::sheet::percent;

/// The page's name in the bundle.
pub(crate) const NAME: &str = "Overzicht.html";

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
    pub per_provider: &'a [GroupIndicators],
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
    let say = page::say(language);
    let title = format!(
        "{} {} ({})",
        say("Overzicht", "Overview"),
        about.municipality,
        about.code
    );
    let body = html! {
        p {
            (say("Bundel", "Bundle")) " " code { (about.bundle) } ", "
            (say("gemaakt op", "made on")) " " (about.made) ". "
            (say(
                "De cijfers zijn dezelfde als in Indicatoren.csv en IndicatorenPerAanbieder.csv in deze bundel.",
                "The figures are those of Indicatoren.csv and IndicatorenPerAanbieder.csv in this bundle.",
            ))
        }
        h2 { (say("Kengetallen per kwartaal", "Figures per quarter")) }
        (page::quarter_table(
            "per-kwartaal",
            say("Kengetallen per kwartaal van de einddatum", "Figures per quarter of the end date"),
            figures,
            language,
        ))
        (page::charts("gemeente", figures, language))
        h2 { (say("Per zorgaanbieder", "Per care provider")) }
        (provider_table(per_provider, senders, language))
        (provider_chart(per_provider, senders, language))
        (provider_trends(per_provider, senders, language))
        h2 { (say("Leveringen in deze bundel", "Deliveries in this bundle")) }
        (delivery_table(deliveries, senders, language))
        h2 { (say("Uitleg", "Explanation")) }
        (page::explanation(language))
    };
    page::document(&title, body, language)
}

/// The figures per quarter and provider, side by side (`IndicatorenPerAanbieder.csv`).
fn provider_table(
    rows: &[GroupIndicators],
    senders: &BTreeMap<&str, &str>,
    language: Language,
) -> Markup {
    let say = page::say(language);
    html! {
        table #per-aanbieder {
            caption { (say("Kengetallen per kwartaal en per zorgaanbieder", "Figures per quarter and per care provider")) }
            (page::figure_headers(&[say("Kwartaal", "Quarter"), say("Zorgaanbieder", "Care provider")], language))
            tbody {
                @for ((period, agb), f) in rows {
                    tr {
                        th scope="row" data-kolom="periode" { (period) }
                        th scope="row" data-kolom="zorgaanbiedercode" { (page::party_name(agb, senders)) }
                        (page::figure_cells(f, language))
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
    rows: &[GroupIndicators],
    senders: &BTreeMap<&str, &str>,
    language: Language,
) -> Markup {
    let say = page::say(language);
    let Some(((latest, _), _)) = rows.last() else {
        return html! {};
    };
    let parties: Vec<(String, &Figures)> = rows
        .iter()
        .filter(|((period, _), _)| period == latest)
        .map(|((_, agb), f)| (page::party_name(agb, senders), f))
        .collect();
    let title = format!(
        "{} {latest}",
        say("Respons per zorgaanbieder,", "Response per care provider,")
    );
    page::side_by_side(
        "respons-per-aanbieder",
        &title,
        say(
            "Het aandeel beëindigde beschikkingen met een volledige meting, per zorgaanbieder in het laatste kwartaal.",
            "The share of ended decisions with a complete measurement, per care provider in the latest quarter.",
        ),
        &parties,
        language,
    )
}

/// Each provider's response over the quarters: one chart per provider, in code order.
fn provider_trends(
    rows: &[GroupIndicators],
    senders: &BTreeMap<&str, &str>,
    language: Language,
) -> Markup {
    let say = page::say(language);
    let mut per_provider: BTreeMap<&str, Vec<Indicators>> = BTreeMap::new();
    for ((period, agb), f) in rows {
        per_provider
            .entry(agb)
            .or_default()
            .push((period.clone(), f.clone()));
    }
    html! {
        @if !per_provider.is_empty() {
            h3 { (say("Respons per kwartaal, per zorgaanbieder", "Response per quarter, per care provider")) }
            @for (agb, figures) in &per_provider {
                (page::response_trend(
                    &format!("trend-{agb}"),
                    &format!("{}: {}", say("Respons", "Response"), page::party_name(agb, senders)),
                    figures,
                    language,
                ))
            }
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
