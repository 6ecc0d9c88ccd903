//! STREAM sockets against real peers: a plain TCP client (Python's socket
//! module, no ZeroMQ at all), and libzmq's own STREAM socket in both
//! directions.

use std::time::{Duration, Instant};

use zmq_runtime::{Builder, Error, Msg, SendError, Socket, SocketType};

use super::cases::{endpoint, Transport};
use super::ends::PATIENCE;
use super::{build, Env};
use crate::peer::{hex, to_text, Peer};

const WAIT: Option<Duration> = Some(PATIENCE);

fn stream<E: Env>(b: Builder<E::R>) -> Socket<E::R> {
    build::<E>(b.linger(Some(Duration::ZERO)))
}

fn recv<E: Env>(s: &Socket<E::R>) -> Vec<Vec<u8>> {
    let m = s.recv_blocking(WAIT).expect("a message from the raw peer");
    m.frames().iter().map(|f| f.to_vec()).collect()
}

/// The `[routing id, ""]` of a peer connecting or going away.
fn expect_notice<E: Env>(s: &Socket<E::R>) -> Vec<u8> {
    let m = recv::<E>(s);
    assert_eq!((m.len(), m[1].as_slice()), (2, &b""[..]), "a notification");
    m[0].clone()
}

/// Bytes from one raw peer until `n` arrived: TCP may cut them anywhere.
fn recv_bytes<E: Env>(s: &Socket<E::R>, rid: &[u8], n: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < n {
        let m = recv::<E>(s);
        assert_eq!(m.len(), 2, "[routing id, data]");
        assert_eq!(m[0], rid, "data from another peer");
        assert!(!m[1].is_empty(), "the peer went away after {got:?}");
        got.extend_from_slice(&m[1]);
    }
    got
}

/// What a Python TCP socket read: its reply prefix and the bytes as hex.
fn tcp_recv(peer: &mut Peer, id: &str, n: usize) -> (String, Vec<u8>) {
    let answer = peer.cmd(&format!("tcp_recv {id} {n} {}", PATIENCE.as_millis()));
    let (kind, data) = answer.split_once(' ').unwrap_or((&answer, ""));
    let bytes = (0..data.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&data[i..i + 2], 16).expect("hex from the peer"))
        .collect();
    (kind.to_owned(), bytes)
}

fn libzmq_recv(peer: &mut Peer, id: &str) -> Vec<Vec<u8>> {
    peer.recv(id, PATIENCE.as_millis() as u64)
        .unwrap_or_else(|| panic!("libzmq's {id} received nothing"))
}

/// libzmq's STREAM gives data as it reads it: collects `n` bytes from `rid`.
fn libzmq_recv_bytes(peer: &mut Peer, id: &str, rid: &[u8], n: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < n {
        let m = libzmq_recv(peer, id);
        assert_eq!((m.len(), m[0].as_slice()), (2, rid), "{m:?}");
        assert!(!m[1].is_empty(), "the peer went away after {got:?}");
        got.extend_from_slice(&m[1]);
    }
    got
}

/// An HTTP-like exchange with a client that knows nothing of ZeroMQ: the
/// connect notification, the request, a reply in two frames, the close by
/// an empty frame (the client reads to end of file), and a second client
/// that leaves on its own (the disconnect notification).
pub fn plain_tcp_client<E: Env>() {
    let server = stream::<E>(Builder::new(SocketType::Stream));
    let ep = server.bind("tcp://127.0.0.1:*").expect("bind").to_string();
    let mut peer = Peer::start();
    peer.ok(&format!("tcp_connect web {ep}"));
    let rid = expect_notice::<E>(&server);
    assert_eq!((rid.len(), rid[0]), (5, 0), "libzmq's generated id form");

    let request = b"GET /index.html HTTP/1.0\r\n\r\n";
    peer.ok(&format!("tcp_send web {}", to_text(&[request])));
    assert_eq!(recv_bytes::<E>(&server, &rid, request.len()), request);

    let head = b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\n".to_vec();
    let reply = Msg::multipart([rid.clone(), head.clone(), b"hello".to_vec()]);
    server.send_blocking(reply, WAIT).expect("reply");
    server
        .send_blocking(Msg::multipart([rid.clone(), Vec::new()]), WAIT)
        .expect("close");
    let whole = [head, b"hello".to_vec()].concat();
    let (how, got) = tcp_recv(&mut peer, "web", whole.len() + 1);
    assert_eq!((how.as_str(), got), ("EOF", whole), "the reply, then EOF");
    // Gone: its id is unknown now, as in libzmq (EHOSTUNREACH).
    let late = server.send_blocking(Msg::multipart([rid, b"late".to_vec()]), WAIT);
    assert!(
        matches!(late, Err(Error::Send(SendError::HostUnreachable(_)))),
        "{late:?}"
    );

    peer.ok(&format!("tcp_connect other {ep}"));
    let other = expect_notice::<E>(&server);
    peer.ok("tcp_send other 6279");
    assert_eq!(recv_bytes::<E>(&server, &other, 2), b"by");
    peer.ok("tcp_close other");
    assert_eq!(expect_notice::<E>(&server), other, "the disconnect");

    // STREAM_NOTIFY off: the first thing heard of a client is its data (a
    // notification would fail `recv_bytes`), and nothing of its leaving.
    let quiet = stream::<E>(Builder::new(SocketType::Stream).stream_notify(false));
    let ep = quiet.bind("tcp://127.0.0.1:*").expect("bind").to_string();
    for id in ["q1", "q2"] {
        peer.ok(&format!("tcp_connect {id} {ep}"));
        peer.ok(&format!("tcp_send {id} 6869"));
        let m = recv::<E>(&quiet);
        assert_eq!(m[1], b"hi", "{id}: {m:?}");
        peer.ok(&format!("tcp_close {id}"));
    }
}

