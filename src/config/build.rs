//! From [`RawConfig`] to [`Config`]: every check, every problem collected.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::message::Language;

use chrono::{NaiveTime, Weekday};
use chrono_tz::Tz;
use ipnet::IpNet;

use super::raw::{
    RawConfig, RawLimits, RawMail, RawPublish, RawSchedule, RawSftp, RawSmtp, RawTenant, RawUser,
};
use super::*;

/// Collects problems while checking, and the files the configuration names.
struct Checker<'a> {
    problems: &'a mut Vec<Problem>,
    named: NamedFiles,
    files: Vec<NamedFile>,
}

impl Checker<'_> {
    /// Records that `setting` names the file at `path`; whether to read it: not when it
    /// may be absent and is.
    fn names(&mut self, setting: String, path: &Path) -> bool {
        self.files.push(NamedFile {
            setting,
            path: path.to_owned(),
        });
        self.named == NamedFiles::MustExist
            || !matches!(std::fs::metadata(path), Err(e) if e.kind() == std::io::ErrorKind::NotFound)
    }

    fn fail(&mut self, path: KeyPath, message: impl Into<String>) {
        self.problems.push(Problem::new(path, message));
    }

    /// `Some(v)` when `result` is Ok, otherwise records the problem at `path`.
    fn check<T, E: std::fmt::Display>(&mut self, path: KeyPath, result: Result<T, E>) -> Option<T> {
        result.map_err(|e| self.fail(path, e.to_string())).ok()
    }
}

fn root(key: &str) -> KeyPath {
    KeyPath::default().key(key)
}

pub(super) fn build(
    raw: RawConfig,
    source: &Path,
    base: &Path,
    named: NamedFiles,
    problems: &mut Vec<Problem>,
) -> Option<Config> {
    let mut c = Checker {
        problems,
        named,
        files: Vec::new(),
    };
    let state_dir = resolve(base, &raw.state_dir);
    let time_zone = c.check(
        root("time_zone"),
        raw.time_zone.parse::<Tz>().map_err(|_| {
            format!(
                "unknown time zone {:?} (use an IANA name such as Europe/Amsterdam)",
                raw.time_zone
            )
        }),
    );
    let ttp_key_file = raw.ttp_key_file.as_deref().map_or_else(
        || crate::layout::StateDir::new(&state_dir).ttp_key(),
        |p| resolve(base, p),
    );
    let schedule = schedule(&mut c, &raw.schedule);
    let retention = retention(&mut c, &raw.retention);
    let publish = publish(&mut c, &raw.publish);
    let backup = backup(&mut c, &raw.backup, base, &state_dir);
    let metrics = metrics(&mut c, &raw.metrics);
    let sftp = sftp(&mut c, &raw.sftp, &state_dir);
    let mail = mail(&mut c, &raw.mail, base, &state_dir);
    let language = language(
        &mut c,
        raw.language.as_deref(),
        raw.mail.language.as_deref(),
    );
    let (file_limits, reader) = limits(&mut c, &raw.limits);
    let tenants = tenants(&mut c, &raw.tenants, &raw.limits);
    let users = users(&mut c, &raw.users, &tenants, base);
    Some(Config {
        source: source.to_owned(),
        state_dir,
        time_zone: time_zone?,
        ttp_key_file,
        schedule: schedule?,
        retention: retention?,
        publish,
        backup,
        metrics,
        file_limits,
        reader,
        sftp: sftp?,
        mail: mail?,
        language: language?,
        tenants,
        users,
        allow_empty: raw.allow_empty,
        named_files: c.files,
    })
}

/// `[limits]`: what a reader may buffer and how many rows a file may have, and what the
/// confined reader may use. Every limit is more than 0.
fn limits(
    c: &mut Checker,
    raw: &RawLimits,
) -> (
    crate::check::formats::Limits,
    crate::check::confine::Confinement,
) {
    for (key, value) in [
        ("max_file_bytes", raw.max_file_bytes),
        ("max_line_bytes", raw.max_line_bytes),
        ("max_field_bytes", raw.max_field_bytes),
        ("max_rows", raw.max_rows),
        ("max_unpacked_bytes", raw.max_unpacked_bytes),
        ("reader_memory_mib", raw.reader_memory_mib),
        ("reader_cpu_secs", raw.reader_cpu_secs),
    ] {
        if value == 0 {
            c.fail(root("limits").key(key), "must be more than 0");
        }
    }
    let file_limits = crate::check::formats::Limits {
        max_line_bytes: usize::try_from(raw.max_line_bytes).unwrap_or(usize::MAX),
        max_field_bytes: usize::try_from(raw.max_field_bytes).unwrap_or(usize::MAX),
        max_rows: raw.max_rows,
        max_unpacked_bytes: raw.max_unpacked_bytes,
    };
    let reader = crate::check::confine::Confinement {
        memory_mib: raw.reader_memory_mib,
        cpu_secs: raw.reader_cpu_secs,
    };
    (file_limits, reader)
}

