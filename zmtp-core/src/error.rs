//! Errors, split by who is to blame: the peer ([`ConnectionError`]) or the caller
//! ([`ApiMisuse`], [`SendError`]).

use thiserror::Error;

use crate::wire::greeting::MechanismName;
use crate::wire::WireError;
use crate::{Msg, SocketType};

/// Why a connection ended. Every variant is fatal: close the stream after writing
/// out whatever `poll_transmit` still yields (an ERROR command, for instance).
///
/// Errors are sticky: once one is returned, every later `handle_*` call returns
/// the same value.
#[non_exhaustive]
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ConnectionError {
    /// The peer sent bytes that are not valid ZMTP. Do not reconnect.
    #[error("protocol error: {0}")]
    Wire(#[from] WireError),
    /// The peer uses another security mechanism. Do not reconnect.
    #[error("security mechanism mismatch: we use {ours}, the peer uses {peer:?}")]
    MechanismMismatch {
        /// Our mechanism.
        ours: MechanismName,
        /// The peer's mechanism field as text.
        peer: String,
    },
    /// The peer's socket type cannot talk to ours (RFC 37 table). Do not reconnect.
    #[error("peer socket type {peer:?} is not compatible with {ours}")]
    IncompatibleSocketType {
        /// Our socket type.
        ours: SocketType,
        /// The peer's `Socket-Type` value as text.
        peer: String,
    },
    /// A frame larger than MAXMSGSIZE (or than this machine can address) was
    /// announced, and nothing was allocated for it; or a multipart message grew
    /// past MAXMSGSIZE, counting [`FRAME_COST`](crate::FRAME_COST) for each
    /// frame after the first. Do not reconnect.
    #[error("peer sent a {size}-byte frame or message; the limit is {max}")]
    MessageTooLarge {
        /// The announced frame size, or what the message weighed with the frame
        /// that tipped it over.
        size: u64,
        /// The limit in force.
        max: u64,
    },
    /// A message with more frames than the configured maximum.
    #[error("peer sent a message of more than {max} frames")]
    TooManyFrames {
        /// The limit in force.
        max: usize,
    },
    /// The peer speaks ZMTP/1.0 or 2.0, which have no security, and this side has
    /// a mechanism or a ZAP domain configured: refused, as libzmq refuses it, so
    /// that nobody can downgrade a secured connection. Do not reconnect.
    #[error("{peer} peer refused: security is configured and {peer} has none")]
    DowngradeRefused {
        /// What the peer speaks.
        peer: crate::Protocol,
    },
    /// A data frame arrived before the handshake finished. Do not reconnect.
    #[error("peer sent a message before the handshake completed")]
    DataBeforeHandshake,
    /// A command that is not allowed at this point of the handshake.
    #[error("unexpected {name:?} command during the handshake")]
    UnexpectedCommand {
        /// The command name as text.
        name: String,
    },
    /// A handshake command with the right name but a malformed body (libzmq's
    /// ZMTP_MALFORMED_COMMAND_* events).
    #[error("malformed {command} command")]
    MalformedCommand {
        /// Which command.
        command: CommandName,
    },
    /// The peer's metadata is malformed (libzmq's ZMTP_INVALID_METADATA).
    #[error("invalid metadata from peer")]
    InvalidMetadata,
    /// A CURVE box, cookie or vouch failed to open or did not match (wrong keys or
    /// tampering; libzmq's ZMTP_CRYPTOGRAPHIC).
    #[error("CURVE cryptographic check failed")]
    Cryptographic,
    /// A CURVE short nonce was not strictly increasing (replay or reordering).
    #[error("CURVE nonce replayed or out of order")]
    InvalidNonce,
    /// The peer sent ERROR during the handshake. Do not reconnect with the same
    /// credentials.
    #[error("peer refused the handshake: {reason}")]
    PeerError {
        /// The ERROR reason text (libzmq sends "400" or "500" after a ZAP denial).
        reason: String,
    },
    /// The owner denied the peer's credentials; an ERROR was queued unless the
    /// status was 300.
    #[error("authentication refused ({status}): {text}")]
    AuthDenied {
        /// ZAP status code (300, 400 or 500).
        status: u16,
        /// Status text from the authenticator.
        text: String,
    },
    /// The greeting and handshake did not finish within HANDSHAKE_IVL. Reconnecting
    /// is allowed.
    #[error("handshake timed out")]
    HandshakeTimeout,
    /// No traffic within HEARTBEAT_TIMEOUT after a PING, or within the peer's TTL.
    /// Reconnecting is allowed.
    #[error("heartbeat timed out")]
    HeartbeatTimeout,
    /// The peer closed the stream. Reconnecting is allowed.
    #[error("peer closed the connection")]
    PeerClosed,
    /// The CURVE server closed the stream after our HELLO, without a WELCOME:
    /// what a libzmq server does with a HELLO it cannot open, that is, when
    /// the server key we were given is not its key. Told apart from
    /// [`PeerClosed`](Self::PeerClosed) so that a client can say why it gets
    /// nowhere; reconnecting is allowed (libzmq's client retries for ever,
    /// and a server restarted with the right key would answer).
    #[error("the CURVE server closed the connection after our HELLO (is the server key right?)")]
    ClosedAfterHello,
    /// [`Connection::close`](crate::Connection::close) was called.
    #[error("connection closed locally")]
    LocallyClosed,
}

impl ConnectionError {
    /// Whether libzmq 4.3 would stop reconnecting after this error: protocol errors
    /// and authentication failures end the session for good; timeouts and closed
    /// streams do not.
    pub fn is_permanent(&self) -> bool {
        !matches!(
            self,
            Self::HandshakeTimeout
                | Self::HeartbeatTimeout
                | Self::PeerClosed
                | Self::ClosedAfterHello
                | Self::LocallyClosed
        ) && !matches!(self, Self::AuthDenied { status: 300, .. })
    }

    /// The libzmq monitor code for this failure (`ZMTP_*` protocol codes, or the
    /// ZAP status for authentication failures), for monitor events.
    pub fn zmtp_code(&self) -> Option<u32> {
        Some(match self {
            Self::Wire(WireError::MalformedMetadata) | Self::InvalidMetadata => 0x1000_0018,
            Self::Wire(_)
            | Self::MessageTooLarge { .. }
            | Self::TooManyFrames { .. }
            | Self::IncompatibleSocketType { .. }
            | Self::DowngradeRefused { .. } => 0x1000_0000,
            Self::DataBeforeHandshake | Self::UnexpectedCommand { .. } => 0x1000_0001,
            Self::InvalidNonce => 0x1000_0002,
            Self::MalformedCommand { command } => match command {
                CommandName::Message => 0x1000_0012,
                CommandName::Hello => 0x1000_0013,
                CommandName::Initiate => 0x1000_0014,
                CommandName::Error => 0x1000_0015,
                CommandName::Ready => 0x1000_0016,
                CommandName::Welcome => 0x1000_0017,
            },
            Self::Cryptographic => 0x1100_0001,
            Self::MechanismMismatch { .. } => 0x1100_0002,
            Self::AuthDenied { status, .. } => u32::from(*status),
            Self::PeerError { reason } => reason.parse().unwrap_or(0x1000_0000),
            Self::HandshakeTimeout
            | Self::HeartbeatTimeout
            | Self::PeerClosed
            | Self::ClosedAfterHello
            | Self::LocallyClosed => return None,
        })
    }
}

/// A command whose body can be malformed in a way libzmq reports on its own
/// (the `ZMTP_MALFORMED_COMMAND_*` monitor codes), so each maps to its code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CommandName {
    /// CURVE's per-message box.
    Message,
    /// PLAIN or CURVE HELLO.
    Hello,
    /// PLAIN or CURVE INITIATE.
    Initiate,
    /// ERROR.
    Error,
    /// READY.
    Ready,
    /// PLAIN or CURVE WELCOME.
    Welcome,
}

impl CommandName {
    /// The name as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Message => "MESSAGE",
            Self::Hello => "HELLO",
            Self::Initiate => "INITIATE",
            Self::Error => "ERROR",
            Self::Ready => "READY",
            Self::Welcome => "WELCOME",
        }
    }
}

impl std::fmt::Display for CommandName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The caller used the API wrongly; the connection itself is unaffected.
#[non_exhaustive]
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ApiMisuse {
    /// `auth_reply` named a request this connection is not waiting for.
    #[error("no authentication request with id {0} is pending")]
    UnknownAuthRequest(u64),
    /// A ZAP status other than 200, 300, 400 or 500.
    #[error("invalid authentication status {0} (use 300, 400 or 500 to deny)")]
    BadAuthStatus(u16),
}

/// Why [`Connection::send`](crate::Connection::send) refused a message. The
/// message is handed back where it could be sent later.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum SendError {
    /// The handshake is not complete yet; try again after `HandshakeSucceeded`.
    #[error("the handshake is not complete")]
    NotReady(Msg),
    /// The connection has failed or was closed.
    #[error("the connection is closed")]
    Closed(Msg),
    /// A message needs at least one frame.
    #[error("a message needs at least one frame")]
    EmptyMessage,
}
