//! The client matrix: each SFTP client that Debian packages, driven the way its users drive
//! it through put, put over a waiting name, resume after an interrupted upload, cancel and
//! clean-up, withdraw, mtime, `df` and download from the outbox. Every delivered file must
//! equal its source byte for byte (no hole, no mix of versions), every replaced or removed
//! version must be recorded as withdrawn, and every client must exit 0.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use super::{Server, start};
use crate::util::{key, wait_until};

/// The mtime the clients set (as the Python driver does).
const MTIME: u64 = 1_600_000_000;
/// Where the Python driver cuts its connection during the big upload.
const CUT_AT: usize = 80_000;

fn sha(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// One client's local files, with content of its own (the same content under two names
/// would be a duplicate, not a delivery).
struct Sources {
    dir: PathBuf,
    put: Vec<u8>,
    over: Vec<u8>,
    big: Vec<u8>,
    small: Vec<u8>,
    w: Vec<u8>,
}

impl Sources {
    fn new(s: &Server, client: &str) -> Self {
        let dir = s.env.dir.path().join(client);
        std::fs::create_dir_all(&dir).unwrap();
        let text = |what: &str, n: usize| -> Vec<u8> {
            (0..n)
                .map(|i| format!("{client};{what};{i}\n"))
                .collect::<String>()
                .into_bytes()
        };
        // Not text that compresses to nothing: a hole of zeros must not pass unnoticed.
        let mut big = Vec::with_capacity(200_000);
        let mut x: u32 = client.bytes().map(u32::from).sum();
        while big.len() < 200_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            big.push((x >> 16) as u8 | 1);
        }
        let sources = Self {
            put: text("put", 2_000),
            over: text("over", 3_000),
            big,
            small: text("small", 50),
            w: text("withdraw", 10),
            dir,
        };
        for (name, data) in [
            ("put.csv", &sources.put),
            ("over.csv", &sources.over),
            ("big.bin", &sources.big),
            ("small.csv", &sources.small),
            ("w.csv", &sources.w),
        ] {
            std::fs::write(sources.dir.join(name), data).unwrap();
        }
        // The first part of the big file, as an interrupted upload left it.
        std::fs::write(sources.dir.join("half.bin"), &sources.big[..CUT_AT]).unwrap();
        sources
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// The outbox file every client downloads.
fn bundle(s: &Server) -> Vec<u8> {
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(s.folder("town", "outbox").join("bundle.zip"), &data).unwrap();
    data
}

/// The deliveries under names starting with `prefix`: (name, state, sha256), sorted.
fn deliveries(s: &Server, prefix: &str) -> Vec<(String, String, String)> {
    let mut rows: Vec<(String, String, String)> = s
        .env
        .texts(
            "SELECT file_name || ' ' || state || ' ' || sha256 FROM delivery WHERE file_name LIKE ?1",
            [format!("{prefix}-%")],
        )
        .into_iter()
        .map(|row| {
            let mut parts = row.split(' ').map(str::to_owned);
            let mut next = || parts.next().unwrap();
            (next(), next(), next())
        })
        .collect();
    rows.sort();
    rows
}

/// Waits until the ledger holds exactly `expected` for `prefix`, and checks the waiting
/// files are byte for byte what the ledger says and nothing of the client is left over.
fn expect(s: &Server, prefix: &str, expected: &[(&str, &str, &[u8])]) {
    let mut want: Vec<(String, String, String)> = expected
        .iter()
        .map(|(name, state, data)| (format!("{prefix}-{name}"), state.to_string(), sha(data)))
        .collect();
    want.sort();
    let mut last = Vec::new();
    let settled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_until(&format!("the deliveries of {prefix}"), || {
            last = deliveries(s, prefix);
            last == want
        })
    }));
    assert!(
        settled.is_ok(),
        "deliveries of {prefix}:\n got  {last:?}\n want {want:?}"
    );
    for (name, state, digest) in &want {
        if state == "received" {
            let on_disk = std::fs::read(s.folder("alpha", "upload").join(name)).unwrap();
            assert_eq!(&sha(&on_disk), digest, "{name} in upload/");
        }
    }
    let waiting: Vec<String> = s
        .names("alpha", "upload")
        .into_iter()
        .filter(|n| n.starts_with(&format!("{prefix}-")))
        .collect();
    let received: Vec<String> = want
        .iter()
        .filter(|(_, state, _)| state == "received")
        .map(|(name, ..)| name.clone())
        .collect();
    assert_eq!(waiting, received, "upload/ of {prefix}");
    let temps = s.temps("alpha", "vendor");
    let left: Vec<String> = std::fs::read_dir(&temps)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().into_string().unwrap())
        .filter(|n| n.starts_with(&format!("{prefix}-")))
        .collect();
    assert!(left.is_empty(), "temporary uploads left: {left:?}");
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("client installed by .ci/run");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{text}",
        out.status
    );
    text
}

