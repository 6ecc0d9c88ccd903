//! In-memory pairs: every mechanism, both ZMTP versions, split input, and the
//! handshake failures each side must report.

// Virtual time needs one real starting instant; nothing here reads the clock again.
#![allow(clippy::disallowed_methods)]

mod common;

use std::collections::VecDeque;

use bytes::Bytes;
use common::*;
use zmtp_core::{
    AuthReply, Config, ConnectionError, Credentials, Event, MechanismConfig, MechanismName, Msg,
    Phase, SocketType,
};

#[test]
fn every_mechanism_completes_and_exchanges_messages_on_v30_and_v31() {
    for mech in ALL_MECHS {
        for (cm, sm) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            let (c, s) = configs(mech, SocketType::Dealer, SocketType::Router);
            let c = c
                .with_minor_version(cm)
                .unwrap()
                .with_routing_id("client-1")
                .unwrap();
            let s = s.with_minor_version(sm).unwrap();
            let mut p = Pair::new(c, s);
            p.drive();
            assert!(
                p.both_active(),
                "{mech:?} 3.{cm}/3.{sm}: {:?} {:?}",
                p.client.error,
                p.server.error
            );
            let peer = p.server.conn.peer().unwrap();
            assert_eq!(peer.version, (3, cm));
            assert_eq!(peer.socket_type, Some(SocketType::Dealer));
            assert_eq!(&peer.routing_id[..], b"client-1");
            assert_eq!(
                p.client.conn.peer().unwrap().socket_type,
                Some(SocketType::Router)
            );
            assert!(p.client.saw(|e| *e == Event::HandshakeSucceeded));

            let msg = patterned(&[0, 1, 300]);
            p.client.conn.send(msg.clone()).unwrap();
            p.server.conn.send(Msg::from("back")).unwrap();
            p.drive();
            assert_eq!(p.server.take_messages(), vec![msg], "{mech:?}");
            assert_eq!(p.client.take_messages(), vec![Msg::from("back")]);
        }
    }
}

#[test]
fn message_sizes_from_0_bytes_to_16_mib_survive_every_mechanism() {
    let sizes = [
        0,
        1,
        255,
        256,
        8 * 1024,
        8 * 1024 + 1,
        65_536,
        1 << 20,
        16 << 20,
    ];
    for mech in ALL_MECHS {
        let mut p = Pair::for_mech(mech, SocketType::Push, SocketType::Pull);
        p.drive();
        assert!(p.both_active());
        let multipart = patterned(&sizes);
        p.client.conn.send(multipart.clone()).unwrap();
        for &n in &sizes {
            p.client.conn.send(patterned(&[n])).unwrap();
        }
        p.drive();
        let got = p.server.take_messages();
        assert_eq!(got.len(), 1 + sizes.len(), "{mech:?}");
        assert_eq!(got[0], multipart, "{mech:?}");
        for (m, &n) in got[1..].iter().zip(&sizes) {
            assert_eq!(*m, patterned(&[n]), "{mech:?} size {n}");
        }
    }
}

#[test]
fn byte_by_byte_delivery_gives_the_same_result() {
    for mech in ALL_MECHS {
        let mut p = Pair::for_mech(mech, SocketType::Req, SocketType::Rep);
        p.chunk = Some(1);
        p.drive();
        assert!(
            p.both_active(),
            "{mech:?} {:?} {:?}",
            p.client.error,
            p.server.error
        );
        let msg = patterned(&[0, 5, 260]);
        p.client.conn.send(msg.clone()).unwrap();
        p.drive();
        assert_eq!(p.server.take_messages(), vec![msg]);
    }
}

#[test]
fn frames_arriving_with_the_greeting_tail_are_processed() {
    // Deliver everything in one go: greeting, READY and a message in one read.
    let (c, s) = configs(Mech::Null, SocketType::Pair, SocketType::Pair);
    let mut p = Pair::new(c, s);
    p.client.stalled = true;
    p.drive();
    p.client.stalled = false;
    p.drive();
    assert!(p.both_active());
}

