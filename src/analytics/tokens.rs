//! The bearer tokens `convlake serve` accepts: the configured ones, and those it issued at
//! `POST /oauth/token`, until they expire or their holder revokes them
//! (`DELETE /api/v2/tokens/me`, as on Genesys Cloud).
//!
//! Tokens are kept by their SHA-256 digest, never as text, and found by it in one map
//! lookup, so checking a request costs the same however many tokens are live. Issuance is
//! bounded: each client holds at most [`MAX_PER_CLIENT`] live tokens (a new one retires its
//! oldest), so a client that logs in in a loop cannot grow the table or slow other requests.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Live tokens one client may hold at once; its next login retires the oldest.
pub const MAX_PER_CLIENT: usize = 64;

/// A token's digest: what the table keeps instead of the token.
type Digest = [u8; 32];

fn digest(token: &str) -> Digest {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// The accepted tokens.
#[derive(Default)]
pub struct Tokens {
    /// Configured tokens, accepted until the server stops.
    configured: HashMap<Digest, ()>,
    /// Issued tokens: their client and expiry.
    issued: HashMap<Digest, (String, Instant)>,
    /// Each client's issued tokens, oldest first.
    by_client: HashMap<String, VecDeque<Digest>>,
}

impl Tokens {
    /// A table accepting `configured` tokens.
    pub fn new(configured: &[String]) -> Tokens {
        Tokens {
            configured: configured.iter().map(|t| (digest(t), ())).collect(),
            ..Tokens::default()
        }
    }

    /// Issues a new random token to `client`, valid for `lifetime`.
    pub fn issue(&mut self, client: &str, lifetime: Duration, now: Instant) -> String {
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let key = digest(&token);
        let held = self.by_client.entry(client.to_string()).or_default();
        // Expired tokens of this client go first; then, at the cap, its oldest live one.
        while let Some(oldest) = held.front() {
            let expired = self.issued.get(oldest).is_none_or(|(_, e)| *e <= now);
            if !expired && held.len() < MAX_PER_CLIENT {
                break;
            }
            if let Some(old) = held.pop_front() {
                self.issued.remove(&old);
            }
        }
        held.push_back(key);
        self.issued
            .insert(key, (client.to_string(), now + lifetime));
        token
    }

    /// Whether `token` is accepted now.
    pub fn accepts(&self, token: &str, now: Instant) -> bool {
        let key = digest(token);
        self.configured.contains_key(&key) || self.issued.get(&key).is_some_and(|(_, e)| *e > now)
    }

    /// Revokes an issued `token`; whether it was live. Configured tokens cannot be revoked
    /// over the API (they come from the server's configuration).
    pub fn revoke(&mut self, token: &str) -> bool {
        let key = digest(token);
        let Some((client, _)) = self.issued.remove(&key) else {
            return false;
        };
        if let Some(held) = self.by_client.get_mut(&client) {
            held.retain(|k| *k != key);
        }
        true
    }

    /// Issued tokens held now (live or not yet swept).
    pub fn issued_count(&self) -> usize {
        self.issued.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuance_is_bounded_per_client_and_retires_the_oldest() {
        let mut tokens = Tokens::new(&["configured-token".to_string()]);
        let now = Instant::now();
        let first = tokens.issue("a", Duration::from_secs(60), now);
        let mut last = String::new();
        for _ in 0..MAX_PER_CLIENT * 3 {
            last = tokens.issue("a", Duration::from_secs(60), now);
        }
        let other = tokens.issue("b", Duration::from_secs(60), now);
        assert_eq!(tokens.issued_count(), MAX_PER_CLIENT + 1);
        assert!(!tokens.accepts(&first, now), "the oldest was retired");
        assert!(tokens.accepts(&last, now));
        assert!(tokens.accepts(&other, now), "another client's token stays");
        assert!(tokens.accepts("configured-token", now));
        assert!(!tokens.accepts("configured-tokeN", now));
    }

    #[test]
    fn tokens_expire_and_can_be_revoked() {
        let mut tokens = Tokens::new(&[]);
        let now = Instant::now();
        let token = tokens.issue("a", Duration::from_secs(60), now);
        assert!(tokens.accepts(&token, now + Duration::from_secs(59)));
        assert!(!tokens.accepts(&token, now + Duration::from_secs(60)));
        let token = tokens.issue("a", Duration::from_secs(60), now);
        assert!(tokens.revoke(&token));
        assert!(!tokens.accepts(&token, now));
        assert!(!tokens.revoke(&token), "revoked once");
        // A later login sweeps the expired token of the same client.
        tokens.issue("a", Duration::from_secs(60), now + Duration::from_secs(120));
        assert_eq!(tokens.issued_count(), 1);
    }
}
