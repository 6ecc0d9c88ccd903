//! ZAP (RFC 27) messages: authentication requests sent to a handler socket bound
//! at `inproc://zeromq.zap.01`, and the handler's replies, for libzmq-style ZAP
//! handlers. The runtime moves the messages; this module encodes, matches and
//! validates them.

use std::collections::HashMap;

use bytes::Bytes;
use zmtp_core::{AuthId, AuthReply, AuthRequest, Credentials, Metadata, Msg};

use super::ConnId;

/// The inproc endpoint a ZAP handler binds, as in libzmq.
pub const ZAP_ENDPOINT: &str = "inproc://zeromq.zap.01";

const VERSION: &[u8] = b"1.0";

/// Requests sent to a ZAP handler and not answered yet.
///
/// One client serves a whole socket: every request carries its own request id, so
/// replies can come back in any order over a single DEALER-style pipe.
#[derive(Debug, Default)]
pub struct ZapClient {
    next_id: u64,
    pending: HashMap<Bytes, (ConnId, AuthId)>,
}

impl ZapClient {
    /// A client with nothing outstanding.
    pub fn new() -> Self {
        Self::default()
    }

    /// The message to send to the handler for `req` of connection `conn`:
    /// an empty delimiter, then version, request id, domain, address, identity,
    /// mechanism and the credential frames (RFC 27).
    pub fn request(&mut self, conn: ConnId, req: &AuthRequest) -> Msg {
        self.next_id += 1;
        let request_id = Bytes::from(self.next_id.to_string());
        self.pending.insert(request_id.clone(), (conn, req.id));
        let mut msg = Msg::new();
        msg.push(Bytes::new());
        msg.push(Bytes::from_static(VERSION));
        msg.push(request_id);
        msg.push(Bytes::from(req.domain.clone()));
        msg.push(Bytes::from(req.address.clone()));
        msg.push(req.identity.clone());
        msg.push(Bytes::from_static(req.mechanism.as_str().as_bytes()));
        match &req.credentials {
            Credentials::Plain { username, password } => {
                msg.push(username.clone());
                msg.push(password.clone());
            }
            Credentials::Curve { public_key } => {
                msg.push(Bytes::copy_from_slice(public_key.as_bytes()));
            }
            _ => {}
        }
        msg
    }

    /// Matches a reply from the handler to its request. A reply that names no
    /// outstanding request is ignored (`None`); a malformed reply to a known
    /// request denies it with status 500, as libzmq fails such a handshake.
    pub fn handle_reply(&mut self, reply: Msg) -> Option<(ConnId, AuthId, AuthReply)> {
        let frames = reply.frames();
        let request_id = frames.get(2)?;
        let (conn, auth) = self.pending.remove(request_id)?;
        Some((conn, auth, parse_reply(frames)))
    }

    /// Forgets every outstanding request (the handler went away); the caller
    /// denies them.
    pub fn take_pending(&mut self) -> Vec<(ConnId, AuthId)> {
        self.pending.drain().map(|(_, v)| v).collect()
    }