#[test]
fn peer_as_server_byte_is_never_checked() {
    // libzmq always sends as-server = 0, even as a PLAIN or CURVE server.
    for mech in [Mech::Plain, Mech::Curve] {
        let mut p = Pair::for_mech(mech, SocketType::Dealer, SocketType::Dealer);
        // Signatures, then major versions, cross by hand; then the server has
        // queued the rest of its greeting, as-server byte included.
        // The greeting stays in the receive buffers until it is whole.
        for _ in 0..2 {
            let to_server = drain(&mut p.client.conn);
            let to_client = drain(&mut p.server.conn);
            p.server.rbuf.extend_from_slice(&to_server);
            p.client.rbuf.extend_from_slice(&to_client);
            p.client
                .conn
                .handle_input(p.now, &mut p.client.rbuf)
                .unwrap();
            p.server
                .conn
                .handle_input(p.now, &mut p.server.rbuf)
                .unwrap();
        }
        let mut rest = drain(&mut p.server.conn);
        assert_eq!(rest.len(), 53);
        assert_eq!(rest[32 - 11], 1, "we send the true role");
        rest[32 - 11] = 0;
        p.client.in_flight.extend(rest);
        p.drive();
        assert!(
            p.both_active(),
            "{mech:?} {:?} {:?}",
            p.client.error,
            p.server.error
        );
    }
}

#[test]
fn mechanism_mismatch_is_refused_on_both_sides() {
    let (c, _) = configs(Mech::Null, SocketType::Dealer, SocketType::Dealer);
    let (_, s) = configs(Mech::Curve, SocketType::Dealer, SocketType::Dealer);
    let mut p = Pair::new(c, s);
    p.drive();
    assert!(matches!(
        p.client.error,
        Some(ConnectionError::MechanismMismatch { ours: MechanismName::Null, ref peer }) if peer == "CURVE"
    ));
    assert!(matches!(
        p.server.error,
        Some(ConnectionError::MechanismMismatch { .. })
    ));
    assert!(p.server.error.as_ref().unwrap().is_permanent());
    assert!(p.server.events.is_empty(), "no auth request on a mismatch");
}

#[test]
fn incompatible_socket_types_are_refused() {
    for mech in ALL_MECHS {
        let mut p = Pair::for_mech(mech, SocketType::Push, SocketType::Pub);
        p.drive();
        let Some(ConnectionError::IncompatibleSocketType { ours, peer }) = &p.server.error else {
            panic!("{mech:?}: {:?}", p.server.error);
        };
        assert_eq!((*ours, peer.as_str()), (SocketType::Pub, "PUSH"));
        assert!(!p.server.conn.is_active());
    }
}

#[test]
fn plain_server_waits_for_the_decision_before_sending_anything() {
    let mut p = Pair::for_mech(Mech::Plain, SocketType::Dealer, SocketType::Router);
    p.authenticator = None;
    p.drive();
    let req = p
        .server
        .events
        .iter()
        .find_map(|e| match e {
            Event::AuthRequest(r) => Some(r.clone()),
            _ => None,
        })
        .expect("auth request");
    assert_eq!(req.mechanism, MechanismName::Plain);
    assert_eq!(
        req.credentials,
        Credentials::Plain {
            username: Bytes::from_static(b"admin"),
            password: Bytes::from_static(b"secret"),
        }
    );
    assert_eq!(p.server.conn.phase(), Phase::Handshake);
    assert!(
        p.server.conn.poll_transmit().is_none(),
        "no WELCOME before the decision"
    );
    assert!(!p.client.saw(|e| *e == Event::HandshakeSucceeded));

    p.server
        .conn
        .auth_reply(
            req.id,
            AuthReply::Allow {
                user_id: Bytes::from_static(b"alice"),
                metadata: Default::default(),
            },
        )
        .unwrap();
    p.drive();
    assert!(p.both_active());
    assert_eq!(&p.server.conn.peer().unwrap().user_id[..], b"alice");
    // A second reply to the same request is a caller bug, reported as such.
    assert!(p
        .server
        .conn
        .auth_reply(req.id, AuthReply::allow())
        .is_err());
}

#[test]
fn plain_denial_sends_error_400_and_the_client_reports_it() {
    let mut p = Pair::for_mech(Mech::Plain, SocketType::Dealer, SocketType::Router);
    p.authenticator = Some(Box::new(|_| AuthReply::deny("bad password")));
    p.drive();
    assert_eq!(
        p.client.error,
        Some(ConnectionError::PeerError {
            reason: "400".into()
        })
    );
    assert_eq!(
        p.server.error,
        Some(ConnectionError::AuthDenied {
            status: 400,
            text: "bad password".into()
        })
    );
    assert!(p.client.error.as_ref().unwrap().is_permanent());
}

