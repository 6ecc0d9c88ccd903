//! Engines wired by a simulated network under virtual time: connect before bind,
//! reconnect, linger, heartbeat timeout, HWM back-pressure, authentication
//! denial. No sleeps, no sockets.

// Virtual time starts from one real instant and never reads the clock again.
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use zmq_patterns::engine::{
    Action, AllowList, ConnId, Endpoint, Engine, EngineConfig, Host, ListenerId, MonitorEvent,
};
use zmq_patterns::{Options, PipeItem, RecvError, SendError};
use zmtp_core::{Config, ConnectionError, KeyPair, MechanismConfig, Msg, SocketType};

const MS: Duration = Duration::from_millis(1);
/// What the simulated kernel buffers of one direction hold.
const WIRE_CAPACITY: usize = 256 * 1024;

/// One direction of a stream.
#[derive(Default)]
struct Wire {
    /// Sent, not yet arrived: (arrival time, bytes), for a network with latency.
    delayed: std::collections::VecDeque<(Instant, Vec<u8>)>,
    in_flight: BytesMut,
    rbuf: BytesMut,
    /// The sender closed: deliver EOF once the bytes are through.
    eof: bool,
    eof_delivered: bool,
}

struct Link {
    ends: [(usize, ConnId); 2],
    /// wires[i] carries bytes towards ends[i].
    wires: [Wire; 2],
    /// While set, nothing is delivered (a dead peer or a cable pulled quietly).
    stalled: bool,
}

struct Net {
    nodes: Vec<Engine>,
    listeners: HashMap<String, (usize, ListenerId)>,
    links: Vec<Link>,
    now: Instant,
    next_port: u16,
    monitor: Vec<Vec<MonitorEvent>>,
    connects: Vec<usize>,
    /// One-way delay of every link.
    latency: Duration,
}

impl Net {
    fn new() -> Self {
        Self {
            nodes: Vec::new(),
            listeners: HashMap::new(),
            links: Vec::new(),
            now: Instant::now(),
            next_port: 40000,
            monitor: Vec::new(),
            connects: Vec::new(),
            latency: Duration::ZERO,
        }
    }

    fn add(&mut self, cfg: EngineConfig) -> usize {
        let mut engine = Engine::new(self.now, cfg);
        engine.set_monitor(true);
        self.nodes.push(engine);
        self.monitor.push(Vec::new());
        self.connects.push(0);
        self.nodes.len() - 1
    }

    /// Adds a node that binds `ep` and, once it listens, one that connects
    /// to it (the handshake is left to the caller's next settle).
    fn bound_pair(
        &mut self,
        binder: EngineConfig,
        connecter: EngineConfig,
        ep: &str,
    ) -> (usize, usize) {
        let b = self.add(binder);
        let c = self.add(connecter);
        self.nodes[b].bind(ep).unwrap();
        self.settle();
        self.nodes[c].connect(ep).unwrap();
        (b, c)
    }

    fn endpoint_key(ep: &Endpoint) -> String {
        ep.to_string()
    }

    /// Performs every pending action and moves bytes until nothing changes.
    fn settle(&mut self) {
        for _ in 0..10_000 {
            if !self.step() {
                return;
            }
        }
        panic!("network did not settle");
    }

    fn step(&mut self) -> bool {
        let mut progress = false;
        for n in 0..self.nodes.len() {
            while let Some(action) = self.nodes[n].poll_action() {
                progress = true;
                self.perform(n, action);
            }
            while let Some(ev) = self.nodes[n].poll_monitor() {
                self.monitor[n].push(ev);
            }
        }
        for l in 0..self.links.len() {
            progress |= self.pump(l);
        }
        progress
    }

    fn perform(&mut self, n: usize, action: Action) {
        let now = self.now;
        match action {
            Action::Listen { id, endpoint } => {
                let bound = match endpoint {
                    Endpoint::Tcp { host, port: None } => {
                        self.next_port += 1;
                        Endpoint::Tcp {
                            host,
                            port: Some(self.next_port),
                        }
                    }
                    other => other,
                };
                self.listeners.insert(Self::endpoint_key(&bound), (n, id));
                self.nodes[n].handle_listening(id, bound);
            }
            Action::StopListening(id) => self.listeners.retain(|_, v| *v != (n, id)),
            Action::Connect { id, endpoint } => {
                self.connects[n] += 1;
                // Our listeners bind 127.0.0.1 or *; connect to either form.
                let key = Self::endpoint_key(&endpoint);
                let alt = match &endpoint {
                    Endpoint::Tcp { port, .. } => Endpoint::Tcp {
                        host: Host::Any,
                        port: *port,
                    }
                    .to_string(),
                    _ => key.clone(),
                };
                let target = self
                    .listeners
                    .get(&key)
                    .or_else(|| self.listeners.get(&alt))
                    .copied();
                match target {
                    Some((m, lid)) => {
                        let a = self.nodes[n]
                            .handle_connected(now, id, "127.0.0.1".into())
                            .unwrap();
                        let b = self.nodes[m].handle_accepted(now, lid, "127.0.0.1".into());
                        self.links.push(Link {
                            ends: [(n, a), (m, b)],
                            wires: [Wire::default(), Wire::default()],
                            stalled: false,
                        });
                    }
                    None => self.nodes[n].handle_connect_failed(now, id),
                }
            }
            Action::Close(conn) => {
                let latency = self.latency;
                let mut last = Vec::new();
                while let Some(chunk) = self.nodes[n].poll_transmit(conn) {
                    last.extend_from_slice(&chunk);
                }
                for link in &mut self.links {
                    for i in 0..2 {
                        if link.ends[i] == (n, conn) {
                            link.wires[1 - i]
                                .delayed
                                .push_back((now + latency, last.clone()));
                            // The other end sees EOF after what is in flight.
                            link.wires[1 - i].eof = true;
                            link.wires[i].eof_delivered = true;
                        }
                    }
                }
            }
            Action::Flush(_) | Action::ResumeRead(_) => {}
        }
    }

    fn pump(&mut self, l: usize) -> bool {
        let now = self.now;
        let mut progress = false;
        for i in 0..2 {
            let (from_node, from_conn) = self.links[l].ends[1 - i];
            let (to_node, to_conn) = self.links[l].ends[i];
            // Sender side: collect its output unless it closed, up to what socket
            // buffers would hold.
            if !self.links[l].wires[i].eof {
                loop {
                    let wire = &self.links[l].wires[i];
                    let queued: usize = wire.in_flight.len()
                        + wire.delayed.iter().map(|(_, b)| b.len()).sum::<usize>();
                    if queued >= WIRE_CAPACITY {
                        break;
                    }
                    let Some(chunk) = self.nodes[from_node].poll_transmit(from_conn) else {
                        break;
                    };
                    let at = now + self.latency;
                    self.links[l].wires[i]
                        .delayed
                        .push_back((at, chunk.to_vec()));
                    progress = true;
                }
            }
            let wire = &mut self.links[l].wires[i];
            while wire.delayed.front().is_some_and(|(at, _)| *at <= now) {
                let (_, bytes) = wire.delayed.pop_front().unwrap();
                wire.in_flight.extend_from_slice(&bytes);
                progress = true;
            }
            if self.links[l].stalled || self.links[l].wires[i].eof_delivered {
                continue;
            }
            let wire = &mut self.links[l].wires[i];
            if !wire.in_flight.is_empty() && self.nodes[to_node].wants_read(to_conn) {
                let bytes = wire.in_flight.split();
                wire.rbuf.extend_from_slice(&bytes);
                let mut rbuf = std::mem::take(&mut wire.rbuf);
                self.nodes[to_node].handle_input(now, to_conn, &mut rbuf);
                self.links[l].wires[i].rbuf = rbuf;
                progress = true;
            }
            let wire = &mut self.links[l].wires[i];
            if wire.eof
                && wire.in_flight.is_empty()
                && wire.delayed.is_empty()
                && !wire.eof_delivered
            {
                wire.eof_delivered = true;
                self.nodes[to_node].handle_eof(now, to_conn);
                progress = true;
            }
        }
        progress
    }

    fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        loop {
            self.settle();
            let arrivals = self
                .links
                .iter()
                .flat_map(|l| l.wires.iter())
                .filter_map(|w| w.delayed.front().map(|(at, _)| *at));
            let next = self
                .nodes
                .iter()
                .filter_map(Engine::poll_timeout)
                .chain(arrivals)
                .filter(|t| *t <= end)
                .min();
            let Some(at) = next else { break };
            self.now = at.max(self.now);
            for n in 0..self.nodes.len() {
                if self.nodes[n].poll_timeout().is_some_and(|t| t <= self.now) {
                    self.nodes[n].handle_timeout(self.now);
                }
            }
        }
        self.now = end;
        self.settle();
    }

    /// Cuts every link of node `n` as if its process died: peers see EOF.
    fn kill(&mut self, n: usize) {
        for link in &mut self.links {
            for i in 0..2 {
                if link.ends[i].0 == n {
                    link.wires[1 - i].eof = true;
                    link.wires[i].eof_delivered = true;
                    link.wires[i].in_flight.clear();
                    link.wires[i].delayed.clear();
                }
            }
        }
        self.listeners.retain(|_, v| v.0 != n);
    }

    fn recv_all(&mut self, n: usize) -> Vec<Msg> {
        let mut out = Vec::new();
        loop {
            match self.nodes[n].recv() {
                Ok(m) => out.push(m),
                Err(RecvError::WouldBlock) => {
                    self.settle();
                    match self.nodes[n].recv() {
                        Ok(m) => out.push(m),
                        Err(_) => return out,
                    }
                }
                Err(e) => panic!("{e}"),
            }
        }
    }
}

fn cfg(t: SocketType) -> EngineConfig {
    EngineConfig::new(Config::new(t))
}

fn msgs(n: usize) -> Vec<Msg> {
    (0..n)
        .map(|i| Msg::from(format!("m{i}").into_bytes()))
        .collect()
}

#[test]
fn push_pull_deliver_in_order_over_a_simulated_stream() {
    let mut net = Net::new();
    let (pull, push) = net.bound_pair(
        cfg(SocketType::Pull),
        cfg(SocketType::Push),
        "tcp://127.0.0.1:5555",
    );
    for m in msgs(50) {
        net.nodes[push].send(m).unwrap();
    }
    net.settle();
    assert_eq!(net.recv_all(pull), msgs(50));
    assert!(net.monitor[pull]
        .iter()
        .any(|e| matches!(e, MonitorEvent::HandshakeSucceeded { .. })));
}

#[test]
fn connect_before_bind_queues_and_delivers_after_retries() {
    let mut net = Net::new();
    let push = net.add(cfg(SocketType::Push));
    let pull = net.add(cfg(SocketType::Pull));
    net.nodes[push].connect("tcp://127.0.0.1:6000").unwrap();
    for m in msgs(5) {
        net.nodes[push].send(m).unwrap();
    }
    net.advance(350 * MS);
    assert!(net.connects[push] >= 2, "retried while nobody listens");
    assert!(net.monitor[push]
        .iter()
        .any(|e| matches!(e, MonitorEvent::ConnectRetried { .. })));
    net.nodes[pull].bind("tcp://127.0.0.1:6000").unwrap();
    net.advance(300 * MS);
    assert_eq!(net.recv_all(pull), msgs(5));
}

#[test]
fn immediate_refuses_to_queue_without_a_connection() {
    let mut net = Net::new();
    let mut c = cfg(SocketType::Push);
    c.options.immediate = true;
    let push = net.add(c);
    net.nodes[push].connect("tcp://127.0.0.1:6001").unwrap();
    net.settle();
    assert!(matches!(
        net.nodes[push].send(Msg::from("x")),
        Err(SendError::WouldBlock(_))
    ));
}

#[test]
fn reconnects_after_the_peer_restarts() {
    let mut net = Net::new();
    let (pull, push) = net.bound_pair(
        cfg(SocketType::Pull),
        cfg(SocketType::Push),
        "tcp://127.0.0.1:7000",
    );
    net.nodes[push].send(Msg::from("before")).unwrap();
    net.settle();
    assert_eq!(net.recv_all(pull), vec![Msg::from("before")]);

    net.kill(pull);
    net.settle();
    assert!(net.monitor[push].iter().any(|e| matches!(
        e,
        MonitorEvent::Disconnected {
            error: ConnectionError::PeerClosed,
            ..
        }
    )));
    // Queued while the peer is away (connect-side pipes survive reconnects).
    net.nodes[push].send(Msg::from("during")).unwrap();
    let pull2 = net.add(cfg(SocketType::Pull));
    net.nodes[pull2].bind("tcp://127.0.0.1:7000").unwrap();
    net.advance(300 * MS);
    assert_eq!(net.recv_all(pull2), vec![Msg::from("during")]);
}

#[test]
fn exponential_backoff_spaces_out_retries() {
    let mut net = Net::new();
    let mut c = cfg(SocketType::Dealer);
    c.reconnect_ivl = Some(100 * MS);
    c.reconnect_ivl_max = Some(800 * MS);
    let dealer = net.add(c);
    net.nodes[dealer].connect("tcp://127.0.0.1:7100").unwrap();
    net.advance(3000 * MS);
    let ivls: Vec<u64> = net.monitor[dealer]
        .iter()
        .filter_map(|e| match e {
            MonitorEvent::ConnectRetried { ivl_ms, .. } => Some(*ivl_ms),
            _ => None,
        })
        .collect();
    assert_eq!(&ivls[..6], &[100, 200, 400, 800, 800, 800]);
}

#[test]
fn authentication_failure_stops_reconnecting() {
    let mut net = Net::new();
    let server_cfg = Config::new(SocketType::Rep)
        .with_mechanism(MechanismConfig::PlainServer)
        .unwrap();
    let server = net.add(EngineConfig::new(server_cfg));
    net.nodes[server].set_authenticator(Box::new(AllowList::new().allow_user("admin", "secret")));
    let client_cfg = Config::new(SocketType::Req)
        .with_mechanism(MechanismConfig::PlainClient {
            username: "admin".into(),
            password: "wrong".into(),
        })
        .unwrap();
    let client = net.add(EngineConfig::new(client_cfg));
    net.nodes[server].bind("tcp://127.0.0.1:7200").unwrap();
    net.settle();
    net.nodes[client].connect("tcp://127.0.0.1:7200").unwrap();
    net.nodes[client].send(Msg::from("hello")).unwrap();
    net.advance(2000 * MS);
    assert_eq!(
        net.connects[client], 1,
        "no reconnect after an authentication failure"
    );
    assert!(net.monitor[client].iter().any(|e| matches!(
        e,
        MonitorEvent::HandshakeFailed { error: ConnectionError::PeerError { reason }, .. } if reason == "400"
    )));
    assert!(matches!(
        net.nodes[server].recv(),
        Err(RecvError::WouldBlock)
    ));
    // The client's only endpoint refused it, and it binds nothing.
    assert!(net.nodes[client].is_refused());
    let refusals = net.nodes[client].refusals();
    assert_eq!(refusals.len(), 1);
    assert_eq!(refusals[0].endpoint.to_string(), "tcp://127.0.0.1:7200");
    assert!(
        matches!(&refusals[0].reason, ConnectionError::PeerError { reason } if reason == "400")
    );
    // A bound endpoint is somewhere a peer may still come from.
    net.nodes[client].bind("tcp://127.0.0.1:7201").unwrap();
    assert!(!net.nodes[client].is_refused());
    // The refusing server is not refused: it binds.
    assert!(!net.nodes[server].is_refused());
}

