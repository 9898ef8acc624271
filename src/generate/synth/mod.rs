//! Synthesis of one realistic conversation: who takes part, in which order, for how long, and
//! the segments and metrics that follow from it, consistent as DESIGN.md ("Metrics") says:
//! counts emitted at the start of their segment, durations at its end; `nOffered`, `tAcd`,
//! `tAbandon`, `tShortAbandon`, `tFlowOut` on the queue session; `tAlert`, `tAnswered`,
//! `tTalk`, `tHeld`, `tAcw`, `tHandle` (= `tTalkComplete` + `tHeldComplete` + `tAcw`) and
//! transfers on the agent session; `nConnected` on the customer; `tIvr`, `nFlow`, `tFlow` on
//! the IVR.

use std::collections::BTreeMap;

mod later;
mod names;

use crate::generate::record::*;
use crate::generate::rng::Rng;

/// A short abandon is one under this many milliseconds in queue.
pub const SHORT_ABANDON_MS: i64 = 10_000;

/// The fixed cast of a generated contact center: queues, agents, flows, codes.
#[derive(Debug, Clone)]
pub struct Center {
    /// `(queue id, queue name)`.
    pub queues: Vec<(String, String)>,
    /// `(user id, agent name, team id)`.
    pub agents: Vec<(String, String, String)>,
    /// `(flow id, flow name)`.
    pub flows: Vec<(String, String)>,
    /// Voice edges.
    pub edges: Vec<String>,
    /// Division ids.
    pub divisions: Vec<String>,
    /// Wrap-up code ids.
    pub wrap_up_codes: Vec<String>,
    /// Skill ids.
    pub skills: Vec<String>,
    /// Evaluation form and survey form ids.
    pub forms: Vec<String>,
}

const QUEUE_NAMES: &[&str] = &[
    "Sales",
    "Billing",
    "Support Tier 1",
    "Support Tier 2",
    "Retention",
    "Claims",
    "Onboarding",
    "Collections",
    "VIP",
    "Spanish Support",
    "Technical Escalations",
    "Returns",
];
const FIRST_NAMES: &[&str] = &[
    "Ana", "Ben", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi",
    "Liam", "Maya", "Nils", "Olga", "Priya",
];
const LAST_NAMES: &[&str] = &[
    "Silva",
    "Okafor",
    "Nguyen",
    "Schmidt",
    "Rossi",
    "Kowalski",
    "Haddad",
    "Tanaka",
    "Murphy",
    "Lindqvist",
];
const FLOW_NAMES: &[&str] = &[
    "Main IVR",
    "Billing IVR",
    "After Hours",
    "Claims Intake",
    "Spanish Line",
    "Chat Bot",
];
const OUTCOMES: &[&str] = &[
    "Authenticated",
    "IntentCaptured",
    "PaymentTaken",
    "BalanceHeard",
    "CallbackOffered",
];
const ATTRIBUTE_KEYS: &[&str] = &[
    "AccountNumber",
    "CustomerSegment",
    "Language",
    "IVR.Intent",
    "Priority",
    "CRM.CaseId",
    "Survey.OptIn",
    "Region",
    "Product",
    "LoyaltyTier",
    "Authenticated",
    "CallReason",
    "Campaign",
    "Channel",
    "ContactReason",
    "Scripter.Disposition",
    "BotSessionId",
];

fn metric(name: &'static str, value: i64, at: i64) -> GenMetric {
    GenMetric {
        name,
        value,
        emit_date: Iso(at),
    }
}

fn segment(kind: &'static str, start: i64, end: i64, queue: Option<&str>) -> GenSegment {
    GenSegment {
        segment_start: Iso(start),
        segment_end: Some(Iso(end)),
        segment_type: kind,
        queue_id: queue.map(str::to_string),
        ..GenSegment::default()
    }
}

fn phone(rng: &mut Rng) -> String {
    format!(
        "tel:+1{}{:07}",
        rng.range(200, 989),
        rng.range(0, 9_999_999)
    )
}

