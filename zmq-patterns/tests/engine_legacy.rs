//! An engine serving ZMTP/2.0 and 1.0 peers, scripted here byte by byte: the
//! routing id a ROUTER takes from an old peer's identity, a publisher's
//! catch-all for a 1.0 subscriber, a subscriber's subscription messages to a 2.0
//! publisher, reconnects, HWM, and the refusal (with its monitor events) on a
//! secured socket. No sleeps, no sockets.

// Virtual time starts from one real instant and never reads the clock again.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use bytes::BytesMut;
use zmq_patterns::engine::{Action, ConnId, Engine, EngineConfig, MonitorEvent};
use zmq_patterns::{RecvError, SendError};
use zmtp_core::wire::greeting::Greeting;
use zmtp_core::wire::v1_frame::V1Header;
use zmtp_core::{Config, ConnectionError, MechanismConfig, Msg, Protocol, SocketType};

/// One engine and the one stream an old peer holds to it.
struct Rig {
    engine: Engine,
    conn: ConnId,
    now: Instant,
    rbuf: BytesMut,
    /// Bytes the engine wrote to the peer so far.
    wire: Vec<u8>,
    monitor: Vec<MonitorEvent>,
    connects: usize,
    closed: bool,
}

impl Rig {
    /// The engine binds and the old peer connects to it.
    fn accepting(cfg: EngineConfig) -> Self {
        let now = Instant::now();
        let mut engine = Engine::new(now, cfg);
        engine.set_monitor(true);
        engine.bind("tcp://127.0.0.1:5555").unwrap();
        let Some(Action::Listen { id, endpoint }) = engine.poll_action() else {
            panic!("no listen action");
        };
        engine.handle_listening(id, endpoint);
        let conn = engine.handle_accepted(now, id, "127.0.0.1".into());
        Self::with(engine, conn, now)
    }

    /// The engine connects to the old peer.
    fn connecting(cfg: EngineConfig) -> Self {
        let now = Instant::now();
        let mut engine = Engine::new(now, cfg);
        engine.set_monitor(true);
        engine.connect("tcp://127.0.0.1:5555").unwrap();
        let Some(Action::Connect { id, .. }) = engine.poll_action() else {
            panic!("no connect action");
        };
        let conn = engine
            .handle_connected(now, id, "127.0.0.1".into())
            .unwrap();
        let mut rig = Self::with(engine, conn, now);
        rig.connects = 1;
        rig
    }

    fn with(engine: Engine, conn: ConnId, now: Instant) -> Self {
        let mut rig = Self {
            engine,
            conn,
            now,
            rbuf: BytesMut::new(),
            wire: Vec::new(),
            monitor: Vec::new(),
            connects: 0,
            closed: false,
        };
        rig.pump();
        rig
    }

    /// Runs actions, collects output and monitor events.
    fn pump(&mut self) {
        while let Some(action) = self.engine.poll_action() {
            match action {
                Action::Close(c) if c == self.conn => self.closed = true,
                Action::Connect { id, .. } => {
                    // A reconnect: the old peer accepts again.
                    self.connects += 1;
                    self.conn = self
                        .engine
                        .handle_connected(self.now, id, "127.0.0.1".into())
                        .unwrap();
                    self.rbuf.clear();
                    self.wire.clear();
                    self.closed = false;
                }
                _ => {}
            }
        }
        while let Some(chunk) = self.engine.poll_transmit(self.conn) {
            self.wire.extend_from_slice(&chunk);
        }
        while let Some(ev) = self.engine.poll_monitor() {
            self.monitor.push(ev);
        }
    }

    fn input(&mut self, bytes: &[u8]) {
        self.rbuf.extend_from_slice(bytes);
        let mut rbuf = std::mem::take(&mut self.rbuf);
        self.engine.handle_input(self.now, self.conn, &mut rbuf);
        self.rbuf = rbuf;
        self.pump();
    }

    fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        while let Some(at) = self.engine.poll_timeout().filter(|t| *t <= end) {
            self.now = at;
            self.engine.handle_timeout(at);
            self.pump();
        }
        self.now = end;
    }

    fn take_wire(&mut self) -> Vec<u8> {
        self.pump();
        std::mem::take(&mut self.wire)
    }

    fn handshake_succeeded(&self) -> bool {
        self.monitor
            .iter()
            .any(|e| matches!(e, MonitorEvent::HandshakeSucceeded { .. }))
    }
}

