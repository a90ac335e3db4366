//! Publication (DESIGN 2.4, 5): for a municipality, a zip of everything it has not yet
//! received in its current version — its decisions, the measurements linked to them, the
//! links, and how each delivery for its decisions fared — with the figures per quarter, and
//! every identifier hashed again with the municipality's own key.
//!
//! The zip is built in `staging/` while the ledger's write lock is held; the rows'
//! publication is committed with the bundle's record; only then is the zip renamed into the
//! outbox. A crash before the commit leaves an unrecorded zip in staging (removed at the
//! next publication) and no row marked; a crash after it leaves a recorded zip in staging
//! that the next publication moves into place. So a row is in exactly one incremental
//! bundle, and no partial zip is ever in an outbox.

use std::io;
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

use crate::bundle::{BundleWriter, Manifest};
use crate::codebook;
use crate::config::{Config, Tenant};
use crate::layout::{StateDir, move_no_replace};
use crate::ledger::{Ledger, LedgerError, NewBundle};
use crate::mail::messages;
use crate::pseudonym::{KeyError, Keyed};

/// The first part of a bundle's name: `<PREFIX>-<tenant>-<yyyyMMddHHmmss>.zip`.
pub const PREFIX: &str = "Bundel";

/// Why a publication failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("cannot make the key of {tenant}: {message}")]
    NewKey { tenant: String, message: String },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("bundle {name}: {source}")]
    Io { name: String, source: io::Error },
}

/// What one publication made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub name: String,
    /// Rows per CSV.
    pub rows: Vec<(String, u64)>,
}

/// The municipality's own key (beside the TTP key), made on first use.
pub fn municipality_key(config: &Config, tenant: &Tenant) -> Result<Keyed, PublishError> {
    let dir = config.ttp_key_file.parent().unwrap_or(Path::new("."));
    let path = dir.join(format!("municipality-{}.key", tenant.id));
    if !path.exists() {
        crate::secrets::write_new_key(&path).map_err(|e| PublishError::NewKey {
            tenant: tenant.id.clone(),
            message: e.to_string(),
        })?;
        tracing::info!(tenant = tenant.id, path = %path.display(), "municipality key made");
    }
    Ok(Keyed::load(&path)?)
}

/// One line of `Kwaliteit.csv`: times in the configured zone, the outcome in Dutch, and
/// the top rejection reasons as `rule (count)`.
fn quality_row(d: crate::ledger::DeliveryOut, tz: chrono_tz::Tz) -> Vec<String> {
    let local = |t: DateTime<Utc>| {
        t.with_timezone(&tz)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
    };
    let outcome = match d.state.as_str() {
        "processed" => "verwerkt",
        "rejected" => "afgewezen",
        "quarantined" => "quarantaine",
        "duplicate" => "dubbel",
        other => other,
    };
    let count = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
    let reasons: Vec<String> = d
        .reasons
        .iter()
        .map(|(rule, n)| format!("{rule} ({n})"))
        .collect();
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
        reasons.join(", "),
    ]
}

/// Writes one CSV from rows the ledger streams, each turned into cells by `cells`.
fn write_csv<R>(
    writer: &mut BundleWriter,
    file: &codebook::File,
    rows: &mut dyn Iterator<Item = rusqlite::Result<R>>,
    cells: impl Fn(R) -> Vec<String>,
) -> io::Result<u64> {
    writer.csv(
        file.name,
        &file.header(),
        rows.map(|r| r.map(&cells).map_err(io::Error::other)),
    )
}

