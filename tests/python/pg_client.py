"""A PostgreSQL client of `convlake serve --pg`, as BI tools and notebooks use it: psycopg 3
and pandas. Called by tests/it/pg.rs with a mode and a connection string; prints JSON for the
Rust test to compare with `convlake sql`, and fails (exit 1) on anything it can check itself.

    pg_client.py read DSN SQL    every table and view: rows, column types, typed values; the
                                 BI tools' startup statements of the file SQL
    pg_client.py refusals DSN    wrong password, write statements, the statement timeout
    pg_client.py concurrent DSN  several clients at once get the same answers as one alone
    pg_client.py prepared DSN    a prepared statement before and after a commit (stdin paces)
    pg_client.py copy DSN        COPY (query) TO STDOUT in binary and text, and an empty one
"""

import datetime
import json
import sys
import threading
import warnings

import pandas
import psycopg

warnings.filterwarnings("ignore", message=".*SQLAlchemy.*")


def fail(message):
    print(message, file=sys.stderr)
    sys.exit(1)


def relations(conn):
    rows = conn.execute(
        "SELECT table_name, table_type FROM information_schema.tables "
        "WHERE table_schema = 'public' ORDER BY table_name"
    ).fetchall()
    return [(name, kind) for name, kind in rows]


def read(dsn):
    out = {"relations": {}, "values": {}}
    with psycopg.connect(dsn) as conn:
        names = relations(conn)
        if not names:
            fail("information_schema.tables lists no tables")
        for name, kind in names:
            cur = conn.execute(f'SELECT * FROM "{name}"')
            rows = cur.fetchall()
            types = {}
            for column in cur.description:
                info = psycopg.adapters.types.get(column.type_code)
                if info is None:
                    types[column.name] = str(column.type_code)
                elif info.array_oid == column.type_code:
                    types[column.name] = info.name + "[]"
                else:
                    types[column.name] = info.name
            for row in rows:
                for column, value in zip(cur.description, row):
                    kind_name = types[column.name]
                    if value is None:
                        continue
                    if kind_name == "timestamptz":
                        if not isinstance(value, datetime.datetime) or value.tzinfo is None:
                            fail(f"{name}.{column.name}: {value!r} is not an aware datetime")
                    if kind_name == "text" and not isinstance(value, str):
                        fail(f"{name}.{column.name}: {value!r} is not text")
            frame = pandas.read_sql(f'SELECT * FROM "{name}"', conn)
            if len(frame) != len(rows):
                fail(f"{name}: pandas read {len(frame)} rows, psycopg {len(rows)}")
            out["relations"][name] = {
                "kind": kind,
                "rows": len(rows),
                "types": types,
                "pandas_columns": list(frame.columns),
            }
        # Typed values of one conversation, to compare with `convlake sql`.
        conv = "1bc96a39-6725-40c4-9345-db72aa67b8c6"
        row = conn.execute(
            "SELECT conversation_start, originating_direction, attributes_json "
            "FROM (SELECT c.conversation_start, c.originating_direction, "
            "(SELECT p.attributes FROM participants p WHERE p.conversation_id = c.conversation_id "
            "AND p.purpose = 'customer') AS attributes_json FROM conversations c "
            "WHERE c.conversation_id = %s)",
            (conv,),
        ).fetchone()
        start, direction, attributes = row
        sessions = conn.execute(
            "SELECT purpose, sessions FROM participants WHERE conversation_id = %s ORDER BY purpose",
            (conv,),
        ).fetchall()
        parsed = [(p, json.loads(s)) for p, s in sessions]
        if not all(isinstance(s, list) and s and isinstance(s[0], dict) for _, s in parsed):
            fail(f"sessions are not JSON lists of objects: {sessions[:1]!r}")
        out["values"] = {
            "conversation_start": start.astimezone(datetime.timezone.utc).isoformat(),
            "originating_direction": direction,
            "attributes": json.loads(attributes) if attributes is not None else None,
            "session_media": [(p, s[0]["media_type"]) for p, s in parsed],
        }
        # What BI tools send on connect, through psycopg's extended protocol this time.
        startup = open(sys.argv[3]).read()
        statements = [s for s in startup.split(";\n") if s.strip() and not s.strip().startswith("--")]
        for statement in statements:
            body = "\n".join(l for l in statement.splitlines() if not l.startswith("--"))
            cur = conn.execute(body.replace("%", "%%"))
            if cur.description is not None:
                cur.fetchall()
        out["values"]["startup_statements"] = len(statements)
        # A prepared statement with a parameter (the extended protocol, binary results).
        with conn.cursor(binary=True) as cur:
            cur.execute(
                "SELECT count(*) AS n, min(conversation_start) AS first FROM conversations "
                "WHERE conversation_date >= %s",
                (datetime.date(2000, 1, 1),),
            )
            n, first = cur.fetchone()
            out["values"]["binary_count"] = n
            out["values"]["binary_first"] = first.astimezone(datetime.timezone.utc).isoformat()
    print(json.dumps(out, default=str))


