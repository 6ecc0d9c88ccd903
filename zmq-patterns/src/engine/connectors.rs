//! Connected endpoints: each survives its streams, and after a failure waits
//! out its back-off (with jitter) before the engine asks for the next attempt.
//!
//! Each keeps the settings of its `connect` (connection settings, IMMEDIATE,
//! RECONNECT_IVL and RECONNECT_IVL_MAX) for all its attempts, as libzmq's
//! session keeps its copy of the socket's options.
//!
//! Each also remembers whether its peer refused it, so that a socket can tell
//! its application that nobody will ever answer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use zmtp_core::{Config, ConnectionError};

use super::backoff::Backoff;
use super::{ConnId, ConnectorId, Endpoint};
use crate::idmap::IdMap;
use crate::pipe::PipeId;

struct Connector {
    endpoint: Endpoint,
    pipe: PipeId,
    cfg: Arc<Config>,
    /// Whether its pipe exists from `connect` on (not IMMEDIATE, not ROUTER).
    early: bool,
    backoff: Backoff,
    retry_at: Option<Instant>,
    conn: Option<ConnId>,
    /// Its pipe was attached at connect time under a CONNECT_ROUTING_ID and
    /// serves every stream of this connector.
    pinned: bool,
    /// Why the peer refused this endpoint, until a handshake succeeds.
    refused: Option<ConnectionError>,
    /// CURVE servers that closed the stream after our HELLO, in a row.
    hello_closes: u32,
}

/// How many CURVE servers in a row must close the stream after our HELLO
/// before the endpoint counts as refused: one close can be a server that
/// went down at that moment, three in a row is a server that cannot open
/// our HELLO (a wrong server key), which libzmq retries silently for ever.
const HELLO_CLOSES_REFUSED: u32 = 3;

/// An endpoint whose peer refused this socket: the handshake failed for good
/// (denied credentials, a protocol error), or a CURVE server keeps closing
/// the connection after HELLO. See [`Engine::refusals`](super::Engine::refusals).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Refusal {
    /// The connector.
    pub connector: ConnectorId,
    /// The endpoint connected to.
    pub endpoint: Endpoint,
    /// Why the last handshake failed.
    pub reason: ConnectionError,
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

    pub(super) fn add(
        &mut self,
        id: ConnectorId,
        endpoint: Endpoint,
        pipe: PipeId,
        cfg: Arc<Config>,
        early: bool,
    ) {
        let connector = Connector {
            endpoint,
            pipe,
            cfg,
            early,
            backoff: Backoff::new(self.ivl, self.ivl_max),
            retry_at: None,
            conn: None,
            refused: None,
            hello_closes: 0,
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

    /// The connection settings of the connector's `connect`.
    pub(super) fn config(&self, id: ConnectorId) -> Option<&Arc<Config>> {
        self.map.get(&id).map(|c| &c.cfg)
    }

    /// Whether the connector's pipe was attached at `connect`.
    pub(super) fn attaches_early(&self, id: ConnectorId) -> bool {
        self.map.get(&id).is_some_and(|c| c.early)
    }

    /// RECONNECT_IVL and RECONNECT_IVL_MAX for connectors added from now on.
    pub(super) fn intervals(&self) -> (Option<Duration>, Option<Duration>) {
        (self.ivl, self.ivl_max)
    }

    /// Changes RECONNECT_IVL and RECONNECT_IVL_MAX for later connects only.
    pub(super) fn set_intervals(&mut self, ivl: Option<Duration>, ivl_max: Option<Duration>) {
        self.ivl = ivl;
        self.ivl_max = ivl_max;
    }

    /// Records the stream or link now serving the connector (`None`: it ended).
    pub(super) fn set_conn(&mut self, id: ConnectorId, conn: Option<ConnId>) {
        if let Some(c) = self.map.get_mut(&id) {
            c.conn = conn;
        }
    }

    /// A handshake succeeded: the next failure waits the base interval again,
    /// and whatever refused the endpoint before is forgotten.
    pub(super) fn connected(&mut self, id: ConnectorId) {
        if let Some(c) = self.map.get_mut(&id) {
            c.backoff.reset();
            c.refused = None;
            c.hello_closes = 0;
        }
    }

    /// As libzmq 4.3: a protocol error or an authentication failure ends this
    /// endpoint's attempts for good; the endpoint is refused.
    pub(super) fn give_up(&mut self, id: ConnectorId, reason: ConnectionError) {
        if let Some(c) = self.map.get_mut(&id) {
            c.retry_at = None;
            c.refused = Some(reason);
        }
    }

    /// A handshake failed for a reason worth retrying. A CURVE server that
    /// closed after our HELLO for the [`HELLO_CLOSES_REFUSED`]th time in a
    /// row makes the endpoint refused (it is retried all the same, as
    /// libzmq does). True when the endpoint became refused just now.
    pub(super) fn handshake_failed(&mut self, id: ConnectorId, error: &ConnectionError) -> bool {
        let Some(c) = self.map.get_mut(&id) else {
            return false;
        };
        if *error != ConnectionError::ClosedAfterHello {
            c.hello_closes = 0;
            return false;
        }
        c.hello_closes = c.hello_closes.saturating_add(1);
        if c.hello_closes >= HELLO_CLOSES_REFUSED && c.refused.is_none() {
            c.refused = Some(error.clone());
            return true;
        }
        false
    }

    /// The refused endpoints.
    pub(super) fn refusals(&self) -> impl Iterator<Item = Refusal> + '_ {
        self.map.iter().filter_map(|(id, c)| {
            Some(Refusal {
                connector: *id,
                endpoint: c.endpoint.clone(),
                reason: c.refused.clone()?,
            })
        })
    }

    /// Whether there is a connector and every one is refused.
    pub(super) fn all_refused(&self) -> bool {
        !self.map.is_empty() && self.map.values().all(|c| c.refused.is_some())
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
