#!/usr/bin/env python3
"""Counts user-space instructions per request with callgrind, for sluice running
examples/weather.yaml and for the hyper baseline doing the same transform; with
--proxy, for sluice running examples/proxy.yaml and for the hyper_proxy
baseline, both in front of the hyper_weather example as their upstream (which
is not counted).

Unlike CPU time, instruction counts repeat exactly from run to run whatever else
the machine is doing, so small changes to the request path show up clearly.
Kernel work (sockets) is not counted. Each server answers a warm-up request and
then N keep-alive requests over 8 connections; the figure per request is
(instructions after N - instructions after 8) / (N - 8).

With --kafka, for sluice running the seed's fan_out config (a kafka output and
sync_response; bench/kafka_load.py's) and for the hyper_kafka baseline, both producing
to the broker at --broker (127.0.0.1:9092, started with scripts/services/kafka.sh when it
is that one). librdkafka's own threads are counted too: they do the same work in both.
Both run on one CPU (taskset), as kafka_load.py runs them, so sluice picks its
single-threaded runtime there too.

With --features, two more rows: bench/weather_idempotent.yaml with a fresh
Idempotency-Key on every request (each claimed, answered and stored in a memory
cache), and bench/weather_cached.yaml (every request a `cached` memory cache hit),
each also as a ratio to the plain sluice row.

With --shares, each system's instructions per request are also split by where they
run (Bloblang, the engine, the components, hyper/httparse, tokio, the allocator,
libc, Rust's core/alloc generics), from callgrind's per-function counts.

Usage: bench/instructions.py [--requests 2008] [--proxy | --kafka] [--features] [--shares]
Needs: valgrind, and `cargo build --release -p sluice -p sluice-components --examples --bins`
(binaries are taken from $CARGO_TARGET_DIR when that is set, else target/).
"""
import argparse
import http.client
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BODY = b'{"location":"Berlin"}'


PATH = "/weather"
# Set by --features for the idempotency row: every request its own key.
UNIQUE_KEYS = False
NEXT_KEY = iter(range(1 << 62))