/// Relative paths in the file are relative to the file's own folder, so that the same file
/// means the same thing whatever the working directory. `..` is resolved lexically, which is
/// exact because `base` is canonical (holds no symlink).
fn resolve(base: &Path, path: &str) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in base.join(path).components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn parse_time(s: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M")
        .map_err(|_| format!("expected a time as HH:MM, got {s:?}"))
}

fn schedule(c: &mut Checker, raw: &RawSchedule) -> Option<Schedule> {
    let path = root("schedule");
    let process_at = c.check(path.key("process_at"), parse_time(&raw.process_at));
    let sweep_at = c.check(path.key("sweep_at"), parse_time(&raw.sweep_at));
    let weekly = raw
        .publish_at
        .trim()
        .split_once(' ')
        .and_then(|(day, time)| Some((day.parse::<Weekday>().ok()?, parse_time(time).ok()?)));
    let weekly = c.check(
        path.key("publish_at"),
        weekly.ok_or_else(|| {
            format!(
                "expected a day and time such as \"Sun 06:00\", got {:?}",
                raw.publish_at
            )
        }),
    );
    let (publish_on, publish_at) = weekly?;
    Some(Schedule {
        process_at: process_at?,
        publish_on,
        publish_at,
        sweep_at: sweep_at?,
    })
}

fn retention(c: &mut Checker, raw: &super::raw::RawRetention) -> Option<Retention> {
    let path = root("retention");
    for (key, days) in [
        ("bundle_days", raw.bundle_days),
        ("raw_days", raw.raw_days),
        ("receipt_days", raw.receipt_days),
        ("temp_hours", raw.temp_hours),
    ] {
        if days == 0 {
            c.fail(path.key(key), "must be more than 0");
        }
    }
    Some(Retention {
        bundle_days: raw.bundle_days,
        raw_days: raw.raw_days,
        receipt_days: raw.receipt_days,
        temp_hours: raw.temp_hours,
    })
}

/// `[metrics]`: off without `listen`; an address other than loopback only when asked for,
/// since the endpoint has no authentication.
fn metrics(c: &mut Checker, raw: &super::raw::RawMetrics) -> Option<super::Metrics> {
    let listen = raw.listen.as_ref()?;
    let path = root("metrics");
    let listen = c.check(
        path.key("listen"),
        listen.parse::<SocketAddr>().map_err(|_| {
            format!("expected an address and port such as 127.0.0.1:9464, got {listen:?}")
        }),
    )?;
    if !listen.ip().is_loopback() && !raw.allow_remote {
        c.fail(
            path.key("listen"),
            format!(
                "{listen} is not a loopback address and the endpoint has no authentication; set allow_remote = true if it is meant to be reached from elsewhere"
            ),
        );
        return None;
    }
    Some(super::Metrics { listen })
}

/// `[backup]`: off without `dir`; a time and at least one backup kept. The folder may not
/// be inside the state directory: a backup must survive the loss of the state directory's
/// disk, and `restore` wants an empty state directory.
fn backup(
    c: &mut Checker,
    raw: &super::raw::RawBackup,
    base: &Path,
    state_dir: &Path,
) -> Option<Backup> {
    let path = root("backup");
    let at = c.check(path.key("at"), parse_time(&raw.at));
    if raw.keep == 0 {
        c.fail(path.key("keep"), "must be more than 0");
    }
    let dir = resolve(base, raw.dir.as_deref()?);
    if dir.starts_with(state_dir) {
        c.fail(
            path.key("dir"),
            format!(
                "{} is inside the state directory {}; keep backups on another disk",
                dir.display(),
                state_dir.display()
            ),
        );
    }
    Some(Backup {
        dir,
        at: at?,
        keep: raw.keep.max(1),
    })
}