#[test]
fn denial_with_300_closes_without_error_command() {
    for mech in [Mech::Plain, Mech::Curve] {
        let mut p = Pair::for_mech(mech, SocketType::Dealer, SocketType::Router);
        p.authenticator = Some(Box::new(|_| AuthReply::Deny {
            status: 300,
            text: "later".into(),
        }));
        p.drive();
        assert!(matches!(
            p.server.error,
            Some(ConnectionError::AuthDenied { status: 300, .. })
        ));
        assert_eq!(p.client.error, None, "{mech:?}: nothing was sent");
        assert!(!p.server.error.as_ref().unwrap().is_permanent());
    }
}

#[test]
fn plain_client_accepts_libzmq_malformed_error() {
    // libzmq's PLAIN server sends `04 09 5e 52 52 4f 52 03 34 30 30`.
    let (c, _) = configs(Mech::Plain, SocketType::Dealer, SocketType::Router);
    let mut client = zmtp_core::Connection::new(std::sync::Arc::new(c), p_now());
    let mut greeting = [0u8; 64];
    zmtp_core::wire::greeting::Greeting::new(1, MechanismName::Plain, false).emit(&mut greeting);
    let mut input = bytes::BytesMut::from(&greeting[..]);
    input.extend_from_slice(&hex("04 09 5e 52 52 4f 52 03 34 30 30"));
    let err = client.handle_input(p_now(), &mut input).unwrap_err();
    assert_eq!(
        err,
        ConnectionError::PeerError {
            reason: "400".into()
        }
    );
}

