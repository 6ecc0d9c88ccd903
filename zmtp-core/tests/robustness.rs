//! Property tests for robustness against arbitrary peer input, run by `cargo test`.
//! The deeper, longer-running versions live in the cargo-fuzz targets under
//! `fuzz/`; these keep a few thousand cases in the ordinary test suite:
//!
//! - the wire parsers never panic, and whatever parses re-emits to the same value;
//! - `parse(emit(x)) == x` for generated metadata and commands;
//! - server connections (NULL, PLAIN, CURVE) fed garbage in random chunks, raw or
//!   after a valid greeting or handshake prefix, never panic and their errors are
//!   sticky;
//! - a valid byte stream gives the same events however it is chunked.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use zmtp_core::wire::command::{Command, RawCommand, MAX_PING_CONTEXT};
use zmtp_core::wire::frame::FrameHeader;
use zmtp_core::wire::greeting::{Greeting, MechanismName, GREETING_LEN};
use zmtp_core::{
    z85, AuthReply, Config, Connection, ConnectionError, Event, KeyPair, MechanismConfig, Metadata,
    Msg, Random, SecretKey, SocketType,
};

/// The tests' only clock read; everything after it is offsets from this instant.
#[allow(clippy::disallowed_methods)]
fn t0() -> Instant {
    Instant::now()
}

/// Deterministic randomness for CURVE (splitmix64).
struct DetRandom(Mutex<u64>);

impl Random for DetRandom {
    fn fill(&self, buf: &mut [u8]) {
        let mut s = self.0.lock().unwrap();
        for chunk in buf.chunks_mut(8) {
            *s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = *s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
    }
}

fn server_keys() -> &'static KeyPair {
    static K: OnceLock<KeyPair> = OnceLock::new();
    K.get_or_init(|| KeyPair::from_secret(SecretKey([0x11; 32])))
}

fn client_keys() -> &'static KeyPair {
    static K: OnceLock<KeyPair> = OnceLock::new();
    K.get_or_init(|| KeyPair::from_secret(SecretKey([0x22; 32])))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mech {
    Null,
    Plain,
    Curve,
}

const MECHS: [Mech; 3] = [Mech::Null, Mech::Plain, Mech::Curve];

fn server(mech: Mech, ty: SocketType, now: Instant) -> Connection {
    let mechanism = match mech {
        Mech::Null => MechanismConfig::Null,
        Mech::Plain => MechanismConfig::PlainServer,
        Mech::Curve => MechanismConfig::CurveServer {
            keypair: server_keys().clone(),
        },
    };
    let cfg = Config::new(ty)
        .with_mechanism(mechanism)
        .unwrap()
        .with_max_msg_size(Some(4096))
        .with_heartbeat_ivl(Some(Duration::from_secs(1)))
        .with_random(Arc::new(DetRandom(Mutex::new(7))));
    Connection::new(Arc::new(cfg), now)
}

fn client(mech: Mech, ty: SocketType, now: Instant) -> Connection {
    let mechanism = match mech {
        Mech::Null => MechanismConfig::Null,
        Mech::Plain => MechanismConfig::PlainClient {
            username: Bytes::from_static(b"admin"),
            password: Bytes::from_static(b"secret"),
        },
        Mech::Curve => MechanismConfig::CurveClient {
            server_key: server_keys().public,
            keypair: client_keys().clone(),
        },
    };
    let cfg = Config::new(ty)
        .with_mechanism(mechanism)
        .unwrap()
        .with_routing_id(&b"client"[..])
        .unwrap()
        .with_random(Arc::new(DetRandom(Mutex::new(8))));
    Connection::new(Arc::new(cfg), now)
}

fn greeting_bytes(mech: Mech) -> [u8; GREETING_LEN] {
    let name = match mech {
        Mech::Null => MechanismName::Null,
        Mech::Plain => MechanismName::Plain,
        Mech::Curve => MechanismName::Curve,
    };
    let mut g = [0u8; GREETING_LEN];
    Greeting::new(1, name, false).emit(&mut g);
    g
}

/// Everything a connection produced: events, output bytes, and its error.
#[derive(Debug, Default, PartialEq)]
struct Outcome {
    events: Vec<Event>,
    output: Vec<u8>,
    error: Option<ConnectionError>,
}

