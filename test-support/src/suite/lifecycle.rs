//! Connection lifecycle against libzmq: reconnect, connect before bind,
//! linger, heartbeats, HWM back-pressure, monitor sequences, refusal without
//! reconnect; and the API's errors, proxies and the ZAP handler socket.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use zmq_runtime::proxy::{proxy_steerable_blocking, ProxyStats};
use zmq_runtime::{
    AllowList, Builder, ConnectionError, Error, Monitor, MonitorEvent, Msg, SendError, Socket,
    SocketType,
};

use super::cases::{endpoint, keys, Transport};
use super::ends::PATIENCE;
use super::{build, Env};
use crate::peer::Peer;

fn sock<E: Env>(kind: SocketType) -> Socket<E::R> {
    build::<E>(Builder::new(kind).linger(Some(Duration::from_millis(100))))
}

fn tcp_port(ep: &str) -> u16 {
    ep.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("tcp endpoint")
}

/// Waits for the first event `pick` accepts; panics with what was seen.
fn wait_for(
    m: &mut Monitor,
    what: &str,
    pick: impl Fn(&MonitorEvent) -> bool,
) -> Vec<MonitorEvent> {
    let deadline = Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match m.next_blocking(Some(left)) {
            Ok(e) => {
                let done = pick(&e);
                seen.push(e);
                if done {
                    return seen;
                }
            }
            Err(why) => panic!("no {what} event ({why}); saw {seen:?}"),
        }
    }
}

/// Events for `wait`, for checking that something does not happen.
fn events_within(m: &mut Monitor, wait: Duration) -> Vec<MonitorEvent> {
    let deadline = Instant::now() + wait;
    let mut seen = Vec::new();
    while let Ok(e) = m.next_blocking(Some(deadline.saturating_duration_since(Instant::now()))) {
        seen.push(e);
    }
    seen
}

fn names(events: &[MonitorEvent]) -> Vec<&'static str> {
    events
        .iter()
        .map(|e| match e {
            MonitorEvent::Listening(_) => "Listening",
            MonitorEvent::BindFailed { .. } => "BindFailed",
            MonitorEvent::Accepted { .. } => "Accepted",
            MonitorEvent::ConnectDelayed(_) => "ConnectDelayed",
            MonitorEvent::Connected { .. } => "Connected",
            MonitorEvent::ConnectRetried { .. } => "ConnectRetried",
            MonitorEvent::HandshakeSucceeded { .. } => "HandshakeSucceeded",
            MonitorEvent::HandshakeFailed { .. } => "HandshakeFailed",
            MonitorEvent::Disconnected { .. } => "Disconnected",
            MonitorEvent::Refused { .. } => "Refused",
            MonitorEvent::Closed(_) => "Closed",
            _ => "other",
        })
        .collect()
}

fn first_frame(m: &[Vec<u8>]) -> &[u8] {
    &m[0]
}

/// libzmq restarts its PULL on the same port; our PUSH reconnects and the
/// next message arrives.
pub fn reconnect_after_libzmq_restarts<E: Env>() {
    let mut peer = Peer::start();
    peer.socket("p1", "PULL", &[]);
    let ep = peer.bind("p1", "tcp://127.0.0.1:*");
    let push = sock::<E>(SocketType::Push);
    let mut m = push.monitor();
    push.connect(&ep).unwrap();
    push.send_blocking("a", Some(PATIENCE)).unwrap();
    assert_eq!(first_frame(&peer.recv("p1", 10_000).expect("a")), b"a");
    peer.close("p1");
    wait_for(&mut m, "Disconnected", |e| {
        matches!(e, MonitorEvent::Disconnected { .. })
    });
    peer.socket("p2", "PULL", &[]);
    peer.bind("p2", &format!("tcp://127.0.0.1:{}", tcp_port(&ep)));
    // Queued while the peer is away, delivered after the reconnect.
    push.send_blocking("b", Some(PATIENCE)).unwrap();
    assert_eq!(first_frame(&peer.recv("p2", 10_000).expect("b")), b"b");
    let seen = wait_for(&mut m, "HandshakeSucceeded", |e| {
        matches!(e, MonitorEvent::HandshakeSucceeded { .. })
    });
    assert!(names(&seen).contains(&"ConnectRetried"), "{seen:?}");
}

