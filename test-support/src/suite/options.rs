//! Options on live sockets and the TCP-level options, against libzmq: an
//! option changed after `connect` or `bind` takes effect when libzmq 4.3's
//! would (HWMs at once, connection settings for later endpoints), and the
//! socket-level options reach the wire (IPV6 dual-stack binds,
//! CONNECT_TIMEOUT, BINDTODEVICE).

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use socket2::{Domain, SockAddr, Socket as RawSocket, Type};
use zmq_runtime::{
    AuthReply, AuthRequest, Builder, Credentials, Error, Events, KeyPair, MechanismConfig, Monitor,
    MonitorEvent, Msg, SendError, Socket, SocketType,
};

use super::cases::keys;
use super::ends::PATIENCE;
use super::{build, Env};
use crate::peer::Peer;

const MS: Duration = Duration::from_millis(1);

fn sock<E: Env>(kind: SocketType) -> Socket<E::R> {
    build::<E>(Builder::new(kind).linger(Some(100 * MS)))
}

/// A port nothing listens on (for now).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Waits for the first event `pick` accepts; panics with what was seen.
fn wait_for(m: &mut Monitor, what: &str, pick: impl Fn(&MonitorEvent) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match m.next_blocking(Some(left)) {
            Ok(e) if pick(&e) => return,
            Ok(e) => seen.push(e),
            Err(err) => panic!("no {what} event ({err}); saw {seen:?}"),
        }
    }
}

fn text(m: &Msg) -> &[u8] {
    &m.frames()[0][..]
}

/// Sends until the socket refuses; the number that went.
fn fill(s: &Socket<impl Sized>, from: usize) -> usize {
    let mut n = from;
    loop {
        match s.try_send(format!("m{n}")) {
            Ok(()) => n += 1,
            Err(SendError::WouldBlock(_)) => return n,
            Err(e) => panic!("{e}"),
        }
    }
}

/// SNDHWM changed after `connect` holds for the pipe that connect made (as
/// libzmq 4.3's `update_pipe_options`): raised, more messages queue; a
/// libzmq PULL that binds later receives exactly those.
pub fn live_sndhwm<E: Env>() {
    let port = free_port();
    let push = sock::<E>(SocketType::Push);
    push.connect(format!("tcp://127.0.0.1:{port}")).unwrap();
    push.set_sndhwm(3).unwrap();
    assert_eq!(push.sndhwm(), 3);
    assert_eq!(fill(&push, 0), 3);
    push.set_sndhwm(5).unwrap();
    assert!(push.events().contains(Events::OUT));
    assert_eq!(fill(&push, 3), 5);
    assert!(!push.events().contains(Events::OUT));

    let mut peer = Peer::start();
    peer.socket("pull", "PULL", &[]);
    peer.bind("pull", &format!("tcp://127.0.0.1:{port}"));
    let got = peer.recv_many("pull", 5, 10_000);
    let want: Vec<Vec<Vec<u8>>> = (0..5).map(|i| vec![format!("m{i}").into_bytes()]).collect();
    assert_eq!(got, want);
    // Room again once they went.
    push.send_blocking("after", Some(PATIENCE)).unwrap();
    assert_eq!(peer.recv("pull", 10_000).unwrap(), vec![b"after".to_vec()]);
}

/// ROUTING_ID and the mechanism changed after a connect hold for later
/// connects, and the earlier connection keeps what it had: what two libzmq
/// ROUTERs see.
pub fn live_connection_settings<E: Env>() {
    let k = keys();
    let mut peer = Peer::start();
    peer.socket("plain", "ROUTER", &[]);
    let plain_ep = peer.bind("plain", "tcp://127.0.0.1:*");
    peer.socket(
        "curve",
        "ROUTER",
        &[
            "curve_server=1".into(),
            format!("curve_secretkey={}", k.server.secret.to_z85()),
        ],
    );
    let curve_ep = peer.bind("curve", "tcp://127.0.0.1:*");

    let dealer = sock::<E>(SocketType::Dealer);
    dealer.set_routing_id("first").unwrap();
    dealer.connect(&plain_ep).unwrap();
    dealer.send_blocking("one", Some(PATIENCE)).unwrap();
    assert_eq!(
        peer.recv("plain", 10_000).unwrap(),
        vec![b"first".to_vec(), b"one".to_vec()]
    );

    dealer.set_routing_id("second").unwrap();
    dealer
        .set_curve_client(k.server.public, k.client.clone())
        .unwrap();
    assert_eq!(&dealer.routing_id()[..], b"second");
    assert_eq!(dealer.curve_serverkey(), Some(k.server.public));
    dealer.connect(&curve_ep).unwrap();
    // Round robin over both: the CURVE ROUTER sees the new id, the plain
    // one still the old (its connection was made before the change).
    for i in 0..4 {
        dealer
            .send_blocking(format!("r{i}"), Some(PATIENCE))
            .unwrap();
    }
    let from_curve = peer.recv_many("curve", 2, 10_000);
    let from_plain = peer.recv_many("plain", 2, 10_000);
    assert_eq!(from_curve.len() + from_plain.len(), 4);
    assert!(
        from_curve.iter().all(|m| m[0] == b"second"),
        "{from_curve:?}"
    );
    assert!(
        from_plain.iter().all(|m| m[0] == b"first"),
        "{from_plain:?}"
    );
    // Replies come back over CURVE to the new id's connection.
    assert!(peer.send("curve", &[b"second", b"back"], 5000));
    assert_eq!(
        text(&dealer.recv_blocking(Some(PATIENCE)).unwrap()),
        b"back"
    );
}