/// How much a conversation holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Detail {
    /// 5 to 30 attributes, a hold in three conversations, a transfer in ten (about 5 KB of
    /// JSON per conversation).
    #[default]
    Standard,
    /// 80 to 160 attributes, holds in most conversations, a transfer in three (more sessions
    /// and segments): about 9 KB, like the exports of centers whose flows set many
    /// attributes.
    Rich,
}

/// Synthesizes conversations for one center.
pub struct Synth<'c> {
    center: &'c Center,
    rng: Rng,
    detail: Detail,
}

struct Leg<'q> {
    queue: &'q (String, String),
    enter: i64,
}

impl<'c> Synth<'c> {
    /// A synthesizer drawing from `rng`.
    pub fn new(center: &'c Center, rng: Rng) -> Self {
        Synth {
            center,
            rng,
            detail: Detail::Standard,
        }
    }

    /// The same synthesizer, making conversations of `detail`.
    pub fn with_detail(self, detail: Detail) -> Self {
        Synth { detail, ..self }
    }

    /// One complete conversation starting at `start` (epoch ms).
    pub fn conversation(&mut self, start: i64) -> GenConversation {
        let media = *self.rng.pick(&[
            "voice", "voice", "voice", "voice", "voice", "voice", "voice", "voice", "voice",
            "voice", "voice", "chat", "chat", "chat", "email", "email", "message", "message",
            "callback", "callback",
        ]);
        let outbound = matches!(media, "voice" | "email" | "message") && self.rng.chance(0.15);
        let mut c = GenConversation {
            conversation_id: self.rng.uuid(),
            conversation_start: Some(Iso(start)),
            originating_direction: if outbound { "outbound" } else { "inbound" },
            conversation_initiator: Some(if outbound { "agent" } else { "customer" }),
            customer_participation: Some(true),
            division_ids: vec![self.rng.pick(&self.center.divisions).clone()],
            ..GenConversation::default()
        };
        if self.rng.chance(0.05) {
            c.external_tag = Some(format!("EXT-{}", self.rng.range(10_000, 99_999)));
        }
        if outbound {
            self.outbound(&mut c, media, start);
        } else {
            self.inbound(&mut c, media, start);
        }
        if media == "voice" {
            let stats = c
                .participants
                .iter()
                .flat_map(|p| &p.sessions)
                .flat_map(|s| &s.media_endpoint_stats);
            let (mos, r) = stats.fold((f64::MAX, f64::MAX), |(m, r), s| {
                (m.min(s.min_mos), r.min(s.min_r_factor))
            });
            if mos < f64::MAX {
                c.media_stats_min_conversation_mos = Some(mos);
                c.media_stats_min_conversation_r_factor = Some(r);
            }
        }
        self.extras(&mut c);
        c
    }