/// Messages sent before anyone listens wait in the pipe (up to the HWM) and
/// arrive once libzmq binds; with IMMEDIATE they are refused instead.
pub fn connect_before_bind<E: Env>() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let ep = format!("tcp://127.0.0.1:{port}");
    let push = build::<E>(
        Builder::new(SocketType::Push)
            .linger(Some(Duration::from_millis(100)))
            .reconnect_ivl(Some(Duration::from_millis(20))),
    );
    push.connect(&ep).unwrap();
    for i in 0..10u8 {
        push.try_send(vec![i])
            .expect("queued before the peer exists");
    }
    let immediate = build::<E>(
        Builder::new(SocketType::Push)
            .immediate(true)
            .linger(Some(Duration::ZERO)),
    );
    immediate.connect(&ep).unwrap();
    assert!(matches!(
        immediate.try_send("x"),
        Err(SendError::WouldBlock(_))
    ));
    drop(immediate);
    let mut peer = Peer::start();
    peer.socket("p", "PULL", &[]);
    peer.bind("p", &ep);
    let got = peer.recv_many("p", 10, 10_000);
    let firsts: Vec<u8> = got.iter().map(|m| m[0][0]).collect();
    assert_eq!(firsts, (0..10).collect::<Vec<u8>>());
}

/// Close with the default LINGER (-1) returns only once everything queued was
/// handed to libzmq; LINGER 0 and a finite LINGER return without a peer.
pub fn linger<E: Env>() {
    const N: usize = 5000;
    let mut peer = Peer::start();
    peer.socket("p", "PULL", &[]);
    let ep = peer.bind("p", "tcp://127.0.0.1:*");
    let push = build::<E>(Builder::new(SocketType::Push).sndhwm(0));
    push.connect(&ep).unwrap();
    for i in 0..N {
        push.try_send(format!("{i:05}").into_bytes()).unwrap();
    }
    let got = std::thread::scope(|s| {
        let closing = s.spawn(move || push.close_blocking());
        let got = peer.recv_many("p", N, 20_000);
        closing.join().unwrap();
        got
    });
    assert_eq!(got.len(), N, "linger lost messages");
    assert!(got
        .iter()
        .enumerate()
        .all(|(i, m)| m[0] == format!("{i:05}").as_bytes()));

    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("tcp://{}", l.local_addr().unwrap())
    };
    for linger in [Duration::ZERO, Duration::from_millis(200)] {
        let push = build::<E>(Builder::new(SocketType::Push).linger(Some(linger)));
        push.connect(&dead).unwrap();
        push.try_send("never delivered").unwrap();
        push.close_blocking();
    }
}

/// Every duration option at `Duration::MAX` (issue #11: LINGER MAX panicked
/// with "overflow when adding duration to instant" when the socket was
/// dropped): a pair still talks, and a socket with a message for a dead
/// endpoint drops without a panic, its LINGER as good as for ever.
pub fn extreme_durations<E: Env>() {
    let max = Some(Duration::MAX);
    let extreme = |t: SocketType| {
        Builder::new(t)
            .linger(max)
            .reconnect_ivl(max)
            .reconnect_ivl_max(max)
            .heartbeat_ivl(max)
            .heartbeat_timeout(max)
            .heartbeat_ttl(max)
            .handshake_ivl(max)
            .sndtimeo(max)
            .rcvtimeo(max)
    };
    let pull = build::<E>(extreme(SocketType::Pull));
    let ep = pull.bind("tcp://127.0.0.1:*").unwrap();
    let push = build::<E>(extreme(SocketType::Push));
    push.connect(ep.to_string()).unwrap();
    push.send_blocking("extreme", max).unwrap();
    let got = pull.recv_blocking(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(&got.frames()[0][..], b"extreme");
    drop(pull);

    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("tcp://{}", l.local_addr().unwrap())
    };
    let stuck = build::<E>(extreme(SocketType::Push));
    stuck.connect(&dead).unwrap();
    stuck.try_send("never delivered").unwrap();
    drop(stuck);
    drop(push);
}

