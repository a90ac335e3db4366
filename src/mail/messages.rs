//! The texts of dropgate's messages, plain and HTML, in Dutch (the default) or English.
//!
//! Inputs are counts, file names and receipt lines whose values are already masked; no
//! function here takes a BSN or a pseudonym, so none can put one in a message.

use std::fmt::Write as _;

use maud::{Markup, html};

use crate::figures::MIN_CLIENTS;
use crate::message::Language;

/// A message ready to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// One problem line as a receipt lists it: line, column, shown value, rule, message.
pub(crate) type ProblemLine = [String; 5];

/// A message's two bodies, built block by block: the plain text as written, the HTML
/// through maud, which escapes every value (no hand-made markup).
struct Body {
    text: String,
    html: Vec<Markup>,
}

impl Body {
    /// A body that opens with `opening` as its first paragraph.
    fn new(opening: &str) -> Self {
        Self {
            text: format!("{opening}\n\n"),
            html: vec![html! { p { (opening) } }],
        }
    }

    /// A two-column table of facts.
    fn facts<K: AsRef<str>, V: AsRef<str>>(&mut self, rows: &[(K, V)]) {
        for (k, v) in rows {
            let _ = writeln!(self.text, "{:>16}: {}", k.as_ref(), v.as_ref());
        }
        self.html.push(html! {
            table {
                @for (k, v) in rows {
                    tr { th align="left" { (k.as_ref()) } td { (v.as_ref()) } }
                }
            }
        });
    }

    /// A block: `text` (a line or more) in the plain part, `markup` in the HTML part.
    fn add(&mut self, text: &str, markup: Markup) {
        self.text.push_str(text);
        self.html.push(markup);
    }

    /// The message under `subject`.
    fn finish(self, subject: String) -> Text {
        let html = html! { html { body { @for block in &self.html { (block) } } } };
        Text {
            subject,
            text: self.text,
            html: html.into_string(),
        }
    }
}

impl Text {
    /// This text as a message to queue.
    pub(crate) fn to_mail<'a>(
        &'a self,
        kind: &'a str,
        tenant: &'a str,
        recipients: &'a [String],
    ) -> crate::ledger::NewMail<'a> {
        crate::ledger::NewMail {
            kind,
            tenant: Some(tenant),
            recipients,
            subject: &self.subject,
            text: &self.text,
            html: &self.html,
        }
    }
}

fn t<'a>(lang: Language, nl: &'a str, en: &'a str) -> &'a str {
    match lang {
        Language::Dutch => nl,
        Language::English => en,
    }
}

/// What the result mail of one delivery reports.
pub(crate) struct DeliveryResult<'a> {
    pub file: &'a str,
    pub received: &'a str,
    /// `processed`, `rejected`, `quarantined` or `duplicate`.
    pub state: &'a str,
    pub rows: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub error: Option<&'a str>,
    pub receipt: &'a str,
    /// The first problems (at most ten are shown).
    pub problems: &'a [ProblemLine],
}

fn state_text(lang: Language, state: &str) -> &'static str {
    match (state, lang) {
        ("processed", Language::Dutch) => "verwerkt",
        ("rejected", Language::Dutch) => "afgekeurd",
        ("quarantined", Language::Dutch) => "onleesbaar (in quarantaine)",
        ("duplicate", Language::Dutch) => "dubbel (eerder geleverd)",
        ("processed", _) => "processed",
        ("rejected", _) => "rejected",
        ("quarantined", _) => "unreadable (quarantined)",
        ("duplicate", _) => "duplicate (delivered before)",
        _ => "?",
    }
}

/// The outcome as a subject says it: the state, and for a processed file whether rows
/// were rejected.
fn outcome_text(lang: Language, r: &DeliveryResult<'_>) -> String {
    let (rejected, rows) = (r.rejected, r.rows);
    match (r.state, lang) {
        ("processed", _) if rejected == 0 => state_text(lang, r.state).to_owned(),
        ("processed", Language::Dutch) if r.accepted == 0 => {
            format!("afgekeurd, alle {rows} regels")
        }
        ("processed", Language::English) if r.accepted == 0 => {
            format!("rejected, all {rows} rows")
        }
        ("processed", Language::Dutch) => {
            format!("verwerkt, {rejected} van {rows} regels afgekeurd")
        }
        ("processed", Language::English) => {
            format!("processed, {rejected} of {rows} rows rejected")
        }
        ("quarantined", Language::Dutch) => "niet leesbaar".to_owned(),
        ("quarantined", Language::English) => "unreadable".to_owned(),
        _ => state_text(lang, r.state).to_owned(),
    }
}

