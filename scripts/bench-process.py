#!/usr/bin/env python3
"""Processing speed: a 1,000,000-row `metingen` CSV (about 57 MB, ';', valid BSNs) processed
into the ledger end to end by `dropgate process` (read, check every rule, pseudonymise,
upsert, receipt, archive), side by side with `sqlite3 fresh.db` `.import` of the same file
(no checks at all). Prints both wall times, their ratio, and each one's peak RSS. Then the
same for a 100,000-row .xlsx (time and peak RSS only).

With `--baseline OTHER_BINARY` (say, a release build of an earlier commit), each run also
processes the same file with that binary, in turn with this one, and prints the ratio of
the two: the cost of a change measured side by side on a noisy machine.

Usage: cargo build --release && scripts/bench-process.py [--rows 1000000] [--xlsx-rows 100000] [--runs 3] [--baseline BIN]
Needs: sqlite3 (Debian package sqlite3); openpyxl for the xlsx part (pip install openpyxl).
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from benchlib import bsn, intake_and_process, measure  # noqa: E402
HEADER = "zorgaanbiedercode;pseudobsn;metingnummer;datum;gebruiktMeetinstrument;typeRespondent;totaalscoreMeting;status"


def rows(n, seed=1):
    rng = random.Random(seed)
    statuses = ["Volledig", "Onvolledig", "Nee", ""]
    for i in range(n):
        instrument = "CT" if i % 2 else "GAS"
        score = f"{rng.randrange(0, 101) / 10:.1f}".replace(".", ",") if instrument == "CT" else str(rng.randrange(-2, 3))
        yield ["87654321", bsn(rng), f"M{i:09d}", f"2026-{rng.randrange(1, 11):02d}-{rng.randrange(1, 29):02d}",
               instrument, f"0{rng.randrange(1, 7)}", score, statuses[i % 4]]


def setup(base, binary):
    with open(os.path.join(base, "dropgate.toml"), "w") as f:
        f.write('state_dir = "var"\n[sftp]\nlisten = "127.0.0.1:0"\n'
                '[[tenant]]\nid = "zorg"\nkind = "supplier"\ncode = "87654321"\nname = "Zorg"\n')
    subprocess.run([binary, "--config", os.path.join(base, "dropgate.toml"), "keygen"], check=True, capture_output=True)


def deliver_and_process(base, binary, source, name):
    """Intake by the daemon, then `process` measured."""
    wall, rss = intake_and_process(base, binary, "zorg", source, name)
    config = os.path.join(base, "dropgate.toml")
    out = json.loads(subprocess.run([binary, "--config", config, "status", "--json"], capture_output=True, text=True).stdout)
    if out["deliveries"]["by_state"]["processed"] < 1:
        sys.exit("the delivery was not processed")
    return wall, rss


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--xlsx-rows", type=int, default=100_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "dropgate"))
    p.add_argument("--baseline", help="another dropgate binary to process the same file, in turn")
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="dropgate-bench-") as base:
        csv_path = os.path.join(base, "metingen.csv")
        with open(csv_path, "w", newline="") as f:
            f.write(HEADER + "\n")
            for r in rows(a.rows):
                f.write(";".join(r) + "\n")
        size = os.path.getsize(csv_path)
        print(f"{a.rows} rows, {size / 1e6:.1f} MB")
        dg, sq, bl = [], [], []
        for run in range(a.runs):
            run_dir = os.path.join(base, f"run{run}")
            os.makedirs(run_dir)
            setup(run_dir, a.binary)
            dg.append(deliver_and_process(run_dir, a.binary, csv_path, "metingen.csv"))
            db = os.path.join(run_dir, "fresh.db")
            sq.append(measure(["sqlite3", db, "-cmd", ".mode csv", "-cmd", ".separator ;", ".import " + csv_path + " t"]))
            line = f"run {run + 1}: dropgate {dg[-1][0]:.2f} s ({dg[-1][1]:.0f} MiB), sqlite3 .import {sq[-1][0]:.2f} s ({sq[-1][1]:.0f} MiB)"
            if a.baseline:
                base_dir = os.path.join(base, f"baseline{run}")
                os.makedirs(base_dir)
                setup(base_dir, a.baseline)
                bl.append(deliver_and_process(base_dir, a.baseline, csv_path, "metingen.csv"))
                line += f", baseline {bl[-1][0]:.2f} s ({bl[-1][1]:.0f} MiB), dropgate/baseline {dg[-1][0] / bl[-1][0]:.3f}"
            print(line, flush=True)
        d, s = statistics.median(x[0] for x in dg), statistics.median(x[0] for x in sq)
        print(f"\nCSV, median of {a.runs}: dropgate {d:.2f} s, sqlite3 .import {s:.2f} s, ratio {d / s:.2f}x; "
              f"peak RSS dropgate {max(x[1] for x in dg):.0f} MiB, sqlite3 {max(x[1] for x in sq):.0f} MiB")
        if bl:
            ratios = [x[0] / y[0] for x, y in zip(dg, bl)]
            print(f"baseline, median of {a.runs}: {statistics.median(x[0] for x in bl):.2f} s; "
                  f"dropgate/baseline per run {', '.join(f'{r:.3f}' for r in ratios)}, median {statistics.median(ratios):.3f}")

        if a.xlsx_rows:
            import openpyxl
            xlsx = os.path.join(base, "metingen.xlsx")
            wb = openpyxl.Workbook(write_only=True)
            ws = wb.create_sheet()
            ws.append(HEADER.split(";"))
            for r in rows(a.xlsx_rows, seed=2):
                ws.append(r)
            wb.save(xlsx)
            run_dir = os.path.join(base, "xlsx")
            os.makedirs(run_dir)
            setup(run_dir, a.binary)
            wall, rss = deliver_and_process(run_dir, a.binary, xlsx, "metingen.xlsx")
            print(f"xlsx, {a.xlsx_rows} rows ({os.path.getsize(xlsx) / 1e6:.1f} MB): {wall:.2f} s, peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