/// One line of `Indicatoren.csv`: shares and means with their counts, or, for fewer than
/// [`MIN_CLIENTS`](crate::figures::MIN_CLIENTS) clients, every figure empty and
/// `onderdrukt` (suppressed) 1.
fn indicator_row((period, f): &crate::ledger::Indicators) -> Vec<String> {
    if f.suppressed() {
        let mut row = vec![period.clone()];
        row.extend(std::iter::repeat_n(String::new(), 7));
        row.push("1".into());
        return row;
    }
    let number = |v: Option<f64>, decimals: usize| {
        v.map(|v| codebook::number(v, decimals)).unwrap_or_default()
    };
    vec![
        period.clone(),
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
/// bundles carry).
pub fn publish(
    config: &Config,
    ledger: &mut Ledger,
    tenant: &Tenant,
    now: DateTime<Utc>,
    since: Option<NaiveDate>,
) -> Result<Published, PublishError> {
    let full_since = since.map(|d| d.format("%d-%m-%Y").to_string());
    let since_text = since.map(|d| d.format("%Y-%m-%d").to_string());
    let since = since_text.as_deref();
    let kind = if since.is_some() {
        "full"
    } else {
        "incremental"
    };
    let state = StateDir::new(&config.state_dir);
    place_unplaced(&state, ledger)?;
    let key = municipality_key(config, tenant)?;
    let local = now.with_timezone(&config.time_zone);
    let base = format!(
        "{PREFIX}-{}-{}.zip",
        tenant.id,
        local.format("%Y%m%d%H%M%S")
    );
    let mut n = 1;
    let name = loop {
        let name = crate::layout::candidate(&base, n);
        if !ledger.bundle_recorded(&name)? {
            break name;
        }
        n += 1;
    };
    let staged = state.staging().join(&name);
    let io_err = |source| PublishError::Io {
        name: name.clone(),
        source,
    };
    let publication = ledger.begin_publication()?;
    let mut writer = BundleWriter::create(&staged, local.naive_local()).map_err(io_err)?;
    let built = (|| -> Result<Manifest, PublishError> {
        let (id, code) = (tenant.id.as_str(), tenant.code.as_str());
        let h = |v: &str| key.hash(v.as_bytes());
        publication
            .new_decisions(id, code, since, |rows| {
                write_csv(&mut writer, &codebook::BESCHIKKINGEN, rows, |d| {
                    vec![
                        d.gemeentecode,
                        h(&d.beschikkingnummer),
                        h(&d.pseudonym),
                        d.agb,
                        d.productcategorie,
                        d.productcode,
                        d.ingangsdatum,
                        d.einddatum.unwrap_or_default(),
                        d.reden.unwrap_or_default(),
                    ]
                })
            })?
            .map_err(io_err)?;
        publication
            .new_measurements(id, code, since, |rows| {
                write_csv(&mut writer, &codebook::METINGEN, rows, |m| {
                    vec![
                        m.agb,
                        h(&m.metingnummer),
                        h(&m.pseudonym),
                        m.datum,
                        m.instrument,
                        format!("{:02}", m.respondent),
                        m.score.map(codebook::decimal).unwrap_or_default(),
                        m.status.unwrap_or_default(),
                    ]
                })
            })?
            .map_err(io_err)?;
        crate::pause::point("publish.writing");
        publication
            .new_links(id, code, since, |rows| {
                write_csv(&mut writer, &codebook::KOPPELINGEN, rows, |l| {
                    vec![h(&l.beschikkingnummer), l.agb, h(&l.metingnummer)]
                })
            })?
            .map_err(io_err)?;
        publication
            .new_deliveries(id, code, since, |rows| {
                write_csv(&mut writer, &codebook::KWALITEIT, rows, |d| {
                    quality_row(d, config.time_zone)
                })
            })?
            .map_err(io_err)?;
        let figures = publication.indicators(code)?;
        writer
            .csv(
                codebook::INDICATOREN.name,
                &codebook::INDICATOREN.header(),
                figures.iter().map(|f| Ok(indicator_row(f))),
            )
            .map_err(io_err)?;
        let about = codebook::About {
            bundle: &name,
            municipality: &tenant.name,
            code: &tenant.code,
            full_since: full_since.as_deref(),
            made: &local.format("%d-%m-%Y %H:%M").to_string(),
        };
        writer
            .text("LEESMIJ.txt", &codebook::leesmij(&about))
            .map_err(io_err)?;
        let manifest = Manifest::new(&tenant.code, kind, since, &local.to_rfc3339());
        writer.finish(manifest).map_err(io_err)
    })();
    let manifest = match built {
        Ok(manifest) => manifest,
        Err(e) => {
            let _ = std::fs::remove_file(&staged);
            return Err(e);
        }
    };
    let (size, sha256) =
        crate::intake::sha256_of(&mut std::fs::File::open(&staged).map_err(io_err)?)
            .map_err(io_err)?;
    let rows: Vec<(String, u64)> = manifest
        .files
        .iter()
        .map(|f| (f.name.clone(), f.rows))
        .collect();
    let rows_json = json!(
        rows.iter()
            .map(|(n, r)| (n.clone(), *r))
            .collect::<std::collections::BTreeMap<_, _>>()
    );
    let bundle = NewBundle {
        municipality: &tenant.id,
        name: &name,
        kind,
        rows: &rows_json,
        size_bytes: size,
        sha256: &sha256,
    };
    let counts: Vec<(&str, u64)> = rows.iter().map(|(n, r)| (n.as_str(), *r)).collect();
    let text = messages::bundle_published(
        config.mail.language,
        &messages::BundlePublished {
            municipality: &tenant.name,
            bundle: &name,
            rows: &counts,
            kept_days: config.retention.bundle_days,
        },
    );
    let new_mail = text.to_mail("bundle-published", &tenant.id, &tenant.contacts);
    let queued = (!tenant.contacts.is_empty()).then(|| (&new_mail, crate::mail::new_message_id()));
    let id = publication.commit(
        &bundle,
        &tenant.code,
        queued.as_ref().map(|(m, id)| (*m, id.as_str())),
        now,
    )?;
    crate::pause::point("publish.committed");
    place(&state, ledger, id, &tenant.id, &name)?;
    tracing::info!(tenant = tenant.id, bundle = name, kind, rows = %rows_json, "bundle published");
    Ok(Published { name, rows })
}

/// Moves a recorded bundle from staging into its outbox and records that.
fn place(
    state: &StateDir,
    ledger: &mut Ledger,
    id: i64,
    municipality: &str,
    name: &str,
) -> Result<(), PublishError> {
    let staged = state.staging().join(name);
    if staged.exists() {
        move_no_replace(&staged, &state.outbox(municipality), name).map_err(|source| {
            PublishError::Io {
                name: name.to_owned(),
                source,
            }
        })?;
    }
    crate::pause::point("publish.placed");
    ledger.bundle_placed(id, Utc::now())?;
    Ok(())
}

/// Finishes publications cut off after their commit, and removes zips of ones cut off
/// before it (they were never recorded, so none of their rows counts as published).
fn place_unplaced(state: &StateDir, ledger: &mut Ledger) -> Result<(), PublishError> {
    for bundle in ledger.unplaced_bundles()? {
        tracing::warn!(
            tenant = bundle.municipality,
            bundle = bundle.name,
            "placing a bundle that an interrupted publication recorded"
        );
        place(state, ledger, bundle.id, &bundle.municipality, &bundle.name)?;
    }
    if let Ok(entries) = std::fs::read_dir(state.staging()) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&format!("{PREFIX}-"))
                && name.ends_with(".zip")
                && !ledger.bundle_recorded(&name)?
            {
                tracing::warn!(
                    bundle = name,
                    "removing a bundle an interrupted publication left unrecorded"
                );
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    Ok(())
}

/// The file a municipality puts into its outbox to ask for a full bundle.
pub const REQUEST_FULL: &str = "REQUEST-FULL";

/// The weekly publication for `tenant`: an incremental bundle, and a full one if asked for
/// (by `publish --full`, recorded in the ledger, or by a `REQUEST-FULL` in the outbox,
/// which asks for everything); a request is cleared once its bundle is out.
pub fn publish_due(
    config: &Config,
    ledger: &mut Ledger,
    tenant: &Tenant,
    now: DateTime<Utc>,
) -> Result<Vec<Published>, PublishError> {
    let mut made = vec![publish(config, ledger, tenant, now, None)?];
    let request_file = StateDir::new(&config.state_dir)
        .outbox(&tenant.id)
        .join(REQUEST_FULL);
    let from_file = request_file
        .exists()
        .then(|| NaiveDate::from_ymd_opt(1900, 1, 1).expect("a valid date"));
    let from_ledger = ledger.full_request(&tenant.id)?;
    let since = match (from_file, from_ledger) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    if let Some(since) = since {
        made.push(publish(config, ledger, tenant, now, Some(since))?);
        ledger.full_request_served(&tenant.id)?;
        if from_file.is_some() {
            let _ = std::fs::remove_file(&request_file);
        }
    }
    Ok(made)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figures::{Figures, Mean};

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
