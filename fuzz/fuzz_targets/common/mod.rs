//! Shared helpers for the fuzz targets: deterministic randomness, fixed CURVE
//! keys, matching client/server configurations and recorded valid client
//! transcripts (so the fuzzer can start from deep inside a handshake).
#![allow(dead_code)]

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use zmtp_core::wire::frame::FrameHeader;
use zmtp_core::wire::greeting::GREETING_LEN;
use zmtp_core::{
    ApiMisuse, AuthId, AuthReply, Config, Connection, ConnectionError, Event, KeyPair,
    MechanismConfig, Metadata, Msg, Phase, Random, SecretKey, SocketType,
};

/// splitmix64 behind a mutex: a `Random` whose draws are a pure function of the
/// seed, so every run of an input is identical.
pub struct DetRandom(Mutex<u64>);

impl DetRandom {
    pub fn new(seed: u64) -> Arc<Self> {
        Arc::new(Self(Mutex::new(seed)))
    }
}

impl Random for DetRandom {
    fn fill(&self, buf: &mut [u8]) {
        let mut s = self.0.lock().unwrap();
        for chunk in buf.chunks_mut(8) {
            *s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let v = splitmix(*s);
            chunk.copy_from_slice(&v.to_le_bytes()[..chunk.len()]);
        }
    }
}

fn splitmix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A tiny PRNG for harness decisions (chunk sizes, time steps), seeded from input.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        splitmix(self.0)
    }

    /// Uniform-ish in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A chunk length: mostly tiny (to hit every split point), sometimes large.
    pub fn chunk_len(&mut self) -> usize {
        match self.below(8) {
            0..=3 => 1 + self.below(4) as usize,
            4..=5 => 1 + self.below(32) as usize,
            6 => 1 + self.below(300) as usize,
            _ => 1 + self.below(4096) as usize,
        }
    }
}

/// The fixed CURVE key pairs (computed once; scalar multiplication is not free).
pub fn server_keys() -> &'static KeyPair {
    static K: OnceLock<KeyPair> = OnceLock::new();
    K.get_or_init(|| KeyPair::from_secret(SecretKey([0x11; 32])))
}

pub fn client_keys() -> &'static KeyPair {
    static K: OnceLock<KeyPair> = OnceLock::new();
    K.get_or_init(|| KeyPair::from_secret(SecretKey([0x22; 32])))
}

pub const SERVER_SEED: u64 = 0x005E_57E5;
pub const CLIENT_SEED: u64 = 0x00C1_1E47;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mech {
    Null,
    Plain,
    Curve,
}

/// (server type, client type) pairs that may talk to each other.
pub const PAIRS: [(SocketType, SocketType); 7] = [
    (SocketType::Router, SocketType::Dealer),
    (SocketType::Pull, SocketType::Push),
    (SocketType::XPub, SocketType::XSub),
    (SocketType::Pub, SocketType::Sub),
    (SocketType::Rep, SocketType::Req),
    (SocketType::Pair, SocketType::Pair),
    (SocketType::Sub, SocketType::XPub),
];

pub fn pair(sel: u8) -> (SocketType, SocketType) {
    PAIRS[usize::from(sel) % PAIRS.len()]
}

/// MAXMSGSIZE when the input asks for one.
pub const MAX_MSG_SIZE: u64 = 1000;

/// What a received message weighs against MAXMSGSIZE: its bodies, and
/// `FRAME_COST` for each frame after the first. Frames are not capped in
/// number, so this is the only bound on a message.
pub fn weight(m: &Msg) -> u64 {
    let bodies: u64 = m.frames().iter().map(|f| f.len() as u64).sum();
    bodies + zmtp_core::FRAME_COST * (m.len() as u64 - 1)
}

#[derive(Clone, Copy, Debug, Default)]
pub struct ServerOpts {
    pub heartbeat: bool,
    pub max_msg_size: bool,
    pub authenticate_null: bool,
    pub minor0: bool,
    /// Leave ZAP_DOMAIN unset, so that a NULL server (without NULL
    /// authentication) serves ZMTP/1.0 and 2.0 peers instead of refusing them.
    pub no_zap_domain: bool,
}