    fn customer(
        &mut self,
        media: &'static str,
        direction: &'static str,
        start: i64,
    ) -> GenParticipant {
        let (fewest, most) = match self.detail {
            Detail::Standard => (5, 30),
            Detail::Rich => (80, 160),
        };
        let rng = &mut self.rng;
        let mut attributes = BTreeMap::new();
        for i in 0..rng.range(fewest, most) {
            let key = match ATTRIBUTE_KEYS.get(i as usize) {
                Some(k) => k.to_string(),
                None => format!("Custom.Field{i}"),
            };
            let value = match key.as_str() {
                "Language" => rng.pick(&["en-us", "es-us", "fr-ca"]).to_string(),
                "Priority" => rng.range(0, 10).to_string(),
                "CustomerSegment" => rng.pick(&["Gold", "Silver", "Bronze", "New"]).to_string(),
                "AccountNumber" => format!("{:010}", rng.range(0, 9_999_999_999)),
                _ => format!("v{}", rng.range(0, 99_999)),
            };
            attributes.insert(key, value);
        }
        let mut session = GenSession {
            media_type: media,
            session_id: rng.uuid(),
            direction,
            requested_routings: vec!["Standard"],
            ..GenSession::default()
        };
        session.metrics.push(metric("nConnected", 1, start));
        match media {
            "voice" | "callback" => {
                session.ani = Some(phone(rng));
                session.dnis = Some("tel:+18005550100".into());
                session.session_dnis = session.dnis.clone();
                session.address_from = session.ani.clone();
                session.address_to = session.dnis.clone();
                session.provider = Some("Edge");
                session.protocol_call_id = Some(rng.uuid());
            }
            "email" => {
                session.address_from =
                    Some(format!("customer{}@example.com", rng.range(1, 99_999)));
                session.address_to = Some("support@example.com".into());
            }
            "message" => {
                session.message_type = Some(*rng.pick(&["sms", "whatsapp", "webmessaging"]));
                session.provider = Some("PureCloud Messaging");
            }
            _ => session.provider = Some("Webchat Provider"),
        }
        if media == "callback" {
            session.callback_numbers = vec![phone(rng)];
            session.callback_user_name = Some(format!(
                "{} {}",
                rng.pick(FIRST_NAMES),
                rng.pick(LAST_NAMES)
            ));
            session.callback_scheduled_time = Some(Iso(start + 60_000));
        }
        GenParticipant {
            participant_id: rng.uuid(),
            participant_name: Some(format!(
                "{} {}",
                rng.pick(FIRST_NAMES),
                rng.pick(LAST_NAMES)
            )),
            purpose: "customer",
            external_contact_id: rng.chance(0.4).then(|| rng.uuid()),
            attributes,
            sessions: vec![session],
            ..GenParticipant::default()
        }
    }

    fn media_stats(&mut self, at: i64) -> Vec<GenMediaStat> {
        let rng = &mut self.rng;
        let mos = 3.0 + rng.unit() * 1.9;
        vec![GenMediaStat {
            codecs: vec![*rng.pick(&["audio/opus", "audio/PCMU"])],
            min_mos: mos,
            min_r_factor: 50.0 + (mos - 3.0) * 22.5,
            max_latency_ms: rng.range(20, 400),
            received_packets: rng.range(1_000, 90_000),
            discarded_packets: rng.range(0, 40),
            duplicate_packets: rng.range(0, 5),
            invalid_packets: rng.range(0, 3),
            overrun_packets: rng.range(0, 10),
            underrun_packets: rng.range(0, 10),
            event_time: Iso(at),
        }]
    }

