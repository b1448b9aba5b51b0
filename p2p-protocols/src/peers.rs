//! What every capability plugin of this crate keeps per peer, written once:
//! the table of ready peers, by id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use p2p_core::PeerId;

/// Locks `m`. A panic elsewhere while it was held leaves plain data behind
/// (tables, trackers), so a poisoned lock is used as it is rather than
/// poisoning every peer after it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The ready peers of one capability, by id: one session's state each.
pub(crate) struct PeerTable<S> {
    peers: Mutex<HashMap<PeerId, Arc<S>>>,
}

impl<S> Default for PeerTable<S> {
    fn default() -> Self {
        PeerTable {
            peers: Mutex::new(HashMap::new()),
        }
    }
}

impl<S> PeerTable<S> {
    /// The session of peer `id`, if ready.
    pub(crate) fn get(&self, id: &PeerId) -> Option<Arc<S>> {
        lock(&self.peers).get(id).cloned()
    }

    /// Every ready session.
    pub(crate) fn all(&self) -> Vec<Arc<S>> {
        lock(&self.peers).values().cloned().collect()
    }

    /// Makes `session` the one of peer `id`.
    pub(crate) fn insert(&self, id: PeerId, session: Arc<S>) {
        lock(&self.peers).insert(id, session);
    }

    /// Removes `session`, if it is still the one of peer `id`: the peer may
    /// have reconnected (or won a simultaneous dial) meanwhile, and that
    /// newer session stays.
    pub(crate) fn remove_session(&self, id: &PeerId, session: &Arc<S>) {
        let mut peers = lock(&self.peers);
        if peers.get(id).is_some_and(|p| Arc::ptr_eq(p, session)) {
            peers.remove(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_old_session_does_not_remove_the_new_one() {
        let table = PeerTable::default();
        let id = PeerId([7; 64]);
        let old = Arc::new(1);
        let new = Arc::new(2);
        table.insert(id, old.clone());
        table.insert(id, new.clone());
        table.remove_session(&id, &old);
        assert_eq!(table.get(&id), Some(new.clone()));
        table.remove_session(&id, &new);
        assert_eq!(table.get(&id), None);
        assert!(table.all().is_empty());
    }
}
