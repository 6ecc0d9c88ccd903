//! Pattern monitor events, after `zmq_socket_monitor`.

use zmtp_core::ConnectionError;

use super::Endpoint;

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
    Accepted(Endpoint),
    /// A connect attempt started and has not completed yet.
    ConnectDelayed(Endpoint),
    /// An outgoing connection was established.
    Connected(Endpoint),
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
    HandshakeSucceeded(Endpoint),
    /// The ZMTP handshake failed; `error.is_permanent()` tells whether the endpoint
    /// will be retried. A refused ZMTP/1.0 or 2.0 peer on a secured socket comes
    /// here as `DowngradeRefused`, a protocol failure (libzmq 4.3 closes it with
    /// DISCONNECTED only, and does not reconnect either).
    HandshakeFailed {
        /// The endpoint.
        endpoint: Endpoint,
        /// Why.
        error: ConnectionError,
    },
    /// An established connection ended.
    Disconnected {
        /// The endpoint.
        endpoint: Endpoint,
        /// Why.
        error: ConnectionError,
    },
    /// The pattern refused a peer after its handshake (a second PAIR peer, a
    /// duplicate ROUTER routing id); its stream was closed.
    Refused {
        /// The endpoint.
        endpoint: Endpoint,
        /// Why.
        reason: crate::error::AttachError,
    },
    /// A listener or connector was closed.
    Closed(Endpoint),
}