impl ServerOpts {
    /// Whether the configuration lets a ZMTP/1.0 or 2.0 peer in (libzmq: ZAP off).
    pub fn allows_downgrade(&self, mech: Mech) -> bool {
        mech == Mech::Null && self.no_zap_domain && !self.authenticate_null
    }
}

pub fn server_config(mech: Mech, ty: SocketType, opts: ServerOpts) -> Arc<Config> {
    let mechanism = match mech {
        Mech::Null => MechanismConfig::Null,
        Mech::Plain => MechanismConfig::PlainServer,
        Mech::Curve => MechanismConfig::CurveServer {
            keypair: server_keys().clone(),
        },
    };
    let mut c = Config::new(ty)
        .with_mechanism(mechanism)
        .unwrap()
        .with_routing_id(&b"srv"[..])
        .unwrap()
        .with_property("X-Fuzz", &b"server"[..])
        .unwrap()
        .with_null_authentication(opts.authenticate_null)
        .with_zap_domain(if opts.no_zap_domain { "" } else { "fuzz" })
        .with_random(DetRandom::new(SERVER_SEED));
    if opts.heartbeat {
        c = c
            .with_heartbeat_ivl(Some(Duration::from_secs(1)))
            .with_heartbeat_timeout(Some(Duration::from_secs(3)))
            .with_heartbeat_ttl(Some(Duration::from_secs(5)));
    }
    if opts.max_msg_size {
        c = c.with_max_msg_size(Some(MAX_MSG_SIZE));
    }
    if opts.minor0 {
        c = c.with_minor_version(0).unwrap();
    }
    Arc::new(c)
}

pub fn client_config(mech: Mech, ty: SocketType) -> Arc<Config> {
    let mechanism = match mech {
        Mech::Null => MechanismConfig::Null,
        Mech::Plain => MechanismConfig::PlainClient {
            username: "admin".into(),
            password: "secret".into(),
        },
        Mech::Curve => MechanismConfig::CurveClient {
            server_key: server_keys().public,
            keypair: client_keys().clone(),
        },
    };
    Arc::new(
        Config::new(ty)
            .with_mechanism(mechanism)
            .unwrap()
            .with_routing_id(&b"client-1"[..])
            .unwrap()
            .with_heartbeat_ivl(Some(Duration::from_secs(1)))
            .with_heartbeat_ttl(Some(Duration::from_secs(10)))
            .with_random(DetRandom::new(CLIENT_SEED)),
    )
}

/// Splits a well-formed outgoing stream (greeting, then frames) into units:
/// the greeting, in the stages it was sent in (whatever of its 64 bytes is
/// pending forms one unit, since each stage waits for the peer's), then one unit
/// per frame. `greeting_sent` counts the greeting bytes split off so far;
/// `pending` keeps an incomplete frame.
pub fn split_units(pending: &mut Vec<u8>, greeting_sent: &mut usize, out: &mut Vec<Vec<u8>>) {
    loop {
        if *greeting_sent < GREETING_LEN {
            let n = pending.len().min(GREETING_LEN - *greeting_sent);
            if n == 0 {
                return;
            }
            out.push(pending.drain(..n).collect());
            *greeting_sent += n;
            continue;
        }
        let Some((h, n)) = FrameHeader::parse(pending) else {
            return;
        };
        let total = n + h.size as usize;
        if pending.len() < total {
            return;
        }
        out.push(pending.drain(..total).collect());
    }
}

/// A valid client-to-server stream, one unit per greeting/frame: greeting,
/// handshake commands, then traffic (multipart messages, subscriptions, a PING).
pub struct Transcript {
    pub units: Vec<Vec<u8>>,
}

impl Transcript {
    pub fn bytes(&self) -> Vec<u8> {
        self.units.concat()
    }
}