/// A libzmq peer that stops answering (SIGSTOP) is dropped by our heartbeat
/// timeout; after it continues, we reconnect and talk again.
pub fn heartbeat_timeout<E: Env>() {
    let mut peer = Peer::start();
    peer.socket("r", "ROUTER", &[]);
    let ep = peer.bind("r", "tcp://127.0.0.1:*");
    // No routing id: libzmq's ROUTER would ignore a new connection claiming
    // the id of one it has not noticed is dead yet.
    let dealer = build::<E>(
        Builder::new(SocketType::Dealer)
            .linger(Some(Duration::ZERO))
            .heartbeat_ivl(Some(Duration::from_millis(100)))
            .heartbeat_timeout(Some(Duration::from_millis(400))),
    );
    let mut m = dealer.monitor();
    dealer.connect(&ep).unwrap();
    dealer.send_blocking("one", Some(PATIENCE)).unwrap();
    assert_eq!(peer.recv("r", 10_000).expect("one")[1], b"one");
    peer.signal("-STOP");
    let seen = wait_for(&mut m, "Disconnected", |e| {
        matches!(e, MonitorEvent::Disconnected { .. })
    });
    peer.signal("-CONT");
    let last = seen.last().unwrap();
    assert!(
        matches!(
            last,
            MonitorEvent::Disconnected {
                error: ConnectionError::HeartbeatTimeout,
                ..
            }
        ),
        "{last:?}"
    );
    wait_for(&mut m, "HandshakeSucceeded", |e| {
        matches!(e, MonitorEvent::HandshakeSucceeded { .. })
    });
    dealer.send_blocking("two", Some(PATIENCE)).unwrap();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let msg = peer.recv("r", 10_000).expect("two");
        if msg[1] == b"two" {
            break;
        }
        assert!(Instant::now() < deadline);
    }
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn sysctl_max(path: &str) -> usize {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.split_whitespace().last()?.parse().ok())
        .unwrap_or(8 << 20)
}

/// A stopped libzmq receiver: send stops at the HWMs plus the kernel's
/// buffers, memory stays flat while we keep trying, nothing is lost after it
/// resumes.
pub fn hwm_back_pressure<E: Env>() {
    const SIZE: usize = 64 * 1024;
    let mut peer = Peer::start();
    peer.socket("p", "PULL", &["rcvhwm=10".into()]);
    let ep = peer.bind("p", "tcp://127.0.0.1:*");
    let push = build::<E>(
        Builder::new(SocketType::Push)
            .sndhwm(10)
            .linger(Some(Duration::ZERO)),
    );
    push.connect(&ep).unwrap();
    push.send_blocking(vec![0u8; SIZE], Some(PATIENCE)).unwrap();
    peer.signal("-STOP");
    let payload = bytes::Bytes::from(vec![1u8; SIZE]);
    let mut sent = 1usize;
    // Until nothing more goes for a while: the pipes and the sockets are full.
    let mut idle_since = Instant::now();
    while idle_since.elapsed() < Duration::from_millis(300) {
        match push.try_send(Msg::single(payload.clone())) {
            Ok(()) => {
                sent += 1;
                idle_since = Instant::now();
            }
            Err(SendError::WouldBlock(_)) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => panic!("{e}"),
        }
        assert!(sent < 100_000, "send never blocked");
    }
    let kernel =
        sysctl_max("/proc/sys/net/ipv4/tcp_wmem") + sysctl_max("/proc/sys/net/ipv4/tcp_rmem");
    let bound = 10 + 10 + kernel / SIZE + 16;
    assert!(
        sent <= bound,
        "{sent} messages queued, more than HWMs and kernel buffers allow ({bound})"
    );
    // Blocked, and memory flat while the sender keeps trying.
    let before = rss_kib();
    assert!(matches!(
        push.send_blocking(
            Msg::single(payload.clone()),
            Some(Duration::from_millis(300))
        ),
        Err(Error::Timeout)
    ));
    for _ in 0..50 {
        let _ = push.try_send(Msg::single(payload.clone()));
    }
    let grown = rss_kib().saturating_sub(before);
    assert!(grown < 8 * 1024, "RSS grew by {grown} KiB while blocked");
    peer.signal("-CONT");
    let got = peer.recv_many("p", sent, 20_000);
    assert_eq!(got.len(), sent, "messages lost under back-pressure");
}