/// Security changed on a bound socket holds for its later binds: the
/// earlier NULL listener still takes a libzmq NULL client, the later PLAIN
/// one checks libzmq PLAIN clients with the authenticator set live, and a
/// ZAP domain set live makes the next NULL listener ask it too.
pub fn live_server_security<E: Env>() {
    let mut peer = Peer::start();
    let pull = sock::<E>(SocketType::Pull);
    let mut m = pull.monitor();
    let null_ep = pull.bind("tcp://127.0.0.1:*").unwrap().to_string();
    pull.set_plain_server().unwrap();
    pull.set_authenticator(|req: &AuthRequest| {
        Some(match &req.credentials {
            Credentials::Plain { password, .. } if &password[..] == b"secret" => AuthReply::allow(),
            _ => AuthReply::deny("no"),
        })
    })
    .unwrap();
    let plain_ep = pull.bind("tcp://127.0.0.1:*").unwrap().to_string();

    peer.socket("null", "PUSH", &[]);
    peer.connect("null", &null_ep);
    assert!(peer.send("null", &[b"null"], 5000));
    assert_eq!(text(&pull.recv_blocking(Some(PATIENCE)).unwrap()), b"null");
    let plain = |user: &str, pass: &str| {
        vec![
            format!("plain_username={user}"),
            format!("plain_password={pass}"),
        ]
    };
    peer.socket("good", "PUSH", &plain("me", "secret"));
    peer.connect("good", &plain_ep);
    assert!(peer.send("good", &[b"plain"], 5000));
    assert_eq!(text(&pull.recv_blocking(Some(PATIENCE)).unwrap()), b"plain");
    peer.socket("bad", "PUSH", &plain("me", "guess"));
    peer.connect("bad", &plain_ep);
    wait_for(&mut m, "HandshakeFailed (wrong password)", |e| {
        matches!(e, MonitorEvent::HandshakeFailed { .. })
    });

    pull.set_mechanism(MechanismConfig::Null).unwrap();
    pull.set_zap_domain("global").unwrap();
    let zap_ep = pull.bind("tcp://127.0.0.1:*").unwrap().to_string();
    peer.socket("null2", "PUSH", &[]);
    peer.connect("null2", &zap_ep);
    wait_for(&mut m, "HandshakeFailed (NULL refused)", |e| {
        matches!(e, MonitorEvent::HandshakeFailed { .. })
    });
}

/// LINGER changed before `close` is the one close uses; SNDTIMEO and
/// RCVTIMEO changed through `&self` hold for the next wait.
pub fn live_linger_and_timeouts<E: Env>() {
    // libzmq's default LINGER waits for ever for a peer that never comes.
    let push = build::<E>(Builder::new(SocketType::Push));
    assert_eq!(push.linger(), None);
    push.connect(format!("tcp://127.0.0.1:{}", free_port()))
        .unwrap();
    push.send_blocking("stuck", Some(PATIENCE)).unwrap();
    push.set_linger(Some(Duration::ZERO)).unwrap();
    assert_eq!(push.linger(), Some(Duration::ZERO));
    assert!(
        push.shutdown_timeout(Some(PATIENCE)),
        "LINGER 0 set live did not end the close"
    );
    assert!(matches!(push.set_sndhwm(1), Err(Error::Closed)));

    let pull = sock::<E>(SocketType::Pull);
    assert_eq!(pull.timeouts(), (None, None));
    pull.set_rcvtimeo(Some(20 * MS)).unwrap();
    pull.set_sndtimeo(Some(30 * MS)).unwrap();
    assert_eq!(pull.rcvtimeo(), Some(20 * MS));
    assert_eq!(pull.timeouts(), (Some(30 * MS), Some(20 * MS)));
    assert!(matches!(
        pull.recv_blocking(pull.rcvtimeo()),
        Err(Error::Timeout)
    ));
}

