//! The engine against real libzmq (pyzmq) over TCP, driven by a minimal
//! blocking loop: proof that the engine's actions are all a runtime needs.

// Real sockets and the real clock: this is the one place the engine meets I/O.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use zmq_patterns::engine::{Action, ConnId, Endpoint, Engine, EngineConfig, Host, ListenerId};
use zmq_patterns::RecvError;
use zmq_test_support::python::PeerProcess;
use zmtp_core::{Config, Msg, SocketType};

/// The one-socket libzmq peer of zmq-test-support, as zmtp-core's interop
/// tests drive it.
struct Peer {
    /// Its answer lines are read by a thread, so the engine keeps running
    /// meanwhile.
    process: PeerProcess,
}

impl Peer {
    fn start(args: &[&str]) -> (Self, String) {
        let process = PeerProcess::spawn(args);
        let first = process
            .line_within(Duration::from_secs(20))
            .map(|line| line.trim().to_owned())
            .unwrap_or_default();
        assert!(
            first.starts_with("PORT") || first.starts_with("READY"),
            "libzmq peer did not start ({first:?}); is pyzmq installed? pip install -r requirements-test.txt"
        );
        (Self { process }, first)
    }

    /// Sends a command and keeps the engine running until the answer comes.
    fn ask(&mut self, d: &mut Driver, line: &str) -> String {
        self.process.write_line(line);
        let mut answer = None;
        d.run_until(|_| {
            answer = self.process.try_line().ok();
            answer.is_some()
        });
        answer.unwrap().trim().to_owned()
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The blocking runtime in miniature: sockets, a loop, nothing of the protocol.
struct Driver {
    engine: Engine,
    streams: HashMap<ConnId, (TcpStream, BytesMut)>,
    listeners: HashMap<ListenerId, TcpListener>,
}

impl Driver {
    fn new(config: Config) -> Self {
        Self {
            engine: Engine::new(Instant::now(), EngineConfig::new(config)),
            streams: HashMap::new(),
            listeners: HashMap::new(),
        }
    }

    fn tcp_addr(ep: &Endpoint) -> SocketAddr {
        let Endpoint::Tcp { host, port } = ep else {
            panic!("tcp only here")
        };
        let ip = match host {
            Host::Ip(ip) => *ip,
            _ => "127.0.0.1".parse().unwrap(),
        };
        SocketAddr::new(ip, port.unwrap_or(0))
    }

    /// Runs the loop until `done` holds or five seconds pass.
    fn run_until(&mut self, mut done: impl FnMut(&mut Engine) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !done(&mut self.engine) {
            assert!(Instant::now() < deadline, "timed out");
            self.step();
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn step(&mut self) {
        let now = Instant::now();
        while let Some(action) = self.engine.poll_action() {
            match action {
                Action::Listen { id, endpoint } => {
                    let l = TcpListener::bind(Self::tcp_addr(&endpoint)).unwrap();
                    l.set_nonblocking(true).unwrap();
                    let addr = l.local_addr().unwrap();
                    let bound = Endpoint::Tcp {
                        host: Host::Ip(addr.ip()),
                        port: Some(addr.port()),
                    };
                    self.engine.handle_listening(id, bound);
                    self.listeners.insert(id, l);
                }
                Action::Connect { id, endpoint } => {
                    match TcpStream::connect(Self::tcp_addr(&endpoint)) {
                        Ok(s) => {
                            s.set_nonblocking(true).unwrap();
                            s.set_nodelay(true).unwrap();
                            let peer = s.peer_addr().unwrap().ip().to_string();
                            if let Some(c) = self.engine.handle_connected(now, id, peer) {
                                self.streams.insert(c, (s, BytesMut::new()));
                            }
                        }
                        Err(_) => self.engine.handle_connect_failed(now, id),
                    }
                }
                Action::Close(id) => {
                    if let Some((mut s, _)) = self.streams.remove(&id) {
                        while let Some(chunk) = self.engine.poll_transmit(id) {
                            let _ = write_all(&mut s, &chunk);
                        }
                    }
                }
                Action::StopListening(id) => {
                    self.listeners.remove(&id);
                }
                Action::Flush(_) | Action::ResumeRead(_) => {}
            }
        }
        for (&id, l) in &self.listeners {
            while let Ok((s, addr)) = l.accept() {
                s.set_nonblocking(true).unwrap();
                s.set_nodelay(true).unwrap();
                let c = self.engine.handle_accepted(now, id, addr.ip().to_string());
                self.streams.insert(c, (s, BytesMut::new()));
            }
        }
        let ids: Vec<ConnId> = self.streams.keys().copied().collect();
        for id in ids {
            let Some((s, rbuf)) = self.streams.get_mut(&id) else {
                continue;
            };
            while let Some(chunk) = self.engine.poll_transmit(id) {
                write_all(s, &chunk).unwrap();
            }
            if !self.engine.wants_read(id) {
                continue;
            }
            let mut tmp = [0u8; 65536];
            match s.read(&mut tmp) {
                Ok(0) => self.engine.handle_eof(now, id),
                Ok(n) => {
                    rbuf.extend_from_slice(&tmp[..n]);
                    self.engine.handle_input(now, id, rbuf);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => self.engine.handle_eof(now, id),
            }
        }
        if self.engine.poll_timeout().is_some_and(|t| t <= now) {
            self.engine.handle_timeout(now);
        }
    }

    fn bound_port(&mut self) -> u16 {
        self.step();
        let l = self.listeners.values().next().expect("listening");
        l.local_addr().unwrap().port()
    }
}

fn write_all(s: &mut TcpStream, mut buf: &[u8]) -> std::io::Result<()> {
    while !buf.is_empty() {
        match s.write(buf) {
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn recv(d: &mut Driver) -> Msg {
    let mut got = None;
    d.run_until(|e| match e.recv() {
        Ok(m) => {
            got = Some(m);
            true
        }
        Err(RecvError::WouldBlock) => false,
        Err(err) => panic!("{err}"),
    });
    got.unwrap()
}

#[test]
fn engine_req_talks_to_libzmq_rep() {
    let (mut rep, first) = Peer::start(&["--type", "REP", "--bind"]);
    let port = first.trim_start_matches("PORT ").to_owned();
    let mut d = Driver::new(Config::new(SocketType::Req));
    d.engine
        .connect(&format!("tcp://127.0.0.1:{port}"))
        .unwrap();
    d.engine.send(Msg::from("hello")).unwrap();
    assert_eq!(
        rep.ask(&mut d, "recv 3000"),
        format!("MSG {}", hex(b"hello"))
    );
    assert_eq!(rep.ask(&mut d, &format!("send {}", hex(b"world"))), "SENT");
    assert_eq!(recv(&mut d), Msg::from("world"));
}

#[test]
fn engine_router_routes_replies_to_a_libzmq_dealer() {
    let mut d = Driver::new(Config::new(SocketType::Router));
    d.engine.bind("tcp://127.0.0.1:*").unwrap();
    let port = d.bound_port();
    let (mut dealer, _) = Peer::start(&[
        "--type",
        "DEALER",
        "--connect",
        &format!("tcp://127.0.0.1:{port}"),
        "--routing-id",
        &hex(b"lz"),
    ]);
    assert_eq!(
        dealer.ask(&mut d, &format!("send {}", hex(b"ping"))),
        "SENT"
    );
    assert_eq!(recv(&mut d), Msg::from_iter(["lz", "ping"]));
    d.engine.send(Msg::from_iter(["lz", "pong"])).unwrap();
    assert_eq!(
        dealer.ask(&mut d, "recv 3000"),
        format!("MSG {}", hex(b"pong"))
    );
}

#[test]
fn engine_xpub_filters_for_a_libzmq_sub() {
    let mut d = Driver::new(Config::new(SocketType::XPub));
    d.engine.bind("tcp://127.0.0.1:*").unwrap();
    let port = d.bound_port();
    let (mut sub, _) = Peer::start(&[
        "--type",
        "SUB",
        "--connect",
        &format!("tcp://127.0.0.1:{port}"),
        "--subscribe",
        &hex(b"w"),
    ]);
    // The subscription reaches the XPUB application as 0x01 + topic.
    assert_eq!(recv(&mut d), Msg::from(&b"\x01w"[..]));
    d.engine.send(Msg::from("x-skip")).unwrap();
    d.engine.send(Msg::from("w-keep")).unwrap();
    assert_eq!(
        sub.ask(&mut d, "recv 3000"),
        format!("MSG {}", hex(b"w-keep"))
    );
    assert_eq!(sub.ask(&mut d, "recv 200"), "TIMEOUT");
}

#[test]
fn engine_plain_server_admits_and_refuses_libzmq_clients() {
    use zmq_patterns::engine::AllowList;
    use zmtp_core::MechanismConfig;
    let cfg = Config::new(SocketType::Pull)
        .with_mechanism(MechanismConfig::PlainServer)
        .unwrap();
    let mut d = Driver::new(cfg);
    d.engine
        .set_authenticator(Box::new(AllowList::new().allow_user("admin", "secret")));
    d.engine.bind("tcp://127.0.0.1:*").unwrap();
    let port = d.bound_port();
    let ep = format!("tcp://127.0.0.1:{port}");
    let (mut bad, _) = Peer::start(&[
        "--type",
        "PUSH",
        "--connect",
        &ep,
        "--plain-client",
        "admin:wrong",
    ]);
    let (mut good, _) = Peer::start(&[
        "--type",
        "PUSH",
        "--connect",
        &ep,
        "--plain-client",
        "admin:secret",
    ]);
    assert_eq!(
        bad.ask(&mut d, &format!("send {}", hex(b"intruder"))),
        "SENT"
    );
    assert_eq!(
        good.ask(&mut d, &format!("send {}", hex(b"friend"))),
        "SENT"
    );
    assert_eq!(recv(&mut d), Msg::from("friend"));
    for _ in 0..200 {
        d.step();
    }
    assert!(
        matches!(d.engine.recv(), Err(RecvError::WouldBlock)),
        "the refused client delivered"
    );
}

#[test]
fn engine_curve_client_talks_to_a_libzmq_curve_server() {
    use zmtp_core::{KeyPair, MechanismConfig};
    let server = KeyPair::generate();
    let client = KeyPair::generate();
    let (mut rep, first) = Peer::start(&[
        "--type",
        "REP",
        "--bind",
        &format!("--curve-server={}", server.secret.to_z85()),
        &format!("--zap-curve={}", client.public.to_z85()),
    ]);
    let port = first.trim_start_matches("PORT ").to_owned();
    let cfg = Config::new(SocketType::Req)
        .with_mechanism(MechanismConfig::CurveClient {
            server_key: server.public,
            keypair: client,
        })
        .unwrap();
    let mut d = Driver::new(cfg);
    d.engine
        .connect(&format!("tcp://127.0.0.1:{port}"))
        .unwrap();
    d.engine.send(Msg::from("secret question")).unwrap();
    assert_eq!(
        rep.ask(&mut d, "recv 3000"),
        format!("MSG {}", hex(b"secret question"))
    );
    assert_eq!(
        rep.ask(&mut d, &format!("send {}", hex(b"secret answer"))),
        "SENT"
    );
    assert_eq!(recv(&mut d), Msg::from("secret answer"));
}