fn publish(c: &mut Checker, raw: &RawPublish) -> Publish {
    if raw.mail_empty_bundles && !raw.empty_bundles {
        c.fail(
            root("publish").key("mail_empty_bundles"),
            "needs empty_bundles = true: a bundle that is not made cannot be mailed",
        );
    }
    Publish {
        empty_bundles: raw.empty_bundles,
        mail_empty_bundles: raw.mail_empty_bundles,
    }
}

fn sftp(c: &mut Checker, raw: &RawSftp, state_dir: &Path) -> Option<SftpConfig> {
    let path = root("sftp");
    let listen = c.check(
        path.key("listen"),
        raw.listen.parse::<SocketAddr>().map_err(|_| {
            format!(
                "expected address:port such as 127.0.0.1:2222, got {:?}",
                raw.listen
            )
        }),
    );
    for (key, value) in [
        ("idle_timeout_secs", raw.idle_timeout_secs),
        ("max_sessions_per_user", raw.max_sessions_per_user.into()),
        ("max_sessions_per_ip", raw.max_sessions_per_ip.into()),
        ("max_unauthenticated", raw.max_unauthenticated.into()),
        ("ban_after_failures", raw.ban_after_failures.into()),
        ("ban_window_secs", raw.ban_window_secs),
    ] {
        if value == 0 {
            c.fail(path.key(key), "must be more than 0");
        }
    }
    let public_address = raw.public_address.as_ref().and_then(|a| {
        let port = listen.map_or(22, |l| l.port());
        c.check(path.key("public_address"), public_address(a, port))
    });
    Some(SftpConfig {
        listen: listen?,
        public_address,
        host_key: resolve(state_dir, &raw.host_key),
        idle_timeout: Duration::from_secs(raw.idle_timeout_secs),
        max_sessions_per_user: raw.max_sessions_per_user,
        max_sessions_per_ip: raw.max_sessions_per_ip,
        max_unauthenticated: raw.max_unauthenticated,
        ban_after_failures: raw.ban_after_failures,
        ban_window: Duration::from_secs(raw.ban_window_secs),
        ban_for: Duration::from_secs(raw.ban_secs),
    })
}

/// `host`, `host:port` or `[v6]:port`: what users are told to connect to. The host is a DNS
/// name or an address, nothing else, since it is printed into mails as a command line.
fn public_address(text: &str, default_port: u16) -> Result<(String, u16), String> {
    let bad = || {
        format!(
            "expected a host name with an optional port, such as sftp.example.nl or sftp.example.nl:22, got {text:?}"
        )
    };
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') || host.starts_with('[') => {
            (host, port.parse::<u16>().map_err(|_| bad())?)
        }
        _ => (text, default_port),
    };
    let name_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    let bracketed_ok = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok());
    if (name_ok && !host.starts_with('-'))
        || bracketed_ok
        || host.parse::<std::net::Ipv6Addr>().is_ok()
    {
        Ok((host.to_owned(), port))
    } else {
        Err(bad())
    }
}

/// A deliberately plain shape check (`local@domain.tld`); the mail transport does the rest.
fn check_address(address: &str) -> Result<(), String> {
    let addr = match (address.rfind('<'), address.strip_suffix('>')) {
        (Some(open), Some(rest)) => &rest[open + 1..],
        _ => address,
    };
    match addr.trim().split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.is_empty()
                && !addr.chars().any(|ch| ch.is_whitespace() || ch.is_control()) =>
        {
            Ok(())
        }
        _ => Err(format!("not an email address: {address:?}")),
    }
}

/// The language people read: top-level `language`, or where it stood before, `[mail]
/// language`; Dutch by default. Set in both places, they must agree.
fn language(c: &mut Checker, top: Option<&str>, in_mail: Option<&str>) -> Option<Language> {
    let parse = |c: &mut Checker, path: KeyPath, value: &str| match value {
        "nl" => Some(Language::Dutch),
        "en" => Some(Language::English),
        other => {
            c.fail(path, format!("expected \"nl\" or \"en\", got {other:?}"));
            None
        }
    };
    match (top, in_mail) {
        (Some(top), Some(old)) if top != old => {
            c.fail(
                root("mail").key("language"),
                format!("says {old:?} but language says {top:?}; set it once, at the top"),
            );
            None
        }
        (Some(top), _) => parse(c, root("language"), top),
        (None, Some(old)) => parse(c, root("mail").key("language"), old),
        (None, None) => Some(Language::Dutch),
    }
}

