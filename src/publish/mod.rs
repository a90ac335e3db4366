//! Publication (DESIGN 2.4, 5): for a municipality, a zip of everything it has not yet
//! received in its current version — its decisions, the measurements linked to them, the
//! links, and how each delivery for its decisions fared — with the figures per quarter, and
//! every identifier hashed again with the municipality's own key.
//!
//! The zip is built in `staging/` from one snapshot of the ledger, without its write lock
//! (intake and processing go on); the rows' publication is committed with the bundle's
//! record, exactly the versions that snapshot gave the zip; only then is the zip renamed
//! into the outbox, and the mail that announces it is queued in the transaction that
//! records that placement. A crash before the commit leaves an unrecorded zip in staging (removed at the
//! next start or publication) and no row marked; a crash after it leaves a recorded zip in
//! staging that the next start or publication moves into place, and only then mails. So a
//! row is in exactly one incremental bundle, no partial zip is ever in an outbox, and no
//! mail names a file that is not there.

pub mod bundle;
pub(crate) mod chart;
pub(crate) mod codebook;
pub mod ketendata;
pub(crate) mod overview;
pub(crate) mod page;
pub(crate) mod quality;
pub(crate) mod report;

use std::io;
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

use crate::check::messages::schemas::Standard;
use crate::config::{Config, Tenant};
use crate::layout::{OutboxLock, StateDir, rename_no_replace};
use crate::ledger::{
    BundleKind, DecisionOut, DeliveryState, Ledger, LedgerError, LinkOut, MeasurementOut,
    NewBundle, Publication,
};
use crate::mail::{Wake, messages};
use crate::pseudonym::{KeyError, Keyed};
use crate::publish::bundle::{BundleWriter, Manifest};

/// The first part of a bundle's name (see [`bundle_name`]).
pub(crate) const PREFIX: &str = "Bundel";
/// The word that marks a full bundle's name (see [`bundle_name`]).
pub const FULL: &str = "totaal";

/// The first date of a full bundle of everything, as a `REQUEST-FULL` asks for.
pub(crate) const EVERYTHING: NaiveDate = NaiveDate::from_ymd_opt(1900, 1, 1).expect("a valid date");

/// Why a publication failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("cannot make the key of {tenant}: {message}")]
    NewKey { tenant: String, message: String },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("{name}: {source}")]
    Io { name: String, source: io::Error },
    #[error("{done} monthly reports made; failed for {}", failed.join(", "))]
    Reports { done: usize, failed: Vec<String> },
}

/// What one publication made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub name: String,
    /// Rows per CSV.
    pub rows: Vec<(String, u64)>,
    /// Whether a mail about it was queued for the municipality's contacts.
    pub mailed: bool,
}

/// A bundle's name: `<PREFIX>-<tenant>-<yyyyMMddHHmmss>.zip` for the weekly one,
/// `<PREFIX>-<tenant>-totaal-<yyyyMMddHHmmss>.zip` for a full one (DESIGN 5), so that a
/// municipality tells them apart without opening them; the time is local.
pub(crate) fn bundle_name(tenant: &str, full: bool, made: chrono::NaiveDateTime) -> String {
    let kind = if full {
        format!("{FULL}-")
    } else {
        String::new()
    };
    format!(
        "{PREFIX}-{tenant}-{kind}{}.zip",
        made.format("%Y%m%d%H%M%S")
    )
}

/// Whether a bundle has no rows, by its rows per CSV: every CSV but the indicators is
/// empty (no new decision, measurement, link or delivery). The figures are rewritten in
/// every bundle whatever happened, so they are no news. Such a weekly bundle is made only
/// with `[publish] empty_bundles` and mailed only with `mail_empty_bundles`.
pub(crate) fn without_rows<S: AsRef<str>>(rows: &[(S, u64)]) -> bool {
    let rewritten = [
        codebook::INDICATOREN.name,
        codebook::INDICATOREN_PER_AANBIEDER.name,
    ];
    rows.iter()
        .all(|(file, n)| *n == 0 || rewritten.contains(&file.as_ref()))
}

