//! ZMTP/2.0 and ZMTP/1.0 peers (libzmq 3.x and 2.x, issue #13), played by the
//! raw [`OldPeer`]. Every scenario runs first against libzmq 4.3.5, so the
//! test proves its own expectations, then against our socket with the same
//! assertions; the cases against ours all run, and the failure lists every
//! case that failed. Where zmtp-core's manual documents a deliberate
//! difference from libzmq (frames up to isize::MAX without MAXMSGSIZE, where
//! libzmq fails the allocation), the case proves libzmq's behaviour and holds
//! ours to the documented one, saying so.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use zmq_runtime::{AllowList, Builder, Monitor, MonitorEvent, Socket, SocketType};

use super::cases::{endpoint, keys, Transport};
use super::ends::{End, Ours, Theirs};
use super::{build, Env};
use crate::old_peer::{
    signature, type_byte, Handshake, OldPeer, OldPeerHost, OldPeerOpts, Received, Zmtp,
};
use crate::peer::{hex, Peer};

/// How long a message that must come may take.
const PATIENCE: Duration = Duration::from_secs(5);
const PATIENCE_MS: u64 = 5000;

/// The routing id our REQ, DEALER and ROUTER present (others have none, so
/// both forms of the signature's length are checked).
const MODERN_ID: &[u8] = b"NEW";
/// The old peer's identity, where it has one.
const OLD_ID: &[u8] = b"OLD";

/// Which implementation faces the old peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// libzmq 4.3.5 (pyzmq), proving the expectations.
    Libzmq,
    /// Our socket on the runtime under test.
    Ours,
}

/// Security or limits configured on the modern side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Config {
    /// NULL, no ZAP: old peers are served.
    Null,
    /// PLAIN server.
    PlainServer,
    /// PLAIN client.
    PlainClient,
    /// CURVE server.
    CurveServer,
    /// CURVE client.
    CurveClient,
    /// NULL with a ZAP domain (authentication on).
    ZapDomain,
    /// MAXMSGSIZE 1000.
    MaxMsgSize,
    /// HEARTBEAT_IVL 50 ms: ZMTP/1.0 and 2.0 have no PING, so none may go.
    Heartbeat,
}

/// One scenario of the table.
#[derive(Clone, Debug)]
pub struct Case {
    /// The modern side's type.
    pub ours: SocketType,
    /// The old peer's type (only its ZMTP/2.0 greeting shows it).
    pub old: SocketType,
    /// The old peer's protocol.
    pub zmtp: Zmtp,
    /// Whether the modern side binds (else the old peer does).
    pub we_bind: bool,
    /// tcp or ipc.
    pub transport: Transport,
    /// Whether the old peer sends its greeting a byte at a time.
    pub dribble: bool,
    /// Whether a ZMTP/2.0 peer sends its greeting and identity at once.
    pub eager: bool,
    /// The old peer's identity.
    pub old_id: Vec<u8>,
    /// The modern side's configuration.
    pub config: Config,
    /// Bytes the old peer writes after the handshake to break the
    /// connection (malformed cases only).
    pub bad_input: Vec<u8>,
}

/// The pairings, modern type first: both directions of each valid pair,
/// the REQ/ROUTER and DEALER/REP cross pairs, and a mismatched pair (a
/// ZMTP/2.0 greeting's socket type is not checked by libzmq).
pub const OLD_PAIRS: [(SocketType, SocketType); 16] = {
    use SocketType::*;
    [
        (Push, Pull),
        (Pull, Push),
        (Req, Rep),
        (Rep, Req),
        (Dealer, Router),
        (Router, Dealer),
        (Pub, Sub),
        (Sub, Pub),
        (XPub, XSub),
        (XSub, XPub),
        (Pair, Pair),
        (Req, Router),
        (Router, Req),
        (Dealer, Rep),
        (Rep, Dealer),
        (Pull, Pub),
    ]
};

fn modern_id(kind: SocketType) -> &'static [u8] {
    match kind {
        SocketType::Req | SocketType::Dealer | SocketType::Router => MODERN_ID,
        _ => b"",
    }
}

