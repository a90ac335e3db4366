//! A Ketendata publication: the messages of one municipality and law that no incremental
//! bundle carried yet (or, for a full bundle, all from a date on), the links between
//! messages the bundle names, read from one snapshot, and the commit that records the
//! bundle with the messages it carried (`message.bundle`). Requests for a full bundle
//! (`message_request`) live here too.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::ledger::{Ledger, LedgerError, NewBundle, NewMail, timestamp};

/// A message as a bundle writes it.
#[derive(Debug)]
pub(crate) struct MessageOut {
    pub identity: Identity,
    pub received_at: DateTime<Utc>,
    /// The allow-list's rows as the ledger keeps them (JSON).
    pub content: String,
}

/// A message's header identity (with a return message's own name), as the bundle hashes
/// it into its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identity {
    pub berichtcode: i64,
    pub afzender: String,
    pub ontvanger: String,
    pub identificatie: String,
    pub dagtekening: String,
    /// A return message's `IdentificatieRetour` and `DagtekeningRetour`.
    pub retour: Option<(String, String)>,
}

impl Identity {
    /// The one text a bundle hashes into the message's id:
    /// `berichtcode/afzender/ontvanger/identificatie/dagtekening`, and for a return message
    /// `/identificatieretour/dagtekeningretour` after it.
    pub(crate) fn text(&self) -> String {
        let mut text = format!(
            "{}/{}/{}/{}/{}",
            self.berichtcode, self.afzender, self.ontvanger, self.identificatie, self.dagtekening
        );
        if let Some((identificatie, dagtekening)) = &self.retour {
            text.push_str(&format!("/{identificatie}/{dagtekening}"));
        }
        text
    }
}

/// One row of the link table: two related messages and how.
#[derive(Debug)]
pub(crate) struct MessageLink {
    pub from: (u16, Identity),
    pub to: (u16, Identity),
    pub relation: &'static str,
}

/// How messages relate on a key, for the link table: from messages of these numbers to
/// messages of those, on this key of `message_key`, and (for a provider's reference)
/// only within one provider.
struct KeyRelation {
    relation: &'static str,
    from: &'static [u16],
    to: &'static [u16],
    key: &'static str,
    same_provider: bool,
}

/// Every relation on a key (the return messages are related by their header, below).
const KEY_RELATIONS: &[KeyRelation] = &[
    KeyRelation {
        relation: "toewijzing-start",
        from: &[301],
        to: &[305],
        key: "toewijzing",
        same_provider: false,
    },
    KeyRelation {
        relation: "toewijzing-stop",
        from: &[301],
        to: &[307],
        key: "toewijzing",
        same_provider: false,
    },
    KeyRelation {
        relation: "toewijzing-wijziging",
        from: &[301],
        to: &[317],
        key: "toewijzing",
        same_provider: false,
    },
    KeyRelation {
        relation: "toewijzing-declaratie",
        from: &[301],
        to: &[323],
        key: "toewijzing",
        same_provider: false,
    },
    KeyRelation {
        relation: "verzoek-antwoord",
        from: &[315, 317],
        to: &[319],
        key: "referentie",
        same_provider: true,
    },
    KeyRelation {
        relation: "verzoek-toewijzing",
        from: &[315, 317],
        to: &[301],
        key: "referentie",
        same_provider: true,
    },
];

/// The relation of a message to its return message.
pub(crate) const RETURN_RELATION: &str = "retour";

/// Every relation the link table names, in the order `LEESMIJ.txt` explains them.
pub(crate) fn relations() -> impl Iterator<Item = &'static str> {
    KEY_RELATIONS
        .iter()
        .map(|r| r.relation)
        .chain([RETURN_RELATION])
}

/// The messages in a bundle's scope, as `alias`: of municipality `?1` and law `?2`, not
/// carried by a weekly bundle yet, or (`full`) dated from `?3` on. Two texts, not one
/// condition on `?3`: SQLite uses the partial index of waiting messages only for the first.
fn in_scope(alias: &str, full: bool) -> String {
    let which = if full {
        format!("{alias}.dagtekening >= ?3")
    } else {
        format!("{alias}.bundle IS NULL AND ?3 IS NULL")
    };
    format!("{alias}.tenant = ?1 AND {alias}.standard = ?2 AND {which}")
}