fn drain_into(conn: &mut Connection, out: &mut Outcome) {
    while let Some(c) = conn.poll_transmit() {
        out.output.extend_from_slice(&c);
    }
    while let Some(ev) = conn.poll_event() {
        out.events.push(ev);
    }
}

/// Checks that a failed connection keeps failing with the same error.
fn assert_sticky(conn: &mut Connection, e: &ConnectionError, now: Instant) {
    assert_eq!(conn.error(), Some(e));
    let mut more = BytesMut::from(&b"\x00\x03abc"[..]);
    assert_eq!(conn.handle_input(now, &mut more).as_ref(), Err(e));
    assert_eq!(conn.handle_timeout(now).as_ref(), Err(e));
    assert_eq!(conn.handle_eof(now).as_ref(), Err(e));
    assert_eq!(conn.handle_input(now, &mut more).as_ref(), Err(e));
    assert!(conn.poll_timeout().is_none());
    assert!(!conn.is_active());
}

/// Feeds `data` in chunks of the given sizes (cycled), answering authentication
/// requests with "allow", advancing time a little per chunk. Stops at the first
/// error, after checking it is sticky.
fn feed_chunked(conn: &mut Connection, data: &[u8], sizes: &[usize], now: &mut Instant) -> Outcome {
    let mut out = Outcome::default();
    let mut buf = BytesMut::new();
    let mut rest = data;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        i += 1;
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        *now += Duration::from_millis(7);
        let mut r = conn.handle_input(*now, &mut buf);
        if r.is_ok() && i % 5 == 0 {
            r = conn.handle_timeout(*now);
        }
        drain_into(conn, &mut out);
        answer_auth(conn, &mut out);
        if let Err(e) = r {
            assert_sticky(conn, &e, *now);
            out.error = Some(e);
            break;
        }
    }
    out
}

fn answer_auth(conn: &mut Connection, out: &mut Outcome) {
    let ids: Vec<_> = out
        .events
        .iter()
        .filter_map(|e| match e {
            Event::AuthRequest(r) => Some(r.id),
            _ => None,
        })
        .collect();
    if let Some(&id) = ids.last() {
        // Either answered now, or refused because it was already answered or
        // the connection failed: never a panic.
        let _ = conn.auth_reply(id, AuthReply::allow());
        drain_into(conn, out);
    }
}

/// A client transcript (client-to-server bytes) for `mech`, one piece per round
/// of the back-to-back exchange, recorded once. Fed piece by piece (with "allow"
/// in between), it takes a fresh server through the whole handshake.
fn handshake_pieces(mech: Mech) -> &'static [Vec<u8>] {
    static CACHE: OnceLock<Vec<Vec<Vec<u8>>>> = OnceLock::new();
    let all = CACHE.get_or_init(|| {
        MECHS
            .iter()
            .map(|&m| {
                let now = t0();
                let mut s = server(m, SocketType::Router, now);
                let mut c = client(m, SocketType::Dealer, now);
                let mut pieces = Vec::new();
                let (mut to_s, mut to_c) = (BytesMut::new(), BytesMut::new());
                for _ in 0..8 {
                    let mut piece = Vec::new();
                    while let Some(b) = c.poll_transmit() {
                        piece.extend_from_slice(&b);
                    }
                    to_s.extend_from_slice(&piece);
                    if !piece.is_empty() {
                        pieces.push(piece);
                    }
                    while let Some(b) = s.poll_transmit() {
                        to_c.extend_from_slice(&b);
                    }
                    s.handle_input(now, &mut to_s).unwrap();
                    c.handle_input(now, &mut to_c).unwrap();
                    while let Some(ev) = s.poll_event() {
                        if let Event::AuthRequest(r) = ev {
                            s.auth_reply(r.id, AuthReply::allow()).unwrap();
                        }
                    }
                    while c.poll_event().is_some() {}
                }
                assert!(s.is_active() && c.is_active(), "{m:?} handshake");
                // The greeting is staged over several rounds, and stays in the
                // receive buffer until it is whole: one piece for all of it.
                let mut merged = Vec::new();
                while merged.len() < GREETING_LEN {
                    merged.extend(pieces.remove(0));
                }
                pieces.insert(0, merged);
                pieces
            })
            .collect()
    });
    &all[MECHS.iter().position(|&m| m == mech).unwrap()]
}

// ---------------------------------------------------------------------------
// Stateless wire parsers.