#[test]
fn curve_server_surfaces_the_client_long_term_key() {
    let mut p = Pair::for_mech(Mech::Curve, SocketType::Req, SocketType::Rep);
    p.drive();
    assert!(p.both_active());
    let req = p
        .server
        .events
        .iter()
        .find_map(|e| match e {
            Event::AuthRequest(r) => Some(r.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        req.credentials,
        Credentials::Curve {
            public_key: client_keys().public
        }
    );
    assert_eq!(
        p.server.conn.peer().unwrap().curve_key,
        Some(client_keys().public)
    );
}

#[test]
fn curve_denial_sends_error_and_client_reports_it() {
    let mut p = Pair::for_mech(Mech::Curve, SocketType::Dealer, SocketType::Router);
    p.authenticator = Some(Box::new(|_| AuthReply::Deny {
        status: 500,
        text: "oops".into(),
    }));
    p.drive();
    assert_eq!(
        p.client.error,
        Some(ConnectionError::PeerError {
            reason: "500".into()
        })
    );
}

#[test]
fn curve_client_with_wrong_server_key_fails_cryptographically() {
    let wrong = zmtp_core::KeyPair::generate();
    let c = Config::new(SocketType::Dealer)
        .with_mechanism(MechanismConfig::CurveClient {
            server_key: wrong.public,
            keypair: client_keys(),
        })
        .unwrap();
    let (_, s) = configs(Mech::Curve, SocketType::Dealer, SocketType::Dealer);
    let mut p = Pair::new(c, s);
    p.drive();
    assert_eq!(p.server.error, Some(ConnectionError::Cryptographic));
    assert_eq!(
        p.server.error.as_ref().unwrap().zmtp_code(),
        Some(0x1100_0001)
    );
}

#[test]
fn null_authentication_delays_ready_until_the_decision() {
    let (c, s) = configs(Mech::Null, SocketType::Dealer, SocketType::Router);
    let s = s.with_null_authentication(true).with_zap_domain("global");
    let mut p = Pair::new(c, s);
    p.authenticator = None;
    p.drive();
    assert!(!p.both_active());
    let Some(Event::AuthRequest(req)) = p.server.events.first().cloned() else {
        panic!("{:?}", p.server.events)
    };
    assert_eq!(req.domain, "global");
    assert_eq!(req.credentials, Credentials::Null);
    p.server
        .conn
        .auth_reply(req.id, AuthReply::allow())
        .unwrap();
    p.drive();
    assert!(p.both_active());
}

#[test]
fn a_non_zmtp_peer_is_refused_after_the_first_byte_when_secured() {
    // libzmq takes any first byte but 0xFF for a ZMTP/1.0 length, so with
    // security on it refuses a stranger exactly as it refuses an old peer.
    let (c, _) = configs(Mech::Plain, SocketType::Dealer, SocketType::Dealer);
    let mut conn = zmtp_core::Connection::new(std::sync::Arc::new(c), p_now());
    let mut input = bytes::BytesMut::from(&b"G"[..]);
    let err = conn.handle_input(p_now(), &mut input).unwrap_err();
    assert_eq!(
        err,
        ConnectionError::DowngradeRefused {
            peer: zmtp_core::Protocol::Zmtp1
        }
    );
    assert!(err.is_permanent());
    // Sticky.
    let mut more = bytes::BytesMut::from(&b"ET / HTTP/1.1"[..]);
    assert_eq!(conn.handle_input(p_now(), &mut more).unwrap_err(), err);
}

#[test]
fn data_before_the_handshake_closes_the_connection() {
    let (c, _) = configs(Mech::Null, SocketType::Dealer, SocketType::Dealer);
    let mut conn = zmtp_core::Connection::new(std::sync::Arc::new(c), p_now());
    let mut greeting = [0u8; 64];
    zmtp_core::wire::greeting::Greeting::new(1, MechanismName::Null, false).emit(&mut greeting);
    let mut input = bytes::BytesMut::from(&greeting[..]);
    input.extend_from_slice(b"\x00\x03abc");
    assert_eq!(
        conn.handle_input(p_now(), &mut input).unwrap_err(),
        ConnectionError::DataBeforeHandshake
    );
}

#[test]
fn unknown_command_during_handshake_is_fatal_but_ignored_after() {
    let (c, _) = configs(Mech::Null, SocketType::Dealer, SocketType::Dealer);
    let mut conn = zmtp_core::Connection::new(std::sync::Arc::new(c), p_now());
    let mut greeting = [0u8; 64];
    zmtp_core::wire::greeting::Greeting::new(1, MechanismName::Null, false).emit(&mut greeting);
    let mut input = bytes::BytesMut::from(&greeting[..]);
    input.extend_from_slice(b"\x04\x06\x05HELLO");
    assert!(matches!(
        conn.handle_input(p_now(), &mut input),
        Err(ConnectionError::UnexpectedCommand { ref name }) if name == "HELLO"
    ));

    let mut p = Pair::for_mech(Mech::Null, SocketType::Dealer, SocketType::Dealer);
    p.drive();
    p.server
        .in_flight
        .extend(b"\x04\x06\x05JOINX".iter().copied());
    p.client.conn.send(Msg::from("after")).unwrap();
    p.drive();
    assert_eq!(p.server.error, None);
    assert_eq!(p.server.take_messages(), vec![Msg::from("after")]);
}

#[test]
fn max_msg_size_bounds_each_frame_and_the_whole_message() {
    let frame = zmtp_core::FRAME_COST as usize;
    // CURVE frames carry their box on the wire, so its per-frame check differs.
    for mech in [Mech::Null, Mech::Plain] {
        let (c, s) = configs(mech, SocketType::Push, SocketType::Pull);
        let mut p = Pair::new(c, s.with_max_msg_size(Some(100)));
        p.drive();
        // A single frame of exactly the limit, as libzmq; two frames whose
        // bodies and handle fill it exactly.
        p.client.conn.send(patterned(&[100])).unwrap();
        p.client
            .conn
            .send(patterned(&[100 - frame - 1, 1]))
            .unwrap();
        p.drive();
        assert_eq!(p.server.take_messages().len(), 2, "{mech:?}");
        assert_eq!(p.server.error, None, "{mech:?}");
        p.client.conn.send(patterned(&[100 - frame, 1])).unwrap();
        p.drive();
        assert_eq!(
            p.server.error,
            Some(ConnectionError::MessageTooLarge {
                size: 101,
                max: 100
            }),
            "{mech:?}"
        );
    }
    // An oversized frame is refused on its header, whatever came before.
    let (c, s) = configs(Mech::Null, SocketType::Push, SocketType::Pull);
    let mut p = Pair::new(c, s.with_max_msg_size(Some(100)));
    p.drive();
    p.client.conn.send(patterned(&[101])).unwrap();
    p.drive();
    assert_eq!(
        p.server.error,
        Some(ConnectionError::MessageTooLarge {
            size: 101,
            max: 100
        })
    );
}

#[test]
fn subscriptions_use_commands_for_31_and_messages_for_30() {
    for mech in ALL_MECHS {
        for minor in [0, 1] {
            let (c, s) = configs(mech, SocketType::Sub, SocketType::Pub);
            let s = s.with_minor_version(minor).unwrap();
            let mut p = Pair::new(c, s);
            p.drive();
            p.client.conn.send_subscribe(b"AB").unwrap();
            p.client.conn.send_cancel(b"AB").unwrap();
            p.drive();
            let subs: Vec<_> = p
                .server
                .events
                .iter()
                .filter(|e| matches!(e, Event::Subscribe(_) | Event::Cancel(_)))
                .cloned()
                .collect();
            assert_eq!(
                subs,
                vec![
                    Event::Subscribe(Bytes::from_static(b"AB")),
                    Event::Cancel(Bytes::from_static(b"AB"))
                ],
                "{mech:?} 3.{minor}"
            );
        }
    }
}

#[test]
fn subscribe_wire_form_depends_on_peer_version() {
    for (minor, expected) in [
        (1u8, &b"\x04\x0b\x09SUBSCRIBEA"[..]),
        (0, &b"\x00\x02\x01A"[..]),
    ] {
        let (c, s) = configs(Mech::Null, SocketType::Sub, SocketType::Pub);
        let mut p = Pair::new(c, s.with_minor_version(minor).unwrap());
        p.drive();
        p.client.conn.send_subscribe(b"A").unwrap();
        assert_eq!(drain(&mut p.client.conn), expected);
    }
}

#[test]
fn subscriptions_sent_to_non_publishers_are_ignored() {
    let mut p = Pair::for_mech(Mech::Null, SocketType::Push, SocketType::Pull);
    p.drive();
    p.server
        .in_flight
        .extend(b"\x04\x0b\x09SUBSCRIBEA".iter().copied());
    p.drive();
    assert_eq!(p.server.error, None);
    assert!(!p
        .server
        .saw(|e| matches!(e, Event::Subscribe(_) | Event::Message(_))));
}

#[test]
fn poll_message_takes_messages_only_and_leaves_other_events_in_order() {
    let mut p = Pair::for_mech(Mech::Null, SocketType::XSub, SocketType::XPub);
    p.drive();
    p.client.conn.send(Msg::from("x1")).unwrap();
    p.client.conn.send(Msg::from("x2")).unwrap();
    p.client.conn.send_subscribe(b"A").unwrap();
    p.client.conn.send(Msg::from("x3")).unwrap();
    let mut wire = bytes::BytesMut::from(&drain(&mut p.client.conn)[..]);
    let server = &mut p.server.conn;
    server.handle_input(p.now, &mut wire).unwrap();
    assert_eq!(server.poll_message(), Some(Msg::from("x1")));
    assert_eq!(server.poll_message(), Some(Msg::from("x2")));
    // A run ends at the subscription, which stays first for poll_event.
    assert_eq!(server.poll_message(), None);
    assert_eq!(
        server.poll_event(),
        Some(Event::Subscribe(Bytes::from_static(b"A")))
    );
    assert_eq!(server.poll_message(), Some(Msg::from("x3")));
    assert_eq!(server.poll_message(), None);
    assert_eq!(server.poll_event(), None);
}

#[test]
fn take_messages_moves_the_run_ahead_of_other_events_and_counts_its_bytes() {
    let mut p = Pair::for_mech(Mech::Null, SocketType::XSub, SocketType::XPub);
    p.drive();
    p.client.conn.send(Msg::from("x1")).unwrap();
    p.client
        .conn
        .send(Msg::from((b"two".to_vec(), b"frames".to_vec())))
        .unwrap();
    p.client.conn.send_subscribe(b"A").unwrap();
    p.client.conn.send(Msg::from("x3")).unwrap();
    p.client.conn.send(Msg::from("x4")).unwrap();
    let mut wire = bytes::BytesMut::from(&drain(&mut p.client.conn)[..]);
    let server = &mut p.server.conn;
    server.handle_input(p.now, &mut wire).unwrap();
    // Appended behind what the queue holds, in order; 2 + 9 bytes.
    let mut into = VecDeque::from([Msg::from("before")]);
    assert_eq!(server.take_messages(&mut into), (2, 11));
    assert_eq!(
        Vec::from(into),
        [
            Msg::from("before"),
            Msg::from("x1"),
            Msg::from((b"two".to_vec(), b"frames".to_vec())),
        ]
    );
    // The messages behind the subscription are not part of the run.
    let mut into = VecDeque::new();
    assert_eq!(server.take_messages(&mut into), (0, 0));
    assert!(into.is_empty());
    assert_eq!(
        server.poll_event(),
        Some(Event::Subscribe(Bytes::from_static(b"A")))
    );
    assert_eq!(server.poll_event(), Some(Event::Message(Msg::from("x3"))));
    assert_eq!(server.poll_message(), Some(Msg::from("x4")));
    // With nothing ahead, what arrives next is a run again, taken into an
    // empty queue (the two trade buffers).
    p.client.conn.send(Msg::from("x5")).unwrap();
    let mut wire = bytes::BytesMut::from(&drain(&mut p.client.conn)[..]);
    server.handle_input(p.now, &mut wire).unwrap();
    assert_eq!(server.take_messages(&mut into), (1, 2));
    assert_eq!(Vec::from(into), [Msg::from("x5")]);
    assert_eq!(server.poll_event(), None);
}

#[test]
fn send_before_handshake_hands_the_message_back() {
    let mut p = Pair::for_mech(Mech::Null, SocketType::Push, SocketType::Pull);
    let err = p.client.conn.send(Msg::from("early")).unwrap_err();
    assert_eq!(err, zmtp_core::SendError::NotReady(Msg::from("early")));
    assert_eq!(
        p.client.conn.send(Msg::new()).unwrap_err(),
        zmtp_core::SendError::EmptyMessage
    );
}

#[test]
fn eof_mid_message_never_delivers_a_partial_message() {
    let mut p = Pair::for_mech(Mech::Null, SocketType::Push, SocketType::Pull);
    p.drive();
    p.client.conn.send(patterned(&[10, 10])).unwrap();
    let bytes = drain(&mut p.client.conn);
    p.server.in_flight.extend(bytes[..14].iter().copied());
    p.drive();
    assert!(p.server.take_messages().is_empty());
    assert_eq!(
        p.server.conn.handle_eof(p.now),
        Err(ConnectionError::PeerClosed)
    );
    assert!(ConnectionError::PeerClosed.zmtp_code().is_none());
}

#[test]
fn closing_keeps_queued_bytes_for_linger() {
    let mut p = Pair::for_mech(Mech::Null, SocketType::Push, SocketType::Pull);
    p.drive();
    p.client.conn.send(Msg::from("last words")).unwrap();
    p.client.conn.close();
    assert!(p.client.conn.pending_transmit() > 0);
    assert!(p.client.conn.send(Msg::from("more")).is_err());
    p.drive();
    assert_eq!(p.server.take_messages(), vec![Msg::from("last words")]);
    assert_eq!(p.client.conn.poll_timeout(), None);
}

fn p_now() -> std::time::Instant {
    // Tests that do not move time can use any instant.
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *START.get_or_init(std::time::Instant::now)
}

#[test]
fn config_rejects_bad_user_input_with_names() {
    let long = vec![b'x'; 256];
    assert!(Config::new(SocketType::Dealer)
        .with_routing_id(long.clone())
        .is_err());
    let err = Config::new(SocketType::Dealer)
        .with_mechanism(MechanismConfig::PlainClient {
            username: long.into(),
            password: "p".into(),
        })
        .unwrap_err();
    assert!(err.to_string().contains("username"));
    assert!(Config::new(SocketType::Dealer)
        .with_property("Socket-Type", "x")
        .is_err());
    assert!(Config::new(SocketType::Dealer)
        .with_property("X-Ok", "x")
        .is_ok());
    assert!(Config::new(SocketType::Dealer)
        .with_minor_version(2)
        .is_err());
}

#[test]
fn try_send_ref_queues_what_send_would_and_refuses_what_it_would() {
    for mech in ALL_MECHS {
        let mut p = Pair::for_mech(mech, SocketType::Pub, SocketType::Sub);
        let msg = patterned(&[5, 300]);
        // Before the handshake a message is refused, as `send_ref` refuses it.
        assert!(!p.client.conn.try_send_ref(&msg), "{mech:?}");
        assert!(p.client.conn.send_ref(&msg).is_err(), "{mech:?}");
        p.drive();
        assert!(p.both_active(), "{mech:?}");
        assert!(p.client.conn.try_send_ref(&msg), "{mech:?}");
        p.client.conn.send_ref(&msg).unwrap();
        p.drive();
        assert_eq!(
            p.server.take_messages(),
            vec![msg.clone(), msg.clone()],
            "{mech:?}"
        );
        p.client.conn.close();
        assert!(!p.client.conn.try_send_ref(&msg), "{mech:?} closed");
    }
}
