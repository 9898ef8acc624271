//! Conversation detail queries (`ConversationQuery`) answered from the lake: the conversations
//! that started in the interval and pass the conversation and segment filters, ordered and
//! paged, each returned as the stored record (`raw_conversations.json`, byte for byte, so
//! fields convlake has no column for come back too).
//!
//! - conversation filters test the conversation (`conversations`), or with `type: "metric"`
//!   whether any session metric of that name (in the range) exists;
//! - each segment filter must be met by one segment (`segments`, with its session and
//!   participant): predicates of one filter describe the same segment; several segment
//!   filters may be met by different segments;
//! - `orderBy` `segmentStart` orders by conversation start and `segmentEnd` by conversation
//!   end (a conversation's first segment starts it, its last one ends it).
//!
//! Evaluation, survey and resolution filters, segment property predicates and facet
//! aggregations are refused with a 400 that says so.

use std::collections::HashMap;

use serde::Deserialize;

use super::aggregate::request::junction;
use super::buckets::{format_utc, Interval};
use super::{ints, sql_string, suggest, text, vocab, Answer, ApiError};

/// A conversation detail query body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DetailBody {
    /// Conversations that started in `start/end` (required).
    pub interval: Option<String>,
    /// `asc` (default) or `desc`.
    pub order: Option<String>,
    /// `conversationStart` (default), `conversationEnd`, `segmentStart`, `segmentEnd`.
    pub order_by: Option<String>,
    /// Page size and number.
    pub paging: Option<Paging>,
    /// Filters on the conversation.
    pub conversation_filters: Option<Vec<DetailFilter>>,
    /// Filters one segment must meet.
    pub segment_filters: Option<Vec<DetailFilter>>,
    /// Not supported (refused when not empty).
    pub evaluation_filters: Option<Vec<serde_json::Value>>,
    /// Not supported (refused when not empty).
    pub survey_filters: Option<Vec<serde_json::Value>>,
    /// Not supported (refused when not empty).
    pub resolution_filters: Option<Vec<serde_json::Value>>,
    /// Not supported (refused when not empty).
    pub aggregations: Option<Vec<serde_json::Value>>,
}

/// `PagingSpec`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Paging {
    /// Conversations per page (1 to 100, default 25).
    pub page_size: Option<i64>,
    /// Page, from 1.
    pub page_number: Option<i64>,
}

/// A conversation or segment detail filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetailFilter {
    /// `and` or `or`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Clauses.
    pub clauses: Option<Vec<DetailClause>>,
    /// Predicates.
    pub predicates: Option<Vec<DetailPredicate>>,
}

/// A clause of a detail filter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetailClause {
    /// `and` or `or`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Predicates.
    pub predicates: Option<Vec<DetailPredicate>>,
}

/// A detail predicate: a dimension, a metric or a property test.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DetailPredicate {
    /// `dimension` (default), `metric` or `property`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The dimension.
    pub dimension: Option<String>,
    /// The metric (`type: "metric"`).
    pub metric: Option<String>,
    /// The property (not supported).
    pub property: Option<String>,
    /// The property's type (not supported).
    pub property_type: Option<String>,
    /// `matches` (default), `exists`, `notExists`.
    pub operator: Option<String>,
    /// The value to match.
    pub value: Option<String>,
    /// A numeric range.
    pub range: Option<super::aggregate::request::NumericRange>,
}

/// How a detail dimension's value is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Flag,
    Number,
    List,
}

/// `(Genesys name, SQL column, kind)` of the conversation filter dimensions.
const CONVERSATION_DIMENSIONS: &[(&str, &str, Kind)] = &[
    ("accessAttribute", "c.access_attributes", Kind::List),
    ("conversationEnd", "c.conversation_end", Kind::Text),
    ("conversationId", "c.conversation_id", Kind::Text),
    (
        "conversationInitiator",
        "c.conversation_initiator",
        Kind::Text,
    ),
    ("conversationStart", "c.conversation_start", Kind::Text),
    (
        "customerParticipation",
        "c.customer_participation",
        Kind::Flag,
    ),
    ("divisionId", "c.division_ids", Kind::List),
    ("externalTag", "c.external_tag", Kind::Text),
    (
        "mediaStatsMinConversationMos",
        "c.media_stats_min_conversation_mos",
        Kind::Number,
    ),
    (
        "originatingDirection",
        "c.originating_direction",
        Kind::Text,
    ),
    (
        "originatingSocialMediaPublic",
        "c.originating_social_media_public",
        Kind::Flag,
    ),
];

