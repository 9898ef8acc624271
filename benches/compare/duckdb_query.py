"""Times the five comparison questions with DuckDB over its own flat Parquet tables.

Usage: duckdb_query.py DIR REPEATS  → prints `name seconds` (median) per question.
"""
import statistics
import sys
import time
import duckdb

DIR, REPEATS = sys.argv[1], int(sys.argv[2])
con = duckdb.connect()
for t in ["conversations", "participants", "sessions", "metrics", "segments"]:
    con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{DIR}/{t}.parquet')")
QUESTIONS = {
    "q1_per_day_media": """SELECT CAST(c.conversationStart AS DATE) d, s.mediaType, count(DISTINCT c.conversationId)
        FROM conversations c JOIN sessions s USING (conversationId) WHERE s.purpose IN ('customer', 'external') GROUP BY 1, 2""",
    "q2_aht_per_queue": "SELECT queueId, avg(value) FROM metrics WHERE name = 'tHandle' GROUP BY 1",
    "q3_abandon_rate_queue_hour": """SELECT queueId, date_trunc('hour', emitDate) h,
        count(*) FILTER (WHERE name = 'tAbandon') * 1.0 / nullif(count(*) FILTER (WHERE name = 'nOffered'), 0)
        FROM metrics WHERE name IN ('tAbandon', 'nOffered') GROUP BY 1, 2""",
    "q4_top_agents": """SELECT userId, count(DISTINCT conversationId) n FROM metrics WHERE name = 'tHandle'
        GROUP BY 1 ORDER BY n DESC LIMIT 10""",
    "q5_attribute_filter": """SELECT count(*) FROM participants WHERE attributes['CustomerSegment'] = 'Gold'""",
}
for name, sql in QUESTIONS.items():
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        con.execute(sql).to_arrow_table()
        times.append(time.perf_counter() - started)
    print(name, statistics.median(times))