fn numbers(list: &[u16]) -> String {
    list.iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The pairs of related messages of municipality `?1` and law `?2` (ids of `a` and `b`, and
/// the relation): on a key, or a message and its return message.
fn related_sql() -> String {
    let mut parts: Vec<String> = KEY_RELATIONS
        .iter()
        .map(|r| {
            let provider = if r.same_provider {
                " AND a.afzender = b.ontvanger"
            } else {
                ""
            };
            format!(
                // CROSS JOIN fixes the order: from the messages of one type, by their keys,
                // to the messages that share one. Left to itself, SQLite (without
                // statistics) scans every message of the other type per key.
                "SELECT DISTINCT a.id AS a, b.id AS b, '{relation}' AS relation
                 FROM message a
                 CROSS JOIN message_key ka CROSS JOIN message_key kb CROSS JOIN message b
                 WHERE ka.message = a.id AND ka.kind = '{key}'
                   AND kb.kind = '{key}' AND kb.value = ka.value AND b.id = kb.message
                   AND a.tenant = ?1 AND a.standard = ?2 AND b.tenant = ?1 AND b.standard = ?2
                   AND a.number IN ({from}) AND b.number IN ({to}){provider}",
                relation = r.relation,
                key = r.key,
                from = numbers(r.from),
                to = numbers(r.to),
            )
        })
        .collect();
    // A return message of 302 to 320 repeats its original's header, BerichtCode one
    // higher; a 325 names the claim it answers, from the other side.
    parts.push(format!(
        "SELECT a.id, b.id, '{RETURN_RELATION}'
         FROM message b
         JOIN message a ON a.tenant = b.tenant AND a.standard = b.standard
             AND a.identificatie = b.identificatie AND a.dagtekening = b.dagtekening
             AND a.afzender = b.afzender AND a.ontvanger = b.ontvanger
             AND a.number + 1 = b.number AND a.berichtcode + 1 = b.berichtcode
             AND a.retour_identificatie IS NULL
         WHERE b.tenant = ?1 AND b.standard = ?2 AND b.retour_identificatie IS NOT NULL
         UNION ALL
         SELECT a.id, b.id, '{RETURN_RELATION}'
         FROM message b
         JOIN message a ON a.tenant = b.tenant AND a.standard = b.standard
             AND a.identificatie = b.declaratie_identificatie
             AND a.dagtekening = b.declaratie_dagtekening
             AND a.afzender = b.ontvanger AND a.ontvanger = b.afzender AND a.number = 323
         WHERE b.tenant = ?1 AND b.standard = ?2 AND b.number = 325"
    ));
    parts.join(" UNION ALL ")
}

/// The columns [`identity`] reads, of the message `m`.
fn identity_columns(m: &str) -> String {
    [
        "number",
        "berichtcode",
        "afzender",
        "ontvanger",
        "identificatie",
        "dagtekening",
        "retour_identificatie",
        "retour_dagtekening",
    ]
    .iter()
    .map(|c| format!("{m}.{c}"))
    .collect::<Vec<_>>()
    .join(", ")
}

/// How many columns [`identity`] reads.
const IDENTITY_COLUMNS: usize = 8;

fn identity(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<(u16, Identity)> {
    let retour: (Option<String>, Option<String>) = (r.get(at + 6)?, r.get(at + 7)?);
    Ok((
        r.get(at)?,
        Identity {
            berichtcode: r.get(at + 1)?,
            afzender: r.get(at + 2)?,
            ontvanger: r.get(at + 3)?,
            identificatie: r.get(at + 4)?,
            dagtekening: r.get(at + 5)?,
            retour: retour.0.zip(retour.1),
        },
    ))
}

/// One Ketendata publication: read from one snapshot of the ledger (as a measurement
/// bundle's `Publication`: writers go on meanwhile); a weekly one notes the messages it
/// carries as it starts, and its commit, the only part under the write lock, marks exactly
/// those. A message stored after the snapshot waits for the next bundle.
pub struct KetendataPublication<'a> {
    conn: &'a Connection,
    snapshot: Transaction<'a>,
    tenant: String,
    standard: &'static str,
    since: Option<String>,
}

impl Ledger {
    /// Starts a Ketendata bundle of municipality `tenant` and law `standard` (`IJW`,
    /// `IWMO`): incremental, or with `since` everything dated from then.
    pub(crate) fn begin_ketendata(
        &mut self,
        tenant: &str,
        standard: &'static str,
        since: Option<NaiveDate>,
    ) -> Result<KetendataPublication<'_>, LedgerError> {
        let conn = &self.conn;
        let snapshot = Transaction::new_unchecked(conn, TransactionBehavior::Deferred)?;
        if since.is_none() {
            // Emptied first: a publication that failed leaves its notes on the connection.
            snapshot.execute_batch(
                "CREATE TEMP TABLE IF NOT EXISTS publishing_message (id INTEGER NOT NULL);
                 DELETE FROM temp.publishing_message;",
            )?;
            snapshot.execute(
                &format!(
                    "INSERT INTO temp.publishing_message (id) SELECT m.id FROM message m WHERE {}",
                    in_scope("m", false)
                ),
                params![tenant, standard, None::<&str>],
            )?;
        }
        Ok(KetendataPublication {
            conn,
            snapshot,
            tenant: tenant.to_owned(),
            standard,
            since: since.map(|d| d.to_string()),
        })
    }

    /// Asks for a full Ketendata bundle of `standard` from `since` on at `municipality`'s
    /// next publication, acknowledged by `mail` in the same transaction if the request is
    /// new; a pending one is only widened (the earlier date wins). Returns whether it was new.
    pub(crate) fn request_ketendata(
        &mut self,
        municipality: &str,
        standard: &str,
        since: NaiveDate,
        mail: Option<(&NewMail<'_>, &str)>,
        now: DateTime<Utc>,
    ) -> Result<bool, LedgerError> {
        let at = timestamp(now);
        let tx = self.write_tx()?;
        let pending: Option<String> = tx
            .query_row(
                "SELECT since FROM message_request WHERE municipality = ?1 AND standard = ?2",
                params![municipality, standard],
                |r| r.get(0),
            )
            .optional()?;
        let since = since.to_string();
        let new = pending.is_none();
        tx.execute(
            "INSERT INTO message_request (municipality, standard, since, requested_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (municipality, standard) DO UPDATE SET since = min(since, excluded.since)",
            params![municipality, standard, since, at],
        )?;
        if let (true, Some((mail, message_id))) = (new, mail) {
            crate::ledger::mail::insert(&tx, mail, message_id, &at)?;
        }
        tx.commit()?;
        Ok(new)
    }

    /// The first date of a full Ketendata bundle `municipality` asked for before `at`.
    pub(crate) fn ketendata_request(
        &self,
        municipality: &str,
        standard: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<NaiveDate>, LedgerError> {
        let since: Option<String> = self
            .conn
            .query_row(
                "SELECT since FROM message_request
                 WHERE municipality = ?1 AND standard = ?2 AND requested_at <= ?3",
                params![municipality, standard, timestamp(at)],
                |r| r.get(0),
            )
            .optional()?;
        Ok(since.and_then(|s| s.parse().ok()))
    }

    /// Clears the request served by a full bundle made at `at` (one made later stays).
    pub(crate) fn ketendata_request_served(
        &mut self,
        municipality: &str,
        standard: &str,
        at: DateTime<Utc>,
    ) -> Result<(), LedgerError> {
        self.conn.execute(
            "DELETE FROM message_request WHERE municipality = ?1 AND standard = ?2 AND requested_at <= ?3",
            params![municipality, standard, timestamp(at)],
        )?;
        Ok(())
    }

    /// Whether municipality `tenant` has messages of `standard` that no bundle carried.
    pub(crate) fn messages_waiting(
        &self,
        tenant: &str,
        standard: &str,
    ) -> Result<bool, LedgerError> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM message WHERE tenant = ?1 AND standard = ?2 AND bundle IS NULL)",
            params![tenant, standard],
            |r| r.get(0),
        )?)
    }
}