/// `(Genesys name, SQL column, kind)` of the segment filter dimensions: `t` is the segment,
/// `s` its session, `p` its participant.
const SEGMENT_DIMENSIONS: &[(&str, &str, Kind)] = &[
    ("addressFrom", "s.address_from", Kind::Text),
    ("addressTo", "s.address_to", Kind::Text),
    ("agentAssistantId", "s.agent_assistant_id", Kind::Text),
    ("agentOwned", "s.agent_owned", Kind::Flag),
    ("ani", "s.ani", Kind::Text),
    ("authenticated", "s.authenticated", Kind::Flag),
    ("bargedParticipantId", "s.barged_participant_id", Kind::Text),
    ("callbackNumber", "s.callback_numbers", Kind::List),
    (
        "callbackScheduledTime",
        "s.callback_scheduled_time",
        Kind::Text,
    ),
    ("cleared", "s.cleared", Kind::Flag),
    (
        "coachedParticipantId",
        "s.coached_participant_id",
        Kind::Text,
    ),
    ("conference", "t.conference", Kind::Flag),
    ("deliveryPushed", "s.delivery_pushed", Kind::Flag),
    ("deliveryStatus", "s.delivery_status", Kind::Text),
    ("destinationAddress", "s.destination_addresses", Kind::List),
    (
        "destinationConversationId",
        "t.destination_conversation_id",
        Kind::Text,
    ),
    ("detectedSpeechEnd", "s.detected_speech_end", Kind::Text),
    ("detectedSpeechStart", "s.detected_speech_start", Kind::Text),
    ("direction", "s.direction", Kind::Text),
    ("disconnectType", "t.disconnect_type", Kind::Text),
    ("dnis", "s.dnis", Kind::Text),
    ("edgeId", "s.edge_id", Kind::Text),
    ("engagementSource", "s.engagement_source", Kind::Text),
    ("errorCode", "t.error_code", Kind::Text),
    ("exitReason", "s.flow_exit_reason", Kind::Text),
    (
        "extendedDeliveryStatus",
        "s.extended_delivery_status",
        Kind::Text,
    ),
    ("externalContactId", "p.external_contact_id", Kind::Text),
    (
        "externalOrganizationId",
        "p.external_organization_id",
        Kind::Text,
    ),
    ("flaggedReason", "p.flagged_reason", Kind::Text),
    ("flowId", "s.flow_id", Kind::Text),
    ("flowName", "s.flow_name", Kind::Text),
    ("flowOutType", "s.flow_out_type", Kind::Text),
    ("flowVersion", "s.flow_version", Kind::Text),
    ("groupId", "t.group_id", Kind::Text),
    ("journeyActionId", "s.journey_action_id", Kind::Text),
    ("journeyActionMapId", "s.journey_action_map_id", Kind::Text),
    ("journeyCustomerId", "s.journey_customer_id", Kind::Text),
    (
        "journeyCustomerIdType",
        "s.journey_customer_id_type",
        Kind::Text,
    ),
    (
        "journeyCustomerSessionId",
        "s.journey_customer_session_id",
        Kind::Text,
    ),
    ("mediaCount", "s.media_count", Kind::Number),
    ("mediaType", "t.media_type", Kind::Text),
    ("messageType", "s.message_type", Kind::Text),
    (
        "monitoredParticipantId",
        "s.monitored_participant_id",
        Kind::Text,
    ),
    ("outboundCampaignId", "s.outbound_campaign_id", Kind::Text),
    ("outboundContactId", "s.outbound_contact_id", Kind::Text),
    (
        "outboundContactListId",
        "s.outbound_contact_list_id",
        Kind::Text,
    ),
    ("participantName", "p.participant_name", Kind::Text),
    ("protocolCallId", "s.protocol_call_id", Kind::Text),
    ("provider", "s.provider", Kind::Text),
    ("purpose", "t.purpose", Kind::Text),
    ("queueId", "t.queue_id", Kind::Text),
    ("recording", "s.recording", Kind::Flag),
    ("remote", "s.remote", Kind::Text),
    (
        "remoteNameDisplayable",
        "s.remote_name_displayable",
        Kind::Text,
    ),
    ("requestedLanguageId", "t.requested_language_id", Kind::Text),
    ("requestedRouting", "s.requested_routings", Kind::List),
    (
        "requestedRoutingSkillId",
        "t.requested_routing_skill_ids",
        Kind::List,
    ),
    (
        "screenMonitoredUserId",
        "s.screen_monitored_user_id",
        Kind::Text,
    ),
    ("screenRecording", "p.screen_recording", Kind::Flag),
    ("scriptId", "s.script_id", Kind::Text),
    ("segmentEnd", "t.segment_end", Kind::Text),
    ("segmentType", "t.segment_type", Kind::Text),
    ("sessionDnis", "s.session_dnis", Kind::Text),
    ("sipResponseCode", "t.sip_response_codes", Kind::List),
    ("skillExpressionId", "s.skill_expression_id", Kind::Text),
    ("snippetRecording", "s.snippet_recording", Kind::Flag),
    ("subject", "t.subject", Kind::Text),
    ("teamId", "p.team_id", Kind::Text),
    (
        "transferTargetAddress",
        "s.flow_transfer_target_address",
        Kind::Text,
    ),
    (
        "transferTargetName",
        "s.flow_transfer_target_name",
        Kind::Text,
    ),
    ("transferType", "s.flow_transfer_type", Kind::Text),
    ("usedRouting", "s.used_routing", Kind::Text),
    ("userId", "t.user_id", Kind::Text),
    ("wrapUpCode", "t.wrap_up_code", Kind::Text),
    ("wrapUpNote", "t.wrap_up_note", Kind::Text),
];

