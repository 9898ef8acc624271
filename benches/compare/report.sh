#!/usr/bin/env bash
# The reports of a week, as CSV and as the one HTML file, over a generated center: whole
# commands (`report run --all`), medians of farm-bench's runs, HTML against CSV paired in the
# same run, the HTML file's size and the center's queues and agents.
#
#   benches/compare/report.sh [CONVERSATIONS_PER_DAY] [DAYS] [GRANULARITY] [WORKDIR]
#                                                   (default 20000, 7, PT30M: a large center)
#   QUEUES=20 AGENTS=200 (the default) size the center.
set -euo pipefail
PER_DAY="${1:-20000}"
DAYS="${2:-7}"
GRAN="${3:-PT30M}"
WORK="${4:-/tmp/convlake-report-bench}"
source "$(dirname "$0")/common.sh"
rm -rf "$WORK" && mkdir -p "$WORK"
N=$((PER_DAY * DAYS))
"$BIN" generate --conversations "$N" --days "$DAYS" --start 2026-11-02T00:00:00.000Z \
  --queues "${QUEUES:-20}" --agents "${AGENTS:-200}" --out "$WORK/export.ndjson" --names "$WORK/names.csv" 2>/dev/null
"$BIN" --lake "$WORK/lake" ingest "$WORK/export.ndjson" > /dev/null
end=$(date -u -d "2026-11-02 + $DAYS days" +%Y-%m-%dT00:00:00Z)
interval="2026-11-02T00:00:00Z/$end"
queues=$("$BIN" --lake "$WORK/lake" sql --format csv "SELECT count(DISTINCT queue_id) FROM metrics WHERE queue_id IS NOT NULL" | tail -1)
agents=$("$BIN" --lake "$WORK/lake" sql --format csv "SELECT count(DISTINCT user_id) FROM metrics WHERE user_id IS NOT NULL" | tail -1)
echo "center: $N conversations over $DAYS days, $queues queues, $agents agents, $GRAN; $(nproc) cores"
run() {
  echo "$BIN --lake $WORK/lake report run --all --interval $interval --granularity $GRAN --tz Europe/Berlin --names $WORK/names.csv --out $WORK/$1 --format $1"
}
farm-bench -n 5 --timeout 1200 --vs "$(run csv)" -- $(run html)
echo "report.html: $(du -k "$WORK/html/report.html" | cut -f1) KB ($(grep -o '<svg' "$WORK/html/report.html" | wc -l) charts); the CSV files: $(du -ck "$WORK"/csv/*.csv | tail -1 | cut -f1) KB"
