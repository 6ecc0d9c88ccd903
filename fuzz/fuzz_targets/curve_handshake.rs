//! A real CURVE client (DEALER) and a real CURVE server (ROUTER), fixed keys and
//! deterministic randomness, with the fuzzer in the middle of the wire: it
//! delivers (whole or in pieces), drops, duplicates, truncates, reorders or
//! flips bits in the greetings and frames between them, answers authentication,
//! advances time, runs timers and sends messages.
//!
//! Invariants, beyond "never panics":
//! - every delivered message frame is one that the other side sent, in order
//!   (the delivered frames are a subsequence of the sent frames): a tampered
//!   MESSAGE or handshake command never yields a corrupted payload;
//! - on a direction nobody tampered with, delivered messages are exactly the sent
//!   ones, in order;
//! - the server's authentication request always carries the client's real key,
//!   and each side's view of the peer after the handshake is the real one;
//! - errors are sticky, and an active side with HEARTBEAT_IVL set and a ZMTP/3.1
//!   peer always has a timer armed (also when the auth reply is what completed
//!   the handshake);
//! - if nothing was tampered with and neither side failed, the handshake
//!   completes and every message arrives once everything is delivered.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use zmtp_core::{
    ApiMisuse, AuthId, AuthReply, Connection, ConnectionError, Credentials, Event, MechanismName,
    Metadata, Msg, SendError, SocketType,
};

use common::{
    client_config, client_keys, server_config, server_keys, split_units, Mech, ServerOpts,
};

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    ToServer,
    ToClient,
}

#[derive(Arbitrary, Debug)]
enum Frame {
    Small(Vec<u8>),
    Big { len: u16, fill: u8 },
}

#[derive(Arbitrary, Debug)]
enum Op {
    Deliver {
        dir: Dir,
        max: u16,
    },
    DeliverAll {
        dir: Dir,
    },
    Drop {
        dir: Dir,
    },
    Duplicate {
        dir: Dir,
    },
    Truncate {
        dir: Dir,
        keep: u16,
    },
    Swap {
        dir: Dir,
    },
    Flip {
        dir: Dir,
        index: u16,
        bit: u8,
    },
    Allow,
    Deny {
        status: u8,
    },
    Advance {
        ms: u16,
    },
    Timeout {
        server: bool,
    },
    Send {
        from_server: bool,
        frames: Vec<Frame>,
    },
    Eof {
        server: bool,
    },
    Pump,
}

#[derive(Arbitrary, Debug)]
struct Input {
    server_heartbeat: bool,
    ops: Vec<Op>,
}

const MAX_OPS: usize = 256;

/// One direction of the wire.
#[derive(Default)]
struct Link {
    /// Output not yet split into units.
    pending: Vec<u8>,
    /// Greeting bytes already split into units.
    greeting_sent: usize,
    /// In flight: the greeting, then one unit per frame (as the fuzzer left it).
    units: VecDeque<Vec<u8>>,
    /// Whether anything but in-order delivery ever happened on this link.
    tampered: bool,
    /// Messages the sender queued successfully.
    sent: Vec<Msg>,
    /// The same, flattened to (frame, more).
    sent_frames: Vec<(Bytes, bool)>,
}

struct Side {
    conn: Connection,
    is_server: bool,
    /// Whether HEARTBEAT_IVL is set, so an active connection always has a timer.
    heartbeat: bool,
    rx: BytesMut,
    error: Option<ConnectionError>,
    handshakes: u32,
    pending_auth: Option<AuthId>,
    delivered: Vec<Msg>,
    /// Next index into the sender's `sent_frames` for the subsequence check.
    match_pos: usize,
}

impl Side {
    fn new(conn: Connection, is_server: bool, heartbeat: bool) -> Self {
        Self {
            conn,
            is_server,
            heartbeat,
            rx: BytesMut::new(),
            error: None,
            handshakes: 0,
            pending_auth: None,
            delivered: Vec::new(),
            match_pos: 0,
        }
    }

