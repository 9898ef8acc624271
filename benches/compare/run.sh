#!/usr/bin/env bash
# convlake against DuckDB on the same generated export, in one run on this machine.
#
#   benches/compare/run.sh [CONVERSATIONS] [WORKDIR]
#   DAYS=365 benches/compare/run.sh ...      the same number of conversations over a year
#   RUNS=3 ROUNDS=5                           ingest runs, rounds of the questions (defaults)
#
# Prints one table of medians (3 runs) and ratios: ingest (wall time, MB/s of JSON, peak RSS,
# output size) for convlake, DuckDB writing five flat zstd Parquet tables, and DuckDB writing
# one nested file; then the five questions of benches/queries and the report suite (medians of
# 5, the questions in ROUNDS interleaved rounds), the same SQL files for convlake over its lake
# and DuckDB over its flat Parquet, with ratios and a check that both return as many rows.
# Installs duckdb and pyarrow if missing.
set -euo pipefail
N="${1:-20000}"
WORK="${2:-/tmp/convlake-compare}"
RUNS="${RUNS:-3}"
DAYS="${DAYS:-7}"
source "$(dirname "$0")/common.sh"
need_duckdb
need_time

rm -rf "$WORK"
mkdir -p "$WORK/input"
"$BIN" generate --conversations "$N" --days "$DAYS" --seed 1 --format ndjson --out "$WORK/input/export.ndjson" 2>/dev/null
BYTES=$(stat -c %s "$WORK/input/export.ndjson")
echo "input: $N conversations over $DAYS days, $((BYTES / 1000000)) MB of NDJSON; $(nproc) cores; $RUNS runs each"


# measure NAME OUTDIR CMD...: runs CMD $RUNS times into a fresh OUTDIR; records medians.
declare -A WALL RSS SIZE FILES
measure() {
  local name="$1" out="$2"; shift 2
  : > "$WORK/$name.times"
  for _ in $(seq "$RUNS"); do
    rm -rf "$out"; mkdir -p "$out"
    sync
    /usr/bin/time -f "%e %M" -o "$WORK/time.txt" "$@" > /dev/null 2> "$WORK/$name.err" || { cat "$WORK/$name.err"; exit 1; }
    cat "$WORK/time.txt" >> "$WORK/$name.times"
  done
  WALL[$name]=$(awk '{print $1}' "$WORK/$name.times" | median)
  RSS[$name]=$(awk '{print $2}' "$WORK/$name.times" | median)
  SIZE[$name]=$(du -sb --exclude=_convlake --exclude=_delta_log "$out" | awk '{print $1}')
  FILES[$name]=$(find "$out" -name '*.parquet' -not -path '*/_delta_log/*' | wc -l)
}
measure convlake "$WORK/lake" "$BIN" --lake "$WORK/lake" ingest "$WORK/input"
measure duckdb_flat "$WORK/duck_flat" python3 "$repo/benches/compare/duckdb_ingest.py" flat "$WORK/input/export.ndjson" "$WORK/duck_flat"
measure duckdb_nested "$WORK/duck_nested" python3 "$repo/benches/compare/duckdb_ingest.py" nested "$WORK/input/export.ndjson" "$WORK/duck_nested"
# The lake of the last convlake run is kept for the queries; rebuild it (measure removes it).
rm -rf "$WORK/lake"; "$BIN" --lake "$WORK/lake" ingest "$WORK/input" 2>/dev/null
rm -rf "$WORK/duck_flat"; mkdir -p "$WORK/duck_flat"; python3 "$repo/benches/compare/duckdb_ingest.py" flat "$WORK/input/export.ndjson" "$WORK/duck_flat"

printf '\n%-15s %9s %9s %11s %10s %6s %10s\n' "ingest" "wall s" "MB/s" "peak RSS MB" "output MB" "files" "vs convlake"
for name in convlake duckdb_flat duckdb_nested; do
  awk -v n="$name" -v w="${WALL[$name]}" -v r="${RSS[$name]}" -v s="${SIZE[$name]}" -v f="${FILES[$name]}" -v b="$BYTES" -v c="${WALL[convlake]}" \
    'BEGIN { printf "%-15s %9.2f %9.1f %11.0f %10.1f %6d %9.2fx\n", n, w, b / 1e6 / w, r / 1024, s / 1e6, f, w / c }'
done

