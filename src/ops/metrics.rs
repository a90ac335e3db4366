//! The metrics endpoint (issue 16, item 3): `GET /metrics` in the Prometheus text format
//! (the `prometheus` crate's encoder), on `[metrics] listen` (off unless configured;
//! loopback unless `allow_remote`), served by hyper on the daemon's own tokio runtime.
//!
//! Each scrape reads the ledger read-only (deliveries by state and tenant kind, rows
//! accepted and rejected, the mail queue, when each job last ran and last succeeded), the
//! process's `counters` (logins, bans, bytes, sessions, job durations) and the free space
//! under the state directory, and encodes a fresh registry of them: nothing is kept between
//! scrapes, so a figure is never stale and a restart loses only the process's own counts.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus::{
    Encoder, GaugeVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::counters;
use crate::layout::StateDir;
use crate::ledger::Ledger;

/// Every delivery state and tenant kind, so that each series exists from the start (a
/// rate of a series that appears late is lost to an alert).
const STATES: [&str; 6] = [
    "received",
    "duplicate",
    "processed",
    "rejected",
    "quarantined",
    "withdrawn",
];
const KINDS: [&str; 2] = ["supplier", "municipality"];
const MAIL_STATES: [&str; 3] = ["queued", "sent", "failed"];

/// Binds the metrics address of `config`, if it has one.
pub(crate) async fn bind(config: &Config) -> std::io::Result<Option<TcpListener>> {
    match &config.metrics {
        None => Ok(None),
        Some(metrics) => TcpListener::bind(metrics.listen).await.map(Some),
    }
}

/// Scrapes answered at once; more wait for a turn (each reads the ledger on the blocking
/// pool, shared with the SFTP server and the jobs).
const MAX_CONNECTIONS: usize = 4;

/// The longest one connection may last: a scrape takes well under a second, and a client
/// that opens a connection and sends nothing must not hold it.
const CONNECTION_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// Answers scrapes on `listener` until `shutdown`.
pub(crate) async fn serve(
    listener: TcpListener,
    config: watch::Receiver<Arc<Config>>,
    shutdown: CancellationToken,
) {
    let turns = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let config = config.clone();
        let shutdown = shutdown.clone();
        let Ok(turn) = turns.clone().acquire_owned().await else {
            return;
        };
        tokio::spawn(async move {
            let _turn = turn;
            let service = hyper::service::service_fn(move |request| {
                let config = config.borrow().clone();
                answer(request, config)
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = shutdown.cancelled() => {}
                served = tokio::time::timeout(CONNECTION_TIME, connection) => match served {
                    Ok(Err(e)) => tracing::debug!(error = %e, %peer, "metrics: connection ended"),
                    Err(_) => tracing::debug!(%peer, "metrics: connection held too long; closed"),
                    Ok(Ok(())) => {}
                }
            }
        });
    }
}

/// The answer to one request: the metrics for `GET /metrics`, 404 for anything else.
async fn answer(
    request: Request<hyper::body::Incoming>,
    config: Arc<Config>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let reply = |status: StatusCode, kind: &str, body: String| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = status;
        if let Ok(value) = kind.parse() {
            response
                .headers_mut()
                .insert(hyper::header::CONTENT_TYPE, value);
        }
        Ok(response)
    };
    if request.method() != Method::GET || request.uri().path() != "/metrics" {
        return reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "dropgate serves GET /metrics only\n".into(),
        );
    }
    let rendered = tokio::task::spawn_blocking(move || render(&config)).await;
    match rendered {
        Ok(Ok(text)) => reply(StatusCode::OK, prometheus::TEXT_FORMAT, text),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "metrics: cannot read the figures");
            reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                "text/plain",
                format!("{e}\n"),
            )
        }
        Err(e) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            format!("{e}\n"),
        ),
    }
}