/// The municipality's own key (beside the TTP key), made on first use; its fingerprint is
/// recorded then, and a different file later refused (see `keys`).
pub(crate) fn municipality_key(
    config: &Config,
    ledger: &mut Ledger,
    tenant: &Tenant,
    now: DateTime<Utc>,
) -> Result<Keyed, PublishError> {
    let path = crate::layout::municipality_key(crate::keys::key_dir(config), &tenant.id);
    if !path.exists() {
        crate::secrets::write_new_key(&path).map_err(|e| PublishError::NewKey {
            tenant: tenant.id.clone(),
            message: e.to_string(),
        })?;
        tracing::warn!(
            tenant = tenant.id,
            path = %path.display(),
            "municipality key made: add it to the key backup (`dropgate backup`)"
        );
    }
    let what = format!("the key of municipality {}", tenant.id);
    let name = crate::keys::municipality(&tenant.id);
    Ok(crate::keys::load(ledger, &name, &what, &path, now)?)
}

/// A rule's short label, as `Kwaliteit.csv` and the overview name a reason.
fn reason_label(id: &str, language: crate::message::Language) -> String {
    crate::check::datasets::rules::find(id)
        .map_or_else(|| id.to_owned(), |r| r.label(language).to_owned())
}

/// A delivery's outcome as `Kwaliteit.csv` and the reports name it (a stable Dutch word).
fn outcome(state: DeliveryState) -> &'static str {
    match state {
        DeliveryState::Processed => "verwerkt",
        DeliveryState::Rejected => "afgewezen",
        DeliveryState::Quarantined => "quarantaine",
        DeliveryState::Duplicate => "dubbel",
        DeliveryState::Received => "ontvangen",
        DeliveryState::Withdrawn => "ingetrokken",
    }
}

/// One line of `Kwaliteit.csv`: times in the configured zone, the outcome in Dutch, the
/// top rejection reasons as `label (count)` for people and `rule (count)` for scripts, and
/// last the accepted measurements on time (empty for decisions and for deliveries from
/// before it was counted: unknown is not zero).
fn quality_row(
    d: crate::ledger::DeliveryOut,
    tz: chrono_tz::Tz,
    language: crate::message::Language,
) -> Vec<String> {
    let local = |t: DateTime<Utc>| {
        t.with_timezone(&tz)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
    };
    let outcome = outcome(d.state);
    let count = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
    let reasons = |name: &dyn Fn(&str) -> String| -> String {
        let listed: Vec<String> = d
            .reasons
            .iter()
            .map(|(rule, n)| format!("{} ({n})", name(rule)))
            .collect();
        listed.join(", ")
    };
    let label = |id: &str| reason_label(id, language);
    vec![
        d.id.to_string(),
        d.sender,
        d.dataset.unwrap_or_default(),
        local(d.received_at),
        local(d.processed_at),
        outcome.to_owned(),
        count(d.rows),
        count(d.accepted),
        count(d.rejected),
        reasons(&label),
        reasons(&str::to_owned),
        count(d.on_time),
    ]
}

/// Writes one CSV from rows the ledger streams, each turned into cells by `cells` (on the
/// bundle's formatting thread).
fn write_csv<R: Send>(
    writer: &mut BundleWriter,
    file: &codebook::File,
    rows: &mut dyn Iterator<Item = Result<R, LedgerError>>,
    cells: impl Fn(R) -> Vec<String> + Send,
) -> io::Result<u64> {
    writer.csv_of(
        file.name,
        &file.header(),
        rows.map(|r| r.map_err(io::Error::other)),
        cells,
    )
}

/// One line of `Indicatoren.csv`: shares and means with their counts, or, for fewer than
/// [`MIN_CLIENTS`](crate::figures::MIN_CLIENTS) clients, every figure empty and
/// `onderdrukt` (suppressed) 1.
fn indicator_row((period, f): &crate::ledger::Indicators) -> Vec<String> {
    let mut row = vec![period.clone()];
    row.extend(figure_cells(f));
    row
}

/// One line of `IndicatorenPerAanbieder.csv`: as `Indicatoren.csv`, with the provider.
fn provider_indicator_row(((period, agb), f): &crate::ledger::GroupIndicators) -> Vec<String> {
    let mut row = vec![period.clone(), agb.clone()];
    row.extend(figure_cells(f));
    row
}

/// The figures of an indicator line after its period (and provider).
pub(super) fn figure_cells(f: &crate::figures::Figures) -> Vec<String> {
    if f.suppressed() {
        let mut cells = vec![String::new(); 7];
        cells.push("1".into());
        return cells;
    }
    let number = |v: Option<f64>, decimals: usize| {
        v.map(|v| crate::sheet::number(v, decimals))
            .unwrap_or_default()
    };
    vec![
        f.ended.to_string(),
        f.clients.to_string(),
        number(f.response(), 3),
        number(f.ct.value(), 2),
        number(f.gas.value(), 2),
        number(f.dropout_share(), 3),
        f.measurements.to_string(),
        "0".into(),
    ]
}

