#!/usr/bin/env bash
# The overhead of distribution: the five questions of benches/queries and the report suite on
# one machine, against the same statements run by a coordinator across two `convlake worker`
# processes on this same host (so no added cores: what is measured is the cost of cutting
# plans into stages and streaming Arrow between processes). The lake is on the local S3
# server (moto) or, with LOCAL=1, in a local directory (a path every process sees).
#
#   benches/compare/distributed.sh [CONVERSATIONS] [WORKDIR]  (default 100000, /tmp/convlake-dist)
#   RUNS=5 REPORT_RUNS=(RUNS) DAYS=28 LOCAL=1 PARTITION_BYTES=...  (bytes of files per task;
#   default the engine's 16 MiB)
set -euo pipefail
N="${1:-100000}"
WORK="${2:-/tmp/convlake-dist}"
RUNS="${RUNS:-5}"
source "$(dirname "$0")/common.sh"
need_time
rm -rf "$WORK"; mkdir -p "$WORK"
"$BIN" generate --conversations "$N" --days "${DAYS:-28}" --seed 1 --out "$WORK/export.ndjson" 2>/dev/null
if [ -n "${LOCAL:-}" ]; then
  LAKE="$WORK/lake"
else
  VENV="$CARGO_TARGET_DIR/convlake-bench-pyenv"
  [ -x "$VENV/bin/python" ] || { python3 -m venv "$VENV" && "$VENV/bin/pip" install --quiet -r "$repo/tests/python/requirements.txt"; }
  exec 3> >("$VENV/bin/python" "$repo/tests/python/moto_server.py" > "$WORK/port" 2>/dev/null)
  for _ in $(seq 50); do [ -s "$WORK/port" ] && break; sleep 0.2; done
  PORT=$(cat "$WORK/port")
  export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 \
         AWS_ENDPOINT_URL="http://127.0.0.1:$PORT" AWS_ALLOW_HTTP=true
  curl -s -X PUT "http://127.0.0.1:$PORT/dist" > /dev/null
  LAKE="s3://dist/lake"
fi
"$BIN" --lake "$LAKE" ingest "$WORK/export.ndjson" > /dev/null 2>&1
export CONVLAKE_WORKER_SECRET="bench-secret-$(date +%s%N)"
pids=()
for w in 1 2; do
  "$BIN" --lake "$LAKE" worker --listen 127.0.0.1:0 2> "$WORK/worker$w.err" &
  pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
for w in 1 2; do
  for _ in $(seq 100); do grep -q listening "$WORK/worker$w.err" 2>/dev/null && break; sleep 0.1; done
done
WORKERS=$(grep -ho '127.0.0.1:[0-9]*' "$WORK"/worker1.err "$WORK"/worker2.err | sort -u | paste -sd, -)
[ -n "${PARTITION_BYTES:-}" ] && export CONVLAKE_WORKER_PARTITION_BYTES="$PARTITION_BYTES"
if [ -n "${LOCAL:-}" ]; then
  lake_bytes=$(du -sb "$LAKE" | cut -f1)
else
  lake_bytes=$("$VENV/bin/python" -c "
import boto3, sys
s3 = boto3.client('s3', endpoint_url='$AWS_ENDPOINT_URL')
print(sum(o['Size'] for p in s3.get_paginator('list_objects_v2').paginate(Bucket='dist') for o in p.get('Contents', [])))")
fi
echo "lake: $N conversations over ${DAYS:-28} days ($(stat -c %s "$WORK/export.ndjson" | awk '{printf "%.0f", $1 / 1e6}') MB of JSON, $(awk -v b="$lake_bytes" 'BEGIN { printf "%.0f", b / 1e6 }') MB of lake) at $LAKE; workers $WORKERS; medians of $RUNS"
printf '%-12s %12s %14s %8s\n' "" "one machine" "2 workers" "ratio"
# timed FILE CMD...: median wall seconds of RUNS whole commands.
timed() {
  local out="$1"; shift
  : > "$out"
  for _ in $(seq "$RUNS"); do /usr/bin/time -f %e -a -o "$out" "$@" > /dev/null 2>&1; done
  grep -v Command "$out" | median
}
for query in "$repo"/benches/queries/q*.sql; do
  one=$(timed "$WORK/one.t" "$BIN" --lake "$LAKE" sql -f "$query" --format csv)
  many=$(timed "$WORK/many.t" "$BIN" --lake "$LAKE" --workers "$WORKERS" sql -f "$query" --format csv)
  awk -v n="$(basename "$query" .sql)" -v a="$one" -v b="$many" 'BEGIN { printf "%-12s %12.3f %14.3f %7.2fx\n", n, a, b, b / a }'
done
interval="2026-11-02T00:00:00Z/2026-11-30T00:00:00Z"
RUNS="${REPORT_RUNS:-$RUNS}"
one=$(timed "$WORK/one.t" "$BIN" --lake "$LAKE" report run --all --interval "$interval" --out "$WORK/r1")
many=$(timed "$WORK/many.t" "$BIN" --lake "$LAKE" --workers "$WORKERS" report run --all --interval "$interval" --out "$WORK/r2")
awk -v a="$one" -v b="$many" 'BEGIN { printf "%-12s %12.3f %14.3f %7.2fx\n", "ten reports", a, b, b / a }'
# Where a statement's stages went.
"$BIN" --lake "$LAKE" --workers "$WORKERS" sql -f "$repo/benches/queries/q3.sql" --format csv > /dev/null
"$BIN" --lake "$LAKE" --workers "$WORKERS" sql "EXPLAIN $(grep -v '^--' "$repo/benches/queries/q3.sql")" | head -40