/// The mail about one processed delivery.
pub(crate) fn delivery_result(lang: Language, r: &DeliveryResult<'_>) -> Text {
    let state = outcome_text(lang, r);
    let subject = format!("{} {}: {state}", t(lang, "Levering", "Delivery"), r.file);
    let facts = [
        (t(lang, "Bestand", "File"), r.file.to_owned()),
        (t(lang, "Ontvangen", "Received"), r.received.to_owned()),
        (t(lang, "Uitkomst", "Outcome"), state.clone()),
        (t(lang, "Rijen", "Rows"), r.rows.to_string()),
        (t(lang, "Geaccepteerd", "Accepted"), r.accepted.to_string()),
        (t(lang, "Afgekeurd", "Rejected"), r.rejected.to_string()),
        (
            t(lang, "Ontvangstbewijs", "Receipt"),
            format!("receipts/{}.result.csv", r.receipt),
        ),
    ];
    let mut body = Body::new(opening(lang, r.state));
    body.facts(&facts);
    if let Some(error) = r.error {
        let reason = t(lang, "Reden", "Reason");
        body.add(
            &format!("\n{reason}: {error}\n"),
            html! { p { b { (reason) ":" } " " (error) } },
        );
    }
    first_problems(lang, r, &mut body);
    body.finish(subject)
}

/// The first sentence of a delivery's result mail, by its state.
fn opening(lang: Language, state: &str) -> &'static str {
    match state {
        "processed" => t(
            lang,
            "Uw levering is verwerkt.",
            "Your delivery has been processed.",
        ),
        "quarantined" => t(
            lang,
            "Uw levering kon niet worden gelezen en is niet verwerkt.",
            "Your delivery could not be read and was not processed.",
        ),
        "duplicate" => t(
            lang,
            "Dit bestand was al eerder geleverd; het is niet opnieuw verwerkt.",
            "This file was delivered before; it was not processed again.",
        ),
        _ => t(
            lang,
            "Uw levering is afgekeurd en niet verwerkt.",
            "Your delivery was rejected and not processed.",
        ),
    }
}

/// The first problems of a delivery (at most ten) as a list and a table, and whether the
/// receipt holds more.
fn first_problems(lang: Language, r: &DeliveryResult<'_>, body: &mut Body) {
    let shown = &r.problems[..r.problems.len().min(10)];
    if shown.is_empty() {
        return;
    }
    let heading = t(
        lang,
        "Eerste fouten (regelnummer, kolom, waarde, controle)",
        "First errors (line, column, value, rule)",
    );
    let mut text = format!("\n{heading}:\n");
    for [line, column, value, rule, message] in shown {
        let _ = writeln!(text, "  {line}  {column}  {value:?}  {message} [{rule}]");
    }
    body.add(
        &text,
        html! {
            p { (heading) ":" }
            table border="1" cellpadding="3" {
                @for [line, column, value, rule, message] in shown {
                    tr { td { (line) } td { (column) } td { (value) } td { (message) " [" (rule) "]" } }
                }
            }
        },
    );
    if r.problems.len() > shown.len() || r.rejected as usize > shown.len() {
        let more = t(
            lang,
            "De overige staan in het ontvangstbewijs.",
            "The rest are in the receipt.",
        );
        body.add(&format!("  {more}\n"), html! { p { (more) } });
    }
}

/// A care provider's monthly report in its outbox, as its quality mail names it.
pub(crate) struct ReportFiles<'a> {
    /// The page (`Rapportage-<tenant>-<yyyy-mm>.html`).
    pub page: &'a str,
    /// The CSV of the same figures.
    pub csv: &'a str,
    pub kept_days: u32,
    /// The latest quarter over all municipalities, if any decision has ended.
    pub headline: Option<(&'a str, &'a crate::figures::Figures)>,
}

/// The monthly quality report of one tenant; for a care provider whose report was put in
/// its outbox, with the report's name and headline figures.
pub(crate) fn quality_report(
    lang: Language,
    tenant_name: &str,
    month: &str,
    stats: &crate::ledger::QualityStats,
    response: &ResponseSection,
    report: Option<&ReportFiles<'_>>,
) -> Text {
    let subject = format!(
        "{} {month}: {tenant_name}",
        t(lang, "Kwaliteitsrapport", "Quality report")
    );
    let total: u64 = stats.deliveries.iter().map(|(_, n)| n).sum();
    let mut facts = vec![
        (
            t(lang, "Leveringen", "Deliveries").to_owned(),
            total.to_string(),
        ),
        (t(lang, "Rijen", "Rows").to_owned(), stats.rows.to_string()),
        (
            t(lang, "Geaccepteerd", "Accepted").to_owned(),
            stats.accepted.to_string(),
        ),
        (
            t(lang, "Afgekeurd", "Rejected").to_owned(),
            stats.rejected.to_string(),
        ),
    ];
    for (state, n) in &stats.deliveries {
        facts.push((
            format!("  {}", state_text(lang, state.as_str())),
            n.to_string(),
        ));
    }
    let intro = match lang {
        Language::Dutch => format!("Kwaliteitsrapport over {month} voor {tenant_name}."),
        Language::English => format!("Quality report for {month}, {tenant_name}."),
    };
    let mut body = Body::new(&intro);
    body.facts(&facts);
    if let Some(line) = on_time_line(lang, stats) {
        body.add(&format!("\n{line}\n"), html! { p { (line) } });
    }
    if !stats.rules.is_empty() {
        let heading = t(
            lang,
            "Meest voorkomende afkeurredenen",
            "Most frequent rejection reasons",
        );
        let label =
            |rule: &str| crate::check::datasets::rules::find(rule).map_or("", |r| r.label(lang));
        let mut text = format!("\n{heading}:\n");
        for (rule, n) in &stats.rules {
            let _ = writeln!(text, "  {n:>8} x {} [{rule}]", label(rule));
        }
        body.add(
            &text,
            html! {
                p { (heading) ":" }
                ul { @for (rule, n) in &stats.rules { li { (n) " × " (label(rule)) " [" (rule) "]" } } }
            },
        );
    }
    response_section(lang, &mut body, response);
    if let Some(report) = report {
        report_section(lang, &mut body, month, report);
    }
    body.finish(subject)
}

