//! ZAP (RFC 27) replies from a handler: any multipart message, whether or not it
//! names an outstanding request, is matched or ignored without a panic; a reply
//! to a known request is either a well-formed 200 (allowing, with the user id it
//! carries) or a denial with one of the four status codes, and a request is
//! answered at most once.
//!
//! Input: flags, then frames as `len(1) bytes`. Flag bit 0 puts the real
//! request id in frame 2; bit 1 the empty delimiter and version 1.0 in frames 0
//! and 1, so the fuzzer reaches the status and metadata checks at once.

#![no_main]

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use zmq_patterns::engine::{ConnId, ZapClient};
use zmtp_core::{
    AuthReply, AuthRequest, Config, Connection, Event, MechanismConfig, Msg, SocketType,
};

/// A real PLAIN authentication request, from two in-memory connections.
fn plain_request() -> AuthRequest {
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    let client = Config::new(SocketType::Dealer)
        .with_mechanism(MechanismConfig::PlainClient {
            username: Bytes::from_static(b"admin"),
            password: Bytes::from_static(b"secret"),
        })
        .unwrap();
    let server = Config::new(SocketType::Router)
        .with_mechanism(MechanismConfig::PlainServer)
        .unwrap();
    let mut c = Connection::new(Arc::new(client), now);
    let mut s = Connection::new(Arc::new(server), now);
    let (mut to_s, mut to_c) = (BytesMut::new(), BytesMut::new());
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
                return *req;
            }
        }
    }
    panic!("the PLAIN handshake asked for no decision");
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, mut rest)) = data.split_first() else {
        return;
    };
    let mut zap = ZapClient::new();
    let request = zap.request(ConnId(3), &plain_request());
    let id = request.frames()[2].clone();
    let mut frames: Vec<Bytes> = Vec::new();
    if flags & 2 != 0 {
        frames.push(Bytes::new());
        frames.push(Bytes::from_static(b"1.0"));
    }
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len).min(tail.len());
        frames.push(Bytes::copy_from_slice(&tail[..n]));
        rest = &tail[n..];
    }
    if flags & 1 != 0 {
        while frames.len() < 3 {
            frames.push(Bytes::new());
        }
        frames[2] = id.clone();
    }
    let names_request = frames.get(2) == Some(&id);
    let reply: Msg = frames.iter().cloned().collect();
    match zap.handle_reply(reply.clone()) {
        None => {
            assert!(!names_request);
            assert_eq!(zap.pending(), 1);
        }
        Some((conn, _, decision)) => {
            assert!(names_request);
            assert_eq!(conn, ConnId(3));
            assert_eq!(zap.pending(), 0);
            match decision {
                AuthReply::Allow { user_id, .. } => {
                    assert_eq!(frames.len(), 7);
                    assert_eq!(&frames[3][..], b"200");
                    assert_eq!(user_id, frames[5]);
                }
                AuthReply::Deny { status, .. } => {
                    assert!(matches!(status, 300 | 400 | 500), "{status}");
                }
            }
            // Answered once: the same reply again names nothing outstanding.
            assert!(zap.handle_reply(reply).is_none());
        }
    }
});
