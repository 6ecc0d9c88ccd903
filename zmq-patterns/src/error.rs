//! What `send`, `recv` and `attach` report.

use thiserror::Error;
use zmtp_core::Msg;

/// Why a message was not sent. Where it could be sent later, it is handed back.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// No pipe can take the message now (EAGAIN): every candidate is at its
    /// high-water mark, or there is no peer yet.
    #[error("no peer can take the message now")]
    WouldBlock(Msg),
    /// ROUTER_MANDATORY: no peer has that routing id (EHOSTUNREACH).
    #[error("no peer with that routing id")]
    HostUnreachable(Msg),
    /// The socket's state machine does not allow a send now (EFSM): a REQ waiting
    /// for its reply, a REP that has not received a request.
    #[error(
        "send is not allowed in the socket's current state: a REQ must receive the reply \
         before it sends again (or be built with req_relaxed), a REP must receive a \
         request before it replies"
    )]
    InvalidState(Msg),
    /// This socket type cannot send (PULL, SUB).
    #[error("this socket type cannot send")]
    NotSupported(Msg),
    /// A message needs at least one frame.
    #[error("a message needs at least one frame")]
    EmptyMessage,
}

/// Why a send that leaves the message with its caller (`Pattern::send_in`,
/// `Engine::send_in`) did not send it: a [`SendError`] without the message,
/// small enough to come back in registers through every layer of a send,
/// where a `SendError` carries the 80-byte message each time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendRefusal {
    /// See [`SendError::WouldBlock`].
    WouldBlock,
    /// See [`SendError::HostUnreachable`].
    HostUnreachable,
    /// See [`SendError::InvalidState`].
    InvalidState,
    /// See [`SendError::NotSupported`].
    NotSupported,
    /// See [`SendError::EmptyMessage`].
    EmptyMessage,
}

impl SendRefusal {
    /// The [`SendError`] that hands `msg` back.
    pub fn with(self, msg: Msg) -> SendError {
        match self {
            Self::WouldBlock => SendError::WouldBlock(msg),
            Self::HostUnreachable => SendError::HostUnreachable(msg),
            Self::InvalidState => SendError::InvalidState(msg),
            Self::NotSupported => SendError::NotSupported(msg),
            Self::EmptyMessage => SendError::EmptyMessage,
        }
    }
}

impl SendError {
    /// The refusal, and the message it hands back (none for an empty one).
    pub fn split(self) -> (SendRefusal, Option<Msg>) {
        match self {
            Self::WouldBlock(m) => (SendRefusal::WouldBlock, Some(m)),
            Self::HostUnreachable(m) => (SendRefusal::HostUnreachable, Some(m)),
            Self::InvalidState(m) => (SendRefusal::InvalidState, Some(m)),
            Self::NotSupported(m) => (SendRefusal::NotSupported, Some(m)),
            Self::EmptyMessage => (SendRefusal::EmptyMessage, None),
        }
    }
}

/// Why no message was received.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecvError {
    /// Nothing to receive now (EAGAIN).
    #[error("no message available")]
    WouldBlock,
    /// The socket's state machine does not allow a receive now (EFSM): a REQ that
    /// has not sent, a REP that owes a reply.
    #[error("receive is not allowed in the socket's current state")]
    InvalidState,
    /// This socket type cannot receive (PUSH, PUB).
    #[error("this socket type cannot receive")]
    NotSupported,
}

/// Why a pipe was refused.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttachError {
    /// A PAIR socket already has its one peer.
    #[error("a PAIR socket accepts only one peer")]
    PairTaken,
    /// A ROUTER already has a peer with this routing id (and ROUTER_HANDOVER is off).
    #[error("routing id already in use")]
    DuplicateRoutingId,
    /// The peer's socket type cannot talk to this one.
    #[error("peer socket type {0} is not compatible")]
    Incompatible(zmtp_core::SocketType),
    /// The pipe id is already attached.
    #[error("pipe already attached")]
    AlreadyAttached,
}
