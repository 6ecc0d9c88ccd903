//! Refusals seen without a monitor: a client that every libzmq server it
//! connects to refused (a wrong CURVE server key, PLAIN credentials a ZAP
//! handler denies, a CURVE client key a ZAP handler denies with 400) hears it
//! from `send` and `recv` and from `Socket::refusals`, instead of waiting for
//! ever on what looks like a silent peer.

use std::time::{Duration, Instant};

use zmq_runtime::{Builder, ConnectionError, Error, KeyPair, Socket, SocketType};

use super::cases::keys;
use super::ends::PATIENCE;
use super::{build, Env};
use crate::peer::Peer;

fn sock<E: Env>(b: Builder<E::R>) -> Socket<E::R> {
    build::<E>(b.linger(Some(Duration::ZERO)))
}

/// `recv` with a long timeout: it must fail with `Refused` well before.
fn recv_refused<E: Env>(s: &Socket<E::R>) -> (String, ConnectionError) {
    let start = Instant::now();
    match s.recv_blocking(Some(PATIENCE)) {
        Err(Error::Refused { endpoint, reason }) => {
            assert!(
                start.elapsed() < PATIENCE,
                "Refused came only with the timeout"
            );
            (endpoint, reason)
        }
        other => panic!("expected Error::Refused, got {other:?}"),
    }
}

/// A libzmq CURVE server with its own key; our client was given another
/// server key. libzmq cannot open our HELLO and closes the connection,
/// without a word, every time (and its client would retry silently for
/// ever): after three such closes in a row the endpoint is refused. It is
/// still retried, as libzmq retries it: a server with the key the client
/// expects, started on that port, is reached and the refusal forgotten.
pub fn wrong_curve_server_key<E: Env>() {
    let k = keys();
    let mut peer = Peer::start();
    peer.socket(
        "server",
        "ROUTER",
        &[
            "curve_server=1".into(),
            format!("curve_secretkey={}", k.server.secret.to_z85()),
        ],
    );
    let ep = peer.bind("server", "tcp://127.0.0.1:*");
    let impostor = KeyPair::generate();
    let client = sock::<E>(
        Builder::new(SocketType::Dealer)
            .curve_client(impostor.public, k.client)
            .reconnect_ivl(Some(Duration::from_millis(20))),
    );
    client.connect(&ep).expect("connect");
    let (endpoint, reason) = recv_refused::<E>(&client);
    assert_eq!(endpoint, ep);
    assert_eq!(reason, ConnectionError::ClosedAfterHello);
    let refusals = client.refusals();
    assert_eq!(refusals.len(), 1);
    assert_eq!(refusals[0].endpoint, ep);
    assert_eq!(refusals[0].reason, ConnectionError::ClosedAfterHello);
    let text = Error::Refused { endpoint, reason }.to_string();
    assert!(text.contains(&ep) && text.contains("server key"), "{text}");

    peer.close("server");
    peer.socket(
        "right",
        "ROUTER",
        &[
            "curve_server=1".into(),
            format!("curve_secretkey={}", impostor.secret.to_z85()),
        ],
    );
    // libzmq closes a listener in its I/O thread after `close` returns, so
    // the port may still be taken for a moment.
    let start = Instant::now();
    loop {
        let answer = peer.cmd(&format!("bind right {ep}"));
        if answer.starts_with("OK") {
            break;
        }
        assert!(
            answer.contains("in use") && start.elapsed() < PATIENCE,
            "libzmq peer: bind right {ep} -> {answer}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    client
        .send_blocking("after all", Some(PATIENCE))
        .expect("send once the right server answers");
    let got = peer.recv("right", 5000).expect("the right server got it");
    assert_eq!(got.last().map(Vec::as_slice), Some(&b"after all"[..]));
    assert!(client.refusals().is_empty(), "the refusal is forgotten");
}

/// libzmq's PLAIN server asks its ZAP handler, which denies our password:
/// libzmq sends ERROR "400", our client stops reconnecting, and both `recv`
/// and `send` (which has no pipe left to queue on) say so.
pub fn plain_denied_by_zap<E: Env>() {
    let mut peer = Peer::start();
    peer.ok("zap plain admin:secret");
    peer.socket("server", "ROUTER", &["plain_server=1".into()]);
    let ep = peer.bind("server", "tcp://127.0.0.1:*");
    let client = sock::<E>(Builder::new(SocketType::Dealer).plain_client("admin", "wrong"));
    client.connect(&ep).expect("connect");
    let (endpoint, reason) = recv_refused::<E>(&client);
    assert_eq!(endpoint, ep);
    assert_eq!(
        reason,
        ConnectionError::PeerError {
            reason: "400".into()
        }
    );
    match client.send_blocking("hello", Some(PATIENCE)) {
        Err(Error::Refused { endpoint, .. }) => assert_eq!(endpoint, ep),
        other => panic!("expected Error::Refused from send, got {other:?}"),
    }
    assert_eq!(client.refusals().len(), 1);
    assert!(
        peer.recv("server", 100).is_none(),
        "nothing reached the server"
    );
}

/// libzmq's CURVE server asks its ZAP handler, which knows only another
/// client key: status 400, ERROR "400", refused.
pub fn curve_client_denied_by_zap<E: Env>() {
    let k = keys();
    let mut peer = Peer::start();
    peer.ok(&format!("zap curve {}", k.client.public.to_z85()));
    peer.socket(
        "server",
        "ROUTER",
        &[
            "curve_server=1".into(),
            format!("curve_secretkey={}", k.server.secret.to_z85()),
        ],
    );
    let ep = peer.bind("server", "tcp://127.0.0.1:*");
    let client =
        sock::<E>(Builder::new(SocketType::Dealer).curve_client(k.server.public, k.stranger));
    client.connect(&ep).expect("connect");
    let (_, reason) = recv_refused::<E>(&client);
    assert_eq!(
        reason,
        ConnectionError::PeerError {
            reason: "400".into()
        }
    );
    let log = peer.cmd("zaplog");
    assert!(log.contains("CURVE") && log.contains("400"), "{log}");
}

/// A socket is refused only when every endpoint refused it and it binds
/// nothing: while another endpoint is still tried (nothing listens there)
/// `recv` times out as usual; disconnecting that one leaves only the refusal,
/// and a bind lifts it again.
pub fn refused_only_when_every_endpoint_is<E: Env>() {
    let mut peer = Peer::start();
    peer.ok("zap plain admin:secret");
    peer.socket("server", "ROUTER", &["plain_server=1".into()]);
    let ep = peer.bind("server", "tcp://127.0.0.1:*");
    // A port nobody listens on: the connect fails and is retried, for ever.
    let silent = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        format!("tcp://{}", l.local_addr().expect("addr"))
    };
    let client = sock::<E>(Builder::new(SocketType::Dealer).plain_client("admin", "wrong"));
    client.connect(&ep).expect("connect");
    client.connect(&silent).expect("connect");
    let deadline = Instant::now() + PATIENCE;
    while client.refusals().is_empty() {
        assert!(Instant::now() < deadline, "the denial was never recorded");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(matches!(
        client.recv_blocking(Some(Duration::from_millis(100))),
        Err(Error::Timeout)
    ));
    client.disconnect(&silent).expect("disconnect");
    let (endpoint, _) = recv_refused::<E>(&client);
    assert_eq!(endpoint, ep);
    client.bind("tcp://127.0.0.1:*").expect("bind");
    assert!(matches!(
        client.recv_blocking(Some(Duration::from_millis(100))),
        Err(Error::Timeout)
    ));
    assert_eq!(client.refusals().len(), 1, "the refusal is still listed");
}
