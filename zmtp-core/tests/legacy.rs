//! ZMTP/2.0 and 1.0 peers, written here as scripted byte streams: the staged
//! greeting at every split, both framings both ways, identities, limits, the
//! publisher/subscriber special cases, and the refusal on secured sockets.

// Tests that do not move time take any instant as "now".
#![allow(clippy::disallowed_methods)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use common::*;
use zmtp_core::wire::greeting::{Greeting, MechanismName};
use zmtp_core::wire::v1_frame::V1Header;
use zmtp_core::{
    Config, Connection, ConnectionError, Event, MechanismConfig, Msg, Phase, Protocol, SocketType,
};

fn t0() -> Instant {
    static T: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *T.get_or_init(Instant::now)
}

fn conn(cfg: Config) -> Connection {
    Connection::new(Arc::new(cfg), t0())
}

/// Signature of a libzmq peer with a routing id of `id_len` bytes.
fn signature(id_len: u8) -> Vec<u8> {
    Greeting::signature(id_len).to_vec()
}

/// A ZMTP/2.0 (or, with revision 0, versioned 1.0) greeting.
fn old_greeting(revision: u8, socket_type: SocketType) -> Vec<u8> {
    let mut g = signature(0);
    g.extend_from_slice(&[revision, socket_type.number()]);
    g
}

/// A ZMTP/2.0 frame.
fn v2(more: bool, body: &[u8]) -> Vec<u8> {
    let mut f = vec![u8::from(more) | if body.len() > 255 { 2 } else { 0 }];
    if body.len() > 255 {
        f.extend_from_slice(&(body.len() as u64).to_be_bytes());
    } else {
        f.push(body.len() as u8);
    }
    f.extend_from_slice(body);
    f
}

/// A ZMTP/1.0 frame.
fn v1(more: bool, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    V1Header {
        more,
        size: body.len() as u64,
    }
    .emit(&mut f);
    f.extend_from_slice(body);
    f
}

fn feed(c: &mut Connection, buf: &mut BytesMut, bytes: &[u8]) -> Result<(), ConnectionError> {
    buf.extend_from_slice(bytes);
    c.handle_input(t0(), buf)
}

fn messages(events: &[Event]) -> Vec<Msg> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// Splits a ZMTP/1.0 byte stream into (more, body) frames; `None` if it does
/// not parse to the end.
fn parse_v1(mut bytes: &[u8]) -> Option<Vec<(bool, Vec<u8>)>> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        let (h, n) = V1Header::parse(bytes).ok()??;
        let end = n + h.size as usize;
        frames.push((h.more, bytes.get(n..end)?.to_vec()));
        bytes = &bytes[end..];
    }
    Some(frames)
}

#[test]
fn v2_greeting_is_answered_stage_by_stage_at_every_split() {
    let peer = [
        old_greeting(1, SocketType::Dealer),
        v2(false, b"old-id"),
        v2(true, b"A"),
        v2(false, b"B"),
    ]
    .concat();
    let ours = Config::new(SocketType::Router)
        .with_routing_id(&b"R"[..])
        .unwrap();
    let mut expected = signature(1);
    expected.push(3);
    expected.push(SocketType::Router.number());
    expected.extend(v2(false, b"R"));
    for split in 0..=peer.len() {
        let mut c = conn(ours.clone());
        let mut buf = BytesMut::new();
        let mut sent = drain(&mut c);
        feed(&mut c, &mut buf, &peer[..split]).unwrap();
        sent.extend(drain(&mut c));
        // Never more than the peer's bytes allow: the major after its
        // signature, the socket type (never a 3.x minor) after its revision.
        let allowed = match split {
            0..=9 => 10,
            10 => 11,
            11 => 12,
            _ => expected.len(),
        };
        assert_eq!(sent, expected[..allowed], "split {split}");
        feed(&mut c, &mut buf, &peer[split..]).unwrap();
        sent.extend(drain(&mut c));
        assert_eq!(sent, expected, "split {split}");
        assert!(buf.is_empty());
        let events = events(&mut c);
        assert_eq!(events[0], Event::HandshakeSucceeded, "split {split}");
        assert_eq!(messages(&events), vec![Msg::from_iter(["A", "B"])]);
        let info = c.peer().unwrap();
        assert_eq!(info.protocol, Protocol::Zmtp2);
        assert_eq!(info.version, (1, 0));
        assert_eq!(&info.routing_id[..], b"old-id");
        assert_eq!(info.socket_type, None, "libzmq does not check it");
        assert_eq!(info.mechanism, MechanismName::Null);
    }
}

