//! The blocking runtime's monitor is an iterator: it blocks for each event
//! (here, ones a libzmq peer causes) and ends when its socket is closed.

use std::time::Duration;

use runtime_blocking::{Error, MonitorEvent, Socket, SocketType};
use zmq_test_support::peer::{hex, Peer};

#[test]
fn monitor_iterates_until_the_socket_is_closed() {
    let router = Socket::builder(SocketType::Router)
        .linger(Some(Duration::ZERO))
        .build()
        .unwrap();
    let mut monitor = router.monitor();
    let ep = router.bind("tcp://127.0.0.1:*").unwrap().to_string();
    let mut peer = Peer::start();
    peer.socket(
        "dealer",
        "DEALER",
        &[format!("routing_id={}", hex(b"dealer"))],
    );
    peer.connect("dealer", &ep);

    let arrived: Vec<MonitorEvent> = monitor
        .by_ref()
        .take_while(|e| !matches!(e, MonitorEvent::HandshakeSucceeded { .. }))
        .collect();
    let names: Vec<_> = arrived.iter().map(MonitorEvent::name).collect();
    assert_eq!(names, ["LISTENING", "ACCEPTED"]);
    assert!(matches!(
        monitor.next_timeout(Some(Duration::from_millis(50))),
        Err(Error::Timeout)
    ));
    assert_eq!(monitor.missed(), 0);

    peer.close("dealer");
    let gone = monitor
        .find(|e| matches!(e, MonitorEvent::Disconnected { .. }))
        .expect("disconnected");
    assert_eq!(
        gone.peer().and_then(|p| p.routing_id.as_deref()),
        Some(&b"dealer"[..])
    );

    router.close();
    let rest: Vec<_> = monitor.collect();
    assert!(
        matches!(rest.last(), Some(MonitorEvent::Closed(e)) if e.to_string() == ep),
        "the listener closes last, then the iterator ends: {rest:?}"
    );
}