/// LAST_ENDPOINT after a wildcard bind names the port the OS chose (a
/// libzmq peer connects to it), after a connect the endpoint connected;
/// EVENTS follows what is waiting.
pub fn last_endpoint_and_events<E: Env>() {
    let mut peer = Peer::start();
    let pull = sock::<E>(SocketType::Pull);
    assert_eq!(pull.last_endpoint(), "");
    let bound = pull.bind("tcp://127.0.0.1:*").unwrap();
    let last = pull.last_endpoint();
    assert_eq!(last, bound.to_string());
    assert!(!last.ends_with(":*") && !last.ends_with(":0"), "{last}");
    assert_eq!(pull.events(), Events::NONE);
    peer.socket("push", "PUSH", &[]);
    peer.connect("push", &last);
    assert!(peer.send("push", &[b"hi"], 5000));
    let deadline = Instant::now() + PATIENCE;
    while !pull.events().contains(Events::IN) {
        assert!(Instant::now() < deadline, "the message never arrived");
        std::thread::sleep(MS);
    }
    assert_eq!(text(&pull.try_recv().unwrap()), b"hi");

    peer.socket("pull", "PULL", &[]);
    let theirs = peer.bind("pull", "tcp://127.0.0.1:*");
    let push = sock::<E>(SocketType::Push);
    push.connect(&theirs).unwrap();
    assert_eq!(push.last_endpoint(), theirs);
    push.send_blocking("x", Some(PATIENCE)).unwrap();
    assert_eq!(peer.recv("pull", 10_000).unwrap(), vec![b"x".to_vec()]);
    assert!(push.events().contains(Events::OUT));
}

/// A listener whose accept queue is full: Linux drops further SYNs, so a
/// connect to it neither succeeds nor fails, as against a host that does
/// not answer. Returns it with the connections that filled it.
fn unanswering_listener() -> (RawSocket, Vec<TcpStream>, SocketAddr) {
    let l = RawSocket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    l.set_reuse_address(true).unwrap();
    l.bind(&SockAddr::from(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))))
        .unwrap();
    l.listen(0).unwrap();
    let addr = l.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    while let Ok(s) = TcpStream::connect_timeout(&addr, 200 * MS) {
        fillers.push(s);
        assert!(fillers.len() < 16, "the accept queue never filled");
    }
    (l, fillers, addr)
}

/// CONNECT_TIMEOUT abandons a connect that hangs and retries it on the
/// reconnect schedule; once a libzmq PULL takes the port over, the message
/// queued meanwhile arrives.
pub fn connect_timeout<E: Env>() {
    let (full, fillers, addr) = unanswering_listener();
    let push = build::<E>(
        Builder::new(SocketType::Push)
            .linger(Some(100 * MS))
            .connect_timeout(Some(100 * MS))
            .reconnect_ivl(Some(50 * MS)),
    );
    assert_eq!(push.connect_timeout(), Some(100 * MS));
    let mut m = push.monitor();
    push.connect(format!("tcp://{addr}")).unwrap();
    push.send_blocking("late", Some(PATIENCE)).unwrap();
    // Without the timeout the OS would keep retrying the SYN for minutes.
    wait_for(&mut m, "ConnectRetried", |e| {
        matches!(e, MonitorEvent::ConnectRetried { .. })
    });
    wait_for(&mut m, "a second ConnectRetried", |e| {
        matches!(e, MonitorEvent::ConnectRetried { .. })
    });
    drop(fillers);
    drop(full);
    let mut peer = Peer::start();
    peer.socket("pull", "PULL", &[]);
    peer.bind("pull", &format!("tcp://{addr}"));
    assert_eq!(peer.recv("pull", 10_000).unwrap(), vec![b"late".to_vec()]);
}

