#!/usr/bin/env python3
"""Load benchmark: the seed fan_out config (kafka output + sync_response, so every
answer means "the record is in Kafka") under wrk load, against kcat producing the
same number of records of the same size, with the same headers, to the same broker
in the same run.

sluice is pinned to CPU 1 and wrk to CPU 0; kcat is pinned to CPU 1. The broker
(noida-db, started with scripts/services/kafka.sh if not running) is not pinned.
Reported: sluice's answers per second and CPU microseconds per answer (user+system
from /proc), p50/p99 latency; kcat's records per second (start to exit, which waits
for every delivery report) and CPU microseconds per record; and the ratio.

Usage: bench/kafka_load.py [--duration 10] [--conns 64] [--runs 3] [--broker 127.0.0.1:9092]
Needs: wrk and kcat (Debian packages; `apt-get install -y wrk kcat`) and
`cargo build --release -p sluice` (binary under $CARGO_TARGET_DIR or target/).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TICK = os.sysconf("SC_CLK_TCK")
BODY = "foo bar"
CONFIG = """
input:
  http_server:
    path: /post
output:
  broker:
    pattern: fan_out
    outputs:
      - kafka:
          addresses: [ {broker} ]
          topic: {topic}
      - sync_response: {{}}
        processors:
          - bloblang: root = content().uppercase()
"""


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def wait_ready(url, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            req = urllib.request.Request(url, data=BODY.encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as r:
                got = r.read().decode()
                if got != BODY.upper():
                    sys.exit(f"{url} answered {got!r}, want {BODY.upper()!r}")
                return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"{url} never answered 200")


def record_headers(broker, topic):
    """The headers sluice wrote on the last record of `topic`, as kcat -H args."""
    out = subprocess.run(["kcat", "-C", "-b", broker, "-t", topic, "-o", "-1", "-c", "1", "-e", "-q",
                          "-J"], capture_output=True, text=True, timeout=30, check=True).stdout
    rec = json.loads(out.strip().splitlines()[-1])
    hdrs = rec.get("headers") or []
    return [f"{hdrs[i]}={hdrs[i + 1]}" for i in range(0, len(hdrs), 2)]


def kcat_produce(broker, topic, count, headers):
    """kcat producing `count` records of BODY with `headers`; returns (seconds, cpu seconds)."""
    with tempfile.TemporaryFile() as data:
        data.write((BODY + "\n").encode() * count)
        data.seek(0)
        argv = ["taskset", "-c", "1", "kcat", "-P", "-b", broker, "-t", topic, "-X", "acks=1", "-q"]
        for h in headers:
            argv += ["-H", h]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.monotonic()
        subprocess.run(argv, stdin=data, check=True, timeout=300)
        wall = time.monotonic() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def count_records(broker, topic):
    out = subprocess.run(["kcat", "-C", "-b", broker, "-t", topic, "-e", "-q", "-f", "x\n"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    return out.count("x")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--broker", default="127.0.0.1:9092")
    args = ap.parse_args()
    if args.broker == "127.0.0.1:9092":
        subprocess.run([os.path.join(ROOT, "scripts", "services", "kafka.sh"), "start"], check=True,
                       stdout=subprocess.DEVNULL)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    binary = os.path.join(target, "release", "sluice")
    run_id = f"{os.getpid()}-{int(time.time())}"
    url = "http://127.0.0.1:4197/post"
    rows = []
    headers = []
    for run in range(args.runs):
        # A fresh topic per run, for sluice and for kcat alike.
        topic = f"bench-sluice-{run_id}-{run}"
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(CONFIG.format(broker=args.broker, topic=topic))
            config = f.name
        proc = subprocess.Popen(["taskset", "-c", "1", binary, "-c", config, "--log.level", "WARN",
                                 "--set", "http.address=127.0.0.1:4197"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_ready(url)
            headers = record_headers(args.broker, topic)
            before = cpu_seconds(proc.pid)
            out = subprocess.run(
                ["taskset", "-c", "0", "wrk", "-t1", f"-c{args.conns}", f"-d{args.duration}s",
                 "-s", os.path.join(ROOT, "bench", "post.lua"), url],
                capture_output=True, text=True, timeout=args.duration + 60, check=True,
                env={**os.environ, "BENCH_BODY": BODY}).stdout
            used = cpu_seconds(proc.pid) - before
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            os.unlink(config)
        summary = json.loads(out.split("SUMMARY ", 1)[1].splitlines()[0])
        if summary["errors"]:
            sys.exit(f"sluice: {summary['errors']} errors (non-200 answers) under load")
        n = summary["requests"]
        stored = count_records(args.broker, topic)
        if stored < n + 1:
            sys.exit(f"only {stored} of {n + 1} answered records are in {topic}")
        wall, kcpu = kcat_produce(args.broker, f"bench-kcat-{run_id}-{run}", n, headers)
        rows.append({"n": n, "rps": n / summary["seconds"], "cpu_us": used * 1e6 / n,
                     "p50_us": summary["p50_us"], "p99_us": summary["p99_us"],
                     "kcat_rps": n / wall, "kcat_cpu_us": kcpu * 1e6 / n})
    print(f"broker {args.broker}, {args.conns} connections, {args.duration}s per run, "
          f"record: {len(BODY)}-byte value + {len(headers)} headers ({', '.join(h.split('=')[0] for h in headers)}); "
          f"load average {os.getloadavg()[0]:.2f}")
    for i, r in enumerate(rows):
        print(f"run {i + 1}: sluice {r['rps']:>8.0f} answers/s  {r['cpu_us']:6.1f} CPU us/answer  "
              f"p50 {r['p50_us']} us  p99 {r['p99_us']} us | kcat {r['n']} records: {r['kcat_rps']:>8.0f} records/s  "
              f"{r['kcat_cpu_us']:5.1f} CPU us/record | ratio {r['rps'] / r['kcat_rps']:.2f}")
    rows.sort(key=lambda r: r["rps"] / r["kcat_rps"])
    m = rows[len(rows) // 2]
    print(f"median: sluice {m['rps']:.0f} answers/s, {m['cpu_us']:.1f} CPU us/answer; "
          f"kcat {m['kcat_rps']:.0f} records/s; ratio {m['rps'] / m['kcat_rps']:.2f} (goal >= 0.9); "
          f"every answered record was found in its topic")


if __name__ == "__main__":
    main()
