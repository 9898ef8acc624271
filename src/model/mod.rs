//! The Genesys Cloud conversation-details data model, every model reachable from
//! `AnalyticsConversation`, declared once with `model!` (see [`macros`]).
//!
//! Declarations follow `tests/fixtures/reference/genesys-conversation-details.schema.json` property for
//! property; the test `model_matches_reference` reads that file and fails on any difference.
//! The sync endpoint's `…WithoutAttributes` twins are the same models less `attributes`, so
//! one declaration serves both. The response wrappers' own data (`totalHits`, `cursor`,
//! `dataAvailabilityDate`, `aggregations`) is decoded by [`Page`].

#[macro_use]
mod macros;
pub mod audit;
mod page;
mod values;

pub use page::Page;
pub use values::{
    civil_from_days, civil_millis, days_from_civil, format_timestamp, parse_timestamp, Attributes,
    Enum, Text, Ts,
};

model! {
    /// `AnalyticsSessionMetric`: A single detail metric emitted on a session: {name, value, emitDate}. value is int64 (durations in milliseconds for t* metrics, counts for n* metrics).
    SessionMetric "AnalyticsSessionMetric" => SessionMetricScalars, SessionMetricColumns {
      scalars {
        emit_date: [Ts] = "emitDate",
        name: [Text] = "name",
        value: [I64] = "value",
      }
      children {

      }
    }
}

model! {
    /// `AnalyticsProperty`: Typed custom property on a segment (property name, propertyType, value as string).
    Property "AnalyticsProperty" => PropertyScalars, PropertyColumns {
      scalars {
        property: [Text] = "property",
        property_type: [Enum PropertyType] = "propertyType",
        value: [Text] = "value",
      }
      children {

      }
    }
}

model! {
    /// `AnalyticsScoredAgent`: Agent scored by predictive routing for a segment, with score.
    ScoredAgent "AnalyticsScoredAgent" => ScoredAgentScalars, ScoredAgentColumns {
      scalars {
        agent_score: [I32] = "agentScore",
        scored_agent_id: [Text] = "scoredAgentId",
      }
      children {

      }
    }
}

model! {
    /// `AnalyticsConversationSegment`: A time-bounded state interval within a session (segmentType alert/interact/hold/wrapup/...), with segmentStart/segmentEnd.
    Segment "AnalyticsConversationSegment" => SegmentScalars, SegmentColumns {
      scalars {
        audio_muted: [Bool] = "audioMuted",
        conference: [Bool] = "conference",
        destination_conversation_id: [Text] = "destinationConversationId",
        destination_session_id: [Text] = "destinationSessionId",
        disconnect_type: [Enum DisconnectType] = "disconnectType",
        error_code: [Text] = "errorCode",
        group_id: [Text] = "groupId",
        q850_response_codes: [List I64] = "q850ResponseCodes",
        queue_id: [Text] = "queueId",
        requested_language_id: [Text] = "requestedLanguageId",
        requested_routing_skill_ids: [List Text] = "requestedRoutingSkillIds",
        requested_routing_user_ids: [List Text] = "requestedRoutingUserIds",
        segment_end: [Ts] = "segmentEnd",
        segment_start: [Ts] = "segmentStart",
        segment_type: [Enum SegmentType] = "segmentType",
        sip_response_codes: [List I64] = "sipResponseCodes",
        source_conversation_id: [Text] = "sourceConversationId",
        source_session_id: [Text] = "sourceSessionId",
        subject: [Text] = "subject",
        video_muted: [Bool] = "videoMuted",
        wrap_up_code: [Text] = "wrapUpCode",
        wrap_up_note: [Text] = "wrapUpNote",
        wrap_up_tags: [List Text] = "wrapUpTags",
      }
      children {
        scored_agents: [List Model ScoredAgent] = "scoredAgents",
        properties: [List Model Property] = "properties",
      }
    }
}

model! {
    /// `AnalyticsMediaEndpointStat`: Voice media quality statistics per endpoint (MOS, R-factor, packet counts).
    MediaEndpointStat "AnalyticsMediaEndpointStat" => MediaEndpointStatScalars, MediaEndpointStatColumns {
      scalars {
        codecs: [List Text] = "codecs",
        discarded_packets: [I64] = "discardedPackets",
        duplicate_packets: [I64] = "duplicatePackets",
        event_time: [Ts] = "eventTime",
        invalid_packets: [I64] = "invalidPackets",
        max_latency_ms: [I64] = "maxLatencyMs",
        min_mos: [F64] = "minMos",
        min_r_factor: [F64] = "minRFactor",
        overrun_packets: [I64] = "overrunPackets",
        received_packets: [I64] = "receivedPackets",
        underrun_packets: [I64] = "underrunPackets",
      }
      children {

      }
    }
}