    /// An IVR or bot flow from `start`; returns the participant and when it let go.
    fn ivr(
        &mut self,
        media: &'static str,
        start: i64,
        contained: bool,
        queue: &(String, String),
    ) -> (GenParticipant, i64) {
        let rng = &mut self.rng;
        let (flow_id, flow_name) = rng.pick(&self.center.flows).clone();
        let length = rng.duration(40_000.0, 4_000, 600_000);
        let end = start + length;
        let mut outcomes = Vec::new();
        let mut t = start + 500;
        for _ in 0..rng.range(0, 3) {
            let d = rng.range(2_000, (length / 3).max(2_001));
            if t + d >= end {
                break;
            }
            outcomes.push(GenFlowOutcome {
                flow_outcome: rng.pick(OUTCOMES).to_string(),
                flow_outcome_id: rng.uuid(),
                flow_outcome_value: if rng.chance(0.8) {
                    "SUCCESS"
                } else {
                    "FAILURE"
                },
                flow_outcome_start_timestamp: Iso(t),
                flow_outcome_end_timestamp: Some(Iso(t + d)),
            });
            t += d;
        }
        let flow_type = match media {
            "voice" => "INBOUNDCALL",
            "chat" => "INBOUNDCHAT",
            "message" => "INBOUNDSHORTMESSAGE",
            _ => "BOT",
        };
        let flow = GenFlow {
            flow_id,
            flow_name,
            flow_type,
            flow_version: format!("{}.0", rng.range(1, 40)),
            entry_type: if media == "voice" { "dnis" } else { "direct" },
            entry_reason: "tel:+18005550100".into(),
            exit_reason: Some(if contained { "DISCONNECT" } else { "TRANSFER" }),
            transfer_type: (!contained).then_some("ACD"),
            transfer_target_name: (!contained).then(|| queue.1.clone()),
            transfer_target_address: (!contained).then(|| queue.0.clone()),
            starting_language: "en-us",
            ending_language: "en-us",
            issued_callback: Some(false),
            outcomes: outcomes.clone(),
        };
        let mut seg = segment("ivr", start, end, None);
        seg.disconnect_type = Some(if contained { "peer" } else { "transfer" });
        let mut metrics = vec![
            metric("nFlow", 1, start),
            metric("tIvr", length, end),
            metric("tFlow", length, end),
        ];
        metrics.push(if contained {
            metric("tFlowDisconnect", length, end)
        } else {
            metric("tFlowExit", length, end)
        });
        for o in &outcomes {
            metrics.push(metric("nFlowOutcome", 1, o.flow_outcome_start_timestamp.0));
            let end = o.flow_outcome_end_timestamp.map_or(0, |t| t.0);
            metrics.push(metric(
                "tFlowOutcome",
                end - o.flow_outcome_start_timestamp.0,
                end,
            ));
            if o.flow_outcome_value == "FAILURE" {
                metrics.push(metric("nFlowOutcomeFailed", 1, end));
            }
        }
        let session = GenSession {
            media_type: media,
            session_id: rng.uuid(),
            direction: "inbound",
            flow: Some(flow),
            metrics,
            segments: vec![seg],
            ..GenSession::default()
        };
        let participant = GenParticipant {
            participant_id: rng.uuid(),
            participant_name: Some(FLOW_NAMES[0].to_string()),
            purpose: if media == "voice" { "ivr" } else { "botflow" },
            sessions: vec![session],
            ..GenParticipant::default()
        };
        (participant, end)
    }

    fn inbound(&mut self, c: &mut GenConversation, media: &'static str, start: i64) {
        let customer = self.customer(media, "inbound", start);
        let customer_session = customer.sessions[0].session_id.clone();
        let queue = self.rng.pick(&self.center.queues).clone();
        let mut participants = Vec::new();
        let mut t = start + self.rng.range(5, 200);
        let uses_flow = match media {
            "voice" => self.rng.chance(0.85),
            "chat" | "message" => self.rng.chance(0.3),
            _ => false,
        };
        if uses_flow {
            let contained = self.rng.chance(0.12);
            let (ivr, end) = self.ivr(media, t, contained, &queue);
            participants.push(ivr);
            t = end;
            if contained {
                c.self_served = Some(true);
                return self.close(c, customer, participants, media, t, "peer");
            }
        }
        let leg = Leg {
            queue: &queue,
            enter: t + 20,
        };
        let (acd, outcome) = self.queue_visit(media, &leg, &customer_session);
        participants.push(acd);
        let answered = match outcome {
            QueueOutcome::Abandoned(at) => {
                return self.close(c, customer, participants, media, at, "client")
            }
            QueueOutcome::FlowOut(at) => {
                return self.close(c, customer, participants, media, at, "transfer")
            }
            QueueOutcome::Answered(at) => at,
        };
        let transfer = self.rng.chance(match self.detail {
            Detail::Standard => 0.10,
            Detail::Rich => 0.33,
        });
        let (agents, end, next_queue) =
            self.agent_handling(media, &leg, answered, transfer, &customer_session);
        participants.extend(agents);
        let Some(enter) = next_queue else {
            return self.close(c, customer, participants, media, end, "peer");
        };
        // Transferred to another queue: a second queue visit, and its agent if answered.
        let queue2 = self.rng.pick(&self.center.queues).clone();
        let leg2 = Leg {
            queue: &queue2,
            enter,
        };
        let (acd2, outcome2) = self.queue_visit(media, &leg2, &customer_session);
        participants.push(acd2);
        let close_at = match outcome2 {
            QueueOutcome::Answered(at) => {
                let (agents2, end2, _) =
                    self.agent_handling(media, &leg2, at, false, &customer_session);
                participants.extend(agents2);
                end2
            }
            QueueOutcome::Abandoned(at) | QueueOutcome::FlowOut(at) => at,
        };
        self.close(c, customer, participants, media, close_at, "peer")
    }