/// The main table for one protocol: every pairing, the modern side binding
/// and connecting; half the cases on ipc, and the old peer's greeting sent
/// staged, a byte at a time or all at once, so each type meets both
/// transports and several splits of its input. Then long identities and
/// heartbeats.
pub fn table(zmtp: Zmtp) -> Vec<Case> {
    let mut cases = Vec::new();
    for (i, (ours, old)) in OLD_PAIRS.into_iter().enumerate() {
        if (ours, old) == (SocketType::Pull, SocketType::Pub) && zmtp == Zmtp::V1 {
            continue; // ZMTP/1.0 has no socket type to mismatch
        }
        // The versioned 1.0 differs from the others in its greeting and its
        // subscriptions only: a few pairings suffice.
        if zmtp == Zmtp::V1Versioned
            && !matches!(
                ours,
                SocketType::Push
                    | SocketType::Pull
                    | SocketType::Router
                    | SocketType::Pub
                    | SocketType::XPub
                    | SocketType::Sub
            )
        {
            continue;
        }
        for we_bind in [true, false] {
            let old_id = match (old, zmtp) {
                (SocketType::Req, _) => Vec::new(),
                // An identity of 254 bytes makes a ZMTP/1.0 length of 255:
                // the 0xFF escape and 8-byte form, with flags 0x00 where a
                // signature has 0x7F.
                (SocketType::Dealer, Zmtp::V1) => vec![b'L'; 254],
                _ => OLD_ID.to_vec(),
            };
            cases.push(Case {
                ours,
                old,
                zmtp,
                we_bind,
                transport: if (i % 2 == 0) == we_bind {
                    Transport::Tcp
                } else {
                    Transport::Ipc
                },
                dribble: i % 3 == 0,
                eager: i % 3 == 1 && zmtp.versioned(),
                old_id,
                config: Config::Null,
                bad_input: Vec::new(),
            });
        }
    }
    // Identities longer than a ZMTP/3.x routing id may be (255): libzmq 4.3.5
    // takes them whole, as a ROUTER's routing id, and a PULL ignores them;
    // so do we.
    for (ours, old) in [
        (SocketType::Router, SocketType::Dealer),
        (SocketType::Pull, SocketType::Push),
    ] {
        cases.push(Case {
            ours,
            old,
            zmtp,
            we_bind: true,
            transport: Transport::Tcp,
            dribble: false,
            eager: false,
            old_id: vec![b'L'; 300],
            config: Config::Null,
            bad_input: Vec::new(),
        });
    }
    for we_bind in [true, false] {
        cases.push(Case {
            ours: SocketType::Push,
            old: SocketType::Pull,
            zmtp,
            we_bind,
            transport: Transport::Tcp,
            dribble: false,
            eager: false,
            old_id: OLD_ID.to_vec(),
            config: Config::Heartbeat,
            bad_input: Vec::new(),
        });
    }
    cases
}

/// The refusals: PLAIN, CURVE and a ZAP domain, each role that configures
/// it, against both protocols.
pub fn refusal_table() -> Vec<Case> {
    let mut cases = Vec::new();
    for zmtp in [Zmtp::V2, Zmtp::V1, Zmtp::V1Versioned] {
        for (config, we_bind) in [
            (Config::PlainServer, true),
            (Config::PlainServer, false),
            (Config::PlainClient, false),
            (Config::CurveServer, true),
            (Config::CurveClient, false),
            (Config::ZapDomain, true),
            (Config::ZapDomain, false),
        ] {
            if zmtp == Zmtp::V1Versioned && config != Config::PlainServer {
                continue;
            }
            cases.push(Case {
                ours: SocketType::Pull,
                old: SocketType::Push,
                zmtp,
                we_bind,
                transport: if we_bind && zmtp == Zmtp::V1 {
                    Transport::Ipc
                } else {
                    Transport::Tcp
                },
                dribble: false,
                eager: false,
                old_id: OLD_ID.to_vec(),
                config,
                bad_input: Vec::new(),
            });
        }
    }
    cases
}

/// The modern side of a case.
enum Modern<'a, R> {
    Libzmq {
        peer: &'a RefCell<Peer>,
        id: String,
        kind: SocketType,
    },
    Ours {
        sock: Socket<R>,
        monitor: Monitor,
    },
}