fn v2_greeting(ty: SocketType) -> Vec<u8> {
    let mut g = Greeting::signature(0).to_vec();
    g.extend_from_slice(&[1, ty.number()]);
    g
}

fn v2(more: bool, body: &[u8]) -> Vec<u8> {
    assert!(body.len() < 256);
    let mut f = vec![u8::from(more), body.len() as u8];
    f.extend_from_slice(body);
    f
}

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

/// What our side sends a ZMTP/2.0 peer before any message: signature, major,
/// socket type, identity frame.
fn v2_preamble(ty: SocketType, id: &[u8]) -> Vec<u8> {
    let mut p = Greeting::signature(id.len() as u8).to_vec();
    p.extend_from_slice(&[3, ty.number()]);
    p.extend(v2(false, id));
    p
}

#[test]
fn router_takes_routing_ids_from_old_peers_identities() {
    // ZMTP/2.0 DEALER named "old-dealer".
    let mut r = Rig::accepting(EngineConfig::new(Config::new(SocketType::Router)));
    r.input(
        &[
            v2_greeting(SocketType::Dealer),
            v2(false, b"old-dealer"),
            v2(false, b"hi"),
        ]
        .concat(),
    );
    assert_eq!(
        r.engine.recv().unwrap(),
        Msg::from_iter(["old-dealer", "hi"])
    );
    assert!(r.handshake_succeeded());
    r.take_wire();
    r.engine
        .send(Msg::from_iter(["old-dealer", "reply"]))
        .unwrap();
    assert_eq!(r.take_wire(), v2(false, b"reply"));

    // Unversioned ZMTP/1.0 (libzmq 2.x) REQ named "v1": envelope and all.
    let mut r = Rig::accepting(EngineConfig::new(Config::new(SocketType::Router)));
    r.input(&[v1(false, b"v1"), v1(true, b""), v1(false, b"ask")].concat());
    assert_eq!(r.engine.recv().unwrap(), Msg::from_iter(["v1", "", "ask"]));
    r.take_wire();
    r.engine.send(Msg::from_iter(["v1", "", "answer"])).unwrap();
    assert_eq!(
        r.take_wire(),
        [v1(true, b""), v1(false, b"answer")].concat()
    );

    // An old peer without an identity gets a generated routing id, as libzmq
    // gives it one.
    let mut r = Rig::accepting(EngineConfig::new(Config::new(SocketType::Router)));
    r.input(
        &[
            v2_greeting(SocketType::Dealer),
            v2(false, b""),
            v2(false, b"x"),
        ]
        .concat(),
    );
    let msg = r.engine.recv().unwrap();
    assert!(!msg.frames()[0].is_empty());
    assert_eq!(&msg.frames()[1][..], b"x");
}

#[test]
fn publisher_sends_everything_to_a_v1_subscriber() {
    for ty in [SocketType::Pub, SocketType::XPub] {
        let mut r = Rig::accepting(EngineConfig::new(Config::new(ty)));
        r.input(&v1(false, b""));
        assert!(r.handshake_succeeded());
        if ty == SocketType::XPub {
            // The injected catch-all reaches XPUB's application as libzmq's does.
            assert_eq!(r.engine.recv().unwrap(), Msg::from(&b"\x01"[..]));
        }
        r.take_wire();
        r.engine.send(Msg::from("tick")).unwrap();
        assert_eq!(r.take_wire(), v1(false, b"tick"), "{ty}");
    }
    // A ZMTP/2.0 subscriber gets only what it subscribed to.
    let mut r = Rig::accepting(EngineConfig::new(Config::new(SocketType::Pub)));
    r.input(
        &[
            v2_greeting(SocketType::Sub),
            v2(false, b""),
            v2(false, b"\x01a"),
        ]
        .concat(),
    );
    r.take_wire();
    r.engine.send(Msg::from("b-skip")).unwrap();
    r.engine.send(Msg::from("a-keep")).unwrap();
    assert_eq!(r.take_wire(), v2(false, b"a-keep"));
}