/// Publishes a bundle for municipality `tenant` now: incremental, or with `since` a full
/// bundle of everything from that date on (which does not change what later incremental
/// bundles carry). `None` when an incremental bundle without rows is not made (`[publish]
/// empty_bundles = false`). `mail` rings when the bundle's mail is queued.
pub fn publish(
    config: &Config,
    ledger: &mut Ledger,
    tenant: &Tenant,
    now: DateTime<Utc>,
    since: Option<NaiveDate>,
    mail: &Wake,
) -> Result<Option<Published>, PublishError> {
    let scope = Scope::new(since);
    let state = StateDir::new(&config.state_dir);
    let _outboxes = OutboxLock::take(&state).map_err(io_error("staging/"))?;
    place_unplaced(&state, ledger, mail)?;
    let key = municipality_key(config, ledger, tenant, now)?;
    let local = now.with_timezone(&config.time_zone);
    let base = bundle_name(&tenant.id, since.is_some(), local.naive_local());
    let name = free_name(ledger, &base)?;
    let making = Making {
        config,
        tenant,
        name: &name,
        local,
        scope: &scope,
    };
    let staged = state.staging().join(&name);
    let mut publication = ledger.begin_publication(&tenant.id, &tenant.code, scope.since())?;
    let writer = BundleWriter::create(&staged, local.naive_local()).map_err(io_error(&name))?;
    let (manifest, latest) = match write_bundle(&making, &key, &mut publication, writer) {
        Ok(written) => written,
        Err(e) => {
            let _ = std::fs::remove_file(&staged);
            return Err(e);
        }
    };
    let rows = rows_per_csv(&manifest);
    let empty = scope.kind() == BundleKind::Incremental && without_rows(&rows);
    if empty && !config.publish.empty_bundles {
        // Nothing to record: the transaction is dropped (rolled back) with `publication`.
        let _ = std::fs::remove_file(&staged);
        tracing::info!(
            tenant = tenant.id,
            "no bundle this week: no rows (empty_bundles = false)"
        );
        return Ok(None);
    }
    let mailed = !tenant.contacts.is_empty() && (!empty || config.publish.mail_empty_bundles);
    let rows_json = json!(
        rows.iter()
            .map(|(n, r)| (n.clone(), *r))
            .collect::<std::collections::BTreeMap<_, _>>()
    );
    let made = Made {
        staged: &staged,
        rows: &rows,
        rows_json: &rows_json,
        latest: latest.as_ref(),
    };
    let id = record(&making, publication, &made, mailed, now)?;
    crate::pause::point("publish.committed");
    place(&state, ledger, id, &tenant.id, &name, mail)?;
    tracing::info!(tenant = tenant.id, bundle = name, kind = scope.kind().as_str(), rows = %rows_json, mailed, "bundle published");
    Ok(Some(Published { name, rows, mailed }))
}

/// The rows of each CSV in the bundle, as its manifest counts them.
fn rows_per_csv(manifest: &Manifest) -> Vec<(String, u64)> {
    manifest
        .files
        .iter()
        .map(|f| (f.name.clone(), f.rows))
        .collect()
}

/// What a bundle covers: the rows a municipality has not received, or (a full bundle)
/// everything from a date on.
struct Scope {
    since: Option<NaiveDate>,
    /// The first date as the ledger and the manifest take it (`yyyy-mm-dd`).
    iso: Option<String>,
    /// The first date as people read it (`dd-mm-yyyy`).
    shown: Option<String>,
}

impl Scope {
    fn new(since: Option<NaiveDate>) -> Self {
        Self {
            since,
            iso: since.map(|d| d.format("%Y-%m-%d").to_string()),
            shown: since.map(|d| d.format("%d-%m-%Y").to_string()),
        }
    }

    fn kind(&self) -> BundleKind {
        if self.since.is_some() {
            BundleKind::Full
        } else {
            BundleKind::Incremental
        }
    }

    fn since(&self) -> Option<&str> {
        self.iso.as_deref()
    }