#[test]
fn v3_greeting_is_staged_at_every_split_and_costs_nothing_more() {
    let mut peer = [0u8; 64];
    Greeting::new(1, MechanismName::Null, false).emit(&mut peer);
    let mut peer = peer.to_vec();
    peer.extend_from_slice(b"\x04\x1a\x05READY\x0bSocket-Type\x00\x00\x00\x04PULL");
    let mut ours = [0u8; 64];
    Greeting::new(1, MechanismName::Null, false).emit(&mut ours);
    for split in 0..=peer.len() {
        let mut c = conn(Config::new(SocketType::Push));
        let mut buf = BytesMut::new();
        let mut sent = drain(&mut c);
        feed(&mut c, &mut buf, &peer[..split]).unwrap();
        sent.extend(drain(&mut c));
        let allowed = match split {
            0..=9 => 10,
            10 => 11,
            _ => 64,
        };
        assert_eq!(
            sent[..allowed.min(sent.len())],
            ours[..allowed],
            "split {split}"
        );
        assert_eq!(
            sent.len() > 64,
            split >= 64,
            "READY only after the greeting"
        );
        feed(&mut c, &mut buf, &peer[split..]).unwrap();
        assert!(c.is_active(), "split {split}");
        assert_eq!(c.peer().unwrap().protocol, Protocol::Zmtp3_1);
    }
}

#[test]
fn v2_messages_flow_both_ways_with_long_frames() {
    let mut c = conn(Config::new(SocketType::Dealer));
    let mut buf = BytesMut::new();
    drain(&mut c);
    let big = vec![7u8; 20_000];
    let peer = [
        old_greeting(1, SocketType::Router),
        v2(false, b""),
        v2(true, &[1u8; 300]),
        v2(false, &big),
    ]
    .concat();
    feed(&mut c, &mut buf, &peer).unwrap();
    let got = messages(&events(&mut c));
    assert_eq!(got.len(), 1);
    assert_eq!(&got[0].frames()[0][..], &[1u8; 300][..]);
    assert_eq!(&got[0].frames()[1][..], &big[..]);
    assert!(c.peer().unwrap().routing_id.is_empty());

    // The identity frame went out right after the greeting.
    drain(&mut c);
    c.send(Msg::from_iter([vec![2u8; 256], big.clone()]))
        .unwrap();
    let wire = drain(&mut c);
    assert_eq!(wire, [v2(true, &[2u8; 256]), v2(false, &big)].concat());
}

#[test]
fn v2_publisher_gets_subscriptions_as_messages_and_v2_subscriber_sends_them() {
    // A ZMTP/2.0 subscriber subscribes with `0x01 topic` messages.
    let mut publisher = conn(Config::new(SocketType::XPub));
    let mut buf = BytesMut::new();
    let peer = [
        old_greeting(1, SocketType::Sub),
        v2(false, b""),
        v2(false, b"\x01news"),
        v2(false, b"\x00news"),
    ]
    .concat();
    feed(&mut publisher, &mut buf, &peer).unwrap();
    let evs = events(&mut publisher);
    assert_eq!(
        evs,
        vec![
            Event::HandshakeSucceeded,
            Event::Subscribe("news".into()),
            Event::Cancel("news".into()),
        ],
        "no catch-all for a 2.0 subscriber: it subscribes itself"
    );

    // Our subscriber talking to a ZMTP/2.0 publisher sends messages, no commands.
    let mut sub = conn(Config::new(SocketType::Sub));
    let mut buf = BytesMut::new();
    drain(&mut sub);
    let peer = [old_greeting(1, SocketType::Pub), v2(false, b"")].concat();
    feed(&mut sub, &mut buf, &peer).unwrap();
    drain(&mut sub);
    sub.send_subscribe(b"news").unwrap();
    sub.send_cancel(b"").unwrap();
    assert_eq!(
        drain(&mut sub),
        [v2(false, b"\x01news"), v2(false, b"\x00")].concat()
    );
}

#[test]
fn v2_command_frames_are_dropped_and_no_heartbeats_run() {
    let cfg = Config::new(SocketType::Pull).with_heartbeat_ivl(Some(Duration::from_millis(100)));
    let mut c = conn(cfg);
    let mut buf = BytesMut::new();
    drain(&mut c);
    let peer = [
        old_greeting(1, SocketType::Push),
        v2(false, b""),
        b"\x04\x0a\x04PING\x00\x10ctx".to_vec(),
        v2(false, b"after"),
    ]
    .concat();
    feed(&mut c, &mut buf, &peer).unwrap();
    assert_eq!(messages(&events(&mut c)), vec![Msg::from("after")]);
    assert!(drain(&mut c).len() < 20, "no PONG");
    assert_eq!(c.poll_timeout(), None, "no PING timer for an old peer");
}