/// Most conversations per page.
pub const MAX_PAGE_SIZE: i64 = 100;

/// Most filters, clauses and predicates a detail query may hold, counted before anything is
/// compiled: a metric or segment predicate becomes a subquery, and planning is not
/// interruptible, so the count bounds what a body can cost before its deadline.
pub const MAX_FILTER_TERMS: usize = 100;

/// Which relations a segment filter reads.
#[derive(Default)]
struct Needs {
    session: bool,
    participant: bool,
}

/// Bounds of the scan: SQL date literals of the interval's first and last day.
struct Scope {
    min_date: String,
    max_date: String,
}

fn bad(code: &str, message: String) -> ApiError {
    ApiError::bad_request(code, message)
}

fn compare(column: &str, kind: Kind, p: &DetailPredicate, name: &str) -> Result<String, ApiError> {
    let exists = match kind {
        Kind::List => format!("coalesce(cardinality({column}), 0) > 0"),
        _ => format!("{column} IS NOT NULL"),
    };
    match p.operator.as_deref().unwrap_or("matches") {
        "exists" => Ok(exists),
        "notExists" => Ok(format!("NOT ({exists})")),
        "matches" => {
            if let Some(r) = p.range {
                if kind != Kind::Number {
                    return Err(bad(
                        "invalid.predicate",
                        format!("{name:?} is not numeric: a range applies to numbers and metrics"),
                    ));
                }
                return Ok(range_sql(column, r));
            }
            let value = p.value.as_deref().ok_or_else(|| {
                bad(
                    "invalid.predicate",
                    format!("the predicate on {name:?} has neither a value nor a range"),
                )
            })?;
            Ok(match kind {
                Kind::Text | Kind::Flag | Kind::Number => {
                    format!("CAST({column} AS VARCHAR) = {}", sql_string(value))
                }
                Kind::List => format!(
                    "array_has(CAST({column} AS VARCHAR[]), {})",
                    sql_string(value)
                ),
            })
        }
        other => Err(bad(
            "invalid.predicate",
            format!("operator {other:?} is not one of [\"matches\", \"exists\", \"notExists\"]"),
        )),
    }
}

fn range_sql(column: &str, r: super::aggregate::request::NumericRange) -> String {
    let mut terms = vec![format!("{column} IS NOT NULL")];
    for (op, v) in [(">", r.gt), (">=", r.gte), ("<", r.lt), ("<=", r.lte)] {
        if let Some(v) = v.filter(|v| v.is_finite()) {
            terms.push(format!("{column} {op} {v}"));
        }
    }
    format!("({})", terms.join(" AND "))
}

