"""Times convlake's own SQL with DuckDB over the flat Parquet tables of duckdb_ingest.py.

Usage: duckdb_query.py DIR REPEATS REPO INTERVAL TZ GRANULARITY [questions]
  → prints `question NAME SECONDS ROWS` for benches/queries/q*.sql and
    `report NAME SECONDS ROWS` for sql/reports/*.sql (seconds: median of REPEATS);
    with `questions`, the questions only.

The files run as they are, with the views of sql/views, after these translations:
- `tz_bucket` and `kv_lookup` (convlake's SQL functions) are DuckDB macros below;
- `first_value(x ORDER BY y)` as an aggregate is DuckDB's `first(x ORDER BY y)`;
- `CAST(t AS BIGINT)` of a timestamp column (epoch microseconds in DataFusion) is `epoch_us(t)`;
- voice_quality reads the flat `sessions.media_endpoint_stats` (DuckDB's tables have no
  nested `participants.sessions`), see voice_quality().
"""
import datetime as dt
import glob
import os
import re
import statistics
import sys
import time
import duckdb

DIR, REPEATS, REPO = sys.argv[1], int(sys.argv[2]), sys.argv[3]
INTERVAL, TZ, GRANULARITY = sys.argv[4], sys.argv[5], sys.argv[6]
QUESTIONS_ONLY = sys.argv[7:] == ["questions"]

con = duckdb.connect()
try:
    # DuckDB 2 refuses the `x -> expr` lambdas these scripts use unless asked to keep them.
    con.execute("SET lambda_syntax = 'ENABLE_SINGLE_ARROW'")
except duckdb.Error:
    pass  # DuckDB 1.x takes them as they are.
con.execute("SET TimeZone = 'UTC'")
for t in ["conversations", "participants", "sessions", "metrics", "segments"]:
    con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{DIR}/{t}.parquet')")
BUCKETS = {"PT15M": "15 minutes", "PT30M": "30 minutes", "PT1H": "1 hour", "P1D": "1 day", "P1W": "7 days"}
widths = " ".join(f"WHEN '{k}' THEN INTERVAL '{v}'" for k, v in BUCKETS.items())
con.execute(f"CREATE MACRO tz_bucket(t, g, z) AS time_bucket(CASE g {widths} END, t, z)")
con.execute("""CREATE MACRO kv_lookup(pairs, k) AS TRY_CAST(split_part(
    list_filter(string_split(pairs, ','), e -> split_part(e, '=', 1) = k)[1], '=', 2) AS BIGINT)""")


def translate(sql):
    sql = re.sub(r"\bfirst_value\(", "first(", sql)
    return re.sub(r"CAST\((?!NULL\b)([\w.]+) AS BIGINT\)", r"epoch_us(\1)", sql)


# Views may read other views: create them in rounds until every one exists.
views = sorted(glob.glob(f"{REPO}/sql/views/*.sql"))
while views:
    waiting = []
    for path in views:
        try:
            con.execute(translate(open(path).read()))
        except duckdb.CatalogException:
            waiting.append(path)
    if len(waiting) == len(views):
        raise SystemExit(f"views that cannot be created: {waiting}")
    views = waiting

# voice_quality's stats come from DuckDB's flat sessions instead of unnesting
# participants.sessions; the rest of the report (what it computes) is taken from the file.
VOICE_QUALITY_STATS = """
WITH stats AS (
    SELECT conversation_id, edge_id, queue_id, unnest(media_endpoint_stats) AS stat
    FROM sessions
    WHERE conversation_date BETWEEN $min_date AND $max_date AND media_type = 'voice'
)
"""


def voice_quality(report):
    """The report with its stats CTE (up to the final SELECT) replaced by VOICE_QUALITY_STATS."""
    _, final = re.split(r"\n\)\nSELECT\n", report, maxsplit=1)
    return VOICE_QUALITY_STATS + "SELECT\n" + final


start, end = (dt.datetime.fromisoformat(t.replace("Z", "+00:00")) for t in INTERVAL.split("/"))
PARAMS = {
    # The same values convlake's ReportParams::bind gives with default settings.
    "interval_start": start, "interval_end": end,
    "min_date": (start - dt.timedelta(days=7)).date(), "max_date": end.date(),
    "tz": TZ, "granularity": GRANULARITY, "queues": "", "media_types": "", "users": "",
    "sl_target_ms": 20000, "sl_queue_targets_ms": "", "sl_include_flow_outs": False,
    "sl_exclude_short_abandons": True,
}


def timed(kind, name, sql):
    sql = translate(sql)
    params = {k: v for k, v in PARAMS.items() if f"${k}" in sql}
    times, rows = [], 0
    for _ in range(REPEATS):
        started = time.perf_counter()
        rows = con.sql(sql, params=params).to_arrow_table().num_rows
        times.append(time.perf_counter() - started)
    print(kind, name, statistics.median(times), rows, flush=True)


for path in sorted(glob.glob(f"{REPO}/benches/queries/q*.sql")):
    timed("question", os.path.basename(path)[:-4], open(path).read())
for path in [] if QUESTIONS_ONLY else sorted(glob.glob(f"{REPO}/sql/reports/*.sql")):
    name = os.path.basename(path)[:-4]
    sql = open(path).read()
    timed("report", name, voice_quality(sql) if name == "voice_quality" else sql)