#[test]
fn plain_allow_list_admits_the_right_user() {
    let mut net = Net::new();
    let server_cfg = Config::new(SocketType::Rep)
        .with_mechanism(MechanismConfig::PlainServer)
        .unwrap();
    let server = net.add(EngineConfig::new(server_cfg));
    net.nodes[server].set_authenticator(Box::new(AllowList::new().allow_user("admin", "secret")));
    let client_cfg = Config::new(SocketType::Req)
        .with_mechanism(MechanismConfig::PlainClient {
            username: "admin".into(),
            password: "secret".into(),
        })
        .unwrap();
    let client = net.add(EngineConfig::new(client_cfg));
    net.nodes[server].bind("tcp://*:*").unwrap();
    net.settle();
    let Some(MonitorEvent::Listening(ep)) = net.monitor[server].first().cloned() else {
        panic!("{:?}", net.monitor[server]);
    };
    net.nodes[client]
        .connect(&ep.to_string().replace('*', "127.0.0.1"))
        .unwrap();
    net.nodes[client].send(Msg::from("ping")).unwrap();
    net.settle();
    assert_eq!(net.nodes[server].recv().unwrap(), Msg::from("ping"));
    net.nodes[server].send(Msg::from("pong")).unwrap();
    net.settle();
    assert_eq!(net.nodes[client].recv().unwrap(), Msg::from("pong"));
}

#[test]
fn curve_monitor_events_for_success_and_key_refusal() {
    let server_keys = KeyPair::generate();
    let good = KeyPair::generate();
    let bad = KeyPair::generate();
    let mut net = Net::new();
    let server = net.add(EngineConfig::new(
        Config::new(SocketType::Router)
            .with_mechanism(MechanismConfig::CurveServer {
                keypair: server_keys.clone(),
            })
            .unwrap(),
    ));
    net.nodes[server].set_authenticator(Box::new(AllowList::new().allow_key(good.public)));
    net.nodes[server].bind("tcp://127.0.0.1:7300").unwrap();
    net.settle();
    let mut clients = Vec::new();
    for kp in [good, bad] {
        let c = net.add(EngineConfig::new(
            Config::new(SocketType::Dealer)
                .with_mechanism(MechanismConfig::CurveClient {
                    server_key: server_keys.public,
                    keypair: kp,
                })
                .unwrap(),
        ));
        net.nodes[c].connect("tcp://127.0.0.1:7300").unwrap();
        clients.push(c);
    }
    net.advance(1000 * MS);
    let kinds = |evs: &[MonitorEvent]| -> Vec<&'static str> {
        evs.iter()
            .map(|e| match e {
                MonitorEvent::ConnectDelayed(_) => "connect_delayed",
                MonitorEvent::Connected { .. } => "connected",
                MonitorEvent::HandshakeSucceeded { .. } => "handshake_succeeded",
                MonitorEvent::HandshakeFailed { .. } => "handshake_failed",
                MonitorEvent::ConnectRetried { .. } => "connect_retried",
                MonitorEvent::Disconnected { .. } => "disconnected",
                _ => "other",
            })
            .collect()
    };
    assert_eq!(
        kinds(&net.monitor[clients[0]]),
        ["connect_delayed", "connected", "handshake_succeeded"]
    );
    assert_eq!(
        kinds(&net.monitor[clients[1]]),
        [
            "connect_delayed",
            "connected",
            "handshake_failed",
            "disconnected"
        ]
    );
    assert!(matches!(
        &net.monitor[clients[1]][2],
        MonitorEvent::HandshakeFailed { error: ConnectionError::PeerError { reason }, .. } if reason == "400"
    ));
    assert_eq!(net.connects[clients[1]], 1);
}

#[test]
fn heartbeat_timeout_closes_a_silent_peer_and_reconnects() {
    let mut net = Net::new();
    let pull = net.add(cfg(SocketType::Pull));
    let c = Config::new(SocketType::Push)
        .with_heartbeat_ivl(Some(100 * MS))
        .with_heartbeat_timeout(Some(300 * MS));
    let push = net.add(EngineConfig::new(c));
    net.nodes[pull].bind("tcp://127.0.0.1:7400").unwrap();
    net.settle();
    net.nodes[push].connect("tcp://127.0.0.1:7400").unwrap();
    net.advance(1000 * MS);
    assert!(!net.monitor[push]
        .iter()
        .any(|e| matches!(e, MonitorEvent::Disconnected { .. })));
    net.links[0].stalled = true;
    net.advance(1000 * MS);
    assert!(net.monitor[push].iter().any(|e| matches!(
        e,
        MonitorEvent::Disconnected {
            error: ConnectionError::HeartbeatTimeout,
            ..
        }
    )));
    assert!(net.connects[push] >= 2, "reconnected after the timeout");
}

#[test]
fn hwm_back_pressure_stops_reading_and_blocks_the_sender() {
    let mut net = Net::new();
    let mut pc = cfg(SocketType::Pull);
    pc.options.rcvhwm = 10;
    let pull = net.add(pc);
    let mut sc = cfg(SocketType::Push);
    sc.options.sndhwm = 10;
    let push = net.add(sc);
    net.nodes[pull].bind("tcp://127.0.0.1:7500").unwrap();
    net.settle();
    net.nodes[push].connect("tcp://127.0.0.1:7500").unwrap();
    net.settle();
    let payload = vec![7u8; 32 * 1024];
    let mut sent = 0;
    loop {
        match net.nodes[push].send(Msg::from(payload.clone())) {
            Ok(()) => sent += 1,
            Err(SendError::WouldBlock(_)) => break,
            Err(e) => panic!("{e}"),
        }
        net.settle();
        assert!(sent < 10_000, "sender never blocked");
    }
    // Bounded: the two HWMs plus what the connections and the wire hold.
    assert!(sent < 10 + 10 + 64, "sent {sent}");
    let links = &net.links[0];
    let buffered: usize = links
        .wires
        .iter()
        .map(|w| w.in_flight.len() + w.rbuf.len())
        .sum();
    assert!(buffered < 2 * 1024 * 1024, "{buffered} bytes buffered");
    // Draining the receiver lets everything through.
    let got = net.recv_all(pull);
    assert_eq!(got.len(), sent);
    assert!(net.nodes[push].send(Msg::from(payload)).is_ok());
}

#[test]
fn linger_delivers_everything_queued_before_closing() {
    let mut net = Net::new();
    let pull = net.add(cfg(SocketType::Pull));
    let push = net.add(cfg(SocketType::Push));
    net.nodes[push].connect("tcp://127.0.0.1:7600").unwrap();
    for m in msgs(20) {
        net.nodes[push].send(m).unwrap();
    }
    net.nodes[push].close(net.now);
    assert!(
        !net.nodes[push].is_closed(),
        "infinite linger waits for the peer"
    );
    net.nodes[pull].bind("tcp://127.0.0.1:7600").unwrap();
    net.advance(500 * MS);
    assert!(net.nodes[push].is_closed());
    assert_eq!(net.recv_all(pull), msgs(20));
}

#[test]
fn linger_zero_drops_and_closes_at_once() {
    let mut net = Net::new();
    let mut c = cfg(SocketType::Push);
    c.linger = Some(Duration::ZERO);
    let push = net.add(c);
    net.nodes[push].connect("tcp://127.0.0.1:7700").unwrap();
    net.nodes[push].send(Msg::from("lost")).unwrap();
    net.nodes[push].close(net.now);
    assert!(net.nodes[push].is_closed());
}

#[test]
fn linger_deadline_gives_up_on_an_absent_peer() {
    let mut net = Net::new();
    let mut c = cfg(SocketType::Push);
    c.linger = Some(200 * MS);
    let push = net.add(c);
    net.nodes[push].connect("tcp://127.0.0.1:7800").unwrap();
    net.nodes[push].send(Msg::from("stuck")).unwrap();
    net.nodes[push].close(net.now);
    net.advance(199 * MS);
    assert!(!net.nodes[push].is_closed());
    net.advance(MS);
    assert!(net.nodes[push].is_closed());
}

#[test]
fn pub_sub_subscriptions_flow_through_engines() {
    let mut net = Net::new();
    let publisher = net.add(cfg(SocketType::Pub));
    let sub = net.add(cfg(SocketType::Sub));
    net.nodes[publisher].bind("tcp://127.0.0.1:7900").unwrap();
    net.settle();
    net.nodes[sub].subscribe(b"weather");
    net.nodes[sub].connect("tcp://127.0.0.1:7900").unwrap();
    net.settle();
    net.nodes[publisher]
        .send(Msg::from("weather sunny"))
        .unwrap();
    net.nodes[publisher].send(Msg::from("sports none")).unwrap();
    net.settle();
    assert_eq!(net.recv_all(sub), vec![Msg::from("weather sunny")]);
}