    /// Ends the customer's session at `end` and assembles the conversation.
    fn close(
        &mut self,
        c: &mut GenConversation,
        mut customer: GenParticipant,
        others: Vec<GenParticipant>,
        media: &'static str,
        end: i64,
        how: &'static str,
    ) {
        let start = c.conversation_start.map_or(0, |t| t.0);
        let session = &mut customer.sessions[0];
        let mut seg = segment("interact", start, end.max(start + 1), None);
        seg.disconnect_type = Some(how);
        if media == "voice" {
            seg.sip_response_codes = vec![200];
            seg.q850_response_codes = vec![16];
            session.media_endpoint_stats = self.media_stats(end);
            session.edge_id = Some(self.rng.pick(&self.center.edges).clone());
        }
        if let Some(queue) = others
            .iter()
            .flat_map(|p| &p.sessions)
            .flat_map(|s| &s.segments)
            .find_map(|s| s.queue_id.clone())
        {
            seg.queue_id = Some(queue);
        }
        session.segments.push(seg);
        c.conversation_end = Some(Iso(end.max(start + 1)));
        c.participants.push(customer);
        c.participants.extend(others);
    }

    fn queue_visit(
        &mut self,
        media: &'static str,
        leg: &Leg,
        peer: &str,
    ) -> (GenParticipant, QueueOutcome) {
        let rng = &mut self.rng;
        let median = match media {
            "email" => 900_000.0,
            "callback" => 120_000.0,
            _ => 35_000.0,
        };
        let roll = rng.unit();
        let (wait, outcome_kind) = if roll < 0.08 && media != "email" {
            (rng.duration(30_000.0, 500, 900_000), 1)
        } else if roll < 0.11 {
            (rng.duration(120_000.0, 5_000, 900_000), 2)
        } else {
            (rng.duration(median, 300, 3_600_000), 0)
        };
        let end = leg.enter + wait;
        let mut seg = segment("interact", leg.enter, end, Some(&leg.queue.0));
        seg.disconnect_type = Some(match outcome_kind {
            1 => "client",
            _ => "transfer",
        });
        if rng.chance(0.3) {
            seg.requested_routing_skill_ids = vec![rng.pick(&self.center.skills).clone()];
            seg.requested_language_id = Some(rng.uuid());
        }
        let mut metrics = vec![metric("nOffered", 1, leg.enter), metric("tAcd", wait, end)];
        let outcome = match outcome_kind {
            1 => {
                metrics.push(metric("tAbandon", wait, end));
                if wait < SHORT_ABANDON_MS {
                    metrics.push(metric("tShortAbandon", wait, end));
                }
                QueueOutcome::Abandoned(end)
            }
            2 => {
                metrics.push(metric("tFlowOut", wait, end));
                QueueOutcome::FlowOut(end)
            }
            _ => QueueOutcome::Answered(end),
        };
        let mut session = GenSession {
            media_type: media,
            session_id: rng.uuid(),
            direction: "inbound",
            peer_id: Some(peer.to_string()),
            requested_routings: vec!["Standard"],
            metrics,
            segments: vec![seg],
            ..GenSession::default()
        };
        if rng.chance(0.05) {
            session.requested_routings = vec!["Predictive", "Standard"];
            session.used_routing = Some("Predictive");
            session.proposed_agents = (1..=3)
                .map(|rank| GenProposedAgent {
                    proposed_agent_id: rng.pick(&self.center.agents).0.clone(),
                    agent_rank: rank,
                })
                .collect();
        } else {
            session.used_routing = Some("Standard");
            session.agent_bullseye_ring = rng.chance(0.2).then(|| rng.range(1, 3) as i32);
        }
        let participant = GenParticipant {
            participant_id: rng.uuid(),
            participant_name: Some(leg.queue.1.clone()),
            purpose: "acd",
            sessions: vec![session],
            ..GenParticipant::default()
        };
        (participant, outcome)
    }

