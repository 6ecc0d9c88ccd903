//! Bound endpoints, by listener, with the address actually bound once the
//! runtime reports it (a port 0 resolved).

use super::{Endpoint, ListenerId};
use crate::idmap::IdMap;

/// Every bound endpoint of a socket.
#[derive(Default)]
pub(super) struct Listeners {
    map: IdMap<ListenerId, Endpoint>,
}

impl Listeners {
    pub(super) fn add(&mut self, id: ListenerId, endpoint: Endpoint) {
        self.map.insert(id, endpoint);
    }

    /// Records the bound address; `false` for an unknown listener.
    pub(super) fn set_bound(&mut self, id: ListenerId, bound: Endpoint) -> bool {
        match self.map.get_mut(&id) {
            Some(endpoint) => {
                *endpoint = bound;
                true
            }
            None => false,
        }
    }

    pub(super) fn remove(&mut self, id: ListenerId) -> Option<Endpoint> {
        self.map.remove(&id)
    }

    pub(super) fn contains(&self, id: ListenerId) -> bool {
        self.map.contains_key(&id)
    }

    pub(super) fn endpoint(&self, id: ListenerId) -> Option<&Endpoint> {
        self.map.get(&id)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub(super) fn ids(&self) -> Vec<ListenerId> {
        self.map.keys().copied().collect()
    }
}