#[test]
fn has_output_is_true_exactly_while_something_waits_to_be_polled() {
    // A runtime skips its look at the engine's queues when this says none
    // holds anything: a false "no" would strand an action or an event.
    fn drained(e: &mut Engine) -> bool {
        let mut any = false;
        while e.poll_action().is_some() {
            any = true;
        }
        while e.poll_monitor().is_some() {
            any = true;
        }
        while e.poll_auth().is_some() {
            any = true;
        }
        any
    }
    let mut e = Engine::new(Instant::now(), cfg(SocketType::Pull));
    e.set_monitor(true);
    assert!(!e.has_output());
    e.bind("tcp://127.0.0.1:7640").unwrap();
    assert!(e.has_output(), "a Listen action waits");
    let Some(Action::Listen { id, endpoint }) = e.poll_action() else {
        panic!("no Listen action");
    };
    assert!(!drained(&mut e));
    assert!(!e.has_output());
    // A monitor event alone (the listener is up) counts too.
    e.handle_listening(id, endpoint);
    assert!(e.has_output(), "a monitor event waits");
    assert!(drained(&mut e));
    assert!(!e.has_output());
    // Whatever a send leaves for the runtime (a flush of the stream, or
    // nothing when the stream is already due one), it says so.
    let mut net = Net::new();
    let (_, push) = push_to_pull(
        &mut net,
        "tcp://127.0.0.1:7641",
        cfg(SocketType::Pull),
        cfg(SocketType::Push),
    );
    let mut quiet = 0;
    for m in msgs(5) {
        net.nodes[push].send(m).unwrap();
        let waits = net.nodes[push].has_output();
        assert_eq!(waits, drained(&mut net.nodes[push]));
        quiet += usize::from(!waits);
    }
    // Both answers came up: the first send asked for a flush, the others
    // found one already asked for.
    assert_eq!(quiet, 4);
}

#[test]
fn bad_endpoints_are_refused_with_their_name() {
    let mut e = Engine::new(Instant::now(), cfg(SocketType::Push));
    let err = e.connect("tcp://*:5555").unwrap_err().to_string();
    assert!(err.contains("tcp://*:5555"), "{err}");
    let err = e.bind("udp://x:1").unwrap_err().to_string();
    assert!(err.contains("udp://x:1"), "{err}");
    let _ = Options::default();
}

/// Moves items from `a`'s side of an inproc link to `b`'s, as far as `b` takes
/// them; returns how many moved.
fn pump_inproc(a: &mut Engine, a_id: ConnId, b: &mut Engine, b_id: ConnId) -> usize {
    let mut moved = 0;
    while b.inproc_ready(b_id) {
        let Some(item) = a.poll_inproc(a_id) else {
            break;
        };
        b.handle_inproc(b_id, item).unwrap();
        moved += 1;
    }
    moved
}

#[test]
fn inproc_joins_two_engines_without_zmtp_and_honours_both_hwms() {
    let mut pc = cfg(SocketType::Pull);
    pc.options.rcvhwm = 3;
    let mut pull = Engine::new(Instant::now(), pc);
    let mut sc = cfg(SocketType::Push);
    sc.options.sndhwm = 2;
    let mut push = Engine::new(Instant::now(), sc);

    // Connect before bind: the pipe exists and queues up to SNDHWM.
    push.connect("inproc://work").unwrap();
    let Some(Action::Connect { id: cid, endpoint }) = push.poll_action() else {
        panic!()
    };
    assert_eq!(endpoint, Endpoint::Inproc("work".into()));
    push.send(Msg::from("a")).unwrap();
    push.send(Msg::from("b")).unwrap();
    assert!(matches!(
        push.send(Msg::from("c")),
        Err(SendError::WouldBlock(_))
    ));

    let lid = pull.bind("inproc://work").unwrap();
    let b_id = pull.handle_inproc_accepted(lid, push.local_peer()).unwrap();
    let a_id = push
        .handle_inproc_connected(cid, pull.local_peer())
        .unwrap();
    assert_eq!(pump_inproc(&mut push, a_id, &mut pull, b_id), 2);
    push.send(Msg::from("c")).unwrap();
    push.send(Msg::from("d")).unwrap();
    // The receiver takes one more (RCVHWM 3), then back-pressure.
    assert_eq!(pump_inproc(&mut push, a_id, &mut pull, b_id), 1);
    assert!(!pull.inproc_ready(b_id));
    assert_eq!(pull.recv().unwrap(), Msg::from("a"));
    let resumed = std::iter::from_fn(|| pull.poll_action()).any(|a| a == Action::ResumeRead(b_id));
    assert!(resumed, "the receiver says when it has room again");
    assert_eq!(pump_inproc(&mut push, a_id, &mut pull, b_id), 1);
    let rest: Vec<Msg> = std::iter::from_fn(|| pull.recv().ok()).collect();
    assert_eq!(rest, vec![Msg::from("b"), Msg::from("c"), Msg::from("d")]);
}

/// A PULL engine with `rcvhwm` messages and `bytes` bytes of RCVHWM (and
/// CONFLATE if asked), linked at an inproc listener to a PUSH.
fn inproc_receiver(rcvhwm: usize, bytes: Option<usize>, conflate: bool) -> (Engine, ConnId) {
    let mut pc = cfg(SocketType::Pull);
    pc.options.rcvhwm = rcvhwm;
    pc.options.rcvhwm_bytes = bytes;
    pc.options.conflate = conflate;
    let mut pull = Engine::new(Instant::now(), pc);
    let push = Engine::new(Instant::now(), cfg(SocketType::Push));
    let lid = pull.bind("inproc://room").unwrap();
    let id = pull.handle_inproc_accepted(lid, push.local_peer()).unwrap();
    (pull, id)
}

fn items(n: usize, size: usize) -> std::collections::VecDeque<PipeItem> {
    (0..n)
        .map(|i| PipeItem::Message(Msg::from(vec![i as u8; size])))
        .collect()
}

#[test]
fn inproc_room_is_what_the_pipe_takes_before_rcvhwm() {
    let (mut pull, id) = inproc_receiver(3, None, false);
    let room = pull.inproc_room(id);
    assert_eq!(
        (room.msgs, room.bytes, room.conflate),
        (3, usize::MAX, false)
    );
    // A batch goes in as far as RCVHWM; the rest stays, in order.
    let mut batch = items(5, 4);
    assert_eq!(pull.handle_inproc_batch(id, &mut batch), (3, 12));
    assert_eq!(batch.len(), 2);
    assert!(matches!(&batch[0], PipeItem::Message(m) if m.frames()[0][0] == 3));
    assert_eq!(pull.inproc_room(id).msgs, 0);
    // A refused batch asks for ResumeRead, which a read brings.
    pull.recv().unwrap();
    let resumed = std::iter::from_fn(|| pull.poll_action()).any(|a| a == Action::ResumeRead(id));
    assert!(resumed, "room again after a read");
    assert_eq!(pull.inproc_room(id).msgs, 1);
    assert_eq!(pull.handle_inproc_batch(id, &mut batch), (1, 4));
    assert_eq!(batch.len(), 1);
    // No such link: nothing is its room, and what it carried is dropped.
    assert_eq!(pull.inproc_room(ConnId(999)).msgs, 0);
    assert_eq!(pull.handle_inproc_batch(ConnId(999), &mut batch), (1, 4));
    assert!(batch.is_empty());
}

#[test]
fn inproc_room_counts_bytes_and_conflate_never_fills() {
    // Byte RCVHWM 10: checked before each message, as the pipe checks it.
    let (mut pull, id) = inproc_receiver(0, Some(10), false);
    assert_eq!(pull.inproc_room(id).msgs, usize::MAX);
    let mut batch = items(4, 4);
    assert_eq!(pull.handle_inproc_batch(id, &mut batch), (3, 12));
    assert_eq!(pull.inproc_room(id).bytes, 0);

    let (mut pull, id) = inproc_receiver(1, None, true);
    let room = pull.inproc_room(id);
    assert!(room.conflate);
    assert_eq!((room.msgs, room.bytes), (usize::MAX, usize::MAX));
    let mut batch = items(5, 1);
    assert_eq!(pull.handle_inproc_batch(id, &mut batch), (5, 5));
    let m = pull.recv().unwrap();
    assert_eq!(m.frames()[0][0], 4, "the newest only");
    assert!(pull.recv().is_err());
}

