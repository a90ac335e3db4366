//! Reminders (issue 16, item 4), sent by the daily `reminders` job and `dropgate remind`:
//! a tenant with `expect_delivery_days = N` that has not delivered for N days is reminded
//! (its contacts, and `[mail] admin`), once per N days of silence; a user whose `expires`
//! day comes within 30 days, and again within 7, is warned (the contacts of the tenants it
//! acts for, and the admin). Each reminder is recorded with its mail in one transaction,
//! under a period that names it, so that it goes out once however often the job runs.

use chrono::{DateTime, NaiveDate, Utc};

use crate::config::{Config, Tenant, User};
use crate::ledger::{Ledger, LedgerError};
use crate::mail::{Wake, messages};

/// Days before a login's last day on which its warnings go out.
pub const WARN_DAYS: [i64; 2] = [30, 7];

/// What one run of the reminders did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Reminded {
    /// Tenants reminded to deliver.
    pub deliveries: usize,
    /// Warnings of expiring logins.
    pub logins: usize,
}

impl std::fmt::Display for Reminded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} delivery reminders, {} expiry warnings",
            self.deliveries, self.logins
        )
    }
}

/// Sends every reminder due at `now`; `mail` rings after each one queued.
pub fn run(
    config: &Config,
    ledger: &mut Ledger,
    now: DateTime<Utc>,
    mail: &Wake,
) -> Result<Reminded, LedgerError> {
    let mut done = Reminded::default();
    for tenant in &config.tenants {
        if let Some(days) = tenant.expect_delivery_days {
            if remind_to_deliver(config, ledger, tenant, days, now)? {
                done.deliveries += 1;
                mail.queued();
            }
        }
    }
    for user in &config.users {
        if let Some(last_day) = user.expires {
            if warn_of_expiry(config, ledger, user, last_day, now)? {
                done.logins += 1;
                mail.queued();
            }
        }
    }
    Ok(done)
}

/// The recipients of a reminder about `tenants`: their contacts and the admin, each once.
fn recipients<'a>(config: &Config, tenants: impl Iterator<Item = &'a Tenant>) -> Vec<String> {
    let mut to: Vec<String> = tenants.flat_map(|t| t.contacts.iter().cloned()).collect();
    to.extend(config.mail.admin.iter().cloned());
    to.sort();
    to.dedup();
    to
}

/// Reminds `tenant` if it has not delivered for `days` days: once per `days` of silence,
/// counted from its last delivery (or, if it never delivered, from when the reminders first
/// watched it).
fn remind_to_deliver(
    config: &Config,
    ledger: &mut Ledger,
    tenant: &Tenant,
    days: u32,
    now: DateTime<Utc>,
) -> Result<bool, LedgerError> {
    let last = ledger.last_delivery(&tenant.id)?;
    let since = match last {
        Some(at) => at,
        None => ledger.watched_since(&tenant.id, now)?,
    };
    let silent = (now - since).num_days();
    let days_i = i64::from(days);
    if silent < days_i {
        return Ok(false);
    }
    let to = recipients(config, std::iter::once(tenant));
    if to.is_empty() {
        return Ok(false);
    }
    let local = |t: DateTime<Utc>| {
        t.with_timezone(&config.time_zone)
            .format("%d-%m-%Y")
            .to_string()
    };
    let last_text = last.map(local);
    let text = messages::delivery_reminder(
        config.language,
        &messages::DeliveryReminder {
            tenant_name: &tenant.name,
            days,
            last: last_text.as_deref(),
        },
    );
    // One reminder per full period of silence since that moment.
    let period = format!("{}/{}", since.timestamp(), silent / days_i);
    let new_mail = text.to_mail("delivery-reminder", &tenant.id, &to);
    let message_id = crate::mail::new_message_id();
    let sent = ledger.remind(
        ("delivery", &tenant.id, &period),
        (&new_mail, &message_id),
        now,
    )?;
    if sent {
        tracing::info!(tenant = tenant.id, days = silent, "reminded to deliver");
    }
    Ok(sent)
}

/// Warns of `user`'s last day `last_day` when it is 30 days or less away, and again at 7.
fn warn_of_expiry(
    config: &Config,
    ledger: &mut Ledger,
    user: &User,
    last_day: NaiveDate,
    now: DateTime<Utc>,
) -> Result<bool, LedgerError> {
    let today = now.with_timezone(&config.time_zone).date_naive();
    let left = (last_day - today).num_days();
    let Some(threshold) = WARN_DAYS.iter().rev().find(|d| left >= 0 && left <= **d) else {
        return Ok(false);
    };
    let tenants = user.grants.iter().filter_map(|g| config.tenant(&g.tenant));
    let to = recipients(config, tenants);
    if to.is_empty() {
        return Ok(false);
    }
    let shown = last_day.format("%d-%m-%Y").to_string();
    let text = messages::login_expiring(
        config.language,
        &messages::LoginExpiring {
            user: &user.name,
            last_day: &shown,
            days_left: left + 1,
        },
    );
    // A new end date re-arms both warnings.
    let period = format!("{last_day}/{threshold}");
    // Filed under the first tenant it acts for; a user without grants only under the admin.
    let mut new_mail = text.to_mail("login-expiring", "", &to);
    new_mail.tenant = user.grants.first().map(|g| g.tenant.as_str());
    let message_id = crate::mail::new_message_id();
    let sent = ledger.remind(
        ("expiry", &user.name, &period),
        (&new_mail, &message_id),
        now,
    )?;
    if sent {
        tracing::info!(user = user.name, last_day = %last_day, "warned of an expiring login");
    }
    Ok(sent)
}