fn python_client(client: &str) {
    let s = start();
    let src = Sources::new(&s, client);
    let outbox = bundle(&s);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/sftp/clients.py");
    let out = run(Command::new("/usr/bin/python3")
        .env("PYTHONWARNINGS", "ignore")
        .arg(script)
        .arg(client)
        .arg(s.addr.ip().to_string())
        .arg(s.addr.port().to_string())
        .arg(key(&s.env, "romvendor"))
        .arg(&src.dir)
        .arg(key(&s.env, "gemeente-utrecht")));
    // The result is the script's last JSON line; paramiko may write a socket warning from
    // its transport thread after it, on its way out.
    let result = out.lines().rev().find(|l| l.starts_with('{'));
    let seen: serde_json::Value = serde_json::from_str(result.unwrap_or_default()).expect(&out);
    let p = &client[..1];
    assert_eq!(seen["mtime"], MTIME, "{seen}");
    assert_eq!(
        seen["resumed_from"], CUT_AT,
        "the whole part before the cut: {seen}"
    );
    assert_eq!(
        seen["listing"],
        serde_json::json!([format!("{p}-big.csv"), format!("{p}-put.csv")]),
        "{seen}"
    );
    assert_eq!(
        std::fs::read(src.path(&format!("{p}-bundle.zip"))).unwrap(),
        outbox
    );
    expect(
        &s,
        p,
        &[
            ("put.csv", "withdrawn", &src.put),
            ("put.csv", "received", &src.over),
            ("big.csv", "received", &src.big),
            ("small.csv", "withdrawn", &src.small[..100]),
            ("w.csv", "withdrawn", &src.w),
        ],
    );
    if client == "asyncssh" {
        let df = &seen["df"];
        assert_eq!(df["total"], 10_737_418_240u64, "the tenant's quota: {seen}");
    }
    s.daemon.stop();
}

#[test]
fn paramiko_puts_overwrites_resumes_cancels_withdraws_and_downloads() {
    python_client("paramiko");
}

#[test]
fn asyncssh_puts_overwrites_resumes_cancels_withdraws_and_downloads() {
    python_client("asyncssh");
}

/// rclone with a remote configured through the environment, as a sysadmin's script would.
fn rclone(s: &Server, remote: &str, user: &str, key_name: &str) -> Command {
    let upper = remote.to_uppercase();
    let mut cmd = Command::new("rclone");
    let var = |name: &str| format!("RCLONE_CONFIG_{upper}_{name}");
    cmd.env(var("TYPE"), "sftp")
        .env(var("HOST"), s.addr.ip().to_string())
        .env(var("PORT"), s.addr.port().to_string())
        .env(var("USER"), user)
        .env(var("KEY_FILE"), key(&s.env, key_name))
        .env("RCLONE_CONFIG", "/dev/null")
        .args(["--low-level-retries", "1", "--retries", "1"]);
    cmd
}

