"""Reads every table of a convlake lake with other engines and prints what they see as JSON:
the deltalake package (delta-rs), Polars (its Delta reader), and pyarrow reading the table
directories as plain hive-partitioned Parquet.

Usage: read_lake.py LAKE
"""
import json
import sys

import polars as pl
import pyarrow.compute as pc
import pyarrow.dataset as ds
from deltalake import DeltaTable

TABLES = ["conversations", "participants", "sessions", "segments", "metrics", "raw_conversations"]

lake = sys.argv[1]
out = {}
for name in TABLES:
    path = f"{lake}/{name}"
    dt = DeltaTable(path)
    protocol = dt.protocol()
    table = dt.to_pyarrow_table()
    frame = pl.read_delta(path)
    plain = ds.dataset(path, format="parquet", partitioning="hive",
                       exclude_invalid_files=True, ignore_prefixes=["_delta_log", ".", "_"]).to_table()
    starts = table.column("conversation_start")
    out[name] = {
        "delta_rows": table.num_rows,
        "polars_rows": frame.height,
        "parquet_rows": plain.num_rows,
        "version": dt.version(),
        "protocol": [protocol.min_reader_version, protocol.min_writer_version],
        "partition_columns": dt.metadata().partition_columns,
        "conversations": len(pc.unique(table.column("conversation_id"))),
        "min_start": pc.min(starts).as_py().isoformat(),
        "max_start": pc.max(starts).as_py().isoformat(),
        "start_type": str(starts.type),
        "months": sorted(frame.get_column("conversation_month").unique().to_list()),
    }
metrics = pl.read_delta(f"{lake}/metrics")
out["metrics"]["tHandle_sum"] = int(metrics.filter(pl.col("name") == "tHandle").get_column("value").sum())
participants = pl.read_delta(f"{lake}/participants")
out["participants"]["agents"] = participants.filter(pl.col("purpose") == "agent").height
print(json.dumps(out, indent=1, sort_keys=True))