/// Where the report is, and its headline figures.
fn report_section(lang: Language, body: &mut Body, month: &str, r: &ReportFiles<'_>) {
    let text = match lang {
        Language::Dutch => format!(
            "Uw rapportage over {month} staat in outbox/: {} (de cijfers ook als {}). Hij blijft {} dagen staan.",
            r.page, r.csv, r.kept_days
        ),
        Language::English => format!(
            "Your report for {month} is in outbox/: {} (the figures also as {}). It stays for {} days.",
            r.page, r.csv, r.kept_days
        ),
    };
    body.add(&format!("\n{text}\n"), html! { p { (text) } });
    if let Some((period, figures)) = r.headline {
        let headline = Headline {
            period,
            figures,
            page: FiguresPage::Report(r.page),
        };
        headline_figures(lang, body, &headline);
    }
}

/// The quality report's line on how much came on time (`figures::OnTime`), over the
/// accepted measurements whose count is known; `None` without any (decisions only, say).
fn on_time_line(lang: Language, stats: &crate::ledger::QualityStats) -> Option<String> {
    if stats.measured == 0 {
        return None;
    }
    let share = stats.on_time as f64 / stats.measured as f64;
    let days = crate::figures::ON_TIME_DAYS;
    Some(match lang {
        Language::Dutch => format!(
            "Tijdig aangeleverd: {} van de geaccepteerde metingen (binnen {days} dagen na de \
             meetdatum)",
            crate::sheet::percent(share)
        ),
        Language::English => format!(
            "Delivered on time: {:.1}% of the accepted measurements (within {days} days of the \
             measurement date)",
            share * 100.0
        ),
    })
}

/// The response part of a quality report (DESIGN 3.3): per municipality, the share of the
/// decisions that ended in `months` with at least one complete measurement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ResponseSection {
    /// The first and last month of the end dates, such as `2025-10` and `2026-09`.
    pub months: (String, String),
    /// Municipality name and its figure.
    pub lines: Vec<(String, ResponseFigure)>,
}

/// One municipality's response, or why it is not shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseFigure {
    Shown {
        responded: u64,
        ended: u64,
    },
    /// Fewer clients than [`MIN_CLIENTS`]: no figure, so that no one is singled out.
    Suppressed,
}

fn response_section(lang: Language, body: &mut Body, r: &ResponseSection) {
    let (first, last) = &r.months;
    let heading = match lang {
        Language::Dutch => format!("Respons (beschikkingen beëindigd {first} t/m {last})"),
        Language::English => format!("Response (decisions ended {first} to {last})"),
    };
    body.add(&format!("\n{heading}:\n"), html! { p { (heading) ":" } });
    if r.lines.is_empty() {
        let none = t(lang, "geen beëindigde beschikkingen", "no ended decisions");
        body.add(&format!("  {none}\n"), html! { p { (none) } });
        return;
    }
    let lines: Vec<(&str, String)> = r
        .lines
        .iter()
        .map(|(name, figure)| {
            let shown = match *figure {
                ResponseFigure::Shown { responded, ended } => {
                    let percent = 100.0 * responded as f64 / ended.max(1) as f64;
                    match lang {
                        Language::Dutch => format!(
                            "{}% ({responded} van {ended})",
                            format!("{percent:.1}").replace('.', ",")
                        ),
                        Language::English => format!("{percent:.1}% ({responded} of {ended})"),
                    }
                }
                ResponseFigure::Suppressed => match lang {
                    Language::Dutch => format!("niet getoond (minder dan {MIN_CLIENTS} cliënten)"),
                    Language::English => format!("not shown (fewer than {MIN_CLIENTS} clients)"),
                },
            };
            (name.as_str(), shown)
        })
        .collect();
    body.facts(&lines);
}

/// What a full bundle covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Covers<'a> {
    /// Everything the ledger holds (a `REQUEST-FULL` asks for this).
    Everything,
    /// From this date on, as shown to people.
    Since(&'a str),
}

/// "all data" or "all data from <date> on", in the message's language.
fn covers_text(lang: Language, covers: Covers<'_>) -> String {
    match (covers, lang) {
        (Covers::Everything, Language::Dutch) => "alle gegevens".into(),
        (Covers::Since(d), Language::Dutch) => format!("alle gegevens vanaf {d}"),
        (Covers::Everything, Language::English) => "all data".into(),
        (Covers::Since(d), Language::English) => format!("all data from {d} on"),
    }
}

