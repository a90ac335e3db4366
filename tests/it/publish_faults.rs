//! Publication under faults (issue 17): a bundle's mail goes out only once the bundle is in
//! its outbox, also after a kill; one municipality's failure leaves the others their
//! bundles; writing a zip does not hold the ledger's write lock; and the ledger's log is
//! truncated after large runs.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::publish::{csv, mail_kinds, outbox_of, take_in_at};
use crate::util::{Env, PATIENCE, SAMPLES};

/// The supplier `zorg` and the municipalities of `municipalities` (id, CBS code), each
/// with a contact, keys made, the state directory prepared.
fn installation(municipalities: &[(&str, &str)]) -> Env {
    let mut config =
        "[[tenant]]\nid = \"zorg\"\nkind = \"supplier\"\ncode = \"87654321\"\nname = \"Zorg\"\n"
            .to_owned();
    for (id, code) in municipalities {
        config.push_str(&format!(
            "[[tenant]]\nid = \"{id}\"\nkind = \"municipality\"\ncode = \"{code}\"\nname = \"{id}\"\ncontacts = [\"data@{id}.example\"]\n"
        ));
    }
    let env = Env::new(&config);
    assert!(env.cmd(&["keygen"]).status.success());
    env.start().stop();
    env
}

/// A decision file of municipality `code` with one decision, `number`, for a client.
fn decision(code: &str, number: &str) -> String {
    format!(
        "gemeentecode;beschikkingnummer;pseudobsn;zorgaanbiedercode;productcategorie;productcode;ingangsdatum;einddatum\n\
         {code};{number};111222333;87654321;45;45A01;2026-01-01;2026-09-30\n"
    )
}

/// `dropgate <args>` frozen at the pause point `point`; returns once it says it is there.
fn paused_at(env: &Env, args: &[&str], point: &str) -> Child {
    let mut child = env
        .command(args)
        .env("DROPGATE_TEST_PAUSE_AT", point)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let needle = format!("dropgate: paused at {point}");
    std::thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.contains(&needle) {
                let _ = tx.send(Ok(()));
            }
            seen.push_str(&line);
            seen.push('\n');
        }
        let _ = tx.send(Err(seen));
    });
    match rx.recv_timeout(PATIENCE) {
        Ok(Ok(())) => child,
        Ok(Err(log)) => panic!("{args:?} ended without pausing at {point}:\n{log}"),
        Err(_) => panic!("{args:?} did not reach {point}"),
    }
}

/// The bundle mails among the `.eml` files the daemon's file transport wrote.
fn bundle_mails(env: &Env) -> Vec<String> {
    crate::mail::messages(&env.var().join("mail"))
        .into_iter()
        .filter(|m| m.contains("Nieuwe bundel"))
        .collect()
}

#[test]
fn a_publication_killed_after_its_commit_is_placed_at_the_next_start_and_only_then_mailed() {
    killed_after_commit_at("publish.committed");
}

#[test]
fn a_publication_killed_after_its_move_is_recorded_at_the_next_start_and_only_then_mailed() {
    killed_after_commit_at("publish.placed");
}

/// A publication killed at `point` (after its commit) is placed, or its placement
/// recorded, by the next start before READY, and only then is its mail queued.
fn killed_after_commit_at(point: &str) {
    let env = installation(&[("utrecht", "0344")]);
    // The weekly run was missed; the decisions came in then, so the daemon publishes them
    // at its start, and dies there after the commit.
    let week_ago = env.published_days_ago(8);
    take_in_at(
        &env,
        "-8d",
        &[("utrecht", "b.csv", decision("0344", "B-1").as_bytes())],
    );
    env.cmd_at("-8d", &["process"]);
    let mut daemon = env.spawn(&[("DROPGATE_TEST_PAUSE_AT", point)]);
    daemon.wait_for_log(&format!("dropgate: paused at {point}"));
    daemon.child.kill().unwrap(); // SIGKILL
    daemon.child.wait().unwrap();

    let unplaced = env.texts("SELECT name FROM bundle WHERE placed_at IS NULL", []);
    assert_eq!(unplaced.len(), 1, "the bundle is recorded, not placed");
    let name = &unplaced[0];
    let staged = env.var().join("staging").join(name);
    let placed = env.var().join("tenants/utrecht/outbox").join(name);
    let moved = point == "publish.placed";
    assert_eq!(
        (staged.exists(), placed.exists()),
        (!moved, moved),
        "{point}"
    );
    assert_eq!(
        mail_kinds(&env),
        ["delivery-result"],
        "no bundle mail is queued while the bundle is not in the outbox"
    );
    assert_eq!(env.number("SELECT count(*) FROM held_mail"), 1);
    assert!(bundle_mails(&env).is_empty());

    // The restart places it before it says READY, and queues its mail as it does so.
    let daemon = env.start();
    assert!(placed.exists() && !staged.exists());
    assert_eq!(
        env.texts(
            "SELECT m.created_at FROM mail m WHERE m.kind = 'bundle-published'",
            []
        ),
        env.texts("SELECT placed_at FROM bundle WHERE name = ?1", [name]),
        "the mail is queued in the transaction that records the placement"
    );
    daemon.wait_until("the bundle mail sent", || bundle_mails(&env).len() == 1);
    // The missed run is caught up on too: nothing new, so a bundle without rows, unmailed.
    daemon.wait_until("the catch-up publication", || {
        env.texts("SELECT last_run FROM job WHERE name = 'publish'", []) != [week_ago.clone()]
    });
    daemon.stop();
    let mails = bundle_mails(&env);
    assert_eq!(mails.len(), 1, "mailed once: {mails:?}");
    assert!(
        mails[0].contains(&format!("Nieuwe bundel: {name}")),
        "{}",
        mails[0]
    );
    assert_eq!(env.number("SELECT count(*) FROM held_mail"), 0);
    let zips = outbox_of(&env, "utrecht");
    let decisions: usize = zips
        .iter()
        .map(|z| csv(z, "Beschikkingen.csv").len() - 1)
        .sum();
    assert_eq!(decisions, 1, "the decision is in one bundle");
}

