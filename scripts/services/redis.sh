#!/usr/bin/env bash
# redis.sh start|stop|status
#
# Runs Debian's redis-server on loopback for sluice's integration tests,
# without systemd, persistence or the system-wide instance.
#
#   start   apt-get install redis-server if missing, start a private server
#           with its files under a temp dir, wait until it answers PING, print
#           "redis://127.0.0.1:PORT". Already running: print the URL, exit 0.
#   stop    stop the server this script started, by recorded pid.
#   status  exit 0 and print the URL if it answers PING, else exit 3.
#
# Environment (all optional):
#   SLUICE_REDIS_PORT       port, default 6379
#   SLUICE_SERVICES_STATE   root of pid files and logs, default ${TMPDIR:-/tmp}/sluice-services
set -euo pipefail

PORT=${SLUICE_REDIS_PORT:-6379}
HOST=127.0.0.1
STATE=${SLUICE_SERVICES_STATE:-${TMPDIR:-/tmp}/sluice-services}/redis-$PORT
URL="redis://$HOST:$PORT"

log() { echo "redis.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

# PING over bash's /dev/tcp: needs no redis-cli.
answers() {
  local reply
  { exec 3<>"/dev/tcp/$HOST/$PORT"; } 2>/dev/null || return 1
  printf 'PING\r\n' >&3
  read -r -t 2 reply <&3 || true
  exec 3>&-
  [[ $reply == +PONG* ]]
}

install() {
  command -v redis-server >/dev/null && return
  log "installing redis-server"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends redis-server >/dev/null 2>&1 \
    || { apt-get update >/dev/null && apt-get install -y --no-install-recommends redis-server >/dev/null; }
  command -v redis-server >/dev/null || die "redis-server did not install"
}

start() {
  if answers; then echo "$URL"; return; fi
  install
  mkdir -p "$STATE"
  redis-server --bind "$HOST" --port "$PORT" --save '' --appendonly no \
    --dir "$STATE" --daemonize yes --pidfile "$STATE/redis.pid" \
    --logfile "$STATE/redis.log" >/dev/null
  local _
  for _ in $(seq 1 100); do
    if answers; then echo "$URL"; return; fi
    sleep 0.1
  done
  die "redis-server did not answer PING on $HOST:$PORT within 10 s (log: $STATE/redis.log)"
}

stop() {
  local pid
  pid=$(cat "$STATE/redis.pid" 2>/dev/null) || return 0
  kill "$pid" 2>/dev/null || true
  local _
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  rm -rf "$STATE"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) if answers; then echo "$URL"; else exit 3; fi ;;
  *) die "usage: $0 start|stop|status" ;;
esac
