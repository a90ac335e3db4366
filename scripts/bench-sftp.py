#!/usr/bin/env python3
"""SFTP speed: dropgate against OpenSSH's own sshd (internal-sftp), same client, same cipher.

Usage: cargo build --release && scripts/bench-sftp.py [--size-mib 512] [--runs 3] [--dir /dev/shm]
Needs: openssh-client, openssh-server (for /usr/sbin/sshd; it is started privately on a
loopback port with its own host key and configuration, never as the system's sshd).

For each cipher (aes128-gcm@openssh.com, chacha20-poly1305@openssh.com) and run, it uploads
and then downloads one file of --size-mib random bytes with the OpenSSH `sftp` client, to
dropgate and to sshd in turn, and prints the median MB/s of each, their ratio, and each
server's CPU seconds per GiB moved (dropgate: its SFTP threads, without intake's hashing of
the finished upload; sshd: the session process, counted when the listener reaps it).
Both servers write into --dir; the default, a tmpfs, keeps the disk out of the comparison
(dropgate fsyncs every upload before it accepts it; sshd does not).
"""
import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CIPHERS = ["aes128-gcm@openssh.com", "chacha20-poly1305@openssh.com"]
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu(pid, children=False, skip_threads=()):
    """CPU seconds of a process (its threads, minus named ones; plus reaped children)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                stat = f.read()
        except FileNotFoundError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        if comm in skip_threads:
            continue
        total += int(fields[11]) + int(fields[12])
    if children:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[13]) + int(fields[14])
    return total / TICK


def sftp(port, user, key, cipher, commands):
    cmd = ["sftp", "-F", "/dev/null", "-q", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
           "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-c", cipher, "-i", key, "-P", str(port),
           "-b", "-", f"{user}@127.0.0.1"]
    t0 = time.monotonic()
    run = subprocess.run(cmd, input=commands, text=True, capture_output=True)
    elapsed = time.monotonic() - t0
    if run.returncode != 0:
        sys.exit(f"sftp failed: {run.stdout}{run.stderr}")
    return elapsed


def wait_for(what, condition, timeout=120):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            sys.exit(f"timed out waiting for {what}")
        time.sleep(0.05)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size-mib", type=int, default=512)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--dir", default="/dev/shm")
    p.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "dropgate"))
    p.add_argument("--sshd", default="/usr/sbin/sshd")
    a = p.parse_args()
    size = a.size_mib << 20
    with tempfile.TemporaryDirectory(prefix="dropgate-bench-", dir=a.dir) as base:
        key = os.path.join(base, "client_key")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
        pub = open(key + ".pub").read().strip()
        source = os.path.join(base, "source.bin")
        with open(source, "wb") as f:
            for _ in range(a.size_mib):
                f.write(os.urandom(1 << 20))
        me = os.environ.get("USER") or subprocess.check_output(["id", "-un"], text=True).strip()

        # dropgate
        dg_port = free_port()
        with open(os.path.join(base, "dropgate.toml"), "w") as f:
            f.write(f'state_dir = "var"\n[sftp]\nlisten = "127.0.0.1:{dg_port}"\n'
                    f'[limits]\nmax_file_bytes = {size * 2}\nquota_bytes = {size * 100}\n'
                    '[[tenant]]\nid = "bench"\nkind = "supplier"\ncode = "12345678"\nname = "Bench"\n'
                    f'[[user]]\nname = "bench"\npublic_keys = ["{pub}"]\n'
                    '[[user.grant]]\ntenant = "bench"\nroles = ["deliver"]\n')
        dg = subprocess.Popen([a.binary, "--config", os.path.join(base, "dropgate.toml"), "run"],
                              stdout=subprocess.DEVNULL, stderr=open(os.path.join(base, "dropgate.log"), "w"))
        receipts = os.path.join(base, "var", "tenants", "bench", "receipts")
        wait_for("dropgate", lambda: os.path.isdir(receipts) and "sftp listening" in open(os.path.join(base, "dropgate.log")).read())
        os.link(source, os.path.join(receipts, "source.bin"))

        # OpenSSH sshd, private
        ssh_port = free_port()
        sshd_dir = os.path.join(base, "sshd")
        os.makedirs(sshd_dir)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(base, "sshd_host_key")], check=True)
        with open(os.path.join(base, "authorized_keys"), "w") as f:
            f.write(pub + "\n")
        os.makedirs("/run/sshd", exist_ok=True)
        with open(os.path.join(base, "sshd_config"), "w") as f:
            f.write(f"Port {ssh_port}\nListenAddress 127.0.0.1\nHostKey {base}/sshd_host_key\n"
                    f"PidFile {base}/sshd.pid\nAuthorizedKeysFile {base}/authorized_keys\nStrictModes no\n"
                    "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                    "UsePAM no\nCompression no\nSubsystem sftp internal-sftp\nLogLevel ERROR\n")
        sshd = subprocess.Popen([a.sshd, "-D", "-e", "-f", os.path.join(base, "sshd_config")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for("sshd", lambda: socket.socket().connect_ex(("127.0.0.1", ssh_port)) == 0)

        def dg_deliveries():
            out = subprocess.check_output([a.binary, "--config", os.path.join(base, "dropgate.toml"), "status", "--json"])
            return json.loads(out)["deliveries"]["total"]

        results = {}
        uploads = 0
        try:
            for cipher in CIPHERS:
                r = {k: [] for k in ("dg_up", "ssh_up", "dg_down", "ssh_down")}
                cpu = {k: [] for k in r}
                for run in range(a.runs):
                    # dropgate upload; then let intake hash it before the next measurement.
                    c0 = proc_cpu(dg.pid, skip_threads=("intake", "audit"))
                    t = sftp(dg_port, "bench", key, cipher, f"put {source} /bench/upload/up-{run}-{cipher[:6]}.bin\n")
                    cpu["dg_up"].append(proc_cpu(dg.pid, skip_threads=("intake", "audit")) - c0)
                    r["dg_up"].append(t)
                    uploads += 1
                    wait_for("intake", lambda: dg_deliveries() == uploads)
                    # sshd upload
                    c0 = proc_cpu(sshd.pid, children=True)
                    t = sftp(ssh_port, me, key, cipher, f"put {source} {sshd_dir}/up.bin\n")
                    time.sleep(0.2)  # let the listener reap the session process
                    cpu["ssh_up"].append(proc_cpu(sshd.pid, children=True) - c0)
                    r["ssh_up"].append(t)
                    os.unlink(os.path.join(sshd_dir, "up.bin"))
                    # downloads
                    target = os.path.join(base, "down.bin")
                    c0 = proc_cpu(dg.pid, skip_threads=("intake", "audit"))
                    r["dg_down"].append(sftp(dg_port, "bench", key, cipher, f"get /bench/receipts/source.bin {target}\n"))
                    cpu["dg_down"].append(proc_cpu(dg.pid, skip_threads=("intake", "audit")) - c0)
                    if os.path.getsize(target) != size:
                        sys.exit("dropgate download is incomplete")
                    os.unlink(target)
                    c0 = proc_cpu(sshd.pid, children=True)
                    r["ssh_down"].append(sftp(ssh_port, me, key, cipher, f"get {source} {target}\n"))
                    time.sleep(0.2)
                    cpu["ssh_down"].append(proc_cpu(sshd.pid, children=True) - c0)
                    os.unlink(target)
                    print(f"{cipher} run {run + 1}: " + ", ".join(
                        f"{k} {size / v[-1] / 1e6:.0f} MB/s" for k, v in r.items()), flush=True)
                results[cipher] = (r, cpu)
        finally:
            dg.send_signal(signal.SIGTERM)
            sshd.send_signal(signal.SIGTERM)
            dg.wait(30)
            sshd.wait(30)

        gib = size / (1 << 30)
        print(f"\n{a.size_mib} MiB, {a.runs} runs each, medians; CPU in seconds per GiB; target dir {a.dir}")
        print(f"{'cipher':32} {'direction':9} {'dropgate':>10} {'openssh':>10} {'ratio':>6} {'cpu dg':>7} {'cpu ssh':>7}")
        for cipher, (r, cpu) in results.items():
            for direction, dg_key, ssh_key in (("upload", "dg_up", "ssh_up"), ("download", "dg_down", "ssh_down")):
                dg_mbs = size / statistics.median(r[dg_key]) / 1e6
                ssh_mbs = size / statistics.median(r[ssh_key]) / 1e6
                print(f"{cipher:32} {direction:9} {dg_mbs:7.0f} MB/s {ssh_mbs:5.0f} MB/s {dg_mbs / ssh_mbs:5.2f}x "
                      f"{statistics.median(cpu[dg_key]) / gib:7.2f} {statistics.median(cpu[ssh_key]) / gib:7.2f}")


if __name__ == "__main__":
    main()
