//! The options around ROUTER peers coming and going, against libzmq:
//! ROUTER_NOTIFY, PROBE_ROUTER, CONNECT_ROUTING_ID, ZAP_ENFORCE_DOMAIN, and
//! the errors for options set where they mean nothing.

use std::time::{Duration, Instant};

use zmq_runtime::{
    Builder, ConnectionError, Error, KeyPair, Monitor, MonitorEvent, Msg, RouterNotify, Socket,
    SocketType,
};

use super::ends::PATIENCE;
use super::{build, Env, ZAP_HANDLER};
use crate::peer::{hex, Peer};

const WAIT: Option<Duration> = Some(PATIENCE);

fn sock<E: Env>(b: Builder<E::R>) -> Socket<E::R> {
    build::<E>(b.linger(Some(Duration::ZERO)))
}

fn recv<E: Env>(s: &Socket<E::R>) -> Vec<Vec<u8>> {
    let m = s.recv_blocking(WAIT).expect("a message");
    m.frames().iter().map(|f| f.to_vec()).collect()
}

fn v(frames: &[&[u8]]) -> Vec<Vec<u8>> {
    frames.iter().map(|f| f.to_vec()).collect()
}

fn libzmq_recv(peer: &mut Peer, id: &str) -> Vec<Vec<u8>> {
    peer.recv(id, PATIENCE.as_millis() as u64)
        .unwrap_or_else(|| panic!("libzmq's {id} received nothing"))
}

/// Our ROUTER hears of libzmq DEALERs connecting and leaving, for the flags
/// it asked for only.
pub fn router_notify<E: Env>() {
    let mut peer = Peer::start();
    let both = sock::<E>(
        Builder::new(SocketType::Router)
            .router_notify(RouterNotify::CONNECT | RouterNotify::DISCONNECT),
    );
    let ep = both.bind("tcp://127.0.0.1:*").unwrap().to_string();
    peer.socket("x", "DEALER", &[format!("routing_id={}", hex(b"X"))]);
    peer.connect("x", &ep);
    assert_eq!(recv::<E>(&both), v(&[b"X", b""]), "connect notification");
    assert!(peer.send("x", &[b"Hello"], 5000));
    assert_eq!(recv::<E>(&both), v(&[b"X", b"Hello"]));
    peer.close("x");
    assert_eq!(recv::<E>(&both), v(&[b"X", b""]), "disconnect notification");

    // CONNECT only: a peer that leaves is not announced, so the next message
    // after X's departure is Y's arrival.
    let connect_only =
        sock::<E>(Builder::new(SocketType::Router).router_notify(RouterNotify::CONNECT));
    let ep = connect_only.bind("tcp://127.0.0.1:*").unwrap().to_string();
    for id in [b"X", b"Y"] {
        let name = String::from_utf8_lossy(id).into_owned();
        peer.socket(&name, "DEALER", &[format!("routing_id={}", hex(id))]);
        peer.connect(&name, &ep);
        assert_eq!(recv::<E>(&connect_only), v(&[id, b""]));
        assert!(peer.send(&name, &[b"hi"], 5000));
        assert_eq!(recv::<E>(&connect_only), v(&[id, b"hi"]));
        peer.close(&name);
    }

    // DISCONNECT only: the first thing heard of Z is its message.
    let disconnect_only =
        sock::<E>(Builder::new(SocketType::Router).router_notify(RouterNotify::DISCONNECT));
    let ep = disconnect_only
        .bind("tcp://127.0.0.1:*")
        .unwrap()
        .to_string();
    peer.socket("z", "DEALER", &[format!("routing_id={}", hex(b"Z"))]);
    peer.connect("z", &ep);
    assert!(peer.send("z", &[b"first"], 5000));
    assert_eq!(recv::<E>(&disconnect_only), v(&[b"Z", b"first"]));
    peer.close("z");
    assert_eq!(recv::<E>(&disconnect_only), v(&[b"Z", b""]));
}

/// Our ROUTER, DEALER and REQ with PROBE_ROUTER each announce themselves to
/// a libzmq ROUTER with an empty message; and a libzmq DEALER's probe
/// reaches our ROUTER as `[id, ""]`.
pub fn probe_router<E: Env>() {
    let mut peer = Peer::start();
    peer.socket("r", "ROUTER", &[]);
    let ep = peer.bind("r", "tcp://127.0.0.1:*");
    let mut probes = Vec::new();
    for (kind, id) in [
        (SocketType::Dealer, b"D"),
        (SocketType::Req, b"Q"),
        (SocketType::Router, b"R"),
    ] {
        let s = sock::<E>(Builder::new(kind).routing_id(&id[..]).probe_router(true));
        s.connect(&ep).unwrap();
        assert_eq!(libzmq_recv(&mut peer, "r"), v(&[id, b""]), "{kind} probe");
        probes.push(s);
    }
    // The probe told libzmq the DEALER's id: it can be addressed at once.
    assert!(peer.send("r", &[b"D", b"Hello"], 5000));
    assert_eq!(recv::<E>(&probes[0]), v(&[b"Hello"]));
    // And our ROUTER's: it hears back under the id it gave libzmq's ROUTER
    // (generated: libzmq's ROUTER sent none).
    assert!(peer.send("r", &[b"R", b"Hello"], 5000));
    let m = recv::<E>(&probes[2]);
    assert_eq!((m[0].len(), m[0][0], &m[1][..]), (5, 0, &b"Hello"[..]));

    let router = sock::<E>(Builder::new(SocketType::Router));
    let ep = router.bind("tcp://127.0.0.1:*").unwrap().to_string();
    peer.socket(
        "p",
        "DEALER",
        &[format!("routing_id={}", hex(b"P")), "probe_router=1".into()],
    );
    peer.connect("p", &ep);
    assert_eq!(recv::<E>(&router), v(&[b"P", b""]), "libzmq's probe");
}