/// The metrics now, in the Prometheus text format.
fn render(config: &Config) -> Result<String, String> {
    let state = StateDir::new(&config.state_dir);
    let ledger = Ledger::open_read_only(&state.ledger()).map_err(|e| e.to_string())?;
    let m = ledger.monitoring().map_err(|e| e.to_string())?;
    let registry = Registry::new();
    let metric = |e: prometheus::Error| e.to_string();

    let deliveries = IntGaugeVec::new(
        Opts::new(
            "dropgate_deliveries",
            "Deliveries in the ledger, by state and tenant kind.",
        ),
        &["state", "tenant_kind"],
    )
    .map_err(metric)?;
    for state in STATES {
        for kind in KINDS {
            deliveries.with_label_values(&[state, kind]).set(0);
        }
    }
    for (state, kind, n) in &m.deliveries {
        deliveries
            .with_label_values(&[state.as_str(), kind.as_str()])
            .set(*n);
    }
    let rows = IntCounterVec::new(
        Opts::new(
            "dropgate_rows_total",
            "Rows of processed deliveries, by outcome.",
        ),
        &["outcome"],
    )
    .map_err(metric)?;
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    rows.with_label_values(&["accepted"])
        .inc_by(count(m.rows_accepted));
    rows.with_label_values(&["rejected"])
        .inc_by(count(m.rows_rejected));
    let mail = IntGaugeVec::new(
        Opts::new(
            "dropgate_mail_messages",
            "Messages in the mail queue, by state.",
        ),
        &["state"],
    )
    .map_err(metric)?;
    for state in MAIL_STATES {
        mail.with_label_values(&[state]).set(0);
    }
    for (state, n) in &m.mail {
        mail.with_label_values(&[state.as_str()]).set(*n);
    }

    let last_run = GaugeVec::new(
        Opts::new(
            "dropgate_job_last_run_timestamp_seconds",
            "When each scheduled job last ran (Unix time).",
        ),
        &["job"],
    )
    .map_err(metric)?;
    let last_success = GaugeVec::new(
        Opts::new(
            "dropgate_job_last_success_timestamp_seconds",
            "When each scheduled job last ran without failing (Unix time).",
        ),
        &["job"],
    )
    .map_err(metric)?;
    for job in &m.jobs {
        last_run
            .with_label_values(&[job.name.as_str()])
            .set(job.last_run.timestamp() as f64);
        if let Some(ok) = job.last_ok {
            last_success
                .with_label_values(&[job.name.as_str()])
                .set(ok.timestamp() as f64);
        }
    }
    let duration = GaugeVec::new(
        Opts::new(
            "dropgate_job_duration_seconds",
            "How long each job's last run in this daemon took.",
        ),
        &["job"],
    )
    .map_err(metric)?;
    for (job, seconds) in counters::job_seconds() {
        duration.with_label_values(&[job]).set(seconds);
    }

    let logins = IntCounterVec::new(
        Opts::new(
            "dropgate_sftp_logins_total",
            "SFTP logins since the daemon started, by result.",
        ),
        &["result"],
    )
    .map_err(metric)?;
    logins
        .with_label_values(&["ok"])
        .inc_by(counters::LOGINS_OK.get());
    logins
        .with_label_values(&["failed"])
        .inc_by(counters::LOGINS_FAILED.get());
    let bans = IntCounter::new(
        "dropgate_sftp_bans_total",
        "Source addresses banned for failed logins since the daemon started.",
    )
    .map_err(metric)?;
    bans.inc_by(counters::BANS.get());
    let bytes = IntCounterVec::new(
        Opts::new(
            "dropgate_sftp_bytes_total",
            "Bytes over SFTP since the daemon started: complete uploads (up) and downloads (down).",
        ),
        &["direction"],
    )
    .map_err(metric)?;
    bytes
        .with_label_values(&["up"])
        .inc_by(counters::BYTES_UP.get());
    bytes
        .with_label_values(&["down"])
        .inc_by(counters::BYTES_DOWN.get());
    let sessions = IntGauge::new(
        "dropgate_sftp_sessions",
        "Logged-in SFTP sessions open now.",
    )
    .map_err(metric)?;
    sessions.set(counters::SESSIONS.get());

    let space = crate::storage::space(&config.state_dir).map_err(|e| e.to_string())?;
    let (free, size) = (space.free_bytes, space.total_bytes);
    let disk_free = IntGauge::new(
        "dropgate_disk_free_bytes",
        "Bytes free for the daemon under the state directory.",
    )
    .map_err(metric)?;
    disk_free.set(i64::try_from(free).unwrap_or(i64::MAX));
    let disk_size = IntGauge::new(
        "dropgate_disk_size_bytes",
        "Size of the file system of the state directory.",
    )
    .map_err(metric)?;
    disk_size.set(i64::try_from(size).unwrap_or(i64::MAX));

    for collector in [
        Box::new(deliveries) as Box<dyn prometheus::core::Collector>,
        Box::new(rows),
        Box::new(mail),
        Box::new(last_run),
        Box::new(last_success),
        Box::new(duration),
        Box::new(logins),
        Box::new(bans),
        Box::new(bytes),
        Box::new(sessions),
        Box::new(disk_free),
        Box::new(disk_size),
    ] {
        registry.register(collector).map_err(metric)?;
    }
    let mut out = Vec::new();
    prometheus::TextEncoder::new()
        .encode(&registry.gather(), &mut out)
        .map_err(metric)?;
    String::from_utf8(out).map_err(|e| e.to_string())
}

/// The address a running endpoint answers on, for the log.
pub(crate) fn describe(listener: &TcpListener) -> Option<SocketAddr> {
    listener.local_addr().ok()
}
