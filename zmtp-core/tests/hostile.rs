//! What a hostile or broken peer can and cannot make a connection do.

// Tests that do not move time take any instant as "now".
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::Duration;

use bytes::BytesMut;
use common::*;
use zmtp_core::wire::greeting::{Greeting, MechanismName};
use zmtp_core::{Config, Connection, ConnectionError, Event, MechanismConfig, Msg, SocketType};

fn greeting(m: MechanismName) -> Vec<u8> {
    let mut g = [0u8; 64];
    Greeting::new(1, m, false).emit(&mut g);
    g.to_vec()
}

fn active_null_server(t: SocketType, peer: &str) -> (Pair, ()) {
    let (c, s) = configs(
        Mech::Null,
        SocketType::from_name(peer.as_bytes()).unwrap(),
        t,
    );
    let mut p = Pair::new(c, s);
    p.drive();
    assert!(p.both_active());
    (p, ())
}

fn feed(p: &mut Pair, bytes: &[u8]) -> Result<(), ConnectionError> {
    let mut buf = BytesMut::from(bytes);
    p.server.conn.handle_input(p.now, &mut buf)
}

#[test]
fn a_huge_error_reason_becomes_a_short_error_value() {
    let (c, _) = configs(Mech::Null, SocketType::Dealer, SocketType::Dealer);
    let mut conn = Connection::new(std::sync::Arc::new(c), std::time::Instant::now());
    let mut input = greeting(MechanismName::Null);
    let body_len = 1 + 5 + 1 + 100_000;
    input.push(0x06);
    input.extend_from_slice(&(body_len as u64).to_be_bytes());
    input.extend_from_slice(b"\x05ERROR\x00");
    input.extend(std::iter::repeat_n(0xFFu8, 100_000));
    let mut buf = BytesMut::from(&input[..]);
    let Err(ConnectionError::PeerError { reason }) =
        conn.handle_input(std::time::Instant::now(), &mut buf)
    else {
        panic!()
    };
    assert!(reason.len() <= 3 * 255, "{} bytes", reason.len());
}

#[test]
fn a_never_ending_multipart_message_is_cut_off() {
    let (c, s) = configs(Mech::Null, SocketType::Push, SocketType::Pull);
    let mut p = Pair::new(c, s.with_max_frames(Some(1000)));
    p.drive();
    let more = b"\x01\x00".repeat(1001);
    assert_eq!(
        feed(&mut p, &more),
        Err(ConnectionError::TooManyFrames { max: 1000 }),
    );
}

#[test]
fn a_hundred_thousand_frame_message_is_delivered_whole() {
    // libzmq has no frame-count cap, and neither do we by default (this was
    // cut at 65,536 frames, closing the connection).
    for mech in ALL_MECHS {
        let mut p = Pair::for_mech(mech, SocketType::Push, SocketType::Pull);
        p.drive();
        let frames: Vec<&[u8]> = (0..100_000)
            .map(|i| if i % 1000 == 0 { &b"x"[..] } else { &b""[..] })
            .collect();
        let msg = Msg::from_iter(frames);
        p.client.conn.send(msg.clone()).unwrap();
        p.drive();
        assert_eq!(p.server.error, None, "{mech:?}");
        assert_eq!(p.server.take_messages(), vec![msg], "{mech:?}");
    }
}

#[test]
fn an_empty_frame_flood_is_refused_within_max_msg_size() {
    // Empty frames have no body, but each costs a handle: with MAXMSGSIZE set
    // they are charged FRAME_COST apiece (after the first), so the flood ends
    // before the partial message holds more than the limit.
    let max = 64_000;
    let (c, s) = configs(Mech::Null, SocketType::Push, SocketType::Pull);
    let mut p = Pair::new(c, s.with_max_msg_size(Some(max)));
    p.drive();
    let fit = 1 + (max / zmtp_core::FRAME_COST) as usize;
    assert_eq!(feed(&mut p, &b"\x01\x00".repeat(fit)), Ok(()));
    assert_eq!(
        feed(&mut p, b"\x01\x00"),
        Err(ConnectionError::MessageTooLarge {
            size: fit as u64 * zmtp_core::FRAME_COST,
            max,
        }),
    );
    assert!(events(&mut p.server.conn)
        .iter()
        .all(|e| !matches!(e, Event::Message(_))));
}

#[test]
fn max_msg_size_bounds_the_sum_of_small_frames() {
    // Every frame fits (libzmq would take the message); the whole does not.
    let (c, s) = configs(Mech::Null, SocketType::Push, SocketType::Pull);
    let mut p = Pair::new(c, s.with_max_msg_size(Some(1000)));
    p.drive();
    let mut chunk = b"\x01\x64".to_vec();
    chunk.extend([b'x'; 100]);
    assert_eq!(feed(&mut p, &chunk.repeat(6)), Ok(()));
    assert_eq!(
        feed(&mut p, &chunk),
        Err(ConnectionError::MessageTooLarge {
            size: 7 * 100 + 6 * zmtp_core::FRAME_COST,
            max: 1000,
        }),
    );
}

#[test]
fn handshake_commands_are_limited_to_one_mebibyte() {
    let (c, _) = configs(Mech::Null, SocketType::Dealer, SocketType::Dealer);
    let mut conn = Connection::new(std::sync::Arc::new(c), std::time::Instant::now());
    let mut input = greeting(MechanismName::Null);
    input.push(0x06);
    input.extend_from_slice(&(2u64 << 20).to_be_bytes());
    let mut buf = BytesMut::from(&input[..]);
    assert!(matches!(
        conn.handle_input(std::time::Instant::now(), &mut buf),
        Err(ConnectionError::MessageTooLarge { max: 1_048_576, .. })
    ));
}

