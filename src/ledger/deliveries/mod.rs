//! Deliveries: one row in `delivery` per complete file that appeared in a tenant's
//! `upload/`, from its recording through the daily run to its finish. `record` writes what
//! intake sees (new files, replaced and withdrawn versions); `claim` the daily run's
//! outcome, with its problems per rule in `delivery_rule`.

mod claim;
mod record;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use super::{Ledger, LedgerError};

pub(crate) use claim::{Claim, Delivery, Outcome};
pub(crate) use record::{NewFile, Recorded, Withdrawal, Withdrawn};

/// Where a delivery stands. Stored by name in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeliveryState {
    /// Recorded, waiting for the daily run.
    Received,
    /// Same content as an earlier delivery of the same tenant; will not be processed.
    Duplicate,
    /// Read; at least one row accepted.
    Processed,
    /// Read; no row could be used, or the layout was unknown.
    Rejected,
    /// Could not be read at all, or broke a limit.
    Quarantined,
    /// Replaced or removed by its tenant before the daily run took it: kept in `archive/`,
    /// never processed.
    Withdrawn,
}

impl DeliveryState {
    /// Every state, in the order reports list them.
    pub(crate) const ALL: [Self; 6] = [
        Self::Received,
        Self::Duplicate,
        Self::Processed,
        Self::Rejected,
        Self::Quarantined,
        Self::Withdrawn,
    ];

    /// The name the ledger stores.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Duplicate => "duplicate",
            Self::Processed => "processed",
            Self::Rejected => "rejected",
            Self::Quarantined => "quarantined",
            Self::Withdrawn => "withdrawn",
        }
    }
}

impl fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeliveryState {
    type Err = LedgerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| LedgerError::Corrupt {
                what: "delivery state",
                value: s.to_owned(),
            })
    }
}

stored_by_name!(DeliveryState, "delivery state", DeliveryState::ALL);

/// The SQL condition of a delivery whose file still waits in `upload/` under its name: received,
/// or a duplicate not yet answered. The daily run takes it by setting `processed_at`.
const WAITING: &str = "state IN ('received', 'duplicate') AND processed_at IS NULL";

/// A delivery whose file still waits in `upload/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WaitingFile {
    pub id: i64,
    pub size: u64,
    pub sha256: String,
}

/// Deliveries per state, overall and per tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DeliveryCounts {
    pub by_state: BTreeMap<DeliveryState, u64>,
    pub by_tenant: BTreeMap<String, BTreeMap<DeliveryState, u64>>,
}

impl Ledger {
    /// The deliveries of `tenant` whose files still wait in `upload/`, by file name.
    pub(crate) fn waiting_files(
        &self,
        tenant: &str,
    ) -> Result<HashMap<String, WaitingFile>, LedgerError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT file_name, id, size_bytes, sha256 FROM delivery
             WHERE tenant_id = ?1 AND {WAITING}"
        ))?;
        let rows = stmt.query_map([tenant], |r| {
            Ok((
                r.get::<_, String>(0)?,
                WaitingFile {
                    id: r.get(1)?,
                    size: r.get::<_, i64>(2)?.try_into().unwrap_or(0),
                    sha256: r.get(3)?,
                },
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How many deliveries are in each state, overall and per tenant.
    pub(crate) fn delivery_counts(&self) -> Result<DeliveryCounts, LedgerError> {
        let mut counts = DeliveryCounts::default();
        let mut stmt = self
            .conn
            .prepare("SELECT tenant_id, state, count(*) FROM delivery GROUP BY tenant_id, state")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let tenant: String = row.get(0)?;
            let state: DeliveryState = row.get::<_, String>(1)?.parse()?;
            let n = row.get::<_, i64>(2)?.unsigned_abs();
            *counts.by_state.entry(state).or_default() += n;
            *counts
                .by_tenant
                .entry(tenant)
                .or_default()
                .entry(state)
                .or_default() += n;
        }
        Ok(counts)
    }
}