model! {
    /// `AnalyticsFlowOutcome`: A flow outcome (milestone result) reached during a flow execution.
    FlowOutcome "AnalyticsFlowOutcome" => FlowOutcomeScalars, FlowOutcomeColumns {
      scalars {
        flow_outcome: [Text] = "flowOutcome",
        flow_outcome_end_timestamp: [Ts] = "flowOutcomeEndTimestamp",
        flow_outcome_id: [Text] = "flowOutcomeId",
        flow_outcome_start_timestamp: [Ts] = "flowOutcomeStartTimestamp",
        flow_outcome_value: [Text] = "flowOutcomeValue",
      }
      children {

      }
    }
}

model! {
    /// `AnalyticsFlow`: Architect flow execution attached to a session (ivr/bot/inqueue flows).
    Flow "AnalyticsFlow" => FlowScalars, FlowColumns {
      scalars {
        ending_language: [Text] = "endingLanguage",
        entry_reason: [Text] = "entryReason",
        entry_type: [Enum FlowEntryType] = "entryType",
        exit_reason: [Text] = "exitReason",
        flow_id: [Text] = "flowId",
        flow_name: [Text] = "flowName",
        flow_type: [Enum FlowType] = "flowType",
        flow_version: [Text] = "flowVersion",
        issued_callback: [Bool] = "issuedCallback",
        recognition_failure_reason: [Text] = "recognitionFailureReason",
        starting_language: [Text] = "startingLanguage",
        transfer_target_address: [Text] = "transferTargetAddress",
        transfer_target_name: [Text] = "transferTargetName",
        transfer_type: [Text] = "transferType",
      }
      children {
        outcomes: [List Model FlowOutcome] = "outcomes",
      }
    }
}

model! {
    /// `AnalyticsAgentGroup`: Conditional group routing agent group.
    AgentGroup "AnalyticsAgentGroup" => AgentGroupScalars, AgentGroupColumns {
      scalars {
        agent_group_id: [Text] = "agentGroupId",
        agent_group_type: [Enum AgentGroupType] = "agentGroupType",
      }
      children {

      }
    }
}

model! {
    /// `AnalyticsProposedAgent`: Agent proposed by predictive routing, with rank.
    ProposedAgent "AnalyticsProposedAgent" => ProposedAgentScalars, ProposedAgentColumns {
      scalars {
        agent_rank: [I32] = "agentRank",
        proposed_agent_id: [Text] = "proposedAgentId",
      }
      children {

      }
    }
}