/// A CURVE PUSH, with small HWMs and kernel buffers, into a libzmq PULL
/// that reads slowly and is stopped and resumed (SIGSTOP/SIGCONT) every few
/// milliseconds: the sending thread waits for room thousands of times, and
/// every wait must end once the reader drains. A wake-up lost anywhere on
/// the write path (room returned to the pipe, the writer told of new bytes,
/// writability after a full kernel buffer) leaves a send waiting out its
/// patience; every message must arrive, once and in order.
pub fn send_resumes_through_a_stop_and_go_reader<E: Env>() {
    use std::sync::atomic::{AtomicBool, Ordering};

    const COUNT: u64 = 4000;
    const SIZE: usize = 700;
    let k = keys();
    let mut peer = Peer::start();
    peer.socket(
        "p",
        "PULL",
        &[
            "rcvhwm=2".into(),
            "rcvbuf=4096".into(),
            "curve_server=1".into(),
            format!("curve_secretkey={}", k.server.secret.to_z85()),
        ],
    );
    let ep = peer.bind("p", "tcp://127.0.0.1:*");
    let push = build::<E>(
        Builder::new(SocketType::Push)
            .sndhwm(4)
            .sndbuf(Some(4096))
            .linger(Some(PATIENCE))
            .curve_client(k.server.public, k.client),
    );
    push.connect(&ep).unwrap();
    let pid = peer.pid().to_string();
    let kill = |sig: &str| {
        let ok = std::process::Command::new("kill")
            .args([sig, pid.as_str()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {sig} {pid}");
    };
    let sending = AtomicBool::new(true);
    let got = std::thread::scope(|s| {
        let sender = s.spawn(|| {
            // Whatever happens to this thread, the toggling ends with it.
            struct Done<'a>(&'a AtomicBool);
            impl Drop for Done<'_> {
                fn drop(&mut self) {
                    self.0.store(false, Ordering::Release);
                }
            }
            let _done = Done(&sending);
            let mut body = vec![0x5a; SIZE];
            for seq in 0..COUNT {
                body[..8].copy_from_slice(&seq.to_be_bytes());
                if let Err(e) = push.send_blocking(body.clone(), Some(PATIENCE)) {
                    panic!("send {seq} of {COUNT} waited out {PATIENCE:?}: {e}");
                }
            }
        });
        s.spawn(|| {
            let mut turn = 0u64;
            while sending.load(Ordering::Acquire) {
                kill("-STOP");
                std::thread::sleep(Duration::from_micros(1500 + turn % 5 * 700));
                kill("-CONT");
                std::thread::sleep(Duration::from_micros(1000 + turn % 3 * 900));
                turn += 1;
            }
        });
        let got = peer.recv_many("p", COUNT as usize, 60_000);
        if let Err(e) = sender.join() {
            std::panic::resume_unwind(e);
        }
        got
    });
    let seqs: Vec<u64> = got
        .iter()
        .map(|m| {
            assert_eq!(m.len(), 1, "one frame per message");
            assert_eq!(m[0].len(), SIZE);
            u64::from_be_bytes(m[0][..8].try_into().expect("8 bytes"))
        })
        .collect();
    let expected: Vec<u64> = (0..COUNT).collect();
    assert!(
        seqs == expected,
        "{} of {COUNT} messages arrived; first out of place at {:?}",
        seqs.len(),
        seqs.iter().zip(&expected).position(|(a, b)| a != b)
    );
}

/// One socket bound to tcp, ipc and inproc at once and connected to a
/// libzmq peer as well: fair-queued input from all four.
pub fn many_endpoints<E: Env>() {
    let mut peer = Peer::start();
    let pull = sock::<E>(SocketType::Pull);
    let tcp = pull.bind("tcp://127.0.0.1:*").unwrap().to_string();
    let ipc = pull.bind(endpoint(Transport::Ipc)).unwrap().to_string();
    let inproc = endpoint(Transport::Inproc);
    pull.bind(&inproc).unwrap();
    peer.socket("out", "PUSH", &[]);
    let theirs = peer.bind("out", "tcp://127.0.0.1:*");
    pull.connect(&theirs).unwrap();
    peer.socket("a", "PUSH", &[]);
    peer.connect("a", &tcp);
    peer.socket("b", "PUSH", &[]);
    peer.connect("b", &ipc);
    let local = sock::<E>(SocketType::Push);
    local.connect(&inproc).unwrap();
    assert!(peer.send("a", &[b"tcp"], 5000));
    assert!(peer.send("b", &[b"ipc"], 5000));
    assert!(peer.send("out", &[b"connected"], 5000));
    local.send_blocking("inproc", Some(PATIENCE)).unwrap();
    let mut got: Vec<Vec<u8>> = (0..4)
        .map(|_| pull.recv_blocking(Some(PATIENCE)).unwrap().frames()[0].to_vec())
        .collect();
    got.sort();
    assert_eq!(got, [&b"connected"[..], b"inproc", b"ipc", b"tcp"]);
    // unbind and disconnect by the endpoints given or returned.
    pull.unbind(&tcp).unwrap();
    pull.disconnect(&theirs).unwrap();
    assert!(matches!(pull.unbind(&tcp), Err(Error::UnknownEndpoint(_))));
}

