#!/usr/bin/env bash
# convlake against DuckDB on the same generated export, in one run on this machine.
#
#   benches/compare/run.sh [CONVERSATIONS] [WORKDIR]
#
# Prints one table of medians (3 runs) and ratios: ingest (wall time, MB/s of JSON, peak RSS,
# output size) for convlake, DuckDB writing five flat zstd Parquet tables, and DuckDB writing
# one nested file; then the five questions of benches/queries (median of 5) for convlake over
# its lake and DuckDB over its flat Parquet. Installs duckdb and pyarrow from PyPI if missing.
set -euo pipefail
N="${1:-20000}"
WORK="${2:-/tmp/convlake-compare}"
RUNS="${RUNS:-3}"
repo="$(cd "$(dirname "$0")/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/convlake-target}"
cargo build --release --quiet --manifest-path "$repo/Cargo.toml" --bin convlake
BIN="$CARGO_TARGET_DIR/release/convlake"
python3 -c "import duckdb, pyarrow" 2>/dev/null || pip install --quiet duckdb pyarrow
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time; }

rm -rf "$WORK"
mkdir -p "$WORK/input"
"$BIN" generate --conversations "$N" --seed 1 --format ndjson --out "$WORK/input/export.ndjson" 2>/dev/null
BYTES=$(stat -c %s "$WORK/input/export.ndjson")
echo "input: $N conversations, $((BYTES / 1000000)) MB of NDJSON; $(nproc) cores; $RUNS runs each"

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# measure NAME OUTDIR CMD...: runs CMD $RUNS times into a fresh OUTDIR; records medians.
declare -A WALL RSS SIZE
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
  SIZE[$name]=$(du -sb --exclude=_convlake "$out" | awk '{print $1}')
}
measure convlake "$WORK/lake" "$BIN" --lake "$WORK/lake" ingest "$WORK/input"
measure duckdb_flat "$WORK/duck_flat" python3 "$repo/benches/compare/duckdb_ingest.py" flat "$WORK/input/export.ndjson" "$WORK/duck_flat"
measure duckdb_nested "$WORK/duck_nested" python3 "$repo/benches/compare/duckdb_ingest.py" nested "$WORK/input/export.ndjson" "$WORK/duck_nested"
# The lake of the last convlake run is kept for the queries; rebuild it (measure removes it).
rm -rf "$WORK/lake"; "$BIN" --lake "$WORK/lake" ingest "$WORK/input" 2>/dev/null
rm -rf "$WORK/duck_flat"; mkdir -p "$WORK/duck_flat"; python3 "$repo/benches/compare/duckdb_ingest.py" flat "$WORK/input/export.ndjson" "$WORK/duck_flat"

printf '\n%-15s %9s %9s %11s %10s %10s\n' "ingest" "wall s" "MB/s" "peak RSS MB" "output MB" "vs convlake"
for name in convlake duckdb_flat duckdb_nested; do
  awk -v n="$name" -v w="${WALL[$name]}" -v r="${RSS[$name]}" -v s="${SIZE[$name]}" -v b="$BYTES" -v c="${WALL[convlake]}" \
    'BEGIN { printf "%-15s %9.2f %9.1f %11.0f %10.1f %9.2fx\n", n, w, b / 1e6 / w, r / 1024, s / 1e6, w / c }'
done

printf '\n%-28s %12s %12s %9s\n' "question (median of 5)" "convlake s" "duckdb s" "ratio"
python3 "$repo/benches/compare/duckdb_query.py" "$WORK/duck_flat" 5 > "$WORK/duck_queries.txt"
i=0
while read -r name duck; do
  i=$((i + 1))
  ours=$("$BIN" --lake "$WORK/lake" sql --timing --repeat 5 -f "$repo/benches/queries/q$i.sql" 2>&1 >/dev/null | grep -o 'in [0-9.]*s' | tr -dc '0-9.')
  awk -v n="$name" -v a="$ours" -v b="$duck" 'BEGIN { printf "%-28s %12.4f %12.4f %8.2fx\n", n, a, b, a / b }'
done < "$WORK/duck_queries.txt"

# The report suite over the lake (DuckDB has no port of the reports: convlake alone).
: > "$WORK/reports.times"
for _ in $(seq "$RUNS"); do
  /usr/bin/time -f "%e %M" -o "$WORK/time.txt" "$BIN" --lake "$WORK/lake" report run --all \
    --interval 2026-11-02T00:00:00Z/2026-11-09T00:00:00Z --tz America/New_York \
    --granularity PT30M --out "$WORK/reports" > /dev/null 2>&1
  cat "$WORK/time.txt" >> "$WORK/reports.times"
done
awk -v w="$(awk '{print $1}' "$WORK/reports.times" | median)" -v r="$(awk '{print $2}' "$WORK/reports.times" | median)" \
  'BEGIN { printf "\nreport suite (10 reports, PT30M, one week; median of runs): %.2f s, peak RSS %.0f MB\n", w, r / 1024 }'