#[test]
fn unversioned_v1_peer_at_every_split() {
    // libzmq 2.x: its identity message first (no signature), then messages.
    let peer = [v1(false, b"old"), v1(true, b"A"), v1(false, b"B")].concat();
    let ours = Config::new(SocketType::Router)
        .with_routing_id(&b"me"[..])
        .unwrap();
    for split in 0..=peer.len() {
        let mut c = conn(ours.clone());
        let mut buf = BytesMut::new();
        let mut sent = drain(&mut c);
        feed(&mut c, &mut buf, &peer[..split]).unwrap();
        feed(&mut c, &mut buf, &peer[split..]).unwrap();
        sent.extend(drain(&mut c));
        // Our signature is the long-form header of our identity: only its body
        // follows, and the whole reads as ZMTP/1.0 frames.
        assert_eq!(
            parse_v1(&sent),
            Some(vec![(true, b"me".to_vec())]),
            "split {split}"
        );
        let events = events(&mut c);
        assert_eq!(events[0], Event::HandshakeSucceeded);
        assert_eq!(messages(&events), vec![Msg::from_iter(["A", "B"])]);
        let info = c.peer().unwrap();
        assert_eq!((info.protocol, info.version), (Protocol::Zmtp1, (0, 0)));
        assert_eq!(&info.routing_id[..], b"old");
    }
}

#[test]
fn v1_frames_flow_both_ways_with_long_frames() {
    let mut c = conn(Config::new(SocketType::Pair));
    let mut buf = BytesMut::new();
    drain(&mut c);
    let big = vec![9u8; 10_000];
    // A long identity (escape form, flags 0): byte 9 has bit 0 clear.
    let id = [b'x'; 20];
    let mut peer = vec![0xFF];
    peer.extend_from_slice(&21u64.to_be_bytes());
    peer.push(0);
    peer.extend_from_slice(&id);
    peer.extend([v1(true, &[1u8; 254]), v1(false, &big)].concat());
    for chunk in peer.chunks(7) {
        feed(&mut c, &mut buf, chunk).unwrap();
    }
    let got = messages(&events(&mut c));
    assert_eq!(got, vec![Msg::from_iter([vec![1u8; 254], big.clone()])]);
    assert_eq!(&c.peer().unwrap().routing_id[..], &id[..]);

    drain(&mut c);
    c.send(Msg::from_iter([b"s".to_vec(), big.clone()]))
        .unwrap();
    let wire = drain(&mut c);
    assert_eq!(
        parse_v1(&wire),
        Some(vec![(true, b"s".to_vec()), (false, big)])
    );
    assert_eq!(&wire[..3], b"\x02\x01s");
    assert_eq!(wire[3], 0xFF, "a 10,001-byte length takes the escape form");
}

#[test]
fn versioned_v1_peer_gets_our_socket_type_then_v1_frames() {
    let peer = [
        old_greeting(0, SocketType::Push),
        v1(false, b"v1id"),
        v1(false, b"hello"),
    ]
    .concat();
    let mut c = conn(
        Config::new(SocketType::Pull)
            .with_routing_id(&b"p"[..])
            .unwrap(),
    );
    let mut buf = BytesMut::new();
    let mut sent = drain(&mut c);
    feed(&mut c, &mut buf, &peer).unwrap();
    sent.extend(drain(&mut c));
    let mut expected = signature(1);
    expected.extend([3, SocketType::Pull.number()]);
    expected.extend(v1(false, b"p"));
    assert_eq!(sent, expected);
    let events = events(&mut c);
    assert_eq!(messages(&events), vec![Msg::from("hello")]);
    assert_eq!(c.peer().unwrap().protocol, Protocol::Zmtp1);
    assert_eq!(&c.peer().unwrap().routing_id[..], b"v1id");
}