#[test]
fn rclone_copies_overwrites_keeps_mtimes_reports_the_quota_deletes_and_downloads() {
    let s = start();
    let src = Sources::new(&s, "rclone");
    let outbox = bundle(&s);
    let dir = src.dir.join("tree");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("r-put.csv"), &src.put).unwrap();
    std::fs::write(dir.join("r-w.csv"), &src.w).unwrap();
    let copy = |s: &Server| {
        run(rclone(s, "dg", "vendor", "romvendor")
            .args(["copy", "-v"])
            .arg(&dir)
            .arg("dg:alpha/upload"))
    };
    copy(&s);
    // The second run finds size and mtime equal: nothing is sent again.
    let again = copy(&s);
    assert!(
        again.contains("There was nothing to transfer") || !again.contains("Copied"),
        "{again}"
    );
    // A changed file under the same name replaces the waiting one.
    std::fs::write(dir.join("r-put.csv"), &src.over).unwrap();
    let over = copy(&s);
    assert!(
        over.contains("r-put.csv: Copied (replaced existing)"),
        "{over}"
    );
    let listing =
        run(rclone(&s, "dg", "vendor", "romvendor").args(["lsl", "dg:alpha/upload/r-put.csv"]));
    let local_mtime = std::fs::metadata(dir.join("r-put.csv"))
        .unwrap()
        .modified()
        .unwrap();
    let stamp = chrono::DateTime::<chrono::Local>::from(local_mtime)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    assert!(listing.contains(&stamp), "mtime {stamp} kept: {listing}");
    let about =
        run(rclone(&s, "dg", "vendor", "romvendor").args(["about", "--json", "dg:alpha/upload"]));
    let about: serde_json::Value = serde_json::from_str(&about).expect(&about);
    assert_eq!(about["total"], 10_737_418_240u64, "{about}");
    assert!(about["free"].as_u64().unwrap() < 10_737_418_240, "{about}");
    run(rclone(&s, "dg", "vendor", "romvendor").args(["deletefile", "dg:alpha/upload/r-w.csv"]));
    let got = src.dir.join("got");
    run(rclone(&s, "town", "town", "gemeente-utrecht")
        .args(["copy", "town:/town/outbox"])
        .arg(&got));
    assert_eq!(std::fs::read(got.join("bundle.zip")).unwrap(), outbox);
    expect(
        &s,
        "r",
        &[
            ("put.csv", "withdrawn", &src.put),
            ("put.csv", "received", &src.over),
            ("w.csv", "withdrawn", &src.w),
        ],
    );
    s.daemon.stop();
}

/// lftp over OpenSSH's `ssh`, as its users connect to a key-only server.
fn lftp(s: &Server, user: &str, key_name: &str, commands: &str) -> String {
    let connect = format!(
        "ssh -a -x -i {} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -p {}",
        key(&s.env, key_name).display(),
        s.addr.port()
    );
    let script = format!(
        "set cmd:fail-exit yes\nset net:max-retries 1\nset sftp:connect-program \"{connect}\"\nopen sftp://{user}:@{}\n{commands}",
        s.addr.ip()
    );
    run(Command::new("lftp").args(["-c", &script]))
}

#[test]
fn lftp_puts_overwrites_resumes_with_put_c_withdraws_and_downloads() {
    let s = start();
    let src = Sources::new(&s, "lftp");
    let outbox = bundle(&s);
    let d = |name: &str| src.path(name).display().to_string();
    lftp(
        &s,
        "vendor",
        "romvendor",
        &format!(
            "cd /alpha/upload\nput {} -o l-put.csv\nput {} -o l-put.csv\n\
             put {} -o l-big.csv.part\nput -c {} -o l-big.csv.part\nmv l-big.csv.part l-big.csv\n\
             put {} -o l-w.csv\nrm l-w.csv\nls\n",
            d("put.csv"),
            d("over.csv"),
            d("half.bin"),
            d("big.bin"),
            d("w.csv"),
        ),
    );
    lftp(
        &s,
        "town",
        "gemeente-utrecht",
        &format!("get /town/outbox/bundle.zip -o {}\n", d("bundle.zip")),
    );
    assert_eq!(std::fs::read(src.path("bundle.zip")).unwrap(), outbox);
    expect(
        &s,
        "l",
        &[
            ("put.csv", "withdrawn", &src.put),
            ("put.csv", "received", &src.over),
            ("big.csv", "received", &src.big),
            ("w.csv", "withdrawn", &src.w),
        ],
    );
    s.daemon.stop();
}

/// curl (libssh2) with a key, as `vendor`.
fn curl_key(s: &Server, args: &[&str], path: &str) -> String {
    curl_as(s, "vendor", "romvendor", args, path)
}

fn curl_as(s: &Server, user: &str, key_name: &str, args: &[&str], path: &str) -> String {
    run(Command::new("curl")
        .args(["--silent", "--show-error", "--insecure", "--max-time", "30"])
        .args(["--user", &format!("{user}:"), "--key"])
        .arg(key(&s.env, key_name))
        .args(args)
        .arg(format!("sftp://{}:{}{path}", s.addr.ip(), s.addr.port())))
}