fn check_parsers(data: &[u8]) {
    // Greeting: consistent verdicts, and a parsed greeting round-trips.
    if let Ok(Some(g)) = Greeting::parse(data) {
        let mut out = [0u8; GREETING_LEN];
        g.emit(&mut out);
        assert_eq!(Greeting::parse(&out), Ok(Some(g)));
    }
    // Frame header.
    if let Some((h, n)) = FrameHeader::parse(data) {
        assert!(n == 2 || n == 9);
        let mut out = Vec::new();
        h.emit(&mut out);
        assert_eq!(FrameHeader::parse(&out), Some((h, h.encoded_len())));
    }
    // Commands: what parses re-emits to the same bytes (PING/PONG contexts are
    // cut to 16 bytes by emit, so only compare those when short).
    let body = Bytes::copy_from_slice(data);
    let raw_ok = RawCommand::parse(body.clone()).is_ok();
    if let Ok(cmd) = Command::parse(body.clone()) {
        assert!(raw_ok);
        let truncated = match &cmd {
            Command::Ping { context, .. } | Command::Pong(context) => {
                context.len() > MAX_PING_CONTEXT
            }
            _ => false,
        };
        let mut wire = Vec::new();
        cmd.emit(&mut wire);
        let (_, n) = FrameHeader::parse(&wire).unwrap();
        let again = Command::parse(Bytes::copy_from_slice(&wire[n..])).unwrap();
        if !truncated {
            assert_eq!(again, cmd);
            assert_eq!(&wire[n..], data);
        }
    }
    // Metadata: canonical, so emit gives back the input.
    if let Ok(md) = Metadata::parse(&body) {
        let mut out = Vec::new();
        md.emit(&mut out);
        assert_eq!(out, data);
    }
    // Z85: strict, so decode/encode is a bijection on what decodes.
    let text = String::from_utf8_lossy(data);
    if let Ok(bin) = z85::decode(&text) {
        assert_eq!(z85::encode(&bin).unwrap(), text);
    }
    let _ = z85::decode_key(&text);
}

fn arb_metadata() -> impl Strategy<Value = Metadata> {
    prop::collection::vec(
        (
            prop::collection::vec(any::<u8>(), 0..=40),
            prop::collection::vec(any::<u8>(), 0..80),
        ),
        0..6,
    )
    .prop_map(|props| {
        let mut md = Metadata::new();
        for (n, v) in props {
            md.push(n, v);
        }
        md
    })
}

fn arb_bytes(max: usize) -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

const KNOWN: [&[u8]; 6] = [
    b"READY",
    b"ERROR",
    b"SUBSCRIBE",
    b"CANCEL",
    b"PING",
    b"PONG",
];

fn arb_command() -> impl Strategy<Value = Command> {
    prop_oneof![
        arb_metadata().prop_map(Command::Ready),
        arb_bytes(256).prop_map(Command::Error),
        arb_bytes(300).prop_map(Command::Subscribe),
        arb_bytes(300).prop_map(Command::Cancel),
        (any::<u16>(), arb_bytes(MAX_PING_CONTEXT + 1))
            .prop_map(|(ttl, context)| Command::Ping { ttl, context }),
        arb_bytes(MAX_PING_CONTEXT + 1).prop_map(Command::Pong),
        (prop::collection::vec(any::<u8>(), 1..=255), arb_bytes(300))
            .prop_filter("a known command name", |(name, _)| !KNOWN
                .contains(&&name[..]))
            .prop_map(|(name, data)| Command::Other(RawCommand {
                name: Bytes::from(name),
                data,
            })),
    ]
}

/// Garbage biased towards what the parsers look at: frame flags, small sizes,
/// command names.
fn arb_garbage() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::collection::vec(any::<u8>(), 0..40),
            1 => (0u8..8, prop::collection::vec(any::<u8>(), 0..40)).prop_map(|(f, body)| {
                let mut v = vec![f & !0x02, body.len() as u8];
                v.extend_from_slice(&body);
                v
            }),
            1 => prop::sample::select(vec![
                &b"\x05READY"[..],
                b"\x05HELLO",
                b"\x07WELCOME",
                b"\x08INITIATE",
                b"\x05ERROR",
                b"\x04PING",
                b"\x07MESSAGE",
            ])
            .prop_map(|name| {
                let mut v = vec![0x04, name.len() as u8];
                v.extend_from_slice(name);
                v
            }),
        ],
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

