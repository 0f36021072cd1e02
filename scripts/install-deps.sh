#!/usr/bin/env bash
# Installs the system packages the tests need beyond the Rust toolchain and
# a C compiler, if missing: perl and make, which build librdkafka (with its
# own configure script, no cmake) and the OpenSSL linked in statically;
# python3 for the brokers' start scripts; chromium and chromedriver for the
# browser test of `sluice blobl server`.
# Idempotent; needs root (apt-get) only when something is missing.
set -euo pipefail
need=()
command -v perl >/dev/null || need+=(perl)
command -v make >/dev/null || need+=(make)
command -v python3 >/dev/null || need+=(python3)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
    || { apt-get update >/dev/null && apt-get install -y --no-install-recommends "${need[@]}" >/dev/null; }
fi
