//! A care provider's monthly report (issue 14): `Rapportage-<tenant>-<yyyy-mm>.html` and a
//! CSV of the same figures, put in the provider's `outbox/` for its users with `collect`.
//!
//! The page shows the figures per quarter over all municipalities whose decisions name the
//! provider ("alle gemeenten") and one section per municipality (links within the page),
//! the response over the twelve months the monthly mail reports, and how the provider's
//! deliveries of the month fared: when, how many rows, which checks failed how often. It is
//! built from `publish::page`, so it is as self-contained and inert as `Overzicht.html`.
//!
//! The files are written in `staging/`, recorded in the ledger as `BundleKind::Report`
//! together with the monthly mail that names them, and only then renamed into the outbox,
//! as a bundle is: retention and early deletion treat them as bundles, and a report already
//! recorded for a month is not made (or mailed) again.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use maud::{Markup, html};

use super::codebook::INDICATOREN;
use super::{PublishError, io_error, page, place};
use crate::config::{Config, Tenant, TenantKind};
use crate::figures::Figures;
use crate::layout::{OutboxLock, StateDir};
use crate::ledger::{
    BundleKind, DeliveryOut, Indicators, Ledger, NewBundle, ProviderFigures, QualityStats,
};
use crate::message::Language;

/// The first part of a report's name.
pub(crate) const PREFIX: &str = "Rapportage";

/// The gemeentecode of the lines over all municipalities together in the report's CSV.
pub(crate) const ALL: &str = "alle";

/// The report's page and CSV names for `tenant` and the month starting `month`.
pub(crate) fn names(tenant: &str, month: NaiveDate) -> (String, String) {
    let stem = format!("{PREFIX}-{tenant}-{}", month.format("%Y-%m"));
    (format!("{stem}.html"), format!("{stem}.csv"))
}

/// What one provider's report shows.
pub(crate) struct Contents<'a> {
    pub tenant: &'a Tenant,
    /// The first day of the month reported on.
    pub month: NaiveDate,
    /// When it was made, as people read it.
    pub made: &'a str,
    /// The CSV beside the page.
    pub csv: &'a str,
    /// The figures per quarter, over all municipalities and per municipality.
    pub figures: &'a ProviderFigures,
    /// The figures over the decisions that ended in `response_period`, per municipality (by
    /// CBS code).
    pub response: &'a [(String, Figures)],
    /// The months of the response, as an ISO interval (`2025-11/2026-10`).
    pub response_period: &'a str,
    pub stats: &'a QualityStats,
    /// The provider's deliveries processed in the month.
    pub deliveries: &'a [DeliveryOut],
    /// Municipality names by CBS code.
    pub municipalities: &'a BTreeMap<&'a str, &'a str>,
    pub time_zone: chrono_tz::Tz,
}

/// The CSV's header: the municipality, then `Indicatoren.csv`'s columns.
fn csv_header() -> Vec<&'static str> {
    let mut header = vec!["gemeentecode"];
    header.extend(INDICATOREN.header());
    header
}

/// The CSV's lines: per quarter over all municipalities (`alle`), per quarter and
/// municipality, then each municipality's twelve months of response.
fn csv_lines(c: &Contents<'_>) -> Vec<Vec<String>> {
    let line = |code: &str, period: &str, f: &Figures| {
        let mut cells = vec![code.to_owned(), period.to_owned()];
        cells.extend(super::figure_cells(f));
        cells
    };
    let overall = c.figures.overall.iter().map(|(q, f)| line(ALL, q, f));
    let split = by_municipality(c.figures)
        .into_iter()
        .flat_map(|(code, quarters)| {
            quarters
                .into_iter()
                .map(move |(q, f)| line(code, &q, &f))
                .collect::<Vec<_>>()
        });
    let response = c
        .response
        .iter()
        .map(|(code, f)| line(code, c.response_period, f));
    overall.chain(split).chain(response).collect()
}

/// A provider's figures per municipality (by CBS code), each oldest quarter first.
fn by_municipality(figures: &ProviderFigures) -> BTreeMap<&str, Vec<Indicators>> {
    let mut out: BTreeMap<&str, Vec<Indicators>> = BTreeMap::new();
    for ((quarter, code), f) in &figures.per_municipality {
        out.entry(code.as_str())
            .or_default()
            .push((quarter.clone(), f.clone()));
    }
    out
}

