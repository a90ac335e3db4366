//! The ledger's schema, as an ordered list of migrations.
//!
//! The schema version is SQLite's `user_version`. Migration `n` (1-based) takes the database
//! from version `n - 1` to `n`; each runs in its own transaction together with the version
//! bump, so a crash leaves the database at a whole version. Never edit a migration that has
//! shipped: append a new one.

use rusqlite::{Connection, OptionalExtension};

use super::LedgerError;

/// Every migration, oldest first.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: tenants, deliveries, audit log.
    r#"
    CREATE TABLE tenant (
        id          TEXT PRIMARY KEY,
        kind        TEXT NOT NULL CHECK (kind IN ('supplier', 'municipality')),
        code        TEXT NOT NULL,
        name        TEXT NOT NULL,
        -- 0 once the tenant is no longer in the configuration; its history stays.
        active      INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
        updated_at  TEXT NOT NULL
    ) STRICT;

    CREATE TABLE delivery (
        id           INTEGER PRIMARY KEY,
        tenant_id    TEXT NOT NULL REFERENCES tenant (id),
        file_name    TEXT NOT NULL,
        size_bytes   INTEGER NOT NULL CHECK (size_bytes >= 0),
        sha256       TEXT NOT NULL CHECK (length(sha256) = 64),
        received_at  TEXT NOT NULL,
        state        TEXT NOT NULL CHECK (state IN
                         ('received', 'duplicate', 'processed', 'rejected', 'quarantined')),
        duplicate_of INTEGER REFERENCES delivery (id),
        state_at     TEXT NOT NULL,
        CHECK ((state = 'duplicate') = (duplicate_of IS NOT NULL))
    ) STRICT;
    -- One original per content and tenant; later copies point at it.
    CREATE UNIQUE INDEX delivery_original ON delivery (tenant_id, sha256)
        WHERE duplicate_of IS NULL;
    -- A name in upload/ belongs to at most one delivery that still waits there.
    CREATE UNIQUE INDEX delivery_waiting ON delivery (tenant_id, file_name)
        WHERE state IN ('received', 'duplicate');
    CREATE INDEX delivery_state ON delivery (state);

    CREATE TABLE audit (
        id        INTEGER PRIMARY KEY,
        at        TEXT NOT NULL,
        actor     TEXT NOT NULL,
        action    TEXT NOT NULL,
        tenant_id TEXT,
        subject   TEXT,
        detail    TEXT
    ) STRICT;
    CREATE INDEX audit_at ON audit (at);
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    "#,
    // 2: processing: results per delivery, measurements, decisions, jobs.
    r#"
    ALTER TABLE delivery ADD COLUMN dataset TEXT;
    ALTER TABLE delivery ADD COLUMN format TEXT;
    ALTER TABLE delivery ADD COLUMN rows_total INTEGER;
    ALTER TABLE delivery ADD COLUMN rows_accepted INTEGER;
    ALTER TABLE delivery ADD COLUMN rows_rejected INTEGER;
    -- Why the whole file was rejected or quarantined.
    ALTER TABLE delivery ADD COLUMN error TEXT;
    ALTER TABLE delivery ADD COLUMN processed_at TEXT;
    -- The receipt's file name in receipts/ (without .result.csv / .result.txt).
    ALTER TABLE delivery ADD COLUMN receipt TEXT;
    -- Set once the original left upload/ and the receipt reached receipts/.
    ALTER TABLE delivery ADD COLUMN finished_at TEXT;

    -- Problems per rule, per delivery: for quality reports.
    CREATE TABLE delivery_rule (
        delivery_id INTEGER NOT NULL REFERENCES delivery (id),
        rule        TEXT NOT NULL,
        count       INTEGER NOT NULL,
        PRIMARY KEY (delivery_id, rule)
    ) STRICT, WITHOUT ROWID;

    -- Measurements by (AGB code, measurement number). `changed_*` mark the last delivery
    -- that changed the row (for publication); `seen_delivery` the last that carried it at
    -- all (a second row with the same key in one file is refused).
    CREATE TABLE measurement (
        agb              TEXT NOT NULL,
        metingnummer     TEXT NOT NULL,
        pseudonym        TEXT NOT NULL,
        datum            TEXT NOT NULL,
        instrument       TEXT NOT NULL CHECK (instrument = 'CT' OR instrument = 'GAS'),
        respondent       INTEGER NOT NULL CHECK (respondent BETWEEN 1 AND 6),
        score            REAL NOT NULL,
        -- Not `IN (...)`: with three or more values SQLite builds a temporary index for
        -- the check on every insert (measured: a tenth of a large run).
        status           TEXT CHECK (status = 'Volledig' OR status = 'Onvolledig' OR status = 'Nee'),
        changed_delivery INTEGER NOT NULL REFERENCES delivery (id),
        changed_at       TEXT NOT NULL,
        seen_delivery    INTEGER NOT NULL,
        PRIMARY KEY (agb, metingnummer)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE decision (
        gemeentecode      TEXT NOT NULL,
        beschikkingnummer TEXT NOT NULL,
        pseudonym         TEXT NOT NULL,
        agb               TEXT NOT NULL,
        productcategorie  TEXT NOT NULL,
        productcode       TEXT NOT NULL,
        ingangsdatum      TEXT NOT NULL,
        einddatum         TEXT,
        reden             TEXT,
        changed_delivery  INTEGER NOT NULL REFERENCES delivery (id),
        changed_at        TEXT NOT NULL,
        seen_delivery     INTEGER NOT NULL,
        PRIMARY KEY (gemeentecode, beschikkingnummer)
    ) STRICT, WITHOUT ROWID;

    -- Scheduled jobs: when each last ran (UTC), to catch up on runs missed while down.
    CREATE TABLE job (
        name        TEXT PRIMARY KEY,
        last_run    TEXT NOT NULL,
        last_result TEXT NOT NULL
    ) STRICT;
    "#,
    // 3: the outgoing mail queue.
    r#"
    CREATE TABLE mail (
        id              INTEGER PRIMARY KEY,
        kind            TEXT NOT NULL,
        tenant_id       TEXT REFERENCES tenant (id),
        -- JSON array of addresses.
        recipients      TEXT NOT NULL,
        subject         TEXT NOT NULL,
        text_body       TEXT NOT NULL,
        html_body       TEXT NOT NULL,
        -- Stable across attempts, so that a resend after a crash is recognisable.
        message_id      TEXT NOT NULL UNIQUE,
        created_at      TEXT NOT NULL,
        state           TEXT NOT NULL CHECK (state = 'queued' OR state = 'sent' OR state = 'failed'),
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        sent_at         TEXT,
        last_error      TEXT
    ) STRICT;
    CREATE INDEX mail_due ON mail (state, next_attempt_at);
    "#,
    // 4: linking. Each decision carries the window in which its measurements fall (see
    // `link`), and decisions can be found by client and provider.
    r#"
    ALTER TABLE decision ADD COLUMN window_start TEXT;
    ALTER TABLE decision ADD COLUMN window_end TEXT;
    CREATE INDEX decision_client ON decision (pseudonym, agb);
    "#,
    // 5: publication: the bundles made, and which version of each row a municipality got.
    r#"
    CREATE TABLE bundle (
        id           INTEGER PRIMARY KEY,
        municipality TEXT NOT NULL REFERENCES tenant (id),
        name         TEXT NOT NULL UNIQUE,
        kind         TEXT NOT NULL CHECK (kind = 'incremental' OR kind = 'full'),
        since        TEXT,
        created_at   TEXT NOT NULL,
        -- JSON object: rows per CSV.
        rows         TEXT NOT NULL,
        size_bytes   INTEGER NOT NULL,
        sha256       TEXT NOT NULL,
        -- Set once the zip is in the outbox; NULL means it still waits in staging/.
        placed_at    TEXT,
        deleted_at   TEXT
    ) STRICT;
    -- kind 'm': (agb, metingnummer); 'd': (gemeentecode, beschikkingnummer).
    CREATE TABLE published (
        municipality TEXT NOT NULL,
        kind         TEXT NOT NULL CHECK (kind = 'm' OR kind = 'd'),
        k1           TEXT NOT NULL,
        k2           TEXT NOT NULL,
        changed_at   TEXT NOT NULL,
        bundle_id    INTEGER NOT NULL REFERENCES bundle (id),
        PRIMARY KEY (municipality, kind, k1, k2)
    ) STRICT, WITHOUT ROWID;
    "#,
    // 6: retention: when a delivery's original and receipts were deleted.
    r#"
    ALTER TABLE delivery ADD COLUMN original_deleted_at TEXT;
    ALTER TABLE delivery ADD COLUMN receipt_deleted_at TEXT;
    "#,
    // 7: requests for a full bundle at the next publication (`publish --full`).
    r#"
    CREATE TABLE full_request (
        municipality TEXT PRIMARY KEY REFERENCES tenant (id),
        since        TEXT NOT NULL,
        requested_at TEXT NOT NULL
    ) STRICT;
    "#,
    // 8: which deliveries a municipality's quality file (`Kwaliteit.csv`) has carried.
    r#"
    CREATE TABLE published_delivery (
        municipality TEXT NOT NULL REFERENCES tenant (id),
        delivery_id  INTEGER NOT NULL REFERENCES delivery (id),
        bundle_id    INTEGER NOT NULL REFERENCES bundle (id),
        PRIMARY KEY (municipality, delivery_id)
    ) STRICT, WITHOUT ROWID;
    "#,
    // 9: runs that failed on a delivery without reaching an outcome, and the last reason
    // (after three the delivery is quarantined).
    r#"
    ALTER TABLE delivery ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE delivery ADD COLUMN last_failure TEXT;
    "#,
    // 10: a waiting delivery can be withdrawn (replaced or removed by its tenant before the
    // daily run took it), and who uploaded a delivery is a field. A CHECK cannot be altered,
    // so the table is rebuilt (SQLite's documented twelve steps; `migrate_to` turns foreign
    // keys off around it). A delivery waits while it is received or an unanswered duplicate:
    // an answered duplicate no longer holds its name.
    r#"
    CREATE TABLE delivery_new (
        id                  INTEGER PRIMARY KEY,
        tenant_id           TEXT NOT NULL REFERENCES tenant (id),
        file_name           TEXT NOT NULL,
        size_bytes          INTEGER NOT NULL CHECK (size_bytes >= 0),
        sha256              TEXT NOT NULL CHECK (length(sha256) = 64),
        received_at         TEXT NOT NULL,
        state               TEXT NOT NULL CHECK (state IN
                                ('received', 'duplicate', 'processed', 'rejected', 'quarantined',
                                 'withdrawn')),
        duplicate_of        INTEGER REFERENCES delivery (id),
        state_at            TEXT NOT NULL,
        dataset             TEXT,
        format              TEXT,
        rows_total          INTEGER,
        rows_accepted       INTEGER,
        rows_rejected       INTEGER,
        error               TEXT,
        processed_at        TEXT,
        receipt             TEXT,
        finished_at         TEXT,
        original_deleted_at TEXT,
        receipt_deleted_at  TEXT,
        failures            INTEGER NOT NULL DEFAULT 0,
        last_failure        TEXT,
        -- The SFTP user whose upload (or rename) put the file in upload/; NULL for a file
        -- that came by other means.
        uploaded_by         TEXT,
        CHECK ((state = 'duplicate') = (duplicate_of IS NOT NULL))
    ) STRICT;
    INSERT INTO delivery_new
        SELECT id, tenant_id, file_name, size_bytes, sha256, received_at, state, duplicate_of,
               state_at, dataset, format, rows_total, rows_accepted, rows_rejected, error,
               processed_at, receipt, finished_at, original_deleted_at, receipt_deleted_at,
               failures, last_failure, NULL
        FROM delivery;
    -- Deliveries still waiting keep their uploader, until now read back from the audit log.
    UPDATE delivery_new SET uploaded_by = (
        SELECT substr(a.actor, 6) FROM audit a
        WHERE a.tenant_id = delivery_new.tenant_id AND a.subject = delivery_new.file_name
          AND a.action IN ('sftp.upload', 'sftp.rename') AND a.actor LIKE 'sftp:%'
        ORDER BY a.id DESC LIMIT 1)
    WHERE processed_at IS NULL;
    DROP TABLE delivery;
    ALTER TABLE delivery_new RENAME TO delivery;
    CREATE UNIQUE INDEX delivery_original ON delivery (tenant_id, sha256)
        WHERE duplicate_of IS NULL AND state <> 'withdrawn';
    CREATE UNIQUE INDEX delivery_waiting ON delivery (tenant_id, file_name)
        WHERE state IN ('received', 'duplicate') AND processed_at IS NULL;
    CREATE INDEX delivery_state ON delivery (state);
    "#,
    // 11: a measurement not filled in (`Nee`) has no score, and one partly filled in
    // (`Onvolledig`) may have none (DESIGN 3.1). NOT NULL cannot be dropped in place.
    r#"
    CREATE TABLE measurement_new (
        agb              TEXT NOT NULL,
        metingnummer     TEXT NOT NULL,
        pseudonym        TEXT NOT NULL,
        datum            TEXT NOT NULL,
        instrument       TEXT NOT NULL CHECK (instrument = 'CT' OR instrument = 'GAS'),
        respondent       INTEGER NOT NULL CHECK (respondent BETWEEN 1 AND 6),
        score            REAL,
        -- Not `IN (...)`: with three or more values SQLite builds a temporary index for
        -- the check on every insert (measured: a tenth of a large run).
        status           TEXT CHECK (status = 'Volledig' OR status = 'Onvolledig' OR status = 'Nee'),
        changed_delivery INTEGER NOT NULL REFERENCES delivery (id),
        changed_at       TEXT NOT NULL,
        seen_delivery    INTEGER NOT NULL,
        PRIMARY KEY (agb, metingnummer)
    ) STRICT, WITHOUT ROWID;
    INSERT INTO measurement_new SELECT * FROM measurement;
    DROP TABLE measurement;
    ALTER TABLE measurement_new RENAME TO measurement;
    "#,
    // 12: an outbox also holds a care provider's monthly report (kind 'report'), so a
    // bundle's owner is a tenant of either kind. A CHECK cannot be altered: rebuilt.
    r#"
    CREATE TABLE bundle_new (
        id           INTEGER PRIMARY KEY,
        tenant       TEXT NOT NULL REFERENCES tenant (id),
        name         TEXT NOT NULL UNIQUE,
        kind         TEXT NOT NULL CHECK (kind = 'incremental' OR kind = 'full' OR kind = 'report'),
        since        TEXT,
        created_at   TEXT NOT NULL,
        -- JSON object: rows per CSV.
        rows         TEXT NOT NULL,
        size_bytes   INTEGER NOT NULL,
        sha256       TEXT NOT NULL,
        -- Set once the file is in the outbox; NULL means it still waits in staging/.
        placed_at    TEXT,
        deleted_at   TEXT
    ) STRICT;
    INSERT INTO bundle_new SELECT * FROM bundle;
    DROP TABLE bundle;
    ALTER TABLE bundle_new RENAME TO bundle;
    "#,
    // 13: accepted measurement rows a delivery carried on time (`figures::OnTime`), for the
    // delivery quality figures. NULL for decision files and for deliveries processed before
    // it was counted: unknown, not zero.
    r#"
    ALTER TABLE delivery ADD COLUMN rows_on_time INTEGER;
    "#,
    // 14: iJw/iWmo messages (issue 15): one row per header identity and municipality, with
    // what the allow-list keeps of it (JSON, citizen numbers as pseudonyms); the keys the
    // link table relates messages on; requests for a full Ketendata bundle; and a bundle's
    // product (NULL: measurements; IJW or IWMO: Ketendata).
    r#"
    CREATE TABLE message (
        id            INTEGER PRIMARY KEY,
        tenant        TEXT NOT NULL REFERENCES tenant (id),
        standard      TEXT NOT NULL CHECK (standard IN ('IJW', 'IWMO')),
        number        INTEGER NOT NULL,
        berichtcode   INTEGER NOT NULL,
        afzender      TEXT NOT NULL,
        ontvanger     TEXT NOT NULL,
        identificatie TEXT NOT NULL,
        dagtekening   TEXT NOT NULL,
        -- A return message of 302 to 320 repeats its original's header and names itself
        -- here (IdentificatieRetour, DagtekeningRetour); a 325 names the claim it answers.
        retour_identificatie     TEXT,
        retour_dagtekening       TEXT,
        declaratie_identificatie TEXT,
        declaratie_dagtekening   TEXT,
        delivery      INTEGER NOT NULL REFERENCES delivery (id),
        received_at   TEXT NOT NULL,
        content       TEXT NOT NULL,
        -- The incremental Ketendata bundle that carried it.
        bundle        INTEGER REFERENCES bundle (id)
    ) STRICT;
    CREATE UNIQUE INDEX message_identity
        ON message (tenant, berichtcode, afzender, ontvanger, identificatie, dagtekening,
                    ifnull(retour_identificatie, ''), ifnull(retour_dagtekening, ''));
    CREATE INDEX message_waiting ON message (tenant, standard, number) WHERE bundle IS NULL;
    CREATE INDEX message_dated ON message (tenant, standard, number, dagtekening);
    CREATE INDEX message_header ON message (tenant, identificatie, dagtekening);
    CREATE TABLE message_key (
        message INTEGER NOT NULL REFERENCES message (id),
        kind    TEXT NOT NULL CHECK (kind IN ('toewijzing', 'referentie')),
        value   TEXT NOT NULL,
        PRIMARY KEY (message, kind, value)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX message_key_value ON message_key (kind, value);
    CREATE TABLE message_request (
        municipality TEXT NOT NULL REFERENCES tenant (id),
        standard     TEXT NOT NULL CHECK (standard IN ('IJW', 'IWMO')),
        since        TEXT NOT NULL,
        requested_at TEXT NOT NULL,
        PRIMARY KEY (municipality, standard)
    ) STRICT;
    ALTER TABLE bundle ADD COLUMN product TEXT CHECK (product IN ('IJW', 'IWMO'));
    "#,
    // 15: the fingerprint of each key the ledger's hashes were made with (issue 16), so
    // that a key swapped on disk is refused before it makes a single wrong hash.
    r#"
    CREATE TABLE key_fingerprint (
        -- `ttp`, or `municipality:<tenant>`.
        name          TEXT PRIMARY KEY,
        -- SHA-256 of the key file's bytes, lower-case hex.
        fingerprint   TEXT NOT NULL CHECK (length(fingerprint) = 64),
        first_used_at TEXT NOT NULL
    ) STRICT;
    "#,
    // 16: reminders sent (issue 16): at most one per kind, subject and period; and since
    // when a tenant that never delivered is watched (kind 'watching', period '').
    r#"
    CREATE TABLE reminder (
        kind    TEXT NOT NULL,
        subject TEXT NOT NULL,
        period  TEXT NOT NULL,
        sent_at TEXT NOT NULL,
        PRIMARY KEY (kind, subject, period)
    ) STRICT, WITHOUT ROWID;
    "#,
    // 17: when each job last ran without failing, for monitoring (issue 16). Unknown for
    // runs before it.
    r#"
    ALTER TABLE job ADD COLUMN last_ok TEXT;
    "#,
    // 18: users enrolled by invitation (issue 16): a one-time code, stored as its Argon2id
    // hash and void once used, lets the invitee put its public key over SFTP; the key then
    // lets it log in. `mail_id` is the invitation that carried the code, whose bodies are
    // wiped once the code is void.
    r#"
    CREATE TABLE enrolment (
        user          TEXT PRIMARY KEY,
        tenant_id     TEXT NOT NULL REFERENCES tenant (id),
        deliver       INTEGER NOT NULL CHECK (deliver IN (0, 1)),
        collect       INTEGER NOT NULL CHECK (collect IN (0, 1)),
        email         TEXT NOT NULL,
        invited_at    TEXT NOT NULL,
        code_hash     TEXT,
        code_expires  TEXT NOT NULL,
        mail_id       INTEGER REFERENCES mail (id),
        enrolled_at   TEXT,
        -- authorized_keys lines, once enrolled.
        public_keys   TEXT,
        revoked_at    TEXT,
        CHECK (deliver = 1 OR collect = 1)
    ) STRICT;
    "#,
    // 19: a bundle's announcement is held beside it until the file is in its outbox, and
    // queued in the transaction that records the placement (issue 17): `held_mail` keeps
    // it, `bundle.mail` names the Message-ID that announces the file.
    r#"
    CREATE TABLE held_mail (
        message_id TEXT PRIMARY KEY,
        kind       TEXT NOT NULL,
        tenant_id  TEXT REFERENCES tenant (id),
        -- JSON array of addresses.
        recipients TEXT NOT NULL,
        subject    TEXT NOT NULL,
        text_body  TEXT NOT NULL,
        html_body  TEXT NOT NULL
    ) STRICT;
    ALTER TABLE bundle ADD COLUMN mail TEXT;
    "#,
    // 20: a publication reads only what concerns its municipality (issue 17): unplaced
    // bundles without reading every bundle, and the providers its decisions name without
    // reading its decisions, so that its measurements are read per provider, not all.
    r#"
    CREATE INDEX bundle_unplaced ON bundle (id) WHERE placed_at IS NULL;
    CREATE INDEX decision_provider ON decision (gemeentecode, agb);
    "#,
];

/// The version this build writes.
pub const LATEST: u32 = MIGRATIONS.len() as u32;

/// The database's schema version.
pub(super) fn version(conn: &Connection) -> Result<u32, LedgerError> {
    Ok(conn.query_row("PRAGMA user_version", [], |row| row.get(0))?)
}

/// Brings the database up to `target`, one migration per transaction.
pub(super) fn migrate_to(conn: &mut Connection, target: u32) -> Result<(), LedgerError> {
    let current = version(conn)?;
    if current > LATEST {
        return Err(LedgerError::TooNew {
            found: current,
            supported: LATEST,
        });
    }
    for (index, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .take(target as usize)
        .skip(current as usize)
    {
        // A table rebuild drops a table that others reference; with foreign keys on, that
        // would delete or fail. They are off for the migration (the pragma is a no-op inside
        // a transaction) and checked before the commit instead.
        conn.pragma_update(None, "foreign_keys", "OFF")?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        let broken: Option<String> = tx
            .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
            .optional()?;
        if let Some(table) = broken {
            return Err(LedgerError::Corrupt {
                what: "foreign key after a migration, in table",
                value: table,
            });
        }
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        tracing::info!(version = index + 1, "ledger migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT type || ' ' || name || ': ' || ifnull(sql, '') FROM sqlite_master ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn open(dir: &std::path::Path, name: &str) -> Connection {
        Connection::open(dir.join(name)).unwrap()
    }

    #[test]
    fn every_earlier_version_migrates_to_the_same_schema_as_an_empty_database() {
        let dir = tempfile::tempdir().unwrap();
        let mut fresh = open(dir.path(), "fresh.sqlite");
        migrate_to(&mut fresh, LATEST).unwrap();
        assert_eq!(version(&fresh).unwrap(), LATEST);
        let expected = schema(&fresh);
        assert!(expected.iter().any(|s| s.starts_with("table delivery")));

        for start in 0..LATEST {
            let mut conn = open(dir.path(), &format!("from-{start}.sqlite"));
            migrate_to(&mut conn, start).unwrap();
            assert_eq!(version(&conn).unwrap(), start);
            migrate_to(&mut conn, LATEST).unwrap();
            assert_eq!(schema(&conn), expected, "migrating from version {start}");
        }
    }

    #[test]
    fn migrating_twice_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open(dir.path(), "twice.sqlite");
        migrate_to(&mut conn, LATEST).unwrap();
        let before = schema(&conn);
        migrate_to(&mut conn, LATEST).unwrap();
        assert_eq!(schema(&conn), before);
    }

    #[test]
    fn a_database_from_a_newer_build_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open(dir.path(), "newer.sqlite");
        conn.pragma_update(None, "user_version", LATEST + 1)
            .unwrap();
        let err = migrate_to(&mut conn, LATEST).unwrap_err();
        assert!(matches!(err, LedgerError::TooNew { .. }), "{err}");
    }
}
