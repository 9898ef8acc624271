//! Where each aggregate dimension of a metric record comes from in the lake.
//!
//! A metric record (one row of `metrics`) takes its dimensions from its session (`sessions`),
//! its participant (`participants`), its conversation (`conversations`) and its session's
//! segments. `queueId` is the metrics table's `queue_id`: the queue of the session's first
//! segment that names one (the queue for ACD sessions, the routed queue for agents, the queue
//! the customer waited in for customer sessions). The other segment dimensions (`wrapUpCode`,
//! `disconnectType`, `errorCode`, `groupId`, `requestedLanguageId`,
//! `requestedRoutingSkillId`) take the session's last segment value that is set: the
//! reference material's default for `wrapUpCode`, so that talk and handle time group by the
//! code the session was wrapped up with. Dimensions that exports do not hold are refused with
//! a 400 that says so.

use super::super::{suggest, vocab, ApiError};

/// The lake relation a dimension is read from, joined to `metrics` only when a query needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Source {
    /// `metrics` itself (alias `m`).
    Metric,
    /// `sessions` (alias `s`), on conversation and session id.
    Session,
    /// `participants` (alias `p`), on conversation and participant id.
    Participant,
    /// `conversations` (alias `c`), on conversation id.
    Conversation,
    /// The session's segments summed up per session (alias `g`).
    Segment,
}

impl Source {
    /// The SQL alias of the relation.
    pub fn alias(self) -> &'static str {
        match self {
            Source::Metric => "m",
            Source::Session => "s",
            Source::Participant => "p",
            Source::Conversation => "c",
            Source::Segment => "g",
        }
    }
}

/// The value type of a dimension, which decides how filters compare it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text or an enum.
    Text,
    /// A boolean, compared and grouped as `"true"` / `"false"`.
    Flag,
    /// An integer: `matches` compares numbers, `range` applies.
    Number,
    /// A list of values (multivalued dimension).
    List,
}

/// One supported dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dimension {
    /// The Genesys name (`queueId`).
    pub name: &'static str,
    /// Which relation holds it.
    pub source: Source,
    /// The column in that relation.
    pub column: &'static str,
    /// Its value type.
    pub kind: Kind,
}

impl Dimension {
    /// The qualified SQL column (`s.ani`).
    pub fn expr(&self) -> String {
        format!("{}.{}", self.source.alias(), self.column)
    }
}

macro_rules! dims {
    ($($name:literal => $source:ident . $column:literal : $kind:ident),* $(,)?) => {
        /// Every dimension convlake can read from the detail records.
        pub const DIMENSIONS: &[Dimension] = &[
            $(Dimension { name: $name, source: Source::$source, column: $column, kind: Kind::$kind }),*
        ];
    };
}