model! {
    /// `AnalyticsSession`: One media session of a participant: routing/addressing info plus nested segments, metrics, flow, mediaEndpointStats, proposedAgents, agentGroups.
    Session "AnalyticsSession" => SessionScalars, SessionColumns {
      scalars {
        active_skill_ids: [List Text] = "activeSkillIds",
        acw_skipped: [Bool] = "acwSkipped",
        address_from: [Text] = "addressFrom",
        address_other: [Text] = "addressOther",
        address_self: [Text] = "addressSelf",
        address_to: [Text] = "addressTo",
        agent_assistant_id: [Text] = "agentAssistantId",
        agent_bullseye_ring: [I32] = "agentBullseyeRing",
        agent_owned: [Bool] = "agentOwned",
        ani: [Text] = "ani",
        assigner_id: [Text] = "assignerId",
        authenticated: [Bool] = "authenticated",
        barged_participant_id: [Text] = "bargedParticipantId",
        bcc: [List Text] = "bcc",
        callback_numbers: [List Text] = "callbackNumbers",
        callback_scheduled_time: [Ts] = "callbackScheduledTime",
        callback_user_name: [Text] = "callbackUserName",
        cc: [List Text] = "cc",
        cleared: [Bool] = "cleared",
        coached_participant_id: [Text] = "coachedParticipantId",
        cobrowse_role: [Text] = "cobrowseRole",
        cobrowse_room_id: [Text] = "cobrowseRoomId",
        delivery_pushed: [Bool] = "deliveryPushed",
        delivery_status: [Enum DeliveryStatus] = "deliveryStatus",
        delivery_status_change_date: [Ts] = "deliveryStatusChangeDate",
        destination_addresses: [List Text] = "destinationAddresses",
        detected_speech_end: [Ts] = "detectedSpeechEnd",
        detected_speech_start: [Ts] = "detectedSpeechStart",
        direction: [Enum Direction] = "direction",
        disposition_analyzer: [Text] = "dispositionAnalyzer",
        disposition_name: [Text] = "dispositionName",
        dnis: [Text] = "dnis",
        edge_id: [Text] = "edgeId",
        eligible_agent_counts: [List I32] = "eligibleAgentCounts",
        engagement_source: [Enum EngagementSource] = "engagementSource",
        error_code_description: [Text] = "errorCodeDescription",
        extended_delivery_status: [Text] = "extendedDeliveryStatus",
        flow_in_type: [Text] = "flowInType",
        flow_out_type: [Text] = "flowOutType",
        journey_action_id: [Text] = "journeyActionId",
        journey_action_map_id: [Text] = "journeyActionMapId",
        journey_action_map_version: [I32] = "journeyActionMapVersion",
        journey_customer_id: [Text] = "journeyCustomerId",
        journey_customer_id_type: [Text] = "journeyCustomerIdType",
        journey_customer_session_id: [Text] = "journeyCustomerSessionId",
        journey_customer_session_id_type: [Text] = "journeyCustomerSessionIdType",
        media_bridge_id: [Text] = "mediaBridgeId",
        media_count: [I32] = "mediaCount",
        media_type: [Enum MediaType] = "mediaType",
        message_type: [Text] = "messageType",
        monitored_participant_id: [Text] = "monitoredParticipantId",
        outbound_campaign_id: [Text] = "outboundCampaignId",
        outbound_contact_id: [Text] = "outboundContactId",
        outbound_contact_list_id: [Text] = "outboundContactListId",
        peer_id: [Text] = "peerId",
        protocol_call_id: [Text] = "protocolCallId",
        provider: [Text] = "provider",
        recording: [Bool] = "recording",
        remote: [Text] = "remote",
        remote_name_displayable: [Text] = "remoteNameDisplayable",
        removed_skill_ids: [List Text] = "removedSkillIds",
        requested_routings: [List Enum Routing] = "requestedRoutings",
        room_id: [Text] = "roomId",
        routing_ring: [I32] = "routingRing",
        routing_rule: [Text] = "routingRule",
        routing_rule_type: [Enum RoutingRuleType] = "routingRuleType",
        screen_monitored_user_id: [Text] = "screenMonitoredUserId",
        screen_share_address_self: [Text] = "screenShareAddressSelf",
        screen_share_room_id: [Text] = "screenShareRoomId",
        script_id: [Text] = "scriptId",
        selected_agent_id: [Text] = "selectedAgentId",
        selected_agent_rank: [I32] = "selectedAgentRank",
        session_dnis: [Text] = "sessionDnis",
        session_id: [Text] = "sessionId",
        sharing_screen: [Bool] = "sharingScreen",
        skill_expression_id: [Text] = "skillExpressionId",
        skip_enabled: [Bool] = "skipEnabled",
        snippet_recording: [Bool] = "snippetRecording",
        timeout_seconds: [I32] = "timeoutSeconds",
        used_routing: [Enum Routing] = "usedRouting",
        video_address_self: [Text] = "videoAddressSelf",
        video_room_id: [Text] = "videoRoomId",
        waiting_interaction_counts: [List I32] = "waitingInteractionCounts",
      }
      children {
        agent_groups: [List Model AgentGroup] = "agentGroups",
        proposed_agents: [List Model ProposedAgent] = "proposedAgents",
        media_endpoint_stats: [List Model MediaEndpointStat] = "mediaEndpointStats",
        flow: [Model Flow] = "flow",
        metrics: [List Model SessionMetric] = "metrics",
        segments: [List Model Segment] = "segments",
      }
    }
}

model! {
    /// `AnalyticsParticipant`: A participant of the conversation (customer, ivr, acd, agent, ...), with sessions and a free-form attributes map (participant data).
    Participant "AnalyticsParticipant" => ParticipantScalars, ParticipantColumns {
      scalars {
        external_contact_id: [Text] = "externalContactId",
        external_organization_id: [Text] = "externalOrganizationId",
        flagged_reason: [Enum FlaggedReason] = "flaggedReason",
        participant_id: [Text] = "participantId",
        participant_name: [Text] = "participantName",
        purpose: [Enum Purpose] = "purpose",
        screen_recording: [Bool] = "screenRecording",
        team_id: [Text] = "teamId",
        user_id: [Text] = "userId",
        attributes: [Attributes] = "attributes",
      }
      children {
        sessions: [List Model Session] = "sessions",
      }
    }
}