/// The page.
pub(crate) fn render(c: &Contents<'_>, language: Language) -> String {
    let say = page::say(language);
    let month = c.month.format("%Y-%m").to_string();
    let title = format!(
        "{} {} ({}), {month}",
        say("Rapportage", "Report"),
        c.tenant.name,
        c.tenant.code,
    );
    let municipalities = by_municipality(c.figures);
    let body = html! {
        p {
            (say("Gemaakt op", "Made on")) " " (c.made) ". "
            (say("De cijfers staan ook in", "The figures are also in")) " " code { (c.csv) } ". "
            (say(
                "Een beschikking telt mee in het kwartaal van haar einddatum.",
                "A decision counts in the quarter of its end date.",
            ))
        }
        nav {
            h2 { (say("Inhoud", "Contents")) }
            ul {
                li { a href="#alle-gemeenten" { (say("Alle gemeenten", "All municipalities")) } }
                @for code in municipalities.keys() {
                    li { a href=(format!("#gemeente-{code}")) { (page::party_name(code, c.municipalities)) } }
                }
                li { a href="#respons" { (say("Respons over twaalf maanden", "Response over twelve months")) } }
                li { a href="#leveringen" { (say("Uw leveringen deze maand", "Your deliveries this month")) } }
                li { a href="#uitleg" { (say("Uitleg", "Explanation")) } }
            }
        }
        section #alle-gemeenten {
            h2 { (say("Alle gemeenten", "All municipalities")) }
            (page::quarter_table(
                &format!("tabel-{ALL}"),
                say("Kengetallen per kwartaal, alle gemeenten samen", "Figures per quarter, all municipalities together"),
                &c.figures.overall,
                language,
            ))
            (page::charts(ALL, &c.figures.overall, language))
        }
        @for (code, quarters) in &municipalities {
            section id=(format!("gemeente-{code}")) {
                h2 { (page::party_name(code, c.municipalities)) }
                (page::quarter_table(
                    &format!("tabel-{code}"),
                    &format!("{} {}", say("Kengetallen per kwartaal,", "Figures per quarter,"), page::party_name(code, c.municipalities)),
                    quarters,
                    language,
                ))
                (page::response_trend(
                    &format!("trend-{code}"),
                    &format!("{}: {}", say("Respons", "Response"), page::party_name(code, c.municipalities)),
                    quarters,
                    language,
                ))
            }
        }
        section #respons {
            h2 { (say("Respons over twaalf maanden", "Response over twelve months")) }
            (response_table(c, language))
        }
        section #leveringen {
            h2 { (say("Uw leveringen deze maand", "Your deliveries this month")) " (" (month) ")" }
            (delivery_summary(c.stats, language))
            (delivery_table(c, language))
            (checks_table(c.stats, language))
        }
        section #uitleg {
            h2 { (say("Uitleg", "Explanation")) }
            p { (say("n.g.", "n.s.")) ": " (page::not_shown(language)) }
            (page::explanation(language))
        }
    };
    page::document(&title, body, language)
}

/// The figures over the twelve months of the monthly mail, per municipality.
fn response_table(c: &Contents<'_>, language: Language) -> Markup {
    let say = page::say(language);
    html! {
        table #respons-twaalf-maanden {
            caption {
                (say("Beschikkingen beëindigd in", "Decisions that ended in")) " " (c.response_period)
            }
            (page::figure_headers(&[say("Gemeente", "Municipality")], language))
            tbody {
                @for (code, f) in c.response {
                    tr {
                        th scope="row" data-kolom="gemeentecode" { (page::party_name(code, c.municipalities)) }
                        (page::figure_cells(f, language))
                    }
                }
                @if c.response.is_empty() {
                    tr { td colspan="8" { (say("Geen beëindigde beschikkingen in deze periode.", "No decisions ended in this period.")) } }
                }
            }
        }
    }
}

