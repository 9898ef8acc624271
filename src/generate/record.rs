//! The generator's own picture of a conversation: plain owned structs that serialize to the
//! Genesys wire format (camelCase, absent rather than null), and can be cut at an instant to
//! make the earlier, in-progress copy of a conversation that a later export completes.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use crate::model::format_timestamp;

/// A date-time in epoch milliseconds, written as Genesys writes it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Iso(pub i64);

impl Serialize for Iso {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_timestamp(self.0))
    }
}

/// `AnalyticsConversation`.
#[allow(missing_docs)]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenConversation {
    pub conversation_id: String,
    pub conversation_start: Option<Iso>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_end: Option<Iso>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_initiator: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_participation: Option<bool>,
    pub division_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_tag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_stats_min_conversation_mos: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_stats_min_conversation_r_factor: Option<f64>,
    pub originating_direction: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub self_served: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evaluations: Vec<GenEvaluation>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub surveys: Vec<GenSurvey>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resolutions: Vec<GenResolution>,
    pub participants: Vec<GenParticipant>,
}

/// `AnalyticsParticipant`.
#[allow(missing_docs)]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenParticipant {
    pub participant_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participant_name: Option<String>,
    pub purpose: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_contact_id: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    pub sessions: Vec<GenSession>,
}

/// `AnalyticsSession` (the properties the generator fills).
#[allow(missing_docs)]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenSession {
    pub media_type: &'static str,
    pub session_id: String,
    pub direction: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ani: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dnis: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_dnis: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edge_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_call_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requested_routings: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub used_routing: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selected_agent_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_bullseye_ring: Option<i32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub callback_numbers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_scheduled_time: Option<Iso>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_user_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub active_skill_ids: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub waiting_interaction_counts: Vec<i32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub proposed_agents: Vec<GenProposedAgent>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub media_endpoint_stats: Vec<GenMediaStat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow: Option<GenFlow>,
    pub metrics: Vec<GenMetric>,
    pub segments: Vec<GenSegment>,
}

/// `AnalyticsConversationSegment` (the properties the generator fills).
#[allow(missing_docs)]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenSegment {
    pub segment_start: Iso,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment_end: Option<Iso>,
    pub segment_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disconnect_type: Option<&'static str>,
    pub conference: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrap_up_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrap_up_note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requested_language_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requested_routing_skill_ids: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sip_response_codes: Vec<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub q850_response_codes: Vec<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scored_agents: Vec<GenScoredAgent>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<GenProperty>,
}

/// `AnalyticsSessionMetric`.
#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenMetric {
    pub name: &'static str,
    pub value: i64,
    pub emit_date: Iso,
}

/// `AnalyticsFlow`.
#[allow(missing_docs)]
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenFlow {
    pub flow_id: String,
    pub flow_name: String,
    pub flow_type: &'static str,
    pub flow_version: String,
    pub entry_type: &'static str,
    pub entry_reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_target_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_target_address: Option<String>,
    pub starting_language: &'static str,
    pub ending_language: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_callback: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub outcomes: Vec<GenFlowOutcome>,
}

/// `AnalyticsFlowOutcome`.
#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenFlowOutcome {
    pub flow_outcome: String,
    pub flow_outcome_id: String,
    pub flow_outcome_value: &'static str,
    pub flow_outcome_start_timestamp: Iso,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow_outcome_end_timestamp: Option<Iso>,
}

/// `AnalyticsMediaEndpointStat`.
#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenMediaStat {
    pub codecs: Vec<&'static str>,
    pub min_mos: f64,
    pub min_r_factor: f64,
    pub max_latency_ms: i64,
    pub received_packets: i64,
    pub discarded_packets: i64,
    pub duplicate_packets: i64,
    pub invalid_packets: i64,
    pub overrun_packets: i64,
    pub underrun_packets: i64,
    pub event_time: Iso,
}

/// `AnalyticsProposedAgent`.
#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenProposedAgent {
    pub proposed_agent_id: String,
    pub agent_rank: i32,
}

/// `AnalyticsScoredAgent`.
#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenScoredAgent {
    pub scored_agent_id: String,
    pub agent_score: i32,
}

/// `AnalyticsProperty`.
#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenProperty {
    pub property: String,
    pub property_type: &'static str,
    pub value: String,
}

/// `AnalyticsEvaluation`.
#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenEvaluation {
    pub evaluation_id: String,
    pub evaluator_id: String,
    pub user_id: String,
    pub queue_id: String,
    pub form_id: String,
    pub form_name: &'static str,
    pub context_id: String,
    pub event_time: Iso,
    pub evaluation_status: &'static str,
    pub released: bool,
    pub deleted: bool,
    pub rescored: bool,
    pub system_submitted: bool,
    pub assignee_applicable: bool,
    pub o_total_score: i64,
    pub o_total_critical_score: i64,
}

/// `AnalyticsSurvey`.
#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenSurvey {
    pub survey_id: String,
    pub survey_form_id: String,
    pub survey_form_context_id: String,
    pub survey_form_name: &'static str,
    pub survey_status: &'static str,
    pub survey_type: &'static str,
    pub survey_promoter_score: i32,
    pub survey_partial_response: bool,
    pub survey_completed_date: Iso,
    pub event_time: Iso,
    pub queue_id: String,
    pub user_id: String,
    pub o_survey_total_score: i64,
}

/// `AnalyticsResolution`.
#[allow(missing_docs)]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenResolution {
    pub event_time: Iso,
    pub queue_id: String,
    pub user_id: String,
    pub n_next_contact_avoided: i64,
}

impl GenConversation {
    /// The newest instant anything in the conversation happened.
    pub fn last_instant(&self) -> i64 {
        let mut last = self.conversation_start.map_or(0, |t| t.0);
        for p in &self.participants {
            for s in &p.sessions {
                for g in &s.segments {
                    last = last.max(g.segment_end.map_or(g.segment_start.0, |t| t.0));
                }
                for m in &s.metrics {
                    last = last.max(m.emit_date.0);
                }
            }
        }
        last
    }

    /// The conversation as an export taken at `at` would have shown it: what happened later
    /// is gone, what was under way has no end yet.
    pub fn cut_at(&self, at: i64) -> GenConversation {
        let mut c = self.clone();
        if c.conversation_end.is_some_and(|t| t.0 > at) {
            c.conversation_end = None;
        }
        c.evaluations.retain(|e| e.event_time.0 <= at);
        c.surveys.retain(|e| e.event_time.0 <= at);
        c.resolutions.retain(|e| e.event_time.0 <= at);
        for p in &mut c.participants {
            for s in &mut p.sessions {
                s.segments.retain(|g| g.segment_start.0 <= at);
                for g in &mut s.segments {
                    if g.segment_end.is_some_and(|t| t.0 > at) {
                        g.segment_end = None;
                        g.disconnect_type = None;
                        g.wrap_up_code = None;
                        g.wrap_up_note = None;
                    }
                }
                s.metrics.retain(|m| m.emit_date.0 <= at);
                s.media_endpoint_stats.retain(|m| m.event_time.0 <= at);
                if let Some(flow) = &mut s.flow {
                    flow.outcomes
                        .retain(|o| o.flow_outcome_start_timestamp.0 <= at);
                    for o in &mut flow.outcomes {
                        if o.flow_outcome_end_timestamp.is_some_and(|t| t.0 > at) {
                            o.flow_outcome_end_timestamp = None;
                        }
                    }
                }
            }
            p.sessions.retain(|s| !s.segments.is_empty());
        }
        c.participants.retain(|p| !p.sessions.is_empty());
        c
    }
}
