//! Intake: files that appear in `upload/` become deliveries, once, and only when complete.

use std::io::Write;

use sha2::{Digest, Sha256};

use crate::util::{Env, TENANTS, drop_file, wait_until};

fn sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// (file_name, size, sha256, state) of every delivery of `tenant`, by name.
fn deliveries(env: &Env, tenant: &str) -> Vec<(String, u64, String, String)> {
    let conn = env.ledger();
    let mut stmt = conn
        .prepare("SELECT file_name, size_bytes, sha256, state FROM delivery WHERE tenant_id = ?1 ORDER BY file_name, id")
        .unwrap();
    stmt.query_map([tenant], |r| {
        Ok((r.get(0)?, r.get::<_, i64>(1)? as u64, r.get(2)?, r.get(3)?))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// File names of every delivery of `tenant`, sorted.
fn names(env: &Env, tenant: &str) -> Vec<String> {
    deliveries(env, tenant).into_iter().map(|d| d.0).collect()
}

fn wait_for_count(env: &Env, tenant: &str, state: &str, n: u64) {
    wait_until(&format!("{n} {state} deliveries for {tenant}"), || {
        env.count(tenant, state) == n
    });
}

#[test]
fn files_copied_in_while_running_are_recorded_with_size_and_hash() {
    let env = Env::with_tenants();
    let daemon = env.start();
    let source = env.dir.path().join("source.csv");
    std::fs::write(&source, b"a;b\n1;2\n").unwrap();
    // A plain copy: created, written, closed in place.
    std::fs::copy(&source, env.upload("alpha").join("plain.csv")).unwrap();
    drop_file(&env.upload("alpha"), "renamed.csv", b"x;y\n3;4\n");
    drop_file(&env.upload("beta"), "beta.csv", b"beta\n");
    wait_for_count(&env, "alpha", "received", 2);
    wait_for_count(&env, "beta", "received", 1);
    assert_eq!(
        deliveries(&env, "alpha"),
        vec![
            (
                "plain.csv".into(),
                8,
                sha256(b"a;b\n1;2\n"),
                "received".into()
            ),
            (
                "renamed.csv".into(),
                8,
                sha256(b"x;y\n3;4\n"),
                "received".into()
            ),
        ]
    );
    let log = daemon.stop();
    assert_eq!(log.matches("delivery recorded").count(), 3, "{log}");
    assert!(
        log.contains("tenant=\"alpha\" file=plain.csv size=8"),
        "{log}"
    );
}

#[test]
fn a_relative_configuration_path_works_from_the_working_directory() {
    let env = Env::with_tenants();
    let daemon = env.start_relative();
    drop_file(&env.upload("alpha"), "a.csv", b"relative");
    wait_for_count(&env, "alpha", "received", 1);
    daemon.stop();
}

#[test]
fn files_that_arrived_while_stopped_are_recorded_at_start_and_only_once() {
    let env = Env::with_tenants();
    std::fs::create_dir_all(env.upload("alpha")).unwrap();
    for i in 0..5 {
        std::fs::write(
            env.upload("alpha").join(format!("f{i}.csv")),
            format!("file {i}"),
        )
        .unwrap();
    }
    let daemon = env.start();
    wait_for_count(&env, "alpha", "received", 5);
    daemon.stop();

    std::fs::write(env.upload("alpha").join("late.csv"), "late").unwrap();
    let daemon = env.start();
    wait_for_count(&env, "alpha", "received", 6);
    daemon.wait_for_log("upload folders scanned");
    let log = daemon.stop();
    assert_eq!(log.matches("delivery recorded").count(), 1, "{log}");
    assert_eq!(deliveries(&env, "alpha").len(), 6);
}

#[test]
fn the_same_content_again_is_a_duplicate_per_tenant() {
    let env = Env::with_tenants();
    let daemon = env.start();
    drop_file(&env.upload("alpha"), "week1.csv", b"same content");
    wait_for_count(&env, "alpha", "received", 1);
    drop_file(&env.upload("alpha"), "week1-again.csv", b"same content");
    drop_file(&env.upload("beta"), "other-tenant.csv", b"same content");
    wait_for_count(&env, "alpha", "duplicate", 1);
    wait_for_count(&env, "beta", "received", 1);
    assert_eq!(env.count("alpha", "received"), 1);
    let conn = env.ledger();
    let (dup_of, original): (i64, i64) = conn
        .query_row(
            "SELECT d.duplicate_of, o.id FROM delivery d JOIN delivery o ON o.file_name = 'week1.csv'
             WHERE d.file_name = 'week1-again.csv'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(dup_of, original);
    daemon.stop();
}

#[test]
fn temporary_names_are_ignored_until_renamed() {
    let env = Env::with_tenants();
    let daemon = env.start();
    let upload = env.upload("alpha");
    for name in [
        "data.csv.filepart",
        "data2.csv.part",
        "data3.tmp",
        ".hidden.csv",
    ] {
        std::fs::write(upload.join(name), name).unwrap();
    }
    // Events are handled in order: once this one is recorded, the ones above were seen.
    std::fs::write(upload.join("sentinel.csv"), "sentinel").unwrap();
    wait_for_count(&env, "alpha", "received", 1);
    std::fs::rename(upload.join("data.csv.filepart"), upload.join("data.csv")).unwrap();
    wait_for_count(&env, "alpha", "received", 2);
    assert_eq!(names(&env, "alpha"), ["data.csv", "sentinel.csv"]);
    daemon.stop();

    // Nor does the start-up scan take them.
    let daemon = env.start();
    daemon.wait_for_log("upload folders scanned");
    assert_eq!(deliveries(&env, "alpha").len(), 2);
    daemon.stop();
}

#[test]
fn a_file_written_slowly_is_recorded_only_after_close() {
    let env = Env::with_tenants();
    let daemon = env.start();
    let upload = env.upload("alpha");
    let mut slow = std::fs::File::create(upload.join("slow.csv")).unwrap();
    slow.write_all(b"first half;").unwrap();
    slow.sync_all().unwrap();
    std::fs::write(upload.join("sentinel.csv"), "sentinel").unwrap();
    wait_for_count(&env, "alpha", "received", 1);
    slow.write_all(b"second half").unwrap();
    slow.sync_all().unwrap();
    assert_eq!(
        deliveries(&env, "alpha").len(),
        1,
        "slow.csv recorded while open"
    );
    drop(slow);
    wait_for_count(&env, "alpha", "received", 2);
    let slow = deliveries(&env, "alpha")
        .into_iter()
        .find(|d| d.0 == "slow.csv")
        .unwrap();
    assert_eq!((slow.1, slow.2), (22, sha256(b"first half;second half")));
    daemon.stop();
}

#[test]
fn a_file_open_for_writing_at_start_up_waits_for_its_close() {
    let env = Env::with_tenants();
    std::fs::create_dir_all(env.upload("alpha")).unwrap();
    let mut slow = std::fs::File::create(env.upload("alpha").join("slow.csv")).unwrap();
    slow.write_all(b"partial").unwrap();
    std::fs::write(env.upload("alpha").join("done.csv"), "done").unwrap();
    let daemon = env.start();
    daemon.wait_for_log("upload folders scanned");
    assert_eq!(names(&env, "alpha"), ["done.csv"]);
    slow.write_all(b" and the rest").unwrap();
    drop(slow);
    wait_for_count(&env, "alpha", "received", 2);
    let slow = deliveries(&env, "alpha")
        .into_iter()
        .find(|d| d.0 == "slow.csv")
        .unwrap();
    assert_eq!(slow.2, sha256(b"partial and the rest"));
    daemon.stop();
}

/// A file's close is reported to the folder it was opened through: a file linked into
/// `upload/` while its writer has it open elsewhere brings no close event there. Intake
/// must look again by itself (it does the same for the kernel's close-before-release race).
#[test]
fn a_file_linked_in_while_written_elsewhere_is_recorded_after_its_close() {
    let env = Env::with_tenants();
    let daemon = env.start();
    daemon.wait_for_log("upload folders scanned");
    let elsewhere = env.dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let mut writer = std::fs::File::create(elsewhere.join("linked.csv")).unwrap();
    writer.write_all(b"begun;").unwrap();
    std::fs::hard_link(
        elsewhere.join("linked.csv"),
        env.upload("alpha").join("linked.csv"),
    )
    .unwrap();
    daemon.wait_for_log("still open for writing");
    writer.write_all(b"finished").unwrap();
    drop(writer);
    wait_for_count(&env, "alpha", "received", 1);
    assert_eq!(
        deliveries(&env, "alpha"),
        [(
            "linked.csv".to_owned(),
            14,
            sha256(b"begun;finished"),
            "received".to_owned()
        )]
    );
    daemon.stop();
}

#[test]
fn symlinks_and_folders_in_upload_are_not_recorded() {
    let env = Env::with_tenants();
    let daemon = env.start();
    let upload = env.upload("alpha");
    let outside = env.dir.path().join("secret.txt");
    std::fs::write(&outside, "outside the tree").unwrap();
    std::os::unix::fs::symlink(&outside, upload.join("link.csv")).unwrap();
    std::fs::create_dir(upload.join("folder.csv")).unwrap();
    std::fs::write(upload.join("sentinel.csv"), "sentinel").unwrap();
    wait_for_count(&env, "alpha", "received", 1);
    daemon.stop();
    let daemon = env.start();
    daemon.wait_for_log("upload folders scanned");
    assert_eq!(names(&env, "alpha"), ["sentinel.csv"]);
    daemon.stop();
}

#[test]
fn a_file_over_the_size_limit_is_not_recorded_and_is_reported_once() {
    let config = |limit: u32| format!("[limits]\nmax_file_bytes = {limit}\n{TENANTS}");
    let env = Env::new(&config(1000));
    let daemon = env.start();
    let upload = env.upload("alpha");
    // As local producers do: written under a temp name, then renamed.
    drop_file(&upload, "big.csv", &[b'x'; 1001]);
    drop_file(&upload, "fits.csv", &[b'y'; 1000]);
    wait_for_count(&env, "alpha", "received", 1);
    daemon.wait_for_log("larger than the tenant's max_file_bytes");
    assert_eq!(names(&env, "alpha"), ["fits.csv"]);
    assert!(upload.join("big.csv").exists(), "intake never deletes");
    let log = daemon.stop();
    assert!(
        log.contains("tenant=\"alpha\" file=big.csv size=1001 limit=1000"),
        "{log}"
    );

    // Seen again by the start-up scan: still not recorded, and not reported twice.
    let daemon = env.start();
    daemon.wait_for_log("upload folders scanned");
    assert_eq!(names(&env, "alpha"), ["fits.csv"]);
    let audit = env.texts(
        "SELECT concat_ws(' ', tenant_id, subject, detail ->> 'size', detail ->> 'max_file_bytes', detail ->> 'mtime')
         FROM audit WHERE action = 'intake.too-large'",
        [],
    );
    let mtime =
        std::os::unix::fs::MetadataExt::mtime(&std::fs::metadata(upload.join("big.csv")).unwrap());
    assert_eq!(audit, [format!("alpha big.csv 1001 1000 {mtime}")]);

    // With the limit raised, a reload takes it in.
    env.write_config(&config(2000));
    daemon.signal(libc::SIGHUP);
    wait_for_count(&env, "alpha", "received", 2);
    assert_eq!(names(&env, "alpha"), ["big.csv", "fits.csv"]);
    let log = daemon.stop();
    assert_eq!(
        log.matches("larger than the tenant's max_file_bytes")
            .count(),
        0,
        "{log}"
    );
}