#[test]
fn default_byte_rcvhwm_holds_a_mebibyte_of_large_messages() {
    // What a peer sending 64 KiB messages to an application that reads on
    // another thread makes the receiver hold: 1 MiB, not 1,000 x 64 KiB.
    let default = Options::default();
    assert_eq!(default.rcvhwm, 1000);
    let (mut pull, id) = inproc_receiver(default.rcvhwm, default.rcvhwm_bytes, false);
    let mut batch = items(64, 64 * 1024);
    assert_eq!(pull.handle_inproc_batch(id, &mut batch), (16, 1 << 20));
    assert_eq!(batch.len(), 48, "the rest waits for the application");
}

#[test]
fn send_with_offers_inproc_messages_only_with_nothing_queued_ahead() {
    let mut push = Engine::new(Instant::now(), cfg(SocketType::Push));
    let pull = Engine::new(Instant::now(), cfg(SocketType::Pull));
    let lid = push.bind("inproc://direct").unwrap();
    let id = push.handle_inproc_accepted(lid, pull.local_peer()).unwrap();
    let mut offered = Vec::new();
    // Taken: it goes nowhere else.
    let mut take = |c: ConnId, m: &mut Msg, sole: bool| {
        assert!(sole, "a PUSH message has one destination");
        offered.push((c, std::mem::take(m)));
        true
    };
    push.send_with(Msg::from("a"), &mut take).unwrap();
    assert_eq!(offered, vec![(id, Msg::from("a"))]);
    assert!(push.poll_inproc(id).is_none(), "nothing queued");
    // Refused: queued, and flushed as before.
    push.send_with(Msg::from("b"), &mut |_, _, _| false)
        .unwrap();
    let flushed = std::iter::from_fn(|| push.poll_action()).any(|a| a == Action::Flush(id));
    assert!(flushed);
    // With "b" queued, "c" is not offered: it would overtake.
    push.send_with(Msg::from("c"), &mut |_, _, _| {
        panic!("offered past a queue")
    })
    .unwrap();
    let queued: Vec<_> = std::iter::from_fn(|| push.poll_inproc(id)).collect();
    assert_eq!(queued.len(), 2);

    // A publisher offers each subscriber the one message, to copy from.
    let mut publisher = Engine::new(Instant::now(), cfg(SocketType::Pub));
    let lid = publisher.bind("inproc://news-direct").unwrap();
    let mut subs = Vec::new();
    for _ in 0..2 {
        let mut sub = Engine::new(Instant::now(), cfg(SocketType::Sub));
        sub.subscribe(b"");
        let c = publisher
            .handle_inproc_accepted(lid, sub.local_peer())
            .unwrap();
        publisher
            .handle_inproc(c, PipeItem::Subscribe(Bytes::new()))
            .unwrap();
        subs.push(c);
    }
    let mut copies = Vec::new();
    publisher
        .send_with(Msg::from("news"), &mut |c, m, sole| {
            assert!(!sole, "several subscribers share the message");
            copies.push((c, m.clone()));
            true
        })
        .unwrap();
    copies.sort_by_key(|(c, _)| *c);
    subs.sort();
    let expected: Vec<_> = subs.iter().map(|&c| (c, Msg::from("news"))).collect();
    assert_eq!(copies, expected);
}

#[test]
fn inproc_refuses_incompatible_peers_and_carries_subscriptions() {
    let mut publisher = Engine::new(Instant::now(), cfg(SocketType::Pub));
    let mut sub = Engine::new(Instant::now(), cfg(SocketType::Sub));
    let mut push = Engine::new(Instant::now(), cfg(SocketType::Push));
    let lid = publisher.bind("inproc://news").unwrap();
    assert!(publisher
        .handle_inproc_accepted(lid, push.local_peer())
        .is_err());
    let _ = push.poll_action();

    sub.subscribe(b"a");
    sub.connect("inproc://news").unwrap();
    let cid = std::iter::from_fn(|| sub.poll_action())
        .find_map(|a| match a {
            Action::Connect { id, .. } => Some(id),
            _ => None,
        })
        .unwrap();
    let p_id = publisher
        .handle_inproc_accepted(lid, sub.local_peer())
        .unwrap();
    let s_id = sub
        .handle_inproc_connected(cid, publisher.local_peer())
        .unwrap();
    assert_eq!(
        pump_inproc(&mut sub, s_id, &mut publisher, p_id),
        1,
        "the subscription"
    );
    publisher.send(Msg::from("a1")).unwrap();
    publisher.send(Msg::from("b1")).unwrap();
    pump_inproc(&mut publisher, p_id, &mut sub, s_id);
    assert_eq!(sub.recv().unwrap(), Msg::from("a1"));
    assert!(matches!(sub.recv(), Err(RecvError::WouldBlock)));
}

#[test]
fn latency_delays_round_trips_but_heartbeats_survive_it() {
    let mut net = Net::new();
    net.latency = 50 * MS;
    let (rep, req) = net.bound_pair(
        cfg(SocketType::Rep),
        EngineConfig::new(
            Config::new(SocketType::Req)
                .with_heartbeat_ivl(Some(100 * MS))
                .with_heartbeat_timeout(Some(300 * MS)),
        ),
        "tcp://127.0.0.1:8000",
    );
    net.nodes[req].send(Msg::from("q")).unwrap();
    // Greetings, READYs and the request each take a one-way trip.
    net.advance(99 * MS);
    assert!(matches!(net.nodes[rep].recv(), Err(RecvError::WouldBlock)));
    net.advance(200 * MS);
    assert_eq!(net.nodes[rep].recv().unwrap(), Msg::from("q"));
    net.nodes[rep].send(Msg::from("a")).unwrap();
    net.advance(49 * MS);
    assert!(matches!(net.nodes[req].recv(), Err(RecvError::WouldBlock)));
    net.advance(MS);
    assert_eq!(net.nodes[req].recv().unwrap(), Msg::from("a"));
    // A 100 ms round trip is well inside the 300 ms heartbeat timeout.
    net.advance(2000 * MS);
    assert!(!net.monitor[req]
        .iter()
        .any(|e| matches!(e, MonitorEvent::Disconnected { .. })));

    // Latency beyond the timeout looks like a dead peer.
    net.latency = 400 * MS;
    net.advance(2000 * MS);
    assert!(net.monitor[req].iter().any(|e| matches!(
        e,
        MonitorEvent::Disconnected {
            error: ConnectionError::HeartbeatTimeout,
            ..
        }
    )));
}

#[test]
fn sub_sends_its_subscriptions_again_after_a_reconnect() {
    let mut net = Net::new();
    let publisher = net.add(cfg(SocketType::Pub));
    let sub = net.add(cfg(SocketType::Sub));
    net.nodes[publisher].bind("tcp://127.0.0.1:8100").unwrap();
    net.settle();
    net.nodes[sub].subscribe(b"w");
    net.nodes[sub].connect("tcp://127.0.0.1:8100").unwrap();
    net.settle();
    net.kill(publisher);
    net.settle();
    let publisher2 = net.add(cfg(SocketType::Pub));
    net.nodes[publisher2].bind("tcp://127.0.0.1:8100").unwrap();
    net.advance(300 * MS);
    net.nodes[publisher2].send(Msg::from("w1")).unwrap();
    net.settle();
    assert_eq!(net.recv_all(sub), vec![Msg::from("w1")]);
}

