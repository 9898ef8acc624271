//! Per-address caps the servers share: how many connections one peer address may hold at
//! once (HTTP: open connections, refused past it; PostgreSQL: connections logging in, which
//! wait past it), so that one source cannot take every slot of a server's global cap and keep
//! everyone else out.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Connections per peer address, each up to `max`.
#[derive(Debug)]
pub struct Peers {
    held: Mutex<HashMap<IpAddr, usize>>,
    max: usize,
    /// Told when a slot is given back, for [`Peers::wait`].
    freed: tokio::sync::Notify,
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
            freed: tokio::sync::Notify::new(),
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

    /// A slot for `ip`, waiting for one of its own to be given back when it holds `max`.
    pub async fn wait(self: &Arc<Self>, ip: IpAddr) -> PeerSlot {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            if let Some(slot) = self.enter(ip) {
                return slot;
            }
            freed.await;
        }
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
        self.peers.freed.notify_waiters();
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

    #[tokio::test]
    async fn a_waiting_connection_gets_the_slot_given_back() {
        let peers = Peers::new(1);
        let ip: IpAddr = "127.0.0.2".parse().unwrap();
        let held = peers.enter(ip).unwrap();
        let waiter = tokio::spawn({
            let peers = peers.clone();
            async move { peers.wait(ip).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "it waits while the slot is held");
        drop(held);
        let slot = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("woken when the slot is given back")
            .unwrap();
        assert_eq!(peers.held(ip), 1);
        drop(slot);
        assert_eq!(peers.held(ip), 0);
    }
}