impl<'a, R> Modern<'a, R> {
    fn end(&mut self) -> Box<dyn End + '_> {
        match self {
            Self::Libzmq { peer, id, kind } => Box::new(Theirs {
                peer,
                id: id.clone(),
                kind: *kind,
            }),
            Self::Ours { sock, .. } => Box::new(Ours(&*sock)),
        }
    }

    fn bind(&mut self, ep: &str) -> String {
        match self {
            Self::Libzmq { peer, id, .. } => peer.borrow_mut().bind(id, ep),
            Self::Ours { sock, .. } => sock.bind(ep).expect("bind").to_string(),
        }
    }

    fn connect(&mut self, ep: &str) {
        match self {
            Self::Libzmq { peer, id, .. } => peer.borrow_mut().connect(id, ep),
            Self::Ours { sock, .. } => sock.connect(ep).expect("connect"),
        }
    }

    /// The first failure report of a connection the modern side closed:
    /// libzmq's monitor shows DISCONNECTED (it signals a protocol error
    /// nowhere else); ours must show what `ours` accepts.
    fn closed_report(&mut self, ours: impl Fn(&str) -> bool) -> String {
        let first = self.first_failure();
        match self {
            Self::Libzmq { .. } => assert!(first.starts_with("EVENT DISCONNECTED"), "{first}"),
            Self::Ours { .. } => assert!(ours(&first), "{first}"),
        }
        first
    }

    /// The first handshake failure or disconnection the monitor reports, as
    /// text: libzmq's event name, or our event's Debug form.
    fn first_failure(&mut self) -> String {
        match self {
            Self::Libzmq { peer, id, .. } => peer.borrow_mut().cmd(&format!(
                "event {id} HANDSHAKE_FAILED_NO_DETAIL,HANDSHAKE_FAILED_PROTOCOL,\
                 HANDSHAKE_FAILED_AUTH,DISCONNECTED {PATIENCE_MS}"
            )),
            Self::Ours { monitor, .. } => {
                let deadline = Instant::now() + PATIENCE;
                let mut seen = Vec::new();
                while let Ok(ev) =
                    monitor.next_blocking(Some(deadline.saturating_duration_since(Instant::now())))
                {
                    if matches!(
                        ev,
                        MonitorEvent::HandshakeFailed { .. } | MonitorEvent::Disconnected { .. }
                    ) {
                        return format!("{ev:?}");
                    }
                    seen.push(ev);
                }
                format!("NOEVENT {seen:?}")
            }
        }
    }

    fn close(self) {
        if let Self::Libzmq { peer, id, .. } = self {
            peer.borrow_mut().close(&id);
        }
    }
}

fn new_modern<'a, E: Env>(
    target: Target,
    peer: &'a RefCell<Peer>,
    n: usize,
    c: &Case,
) -> Modern<'a, E::R> {
    let id = modern_id(c.ours);
    match target {
        Target::Libzmq => {
            let k = keys();
            let mut o = Vec::new();
            if !id.is_empty() {
                o.push(format!("routing_id={}", hex(id)));
            }
            match c.ours {
                SocketType::Sub => o.push("subscribe=74".into()),
                SocketType::Router => o.push("router_mandatory=1".into()),
                _ => {}
            }
            o.extend(match c.config {
                Config::Null => vec![],
                Config::PlainServer => vec!["plain_server=1".into()],
                Config::PlainClient => vec![
                    "plain_username=admin".into(),
                    "plain_password=secret".into(),
                ],
                Config::CurveServer => vec![
                    "curve_server=1".into(),
                    format!("curve_secretkey={}", k.server.secret.to_z85()),
                ],
                Config::CurveClient => vec![
                    format!("curve_serverkey={}", k.server.public.to_z85()),
                    format!("curve_publickey={}", k.client.public.to_z85()),
                    format!("curve_secretkey={}", k.client.secret.to_z85()),
                ],
                Config::ZapDomain => vec!["zap_domain=global".into()],
                Config::MaxMsgSize => vec!["maxmsgsize=1000".into()],
                Config::Heartbeat => vec!["heartbeat_ivl=50".into()],
            });
            let sid = format!("o{n}");
            let mut p = peer.borrow_mut();
            p.socket(&sid, c.ours.as_str(), &o);
            p.ok(&format!("monitor {sid}"));
            drop(p);
            Modern::Libzmq {
                peer,
                id: sid,
                kind: c.ours,
            }
        }
        Target::Ours => {
            let k = keys();
            let mut b = Builder::<E::R>::new(c.ours).linger(Some(Duration::from_millis(100)));
            if !id.is_empty() {
                b = b.routing_id(id.to_vec());
            }
            match c.ours {
                SocketType::Sub => b = b.subscribe(&b"t"[..]),
                SocketType::Router => b = b.router_mandatory(true),
                _ => {}
            }
            b = match c.config {
                Config::Null => b,
                Config::PlainServer => b
                    .plain_server()
                    .authenticator(AllowList::new().allow_user("admin", "secret")),
                Config::PlainClient => b.plain_client("admin", "secret"),
                Config::CurveServer => b
                    .curve_server(k.server.secret.clone())
                    .authenticator(AllowList::new().allow_key(k.client.public)),
                Config::CurveClient => b.curve_client(k.server.public, k.client),
                Config::ZapDomain => b.zap_domain("global"),
                Config::MaxMsgSize => b.maxmsgsize(Some(1000)),
                Config::Heartbeat => b.heartbeat_ivl(Some(Duration::from_millis(50))),
            };
            let sock = build::<E>(b);
            let monitor = sock.monitor();
            Modern::Ours { sock, monitor }
        }
    }
}

