"""Load on `convlake serve --pg`: CLIENTS connections (psycopg, one thread each) ask a rotation
of questions over the first week of the lake for SECONDS, while the caller ingests later
weeks (new commits the sessions follow). Every answer must equal the answer a lone client got
before the load (the questions read only the first week, which the ingests do not touch).
Prints latency percentiles and the counts as JSON; exits 1 on any wrong answer or error.

    pg_load.py DSN CLIENTS SECONDS
"""

import json
import sys
import threading
import time

import psycopg

QUESTIONS = [
    "SELECT conversation_date, count(*) FROM conversations WHERE conversation_date < DATE '2026-11-09' GROUP BY 1 ORDER BY 1",
    "SELECT queue_id, sum(value) FROM metrics WHERE name = 'tHandle' AND conversation_date < DATE '2026-11-09' GROUP BY 1 ORDER BY 1",
    "SELECT purpose, count(*) FROM participants WHERE conversation_date < DATE '2026-11-09' GROUP BY 1 ORDER BY 1",
    "SELECT count(DISTINCT conversation_id) FROM segments WHERE conversation_date < DATE '2026-11-09' AND segment_type = 'hold'",
]


def answer(conn, sql):
    return conn.execute(sql).fetchall()


def main():
    dsn, clients, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    with psycopg.connect(dsn, autocommit=True) as conn:
        expected = [answer(conn, q) for q in QUESTIONS]
    latencies, wrong, errors = [], [], []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(index):
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                i = index
                while time.monotonic() < stop:
                    q = i % len(QUESTIONS)
                    started = time.monotonic()
                    got = answer(conn, QUESTIONS[q])
                    took = time.monotonic() - started
                    with lock:
                        latencies.append(took)
                        if got != expected[q]:
                            wrong.append(q)
                    i += 1
        except Exception as e:  # reported, and fails the run
            with lock:
                errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()

    def pct(p):
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 1) if latencies else None

    out = {
        "clients": clients,
        "seconds": seconds,
        "answers": len(latencies),
        "wrong": len(wrong),
        "errors": errors[:5],
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": pct(1.0),
    }
    print(json.dumps(out))
    sys.exit(1 if wrong or errors or not latencies else 0)


if __name__ == "__main__":
    main()
