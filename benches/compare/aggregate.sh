#!/usr/bin/env bash
# A one-week PT30M conversation aggregate by queue (`convlake aggregate`, and through
# `convlake serve`) against the equivalent report (`convlake report run queue_performance`),
# over one lake, in one run on this machine.
#
#   benches/compare/aggregate.sh [CONVERSATIONS] [DAYS] [WORKDIR]
#       (default 400000 conversations over 28 days, /tmp/convlake-aggregate; about 1 GB of lake)
#
# Prints the lake's size, then the median wall time of RUNS (default 5) whole commands of
# each, and of RUNS requests to a running server (the lake opened once).
set -euo pipefail
N="${1:-400000}"
DAYS="${2:-28}"
WORK="${3:-/tmp/convlake-aggregate}"
RUNS="${RUNS:-5}"
source "$(dirname "$0")/common.sh"
mkdir -p "$WORK"
if [ ! -d "$WORK/lake" ]; then
  "$BIN" generate --conversations "$N" --days "$DAYS" --seed 1 --format ndjson --out "$WORK/export.ndjson" 2>/dev/null
  "$BIN" --lake "$WORK/lake" ingest "$WORK/export.ndjson" >/dev/null 2>&1
  rm -f "$WORK/export.ndjson"
fi
echo "lake: $N conversations over $DAYS days, $(du -sm "$WORK/lake" | cut -f1) MB; $RUNS runs each"
WEEK="2026-11-09T00:00:00Z/2026-11-16T00:00:00Z"
cat > "$WORK/body.json" <<JSON
{"interval": "$WEEK", "granularity": "PT30M", "groupBy": ["queueId"],
 "metrics": ["nOffered", "tAnswered", "tAbandon", "tShortAbandon", "tFlowOut", "tAcd", "oServiceLevel"]}
JSON
time_runs() {  # name, command...
  local name="$1"; shift
  : > "$WORK/$name.t"
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -f %e -a -o "$WORK/$name.t" "$@" >/dev/null 2>&1
  done
  grep -v Command "$WORK/$name.t" | median
}
report=$(time_runs report "$BIN" --lake "$WORK/lake" report run queue_performance --interval "$WEEK" \
  --granularity PT30M --service-level-keep-short-abandons --format csv --out "$WORK/out")
aggregate=$(time_runs aggregate "$BIN" --lake "$WORK/lake" aggregate "$WORK/body.json" --sl-target 20)
printf '%-34s %8s\n' "" "median s"
printf '%-34s %8.3f\n' "report run queue_performance" "$report"
awk -v a="$aggregate" -v r="$report" 'BEGIN { printf "%-34s %8.3f   %.2fx the report\n", "aggregate (whole command)", a, a / r }'
# The server: the lake is opened by the first request; later ones pay only for the query.
CONVLAKE_API_TOKENS=bench "$BIN" --lake "$WORK/lake" serve --http 127.0.0.1:0 --sl-target 20 2> "$WORK/serve.err" &
server=$!
trap 'kill $server 2>/dev/null' EXIT
for _ in $(seq 50); do grep -q http:// "$WORK/serve.err" 2>/dev/null && break; sleep 0.2; done
url=$(grep -o 'http://[0-9.:]*' "$WORK/serve.err" | head -1)
post() { curl -s -o /dev/null -w '%{time_total}\n' -H 'Authorization: Bearer bench' \
  -H 'Content-Type: application/json' --data-binary @"$WORK/body.json" "$url/api/v2/analytics/conversations/aggregates/query"; }
post >/dev/null
served=$(for _ in $(seq "$RUNS"); do post; done | median)
awk -v a="$served" -v r="$report" 'BEGIN { printf "%-34s %8.3f   %.2fx the report\n", "aggregate over HTTP (warm server)", a, a / r }'