fn mail(c: &mut Checker, raw: &RawMail, base: &Path, state_dir: &Path) -> Option<MailConfig> {
    let path = root("mail");
    let from = c.check(path.key("from"), check_address(&raw.from));
    if let Some(admin) = &raw.admin {
        c.check(path.key("admin"), check_address(admin));
    }
    let transport = mail_transport(c, raw, base, state_dir);
    check_mail_timing(c, raw);
    from?;
    Some(MailConfig {
        from: raw.from.clone(),
        transport: transport?,
        retry: raw
            .retry_secs
            .iter()
            .map(|s| Duration::from_secs(*s))
            .collect(),
        give_up_after: Duration::from_secs(raw.give_up_after_hours * 3600),
        timeout: Duration::from_secs(raw.timeout_secs),
        send_timeout: Duration::from_secs(raw.send_timeout_secs),
        quality_report_day: raw.quality_report_day,
        admin: raw.admin.clone(),
    })
}

/// `[mail] transport`: `.eml` files in a folder, or SMTP as `[mail.smtp]` says.
fn mail_transport(
    c: &mut Checker,
    raw: &RawMail,
    base: &Path,
    state_dir: &Path,
) -> Option<MailTransport> {
    let path = root("mail");
    match (raw.transport.as_str(), &raw.smtp) {
        ("file", _) => Some(MailTransport::File {
            dir: resolve(state_dir, &raw.dir),
        }),
        ("smtp", None) => {
            c.fail(
                path.key("transport"),
                "transport \"smtp\" needs a [mail.smtp] section",
            );
            None
        }
        ("smtp", Some(smtp)) => smtp_transport(c, smtp, base).map(MailTransport::Smtp),
        (other, _) => {
            c.fail(
                path.key("transport"),
                format!("expected \"file\" or \"smtp\", got {other:?}"),
            );
            None
        }
    }
}

/// `[mail.smtp]`: the server, how it is secured (in clear only to a loopback host), and
/// the credentials; the port defaults by the security.
fn smtp_transport(c: &mut Checker, smtp: &RawSmtp, base: &Path) -> Option<SmtpConfig> {
    let path = root("mail").key("smtp");
    let security = match smtp.security.as_str() {
        "starttls" => Some(SmtpSecurity::StartTls),
        "tls" => Some(SmtpSecurity::ImplicitTls),
        "plain" => Some(SmtpSecurity::Plain),
        other => {
            c.fail(
                path.key("security"),
                format!("expected \"starttls\", \"tls\" or \"plain\", got {other:?}"),
            );
            None
        }
    };
    if security == Some(SmtpSecurity::Plain) && !is_loopback_host(&smtp.host) {
        c.fail(
            path.key("security"),
            format!("\"plain\" sends credentials and data in clear; only allowed to a loopback host, not {:?}", smtp.host),
        );
    }
    let password = smtp_password(c, smtp, base);
    let ca_file = smtp.ca_file.as_deref().map(|p| resolve(base, p));
    if let Some(ca_file) = &ca_file {
        c.names("mail.smtp.ca_file".into(), ca_file);
    }
    let security = security?;
    let port = smtp.port.unwrap_or(match security {
        SmtpSecurity::ImplicitTls => 465,
        SmtpSecurity::StartTls => 587,
        SmtpSecurity::Plain => 25,
    });
    Some(SmtpConfig {
        host: smtp.host.clone(),
        port,
        security,
        username: smtp.username.clone(),
        password,
        ca_file,
    })
}

/// Where the SMTP password comes from: a file (which must be readable now) or an
/// environment variable, not both; none without one.
fn smtp_password(c: &mut Checker, smtp: &RawSmtp, base: &Path) -> Option<Secret> {
    let path = root("mail").key("smtp");
    match (&smtp.password_file, &smtp.password_env) {
        (Some(_), Some(_)) => {
            c.fail(
                path.key("password_env"),
                "give password_file or password_env, not both",
            );
            None
        }
        (Some(file), None) => {
            let file = resolve(base, file);
            if !c.names("mail.smtp.password_file".into(), &file) {
                return Some(Secret::File(file));
            }
            if let Err(e) = std::fs::metadata(&file) {
                c.fail(
                    path.key("password_file"),
                    format!("cannot read {}: {e}", file.display()),
                );
            }
            Some(Secret::File(file))
        }
        (None, Some(var)) => Some(Secret::Env(var.clone())),
        (None, None) => None,
    }
}

