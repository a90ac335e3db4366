//! Revocation by reload (issue 17, item 2): a configuration reload that removes a logged-in
//! user, one of its grants or a role of one, or a tenant it acts for, ends that user's open
//! sessions at once (an upload in flight fails at the client), with a log line and an
//! audit row. What a session may do was fixed at its login; a reload that only adds leaves
//! it be. A user `dropgate invite` made and `--revoke` ended loses its sessions within
//! [`LEDGER_LOOK`].

use std::net::SocketAddr;

use serde_json::json;

use super::{Account, Shared};
use crate::config::Config;

/// How often an invited user's session looks whether it was revoked.
const LEDGER_LOOK: std::time::Duration = std::time::Duration::from_secs(10);

/// Waits for a reload that withdraws what `account` may do, then ends the session.
pub(super) async fn watch(
    shared: &Shared,
    account: &Account,
    handle: &russh::server::Handle,
    peer: SocketAddr,
) {
    let mut config = shared.config.clone();
    // Only reloads after the login count; the login itself saw the configuration in force.
    config.mark_unchanged();
    loop {
        let reason = tokio::select! {
            changed = config.changed() => {
                if changed.is_err() {
                    // The daemon is stopping; its shutdown ends the session.
                    return std::future::pending().await;
                }
                withdrawn(&config.borrow_and_update(), account)
            }
            // `dropgate invite --revoke` runs in another process: look again now and then.
            () = tokio::time::sleep(LEDGER_LOOK), if account.invited => {
                // A ledger that cannot be read now revokes nothing.
                match shared.enrolments.lookup(&account.user).await {
                    Ok(found) => found
                        .is_none_or(|e| e.revoked_at.is_some())
                        .then(|| "revoked".to_owned()),
                    Err(_) => None,
                }
            }
        };
        let Some(reason) = reason else {
            continue;
        };
        tracing::warn!(user = account.user, ip = %peer.ip(), reason, "session ended: access withdrawn");
        shared.auditor.record(
            format!("sftp:{}", account.user),
            "sftp.session-revoked",
            None,
            None,
            Some(json!({ "ip": peer.ip().to_string(), "reason": reason })),
        );
        super::disconnect(handle, &format!("access withdrawn: {reason}")).await;
        return;
    }
}

/// Why `account` may no longer do what it logged in for under `config`, if so.
fn withdrawn(config: &Config, account: &Account) -> Option<String> {
    for (tenant, _) in account.grants.tenants() {
        if config.tenant(tenant).is_none() {
            return Some(format!("tenant {tenant} removed"));
        }
    }
    // An invited user's grant is in the ledger; only its tenant is the configuration's.
    if account.invited {
        return None;
    }
    let Some(user) = config.users.iter().find(|u| u.name == account.user) else {
        return Some("user removed".into());
    };
    let now = super::vfs::Grants::from_config(&user.grants);
    for (tenant, roles) in account.grants.tenants() {
        match now.roles(tenant) {
            None => return Some(format!("grant to {tenant} removed")),
            Some(r) if (roles.deliver && !r.deliver) || (roles.collect && !r.collect) => {
                return Some(format!("a role for {tenant} removed"));
            }
            Some(_) => {}
        }
    }
    None
}
