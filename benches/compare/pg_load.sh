#!/usr/bin/env bash
# Load on `convlake serve --pg`: CLIENTS (default 32) psycopg connections for SECONDS (default
# 60) ask questions over the lake's first week while later weeks are ingested beside them (a
# commit every few seconds, which every session follows). Every answer must equal a lone
# client's; prints p50/p90/p99 latency, answers per second, commits during the load and the
# server's peak RSS.
#
#   benches/compare/pg_load.sh [CONVERSATIONS_PER_WEEK] [WORKDIR]     (default 20000)
#
# Installs psycopg from PyPI and GNU time from Debian when missing.
set -euo pipefail
N="${1:-20000}"
WORK="${2:-/tmp/convlake-pg-load}"
CLIENTS="${CLIENTS:-32}"
SECONDS_LOAD="${SECONDS_LOAD:-60}"
WEEKS="${WEEKS:-6}"
source "$(dirname "$0")/common.sh"
python3 -c "import psycopg" 2>/dev/null || pip install --quiet "psycopg[binary]"
rm -rf "$WORK" && mkdir -p "$WORK"
"$BIN" generate --conversations "$N" --days 7 --seed 1 --out "$WORK/week0.ndjson" 2>/dev/null
for w in $(seq "$WEEKS"); do
  start=$(date -u -d "2026-11-02 + $((7 * w)) days" +%Y-%m-%dT00:00:00.000Z)
  "$BIN" generate --conversations "$N" --days 7 --seed "$((w + 1))" --start "$start" --out "$WORK/week$w.ndjson" 2>/dev/null
done
"$BIN" --lake "$WORK/lake" ingest "$WORK/week0.ndjson" >/dev/null 2>&1
echo "lake: $N conversations in its first week, $WEEKS more weeks ingested during the load; $(nproc) cores; $CLIENTS clients for $SECONDS_LOAD s"

CONVLAKE_PG_USERS=bench:bench "$BIN" --lake "$WORK/lake" serve --pg 127.0.0.1:0 \
  --pg-max-sessions "$((CLIENTS + 4))" --pg-session-memory 256M 2> "$WORK/serve.err" &
server=$!
trap 'kill $server 2>/dev/null' EXIT
for _ in $(seq 100); do grep -q "PostgreSQL protocol on" "$WORK/serve.err" 2>/dev/null && break; sleep 0.2; done
port=$(grep -o '127.0.0.1:[0-9]*' "$WORK/serve.err" | head -1 | cut -d: -f2)
DSN="host=127.0.0.1 port=$port dbname=convlake user=bench password=bench sslmode=disable"

# The ingests beside the load: one later week every few seconds, until the load ends.
(
  sleep 2
  for w in $(seq "$WEEKS"); do
    "$BIN" --lake "$WORK/lake" ingest "$WORK/week$w.ndjson" >/dev/null 2>&1 && echo "$w" >> "$WORK/commits"
    sleep $((SECONDS_LOAD / (WEEKS + 1)))
  done
) &
ingests=$!
python3 "$repo/benches/compare/pg_load.py" "$DSN" "$CLIENTS" "$SECONDS_LOAD" | tee "$WORK/load.json"
wait "$ingests"
echo "commits during the load: $(wc -l < "$WORK/commits" 2>/dev/null || echo 0)"
echo "server peak RSS: $(awk '/VmHWM/ {print int($2/1024) " MB"}' "/proc/$server/status")"