/// The retry waits, the time to give up, and the quality report's day of the month.
fn check_mail_timing(c: &mut Checker, raw: &RawMail) {
    let path = root("mail");
    if raw.retry_secs.is_empty() || raw.retry_secs.contains(&0) {
        c.fail(
            path.key("retry_secs"),
            "give one or more waits, each at least 1 second",
        );
    }
    if raw.give_up_after_hours == 0 {
        c.fail(path.key("give_up_after_hours"), "must be at least 1 hour");
    }
    if raw.timeout_secs == 0 {
        c.fail(path.key("timeout_secs"), "must be at least 1 second");
    }
    if raw.send_timeout_secs < raw.timeout_secs.max(1) {
        c.fail(
            path.key("send_timeout_secs"),
            "must be at least timeout_secs: one attempt has several steps",
        );
    }
    if !(1..=28).contains(&raw.quality_report_day) {
        c.fail(
            path.key("quality_report_day"),
            "must be a day from 1 to 28 (every month has it)",
        );
    }
}

fn is_loopback_host(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Tenant ids become folder names: keep them to a safe, portable alphabet.
/// Whether `id` is a valid name of a `kind` (`tenant`, `user`), with the rule if not.
pub(crate) fn check_id(kind: &str, id: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id.chars().all(|c| {
            c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || c == '-'
                || c == '_'
                || (kind == "user" && c == '.')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{kind} name {id:?} must be 1-64 characters: lower-case letters, digits, '-', '_'{}, starting with a letter or digit",
            if kind == "user" { ", '.'" } else { "" }
        ))
    }
}

/// A TOML local date (`2027-06-30`), nothing more.
fn local_date(value: &toml::value::Datetime) -> Result<chrono::NaiveDate, String> {
    match (value.date, value.time, value.offset) {
        (Some(d), None, None) => {
            chrono::NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))
                .ok_or_else(|| format!("{value} is no date"))
        }
        _ => Err(format!("expected a date such as 2027-06-30, got {value}")),
    }
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

fn tenants(c: &mut Checker, raw: &[RawTenant], limits: &super::raw::RawLimits) -> Vec<Tenant> {
    let mut seen_ids = HashSet::new();
    let mut seen_codes = HashSet::new();
    let mut out = Vec::new();
    for (i, t) in raw.iter().enumerate() {
        let path = root("tenant").index(i);
        let mut ok = c.check(path.key("id"), check_id("tenant", &t.id)).is_some();
        if !seen_ids.insert(t.id.as_str()) {
            c.fail(path.key("id"), format!("duplicate tenant {:?}", t.id));
            ok = false;
        }
        let kind = check_kind_and_code(c, &path, t, &mut seen_codes);
        if t.name.trim().is_empty() {
            c.fail(path.key("name"), "must not be empty");
        }
        for (j, contact) in t.contacts.iter().enumerate() {
            c.check(path.key("contacts").index(j), check_address(contact));
        }
        if t.expect_delivery_days == Some(0) {
            c.fail(
                path.key("expect_delivery_days"),
                "must be at least 1 (leave it out for no reminders)",
            );
        }
        if t.decisions_from_messages && kind == Some(TenantKind::Supplier) {
            c.fail(
                path.key("decisions_from_messages"),
                "only a municipality sends assignments (JW301/WMO301) to make decisions of",
            );
        }
        if let (true, Some(kind)) = (ok, kind) {
            out.push(Tenant {
                id: t.id.clone(),
                kind,
                code: t.code.clone(),
                name: t.name.clone(),
                contacts: t.contacts.clone(),
                max_file_bytes: t.max_file_bytes.unwrap_or(limits.max_file_bytes),
                quota_bytes: t.quota_bytes.unwrap_or(limits.quota_bytes),
                decisions_from_messages: t.decisions_from_messages,
                expect_delivery_days: t.expect_delivery_days,
            });
        }
    }
    out
}