    /// What a full bundle covers, as `LEESMIJ.txt` and the mail say it; `None` for a
    /// weekly one.
    fn covers(&self) -> Option<messages::Covers<'_>> {
        match (self.since, self.shown.as_deref()) {
            (Some(EVERYTHING), _) => Some(messages::Covers::Everything),
            (_, Some(date)) => Some(messages::Covers::Since(date)),
            _ => None,
        }
    }
}

/// One bundle being made: for whom, under which name, when, and what it covers.
struct Making<'a> {
    config: &'a Config,
    tenant: &'a Tenant,
    name: &'a str,
    local: DateTime<chrono_tz::Tz>,
    scope: &'a Scope,
}

/// How a bundle's I/O error reads: with the bundle's name.
fn io_error(name: &str) -> impl Fn(io::Error) -> PublishError + '_ {
    move |source| PublishError::Io {
        name: name.to_owned(),
        source,
    }
}

/// `base`, or the first numbered variant of it, that no recorded bundle has: two
/// publications in the same second must not share a name.
fn free_name(ledger: &Ledger, base: &str) -> Result<String, PublishError> {
    let mut n = 1;
    loop {
        let name = crate::layout::candidate(base, n);
        if !ledger.bundle_recorded(&name)? {
            return Ok(name);
        }
        n += 1;
    }
}

/// Writes the whole zip under `publication`: the rows, the figures, `LEESMIJ.txt`,
/// `Overzicht.html` and the manifest; returns the manifest and the latest quarter's figures.
fn write_bundle(
    making: &Making<'_>,
    key: &Keyed,
    publication: &mut Publication<'_>,
    mut writer: BundleWriter,
) -> Result<(Manifest, Option<crate::ledger::Indicators>), PublishError> {
    let io_err = io_error(making.name);
    let deliveries = write_rows(making, key, publication, &mut writer)?;
    let (figures, per_provider) = publication.figures()?;
    writer
        .csv(
            codebook::INDICATOREN.name,
            &codebook::INDICATOREN.header(),
            figures.iter().map(|f| Ok(indicator_row(f))),
        )
        .map_err(&io_err)?;
    writer
        .csv(
            codebook::INDICATOREN_PER_AANBIEDER.name,
            &codebook::INDICATOREN_PER_AANBIEDER.header(),
            per_provider.iter().map(|f| Ok(provider_indicator_row(f))),
        )
        .map_err(&io_err)?;
    let (config, tenant, local) = (making.config, making.tenant, making.local);
    let about = codebook::About {
        bundle: making.name,
        municipality: &tenant.name,
        code: &tenant.code,
        full: making.scope.covers(),
        made: &local.format("%d-%m-%Y %H:%M").to_string(),
    };
    writer
        .text("LEESMIJ.txt", &codebook::leesmij(&about, config.language))
        .map_err(&io_err)?;
    let senders = config
        .tenants
        .iter()
        .map(|t| (t.code.as_str(), t.name.as_str()))
        .collect();
    let page = overview::render(
        &overview::Contents {
            about: &about,
            figures: &figures,
            per_provider: &per_provider,
            deliveries: &deliveries,
            senders: &senders,
        },
        config.language,
    );
    writer.text(overview::NAME, &page).map_err(&io_err)?;
    let manifest = Manifest::new(
        &tenant.code,
        making.scope.kind().as_str(),
        making.scope.since(),
        &local.to_rfc3339(),
    );
    let manifest = writer.finish(manifest).map_err(&io_err)?;
    Ok((manifest, figures.into_iter().last()))
}

/// Writes the CSVs of rows the municipality has not received (all from the scope's date
/// on, for a full bundle): decisions, measurements, links and deliveries; returns the
/// deliveries summed per sender, for the overview.
fn write_rows(
    making: &Making<'_>,
    key: &Keyed,
    publication: &Publication<'_>,
    writer: &mut BundleWriter,
) -> Result<overview::Deliveries, PublishError> {
    let io_err = io_error(making.name);
    publication
        .new_decisions(|rows| {
            write_csv(writer, &codebook::BESCHIKKINGEN, rows, |d| {
                decision_row(d, key)
            })
        })?
        .map_err(&io_err)?;
    publication
        .new_measurements(|rows| {
            write_csv(writer, &codebook::METINGEN, rows, |m| {
                measurement_row(m, key)
            })
        })?
        .map_err(&io_err)?;
    crate::pause::point("publish.writing");
    publication
        .new_links(|rows| write_csv(writer, &codebook::KOPPELINGEN, rows, |l| link_row(l, key)))?
        .map_err(&io_err)?;
    let (tz, language) = (making.config.time_zone, making.config.language);
    // Few rows, and each also summed for the overview: formatted here.
    let mut deliveries = overview::Deliveries::default();
    publication
        .new_deliveries(|rows| {
            let file = &codebook::KWALITEIT;
            let lines = rows.map(|d| {
                let d = d.map_err(io::Error::other)?;
                deliveries.add(&d, language);
                Ok(quality_row(d, tz, language))
            });
            writer.csv(file.name, &file.header(), lines)
        })?
        .map_err(&io_err)?;
    Ok(deliveries)
}