/// A moment as a mail names it: `zondag 29-11-2026 om 06:00`, `Sunday 2026-11-29 at 06:00`.
pub fn moment(lang: Language, at: chrono::NaiveDateTime) -> String {
    use chrono::Datelike;
    const DAGEN: [&str; 7] = [
        "maandag",
        "dinsdag",
        "woensdag",
        "donderdag",
        "vrijdag",
        "zaterdag",
        "zondag",
    ];
    match lang {
        Language::Dutch => format!(
            "{} {}",
            DAGEN[at.weekday().num_days_from_monday() as usize],
            at.format("%d-%m-%Y om %H:%M")
        ),
        Language::English => at.format("%A %Y-%m-%d at %H:%M").to_string(),
    }
}

/// What the mail about a published bundle reports (for the weekly publication).
pub(crate) struct BundlePublished<'a> {
    pub municipality: &'a str,
    pub bundle: &'a str,
    /// Rows per CSV file in the bundle.
    pub rows: &'a [(&'a str, u64)],
    pub kept_days: u32,
    /// `Some` for a full bundle: what it covers.
    pub full: Option<Covers<'a>>,
    /// The figures of the bundle's latest quarter, if it has any.
    pub headline: Option<Headline<'a>>,
}

/// A latest quarter and its figures: the headline numbers of a mail about a page that
/// shows them all.
pub(crate) struct Headline<'a> {
    pub period: &'a str,
    pub figures: &'a crate::figures::Figures,
    /// The page with every quarter.
    pub page: FiguresPage<'a>,
}

/// Where the page with every quarter's figures is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FiguresPage<'a> {
    /// `Overzicht.html` in the bundle the mail announces.
    InBundle,
    /// The care provider's monthly report in its outbox, by name.
    Report(&'a str),
}

/// The mail about a new bundle in a municipality's outbox; a full bundle is named the
/// requested totaalbundel, so that the one who asked knows this is the answer.
pub(crate) fn bundle_published(lang: Language, b: &BundlePublished<'_>) -> Text {
    let subject = match b.full {
        None => format!("{} {}", t(lang, "Nieuwe bundel:", "New bundle:"), b.bundle),
        Some(_) => format!(
            "{} {}",
            t(lang, "Nieuwe totaalbundel:", "New full bundle:"),
            b.bundle
        ),
    };
    let intro = match (b.full, lang) {
        (None, Language::Dutch) => format!(
            "Voor {} staat een nieuwe bundel klaar in outbox/: {}. Hij blijft {} dagen staan.",
            b.municipality, b.bundle, b.kept_days
        ),
        (None, Language::English) => format!(
            "A new bundle for {} is ready in outbox/: {}. It stays for {} days.",
            b.municipality, b.bundle, b.kept_days
        ),
        (Some(covers), Language::Dutch) => format!(
            "Voor {} staat de gevraagde totaalbundel klaar in outbox/: {}. Hij bevat {}, ook \
             wat eerdere bundels al bevatten. Hij blijft {} dagen staan.",
            b.municipality,
            b.bundle,
            covers_text(lang, covers),
            b.kept_days
        ),
        (Some(covers), Language::English) => format!(
            "The requested full bundle for {} is ready in outbox/: {}. It holds {}, including \
             what earlier bundles carried. It stays for {} days.",
            b.municipality,
            b.bundle,
            covers_text(lang, covers),
            b.kept_days
        ),
    };
    let mut body = Body::new(&intro);
    let rows: Vec<(&str, String)> = b
        .rows
        .iter()
        .map(|(file, n)| (*file, n.to_string()))
        .collect();
    body.facts(&rows);
    if let Some(headline) = &b.headline {
        headline_figures(lang, &mut body, headline);
    }
    body.finish(subject)
}

/// The latest quarter's figures, or why they are not shown; the page in the bundle has
/// them all.
fn headline_figures(lang: Language, body: &mut Body, h: &Headline<'_>) {
    let page = match (h.page, lang) {
        (FiguresPage::InBundle, Language::Dutch) => "Overzicht.html in de bundel".to_owned(),
        (FiguresPage::InBundle, Language::English) => "Overzicht.html in the bundle".to_owned(),
        (FiguresPage::Report(name), Language::Dutch) => format!("{name} in uw outbox"),
        (FiguresPage::Report(name), Language::English) => format!("{name} in your outbox"),
    };
    let heading = match lang {
        Language::Dutch => format!(
            "Kengetallen {} (het laatste kwartaal; alle kwartalen staan in {page})",
            h.period
        ),
        Language::English => format!(
            "Figures {} (the latest quarter; every quarter is in {page})",
            h.period
        ),
    };
    body.add(&format!("\n{heading}:\n"), html! { p { (heading) ":" } });
    let f = h.figures;
    if f.suppressed() {
        let why = match lang {
            Language::Dutch => format!("niet getoond (minder dan {MIN_CLIENTS} cliënten)"),
            Language::English => format!("not shown (fewer than {MIN_CLIENTS} clients)"),
        };
        body.add(&format!("  {why}\n"), html! { p { (why) } });
        return;
    }
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
    let facts = [
        (t(lang, "Cliënten", "Clients"), f.clients.to_string()),
        (
            t(lang, "Respons", "Response"),
            or_dash(f.response().map(crate::sheet::percent)),
        ),
        (
            t(lang, "Gemiddelde CT", "Mean CT"),
            or_dash(f.ct.value().map(|v| crate::sheet::number(v, 2))),
        ),
        (
            t(lang, "Gemiddelde GAS", "Mean GAS"),
            or_dash(f.gas.value().map(|v| crate::sheet::number(v, 2))),
        ),
        (
            t(lang, "Uitval", "Dropout"),
            or_dash(f.dropout_share().map(crate::sheet::percent)),
        ),
    ];
    body.facts(&facts);
}

