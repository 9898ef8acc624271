//! The synthetic center's directory as an org's API would give it: the names of its users,
//! queues, wrap-up codes, flows and divisions (exports carry only the ids of most of them).

use super::Center;

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
