//! Per-address caps the servers share: how many connections one peer address may hold at
//! once (HTTP: open connections; PostgreSQL: connections still logging in), so that one
//! source cannot take every slot of a server's global cap and keep everyone else out.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Connections per peer address, each up to `max`.
#[derive(Debug)]
pub struct Peers {
    held: Mutex<HashMap<IpAddr, usize>>,
    max: usize,
}

/// One peer's slot, given back when dropped.
#[derive(Debug)]
pub struct PeerSlot {
    peers: Arc<Peers>,
    ip: IpAddr,
}

impl Peers {
    /// A table allowing `max` connections per address.
    pub fn new(max: usize) -> Arc<Peers> {
        Arc::new(Peers {
            held: Mutex::new(HashMap::new()),
            max: max.max(1),
        })
    }

    /// A slot for `ip`, or `None` when it holds `max` already.
    pub fn enter(self: &Arc<Self>, ip: IpAddr) -> Option<PeerSlot> {
        let mut held = self.held.lock().ok()?;
        let count = held.entry(ip).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(PeerSlot {
            peers: self.clone(),
            ip,
        })
    }

    /// How many slots `ip` holds.
    pub fn held(&self, ip: IpAddr) -> usize {
        self.held
            .lock()
            .map(|h| h.get(&ip).copied().unwrap_or(0))
            .unwrap_or(0)
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        if let Ok(mut held) = self.peers.held.lock() {
            if let Some(count) = held.get_mut(&self.ip) {
                *count -= 1;
                if *count == 0 {
                    held.remove(&self.ip);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_holds_at_most_its_share() {
        let peers = Peers::new(2);
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.2".parse().unwrap(), "127.0.0.3".parse().unwrap());
        let first = peers.enter(a).unwrap();
        let _second = peers.enter(a).unwrap();
        assert!(peers.enter(a).is_none(), "a third from the same address");
        assert!(peers.enter(b).is_some(), "another address is not held up");
        drop(first);
        assert_eq!(peers.held(a), 1);
        assert!(peers.enter(a).is_some(), "a slot given back is free again");
    }
}