/// As libzmq's test_connect_rid: our ROUTER names the peer of its connect,
/// sends to it before the connection is up, and hears back under that name.
pub fn connect_routing_id<E: Env>() {
    let mut peer = Peer::start();
    peer.socket("x", "ROUTER", &[format!("routing_id={}", hex(b"X"))]);
    let ep = peer.bind("x", "tcp://127.0.0.1:*");
    let ours = sock::<E>(
        Builder::new(SocketType::Router)
            .router_mandatory(true)
            .connect_routing_id("conn1"),
    );
    ours.connect(&ep).unwrap();
    ours.send_blocking(Msg::multipart(["conn1", "hi 1"]), WAIT)
        .expect("routable before the handshake");
    let m = libzmq_recv(&mut peer, "x");
    assert_eq!((m[0].len(), m[0][0], &m[1][..]), (5, 0, &b"hi 1"[..]));
    assert!(peer.send("x", &[&m[0], b"ok"], 5000));
    assert_eq!(recv::<E>(&ours), v(&[b"conn1", b"ok"]));
    // The name was used up: a second connect, to another ROUTER, goes by
    // the id that one announces, once its handshake is done.
    peer.socket("y", "ROUTER", &[format!("routing_id={}", hex(b"Y"))]);
    let ep2 = peer.bind("y", "tcp://127.0.0.1:*");
    ours.connect(&ep2).unwrap();
    let deadline = Instant::now() + PATIENCE;
    while let Err(e) = ours.try_send(Msg::multipart(["Y", "hi 2"])) {
        assert!(Instant::now() < deadline, "Y never became routable: {e}");
        std::thread::sleep(Duration::from_millis(5));
    }
    let m = libzmq_recv(&mut peer, "y");
    assert_eq!((m[0].len(), m[0][0], &m[1][..]), (5, 0, &b"hi 2"[..]));
    // Set on the live socket, it names the next connect again.
    peer.socket("z", "ROUTER", &[format!("routing_id={}", hex(b"Z"))]);
    let ep3 = peer.bind("z", "tcp://127.0.0.1:*");
    // A name a peer already has is refused by the connect that would use it.
    ours.set_connect_routing_id("conn1").unwrap();
    let e = ours.connect(&ep3).unwrap_err();
    assert!(e.to_string().contains("connect_routing_id"), "{e}");
    ours.set_connect_routing_id("conn3").unwrap();
    ours.connect(&ep3).unwrap();
    ours.send_blocking(Msg::multipart(["conn3", "hi 3"]), WAIT)
        .expect("routable before the handshake");
    let m = libzmq_recv(&mut peer, "z");
    assert_eq!(&m[1][..], b"hi 3");
}

/// Waits for our server's handshake with a client to fail or succeed.
fn handshake_outcome(m: &mut Monitor) -> Result<(), ConnectionError> {
    let deadline = Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    while let Ok(ev) = m.next_blocking(Some(deadline.saturating_duration_since(Instant::now()))) {
        match ev {
            MonitorEvent::HandshakeSucceeded { .. } => return Ok(()),
            MonitorEvent::HandshakeFailed { error, .. } => return Err(error),
            other => seen.push(other),
        }
    }
    panic!("no handshake outcome; saw {seen:?}");
}

