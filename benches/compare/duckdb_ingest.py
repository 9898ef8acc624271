"""DuckDB's way to the same tables: read_json with an explicit column list, then UNNEST into
flat zstd Parquet tables (mode "flat"), or one nested Parquet file (mode "nested").

The flat tables carry convlake's table and column names (conversations, participants,
sessions, segments, metrics; snake_case) for every column the five questions and the report
suite read, so that duckdb_query.py runs the very SQL files convlake runs. They hold fewer
columns than convlake's lake (which keeps every field, the nested form and the raw JSON).

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
OUTCOME = ("STRUCT(flowOutcome VARCHAR, flowOutcomeId VARCHAR, flowOutcomeValue VARCHAR, "
           "flowOutcomeStartTimestamp TIMESTAMPTZ, flowOutcomeEndTimestamp TIMESTAMPTZ)")
FLOW = ("STRUCT(flowId VARCHAR, flowName VARCHAR, flowType VARCHAR, flowVersion VARCHAR, entryType VARCHAR, "
        f"entryReason VARCHAR, exitReason VARCHAR, transferType VARCHAR, outcomes {OUTCOME}[])")
SESSION = (f"STRUCT(mediaType VARCHAR, sessionId VARCHAR, direction VARCHAR, ani VARCHAR, dnis VARCHAR, "
           f"addressFrom VARCHAR, addressTo VARCHAR, edgeId VARCHAR, peerId VARCHAR, provider VARCHAR, "
           f"requestedRoutings VARCHAR[], usedRouting VARCHAR, selectedAgentId VARCHAR, recording BOOLEAN, "
           f"mediaEndpointStats {STAT}[], flow {FLOW}, metrics {METRIC}[], segments {SEGMENT}[])")
PARTICIPANT = (f"STRUCT(participantId VARCHAR, participantName VARCHAR, purpose VARCHAR, userId VARCHAR, "
               f"teamId VARCHAR, externalContactId VARCHAR, attributes MAP(VARCHAR, VARCHAR), sessions {SESSION}[])")
EVALUATION = ("STRUCT(evaluationId VARCHAR, evaluatorId VARCHAR, formName VARCHAR, queueId VARCHAR, userId VARCHAR, "
              "eventTime TIMESTAMPTZ, deleted BOOLEAN, oTotalScore BIGINT, oTotalCriticalScore BIGINT)")
SURVEY = ("STRUCT(surveyId VARCHAR, surveyFormName VARCHAR, surveyStatus VARCHAR, queueId VARCHAR, userId VARCHAR, "
          "eventTime TIMESTAMPTZ, surveyPromoterScore INTEGER, oSurveyTotalScore BIGINT)")
COLUMNS = {
    "conversationId": "VARCHAR", "conversationStart": "TIMESTAMPTZ", "conversationEnd": "TIMESTAMPTZ",
    "conversationInitiator": "VARCHAR", "customerParticipation": "BOOLEAN", "divisionIds": "VARCHAR[]",
    "externalTag": "VARCHAR", "mediaStatsMinConversationMos": "DOUBLE", "mediaStatsMinConversationRFactor": "DOUBLE",
    "originatingDirection": "VARCHAR", "selfServed": "BOOLEAN", "evaluations": f"{EVALUATION}[]",
    "surveys": f"{SURVEY}[]", "participants": f"{PARTICIPANT}[]",
}


def rename(column, fields):
    """A list of structs with its fields renamed: {new: old}."""
    packed = ", ".join(f"{new} := x.{old}" for new, old in fields.items())
    return f"list_transform({column}, x -> struct_pack({packed}))"


KEYS = "conversation_id, conversation_date, conversation_start"
CONTEXT = f"{KEYS}, participant_id, purpose, user_id"

con = duckdb.connect()
try:
    # DuckDB 2 refuses the `x -> expr` lambdas these scripts use unless asked to keep them.
    con.execute("SET lambda_syntax = 'ENABLE_SINGLE_ARROW'")
except duckdb.Error:
    pass  # DuckDB 1.x takes them as they are.
con.execute("SET preserve_insertion_order = false")
con.execute("SET TimeZone = 'UTC'")
columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in COLUMNS.items()) + "}"
source = f"read_json('{INPUT}', format = 'newline_delimited', columns = {columns})"
zstd = "(FORMAT parquet, COMPRESSION zstd)"
if MODE == "nested":
    con.execute(f"COPY (SELECT * FROM {source}) TO '{OUT}/conversations.parquet' {zstd}")
else:
    con.execute(f"""CREATE TEMP TABLE raw AS SELECT *, conversationId AS conversation_id,
        CAST(conversationStart AS DATE) AS conversation_date, conversationStart AS conversation_start FROM {source}""")
    evaluations = rename("evaluations", {
        "evaluation_id": "evaluationId", "evaluator_id": "evaluatorId", "form_name": "formName",
        "queue_id": "queueId", "user_id": "userId", "event_time": "eventTime", "deleted": "deleted",
        "o_total_score": "oTotalScore", "o_total_critical_score": "oTotalCriticalScore"})
    surveys = rename("surveys", {
        "survey_id": "surveyId", "survey_form_name": "surveyFormName", "survey_status": "surveyStatus",
        "queue_id": "queueId", "user_id": "userId", "event_time": "eventTime",
        "survey_promoter_score": "surveyPromoterScore", "o_survey_total_score": "oSurveyTotalScore"})
    con.execute(f"""COPY (SELECT {KEYS}, conversationEnd AS conversation_end,
        conversationInitiator AS conversation_initiator, customerParticipation AS customer_participation,
        divisionIds AS division_ids, externalTag AS external_tag,
        mediaStatsMinConversationMos AS media_stats_min_conversation_mos,
        mediaStatsMinConversationRFactor AS media_stats_min_conversation_r_factor,
        originatingDirection AS originating_direction, selfServed AS self_served,
        len(participants) AS participant_count, {evaluations} AS evaluations, {surveys} AS surveys
        FROM raw) TO '{OUT}/conversations.parquet' {zstd}""")
    con.execute(f"CREATE TEMP TABLE p AS SELECT {KEYS}, unnest(participants) AS p FROM raw")
    con.execute("DROP TABLE raw")
    con.execute(f"""COPY (SELECT {KEYS}, p.participantId AS participant_id, p.participantName AS participant_name,
        p.purpose, p.userId AS user_id, p.teamId AS team_id, p.externalContactId AS external_contact_id,
        p.attributes FROM p) TO '{OUT}/participants.parquet' {zstd}""")
    con.execute(f"""CREATE TEMP TABLE s AS SELECT {KEYS}, p.participantId AS participant_id, p.purpose AS purpose,
        p.userId AS user_id, unnest(p.sessions) AS s FROM p""")
    con.execute("DROP TABLE p")
    # A session's queue is that of its first segment with one; metrics carry it too.
    queue = "list_filter(s.segments, g -> g.queueId IS NOT NULL)[1].queueId"
    outcomes = rename("s.flow.outcomes", {
        "flow_outcome": "flowOutcome", "flow_outcome_id": "flowOutcomeId", "flow_outcome_value": "flowOutcomeValue",
        "flow_outcome_start_timestamp": "flowOutcomeStartTimestamp",
        "flow_outcome_end_timestamp": "flowOutcomeEndTimestamp"})
    stats = rename("s.mediaEndpointStats", {
        "codecs": "codecs", "min_mos": "minMos", "min_r_factor": "minRFactor", "max_latency_ms": "maxLatencyMs",
        "received_packets": "receivedPackets", "discarded_packets": "discardedPackets", "event_time": "eventTime"})
    con.execute(f"""COPY (SELECT {CONTEXT}, s.sessionId AS session_id,
        list_min(list_transform(s.segments, g -> g.segmentStart)) AS session_start,
        list_max(list_transform(s.segments, g -> g.segmentEnd)) AS session_end,
        {queue} AS queue_id, s.mediaType AS media_type, s.direction, s.ani, s.dnis,
        s.addressFrom AS address_from, s.addressTo AS address_to, s.edgeId AS edge_id, s.peerId AS peer_id,
        s.provider, s.requestedRoutings AS requested_routings, s.usedRouting AS used_routing,
        s.selectedAgentId AS selected_agent_id, s.recording, s.flow.flowId AS flow_id, s.flow.flowName AS flow_name,
        s.flow.flowType AS flow_type, s.flow.flowVersion AS flow_version, s.flow.entryType AS flow_entry_type,
        s.flow.exitReason AS flow_exit_reason, s.flow.transferType AS flow_transfer_type,
        {outcomes} AS flow_outcomes, {stats} AS media_endpoint_stats
        FROM s) TO '{OUT}/sessions.parquet' {zstd}""")
    con.execute(f"""COPY (SELECT {CONTEXT}, session_id, segment_index, media_type, g.conference,
        g.disconnectType AS disconnect_type, g.q850ResponseCodes AS q850_response_codes, g.queueId AS queue_id,
        g.requestedRoutingSkillIds AS requested_routing_skill_ids, g.segmentEnd AS segment_end,
        g.segmentStart AS segment_start, g.segmentType AS segment_type, g.sipResponseCodes AS sip_response_codes,
        g.wrapUpCode AS wrap_up_code, g.wrapUpNote AS wrap_up_note
        FROM (SELECT {CONTEXT}, s.sessionId AS session_id, s.mediaType AS media_type, unnest(s.segments) AS g,
            generate_subscripts(s.segments, 1) - 1 AS segment_index FROM s)) TO '{OUT}/segments.parquet' {zstd}""")
    con.execute(f"""COPY (SELECT {CONTEXT}, session_id, media_type, queue_id, m.emitDate AS emit_date, m.name, m.value
        FROM (SELECT {CONTEXT}, s.sessionId AS session_id, s.mediaType AS media_type, {queue} AS queue_id,
            unnest(s.metrics) AS m FROM s)) TO '{OUT}/metrics.parquet' {zstd}""")