    /// Number of requests waiting for a reply.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

/// Validates a reply as libzmq's `zap_client_t` does: seven frames, an empty
/// delimiter, version 1.0, a three-digit status of 200, 300, 400 or 500, and
/// well-formed metadata.
fn parse_reply(frames: &[Bytes]) -> AuthReply {
    let malformed = |why: &str| AuthReply::Deny {
        status: 500,
        text: format!("malformed ZAP reply: {why}"),
    };
    if frames.len() != 7 {
        return malformed("expected 7 frames");
    }
    if !frames[0].is_empty() {
        return malformed("no empty delimiter");
    }
    if frames[1] != VERSION {
        return malformed("version is not 1.0");
    }
    // Exactly three digits: "0400" or "+40" are not ZAP status codes.
    let status = match &frames[3][..] {
        code @ [_, _, _] if code.iter().all(u8::is_ascii_digit) => {
            code.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'))
        }
        _ => return malformed("invalid status code"),
    };
    if status != 200 && !AuthReply::is_deny_status(status) {
        return malformed("invalid status code");
    }
    let text = String::from_utf8_lossy(&frames[4]).into_owned();
    if status != 200 {
        return AuthReply::deny_with_status(status, text);
    }
    match Metadata::parse(&frames[6]) {
        Ok(metadata) => AuthReply::Allow {
            user_id: frames[5].clone(),
            metadata,
        },
        Err(_) => malformed("invalid metadata"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zmtp_core::MechanismName;

    /// A real request: a PLAIN handshake between two in-memory connections.
    // A test reads the clock once to start its virtual timeline.
    #[allow(clippy::disallowed_methods)]
    fn plain_request() -> AuthRequest {
        use std::sync::Arc;
        use std::time::Instant;
        use zmtp_core::{Config, Connection, Event, MechanismConfig, SocketType};
        let now = Instant::now();
        let client = Config::new(SocketType::Dealer)
            .with_mechanism(MechanismConfig::PlainClient {
                username: Bytes::from_static(b"admin"),
                password: Bytes::from_static(b"secret"),
            })
            .unwrap();
        let server = Config::new(SocketType::Router)
            .with_mechanism(MechanismConfig::PlainServer)
            .unwrap()
            .with_zap_domain("global");
        let mut c = Connection::new(Arc::new(client), now);
        let mut s = Connection::new(Arc::new(server), now);
        let (mut to_s, mut to_c) = (bytes::BytesMut::new(), bytes::BytesMut::new());
        for _ in 0..8 {
            while let Some(b) = c.poll_transmit() {
                to_s.extend_from_slice(&b);
            }
            while let Some(b) = s.poll_transmit() {
                to_c.extend_from_slice(&b);
            }
            s.handle_input(now, &mut to_s).unwrap();
            c.handle_input(now, &mut to_c).unwrap();
            while let Some(ev) = s.poll_event() {
                if let Event::AuthRequest(req) = ev {
                    assert_eq!(req.mechanism, MechanismName::Plain);
                    return *req;
                }
            }
        }
        panic!("no authentication request");
    }

    fn reply(id: &Bytes, status: &str, user: &str) -> Msg {
        let frames: Vec<Bytes> = vec![
            Bytes::new(),
            Bytes::from_static(b"1.0"),
            id.clone(),
            Bytes::copy_from_slice(status.as_bytes()),
            Bytes::from_static(b"text"),
            Bytes::copy_from_slice(user.as_bytes()),
            Bytes::new(),
        ];
        frames.into_iter().collect()
    }

    #[test]
    fn request_has_rfc27_frames() {
        let mut zap = ZapClient::new();
        let req = plain_request();
        let msg = zap.request(ConnId(7), &req);
        let f: Vec<&[u8]> = msg.frames().iter().map(|b| &b[..]).collect();
        assert_eq!(f[0], b"");
        assert_eq!(f[1], b"1.0");
        assert_eq!(f[3], req.domain.as_bytes());
        assert_eq!(f[6], b"PLAIN");
        assert_eq!(&f[7..], &[&b"admin"[..], &b"secret"[..]]);
        assert_eq!(zap.pending(), 1);
    }

    #[test]
    fn replies_match_by_request_id_and_are_validated() {
        let mut zap = ZapClient::new();
        let req = plain_request();
        let a = zap.request(ConnId(1), &req);
        let b = zap.request(ConnId(2), &req);
        let (id_a, id_b) = (a.frames()[2].clone(), b.frames()[2].clone());
        assert_ne!(id_a, id_b);
        // Out of order: b first, denied.
        let (conn, _, r) = zap.handle_reply(reply(&id_b, "400", "")).unwrap();
        assert_eq!(conn, ConnId(2));
        assert!(matches!(r, AuthReply::Deny { status: 400, .. }));
        let (conn, _, r) = zap.handle_reply(reply(&id_a, "200", "alice")).unwrap();
        assert_eq!(conn, ConnId(1));
        assert!(matches!(r, AuthReply::Allow { ref user_id, .. } if &user_id[..] == b"alice"));
        // Unknown id: ignored.
        assert!(zap.handle_reply(reply(&id_a, "200", "")).is_none());
    }

    #[test]
    fn malformed_replies_deny_with_500() {
        for bad in [
            |m: &mut Vec<Bytes>| m[1] = Bytes::from_static(b"2.0"),
            |m: &mut Vec<Bytes>| m[3] = Bytes::from_static(b"invalid_status"),
            |m: &mut Vec<Bytes>| m.push(Bytes::new()),
            |m: &mut Vec<Bytes>| m[6] = Bytes::from_static(b"\x05"),
            |m: &mut Vec<Bytes>| m[0] = Bytes::from_static(b"x"),
        ] {
            let mut zap = ZapClient::new();
            let id = zap.request(ConnId(1), &plain_request()).frames()[2].clone();
            let mut frames: Vec<Bytes> = reply(&id, "200", "").into_frames().collect();
            bad(&mut frames);
            let (_, _, r) = zap.handle_reply(frames.into_iter().collect()).unwrap();
            assert!(matches!(r, AuthReply::Deny { status: 500, .. }), "{r:?}");
        }
    }

    #[test]
    fn status_must_be_one_of_the_four_codes_in_three_digits() {
        for bad in ["0400", "401", "+40", "40", "2000", "100"] {
            let mut zap = ZapClient::new();
            let id = zap.request(ConnId(1), &plain_request()).frames()[2].clone();
            let (_, _, r) = zap.handle_reply(reply(&id, bad, "")).unwrap();
            assert!(
                matches!(r, AuthReply::Deny { status: 500, .. }),
                "{bad}: {r:?}"
            );
        }
        for (code, status) in [("300", 300), ("400", 400), ("500", 500)] {
            let mut zap = ZapClient::new();
            let id = zap.request(ConnId(1), &plain_request()).frames()[2].clone();
            let (_, _, r) = zap.handle_reply(reply(&id, code, "")).unwrap();
            assert!(matches!(r, AuthReply::Deny { status: s, .. } if s == status));
        }
    }
}