    /// After a `handle_*` call.
    fn after_handle(&mut self, r: Result<(), ConnectionError>, incoming: &Link) {
        match r {
            Ok(()) => {
                assert!(
                    self.error.is_none(),
                    "handle_* succeeded after {:?}",
                    self.error
                );
                assert!(self.conn.error().is_none());
            }
            Err(e) => {
                if let Some(first) = &self.error {
                    assert_eq!(first, &e, "error is not sticky");
                }
                assert_eq!(self.conn.error(), Some(&e));
                assert!(self.conn.poll_timeout().is_none());
                self.error = Some(e);
            }
        }
        self.drain_events(incoming);
    }

    /// After an API call that may fail the connection without returning an error.
    fn after_api(&mut self, incoming: &Link) {
        if let Some(e) = self.conn.error() {
            if let Some(first) = &self.error {
                assert_eq!(first, e, "error is not sticky");
            }
            self.error = Some(e.clone());
        }
        self.drain_events(incoming);
    }

    fn drain_events(&mut self, incoming: &Link) {
        while let Some(ev) = self.conn.poll_event() {
            match ev {
                Event::HandshakeSucceeded => {
                    self.handshakes += 1;
                    assert_eq!(self.handshakes, 1, "second HandshakeSucceeded");
                    self.check_peer();
                }
                Event::AuthRequest(req) => {
                    assert!(self.is_server, "client asked for authentication");
                    assert!(self.pending_auth.is_none(), "two pending auth requests");
                    assert_eq!(req.mechanism, MechanismName::Curve);
                    match &req.credentials {
                        Credentials::Curve { public_key } => {
                            assert_eq!(public_key, &client_keys().public, "forged client key")
                        }
                        other => panic!("CURVE auth request with {other:?}"),
                    }
                    self.pending_auth = Some(req.id);
                }
                Event::Message(m) => self.check_message(m, incoming),
                other => panic!("unexpected event {other:?}"),
            }
        }
        // PING is ZMTP 3.1, and we send none to a 3.0 peer. A flipped bit in
        // the greeting can make a 3.1 peer read as 3.0 (nothing in CURVE
        // covers the greeting), which is how the fuzzer first broke this
        // check (`seed_regress_greeting_read_as_3_0.bin`).
        let peer_v31 = self.conn.peer().is_some_and(|p| p.is_v31());
        if self.heartbeat && self.conn.is_active() && peer_v31 {
            assert!(self.conn.poll_timeout().is_some(), "heartbeats not armed");
        }
    }

    fn check_peer(&self) {
        let peer = self.conn.peer().expect("peer info after handshake");
        assert_eq!(peer.mechanism, MechanismName::Curve);
        if self.is_server {
            assert_eq!(peer.curve_key, Some(client_keys().public));
            assert_eq!(peer.socket_type, Some(SocketType::Dealer));
            assert_eq!(&peer.routing_id[..], b"client-1");
            assert_eq!(&peer.user_id[..], b"user");
        } else {
            assert_eq!(peer.curve_key, Some(server_keys().public));
            assert_eq!(peer.socket_type, Some(SocketType::Router));
            assert_eq!(&peer.routing_id[..], b"srv");
            assert_eq!(
                peer.metadata.get("X-Fuzz").map(|v| &v[..]),
                Some(&b"server"[..])
            );
        }
    }

    fn check_message(&mut self, m: Msg, incoming: &Link) {
        assert!(!m.is_empty());
        assert_eq!(self.handshakes, 1, "message before the handshake");
        let last = m.len() - 1;
        for (i, frame) in m.frames().iter().enumerate() {
            let want = (frame.clone(), i < last);
            while self.match_pos < incoming.sent_frames.len()
                && incoming.sent_frames[self.match_pos] != want
            {
                self.match_pos += 1;
            }
            assert!(
                self.match_pos < incoming.sent_frames.len(),
                "delivered a frame that was never sent (or out of order): {want:?}"
            );
            self.match_pos += 1;
        }
        self.delivered.push(m);
        if !incoming.tampered {
            let n = self.delivered.len();
            assert!(n <= incoming.sent.len());
            assert_eq!(self.delivered[n - 1], incoming.sent[n - 1]);
        }
    }
}

