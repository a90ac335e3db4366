"""Helpers the benchmark scripts share: valid test BSNs, a wall-time/peak-RSS probe, and a
delivery taken in by the daemon and processed under that probe."""
import functools
import json
import os
import signal
import subprocess
import sys
import time


def bsn(rng):
    """A random citizen number that passes the eleven-test (never a real person's on purpose)."""
    while True:
        d = [rng.randrange(10) for _ in range(8)]
        last = sum(w * x for w, x in zip([9, 8, 7, 6, 5, 4, 3, 2], d)) % 11
        if last < 10 and any(d):
            return "".join(map(str, d)) + str(last)


def measure(cmd, **kw):
    """Wall seconds and peak RSS (MiB) of `cmd`, measured by a fresh helper process so that
    RUSAGE_CHILDREN holds only this command."""
    helper = ("import resource,subprocess,sys,time,json;t=time.monotonic();"
              "r=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL);"
              "print(json.dumps([time.monotonic()-t,resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,r.returncode]))")
    out = subprocess.run([sys.executable, "-c", helper] + cmd, capture_output=True, text=True, check=True, **kw)
    wall, kib, rc = json.loads(out.stdout)
    if rc != 0:
        sys.exit(f"{cmd} failed")
    return wall, kib / 1024


@functools.cache
def process_args(binary):
    """`process`, with `--now` for a binary from before that flag was dropped (a `--baseline`
    of an older commit), which refuses to run without it."""
    help_text = subprocess.run([binary, "process", "--help"], capture_output=True, text=True).stdout
    return ["process", "--now"] if "--now" in help_text else ["process"]


def intake_and_process(base, binary, tenant, source, name):
    """Delivers `source` as `name` into `tenant`'s upload/ (written under a temporary name
    and renamed, as a script would), lets the daemon record it, stops it, and measures
    `process`: returns its wall seconds and peak RSS (MiB)."""
    config = os.path.join(base, "dropgate.toml")
    daemon = subprocess.Popen([binary, "--config", config, "run"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    upload = os.path.join(base, "var", "tenants", tenant, "upload")
    while not os.path.isdir(upload):
        time.sleep(0.05)
    tmp = os.path.join(upload, "." + name)
    with open(source, "rb") as s, open(tmp, "wb") as d:
        d.write(s.read())
    os.rename(tmp, os.path.join(upload, name))

    def received():
        out = subprocess.run([binary, "--config", config, "status", "--json"], capture_output=True, text=True)
        return out.returncode == 0 and json.loads(out.stdout)["deliveries"]["by_state"]["received"] == 1
    while not received():
        time.sleep(0.1)
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(30)
    return measure([binary, "--config", config, *process_args(binary)])
