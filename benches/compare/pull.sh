#!/usr/bin/env bash
# `convlake pull` from the mock org of the tests (tests/python/genesys_mock.py, the SDK check of
# answers off): a month of a center's conversations, pages of 1,000, the directory included.
# Prints conversations per second, requests per conversation, the pull's peak RSS, and the
# same for a second pull (the three-day refetch of a nightly run).
#
#   benches/compare/pull.sh [CONVERSATIONS_PER_DAY] [DAYS] [WORKDIR]     (default 300, 30)
#   PULL_ARGS="--jobs 1" passes options to both pulls.
#
# Needs the Genesys SDK in a Python environment: the tests' one under the target directory
# (made by the first run of the test suite), or PYTHON naming another.
set -euo pipefail
PER_DAY="${1:-300}"
DAYS="${2:-30}"
WORK="${3:-/tmp/convlake-pull-bench}"
source "$(dirname "$0")/common.sh"
need_time
PYTHON="${PYTHON:-$CARGO_TARGET_DIR/tmp/convlake-pyenv/venv/bin/python}"
"$PYTHON" -c "import PureCloudPlatformClientV2" 2>/dev/null || {
  echo "no Genesys SDK in $PYTHON: run the test suite once (cargo test), or set PYTHON" >&2
  exit 1
}
rm -rf "$WORK" && mkdir -p "$WORK"
N=$((PER_DAY * DAYS))
"$BIN" generate --conversations "$N" --days "$DAYS" --start 2026-10-01T00:00:00.000Z \
  --out "$WORK/org.ndjson" --names "$WORK/names.csv" 2>/dev/null
end=$(date -u -d "2026-10-01 + $DAYS days" +%Y-%m-%dT00:00:00.000Z)
cat > "$WORK/scenario.json" <<EOF
{"client_id": "bench", "client_secret": "bench-secret", "conversations": "$WORK/org.ndjson",
 "names": "$WORK/names.csv", "availability": "$end", "validate": false}
EOF
"$PYTHON" "$repo/tests/python/genesys_mock.py" "$WORK/scenario.json" > "$WORK/mock.out" &
mock=$!
trap 'kill $mock 2>/dev/null' EXIT
for _ in $(seq 200); do [ -s "$WORK/mock.out" ] && break; sleep 0.2; done
port=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['port'])" "$WORK/mock.out")
echo "org: $N conversations over $DAYS days ($(du -m "$WORK/org.ndjson" | cut -f1) MB of JSON); $(nproc) cores"

run() {
  local label="$1"; shift
  local started ended
  started=$(date +%s.%N)
  GENESYSCLOUD_OAUTHCLIENT_ID=bench GENESYSCLOUD_OAUTHCLIENT_SECRET=bench-secret \
    /usr/bin/time -f "%M" -o "$WORK/rss" \
    "$BIN" --lake "$WORK/lake" pull --api-url "http://127.0.0.1:$port" --page-size 1000 --json "$@" > "$WORK/summary.json"
  ended=$(date +%s.%N)
  python3 - "$label" "$started" "$ended" "$WORK/summary.json" "$WORK/rss" <<'PY'
import json, sys
label, a, b, summary, rss = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), json.load(open(sys.argv[4])), int(open(sys.argv[5]).read().split()[-1])
n = summary["conversations_fetched"]
print(f"{label}: {n} conversations in {b - a:.1f} s ({n / (b - a):.0f}/s), {summary['slices']} slices, "
      f"{summary['requests']} requests ({summary['requests'] / max(n, 1):.4f} a conversation), "
      f"new {summary['conversations_new']}, unchanged {summary['conversations_unchanged']}, peak RSS {rss / 1024:.0f} MB")
PY
}
run "first pull (the month)" --since 2026-10-01 ${PULL_ARGS:-}
run "second pull (refetch P3D)" ${PULL_ARGS:-}