#[test]
fn libzmq_signature_identity_with_more_set_stays_apart_from_the_first_message() {
    // What libzmq 4 itself sends a 1.0 peer: the signature as a header with
    // flags 0x7F (MORE set), then the identity body. Read back as 1.0.
    let mut peer = vec![0x05];
    peer.push(0x7F);
    peer.extend_from_slice(b"abcd");
    peer.extend(v1(false, b"msg"));
    let mut c = conn(Config::new(SocketType::Router));
    let mut buf = BytesMut::new();
    feed(&mut c, &mut buf, &peer).unwrap();
    assert_eq!(&c.peer().unwrap().routing_id[..], b"abcd");
    assert_eq!(messages(&events(&mut c)), vec![Msg::from("msg")]);
}

#[test]
fn publisher_injects_a_catch_all_for_an_unversioned_v1_subscriber_only() {
    for ty in [SocketType::Pub, SocketType::XPub] {
        let mut c = conn(Config::new(ty));
        let mut buf = BytesMut::new();
        feed(&mut c, &mut buf, &v1(false, b"")).unwrap();
        assert_eq!(
            events(&mut c),
            vec![Event::HandshakeSucceeded, Event::Subscribe("".into())]
        );
        c.send(Msg::from("tick")).unwrap();
        let wire = drain(&mut c);
        assert!(wire.ends_with(&v1(false, b"tick")));
    }
    // libzmq sets `_subscription_required` in the unversioned path only.
    let mut c = conn(Config::new(SocketType::Pub));
    let mut buf = BytesMut::new();
    let peer = [old_greeting(0, SocketType::Sub), v1(false, b"")].concat();
    feed(&mut c, &mut buf, &peer).unwrap();
    assert_eq!(events(&mut c), vec![Event::HandshakeSucceeded]);
    // Non-publishers get no subscription.
    let mut c = conn(Config::new(SocketType::Dealer));
    feed(&mut c, &mut BytesMut::new(), &v1(false, b"")).unwrap();
    assert_eq!(events(&mut c), vec![Event::HandshakeSucceeded]);
}