/// Connects the two sides as the case says.
fn connect_case<R>(modern: &mut Modern<'_, R>, host: &Rc<OldPeerHost>, c: &Case) -> OldPeer {
    let opts = OldPeerOpts {
        zmtp: c.zmtp,
        kind: c.old.as_str().to_owned(),
        identity: c.old_id.clone(),
        dribble: c.dribble,
        eager: c.eager,
    };
    if c.we_bind {
        let ep = modern.bind(&endpoint(c.transport));
        OldPeer::connect_in(host, &opts, &ep)
    } else {
        let ep = match c.transport {
            Transport::Tcp => "tcp://127.0.0.1:0".to_owned(),
            _ => endpoint(c.transport),
        };
        let old = OldPeer::bind_in(host, &opts, &ep);
        modern.connect(old.endpoint());
        old
    }
}

/// What the old peer must see of the modern side's handshake.
fn expected_handshake(c: &Case) -> Handshake {
    let id = modern_id(c.ours);
    let mut greeting = signature(id.len());
    if c.zmtp.versioned() {
        greeting.extend([0x03, type_byte(c.ours.as_str())]);
    }
    Handshake {
        state: "ready".into(),
        greeting,
        identity: id.to_vec(),
    }
}

/// Bytes `i % 251`, as the old peer's `*N`.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

fn old_recv(old: &mut OldPeer) -> Vec<Vec<u8>> {
    match old.recv(PATIENCE_MS) {
        Received::Msg(m) => m,
        other => panic!("the old peer received nothing: {other:?}{}", old.diag()),
    }
}

fn recv_must(end: &mut dyn End) -> Vec<Vec<u8>> {
    end.recv(PATIENCE)
        .unwrap_or_else(|| panic!("{} received nothing from the old peer", end.name()))
}

fn v(frames: &[&[u8]]) -> Vec<Vec<u8>> {
    frames.iter().map(|f| f.to_vec()).collect()
}

fn refs(frames: &[Vec<u8>]) -> Vec<&[u8]> {
    frames.iter().map(Vec::as_slice).collect()
}