/// IPV6: `tcp://*:port` listens on `[::]` and takes libzmq clients over
/// `::1` and over `127.0.0.1`; without it the wildcard is IPv4's. Set live,
/// it holds for the next bind.
pub fn ipv6_dual_stack<E: Env>() {
    let mut peer = Peer::start();
    let pull = sock::<E>(SocketType::Pull);
    pull.bind("tcp://*:*").unwrap();
    assert!(
        pull.last_endpoint().starts_with("tcp://0.0.0.0:"),
        "{}",
        pull.last_endpoint()
    );
    assert!(!pull.ipv6());
    pull.set_ipv6(true).unwrap();
    let ep = pull.bind("tcp://*:*").unwrap().to_string();
    assert!(ep.starts_with("tcp://[::]:"), "{ep}");
    let port = ep.rsplit(':').next().unwrap().to_owned();
    peer.socket("v6", "PUSH", &["ipv6=1".into()]);
    peer.connect("v6", &format!("tcp://[::1]:{port}"));
    peer.socket("v4", "PUSH", &[]);
    peer.connect("v4", &format!("tcp://127.0.0.1:{port}"));
    assert!(peer.send("v6", &[b"over ::1"], 5000));
    assert!(peer.send("v4", &[b"over 127.0.0.1"], 5000));
    let mut got: Vec<Vec<u8>> = (0..2)
        .map(|_| text(&pull.recv_blocking(Some(PATIENCE)).unwrap()).to_vec())
        .collect();
    got.sort();
    assert_eq!(got, vec![b"over 127.0.0.1".to_vec(), b"over ::1".to_vec()]);

    // Our IPv6 socket connecting to libzmq on a bracketed IPv6 endpoint.
    peer.socket("pull6", "PULL", &["ipv6=1".into()]);
    let theirs = peer.bind("pull6", "tcp://[::1]:*");
    let push = build::<E>(
        Builder::new(SocketType::Push)
            .ipv6(true)
            .linger(Some(100 * MS)),
    );
    push.connect(&theirs).unwrap();
    push.send_blocking("to ::1", Some(PATIENCE)).unwrap();
    assert_eq!(
        peer.recv("pull6", 10_000).unwrap(),
        vec![b"to ::1".to_vec()]
    );
}

/// BINDTODEVICE "lo" with TOS, SNDBUF, RCVBUF, TCP_MAXRT and BACKLOG set:
/// traffic with libzmq flows both ways. A device that does not exist fails
/// the bind (so the option does reach the socket) and every connect
/// attempt; a name that cannot be an interface is refused up front, naming
/// the option.
pub fn socket_level_options<E: Env>() {
    let mut peer = Peer::start();
    let tuned = || {
        Builder::<E::R>::new(SocketType::Pair)
            .linger(Some(100 * MS))
            .bindtodevice("lo")
            .tos(0x28)
            .sndbuf(Some(128 * 1024))
            .rcvbuf(Some(128 * 1024))
            .tcp_maxrt(Some(Duration::from_secs(5)))
            .backlog(10)
    };
    let bound = build::<E>(tuned());
    assert_eq!(bound.bindtodevice().as_deref(), Some("lo"));
    assert_eq!((bound.tos(), bound.backlog()), (0x28, 10));
    let ep = bound.bind("tcp://127.0.0.1:*").unwrap().to_string();
    peer.socket("a", "PAIR", &[]);
    peer.connect("a", &ep);
    assert!(peer.send("a", &[b"in"], 5000));
    assert_eq!(text(&bound.recv_blocking(Some(PATIENCE)).unwrap()), b"in");
    bound.send_blocking("out", Some(PATIENCE)).unwrap();
    assert_eq!(peer.recv("a", 10_000).unwrap(), vec![b"out".to_vec()]);

    peer.socket("b", "PAIR", &[]);
    let theirs = peer.bind("b", "tcp://127.0.0.1:*");
    let connecting = build::<E>(tuned());
    connecting.connect(&theirs).unwrap();
    connecting.send_blocking("c", Some(PATIENCE)).unwrap();
    assert_eq!(peer.recv("b", 10_000).unwrap(), vec![b"c".to_vec()]);

    // A device that does not exist, set live.
    let missing = sock::<E>(SocketType::Pair);
    missing.set_bindtodevice(Some("nosuchdev0")).unwrap();
    match missing.bind("tcp://127.0.0.1:*") {
        Err(Error::Bind { endpoint, .. }) => assert_eq!(endpoint, "tcp://127.0.0.1:*"),
        other => panic!("bind on a missing device: {other:?}"),
    }
    let mut m = missing.monitor();
    missing.connect(&theirs).unwrap();
    wait_for(&mut m, "ConnectRetried", |e| {
        matches!(e, MonitorEvent::ConnectRetried { .. })
    });
    missing.set_bindtodevice(None).unwrap();
    assert_eq!(missing.bindtodevice(), None);

    let e = missing
        .set_bindtodevice(Some("a-name-far-too-long-for-linux"))
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidOption {
                option: "BINDTODEVICE",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("BINDTODEVICE"), "{e}");
    let e = Builder::<E::R>::new(SocketType::Pair)
        .bindtodevice("")
        .build_socket()
        .unwrap_err();
    assert!(e.to_string().contains("BINDTODEVICE"), "{e}");
}