/// One line of `Beschikkingen.csv`, its numbers hashed with the municipality's key.
fn decision_row(d: DecisionOut, key: &Keyed) -> Vec<String> {
    vec![
        d.gemeentecode,
        key.hash(d.beschikkingnummer.as_bytes()),
        key.hash(d.pseudonym.as_bytes()),
        d.agb,
        d.productcategorie,
        d.productcode,
        d.ingangsdatum,
        d.einddatum.unwrap_or_default(),
        d.reden.unwrap_or_default(),
    ]
}

/// One line of `Metingen.csv`, its numbers hashed with the municipality's key.
fn measurement_row(m: MeasurementOut, key: &Keyed) -> Vec<String> {
    vec![
        m.agb,
        key.hash(m.metingnummer.as_bytes()),
        key.hash(m.pseudonym.as_bytes()),
        m.datum,
        m.instrument,
        format!("{:02}", m.respondent),
        m.score.map(codebook::decimal).unwrap_or_default(),
        m.status.unwrap_or_default(),
    ]
}

/// One line of `Koppelingen.csv`, its numbers hashed with the municipality's key.
fn link_row(l: LinkOut, key: &Keyed) -> Vec<String> {
    vec![
        key.hash(l.beschikkingnummer.as_bytes()),
        l.agb,
        key.hash(l.metingnummer.as_bytes()),
    ]
}

/// A bundle written to staging, to be recorded.
struct Made<'a> {
    staged: &'a Path,
    /// Rows per CSV, and the same as the ledger stores them.
    rows: &'a [(String, u64)],
    rows_json: &'a serde_json::Value,
    /// The latest quarter's figures, for the mail's headline.
    latest: Option<&'a crate::ledger::Indicators>,
}

/// Commits the bundle's record, its rows' versions and (if `mailed`) its mail to the
/// municipality's contacts, held until the bundle is placed; returns the bundle's id.
fn record(
    making: &Making<'_>,
    publication: Publication<'_>,
    made: &Made<'_>,
    mailed: bool,
    now: DateTime<Utc>,
) -> Result<i64, PublishError> {
    let Made {
        staged,
        rows,
        rows_json,
        latest,
    } = *made;
    let (config, tenant, name) = (making.config, making.tenant, making.name);
    let io_err = io_error(name);
    let (size, sha256) =
        crate::fingerprint::sha256_of(&mut std::fs::File::open(staged).map_err(&io_err)?)
            .map_err(&io_err)?;
    let bundle = NewBundle {
        tenant: &tenant.id,
        name,
        kind: making.scope.kind(),
        rows: rows_json,
        size_bytes: size,
        sha256: &sha256,
        product: None,
    };
    let counts: Vec<(&str, u64)> = rows.iter().map(|(n, r)| (n.as_str(), *r)).collect();
    let text = messages::bundle_published(
        config.language,
        &messages::BundlePublished {
            municipality: &tenant.name,
            bundle: name,
            rows: &counts,
            kept_days: config.retention.bundle_days,
            full: making.scope.covers(),
            headline: latest.map(|(period, figures)| messages::Headline {
                period,
                figures,
                page: messages::FiguresPage::InBundle,
            }),
        },
    );
    let new_mail = text.to_mail("bundle-published", &tenant.id, &tenant.contacts);
    let queued = mailed.then(|| (&new_mail, crate::mail::new_message_id()));
    Ok(publication.commit(
        &bundle,
        queued.as_ref().map(|(m, id)| (*m, id.as_str())),
        now,
    )?)
}