/// Messages both ways for the case's pairing, one frame > 255 bytes among
/// them; envelopes and subscriptions are written out on the old side.
fn exchange(m: &mut dyn End, old: &mut OldPeer, c: &Case) {
    use SocketType::*;
    let big = pattern(300);
    let body = v(&[b"hello", &big]);
    match c.ours {
        Push => {
            // Around both short/long boundaries: 1.0 counts the flags byte
            // (253 is its last short body), 2.0 does not (255).
            let sizes = [253, 254, 255, 256];
            let mut long: Vec<Vec<u8>> = vec![b"two".to_vec(), Vec::new()];
            long.extend(sizes.iter().map(|&n| pattern(n)));
            m.send(&[b"one"]);
            m.send(&refs(&long));
            assert_eq!(old_recv(old), v(&[b"one"]));
            assert_eq!(old_recv(old), long);
        }
        Pull => {
            let mut long: Vec<Vec<u8>> = vec![b"two".to_vec(), Vec::new()];
            long.extend([253, 254, 255, 256].iter().map(|&n| pattern(n)));
            assert!(old.send(&[b"one"]), "closed{}", old.diag());
            assert!(old.send(&refs(&long)), "closed{}", old.diag());
            assert_eq!(recv_must(m), v(&[b"one"]));
            assert_eq!(recv_must(m), long);
        }
        Req => {
            // The old REP or ROUTER sees REQ's empty delimiter on the wire.
            m.send(&refs(&body));
            assert_eq!(old_recv(old), v(&[b"", b"hello", &big]));
            assert!(old.send(&[b"", b"world", &big]));
            assert_eq!(recv_must(m), v(&[b"world", &big]));
        }
        Rep => {
            assert!(old.send(&[b"", b"hello", &big]));
            assert_eq!(recv_must(m), body);
            m.send(&[b"world", &big]);
            assert_eq!(old_recv(old), v(&[b"", b"world", &big]));
        }
        Dealer => {
            let wire = if c.old == Rep {
                v(&[b"", b"hello", &big])
            } else {
                body.clone()
            };
            m.send(&refs(&wire));
            assert_eq!(old_recv(old), wire);
            let back = if c.old == Rep {
                v(&[b"", b"world"])
            } else {
                v(&[b"world"])
            };
            assert!(old.send(&refs(&back)));
            assert_eq!(recv_must(m), back);
        }
        Router => {
            let wire = if c.old == Req {
                v(&[b"", b"hello", &big])
            } else {
                body.clone()
            };
            assert!(old.send(&refs(&wire)));
            let got = recv_must(m);
            // The old peer's identity is its routing id; none (the REQ
            // here) gets one made up, as any anonymous peer does.
            if c.old_id.is_empty() {
                assert!(!got[0].is_empty(), "empty routing id");
            } else {
                assert_eq!(got[0], c.old_id, "routing id");
            }
            assert_eq!(got[1..], wire[..]);
            let mut reply = vec![got[0].clone()];
            if c.old == Req {
                reply.push(Vec::new());
            }
            reply.push(b"world".to_vec());
            m.send(&refs(&reply));
            assert_eq!(old_recv(old), reply[1..].to_vec());
        }
        Pub => {
            // A 2.0 subscriber sends its subscription as a message; a 1.0
            // one sends none and the publisher subscribes it to everything,
            // unless its greeting was versioned.
            if c.zmtp.versioned() {
                assert!(old.send(&[b"\x01t"]));
            }
            let deadline = Instant::now() + PATIENCE;
            loop {
                m.send(&[b"t-1"]);
                match old.recv(20) {
                    Received::Msg(got) => {
                        assert_eq!(got, v(&[b"t-1"]));
                        break;
                    }
                    Received::Timeout => {}
                    Received::Closed => panic!("closed{}", old.diag()),
                }
                assert!(Instant::now() < deadline, "the old subscriber got nothing");
            }
            m.send(&[b"x-other"]);
            m.send(&[b"t-2", &big]);
            let mut saw_other = false;
            loop {
                let got = old_recv(old);
                if got == v(&[b"t-1"]) {
                    continue;
                }
                if got == v(&[b"x-other"]) {
                    saw_other = true;
                    continue;
                }
                assert_eq!(got, v(&[b"t-2", &big]));
                break;
            }
            assert_eq!(
                saw_other,
                c.zmtp == Zmtp::V1,
                "x-other reaches a 1.0 subscriber only (its catch-all)"
            );
        }
        Sub => {
            // Both protocols carry the subscription as a message, 0x01+topic.
            // A binding libzmq SUB subscribes a new peer only when the
            // application next calls into it: receive while waiting.
            let deadline = Instant::now() + PATIENCE;
            loop {
                assert_eq!(m.recv(Duration::from_millis(10)), None);
                match old.recv(10) {
                    Received::Msg(got) => {
                        assert_eq!(got, v(&[b"\x01t"]), "the subscription");
                        break;
                    }
                    Received::Timeout => {}
                    Received::Closed => panic!("closed{}", old.diag()),
                }
                assert!(
                    Instant::now() < deadline,
                    "no subscription reached the old PUB"
                );
            }
            let deadline = Instant::now() + PATIENCE;
            loop {
                assert!(old.send(&[b"t-1"]));
                if let Some(got) = m.recv(Duration::from_millis(20)) {
                    assert_eq!(got, v(&[b"t-1"]));
                    break;
                }
                assert!(Instant::now() < deadline, "{} got nothing", m.name());
            }
            assert!(old.send(&[b"x-other"]));
            assert!(old.send(&[b"t-2", &big]));
            loop {
                let got = recv_must(m);
                assert_ne!(got, v(&[b"x-other"]), "the SUB filter let x-other in");
                if got != v(&[b"t-1"]) {
                    assert_eq!(got, v(&[b"t-2", &big]));
                    break;
                }
            }
        }
        XPub => {
            // The XPUB application hears a 2.0 subscription as it came, and
            // the catch-all it makes up for a 1.0 peer as a bare 0x01.
            let expect: &[u8] = if c.zmtp.versioned() {
                assert!(old.send(&[b"\x01t"]));
                b"\x01t"
            } else {
                b"\x01"
            };
            assert_eq!(recv_must(m), v(&[expect]));
            m.send(&[b"t-data", &big]);
            assert_eq!(old_recv(old), v(&[b"t-data", &big]));
        }
        XSub => {
            let deadline = Instant::now() + PATIENCE;
            loop {
                m.send(&[b"\x01t"]);
                match old.recv(20) {
                    Received::Msg(got) => {
                        assert_eq!(got, v(&[b"\x01t"]), "the subscription");
                        break;
                    }
                    Received::Timeout => {}
                    Received::Closed => panic!("closed{}", old.diag()),
                }
                assert!(
                    Instant::now() < deadline,
                    "no subscription reached the old XPUB"
                );
            }
            assert!(old.send(&[b"t-data", &big]));
            assert_eq!(recv_must(m), v(&[b"t-data", &big]));
        }
        Pair => {
            m.send(&refs(&body));
            assert_eq!(old_recv(old), body);
            assert!(old.send(&[b"world", &big]));
            assert_eq!(recv_must(m), v(&[b"world", &big]));
        }
        Stream => panic!("STREAM speaks no ZMTP, so no old-peer case has it"),
    }
}