# The same SQL files on both engines: the five questions (benches/queries) and the report
# suite (sql/reports with sql/views), DuckDB over its flat Parquet (see duckdb_query.py for the
# few translations), convlake over its lake; row counts must agree. The questions take 10-60 ms,
# where the machine's load moves either engine by a third between minutes: they run in ROUNDS
# rounds (DuckDB's five, then convlake's five, median of 5 runs each), and the table gives the
# median over rounds with the lowest and highest ratio of a round. Reports: medians of 5.
INTERVAL=2026-11-02T00:00:00Z/2026-11-09T00:00:00Z TZ=America/New_York GRANULARITY=PT30M
ROUNDS="${ROUNDS:-5}"
: > "$WORK/rounds.txt"
for round in $(seq "$ROUNDS"); do
  python3 "$repo/benches/compare/duckdb_query.py" "$WORK/duck_flat" 5 "$repo" "$INTERVAL" "$TZ" "$GRANULARITY" questions \
    | awk -v r="$round" '{ print r, "duckdb", $2, $3, $4 }' >> "$WORK/rounds.txt"
  for query in "$repo"/benches/queries/q*.sql; do
    rows=$("$BIN" --lake "$WORK/lake" sql --timing --repeat 5 -f "$query" --format csv 2>"$WORK/q.err" | tail -n +2 | wc -l)
    echo "$round convlake $(basename "$query" .sql) $(grep -o 'in [0-9.]*s' "$WORK/q.err" | tr -dc '0-9.') $rows" >> "$WORK/rounds.txt"
  done
done
python3 "$repo/benches/compare/duckdb_query.py" "$WORK/duck_flat" 5 "$repo" "$INTERVAL" "$TZ" "$GRANULARITY" | grep '^report' > "$WORK/duck_reports.txt"
: > "$WORK/report_runs.txt"
for run in 1 2 3 4 5; do
  "$BIN" --lake "$WORK/lake" report run --all --interval "$INTERVAL" --tz "$TZ" --granularity "$GRANULARITY" \
    --out "$WORK/reports" 2>&1 >/dev/null | awk 'NR > 1 { print $1, $3, $2 }' >> "$WORK/report_runs.txt"
done

printf '\n%-16s %11s %11s %8s %15s %6s\n' "question" "convlake s" "duckdb s" "ratio" "rounds' ratios" "rows"
for q in $(awk '{print $3}' "$WORK/rounds.txt" | sort -u); do
  ours=$(awk -v q="$q" '$2 == "convlake" && $3 == q {print $4}' "$WORK/rounds.txt" | median)
  theirs=$(awk -v q="$q" '$2 == "duckdb" && $3 == q {print $4}' "$WORK/rounds.txt" | median)
  ratios=$(awk -v q="$q" '$3 == q { t[$1 " " $2] = $4 } END { for (k in t) { split(k, a, " "); if (a[2] == "convlake") print t[k] / t[a[1] " duckdb"] } }' "$WORK/rounds.txt" | sort -g)
  rows=$(awk -v q="$q" '$3 == q && $1 == 1 { r[$2] = $5 } END { print (r["convlake"] == r["duckdb"] ? "same" : r["convlake"] "/" r["duckdb"]) }' "$WORK/rounds.txt")
  awk -v q="$q" -v a="$ours" -v b="$theirs" -v lo="$(echo "$ratios" | head -1)" -v hi="$(echo "$ratios" | tail -1)" -v rows="$rows" \
    'BEGIN { printf "%-16s %11.4f %11.4f %7.2fx %6.2f-%.2fx %6s\n", q, a, b, a / b, lo, hi, rows }'
done

printf '\n%-30s %11s %11s %8s %6s\n' "report (median of 5)" "convlake s" "duckdb s" "ratio" "rows"
for name in $(awk '{print $1}' "$WORK/report_runs.txt" | sort -u); do
  echo "$name $(awk -v n="$name" '$1 == n {print $2}' "$WORK/report_runs.txt" | median) $(awk -v n="$name" '$1 == n {print $3; exit}' "$WORK/report_runs.txt")"
done > "$WORK/ours.txt"
awk 'NR == FNR { ours[$1] = $2; rows[$1] = $3; next }
     { a = ours[$2]; b = $3; sa += a; sb += b
       printf "%-30s %11.4f %11.4f %7.2fx %6s\n", $2, a, b, a / b, (rows[$2] == $4 ? "same" : rows[$2] "/" $4) }
     END { printf "%-30s %11.4f %11.4f %7.2fx\n", "  all reports (sum)", sa, sb, sa / sb }' \
  "$WORK/ours.txt" "$WORK/duck_reports.txt"
