#!/usr/bin/env bash
# Installs the system packages the build needs, if missing: cmake and the
# curl headers, because the kafka feature compiles librdkafka from source,
# and perl and make, which build the OpenSSL that is linked in statically;
# chromium and chromedriver for the browser test of `sluice blobl server`.
# Idempotent; needs root (apt-get) only when something is missing.
set -euo pipefail
need=()
command -v cmake >/dev/null || need+=(cmake)
[ -f /usr/include/x86_64-linux-gnu/curl/curl.h ] || [ -f /usr/include/curl/curl.h ] || need+=(libcurl4-openssl-dev)
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