fn arb_chunks() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(
        prop_oneof![3 => 1usize..4, 2 => 1usize..40, 1 => 1usize..2000],
        1..16,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn wire_parsers_never_panic(data in prop::collection::vec(any::<u8>(), 0..300)) {
        check_parsers(&data);
    }

    #[test]
    fn wire_parsers_never_panic_on_near_valid_input(data in arb_garbage()) {
        check_parsers(&data);
        if data.len() > 2 {
            check_parsers(&data[2..]);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn metadata_round_trips(md in arb_metadata()) {
        let mut out = Vec::new();
        md.emit(&mut out);
        prop_assert_eq!(out.len(), md.encoded_len());
        prop_assert_eq!(Metadata::parse(&Bytes::from(out)), Ok(md));
    }

    #[test]
    fn commands_round_trip(cmd in arb_command()) {
        let mut wire = Vec::new();
        cmd.emit(&mut wire);
        let (h, n) = FrameHeader::parse(&wire).unwrap();
        prop_assert!(h.command && !h.more);
        prop_assert_eq!(h.size as usize, wire.len() - n);
        let back = Command::parse(Bytes::copy_from_slice(&wire[n..])).unwrap();
        match (&cmd, &back) {
            // emit keeps at most 16 bytes of a PING/PONG context.
            (Command::Ping { ttl, context }, Command::Ping { ttl: t2, context: c2 }) => {
                prop_assert_eq!(ttl, t2);
                prop_assert_eq!(&context[..context.len().min(MAX_PING_CONTEXT)], &c2[..]);
            }
            (Command::Pong(context), Command::Pong(c2)) => {
                prop_assert_eq!(&context[..context.len().min(MAX_PING_CONTEXT)], &c2[..]);
            }
            // ERROR reasons are at most 255 bytes on the wire.
            (Command::Error(reason), Command::Error(r2)) => {
                prop_assert_eq!(&reason[..reason.len().min(255)], &r2[..]);
            }
            _ => prop_assert_eq!(&back, &cmd),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Raw garbage, garbage after a valid greeting, and garbage after a valid
    /// handshake prefix (any number of pieces of a real client's transcript).
    #[test]
    fn server_connections_survive_garbage(
        mech in prop::sample::select(MECHS.to_vec()),
        prefix in 0usize..6,
        with_greeting in any::<bool>(),
        garbage in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..400),
            arb_garbage(),
        ],
        chunks in arb_chunks(),
        ty in prop::sample::select(vec![SocketType::Router, SocketType::Pub, SocketType::Pull]),
    ) {
        let mut now = t0();
        let mut conn = server(mech, ty, now);
        let mut stream = Vec::new();
        if ty == SocketType::Router && prefix > 0 {
            // A valid handshake prefix, fed piece by piece (authentication is
            // allowed in between), then the garbage.
            for piece in handshake_pieces(mech).iter().take(prefix) {
                let out = feed_chunked(&mut conn, piece, &[piece.len()], &mut now);
                prop_assert_eq!(out.error, None);
            }
        } else if with_greeting {
            stream.extend_from_slice(&greeting_bytes(mech));
        }
        stream.extend_from_slice(&garbage);
        let out = feed_chunked(&mut conn, &stream, &chunks, &mut now);
        if let Some(e) = &out.error {
            assert_sticky(&mut conn, e, now);
        } else {
            // Whatever did not fail must still fail cleanly on EOF.
            let e = conn.handle_eof(now).unwrap_err();
            prop_assert_eq!(&e, &ConnectionError::PeerClosed);
            assert_sticky(&mut conn, &e, now);
        }
    }
}

/// What a real NULL client sends: greeting, READY, then `msgs` (and, towards a
/// publisher, a subscription and a cancel).
fn null_client_stream(server_ty: SocketType, client_ty: SocketType, msgs: &[Msg]) -> Vec<u8> {
    let now = t0();
    let mut s = server(Mech::Null, server_ty, now);
    let mut c = client(Mech::Null, client_ty, now);
    let (mut to_s, mut to_c) = (BytesMut::new(), BytesMut::new());
    let mut stream = Vec::new();
    let mut sent = false;
    for _ in 0..8 {
        while let Some(b) = c.poll_transmit() {
            stream.extend_from_slice(&b);
            to_s.extend_from_slice(&b);
        }
        while let Some(b) = s.poll_transmit() {
            to_c.extend_from_slice(&b);
        }
        s.handle_input(now, &mut to_s).unwrap();
        c.handle_input(now, &mut to_c).unwrap();
        if c.is_active() && !sent {
            sent = true;
            for m in msgs {
                c.send(m.clone()).unwrap();
            }
            if server_ty == SocketType::XPub {
                c.send_subscribe(b"topic").unwrap();
                c.send_cancel(b"topic").unwrap();
            }
        }
    }
    assert!(sent);
    stream
}

fn arb_msgs() -> impl Strategy<Value = Vec<Msg>> {
    prop::collection::vec(
        prop::collection::vec(
            prop_oneof![
                8 => prop::collection::vec(any::<u8>(), 0..20),
                1 => prop::collection::vec(any::<u8>(), 250..600),
            ],
            1..5,
        )
        .prop_map(|frames| frames.into_iter().collect::<Msg>()),
        1..8,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// A valid byte stream (a real NULL client's handshake and messages) gives
    /// the same events and output whether it arrives whole or in random chunks.
    #[test]
    fn chunking_does_not_change_events(
        msgs in arb_msgs(),
        chunks in arb_chunks(),
        xpub in any::<bool>(),
        max_frames in 1usize..6,
    ) {
        let (sty, cty) = if xpub {
            (SocketType::XPub, SocketType::XSub)
        } else {
            (SocketType::Router, SocketType::Dealer)
        };
        let stream = null_client_stream(sty, cty, &msgs);
        let now = t0();

        let mut whole = server(Mech::Null, sty, now);
        let mut expected = Outcome::default();
        let mut buf = BytesMut::from(&stream[..]);
        whole.handle_input(now, &mut buf).unwrap();
        prop_assert!(buf.is_empty());
        drain_into(&mut whole, &mut expected);

        let mut chunked = server(Mech::Null, sty, now);
        let mut got = Outcome::default();
        let mut buf = BytesMut::new();
        let mut rest = &stream[..];
        let mut i = 0;
        while !rest.is_empty() {
            let n = chunks[i % chunks.len()].min(rest.len());
            i += 1;
            buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            chunked.handle_input(now, &mut buf).unwrap();
            drain_into(&mut chunked, &mut got);
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(&got, &expected);

        // Taken a few frames at a time, with the events polled in between,
        // the stream gives the same again. On a ROUTER a frame makes at most
        // one event, so no call may make more than it was allowed frames.
        let mut bounded = server(Mech::Null, sty, now);
        let mut got = Outcome::default();
        let mut buf = BytesMut::from(&stream[..]);
        loop {
            let more = bounded.handle_input_up_to(now, &mut buf, max_frames).unwrap();
            let before = got.events.len();
            drain_into(&mut bounded, &mut got);
            if !xpub {
                prop_assert!(got.events.len() - before <= max_frames);
            }
            if !more {
                break;
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(&got, &expected);

        // And the events are the handshake then exactly the messages sent (XPUB,
        // as libzmq's: every data frame with a leading 0/1 byte is a subscription
        // instead, and the message keeps its other frames).
        prop_assert_eq!(&expected.events[0], &Event::HandshakeSucceeded);
        let delivered: Vec<&Msg> = expected
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Message(m) => Some(m),
                _ => None,
            })
            .collect();
        let wanted: Vec<Msg> = msgs
            .iter()
            .map(|m| {
                if xpub {
                    m.frames()
                        .iter()
                        .filter(|f| !matches!(f.first(), Some(0 | 1)))
                        .cloned()
                        .collect()
                } else {
                    m.clone()
                }
            })
            .filter(|m: &Msg| !m.is_empty())
            .collect();
        prop_assert_eq!(delivered, wanted.iter().collect::<Vec<_>>());
    }
}

#[test]
fn handshake_prefixes_reach_active() {
    // The garbage-after-prefix property only means something if the full prefix
    // really takes a fresh server to the active phase.
    for mech in MECHS {
        let mut now = t0();
        let mut conn = server(mech, SocketType::Router, now);
        let pieces = handshake_pieces(mech);
        for piece in pieces {
            let out = feed_chunked(&mut conn, piece, &[piece.len()], &mut now);
            assert_eq!(out.error, None, "{mech:?}");
        }
        assert!(conn.is_active(), "{mech:?}: {conn:?}");
    }
}
