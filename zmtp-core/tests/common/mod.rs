//! Test harness: two `Connection`s joined by in-memory byte pipes, with virtual
//! time, chunked delivery, stalls and an optional authenticator.
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use zmtp_core::{
    AuthReply, AuthRequest, Config, Connection, ConnectionError, Event, KeyPair, MechanismConfig,
    Msg, Random, SecretKey, SocketType,
};

/// Decodes a hex string (whitespace ignored).
pub fn hex(s: &str) -> Vec<u8> {
    let clean: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(clean.len() % 2 == 0, "odd hex length");
    clean
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// Everything a connection has queued, concatenated.
pub fn drain(conn: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = conn.poll_transmit() {
        out.extend_from_slice(&chunk);
    }
    out
}

/// All pending events.
pub fn events(conn: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

/// Random source that replays a script of byte strings, one per draw.
pub struct Scripted {
    draws: Vec<Vec<u8>>,
    next: AtomicUsize,
}

impl Scripted {
    pub fn new(draws: Vec<Vec<u8>>) -> Arc<Self> {
        Arc::new(Self {
            draws,
            next: AtomicUsize::new(0),
        })
    }
}

impl Random for Scripted {
    fn fill(&self, buf: &mut [u8]) {
        let i = self.next.fetch_add(1, Ordering::SeqCst);
        let draw = &self.draws[i % self.draws.len()];
        assert_eq!(draw.len(), buf.len(), "draw {i} has the wrong length");
        buf.copy_from_slice(draw);
    }
}

pub fn server_keys() -> KeyPair {
    KeyPair::from_secret(
        "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
            .parse::<SecretKey>()
            .unwrap(),
    )
}

pub fn client_keys() -> KeyPair {
    KeyPair::from_secret(
        "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs"
            .parse::<SecretKey>()
            .unwrap(),
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mech {
    Null,
    Plain,
    Curve,
}

pub const ALL_MECHS: [Mech; 3] = [Mech::Null, Mech::Plain, Mech::Curve];

/// Client and server configurations for a mechanism.
pub fn configs(mech: Mech, client: SocketType, server: SocketType) -> (Config, Config) {
    let (c, s) = match mech {
        Mech::Null => (MechanismConfig::Null, MechanismConfig::Null),
        Mech::Plain => (
            MechanismConfig::PlainClient {
                username: "admin".into(),
                password: "secret".into(),
            },
            MechanismConfig::PlainServer,
        ),
        Mech::Curve => (
            MechanismConfig::CurveClient {
                server_key: server_keys().public,
                keypair: client_keys(),
            },
            MechanismConfig::CurveServer {
                keypair: server_keys(),
            },
        ),
    };
    (
        Config::new(client).with_mechanism(c).unwrap(),
        Config::new(server).with_mechanism(s).unwrap(),
    )
}

type Authenticator = Box<dyn FnMut(&AuthRequest) -> AuthReply>;

/// One side of a [`Pair`].
pub struct Side {
    pub conn: Connection,
    /// Bytes received, not yet consumed by the connection.
    pub rbuf: BytesMut,
    /// Bytes sent by the other side, not yet delivered here.
    pub in_flight: VecDeque<u8>,
    pub events: Vec<Event>,
    pub error: Option<ConnectionError>,
    /// While set, nothing is delivered to this side.
    pub stalled: bool,
}

impl Side {
    fn new(config: Config, now: Instant) -> Self {
        Self {
            conn: Connection::new(Arc::new(config), now),
            rbuf: BytesMut::new(),
            in_flight: VecDeque::new(),
            events: Vec::new(),
            error: None,
            stalled: false,
        }
    }

    /// Messages received so far, removed from the event list.
    pub fn take_messages(&mut self) -> Vec<Msg> {
        let mut msgs = Vec::new();
        self.events.retain(|e| match e {
            Event::Message(m) => {
                msgs.push(m.clone());
                false
            }
            _ => true,
        });
        msgs
    }

    pub fn saw(&self, pred: impl Fn(&Event) -> bool) -> bool {
        self.events.iter().any(pred)
    }
}

/// Two connections back to back.
pub struct Pair {
    pub client: Side,
    pub server: Side,
    pub now: Instant,
    /// Largest piece delivered at once (None: everything available).
    pub chunk: Option<usize>,
    pub authenticator: Option<Authenticator>,
}

impl Pair {
    // Virtual time starts from one real instant and never reads the clock again.
    #[allow(clippy::disallowed_methods)]
    pub fn new(client: Config, server: Config) -> Self {
        let now = Instant::now();
        Self {
            client: Side::new(client, now),
            server: Side::new(server, now),
            now,
            chunk: None,
            authenticator: Some(Box::new(|_| AuthReply::allow())),
        }
    }

    pub fn for_mech(mech: Mech, client: SocketType, server: SocketType) -> Self {
        let (c, s) = configs(mech, client, server);
        Self::new(c, s)
    }

    /// Steps until neither side makes progress.
    pub fn drive(&mut self) {
        for _ in 0..1_000_000 {
            if !self.step() {
                return;
            }
        }
        panic!("pair did not settle");
    }

    /// Moves time forward in jumps to each deadline, driving in between.
    pub fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        loop {
            self.drive();
            let next = [
                self.client.conn.poll_timeout(),
                self.server.conn.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .filter(|t| *t <= end)
            .min();
            let Some(at) = next else { break };
            self.now = at.max(self.now);
            for side in [&mut self.client, &mut self.server] {
                if side.error.is_none() && side.conn.poll_timeout().is_some_and(|t| t <= self.now) {
                    if let Err(e) = side.conn.handle_timeout(self.now) {
                        side.error = Some(e);
                    }
                }
            }
        }
        self.now = end;
        self.drive();
    }

    fn step(&mut self) -> bool {
        let mut progress = false;
        progress |= Self::transmit(&mut self.client, &mut self.server);
        progress |= Self::transmit(&mut self.server, &mut self.client);
        progress |= self.deliver_to(true);
        progress |= self.deliver_to(false);
        progress
    }

    fn transmit(from: &mut Side, to: &mut Side) -> bool {
        let mut any = false;
        while let Some(chunk) = from.conn.poll_transmit() {
            to.in_flight.extend(chunk.iter().copied());
            any = true;
        }
        any
    }

    fn deliver_to(&mut self, to_server: bool) -> bool {
        let now = self.now;
        let chunk = self.chunk;
        let side = if to_server {
            &mut self.server
        } else {
            &mut self.client
        };
        let mut progress = false;
        if !side.stalled && side.error.is_none() && !side.in_flight.is_empty() {
            let n = chunk.unwrap_or(usize::MAX).min(side.in_flight.len());
            side.rbuf.extend(side.in_flight.drain(..n));
            if let Err(e) = side.conn.handle_input(now, &mut side.rbuf) {
                side.error = Some(e);
            }
            progress = true;
        }
        while let Some(ev) = side.conn.poll_event() {
            progress = true;
            if let Event::AuthRequest(req) = &ev {
                if let Some(auth) = self.authenticator.as_mut() {
                    let reply = auth(req);
                    side.conn.auth_reply(req.id, reply).unwrap();
                }
            }
            side.events.push(ev);
        }
        if side.error.is_none() {
            if let Some(e) = side.conn.error() {
                side.error = Some(e.clone());
            }
        }
        progress
    }

    pub fn both_active(&self) -> bool {
        self.client.conn.is_active() && self.server.conn.is_active()
    }
}

/// A multipart message of the given frame sizes, with recognisable contents.
pub fn patterned(sizes: &[usize]) -> Msg {
    sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| (0..n).map(|j| (i * 31 + j * 7) as u8).collect::<Vec<u8>>())
        .collect()
}
