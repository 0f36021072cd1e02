#!/usr/bin/env python3
"""Load benchmark: the seed fan_out config (kafka output + sync_response, so every
answer means "the record is in Kafka") under wrk load, against a hand-written reference
doing the same job: `hyper_kafka` (crates/sluice-components/examples), a hyper server that
produces each request body through rdkafka with the same producer settings and the same
record headers, and answers with the upper-cased body after the delivery report. Both run
in the same invocation, alternating, against the same broker.

Each server is pinned to CPU 1 and wrk to CPU 0. The broker (noida-db, started with
scripts/services/kafka.sh if not running) is not pinned. Reported per run and system:
answers per second, server CPU microseconds per answer (user+system from /proc), p50/p99
latency; then sluice's CPU per answer as a ratio of the reference's (goal <= 1.3). Every
answered record is checked to be in its topic.

Usage: bench/kafka_load.py [--duration 10] [--conns 64] [--runs 3] [--broker 127.0.0.1:9092]
Needs: wrk and kcat (Debian packages; `apt-get install -y wrk kcat`) and
`cargo build --release -p sluice -p sluice-components --example hyper_kafka` (binaries
under $CARGO_TARGET_DIR or target/).
"""
import argparse
import json
import os
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


def count_records(broker, topic):
    out = subprocess.run(["kcat", "-C", "-b", broker, "-t", topic, "-e", "-q", "-f", "x\n"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    return out.count("x")


def measure(argv, url, broker, topic, conns, duration):
    """Starts `argv` pinned to CPU 1, loads `url` with wrk, and checks the topic: one row."""
    proc = subprocess.Popen(["taskset", "-c", "1", *argv],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(url)
        before = cpu_seconds(proc.pid)
        out = subprocess.run(
            ["taskset", "-c", "0", "wrk", "-t1", f"-c{conns}", f"-d{duration}s",
             "-s", os.path.join(ROOT, "bench", "post.lua"), url],
            capture_output=True, text=True, timeout=duration + 60, check=True,
            env={**os.environ, "BENCH_BODY": BODY}).stdout
        used = cpu_seconds(proc.pid) - before
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    summary = json.loads(out.split("SUMMARY ", 1)[1].splitlines()[0])
    if summary["errors"]:
        sys.exit(f"{argv[0]}: {summary['errors']} errors (non-200 answers) under load")
    n = summary["requests"]
    stored = count_records(broker, topic)
    if stored < n + 1:
        sys.exit(f"only {stored} of {n + 1} answered records are in {topic}")
    return {"n": n, "rps": n / summary["seconds"], "cpu_us": used * 1e6 / n,
            "p50_us": summary["p50_us"], "p99_us": summary["p99_us"]}


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
    sluice = os.path.join(target, "release", "sluice")
    reference = os.path.join(target, "release", "examples", "hyper_kafka")
    run_id = f"{os.getpid()}-{int(time.time())}"
    rows = []
    headers = []
    for run in range(args.runs):
        # A fresh topic per run and system.
        topic = f"bench-sluice-{run_id}-{run}"
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(CONFIG.format(broker=args.broker, topic=topic))
            config = f.name
        try:
            ours = measure([sluice, "-c", config, "--log.level", "WARN",
                            "--set", "http.address=127.0.0.1:4197"],
                           "http://127.0.0.1:4197/post", args.broker, topic, args.conns, args.duration)
        finally:
            os.unlink(config)
        headers = record_headers(args.broker, topic)
        ref_topic = f"bench-reference-{run_id}-{run}"
        ref = measure([reference, "127.0.0.1:4198", args.broker, ref_topic],
                      "http://127.0.0.1:4198/post", args.broker, ref_topic, args.conns, args.duration)
        rows.append((ours, ref))
    print(f"broker {args.broker}, {args.conns} connections, {args.duration}s per run, "
          f"record: {len(BODY)}-byte value + {len(headers)} headers ({', '.join(h.split('=')[0] for h in headers)}); "
          f"load average {os.getloadavg()[0]:.2f}")
    for i, (o, r) in enumerate(rows):
        print(f"run {i + 1}: sluice {o['rps']:>7.0f} answers/s {o['cpu_us']:5.1f} CPU us/answer "
              f"p50 {o['p50_us']} us p99 {o['p99_us']} us | hyper_kafka {r['rps']:>7.0f} answers/s "
              f"{r['cpu_us']:5.1f} CPU us/answer p50 {r['p50_us']} us p99 {r['p99_us']} us | "
              f"CPU ratio {o['cpu_us'] / r['cpu_us']:.2f}")
    rows.sort(key=lambda row: row[0]["cpu_us"] / row[1]["cpu_us"])
    o, r = rows[len(rows) // 2]
    print(f"median: sluice {o['cpu_us']:.1f} CPU us/answer, {o['rps']:.0f} answers/s, p99 {o['p99_us']} us; "
          f"hyper_kafka {r['cpu_us']:.1f} CPU us/answer, {r['rps']:.0f} answers/s, p99 {r['p99_us']} us; "
          f"CPU ratio {o['cpu_us'] / r['cpu_us']:.2f} (goal <= 1.3); every answered record was found in its topic")


if __name__ == "__main__":
    main()
