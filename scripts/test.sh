#!/usr/bin/env bash
# Runs the whole test suite: unit tests, the Bloblang examples and the
# end-to-end tests that start the real binary on loopback ports, including
# the ones against live brokers. The brokers (a Kafka-compatible broker,
# RabbitMQ and redis-server) are installed if missing, started on loopback for the run and
# stopped afterwards.
#
#   scripts/test.sh [cargo test args...]
#   SLUICE_KAFKA_IMPL=tansu scripts/test.sh   # the second Kafka implementation
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
services=scripts/services

scripts/install-deps.sh

stop_services() {
  "$services/kafka.sh" stop >/dev/null 2>&1 || true
  SLUICE_KAFKA_IMPL=tansu SLUICE_KAFKA_PORT=9093 "$services/kafka.sh" stop >/dev/null 2>&1 || true
  "$services/rabbitmq.sh" stop >/dev/null 2>&1 || true
  "$services/redis.sh" stop >/dev/null 2>&1 || true
}
trap stop_services EXIT

SLUICE_TEST_KAFKA=$("$services/kafka.sh" start)
SLUICE_TEST_KAFKA_TANSU=$(SLUICE_KAFKA_IMPL=tansu SLUICE_KAFKA_PORT=9093 "$services/kafka.sh" start)
SLUICE_TEST_AMQP=$("$services/rabbitmq.sh" start)
SLUICE_TEST_REDIS=$("$services/redis.sh" start)
export SLUICE_TEST_KAFKA SLUICE_TEST_KAFKA_TANSU SLUICE_TEST_AMQP SLUICE_TEST_REDIS
export SLUICE_SERVICES_SCRIPTS="$PWD/$services"

# Doc tests are left out: the crates document with prose, not runnable
# snippets, and a trailing "0 passed" would hide the real totals.
log=$(mktemp)
status=0
cargo test --workspace --lib --bins --tests "$@" 2>&1 | tee "$log" || status=$?
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "%d passed, %d failed\n", passed, failed }' "$log"
rm -f "$log"
exit "$status"