#[test]
fn max_msg_size_holds_on_both_old_framings() {
    let cfg = Config::new(SocketType::Pull).with_max_msg_size(Some(10));
    // ZMTP/2.0, long form announcing 2^63: refused on the header, no growth.
    let mut c = conn(cfg.clone());
    let mut buf = BytesMut::new();
    let mut peer = [old_greeting(1, SocketType::Push), v2(false, b"")].concat();
    peer.extend_from_slice(&[0x02, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    let err = feed(&mut c, &mut buf, &peer).unwrap_err();
    assert!(matches!(
        err,
        ConnectionError::MessageTooLarge { max: 10, .. }
    ));
    assert!(buf.capacity() < 1024);
    // ZMTP/1.0: body 11 > 10 (wire length 12 counts the flags byte).
    let mut c = conn(cfg.clone());
    let mut peer = v1(false, b"");
    peer.extend_from_slice(&[12, 0]);
    assert_eq!(
        feed(&mut c, &mut BytesMut::new(), &peer).unwrap_err(),
        ConnectionError::MessageTooLarge { size: 11, max: 10 }
    );
    // Exactly 10 passes.
    let mut c = conn(cfg.clone());
    let peer = [v1(false, b""), v1(false, &[0u8; 10])].concat();
    feed(&mut c, &mut BytesMut::new(), &peer).unwrap();
    // ZMTP/1.0 escape form announcing 2^64-1.
    let mut c = conn(cfg.clone());
    let mut buf = BytesMut::new();
    let mut peer = v1(false, b"");
    peer.extend_from_slice(&[0xFF; 9]);
    peer.push(0);
    assert!(matches!(
        feed(&mut c, &mut buf, &peer),
        Err(ConnectionError::MessageTooLarge { .. })
    ));
    assert!(buf.capacity() < 1024);
    // The identity frame is held to the limit too.
    let mut c = conn(cfg);
    assert!(matches!(
        feed(&mut c, &mut BytesMut::new(), &v1(false, &[0u8; 11])),
        Err(ConnectionError::MessageTooLarge { .. })
    ));
}

#[test]
fn malformed_old_peers_get_typed_errors() {
    // A ZMTP/1.0 length of zero has no room for flags.
    let mut c = conn(Config::new(SocketType::Pull));
    assert_eq!(
        feed(&mut c, &mut BytesMut::new(), &[0x00]).unwrap_err(),
        ConnectionError::Wire(zmtp_core::WireError::EmptyV1Frame)
    );
    // An identity longer than a ZMTP/3.x routing id may be is taken whole, as
    // libzmq 4.3.5 takes it.
    let mut c = conn(Config::new(SocketType::Router));
    let peer = [old_greeting(1, SocketType::Dealer), v2(false, &[1u8; 256])].concat();
    feed(&mut c, &mut BytesMut::new(), &peer).unwrap();
    assert_eq!(c.peer().unwrap().routing_id.len(), 256);
    // No identity at all: the handshake timer still runs.
    let mut c = conn(Config::new(SocketType::Pull));
    feed(
        &mut c,
        &mut BytesMut::new(),
        &old_greeting(1, SocketType::Push),
    )
    .unwrap();
    assert_eq!(c.phase(), Phase::Handshake);
    let deadline = c.poll_timeout().unwrap();
    assert_eq!(
        c.handle_timeout(deadline).unwrap_err(),
        ConnectionError::HandshakeTimeout
    );
}

#[test]
fn secured_sockets_refuse_old_peers_before_saying_more() {
    let secured = [
        Config::new(SocketType::Pull)
            .with_mechanism(MechanismConfig::PlainServer)
            .unwrap(),
        Config::new(SocketType::Pull)
            .with_mechanism(MechanismConfig::CurveServer {
                keypair: server_keys(),
            })
            .unwrap(),
        Config::new(SocketType::Pull)
            .with_mechanism(MechanismConfig::PlainClient {
                username: "u".into(),
                password: "p".into(),
            })
            .unwrap(),
        Config::new(SocketType::Pull).with_zap_domain("global"),
        Config::new(SocketType::Pull).with_null_authentication(true),
    ];
    for cfg in secured {
        for (peer, protocol, versioned) in [
            (old_greeting(1, SocketType::Push), Protocol::Zmtp2, true),
            (old_greeting(0, SocketType::Push), Protocol::Zmtp1, true),
            (v1(false, b"id"), Protocol::Zmtp1, false),
        ] {
            for split in 1..=peer.len() {
                let mut c = conn(cfg.clone());
                let mut buf = BytesMut::new();
                let mut sent = drain(&mut c);
                let r = feed(&mut c, &mut buf, &peer[..split])
                    .and_then(|()| feed(&mut c, &mut buf, &peer[split..]));
                sent.extend(drain(&mut c));
                let err = r.unwrap_err();
                assert_eq!(err, ConnectionError::DowngradeRefused { peer: protocol });
                assert!(err.is_permanent());
                assert_eq!(err.zmtp_code(), Some(0x1000_0000));
                // Our major version goes out only if the peer's signature came
                // without its revision; nothing after that.
                let said = if versioned && split == 10 { 11 } else { 10 };
                assert_eq!(sent.len(), said, "{protocol} split {split}");
                assert_eq!(c.phase(), Phase::Closed);
                assert!(events(&mut c).is_empty());
            }
        }
    }
}

#[test]
fn two_staging_connections_meet_and_old_revision_bytes_round_trip() {
    // Our own two sides: both stage, neither waits for what the other holds
    // back, even fed one byte at a time.
    let mut p = Pair::for_mech(Mech::Null, SocketType::Dealer, SocketType::Router);
    p.chunk = Some(1);
    p.drive();
    assert!(p.both_active());
    assert_eq!(p.client.conn.peer().unwrap().protocol, Protocol::Zmtp3_1);
}

#[test]
fn answers_old_peers_byte_for_byte_as_libzmq_does() {
    // Recorded from libzmq 4.3.5 (pyzmq 27) with a raw TCP peer: a ROUTER with
    // no routing id, sent a whole ZMTP/2.0 DEALER greeting, identity "ID" and a
    // message, answers with its signature, major 3, type 6 and an empty identity
    // frame; sent ZMTP/1.0 frames, it answers with its signature alone (the
    // header of its empty identity).
    let v2_peer = [
        old_greeting(1, SocketType::Dealer),
        v2(false, b"ID"),
        v2(false, b"abc"),
    ]
    .concat();
    let mut c = conn(Config::new(SocketType::Router));
    let mut sent = drain(&mut c);
    feed(&mut c, &mut BytesMut::new(), &v2_peer).unwrap();
    sent.extend(drain(&mut c));
    assert_eq!(sent, hex("ff00000000000000017f03060000"));

    let v1_peer = [v1(false, b"ID"), v1(false, b"X")].concat();
    let mut c = conn(Config::new(SocketType::Router));
    let mut sent = drain(&mut c);
    feed(&mut c, &mut BytesMut::new(), &v1_peer).unwrap();
    sent.extend(drain(&mut c));
    assert_eq!(sent, hex("ff00000000000000017f"));
}