/// The month's deliveries, rows and outcomes in a few numbers.
fn delivery_summary(stats: &QualityStats, language: Language) -> Markup {
    let say = page::say(language);
    let total: u64 = stats.deliveries.iter().map(|(_, n)| n).sum();
    html! {
        dl {
            dt { (say("Leveringen", "Deliveries")) }
            dd data-kolom="leveringen" { (total) }
            dt { (say("Rijen", "Rows")) }
            dd data-kolom="rijen" { (stats.rows) }
            dt { (say("Geaccepteerd", "Accepted")) }
            dd data-kolom="geaccepteerd" { (stats.accepted) }
            dt { (say("Afgekeurd", "Rejected")) }
            dd data-kolom="afgekeurd" { (stats.rejected) }
            @if stats.measured > 0 {
                dt { (say("Tijdig aangeleverd", "Delivered on time")) }
                dd data-kolom="tijdig" {
                    (crate::sheet::percent(stats.on_time as f64 / stats.measured as f64))
                    " " (say("van de geaccepteerde metingen", "of the accepted measurements"))
                    " (" (on_time_rule(language)) ")"
                }
            }
        }
    }
}

/// Each delivery of the month: when it came and was processed, and how it fared.
fn delivery_table(c: &Contents<'_>, language: Language) -> Markup {
    let say = page::say(language);
    let moment = |t: DateTime<Utc>| {
        t.with_timezone(&c.time_zone)
            .format("%d-%m-%Y %H:%M")
            .to_string()
    };
    let count = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
    // Soft hyphens in the headers, as `page::figure_headers` has them.
    html! {
        table #leveringen-maand {
            caption { (say("Uw leveringen die deze maand werden verwerkt", "Your deliveries processed this month")) }
            thead { tr {
                th scope="col" { (say("Le\u{ad}ve\u{ad}ring", "De\u{ad}li\u{ad}very")) }
                th scope="col" { (say("Ge\u{ad}ge\u{ad}vens", "Data")) }
                th scope="col" { (say("Ont\u{ad}van\u{ad}gen", "Re\u{ad}ceived")) }
                th scope="col" { (say("Ver\u{ad}werkt", "Pro\u{ad}cessed")) }
                th scope="col" { (say("Uit\u{ad}komst", "Out\u{ad}come")) }
                th scope="col" { (say("Rij\u{ad}en", "Rows")) }
                th scope="col" { (say("Ge\u{ad}ac\u{ad}cep\u{ad}teerd", "Ac\u{ad}cep\u{ad}ted")) }
                th scope="col" { (say("Af\u{ad}ge\u{ad}keurd", "Re\u{ad}jec\u{ad}ted")) }
                th scope="col" { (say("Tij\u{ad}dig", "On time")) }
                th scope="col" { (say("Meest voorkomende redenen", "Most frequent reasons")) }
            } }
            tbody {
                @for d in c.deliveries {
                    tr {
                        td data-kolom="levering" { (d.id) }
                        td.tekst data-kolom="gegevens" { (d.dataset.as_deref().unwrap_or_default()) }
                        td data-kolom="ontvangen" { (moment(d.received_at)) }
                        td data-kolom="verwerkt" { (moment(d.processed_at)) }
                        td.tekst data-kolom="uitkomst" { (super::outcome(d.state)) }
                        td data-kolom="rijen" { (count(d.rows)) }
                        td data-kolom="geaccepteerd" { (count(d.accepted)) }
                        td data-kolom="afgekeurd" { (count(d.rejected)) }
                        td data-kolom="tijdig" { (count(d.on_time)) }
                        td.tekst data-kolom="redenen" {
                            @for (i, (rule, n)) in d.reasons.iter().enumerate() {
                                @if i > 0 { ", " }
                                (super::reason_label(rule, language)) " (" (n) ")"
                            }
                        }
                    }
                }
                @if c.deliveries.is_empty() {
                    tr { td colspan="10" { (say("Geen leveringen verwerkt deze maand.", "No deliveries processed this month.")) } }
                }
            }
        }
    }
}

/// What on time means, in a few words.
fn on_time_rule(language: Language) -> String {
    let days = crate::figures::ON_TIME_DAYS;
    match language {
        Language::Dutch => format!("binnen {days} dagen na de meetdatum"),
        Language::English => format!("within {days} days of the measurement date"),
    }
}

