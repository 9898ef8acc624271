#!/usr/bin/env bash
# convlake ingest at growing input sizes: is throughput flat and peak memory bounded?
#
#   benches/compare/scale.sh [WORKDIR] [CONVERSATIONS...]
#
# For each size (default 20000 100000 200000 400000 conversations, about 100 MB to 2 GB of
# NDJSON), generates an export, ingests it into an empty lake $RUNS times (default 3) and
# prints the medians: wall time, MB/s of JSON, peak RSS, files written. Input files are
# removed after their size is measured, so the disk holds one export at a time.
set -euo pipefail
WORK="${1:-/tmp/convlake-scale}"
shift || true
if [ $# -gt 0 ]; then SIZES=("$@"); else SIZES=(20000 100000 200000 400000); fi
RUNS="${RUNS:-3}"
source "$(dirname "$0")/common.sh"
need_time

rm -rf "$WORK"
mkdir -p "$WORK"
printf '%-14s %9s %9s %9s %12s %7s\n' "conversations" "input MB" "wall s" "MB/s" "peak RSS MB" "files"
for n in "${SIZES[@]}"; do
  input="$WORK/export-$n.ndjson"
  "$BIN" generate --conversations "$n" --seed 1 --format ndjson --out "$input" 2>/dev/null
  bytes=$(stat -c %s "$input")
  : > "$WORK/times"
  for _ in $(seq "$RUNS"); do
    rm -rf "$WORK/lake"
    sync
    /usr/bin/time -f "%e %M" -o "$WORK/time.txt" "$BIN" --lake "$WORK/lake" ingest --json "$input" > "$WORK/summary.json"
    cat "$WORK/time.txt" >> "$WORK/times"
  done
  files=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['files_written'])" "$WORK/summary.json")
  wall=$(awk '{print $1}' "$WORK/times" | median)
  rss=$(awk '{print $2}' "$WORK/times" | median)
  awk -v n="$n" -v b="$bytes" -v w="$wall" -v r="$rss" -v f="$files" \
    'BEGIN { printf "%-14d %9.0f %9.2f %9.1f %12.0f %7d\n", n, b / 1e6, w, b / 1e6 / w, r / 1024, f }'
  rm -rf "$input" "$WORK/lake"
done
