#!/usr/bin/env python3
"""Start-up benchmark: time from `dropgate run` to READY=1, and to the end of the start-up scan,
with many tenants configured and many small files waiting.

Usage: cargo build --release && scripts/bench-startup.py [--tenants 1000] [--files 10000] [--runs 3]

Each run uses a fresh state directory. It reports, per run:
  cold ready   spawn -> READY=1 on the first start (creates folders and the ledger)
  cold scan    spawn -> "upload folders scanned" (every waiting file hashed and recorded)
  warm ready   spawn -> READY=1 on a second start (all files already in the ledger)
  warm scan    spawn -> scan done on the second start
and checks with `dropgate status --json` that every file was recorded exactly once.
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
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_setup(base, tenants, files):
    with open(os.path.join(base, "dropgate.toml"), "w") as f:
        f.write('state_dir = "var"\n[sftp]\nlisten = "127.0.0.1:0"\n')
        for i in range(tenants):
            f.write(f'[[tenant]]\nid = "t{i:05}"\nkind = "supplier"\ncode = "{10000000 + i}"\nname = "Tenant {i}"\n')
    for i in range(files):
        tenant = f"t{i % tenants:05}"
        upload = os.path.join(base, "var", "tenants", tenant, "upload")
        os.makedirs(upload, exist_ok=True)
        with open(os.path.join(upload, f"delivery-{i:06}.csv"), "w") as f:
            f.write("zorgaanbiedercode;pseudobsn;metingnummer\n" + f"{10000000 + i % tenants};123456782;{i}\n" * 4)


def start(binary, base):
    """Returns (seconds to READY=1, seconds to scan done)."""
    sock_path = os.path.join(base, "notify.sock")
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    env = dict(os.environ, NOTIFY_SOCKET=sock_path, RUST_LOG="info")
    t0 = time.monotonic()
    proc = subprocess.Popen([binary, "--config", os.path.join(base, "dropgate.toml"), "run"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    scanned = threading.Event()
    scan_at = [None]

    def read_log():
        for line in proc.stderr:
            if "upload folders scanned" in line and scan_at[0] is None:
                scan_at[0] = time.monotonic() - t0
                scanned.set()
    threading.Thread(target=read_log, daemon=True).start()
    sock.settimeout(120)
    ready = None
    while ready is None:
        msg = sock.recv(4096).decode()
        if "READY=1" in msg:
            ready = time.monotonic() - t0
    if not scanned.wait(300):
        sys.exit("no scan-done log line within 300 s")
    proc.send_signal(signal.SIGTERM)
    if proc.wait(60) != 0:
        sys.exit(f"dropgate exited with {proc.returncode}")
    sock.close()
    return ready, scan_at[0]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tenants", type=int, default=1000)
    p.add_argument("--files", type=int, default=10000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "dropgate"))
    a = p.parse_args()
    results = {"cold ready": [], "cold scan": [], "warm ready": [], "warm scan": []}
    for run in range(a.runs):
        with tempfile.TemporaryDirectory(prefix="dropgate-bench-") as base:
            write_setup(base, a.tenants, a.files)
            cold = start(a.binary, base)
            warm = start(a.binary, base)
            status = json.loads(subprocess.check_output(
                [a.binary, "--config", os.path.join(base, "dropgate.toml"), "status", "--json"]))
            got = status["deliveries"]["by_state"]["received"]
            if got != a.files or status["deliveries"]["total"] != a.files:
                sys.exit(f"expected {a.files} received deliveries, status says {status['deliveries']}")
            for key, value in zip(results, cold + warm):
                results[key].append(value)
            print(f"run {run + 1}: " + ", ".join(f"{k} {v[-1] * 1000:.0f} ms" for k, v in results.items()))
    print(f"\n{a.tenants} tenants, {a.files} files waiting, {a.runs} runs (median, min, max):")
    for key, values in results.items():
        print(f"  {key:10}  {statistics.median(values) * 1000:7.0f} ms  "
              f"{min(values) * 1000:7.0f} ms  {max(values) * 1000:7.0f} ms")


if __name__ == "__main__":
    main()
