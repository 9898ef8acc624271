//! The synthetic center's cast (its queues, agents, flows, codes, sized by the caller) and its
//! directory as an org's API would give it: the names of its users, queues, wrap-up codes, flows
//! and divisions (exports carry only the ids of most of them).

use super::{Center, Rng, FIRST_NAMES, FLOW_NAMES, LAST_NAMES, QUEUE_NAMES};

/// Names of the wrap-up codes (exports carry only their ids).
const WRAP_UP_NAMES: &[&str] = &[
    "Resolved",
    "Callback Requested",
    "Escalated",
    "Sale Made",
    "No Sale",
    "Billing Question",
    "Technical Issue",
    "Complaint",
    "Wrong Number",
    "Transferred Out",
    "Account Update",
    "Cancellation",
    "Information Given",
    "Follow-up Needed",
    "Spam",
];

impl Center {
    /// The names of the center's directory as a names file: CSV `kind,id,name` with kind
    /// user, queue, wrapup, flow or division (what `convlake pull` reads from an org's API).
    pub fn names_csv(&self) -> String {
        let mut out = String::from("kind,id,name\n");
        let mut row = |kind: &str, id: &str, name: &str| {
            out.push_str(&format!("{kind},{id},{}\n", csv_field(name)));
        };
        for (id, name, _) in &self.agents {
            row("user", id, name);
        }
        for (id, name) in &self.queues {
            row("queue", id, name);
        }
        for (i, id) in self.wrap_up_codes.iter().enumerate() {
            row("wrapup", id, WRAP_UP_NAMES[i % WRAP_UP_NAMES.len()]);
        }
        for (id, name) in &self.flows {
            row("flow", id, name);
        }
        for (i, id) in self.divisions.iter().enumerate() {
            row("division", id, if i == 0 { "Home" } else { "Division 2" });
        }
        out
    }
}

/// `text` as a CSV field (quoted when it holds a comma, a quote or a line break).
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

impl Center {
    /// A center of 12 queues and 60 agents, fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Center::sized(seed, QUEUE_NAMES.len(), 60)
    }

    /// A center of `queues` queues and `agents` agents (at least one of each), fixed by
    /// `seed`; the first 12 queues and 60 agents are those of [`Center::new`].
    pub fn sized(seed: u64, queues: usize, agents: usize) -> Self {
        let mut rng = Rng::new(seed ^ 0xC0FFEE);
        let teams: Vec<String> = (0..5).map(|_| rng.uuid()).collect();
        Center {
            queues: (0..queues.max(1))
                .map(|i| {
                    let name = QUEUE_NAMES
                        .get(i)
                        .map_or_else(|| format!("Queue {}", i + 1), |n| n.to_string());
                    (rng.uuid(), name)
                })
                .collect(),
            agents: (0..agents.max(1))
                .map(|i| {
                    let mut name = format!(
                        "{} {}",
                        FIRST_NAMES[i % FIRST_NAMES.len()],
                        LAST_NAMES[i % LAST_NAMES.len()]
                    );
                    // Past the first 60 the pairs repeat: a number tells them apart.
                    if i >= 60 {
                        name.push_str(&format!(" {}", i + 1));
                    }
                    (rng.uuid(), name, teams[i % teams.len()].clone())
                })
                .collect(),
            flows: FLOW_NAMES
                .iter()
                .map(|n| (rng.uuid(), n.to_string()))
                .collect(),
            edges: (0..4).map(|_| rng.uuid()).collect(),
            divisions: (0..2).map(|_| rng.uuid()).collect(),
            wrap_up_codes: (0..15).map(|_| rng.uuid()).collect(),
            skills: (0..10).map(|_| rng.uuid()).collect(),
            forms: (0..3).map(|_| rng.uuid()).collect(),
        }
    }
}