#[test]
fn lingering_keeps_reconnecting_until_the_peer_comes() {
    let mut net = Net::new();
    let push = net.add(cfg(SocketType::Push));
    net.nodes[push].connect("tcp://127.0.0.1:8200").unwrap();
    net.nodes[push].send(Msg::from("late")).unwrap();
    net.settle();
    net.nodes[push].close(net.now);
    net.advance(1000 * MS);
    assert!(!net.nodes[push].is_closed());
    let pull = net.add(cfg(SocketType::Pull));
    net.nodes[pull].bind("tcp://127.0.0.1:8200").unwrap();
    net.advance(500 * MS);
    assert_eq!(net.recv_all(pull), vec![Msg::from("late")]);
    assert!(net.nodes[push].is_closed());
}

#[test]
fn without_reconnect_a_dead_peer_leaves_the_round_robin() {
    let mut net = Net::new();
    let a = net.add(cfg(SocketType::Pull));
    let b = net.add(cfg(SocketType::Pull));
    let mut c = cfg(SocketType::Push);
    c.reconnect_ivl = None;
    let push = net.add(c);
    net.nodes[a].bind("tcp://127.0.0.1:8300").unwrap();
    net.nodes[b].bind("tcp://127.0.0.1:8301").unwrap();
    net.settle();
    net.nodes[push].connect("tcp://127.0.0.1:8300").unwrap();
    net.nodes[push].connect("tcp://127.0.0.1:8301").unwrap();
    net.settle();
    net.kill(a);
    net.settle();
    for m in msgs(6) {
        net.nodes[push].send(m).unwrap();
    }
    net.settle();
    assert_eq!(net.recv_all(b), msgs(6));
    assert!(net.monitor[push]
        .iter()
        .any(|e| matches!(e, MonitorEvent::Closed(_))));
}

#[test]
fn connecting_router_survives_a_peer_restart_with_unread_messages() {
    let mut net = Net::new();
    let (dealer, router) = net.bound_pair(
        EngineConfig::new(
            Config::new(SocketType::Dealer)
                .with_routing_id("D")
                .unwrap(),
        ),
        cfg(SocketType::Router),
        "tcp://127.0.0.1:8400",
    );
    net.settle();
    net.nodes[dealer].send(Msg::from("one")).unwrap();
    net.settle();
    net.kill(dealer);
    net.settle();
    let dealer2 = net.add(EngineConfig::new(
        Config::new(SocketType::Dealer)
            .with_routing_id("D")
            .unwrap(),
    ));
    net.nodes[dealer2].bind("tcp://127.0.0.1:8400").unwrap();
    net.advance(300 * MS);
    net.nodes[dealer2].send(Msg::from("two")).unwrap();
    net.settle();
    let got = net.recv_all(router);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1], Msg::from_iter(["D", "two"]));
}

#[test]
fn messages_read_before_the_peer_closed_are_all_delivered() {
    let mut net = Net::new();
    let mut pc = cfg(SocketType::Pull);
    pc.options.rcvhwm = 10;
    let (pull, push) = net.bound_pair(pc, cfg(SocketType::Push), "tcp://127.0.0.1:8500");
    for m in msgs(50) {
        net.nodes[push].send(m).unwrap();
    }
    net.nodes[push].close(net.now);
    net.advance(100 * MS);
    assert!(net.nodes[push].is_closed());
    assert_eq!(net.recv_all(pull), msgs(50));
}

#[test]
fn disconnecting_an_inproc_connector_closes_the_link() {
    let mut pull = Engine::new(Instant::now(), cfg(SocketType::Pull));
    let mut push = Engine::new(Instant::now(), cfg(SocketType::Push));
    let lid = push.bind("inproc://gone").unwrap();
    let cid = pull.connect("inproc://gone").unwrap();
    while pull.poll_action().is_some() {}
    let p_id = push.handle_inproc_accepted(lid, pull.local_peer()).unwrap();
    let l_id = pull
        .handle_inproc_connected(cid, push.local_peer())
        .unwrap();
    pull.disconnect(cid);
    let closed = std::iter::from_fn(|| pull.poll_action()).any(|a| a == Action::Close(l_id));
    assert!(closed, "the runtime is told to close the link");
    push.handle_inproc_closed(p_id);
    assert!(matches!(
        push.send(Msg::from("x")),
        Err(SendError::WouldBlock(_))
    ));
}

/// Numbered 1 KiB messages: 64 of them fill a connection's byte limit, so a
/// burst of them is partly written straight into the connection and partly
/// queued on the pipe behind it.
fn numbered(range: std::ops::Range<usize>, prefix: &str) -> Vec<Msg> {
    range
        .map(|i| {
            let mut body = format!("{prefix}{i:05}").into_bytes();
            body.resize(1024, b'.');
            Msg::from(body)
        })
        .collect()
}

/// A PULL bound at `ep` and a PUSH connected to it, handshaken.
fn push_to_pull(net: &mut Net, ep: &str, pull: EngineConfig, push: EngineConfig) -> (usize, usize) {
    let pull = net.add(pull);
    let push = net.add(push);
    net.nodes[pull].bind(ep).unwrap();
    net.settle();
    net.nodes[push].connect(ep).unwrap();
    net.settle();
    (pull, push)
}

#[test]
fn a_burst_past_the_connection_limit_keeps_its_order() {
    // Sends go straight into the connection while it has room and queue
    // behind it after; none may overtake what is queued, also when the
    // connection drains between sends.
    let mut net = Net::new();
    let (pull, push) = push_to_pull(
        &mut net,
        "tcp://127.0.0.1:7610",
        cfg(SocketType::Pull),
        cfg(SocketType::Push),
    );
    let all = numbered(0..400, "m");
    for (i, m) in all.iter().enumerate() {
        net.nodes[push].send(m.clone()).unwrap();
        // Drain some of the connection now and then, without touching the
        // queue: the next send finds room in the connection while older
        // messages still wait on the pipe.
        if i % 97 == 96 {
            let (node, conn) = net.links[0].ends[0];
            assert_eq!(node, push);
            let chunk = net.nodes[push].poll_transmit(conn).unwrap();
            net.links[0].wires[1]
                .delayed
                .push_back((net.now, chunk.to_vec()));
        }
    }
    net.settle();
    assert_eq!(names(&net.recv_all(pull)), names(&all));
}

/// The numbers of `numbered` messages, for readable failures.
fn names(msgs: &[Msg]) -> Vec<String> {
    msgs.iter()
        .map(|m| String::from_utf8_lossy(&m.frames()[0][..6]).into_owned())
        .collect()
}

#[test]
fn pub_fan_out_keeps_each_subscribers_order_when_one_lags() {
    let mut net = Net::new();
    let publisher = net.add(cfg(SocketType::Pub));
    let fast = net.add(cfg(SocketType::Sub));
    let slow = net.add(cfg(SocketType::Sub));
    net.nodes[publisher].bind("tcp://127.0.0.1:7620").unwrap();
    net.settle();
    for s in [fast, slow] {
        net.nodes[s].subscribe(b"");
        net.nodes[s].connect("tcp://127.0.0.1:7620").unwrap();
        net.settle();
    }
    // The slow subscriber's link stops delivering: its wire and connection
    // fill and its pipe queues, while the other takes messages straight
    // away. Now and then a chunk leaves the slow connection, which then has
    // room again while older messages still wait on its pipe.
    let slow_link = net
        .links
        .iter()
        .position(|l| l.ends.iter().any(|e| e.0 == slow))
        .unwrap();
    net.links[slow_link].stalled = true;
    let side = net.links[slow_link]
        .ends
        .iter()
        .position(|e| e.0 == publisher)
        .unwrap();
    let conn = net.links[slow_link].ends[side].1;
    let all = numbered(0..800, "p");
    for (i, m) in all.iter().enumerate() {
        net.nodes[publisher].send(m.clone()).unwrap();
        net.settle();
        if i % 97 == 96 {
            if let Some(chunk) = net.nodes[publisher].poll_transmit(conn) {
                let now = net.now;
                net.links[slow_link].wires[1 - side]
                    .delayed
                    .push_back((now, chunk.to_vec()));
            }
        }
    }
    assert_eq!(names(&net.recv_all(fast)), names(&all));
    net.links[slow_link].stalled = false;
    net.settle();
    assert_eq!(names(&net.recv_all(slow)), names(&all));
}

