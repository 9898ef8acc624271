#!/usr/bin/env bash
# The same export size over a week and over a year, each against DuckDB in the same run:
# does the lake's layout hold when an export spans many days?
#
#   benches/compare/spans.sh [CONVERSATIONS] [WORKDIR]     (default 50000, /tmp/convlake-spans)
#
# Runs run.sh with DAYS=7, then DAYS=365, into WORKDIR/week and WORKDIR/year.
set -euo pipefail
N="${1:-50000}"
WORK="${2:-/tmp/convlake-spans}"
here="$(cd "$(dirname "$0")" && pwd)"
for span in 7 365; do
  echo "== $span days"
  DAYS="$span" bash "$here/run.sh" "$N" "$WORK/$span"
  echo
done
