//! The 64-byte ZMTP 3.x greeting (RFC 23 / RFC 37).

use super::WireError;

/// Length of a ZMTP 3.x greeting on the wire.
pub const GREETING_LEN: usize = 64;

/// Length of the signature that opens every versioned greeting (ZMTP/2.0 and
/// 3.x): `0xFF`, 8 padding bytes, `0x7F`.
pub const SIGNATURE_LEN: usize = 10;

/// Length of a ZMTP/2.0 greeting: signature, revision, socket type.
pub const V2_GREETING_LEN: usize = 12;

/// A security mechanism name as carried in the greeting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MechanismName {
    /// RFC 23's NULL mechanism: no security.
    Null,
    /// RFC 24's PLAIN mechanism: clear-text user name and password.
    Plain,
    /// RFC 25/26's CURVE mechanism: CurveZMQ encryption and authentication.
    Curve,
}

impl MechanismName {
    /// The ASCII name as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Null => "NULL",
            Self::Plain => "PLAIN",
            Self::Curve => "CURVE",
        }
    }

    /// The 20-byte NUL-padded form used in the greeting.
    pub fn padded(self) -> [u8; 20] {
        let mut out = [0u8; 20];
        out[..self.as_str().len()].copy_from_slice(self.as_str().as_bytes());
        out
    }

    /// Recognises a padded mechanism field; other mechanisms (GSSAPI) give `None`.
    pub fn from_padded(field: &[u8; 20]) -> Option<Self> {
        [Self::Null, Self::Plain, Self::Curve]
            .into_iter()
            .find(|m| &m.padded() == field)
    }
}

impl std::fmt::Display for MechanismName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed greeting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Greeting {
    /// Major version (3 for every peer we accept).
    pub major: u8,
    /// Minor version: 0 for ZMTP 3.0, 1 for ZMTP 3.1.
    pub minor: u8,
    /// The raw 20-byte mechanism field.
    pub mechanism: [u8; 20],
    /// The as-server flag. libzmq always sends 0 and never reads it, so nothing
    /// should depend on the peer's value.
    pub as_server: bool,
}

impl Greeting {
    /// A greeting for ZMTP 3.`minor` with the given mechanism.
    pub fn new(minor: u8, mechanism: MechanismName, as_server: bool) -> Self {
        Self {
            major: 3,
            minor,
            mechanism: mechanism.padded(),
            as_server,
        }
    }

    /// The 10-byte signature as libzmq sends it for a routing id of
    /// `routing_id_len` bytes. The padding is "anything" per the RFC; libzmq puts
    /// `routing_id_len + 1` there so that, to a ZMTP/1.0 peer, the signature reads
    /// as the long-form header of our identity message (flags `0x7F`), and only
    /// the identity's body has to follow.
    pub fn signature(routing_id_len: u8) -> [u8; SIGNATURE_LEN] {
        let mut sig = [0u8; SIGNATURE_LEN];
        sig[0] = 0xFF;
        sig[1..9].copy_from_slice(&(u64::from(routing_id_len) + 1).to_be_bytes());
        sig[9] = 0x7F;
        sig
    }

    /// Writes the 64 bytes of this greeting, with the signature of a peer that
    /// has no routing id.
    pub fn emit(&self, out: &mut [u8; GREETING_LEN]) {
        *out = [0; GREETING_LEN];
        out[..SIGNATURE_LEN].copy_from_slice(&Self::signature(0));
        out[10] = self.major;
        out[11] = self.minor;
        out[12..32].copy_from_slice(&self.mechanism);
        out[32] = u8::from(self.as_server);
    }

