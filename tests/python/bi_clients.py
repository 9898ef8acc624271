"""The clients BI and data tools are built on, against `convlake serve --pg`: each lists the
tables and views, reads `participants`' columns, and runs a parameterised query. Called by
tests/it/pg_clients.rs with a client name and a connection URI; prints JSON for the Rust test
to compare with `convlake sql`, and fails (exit 1) with the client's own error otherwise.

    bi_clients.py sqlalchemy URI   SQLAlchemy 2's inspector over psycopg2 (Superset), and
                                   pandas.read_sql over it
    bi_clients.py connectorx URI   connectorx in each protocol, and polars.read_database_uri
    bi_clients.py adbc URI         the ADBC PostgreSQL driver (Arrow-native tools)
    bi_clients.py asyncpg URI      asyncpg (binary protocol)
"""

import json
import sys

QUERY = "SELECT conversation_id, purpose FROM participants WHERE purpose = {} ORDER BY conversation_id"
VALUE = "agent"


def rows(pairs):
    return sorted([str(a), str(b)] for a, b in pairs)


def sqlalchemy(uri):
    import pandas
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine("postgresql+psycopg2://" + uri.split("://", 1)[1])
    out = {}
    inspector = inspect(engine)
    out["tables"] = sorted(inspector.get_table_names(schema="public"))
    out["views"] = sorted(inspector.get_view_names(schema="public"))
    out["default_tables"] = sorted(inspector.get_table_names())
    out["columns"] = [c["name"] for c in inspector.get_columns("participants", schema="public")]
    out["has_table"] = inspector.has_table("participants", schema="public")
    # What Superset's dataset page reflects besides the columns: the lake has no keys,
    # indexes or constraints, and says so.
    out["keys"] = {
        "pk": inspector.get_pk_constraint("participants", schema="public")["constrained_columns"],
        "fk": inspector.get_foreign_keys("participants", schema="public"),
        "indexes": inspector.get_indexes("participants", schema="public"),
        "unique": inspector.get_unique_constraints("participants", schema="public"),
        "check": inspector.get_check_constraints("participants", schema="public"),
        "comment": inspector.get_table_comment("participants", schema="public")["text"],
    }
    with engine.connect() as conn:
        frame = pandas.read_sql(text(QUERY.format(":p")), conn, params={"p": VALUE})
        out["rows"] = rows(frame.itertuples(index=False))
    engine.dispose()
    return out


def connectorx(uri):
    import connectorx as cx
    import polars

    query = QUERY.format(f"'{VALUE}'")
    out = {}
    for protocol in ["binary", "csv", "cursor"]:
        table = cx.read_sql(uri, query, return_type="arrow", protocol=protocol)
        out[protocol] = rows(zip(*[table.column(i).to_pylist() for i in range(2)]))
    frame = polars.read_database_uri(query, uri)
    out["polars"] = rows(frame.iter_rows())
    out["rows"] = out["binary"]
    return out


def adbc(uri):
    import adbc_driver_postgresql.dbapi as dbapi

    out = {}
    with dbapi.connect(uri) as conn:
        with conn.cursor() as cur:
            cur.execute(QUERY.format("$1"), (VALUE,))
            table = cur.fetch_arrow_table()
            out["rows"] = rows(zip(*[table.column(i).to_pylist() for i in range(2)]))
            cur.execute("SELECT count(*) FROM conversations")
            out["count"] = cur.fetchone()[0]
        objects = conn.adbc_get_objects(depth="tables", db_schema_filter="public").read_all().to_pylist()
        names = []
        for catalog in objects:
            for schema in catalog["catalog_db_schemas"] or []:
                for table in schema["db_schema_tables"] or []:
                    names.append(table["table_name"])
        out["tables"] = sorted(names)
        out["columns"] = conn.adbc_get_table_schema("participants").names
    return out


def asyncpg(uri):
    import asyncio

    import asyncpg as pg

    async def run():
        conn = await pg.connect(uri)
        try:
            fetched = await conn.fetch(QUERY.format("$1"), VALUE)
            count = await conn.fetchval("SELECT count(*) FROM conversations")
            return {"rows": rows((r[0], r[1]) for r in fetched), "count": count}
        finally:
            await conn.close()

    return asyncio.run(run())


if __name__ == "__main__":
    client, uri = sys.argv[1], sys.argv[2]
    clients = {"sqlalchemy": sqlalchemy, "connectorx": connectorx, "adbc": adbc, "asyncpg": asyncpg}
    print(json.dumps(clients[client](uri), default=str))
