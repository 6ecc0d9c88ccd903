//! Byte-level interop with real libzmq 4.3.x (through pyzmq) over real TCP.
//!
//! Each test drives one `zmtp_core::Connection` over a `std::net::TcpStream`
//! against zmq-test-support's scripted libzmq peer (`test-support/peers/zmq_peer.py`)
//! with one socket: it binds or connects one pyzmq socket and answers one-line
//! commands on stdin ("send", "recv", "event", "zaplog", "quit") with one line on
//! stdout. The Rust side asserts on the exact frames libzmq received or sent.
//!
//! The tests need `python3` with pyzmq (CURVE-enabled). They never skip: a missing
//! interpreter or module fails with instructions (`pip install -r
//! requirements-test.txt`).

// These tests talk to libzmq over real sockets and drive time with the real clock,
// which the crate's clippy.toml forbids in the (sans-IO) library itself.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::TryRecvError;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use zmq_test_support::python::{PeerProcess, INSTALL_HINT};
use zmtp_core::{
    AuthReply, AuthRequest, Config, Connection, ConnectionError, Credentials, Event, KeyPair,
    MechanismConfig, Msg, SendError, SocketType,
};

/// Hard limit for any single wait; a broken test fails instead of hanging.
const OVERALL: Duration = Duration::from_secs(10);
/// Longest single blocking read while pumping.
const SLICE: Duration = Duration::from_millis(20);
/// One MiB, for the large-message cases.
const MIB: usize = 1 << 20;

// ---------------------------------------------------------------------------
// Small byte helpers
// ---------------------------------------------------------------------------

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd-length hex from peer: {s:.80}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex from peer"))
        .collect()
}

/// The deterministic filler the python peer produces for `*N`: byte i = i % 251.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// A frame list in the peer's `send` syntax: hex frames joined by `,`, `-` = empty.
fn spec(frames: &[&[u8]]) -> String {
    frames
        .iter()
        .map(|f| if f.is_empty() { "-".to_owned() } else { hex(f) })
        .collect::<Vec<_>>()
        .join(",")
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    count(haystack, needle) > 0
}

fn summary(frame: &[u8]) -> String {
    if frame.len() <= 48 {
        format!("{} bytes [{}]", frame.len(), hex(frame))
    } else {
        format!("{} bytes [{}..]", frame.len(), hex(&frame[..24]))
    }
}

/// Frame-by-frame equality with a readable failure message (frames may be 1 MiB).
fn assert_frames<T: AsRef<[u8]>>(got: &[T], want: &[&[u8]], what: &str) {
    let show = |fs: Vec<&[u8]>| fs.into_iter().map(summary).collect::<Vec<_>>();
    let got_refs: Vec<&[u8]> = got.iter().map(AsRef::as_ref).collect();
    if got_refs != want {
        panic!(
            "{what}: frames differ\n  got:  {:?}\n  want: {:?}",
            show(got_refs),
            show(want.to_vec())
        );
    }
}

// ---------------------------------------------------------------------------
// The python / libzmq peer
// ---------------------------------------------------------------------------

/// The one-socket libzmq peer; killed on drop.
struct Peer {
    process: PeerProcess,
    /// The port it bound, for `--bind` peers.
    port: Option<u16>,
}

impl Peer {
    /// Spawns the peer and waits for its first line: `PORT n` or `READY`.
    fn spawn(args: &[&str]) -> Self {
        let mut peer = Self {
            process: PeerProcess::spawn(args),
            port: None,
        };
        let first = peer.wait_line(None);
        if let Some(port) = first.strip_prefix("PORT ") {
            peer.port = Some(port.trim().parse().expect("port number"));
        } else if first != "READY" {
            panic!("libzmq peer did not start: {first:?}{}", peer.diag());
        }
        peer
    }

    fn port(&self) -> u16 {
        self.port.expect("peer was not started with --bind")
    }

    fn diag(&self) -> String {
        self.process.diag()
    }

