//! Bound endpoints, by listener, with the address actually bound once the
//! runtime reports it (a port 0 resolved), and the connection settings they
//! were bound with: as in libzmq, a listener keeps the options of its `bind`
//! for every stream it accepts.

use std::sync::Arc;

use zmtp_core::Config;

use super::{Endpoint, ListenerId};
use crate::idmap::IdMap;

/// Every bound endpoint of a socket.
#[derive(Default)]
pub(super) struct Listeners {
    map: IdMap<ListenerId, (Endpoint, Arc<Config>)>,
}

impl Listeners {
    pub(super) fn add(&mut self, id: ListenerId, endpoint: Endpoint, cfg: Arc<Config>) {
        self.map.insert(id, (endpoint, cfg));
    }

    /// Records the bound address; `false` for an unknown listener.
    pub(super) fn set_bound(&mut self, id: ListenerId, bound: Endpoint) -> bool {
        match self.map.get_mut(&id) {
            Some((endpoint, _)) => {
                *endpoint = bound;
                true
            }
            None => false,
        }
    }

    pub(super) fn remove(&mut self, id: ListenerId) -> Option<Endpoint> {
        self.map.remove(&id).map(|(endpoint, _)| endpoint)
    }

    pub(super) fn contains(&self, id: ListenerId) -> bool {
        self.map.contains_key(&id)
    }

    pub(super) fn endpoint(&self, id: ListenerId) -> Option<&Endpoint> {
        self.map.get(&id).map(|(endpoint, _)| endpoint)
    }

    /// The connection settings the listener was bound with.
    pub(super) fn config(&self, id: ListenerId) -> Option<&Arc<Config>> {
        self.map.get(&id).map(|(_, cfg)| cfg)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub(super) fn ids(&self) -> Vec<ListenerId> {
        self.map.keys().copied().collect()
    }
}