/// Our receiver at its RCVHWM stops reading the stream, and reads again as
/// the application makes room: every message of a fast libzmq sender arrives.
pub fn receive_back_pressure<E: Env>() {
    const N: usize = 3000;
    let mut peer = Peer::start();
    let pull = build::<E>(
        Builder::new(SocketType::Pull)
            .rcvhwm(5)
            .linger(Some(Duration::ZERO)),
    );
    let ep = pull.bind("tcp://127.0.0.1:*").unwrap().to_string();
    peer.socket("push", "PUSH", &["sndhwm=0".into()]);
    peer.connect("push", &ep);
    for i in 0..N {
        assert!(peer.send("push", &[format!("{i}").as_bytes(), &[0u8; 512]], 5000));
    }
    // Our pipe filled long ago and the stream paused; now drain slowly at
    // first, then at full speed.
    for i in 0..N {
        if i < 20 {
            std::thread::sleep(Duration::from_millis(2));
        }
        let m = pull
            .recv_blocking(Some(PATIENCE))
            .expect("a paused stream resumed");
        assert_eq!(&m.frames()[0][..], format!("{i}").as_bytes());
    }
}

/// The monitor's sequences for CURVE: accepted and refused, on both sides.
pub fn monitor_curve<E: Env>() {
    let k = keys();
    let mut peer = Peer::start();
    peer.ok(&format!("zap curve {}", k.client.public.to_z85()));
    let server_opts = vec![
        "curve_server=1".to_string(),
        format!("curve_secretkey={}", k.server.secret.to_z85()),
    ];
    let client_opts = |pair: &zmq_runtime::KeyPair| {
        vec![
            format!("curve_serverkey={}", k.server.public.to_z85()),
            format!("curve_publickey={}", pair.public.to_z85()),
            format!("curve_secretkey={}", pair.secret.to_z85()),
        ]
    };
    // Our client, accepted and refused by libzmq's ZAP handler.
    for (pair, accepted) in [(&k.client, true), (&k.stranger, false)] {
        peer.socket("srv", "ROUTER", &server_opts);
        let ep = peer.bind("srv", "tcp://127.0.0.1:*");
        let client = build::<E>(
            Builder::new(SocketType::Dealer)
                .linger(Some(Duration::ZERO))
                .curve_client(k.server.public, pair.clone()),
        );
        let mut m = client.monitor();
        client.connect(&ep).unwrap();
        if accepted {
            let seen = wait_for(&mut m, "HandshakeSucceeded", |e| {
                matches!(e, MonitorEvent::HandshakeSucceeded { .. })
            });
            assert_eq!(
                names(&seen),
                ["ConnectDelayed", "Connected", "HandshakeSucceeded"]
            );
        } else {
            let seen = wait_for(&mut m, "Disconnected", |e| {
                matches!(e, MonitorEvent::Disconnected { .. })
            });
            assert_eq!(
                names(&seen),
                [
                    "ConnectDelayed",
                    "Connected",
                    "HandshakeFailed",
                    "Disconnected"
                ]
            );
            assert!(matches!(
                &seen[2],
                MonitorEvent::HandshakeFailed {
                    error: ConnectionError::PeerError { .. },
                    ..
                }
            ));
            // As libzmq 4.3: no reconnect after an authentication failure.
            let later = events_within(&mut m, Duration::from_millis(500));
            assert!(later.is_empty(), "reconnected after a refusal: {later:?}");
        }
        peer.close("srv");
    }
    // Our server, accepting and refusing libzmq clients.
    for (pair, accepted) in [(&k.client, true), (&k.stranger, false)] {
        let server = build::<E>(
            Builder::new(SocketType::Router)
                .linger(Some(Duration::ZERO))
                .curve_server(k.server.secret.clone())
                .authenticator(AllowList::new().allow_key(k.client.public)),
        );
        let mut m = server.monitor();
        let ep = server.bind("tcp://127.0.0.1:*").unwrap().to_string();
        peer.socket("cli", "DEALER", &client_opts(pair));
        peer.connect("cli", &ep);
        if accepted {
            let seen = wait_for(&mut m, "HandshakeSucceeded", |e| {
                matches!(e, MonitorEvent::HandshakeSucceeded { .. })
            });
            assert_eq!(
                names(&seen),
                ["Listening", "Accepted", "HandshakeSucceeded"]
            );
        } else {
            let seen = wait_for(&mut m, "Disconnected", |e| {
                matches!(e, MonitorEvent::Disconnected { .. })
            });
            assert_eq!(
                names(&seen),
                ["Listening", "Accepted", "HandshakeFailed", "Disconnected"]
            );
            assert!(matches!(
                &seen[2],
                MonitorEvent::HandshakeFailed {
                    error: ConnectionError::AuthDenied { status: 400, .. },
                    ..
                }
            ));
        }
        peer.close("cli");
    }
}