/// One accepted case: the greeting and identity the old peer saw, messages
/// both ways, and nothing on the wire an old peer would reject.
fn accepted_case<E: Env>(
    target: Target,
    peer: &RefCell<Peer>,
    host: &Rc<OldPeerHost>,
    n: usize,
    c: &Case,
) {
    let mut modern = new_modern::<E>(target, peer, n, c);
    let mut old = connect_case(&mut modern, host, c);
    let hs = old.handshake(PATIENCE_MS);
    assert_eq!(hs, expected_handshake(c), "handshake{}", old.diag());
    exchange(&mut *modern.end(), &mut old, c);
    if c.config == Config::Heartbeat {
        // Six heartbeat intervals: a PING would have gone by now, as a
        // command (an error below) or as a stray message.
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(old.recv(50), Received::Timeout, "a stray message");
    }
    assert_eq!(old.errors(), Vec::<String>::new(), "sent to an old peer");
    modern.close();
}

/// One refused case: the modern side closes the connection, nothing
/// passes, it does not reconnect, and its monitor says why. libzmq's monitor
/// shows DISCONNECTED and no HANDSHAKE_FAILED_* (the refusal is a protocol
/// error it signals nowhere); ours must show HandshakeFailed.
fn refused_case<E: Env>(
    target: Target,
    peer: &RefCell<Peer>,
    host: &Rc<OldPeerHost>,
    n: usize,
    c: &Case,
) -> String {
    let mut modern = new_modern::<E>(target, peer, n, c);
    let mut old = connect_case(&mut modern, host, c);
    assert!(
        old.closed_within(PATIENCE_MS),
        "an old peer was not refused{}",
        old.diag()
    );
    let hs = old.handshake(0);
    if c.zmtp.versioned() {
        // Refused on its revision byte: our type and identity never come.
        assert_ne!(hs.state, "ready", "{hs:?}");
    }
    let peer = match c.zmtp {
        Zmtp::V1 | Zmtp::V1Versioned => "Zmtp1",
        Zmtp::V2 => "Zmtp2",
    };
    let first = modern.closed_report(|f| {
        f.starts_with("HandshakeFailed")
            && f.contains(&format!("DowngradeRefused {{ peer: {peer} }}"))
    });
    old.send(&[b"sneak"]);
    assert!(
        modern.end().recv(Duration::from_millis(100)).is_none(),
        "a message passed a refused connection"
    );
    no_reconnect(c, &mut old, "the refusal");
    modern.close();
    first
}