    /// Checks whatever prefix of a ZMTP 3.x greeting has arrived, so that anything
    /// else is refused after at most eleven bytes, and returns the greeting once all
    /// 64 bytes are there. A pure parser: a [`Connection`](crate::Connection) does
    /// not refuse what this refuses, it downgrades to ZMTP/1.0 or 2.0 as libzmq
    /// does. A revision other than 0 and 1 is taken for 3.x, as libzmq takes it.
    pub fn parse(buf: &[u8]) -> Result<Option<Self>, WireError> {
        if let Some(&first) = buf.first() {
            if first != 0xFF {
                return Err(WireError::NotZmtp);
            }
        }
        // Bit 0 of byte 9 clear means ZMTP 1.0 with an 8-byte length: not ZMTP 3.
        if let Some(&b9) = buf.get(9) {
            if b9 & 0x01 == 0 {
                return Err(WireError::NotZmtp);
            }
        }
        if let Some(&major) = buf.get(10) {
            if major < 2 {
                return Err(WireError::UnsupportedVersion(major));
            }
        }
        if buf.len() < GREETING_LEN {
            return Ok(None);
        }
        let mut mechanism = [0u8; 20];
        mechanism.copy_from_slice(&buf[12..32]);
        Ok(Some(Self {
            major: buf[10],
            minor: buf[11],
            mechanism,
            as_server: buf[32] != 0,
        }))
    }

    /// Whether the peer follows ZMTP 3.1 rules (commands for subscriptions, PING).
    /// As libzmq: 3.0 only for major 3 minor 0, 3.1 for anything newer.
    pub fn is_v31(&self) -> bool {
        !(self.major == 3 && self.minor == 0)
    }

    /// The mechanism name as text, for error messages.
    pub fn mechanism_text(&self) -> String {
        let end = self.mechanism.iter().position(|&b| b == 0).unwrap_or(20);
        String::from_utf8_lossy(&self.mechanism[..end]).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIBZMQ_NULL: [u8; 16] = [
        0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3, 1, b'N', b'U', b'L', b'L',
    ];

    #[test]
    fn emits_libzmq_null_greeting_bytes() {
        let mut out = [0u8; 64];
        Greeting::new(1, MechanismName::Null, false).emit(&mut out);
        assert_eq!(&out[..16], &LIBZMQ_NULL);
        assert!(out[16..].iter().all(|&b| b == 0));
    }

    #[test]
    fn parse_accepts_any_split_and_round_trips() {
        let mut out = [0u8; 64];
        let g = Greeting::new(1, MechanismName::Curve, true);
        g.emit(&mut out);
        for n in 0..64 {
            assert_eq!(Greeting::parse(&out[..n]), Ok(None), "prefix {n}");
        }
        assert_eq!(Greeting::parse(&out), Ok(Some(g)));
    }

    #[test]
    fn refuses_non_zmtp_after_first_byte() {
        assert_eq!(Greeting::parse(b"G"), Err(WireError::NotZmtp));
        // ZMTP 1.0 "vanilla socket" bytes from libzmq's test_security_null.
        assert_eq!(Greeting::parse(&[0x01, 0x00]), Err(WireError::NotZmtp));
        let mut v1_long = [0u8; 10];
        v1_long[0] = 0xFF;
        assert_eq!(Greeting::parse(&v1_long), Err(WireError::NotZmtp));
    }

    #[test]
    fn signature_carries_routing_id_length() {
        assert_eq!(Greeting::signature(3), [0xFF, 0, 0, 0, 0, 0, 0, 0, 4, 0x7F]);
        assert_eq!(Greeting::signature(255)[7..9], [1, 0]);
    }

    #[test]
    fn refuses_zmtp_2() {
        let mut out = [0u8; 64];
        Greeting::new(1, MechanismName::Null, false).emit(&mut out);
        out[10] = 1;
        assert_eq!(
            Greeting::parse(&out[..11]),
            Err(WireError::UnsupportedVersion(1))
        );
    }

    #[test]
    fn version_rules_follow_libzmq() {
        let mut g = Greeting::new(0, MechanismName::Null, false);
        assert!(!g.is_v31());
        g.minor = 1;
        assert!(g.is_v31());
        g.major = 4;
        g.minor = 0;
        assert!(g.is_v31());
    }
}
