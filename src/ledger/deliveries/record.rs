//! Recording what intake sees in an `upload/`: a new file, a waiting file rewritten in place,
//! and a version its tenant replaced or removed before the daily run took it (withdrawn).

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde_json::json;

use super::{DeliveryState, WAITING};
use crate::ledger::audit::{self, AuditEntry};
use crate::ledger::{Ledger, LedgerError, timestamp};

/// A version of a waiting file that its tenant replaced or removed, kept aside for the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withdrawal<'a> {
    pub tenant: &'a str,
    pub name: &'a str,
    pub size: u64,
    /// Lower-case hex SHA-256 of the kept content.
    pub sha256: &'a str,
    /// Who replaced or removed it (`sftp:<user>`).
    pub by: &'a str,
}

/// What [`Ledger::withdraw_or_taken`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Withdrawn {
    /// Recorded as withdrawn, under this id.
    Recorded(i64),
    /// The daily run took this delivery, with this outcome; nothing was recorded.
    Taken { id: i64, state: DeliveryState },
}

/// A complete file found in a tenant's `upload/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewFile<'a> {
    pub tenant: &'a str,
    pub name: &'a str,
    pub size: u64,
    /// Lower-case hex SHA-256 of the content.
    pub sha256: &'a str,
    /// The SFTP user who put it there, if it came over SFTP.
    pub uploaded_by: Option<&'a str>,
}

/// What recording a file did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// A new delivery.
    New { id: i64, state: DeliveryState },
    /// The file was already recorded with this content: nothing changed.
    Unchanged { id: i64 },
    /// A waiting file was rewritten in place before processing; its record now describes the
    /// new content.
    Replaced { id: i64, state: DeliveryState },
}