/// Compiles a filter with `predicate` for each predicate.
fn compile(
    filter: &DetailFilter,
    predicate: &mut dyn FnMut(&DetailPredicate) -> Result<String, ApiError>,
) -> Result<String, ApiError> {
    let join = junction(&filter.kind)?;
    let mut parts = Vec::new();
    for p in filter.predicates.iter().flatten() {
        parts.push(predicate(p)?);
    }
    for clause in filter.clauses.iter().flatten() {
        let inner = junction(&clause.kind)?;
        let terms = clause
            .predicates
            .iter()
            .flatten()
            .map(&mut *predicate)
            .collect::<Result<Vec<_>, _>>()?;
        if terms.is_empty() {
            return Err(bad(
                "invalid.filter",
                "a filter clause has no predicates".into(),
            ));
        }
        parts.push(format!("({})", terms.join(inner)));
    }
    if parts.is_empty() {
        return Err(bad(
            "invalid.filter",
            "a filter has no predicates and no clauses".into(),
        ));
    }
    Ok(format!("({})", parts.join(join)))
}

fn metric_predicate(p: &DetailPredicate, scope: &Scope) -> Result<String, ApiError> {
    let metric = p.metric.as_deref().ok_or_else(|| {
        bad(
            "invalid.predicate",
            "a metric predicate has no metric".into(),
        )
    })?;
    if !vocab::DETAIL_METRICS.contains(&metric) {
        return Err(bad(
            "invalid.metric",
            format!(
                "{metric:?} is not a detail query metric{}",
                suggest(metric, vocab::DETAIL_METRICS)
            ),
        ));
    }
    let mut test = format!("name = {}", sql_string(metric));
    match p.operator.as_deref().unwrap_or("matches") {
        "exists" | "matches" => {}
        "notExists" => {
            return Ok(format!(
                "c.conversation_id NOT IN (SELECT conversation_id FROM metrics WHERE conversation_date BETWEEN {} AND {} AND {test})",
                scope.min_date, scope.max_date
            ))
        }
        other => return Err(bad("invalid.predicate", format!("operator {other:?} is not one of [\"matches\", \"exists\", \"notExists\"]"))),
    }
    if let Some(r) = p.range {
        test = format!("{test} AND {}", range_sql("value", r));
    } else if let Some(v) = p.value.as_deref() {
        let v: i64 = v.parse().map_err(|_| {
            bad(
                "invalid.predicate",
                format!("the value of metric {metric:?} must be a number, not {v:?}"),
            )
        })?;
        test = format!("{test} AND value = {v}");
    }
    Ok(format!(
        "c.conversation_id IN (SELECT conversation_id FROM metrics WHERE conversation_date BETWEEN {} AND {} AND {test})",
        scope.min_date, scope.max_date
    ))
}

fn conversation_predicate(p: &DetailPredicate, scope: &Scope) -> Result<String, ApiError> {
    match p.kind.as_deref().unwrap_or("dimension") {
        "metric" => metric_predicate(p, scope),
        "dimension" => {
            let name = p.dimension.as_deref().ok_or_else(|| bad("invalid.predicate", "a dimension predicate has no dimension".into()))?;
            let (_, column, kind) = CONVERSATION_DIMENSIONS.iter().find(|d| d.0 == name).ok_or_else(|| {
                bad("invalid.dimension", format!("{name:?} is not a conversation filter dimension{}", suggest(name, vocab::DETAIL_CONVERSATION_DIMENSIONS)))
            })?;
            compare(column, *kind, p, name)
        }
        other => Err(bad("invalid.predicate", format!("conversation filter predicates of type {other:?} are not supported; use \"dimension\" or \"metric\""))),
    }
}

