//! The parts of a synthetic conversation outside the inbound queue path: outbound calls
//! placed by agents, and what arrives after a conversation (evaluations, surveys,
//! resolutions).

use crate::generate::record::*;

use super::{metric, segment, Synth};

impl Synth<'_> {
    pub(super) fn outbound(&mut self, c: &mut GenConversation, media: &'static str, start: i64) {
        let (user_id, _, team) = self.rng.pick(&self.center.agents).clone();
        let queue = self.rng.pick(&self.center.queues).clone();
        let mut external = self.customer(media, "outbound", start);
        external.purpose = "external";
        external.sessions[0].metrics.clear();
        let rng = &mut self.rng;
        let dialing = rng.duration(3_000.0, 500, 20_000);
        let contacting = rng.duration(12_000.0, 1_000, 60_000);
        let connected = rng.chance(0.7);
        let mut t = start;
        let q = Some(queue.0.as_str());
        let mut segments = vec![segment("dialing", t, t + dialing, q)];
        t += dialing;
        segments.push(segment("contacting", t, t + contacting, q));
        t += contacting;
        let mut metrics = vec![
            metric("nOutbound", 1, start),
            metric("nOutboundAttempted", 1, start),
            metric("tDialing", dialing, start + dialing),
            metric("tContacting", contacting, t),
        ];
        let mut talk = 0;
        if connected {
            talk = rng.duration(180_000.0, 3_000, 3_600_000);
            metrics.push(metric("nOutboundConnected", 1, t));
            segments.push(segment("interact", t, t + talk, q));
            metrics.push(metric("tTalk", talk, t + talk));
            metrics.push(metric("tTalkComplete", talk, t + talk));
            t += talk;
        } else {
            metrics.push(metric("nOutboundAbandoned", 1, t));
        }
        segments.last_mut().expect("segment").disconnect_type = Some("client");
        let end = t;
        let acw = rng.duration(20_000.0, 1_000, 600_000);
        let mut wrap = segment("wrapup", t, t + acw, q);
        wrap.wrap_up_code = Some(rng.pick(&self.center.wrap_up_codes).clone());
        segments.push(wrap);
        metrics.push(metric("tAcw", acw, t + acw));
        metrics.push(metric("tHandle", talk + acw, t + acw));
        let mut ext_seg = segment(
            "interact",
            start + dialing,
            end.max(start + dialing + 1),
            None,
        );
        ext_seg.disconnect_type = Some("peer");
        external.sessions[0].segments.push(ext_seg);
        let session = GenSession {
            media_type: media,
            session_id: rng.uuid(),
            direction: "outbound",
            address_to: external.sessions[0].address_from.clone(),
            peer_id: Some(external.sessions[0].session_id.clone()),
            recording: Some(media == "voice"),
            metrics,
            segments,
            ..GenSession::default()
        };
        c.participants.push(GenParticipant {
            participant_id: rng.uuid(),
            participant_name: None,
            purpose: "agent",
            user_id: Some(user_id),
            team_id: Some(team),
            sessions: vec![session],
            ..GenParticipant::default()
        });
        c.participants.push(external);
        c.conversation_end = Some(Iso(end));
    }

    /// Occasional evaluations, surveys and resolutions, after the conversation.
    pub(super) fn extras(&mut self, c: &mut GenConversation) {
        let Some(end) = c.conversation_end.map(|t| t.0) else {
            return;
        };
        let handled = c
            .participants
            .iter()
            .filter(|p| p.purpose == "agent")
            .find_map(|p| {
                Some((
                    p.user_id.clone()?,
                    p.sessions[0].segments[0].queue_id.clone()?,
                ))
            });
        let Some((user_id, queue_id)) = handled else {
            return;
        };
        let rng = &mut self.rng;
        if rng.chance(0.03) {
            c.evaluations.push(GenEvaluation {
                evaluation_id: rng.uuid(),
                evaluator_id: rng.pick(&self.center.agents).0.clone(),
                user_id: user_id.clone(),
                queue_id: queue_id.clone(),
                form_id: self.center.forms[0].clone(),
                form_name: "Quality Form 2026",
                context_id: rng.uuid(),
                event_time: Iso(end + 3_600_000),
                evaluation_status: "Finished",
                released: true,
                deleted: false,
                rescored: rng.chance(0.1),
                system_submitted: false,
                assignee_applicable: true,
                o_total_score: rng.range(40, 100),
                o_total_critical_score: rng.range(60, 100),
            });
        }
        if rng.chance(0.05) {
            let nps = rng.range(0, 10) as i32;
            c.surveys.push(GenSurvey {
                survey_id: rng.uuid(),
                survey_form_id: self.center.forms[1].clone(),
                survey_form_context_id: rng.uuid(),
                survey_form_name: "Post-contact NPS",
                survey_status: "Finished",
                survey_type: if rng.chance(0.5) { "Web" } else { "Voice" },
                survey_promoter_score: nps,
                survey_partial_response: false,
                survey_completed_date: Iso(end + 600_000),
                event_time: Iso(end + 600_000),
                queue_id: queue_id.clone(),
                user_id: user_id.clone(),
                o_survey_total_score: i64::from(nps) * 10,
            });
        }
        if rng.chance(0.04) {
            c.resolutions.push(GenResolution {
                event_time: Iso(end + 86_400_000),
                queue_id,
                user_id,
                n_next_contact_avoided: 1,
            });
        }
    }
}