/// Moves a recorded bundle (or report file) from staging into its outbox under its
/// recorded name, and records that, with its mail queued in the same transaction (`mail`
/// rings then). A file of that name already in the outbox is this one if its content is the
/// same (a move cut off after it was linked there); anything else is an error, never a
/// second name. A file in neither place is an error too: it is not recorded as placed.
fn place(
    state: &StateDir,
    ledger: &mut Ledger,
    id: i64,
    tenant: &str,
    name: &str,
    mail: &Wake,
) -> Result<(), PublishError> {
    let io_err = io_error(name);
    let staged = state.staging().join(name);
    let target = state.outbox(tenant).join(name);
    if staged.exists() {
        match rename_no_replace(&staged, &target) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if digest(&staged).map_err(&io_err)? != digest(&target).map_err(&io_err)? {
                    return Err(io_err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        "the outbox holds another file of this name",
                    )));
                }
                std::fs::remove_file(&staged).map_err(&io_err)?;
            }
            Err(e) => return Err(io_err(e)),
        }
    } else if !target.exists() {
        return Err(io_err(io::Error::new(
            io::ErrorKind::NotFound,
            "recorded, but neither in staging/ nor in the outbox",
        )));
    }
    crate::pause::point("publish.placed");
    if ledger.bundle_placed(id, crate::clock::now())? {
        mail.queued();
    }
    Ok(())
}

/// A file's SHA-256.
fn digest(path: &Path) -> io::Result<String> {
    Ok(crate::fingerprint::sha256_of(&mut std::fs::File::open(path)?)?.1)
}