/// Records the transcript for `mech` and pair `sel` once, by running a real client
/// against a real server (default options; the server's draws do not depend on
/// its options, so the recorded CURVE INITIATE stays valid for any of them).
pub fn transcript(mech: Mech, sel: u8) -> &'static Transcript {
    static CACHE: OnceLock<Vec<Transcript>> = OnceLock::new();
    let all = CACHE.get_or_init(|| {
        let mut v = Vec::new();
        for m in [Mech::Null, Mech::Plain, Mech::Curve] {
            for s in 0..PAIRS.len() as u8 {
                v.push(record(m, s));
            }
        }
        v
    });
    let mi = match mech {
        Mech::Null => 0,
        Mech::Plain => 1,
        Mech::Curve => 2,
    };
    &all[mi * PAIRS.len() + usize::from(sel) % PAIRS.len()]
}

fn record(mech: Mech, sel: u8) -> Transcript {
    let (sty, cty) = pair(sel);
    #[allow(clippy::disallowed_methods)]
    let mut now = Instant::now();
    let mut server = Connection::new(server_config(mech, sty, ServerOpts::default()), now);
    let mut client = Connection::new(client_config(mech, cty), now);
    let (mut to_server, mut to_client) = (BytesMut::new(), BytesMut::new());
    let mut stream = Vec::new();
    let mut sent_traffic = false;
    for _ in 0..16 {
        while let Some(c) = client.poll_transmit() {
            stream.extend_from_slice(&c);
            to_server.extend_from_slice(&c);
        }
        while let Some(c) = server.poll_transmit() {
            to_client.extend_from_slice(&c);
        }
        server.handle_input(now, &mut to_server).unwrap();
        client.handle_input(now, &mut to_client).unwrap();
        while let Some(ev) = server.poll_event() {
            if let Event::AuthRequest(req) = ev {
                server.auth_reply(req.id, AuthReply::allow()).unwrap();
            }
        }
        while client.poll_event().is_some() {}
        if client.is_active() && !sent_traffic {
            sent_traffic = true;
            let _ = client.send(Msg::from("hello"));
            let _ = client.send(Msg::from_iter([&b"a"[..], b"", b"ccc"]));
            let _ = client.send(Msg::single(vec![0x5a; 300]));
            let _ = client.send(Msg::from(&b"\x01topic"[..]));
            let _ = client.send_subscribe(b"news");
            let _ = client.send_cancel(b"news");
            now += Duration::from_secs(1);
            client.handle_timeout(now).unwrap();
        }
    }
    assert!(client.is_active() && server.is_active(), "{mech:?}/{sel}");
    let mut units = Vec::new();
    let mut greeting_sent = 0;
    split_units(&mut stream, &mut greeting_sent, &mut units);
    assert!(stream.is_empty());
    Transcript { units }
}

/// Asserts that a failed connection stays failed with the same error.
pub fn assert_sticky(conn: &mut Connection, e: &ConnectionError, now: Instant) {
    assert_eq!(conn.error(), Some(e));
    let mut more = BytesMut::from(&b"\x00\x01x"[..]);
    assert_eq!(conn.handle_input(now, &mut more).as_ref(), Err(e));
    assert_eq!(conn.handle_timeout(now).as_ref(), Err(e));
    assert_eq!(conn.handle_eof(now).as_ref(), Err(e));
    assert!(conn.poll_timeout().is_none());
    assert!(!conn.is_active());
}

/// Drives one server connection the way an owner would, checking invariants.
pub struct Driver {
    pub conn: Connection,
    pub rng: Rng,
    pub buf: BytesMut,
    pub error: Option<ConnectionError>,
    pub handshakes: u32,
    pub heartbeat: bool,
    /// Whether ZMTP/1.0 and 2.0 peers may be served (else they must be refused).
    pub downgrade: bool,
    /// Whether MAXMSGSIZE is set (to `MAX_MSG_SIZE`).
    pub max_msg_size: bool,
}

impl Driver {
    /// Appends bytes and runs `handle_input`, then drains output and events.
    pub fn feed(&mut self, bytes: &[u8], now: Instant) {
        self.buf.extend_from_slice(bytes);
        let r = self.conn.handle_input(now, &mut self.buf);
        self.after(r, now);
    }