dims! {
    "conversationId" => Metric."conversation_id": Text,
    "sessionId" => Metric."session_id": Text,
    "userId" => Metric."user_id": Text,
    "purpose" => Metric."purpose": Text,
    "mediaType" => Metric."media_type": Text,
    "queueId" => Metric."queue_id": Text,
    "activeSkillId" => Session."active_skill_ids": List,
    "addressFrom" => Session."address_from": Text,
    "addressTo" => Session."address_to": Text,
    "agentAssistantId" => Session."agent_assistant_id": Text,
    "agentBullseyeRing" => Session."agent_bullseye_ring": Number,
    "agentOwned" => Session."agent_owned": Flag,
    "ani" => Session."ani": Text,
    "assignerId" => Session."assigner_id": Text,
    "authenticated" => Session."authenticated": Flag,
    "deliveryStatus" => Session."delivery_status": Text,
    "destinationAddress" => Session."destination_addresses": List,
    "direction" => Session."direction": Text,
    "dnis" => Session."dnis": Text,
    "edgeId" => Session."edge_id": Text,
    "eligibleAgentCount" => Session."eligible_agent_counts": List,
    "extendedDeliveryStatus" => Session."extended_delivery_status": Text,
    "flowInType" => Session."flow_in_type": Text,
    "flowOutType" => Session."flow_out_type": Text,
    "journeyActionId" => Session."journey_action_id": Text,
    "journeyActionMapId" => Session."journey_action_map_id": Text,
    "journeyActionMapVersion" => Session."journey_action_map_version": Number,
    "journeyCustomerId" => Session."journey_customer_id": Text,
    "journeyCustomerIdType" => Session."journey_customer_id_type": Text,
    "journeyCustomerSessionId" => Session."journey_customer_session_id": Text,
    "journeyCustomerSessionIdType" => Session."journey_customer_session_id_type": Text,
    "mediaCount" => Session."media_count": Number,
    "messageType" => Session."message_type": Text,
    "outboundCampaignId" => Session."outbound_campaign_id": Text,
    "outboundContactId" => Session."outbound_contact_id": Text,
    "outboundContactListId" => Session."outbound_contact_list_id": Text,
    "peerId" => Session."peer_id": Text,
    "provider" => Session."provider": Text,
    "remote" => Session."remote": Text,
    "removedSkillId" => Session."removed_skill_ids": List,
    "requestedRouting" => Session."requested_routings": List,
    "roomId" => Session."room_id": Text,
    "routingRing" => Session."routing_ring": Number,
    "routingRule" => Session."routing_rule": Text,
    "routingRuleType" => Session."routing_rule_type": Text,
    "selectedAgentId" => Session."selected_agent_id": Text,
    "selectedAgentRank" => Session."selected_agent_rank": Number,
    "sessionDnis" => Session."session_dnis": Text,
    "skillExpressionId" => Session."skill_expression_id": Text,
    "usedRouting" => Session."used_routing": Text,
    "waitingInteractionCount" => Session."waiting_interaction_counts": List,
    "externalContactId" => Participant."external_contact_id": Text,
    "externalOrganizationId" => Participant."external_organization_id": Text,
    "flaggedReason" => Participant."flagged_reason": Text,
    "participantName" => Participant."participant_name": Text,
    "teamId" => Participant."team_id": Text,
    "conversationInitiator" => Conversation."conversation_initiator": Text,
    "customerParticipation" => Conversation."customer_participation": Flag,
    "divisionId" => Conversation."division_ids": List,
    "externalTag" => Conversation."external_tag": Text,
    "knowledgeBaseId" => Conversation."knowledge_base_ids": List,
    "originatingDirection" => Conversation."originating_direction": Text,
    "originatingSocialMediaPublic" => Conversation."originating_social_media_public": Flag,
    "selfServed" => Conversation."self_served": Flag,
    "wrapUpCode" => Segment."wrap_up_code": Text,
    "disconnectType" => Segment."disconnect_type": Text,
    "errorCode" => Segment."error_code": Text,
    "groupId" => Segment."group_id": Text,
    "requestedLanguageId" => Segment."requested_language_id": Text,
    "requestedRoutingSkillId" => Segment."requested_routing_skill_ids": List,
}

/// The SQL of the per-session segment summary (alias `g`): the last value that is set of
/// each segment dimension, by segment order, for sessions of conversations that started
/// between `min_date` and `max_date` (SQL date literals).
pub fn segment_summary(min_date: &str, max_date: &str) -> String {
    let columns: Vec<String> = DIMENSIONS
        .iter()
        .filter(|d| d.source == Source::Segment)
        .map(|d| {
            let present = if d.kind == Kind::List {
                format!("cardinality({}) > 0", d.column)
            } else {
                format!("{} IS NOT NULL", d.column)
            };
            format!(
                "last_value({c} ORDER BY segment_index) FILTER (WHERE {present}) AS {c}",
                c = d.column
            )
        })
        .collect();
    format!(
        "(SELECT conversation_id, session_id, {} FROM segments \
         WHERE conversation_date BETWEEN {min_date} AND {max_date} \
         GROUP BY conversation_id, session_id)",
        columns.join(", ")
    )
}

/// The dimension called `name` in a `groupBy` (`filter` = false) or a filter predicate:
/// a 400 for names that are not Genesys dimensions (with the closest one) and for the
/// dimensions no export holds.
pub fn lookup(name: &str, filter: bool) -> Result<&'static Dimension, ApiError> {
    let known: &[&str] = if filter {
        vocab::FILTER_DIMENSIONS
    } else {
        vocab::GROUP_BY
    };
    if !known.contains(&name) {
        let what = if filter { "filter" } else { "groupBy" };
        return Err(ApiError::bad_request(
            "invalid.dimension",
            format!(
                "{name:?} is not a conversation aggregate {what} dimension{}",
                suggest(name, known)
            ),
        ));
    }
    DIMENSIONS.iter().find(|d| d.name == name).ok_or_else(|| {
        ApiError::bad_request(
            "dimension.not.supported",
            format!(
                "the dimension {name:?} is not in the conversation detail records an export holds, so convlake cannot answer it; leave it out of the query"
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dimension_is_a_genesys_one_and_unknown_ones_are_refused() {
        for d in DIMENSIONS {
            assert!(vocab::GROUP_BY.contains(&d.name), "{}", d.name);
        }
        assert_eq!(lookup("queueId", false).unwrap().column, "queue_id");
        let typo = lookup("queueID", false).unwrap_err();
        assert!(typo.message.contains("queueId"), "{}", typo.message);
        assert_eq!(
            lookup("stationId", true).unwrap_err().code,
            "dimension.not.supported"
        );
        assert_eq!(
            lookup("canonicalExternalContactId", false)
                .unwrap_err()
                .code,
            "invalid.dimension"
        );
    }
}