/// Finishes publications (and monthly reports) cut off after their commit, each file's
/// mail queued as it is placed (`mail` rings then), and removes the files of ones cut off
/// before it (never recorded, so none of their rows counts as published). The caller holds
/// the [`OutboxLock`]: no other publication is under way. A recorded file that cannot be
/// placed is logged and left for the next time; the others go on.
fn place_unplaced(state: &StateDir, ledger: &mut Ledger, mail: &Wake) -> Result<(), PublishError> {
    for bundle in ledger.unplaced_bundles()? {
        tracing::warn!(
            tenant = bundle.tenant,
            bundle = bundle.name,
            "placing a file that an interrupted publication recorded"
        );
        if let Err(e) = place(state, ledger, bundle.id, &bundle.tenant, &bundle.name, mail) {
            tracing::error!(tenant = bundle.tenant, error = %e, "cannot place a recorded file; trying again at the next publication");
        }
    }
    if let Ok(entries) = std::fs::read_dir(state.staging()) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let ours = ([PREFIX, ketendata::PREFIX]
                .iter()
                .any(|prefix| name.starts_with(&format!("{prefix}-")))
                && name.ends_with(".zip"))
                || name.starts_with(&format!("{}-", report::PREFIX));
            if ours && !ledger.bundle_recorded(&name)? {
                tracing::warn!(
                    file = name,
                    "removing a file an interrupted publication left unrecorded"
                );
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    Ok(())
}

/// At start-up, before the mail worker runs: places what an interrupted publication or
/// monthly report recorded (queuing its mail as each file is placed) and removes what it
/// left unrecorded, so that a recorded file reaches its outbox, and its mail goes out, at
/// once, not at the next weekly or monthly run.
pub fn place_left_over(config: &Config, ledger: &mut Ledger) -> Result<(), PublishError> {
    let state = StateDir::new(&config.state_dir);
    let _outboxes = OutboxLock::take(&state).map_err(io_error("staging/"))?;
    // The mail worker has not started yet; it looks at the queue when it does.
    place_unplaced(&state, ledger, &Wake::unheard())
}

/// Records a request for a full bundle from `since` on ([`EVERYTHING`] for a
/// `REQUEST-FULL`) at `tenant`'s next publication, and acknowledges it by mail to the
/// contacts in the same transaction: "received, the bundle comes at the next publication
/// on ...". Once per request: while one is pending, another only widens it (the earlier
/// date wins) and is not mailed again. Returns whether this request was new; `mail` rings
/// when its acknowledgement is queued.
pub fn request_full(
    config: &Config,
    ledger: &mut Ledger,
    tenant: &Tenant,
    since: NaiveDate,
    now: DateTime<Utc>,
    mail: &Wake,
) -> Result<bool, PublishError> {
    let since_text = since.format("%d-%m-%Y").to_string();
    let covers = match since {
        EVERYTHING => messages::Covers::Everything,
        _ => messages::Covers::Since(&since_text),
    };
    let text = request_acknowledgement(config, tenant, covers, now);
    let ack_mail = text.to_mail("full-requested", &tenant.id, &tenant.contacts);
    let message_id = crate::mail::new_message_id();
    let ack = (!tenant.contacts.is_empty()).then_some((&ack_mail, message_id.as_str()));
    let new = ledger.request_full(&tenant.id, since, ack, now)?;
    if new && ack.is_some() {
        mail.queued();
    }
    tracing::info!(
        tenant = tenant.id,
        since = %since,
        new,
        acknowledged = new && ack.is_some(),
        "full bundle request recorded"
    );
    Ok(new)
}

/// The mail that acknowledges a request for a full bundle covering `covers`, made `now`:
/// it is in, and comes at the next publication (named by its local time).
fn request_acknowledgement(
    config: &Config,
    tenant: &Tenant,
    covers: messages::Covers<'_>,
    now: DateTime<Utc>,
) -> messages::Text {
    let lang = config.language;
    let next = crate::schedule::of_job(crate::schedule::PUBLISH, config)
        .map(|s| s.next_after(now).with_timezone(&config.time_zone))
        .map(|t| messages::moment(lang, t.naive_local()))
        .unwrap_or_default();
    messages::full_requested(
        lang,
        &messages::FullRequested {
            municipality: &tenant.name,
            covers,
            next: &next,
        },
    )
}

/// Whether the `REQUEST-FULL` at `path` is there and was made at or before `at`.
fn requested_by_file(path: &Path, at: DateTime<Utc>) -> bool {
    path.symlink_metadata()
        .and_then(|m| m.modified())
        .is_ok_and(|t| DateTime::<Utc>::from(t) <= at)
}

/// The weekly publication for `tenant`: an incremental bundle, and a full one if asked for
/// (by [`request_full`], recorded in the ledger, or by a `REQUEST-FULL` in the outbox,
/// which asks for everything); a request is cleared once its bundle is out. Only requests
/// made before `now` count: one made while this publication runs waits for the next, as
/// its acknowledgement said.
pub fn publish_due(
    config: &Config,
    ledger: &mut Ledger,
    tenant: &Tenant,
    now: DateTime<Utc>,
    mail: &Wake,
) -> Result<Vec<Published>, PublishError> {
    let mut made: Vec<Published> = publish(config, ledger, tenant, now, None, mail)?
        .into_iter()
        .collect();
    let request_file = StateDir::new(&config.state_dir).request_full(&tenant.id);
    let from_file = requested_by_file(&request_file, now).then_some(EVERYTHING);
    let from_ledger = ledger.full_request(&tenant.id, now)?;
    let since = match (from_file, from_ledger) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if let Some(since) = since {
        made.extend(publish(config, ledger, tenant, now, Some(since), mail)?);
        ledger.full_request_served(&tenant.id, now)?;
        if from_file.is_some() && requested_by_file(&request_file, now) {
            let _ = std::fs::remove_file(&request_file);
        }
    }
    made.extend(ketendata_due(config, ledger, tenant, now, mail)?);
    Ok(made)
}

/// The weekly publication ([`publish_due`]) of each of `municipalities` in turn, with each
/// one's outcome. One municipality's failure (its key, its outbox, its files) is logged and
/// the next goes on: its bundles wait for the next run, the others' do not. Asks `stop`
/// between municipalities, never during one.
pub fn publish_all_due<'a>(
    config: &Config,
    ledger: &mut Ledger,
    municipalities: impl IntoIterator<Item = &'a Tenant>,
    now: DateTime<Utc>,
    mail: &Wake,
    stop: &dyn Fn() -> bool,
) -> Vec<(&'a Tenant, Result<Vec<Published>, PublishError>)> {
    let mut outcomes = Vec::new();
    for tenant in municipalities {
        if stop() {
            break;
        }
        let outcome = publish_due(config, ledger, tenant, now, mail);
        if let Err(e) = &outcome {
            tracing::error!(
                tenant = tenant.id,
                error = %e,
                "publication failed for this municipality; the others go on"
            );
        }
        outcomes.push((tenant, outcome));
    }
    outcomes
}