    pub fn timeout(&mut self, now: Instant) {
        let r = self.conn.handle_timeout(now);
        self.after(r, now);
    }

    pub fn eof(&mut self, now: Instant) {
        let r = self.conn.handle_eof(now);
        assert!(r.is_err());
        self.after(r, now);
    }

    fn after(&mut self, r: Result<(), ConnectionError>, now: Instant) {
        if r.is_ok() {
            assert!(
                self.error.is_none(),
                "handle_* succeeded after {:?}",
                self.error
            );
            assert!(self.conn.error().is_none(), "Ok from a failed connection");
        }
        self.drain(now);
        let r = match (r, self.conn.error().cloned()) {
            // A denial inside drain() fails the connection without a handle_* call.
            (Ok(()), Some(e)) => Err(e),
            (r, _) => r,
        };
        if let Err(e) = r {
            if let Some(first) = &self.error {
                assert_eq!(first, &e, "error is not sticky");
            }
            if matches!(e, ConnectionError::DowngradeRefused { .. }) {
                assert!(!self.downgrade, "refused a downgrade that is allowed");
                assert_eq!(self.handshakes, 0);
            }
            assert_sticky(&mut self.conn, &e, now);
            self.error = Some(e);
        }
    }

    fn drain(&mut self, now: Instant) {
        while let Some(c) = self.conn.poll_transmit() {
            assert!(!c.is_empty());
        }
        assert_eq!(self.conn.pending_transmit(), 0);
        while let Some(ev) = self.conn.poll_event() {
            match ev {
                Event::HandshakeSucceeded => {
                    self.handshakes += 1;
                    assert_eq!(self.handshakes, 1, "two HandshakeSucceeded events");
                    assert!(self.conn.is_active() || self.conn.error().is_some());
                    let peer = self.conn.peer().expect("peer info once handshaken");
                    if peer.protocol.is_legacy() {
                        assert!(self.downgrade, "downgraded with security on");
                        assert_eq!(peer.socket_type, None);
                        assert_eq!(peer.mechanism, zmtp_core::MechanismName::Null);
                        // An old identity is bounded by the handshake frame
                        // limit (1 MiB), not by a ZMTP/3.x routing id's 255.
                        assert!(peer.routing_id.len() <= 1 << 20);
                        assert!(peer.metadata.is_empty());
                    }
                }
                Event::AuthRequest(req) => self.answer(req.id),
                Event::Message(m) => {
                    assert!(!m.is_empty());
                    assert!(!self.max_msg_size || weight(&m) <= MAX_MSG_SIZE);
                    if self.rng.below(4) == 0 && self.conn.is_active() {
                        self.conn.send(m).expect("send on an active connection");
                    }
                }
                _ => {}
            }
        }
        if matches!(self.conn.phase(), Phase::Greeting | Phase::Handshake) {
            // HANDSHAKE_IVL is armed until the handshake ends.
            assert!(self.conn.poll_timeout().is_some());
        }
        let v31_peer = self.conn.peer().is_some_and(|p| p.is_v31());
        if self.heartbeat && v31_peer && self.conn.is_active() {
            // However the handshake ended (a frame or an auth reply), the next
            // PING is scheduled.
            assert!(self.conn.poll_timeout().is_some(), "heartbeats not armed");
        }
        let _ = now;
    }