#[test]
fn curl_puts_overwrites_resumes_withdraws_reports_the_quota_and_downloads() {
    let s = start();
    let src = Sources::new(&s, "curl");
    let outbox = bundle(&s);
    let d = |name: &str| src.path(name).display().to_string();
    curl_key(&s, &["-T", &d("put.csv")], "/alpha/upload/c-put.csv");
    curl_key(&s, &["-T", &d("over.csv")], "/alpha/upload/c-put.csv");
    curl_key(&s, &["-T", &d("half.bin")], "/alpha/upload/c-big.csv.part");
    curl_key(
        &s,
        &["-C", "-", "-T", &d("big.bin")],
        "/alpha/upload/c-big.csv.part",
    );
    curl_key(
        &s,
        &[
            "-Q",
            "rename /alpha/upload/c-big.csv.part /alpha/upload/c-big.csv",
        ],
        "/alpha/upload/",
    );
    curl_key(&s, &["-T", &d("w.csv")], "/alpha/upload/c-w.csv");
    curl_key(&s, &["-Q", "rm /alpha/upload/c-w.csv"], "/alpha/upload/");
    let df = curl_key(
        &s,
        &["-Q", "statvfs /alpha/upload", "-D", "-", "-o", "/dev/null"],
        "/alpha/upload/",
    );
    // The tenant's quota (10 GiB by default) in 4 KiB blocks.
    assert!(df.contains("f_blocks: 2621440"), "{df}");
    curl_as(
        &s,
        "town",
        "gemeente-utrecht",
        &["-o", &d("bundle.zip")],
        "/town/outbox/bundle.zip",
    );
    assert_eq!(std::fs::read(src.path("bundle.zip")).unwrap(), outbox);
    expect(
        &s,
        "c",
        &[
            ("put.csv", "withdrawn", &src.put),
            ("put.csv", "received", &src.over),
            ("big.csv", "received", &src.big),
            ("w.csv", "withdrawn", &src.w),
        ],
    );
    s.daemon.stop();
}

/// A mounted sshfs, unmounted when dropped.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("fusermount3").arg("-u").arg(&self.0).status();
    }
}

/// Mounts `remote` for `user` with sshfs, or says why this machine cannot (no FUSE).
fn sshfs(s: &Server, user: &str, key_name: &str, remote: &str, at: &Path) -> Result<Mount, String> {
    if !Path::new("/dev/fuse").exists() {
        return Err("/dev/fuse does not exist on this machine".into());
    }
    std::fs::create_dir_all(at).unwrap();
    let out = Command::new("sshfs")
        .arg(format!("{user}@{}:{remote}", s.addr.ip()))
        .arg(at)
        .args(["-p", &s.addr.port().to_string()])
        .arg("-o")
        .arg(format!(
            "IdentityFile={},IdentitiesOnly=yes,StrictHostKeyChecking=no,UserKnownHostsFile=/dev/null,BatchMode=yes,LogLevel=ERROR",
            key(&s.env, key_name).display()
        ))
        .output()
        .expect("sshfs installed by .ci/run");
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() {
        return Ok(Mount(at.to_owned()));
    }
    // Only a machine that forbids FUSE mounts (no device, no permission: FUSE's own
    // messages) is a reason to skip; a failure of SSH or SFTP fails the test.
    assert!(text.to_lowercase().contains("fuse"), "sshfs failed: {text}");
    Err(format!("FUSE mounts are not permitted here: {text}"))
}

