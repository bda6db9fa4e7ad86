#!/usr/bin/env bash
# Interim launcher for `make run`: the embedded broker plus the four services in the
# foreground, each line prefixed with its service. Ctrl-C stops everything.
set -euo pipefail
bin="${BIN_DIR:-.build/debug}"
data="${DATA_ROOT:-./data}"
mkdir -p "$data"
pids=()
broker=""
cleanup() {
  trap - INT TERM EXIT
  # Services first (they commit offsets and flush to the broker), the broker last.
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -n "$broker" ] && kill -TERM "$broker" 2>/dev/null && wait "$broker" 2>/dev/null || true
}
trap cleanup INT TERM EXIT

prefix() { local name=$1; while IFS= read -r line; do printf '%-22s| %s\n' "$name" "$line"; done; }

if [ -z "${KAFKA_BROKERS:-}" ]; then
  bootstrap_file=$(mktemp)
  rm -f "$bootstrap_file"
  # Its own session, so Ctrl-C reaches the services first and the broker outlives their
  # graceful shutdown (offset commits, outbox flush); cleanup stops it last.
  setsid "$bin/embedded-kafka" --bootstrap-file "$bootstrap_file" > >(prefix embedded-kafka) 2>&1 &
  broker=$!
  for _ in $(seq 1 100); do [ -s "$bootstrap_file" ] && break; sleep 0.1; done
  [ -s "$bootstrap_file" ] || { echo "embedded Kafka did not start" >&2; exit 1; }
  export KAFKA_BROKERS=$(cat "$bootstrap_file")
  rm -f "$bootstrap_file"
fi

for service in order-service payment-service inventory-service notification-service; do
  DATA_DIR="$data/$service" "$bin/$service" > >(prefix "$service") 2>&1 &
  pids+=($!)
done
echo "platform starting: order API on http://localhost:${PORT:-4000}, broker $KAFKA_BROKERS (Ctrl-C stops)"
wait -n "${pids[@]}" ${broker:+"$broker"} || true
echo "a process exited; stopping the platform" >&2