#[test]
fn one_municipality_failing_leaves_the_other_two_their_bundles_and_its_own_waits() {
    let municipalities = [
        ("utrecht", "0344"),
        ("amersfoort", "0307"),
        ("zeist", "0355"),
    ];
    let env = installation(&municipalities);
    let files: Vec<(&str, &str, String)> = municipalities
        .iter()
        .map(|(id, code)| (*id, "b.csv", decision(code, &format!("B-{id}"))))
        .collect();
    let files: Vec<(&str, &str, &[u8])> = files
        .iter()
        .map(|(t, n, c)| (*t, *n, c.as_bytes()))
        .collect();
    crate::publish::deliver_all_at(&env, "+0s", &files);
    // Amersfoort's outbox is a file where its folder should be: its bundle cannot go in.
    let outbox = env.var().join("tenants/amersfoort/outbox");
    std::fs::remove_dir(&outbox).unwrap();
    std::fs::write(&outbox, b"not a folder").unwrap();

    let out = env.cmd(&["publish", "--now"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("error: no bundles for amersfoort"),
        "{stderr}"
    );
    assert!(stderr.contains("the others go on"), "logged: {stderr}");
    for tenant in ["utrecht", "zeist"] {
        assert!(
            stdout.contains(&format!("{tenant}: Bundel-{tenant}-")),
            "{stdout}"
        );
        let zips = outbox_of(&env, tenant);
        assert_eq!(zips.len(), 1, "{tenant}");
        assert_eq!(csv(&zips[0], "Beschikkingen.csv").len(), 2, "{tenant}");
    }
    let announced = |tenant: &str| {
        env.number(&format!(
            "SELECT count(*) FROM mail WHERE kind = 'bundle-published' AND tenant_id = '{tenant}'"
        ))
    };
    let announcements = || {
        [
            announced("utrecht"),
            announced("amersfoort"),
            announced("zeist"),
        ]
    };
    assert_eq!(announcements(), [1, 0, 1]);
    let waiting = env.texts(
        "SELECT name FROM bundle WHERE tenant = 'amersfoort' AND placed_at IS NULL",
        [],
    );
    assert_eq!(waiting.len(), 1, "recorded, waiting in staging/");
    assert!(env.var().join("staging").join(&waiting[0]).exists());
    assert!(
        env.texts("SELECT last_result FROM job WHERE name = 'publish'", [])[0]
            .contains("failed for amersfoort")
    );

    // Its folder back, the next publication places the waiting bundle and mails it once.
    std::fs::remove_file(&outbox).unwrap();
    std::fs::create_dir(&outbox).unwrap();
    let again = env.cmd(&["publish", "--now"]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(
        announcements(),
        [1, 1, 1],
        "a week without rows is not mailed"
    );
    for (tenant, _) in municipalities {
        let zips = outbox_of(&env, tenant);
        assert_eq!(zips.len(), 2, "{tenant}");
        let decisions: usize = zips
            .iter()
            .map(|z| csv(z, "Beschikkingen.csv").len() - 1)
            .sum();
        assert_eq!(
            decisions, 1,
            "{tenant}: the decision is in exactly one bundle"
        );
    }
    assert!(
        outbox_of(&env, "amersfoort")[0].ends_with(&waiting[0]),
        "the waiting bundle, under its recorded name"
    );
}

#[test]
fn processing_goes_on_while_a_publication_writes_its_zip_and_nothing_is_lost_or_doubled() {
    let env = installation(&[("utrecht", "0344")]);
    let sample = |name: &str| std::fs::read(std::path::Path::new(SAMPLES).join(name)).unwrap();
    crate::publish::deliver_all_at(
        &env,
        "+0s",
        &[("utrecht", "b.csv", &sample("beschikkingen-good.csv"))],
    );
    take_in_at(
        &env,
        "+0s",
        &[("zorg", "m.csv", &sample("metingen-good.csv"))],
    );
    // A publication frozen while it writes its zip, its snapshot of the ledger open...
    let mut publisher = paused_at(
        &env,
        &["publish", "--now", "--tenant", "utrecht"],
        "publish.writing",
    );
    // ...does not keep the daily run from writing the ledger (it used to wait for the
    // publication's write lock, for up to ten minutes).
    let mut process = env
        .command(&["process"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + PATIENCE;
    while process.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = process.kill();
            let _ = publisher.kill();
            panic!("processing waited for the publication");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let processed = process.wait_with_output().unwrap();
    assert!(
        processed.status.success(),
        "{}",
        String::from_utf8_lossy(&processed.stderr)
    );
    assert_eq!(env.count("zorg", "processed"), 1);
    publisher.kill().unwrap(); // SIGKILL
    publisher.wait().unwrap();

    // The next publication forgets the half zip and carries everything once.
    let first = env.cmd(&["publish", "--now", "--tenant", "utrecht"]);
    assert!(first.status.success());
    let second = env.cmd(&["publish", "--now", "--tenant", "utrecht"]);
    assert!(second.status.success());
    let zips = outbox_of(&env, "utrecht");
    assert_eq!(zips.len(), 2);
    assert!(
        std::fs::read_dir(env.var().join("staging"))
            .unwrap()
            .next()
            .is_none()
    );
    let rows = |zip: &std::path::Path, file: &str| csv(zip, file).len() - 1;
    assert_eq!(rows(&zips[0], "Beschikkingen.csv"), 3);
    assert!(rows(&zips[0], "Metingen.csv") > 0);
    assert!(rows(&zips[0], "Koppelingen.csv") > 0);
    for file in ["Beschikkingen.csv", "Metingen.csv", "Koppelingen.csv"] {
        assert_eq!(rows(&zips[1], file), 0, "{file} came once");
    }
}

/// The first `n` valid citizen numbers from 10000000x on, in one pass.
fn citizen_numbers(n: usize) -> Vec<String> {
    (10_000_000u32..)
        .filter_map(|base| {
            let digits = format!("{base:08}");
            let sum: u32 = digits
                .bytes()
                .zip((2..=9).rev())
                .map(|(d, w)| u32::from(d - b'0') * w)
                .sum();
            let check = sum % 11;
            (check < 10).then(|| format!("{digits}{check}"))
        })
        .take(n)
        .collect()
}

#[test]
fn the_ledger_log_is_truncated_after_a_large_processing_run_and_a_publication() {
    let env = installation(&[("utrecht", "0344")]);
    // 2,000 clients with a decision each and 10 measurements linked to it.
    let clients = citizen_numbers(2_000);
    let mut decisions =
        "gemeentecode;beschikkingnummer;pseudobsn;zorgaanbiedercode;productcategorie;productcode;ingangsdatum;einddatum\n"
            .to_owned();
    let mut measurements =
        "zorgaanbiedercode;pseudobsn;metingnummer;datum;gebruiktMeetinstrument;typeRespondent;totaalscoreMeting;status\n"
            .to_owned();
    for (i, client) in clients.iter().enumerate() {
        decisions.push_str(&format!(
            "0344;B{i:05};{client};87654321;45;45A01;2026-01-01;2026-06-30\n"
        ));
        for j in 0..10 {
            measurements.push_str(&format!(
                "87654321;{client};M{i:05}-{j};2026-06-{:02};CT;01;7;Volledig\n",
                j + 1
            ));
        }
    }
    // The daily run last ran two days ago: the daemon started below catches up at once.
    env.cmd_at("-2d", &["process"]);
    take_in_at(
        &env,
        "-2d",
        &[
            ("utrecht", "b.csv", decisions.as_bytes()),
            ("zorg", "m.csv", measurements.as_bytes()),
        ],
    );
    let ledger = env.var().join("dropgate.sqlite");
    let wal = env.var().join("dropgate.sqlite-wal");
    let size = |path: &std::path::Path| std::fs::metadata(path).map_or(0, |m| m.len());
    let before = size(&ledger);

    let daemon = env.start();
    // Nothing here reads the ledger until the job is done: a reader would hold the log.
    daemon.wait_until("the daily run", || {
        daemon
            .log()
            .lines()
            .any(|l| l.contains("job done") && l.contains("process"))
    });
    let (grown, log) = (size(&ledger).saturating_sub(before), size(&wal));
    eprintln!("processing: ledger grew {grown} bytes; log after the run {log} bytes");
    assert!(grown > 2 << 20, "a large run: {grown} bytes");
    assert!(log < 512 << 10, "the log is truncated: {log} bytes");
    assert_eq!(env.count("zorg", "processed"), 1);

    // A publication by hand beside the running daemon truncates it too.
    let before = size(&ledger);
    let out = env.cmd(&["publish", "--now"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (grown, log) = (size(&ledger).saturating_sub(before), size(&wal));
    eprintln!("publication: ledger grew {grown} bytes; log after it {log} bytes");
    assert!(grown > 512 << 10, "a large publication: {grown} bytes");
    assert!(log < 512 << 10, "the log is truncated: {log} bytes");
    daemon.stop();
}