    /// Agents handling an answered leg. Returns them, when the customer side ended, and, for a
    /// transfer to a queue, when the customer entered the next queue.
    fn agent_handling(
        &mut self,
        media: &'static str,
        leg: &Leg,
        answered: i64,
        transfer: bool,
        peer: &str,
    ) -> (Vec<GenParticipant>, i64, Option<i64>) {
        let mut out = Vec::new();
        let alert = self
            .rng
            .duration(4_000.0, 500, 20_000)
            .min(answered - leg.enter)
            .max(1);
        if self.rng.chance(0.05) && answered - leg.enter > 16_000 {
            // An agent who did not respond before the one who answered.
            let start = leg.enter + 200;
            let timeout = (answered - alert - start - 100).clamp(1, 15_000);
            let mut seg = segment("alert", start, start + timeout, Some(&leg.queue.0));
            seg.disconnect_type = Some("noAnswerTransfer");
            let metrics = vec![
                metric("tAlert", timeout, start + timeout),
                metric("tNotResponding", timeout, start + timeout),
            ];
            out.push(self.agent_participant(media, leg, vec![seg], metrics, peer));
        }
        let talk_median = match media {
            "voice" | "callback" => 240_000.0,
            "email" => 300_000.0,
            _ => 420_000.0,
        };
        let mut segments = vec![segment(
            "alert",
            answered - alert,
            answered,
            Some(&leg.queue.0),
        )];
        let mut metrics = vec![
            metric("tAlert", alert, answered),
            metric("tAnswered", answered - leg.enter, answered),
        ];
        let mut t = answered;
        let (mut talk_total, mut held_total) = (0, 0);
        let holds = if self.detail == Detail::Rich && self.rng.chance(0.8) {
            self.rng.range(1, 4)
        } else if self.rng.chance(0.3) {
            self.rng.range(1, 2)
        } else {
            0
        };
        for i in 0..=holds {
            let talk = self
                .rng
                .duration(talk_median / (holds + 1) as f64, 2_000, 7_200_000);
            segments.push(segment("interact", t, t + talk, Some(&leg.queue.0)));
            metrics.push(metric("tTalk", talk, t + talk));
            talk_total += talk;
            t += talk;
            if i < holds {
                let held = self.rng.duration(45_000.0, 3_000, 1_200_000);
                segments.push(segment("hold", t, t + held, Some(&leg.queue.0)));
                metrics.push(metric("tHeld", held, t + held));
                held_total += held;
                t += held;
            }
        }
        let mut next_queue = None;
        let mut second_agent = None;
        if transfer {
            let consult = self.rng.chance(0.4);
            let last = segments.last_mut().expect("talk segment");
            last.disconnect_type = Some(if consult {
                "consultTransfer"
            } else {
                "transfer"
            });
            if consult {
                metrics.push(metric("nConsult", 1, t));
                metrics.push(metric("nConsultTransferred", 1, t));
            } else {
                metrics.push(metric("nBlindTransferred", 1, t));
            }
            metrics.push(metric("nTransferred", 1, t));
            if self.rng.chance(0.5) {
                next_queue = Some(t + 100);
            } else {
                second_agent = Some(t + 100);
            }
        } else {
            segments.last_mut().expect("talk segment").disconnect_type =
                Some(if self.rng.chance(0.7) {
                    "peer"
                } else {
                    "client"
                });
        }
        let call_end = t;
        let acw = self.rng.duration(25_000.0, 1_000, 900_000);
        let mut wrap = segment("wrapup", t, t + acw, Some(&leg.queue.0));
        wrap.wrap_up_code = Some(self.rng.pick(&self.center.wrap_up_codes).clone());
        if self.rng.chance(0.15) {
            wrap.wrap_up_note = Some("Customer asked about their last invoice.".into());
        }
        wrap.disconnect_type = Some("endpoint");
        if media == "email" {
            wrap.subject = Some("Re: my order".into());
        }
        segments.push(wrap);
        metrics.push(metric("tTalkComplete", talk_total, call_end));
        if held_total > 0 {
            metrics.push(metric("tHeldComplete", held_total, call_end));
        }
        metrics.push(metric("tAcw", acw, t + acw));
        metrics.push(metric("tHandle", talk_total + held_total + acw, t + acw));
        let mut agent = self.agent_participant(media, leg, segments, metrics, peer);
        if self.rng.chance(0.05) {
            let id = self.rng.pick(&self.center.agents).0.clone();
            let score = self.rng.range(1, 100) as i32;
            agent.sessions[0].segments[0].scored_agents = vec![GenScoredAgent {
                scored_agent_id: id,
                agent_score: score,
            }];
        }
        if self.rng.chance(0.02) {
            agent.sessions[0].segments[1].properties = vec![GenProperty {
                property: "ScreenPopShown".into(),
                property_type: "bool",
                value: "true".into(),
            }];
        }
        let mut end = call_end;
        out.push(agent);
        if let Some(start) = second_agent {
            // Direct transfer to an agent: handled by both, answered by the first only.
            let talk = self.rng.duration(talk_median, 2_000, 7_200_000);
            let alert2 = self.rng.duration(3_000.0, 500, 15_000);
            let acw2 = self.rng.duration(20_000.0, 1_000, 600_000);
            let s = start + alert2;
            let mut segs = vec![
                segment("alert", start, s, Some(&leg.queue.0)),
                segment("interact", s, s + talk, Some(&leg.queue.0)),
                segment("wrapup", s + talk, s + talk + acw2, Some(&leg.queue.0)),
            ];
            segs[1].disconnect_type = Some("peer");
            segs[2].wrap_up_code = Some(self.rng.pick(&self.center.wrap_up_codes).clone());
            let metrics = vec![
                metric("tAlert", alert2, s),
                metric("tTalk", talk, s + talk),
                metric("tTalkComplete", talk, s + talk),
                metric("tAcw", acw2, s + talk + acw2),
                metric("tHandle", talk + acw2, s + talk + acw2),
            ];
            out.push(self.agent_participant(media, leg, segs, metrics, peer));
            end = s + talk;
        }
        (out, end, next_queue)
    }