impl KetendataPublication<'_> {
    fn scope(&self) -> (&str, &str, Option<&str>) {
        (&self.tenant, self.standard, self.since.as_deref())
    }

    /// Calls `f` with the messages of type `number` in the bundle's scope, oldest first.
    pub(crate) fn messages<T>(
        &self,
        number: u16,
        f: impl FnOnce(&mut dyn Iterator<Item = Result<MessageOut, LedgerError>>) -> T,
    ) -> Result<T, LedgerError> {
        let (tenant, standard, since) = self.scope();
        let mut stmt = self.snapshot.prepare_cached(&format!(
            "SELECT {}, m.received_at, m.content FROM message m
             WHERE {} AND m.number = ?4 ORDER BY m.id",
            identity_columns("m"),
            in_scope("m", since.is_some()),
        ))?;
        let mut rows = stmt
            .query_map(params![tenant, standard, since, number], |r| {
                let (_, identity) = identity(r, 0)?;
                Ok(MessageOut {
                    identity,
                    received_at: r.get(IDENTITY_COLUMNS)?,
                    content: r.get(IDENTITY_COLUMNS + 1)?,
                })
            })?
            .map(|r| r.map_err(LedgerError::from));
        Ok(f(&mut rows))
    }

    /// Calls `f` with the links the bundle names: for a weekly bundle every pair with a
    /// message in it (the other may be in an earlier bundle), for a full one every pair
    /// within it.
    pub(crate) fn links<T>(
        &self,
        f: impl FnOnce(&mut dyn Iterator<Item = Result<MessageLink, LedgerError>>) -> T,
    ) -> Result<T, LedgerError> {
        let (tenant, standard, since) = self.scope();
        let either = if since.is_none() { "OR" } else { "AND" };
        let a_scope = in_scope("a", since.is_some());
        let b_scope = in_scope("b", since.is_some());
        let sql = format!(
            "WITH related (a, b, relation) AS ({related})
             SELECT {a}, {b}, r.relation
             FROM related r JOIN message a ON a.id = r.a JOIN message b ON b.id = r.b
             WHERE ({a_scope}) {either} ({b_scope})
             ORDER BY a.id, b.id, r.relation",
            related = related_sql(),
            a = identity_columns("a"),
            b = identity_columns("b"),
        );
        let mut stmt = self.snapshot.prepare(&sql)?;
        let mut rows = stmt
            .query_map(params![tenant, standard, since], |r| {
                let relation: String = r.get(2 * IDENTITY_COLUMNS)?;
                Ok(MessageLink {
                    from: identity(r, 0)?,
                    to: identity(r, IDENTITY_COLUMNS)?,
                    relation: relations().find(|known| *known == relation).unwrap_or(""),
                })
            })?
            .map(|r| r.map_err(LedgerError::from));
        Ok(f(&mut rows))
    }

    /// Ends the snapshot, then, under the write lock, records the bundle (holding `mail`,
    /// with its Message-ID, until it is placed) and, for a weekly bundle, marks the messages
    /// it noted as carried by it; returns the bundle's id.
    pub(crate) fn commit(
        self,
        bundle: &NewBundle<'_>,
        mail: Option<(&NewMail<'_>, &str)>,
        now: DateTime<Utc>,
    ) -> Result<i64, LedgerError> {
        let Self {
            conn,
            snapshot,
            since,
            ..
        } = self;
        // Committing a read ends it; what it noted stays in this connection's temp table.
        snapshot.commit()?;
        let at = timestamp(now);
        let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
        let id = crate::ledger::bundles::insert(&tx, bundle, mail, &at)?;
        if since.is_none() {
            tx.execute(
                "UPDATE message SET bundle = ?1
                 WHERE id IN (SELECT id FROM temp.publishing_message) AND bundle IS NULL",
                [id],
            )?;
        }
        tx.commit()?;
        if since.is_none() {
            conn.execute_batch("DELETE FROM temp.publishing_message;")?;
        }
        Ok(id)
    }
}
