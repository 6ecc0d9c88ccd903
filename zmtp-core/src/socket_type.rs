//! ZeroMQ socket types as they appear in the `Socket-Type` READY property.

use std::fmt;

/// A ZeroMQ socket type (RFC 37 and the pattern RFCs 28–31).
///
/// The classic, non-draft types libzmq 4.3 builds without its draft API, and
/// STREAM, which speaks raw TCP instead of ZMTP: no ZMTP peer is compatible
/// with it, so a handshake announcing it is always refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SocketType {
    /// Exclusive pair (RFC 31).
    Pair,
    /// Publisher (RFC 29).
    Pub,
    /// Subscriber (RFC 29).
    Sub,
    /// Request side of request-reply (RFC 28).
    Req,
    /// Reply side of request-reply (RFC 28).
    Rep,
    /// Asynchronous request side (RFC 28).
    Dealer,
    /// Asynchronous reply side that routes by identity (RFC 28).
    Router,
    /// Pipeline receiver (RFC 30).
    Pull,
    /// Pipeline sender (RFC 30).
    Push,
    /// Publisher that also sees subscriptions (RFC 29).
    XPub,
    /// Subscriber that sends subscriptions as messages (RFC 29).
    XSub,
    /// Raw TCP peers addressed by routing id, without ZMTP (libzmq's
    /// ZMQ_STREAM).
    Stream,
}

impl SocketType {
    /// Every socket type, in the order libzmq numbers them.
    pub const ALL: [Self; 12] = [
        Self::Pair,
        Self::Pub,
        Self::Sub,
        Self::Req,
        Self::Rep,
        Self::Dealer,
        Self::Router,
        Self::Pull,
        Self::Push,
        Self::XPub,
        Self::XSub,
        Self::Stream,
    ];

    /// The upper-case name sent in the `Socket-Type` property.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pair => "PAIR",
            Self::Pub => "PUB",
            Self::Sub => "SUB",
            Self::Req => "REQ",
            Self::Rep => "REP",
            Self::Dealer => "DEALER",
            Self::Router => "ROUTER",
            Self::Pull => "PULL",
            Self::Push => "PUSH",
            Self::XPub => "XPUB",
            Self::XSub => "XSUB",
            Self::Stream => "STREAM",
        }
    }

    /// Parses a `Socket-Type` value. The RFC makes names case-insensitive, so this
    /// accepts any casing (libzmq itself only ever sends upper case).
    pub fn from_name(name: &[u8]) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().as_bytes().eq_ignore_ascii_case(name))
    }

    /// Whether a socket of this type may talk to a peer of type `peer` (RFC 37's
    /// table, which is also libzmq's `check_socket_type`).
    pub fn is_compatible_with(self, peer: Self) -> bool {
        use SocketType::*;
        match self {
            Req => matches!(peer, Rep | Router),
            Rep => matches!(peer, Req | Dealer),
            Dealer => matches!(peer, Rep | Dealer | Router),
            Router => matches!(peer, Req | Dealer | Router),
            Pub | XPub => matches!(peer, Sub | XSub),
            Sub | XSub => matches!(peer, Pub | XPub),
            Push => matches!(peer, Pull),
            Pull => matches!(peer, Push),
            Pair => matches!(peer, Pair),
            // STREAM speaks no ZMTP, so no ZMTP peer can be its partner.
            Stream => false,
        }
    }

    /// libzmq's number for this type (`ZMQ_PAIR` = 0 … `ZMQ_XSUB` = 10,
    /// `ZMQ_STREAM` = 11), which is also what a ZMTP/2.0 greeting carries in
    /// its last byte.
    pub fn number(self) -> u8 {
        Self::ALL.iter().position(|&t| t == self).unwrap_or(0) as u8
    }

    /// Whether libzmq sends an `Identity` property for this type. It does for REQ,
    /// DEALER and ROUTER, always, even when the routing id is empty.
    pub fn sends_identity(self) -> bool {
        matches!(self, Self::Req | Self::Dealer | Self::Router)
    }

    /// Whether peers of this socket send it subscriptions (PUB and XPUB).
    pub fn accepts_subscriptions(self) -> bool {
        matches!(self, Self::Pub | Self::XPub)
    }
}

impl fmt::Display for SocketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_ignore_case() {
        for t in SocketType::ALL {
            assert_eq!(SocketType::from_name(t.as_str().as_bytes()), Some(t));
            let lower = t.as_str().to_ascii_lowercase();
            assert_eq!(SocketType::from_name(lower.as_bytes()), Some(t));
        }
        assert_eq!(SocketType::from_name(b""), None);
        assert_eq!(SocketType::from_name(b"SERVER"), None);
    }

    #[test]
    fn numbers_are_libzmqs() {
        assert_eq!(SocketType::Pair.number(), 0);
        assert_eq!(SocketType::Router.number(), 6);
        assert_eq!(SocketType::XSub.number(), 10);
        assert_eq!(SocketType::Stream.number(), 11);
    }

    #[test]
    fn stream_talks_to_no_zmtp_peer() {
        for t in SocketType::ALL {
            assert!(!SocketType::Stream.is_compatible_with(t), "{t}");
        }
    }

    #[test]
    fn compatibility_table_is_symmetric() {
        for a in SocketType::ALL {
            for b in SocketType::ALL {
                assert_eq!(
                    a.is_compatible_with(b),
                    b.is_compatible_with(a),
                    "{a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn req_talks_to_rep_and_router_only() {
        let ok: Vec<_> = SocketType::ALL
            .into_iter()
            .filter(|p| SocketType::Req.is_compatible_with(*p))
            .collect();
        assert_eq!(ok, vec![SocketType::Rep, SocketType::Router]);
    }
}