/// MAXMSGSIZE on old framing: a frame of exactly the limit passes, a
/// header announcing one byte more closes the connection at once (no
/// reconnect), before its body is there.
fn maxmsgsize_case<E: Env>(
    target: Target,
    peer: &RefCell<Peer>,
    host: &Rc<OldPeerHost>,
    n: usize,
    c: &Case,
) -> String {
    let mut modern = new_modern::<E>(target, peer, n, c);
    let mut old = connect_case(&mut modern, host, c);
    assert_eq!(old.handshake(PATIENCE_MS).state, "ready");
    assert!(old.send_text("*1000"));
    assert_eq!(recv_must(&mut *modern.end()), vec![pattern(1000)]);
    let mut header = if c.zmtp.v1_framing() {
        [&[0xFF][..], &1002u64.to_be_bytes(), &[0x00]].concat()
    } else {
        [&[0x02][..], &1001u64.to_be_bytes()].concat()
    };
    header.extend([b'x'; 10]);
    old.send_raw(&header);
    assert!(
        old.closed_within(PATIENCE_MS),
        "an oversized frame was accepted{}",
        old.diag()
    );
    let first =
        modern.closed_report(|f| f.starts_with("Disconnected") && f.contains("MessageTooLarge"));
    no_reconnect(c, &mut old, "the oversized frame");
    modern.close();
    first
}

/// Malformed old framing: the modern side closes the connection and
/// allocates nothing for a declared length (libzmq: EPROTO for a zero 1.0
/// length, ENOMEM or EMSGSIZE for the huge ones); ours keeps waiting for a
/// body up to isize::MAX, as its manual says.
fn malformed_case<E: Env>(
    target: Target,
    peer: &RefCell<Peer>,
    host: &Rc<OldPeerHost>,
    n: usize,
    c: &Case,
) -> String {
    let mut modern = new_modern::<E>(target, peer, n, c);
    let mut old = connect_case(&mut modern, host, c);
    assert_eq!(old.handshake(PATIENCE_MS).state, "ready");
    old.send_raw(&c.bad_input);
    // Both huge forms put the 8-byte length at offset 1.
    let declared = c
        .bad_input
        .get(1..9)
        .map_or(0, |b| u64::from_be_bytes(b.try_into().expect("8 bytes")));
    if target == Target::Ours && declared > 1 && declared <= i64::MAX as u64 {
        // A documented divergence (zmtp-core's manual, Limits): without
        // MAXMSGSIZE we take frames up to isize::MAX and reserve only as
        // bytes arrive, so the connection waits for the body; libzmq's
        // allocation fails and it closes at once.
        assert!(
            !old.closed_within(300),
            "closed: the documented limit changed{}",
            old.diag()
        );
        modern.close();
        return "kept open (documented)".into();
    }
    assert!(
        old.closed_within(PATIENCE_MS),
        "malformed input was accepted{}",
        old.diag()
    );
    let first = modern.closed_report(|f| f.starts_with("Disconnected"));
    modern.close();
    first
}

/// A connecting modern side does not reconnect after a protocol error
/// (libzmq's reconnect interval is 100 ms; three of them pass here).
fn no_reconnect(c: &Case, old: &mut OldPeer, after: &str) {
    if !c.we_bind {
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(old.connections(), 1, "reconnected after {after}");
    }
}

/// What a case runner returns: a note for the log (the monitor's report).
type Runner = fn(Target, &RefCell<Peer>, &Rc<OldPeerHost>, usize, &Case) -> String;

fn describe(c: &Case) -> String {
    let bad = if c.bad_input.is_empty() {
        String::new()
    } else {
        format!(" bad={}", hex(&c.bad_input[..c.bad_input.len().min(10)]))
    };
    let what = format!(
        "{:?} ours={:?} old={:?} old-id={}B {} {:?}{} {:?}",
        c.zmtp,
        c.ours,
        c.old,
        c.old_id.len(),
        if c.we_bind { "we-bind" } else { "we-connect" },
        c.transport,
        match (c.dribble, c.eager) {
            (true, _) => " dribble",
            (_, true) => " eager",
            _ => "",
        },
        c.config,
    );
    what + &bad
}

