#!/usr/bin/env bash
# The soak under faults (crates/sluice/tests/e2e/soak.rs) for longer than the
# suite runs it: the release build serves the weather responder, a fan_out to
# Kafka + sync_response and a proxy under steady load while its broker is
# stopped and restarted and the downstream flaps; it prints the statuses,
# the records checked, the resident memory and the descriptors at the end.
#
#   scripts/soak.sh [SECONDS]    # default 600
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-deps.sh
cargo build --release -p sluice
export SLUICE_SERVICES_SCRIPTS="$PWD/scripts/services"
export SLUICE_SOAK_SECONDS=${1:-600}
export SLUICE_TEST_BIN="$PWD/target/release/sluice"
cargo test -p sluice --test e2e soak::soak_under_broker_and_downstream_faults -- --exact --nocapture