/// A tenant's kind, and whether its code has that kind's shape and is not another's of the
/// same kind.
fn check_kind_and_code<'a>(
    c: &mut Checker,
    path: &KeyPath,
    t: &'a RawTenant,
    seen_codes: &mut HashSet<(TenantKind, &'a str)>,
) -> Option<TenantKind> {
    let kind = match t.kind.as_str() {
        "supplier" => Some(TenantKind::Supplier),
        "municipality" => Some(TenantKind::Municipality),
        other => {
            c.fail(
                path.key("kind"),
                format!("expected \"supplier\" or \"municipality\", got {other:?}"),
            );
            None
        }
    };
    match kind {
        Some(TenantKind::Supplier) if !digits(&t.code, 8) => {
            c.fail(
                path.key("code"),
                format!("AGB code must be exactly 8 digits, got {:?}", t.code),
            );
        }
        Some(TenantKind::Municipality) if !digits(&t.code, 4) => {
            c.fail(
                path.key("code"),
                format!(
                    "CBS municipality code must be exactly 4 digits, got {:?}",
                    t.code
                ),
            );
        }
        Some(kind) if !seen_codes.insert((kind, t.code.as_str())) => {
            c.fail(
                path.key("code"),
                format!(
                    "code {} is already used by another {}",
                    t.code,
                    kind.as_str()
                ),
            );
        }
        _ => {}
    }
    kind
}

fn users(c: &mut Checker, raw: &[RawUser], tenants: &[Tenant], base: &Path) -> Vec<User> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, u) in raw.iter().enumerate() {
        let path = root("user").index(i);
        c.check(path.key("name"), check_id("user", &u.name));
        if !seen.insert(u.name.as_str()) {
            c.fail(path.key("name"), format!("duplicate user {:?}", u.name));
        }
        let mut public_keys = Vec::new();
        for (j, line) in u.public_keys.iter().enumerate() {
            if let Some(key) = c.check(path.key("public_keys").index(j), parse_key(line)) {
                public_keys.push(key);
            }
        }
        for (j, file) in u.public_key_files.iter().enumerate() {
            let file_path = resolve(base, file);
            let setting = format!("user[{}].public_key_files[{j}]", u.name);
            if !c.names(setting, &file_path) {
                continue;
            }
            let keys = read_key_file(&file_path);
            if let Some(keys) = c.check(path.key("public_key_files").index(j), keys) {
                public_keys.extend(keys);
            }
        }
        if let Some(hash) = &u.password_hash {
            c.check(path.key("password_hash"), check_password_hash(hash));
        }
        let has_key = !u.public_keys.is_empty() || !u.public_key_files.is_empty();
        if !has_key && u.password_hash.is_none() {
            c.fail(
                path.key("name"),
                format!(
                    "user {:?} has neither a public key nor a password_hash, so could never log in",
                    u.name
                ),
            );
        }
        if u.require_key_and_password && !(has_key && u.password_hash.is_some()) {
            c.fail(
                path.key("require_key_and_password"),
                "needs both a public key and a password_hash",
            );
        }
        let mut allow_from = Vec::new();
        for (j, cidr) in u.allow_from.iter().enumerate() {
            if let Some(net) = c.check(path.key("allow_from").index(j), parse_cidr(cidr)) {
                allow_from.push(net);
            }
        }
        let grants = grants(c, &path, u, tenants);
        let expires = u
            .expires
            .as_ref()
            .and_then(|d| c.check(path.key("expires"), local_date(d)));
        out.push(User {
            name: u.name.clone(),
            public_keys,
            password_hash: u.password_hash.clone(),
            require_key_and_password: u.require_key_and_password,
            allow_from,
            grants,
            expires,
        });
    }
    out
}