    fn agent_participant(
        &mut self,
        media: &'static str,
        leg: &Leg,
        segments: Vec<GenSegment>,
        metrics: Vec<GenMetric>,
        peer: &str,
    ) -> GenParticipant {
        let (user_id, _, team) = self.rng.pick(&self.center.agents).clone();
        let mut session = GenSession {
            media_type: media,
            session_id: self.rng.uuid(),
            direction: "inbound",
            peer_id: Some(peer.to_string()),
            requested_routings: vec!["Standard"],
            used_routing: Some("Standard"),
            selected_agent_id: Some(user_id.clone()),
            recording: Some(media == "voice"),
            active_skill_ids: vec![self.rng.pick(&self.center.skills).clone()],
            waiting_interaction_counts: vec![self.rng.range(0, 12) as i32],
            metrics,
            ..GenSession::default()
        };
        if media == "voice" {
            let at = segments
                .last()
                .and_then(|s| s.segment_end)
                .map_or(leg.enter, |t| t.0);
            session.media_endpoint_stats = self.media_stats(at);
            session.edge_id = Some(self.rng.pick(&self.center.edges).clone());
            session.remote = Some("Customer".into());
        }
        session.segments = segments;
        GenParticipant {
            participant_id: self.rng.uuid(),
            // Real exports give agent participants no name (the user's name is in the
            // directory): nor does the generator.
            participant_name: None,
            purpose: "agent",
            user_id: Some(user_id),
            team_id: Some(team),
            sessions: vec![session],
            ..GenParticipant::default()
        }
    }
}

enum QueueOutcome {
    Answered(i64),
    Abandoned(i64),
    FlowOut(i64),
}