#[test]
fn metadata_with_thousands_of_properties_is_refused() {
    let (c, _) = configs(Mech::Null, SocketType::Dealer, SocketType::Dealer);
    let mut conn = Connection::new(std::sync::Arc::new(c), std::time::Instant::now());
    let mut body = b"\x05READY".to_vec();
    for _ in 0..2000 {
        body.extend_from_slice(b"\x00\x00\x00\x00\x00");
    }
    let mut input = greeting(MechanismName::Null);
    input.push(0x06);
    input.extend_from_slice(&(body.len() as u64).to_be_bytes());
    input.extend_from_slice(&body);
    let mut buf = BytesMut::from(&input[..]);
    assert_eq!(
        conn.handle_input(std::time::Instant::now(), &mut buf),
        Err(ConnectionError::InvalidMetadata)
    );
}

#[test]
fn pings_from_a_peer_that_never_reads_do_not_grow_our_output() {
    let (mut p, ()) = active_null_server(SocketType::Router, "DEALER");
    let ping = b"\x04\x07\x04PING\x00\x00".repeat(100_000);
    feed(&mut p, &ping).unwrap();
    assert!(
        p.server.conn.pending_transmit() < 128 * 1024,
        "{}",
        p.server.conn.pending_transmit()
    );
}

#[test]
fn commands_other_than_traffic_are_ignored_unread_after_the_handshake() {
    let (mut p, ()) = active_null_server(SocketType::Router, "DEALER");
    feed(&mut p, b"\x04\x07\x05READY\x00").unwrap();
    feed(&mut p, b"\x04\x07\x05ERROR\x09").unwrap();
    assert_eq!(p.server.conn.error(), None);
}

#[test]
fn curve_server_refuses_a_small_order_transient_key() {
    use crypto_box::aead::generic_array::GenericArray;
    use crypto_box::aead::AeadInPlace;
    for point in [[0u8; 32], {
        let mut one = [0u8; 32];
        one[0] = 1;
        one
    }] {
        // A HELLO whose box anyone can make: the shared secret with a small-order
        // point is zero whatever the server's secret key.
        let zero_box = crypto_box::SalsaBox::new(
            &crypto_box::PublicKey::from(point),
            &crypto_box::SecretKey::from([9u8; 32]),
        );
        let mut nonce = b"CurveZMQHELLO---".to_vec();
        nonce.extend_from_slice(&1u64.to_be_bytes());
        let mut plain = [0u8; 64];
        let tag = zero_box
            .encrypt_in_place_detached(GenericArray::from_slice(&nonce), b"", &mut plain)
            .unwrap();
        let mut body = b"\x05HELLO\x01\x00".to_vec();
        body.extend_from_slice(&[0u8; 72]);
        body.extend_from_slice(&point);
        body.extend_from_slice(&1u64.to_be_bytes());
        body.extend_from_slice(&tag);
        body.extend_from_slice(&plain);
        assert_eq!(body.len(), 200);

        let cfg = Config::new(SocketType::Router)
            .with_mechanism(MechanismConfig::CurveServer {
                keypair: server_keys(),
            })
            .unwrap();
        let mut s = Connection::new(std::sync::Arc::new(cfg), std::time::Instant::now());
        drain(&mut s);
        let mut input = greeting(MechanismName::Curve);
        input.extend_from_slice(&[0x04, 200]);
        input.extend_from_slice(&body);
        let mut buf = BytesMut::from(&input[..]);
        assert_eq!(
            s.handle_input(std::time::Instant::now(), &mut buf),
            Err(ConnectionError::Cryptographic)
        );
        // Only the staged rest of our greeting went out: no WELCOME.
        assert_eq!(drain(&mut s).len(), 54, "no WELCOME for a forged HELLO");
    }
}

#[test]
fn a_zero_heartbeat_timeout_means_no_timeout() {
    let (c, s) = configs(Mech::Null, SocketType::Dealer, SocketType::Router);
    let c = c
        .with_heartbeat_ivl(Some(Duration::from_secs(1)))
        .with_heartbeat_timeout(Some(Duration::ZERO));
    let mut p = Pair::new(c, s);
    p.drive();
    p.client.stalled = true;
    p.advance(Duration::from_secs(10));
    assert_eq!(p.client.error, None);
}

#[test]
fn a_side_configured_as_30_speaks_30_to_a_31_peer() {
    let (c, s) = configs(Mech::Null, SocketType::Sub, SocketType::Pub);
    let mut p = Pair::new(c.with_minor_version(0).unwrap(), s);
    p.drive();
    p.client.conn.send_subscribe(b"A").unwrap();
    let wire = drain(&mut p.client.conn);
    assert_eq!(wire, b"\x00\x02\x01A");
    p.server.in_flight.extend(wire);
    p.drive();
    assert!(p.server.saw(|e| *e == Event::Subscribe("A".into())));
    let _ = Msg::new();
}

#[test]
fn subscription_frames_are_classified_one_by_one_like_libzmq_xpub() {
    let (mut p, ()) = active_null_server(SocketType::XPub, "XSUB");
    feed(&mut p, b"\x01\x05hello\x00\x02\x01A").unwrap();
    while let Some(ev) = p.server.conn.poll_event() {
        p.server.events.push(ev);
    }
    assert!(p.server.saw(|e| *e == Event::Subscribe("A".into())));
    assert!(p.server.saw(|e| *e == Event::Message(Msg::from("hello"))));
}
