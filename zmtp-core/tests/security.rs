//! Security properties of the mechanisms, between two in-memory connections:
//! CURVE nonces, replays and tampering; secret keys wiped on drop; PLAIN
//! passwords never echoed; peer text escaped in errors.
//! (`interop_libzmq.rs` checks replays and tampering on libzmq's own bytes.)

// Tests that do not move time take any instant as "now".
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::Instant;

use bytes::BytesMut;
use common::*;
use zeroize::{Zeroize, ZeroizeOnDrop};
use zmtp_core::wire::greeting::{Greeting, MechanismName};
use zmtp_core::{
    AuthReply, Config, Connection, ConnectionError, Credentials, Event, MechanismConfig, Msg,
    SecretKey, SocketType,
};

/// An active CURVE DEALER pair.
fn curve_pair() -> Pair {
    let mut p = Pair::for_mech(Mech::Curve, SocketType::Dealer, SocketType::Dealer);
    p.drive();
    assert!(p.both_active());
    p
}

/// What the client transmits for `msg`, taken off the wire before the server
/// sees it.
fn client_wire(p: &mut Pair, msg: &str) -> Vec<u8> {
    p.client.conn.send(Msg::from(msg.to_owned())).unwrap();
    drain(&mut p.client.conn)
}

/// Feeds `bytes` to the server and returns its result and new messages.
fn feed_server(p: &mut Pair, bytes: &[u8]) -> (Result<(), ConnectionError>, Vec<Msg>) {
    let mut buf = BytesMut::from(bytes);
    let r = p.server.conn.handle_input(p.now, &mut buf);
    let msgs = events(&mut p.server.conn)
        .into_iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m),
            _ => None,
        })
        .collect();
    (r, msgs)
}

/// The short nonce of a MESSAGE in a short data frame.
fn short_nonce(frame: &[u8]) -> u64 {
    assert_eq!(&frame[2..10], b"\x07MESSAGE");
    u64::from_be_bytes(frame[10..18].try_into().unwrap())
}

#[test]
fn curve_nonces_strictly_increase_in_both_directions() {
    let mut p = curve_pair();
    let mut last = 0;
    for i in 0..20 {
        let wire = client_wire(&mut p, &format!("m{i}"));
        let n = short_nonce(&wire);
        assert!(n > last, "nonce {n} after {last}");
        last = n;
        assert_eq!(feed_server(&mut p, &wire).1.len(), 1);
    }
    let mut last = 0;
    for i in 0..20 {
        p.server.conn.send(Msg::from(format!("r{i}"))).unwrap();
        let n = short_nonce(&drain(&mut p.server.conn));
        assert!(n > last, "nonce {n} after {last}");
        last = n;
    }
}

#[test]
fn a_replayed_curve_message_is_refused_within_the_connection() {
    let mut p = curve_pair();
    let wire = client_wire(&mut p, "pay me once");
    let (r, msgs) = feed_server(&mut p, &wire);
    assert_eq!(r, Ok(()));
    assert_eq!(msgs.len(), 1);
    let (r, msgs) = feed_server(&mut p, &wire);
    assert_eq!(r, Err(ConnectionError::InvalidNonce));
    assert!(msgs.is_empty(), "the replay was delivered");
    // Errors are sticky: a fresh, valid message is not read afterwards.
    let next = client_wire(&mut p, "later");
    assert!(feed_server(&mut p, &next).0.is_err());
}

#[test]
fn an_older_curve_message_after_a_newer_one_is_refused() {
    let mut p = curve_pair();
    let first = client_wire(&mut p, "first");
    let second = client_wire(&mut p, "second");
    let (r, msgs) = feed_server(&mut p, &second);
    assert_eq!(r, Ok(()));
    assert_eq!(msgs.len(), 1);
    let (r, msgs) = feed_server(&mut p, &first);
    assert_eq!(r, Err(ConnectionError::InvalidNonce));
    assert!(msgs.is_empty());
}

#[test]
fn a_flipped_bit_in_a_curve_message_box_is_refused() {
    // Every byte of the tag and the ciphertext, one bit each (a fresh pair per
    // byte: a refusal ends the connection).
    let len = client_wire(&mut curve_pair(), "tamper").len();
    for at in 18..len {
        let mut p = curve_pair();
        let mut wire = client_wire(&mut p, "tamper");
        wire[at] ^= 1 << (at % 8);
        let (r, msgs) = feed_server(&mut p, &wire);
        assert_eq!(r, Err(ConnectionError::Cryptographic), "byte {at}");
        assert!(msgs.is_empty(), "byte {at}: tampered message delivered");
    }
}

#[test]
fn a_raised_nonce_does_not_open_the_box() {
    // A nonce moved forward passes the order check, but the box was sealed
    // under the original one.
    let mut p = curve_pair();
    let mut wire = client_wire(&mut p, "tamper");
    wire[17] ^= 0x80;
    assert_eq!(
        feed_server(&mut p, &wire).0,
        Err(ConnectionError::Cryptographic)
    );
}