def expect_error(label, sqlstate, action, text=None):
    """Runs `action`, which must fail with `sqlstate` (libpq reports none for a refused
    login: then the message must hold `text`)."""
    try:
        action()
    except psycopg.Error as e:
        if e.sqlstate is None and text is not None and text in str(e):
            return str(e).strip()
        if e.sqlstate != sqlstate:
            fail(f"{label}: SQLSTATE {e.sqlstate} ({e}), wanted {sqlstate}")
        return str(e).strip()
    fail(f"{label}: no error")


def refusals(dsn):
    out = {}
    wrong = psycopg.conninfo.make_conninfo(dsn, password="not-the-password")
    out["wrong_password"] = expect_error(
        "wrong password",
        "28P01",
        lambda: psycopg.connect(wrong).close(),
        'password authentication failed for user "analyst"',
    )
    unknown = psycopg.conninfo.make_conninfo(dsn, user="nobody", password="x")
    out["unknown_user"] = expect_error(
        "unknown user",
        "28P01",
        lambda: psycopg.connect(unknown).close(),
        'password authentication failed for user "nobody"',
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        for sql in [
            "INSERT INTO conversations (conversation_id) VALUES ('x')",
            "DELETE FROM participants",
            "DROP TABLE metrics",
            "CREATE TABLE t AS SELECT 1",
            "CREATE VIEW v AS SELECT 1",
            "COPY conversations TO '/tmp/x.csv'",
        ]:
            out[sql] = expect_error(sql, "25006", lambda sql=sql: conn.execute(sql))
        out["runtime_setting"] = expect_error(
            "a runtime setting",
            "42501",
            lambda: conn.execute("SET datafusion.runtime.memory_limit = '100G'"),
        )
        # The same forms the simple-protocol probes send (tests/it/pg_attacks.rs), here over
        # the extended protocol, prepared.
        for sql in [
            "SET \"datafusion.runtime.memory_limit\" = '100G'",
            "SET SESSION \"DataFusion\".\"Runtime\".\"Temp_Directory\" = '/'",
        ]:
            out[sql] = expect_error(sql, "42501", lambda sql=sql: conn.execute(sql, prepare=True))
        for sql in [
            "SELECT conversation_id INTO stolen FROM raw_conversations",
            "WITH s AS (SELECT 1 AS a INTO stolen) SELECT * FROM s",
            "DECLARE c CURSOR FOR SELECT 1 INTO stolen",
            "COPY (SELECT 1) TO '/tmp/stolen'",
        ]:
            out[sql] = expect_error(sql, "25006", lambda sql=sql: conn.execute(sql, prepare=True))
        out["stolen"] = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'stolen'"
        ).fetchone()[0]
        out["after_writes"] = conn.execute("SELECT count(*) FROM conversations").fetchone()[0]
        out["timeout"] = expect_error(
            "statement timeout",
            "57014",
            lambda: conn.execute("SELECT count(*) FROM generate_series(1, 20000000000)").fetchone(),
        )
        conn.execute("SET statement_timeout = '300ms'")
        out["client_timeout"] = expect_error(
            "client statement_timeout",
            "57014",
            lambda: conn.execute("SELECT count(*) FROM generate_series(1, 20000000000)").fetchone(),
        )
        out["after_timeout"] = conn.execute("SELECT count(*) FROM conversations").fetchone()[0]
        conn.execute("SET statement_timeout = 0")
        out["memory"] = expect_error(
            "session memory limit",
            "53200",
            lambda: conn.execute(
                "SELECT cardinality(array_agg(v)) FROM generate_series(1, 20000000) t(v)"
            ).fetchone(),
        )
        # A sort larger than the session's memory spills to disk instead.
        out["spilled_sort"] = conn.execute(
            "SELECT count(*) FROM (SELECT v FROM generate_series(1, 3000000) t(v) ORDER BY v DESC)"
        ).fetchone()[0]
        out["after_memory"] = conn.execute("SELECT count(*) FROM conversations").fetchone()[0]
    print(json.dumps(out))