#[test]
fn subscriber_sends_subscription_messages_to_a_v2_publisher_after_each_reconnect() {
    let mut r = Rig::connecting(EngineConfig::new(Config::new(SocketType::Sub)));
    r.engine.subscribe(b"news");
    r.input(&[v2_greeting(SocketType::Pub), v2(false, b"")].concat());
    let mut expected = v2_preamble(SocketType::Sub, b"");
    expected.extend(v2(false, b"\x01news"));
    assert_eq!(r.take_wire(), expected);
    r.input(&v2(false, b"news: up"));
    r.input(&v2(false, b"sport"));
    assert_eq!(r.engine.recv().unwrap(), Msg::from("news: up"));
    assert_eq!(r.engine.recv(), Err(RecvError::WouldBlock));
    r.engine.unsubscribe(b"news");
    assert_eq!(r.take_wire(), v2(false, b"\x00news"));

    // The publisher goes away: reconnect as with any peer, and subscribe again.
    r.engine.subscribe(b"x");
    r.take_wire();
    r.engine.handle_eof(r.now, r.conn);
    r.pump();
    assert!(r.closed);
    r.advance(Duration::from_secs(1));
    assert_eq!(r.connects, 2);
    r.input(&[v2_greeting(SocketType::Pub), v2(false, b"")].concat());
    let mut expected = v2_preamble(SocketType::Sub, b"");
    expected.extend(v2(false, b"\x01x"));
    assert_eq!(r.take_wire(), expected);
}

#[test]
fn send_hwm_holds_for_an_old_peer_as_for_a_new_one() {
    let mut cfg = EngineConfig::new(Config::new(SocketType::Push));
    cfg.options.sndhwm = 3;
    let mut r = Rig::connecting(cfg);
    // Not handshaken yet: the pipe takes SNDHWM messages, then refuses.
    for i in 0..3 {
        r.engine
            .send(Msg::from(format!("m{i}").into_bytes()))
            .unwrap();
    }
    assert!(matches!(
        r.engine.send(Msg::from("over")),
        Err(SendError::WouldBlock(_))
    ));
    r.input(&[v2_greeting(SocketType::Pull), v2(false, b"")].concat());
    let wire = r.take_wire();
    let mut expected = v2_preamble(SocketType::Push, b"");
    for i in 0..3 {
        expected.extend(v2(false, format!("m{i}").as_bytes()));
    }
    assert_eq!(wire, expected);
    r.engine.send(Msg::from("later")).unwrap();
}

#[test]
fn secured_engine_refuses_old_peers_with_a_protocol_failure_and_no_reconnect() {
    let plain = Config::new(SocketType::Pull)
        .with_mechanism(MechanismConfig::PlainServer)
        .unwrap();
    for (peer, protocol) in [
        (v2_greeting(SocketType::Push), Protocol::Zmtp2),
        (v1(false, b"id"), Protocol::Zmtp1),
    ] {
        let mut r = Rig::accepting(EngineConfig::new(plain.clone()));
        r.input(&peer);
        assert!(r.closed, "{protocol}");
        let refused = ConnectionError::DowngradeRefused { peer: protocol };
        assert!(r.monitor.iter().any(|e| matches!(
            e,
            MonitorEvent::HandshakeFailed { error, .. } if *error == refused
        )));
        assert!(r.monitor.iter().any(|e| matches!(
            e,
            MonitorEvent::Disconnected { error, .. } if *error == refused
        )));
        assert!(!r.handshake_succeeded());
    }
    // A connecting socket gives up on the endpoint, as libzmq does after a
    // protocol error.
    let zap = Config::new(SocketType::Push).with_zap_domain("global");
    let mut r = Rig::connecting(EngineConfig::new(zap));
    r.input(&v2_greeting(SocketType::Pull));
    assert!(r.closed);
    r.advance(Duration::from_secs(5));
    assert_eq!(r.connects, 1, "no reconnect after a refused downgrade");
    assert!(!r
        .monitor
        .iter()
        .any(|e| matches!(e, MonitorEvent::ConnectRetried { .. })));
}