#[test]
fn sshfs_copies_overwrites_sets_mtimes_reports_the_quota_removes_and_reads() {
    let s = start();
    let src = Sources::new(&s, "sshfs");
    let outbox = bundle(&s);
    let mnt = src.dir.join("mnt");
    let mount = match sshfs(&s, "vendor", "romvendor", "/alpha/upload", &mnt) {
        Ok(mount) => mount,
        Err(why) => {
            eprintln!("SKIPPED sshfs client test: {why}");
            s.daemon.stop();
            return;
        }
    };
    let copy = |from: &str, to: &str| run(Command::new("cp").arg(src.path(from)).arg(mnt.join(to)));
    copy("put.csv", "s-put.csv");
    copy("over.csv", "s-put.csv");
    let mtime = std::time::UNIX_EPOCH + std::time::Duration::from_secs(MTIME);
    run(Command::new("touch")
        .args(["-m", "-d", &format!("@{MTIME}")])
        .arg(mnt.join("s-put.csv")));
    assert_eq!(
        std::fs::metadata(mnt.join("s-put.csv"))
            .unwrap()
            .modified()
            .unwrap(),
        mtime
    );
    copy("w.csv", "s-w.csv");
    std::fs::remove_file(mnt.join("s-w.csv")).unwrap();
    let df = run(Command::new("df").arg("-B1").arg(&mnt));
    assert!(df.contains("10737418240"), "{df}");
    drop(mount);
    let town = src.dir.join("town");
    let mount = sshfs(&s, "town", "gemeente-utrecht", "/town/outbox", &town).unwrap();
    assert_eq!(std::fs::read(town.join("bundle.zip")).unwrap(), outbox);
    drop(mount);
    expect(
        &s,
        "s",
        &[
            ("put.csv", "withdrawn", &src.put),
            ("put.csv", "received", &src.over),
            ("w.csv", "withdrawn", &src.w),
        ],
    );
    s.daemon.stop();
}

#[test]
fn openssh_sftp_and_scp_put_overwrite_keep_mtimes_resume_with_reput_withdraw_and_download() {
    let s = start();
    let src = Sources::new(&s, "openssh");
    let outbox = bundle(&s);
    let d = |name: &str| src.path(name).display().to_string();
    let mtime = std::time::UNIX_EPOCH + std::time::Duration::from_secs(MTIME);
    std::fs::File::options()
        .write(true)
        .open(src.path("over.csv"))
        .and_then(|f| f.set_modified(mtime))
        .unwrap();
    let run_sftp = |user: &str, key_name: &str, commands: String| {
        let out = crate::util::sftp_batch(s.addr, user, &key(&s.env, key_name), &commands);
        assert!(out.ok, "{commands}\n{}", out.output);
        out.output
    };
    // `put -p` sends times and mode in one FSETSTAT: the times are kept, the mode is
    // refused with a message, and sftp (which reports but does not fail on it) exits 0.
    let out = run_sftp(
        "vendor",
        "romvendor",
        format!(
            "cd /alpha/upload\nput {} o-put.csv\nput -p {} o-put.csv\n\
             put {} o-big.csv.part\nreput {} o-big.csv.part\nrename o-big.csv.part o-big.csv\n\
             put {} o-w.csv\nrm o-w.csv\ndf -h .\nls -l\n",
            d("put.csv"),
            d("over.csv"),
            d("half.bin"),
            d("big.bin"),
            d("w.csv"),
        ),
    );
    assert!(out.contains("10.0GB"), "df shows the quota: {out}");
    let on_server = std::fs::metadata(s.folder("alpha", "upload").join("o-put.csv")).unwrap();
    assert_eq!(on_server.modified().unwrap(), mtime, "{out}");
    run_sftp(
        "town",
        "gemeente-utrecht",
        format!("get /town/outbox/bundle.zip {}\n", d("bundle.zip")),
    );
    assert_eq!(std::fs::read(src.path("bundle.zip")).unwrap(), outbox);
    // scp (over SFTP) twice onto the same name: both exit 0, the second replaces the first.
    for file in ["put.csv", "w.csv"] {
        let mut scp = Command::new("scp");
        crate::util::ssh_options(&mut scp, Some(&key(&s.env, "romvendor")));
        run(scp
            .args(["-P", &s.addr.port().to_string()])
            .arg(src.path(file))
            .arg(format!("vendor@{}:/alpha/upload/o-scp.csv", s.addr.ip())));
    }
    expect(
        &s,
        "o",
        &[
            ("put.csv", "withdrawn", &src.put),
            ("put.csv", "received", &src.over),
            ("big.csv", "received", &src.big),
            ("w.csv", "withdrawn", &src.w),
            ("scp.csv", "withdrawn", &src.put),
            ("scp.csv", "received", &src.w),
        ],
    );
    s.daemon.stop();
}