model! {
    /// `AnalyticsEvaluation`: Quality evaluation attached to the conversation.
    Evaluation "AnalyticsEvaluation" => EvaluationScalars, EvaluationColumns {
      scalars {
        assignee_applicable: [Bool] = "assigneeApplicable",
        assignee_id: [Text] = "assigneeId",
        calibration_id: [Text] = "calibrationId",
        context_id: [Text] = "contextId",
        deleted: [Bool] = "deleted",
        evaluation_id: [Text] = "evaluationId",
        evaluation_status: [Enum EvaluationStatus] = "evaluationStatus",
        evaluator_id: [Text] = "evaluatorId",
        event_time: [Ts] = "eventTime",
        form_id: [Text] = "formId",
        form_name: [Text] = "formName",
        queue_id: [Text] = "queueId",
        released: [Bool] = "released",
        rescored: [Bool] = "rescored",
        system_submitted: [Bool] = "systemSubmitted",
        user_id: [Text] = "userId",
        o_total_critical_score: [I64] = "oTotalCriticalScore",
        o_total_score: [I64] = "oTotalScore",
      }
      children {

      }
    }
}

model! {
    /// `AnalyticsSurvey`: Post-interaction survey attached to the conversation.
    Survey "AnalyticsSurvey" => SurveyScalars, SurveyColumns {
      scalars {
        event_time: [Ts] = "eventTime",
        queue_id: [Text] = "queueId",
        survey_completed_date: [Ts] = "surveyCompletedDate",
        survey_form_context_id: [Text] = "surveyFormContextId",
        survey_form_id: [Text] = "surveyFormId",
        survey_form_name: [Text] = "surveyFormName",
        survey_id: [Text] = "surveyId",
        survey_partial_response: [Bool] = "surveyPartialResponse",
        survey_promoter_score: [I32] = "surveyPromoterScore",
        survey_status: [Text] = "surveyStatus",
        survey_type: [Enum SurveyType] = "surveyType",
        user_id: [Text] = "userId",
        o_survey_total_score: [I64] = "oSurveyTotalScore",
      }
      children {

      }
    }
}

model! {
    /// `AnalyticsResolution`: Resolution (next-contact-avoided) record attached to the conversation.
    Resolution "AnalyticsResolution" => ResolutionScalars, ResolutionColumns {
      scalars {
        event_time: [Ts] = "eventTime",
        queue_id: [Text] = "queueId",
        user_id: [Text] = "userId",
        n_next_contact_avoided: [I64] = "nNextContactAvoided",
      }
      children {

      }
    }
}

model! {
    /// `AnalyticsConversation`: One conversation detail record (async job results variant, participants carry attributes).
    Conversation "AnalyticsConversation" => ConversationScalars, ConversationColumns {
      scalars {
        access_attributes: [List Text] = "accessAttributes",
        associated_conversation_id: [Text] = "associatedConversationId",
        conference_start: [Ts] = "conferenceStart",
        consultation_conversation_ids: [List Text] = "consultationConversationIds",
        conversation_end: [Ts] = "conversationEnd",
        conversation_id: [Text] = "conversationId",
        conversation_initiator: [Enum Purpose] = "conversationInitiator",
        conversation_start: [Ts] = "conversationStart",
        customer_participation: [Bool] = "customerParticipation",
        division_ids: [List Text] = "divisionIds",
        external_tag: [Text] = "externalTag",
        inactivity_timeout: [Ts] = "inactivityTimeout",
        knowledge_base_ids: [List Text] = "knowledgeBaseIds",
        media_stats_min_conversation_mos: [F64] = "mediaStatsMinConversationMos",
        media_stats_min_conversation_r_factor: [F64] = "mediaStatsMinConversationRFactor",
        originating_direction: [Enum Direction] = "originatingDirection",
        originating_social_media_public: [Bool] = "originatingSocialMediaPublic",
        self_served: [Bool] = "selfServed",
      }
      children {
        evaluations: [List Model Evaluation] = "evaluations",
        surveys: [List Model Survey] = "surveys",
        resolutions: [List Model Resolution] = "resolutions",
        participants: [List Model Participant] = "participants",
      }
    }
}

model! {
    /// `AggregationResultEntry`: One bucket of an AggregationResult.
    AggregationResultEntry "AggregationResultEntry" => AggregationResultEntryScalars, AggregationResultEntryColumns {
      scalars {
        count: [I64] = "count",
        value: [Text] = "value",
        gte: [F64] = "gte",
        lt: [F64] = "lt",
      }
      children {

      }
    }
}

model! {
    /// `AggregationResult`: Optional aggregations block in the sync details query response (when the query asks for aggregations).
    AggregationResult "AggregationResult" => AggregationResultScalars, AggregationResultColumns {
      scalars {
        r#type: [Enum AggregationType] = "type",
        dimension: [Text] = "dimension",
        metric: [Text] = "metric",
        count: [I64] = "count",
      }
      children {
        results: [List Model AggregationResultEntry] = "results",
      }
    }
}