/// libzmq's STREAM connects to ours, over TCP or IPC (libzmq allows both):
/// both see each other as raw peers, bytes pass both ways, and our closing
/// empty frame reaches libzmq as the end of the connection.
pub fn libzmq_stream_connects<E: Env>(t: Transport) {
    let server = stream::<E>(Builder::new(SocketType::Stream));
    let ep = server.bind(endpoint(t)).expect("bind").to_string();
    let mut peer = Peer::start();
    peer.socket("s", "STREAM", &[]);
    peer.connect("s", &ep);
    let m = libzmq_recv(&mut peer, "s");
    assert_eq!(
        (m.len(), m[1].len()),
        (2, 0),
        "libzmq's connect notification"
    );
    let theirs = m[0].clone();
    let ours = expect_notice::<E>(&server);

    assert!(peer.send("s", &[&theirs, b"ping"], 5000));
    assert_eq!(recv_bytes::<E>(&server, &ours, 4), b"ping");
    server
        .send_blocking(Msg::multipart([ours.clone(), b"pong".to_vec()]), WAIT)
        .expect("reply");
    assert_eq!(libzmq_recv_bytes(&mut peer, "s", &theirs, 4), b"pong");

    server
        .send_blocking(Msg::multipart([ours, Vec::new()]), WAIT)
        .expect("close");
    let m = libzmq_recv(&mut peer, "s");
    assert_eq!(
        m,
        vec![theirs, Vec::new()],
        "libzmq's disconnect notification"
    );
}

/// Ours connects to libzmq's STREAM under a CONNECT_ROUTING_ID and sends
/// before the connection exists. When libzmq closes the connection, ours
/// hears of it, reconnects and keeps the id, as libzmq's connecting STREAM
/// does; its own empty frame then closes the connection for good.
pub fn connects_to_libzmq_stream<E: Env>() {
    let mut peer = Peer::start();
    peer.socket("s", "STREAM", &[]);
    let ep = peer.bind("s", "tcp://127.0.0.1:*");
    let client = stream::<E>(
        Builder::new(SocketType::Stream)
            .connect_routing_id("web")
            .reconnect_ivl(Some(Duration::from_millis(10))),
    );
    client.connect(&ep).expect("connect");
    client
        .send_blocking(Msg::multipart(["web", "GET / HTTP/1.0\r\n\r\n"]), WAIT)
        .expect("routable before the connection");
    let m = libzmq_recv(&mut peer, "s");
    assert_eq!(
        (m.len(), m[1].len()),
        (2, 0),
        "libzmq's connect notification"
    );
    let theirs = m[0].clone();
    assert_eq!(
        libzmq_recv_bytes(&mut peer, "s", &theirs, 18),
        b"GET / HTTP/1.0\r\n\r\n"
    );
    assert_eq!(
        expect_notice::<E>(&client),
        b"web",
        "our connect notification"
    );
    assert!(peer.send("s", &[&theirs, b"HTTP/1.0 204"], 5000));
    assert_eq!(recv_bytes::<E>(&client, b"web", 12), b"HTTP/1.0 204");

    assert!(peer.send("s", &[&theirs, b""], 5000));
    assert_eq!(
        poke_until_notice::<E>(&mut peer, "s", &client),
        b"web",
        "the disconnect"
    );
    assert_eq!(expect_notice::<E>(&client), b"web", "the reconnect");
    let m = libzmq_recv(&mut peer, "s");
    assert_eq!((m.len(), m[1].len()), (2, 0), "libzmq sees a new peer");
    let again = m[0].clone();
    client
        .send_blocking(Msg::multipart(["web", "again"]), WAIT)
        .expect("same id after the reconnect");
    assert_eq!(libzmq_recv_bytes(&mut peer, "s", &again, 5), b"again");

    client
        .send_blocking(Msg::multipart(["web", ""]), WAIT)
        .expect("close");
    let m = libzmq_recv(&mut peer, "s");
    assert_eq!(
        m,
        vec![again, Vec::new()],
        "libzmq's disconnect notification"
    );
}

/// libzmq's STREAM closes a connection after an empty frame only once the
/// application calls into the socket again: keeps calling until ours hears
/// of the end.
fn poke_until_notice<E: Env>(peer: &mut Peer, id: &str, s: &Socket<E::R>) -> Vec<u8> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        peer.ok(&format!("events {id}"));
        match s.recv_blocking(Some(Duration::from_millis(20))) {
            Ok(m) => {
                assert_eq!((m.len(), m.frames()[1].len()), (2, 0), "{m:?}");
                return m.frames()[0].to_vec();
            }
            Err(Error::Timeout) => assert!(Instant::now() < deadline, "no disconnect"),
            Err(e) => panic!("{e}"),
        }
    }
}

/// A ZMTP peer (libzmq's DEALER) connecting to our STREAM: its greeting
/// arrives as data, since a STREAM speaks no ZMTP.
pub fn zmtp_peer_sees_only_bytes<E: Env>() {
    let server = stream::<E>(Builder::new(SocketType::Stream));
    let ep = server.bind("tcp://127.0.0.1:*").expect("bind").to_string();
    let mut peer = Peer::start();
    peer.socket("d", "DEALER", &[format!("routing_id={}", hex(b"D"))]);
    peer.connect("d", &ep);
    let rid = expect_notice::<E>(&server);
    // libzmq's ZMTP greeting starts with 0xff, 8 bytes, 0x7f: for a STREAM it
    // is data like any other.
    let greeting = recv_bytes::<E>(&server, &rid, 10);
    assert_eq!((greeting[0], greeting[9]), (0xff, 0x7f), "{greeting:?}");
}
