//! STREAM and the ROUTER options around peers coming and going, driven by
//! hand with raw bytes: one engine, no network, virtual time.

// Virtual time starts from one real instant and never reads the clock again.
#![allow(clippy::disallowed_methods)]

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use zmq_patterns::engine::{Action, ConnId, Endpoint, Engine, EngineConfig, EngineError, Host};
use zmq_patterns::{RecvError, RouterNotify, SendError};
use zmtp_core::{Config, Msg, SocketType};

fn engine(t: SocketType) -> (Engine, Instant) {
    let now = Instant::now();
    (Engine::new(now, EngineConfig::new(Config::new(t))), now)
}

fn drain_actions(e: &mut Engine) -> Vec<Action> {
    std::iter::from_fn(|| e.poll_action()).collect()
}

fn transmit(e: &mut Engine, c: ConnId) -> Vec<u8> {
    std::iter::from_fn(|| e.poll_transmit(c))
        .flatten()
        .collect()
}

fn tcp(port: u16) -> Endpoint {
    Endpoint::Tcp {
        host: Host::Ip([127, 0, 0, 1].into()),
        port: Some(port),
    }
}

/// A bound STREAM with one accepted raw peer; returns the peer's id.
fn stream_with_peer() -> (Engine, Instant, ConnId, Bytes) {
    let (mut e, now) = engine(SocketType::Stream);
    let l = e.bind("tcp://127.0.0.1:*").unwrap();
    e.handle_listening(l, tcp(5555));
    let c = e.handle_accepted(now, l, "127.0.0.1".into());
    let hello = e.recv().expect("connect notification");
    assert_eq!(hello.len(), 2);
    assert!(hello.frames()[1].is_empty());
    let rid = hello.frames()[0].clone();
    assert_eq!((rid.len(), rid[0]), (5, 0), "libzmq's generated id form");
    (e, now, c, rid)
}

#[test]
fn stream_speaks_raw_bytes_both_ways() {
    let (mut e, now, c, rid) = stream_with_peer();
    // No greeting: nothing is written before the application sends.
    assert_eq!(transmit(&mut e, c), b"");
    e.handle_input(now, c, &mut BytesMut::from(&b"GET / HTTP/1.0\r\n\r\n"[..]));
    let req = e.recv().unwrap();
    assert_eq!(
        req.frames(),
        &[rid.clone(), Bytes::from("GET / HTTP/1.0\r\n\r\n")]
    );
    e.send(Msg::multipart([
        rid,
        Bytes::from("HTTP/1.0 200 OK\r\n\r\n"),
    ]))
    .unwrap();
    assert_eq!(transmit(&mut e, c), b"HTTP/1.0 200 OK\r\n\r\n");
}

#[test]
fn an_empty_frame_closes_after_what_was_sent() {
    let (mut e, _now, c, rid) = stream_with_peer();
    drain_actions(&mut e);
    let body = vec![b'x'; 200_000];
    e.send(Msg::multipart([rid.clone(), Bytes::from(body.clone())]))
        .unwrap();
    e.send(Msg::multipart([rid.clone(), Bytes::new()])).unwrap();
    assert!(drain_actions(&mut e).contains(&Action::Close(c)));
    assert_eq!(transmit(&mut e, c), body, "the reply goes out whole first");
    // The id is gone: sending to it is EHOSTUNREACH, as for any unknown id,
    // and closing it is not announced (the application did it).
    assert!(matches!(
        e.send(Msg::multipart([rid, Bytes::from("late")])),
        Err(SendError::HostUnreachable(_))
    ));
    assert_eq!(e.recv(), Err(RecvError::WouldBlock));
}

#[test]
fn peer_eof_is_announced_after_its_data() {
    let (mut e, now, c, rid) = stream_with_peer();
    e.handle_input(now, c, &mut BytesMut::from(&b"last"[..]));
    e.handle_eof(now, c);
    assert_eq!(
        e.recv().unwrap().frames(),
        &[rid.clone(), Bytes::from("last")]
    );
    assert_eq!(e.recv().unwrap().frames(), &[rid, Bytes::new()]);
    assert_eq!(e.recv(), Err(RecvError::WouldBlock));
}

#[test]
fn stream_notify_off_announces_nothing() {
    let (mut e, now) = engine(SocketType::Stream);
    e.set_stream_notify(false);
    let l = e.bind("tcp://127.0.0.1:*").unwrap();
    let c = e.handle_accepted(now, l, String::new());
    assert_eq!(e.recv(), Err(RecvError::WouldBlock));
    e.handle_input(now, c, &mut BytesMut::from(&b"data"[..]));
    assert_eq!(e.recv().unwrap().frames()[1], Bytes::from("data"));
    e.handle_eof(now, c);
    assert_eq!(e.recv(), Err(RecvError::WouldBlock));
}

#[test]
fn connect_routing_id_names_the_connected_peer_before_it_connects() {
    let (mut e, now) = engine(SocketType::Stream);
    e.set_connect_routing_id("web").unwrap();
    let k = e.connect("tcp://127.0.0.1:80").unwrap();
    // Routable at once: the message waits for the connection.
    e.send(Msg::multipart(["web", "GET /"])).unwrap();
    let c = e.handle_connected(now, k, "127.0.0.1".into()).unwrap();
    assert_eq!(transmit(&mut e, c), b"GET /");
    assert_eq!(
        e.recv().unwrap().frames(),
        &[Bytes::from("web"), Bytes::new()]
    );
    // Used up: the next connect gets a generated id.
    let k2 = e.connect("tcp://127.0.0.1:81").unwrap();
    e.handle_connected(now, k2, "127.0.0.1".into()).unwrap();
    let other = e.recv().unwrap();
    assert_eq!(other.frames()[0].len(), 5);
    // A second connect may not take an id in use; the id stays pending.
    e.set_connect_routing_id("web").unwrap();
    assert!(matches!(
        e.connect("tcp://127.0.0.1:82"),
        Err(EngineError::Option {
            option: "connect_routing_id",
            ..
        })
    ));
}

#[test]
fn connect_routing_id_errors_name_the_option() {
    let (mut router, _) = engine(SocketType::Router);
    let e = router.set_connect_routing_id("").unwrap_err();
    assert!(e.to_string().contains("connect_routing_id"), "{e}");
    let (mut dealer, _) = engine(SocketType::Dealer);
    let e = dealer.set_connect_routing_id("x").unwrap_err();
    assert!(e.to_string().contains("DEALER"), "{e}");
}

#[test]
fn stream_refuses_inproc() {
    let (mut e, _) = engine(SocketType::Stream);
    let err = e.bind("inproc://raw").unwrap_err();
    assert!(err.to_string().contains("tcp://"), "{err}");
    assert!(e.connect("inproc://raw").is_err());
}

#[test]
fn router_notify_flags_combine() {
    assert_eq!(
        RouterNotify::CONNECT | RouterNotify::DISCONNECT,
        RouterNotify::from_bits(3).unwrap()
    );
    assert_eq!(RouterNotify::from_bits(4), None);
    assert_eq!(RouterNotify::from_bits(-1), None);
    assert!(RouterNotify::from_bits(3)
        .unwrap()
        .contains(RouterNotify::DISCONNECT));
    assert!(!RouterNotify::CONNECT.contains(RouterNotify::DISCONNECT));
}
