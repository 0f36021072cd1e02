#!/usr/bin/env bash
# Runs each fuzz target under fuzz/ for a while with cargo-fuzz (libFuzzer,
# nightly toolchain), starting from the checked-in corpus, and prints the
# executions each reached. New crashes land in fuzz/artifacts/<target>/.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET[:SECONDS]...]
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
# No sanitizer: the component targets link librdkafka and OpenSSL, whose
# configure scripts fail under AddressSanitizer's flags; the code under
# test is safe Rust, where libFuzzer's coverage and panics are what count.
# One build for every target; each then runs as the binary it built.
(cd fuzz && cargo +nightly fuzz build --sanitizer none 2>&1 | tail -n 3) || {
  echo "building the fuzz targets failed" >&2
  exit 1
}
bin_dir="fuzz/target/$(rustc -vV | awk '/^host:/ {print $2}')/release"
for spec in "${targets[@]}"; do
  target=${spec%%:*}
  run_for=$seconds
  [ "$spec" = "$target" ] || run_for=${spec#*:}
  # A private copy of the corpus keeps what the fuzzer finds out of the repo
  # until someone chooses to add it.
  work=$(mktemp -d)
  cp -r "fuzz/corpus/$target/." "$work/"
  log=$(mktemp)
  mkdir -p "fuzz/artifacts/$target"
  "$bin_dir/$target" "$work" -artifact_prefix="fuzz/artifacts/$target/" \
    -max_total_time="$run_for" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 >"$log" 2>&1 || {
    tail -n 40 "$log"
    echo "fuzz target $target failed; the input is in fuzz/artifacts/$target/" >&2
    exit 1
  }
  execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
  echo "$target: ${execs:-?} executions in ${run_for}s, no crash"
  rm -rf "$work" "$log"
done