/// Runs `cases` against libzmq (stopping at the first failure: the test's
/// own expectations are wrong) and then against ours (every case, then one
/// failure naming all that failed).
fn run_both(cases: &[Case], run: Runner) {
    let peer = RefCell::new(Peer::start());
    let host = OldPeerHost::start();
    for (n, c) in cases.iter().enumerate() {
        eprintln!("libzmq: {}", describe(c));
        let note = run(Target::Libzmq, &peer, &host, n, c);
        if !note.is_empty() {
            eprintln!("  libzmq monitor: {note}");
        }
    }
    let mut failed = Vec::new();
    for (n, c) in cases.iter().enumerate() {
        eprintln!("ours: {}", describe(c));
        match catch_unwind(AssertUnwindSafe(|| run(Target::Ours, &peer, &host, n, c))) {
            Ok(note) if !note.is_empty() => eprintln!("  our monitor: {note}"),
            Ok(_) => {}
            Err(_) => failed.push(describe(c)),
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} cases failed against ours (libzmq passed them all):\n  {}",
        failed.len(),
        cases.len(),
        failed.join("\n  ")
    );
}

/// Every pairing with a ZMTP/2.0 peer.
pub fn old_zmtp2<E: Env>() {
    run_both(&table(Zmtp::V2), |t, p, h, n, c| {
        accepted_case::<E>(t, p, h, n, c);
        String::new()
    });
}

/// Every pairing with a ZMTP/1.0 peer, and a few with a versioned 1.0.
pub fn old_zmtp1<E: Env>() {
    let mut cases = table(Zmtp::V1);
    cases.extend(table(Zmtp::V1Versioned));
    run_both(&cases, |t, p, h, n, c| {
        accepted_case::<E>(t, p, h, n, c);
        String::new()
    });
}

/// PLAIN, CURVE or a ZAP domain on the modern side refuses old peers.
pub fn old_refused<E: Env>() {
    run_both(&refusal_table(), refused_case::<E>);
}

/// MAXMSGSIZE against both old framings, the modern side binding and
/// connecting.
pub fn old_maxmsgsize<E: Env>() {
    let mut cases = Vec::new();
    for zmtp in [Zmtp::V2, Zmtp::V1] {
        for we_bind in [true, false] {
            cases.push(Case {
                ours: SocketType::Pull,
                old: SocketType::Push,
                zmtp,
                we_bind,
                transport: Transport::Tcp,
                dribble: false,
                eager: false,
                old_id: Vec::new(),
                config: Config::MaxMsgSize,
                bad_input: Vec::new(),
            });
        }
    }
    run_both(&cases, maxmsgsize_case::<E>);
}

/// Malformed old framing: a zero ZMTP/1.0 length, and lengths of 2^62, 2^63
/// and 2^64 - 1 with no MAXMSGSIZE.
pub fn old_malformed<E: Env>() {
    let huge = |zmtp: Zmtp, len: u64| -> Vec<u8> {
        let mut b = if zmtp == Zmtp::V1 {
            [&[0xFF][..], &len.to_be_bytes(), &[0x00]].concat()
        } else {
            [&[0x02][..], &len.to_be_bytes()].concat()
        };
        b.extend(b"xx");
        b
    };
    let inputs = [
        (Zmtp::V1, vec![0x00, 0x00]),
        (Zmtp::V1, huge(Zmtp::V1, 1 << 62)),
        (Zmtp::V2, huge(Zmtp::V2, 1 << 62)),
        (Zmtp::V2, huge(Zmtp::V2, 1 << 63)),
        (Zmtp::V1, huge(Zmtp::V1, u64::MAX)),
        (Zmtp::V2, huge(Zmtp::V2, u64::MAX)),
    ];
    let cases: Vec<Case> = inputs
        .into_iter()
        .map(|(zmtp, bad_input)| Case {
            ours: SocketType::Pull,
            old: SocketType::Push,
            zmtp,
            we_bind: true,
            transport: Transport::Tcp,
            dribble: false,
            eager: false,
            old_id: Vec::new(),
            config: Config::Null,
            bad_input,
        })
        .collect();
    run_both(&cases, malformed_case::<E>);
}
