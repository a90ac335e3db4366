#!/usr/bin/env python3
"""Message intake speed (issue 15): a zip of 100,000 iJw/iWmo 3.2 messages of every type
(`scripts/make-messages.py --bulk`, about 80 MB packed, 250 MB unpacked) taken in end to end
by `dropgate process` (unpack under the bomb limits, parse and validate each message
against its XSD with libxml2 in the confined reader, keep the allow-list, pseudonymise,
store once per header identity, receipt, archive), side by side with `xmllint --noout
--schema` validating the same messages as files (one run per message type, the files in
batches), which only validates. Prints both wall times, their ratio and each one's peak RSS,
and the messages the ledger holds afterwards; then the time of `dropgate publish --now`, whose
Ketendata bundle carries all of them with its link table.

Usage: cargo build --release && scripts/bench-messages.py [--messages 100000] [--runs 1] [--binary target/release/dropgate]
Needs: xmllint (Debian package libxml2-utils).
"""
import argparse
import collections
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from benchlib import intake_and_process, measure  # noqa: E402

XSD = os.path.join(ROOT, "src", "check", "messages", "xsd")
BATCH = 2000


def generate(base, n):
    """The zip and the same messages as files, for municipality 0384."""
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "make-messages.py"), base,
                    "--bulk", str(n), "--zip", os.path.join(base, "messages.zip"),
                    "--bulk-dir", os.path.join(base, "files"), "--municipalities", "0384"],
                   check=True, stdout=subprocess.DEVNULL)
    return os.path.join(base, "messages.zip"), os.path.join(base, "files")


def setup(base, binary):
    with open(os.path.join(base, "dropgate.toml"), "w") as f:
        f.write('state_dir = "var"\n[sftp]\nlisten = "127.0.0.1:0"\n'
                '[[tenant]]\nid = "gemeente"\nkind = "municipality"\ncode = "0384"\nname = "Gemeente"\n')
    subprocess.run([binary, "--config", os.path.join(base, "dropgate.toml"), "keygen"], check=True, capture_output=True)


def ingest(base, binary, source):
    """Intake by the daemon, then `process` measured; returns wall, RSS and messages stored."""
    wall, rss = intake_and_process(base, binary, "gemeente", source, "messages.zip")
    ledger = sqlite3.connect(f"file:{os.path.join(base, 'var', 'dropgate.sqlite')}?mode=ro", uri=True)
    stored = ledger.execute("SELECT count(*) FROM message").fetchone()[0]
    ledger.close()
    return wall, rss, stored


def xmllint(files):
    """`xmllint --noout --schema` over every file, one schema per message type; returns
    the summed wall time, the largest peak RSS and how many files passed."""
    by_type = collections.defaultdict(list)
    for name in sorted(os.listdir(files)):
        by_type[name.split("-")[0]].append(os.path.join(files, name))
    wall, rss, passed = 0.0, 0.0, 0
    for kind, paths in sorted(by_type.items()):
        folder = "jw" if kind.startswith("JW") else "wmo"
        schema = os.path.join(XSD, folder, f"{kind}.xsd")
        for i in range(0, len(paths), BATCH):
            batch = paths[i:i + BATCH]
            w, r = measure(["xmllint", "--noout", "--schema", schema, *batch])
            wall, rss, passed = wall + w, max(rss, r), passed + len(batch)
    return wall, rss, passed


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=int, default=100_000)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--binary", default=os.path.join(ROOT, "target", "release", "dropgate"))
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as work:
        print(f"generating {args.messages} messages ...", flush=True)
        source, files = generate(work, args.messages)
        print(f"zip: {os.path.getsize(source) / 1e6:.1f} MB", flush=True)
        ours, theirs = [], []
        for run in range(args.runs):
            base = tempfile.mkdtemp(dir=work)
            setup(base, args.binary)
            wall, rss, stored = ingest(base, args.binary, source)
            if stored != args.messages:
                sys.exit(f"the ledger holds {stored} messages, not {args.messages}")
            p_wall, p_rss = measure([args.binary, "--config", os.path.join(base, "dropgate.toml"), "publish", "--now"])
            x_wall, x_rss, passed = xmllint(files)
            ours.append((wall, rss))
            theirs.append((x_wall, x_rss))
            print(f"run {run + 1}: dropgate process {wall:.1f} s ({rss:.0f} MiB peak RSS, {stored} messages stored); "
                  f"xmllint --schema {x_wall:.1f} s ({x_rss:.0f} MiB, {passed} files); ratio {wall / x_wall:.2f}; "
                  f"publish --now {p_wall:.1f} s ({p_rss:.0f} MiB)", flush=True)
        wall = statistics.median(w for w, _ in ours)
        x_wall = statistics.median(w for w, _ in theirs)
        print(f"median: dropgate {wall:.1f} s = {args.messages / wall:,.0f} messages/s; "
              f"xmllint {x_wall:.1f} s = {args.messages / x_wall:,.0f} messages/s; ratio {wall / x_wall:.2f}")


if __name__ == "__main__":
    main()