/// What the acknowledgement of a request for a full bundle says.
pub(crate) struct FullRequested<'a> {
    pub municipality: &'a str,
    pub covers: Covers<'a>,
    /// The next publication, as [`moment`] shows it.
    pub next: &'a str,
}

/// The acknowledgement of a request for a full bundle (`REQUEST-FULL`, `publish --full`):
/// it is in, and when the bundle comes.
pub(crate) fn full_requested(lang: Language, r: &FullRequested<'_>) -> Text {
    let subject = match lang {
        Language::Dutch => format!("Verzoek om totaalbundel ontvangen: {}", r.municipality),
        Language::English => format!("Request for a full bundle received: {}", r.municipality),
    };
    let covers = covers_text(lang, r.covers);
    let intro = match lang {
        Language::Dutch => format!(
            "Uw verzoek om een totaalbundel is ontvangen; de bundel volgt bij de volgende \
             publicatie op {}. Hij bevat {} voor {}, ook wat eerdere bundels al bevatten. \
             U krijgt bericht zodra hij in outbox/ staat.",
            r.next, covers, r.municipality
        ),
        Language::English => format!(
            "Your request for a full bundle has been received; the bundle follows at the next \
             publication on {}. It will hold {} for {}, including what earlier bundles \
             carried. You will get a message when it is in outbox/.",
            r.next, covers, r.municipality
        ),
    };
    let mut body = Body::new(&intro);
    // One paragraph only: no blank line after it.
    body.text.truncate(body.text.len() - 1);
    body.finish(subject)
}

/// What the mail about temporary files the sweep removed from a tenant's `upload/` reports.
pub(crate) struct TempRemoved<'a> {
    pub tenant_name: &'a str,
    /// `retention.temp_hours`.
    pub hours: u32,
    /// Each removed file: its name (already through `redact::name`), size in bytes, and
    /// when it was last written, in local time.
    pub files: &'a [(String, u64, String)],
}

/// The mail that names the temporary files removed from `upload/`: an upload that was
/// never finished (or never renamed to its real name) is gone, and the sender should know
/// that it did not arrive.
pub(crate) fn temp_removed(lang: Language, r: &TempRemoved<'_>) -> Text {
    let subject = match lang {
        Language::Dutch => format!(
            "{} onvoltooid bestand(en) verwijderd uit upload/",
            r.files.len()
        ),
        Language::English => format!("{} unfinished file(s) removed from upload/", r.files.len()),
    };
    let intro = match lang {
        Language::Dutch => format!(
            "In upload/ van {} stonden bestanden met een tijdelijke naam (eindigend op .part, \
             .filepart of .tmp, of beginnend met een punt) waaraan al meer dan {} uur niet was \
             geschreven. Bestanden met zo'n naam worden nooit verwerkt; deze zijn verwijderd. \
             Was een ervan bedoeld als levering, stuur het dan opnieuw en geef het na het \
             uploaden zijn definitieve naam.",
            r.tenant_name, r.hours
        ),
        Language::English => format!(
            "upload/ of {} held files under a temporary name (ending in .part, .filepart or \
             .tmp, or starting with a dot) that nobody had written to for more than {} hours. \
             Files under such a name are never processed; these have been removed. If one of \
             them was meant as a delivery, please send it again and give it its final name \
             once the upload is complete.",
            r.tenant_name, r.hours
        ),
    };
    let mut body = Body::new(&intro);
    let heading = t(
        lang,
        "Verwijderd (bestand, grootte, laatst gewijzigd)",
        "Removed (file, size, last written)",
    );
    let mut text = format!("{heading}:\n");
    // "bytes" in Dutch too.
    for (name, size, modified) in r.files {
        let _ = writeln!(text, "  {name}  {size} bytes  {modified}");
    }
    body.add(
        &text,
        html! {
            p { (heading) ":" }
            table border="1" cellpadding="3" {
                @for (name, size, modified) in r.files {
                    tr { td { (name) } td { (size) " bytes" } td { (modified) } }
                }
            }
        },
    );
    body.finish(subject)
}

/// `dropgate mail test`.
pub fn test_message(lang: Language) -> Text {
    let body = t(
        lang,
        "Dit is een testbericht van dropgate. Als u dit leest, werkt de e-mail.",
        "This is a test message from dropgate. If you can read it, mail works.",
    );
    let mut message = Body::new(body);
    message.text.truncate(message.text.len() - 1);
    message.finish(t(lang, "dropgate: testbericht", "dropgate: test message").to_owned())
}