fn segment_predicate(p: &DetailPredicate, needs: &mut Needs) -> Result<String, ApiError> {
    match p.kind.as_deref().unwrap_or("dimension") {
        "metric" => {
            let metric = p.metric.as_deref().unwrap_or_default();
            if metric != "tSegmentDuration" {
                return Err(bad("invalid.metric", format!("{metric:?} is not a segment metric: segment filters test \"tSegmentDuration\"")));
            }
            let duration = "((CAST(t.segment_end AS BIGINT) - CAST(t.segment_start AS BIGINT)) / 1000)";
            Ok(p.range.map(|r| range_sql(duration, r)).unwrap_or_else(|| format!("{duration} IS NOT NULL")))
        }
        "dimension" => {
            let name = p.dimension.as_deref().ok_or_else(|| bad("invalid.predicate", "a dimension predicate has no dimension".into()))?;
            if !vocab::DETAIL_SEGMENT_DIMENSIONS.contains(&name) {
                return Err(bad("invalid.dimension", format!("{name:?} is not a segment filter dimension{}", suggest(name, vocab::DETAIL_SEGMENT_DIMENSIONS))));
            }
            let (_, column, kind) = SEGMENT_DIMENSIONS.iter().find(|d| d.0 == name).ok_or_else(|| {
                bad("dimension.not.supported", format!("the segment dimension {name:?} is not answered by convlake; leave it out of the query"))
            })?;
            needs.session |= column.starts_with("s.");
            needs.participant |= column.starts_with("p.");
            compare(column, *kind, p, name)
        }
        _ => Err(bad("predicate.not.supported", "segment property predicates are not supported; filter on dimensions or tSegmentDuration".into())),
    }
}

fn segment_filter(filter: &DetailFilter, scope: &Scope) -> Result<String, ApiError> {
    let mut needs = Needs::default();
    let test = compile(filter, &mut |p| segment_predicate(p, &mut needs))?;
    let dates = |a: &str| {
        format!(
            "{a}.conversation_date BETWEEN {} AND {}",
            scope.min_date, scope.max_date
        )
    };
    let mut from = "segments t".to_string();
    if needs.session {
        from.push_str(&format!(" LEFT JOIN sessions s ON s.conversation_id = t.conversation_id AND s.session_id = t.session_id AND {}", dates("s")));
    }
    if needs.participant {
        from.push_str(&format!(" LEFT JOIN participants p ON p.conversation_id = t.conversation_id AND p.participant_id = t.participant_id AND {}", dates("p")));
    }
    Ok(format!(
        "c.conversation_id IN (SELECT t.conversation_id FROM {from} WHERE {} AND {test})",
        dates("t")
    ))
}

impl DetailBody {
    /// The SQL of the matching conversations (`conversation_id`, `conversation_start`,
    /// `conversation_date`, and the order key `k`), and the order clause.
    fn matches(&self, interval: Interval) -> Result<(String, String), ApiError> {
        for (name, list) in [
            ("evaluationFilters", &self.evaluation_filters),
            ("surveyFilters", &self.survey_filters),
            ("resolutionFilters", &self.resolution_filters),
            ("aggregations", &self.aggregations),
        ] {
            if list.as_ref().is_some_and(|l| !l.is_empty()) {
                return Err(bad(
                    "filter.not.supported",
                    format!(
                        "{name} are not supported by convlake's detail queries; leave them out"
                    ),
                ));
            }
        }
        let count: usize = self
            .conversation_filters
            .iter()
            .chain(&self.segment_filters)
            .flatten()
            .map(|f| {
                1 + f.predicates.as_ref().map_or(0, Vec::len)
                    + f.clauses
                        .iter()
                        .flatten()
                        .map(|c| 1 + c.predicates.as_ref().map_or(0, Vec::len))
                        .sum::<usize>()
            })
            .sum();
        if count > MAX_FILTER_TERMS {
            return Err(bad(
                "invalid.filter",
                format!("the query's filters hold {count} filters, clauses and predicates; at most {MAX_FILTER_TERMS} are answered"),
            ));
        }
        let day = |ms: i64| format!("DATE '{}'", &format_utc(ms)[..10]);
        let scope = Scope {
            min_date: day(interval.start),
            max_date: day(interval.end),
        };
        let mut filters = vec![
            format!(
                "c.conversation_date BETWEEN {} AND {}",
                scope.min_date, scope.max_date
            ),
            format!(
                "c.conversation_start >= {}",
                sql_string(&format_utc(interval.start))
            ),
            format!(
                "c.conversation_start < {}",
                sql_string(&format_utc(interval.end))
            ),
        ];
        for f in self.conversation_filters.iter().flatten() {
            filters.push(compile(f, &mut |p| conversation_predicate(p, &scope))?);
        }
        for f in self.segment_filters.iter().flatten() {
            filters.push(segment_filter(f, &scope)?);
        }
        let key = match self.order_by.as_deref().unwrap_or("conversationStart") {
            "conversationStart" | "segmentStart" => "c.conversation_start",
            "conversationEnd" | "segmentEnd" => "c.conversation_end",
            other => return Err(bad("invalid.value", format!("orderBy {other:?} is not one of conversationStart, conversationEnd, segmentStart, segmentEnd"))),
        };
        let direction = match self.order.as_deref().unwrap_or("asc") {
            "asc" => "ASC NULLS LAST",
            "desc" => "DESC NULLS LAST",
            other => {
                return Err(bad(
                    "invalid.value",
                    format!("order {other:?} is not one of asc, desc"),
                ))
            }
        };
        let sql = format!(
            "SELECT c.conversation_id, c.conversation_start, c.conversation_date, {key} AS k FROM conversations c WHERE {}",
            filters.join(" AND ")
        );
        Ok((sql, format!("k {direction}, conversation_id ASC")))
    }
}