    fn answer(&mut self, id: AuthId) {
        let reply = match self.rng.below(8) {
            0 => AuthReply::deny("no"),
            1 => AuthReply::Deny {
                status: [300, 400, 500][self.rng.below(3) as usize],
                text: "denied".into(),
            },
            2 => AuthReply::Deny {
                status: 200,
                text: "bad status".into(),
            },
            _ => AuthReply::Allow {
                user_id: "user".into(),
                metadata: Metadata::new(),
            },
        };
        let was_ok = self.conn.error().is_none();
        let reply = match reply {
            AuthReply::Deny { status: 200, text } => {
                // An invalid status is refused and changes nothing.
                let phase = self.conn.phase();
                let r = self
                    .conn
                    .auth_reply(id, AuthReply::Deny { status: 200, text });
                assert_eq!(r, Err(ApiMisuse::BadAuthStatus(200)));
                assert_eq!(self.conn.phase(), phase);
                AuthReply::allow()
            }
            r => r,
        };
        let status = match &reply {
            AuthReply::Deny { status, .. } => Some(*status),
            AuthReply::Allow { .. } => None,
        };
        let r = self.conn.auth_reply(id, reply);
        if was_ok {
            r.expect("auth_reply for the pending request");
            if let Some(status) = status {
                assert!(matches!(
                    self.conn.error(),
                    Some(ConnectionError::AuthDenied { status: s, .. }) if *s == status
                ));
            }
        }
        // Answering the same request again is refused and changes nothing.
        let phase = self.conn.phase();
        let again = self.conn.auth_reply(id, AuthReply::allow());
        assert_eq!(again, Err(ApiMisuse::UnknownAuthRequest(id.value())));
        assert_eq!(self.conn.phase(), phase);
    }
}

/// The whole-connection target: `[mode, sel, seed_lo, seed_hi, data...]`.
/// mode bits: 0 heartbeats, 1 MAXMSGSIZE=1000, 2 NULL authentication, 3 speak
/// ZMTP 3.0, 4 end with EOF, 5 no ZAP domain (so a NULL server downgrades to
/// ZMTP/1.0 and 2.0 peers; otherwise it must refuse them). sel bits 0-2 pick the socket types; bits 3-7 say how
/// many units of a valid client transcript to feed first (one call each).
pub fn run_server(mech: Mech, input: &[u8]) {
    if input.len() < 4 {
        return;
    }
    let (mode, sel) = (input[0], input[1]);
    let seed = u64::from(u16::from_le_bytes([input[2], input[3]]));
    let data = &input[4..];
    let opts = ServerOpts {
        heartbeat: mode & 1 != 0,
        max_msg_size: mode & 2 != 0,
        authenticate_null: mode & 4 != 0,
        minor0: mode & 8 != 0,
        no_zap_domain: mode & 32 != 0,
    };
    let (sty, _) = pair(sel & 7);
    #[allow(clippy::disallowed_methods)]
    let mut now = Instant::now();
    let mut d = Driver {
        conn: Connection::with_peer_address(
            server_config(mech, sty, opts),
            "tcp://127.0.0.1:5555",
            now,
        ),
        rng: Rng::new(seed),
        buf: BytesMut::new(),
        error: None,
        handshakes: 0,
        // PING is ZMTP 3.1: a side that speaks 3.0 schedules none.
        heartbeat: opts.heartbeat && !opts.minor0,
        downgrade: opts.allows_downgrade(mech),
        max_msg_size: opts.max_msg_size,
    };
    let prefix = usize::from(sel >> 3);
    if prefix > 0 {
        for unit in transcript(mech, sel & 7).units.iter().take(prefix) {
            d.feed(unit, now);
            if d.error.is_some() {
                return;
            }
        }
    }
    let mut rest = data;
    while !rest.is_empty() && d.error.is_none() {
        now += match d.rng.below(16) {
            0..=11 => Duration::from_millis(d.rng.below(50)),
            12..=14 => Duration::from_millis(500 + d.rng.below(5000)),
            _ => Duration::from_secs(20 + d.rng.below(20)),
        };
        if d.conn.poll_timeout().is_some_and(|t| t <= now) || d.rng.below(8) == 0 {
            d.timeout(now);
            if d.error.is_some() {
                break;
            }
        }
        let n = d.rng.chunk_len().min(rest.len());
        d.feed(&rest[..n], now);
        rest = &rest[n..];
    }
    if mode & 16 != 0 && d.error.is_none() {
        d.eof(now);
        assert_eq!(d.error, Some(ConnectionError::PeerClosed));
    }
}
