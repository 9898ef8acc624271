#!/usr/bin/env bash
# The same export size over a week and over a year, each against DuckDB in the same run:
# does the lake's layout hold when an export spans many days? Then a ten-year backfill of the
# same size, convlake alone: peak memory and files.
#
#   benches/compare/spans.sh [CONVERSATIONS] [WORKDIR]     (default 50000, /tmp/convlake-spans)
#
# Runs run.sh with DAYS=7, then DAYS=365, into WORKDIR/7 and WORKDIR/365.
set -euo pipefail
N="${1:-50000}"
WORK="${2:-/tmp/convlake-spans}"
source "$(dirname "$0")/common.sh"
need_time
for span in 7 365; do
  echo "== $span days"
  DAYS="$span" bash "$repo/benches/compare/run.sh" "$N" "$WORK/$span"
  rm -rf "$WORK/$span/duck_nested" "$WORK/$span/duck_flat"
  echo
done
echo "== 3650 days (convlake only)"
mkdir -p "$WORK/3650"
"$BIN" generate --conversations "$N" --days 3650 --seed 1 --format ndjson --out "$WORK/3650/export.ndjson" 2>/dev/null
rm -rf "$WORK/3650/lake"
/usr/bin/time -f "%e %M" -o "$WORK/3650/time.txt" "$BIN" --lake "$WORK/3650/lake" ingest "$WORK/3650/export.ndjson" 2>/dev/null
read -r wall rss < "$WORK/3650/time.txt"
files=$(find "$WORK/3650/lake" -name '*.parquet' -not -path '*/_delta_log/*' | wc -l)
bytes=$(stat -c %s "$WORK/3650/export.ndjson")
awk -v w="$wall" -v r="$rss" -v f="$files" -v b="$bytes" \
  'BEGIN { printf "ten years: %.0f MB of JSON in %.2f s (%.1f MB/s), peak RSS %.0f MB, %d data files\n", b / 1e6, w, b / 1e6 / w, r / 1024, f }'