fn grants(c: &mut Checker, path: &KeyPath, u: &RawUser, tenants: &[Tenant]) -> Vec<Grant> {
    if u.grants.is_empty() {
        c.fail(
            path.key("name"),
            format!(
                "user {:?} has no [[user.grant]], so could see nothing",
                u.name
            ),
        );
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (j, g) in u.grants.iter().enumerate() {
        let path = path.key("grant").index(j);
        let tenant = tenants.iter().find(|t| t.id == g.tenant);
        if tenant.is_none() {
            c.fail(
                path.key("tenant"),
                format!("grant to unknown tenant {:?}", g.tenant),
            );
        }
        if !seen.insert(g.tenant.as_str()) {
            c.fail(
                path.key("tenant"),
                format!(
                    "tenant {:?} is granted twice; list all roles in one grant",
                    g.tenant
                ),
            );
        }
        let mut grant = Grant {
            tenant: g.tenant.clone(),
            deliver: false,
            collect: false,
        };
        if g.roles.is_empty() {
            c.fail(
                path.key("roles"),
                "give at least one role: \"deliver\" and/or \"collect\"",
            );
        }
        for (k, role) in g.roles.iter().enumerate() {
            match role.as_str() {
                "deliver" => grant.deliver = true,
                "collect" => grant.collect = true,
                other => c.fail(
                    path.key("roles").index(k),
                    format!("unknown role {other:?}; expected \"deliver\" or \"collect\""),
                ),
            }
        }
        out.push(grant);
    }
    out
}

fn parse_key(line: &str) -> Result<russh::keys::PublicKey, String> {
    let key = russh::keys::PublicKey::from_openssh(line.trim())
        .map_err(|e| format!("not a public key in authorized_keys format ({e})"))?;
    match weakness(&key) {
        Some(why) => Err(why),
        None => Ok(key),
    }
}

/// Fewer bits than this in an RSA key, a user's or a host key, is refused.
pub(crate) const MIN_RSA_BITS: u32 = 2048;

/// Why a user's public key is too weak to accept, if it is: RSA under [`MIN_RSA_BITS`],
/// or DSA (as OpenSSH 9 decides).
fn weakness(key: &russh::keys::PublicKey) -> Option<String> {
    use russh::keys::ssh_key::public::KeyData;
    match key.key_data() {
        KeyData::Rsa(rsa) if rsa.key_size() < MIN_RSA_BITS => Some(format!(
            "an RSA key of {} bits is too weak: at least {MIN_RSA_BITS} bits are needed \
             (better: a new key from `ssh-keygen -t ed25519`)",
            rsa.key_size()
        )),
        KeyData::Dsa(_) => {
            Some("DSA keys are no longer accepted (make a new key: `ssh-keygen -t ed25519`)".into())
        }
        _ => None,
    }
}

/// Reads an authorized_keys file: one key per line; blank lines and `#` comments skipped.
fn read_key_file(path: &Path) -> Result<Vec<russh::keys::PublicKey>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read key file {}: {e}", path.display()))?;
    authorized_keys(&text).map_err(|e| match e.starts_with(|c: char| c.is_ascii_digit()) {
        true => format!("{}:{e}", path.display()),
        false => format!("key file {} {e}", path.display()),
    })
}

/// The keys of a text in authorized_keys format: one per line, blank lines and `#` comments
/// skipped, no options in front (`from="..."` and the like are the server's to decide).
/// An error starts with the line's number (`3: ...`); a text without keys is one too.
pub(crate) fn authorized_keys(text: &str) -> Result<Vec<russh::keys::PublicKey>, String> {
    // Notepad saves with a byte order mark; it is no part of the key.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text
        .trim_start()
        .starts_with("---- BEGIN SSH2 PUBLIC KEY ----")
    {
        return Err(
            "1: this is a PuTTY (SSH2) public key file; put the one-line OpenSSH form \
                    instead (PuTTYgen: \"Public key for pasting into OpenSSH authorized_keys \
                    file\", or `ssh-keygen -i -f key.pub`)"
                .into(),
        );
    }
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        keys.push(parse_key(line).map_err(|e| format!("{}: {e}", n + 1))?);
    }
    if keys.is_empty() {
        return Err("holds no key".into());
    }
    Ok(keys)
}

fn check_password_hash(hash: &str) -> Result<(), String> {
    let parsed = argon2::PasswordHash::new(hash).map_err(|e| {
        format!("not a PHC password hash ({e}); make one with `dropgate hash-password`")
    })?;
    if parsed.algorithm.as_str() != "argon2id" {
        return Err(format!(
            "password hash uses {}; only argon2id is accepted (`dropgate hash-password`)",
            parsed.algorithm
        ));
    }
    Ok(())
}

fn parse_cidr(s: &str) -> Result<IpNet, String> {
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("not an address or CIDR range: {s:?}"))
}
