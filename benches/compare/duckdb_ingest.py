"""DuckDB's way to the same tables: read_json with an explicit column list, then UNNEST into
flat zstd Parquet tables (mode "flat"), or one nested Parquet file (mode "nested").

Usage: duckdb_ingest.py flat|nested INPUT_GLOB OUT_DIR
"""
import sys
import duckdb

MODE, INPUT, OUT = sys.argv[1], sys.argv[2], sys.argv[3]

METRIC = "STRUCT(name VARCHAR, value BIGINT, emitDate TIMESTAMPTZ)"
SEGMENT = ("STRUCT(segmentStart TIMESTAMPTZ, segmentEnd TIMESTAMPTZ, segmentType VARCHAR, queueId VARCHAR, "
           "disconnectType VARCHAR, conference BOOLEAN, wrapUpCode VARCHAR, wrapUpNote VARCHAR, "
           "requestedRoutingSkillIds VARCHAR[], sipResponseCodes BIGINT[], q850ResponseCodes BIGINT[])")
STAT = ("STRUCT(codecs VARCHAR[], minMos DOUBLE, minRFactor DOUBLE, maxLatencyMs BIGINT, receivedPackets BIGINT, "
        "discardedPackets BIGINT, eventTime TIMESTAMPTZ)")
FLOW = ("STRUCT(flowId VARCHAR, flowName VARCHAR, flowType VARCHAR, flowVersion VARCHAR, entryType VARCHAR, "
        "entryReason VARCHAR, exitReason VARCHAR, transferType VARCHAR, outcomes STRUCT(flowOutcome VARCHAR, "
        "flowOutcomeId VARCHAR, flowOutcomeValue VARCHAR, flowOutcomeStartTimestamp TIMESTAMPTZ, "
        "flowOutcomeEndTimestamp TIMESTAMPTZ)[])")
SESSION = (f"STRUCT(mediaType VARCHAR, sessionId VARCHAR, direction VARCHAR, ani VARCHAR, dnis VARCHAR, "
           f"addressFrom VARCHAR, addressTo VARCHAR, edgeId VARCHAR, peerId VARCHAR, provider VARCHAR, "
           f"requestedRoutings VARCHAR[], usedRouting VARCHAR, selectedAgentId VARCHAR, recording BOOLEAN, "
           f"mediaEndpointStats {STAT}[], flow {FLOW}, metrics {METRIC}[], segments {SEGMENT}[])")
PARTICIPANT = (f"STRUCT(participantId VARCHAR, participantName VARCHAR, purpose VARCHAR, userId VARCHAR, "
               f"teamId VARCHAR, externalContactId VARCHAR, attributes MAP(VARCHAR, VARCHAR), sessions {SESSION}[])")
COLUMNS = {
    "conversationId": "VARCHAR", "conversationStart": "TIMESTAMPTZ", "conversationEnd": "TIMESTAMPTZ",
    "conversationInitiator": "VARCHAR", "customerParticipation": "BOOLEAN", "divisionIds": "VARCHAR[]",
    "externalTag": "VARCHAR", "mediaStatsMinConversationMos": "DOUBLE", "mediaStatsMinConversationRFactor": "DOUBLE",
    "originatingDirection": "VARCHAR", "selfServed": "BOOLEAN", "participants": f"{PARTICIPANT}[]",
}

con = duckdb.connect()
con.execute("SET preserve_insertion_order = false")
columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in COLUMNS.items()) + "}"
source = f"read_json('{INPUT}', format = 'newline_delimited', columns = {columns})"
zstd = "(FORMAT parquet, COMPRESSION zstd)"
if MODE == "nested":
    con.execute(f"COPY (SELECT * FROM {source}) TO '{OUT}/conversations.parquet' {zstd}")
else:
    con.execute(f"CREATE TEMP TABLE raw AS SELECT * FROM {source}")
    con.execute(f"""COPY (SELECT * EXCLUDE (participants), CAST(conversationStart AS DATE) AS conversation_date
        FROM raw) TO '{OUT}/conversations.parquet' {zstd}""")
    con.execute(f"""CREATE TEMP TABLE p AS SELECT conversationId, conversationStart, unnest(participants) AS p FROM raw""")
    con.execute(f"""COPY (SELECT conversationId, conversationStart, p.participantId, p.purpose, p.userId,
        p.participantName, p.attributes FROM p) TO '{OUT}/participants.parquet' {zstd}""")
    con.execute(f"""CREATE TEMP TABLE s AS SELECT conversationId, conversationStart, p.participantId AS participantId,
        p.purpose AS purpose, p.userId AS userId, unnest(p.sessions) AS s FROM p""")
    con.execute(f"""COPY (SELECT conversationId, conversationStart, participantId, purpose, userId,
        s.sessionId, s.mediaType, s.direction, s.ani, s.dnis, s.addressFrom, s.addressTo, s.edgeId, s.peerId,
        s.provider, s.requestedRoutings, s.usedRouting, s.selectedAgentId, s.recording, s.flow.flowName AS flowName,
        s.segments[1].queueId AS queueId FROM s) TO '{OUT}/sessions.parquet' {zstd}""")
    con.execute(f"""COPY (SELECT conversationId, conversationStart, participantId, purpose, userId, s.sessionId AS sessionId,
        s.mediaType AS mediaType, unnest(s.segments, recursive := true) FROM s) TO '{OUT}/segments.parquet' {zstd}""")
    con.execute(f"""COPY (SELECT conversationId, conversationStart, participantId, purpose, userId, s.sessionId AS sessionId,
        s.mediaType AS mediaType, s.segments[1].queueId AS queueId, unnest(s.metrics, recursive := true) FROM s)
        TO '{OUT}/metrics.parquet' {zstd}""")
