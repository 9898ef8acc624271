#!/usr/bin/env bash
# The five questions of benches/queries through `convlake serve --pg` (psql, one connection,
# the lake opened once) against `convlake sql` (whole command) and DuckDB (in-process, over its
# flat Parquet of the same export), in one run on this machine; and what a new connection
# costs (process start, login, session).
#
#   benches/compare/pg.sh [CONVERSATIONS] [WORKDIR]     (default 100000 over DAYS=7)
#
# Medians of RUNS (default 5). Installs duckdb and pyarrow if missing; needs psql.
set -euo pipefail
N="${1:-100000}"
WORK="${2:-/tmp/convlake-pg}"
RUNS="${RUNS:-5}"
DAYS="${DAYS:-7}"
source "$(dirname "$0")/common.sh"
need_duckdb
command -v psql >/dev/null || { apt-get update -qq && apt-get install -y -qq postgresql-client; }
mkdir -p "$WORK"
if [ ! -d "$WORK/lake" ] || [ ! -d "$WORK/duck_flat" ]; then
  rm -rf "$WORK/lake" "$WORK/duck_flat"
  "$BIN" generate --conversations "$N" --days "$DAYS" --seed 1 --format ndjson --out "$WORK/export.ndjson" 2>/dev/null
  "$BIN" --lake "$WORK/lake" ingest "$WORK/export.ndjson" >/dev/null 2>&1
  mkdir -p "$WORK/duck_flat"
  python3 "$repo/benches/compare/duckdb_ingest.py" flat "$WORK/export.ndjson" "$WORK/duck_flat"
  rm -f "$WORK/export.ndjson"
fi
echo "lake: $N conversations over $DAYS days, $(du -sm "$WORK/lake" | cut -f1) MB; $(nproc) cores; medians of $RUNS"

CONVLAKE_PG_USERS=bench:bench "$BIN" --lake "$WORK/lake" serve --pg 127.0.0.1:0 2> "$WORK/serve.err" &
server=$!
trap 'kill $server 2>/dev/null' EXIT
for _ in $(seq 100); do grep -q "PostgreSQL protocol on" "$WORK/serve.err" 2>/dev/null && break; sleep 0.2; done
port=$(grep -o '127.0.0.1:[0-9]*' "$WORK/serve.err" | head -1 | cut -d: -f2)
export PGPASSWORD=bench
DSN="host=127.0.0.1 port=$port dbname=convlake user=bench sslmode=disable"

# A new connection: psql's start, SCRAM login, a session over the lake, one tiny query.
: > "$WORK/connect.t"
for _ in $(seq "$RUNS"); do
  /usr/bin/time -f %e -a -o "$WORK/connect.t" psql -X -q -d "$DSN" -c "SELECT 1" >/dev/null
done
connect=$(grep -v Command "$WORK/connect.t" | median)

INTERVAL=2026-11-02T00:00:00Z/2026-11-09T00:00:00Z
python3 "$repo/benches/compare/duckdb_query.py" "$WORK/duck_flat" "$RUNS" "$repo" "$INTERVAL" UTC PT30M \
  | awk '$1 == "question"' > "$WORK/duck.txt"

printf '%-6s %12s %12s %12s %10s %6s\n' "" "pg wire s" "convlake sql" "duckdb s" "pg/duckdb" "rows"
for query in "$repo"/benches/queries/q*.sql; do
  name=$(basename "$query" .sql)
  # One psql session runs the question RUNS + 1 times (the first warms the file cache);
  # \timing reports each statement's time as the client sees it.
  { echo '\timing on'; for _ in $(seq $((RUNS + 1))); do cat "$query"; echo ';'; done; } \
    | psql -X -q -d "$DSN" -A -t -o /dev/null 2>&1 | grep -o 'Time: [0-9.]* ms' | tail -n "$RUNS" \
    | awk '{print $2 / 1000}' > "$WORK/pg.t"
  pg=$(median < "$WORK/pg.t")
  rows=$(psql -X -q -d "$DSN" -A -t -f "$query" | wc -l)
  : > "$WORK/cli.t"
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -f %e -a -o "$WORK/cli.t" "$BIN" --lake "$WORK/lake" sql -f "$query" --format csv >/dev/null
  done
  cli=$(grep -v Command "$WORK/cli.t" | median)
  duck=$(awk -v n="$name" '$2 == n {print $3}' "$WORK/duck.txt")
  duck_rows=$(awk -v n="$name" '$2 == n {print $4}' "$WORK/duck.txt")
  awk -v n="$name" -v p="$pg" -v c="$cli" -v d="$duck" -v r="$rows" -v dr="$duck_rows" \
    'BEGIN { printf "%-6s %12.4f %12.4f %12.4f %9.2fx %6s\n", n, p, c, d, p / d, (r == dr ? r : r "/" dr) }'
done
awk -v c="$connect" 'BEGIN { printf "new connection (psql -c \"SELECT 1\", whole command): %.3f s\n", c }'