impl Ledger {
    /// Records a complete file in one transaction, with its audit row. Idempotent: recording
    /// the same waiting file twice is [`Recorded::Unchanged`].
    pub(crate) fn record_file(
        &mut self,
        file: &NewFile<'_>,
        now: DateTime<Utc>,
    ) -> Result<Recorded, LedgerError> {
        let tx = self.write_tx()?;
        let waiting: Option<(i64, String)> = tx
            .query_row(
                &format!(
                    "SELECT id, sha256 FROM delivery
                 WHERE tenant_id = ?1 AND file_name = ?2 AND {WAITING}"
                ),
                params![file.tenant, file.name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((id, sha256)) = &waiting {
            if sha256 == file.sha256 {
                return Ok(Recorded::Unchanged { id: *id });
            }
        }
        let waiting_id = waiting.as_ref().map(|(id, _)| *id);
        let original: Option<i64> = tx
            .query_row(
                "SELECT id FROM delivery
                 WHERE tenant_id = ?1 AND sha256 = ?2 AND duplicate_of IS NULL
                   AND state <> 'withdrawn' AND id IS NOT ?3",
                params![file.tenant, file.sha256, waiting_id],
                |r| r.get(0),
            )
            .optional()?;
        let state = if original.is_some() {
            DeliveryState::Duplicate
        } else {
            DeliveryState::Received
        };
        let at = timestamp(now);
        let size = i64::try_from(file.size).unwrap_or(i64::MAX);
        let (outcome, action) = match waiting_id {
            None => {
                tx.execute(
                    "INSERT INTO delivery (tenant_id, file_name, size_bytes, sha256, received_at, state, duplicate_of, state_at, uploaded_by)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?5, ?8)",
                    params![file.tenant, file.name, size, file.sha256, at, state, original, file.uploaded_by],
                )?;
                (
                    Recorded::New {
                        id: tx.last_insert_rowid(),
                        state,
                    },
                    "delivery.recorded",
                )
            }
            Some(id) => {
                tx.execute(
                    "UPDATE delivery SET size_bytes = ?2, sha256 = ?3, received_at = ?4, state = ?5,
                         duplicate_of = ?6, state_at = ?4, uploaded_by = ?7
                     WHERE id = ?1",
                    params![id, size, file.sha256, at, state, original, file.uploaded_by],
                )?;
                (Recorded::Replaced { id, state }, "delivery.replaced")
            }
        };
        let detail = json!({
            "size": file.size,
            "sha256": file.sha256,
            "state": state.as_str(),
            "duplicate_of": original,
            "uploaded_by": file.uploaded_by,
        });
        audit::append(
            &tx,
            &AuditEntry {
                actor: "intake",
                action,
                tenant: Some(file.tenant),
                subject: Some(file.name),
                detail: Some(detail),
            },
            now,
        )?;
        tx.commit()?;
        Ok(outcome)
    }

    /// Records that the version of `name` described by `w` was withdrawn: the delivery that
    /// waits under that name (its record brought up to the kept content, which is what was
    /// there) or, if none waits (intake never saw this version, or the daily run took it in
    /// the meantime), a new delivery. Either way its state is `withdrawn` and it is finished:
    /// its original is the kept file, to be moved to `archive/` under the returned id. A
    /// waiting duplicate of it takes its place as the original. One transaction, audited.
    pub fn withdraw(&mut self, w: &Withdrawal<'_>, now: DateTime<Utc>) -> Result<i64, LedgerError> {
        match self.withdraw_waiting(w, false, now)? {
            Withdrawn::Recorded(id) => Ok(id),
            Withdrawn::Taken { .. } => {
                unreachable!("taken deliveries are only looked for on request")
            }
        }
    }

    /// As [`Ledger::withdraw`], but when nothing waits under the name and the daily run
    /// took a delivery of that name with this very content, that delivery is returned and
    /// nothing is recorded: the kept file is its original, set aside while the run had it.
    pub(crate) fn withdraw_or_taken(
        &mut self,
        w: &Withdrawal<'_>,
        now: DateTime<Utc>,
    ) -> Result<Withdrawn, LedgerError> {
        self.withdraw_waiting(w, true, now)
    }

    fn withdraw_waiting(
        &mut self,
        w: &Withdrawal<'_>,
        look_for_taken: bool,
        now: DateTime<Utc>,
    ) -> Result<Withdrawn, LedgerError> {
        let tx = self.write_tx()?;
        let at = timestamp(now);
        let size = i64::try_from(w.size).unwrap_or(i64::MAX);
        let waiting: Option<i64> = tx
            .query_row(
                &format!(
                    "SELECT id FROM delivery WHERE tenant_id = ?1 AND file_name = ?2 AND {WAITING}"
                ),
                params![w.tenant, w.name],
                |r| r.get(0),
            )
            .optional()?;
        if waiting.is_none() && look_for_taken {
            let taken: Option<(i64, String)> = tx
                .query_row(
                    "SELECT id, state FROM delivery
                     WHERE tenant_id = ?1 AND file_name = ?2 AND sha256 = ?3
                       AND processed_at IS NOT NULL AND state <> 'withdrawn'
                       AND original_deleted_at IS NULL
                     ORDER BY id DESC LIMIT 1",
                    params![w.tenant, w.name, w.sha256],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if let Some((id, state)) = taken {
                return Ok(Withdrawn::Taken {
                    id,
                    state: state.parse()?,
                });
            }
        }
        let id = match waiting {
            Some(id) => {
                // Its duplicates lose their original: the oldest waiting one becomes it.
                let heir: Option<i64> = tx
                    .query_row(
                        &format!(
                            "SELECT id FROM delivery WHERE duplicate_of = ?1 AND {WAITING} ORDER BY id LIMIT 1"
                        ),
                        [id],
                        |r| r.get(0),
                    )
                    .optional()?;
                // Withdrawn first: until then it is still the original of its content.
                tx.execute(
                    "UPDATE delivery SET size_bytes = ?2, sha256 = ?3, state = 'withdrawn',
                         duplicate_of = NULL, state_at = ?4, finished_at = ?4
                     WHERE id = ?1",
                    params![id, size, w.sha256, at],
                )?;
                if let Some(heir) = heir {
                    tx.execute(
                        "UPDATE delivery SET duplicate_of = ?2 WHERE duplicate_of = ?1 AND id <> ?2",
                        [id, heir],
                    )?;
                    tx.execute(
                        "UPDATE delivery SET state = 'received', duplicate_of = NULL, state_at = ?2 WHERE id = ?1",
                        params![heir, at],
                    )?;
                }
                id
            }
            None => {
                tx.execute(
                    "INSERT INTO delivery (tenant_id, file_name, size_bytes, sha256, received_at, state, state_at, finished_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, 'withdrawn', ?5, ?5)",
                    params![w.tenant, w.name, size, w.sha256, at],
                )?;
                tx.last_insert_rowid()
            }
        };
        audit::append(
            &tx,
            &AuditEntry {
                actor: w.by,
                action: "delivery.withdrawn",
                tenant: Some(w.tenant),
                subject: Some(w.name),
                detail: Some(json!({
                    "id": id,
                    "size": w.size,
                    "sha256": w.sha256,
                    "was_waiting": waiting.is_some(),
                })),
            },
            now,
        )?;
        tx.commit()?;
        Ok(Withdrawn::Recorded(id))
    }

    /// The latest withdrawn delivery of `name` with this content whose original is not
    /// `archived` yet: what a crash between [`Ledger::withdraw`] and the move left.
    pub(crate) fn withdrawn_unarchived(
        &self,
        tenant: &str,
        name: &str,
        sha256: &str,
        archived: impl Fn(i64) -> bool,
    ) -> Result<Option<i64>, LedgerError> {
        let id: Option<i64> = self
            .conn
            .query_row(
                "SELECT max(id) FROM delivery
                 WHERE tenant_id = ?1 AND file_name = ?2 AND sha256 = ?3 AND state = 'withdrawn'
                   AND original_deleted_at IS NULL",
                params![tenant, name, sha256],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        Ok(id.filter(|id| !archived(*id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Tenant, TenantKind};

    fn ledger(dir: &std::path::Path) -> Ledger {
        let mut ledger = Ledger::open(&dir.join("l.sqlite")).unwrap();
        let tenant = Tenant {
            id: "t".into(),
            kind: TenantKind::Supplier,
            code: "12345678".into(),
            name: "T".into(),
            contacts: vec![],
            max_file_bytes: 1,
            quota_bytes: 1,
            decisions_from_messages: false,
            expect_delivery_days: None,
        };
        ledger.sync_tenants(&[tenant], Utc::now()).unwrap();
        ledger
    }

    fn file<'a>(name: &'a str, sha: &'a str) -> NewFile<'a> {
        NewFile {
            tenant: "t",
            name,
            size: 3,
            sha256: sha,
            uploaded_by: None,
        }
    }

    #[test]
    fn same_content_twice_is_a_duplicate_and_recording_again_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = ledger(dir.path());
        let a = "a".repeat(64);
        let first = l.record_file(&file("one.csv", &a), Utc::now()).unwrap();
        let Recorded::New {
            id: first_id,
            state: DeliveryState::Received,
        } = first
        else {
            panic!("{first:?}")
        };
        let second = l.record_file(&file("two.csv", &a), Utc::now()).unwrap();
        assert!(
            matches!(
                second,
                Recorded::New {
                    state: DeliveryState::Duplicate,
                    ..
                }
            ),
            "{second:?}"
        );
        let again = l.record_file(&file("one.csv", &a), Utc::now()).unwrap();
        assert_eq!(again, Recorded::Unchanged { id: first_id });
        assert_eq!(l.audit_count("delivery.recorded").unwrap(), 2);
    }

    #[test]
    fn a_waiting_file_rewritten_in_place_is_replaced_not_doubled() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = ledger(dir.path());
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        let Recorded::New { id, .. } = l.record_file(&file("x.csv", &a), Utc::now()).unwrap()
        else {
            panic!()
        };
        let replaced = l.record_file(&file("x.csv", &b), Utc::now()).unwrap();
        assert_eq!(
            replaced,
            Recorded::Replaced {
                id,
                state: DeliveryState::Received
            }
        );
        assert_eq!(l.waiting_files("t").unwrap()["x.csv"].sha256, b);
        assert_eq!(
            l.delivery_counts().unwrap().by_state[&DeliveryState::Received],
            1
        );
    }

    fn state_of(l: &Ledger, id: i64) -> (String, Option<i64>) {
        l.conn
            .query_row(
                "SELECT state, duplicate_of FROM delivery WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
    }

    #[test]
    fn a_withdrawn_original_hands_its_place_to_a_waiting_duplicate() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = ledger(dir.path());
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        let new = |l: &mut Ledger, name: &str, sha: &str| match l
            .record_file(&file(name, sha), Utc::now())
            .unwrap()
        {
            Recorded::New { id, .. } => id,
            other => panic!("{other:?}"),
        };
        let one = new(&mut l, "one.csv", &a);
        let two = new(&mut l, "two.csv", &a);
        let three = new(&mut l, "three.csv", &a);
        let withdrawal = |name, sha| Withdrawal {
            tenant: "t",
            name,
            size: 3,
            sha256: sha,
            by: "sftp:u",
        };
        assert_eq!(
            l.withdraw(&withdrawal("one.csv", &a), Utc::now()).unwrap(),
            one
        );
        assert_eq!(state_of(&l, one), ("withdrawn".into(), None));
        assert_eq!(state_of(&l, two), ("received".into(), None));
        assert_eq!(state_of(&l, three), ("duplicate".into(), Some(two)));
        // The same content again under the old name is no duplicate of the withdrawn one.
        let again = new(&mut l, "one.csv", &b);
        assert_eq!(state_of(&l, again), ("received".into(), None));
        // Nothing waits under a name: the kept version gets a record of its own.
        let kept = l.withdraw(&withdrawal("gone.csv", &b), Utc::now()).unwrap();
        assert_eq!(state_of(&l, kept), ("withdrawn".into(), None));
        assert_eq!(
            l.withdrawn_unarchived("t", "gone.csv", &b, |_| false)
                .unwrap(),
            Some(kept)
        );
        assert_eq!(
            l.withdrawn_unarchived("t", "gone.csv", &b, |_| true)
                .unwrap(),
            None
        );
        assert_eq!(l.audit_count("delivery.withdrawn").unwrap(), 2);
        assert!(!l.waiting_files("t").unwrap().contains_key("gone.csv"));
    }

    #[test]
    fn a_version_set_aside_while_the_run_had_it_is_that_deliverys_original() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = ledger(dir.path());
        let a = "a".repeat(64);
        let Recorded::New { id, .. } = l.record_file(&file("x.csv", &a), Utc::now()).unwrap()
        else {
            panic!()
        };
        l.conn
            .execute(
                "UPDATE delivery SET state = 'processed', processed_at = 'now' WHERE id = ?1",
                [id],
            )
            .unwrap();
        let w = Withdrawal {
            tenant: "t",
            name: "x.csv",
            size: 3,
            sha256: &a,
            by: "sftp:u",
        };
        assert_eq!(
            l.withdraw_or_taken(&w, Utc::now()).unwrap(),
            Withdrawn::Taken {
                id,
                state: DeliveryState::Processed
            }
        );
        assert_eq!(l.audit_count("delivery.withdrawn").unwrap(), 0);
        // Other content under that name is a version of its own.
        let b = "b".repeat(64);
        let other = Withdrawal { sha256: &b, ..w };
        assert!(matches!(
            l.withdraw_or_taken(&other, Utc::now()).unwrap(),
            Withdrawn::Recorded(new) if new != id
        ));
    }

    #[test]
    fn the_uploader_of_an_unannounced_file_comes_from_the_audit_since_the_last_record() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = ledger(dir.path());
        let upload = |l: &mut Ledger, actor: &str| {
            let entry = AuditEntry {
                actor,
                action: "sftp.upload",
                tenant: Some("t"),
                subject: Some("x.csv"),
                detail: None,
            };
            l.audit(&entry, Utc::now()).unwrap();
        };
        assert_eq!(l.uploader_from_audit("t", "x.csv").unwrap(), None);
        upload(&mut l, "sftp:anna");
        assert_eq!(
            l.uploader_from_audit("t", "x.csv").unwrap().as_deref(),
            Some("anna")
        );
        l.record_file(&file("x.csv", &"a".repeat(64)), Utc::now())
            .unwrap();
        assert_eq!(
            l.uploader_from_audit("t", "x.csv").unwrap(),
            None,
            "used up"
        );
    }
}
