#!/usr/bin/env bash
# Weeks of nightly ingests with re-exports, convlake against DuckDB, in one run on this machine.
#
#   benches/compare/nightly.sh [CONVERSATIONS_PER_NIGHT] [NIGHTS] [WORKDIR]
#
# Night n brings one day of conversations (a tenth of them exported early, in progress) and
# the re-export of the day before, complete. convlake ingests each night into one lake (upsert
# by freshness, compaction after the ingest when a month holds too many small files); DuckDB
# converts the same night's files into flat zstd Parquet tables of their own directory (it has
# no upsert: a re-exported conversation is then stored twice). Prints the median and total
# wall time per night for both, the largest peak RSS, and the files each keeps at the end;
# then checks that convlake's lake holds each conversation once.
set -euo pipefail
N="${1:-2000}"
NIGHTS="${2:-30}"
WORK="${3:-/tmp/convlake-nightly}"
source "$(dirname "$0")/common.sh"
need_duckdb
need_time

rm -rf "$WORK"
mkdir -p "$WORK/input" "$WORK/duck"
base=$(date -u -d 2026-10-01 +%s)
for night in $(seq 0 $((NIGHTS - 1))); do
  day=$(date -u -d "@$((base + night * 86400))" +%Y-%m-%dT00:00:00.000Z)
  "$BIN" generate --conversations "$N" --start "$day" --days 1 --seed "$((100 + night))" \
    --reexport-share 0.1 --format ndjson --out "$WORK/input/night-$night.ndjson" 2>/dev/null
done
BYTES=$(cat "$WORK"/input/night-*.ndjson | wc -c)
echo "input: $NIGHTS nights of $N conversations (+ re-exports), $((BYTES / 1000000)) MB of NDJSON; $(nproc) cores"

: > "$WORK/convlake.times"; : > "$WORK/duckdb.times"
for night in $(seq 0 $((NIGHTS - 1))); do
  inputs=("$WORK/input/night-$night.ndjson")
  [ "$night" -gt 0 ] && inputs+=("$WORK/input/night-$((night - 1)).reexport.ndjson")
  /usr/bin/time -f "%e %M" -o "$WORK/time.txt" "$BIN" --lake "$WORK/lake" ingest "${inputs[@]}" \
    > /dev/null 2> "$WORK/ingest.err" || { cat "$WORK/ingest.err"; exit 1; }
  cat "$WORK/time.txt" >> "$WORK/convlake.times"
  cat "${inputs[@]}" > "$WORK/duck-input.ndjson"
  mkdir -p "$WORK/duck/night-$night"
  /usr/bin/time -f "%e %M" -o "$WORK/time.txt" python3 "$repo/benches/compare/duckdb_ingest.py" flat \
    "$WORK/duck-input.ndjson" "$WORK/duck/night-$night" > /dev/null 2> "$WORK/duck.err" || { cat "$WORK/duck.err"; exit 1; }
  cat "$WORK/time.txt" >> "$WORK/duckdb.times"
done
rm -f "$WORK/duck-input.ndjson"

printf '\n%-10s %14s %10s %15s %7s\n' "per night" "median wall s" "total s" "max peak RSS MB" "files"
for name in convlake duckdb; do
  dir="$WORK/lake"; [ "$name" = duckdb ] && dir="$WORK/duck"
  files=$(find "$dir" -name '*.parquet' -not -path '*/_delta_log/*' | wc -l)
  awk -v n="$name" -v m="$(awk '{print $1}' "$WORK/$name.times" | median)" -v f="$files" \
    '{ t += $1; if ($2 > r) r = $2 } END { printf "%-10s %14.2f %10.1f %15.0f %7d\n", n, m, t, r / 1024, f }' \
    "$WORK/$name.times"
done
conv=$(awk '{print $1}' "$WORK/convlake.times" | median)
duck=$(awk '{print $1}' "$WORK/duckdb.times" | median)
awk -v c="$conv" -v d="$duck" 'BEGIN { printf "convlake per night: %.2fx DuckDB'"'"'s speed\n", d / c }'
"$BIN" --lake "$WORK/lake" sql --format csv \
  "SELECT count(*) AS conversations, count(DISTINCT conversation_id) AS distinct_ids FROM conversations"
