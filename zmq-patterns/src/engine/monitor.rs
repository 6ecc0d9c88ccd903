//! Pattern monitor events, after `zmq_socket_monitor`.

use bytes::Bytes;
use zmtp_core::ConnectionError;

use super::Endpoint;

/// Who is at the other end of a connection, as far as it is known when the
/// event happens.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Peer {
    /// The peer's address as the runtime gave it: `ip:port` for TCP (the
    /// remote end, for accepted and connected streams alike); empty where
    /// the transport names none (IPC).
    pub address: String,
    /// The routing id this socket knows the peer by, once the handshake is
    /// done: the one the peer announced or, for a ROUTER, the one it was
    /// given. `None` before the handshake, and for a peer that announced
    /// none to a socket that gives none.
    pub routing_id: Option<Bytes>,
}

impl Peer {
    /// A peer known by its address only (before its handshake).
    pub fn at(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            routing_id: None,
        }
    }
}

/// Something that happened to a socket's endpoints or connections.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MonitorEvent {
    /// A bind succeeded; the endpoint is the one actually bound (port 0 resolved).
    Listening(Endpoint),
    /// A bind failed.
    BindFailed {
        /// The endpoint asked for.
        endpoint: Endpoint,
        /// The reason, as the runtime reported it.
        reason: String,
    },
    /// A listener accepted a connection.
    Accepted {
        /// The listener's endpoint.
        endpoint: Endpoint,
        /// Where the connection comes from.
        peer: Peer,
    },
    /// A connect attempt started and has not completed yet.
    ConnectDelayed(Endpoint),
    /// An outgoing connection was established.
    Connected {
        /// The endpoint connected to.
        endpoint: Endpoint,
        /// The remote end (the address the endpoint's host resolved to).
        peer: Peer,
    },
    /// A connect attempt failed or a connection dropped; a retry is scheduled.
    ConnectRetried {
        /// The endpoint.
        endpoint: Endpoint,
        /// Milliseconds until the retry.
        ivl_ms: u64,
    },
    /// The ZMTP handshake completed; for a ZMTP/1.0 or 2.0 peer, its identity
    /// arrived. (libzmq 4.3 reports nothing for old peers; we report them as any
    /// other, so a monitor sees every attached peer.)
    HandshakeSucceeded {
        /// The endpoint.
        endpoint: Endpoint,
        /// The peer, with its routing id.
        peer: Peer,
    },
    /// The ZMTP handshake failed; `error.is_permanent()` tells whether the endpoint
    /// will be retried. A refused ZMTP/1.0 or 2.0 peer on a secured socket comes
    /// here as `DowngradeRefused`, a protocol failure (libzmq 4.3 closes it with
    /// DISCONNECTED only, and does not reconnect either).
    HandshakeFailed {
        /// The endpoint.
        endpoint: Endpoint,
        /// The peer.
        peer: Peer,
        /// Why.
        error: ConnectionError,
    },
    /// An established connection ended.
    Disconnected {
        /// The endpoint.
        endpoint: Endpoint,
        /// The peer, with its routing id if its handshake was done.
        peer: Peer,
        /// Why.
        error: ConnectionError,
    },
    /// The pattern refused a peer after its handshake (a second PAIR peer, a
    /// duplicate ROUTER routing id); its stream was closed.
    Refused {
        /// The endpoint.
        endpoint: Endpoint,
        /// The peer, with the routing id it announced.
        peer: Peer,
        /// Why.
        reason: crate::error::AttachError,
    },
    /// A listener or connector was closed.
    Closed(Endpoint),
}

impl MonitorEvent {
    /// The endpoint the event is about (the listener's for accepted streams).
    pub fn endpoint(&self) -> &Endpoint {
        match self {
            Self::Listening(e) | Self::ConnectDelayed(e) | Self::Closed(e) => e,
            Self::BindFailed { endpoint, .. }
            | Self::Accepted { endpoint, .. }
            | Self::Connected { endpoint, .. }
            | Self::ConnectRetried { endpoint, .. }
            | Self::HandshakeSucceeded { endpoint, .. }
            | Self::HandshakeFailed { endpoint, .. }
            | Self::Disconnected { endpoint, .. }
            | Self::Refused { endpoint, .. } => endpoint,
        }
    }

    /// The peer of an event about one connection; `None` for events about an
    /// endpoint.
    pub fn peer(&self) -> Option<&Peer> {
        match self {
            Self::Accepted { peer, .. }
            | Self::Connected { peer, .. }
            | Self::HandshakeSucceeded { peer, .. }
            | Self::HandshakeFailed { peer, .. }
            | Self::Disconnected { peer, .. }
            | Self::Refused { peer, .. } => Some(peer),
            Self::Listening(_)
            | Self::BindFailed { .. }
            | Self::ConnectDelayed(_)
            | Self::ConnectRetried { .. }
            | Self::Closed(_) => None,
        }
    }

    /// The event's name, as libzmq's `ZMQ_EVENT_*` constants without the
    /// prefix would have it (`"HANDSHAKE_SUCCEEDED"`), for logs and tests.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Listening(_) => "LISTENING",
            Self::BindFailed { .. } => "BIND_FAILED",
            Self::Accepted { .. } => "ACCEPTED",
            Self::ConnectDelayed(_) => "CONNECT_DELAYED",
            Self::Connected { .. } => "CONNECTED",
            Self::ConnectRetried { .. } => "CONNECT_RETRIED",
            Self::HandshakeSucceeded { .. } => "HANDSHAKE_SUCCEEDED",
            Self::HandshakeFailed { .. } => "HANDSHAKE_FAILED",
            Self::Disconnected { .. } => "DISCONNECTED",
            Self::Refused { .. } => "REFUSED",
            Self::Closed(_) => "CLOSED",
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use zmtp_core::{Config, SocketType};

    use crate::engine::{Engine, EngineConfig};

    // A test reads the clock once to start its virtual timeline.
    #[allow(clippy::disallowed_methods)]
    #[test]
    fn a_drained_event_queue_gives_its_room_back() {
        let now = Instant::now();
        let mut e = Engine::new(now, EngineConfig::new(Config::new(SocketType::Dealer)));
        e.set_monitor(true);
        e.connect("tcp://127.0.0.1:5555").unwrap();
        assert!(e.has_monitor_events());
        assert!(e.monitor.capacity() > 0);
        while e.poll_monitor().is_some() {}
        assert_eq!(
            e.monitor.capacity(),
            0,
            "an idle socket keeps no event room"
        );
    }
}