/// Every option reads back what was set, and bad values are refused with
/// the option named; the pattern flags take effect on the next call.
pub fn getters_and_errors<E: Env>() {
    let k = keys();
    let s = sock::<E>(SocketType::Dealer);
    s.set_rcvhwm(7).unwrap();
    s.set_reconnect_ivl(Some(250 * MS)).unwrap();
    s.set_reconnect_ivl_max(Some(Duration::from_secs(2)))
        .unwrap();
    s.set_heartbeat_ivl(Some(Duration::from_secs(1))).unwrap();
    s.set_heartbeat_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    s.set_heartbeat_ttl(Some(Duration::from_secs(4))).unwrap();
    s.set_handshake_ivl(None).unwrap();
    s.set_maxmsgsize(Some(1 << 20)).unwrap();
    s.set_tcp_keepalive(Some(true)).unwrap();
    s.set_tcp_keepalive_params(Some(Duration::from_secs(60)), None, Some(3))
        .unwrap();
    s.set_property("X-Colour", "blue").unwrap();
    s.set_property("x-colour", "green").unwrap();
    s.set_zap_domain("global").unwrap();
    s.set_immediate(true).unwrap();
    s.set_conflate(true).unwrap();
    s.set_tcp_maxrt(Some(Duration::from_secs(9))).unwrap();
    s.set_sndbuf(Some(4096)).unwrap();
    s.set_rcvbuf(Some(8192)).unwrap();
    s.set_tos(4).unwrap();
    s.set_backlog(3).unwrap();
    s.set_connect_timeout(Some(Duration::ZERO)).unwrap();
    assert_eq!(s.rcvhwm(), 7);
    assert_eq!(s.reconnect_ivl(), Some(250 * MS));
    assert_eq!(s.reconnect_ivl_max(), Some(Duration::from_secs(2)));
    assert_eq!(s.heartbeat_ivl(), Some(Duration::from_secs(1)));
    assert_eq!(s.heartbeat_timeout(), Some(Duration::from_secs(3)));
    assert_eq!(s.heartbeat_ttl(), Some(Duration::from_secs(4)));
    assert_eq!(s.handshake_ivl(), None);
    assert_eq!(s.maxmsgsize(), Some(1 << 20));
    assert_eq!(s.tcp_keepalive(), Some(true));
    assert_eq!(
        s.tcp_keepalive_params(),
        (Some(Duration::from_secs(60)), None, Some(3))
    );
    assert_eq!(s.property("X-COLOUR").as_deref(), Some(&b"green"[..]));
    assert_eq!(s.zap_domain(), "global");
    assert!(s.immediate() && s.conflate());
    assert_eq!(s.tcp_maxrt(), Some(Duration::from_secs(9)));
    assert_eq!((s.sndbuf(), s.rcvbuf()), (Some(4096), Some(8192)));
    assert_eq!((s.tos(), s.backlog()), (4, 3));
    assert_eq!(s.connect_timeout(), None, "0 means none, as in libzmq");

    s.set_plain_client("user", "pass").unwrap();
    assert_eq!(s.plain_username().as_deref(), Some(&b"user"[..]));
    assert_eq!(s.plain_password().as_deref(), Some(&b"pass"[..]));
    s.set_plain_server().unwrap();
    assert!(s.plain_server() && !s.curve_server());
    s.set_curve_server(k.server.secret.clone()).unwrap();
    assert!(s.curve_server());
    assert_eq!(s.curve_publickey(), Some(k.server.public));
    let pair = KeyPair::generate();
    s.set_curve_client(k.server.public, pair.clone()).unwrap();
    assert_eq!(s.curve_publickey(), Some(pair.public));

    let e = s.set_routing_id(vec![b'x'; 256]).unwrap_err();
    assert!(e.to_string().contains("routing id"), "{e}");
    let e = s.set_plain_client(vec![b'u'; 256], "p").unwrap_err();
    assert!(e.to_string().contains("PLAIN"), "{e}");
    let e = s.set_property("Socket-Type", "x").unwrap_err();
    assert!(e.to_string().contains("Socket-Type"), "{e}");

    // A pattern flag set live holds for the next send: ROUTER_MANDATORY
    // makes an unroutable message an error instead of dropping it.
    let router = sock::<E>(SocketType::Router);
    router.try_send(("nobody", "x")).unwrap();
    router.set_router_mandatory(true).unwrap();
    assert!(router.router_mandatory());
    assert!(router.try_send(("nobody", "x")).is_err());
}