/// The weekly Ketendata bundles of `tenant`, per law: the messages no bundle carried yet,
/// and a total file if asked for (`REQUEST-FULL-IJW` in the outbox, everything from
/// [`ketendata::FROM`] on, or a request in the ledger).
fn ketendata_due(
    config: &Config,
    ledger: &mut Ledger,
    tenant: &Tenant,
    now: DateTime<Utc>,
    mail: &Wake,
) -> Result<Vec<Published>, PublishError> {
    let mut made = Vec::new();
    let state = StateDir::new(&config.state_dir);
    for standard in Standard::ALL {
        made.extend(ketendata::publish(
            config, ledger, tenant, standard, now, None, mail,
        )?);
        let request_file = state.request_ketendata(&tenant.id, standard.product());
        let from_file = requested_by_file(&request_file, now).then_some(ketendata::FROM);
        let from_ledger = ledger.ketendata_request(&tenant.id, standard.product(), now)?;
        let since = match (from_file, from_ledger) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(since) = since {
            made.extend(ketendata::publish(
                config,
                ledger,
                tenant,
                standard,
                now,
                Some(since),
                mail,
            )?);
            ledger.ketendata_request_served(&tenant.id, standard.product(), now)?;
            if from_file.is_some() && requested_by_file(&request_file, now) {
                let _ = std::fs::remove_file(&request_file);
            }
        }
    }
    Ok(made)
}

/// Records a request for a full Ketendata bundle of `standard` from `since` on at
/// `tenant`'s next publication, acknowledged by mail once per pending request (as
/// [`request_full`]); returns whether it was new.
pub fn request_ketendata(
    config: &Config,
    ledger: &mut Ledger,
    tenant: &Tenant,
    standard: Standard,
    since: NaiveDate,
    now: DateTime<Utc>,
    mail: &Wake,
) -> Result<bool, PublishError> {
    let since_text = since.format("%d-%m-%Y").to_string();
    let text = request_acknowledgement(config, tenant, messages::Covers::Since(&since_text), now);
    let ack_mail = text.to_mail("full-requested", &tenant.id, &tenant.contacts);
    let message_id = crate::mail::new_message_id();
    let ack = (!tenant.contacts.is_empty()).then_some((&ack_mail, message_id.as_str()));
    let new = ledger.request_ketendata(&tenant.id, standard.product(), since, ack, now)?;
    if new && ack.is_some() {
        mail.queued();
    }
    tracing::info!(
        tenant = tenant.id,
        product = standard.product(),
        since = %since,
        new,
        "full Ketendata request recorded"
    );
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figures::{Figures, Mean};

    #[test]
    fn a_full_bundle_says_totaal_in_its_name() {
        let made = NaiveDate::from_ymd_opt(2026, 11, 22)
            .unwrap()
            .and_hms_opt(6, 0, 0)
            .unwrap();
        assert_eq!(
            bundle_name("utrecht", false, made),
            "Bundel-utrecht-20261122060000.zip"
        );
        assert_eq!(
            bundle_name("utrecht", true, made),
            "Bundel-utrecht-totaal-20261122060000.zip"
        );
    }

    #[test]
    fn a_bundle_with_only_figures_has_no_rows() {
        let rows = |m: u64, k: u64, i: u64| {
            vec![
                ("Beschikkingen.csv", 0),
                ("Metingen.csv", m),
                ("Koppelingen.csv", 0),
                ("Kwaliteit.csv", k),
                ("Indicatoren.csv", i),
            ]
        };
        assert!(without_rows(&rows(0, 0, 0)));
        assert!(without_rows(&rows(0, 0, 4)), "the figures are no news");
        assert!(!without_rows(&rows(1, 0, 4)));
        assert!(
            !without_rows(&rows(0, 1, 0)),
            "a delivery in Kwaliteit.csv is news, even one without accepted rows"
        );
    }

    #[test]
    fn figures_over_fewer_than_ten_clients_are_suppressed() {
        let mut f = Figures {
            ended: 20,
            clients: 10,
            responded: 15,
            ct: Mean {
                sum: 75.0,
                count: 10,
            },
            gas: Mean::default(),
            dropout: 4,
            measurements: 12,
        };
        assert_eq!(
            indicator_row(&("2026-Q3".into(), f.clone())),
            [
                "2026-Q3", "20", "10", "0,750", "7,50", "", "0,200", "12", "0"
            ]
        );
        f.clients = 9;
        assert_eq!(
            indicator_row(&("2026-Q3".into(), f)),
            ["2026-Q3", "", "", "", "", "", "", "", "1"]
        );
    }
}
