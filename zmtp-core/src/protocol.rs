//! Which generation of ZMTP a peer speaks.

/// The ZMTP generation a peer's greeting revealed. It decides the framing, and
/// whether there are commands, security mechanisms and heartbeats at all.
///
/// libzmq 4.x talks to all four, and so does a [`Connection`](crate::Connection):
/// ZMTP/1.0 and 2.0 peers get the old framing, NULL security only.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// ZMTP/1.0 (RFC 13, libzmq 2.x): frames are `length flags body` with the
    /// length counting the flags byte; the first message is the peer's identity.
    Zmtp1,
    /// ZMTP/2.0 (RFC 15, libzmq 3.x): a 12-byte greeting ending in the socket
    /// type, then an identity frame and `flags size body` frames.
    Zmtp2,
    /// ZMTP/3.0 (RFC 23): mechanisms and commands; subscriptions as messages.
    Zmtp3_0,
    /// ZMTP/3.1 (RFC 37) or newer: SUBSCRIBE/CANCEL commands and heartbeats.
    Zmtp3_1,
}

impl Protocol {
    /// The protocol libzmq picks from a versioned greeting: revision 0 is ZMTP/1.0
    /// framing, 1 is ZMTP/2.0, 3 with minor 0 is 3.0, and anything else (3.1,
    /// a future major, even revision 2) follows 3.1 rules.
    pub fn from_revision(revision: u8, minor: u8) -> Self {
        match (revision, minor) {
            (0, _) => Self::Zmtp1,
            (1, _) => Self::Zmtp2,
            (3, 0) => Self::Zmtp3_0,
            _ => Self::Zmtp3_1,
        }
    }

    /// Whether this is ZMTP/1.0 or 2.0: no greeting mechanism, no commands, no
    /// security, so a socket with security configured refuses it (a downgrade).
    pub fn is_legacy(self) -> bool {
        matches!(self, Self::Zmtp1 | Self::Zmtp2)
    }

    /// Whether the peer takes SUBSCRIBE/CANCEL commands and PING/PONG.
    pub fn is_v31(self) -> bool {
        self == Self::Zmtp3_1
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Zmtp1 => "ZMTP/1.0",
            Self::Zmtp2 => "ZMTP/2.0",
            Self::Zmtp3_0 => "ZMTP/3.0",
            Self::Zmtp3_1 => "ZMTP/3.1",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_map_as_libzmq_maps_them() {
        assert_eq!(Protocol::from_revision(0, 9), Protocol::Zmtp1);
        assert_eq!(Protocol::from_revision(1, 0), Protocol::Zmtp2);
        assert_eq!(Protocol::from_revision(3, 0), Protocol::Zmtp3_0);
        assert_eq!(Protocol::from_revision(3, 1), Protocol::Zmtp3_1);
        assert_eq!(Protocol::from_revision(2, 0), Protocol::Zmtp3_1);
        assert_eq!(Protocol::from_revision(4, 0), Protocol::Zmtp3_1);
        assert!(Protocol::Zmtp1.is_legacy() && Protocol::Zmtp2.is_legacy());
        assert!(!Protocol::Zmtp3_0.is_legacy() && !Protocol::Zmtp3_0.is_v31());
    }
}