/// What a reminder to deliver says.
pub(crate) struct DeliveryReminder<'a> {
    pub tenant_name: &'a str,
    /// `expect_delivery_days`.
    pub days: u32,
    /// The local date of the last delivery, as people read it; `None` if there never was one.
    pub last: Option<&'a str>,
}

/// The reminder a tenant gets when it has not delivered for `expect_delivery_days` days
/// (once per that many days of silence).
pub(crate) fn delivery_reminder(lang: Language, r: &DeliveryReminder<'_>) -> Text {
    let subject = match lang {
        Language::Dutch => format!(
            "Herinnering: al {} dagen geen levering van {}",
            r.days, r.tenant_name
        ),
        Language::English => format!(
            "Reminder: no delivery from {} for {} days",
            r.tenant_name, r.days
        ),
    };
    let since = match (lang, r.last) {
        (Language::Dutch, Some(last)) => format!("De laatste levering kwam op {last}."),
        (Language::Dutch, None) => "Er is nog nooit een levering ontvangen.".to_owned(),
        (Language::English, Some(last)) => format!("The last delivery came on {last}."),
        (Language::English, None) => "No delivery has ever been received.".to_owned(),
    };
    let intro = match lang {
        Language::Dutch => format!(
            "Van {} wordt ten minste elke {} dagen een levering verwacht, maar de afgelopen {} \
             dagen kwam er geen. {since} Zet de volgende levering in upload/; deze herinnering \
             komt opnieuw na nog eens {} dagen zonder levering.",
            r.tenant_name, r.days, r.days, r.days
        ),
        Language::English => format!(
            "A delivery from {} is expected at least every {} days, but none came in the last \
             {} days. {since} Please put the next delivery into upload/; this reminder comes \
             again after another {} days without one.",
            r.tenant_name, r.days, r.days, r.days
        ),
    };
    Body::new(&intro).finish(subject)
}

/// What a warning of an expiring login says.
pub(crate) struct LoginExpiring<'a> {
    pub user: &'a str,
    /// The last day it works, as people read it.
    pub last_day: &'a str,
    pub days_left: i64,
}

/// The warning, 30 and 7 days before, that a user's keys and password stop working.
pub(crate) fn login_expiring(lang: Language, r: &LoginExpiring<'_>) -> Text {
    let subject = match lang {
        Language::Dutch => format!("De SFTP-toegang van {} verloopt op {}", r.user, r.last_day),
        Language::English => format!("SFTP access of {} expires on {}", r.user, r.last_day),
    };
    let intro = match lang {
        Language::Dutch => format!(
            "De gebruiker {} kan nog {} dag(en) inloggen, tot en met {}. Daarna weigert de \
             server zijn sleutels en wachtwoord. Vraag de beheerder van de TTP tijdig om een \
             nieuwe sleutel of een nieuwe einddatum.",
            r.user, r.days_left, r.last_day
        ),
        Language::English => format!(
            "The user {} can log in for {} more day(s), up to and including {}. After that the \
             server refuses its keys and password. Please ask the TTP's administrator in time \
             for a new key or a new end date.",
            r.user, r.days_left, r.last_day
        ),
    };
    Body::new(&intro).finish(subject)
}

/// What an invitation to enrol says.
pub(crate) struct Invitation<'a> {
    pub user: &'a str,
    pub tenant_name: &'a str,
    pub host: &'a str,
    pub port: u16,
    /// The server's host keys: kind and SHA-256 fingerprint (`SHA256:...`).
    pub host_keys: &'a [(&'a str, String)],
    pub code: &'a str,
    /// The code's last moment, in local time (`dd-mm-yyyy HH:MM`).
    pub valid_until: &'a str,
}