QUERIES = [
    "SELECT count(*) FROM conversations",
    "SELECT purpose, count(*) FROM participants GROUP BY purpose ORDER BY purpose",
    "SELECT name, sum(value) FROM metrics GROUP BY name ORDER BY name",
    "SELECT p.purpose, count(*) FROM participants p, unnest(p.sessions) AS s GROUP BY p.purpose ORDER BY 1",
    "SELECT count(*) FROM segments",
]


def concurrent(dsn):
    def answers():
        with psycopg.connect(dsn) as conn:
            return [conn.execute(q).fetchall() for q in QUERIES]

    alone = answers()
    results, errors = [], []
    heavy_done = []

    def heavy():
        # One client's long query (stopped by its statement_timeout) runs beside the others.
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SET statement_timeout = '10s'")
            try:
                conn.execute("SELECT count(*) FROM generate_series(1, 50000000000)").fetchone()
            except psycopg.errors.QueryCanceled:
                pass
        heavy_done.append(True)

    hog = threading.Thread(target=heavy)
    hog.start()

    def worker():
        try:
            for _ in range(3):
                results.append(answers())
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    light_finished_first = not heavy_done
    hog.join()
    if not light_finished_first:
        fail("the light clients waited for the heavy query to end")
    if errors:
        fail(f"concurrent clients failed: {errors[:3]}")
    if len(results) != 18 or any(r != alone for r in results):
        fail(f"concurrent answers differ from a lone client's ({len(results)} answers)")
    print(json.dumps({"answers": len(results), "alone": [[list(r) for r in q] for q in alone]}, default=str))


def prepared(dsn):
    """A server-side prepared statement run before and after a commit: prints its count, waits
    for a line on stdin, prints it again."""
    query = "SELECT count(*) FROM conversations WHERE conversation_date >= %s"
    with psycopg.connect(dsn, prepare_threshold=0) as conn:
        for _ in range(2):
            count = conn.execute(query, (datetime.date(2000, 1, 1),), prepare=True).fetchone()[0]
            print(count, flush=True)
            sys.stdin.readline()


COPY_QUERY = "SELECT conversation_id, purpose FROM participants ORDER BY conversation_id, purpose"


def copy(dsn):
    out = {}
    with psycopg.connect(dsn, autocommit=True) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY ({COPY_QUERY}) TO STDOUT (FORMAT BINARY)") as data:
            data.set_types(["text", "text"])
            out["binary"] = [list(row) for row in data.rows()]
        with cur.copy(f"COPY ({COPY_QUERY}) TO STDOUT") as data:
            out["text_rows"] = sum(1 for _ in data.rows())
        empty = "COPY (SELECT conversation_id FROM conversations WHERE false) TO STDOUT WITH BINARY"
        with cur.copy(empty) as data:
            data.set_types(["text"])
            out["empty_binary_rows"] = sum(1 for _ in data.rows())
        # The session answers after each COPY.
        out["after"] = cur.execute("SELECT count(*) FROM conversations").fetchone()[0]
    print(json.dumps(out))


if __name__ == "__main__":
    mode, dsn = sys.argv[1], sys.argv[2]
    modes = {
        "read": read,
        "refusals": refusals,
        "concurrent": concurrent,
        "prepared": prepared,
        "copy": copy,
    }
    modes[mode](dsn)