struct World {
    client: Side,
    server: Side,
    to_server: Link,
    to_client: Link,
    now: Instant,
}

impl World {
    fn collect(&mut self) {
        for (side, link) in [
            (&mut self.client, &mut self.to_server),
            (&mut self.server, &mut self.to_client),
        ] {
            while let Some(c) = side.conn.poll_transmit() {
                link.pending.extend_from_slice(&c);
            }
            let mut units = Vec::new();
            split_units(&mut link.pending, &mut link.greeting_sent, &mut units);
            link.units.extend(units);
        }
    }

    fn parts(&mut self, dir: Dir) -> (&mut Side, &mut Link) {
        match dir {
            Dir::ToServer => (&mut self.server, &mut self.to_server),
            Dir::ToClient => (&mut self.client, &mut self.to_client),
        }
    }

    fn deliver(&mut self, dir: Dir, max: usize) -> bool {
        let now = self.now;
        let (side, link) = self.parts(dir);
        let Some(front) = link.units.front_mut() else {
            return false;
        };
        let bytes = if max == 0 || max >= front.len() {
            link.units.pop_front().unwrap_or_default()
        } else {
            front.drain(..max).collect()
        };
        side.rx.extend_from_slice(&bytes);
        let r = side.conn.handle_input(now, &mut side.rx);
        side.after_handle(r, link);
        true
    }

    fn tamper(&mut self, dir: Dir, f: impl FnOnce(&mut VecDeque<Vec<u8>>) -> bool) {
        let (_, link) = self.parts(dir);
        if f(&mut link.units) {
            link.tampered = true;
        }
    }

    fn pump(&mut self) {
        for _ in 0..64 {
            self.collect();
            if self.to_server.units.is_empty() && self.to_client.units.is_empty() {
                return;
            }
            while self.deliver(Dir::ToServer, 0) {}
            while self.deliver(Dir::ToClient, 0) {}
        }
        panic!("the two sides keep talking forever");
    }

    fn auth(&mut self, reply: AuthReply) {
        let Some(id) = self.server.pending_auth.take() else {
            return;
        };
        let status = match &reply {
            AuthReply::Deny { status, .. } => Some(*status),
            AuthReply::Allow { .. } => None,
        };
        let was_ok = self.server.error.is_none();
        let r = self.server.conn.auth_reply(id, reply);
        if was_ok {
            r.expect("auth_reply to the pending request");
            if let Some(status) = status {
                assert!(matches!(
                    self.server.conn.error(),
                    Some(ConnectionError::AuthDenied { status: s, .. }) if *s == status
                ));
            }
        }
        assert_eq!(
            self.server.conn.auth_reply(id, AuthReply::allow()),
            Err(ApiMisuse::UnknownAuthRequest(id.value()))
        );
        self.server.after_api(&self.to_server);
    }

