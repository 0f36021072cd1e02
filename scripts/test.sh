#!/usr/bin/env bash
# Runs the whole test suite: unit tests, the Bloblang examples and the
# end-to-end tests that start the real binary on loopback ports.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo test --workspace "$@"