/// ZAP_ENFORCE_DOMAIN with no ZAP handler, with libzmq clients: a NULL
/// server with a domain lets clients in without it and refuses them with
/// it; a CURVE server with a domain the same; a CURVE server without a
/// domain asks nobody and lets the client in.
pub fn zap_enforce_domain<E: Env>() {
    // No test may bind a ZAP handler meanwhile (it is process-wide).
    let _no_handler = ZAP_HANDLER.lock().unwrap_or_else(|e| e.into_inner());
    let mut peer = Peer::start();
    let server_keys = KeyPair::generate();
    let client_keys = KeyPair::generate();
    let curve_client = [
        format!("curve_serverkey={}", server_keys.public.to_z85()),
        format!("curve_publickey={}", client_keys.public.to_z85()),
        format!("curve_secretkey={}", client_keys.secret.to_z85()),
    ];
    let curve = || Builder::new(SocketType::Dealer).curve_server(server_keys.secret.clone());
    let null = || Builder::new(SocketType::Dealer);
    let mut case = |what: &str, server: Builder<E::R>, client: &[String], allowed: bool| {
        zap_case::<E>(&mut peer, what, server, client, allowed);
    };
    case("NULL, domain", null().zap_domain("TEST"), &[], true);
    case(
        "NULL, domain, enforced",
        null().zap_domain("TEST").zap_enforce_domain(true),
        &[],
        false,
    );
    case(
        "NULL, no domain, enforced",
        null().zap_enforce_domain(true),
        &[],
        true,
    );
    case(
        "CURVE, domain, enforced",
        curve().zap_domain("TEST").zap_enforce_domain(true),
        &curve_client,
        false,
    );
    case(
        "CURVE, no domain, enforced",
        curve().zap_enforce_domain(true),
        &curve_client,
        true,
    );
}

/// One server of [`zap_enforce_domain`] and a libzmq client of it.
fn zap_case<E: Env>(
    peer: &mut Peer,
    what: &str,
    server: Builder<E::R>,
    client: &[String],
    allowed: bool,
) {
    let server = sock::<E>(server);
    let mut m = server.monitor();
    let ep = server.bind("tcp://127.0.0.1:*").unwrap().to_string();
    peer.socket("c", "DEALER", client);
    peer.connect("c", &ep);
    let outcome = handshake_outcome(&mut m);
    if allowed {
        assert_eq!(outcome, Ok(()), "{what}");
        assert!(peer.send("c", &[b"bounce"], 5000));
        assert_eq!(recv::<E>(&server), v(&[b"bounce"]), "{what}");
    } else {
        assert!(
            matches!(
                outcome,
                Err(ConnectionError::AuthDenied { status: 500, .. })
            ),
            "{what}: {outcome:?}"
        );
    }
    peer.close("c");
}

/// Options set on a socket type they mean nothing to, or with values libzmq
/// refuses, fail the build (or the call) with an error that names them.
pub fn option_errors<E: Env>() {
    let _ctx = E::enter();
    let named = |r: Result<Socket<E::R>, Error>, what: &str| {
        let e = r.err().unwrap_or_else(|| panic!("{what} was accepted"));
        assert!(e.to_string().contains(what), "{what}: {e}");
    };
    named(
        Builder::<E::R>::new(SocketType::Pub)
            .probe_router(true)
            .build_socket(),
        "probe_router",
    );
    named(
        Builder::<E::R>::new(SocketType::Dealer)
            .router_notify(RouterNotify::CONNECT)
            .build_socket(),
        "router_notify",
    );
    named(
        Builder::<E::R>::new(SocketType::Router)
            .stream_notify(false)
            .build_socket(),
        "stream_notify",
    );
    named(
        Builder::<E::R>::new(SocketType::Dealer)
            .connect_routing_id("x")
            .build_socket(),
        "connect_routing_id",
    );
    named(
        Builder::<E::R>::new(SocketType::Router)
            .connect_routing_id("")
            .build_socket(),
        "connect_routing_id",
    );
    named(
        Builder::<E::R>::new(SocketType::Rep)
            .plain_server()
            .zap_enforce_domain(true)
            .build_socket(),
        "zap_domain",
    );
    let s = Builder::<E::R>::new(SocketType::Stream)
        .linger(Some(Duration::ZERO))
        .build_socket()
        .unwrap();
    let e = s.bind("inproc://raw").unwrap_err();
    assert!(e.to_string().contains("tcp://"), "{e}");

    // The live setters refuse the same types, and the getters follow them.
    let live = |r: Result<(), Error>, what: &str| {
        let e = r
            .err()
            .unwrap_or_else(|| panic!("live {what} was accepted"));
        assert!(e.to_string().contains(what), "{what}: {e}");
    };
    let dealer = sock::<E>(Builder::new(SocketType::Dealer));
    live(
        dealer.set_router_notify(RouterNotify::CONNECT),
        "router_notify",
    );
    live(dealer.set_stream_notify(false), "stream_notify");
    live(dealer.set_connect_routing_id("x"), "connect_routing_id");
    dealer.set_probe_router(true).unwrap();
    assert!(dealer.probe_router());
    let router = sock::<E>(Builder::new(SocketType::Router));
    live(router.set_connect_routing_id(""), "connect_routing_id");
    router
        .set_router_notify(RouterNotify::CONNECT | RouterNotify::DISCONNECT)
        .unwrap();
    assert_eq!(
        router.router_notify(),
        RouterNotify::CONNECT | RouterNotify::DISCONNECT
    );
    assert!(!router.zap_enforce_domain());
    router.set_zap_enforce_domain(true).unwrap();
    assert!(router.zap_enforce_domain());
    assert!(s.stream_notify());
    s.set_stream_notify(false).unwrap();
    assert!(!s.stream_notify());
}
