#!/usr/bin/env python3
"""Publication speed: one municipality's bundle of 1,000,000 linked measurement rows (and
their 100,000 decisions and links), timed with `dropgate publish --now`, side by side with
`zip -q` of the same CSV files written plainly. Prints both wall times, the ratio, and
dropgate's peak RSS. Before that, the weekly publication of a second municipality without
any rows beside those million (`publish --now --tenant leeg`, the whole command): its wall
time in milliseconds, which must not grow with what other municipalities hold.

Usage: cargo build --release && scripts/bench-publish.py [--clients 100000] [--per-client 10] [--runs 3] [--empty-runs 5]
Needs: zip (Debian package zip).
"""
import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from benchlib import bsn, measure, process_args  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=100_000)
    p.add_argument("--per-client", type=int, default=10)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--empty-runs", type=int, default=5)
    p.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "dropgate"))
    a = p.parse_args()
    rng = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="dropgate-bench-") as base:
        config = os.path.join(base, "dropgate.toml")
        with open(config, "w") as f:
            f.write('state_dir = "var"\n[sftp]\nlisten = "127.0.0.1:0"\n'
                    '[[tenant]]\nid = "zorg"\nkind = "supplier"\ncode = "87654321"\nname = "Zorg"\n'
                    '[[tenant]]\nid = "town"\nkind = "municipality"\ncode = "0344"\nname = "Town"\n'
                    '[[tenant]]\nid = "leeg"\nkind = "municipality"\ncode = "0355"\nname = "Leeg"\n')
        dg = lambda *args: subprocess.run([a.binary, "--config", config, *args], check=True, capture_output=True, text=True)
        dg("keygen")
        daemon = subprocess.Popen([a.binary, "--config", config, "run"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        upload = lambda t: os.path.join(base, "var", "tenants", t, "upload")
        while not os.path.isdir(upload("town")):
            time.sleep(0.05)
        clients = [bsn(rng) for _ in range(a.clients)]
        with open(os.path.join(base, ".b"), "w") as f:
            f.write("gemeentecode;beschikkingnummer;pseudobsn;zorgaanbiedercode;productcategorie;productcode;ingangsdatum;einddatum;redenBeeindiging\n")
            for i, c in enumerate(clients):
                f.write(f"0344;B{i:08d};{c};87654321;45;45A01;2025-01-01;2026-06-30;{'02' if i % 3 else '33'}\n")
        with open(os.path.join(base, ".m"), "w") as f:
            f.write("zorgaanbiedercode;pseudobsn;metingnummer;datum;gebruiktMeetinstrument;typeRespondent;totaalscoreMeting;status\n")
            n = 0
            for c in clients:
                for j in range(a.per_client):
                    f.write(f"87654321;{c};M{n:09d};2026-06-{j % 28 + 1:02d};{'CT' if j % 2 else 'GAS'};01;{j % 3};Volledig\n")
                    n += 1
        os.rename(os.path.join(base, ".b"), os.path.join(upload("town"), "b.csv"))
        os.rename(os.path.join(base, ".m"), os.path.join(upload("zorg"), "m.csv"))
        while json.loads(dg("status", "--json").stdout)["deliveries"]["total"] < 2:
            time.sleep(0.2)
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(60)
        dg(*process_args(a.binary))
        print(f"{a.clients} decisions, {n} measurements, all linked")

        # A municipality without rows: its weekly bundle (figures only) beside the million.
        empty = []
        for run in range(a.empty_runs):
            wall, _ = measure([a.binary, "--config", config, "publish", "--now", "--tenant", "leeg"])
            empty.append(wall * 1000)
            print(f"empty municipality, run {run + 1}: dropgate publish {wall * 1000:.0f} ms", flush=True)
        print(f"median of {a.empty_runs}: empty municipality {statistics.median(empty):.0f} ms\n", flush=True)

        runs = []
        for run in range(a.runs):
            # Each run publishes everything again: a full bundle of the same rows.
            wall, rss = measure([a.binary, "--config", config, "publish", "--now", "--full", "--tenant", "town", "--since", "2000-01-01"])
            outbox = os.path.join(base, "var", "tenants", "town", "outbox")
            newest = sorted(os.listdir(outbox), key=lambda x: os.path.getmtime(os.path.join(outbox, x)))[-1]
            plain = os.path.join(base, f"plain{run}")
            os.makedirs(plain)
            subprocess.run(["unzip", "-q", os.path.join(outbox, newest), "-d", plain], check=True)
            zwall, _ = measure(["zip", "-q", os.path.join(base, f"plain{run}.zip")] + sorted(os.listdir(plain)), cwd=plain)
            runs.append((wall, rss, zwall))
            sizes = {f: sum(1 for _ in open(os.path.join(plain, f), encoding="utf-8-sig")) - 1 for f in os.listdir(plain) if f.endswith(".csv")}
            print(f"run {run + 1}: dropgate publish {wall:.2f} s ({rss:.0f} MiB), zip -q {zwall:.2f} s; rows {sizes}", flush=True)
        d, z = statistics.median(r[0] for r in runs), statistics.median(r[2] for r in runs)
        print(f"\nmedian of {a.runs}: dropgate {d:.2f} s, zip -q {z:.2f} s, ratio {d / z:.2f}x; peak RSS {max(r[1] for r in runs):.0f} MiB")


if __name__ == "__main__":
    main()
