//! The one error type of the socket API. Endpoint problems name the endpoint.

use std::io;

use thiserror::Error;
use zmq_patterns::engine::EndpointError;
use zmq_patterns::{RecvError, SendError};
use zmtp_core::{ConfigError, ConnectionError, SocketType};

/// What can go wrong when using a socket.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The endpoint string cannot be used (bad syntax, unknown transport, bad
    /// port, wildcard connect).
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// Another socket already listens on this endpoint (EADDRINUSE).
    #[error("address already in use: {endpoint}")]
    AddrInUse {
        /// The endpoint as given.
        endpoint: String,
    },
    /// The endpoint could not be bound for another reason.
    #[error("cannot bind {endpoint}: {source}")]
    Bind {
        /// The endpoint as given.
        endpoint: String,
        /// What the OS said.
        #[source]
        source: io::Error,
    },
    /// An inproc peer's socket type cannot talk to this socket's (REQ to PUB).
    /// Over TCP and IPC the same mismatch ends the handshake instead (see the
    /// monitor).
    #[error("{endpoint}: a {ours} socket cannot talk to the {peer} socket bound there")]
    IncompatibleSocketType {
        /// The endpoint.
        endpoint: String,
        /// This socket's type.
        ours: SocketType,
        /// The peer's type.
        peer: SocketType,
    },
    /// `unbind` or `disconnect` of an endpoint this socket does not use (ENOENT).
    #[error("endpoint {0:?} is not bound or connected by this socket")]
    UnknownEndpoint(String),
    /// A socket option is out of range.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A socket option's value cannot be used, or an option (or endpoint) this
    /// socket cannot use now: a bad BINDTODEVICE name, a CONNECT_ROUTING_ID
    /// already in use, an `inproc://` STREAM (libzmq's EINVAL).
    #[error("invalid {option}: {reason}")]
    InvalidOption {
        /// The option, by its libzmq name or as the builder names it.
        option: &'static str,
        /// What is wrong with the value, or why it cannot be used.
        reason: String,
    },
    /// A send failed for a reason waiting cannot fix; the message is handed back
    /// where there is one.
    #[error(transparent)]
    Send(SendError),
    /// A receive is not possible in this state or on this socket type.
    #[error(transparent)]
    Recv(#[from] RecvError),
    /// The call means nothing to this socket type (`subscribe` on a PUSH);
    /// libzmq's EINVAL.
    #[error("{call} is not supported by a {socket} socket (only by {only})")]
    NotSupported {
        /// The method called.
        call: &'static str,
        /// The socket's type.
        socket: SocketType,
        /// The types that support it.
        only: &'static str,
    },
    /// SNDTIMEO / RCVTIMEO (or an explicit timeout) ran out (EAGAIN).
    #[error("timed out")]
    Timeout,
    /// The socket is closed or closing (ETERM).
    #[error("the socket is closed")]
    Closed,
    /// The runtime this socket needs is not available (a tokio socket created
    /// outside a tokio runtime).
    #[error("{0}")]
    NoRuntime(String),
    /// Every endpoint this socket connects to refused it, it binds nothing,
    /// and no peer is connected: a `send` or `recv` that would wait for a
    /// peer would wait for ever. `endpoint` is the first refusal;
    /// [`Socket::refusals`](crate::Socket::refusals) lists them all.
    #[error("every endpoint refused this socket; {endpoint}: {reason}")]
    Refused {
        /// The endpoint as given to `connect`.
        endpoint: String,
        /// Why its last handshake failed.
        reason: ConnectionError,
    },
    /// A blocking call was made on a thread that runs the async runtime's
    /// tasks: it would block the very I/O it waits for (on a current-thread
    /// runtime, for good).
    #[error(
        "{call} was called on a thread that runs the async runtime's tasks, where it would \
         block the I/O it waits for; use {instead} there, or call it from a thread of \
         its own (tokio's spawn_blocking, smol's unblock)"
    )]
    BlockingInAsync {
        /// The blocking method called.
        call: &'static str,
        /// What to call instead.
        instead: &'static str,
    },
}

impl From<SendError> for Error {
    fn from(e: SendError) -> Self {
        Self::Send(e)
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        let kind = match &e {
            Error::AddrInUse { .. } => io::ErrorKind::AddrInUse,
            Error::Endpoint(_) | Error::Config(_) | Error::InvalidOption { .. } => {
                io::ErrorKind::InvalidInput
            }
            Error::UnknownEndpoint(_) => io::ErrorKind::NotFound,
            Error::Timeout => io::ErrorKind::TimedOut,
            Error::Refused { .. } => io::ErrorKind::ConnectionRefused,
            Error::Closed => io::ErrorKind::NotConnected,
            Error::Bind { source, .. } => source.kind(),
            _ => io::ErrorKind::Other,
        };
        Self::new(kind, e)
    }
}