/// Typed errors that name the endpoint.
pub fn errors<E: Env>() {
    let a = sock::<E>(SocketType::Rep);
    let ep = a.bind("tcp://127.0.0.1:*").unwrap().to_string();
    let b = sock::<E>(SocketType::Rep);
    let e = b.bind(&ep).unwrap_err();
    assert!(
        matches!(e, Error::AddrInUse { .. }) && e.to_string().contains(&ep),
        "{e}"
    );
    for (bad, what) in [
        ("tcp://nonsense", "tcp://nonsense"),
        ("udp://127.0.0.1:5555", "unsupported transport"),
        ("tcp://127.0.0.1:70000", "invalid port"),
        ("ipc://", "empty address"),
    ] {
        let e = b.bind(bad).unwrap_err();
        assert!(
            matches!(e, Error::Endpoint(_)) && e.to_string().contains(what),
            "{bad}: {e}"
        );
    }
    let e = b.connect("tcp://*:5555").unwrap_err();
    assert!(e.to_string().contains("tcp://*:5555"), "{e}");
    let e = b.unbind("tcp://127.0.0.1:1").unwrap_err();
    assert!(matches!(e, Error::UnknownEndpoint(_)), "{e}");
    // After unbind the port is free at once.
    a.unbind(&ep).unwrap();
    b.bind(&ep).expect("bind right after unbind");
    // inproc: a second bind, and a socket type that cannot talk to the binder.
    let name = endpoint(Transport::Inproc);
    a.bind(&name).unwrap();
    assert!(matches!(b.bind(&name), Err(Error::AddrInUse { .. })));
    let publisher = sock::<E>(SocketType::Pub);
    let e = publisher.connect(&name).unwrap_err();
    assert!(
        matches!(e, Error::IncompatibleSocketType { .. }) && e.to_string().contains(&name),
        "{e}"
    );
    // ipc: a live listener is in use.
    let ipc = endpoint(Transport::Ipc);
    a.bind(&ipc).unwrap();
    assert!(matches!(b.bind(&ipc), Err(Error::AddrInUse { .. })));
}

/// Host names, IPv6 and Linux abstract ipc names, against libzmq.
pub fn addresses<E: Env>() {
    let mut peer = Peer::start();
    let pull = sock::<E>(SocketType::Pull);
    let ep = pull.bind("tcp://127.0.0.1:*").unwrap().to_string();
    peer.socket("a", "PUSH", &[]);
    peer.connect("a", &ep);
    // A DNS name on our connecting side: every address of localhost is tried.
    let push = sock::<E>(SocketType::Push);
    push.connect(format!("tcp://localhost:{}", tcp_port(&ep)))
        .unwrap();
    push.send_blocking("by name", Some(PATIENCE)).unwrap();
    assert_eq!(
        &pull.recv_blocking(Some(PATIENCE)).unwrap().frames()[0][..],
        b"by name"
    );
    // Abstract ipc.
    let name = format!("ipc://@zmqrs-{}-{}", std::process::id(), tcp_port(&ep));
    let rep = sock::<E>(SocketType::Rep);
    rep.bind(&name).unwrap();
    peer.socket("b", "REQ", &[]);
    peer.connect("b", &name);
    assert!(peer.send("b", &[b"abstract"], 5000));
    let req = rep.recv_blocking(Some(PATIENCE)).unwrap();
    rep.send_blocking(req, Some(PATIENCE)).unwrap();
    assert_eq!(peer.recv("b", 10_000).unwrap()[0], b"abstract");
    // IPv6 loopback, where the machine has it.
    if std::net::TcpListener::bind("[::1]:0").is_ok() {
        let v6 = sock::<E>(SocketType::Pull);
        let ep6 = v6.bind("tcp://[::1]:*").unwrap().to_string();
        assert!(ep6.starts_with("tcp://[::1]:"), "{ep6}");
        peer.ok("new c PUSH ipv6=1");
        peer.connect("c", &ep6);
        assert!(peer.send("c", &[b"v6"], 5000));
        assert_eq!(
            &v6.recv_blocking(Some(PATIENCE)).unwrap().frames()[0][..],
            b"v6"
        );
    }
}

