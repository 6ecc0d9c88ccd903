//! Heartbeats and handshake timeouts under virtual time: no sleeps.

// Virtual time needs one real starting instant; nothing here reads the clock again.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::Duration;

use common::*;
use zmtp_core::{ConnectionError, Event, SocketType};

const S: Duration = Duration::from_secs(1);

#[test]
fn pings_are_answered_and_keep_the_connection_alive() {
    let (c, s) = configs(Mech::Null, SocketType::Dealer, SocketType::Router);
    let mut p = Pair::new(c.with_heartbeat_ivl(Some(S)), s);
    p.drive();
    assert!(p.both_active());
    p.advance(S);
    // The PING left and the PONG came back: nothing is left in flight.
    assert!(p.client.in_flight.is_empty() && p.server.in_flight.is_empty());
    p.advance(30 * S);
    assert_eq!(p.client.error, None);
    assert_eq!(p.server.error, None);
    assert!(
        !p.server.saw(|e| matches!(e, Event::Message(_))),
        "PING never reaches the app"
    );
}

#[test]
fn silent_peer_times_out_after_heartbeat_timeout() {
    for mech in ALL_MECHS {
        let (c, s) = configs(mech, SocketType::Dealer, SocketType::Router);
        let c = c
            .with_heartbeat_ivl(Some(S))
            .with_heartbeat_timeout(Some(3 * S));
        let mut p = Pair::new(c, s);
        p.drive();
        assert!(p.both_active());
        p.client.stalled = true;
        // PING at 1 s arms the timeout for 4 s.
        p.advance(3900 * Duration::from_millis(1));
        assert_eq!(p.client.error, None, "{mech:?}");
        p.advance(100 * Duration::from_millis(1));
        assert_eq!(
            p.client.error,
            Some(ConnectionError::HeartbeatTimeout),
            "{mech:?}"
        );
        assert!(!ConnectionError::HeartbeatTimeout.is_permanent());
    }
}

#[test]
fn heartbeat_timeout_defaults_to_the_interval() {
    let (c, s) = configs(Mech::Null, SocketType::Dealer, SocketType::Router);
    let mut p = Pair::new(c.with_heartbeat_ivl(Some(S)), s);
    p.drive();
    p.client.stalled = true;
    p.advance(1999 * Duration::from_millis(1));
    assert_eq!(p.client.error, None);
    p.advance(Duration::from_millis(1));
    assert_eq!(p.client.error, Some(ConnectionError::HeartbeatTimeout));
}

#[test]
fn peer_ping_ttl_closes_a_peer_that_goes_quiet() {
    let (c, s) = configs(Mech::Curve, SocketType::Push, SocketType::Pull);
    let c = c
        .with_heartbeat_ivl(Some(S))
        .with_heartbeat_ttl(Some(5 * S));
    let mut p = Pair::new(c, s);
    p.drive();
    p.advance(S);
    // The server got a PING with TTL 5 s at t=1 s; now it hears nothing more.
    p.server.stalled = true;
    p.advance(5 * S - Duration::from_millis(1));
    assert_eq!(p.server.error, None);
    p.advance(Duration::from_millis(1));
    assert_eq!(p.server.error, Some(ConnectionError::HeartbeatTimeout));
}

#[test]
fn ping_ttl_is_sent_in_deciseconds_and_capped_for_libzmq() {
    for (ttl, field) in [(Duration::from_millis(1234), 12u16), (100 * S, 655)] {
        let (c, s) = configs(Mech::Null, SocketType::Dealer, SocketType::Router);
        let mut p = Pair::new(
            c.with_heartbeat_ivl(Some(S)).with_heartbeat_ttl(Some(ttl)),
            s,
        );
        p.drive();
        p.client.conn.handle_timeout(p.now + S).unwrap();
        let ping = drain(&mut p.client.conn);
        let mut expected = b"\x04\x07\x04PING".to_vec();
        expected.extend_from_slice(&field.to_be_bytes());
        assert_eq!(ping, expected);
    }
}

