#!/usr/bin/env bash
# The same ingest and the five questions of benches/queries on a local lake and on a lake in a
# local S3 server (moto's, from tests/python/requirements.txt), in one run on this machine.
#
#   benches/compare/s3.sh [CONVERSATIONS] [WORKDIR]      (default 20000, /tmp/convlake-s3)
#
# moto is a Python server: its figures bound what a real S3 adds (latency of many small
# requests, uploads), they are not S3's speed.
set -euo pipefail
N="${1:-20000}"
WORK="${2:-/tmp/convlake-s3}"
RUNS="${RUNS:-3}"
source "$(dirname "$0")/common.sh"
VENV="$CARGO_TARGET_DIR/convlake-bench-pyenv"
[ -x "$VENV/bin/python" ] || { python3 -m venv "$VENV" && "$VENV/bin/pip" install --quiet -r "$repo/tests/python/requirements.txt"; }

rm -rf "$WORK"; mkdir -p "$WORK"
"$BIN" generate --conversations "$N" --seed 1 --format ndjson --out "$WORK/export.ndjson" 2>/dev/null
exec 3> >("$VENV/bin/python" "$repo/tests/python/moto_server.py" > "$WORK/port" 2>/dev/null)
for _ in $(seq 50); do [ -s "$WORK/port" ] && break; sleep 0.2; done
PORT=$(cat "$WORK/port")
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 \
       AWS_ENDPOINT_URL="http://127.0.0.1:$PORT" AWS_ALLOW_HTTP=true
echo "input: $N conversations, $(( $(stat -c %s "$WORK/export.ndjson") / 1000000 )) MB of NDJSON; $RUNS runs"
printf '%-10s %12s %12s %8s\n' "" "local s" "s3 (moto) s" "ratio"
: > "$WORK/local.t"; : > "$WORK/s3.t"
for run in $(seq "$RUNS"); do
  rm -rf "$WORK/lake"
  /usr/bin/time -f %e -a -o "$WORK/local.t" "$BIN" --lake "$WORK/lake" ingest "$WORK/export.ndjson" 2>/dev/null >/dev/null
  curl -s -X PUT "http://127.0.0.1:$PORT/bench$run" > /dev/null
  /usr/bin/time -f %e -a -o "$WORK/s3.t" "$BIN" --lake "s3://bench$run/lake" ingest "$WORK/export.ndjson" 2>/dev/null >/dev/null
done
l=$(grep -v Command "$WORK/local.t" | median); s=$(grep -v Command "$WORK/s3.t" | median)
awk -v l="$l" -v s="$s" 'BEGIN { printf "%-10s %12.3f %12.3f %7.2fx\n", "ingest", l, s, s / l }'
for query in "$repo"/benches/queries/q*.sql; do
  l=$("$BIN" --lake "$WORK/lake" sql --timing --repeat 5 -f "$query" --format csv 2>&1 >/dev/null | grep -o 'in [0-9.]*s' | tr -dc '0-9.')
  s=$("$BIN" --lake "s3://bench1/lake" sql --timing --repeat 5 -f "$query" --format csv 2>&1 >/dev/null | grep -o 'in [0-9.]*s' | tr -dc '0-9.')
  awk -v n="$(basename "$query" .sql)" -v l="$l" -v s="$s" 'BEGIN { printf "%-10s %12.4f %12.4f %7.2fx\n", n, l, s, s / l }'
done
# The whole command: opening the lake (records, six Delta logs) is where latency shows.
q="$repo/benches/queries/q1.sql"
: > "$WORK/lq.t"; : > "$WORK/sq.t"
for _ in $(seq 5); do
  /usr/bin/time -f %e -a -o "$WORK/lq.t" "$BIN" --lake "$WORK/lake" sql -f "$q" --format csv >/dev/null 2>&1
  /usr/bin/time -f %e -a -o "$WORK/sq.t" "$BIN" --lake "s3://bench1/lake" sql -f "$q" --format csv >/dev/null 2>&1
done
l=$(grep -v Command "$WORK/lq.t" | median); s=$(grep -v Command "$WORK/sq.t" | median)
awk -v l="$l" -v s="$s" 'BEGIN { printf "%-10s %12.3f %12.3f %7.2fx\n", "q1 command", l, s, s / l }'
exec 3>&-