/// Our proxy between libzmq clients: an XSUB/XPUB forwarder and a
/// ROUTER/DEALER broker, steered over a control socket.
pub fn proxies<E: Env>() {
    let peer = RefCell::new(Peer::start());
    // Forwarder: libzmq PUB -> our XSUB | our XPUB -> libzmq SUB.
    let xsub = sock::<E>(SocketType::XSub);
    let xpub = sock::<E>(SocketType::XPub);
    let front = xsub.bind("tcp://127.0.0.1:*").unwrap().to_string();
    let back = xpub.bind("tcp://127.0.0.1:*").unwrap().to_string();
    let ctl_ep = endpoint(Transport::Inproc);
    let control = sock::<E>(SocketType::Pair);
    control.bind(&ctl_ep).unwrap();
    let steer = sock::<E>(SocketType::Pair);
    steer.connect(&ctl_ep).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| proxy_steerable_blocking(&xsub, &xpub, None, Some(&control)));
        let mut p = peer.borrow_mut();
        p.socket("pub", "PUB", &[]);
        p.connect("pub", &front);
        p.socket("sub", "SUB", &["subscribe=74".into()]);
        p.connect("sub", &back);
        let deadline = Instant::now() + PATIENCE;
        loop {
            assert!(p.send("pub", &[b"t-1"], 1000));
            if p.recv("sub", 20).is_some() {
                break;
            }
            assert!(Instant::now() < deadline, "the forwarder never delivered");
        }
        steer.send_blocking("STATISTICS", Some(PATIENCE)).unwrap();
        let stats = ProxyStats::from_msg(&steer.recv_blocking(Some(PATIENCE)).unwrap()).unwrap();
        assert!(
            stats.frontend.msgs_in >= 1 && stats.backend.msgs_out >= 1,
            "{stats:?}"
        );
        // The subscription went upstream through the backend.
        assert!(stats.backend.msgs_in >= 1, "{stats:?}");
        steer.send_blocking("TERMINATE", Some(PATIENCE)).unwrap();
    });
    // Broker: libzmq REQ -> our ROUTER | our DEALER -> libzmq REP, with capture.
    let router = sock::<E>(SocketType::Router);
    let dealer = sock::<E>(SocketType::Dealer);
    let front = router.bind("tcp://127.0.0.1:*").unwrap().to_string();
    let back = dealer.bind("tcp://127.0.0.1:*").unwrap().to_string();
    let cap_ep = endpoint(Transport::Inproc);
    let capture = sock::<E>(SocketType::Push);
    capture.bind(&cap_ep).unwrap();
    let captured = sock::<E>(SocketType::Pull);
    captured.connect(&cap_ep).unwrap();
    let ctl_ep = endpoint(Transport::Inproc);
    let control = sock::<E>(SocketType::Rep);
    control.bind(&ctl_ep).unwrap();
    let steer = sock::<E>(SocketType::Req);
    steer.connect(&ctl_ep).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| proxy_steerable_blocking(&router, &dealer, Some(&capture), Some(&control)));
        let mut p = peer.borrow_mut();
        p.socket("req", "REQ", &[]);
        p.connect("req", &front);
        p.socket("rep", "REP", &[]);
        p.connect("rep", &back);
        assert!(p.send("req", &[b"hi"], 5000));
        assert_eq!(
            p.recv("rep", 10_000).expect("request through the broker"),
            vec![b"hi".to_vec()]
        );
        assert!(p.send("rep", &[b"yo"], 5000));
        assert_eq!(
            p.recv("req", 10_000).expect("reply through the broker"),
            vec![b"yo".to_vec()]
        );
        // Every message, both ways, was copied to the capture socket.
        for _ in 0..2 {
            captured.recv_blocking(Some(PATIENCE)).expect("captured");
        }
        // PAUSE holds messages back; RESUME lets them through. A REP control
        // socket gets an answer to every command.
        steer.send_blocking("PAUSE", Some(PATIENCE)).unwrap();
        steer.recv_blocking(Some(PATIENCE)).unwrap();
        assert!(p.send("req", &[b"held"], 5000));
        assert!(p.recv("rep", 300).is_none(), "a paused proxy forwarded");
        steer.send_blocking("RESUME", Some(PATIENCE)).unwrap();
        steer.recv_blocking(Some(PATIENCE)).unwrap();
        assert_eq!(
            p.recv("rep", 10_000).expect("after RESUME"),
            vec![b"held".to_vec()]
        );
        steer.send_blocking("TERMINATE", Some(PATIENCE)).unwrap();
    });
}

