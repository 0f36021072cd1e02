#!/usr/bin/env bash
# Runs each fuzz target under fuzz/ for a while with cargo-fuzz (libFuzzer,
# nightly toolchain), starting from the checked-in corpus, and prints the
# executions each reached. New crashes land in fuzz/artifacts/<target>/.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(bloblang_mapping interpolation format_verbs arithmetic config_yaml http_request broker_headers websocket_frames)
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
# Deep inputs recurse once per level, as on the binary's 128 MiB worker
# stacks; the fuzzer runs on the main thread, so give it the same room.
ulimit -s unlimited 2>/dev/null || ulimit -s 131072
for target in "${targets[@]}"; do
  # A private copy of the corpus keeps what the fuzzer finds out of the repo
  # until someone chooses to add it.
  work=$(mktemp -d)
  cp -r "fuzz/corpus/$target/." "$work/"
  log=$(mktemp)
  # No sanitizer: the component targets link librdkafka and OpenSSL, whose
  # configure scripts fail under AddressSanitizer's flags; the code under
  # test is safe Rust, where libFuzzer's coverage and panics are what count.
  (cd fuzz && cargo +nightly fuzz run --sanitizer none "$target" "$work" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1) >"$log" 2>&1 || {
    tail -n 40 "$log"
    echo "fuzz target $target failed" >&2
    exit 1
  }
  execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
  echo "$target: ${execs:-?} executions in ${seconds}s, no crash"
  rm -rf "$work" "$log"
done