#[test]
fn batched_receive_gives_what_single_receives_give_past_rcvhwm() {
    let mut net = Net::new();
    let mut pc = cfg(SocketType::Pull);
    pc.options.rcvhwm = 4;
    let (pull, push) = push_to_pull(&mut net, "tcp://127.0.0.1:7630", pc, cfg(SocketType::Push));
    for m in msgs(200) {
        net.nodes[push].send(m).unwrap();
    }
    net.settle();
    let mut got = Vec::new();
    let mut largest = 0;
    let mut idle = 0;
    loop {
        let mut more = std::collections::VecDeque::new();
        match net.nodes[pull].recv_batch(&mut more, 32, 64 * 1024) {
            Ok(first) => {
                largest = largest.max(1 + more.len());
                assert!(more.len() < 32, "batch over its limit");
                got.push(first);
                got.extend(more);
            }
            Err(RecvError::WouldBlock) => {
                idle += 1;
                assert!(idle < 100, "stuck after {} messages", got.len());
                if got.len() == 200 {
                    break;
                }
                net.settle();
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(got, msgs(200));
    // Messages that waited for room behind RCVHWM joined the batch that made
    // the room.
    assert!(largest > 4, "largest batch {largest}");
}

#[test]
fn one_read_of_many_messages_is_taken_whole_past_rcvhwm() {
    // The engine decodes a read a few hundred frames at a time; a read of
    // thousands of frames, with multipart messages across every batch's end
    // and a pipe that fills part way, must come out whole and in order with
    // no further input.
    let mut net = Net::new();
    let mut pc = cfg(SocketType::Pull);
    pc.options.rcvhwm = 300;
    let mut sc = cfg(SocketType::Push);
    sc.options.sndhwm = 0;
    let (pull, push) = push_to_pull(&mut net, "tcp://127.0.0.1:7632", pc, sc);
    net.links[0].stalled = true;
    let all: Vec<Msg> = (0..1500)
        .map(|i| {
            let parts = 1 + i % 3;
            (0..parts)
                .map(|p| format!("m{i}.{p}").into_bytes())
                .collect()
        })
        .collect();
    for m in &all {
        net.nodes[push].send(m.clone()).unwrap();
    }
    net.settle();
    let to_pull = net.links[0].ends.iter().position(|e| e.0 == pull).unwrap();
    let waiting = net.links[0].wires[to_pull].in_flight.len();
    assert!(waiting > 20_000, "only {waiting} bytes in one read");
    net.links[0].stalled = false;
    net.settle();
    assert!(net.links[0].wires[to_pull].in_flight.is_empty());
    assert_eq!(net.recv_all(pull), all);
}

/// A PULL with two PUSH peers, each with `n` numbered messages queued.
fn two_pushers(n: usize) -> (Net, usize) {
    let mut net = Net::new();
    let ep = "tcp://127.0.0.1:7635";
    let pull = net.add(cfg(SocketType::Pull));
    net.nodes[pull].bind(ep).unwrap();
    net.settle();
    for name in ["a", "b"] {
        let push = net.add(cfg(SocketType::Push));
        net.nodes[push].connect(ep).unwrap();
        net.settle();
        for m in numbered(0..n, name) {
            net.nodes[push].send(m).unwrap();
        }
    }
    net.settle();
    (net, pull)
}

#[test]
fn batched_receive_keeps_the_fair_queue_order() {
    // One peer's run is taken at once; with two, their turns alternate as
    // they do for single receives.
    let (mut single, pull) = two_pushers(40);
    let one_by_one = single.recv_all(pull);
    assert_eq!(one_by_one.len(), 80);
    let (mut batched, pull) = two_pushers(40);
    let mut got = Vec::new();
    while got.len() < 80 {
        let mut more = std::collections::VecDeque::new();
        let first = batched.nodes[pull]
            .recv_batch(&mut more, 7, 64 * 1024)
            .expect("messages wait");
        assert!(more.len() < 7, "batch over its limit");
        got.push(first);
        got.extend(more);
    }
    assert_eq!(names(&got), names(&one_by_one));
    // Alternating, not one peer's run after the other's.
    assert_ne!(names(&got[..2]), names(&numbered(0..2, "a")));
}

/// A SUB (inverting its match or not) with messages on "a" and on "b"
/// queued, interleaved in runs, and then subscribed to `last` alone: the
/// PUB sent them all (the SUB was subscribed to everything), so the SUB's
/// own filter decides.
fn sub_with_mixed_topics(n: usize, invert: bool, last: &[u8]) -> (Net, usize) {
    let mut net = Net::new();
    let ep = "tcp://127.0.0.1:7637";
    let publisher = net.add(cfg(SocketType::Pub));
    net.nodes[publisher].bind(ep).unwrap();
    net.settle();
    let mut sc = cfg(SocketType::Sub);
    sc.options.invert_matching = invert;
    let sub = net.add(sc);
    net.nodes[sub].subscribe(b"");
    net.nodes[sub].connect(ep).unwrap();
    net.settle();
    for m in mixed_topics(n) {
        net.nodes[publisher].send(m).unwrap();
    }
    net.settle();
    net.nodes[sub].unsubscribe(b"");
    net.nodes[sub].subscribe(last);
    (net, sub)
}

/// Messages on "a" and on "b", interleaved in runs of one to three.
fn mixed_topics(n: usize) -> Vec<Msg> {
    let (a, b) = (numbered(0..n, "a"), numbered(0..n, "b"));
    let mut sent = Vec::new();
    for i in 0..n {
        sent.push(if i % 3 == 0 { &b[i] } else { &a[i] }.clone());
        if i % 5 == 0 {
            sent.push(b[(i + 1) % n].clone());
        }
    }
    sent
}

#[test]
fn batched_receive_of_a_sub_filters_as_single_receives_do() {
    // The empty prefix too: matching everything, inverted it matches nothing.
    for (invert, last) in [(false, &b"a"[..]), (true, b"a"), (false, b""), (true, b"")] {
        let (mut single, sub) = sub_with_mixed_topics(60, invert, last);
        let one_by_one = single.recv_all(sub);
        let (mut batched, sub) = sub_with_mixed_topics(60, invert, last);
        let mut got = Vec::new();
        let mut largest = 0;
        loop {
            let mut more = std::collections::VecDeque::new();
            match batched.nodes[sub].recv_batch(&mut more, 8, 64 * 1024) {
                Ok(first) => {
                    assert!(more.len() < 8, "batch over its limit");
                    largest = largest.max(1 + more.len());
                    got.push(first);
                    got.extend(more);
                }
                Err(RecvError::WouldBlock) => break,
                Err(e) => panic!("{e}"),
            }
        }
        let kept = |n: &String| match (last.is_empty(), invert) {
            (true, false) => true,
            (true, true) => false,
            (false, false) => n.starts_with('a'),
            (false, true) => n.starts_with('b'),
        };
        let sent = names(&mixed_topics(60));
        let wanted: Vec<_> = sent.into_iter().filter(kept).collect();
        assert_eq!(
            names(&one_by_one),
            wanted,
            "invert: {invert}, last: {last:?}"
        );
        assert_eq!(
            names(&got),
            names(&one_by_one),
            "invert: {invert}, last: {last:?}"
        );
        assert!(largest > 1 || got.is_empty(), "largest batch {largest}");
    }
}

/// Sends numbered 1 KiB messages to a fresh PUSH until it would block (or
/// `limit`), counting the flushes it asks for; returns (sent, flushes).
fn burst_counting_flushes(sndhwm: usize, limit: usize) -> (Net, usize, ConnId, usize, usize) {
    let mut net = Net::new();
    let mut pc = cfg(SocketType::Push);
    pc.options.sndhwm = sndhwm;
    let (_, push) = push_to_pull(&mut net, "tcp://127.0.0.1:7640", cfg(SocketType::Pull), pc);
    let conn = net.links[0].ends[0].1;
    let (mut sent, mut flushes) = (0, 0);
    for m in numbered(0..limit, "b") {
        match net.nodes[push].send(m) {
            Ok(()) => sent += 1,
            Err(SendError::WouldBlock(_)) => break,
            Err(e) => panic!("{e}"),
        }
        while let Some(a) = net.nodes[push].poll_action() {
            if matches!(a, Action::Flush(c) if c == conn) {
                flushes += 1;
            }
        }
    }
    (net, push, conn, sent, flushes)
}

#[test]
fn a_full_write_waiting_asks_for_a_second_flush() {
    // 254 messages of 1 KiB fill the connection's 256 KiB; SNDHWM 100 more
    // queue on the pipe.
    let (mut net, push, conn, sent, flushes) = burst_counting_flushes(100, 1000);
    assert_eq!(sent, 354);
    assert_eq!(
        flushes, 2,
        "one for the first bytes, one for the full write"
    );
    assert!(net.nodes[push].is_backlogged(conn));
    // Once the runtime writes, the mark is gone.
    assert!(net.nodes[push].poll_transmit(conn).is_some());
    assert!(!net.nodes[push].is_backlogged(conn));

    // Below a full write, one flush only.
    let (net, push, conn, _, flushes) = burst_counting_flushes(10_000, 250);
    assert_eq!(flushes, 1);
    assert!(!net.nodes[push].is_backlogged(conn));
    let (net, push, conn, _, flushes) = burst_counting_flushes(10_000, 260);
    assert_eq!(flushes, 2);
    assert!(net.nodes[push].is_backlogged(conn));
}

/// A stream that filled batches keeps them for reuse while it sends, and a
/// deadline says when to look whether it still does: the engine reports it
/// through `poll_timer_moved`, since writing moves no other deadline and a
/// runtime reads `poll_timeout` again only when told. A stream that goes
/// quiet lets them go, and its deadline with them.
#[test]
fn a_sending_stream_looks_later_at_its_spare_batches() {
    let mut net = Net::new();
    let (pull, push) = net.bound_pair(
        cfg(SocketType::Pull),
        cfg(SocketType::Push),
        "tcp://127.0.0.1:5555",
    );
    net.settle();
    // A handshake and a few small messages fill no batch: no deadline.
    for m in msgs(10) {
        net.nodes[push].send(m).unwrap();
    }
    net.settle();
    assert_eq!(net.recv_all(pull).len(), 10);
    assert!(!net.nodes[push].poll_timer_moved());
    assert_eq!(net.nodes[push].poll_timeout(), None);
    // Half a MiB: the batch grows to full size and fills several.
    let body = Msg::from(vec![7u8; 1024]);
    for _ in 0..500 {
        net.nodes[push].send(body.clone()).unwrap();
    }
    net.settle();
    assert_eq!(net.recv_all(pull).len(), 500);
    assert!(net.nodes[push].poll_timer_moved(), "a deadline was armed");
    assert!(!net.nodes[push].poll_timer_moved(), "reported once");
    assert!(net.nodes[push].poll_timeout().is_some());
    // Quiet: the looks find nothing filled, and the deadline goes.
    net.advance(Duration::from_secs(2));
    assert_eq!(net.nodes[push].poll_timeout(), None);
    assert_eq!(net.nodes[pull].poll_timeout(), None);
}

/// A body that counts its drops, so a test sees when the last handle on it
/// went.
struct Counted {
    body: Vec<u8>,
    drops: Arc<AtomicUsize>,
}

impl AsRef<[u8]> for Counted {
    fn as_ref(&self) -> &[u8] {
        &self.body
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::Relaxed);
    }
}

fn counted(n: usize, size: usize, drops: &Arc<AtomicUsize>) -> Vec<Msg> {
    (0..n)
        .map(|i| {
            let mut body = format!("c{i:05}").into_bytes();
            body.resize(size, b'.');
            Msg::single(Bytes::from_owner(Counted {
                body,
                drops: drops.clone(),
            }))
        })
        .collect()
}

/// A PUSH connected to a PULL, whose refills keep what they copy if
/// `keep`, after sending `n` counted messages of `size` bytes: the net, the
/// PULL and the PUSH, and the bodies' drop count.
fn sent_with_keep(n: usize, size: usize, keep: bool) -> (Net, usize, usize, Arc<AtomicUsize>) {
    let mut net = Net::new();
    let (pull, push) = push_to_pull(
        &mut net,
        "tcp://127.0.0.1:7620",
        cfg(SocketType::Pull),
        cfg(SocketType::Push),
    );
    net.nodes[push].set_keep_spent(keep);
    let drops = Arc::new(AtomicUsize::new(0));
    for m in counted(n, size, &drops) {
        net.nodes[push].send(m).unwrap();
    }
    // What the connection's byte limit took at once was copied and
    // dropped by the send; the rest waits on the pipe.
    let direct = drops.load(Ordering::Relaxed);
    assert!(direct < n, "{direct} of {n} went straight in");
    (net, pull, push, drops)
}

/// As [`sent_with_keep`], then written until the connection has nothing
/// more.
fn keep_and_write(n: usize, size: usize, keep: bool) -> (Net, usize, usize, Arc<AtomicUsize>) {
    let (mut net, pull, push, drops) = sent_with_keep(n, size, keep);
    let (node, conn) = net.links[0].ends[0];
    assert_eq!(node, push);
    while let Some(chunk) = net.nodes[push].poll_transmit(conn) {
        net.links[0].wires[1]
            .delayed
            .push_back((net.now, chunk.to_vec()));
    }
    (net, pull, push, drops)
}

#[test]
fn refills_keep_what_they_copy_for_the_sender_to_drop() {
    let n = 300;
    let (mut net, pull, push, drops) = keep_and_write(n, 1024, true);
    // Every queued body was copied out by the writer's refills, and kept.
    let kept = net.nodes[push].take_spent();
    assert!(!kept.is_empty());
    assert_eq!(drops.load(Ordering::Relaxed) + kept.len(), n);
    assert!(!net.nodes[push].has_spent());
    drop(kept);
    assert_eq!(drops.load(Ordering::Relaxed), n);
    // Nothing lost or reordered on the way.
    net.settle();
    let got = net.recv_all(pull);
    assert_eq!(got.len(), n);
    assert!(got
        .iter()
        .enumerate()
        .all(|(i, m)| m.frames()[0].starts_with(format!("c{i:05}").as_bytes())));
}

#[test]
fn what_is_not_kept_is_dropped_where_it_is_copied() {
    // Off: the refills drop what they copy.
    let (net, _, push, drops) = keep_and_write(300, 1024, false);
    assert!(!net.nodes[push].has_spent());
    assert_eq!(drops.load(Ordering::Relaxed), 300);
    // Short messages (enough of them to queue behind the connection).
    let (net, _, push, drops) = keep_and_write(3000, 100, true);
    assert!(!net.nodes[push].has_spent());
    assert_eq!(drops.load(Ordering::Relaxed), 3000);
    // Large bodies are written by reference, not copied: the writer's
    // chunks hold them, and nothing is kept.
    let (net, _, push, _) = keep_and_write(20, 64 * 1024, true);
    assert!(!net.nodes[push].has_spent());
}

#[test]
fn an_idle_senders_kept_messages_go_at_its_timer() {
    let (mut net, _, push, drops) = sent_with_keep(300, 1024, true);
    // Written up to the refill that kept the queued ones; what it encoded
    // stays unwritten, so no other timer of the stream runs.
    let (_, conn) = net.links[0].ends[0];
    while !net.nodes[push].has_spent() {
        net.nodes[push].poll_transmit(conn).expect("more to write");
    }
    // Its timer looks 200 ms on, and again 200 ms after (the stream's own
    // timers, for its spare buffers, run on the way).
    let engine = &mut net.nodes[push];
    let mut run_until = |at: Instant| {
        let mut t = engine.poll_timeout().expect("a timer");
        for _ in 0..10 {
            if t >= at {
                break;
            }
            engine.handle_timeout(t);
            t = engine.poll_timeout().expect("a timer");
        }
        assert_eq!(t, at, "a timer for what is kept");
        engine.handle_timeout(at);
        engine.has_spent()
    };
    let first = net.now + Duration::from_millis(200);
    // The first look finds the sends since the timer started, the second
    // none: the messages go then.
    assert!(run_until(first));
    assert!(!run_until(first + Duration::from_millis(200)));
    assert_eq!(drops.load(Ordering::Relaxed), 300);
}
