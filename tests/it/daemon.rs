//! The daemon's life cycle: systemd notify, reload on SIGHUP, clean stop on SIGTERM.

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::util::{Env, TENANTS, drop_file, wait_until};

#[test]
fn it_reports_ready_watchdog_status_and_stopping_to_systemd() {
    let env = Env::with_tenants();
    let mut daemon = env.spawn(&[("WATCHDOG_USEC", "400000")]);
    daemon.wait_for_notify("READY=1");
    drop_file(&env.upload("alpha"), "a.csv", b"a");
    wait_until("a delivery", || env.count("alpha", "received") == 1);
    daemon.wait_for_notify("STATUS=serving 3 tenants; deliveries: 1 received, 0 duplicate");
    let pings = |d: &crate::util::Daemon| {
        d.notes()
            .iter()
            .filter(|n| n.trim() == "WATCHDOG=1")
            .count()
    };
    wait_until("three watchdog pings", || pings(&daemon) >= 3);
    let mut daemon = daemon;
    daemon.signal(libc::SIGTERM);
    daemon.wait_for_notify("STOPPING=1");
}

#[test]
fn an_invalid_configuration_stops_the_start_with_every_problem() {
    let env = Env::new(
        "[[tenant]]\nid = \"a\"\nkind = \"supplier\"\ncode = \"1\"\nname = \"A\"\nbogus = 1\n",
    );
    let out = env.cmd(&["run"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("2 problem(s)"), "{stderr}");
    assert!(stderr.contains("tenant[0].bogus: unknown key"), "{stderr}");
    assert!(
        stderr.contains("tenant[0].code: AGB code must be exactly 8 digits"),
        "{stderr}"
    );
    assert!(!env.var().join("dropgate.sqlite").exists());
}

#[test]
fn sighup_with_a_good_configuration_adds_tenants_without_a_restart() {
    let env = Env::with_tenants();
    let daemon = env.start();
    let pid = daemon.child.id();
    env.write_config(&format!(
        "{TENANTS}\n[[tenant]]\nid = \"gamma\"\nkind = \"supplier\"\ncode = \"33333333\"\nname = \"Gamma\"\n"
    ));
    daemon.signal(libc::SIGHUP);
    daemon.wait_for_log("configuration reloaded");
    assert!(env.upload("gamma").is_dir());
    drop_file(&env.upload("gamma"), "g.csv", b"gamma");
    wait_until("gamma's delivery", || env.count("gamma", "received") == 1);
    assert_eq!(daemon.child.id(), pid);

    // A tenant removed from the configuration stays in the ledger, inactive. (Three of
    // four removed: the file must say that is meant.)
    write_config_allowing_removals(
        &env,
        "[[tenant]]\nid = \"gamma\"\nkind = \"supplier\"\ncode = \"33333333\"\nname = \"Gamma\"\n",
    );
    daemon.signal(libc::SIGHUP);
    wait_until_inactive(&env, "alpha");
    daemon.stop();
}

#[test]
fn sighup_with_a_bad_configuration_keeps_the_running_one() {
    let env = Env::with_tenants();
    let daemon = env.start();
    env.write_config(
        "[[tenant]]\nid = \"alpha\"\nkind = \"supplier\"\ncode = \"oops\"\nname = \"A\"\n",
    );
    daemon.signal(libc::SIGHUP);
    daemon.wait_for_log("configuration reload refused");
    let log = daemon.log();
    assert!(
        log.contains("tenant[0].code: AGB code must be exactly 8 digits"),
        "{log}"
    );
    // Still serving with the old configuration: beta is still watched and active.
    drop_file(&env.upload("beta"), "b.csv", b"b");
    wait_until("beta's delivery", || env.count("beta", "received") == 1);
    assert!(
        env.status()["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["active"] == true)
    );
    daemon.stop();
}

/// Waits until `status` lists `tenant` as inactive (no longer configured).
fn wait_until_inactive(env: &Env, tenant: &str) {
    wait_until(&format!("{tenant} inactive"), || {
        env.status()["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == tenant && t["active"] == false)
    });
}

/// A configuration with `extra` that says a reload may remove most of what runs.
fn write_config_allowing_removals(env: &Env, extra: &str) {
    let text = format!(
        "allow_empty = true\nstate_dir = \"var\"\n[sftp]\nlisten = \"127.0.0.1:0\"\n{extra}"
    );
    std::fs::write(env.config(), text).unwrap();
}

#[test]
fn a_reload_that_would_remove_most_tenants_is_refused_unless_the_file_allows_it() {
    let env = Env::with_tenants();
    let daemon = env.start();
    // A file cut short: only its first line survived.
    env.write_config("# dropgate\n");
    daemon.signal(libc::SIGHUP);
    daemon.wait_for_log("configuration reload refused");
    let log = daemon.log();
    assert!(
        log.contains("it would remove 3 of the 3 tenants (alpha, beta, town), leaving 0")
            && log.contains("allow_empty = true"),
        "{log}"
    );
    drop_file(&env.upload("beta"), "b.csv", b"b");
    wait_until("beta's delivery", || env.count("beta", "received") == 1);

    // Two of three removed is more than half: refused too; said so, it is done.
    let town_only: String = TENANTS
        .split("[[tenant]]")
        .filter(|t| !t.contains("supplier"))
        .collect::<Vec<_>>()
        .join("[[tenant]]");
    env.write_config(&town_only);
    daemon.signal(libc::SIGHUP);
    wait_until("the second refusal", || {
        daemon.log().matches("configuration reload refused").count() == 2
    });
    write_config_allowing_removals(&env, &town_only);
    daemon.signal(libc::SIGHUP);
    daemon.wait_for_log("configuration reloaded");
    wait_until_inactive(&env, "alpha");
    daemon.stop();
}

#[test]
fn a_restart_warning_compares_with_what_runs_not_with_the_last_file() {
    let env = Env::with_tenants();
    let daemon = env.start();
    let warning = "sftp.listen and sftp.host_key take effect at the next restart";
    // Another port: a warning.
    std::fs::write(
        env.config(),
        format!("state_dir = \"var\"\n[sftp]\nlisten = \"127.0.0.1:1\"\n{TENANTS}"),
    )
    .unwrap();
    daemon.signal(libc::SIGHUP);
    daemon.wait_for_log(warning);
    // The file as it was: what runs again, so no warning (it used to say one).
    env.write_config(TENANTS);
    daemon.signal(libc::SIGHUP);
    wait_until("the second reload", || {
        daemon.log().matches("configuration reloaded").count() == 2
    });
    assert_eq!(daemon.log().matches(warning).count(), 1, "{}", daemon.log());
    daemon.stop();
}

#[test]
fn sigterm_during_intake_leaves_a_consistent_ledger_and_a_restart_carries_on() {
    const FILES: usize = 3000;
    let env = Env::with_tenants();
    std::fs::create_dir_all(env.upload("alpha")).unwrap();
    let content = |i: usize| format!("{i:06}").repeat(100).into_bytes();
    for i in 0..FILES {
        std::fs::write(env.upload("alpha").join(format!("f{i:04}.csv")), content(i)).unwrap();
    }
    let daemon = env.start();
    daemon.wait_for_log("delivery recorded");
    let stopping = Instant::now();
    let log = daemon.stop();
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "stop took {:?}",
        stopping.elapsed()
    );
    assert!(log.contains("stopped"), "{log}");

    let check_consistent = || -> usize {
        let conn = env.ledger();
        let mut stmt = conn
            .prepare("SELECT file_name, size_bytes, sha256 FROM delivery")
            .unwrap();
        let rows: Vec<(String, i64, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for (name, size, sha) in &rows {
            let i: usize = name[1..5].parse().unwrap();
            assert_eq!(*size as usize, content(i).len(), "{name}");
            assert_eq!(*sha, hex::encode(Sha256::digest(content(i))), "{name}");
        }
        let audited = env.number("SELECT count(*) FROM audit WHERE action = 'delivery.recorded'");
        assert_eq!(audited as usize, rows.len(), "one audit row per delivery");
        rows.len()
    };
    let after_stop = check_consistent();
    assert!(
        (1..FILES).contains(&after_stop),
        "SIGTERM should land mid-scan; {after_stop} of {FILES} were recorded"
    );

    let daemon = env.start();
    wait_until("all files recorded", || {
        env.count("alpha", "received") == FILES as u64
    });
    daemon.stop();
    assert_eq!(check_consistent(), FILES);
}

#[test]
fn json_logs_are_one_object_per_line_with_fields() {
    let env = Env::with_tenants();
    let daemon = env.start_json();
    drop_file(&env.upload("alpha"), "j.csv", b"json");
    daemon.wait_for_log("delivery recorded");
    let log = daemon.stop();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let recorded = lines
        .iter()
        .find(|l| l["message"] == "delivery recorded")
        .expect("a delivery line");
    assert_eq!(recorded["tenant"], "alpha");
    assert_eq!(recorded["file"], "j.csv");
    assert_eq!(recorded["size"], 4);
    assert_eq!(recorded["state"], "received");
    assert!(
        lines
            .iter()
            .all(|l| l["timestamp"].is_string() && l["level"].is_string())
    );
}