    fn send(&mut self, from_server: bool, frames: Vec<Frame>) {
        let msg: Msg = frames
            .into_iter()
            .take(4)
            .map(|f| match f {
                Frame::Small(mut v) => {
                    v.truncate(64);
                    Bytes::from(v)
                }
                Frame::Big { len, fill } => Bytes::from(vec![fill; usize::from(len) % 10_000]),
            })
            .collect();
        let (side, link, incoming) = if from_server {
            (&mut self.server, &mut self.to_client, &self.to_server)
        } else {
            (&mut self.client, &mut self.to_server, &self.to_client)
        };
        let active = side.conn.is_active();
        match side.conn.send(msg.clone()) {
            Ok(()) => {
                assert!(active);
                let last = msg.len() - 1;
                for (i, f) in msg.frames().iter().enumerate() {
                    link.sent_frames.push((f.clone(), i < last));
                }
                link.sent.push(msg);
            }
            Err(SendError::EmptyMessage) => assert!(msg.is_empty()),
            Err(SendError::NotReady(m) | SendError::Closed(m)) => {
                assert!(!active);
                assert_eq!(m, msg);
            }
        }
        side.after_api(incoming);
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Deliver { dir, max } => {
                self.deliver(dir, usize::from(max));
            }
            Op::DeliverAll { dir } => while self.deliver(dir, 0) {},
            Op::Drop { dir } => self.tamper(dir, |u| u.pop_front().is_some()),
            Op::Duplicate { dir } => self.tamper(dir, |u| match u.front().cloned() {
                Some(f) => {
                    u.push_front(f);
                    true
                }
                None => false,
            }),
            Op::Truncate { dir, keep } => self.tamper(dir, |u| match u.front_mut() {
                Some(f) if !f.is_empty() => {
                    f.truncate(usize::from(keep) % f.len());
                    true
                }
                _ => false,
            }),
            Op::Swap { dir } => self.tamper(dir, |u| {
                if u.len() >= 2 {
                    u.swap(0, 1);
                    true
                } else {
                    false
                }
            }),
            Op::Flip { dir, index, bit } => self.tamper(dir, |u| match u.front_mut() {
                Some(f) if !f.is_empty() => {
                    let i = usize::from(index) % f.len();
                    f[i] ^= 1 << (bit % 8);
                    true
                }
                _ => false,
            }),
            Op::Allow => self.auth(AuthReply::Allow {
                user_id: Bytes::from_static(b"user"),
                metadata: Metadata::new(),
            }),
            Op::Deny { status } => self.auth(AuthReply::Deny {
                status: [300, 400, 500][usize::from(status % 3)],
                text: "denied".into(),
            }),
            Op::Advance { ms } => self.now += Duration::from_millis(u64::from(ms)),
            Op::Timeout { server } => {
                let now = self.now;
                let (side, link) = if server {
                    (&mut self.server, &self.to_server)
                } else {
                    (&mut self.client, &self.to_client)
                };
                let r = side.conn.handle_timeout(now);
                side.after_handle(r, link);
            }
            Op::Send {
                from_server,
                frames,
            } => self.send(from_server, frames),
            Op::Eof { server } => {
                let now = self.now;
                let (side, link) = if server {
                    (&mut self.server, &self.to_server)
                } else {
                    (&mut self.client, &self.to_client)
                };
                let r = side.conn.handle_eof(now);
                assert!(r.is_err());
                side.after_handle(r, link);
            }
            Op::Pump => self.pump(),
        }
        self.collect();
    }
}

fuzz_target!(|input: Input| {
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    let opts = ServerOpts {
        heartbeat: input.server_heartbeat,
        ..ServerOpts::default()
    };
    let server = Connection::new(server_config(Mech::Curve, SocketType::Router, opts), now);
    let client = Connection::new(client_config(Mech::Curve, SocketType::Dealer), now);
    let mut w = World {
        client: Side::new(client, false, true),
        server: Side::new(server, true, input.server_heartbeat),
        to_server: Link::default(),
        to_client: Link::default(),
        now,
    };
    w.collect();
    for op in input.ops.into_iter().take(MAX_OPS) {
        w.apply(op);
    }

    // Liveness: untouched wire and no failure means the handshake completes and
    // every message arrives.
    let untouched = !w.to_server.tampered && !w.to_client.tampered;
    if untouched && w.client.error.is_none() && w.server.error.is_none() {
        w.pump();
        w.auth(AuthReply::Allow {
            user_id: Bytes::from_static(b"user"),
            metadata: Metadata::new(),
        });
        w.collect();
        w.pump();
        assert!(
            w.client.conn.is_active(),
            "client stuck: {:?}",
            w.client.conn
        );
        assert!(
            w.server.conn.is_active(),
            "server stuck: {:?}",
            w.server.conn
        );
        assert_eq!(w.server.delivered, w.to_server.sent);
        assert_eq!(w.client.delivered, w.to_client.sent);
    }
});
