//! Publication under faults (issue 17): a bundle's mail goes out only once the bundle is in
//! its outbox, also after a kill.

use crate::publish::{csv, mail_kinds, outbox_of, take_in_at};
use crate::util::Env;

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

/// The bundle mails among the `.eml` files the daemon's file transport wrote.
fn bundle_mails(env: &Env) -> Vec<String> {
    crate::mail::messages(&env.var().join("mail"))
        .into_iter()
        .filter(|m| m.contains("Nieuwe bundel"))
        .collect()
}

#[test]
fn a_publication_killed_after_its_commit_is_placed_at_the_next_start_and_only_then_mailed() {
    let env = installation(&[("utrecht", "0344")]);
    // The weekly run was missed; the decisions came in then, so the daemon publishes them
    // at its start, and dies there just after the commit.
    let week_ago = env.published_days_ago(8);
    take_in_at(
        &env,
        "-8d",
        &[("utrecht", "b.csv", decision("0344", "B-1").as_bytes())],
    );
    env.cmd_at("-8d", &["process"]);
    let mut daemon = env.spawn(&[("DROPGATE_TEST_PAUSE_AT", "publish.committed")]);
    daemon.wait_for_log("dropgate: paused at publish.committed");
    daemon.child.kill().unwrap(); // SIGKILL
    daemon.child.wait().unwrap();

    let unplaced = env.texts("SELECT name FROM bundle WHERE placed_at IS NULL", []);
    assert_eq!(unplaced.len(), 1, "the bundle is recorded, not placed");
    let name = &unplaced[0];
    let staged = env.var().join("staging").join(name);
    let placed = env.var().join("tenants/utrecht/outbox").join(name);
    assert!(staged.exists() && !placed.exists());
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
