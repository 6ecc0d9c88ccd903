//! What a connection reports to its owner.

use bytes::Bytes;

use crate::keys::PublicKey;
use crate::wire::greeting::MechanismName;
use crate::wire::metadata::Metadata;
use crate::{Msg, Protocol, SocketType};

/// An application-facing signal from [`Connection::poll_event`](crate::Connection::poll_event).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The handshake completed; [`Connection::peer`](crate::Connection::peer) now
    /// describes the peer, and messages may be sent.
    HandshakeSucceeded,
    /// A PLAIN or CURVE server (or a NULL one with authentication on) needs a
    /// decision; answer with [`Connection::auth_reply`](crate::Connection::auth_reply).
    /// Nothing more is sent until then. Boxed: it is rare, and keeping it out of
    /// line keeps every `Event` (mostly messages) small to move.
    AuthRequest(Box<AuthRequest>),
    /// A complete message (all its frames).
    Message(Msg),
    /// The peer subscribed to a topic prefix (only on PUB and XPUB sockets; both
    /// the 3.1 SUBSCRIBE command and the 3.0 `0x01` message form arrive here).
    Subscribe(Bytes),
    /// The peer cancelled a subscription (PUB and XPUB only).
    Cancel(Bytes),
}

/// Identifies one authentication request of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AuthId(pub(crate) u64);

impl AuthId {
    /// The numeric id (also usable as a ZAP request id).
    pub fn value(self) -> u64 {
        self.0
    }
}

/// The credentials a client presented. `Debug` shows a PLAIN password as
/// `..`, so that logging a request or an error built from one never leaks it.
#[non_exhaustive]
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// NULL: nothing but the address.
    Null,
    /// PLAIN user name and password.
    Plain {
        /// The user name.
        username: Bytes,
        /// The password.
        password: Bytes,
    },
    /// CURVE client long-term public key, proven by the vouch.
    Curve {
        /// The client's permanent public key.
        public_key: PublicKey,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Null => f.write_str("Null"),
            Self::Plain { username, .. } => f
                .debug_struct("Plain")
                .field("username", username)
                .field("password", &format_args!(".."))
                .finish(),
            Self::Curve { public_key } => f
                .debug_struct("Curve")
                .field("public_key", public_key)
                .finish(),
        }
    }
}

/// A request for an authentication decision, shaped after a ZAP request (RFC 27).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthRequest {
    /// Answer with this id.
    pub id: AuthId,
    /// The mechanism in use.
    pub mechanism: MechanismName,
    /// The ZAP domain from the configuration (may be empty).
    pub domain: String,
    /// The peer's address as given to [`Connection::with_peer_address`](crate::Connection::with_peer_address).
    pub address: String,
    /// This socket's own routing id (what libzmq sends as the ZAP identity).
    pub identity: Bytes,
    /// What the client presented.
    pub credentials: Credentials,
}

/// The owner's decision on an [`AuthRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthReply {
    /// Let the client in.
    Allow {
        /// A user id to attach to the peer (ZAP's User-Id), may be empty.
        user_id: Bytes,
        /// Extra properties to attach to the peer (ZAP reply metadata).
        metadata: Metadata,
    },
    /// Refuse the client. 300 closes silently (temporary failure); 400 and 500
    /// send an ERROR with that code as the reason first, as libzmq does (see
    /// [`AuthReply::deny_sends_error`]).
    Deny {
        /// 300, 400 or 500 ([`AuthReply::is_deny_status`]); build it with
        /// [`AuthReply::deny_with_status`] to have any other value become 400.
        status: u16,
        /// Human-readable reason, kept locally.
        text: String,
    },
}

impl AuthReply {
    /// Allow with an empty user id and no metadata.
    pub fn allow() -> Self {
        Self::Allow {
            user_id: Bytes::new(),
            metadata: Metadata::new(),
        }
    }

    /// Deny with status 400 (authentication failed).
    pub fn deny(text: impl Into<String>) -> Self {
        Self::deny_with_status(400, text)
    }

    /// Deny with `status`; a status a connection cannot send becomes 400, so an
    /// authenticator's odd answer still refuses the peer instead of stalling its
    /// handshake.
    pub fn deny_with_status(status: u16, text: impl Into<String>) -> Self {
        Self::Deny {
            status: if Self::is_deny_status(status) {
                status
            } else {
                400
            },
            text: text.into(),
        }
    }

    /// This reply with any unsendable denial status made 400 (see
    /// [`AuthReply::deny_with_status`]); an `Allow` is unchanged.
    pub fn normalized(self) -> Self {
        match self {
            Self::Deny { status, text } => Self::deny_with_status(status, text),
            allow => allow,
        }
    }

    /// Whether a ZMTP connection can send `status` in a denial: 300, 400 or 500,
    /// the failure codes of ZAP (RFC 27).
    pub fn is_deny_status(status: u16) -> bool {
        matches!(status, 300 | 400 | 500)
    }

    /// Whether a denial with `status` sends the peer an ERROR before closing
    /// (400 and 500) rather than closing silently (300, a temporary failure the
    /// client should retry), as libzmq does.
    pub fn deny_sends_error(status: u16) -> bool {
        status != 300
    }
}

/// What the handshake established about the peer.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// The ZMTP generation the peer speaks (which framing, whether commands).
    pub protocol: Protocol,
    /// The peer's greeting version as (major, minor): the revision and 0 for a
    /// ZMTP/2.0 or versioned 1.0 peer, (0, 0) for an unversioned 1.0 peer.
    pub version: (u8, u8),
    /// The mechanism in use.
    pub mechanism: MechanismName,
    /// The peer's socket type, if it sent one (libzmq accepts READY without it).
    /// Always `None` for ZMTP/1.0 and 2.0 peers: 1.0 has none, and libzmq
    /// ignores 2.0's, so neither is checked.
    pub socket_type: Option<SocketType>,
    /// The peer's routing id (`Identity`); empty when none was sent.
    pub routing_id: Bytes,
    /// Every property the peer sent.
    pub metadata: Metadata,
    /// The user id granted by the authenticator (server side).
    pub user_id: Bytes,
    /// Properties granted by the authenticator (server side).
    pub auth_metadata: Metadata,
    /// The client's CURVE public key (server side) or the server's (client side).
    pub curve_key: Option<PublicKey>,
}

impl PeerInfo {
    /// Whether the peer speaks ZMTP 3.1 or newer (SUBSCRIBE commands, PING).
    pub fn is_v31(&self) -> bool {
        self.protocol.is_v31()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_with_status_keeps_sendable_statuses_and_makes_others_400() {
        for sent in [300, 400, 500] {
            let reply = AuthReply::deny_with_status(sent, "no");
            assert!(matches!(reply, AuthReply::Deny { status, .. } if status == sent));
        }
        for odd in [0, 200, 401, 999] {
            let reply = AuthReply::Deny {
                status: odd,
                text: "no".into(),
            };
            assert_eq!(reply.normalized(), AuthReply::deny("no"));
        }
        assert_eq!(AuthReply::allow().normalized(), AuthReply::allow());
        assert!(!AuthReply::deny_sends_error(300));
        assert!(AuthReply::deny_sends_error(400) && AuthReply::deny_sends_error(500));
    }
}
