//! A `REQUEST-FULL` (or `REQUEST-FULL-IJW`, `REQUEST-FULL-IWMO`: a Ketendata total file)
//! made over SFTP, recorded in the ledger as it is made, so that the municipality's
//! contacts hear at once that it was received (`publish::request_full` and
//! `publish::request_ketendata` queue that mail, once per pending request).
//!
//! The empty file stays in `outbox/` as the visible sign of the request, and remains a
//! request by itself: if this record fails, the next publication still finds the file and
//! makes the bundle, only without the acknowledgement beforehand.

use super::FilesContext;
use crate::check::messages::schemas::Standard;
use crate::config::TenantKind;
use crate::ledger::Ledger;
use crate::publish::{EVERYTHING, PublishError, ketendata, request_full, request_ketendata};

impl FilesContext {
    /// Whether `tenant` is a municipality (only those get bundles, and so full ones).
    pub(super) fn is_municipality(&self, tenant: &str) -> bool {
        self.config
            .borrow()
            .tenant(tenant)
            .is_some_and(|t| t.kind == TenantKind::Municipality)
    }

    /// Records `tenant`'s request on the blocking pool, without waiting for it: a
    /// publication may hold the ledger's write lock for minutes, and the client's CLOSE
    /// must not wait for that.
    pub(super) fn record_full_request(&self, tenant: &str, product: Option<&'static str>) {
        let config = self.config.borrow().clone();
        let Some(tenant) = config
            .tenant(tenant)
            .filter(|t| t.kind == TenantKind::Municipality)
            .cloned()
        else {
            return;
        };
        let path = self.state.ledger();
        let mail = self.mail.clone();
        tokio::task::spawn_blocking(move || {
            let recorded =
                Ledger::open(&path)
                    .map_err(PublishError::from)
                    .and_then(|mut ledger| {
                        let now = crate::clock::now();
                        match product.and_then(Standard::by_product) {
                            None => {
                                request_full(&config, &mut ledger, &tenant, EVERYTHING, now, &mail)
                            }
                            Some(standard) => request_ketendata(
                                &config,
                                &mut ledger,
                                &tenant,
                                standard,
                                ketendata::FROM,
                                now,
                                &mail,
                            ),
                        }
                    });
            if let Err(e) = recorded {
                tracing::error!(tenant = tenant.id, error = %e, "full bundle request not recorded; the next publication still finds the file, but no acknowledgement is mailed");
            }
        });
    }
}