/// A libzmq-style ZAP handler: our REP on `inproc://zeromq.zap.01` decides
/// for a PLAIN server that has no authenticator; libzmq clients are let in or
/// refused by it.
pub fn zap_handler_socket<E: Env>() {
    let _handler_bound = super::ZAP_HANDLER.lock().unwrap_or_else(|e| e.into_inner());
    let handler = sock::<E>(SocketType::Rep);
    handler.bind("inproc://zeromq.zap.01").unwrap();
    let server = build::<E>(
        Builder::new(SocketType::Router)
            .linger(Some(Duration::ZERO))
            .plain_server()
            .zap_domain("global"),
    );
    let mut m = server.monitor();
    let ep = server.bind("tcp://127.0.0.1:*").unwrap().to_string();
    let mut peer = Peer::start();
    std::thread::scope(|s| {
        let serve = s.spawn(|| {
            let mut requests = Vec::new();
            for _ in 0..2 {
                let req = handler.recv_blocking(Some(PATIENCE)).expect("ZAP request");
                let f: Vec<Vec<u8>> = req.frames().iter().map(|f| f.to_vec()).collect();
                // version, id, domain, address, identity, mechanism, user, password
                let ok = f[5] == b"PLAIN" && f[6] == b"admin" && f[7] == b"secret";
                let status: &[u8] = if ok { b"200" } else { b"400" };
                // The metadata frame (ZMTP property list) becomes message properties.
                let metadata = b"\x05Hello\x00\x00\x00\x05World";
                let reply: Msg = [&f[0][..], &f[1][..], status, b"", b"admin", metadata]
                    .iter()
                    .map(|x| x.to_vec())
                    .collect();
                handler.send_blocking(reply, Some(PATIENCE)).unwrap();
                requests.push(f);
            }
            requests
        });
        peer.socket(
            "good",
            "DEALER",
            &[
                "plain_username=admin".into(),
                "plain_password=secret".into(),
            ],
        );
        peer.connect("good", &ep);
        assert!(peer.send("good", &[b"let me in"], 5000));
        let got = server
            .recv_blocking(Some(PATIENCE))
            .expect("allowed client");
        assert_eq!(&got.frames()[1][..], b"let me in");
        assert_eq!(got.property("User-Id"), Some("admin"));
        assert_eq!(got.property("Hello"), Some("World"));
        peer.socket(
            "bad",
            "DEALER",
            &["plain_username=admin".into(), "plain_password=nope".into()],
        );
        peer.connect("bad", &ep);
        peer.send("bad", &[b"me too"], 0);
        let seen = wait_for(&mut m, "HandshakeFailed", |e| {
            matches!(e, MonitorEvent::HandshakeFailed { .. })
        });
        assert!(matches!(
            seen.last().unwrap(),
            MonitorEvent::HandshakeFailed {
                error: ConnectionError::AuthDenied { status: 400, .. },
                ..
            }
        ));
        let requests = serve.join().unwrap();
        assert_eq!(requests[0][0], b"1.0");
        assert_eq!(requests[0][2], b"global", "ZAP domain");
        assert_eq!(
            requests[0][3], b"127.0.0.1",
            "peer address without the port"
        );
        assert!(server
            .recv_blocking(Some(Duration::from_millis(200)))
            .is_err());
    });
}