    /// Waits for the next stdout line, pumping `driver` meanwhile if given.
    fn wait_line(&mut self, mut driver: Option<&mut Driver>) -> String {
        let deadline = Instant::now() + OVERALL;
        loop {
            match self.process.try_line() {
                Ok(line) => return line,
                Err(TryRecvError::Disconnected) => {
                    std::thread::sleep(Duration::from_millis(50));
                    let status = self.process.try_wait();
                    panic!(
                        "libzmq peer exited (status {status:?}) without answering{}\n{INSTALL_HINT}",
                        self.diag()
                    );
                }
                Err(TryRecvError::Empty) => {}
            }
            assert!(
                Instant::now() < deadline,
                "libzmq peer did not answer within {OVERALL:?}{}",
                self.diag()
            );
            match driver.as_deref_mut() {
                Some(d) if d.error.is_none() => d.pump_once(Duration::from_millis(5)),
                _ => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }

    /// Sends one command and returns the answer, pumping `driver` while waiting so
    /// our side keeps reading, writing and answering heartbeats.
    fn ask(&mut self, driver: Option<&mut Driver>, cmd: &str) -> String {
        self.process.write_line(cmd);
        let answer = self.wait_line(driver);
        if answer.starts_with("ERROR") {
            panic!("libzmq peer failed on {cmd:.60}: {answer}{}", self.diag());
        }
        answer
    }

    fn send(&mut self, driver: &mut Driver, frames: &str) {
        let answer = self.ask(Some(driver), &format!("send {frames}"));
        assert_eq!(answer, "SENT", "{}", self.diag());
    }

    /// The next message libzmq's socket received (its recv has a 5 s timeout).
    fn recv(&mut self, driver: &mut Driver) -> Vec<Vec<u8>> {
        let answer = self.ask(Some(driver), "recv");
        parse_msg(&answer)
            .unwrap_or_else(|| panic!("libzmq received nothing: {answer:.200}{}", self.diag()))
    }

    /// Ends the script and checks it exited cleanly (status 0).
    fn quit(mut self, driver: Option<&mut Driver>) {
        assert_eq!(self.ask(driver, "quit"), "BYE");
        match self.process.close_and_wait(OVERALL) {
            Some(status) => assert!(status.success(), "peer exited with {status}{}", self.diag()),
            None => panic!("peer did not exit{}", self.diag()),
        }
    }
}

/// `MSG f1 f2 ...` (hex, `-` = empty frame) into frames; `None` for anything else.
fn parse_msg(line: &str) -> Option<Vec<Vec<u8>>> {
    let rest = line.strip_prefix("MSG")?;
    Some(
        rest.split_whitespace()
            .map(|f| if f == "-" { Vec::new() } else { unhex(f) })
            .collect(),
    )
}

// ---------------------------------------------------------------------------
// The driver: TcpStream + receive buffer + Connection
// ---------------------------------------------------------------------------

type AuthFn = Box<dyn FnMut(&AuthRequest) -> AuthReply>;

/// Runs one `Connection` over a blocking `TcpStream` with short read timeouts.
struct Driver {
    stream: TcpStream,
    rbuf: BytesMut,
    conn: Connection,
    tmp: Vec<u8>,
    /// Events not consumed yet (AuthRequest is answered, then recorded below).
    events: VecDeque<Event>,
    auth: Option<AuthFn>,
    auth_requests: Vec<AuthRequest>,
    /// The connection's fatal error, once it failed.
    error: Option<ConnectionError>,
    handshake_done: bool,
    /// Every byte written / read, for byte-level assertions.
    sent: Vec<u8>,
    received: Vec<u8>,
}

impl Driver {
    fn new(stream: TcpStream, config: Config) -> Self {
        stream.set_nodelay(true).expect("nodelay");
        stream
            .set_write_timeout(Some(OVERALL))
            .expect("write timeout");
        let peer = stream.peer_addr().map(|a| a.ip().to_string());
        let conn = Connection::with_peer_address(
            Arc::new(config),
            peer.unwrap_or_default(),
            Instant::now(),
        );
        let mut d = Self {
            stream,
            rbuf: BytesMut::with_capacity(64 * 1024),
            conn,
            tmp: vec![0; 64 * 1024],
            events: VecDeque::new(),
            auth: None,
            auth_requests: Vec::new(),
            error: None,
            handshake_done: false,
            sent: Vec::new(),
            received: Vec::new(),
        };
        d.flush();
        d
    }

    /// Our side as client: connect to a libzmq peer that bound.
    fn connect(peer: &Peer, config: Config) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", peer.port()))
            .unwrap_or_else(|e| panic!("connect to libzmq: {e}{}", peer.diag()));
        Self::new(stream, config)
    }

    /// Our side as server: accept the libzmq peer's connection on `listener`.
    fn accept(listener: &TcpListener, peer: &Peer, config: Config) -> Self {
        listener.set_nonblocking(true).expect("nonblocking");
        let deadline = Instant::now() + OVERALL;
        loop {
            match listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false).expect("blocking");
                    return Self::new(stream, config);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    assert!(
                        Instant::now() < deadline,
                        "libzmq never connected{}",
                        peer.diag()
                    );
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
    }

    fn with_auth(mut self, f: impl FnMut(&AuthRequest) -> AuthReply + 'static) -> Self {
        self.auth = Some(Box::new(f));
        self
    }

    /// Writes out everything `poll_transmit` yields, in order.
    fn flush(&mut self) {
        while let Some(chunk) = self.conn.poll_transmit() {
            self.sent.extend_from_slice(&chunk);
            if self.stream.write_all(&chunk).is_err() {
                // The peer went away; the connection learns it as EOF.
                let r = self.conn.handle_eof(Instant::now());
                self.note(r);
            }
        }
    }

    /// Records a fatal error from a `handle_*` call.
    fn note(&mut self, result: Result<(), ConnectionError>) {
        if let Err(e) = result {
            self.error.get_or_insert(e);
        }
    }

    /// Drains events; answers AuthRequest through the closure right away.
    fn drain_events(&mut self) {
        while let Some(ev) = self.conn.poll_event() {
            match ev {
                Event::AuthRequest(req) => {
                    let decide = self
                        .auth
                        .as_mut()
                        .unwrap_or_else(|| panic!("unexpected AuthRequest: {req:?}"));
                    let reply = decide(&req);
                    self.conn
                        .auth_reply(req.id, reply)
                        .expect("auth_reply for a pending request");
                    self.auth_requests.push(*req);
                    self.flush();
                }
                Event::HandshakeSucceeded => {
                    self.handshake_done = true;
                    self.events.push_back(Event::HandshakeSucceeded);
                }
                other => self.events.push_back(other),
            }
        }
        if self.error.is_none() {
            self.error = self.conn.error().cloned();
        }
    }

    /// One round of the drive contract: flush, events, then at most one read
    /// (bounded by `max_wait` and the connection's next deadline), then timers.
    fn pump_once(&mut self, max_wait: Duration) {
        self.flush();
        self.drain_events();
        if self.error.is_some() {
            return;
        }
        let mut wait = max_wait;
        if let Some(deadline) = self.conn.poll_timeout() {
            wait = wait.min(deadline.saturating_duration_since(Instant::now()));
        }
        let wait = wait.max(Duration::from_millis(1));
        self.stream
            .set_read_timeout(Some(wait))
            .expect("read timeout");
        match self.stream.read(&mut self.tmp) {
            Ok(0) => {
                let r = self.conn.handle_eof(Instant::now());
                self.note(r);
            }
            Ok(n) => {
                self.received.extend_from_slice(&self.tmp[..n]);
                self.rbuf.extend_from_slice(&self.tmp[..n]);
                let r = self.conn.handle_input(Instant::now(), &mut self.rbuf);
                self.note(r);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionReset
                        | ErrorKind::ConnectionAborted
                        | ErrorKind::BrokenPipe
                ) =>
            {
                let r = self.conn.handle_eof(Instant::now());
                self.note(r);
            }
            Err(e) => panic!("read error: {e}"),
        }
        if self.error.is_none() {
            let now = Instant::now();
            if self.conn.poll_timeout().is_some_and(|t| t <= now) {
                let r = self.conn.handle_timeout(now);
                self.note(r);
            }
        }
        self.flush();
        self.drain_events();
    }

    /// Pumps until `done` holds; `Err` if the connection fails first. Panics after
    /// [`OVERALL`].
    fn pump_until(
        &mut self,
        what: &str,
        mut done: impl FnMut(&mut Self) -> bool,
    ) -> Result<(), ConnectionError> {
        let deadline = Instant::now() + OVERALL;
        loop {
            if done(self) {
                return Ok(());
            }
            if let Some(e) = &self.error {
                return Err(e.clone());
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {OVERALL:?} waiting for {what}: {:?}",
                self.conn
            );
            self.pump_once(SLICE);
        }
    }

    /// Keeps the connection running for `dur` (heartbeat tests).
    fn pump_for(&mut self, dur: Duration) -> Result<(), ConnectionError> {
        let end = Instant::now() + dur;
        self.pump_until("time to pass", |_| Instant::now() >= end)
    }

    fn take_event(&mut self, pred: impl Fn(&Event) -> bool) -> Option<Event> {
        let i = self.events.iter().position(pred)?;
        self.events.remove(i)
    }

    fn handshake(&mut self, peer: &Peer) {
        if let Err(e) = self.pump_until("HandshakeSucceeded", |d| d.handshake_done) {
            panic!("handshake with libzmq failed: {e}{}", peer.diag());
        }
        self.take_event(|e| matches!(e, Event::HandshakeSucceeded));
    }

    /// Pumps until the connection fails and returns why.
    fn expect_failure(&mut self) -> ConnectionError {
        match self.pump_until("the connection to fail", |_| false) {
            Err(e) => e,
            Ok(()) => unreachable!(),
        }
    }

    fn recv(&mut self, peer: &Peer) -> Vec<Vec<u8>> {
        let found = self.pump_until("a message from libzmq", |d| {
            d.events.iter().any(|e| matches!(e, Event::Message(_)))
        });
        if let Err(e) = found {
            panic!(
                "connection failed while waiting for a message: {e}{}",
                peer.diag()
            );
        }
        match self.take_event(|e| matches!(e, Event::Message(_))) {
            Some(Event::Message(m)) => m.frames().iter().map(|f| f.to_vec()).collect(),
            _ => unreachable!(),
        }
    }

    fn send(&mut self, frames: &[&[u8]]) {
        let msg: Msg = frames.iter().map(|f| f.to_vec()).collect();
        self.conn.send(msg).expect("send on an active connection");
        self.flush();
    }

    fn shutdown(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

fn listener() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let endpoint = format!("tcp://{}", l.local_addr().expect("local addr"));
    (l, endpoint)
}

fn plain_client(user: &'static str, pass: &'static str) -> MechanismConfig {
    MechanismConfig::PlainClient {
        username: user.into(),
        password: pass.into(),
    }
}

fn keys() -> KeyPair {
    KeyPair::generate()
}

/// `--curve-client=SERVER,PUBLIC,SECRET` for the python peer.
fn curve_client_arg(server: &KeyPair, client: &KeyPair) -> String {
    format!(
        "--curve-client={},{},{}",
        server.public.to_z85(),
        client.public.to_z85(),
        client.secret.to_z85()
    )
}

// ---------------------------------------------------------------------------
// NULL
// ---------------------------------------------------------------------------

/// Our DEALER (client) sets a routing id; libzmq's ROUTER must see it as the first
/// frame of a multipart message with an empty middle frame, and route a reply back.
#[test]
fn null_dealer_client_routing_id_and_multipart_with_libzmq_router() {
    let mut peer = Peer::spawn(&["--type", "ROUTER", "--bind"]);
    let config = Config::new(SocketType::Dealer)
        .with_routing_id("rust-dealer")
        .expect("routing id");
    let mut d = Driver::connect(&peer, config);
    d.handshake(&peer);
    let info = d.conn.peer().expect("peer info").clone();
    assert_eq!(info.socket_type, Some(SocketType::Router));
    assert_eq!(info.version, (3, 1));

    d.send(&[b"first", b"", b"third"]);
    let got = peer.recv(&mut d);
    assert_frames(
        &got,
        &[b"rust-dealer", b"first", b"", b"third"],
        "libzmq ROUTER got",
    );

    peer.send(&mut d, &spec(&[b"rust-dealer", b"reply", b"", b"end"]));
    let back = d.recv(&peer);
    assert_frames(&back, &[b"reply", b"", b"end"], "our DEALER got");
    peer.quit(Some(&mut d));
}

/// Our DEALER does a REQ-style exchange with libzmq's REP: ["", "hello"] arrives as
/// "hello", and REP's reply comes back behind the empty delimiter.
#[test]
fn null_dealer_client_request_reply_with_libzmq_rep() {
    let mut peer = Peer::spawn(&["--type", "REP", "--bind"]);
    let mut d = Driver::connect(&peer, Config::new(SocketType::Dealer));
    d.handshake(&peer);
    assert_eq!(
        d.conn.peer().and_then(|p| p.socket_type),
        Some(SocketType::Rep)
    );

    d.send(&[b"", b"hello"]);
    assert_frames(&peer.recv(&mut d), &[b"hello"], "libzmq REP got");
    peer.send(&mut d, &spec(&[b"world"]));
    assert_frames(&d.recv(&peer), &[b"", b"world"], "our DEALER got");

    // A second round proves REP accepted our envelope and reset its state.
    d.send(&[b"", b"again"]);
    assert_frames(&peer.recv(&mut d), &[b"again"], "libzmq REP got");
    peer.send(&mut d, &spec(&[b"ok"]));
    assert_frames(&d.recv(&peer), &[b"", b"ok"], "our DEALER got");
    peer.quit(Some(&mut d));
}

/// libzmq SUB connects to our PUB (server side): its subscription arrives as
/// Event::Subscribe, and a matching message we publish reaches it.
#[test]
fn null_pub_server_gets_libzmq_sub_subscription_and_delivers() {
    let (l, endpoint) = listener();
    let mut peer = Peer::spawn(&[
        "--type",
        "SUB",
        "--connect",
        &endpoint,
        "--subscribe",
        &hex(b"weather"),
    ]);
    let mut d = Driver::accept(&l, &peer, Config::new(SocketType::Pub));
    d.handshake(&peer);
    assert_eq!(
        d.conn.peer().and_then(|p| p.socket_type),
        Some(SocketType::Sub)
    );
    d.pump_until("Subscribe", |d| {
        d.events.iter().any(|e| matches!(e, Event::Subscribe(_)))
    })
    .expect("subscription");
    let sub = d.take_event(|e| matches!(e, Event::Subscribe(_)));
    assert_eq!(sub, Some(Event::Subscribe("weather".into())));

    d.send(&[b"weather.nyc", b"sunny"]);
    assert_frames(
        &peer.recv(&mut d),
        &[b"weather.nyc", b"sunny"],
        "libzmq SUB got",
    );
    peer.quit(Some(&mut d));
}

/// Our SUB (client) subscribes and cancels; libzmq's XPUB sees `01 topic` and
/// `00 topic`, and what it publishes on the topic reaches us.
#[test]
fn null_sub_client_subscribe_and_cancel_reach_libzmq_xpub() {
    let mut peer = Peer::spawn(&["--type", "XPUB", "--bind"]);
    let mut d = Driver::connect(&peer, Config::new(SocketType::Sub));
    d.handshake(&peer);
    assert_eq!(
        d.conn.peer().and_then(|p| p.socket_type),
        Some(SocketType::XPub)
    );

    d.conn.send_subscribe(b"news").expect("subscribe");
    d.flush();
    assert_frames(&peer.recv(&mut d), &[b"\x01news"], "libzmq XPUB got");

    peer.send(&mut d, &spec(&[b"news.1", b"body"]));
    assert_frames(&d.recv(&peer), &[b"news.1", b"body"], "our SUB got");

    d.conn.send_cancel(b"news").expect("cancel");
    d.flush();
    assert_frames(&peer.recv(&mut d), &[b"\x00news"], "libzmq XPUB got");
    peer.quit(Some(&mut d));
}

/// libzmq DEALER connects to our ROUTER (server side) with its own routing id;
/// 1 MiB multipart messages with an empty frame travel both ways intact.
#[test]
fn null_router_server_large_multipart_both_directions_with_libzmq_dealer() {
    let (l, endpoint) = listener();
    let mut peer = Peer::spawn(&[
        "--type",
        "DEALER",
        "--connect",
        &endpoint,
        "--routing-id",
        &hex(b"py-dealer"),
    ]);
    let mut d = Driver::accept(&l, &peer, Config::new(SocketType::Router));
    d.handshake(&peer);
    let info = d.conn.peer().expect("peer info").clone();
    assert_eq!(info.socket_type, Some(SocketType::Dealer));
    assert_eq!(&info.routing_id[..], b"py-dealer");

    let big = pattern(MIB);
    peer.send(&mut d, &format!("*{MIB},-,{}", hex(b"end")));
    assert_frames(&d.recv(&peer), &[&big, b"", b"end"], "our ROUTER got");

    let bigger = pattern(MIB + 7);
    d.send(&[b"", &bigger, b"tail"]);
    assert_frames(
        &peer.recv(&mut d),
        &[b"", &bigger, b"tail"],
        "libzmq DEALER got",
    );
    peer.quit(Some(&mut d));
}

/// libzmq puts no cap on a message's frames, and neither do we: 100,000 frames
/// from libzmq's PUSH (past the 65,536 we once cut at) arrive as one message.
#[test]
fn null_pull_takes_a_hundred_thousand_frame_message_from_libzmq_push() {
    let (l, endpoint) = listener();
    let mut peer = Peer::spawn(&["--type", "PUSH", "--connect", &endpoint]);
    let mut d = Driver::accept(&l, &peer, Config::new(SocketType::Pull));
    d.handshake(&peer);
    let end = hex(b"end");
    let mut spec = vec!["-"; 100_000];
    spec[99_999] = &end;
    peer.send(&mut d, &spec.join(","));
    let got = d.recv(&peer);
    assert_eq!(got.len(), 100_000);
    assert!(got[..99_999].iter().all(Vec::is_empty));
    assert_eq!(got[99_999], b"end");
    peer.quit(Some(&mut d));
}

/// With MAXMSGSIZE set, the same flood of empty frames is paid for in bytes
/// (FRAME_COST each) and ends the connection once it would outweigh the limit.
#[test]
fn null_pull_with_maxmsgsize_refuses_libzmqs_flood_of_empty_frames() {
    let (l, endpoint) = listener();
    let mut peer = Peer::spawn(&["--type", "PUSH", "--connect", &endpoint]);
    let config = Config::new(SocketType::Pull).with_max_msg_size(Some(64_000));
    let mut d = Driver::accept(&l, &peer, config);
    d.handshake(&peer);
    peer.send(&mut d, &vec!["-"; 100_000].join(","));
    match d.expect_failure() {
        ConnectionError::MessageTooLarge { size, max: 64_000 } => {
            assert_eq!(size, 64_000 + zmtp_core::FRAME_COST);
        }
        e => panic!("{e}"),
    }
}

// ---------------------------------------------------------------------------
// PLAIN
// ---------------------------------------------------------------------------

/// Our PLAIN client against libzmq's PLAIN server with a ZAP handler: the handler
/// sees our exact credentials, allows them, and messages flow.
#[test]
fn plain_client_accepted_by_libzmq_plain_server() {
    let mut peer = Peer::spawn(&[
        "--type",
        "ROUTER",
        "--bind",
        "--plain-server",
        "--zap-plain",
        "admin:secret",
    ]);
    let config = Config::new(SocketType::Dealer)
        .with_routing_id("plain-dealer")
        .expect("routing id")
        .with_mechanism(plain_client("admin", "secret"))
        .expect("plain");
    let mut d = Driver::connect(&peer, config);
    d.handshake(&peer);

    d.send(&[b"over", b"plain"]);
    assert_frames(
        &peer.recv(&mut d),
        &[b"plain-dealer", b"over", b"plain"],
        "libzmq got",
    );
    peer.send(&mut d, &spec(&[b"plain-dealer", b"welcome"]));
    assert_frames(&d.recv(&peer), &[b"welcome"], "our DEALER got");

    let zap = peer.ask(Some(&mut d), "zaplog");
    assert_eq!(
        zap,
        format!("ZAPLOG PLAIN {} {} 200", hex(b"admin"), hex(b"secret"))
    );
    peer.quit(Some(&mut d));
}

/// Wrong PLAIN password: libzmq's ZAP handler says 400 and libzmq sends its
/// malformed ERROR (`5E "RROR"`); our client must read it as a refusal.
#[test]
fn plain_client_wrong_password_gets_peer_error_from_libzmq() {
    let mut peer = Peer::spawn(&[
        "--type",
        "ROUTER",
        "--bind",
        "--plain-server",
        "--zap-plain",
        "admin:secret",
    ]);
    let config = Config::new(SocketType::Dealer)
        .with_mechanism(plain_client("admin", "wrong"))
        .expect("plain");
    let mut d = Driver::connect(&peer, config);
    let err = d.expect_failure();
    assert_eq!(
        err,
        ConnectionError::PeerError {
            reason: "400".into()
        },
        "received bytes: {}",
        hex(&d.received)
    );
    assert!(!d.handshake_done);
    // libzmq 4.3.5's PLAIN ERROR really is the malformed form (pitfall 5); if a
    // newer libzmq fixes it, this documents which path the test exercised.
    assert!(
        contains(&d.received, b"\x04\x09\x5eRROR\x03400"),
        "expected libzmq's malformed PLAIN ERROR; received {}",
        hex(&d.received)
    );
    assert_eq!(
        peer.ask(None, "zaplog"),
        format!("ZAPLOG PLAIN {} {} 400", hex(b"admin"), hex(b"wrong"))
    );
    peer.quit(None);
}

/// libzmq's PLAIN client against our PLAIN server: we get AuthRequest with its
/// credentials, allow, and messages flow both ways.
#[test]
fn plain_server_allows_libzmq_plain_client() {
    let (l, endpoint) = listener();
    let mut peer = Peer::spawn(&[
        "--type",
        "DEALER",
        "--connect",
        &endpoint,
        "--plain-client",
        "admin:secret",
        "--routing-id",
        &hex(b"py"),
    ]);
    let config = Config::new(SocketType::Router)
        .with_mechanism(MechanismConfig::PlainServer)
        .expect("plain");
    let mut d = Driver::accept(&l, &peer, config).with_auth(|req| match &req.credentials {
        Credentials::Plain { username, password }
            if &username[..] == b"admin" && &password[..] == b"secret" =>
        {
            AuthReply::allow()
        }
        other => AuthReply::deny(format!("unexpected credentials {other:?}")),
    });
    d.handshake(&peer);
    assert_eq!(d.auth_requests.len(), 1);
    assert_eq!(
        d.auth_requests[0].credentials,
        Credentials::Plain {
            username: "admin".into(),
            password: "secret".into()
        }
    );
    assert_eq!(
        d.conn.peer().map(|p| p.routing_id.clone()),
        Some("py".into())
    );

    peer.send(&mut d, &spec(&[b"hi", b""]));
    assert_frames(&d.recv(&peer), &[b"hi", b""], "our ROUTER got");
    d.send(&[b"back"]);
    assert_frames(&peer.recv(&mut d), &[b"back"], "libzmq DEALER got");
    peer.quit(Some(&mut d));
}

/// Our PLAIN server denies libzmq's client: we fail with AuthDenied after sending
/// ERROR "400", libzmq's handshake fails, and its queued message never arrives.
#[test]
fn plain_server_deny_blocks_libzmq_plain_client() {
    let (l, endpoint) = listener();
    let mut peer = Peer::spawn(&[
        "--type",
        "DEALER",
        "--connect",
        &endpoint,
        "--plain-client",
        "mallory:guess",
        "--monitor",
    ]);
    // Queued before the connection exists; it must never be delivered to us.
    assert_eq!(peer.ask(None, &format!("send {}", hex(b"sneaky"))), "SENT");
    let config = Config::new(SocketType::Router)
        .with_mechanism(MechanismConfig::PlainServer)
        .expect("plain");
    let mut d = Driver::accept(&l, &peer, config).with_auth(|_| AuthReply::deny("no entry"));
    let err = d.expect_failure();
    assert_eq!(
        err,
        ConnectionError::AuthDenied {
            status: 400,
            text: "no entry".into()
        }
    );
    assert!(!d.handshake_done);
    assert_eq!(d.auth_requests.len(), 1);
    assert!(
        matches!(&d.auth_requests[0].credentials,
            Credentials::Plain { username, password }
                if &username[..] == b"mallory" && &password[..] == b"guess"),
        "{:?}",
        d.auth_requests[0]
    );
    assert!(
        contains(&d.sent, b"\x04\x0a\x05ERROR\x03400"),
        "we should have sent ERROR 400: {}",
        hex(&d.sent)
    );
    // The refused password is never echoed: not on the wire back to the
    // client, not in the error, not in the request's or the error's Debug.
    assert!(!contains(&d.sent, b"guess"), "{}", hex(&d.sent));
    assert!(!err.to_string().contains("guess"), "{err}");
    assert!(!format!("{err:?}").contains("guess"), "{err:?}");
    assert!(!format!("{:?}", d.auth_requests[0]).contains("guess"));
    assert!(
        !d.events.iter().any(|e| matches!(e, Event::Message(_))),
        "a message got through: {:?}",
        d.events
    );
    assert!(matches!(
        d.conn.send(Msg::from("x")),
        Err(SendError::Closed(_))
    ));
    d.shutdown();

    let failed = peer.ask(
        None,
        "event HANDSHAKE_FAILED_PROTOCOL,HANDSHAKE_FAILED_AUTH,HANDSHAKE_FAILED_NO_DETAIL,HANDSHAKE_SUCCEEDED 5000",
    );
    assert!(
        failed.starts_with("EVENT HANDSHAKE_FAILED_"),
        "libzmq should report a failed handshake, got {failed}"
    );
    assert_eq!(peer.ask(None, "recv 100"), "TIMEOUT");
    let seen = peer.ask(None, "seen");
    assert!(!seen.contains("HANDSHAKE_SUCCEEDED"), "{seen}");
    peer.quit(None);
}

// ---------------------------------------------------------------------------
// CURVE
// ---------------------------------------------------------------------------

/// Our CURVE client (fresh keys) against libzmq's CURVE server: libzmq's ZAP sees
/// our long-term key, and multipart, empty and 1 MiB frames travel both ways.
#[test]
fn curve_client_exchanges_with_libzmq_curve_server() {
    let server = keys();
    let client = keys();
    let mut peer = Peer::spawn(&[
        "--type",
        "ROUTER",
        "--bind",
        &format!("--curve-server={}", server.secret.to_z85()),
        &format!("--zap-curve={}", client.public.to_z85()),
    ]);
    let config = Config::new(SocketType::Dealer)
        .with_routing_id("curve-dealer")
        .expect("routing id")
        .with_mechanism(MechanismConfig::CurveClient {
            server_key: server.public,
            keypair: client.clone(),
        })
        .expect("curve");
    let mut d = Driver::connect(&peer, config);
    d.handshake(&peer);
    assert_eq!(d.conn.peer().and_then(|p| p.curve_key), Some(server.public));

    let big = pattern(MIB);
    d.send(&[b"", &big, b"x"]);
    assert_frames(
        &peer.recv(&mut d),
        &[b"curve-dealer", b"", &big, b"x"],
        "libzmq got",
    );

    peer.send(&mut d, &format!("{},-,*{MIB},7a", hex(b"curve-dealer")));
    assert_frames(&d.recv(&peer), &[b"", &big, b"z"], "our DEALER got");

    peer.send(&mut d, &spec(&[b"curve-dealer", b"small"]));
    assert_frames(&d.recv(&peer), &[b"small"], "our DEALER got");

    assert_eq!(
        peer.ask(Some(&mut d), "zaplog"),
        format!("ZAPLOG CURVE {} 200", hex(client.public.as_bytes()))
    );
    peer.quit(Some(&mut d));
}

/// libzmq's CURVE client against our CURVE server: the AuthRequest carries the
/// client's long-term key, which we check before allowing; messages flow both ways.
#[test]
fn curve_server_authenticates_libzmq_curve_client_by_key() {
    let server = keys();
    let client = keys();
    let (l, endpoint) = listener();
    let mut peer = Peer::spawn(&[
        "--type",
        "DEALER",
        "--connect",
        &endpoint,
        "--routing-id",
        &hex(b"curve-py"),
        &curve_client_arg(&server, &client),
    ]);
    let config = Config::new(SocketType::Router)
        .with_mechanism(MechanismConfig::CurveServer { keypair: server })
        .expect("curve");
    let expected = client.public;
    let mut d = Driver::accept(&l, &peer, config).with_auth(move |req| match &req.credentials {
        Credentials::Curve { public_key } if *public_key == expected => AuthReply::allow(),
        other => AuthReply::deny(format!("unknown key {other:?}")),
    });
    d.handshake(&peer);
    assert_eq!(d.auth_requests.len(), 1);
    assert_eq!(
        d.auth_requests[0].credentials,
        Credentials::Curve {
            public_key: client.public
        }
    );
    let info = d.conn.peer().expect("peer").clone();
    assert_eq!(info.curve_key, Some(client.public));
    assert_eq!(&info.routing_id[..], b"curve-py");

    peer.send(&mut d, &spec(&[b"", b"hello"]));
    assert_frames(&d.recv(&peer), &[b"", b"hello"], "our ROUTER got");
    d.send(&[b"", b"world", b"!"]);
    assert_frames(
        &peer.recv(&mut d),
        &[b"", b"world", b"!"],
        "libzmq DEALER got",
    );
    peer.quit(Some(&mut d));
}

/// Every length class of MESSAGE box against libzmq, both ways, with our side
/// as the server: lengths around Salsa20's and Poly1305's block sizes, and
/// around the 8 KiB where our boxes switch Poly1305 implementation (the box
/// holds a flags byte, so 8191 bytes of payload make an 8 KiB box).
#[test]
fn curve_frames_of_every_length_class_cross_libzmq_both_ways() {
    let server = keys();
    let client = keys();
    let (l, endpoint) = listener();
    let mut peer = Peer::spawn(&[
        "--type",
        "DEALER",
        "--connect",
        &endpoint,
        &curve_client_arg(&server, &client),
    ]);
    let config = Config::new(SocketType::Router)
        .with_mechanism(MechanismConfig::CurveServer { keypair: server })
        .expect("curve");
    let mut d = Driver::accept(&l, &peer, config).with_auth(|_| AuthReply::allow());
    d.handshake(&peer);

    let lens = [
        0, 1, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 127, 128, 1000, 8190, 8191, 8192, 8193,
        70_000,
    ];
    let frames: Vec<Vec<u8>> = lens.iter().map(|&n| pattern(n)).collect();
    let want: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    let star: Vec<String> = lens
        .iter()
        .map(|&n| {
            if n == 0 {
                "-".to_owned()
            } else {
                format!("*{n}")
            }
        })
        .collect();

    peer.send(&mut d, &star.join(","));
    assert_frames(&d.recv(&peer), &want, "our connection got");
    d.send(&want);
    assert_frames(&peer.recv(&mut d), &want, "libzmq DEALER got");
    peer.quit(Some(&mut d));
}

/// Our CURVE client with the wrong server key: libzmq cannot open our HELLO,
/// reports ZMTP_CRYPTOGRAPHIC and closes; we end with ClosedAfterHello (the
/// close that follows a HELLO the server could not open), never active.
#[test]
fn curve_client_with_wrong_server_key_is_rejected_by_libzmq() {
    let server = keys();
    let impostor = keys();
    let mut peer = Peer::spawn(&[
        "--type",
        "ROUTER",
        "--bind",
        "--monitor",
        &format!("--curve-server={}", server.secret.to_z85()),
    ]);
    let config = Config::new(SocketType::Dealer)
        .with_mechanism(MechanismConfig::CurveClient {
            server_key: impostor.public,
            keypair: keys(),
        })
        .expect("curve");
    let mut d = Driver::connect(&peer, config);
    let err = d.expect_failure();
    assert_eq!(err, ConnectionError::ClosedAfterHello);
    assert!(!err.is_permanent());
    assert!(!d.handshake_done);
    let event = peer.ask(
        None,
        "event HANDSHAKE_FAILED_PROTOCOL,HANDSHAKE_FAILED_NO_DETAIL,HANDSHAKE_SUCCEEDED 5000",
    );
    // 0x11000001 = ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC.
    assert_eq!(
        event,
        format!("EVENT HANDSHAKE_FAILED_PROTOCOL {}", 0x1100_0001)
    );
    peer.quit(None);
}

/// libzmq SUB with CURVE connects to our CURVE PUB: the subscription arrives
/// encrypted (inner COMMAND flag) as Event::Subscribe, and our message reaches it.
#[test]
fn curve_pub_server_gets_encrypted_subscription_from_libzmq_sub() {
    let server = keys();
    let client = keys();
    let (l, endpoint) = listener();
    let mut peer = Peer::spawn(&[
        "--type",
        "SUB",
        "--connect",
        &endpoint,
        "--subscribe",
        &hex(b"t"),
        &curve_client_arg(&server, &client),
    ]);
    let config = Config::new(SocketType::Pub)
        .with_mechanism(MechanismConfig::CurveServer { keypair: server })
        .expect("curve");
    let mut d = Driver::accept(&l, &peer, config).with_auth(|_| AuthReply::allow());
    d.handshake(&peer);
    d.pump_until("Subscribe", |d| {
        d.events.iter().any(|e| matches!(e, Event::Subscribe(_)))
    })
    .expect("subscription");
    assert_eq!(
        d.take_event(|e| matches!(e, Event::Subscribe(_))),
        Some(Event::Subscribe("t".into()))
    );
    d.send(&[b"t-1", b"payload"]);
    assert_frames(&peer.recv(&mut d), &[b"t-1", b"payload"], "libzmq SUB got");
    peer.quit(Some(&mut d));
}

/// Our CURVE SUB subscribes at libzmq's CURVE XPUB: the encrypted SUBSCRIBE is
/// understood (`01 topic` at XPUB) and the publication comes back.
#[test]
fn curve_sub_client_subscription_reaches_libzmq_xpub() {
    let server = keys();
    let mut peer = Peer::spawn(&[
        "--type",
        "XPUB",
        "--bind",
        &format!("--curve-server={}", server.secret.to_z85()),
    ]);
    let config = Config::new(SocketType::Sub)
        .with_mechanism(MechanismConfig::CurveClient {
            server_key: server.public,
            keypair: keys(),
        })
        .expect("curve");
    let mut d = Driver::connect(&peer, config);
    d.handshake(&peer);
    d.conn.send_subscribe(b"news").expect("subscribe");
    d.flush();
    assert_frames(&peer.recv(&mut d), &[b"\x01news"], "libzmq XPUB got");
    peer.send(&mut d, &spec(&[b"news.x", b"", b"y"]));
    assert_frames(&d.recv(&peer), &[b"news.x", b"", b"y"], "our SUB got");
    peer.quit(Some(&mut d));
}

// ---------------------------------------------------------------------------
// Heartbeats
// ---------------------------------------------------------------------------

/// libzmq with HEARTBEAT_IVL 100 ms / TIMEOUT 600 ms PINGs us during 900 ms of
/// silence; we must PONG every time (bytes on the wire) and libzmq must not drop us.
#[test]
fn heartbeat_libzmq_pings_are_answered_with_pong() {
    let mut peer = Peer::spawn(&[
        "--type",
        "ROUTER",
        "--bind",
        "--monitor",
        "--heartbeat",
        "100:600",
    ]);
    let config = Config::new(SocketType::Dealer)
        .with_routing_id("hb")
        .expect("routing id");
    let mut d = Driver::connect(&peer, config);
    d.handshake(&peer);
    let (rx_mark, tx_mark) = (d.received.len(), d.sent.len());
    d.pump_for(Duration::from_millis(900))
        .unwrap_or_else(|e| panic!("connection died while idle: {e}{}", peer.diag()));
    let pings = count(&d.received[rx_mark..], b"\x04PING");
    let pongs = count(&d.sent[tx_mark..], b"\x04PONG");
    assert!(pings >= 2, "libzmq sent only {pings} PINGs");
    assert!(
        pongs + 1 >= pings && pongs >= 2,
        "{pings} PINGs but {pongs} PONGs; sent {}",
        hex(&d.sent[tx_mark..])
    );

    d.send(&[b"still", b"alive"]);
    assert_frames(
        &peer.recv(&mut d),
        &[b"hb", b"still", b"alive"],
        "libzmq got",
    );
    peer.send(&mut d, &spec(&[b"hb", b"yes"]));
    assert_frames(&d.recv(&peer), &[b"yes"], "our DEALER got");
    let seen = peer.ask(Some(&mut d), "seen");
    assert!(!seen.contains("DISCONNECTED"), "libzmq dropped us: {seen}");
    peer.quit(Some(&mut d));
}

/// Our HEARTBEAT_IVL (100 ms): we send PINGs during 900 ms of silence and libzmq
/// answers each with PONG; the connection stays up.
#[test]
fn heartbeat_our_pings_are_answered_by_libzmq() {
    let mut peer = Peer::spawn(&["--type", "ROUTER", "--bind"]);
    let config = Config::new(SocketType::Dealer)
        .with_routing_id("pinger")
        .expect("routing id")
        .with_heartbeat_ivl(Some(Duration::from_millis(100)))
        .with_heartbeat_timeout(Some(Duration::from_secs(2)));
    let mut d = Driver::connect(&peer, config);
    d.handshake(&peer);
    let (rx_mark, tx_mark) = (d.received.len(), d.sent.len());
    d.pump_for(Duration::from_millis(900))
        .unwrap_or_else(|e| panic!("connection died while idle: {e}{}", peer.diag()));
    let pings = count(&d.sent[tx_mark..], b"\x04PING");
    let pongs = count(&d.received[rx_mark..], b"\x04PONG");
    assert!(pings >= 3, "we sent only {pings} PINGs");
    assert!(
        pongs >= 2 && pongs <= pings,
        "{pings} PINGs but {pongs} PONGs; received {}",
        hex(&d.received[rx_mark..])
    );
    d.send(&[b"after"]);
    assert_frames(&peer.recv(&mut d), &[b"pinger", b"after"], "libzmq got");
    peer.quit(Some(&mut d));
}

/// Over CURVE, libzmq's PINGs (HEARTBEAT_IVL 100 ms / TIMEOUT 600 ms) arrive
/// encrypted and our encrypted PONGs must satisfy libzmq: it keeps the
/// connection through 900 ms of silence.
#[test]
fn heartbeat_over_curve_libzmq_pings_we_pong() {
    let server = keys();
    let mut peer = Peer::spawn(&[
        "--type",
        "ROUTER",
        "--bind",
        "--monitor",
        "--heartbeat",
        "100:600",
        &format!("--curve-server={}", server.secret.to_z85()),
    ]);
    let config = curve_client(SocketType::Dealer, "hbc", &server);
    let mut d = Driver::connect(&peer, config);
    d.handshake(&peer);
    let (rx_mark, tx_mark) = (d.received.len(), d.sent.len());
    d.pump_for(Duration::from_millis(900))
        .unwrap_or_else(|e| panic!("connection died while idle: {e}{}", peer.diag()));
    assert!(d.received.len() > rx_mark, "libzmq sent no PING at all");
    assert!(d.sent.len() > tx_mark, "we answered nothing");
    assert!(
        d.events.is_empty(),
        "PINGs leaked as events: {:?}",
        d.events
    );

    d.send(&[b"ok"]);
    assert_frames(&peer.recv(&mut d), &[b"hbc", b"ok"], "libzmq got");
    let seen = peer.ask(Some(&mut d), "seen");
    assert!(!seen.contains("DISCONNECTED"), "libzmq dropped us: {seen}");
    peer.quit(Some(&mut d));
}

/// Over CURVE, our PINGs (100 ms, timeout 600 ms) must be decrypted and answered
/// by libzmq (which sends nothing else): a missing PONG fails with HeartbeatTimeout.
#[test]
fn heartbeat_over_curve_our_pings_are_answered_by_libzmq() {
    let server = keys();
    let mut peer = Peer::spawn(&[
        "--type",
        "ROUTER",
        "--bind",
        &format!("--curve-server={}", server.secret.to_z85()),
    ]);
    let config = curve_client(SocketType::Dealer, "pc", &server)
        .with_heartbeat_ivl(Some(Duration::from_millis(100)))
        .with_heartbeat_timeout(Some(Duration::from_millis(600)));
    let mut d = Driver::connect(&peer, config);
    d.handshake(&peer);
    let rx_mark = d.received.len();
    d.pump_for(Duration::from_millis(900))
        .unwrap_or_else(|e| panic!("connection died while idle: {e}{}", peer.diag()));
    assert!(d.received.len() > rx_mark, "libzmq never answered a PING");
    assert!(
        d.events.is_empty(),
        "PONGs leaked as events: {:?}",
        d.events
    );
    d.send(&[b"after"]);
    assert_frames(&peer.recv(&mut d), &[b"pc", b"after"], "libzmq got");
    peer.quit(Some(&mut d));
}

/// A CURVE client configuration with a fresh key pair for `server`.
fn curve_client(socket_type: SocketType, routing_id: &str, server: &KeyPair) -> Config {
    Config::new(socket_type)
        .with_routing_id(routing_id.to_owned())
        .expect("routing id")
        .with_mechanism(MechanismConfig::CurveClient {
            server_key: server.public,
            keypair: keys(),
        })
        .expect("curve")
}

// ---------------------------------------------------------------------------
// ZMTP/2.0 and 1.0 peers: libzmq as the oracle of what an old peer is sent
// ---------------------------------------------------------------------------

/// A raw ZMTP/2.0 peer's opening: greeting of socket type `ty`, identity "ID",
/// one message "abc".
fn old_v2_opening(ty: SocketType) -> Vec<u8> {
    let mut v = zmtp_core::wire::greeting::Greeting::signature(2).to_vec();
    v.extend_from_slice(&[1, ty.number()]);
    v.extend_from_slice(b"\x00\x02ID\x00\x03abc");
    v
}

/// A raw ZMTP/1.0 peer's opening (no signature): identity "ID", message "abc".
const OLD_V1_OPENING: &[u8] = b"\x03\x00ID\x04\x00abc";

/// Everything a live libzmq socket (bound by the peer script with `args`) writes
/// to a raw client that sends `input` at once, read until the socket has been
/// quiet for 300 ms; and the message libzmq received from it.
fn libzmq_answer(args: &[&str], input: &[u8]) -> (Vec<u8>, String) {
    let mut peer = Peer::spawn(args);
    let mut s = TcpStream::connect(("127.0.0.1", peer.port())).expect("connect to libzmq");
    s.write_all(input).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let received = peer.ask(None, "recv");
    peer.quit(None);
    (got, received)
}

/// What our connection writes for the same input, and the messages it reports.
fn our_answer(ty: SocketType, input: &[u8]) -> (Vec<u8>, Vec<Msg>) {
    let mut c = Connection::new(Arc::new(Config::new(ty)), Instant::now());
    let mut out = Vec::new();
    let mut buf = BytesMut::from(input);
    c.handle_input(Instant::now(), &mut buf).unwrap();
    while let Some(chunk) = c.poll_transmit() {
        out.extend_from_slice(&chunk);
    }
    let msgs = std::iter::from_fn(|| c.poll_event())
        .filter_map(|e| match e {
            Event::Message(m) => Some(m),
            _ => None,
        })
        .collect();
    (out, msgs)
}

#[test]
fn old_peers_get_from_us_exactly_what_libzmq_sends_them() {
    // (No SUB here: a bound libzmq socket attaches a new peer's pipe, and so
    // sends its subscriptions, only when its application next calls it, so what
    // it sends within a time window is not a fixed answer.)
    for (ty, peer_ty, name) in [
        (SocketType::Router, SocketType::Dealer, "ROUTER"),
        (SocketType::Pull, SocketType::Push, "PULL"),
        (SocketType::XPub, SocketType::Sub, "XPUB"),
    ] {
        for (generation, input) in [
            ("2.0", old_v2_opening(peer_ty)),
            ("1.0", OLD_V1_OPENING.to_vec()),
        ] {
            let (theirs, received) = libzmq_answer(&["--type", name, "--bind"], &input);
            let (ours, msgs) = our_answer(ty, &input);
            assert_eq!(
                hex(&ours),
                hex(&theirs),
                "{name} to a ZMTP/{generation} peer"
            );
            if ty == SocketType::XPub {
                // To a publisher "abc" is neither a message nor a subscription;
                // from a 1.0 peer libzmq's XPUB sees its injected catch-all.
                if generation == "1.0" {
                    assert_eq!(parse_msg(&received), Some(vec![vec![1u8]]));
                }
                continue;
            }
            // Both took the identity for what it is and the message as data
            // (the connection reports no routing id: the engine adds it).
            let want: Vec<Vec<u8>> = match ty {
                SocketType::Router => vec![b"ID".to_vec(), b"abc".to_vec()],
                _ => vec![b"abc".to_vec()],
            };
            assert_eq!(parse_msg(&received), Some(want), "{name} {generation}");
            assert_eq!(msgs, vec![Msg::from("abc")], "{name} {generation}");
        }
    }
}

/// Our CURVE ROUTER and libzmq's CURVE DEALER on one connection, after the
/// handshake; `--curve-client` keys made up for the test.
fn curve_server_with_libzmq_client() -> (Peer, Driver) {
    let server = keys();
    let client = keys();
    let (l, endpoint) = listener();
    let peer = Peer::spawn(&[
        "--type",
        "DEALER",
        "--connect",
        &endpoint,
        &curve_client_arg(&server, &client),
    ]);
    let config = Config::new(SocketType::Router)
        .with_mechanism(MechanismConfig::CurveServer { keypair: server })
        .expect("curve");
    let mut d = Driver::accept(&l, &peer, config).with_auth(|_| AuthReply::allow());
    d.handshake(&peer);
    (peer, d)
}

/// Reads exactly `n` raw bytes from libzmq, bypassing our connection, so the
/// test can tamper with them before the connection sees them.
fn read_raw(d: &mut Driver, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    d.stream.set_read_timeout(Some(OVERALL)).expect("timeout");
    d.stream.read_exact(&mut buf).expect("libzmq's MESSAGE");
    buf
}

/// A MESSAGE libzmq really sent, delivered twice on the same connection: the
/// second copy reuses its nonce, so it is refused (InvalidNonce) and never
/// becomes a second message, as CurveZMQ's replay protection requires.
#[test]
fn curve_server_refuses_a_replayed_libzmq_message_within_the_connection() {
    let (mut peer, mut d) = curve_server_with_libzmq_client();
    let before = d.received.len();
    peer.send(&mut d, &spec(&[b"once"]));
    assert_frames(&d.recv(&peer), &[b"once"], "our ROUTER got");
    let message = d.received[before..].to_vec();
    // One MESSAGE command in a short data frame: 07 MESSAGE nonce(8) box.
    assert_eq!(&message[2..10], b"\x07MESSAGE", "{}", hex(&message));
    d.rbuf.extend_from_slice(&message);
    let replay = d.conn.handle_input(Instant::now(), &mut d.rbuf);
    assert_eq!(replay, Err(ConnectionError::InvalidNonce));
    d.drain_events();
    assert!(
        !d.events.iter().any(|e| matches!(e, Event::Message(_))),
        "the replay was delivered: {:?}",
        d.events
    );
    d.shutdown();
    peer.quit(None);
}

/// libzmq's MESSAGE with one bit flipped in its box (tag or ciphertext) is
/// refused as a cryptographic failure, never delivered, whichever bit.
#[test]
fn curve_server_refuses_a_tampered_libzmq_message() {
    for flip in [18usize, 33, 36] {
        let (mut peer, mut d) = curve_server_with_libzmq_client();
        assert_eq!(peer.ask(None, &format!("send {}", spec(&[b"bad"]))), "SENT");
        // 2-byte header + 07 MESSAGE + nonce(8) + tag(16) + flags(1) + "bad".
        let mut message = read_raw(&mut d, 2 + 8 + 8 + 16 + 1 + 3);
        assert_eq!(&message[2..10], b"\x07MESSAGE", "{}", hex(&message));
        message[flip] ^= 0x10;
        d.rbuf.extend_from_slice(&message);
        let tampered = d.conn.handle_input(Instant::now(), &mut d.rbuf);
        assert_eq!(tampered, Err(ConnectionError::Cryptographic), "byte {flip}");
        d.drain_events();
        assert!(
            !d.events.iter().any(|e| matches!(e, Event::Message(_))),
            "byte {flip}: a tampered message was delivered: {:?}",
            d.events
        );
        d.shutdown();
        peer.quit(None);
    }
}