/// Which checks failed how often over the month's deliveries.
fn checks_table(stats: &QualityStats, language: Language) -> Markup {
    let say = page::say(language);
    html! {
        table #controles {
            caption { (say("Controles die rijen afkeurden, met hoe vaak", "Checks that rejected rows, and how often")) }
            thead { tr {
                th scope="col" { (say("Controle", "Check")) }
                th scope="col" { (say("Code", "Code")) }
                th scope="col" { (say("Aantal", "Count")) }
            } }
            tbody {
                @for (rule, n) in &stats.rules {
                    tr {
                        td.tekst data-kolom="controle" { (super::reason_label(rule, language)) }
                        td.tekst data-kolom="code" { code { (rule) } }
                        td data-kolom="aantal" { (n) }
                    }
                }
                @if stats.rules.is_empty() {
                    tr { td colspan="3" { (say("Geen afgekeurde rijen.", "No rejected rows.")) } }
                }
            }
        }
    }
}

/// Writes both files of `contents` into staging, records them with `mail` (the monthly
/// mail that names them, held until both are in place) in one transaction, and places them
/// in the tenant's outbox, which queues the mail (`wake` rings then). Whether it was made:
/// not if this month's report was recorded before, so that a rerun of the month's job makes
/// and mails nothing twice.
pub(crate) fn publish(
    config: &Config,
    ledger: &mut Ledger,
    contents: &Contents<'_>,
    mail: Option<(&crate::ledger::NewMail<'_>, &str)>,
    now: DateTime<Utc>,
    wake: &crate::mail::Wake,
) -> Result<bool, PublishError> {
    let tenant = contents.tenant;
    debug_assert_eq!(tenant.kind, TenantKind::Supplier);
    let (page_name, csv_name) = names(&tenant.id, contents.month);
    let state = StateDir::new(&config.state_dir);
    let _outboxes = OutboxLock::take(&state).map_err(io_error("staging/"))?;
    super::place_unplaced(&state, ledger, wake)?;
    if ledger.bundle_recorded(&page_name)? {
        return Ok(false);
    }
    let page = render(contents, config.language);
    let mut csv = Vec::new();
    write_csv(&mut csv, contents).map_err(io_error(&csv_name))?;
    let files = [(&page_name, page.as_bytes()), (&csv_name, &csv[..])];
    let mut records = Vec::new();
    for (name, bytes) in files {
        let staged = state.staging().join(name);
        let (size, sha256) = write_synced(&staged, bytes).map_err(io_error(name))?;
        records.push((name, size, sha256));
    }
    let rows = serde_json::json!({ &csv_name: csv_lines(contents).len() });
    let bundles: Vec<NewBundle<'_>> = records
        .iter()
        .map(|(name, size, sha256)| NewBundle {
            tenant: &tenant.id,
            name,
            kind: BundleKind::Report,
            rows: &rows,
            size_bytes: *size,
            sha256,
            product: None,
        })
        .collect();
    let ids = ledger.record_report(&bundles, mail, now)?;
    crate::pause::point("report.committed");
    for (id, (name, _, _)) in ids.into_iter().zip(&records) {
        place(&state, ledger, id, &tenant.id, name, wake)?;
    }
    tracing::info!(
        tenant = tenant.id,
        report = page_name,
        mailed = mail.is_some(),
        "monthly report published"
    );
    Ok(true)
}

/// The CSV in the bundles' dialect.
fn write_csv(out: &mut Vec<u8>, contents: &Contents<'_>) -> std::io::Result<()> {
    out.write_all(crate::sheet::BOM)?;
    let mut csv = crate::sheet::writer().from_writer(out);
    csv.write_record(csv_header())?;
    for line in csv_lines(contents) {
        csv.write_record(line.iter().map(|c| crate::sheet::guard_formula(c)))?;
    }
    csv.flush()?;
    Ok(())
}

/// Writes `bytes` to a new file at `path`, on disk before it returns; its size and digest.
fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<(u64, String)> {
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    crate::fingerprint::sha256_of(&mut std::fs::File::open(path)?)
}
