//! The enum vocabularies of the Genesys reference model: the exact wire values of every
//! enum-typed property, one marker type per distinct value set.
//!
//! Enums are open-ended in practice, so these lists never reject anything: a value missing
//! here is stored as sent and counted as drift by [`crate::model::audit`].

/// A set of known wire values for an enum-typed property.
pub trait Vocabulary: 'static {
    /// The name of the value set, as used in drift reports.
    const NAME: &'static str;
    /// The known values, sorted (byte order) for binary search.
    const VALUES: &'static [&'static str];

    /// Whether `value` is a known wire value.
    fn contains(value: &str) -> bool {
        Self::VALUES.binary_search(&value).is_ok()
    }
}

macro_rules! vocabulary {
    ($name:ident, [$($value:literal),* $(,)?]) => {
        #[doc = concat!("Known wire values of `", stringify!($name), "`.")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name;
        impl Vocabulary for $name {
            const NAME: &'static str = stringify!($name);
            const VALUES: &'static [&'static str] = &[$($value),*];
        }
    };
}

vocabulary!(
    Purpose,
    [
        "acd",
        "agent",
        "api",
        "botflow",
        "campaign",
        "customer",
        "dialer",
        "external",
        "fax",
        "group",
        "inbound",
        "ivr",
        "manual",
        "outbound",
        "station",
        "user",
        "voicemail",
        "voicesurveyflow",
        "workflow"
    ]
);
vocabulary!(Direction, ["inbound", "outbound"]);
vocabulary!(
    EvaluationStatus,
    ["Finished", "InProgress", "InReview", "Pending", "Retracted"]
);
vocabulary!(SurveyType, ["Voice", "Web"]);
vocabulary!(FlaggedReason, ["general"]);
vocabulary!(
    DeliveryStatus,
    [
        "DeliveryFailed",
        "DeliveryPushed",
        "DeliverySuccess",
        "Failed",
        "Published",
        "Queued",
        "Read",
        "Received",
        "Sent"
    ]
);
vocabulary!(
    EngagementSource,
    [
        "AppleMessagesForBusiness",
        "Discord",
        "Email",
        "Facebook",
        "FacebookMessenger",
        "Glassdoor",
        "GoogleBusinessProfile",
        "Instagram",
        "KakaoTalk",
        "Line",
        "LinkedIn",
        "MicrosoftTeams",
        "MobileChat",
        "OpenMessaging",
        "Other",
        "QQ",
        "Reddit",
        "SFDC",
        "SMS",
        "ServiceNow",
        "Snapchat",
        "Telegram",
        "Threads",
        "Trustpilot",
        "Unspecified",
        "Viber",
        "WeChat",
        "WebChat",
        "Weibo",
        "WhatsApp",
        "X",
        "Yelp",
        "YouTube",
        "Zendesk"
    ]
);
vocabulary!(
    MediaType,
    [
        "callback",
        "chat",
        "cobrowse",
        "email",
        "internalmessage",
        "message",
        "screenmonitoring",
        "screenshare",
        "unknown",
        "video",
        "voice"
    ]
);
vocabulary!(
    Routing,
    [
        "Bullseye",
        "Conditional",
        "Direct",
        "Last",
        "Manual",
        "Predictive",
        "Preferred",
        "Standard",
        "Vip"
    ]
);
vocabulary!(
    RoutingRuleType,
    ["Bullseye", "Conditional", "Predictive", "Preferred"]
);
vocabulary!(AgentGroupType, ["Group", "SkillGroup", "Team"]);
vocabulary!(
    FlowEntryType,
    ["agent", "direct", "dnis", "flow", "outbound"]
);
vocabulary!(
    FlowType,
    [
        "BOT",
        "COMMONMODULE",
        "DIGITALBOT",
        "EMAILSEND",
        "INBOUNDCALL",
        "INBOUNDCHAT",
        "INBOUNDEMAIL",
        "INBOUNDSHORTMESSAGE",
        "INQUEUECALL",
        "INQUEUEEMAIL",
        "INQUEUESHORTMESSAGE",
        "OUTBOUNDCALL",
        "SECURECALL",
        "SPEECH",
        "SURVEYINVITE",
        "VOICE",
        "VOICEMAIL",
        "VOICESURVEY",
        "WORKFLOW",
        "WORKITEM"
    ]
);
vocabulary!(
    DisconnectType,
    [
        "client",
        "conferenceTransfer",
        "consultTransfer",
        "dndEndpoint",
        "dndTransfer",
        "endpoint",
        "error",
        "forwardTransfer",
        "inactivity",
        "noAnswerTransfer",
        "notAvailableTransfer",
        "other",
        "peer",
        "sessionExpired",
        "spam",
        "system",
        "takeover",
        "timeout",
        "transfer",
        "transportFailure",
        "uncallable"
    ]
);
vocabulary!(
    SegmentType,
    [
        "alert",
        "barging",
        "callback",
        "coaching",
        "contacting",
        "converting",
        "delay",
        "dialing",
        "hold",
        "interact",
        "ivr",
        "monitoring",
        "parked",
        "scheduled",
        "screenmonitoring",
        "sharing",
        "system",
        "transmitting",
        "unknown",
        "uploading",
        "voicemail",
        "wrapup"
    ]
);
vocabulary!(
    PropertyType,
    ["bool", "date", "integer", "real", "string", "uuid"]
);
vocabulary!(AggregationType, ["numericRange", "termFrequency"]);

/// Every vocabulary, by name, for `convlake schema` and the reference test.
pub const ALL: &[(&str, &[&str])] = &[
    (Purpose::NAME, Purpose::VALUES),
    (Direction::NAME, Direction::VALUES),
    (EvaluationStatus::NAME, EvaluationStatus::VALUES),
    (SurveyType::NAME, SurveyType::VALUES),
    (FlaggedReason::NAME, FlaggedReason::VALUES),
    (DeliveryStatus::NAME, DeliveryStatus::VALUES),
    (EngagementSource::NAME, EngagementSource::VALUES),
    (MediaType::NAME, MediaType::VALUES),
    (Routing::NAME, Routing::VALUES),
    (RoutingRuleType::NAME, RoutingRuleType::VALUES),
    (AgentGroupType::NAME, AgentGroupType::VALUES),
    (FlowEntryType::NAME, FlowEntryType::VALUES),
    (FlowType::NAME, FlowType::VALUES),
    (DisconnectType::NAME, DisconnectType::VALUES),
    (SegmentType::NAME, SegmentType::VALUES),
    (PropertyType::NAME, PropertyType::VALUES),
    (AggregationType::NAME, AggregationType::VALUES),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabularies_are_sorted_for_binary_search() {
        for (name, values) in ALL {
            assert!(
                values.windows(2).all(|w| w[0] < w[1]),
                "{name} is not sorted"
            );
        }
        assert!(DisconnectType::contains("peer"));
        assert!(!MediaType::contains("hologram"));
    }
}
