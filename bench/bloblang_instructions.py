#!/usr/bin/env python3
"""Counts instructions per message of a benchmark mapping (parse the JSON body, map,
serialise the result) with callgrind, the same work as a criterion bench of sluice-bloblang:
`--mapping weather` (the default) is `exec_weather_with_io`, `--mapping heavy` is
`exec_heavy_2kb_20_statements`.

Instruction counts repeat from run to run whatever else the machine is doing. The figure per
message is (instructions for N messages - instructions for 1000) / (N - 1000), so start-up and
parsing the mapping cancel out. Allocations per message come from the malloc calls counted
by callgrind in the same two runs.

Usage: bench/bloblang_instructions.py [--mapping weather|heavy] [--messages 11000]
Needs: valgrind, and `cargo build --release -p sluice-bloblang --example weather_loop`
(or `--example heavy_loop`), taken from $CARGO_TARGET_DIR when that is set, else target/.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def count(binary, n):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", binary, str(n)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        summary = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", out],
                                 capture_output=True, text=True).stdout
        total = re.search(r"([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", summary)
        if total is None:
            sys.exit("no callgrind totals")
        calls = 0
        with open(out) as f:
            # Calls into the allocator: a "cfn=" line naming a mi_malloc-family function is
            # followed by "calls=COUNT ..."; names are given once as "(id) name", then "(id)".
            names = {}
            pending = False
            for line in f:
                if line.startswith("cfn="):
                    m = re.match(r"cfn=\((\d+)\)(?: (.*))?", line)
                    if m.group(2):
                        names[m.group(1)] = m.group(2)
                    name = names.get(m.group(1), "")
                    pending = re.fullmatch(r"mi_(malloc|zalloc|calloc|realloc)(_aligned)?", name) is not None
                elif pending and line.startswith("calls="):
                    calls += int(line.split()[0][6:])
                    pending = False
        return int(total.group(1).replace(",", "")), calls


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mapping", choices=["weather", "heavy"], default="weather")
    ap.add_argument("--messages", type=int, default=11000)
    args = ap.parse_args()
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
    binary = os.path.join(target, "release", "examples", f"{args.mapping}_loop")
    small, small_allocs = count(binary, 1000)
    large, large_allocs = count(binary, args.messages)
    n = args.messages - 1000
    print(f"{(large - small) / n:.0f} instructions per message, "
          f"{(large_allocs - small_allocs) / n:.1f} allocations per message")


if __name__ == "__main__":
    main()