fn micros_literal(us: i64) -> String {
    let text = chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
        .unwrap_or_default();
    sql_string(&text)
}

fn day_of(us: i64) -> String {
    format!("DATE '{}'", &format_utc(us.div_euclid(1000))[..10])
}

/// Answers `body` over the lake session `ctx`.
pub async fn answer(
    ctx: &datafusion::prelude::SessionContext,
    body: &DetailBody,
) -> Result<Answer, ApiError> {
    let interval = Interval::parse(body.interval.as_deref().ok_or_else(|| {
        bad(
            "missing.interval",
            "the query has no interval: add \"interval\": \"START/END\" (ISO-8601)".into(),
        )
    })?)?;
    let paging = body.paging.unwrap_or(Paging {
        page_size: None,
        page_number: None,
    });
    let size = paging.page_size.unwrap_or(25);
    let number = paging.page_number.unwrap_or(1);
    if !(1..=MAX_PAGE_SIZE).contains(&size) || number < 1 {
        return Err(bad("invalid.paging", format!("paging: pageSize must be 1 to {MAX_PAGE_SIZE} and pageNumber at least 1 (got {size} and {number})")));
    }
    let (matches, order) = body.matches(interval)?;
    let run = |sql: String| async move {
        ctx.sql_with_options(&sql, crate::query::read_only())
            .await?
            .collect()
            .await
    };
    let counted = run(format!("SELECT count(*) FROM ({matches})"))
        .await
        .map_err(ApiError::engine)?;
    let total = match counted.first() {
        Some(b) if b.num_rows() > 0 => ints(b.column(0))?.value(0),
        _ => 0,
    };
    let offset = (number - 1).saturating_mul(size);
    let page = run(format!(
        "SELECT conversation_id, CAST(conversation_start AS BIGINT) AS start FROM ({matches}) ORDER BY {order} LIMIT {size} OFFSET {offset}"
    ))
    .await
    .map_err(ApiError::engine)?;
    let mut ids: Vec<String> = Vec::new();
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for batch in &page {
        let (id, starts) = (text(batch.column(0))?, ints(batch.column(1))?);
        for i in 0..batch.num_rows() {
            ids.push(id.value(i).to_string());
            lo = lo.min(starts.value(i));
            hi = hi.max(starts.value(i));
        }
    }
    let mut records: HashMap<String, String> = HashMap::new();
    if !ids.is_empty() {
        let list: Vec<String> = ids.iter().map(|i| sql_string(i)).collect();
        let sql = format!(
            "SELECT conversation_id, json FROM raw_conversations WHERE conversation_date BETWEEN {} AND {} AND conversation_start >= {} AND conversation_start <= {} AND conversation_id IN ({})",
            day_of(lo), day_of(hi), micros_literal(lo), micros_literal(hi),
            list.join(", ")
        );
        for batch in run(sql).await.map_err(ApiError::engine)? {
            let (id, json) = (text(batch.column(0))?, text(batch.column(1))?);
            for i in 0..batch.num_rows() {
                records.insert(id.value(i).to_string(), json.value(i).trim().to_string());
            }
        }
    }
    let mut out = String::from("{");
    if !ids.is_empty() {
        out.push_str("\"conversations\":[");
        let mut first = true;
        for id in &ids {
            let Some(json) = records.get(id) else {
                continue;
            };
            if !first {
                out.push(',');
            }
            first = false;
            out.push_str(json);
        }
        out.push_str("],");
    }
    out.push_str(&format!("\"totalHits\":{total}}}"));
    Ok(Answer {
        body: out,
        notices: Vec::new(),
    })
}
