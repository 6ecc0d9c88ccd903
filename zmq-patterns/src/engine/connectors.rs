//! Connected endpoints: each survives its streams, and after a failure waits
//! out its back-off (with jitter) before the engine asks for the next attempt.

use std::time::{Duration, Instant};

use super::backoff::Backoff;
use super::{ConnId, ConnectorId, Endpoint};
use crate::idmap::IdMap;
use crate::pipe::PipeId;

struct Connector {
    endpoint: Endpoint,
    pipe: PipeId,
    backoff: Backoff,
    retry_at: Option<Instant>,
    conn: Option<ConnId>,
    /// Its pipe was attached at connect time under a CONNECT_ROUTING_ID and
    /// serves every stream of this connector.
    pinned: bool,
}

/// A connector that [`Connectors::remove`] took out.
pub(super) struct Removed {
    pub(super) endpoint: Endpoint,
    pub(super) pipe: PipeId,
    pub(super) conn: Option<ConnId>,
}

/// What [`Connectors::schedule`] decided.
pub(super) enum Retry {
    /// The next attempt is due after `delay`.
    After { endpoint: Endpoint, delay: Duration },
    /// Reconnecting is disabled: the connector is gone, and with it the reason
    /// for its pipe.
    Never { endpoint: Endpoint, pipe: PipeId },
}

/// Every connected endpoint of a socket and its reconnect schedule.
pub(super) struct Connectors {
    map: IdMap<ConnectorId, Connector>,
    ivl: Option<Duration>,
    ivl_max: Option<Duration>,
    /// xorshift64 state; never zero.
    jitter: u64,
}

impl Connectors {
    /// `seed` comes from the connection configuration's randomness, so tests
    /// that inject it get a deterministic schedule.
    pub(super) fn new(ivl: Option<Duration>, ivl_max: Option<Duration>, seed: u64) -> Self {
        Self {
            map: IdMap::default(),
            ivl,
            ivl_max,
            jitter: seed | 1,
        }
    }

    pub(super) fn add(&mut self, id: ConnectorId, endpoint: Endpoint, pipe: PipeId) {
        let connector = Connector {
            endpoint,
            pipe,
            backoff: Backoff::new(self.ivl, self.ivl_max),
            retry_at: None,
            conn: None,
            pinned: false,
        };
        self.map.insert(id, connector);
    }

    pub(super) fn remove(&mut self, id: ConnectorId) -> Option<Removed> {
        let c = self.map.remove(&id)?;
        Some(Removed {
            endpoint: c.endpoint,
            pipe: c.pipe,
            conn: c.conn,
        })
    }

    /// Marks the connector's pipe as attached for good (CONNECT_ROUTING_ID).
    pub(super) fn pin(&mut self, id: ConnectorId) {
        if let Some(c) = self.map.get_mut(&id) {
            c.pinned = true;
        }
    }

    /// Whether the connector's pipe outlives its streams whatever the socket
    /// type (see [`Connectors::pin`]).
    pub(super) fn is_pinned(&self, id: ConnectorId) -> bool {
        self.map.get(&id).is_some_and(|c| c.pinned)
    }

    pub(super) fn pipe(&self, id: ConnectorId) -> Option<PipeId> {
        self.map.get(&id).map(|c| c.pipe)
    }

    pub(super) fn endpoint_and_pipe(&self, id: ConnectorId) -> Option<(Endpoint, PipeId)> {
        self.map.get(&id).map(|c| (c.endpoint.clone(), c.pipe))
    }

    /// Records the stream or link now serving the connector (`None`: it ended).
    pub(super) fn set_conn(&mut self, id: ConnectorId, conn: Option<ConnId>) {
        if let Some(c) = self.map.get_mut(&id) {
            c.conn = conn;
        }
    }

    /// A handshake succeeded: the next failure waits the base interval again.
    pub(super) fn connected(&mut self, id: ConnectorId) {
        if let Some(c) = self.map.get_mut(&id) {
            c.backoff.reset();
        }
    }

    /// As libzmq 4.3: a protocol error or an authentication failure ends this
    /// endpoint's attempts for good.
    pub(super) fn give_up(&mut self, id: ConnectorId) {
        if let Some(c) = self.map.get_mut(&id) {
            c.retry_at = None;
        }
    }

    /// The connector's stream ended: schedules the next attempt, or removes the
    /// connector when reconnecting is disabled. `None` for an unknown connector.
    pub(super) fn schedule(&mut self, now: Instant, id: ConnectorId) -> Option<Retry> {
        let jitter = self.next_jitter();
        let c = self.map.get_mut(&id)?;
        c.conn = None;
        match c.backoff.next_delay(jitter) {
            Some(delay) => {
                // A delay past what an Instant can hold never comes due.
                c.retry_at = now.checked_add(delay);
                Some(Retry::After {
                    endpoint: c.endpoint.clone(),
                    delay,
                })
            }
            None => {
                let c = self.map.remove(&id)?;
                Some(Retry::Never {
                    endpoint: c.endpoint,
                    pipe: c.pipe,
                })
            }
        }
    }

    /// Connectors whose retry is due at `now`, each taken off the schedule.
    pub(super) fn due(&mut self, now: Instant) -> Vec<(ConnectorId, Endpoint)> {
        self.map
            .iter_mut()
            .filter(|(_, c)| c.retry_at.is_some_and(|t| t <= now))
            .map(|(id, c)| {
                c.retry_at = None;
                (*id, c.endpoint.clone())
            })
            .collect()
    }

    /// The earliest scheduled retry.
    pub(super) fn timeout(&self) -> Option<Instant> {
        self.map.values().filter_map(|c| c.retry_at).min()
    }

    pub(super) fn ids(&self) -> Vec<ConnectorId> {
        self.map.keys().copied().collect()
    }

    pub(super) fn pipes(&self) -> impl Iterator<Item = PipeId> + '_ {
        self.map.values().map(|c| c.pipe)
    }

    fn next_jitter(&mut self) -> u64 {
        // xorshift64: cheap, seeded from the injected randomness.
        let mut x = self.jitter;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.jitter = x;
        x
    }
}
