#!/usr/bin/env bash
# Ingest of the same records in start order and interleaved (`generate --order interleaved`:
# the whole period mixed through the file, as concatenated overlapping exports are), each
# against DuckDB's flat conversion of the same file in the same run, over a week and a year,
# for records of about 5 KB (`--detail standard`) and 9 KB (`--detail rich`): wall time
# (median of RUNS), MB/s of JSON, data files written, peak RSS.
#
#   benches/compare/order.sh [CONVERSATIONS] [WORKDIR]     (default 30000, /tmp/convlake-order)
#   RUNS=3 SPANS="7 365" DETAILS="standard rich"
set -euo pipefail
N="${1:-30000}"
WORK="${2:-/tmp/convlake-order}"
RUNS="${RUNS:-3}"
source "$(dirname "$0")/common.sh"
need_duckdb
need_time
rm -rf "$WORK" && mkdir -p "$WORK"

# timed NAME CMD...: medians of $RUNS runs of CMD (wall s, peak KB) into $WORK/NAME.med.
timed() {
  local name="$1"; shift
  : > "$WORK/$name.times"
  for _ in $(seq "$RUNS"); do
    rm -rf "$WORK/out" && mkdir -p "$WORK/out" && sync
    /usr/bin/time -f "%e %M" -o "$WORK/time.txt" "$@" > /dev/null 2> "$WORK/$name.err" || { cat "$WORK/$name.err"; exit 1; }
    cat "$WORK/time.txt" >> "$WORK/$name.times"
  done
  echo "$(awk '{print $1}' "$WORK/$name.times" | median) $(awk '{print $2}' "$WORK/$name.times" | median) \
$(find "$WORK/out" -name '*.parquet' -not -path '*/_delta_log/*' | wc -l)" > "$WORK/$name.med"
}

printf '%-6s %-9s %-12s %8s %10s %8s %7s %9s %12s\n' days detail order "JSON MB" "convlake s" "MB/s" files "RSS MB" "vs DuckDB"
for days in ${SPANS:-7 365}; do
  for detail in ${DETAILS:-standard rich}; do
    for order in start interleaved; do
      input="$WORK/$days-$detail-$order.ndjson"
      "$BIN" generate --conversations "$N" --days "$days" --seed 1 --order "$order" --detail "$detail" \
        --out "$input" 2>/dev/null
      timed convlake "$BIN" --lake "$WORK/out" ingest "$input"
      timed duckdb python3 "$repo/benches/compare/duckdb_ingest.py" flat "$input" "$WORK/out"
      read -r cw cr cf < "$WORK/convlake.med"
      read -r dw _ _ < "$WORK/duckdb.med"
      bytes=$(stat -c %s "$input")
      awk -v d="$days" -v t="$detail" -v o="$order" -v b="$bytes" -v cw="$cw" -v cr="$cr" -v cf="$cf" -v dw="$dw" \
        'BEGIN { printf "%-6s %-9s %-12s %8.0f %10.2f %8.1f %7d %9.0f %11.2fx\n", d, t, o, b / 1e6, cw, b / 1e6 / cw, cf, cr / 1024, dw / cw }'
      rm -f "$input"
    done
  done
done