def load(port, n, conns=8):
    def worker(count):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for _ in range(count):
            headers = {"Idempotency-Key": f"k-{next(NEXT_KEY)}"} if UNIQUE_KEYS else {}
            c.request("POST", PATH, BODY, headers)
            r = c.getresponse()
            r.read()
            if r.status != 200:
                sys.exit(f"status {r.status}")
    threads = [threading.Thread(target=worker, args=(n // conns,)) for _ in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def wait_for_port(port, limit=10):
    deadline = time.time() + limit
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.time() > deadline:
                sys.exit(f"nothing listens on port {port}")
            time.sleep(0.05)


# Where an instruction runs, by the first crate named in its function's symbol.
GROUPS = [
    ("Bloblang (mapping, JSON)", ("sluice_bloblang",)),
    ("engine (sluice-core)", ("sluice_core",)),
    ("components (sluice-components, sluice)", ("sluice_components", "sluice::")),
    ("HTTP (hyper, httparse, http)", ("hyper", "httparse", "http::", "http_body")),
    ("tokio runtime", ("tokio", "mio::")),
    ("allocator (mimalloc)", ("mi_", "_mi_", "mimalloc")),
    ("logs, metrics (tracing)", ("tracing",)),
    ("JSON (serde_json)", ("serde_json", "serde::")),
    ("Kafka client (librdkafka, rdkafka)", ("rd_kafka", "rd_buf", "rd_slice", "rd_avg", "rd_list",
                                            "rd_map", "rdkafka::", "rd_")),
]


def group_of(symbol, obj):
    first = None
    for name, tokens in GROUPS:
        for t in tokens:
            at = symbol.find(t)
            if at >= 0 and (first is None or at < first[0]):
                first = (at, name)
    if first is not None:
        return first[1]
    if "libc.so" in obj or "ld-linux" in obj:
        return "libc (memcpy, syscall wrappers)"
    if symbol.startswith(("core::", "alloc::", "<core::", "<alloc::", "std::", "<std::")):
        return "Rust core/alloc/std generics"
    return "other"


def shares(summary):
    """Instructions per group, from callgrind_annotate's per-function lines."""
    out = {}
    for line in summary.splitlines():
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(?:[^:]*):(.*?)(?: \[(.*)\])?$", line)
        if m is None or "PROGRAM TOTALS" in line:
            continue
        ir = int(m.group(1).replace(",", ""))
        g = group_of(m.group(2), m.group(3) or "")
        out[g] = out.get(g, 0) + ir
    return out


def count(argv, port, n):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        # A leading `taskset -c N` pins valgrind itself, and so the server it runs.
        pin = argv[:3] if argv[0] == "taskset" else []
        proc = subprocess.Popen([*pin, "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                                 *argv[len(pin):]],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                c.request("POST", PATH, BODY)
                c.getresponse().read()
                c.close()
                break
            except OSError:
                if time.time() > deadline:
                    proc.kill()
                    sys.exit("server did not start under valgrind")
                time.sleep(0.2)
        load(port, n - 8)
        # SIGINT: sluice shuts down gracefully and the baseline exits; either
        # way callgrind writes its totals.
        proc.send_signal(2)
        proc.wait(timeout=60)
        summary = subprocess.run(["callgrind_annotate", "--threshold=100", out],
                                 capture_output=True, text=True).stdout
        match = re.search(r"([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", summary)
        if match is None:
            sys.exit(f"no callgrind totals for {argv[len(pin)]}")
        return int(match.group(1).replace(",", "")), shares(summary)


def main():
    global PATH
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=2008)
    ap.add_argument("--proxy", action="store_true", help="measure the proxy path instead")
    ap.add_argument("--kafka", action="store_true", help="measure the Kafka fan_out path instead")
    ap.add_argument("--broker", default="127.0.0.1:9092", help="the broker --kafka produces to")
    ap.add_argument("--shares", action="store_true",
                    help="split each system's instructions per request by crate")
    ap.add_argument("--features", action="store_true",
                    help="add the idempotency and cached rows to the weather measurement")
    args = ap.parse_args()
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    release = os.path.join(target, "release")
    weather = [os.path.join(release, "examples", "hyper_weather"), "127.0.0.1:4196"]
    upstream = None
    config_file = None
    if args.kafka:
        sys.path.insert(0, os.path.join(ROOT, "bench"))
        from kafka_load import CONFIG as KAFKA_CONFIG
        if args.broker == "127.0.0.1:9092":
            subprocess.run([os.path.join(ROOT, "scripts", "services", "kafka.sh"), "start"], check=True,
                           stdout=subprocess.DEVNULL)
        topic = f"instructions-{os.getpid()}-{int(time.time())}"
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(KAFKA_CONFIG.format(broker=args.broker, topic=topic))
            config_file = f.name
        PATH = "/post"
        systems = [
            ("hyper", ["taskset", "-c", "1", os.path.join(release, "examples", "hyper_kafka"), "127.0.0.1:4198",
                       args.broker, topic + "-reference"], 4198),
            ("sluice", ["taskset", "-c", "1", os.path.join(release, "sluice"), "-c", config_file,
                        "--log.level", "WARN", "--set", "http.address=127.0.0.1:4195"], 4195),
        ]
    elif args.proxy:
        PATH = "/post"
        upstream = subprocess.Popen(weather, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(4196)
        systems = [
            ("hyper", [os.path.join(release, "examples", "hyper_proxy"), "127.0.0.1:4198", "127.0.0.1:4196"], 4198),
            ("sluice", [os.path.join(release, "sluice"), "-c", os.path.join(ROOT, "examples", "proxy.yaml"),
                        "--log.level", "WARN", "--set", "http.address=127.0.0.1:4195"], 4195),
        ]
    else:
        systems = [
            ("hyper", weather, 4196),
            ("sluice", [os.path.join(release, "sluice"), "-c", os.path.join(ROOT, "examples", "weather.yaml"),
                        "--log.level", "WARN", "--set", "http.address=127.0.0.1:4195"], 4195),
        ]
        if args.features:
            for name, config in [("idem", "weather_idempotent.yaml"), ("cached", "weather_cached.yaml")]:
                systems.append((name, [os.path.join(release, "sluice"), "-c", os.path.join(ROOT, "bench", config),
                                       "--log.level", "WARN", "--set", "http.address=127.0.0.1:4195"], 4195))
    results = {}
    groups = {}
    global UNIQUE_KEYS
    for name, argv, port in systems:
        UNIQUE_KEYS = name == "idem"
        small, small_groups = count(argv, port, 8)
        large, large_groups = count(argv, port, args.requests)
        results[name] = (large - small) / (args.requests - 8)
        groups[name] = {g: (large_groups.get(g, 0) - small_groups.get(g, 0)) / (args.requests - 8)
                        for g in large_groups}
    if upstream is not None:
        upstream.kill()
        upstream.wait()
    if config_file is not None:
        os.unlink(config_file)
    for name, per in results.items():
        print(f"{name:>7}: {per:8.0f} instructions per request ({per / results['hyper']:.2f}x hyper, "
              f"{per / results['sluice']:.2f}x sluice)")
        if args.shares:
            for g, ir in sorted(groups[name].items(), key=lambda kv: -kv[1]):
                if ir >= per * 0.005:
                    print(f"         {ir:8.0f}  {ir * 100 / per:5.1f} %  {g}")


if __name__ == "__main__":
    main()