/// The invitation to a new SFTP user: its name, where to connect, the host keys to check,
/// the one-time code, and how to put a key with it.
pub(crate) fn invitation(lang: Language, r: &Invitation<'_>) -> Text {
    let subject = match lang {
        Language::Dutch => format!("Uw SFTP-toegang voor {}", r.tenant_name),
        Language::English => format!("Your SFTP access for {}", r.tenant_name),
    };
    let intro = match lang {
        Language::Dutch => format!(
            "U bent uitgenodigd om via SFTP bestanden uit te wisselen voor {}. Koppel met de \
             eenmalige code hieronder uw eigen SSH-sleutel aan uw gebruikersnaam; daarna logt \
             u alleen nog met die sleutel in. De code werkt één keer en vervalt op {}.",
            r.tenant_name, r.valid_until
        ),
        Language::English => format!(
            "You are invited to exchange files over SFTP for {}. With the one-time code below, \
             link your own SSH key to your user name; from then on you log in with that key \
             only. The code works once and expires on {}.",
            r.tenant_name, r.valid_until
        ),
    };
    let mut body = Body::new(&intro);
    let port = r.port.to_string();
    let mut facts: Vec<(String, String)> = [
        (t(lang, "Gebruikersnaam", "User name"), r.user),
        (t(lang, "Server", "Server"), r.host),
        (t(lang, "Poort", "Port"), port.as_str()),
        (t(lang, "Eenmalige code", "One-time code"), r.code),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let key_label = t(lang, "Serversleutel", "Server key");
    for (kind, fingerprint) in r.host_keys {
        facts.push((format!("{key_label} {kind}"), fingerprint.clone()));
    }
    body.facts(&facts);
    let check = t(
        lang,
        "Controleer bij de eerste verbinding dat uw programma een van deze vingerafdrukken van \
         de server toont; is het een andere, breek dan af en neem contact met ons op.",
        "At the first connection, check that your program shows one of these fingerprints of \
         the server; if it shows another, stop and contact us.",
    );
    body.add(&format!("\n{check}\n"), html! { p { (check) } });
    let target = if r.host.contains(':') {
        format!("{}@[{}]", r.user, r.host.trim_matches(['[', ']']))
    } else {
        format!("{}@{}", r.user, r.host)
    };
    let steps: [String; 4] = match lang {
        Language::Dutch => [
            "Heeft u nog geen sleutel, maak er dan een: ssh-keygen -t ed25519".into(),
            format!("Log in met de code als wachtwoord: sftp -P {port} {target}"),
            "Zet uw publieke sleutel neer: put ~/.ssh/id_ed25519.pub .ssh/authorized_keys \
             (in WinSCP of FileZilla: upload uw .pub-bestand naar de map .ssh onder de naam \
             authorized_keys)."
                .into(),
            "Log opnieuw in, nu met uw sleutel. De code is dan vervallen.".into(),
        ],
        Language::English => [
            "If you have no key yet, make one: ssh-keygen -t ed25519".into(),
            format!("Log in with the code as password: sftp -P {port} {target}"),
            "Put your public key: put ~/.ssh/id_ed25519.pub .ssh/authorized_keys (in WinSCP or \
             FileZilla: upload your .pub file to the folder .ssh under the name \
             authorized_keys)."
                .into(),
            "Log in again, now with your key. The code is then void.".into(),
        ],
    };
    let mut text = String::from("\n");
    for (n, step) in steps.iter().enumerate() {
        let _ = writeln!(text, "{}. {step}", n + 1);
    }
    body.add(
        &text,
        html! { ol { @for step in &steps { li { (step) } } } },
    );
    let expired = t(
        lang,
        "Is de code verlopen, vraag dan de beheerder van de TTP om een nieuwe. Deel de code \
         met niemand: wie hem gebruikt, krijgt uw toegang.",
        "If the code has expired, ask the TTP's administrator for a new one. Share the code \
         with nobody: whoever uses it gets your access.",
    );
    body.add(&format!("\n{expired}\n"), html! { p { (expired) } });
    body.finish(subject)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_mail_lists_the_first_ten_errors_and_escapes_html() {
        let problems: Vec<ProblemLine> = (0..12)
            .map(|i| {
                [
                    format!("{}", i + 2),
                    "pseudobsn".into(),
                    "*******89".into(),
                    "bsn".into(),
                    "<b>fails</b>".into(),
                ]
            })
            .collect();
        let r = DeliveryResult {
            file: "a&b.csv",
            received: "2026-11-22T01:00:00Z",
            state: "processed",
            rows: 20,
            accepted: 8,
            rejected: 12,
            error: None,
            receipt: "a&b.csv.20261122020000",
            problems: &problems,
        };
        let nl = delivery_result(Language::Dutch, &r);
        assert_eq!(
            nl.subject,
            "Levering a&b.csv: verwerkt, 12 van 20 regels afgekeurd"
        );
        assert_eq!(nl.text.matches("*******89").count(), 10);
        assert!(nl.text.contains("De overige staan in het ontvangstbewijs."));
        assert!(nl.html.contains("a&amp;b.csv") && nl.html.contains("&lt;b&gt;fails&lt;/b&gt;"));
        assert!(!nl.html.contains("<b>fails"));
        let en = delivery_result(Language::English, &r);
        assert_eq!(
            en.subject,
            "Delivery a&b.csv: processed, 12 of 20 rows rejected"
        );
    }

    /// The subject says the outcome: whole, partly rejected, all rejected, refused, unreadable.
    #[test]
    fn the_subject_of_a_result_mail_says_the_outcome() {
        let subject = |state, rows, accepted| {
            let r = DeliveryResult {
                file: "m.csv",
                received: "22-11-2026 02:00",
                state,
                rows,
                accepted,
                rejected: rows - accepted,
                error: None,
                receipt: "m.csv.20261122020000",
                problems: &[],
            };
            delivery_result(Language::Dutch, &r).subject
        };
        assert_eq!(subject("processed", 12, 12), "Levering m.csv: verwerkt");
        assert_eq!(
            subject("processed", 12, 1),
            "Levering m.csv: verwerkt, 11 van 12 regels afgekeurd"
        );
        assert_eq!(
            subject("processed", 12, 0),
            "Levering m.csv: afgekeurd, alle 12 regels"
        );
        assert_eq!(subject("rejected", 0, 0), "Levering m.csv: afgekeurd");
        assert_eq!(
            subject("quarantined", 0, 0),
            "Levering m.csv: niet leesbaar"
        );
    }

    /// The on-time line says the share of the accepted measurements in either language, and
    /// is left out when there were none (a municipality's decisions).
    #[test]
    fn the_quality_report_says_how_much_came_on_time_when_there_were_measurements() {
        let stats = crate::ledger::QualityStats {
            rows: 31,
            accepted: 30,
            rejected: 1,
            measured: 30,
            on_time: 29,
            ..Default::default()
        };
        let response = ResponseSection::default();
        let nl = quality_report(Language::Dutch, "Zorg", "2026-11", &stats, &response, None);
        let line = "Tijdig aangeleverd: 96,7% van de geaccepteerde metingen (binnen 91 dagen na de meetdatum)";
        assert!(nl.text.contains(&format!("\n{line}\n")), "{}", nl.text);
        assert!(nl.html.contains(&format!("<p>{line}</p>")), "{}", nl.html);
        let en = quality_report(
            Language::English,
            "Zorg",
            "2026-11",
            &stats,
            &response,
            None,
        );
        assert!(
            en.text.contains(
                "Delivered on time: 96.7% of the accepted measurements (within 91 days of the measurement date)"
            ),
            "{}",
            en.text
        );
        let decisions = crate::ledger::QualityStats {
            measured: 0,
            on_time: 0,
            ..stats
        };
        for lang in [Language::Dutch, Language::English] {
            let text = quality_report(lang, "Utrecht", "2026-11", &decisions, &response, None);
            assert!(
                !text.text.contains("Tijdig") && !text.text.contains("on time"),
                "{}",
                text.text
            );
        }
    }

    #[test]
    fn the_temp_removed_mail_names_each_file_in_both_languages() {
        let files = [
            (".a<b>.csv".to_owned(), 12, "2026-11-20 14:03".to_owned()),
            (
                "x.csv.filepart".to_owned(),
                3400,
                "2026-11-19 09:00".to_owned(),
            ),
        ];
        let r = TempRemoved {
            tenant_name: "Zorg",
            hours: 24,
            files: &files,
        };
        let nl = temp_removed(Language::Dutch, &r);
        assert_eq!(
            nl.subject,
            "2 onvoltooid bestand(en) verwijderd uit upload/"
        );
        assert!(nl.text.contains("meer dan 24 uur"), "{}", nl.text);
        assert!(
            nl.text
                .contains("  x.csv.filepart  3400 bytes  2026-11-19 09:00")
        );
        assert!(nl.html.contains(".a&lt;b&gt;.csv") && !nl.html.contains("<b>"));
        let en = temp_removed(Language::English, &r);
        assert_eq!(en.subject, "2 unfinished file(s) removed from upload/");
        assert!(en.text.contains(".a<b>.csv") && en.text.contains("more than 24 hours"));
    }

    #[test]
    fn a_full_bundle_is_acknowledged_and_then_named_the_requested_totaalbundel() {
        let at = chrono::NaiveDate::from_ymd_opt(2026, 11, 29)
            .unwrap()
            .and_hms_opt(6, 0, 0)
            .unwrap();
        assert_eq!(moment(Language::Dutch, at), "zondag 29-11-2026 om 06:00");
        assert_eq!(moment(Language::English, at), "Sunday 2026-11-29 at 06:00");
        let next = moment(Language::Dutch, at);
        let r = FullRequested {
            municipality: "Gemeente <Utrecht>",
            covers: Covers::Everything,
            next: &next,
        };
        let nl = full_requested(Language::Dutch, &r);
        assert!(
            nl.text.starts_with(
                "Uw verzoek om een totaalbundel is ontvangen; de bundel volgt bij de volgende \
                 publicatie op zondag 29-11-2026 om 06:00."
            ),
            "{}",
            nl.text
        );
        assert!(nl.html.contains("Gemeente &lt;Utrecht&gt;"));
        let en = full_requested(
            Language::English,
            &FullRequested {
                covers: Covers::Since("01-07-2026"),
                ..r
            },
        );
        assert!(en.subject.starts_with("Request for a full bundle received"));
        assert!(
            en.text.contains("all data from 01-07-2026 on"),
            "{}",
            en.text
        );

        let rows = [("Beschikkingen.csv", 3)];
        let b = BundlePublished {
            municipality: "Utrecht",
            bundle: "Bundel-utrecht-totaal-20261129060000.zip",
            rows: &rows,
            kept_days: 60,
            full: Some(Covers::Everything),
            headline: None,
        };
        let nl = bundle_published(Language::Dutch, &b);
        assert_eq!(
            nl.subject,
            "Nieuwe totaalbundel: Bundel-utrecht-totaal-20261129060000.zip"
        );
        assert!(nl.text.contains("de gevraagde totaalbundel"), "{}", nl.text);
        let weekly = bundle_published(Language::English, &BundlePublished { full: None, ..b });
        assert!(weekly.subject.starts_with("New bundle: ") && !weekly.text.contains("full"));
    }
}