#[test]
fn a_flipped_bit_in_each_curve_handshake_command_is_refused() {
    // Offsets in the client's stream: greeting(64), HELLO (2-byte header, box
    // from body byte 120), INITIATE (9-byte header, box from body byte 113).
    for (command, at) in [("HELLO", 64 + 2 + 150), ("INITIATE", 64 + 202 + 9 + 180)] {
        let (c, s) = configs(Mech::Curve, SocketType::Dealer, SocketType::Dealer);
        let now = Instant::now();
        let mut client = Connection::new(std::sync::Arc::new(c), now);
        let mut server = Connection::new(std::sync::Arc::new(s), now);
        let (mut to_server, mut to_client) = (BytesMut::new(), BytesMut::new());
        let mut sent = 0usize;
        let mut result = Ok(());
        for _ in 0..20 {
            while let Some(chunk) = client.poll_transmit() {
                let mut chunk = chunk.to_vec();
                if (sent..sent + chunk.len()).contains(&at) {
                    chunk[at - sent] ^= 0x01;
                }
                sent += chunk.len();
                to_server.extend_from_slice(&chunk);
            }
            result = server.handle_input(now, &mut to_server);
            for ev in events(&mut server) {
                if let Event::AuthRequest(req) = ev {
                    server.auth_reply(req.id, AuthReply::allow()).unwrap();
                }
            }
            if result.is_err() {
                break;
            }
            to_client.extend_from_slice(&drain(&mut server));
            let _ = client.handle_input(now, &mut to_client);
        }
        assert!(sent > at, "{command}: the handshake ended before byte {at}");
        assert_eq!(result, Err(ConnectionError::Cryptographic), "{command}");
        assert!(!server.is_active(), "{command}");
    }
}

#[test]
fn secret_keys_are_wiped_on_drop() {
    fn wiped_on_drop<T: ZeroizeOnDrop>() {}
    wiped_on_drop::<SecretKey>();
    let mut key = SecretKey([7; 32]);
    key.zeroize();
    assert_eq!(key.0, [0; 32]);
    // Comparison (constant time) still tells keys apart.
    assert_eq!(SecretKey([1; 32]), SecretKey([1; 32]));
    assert_ne!(SecretKey([1; 32]), SecretKey([2; 32]));
}

#[test]
fn plain_passwords_are_never_echoed() {
    let (c, s) = configs(Mech::Plain, SocketType::Dealer, SocketType::Dealer);
    let password = String::from_utf8(match &c.mechanism() {
        MechanismConfig::PlainClient { password, .. } => password.to_vec(),
        other => panic!("{other:?}"),
    })
    .unwrap();
    assert!(!format!("{c:?}").contains(&password), "{c:?}");
    let mut p = Pair::new(c, s);
    p.authenticator = Some(Box::new(|_| AuthReply::deny("no")));
    // Everything the server sends back, and every error either side reports.
    let mut from_server = Vec::new();
    for _ in 0..100 {
        while let Some(b) = p.server.conn.poll_transmit() {
            from_server.extend_from_slice(&b);
            p.client.in_flight.extend(b.iter().copied());
        }
        p.drive();
        if p.client.error.is_some() && p.server.error.is_some() {
            break;
        }
    }
    let request = p
        .server
        .events
        .iter()
        .find_map(|e| match e {
            Event::AuthRequest(r) => Some(r.clone()),
            _ => None,
        })
        .expect("an authentication request");
    assert!(
        matches!(&request.credentials, Credentials::Plain { password: pw, .. } if pw == password.as_bytes())
    );
    assert!(!format!("{request:?}").contains(&password));
    assert!(!String::from_utf8_lossy(&from_server).contains(&password));
    for err in [&p.server.error, &p.client.error].into_iter().flatten() {
        assert!(!err.to_string().contains(&password), "{err}");
        assert!(!format!("{err:?}").contains(&password), "{err:?}");
    }
    assert!(p.server.error.is_some());
}

#[test]
fn a_peers_error_reason_is_escaped() {
    let (c, _) = configs(Mech::Null, SocketType::Dealer, SocketType::Dealer);
    let mut conn = Connection::new(std::sync::Arc::new(c), Instant::now());
    let mut g = [0u8; 64];
    Greeting::new(1, MechanismName::Null, false).emit(&mut g);
    let reason = "bad\r\nWARN forged\u{1b}[31m\u{202e}dlrow\\";
    let mut input = g.to_vec();
    input.extend_from_slice(&[0x04, (7 + reason.len()) as u8]);
    input.extend_from_slice(b"\x05ERROR");
    input.push(reason.len() as u8);
    input.extend_from_slice(reason.as_bytes());
    let err = conn
        .handle_input(Instant::now(), &mut BytesMut::from(&input[..]))
        .unwrap_err();
    let shown = err.to_string();
    assert_eq!(
        shown,
        "peer refused the handshake: bad\\r\\nWARN forged\\u{1b}[31m\\u{202e}dlrow\\\\"
    );
    assert!(!shown.chars().any(|c| c.is_control() || c == '\u{202e}'));
}

#[test]
fn config_debug_hides_secrets() {
    let (c, s) = configs(Mech::Curve, SocketType::Dealer, SocketType::Dealer);
    for cfg in [&c, &s] {
        let shown = format!("{cfg:?}");
        for secret in [client_keys().secret.to_z85(), server_keys().secret.to_z85()] {
            assert!(!shown.contains(&secret), "{shown}");
        }
    }
    let _: &Config = &c;
}
