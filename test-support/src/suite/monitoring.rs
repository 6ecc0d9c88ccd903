//! The monitor against libzmq: every monitor of a socket sees every event,
//! events name the peer (its address, and its routing id once known), an
//! unread monitor drops what does not fit and counts it, and a monitor ends
//! with its socket.

use std::time::{Duration, Instant};

use zmq_runtime::{Builder, Error, Monitor, MonitorEvent, Socket, SocketType};

use super::ends::PATIENCE;
use super::{build, Env};
use crate::peer::{hex, Peer};

fn sock<E: Env>(b: Builder<E::R>) -> Socket<E::R> {
    build::<E>(b.linger(Some(Duration::ZERO)))
}

/// Events until `pick` accepts one (included); panics with what was seen.
pub fn until(
    m: &mut Monitor,
    what: &str,
    pick: impl Fn(&MonitorEvent) -> bool,
) -> Vec<MonitorEvent> {
    let deadline = Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    loop {
        match m.next_blocking(Some(deadline.saturating_duration_since(Instant::now()))) {
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

fn port_of(address: &str) -> u16 {
    address
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("not ip:port: {address:?}"))
}

/// Two monitors of one ROUTER each see a libzmq DEALER arrive (from
/// 127.0.0.1, a port of its own), finish its handshake with the routing id
/// it announced, and leave; a ROUTER names a peer that announced none by the
/// id it generated, the one its messages carry. Both monitors end with the
/// socket.
pub fn every_monitor_sees_every_event<E: Env>() {
    let router = sock::<E>(Builder::new(SocketType::Router));
    let mut first = router.monitor();
    let mut second = router.monitor();
    let ep = router.bind("tcp://127.0.0.1:*").expect("bind").to_string();
    let our_port = port_of(&ep);

    let mut peer = Peer::start();
    peer.socket(
        "named",
        "DEALER",
        &[format!("routing_id={}", hex(b"peer-1"))],
    );
    peer.connect("named", &ep);
    let mut sequences = Vec::new();
    for m in [&mut first, &mut second] {
        let seen = until(m, "HandshakeSucceeded", |e| {
            matches!(e, MonitorEvent::HandshakeSucceeded { .. })
        });
        let names: Vec<_> = seen.iter().map(MonitorEvent::name).collect();
        assert_eq!(names, ["LISTENING", "ACCEPTED", "HANDSHAKE_SUCCEEDED"]);
        let accepted = seen[1].peer().expect("accepted names its peer");
        assert!(accepted.address.starts_with("127.0.0.1:"), "{accepted:?}");
        assert_ne!(port_of(&accepted.address), our_port);
        assert_eq!(accepted.routing_id, None, "not known before the handshake");
        let done = seen[2].peer().expect("handshake names its peer");
        assert_eq!(done.address, accepted.address);
        assert_eq!(done.routing_id.as_deref(), Some(&b"peer-1"[..]));
        assert_eq!(seen[2].endpoint().to_string(), ep);
        sequences.push(seen);
    }
    assert_eq!(
        sequences[0], sequences[1],
        "both monitors saw the same events"
    );

    peer.close("named");
    for m in [&mut first, &mut second] {
        let seen = until(m, "Disconnected", |e| {
            matches!(e, MonitorEvent::Disconnected { .. })
        });
        let gone = seen.last().and_then(MonitorEvent::peer).expect("peer");
        assert_eq!(gone.routing_id.as_deref(), Some(&b"peer-1"[..]));
    }

    // A peer without a routing id: the ROUTER's generated one, as its
    // messages carry it.
    peer.socket("anonymous", "DEALER", &[]);
    peer.connect("anonymous", &ep);
    let seen = until(&mut first, "HandshakeSucceeded", |e| {
        matches!(e, MonitorEvent::HandshakeSucceeded { .. })
    });
    let generated = seen
        .last()
        .and_then(MonitorEvent::peer)
        .and_then(|p| p.routing_id.clone())
        .expect("a ROUTER names every peer");
    assert!(peer.send("anonymous", &[b"hello"], 3000));
    let msg = router.recv_blocking(Some(PATIENCE)).expect("recv");
    assert_eq!(msg.frames()[0], generated);
    assert_eq!(&msg.frames()[1][..], b"hello");
    until(&mut second, "HandshakeSucceeded", |e| {
        matches!(e, MonitorEvent::HandshakeSucceeded { peer, .. }
            if peer.routing_id.as_ref() == Some(&generated))
    });

    router.close_blocking();
    for m in [&mut first, &mut second] {
        let rest = loop {
            match m.next_blocking(Some(PATIENCE)) {
                Ok(_) => {}
                Err(e) => break e,
            }
        };
        assert!(matches!(rest, Error::Closed), "the monitor ends: {rest}");
    }
}

/// Our DEALER connects to a libzmq ROUTER: the events name the remote end
/// (the ROUTER's own address and port) and the routing id the ROUTER
/// announced.
pub fn connected_peer_is_the_remote_end<E: Env>() {
    let mut peer = Peer::start();
    peer.socket("router", "ROUTER", &[format!("routing_id={}", hex(b"srv"))]);
    let ep = peer.bind("router", "tcp://127.0.0.1:*");
    let dealer = sock::<E>(Builder::new(SocketType::Dealer));
    let mut m = dealer.monitor();
    dealer.connect(&ep).expect("connect");
    let seen = until(&mut m, "HandshakeSucceeded", |e| {
        matches!(e, MonitorEvent::HandshakeSucceeded { .. })
    });
    let names: Vec<_> = seen.iter().map(MonitorEvent::name).collect();
    assert_eq!(
        names,
        ["CONNECT_DELAYED", "CONNECTED", "HANDSHAKE_SUCCEEDED"]
    );
    let remote = format!("127.0.0.1:{}", port_of(&ep));
    assert_eq!(
        seen[1].peer().map(|p| p.address.as_str()),
        Some(&remote[..])
    );
    let done = seen[2].peer().expect("peer");
    assert_eq!(done.address, remote);
    assert_eq!(done.routing_id.as_deref(), Some(&b"srv"[..]));
}

/// A monitor nobody reads keeps the first 1000 events and counts the rest;
/// a monitor that is read meanwhile loses nothing; a dropped monitor stops
/// costing anything.
pub fn unread_monitor_overflows<E: Env>() {
    const ROUNDS: usize = 600;
    let s = sock::<E>(Builder::new(SocketType::Pull));
    let mut unread = s.monitor();
    let mut read = s.monitor();
    let dropped = s.monitor();
    drop(dropped);
    let mut read_count = 0;
    for i in 0..ROUNDS {
        let ep = format!("inproc://monitor-overflow-{i}-{:p}", &s);
        s.bind(ep.as_str()).expect("bind");
        s.unbind(ep.as_str()).expect("unbind");
        while let Some(e) = read.try_next() {
            assert!(matches!(
                e,
                MonitorEvent::Listening(_) | MonitorEvent::Closed(_)
            ));
            read_count += 1;
        }
    }
    assert_eq!(
        read_count,
        2 * ROUNDS,
        "a monitor that is read loses nothing"
    );
    assert_eq!(read.missed(), 0);
    assert_eq!(unread.missed(), (2 * ROUNDS - 1000) as u64);
    let mut kept = Vec::new();
    while let Some(e) = unread.try_next() {
        kept.push(e);
    }
    assert_eq!(kept.len(), 1000, "the first events are kept");
    let first = format!("inproc://monitor-overflow-0-{:p}", &s);
    assert_eq!(kept[0].name(), "LISTENING");
    assert_eq!(kept[0].endpoint().to_string(), first);
    // Room again: new events come in after the gap.
    s.bind("inproc://monitor-overflow-after").expect("bind");
    assert!(matches!(
        unread.try_next(),
        Some(MonitorEvent::Listening(_))
    ));
}