#[test]
fn pong_echoes_at_most_16_bytes_of_context() {
    let mut p = Pair::for_mech(Mech::Null, SocketType::Dealer, SocketType::Router);
    p.drive();
    let mut ping = vec![0x04, 5 + 2 + 58, 4];
    ping.extend_from_slice(b"PING\x00\x00");
    ping.extend(std::iter::repeat_n(b'c', 58));
    p.server.stalled = false;
    let mut buf = bytes::BytesMut::from(&ping[..]);
    p.server.conn.handle_input(p.now, &mut buf).unwrap();
    let pong = drain(&mut p.server.conn);
    let mut expected = b"\x04\x15\x04PONG".to_vec();
    expected.extend(std::iter::repeat_n(b'c', 16));
    assert_eq!(pong, expected);
    // libzmq test_heartbeats' exact PING "LOL" -> PONG "LOL".
    let mut buf = bytes::BytesMut::from(&hex("04 0a 04 50 49 4e 47 00 00 4c 4f 4c")[..]);
    p.server.conn.handle_input(p.now, &mut buf).unwrap();
    assert_eq!(
        drain(&mut p.server.conn),
        hex("04 08 04 50 4f 4e 47 4c 4f 4c")
    );
}

#[test]
fn zmtp_30_peers_are_not_pinged() {
    let (c, s) = configs(Mech::Null, SocketType::Dealer, SocketType::Router);
    let mut p = Pair::new(
        c.with_heartbeat_ivl(Some(S)),
        s.with_minor_version(0).unwrap(),
    );
    p.drive();
    p.client.conn.handle_timeout(p.now + S).unwrap();
    assert!(drain(&mut p.client.conn).is_empty());
    p.advance(10 * S);
    assert_eq!(p.client.error, None);
}

#[test]
fn handshake_times_out_after_handshake_ivl() {
    let mut p = Pair::for_mech(Mech::Curve, SocketType::Dealer, SocketType::Router);
    p.server.stalled = true;
    p.advance(30 * S - Duration::from_millis(1));
    assert_eq!(p.server.error, None);
    p.advance(Duration::from_millis(1));
    assert_eq!(p.server.error, Some(ConnectionError::HandshakeTimeout));
    assert!(!ConnectionError::HandshakeTimeout.is_permanent());
}

#[test]
fn handshake_timeout_covers_a_pending_auth_decision() {
    let mut p = Pair::for_mech(Mech::Plain, SocketType::Dealer, SocketType::Router);
    p.authenticator = None;
    p.advance(31 * S);
    assert_eq!(p.server.error, Some(ConnectionError::HandshakeTimeout));
}

#[test]
fn no_handshake_timeout_when_disabled() {
    let (c, s) = configs(Mech::Null, SocketType::Dealer, SocketType::Router);
    let mut p = Pair::new(c, s.with_handshake_ivl(None));
    p.server.stalled = true;
    p.advance(3600 * S);
    assert_eq!(p.server.error, None);
    assert_eq!(p.server.conn.poll_timeout(), None);
}

#[test]
fn server_heartbeats_start_when_the_auth_decision_completes_the_handshake() {
    for mech in [Mech::Plain, Mech::Curve] {
        let (c, s) = configs(mech, SocketType::Dealer, SocketType::Router);
        let s = s.with_heartbeat_ivl(Some(S));
        let mut p = Pair::new(c, s);
        p.drive();
        assert!(p.both_active());
        assert!(
            p.server.conn.poll_timeout().is_some(),
            "{mech:?}: ping timer armed"
        );
        p.server.stalled = true;
        p.advance(2 * S);
        assert_eq!(
            p.server.error,
            Some(ConnectionError::HeartbeatTimeout),
            "{mech:?}"
        );
    }
}
