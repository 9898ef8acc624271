# Sourced by the comparison scripts of this directory: sets `repo`, `BIN` (the release build of
# convlake, built here unless CONVLAKE_BIN names a binary to time, for instance a copy of an
# older build to pair against) and `median`; `need_duckdb` and `need_time` install DuckDB and
# pyarrow from PyPI, and GNU time from Debian, when missing.
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/convlake-target}"
if [ -n "${CONVLAKE_BIN:-}" ]; then
  BIN="$CONVLAKE_BIN"
else
  cargo build --release --quiet --manifest-path "$repo/Cargo.toml" --bin convlake
  BIN="$CARGO_TARGET_DIR/release/convlake"
fi
export CONVLAKE_BIN="$BIN"

# median: the median of the numbers on stdin, one per line.
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
need_duckdb() { python3 -c "import duckdb, pyarrow" 2>/dev/null || pip install --quiet duckdb pyarrow; }
need_time() { [ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time; }; }
