//! The network scenarios, each between two [`Side`]s in their own
//! namespaces: one connects from `a` through the delaying relay in `b` to
//! the other, which binds inside `b`.
//!
//! Every wait is bounded and generous; no assertion is about how long
//! anything took.

use std::net::{Ipv4Addr, SocketAddr};
use std::thread;
use std::time::{Duration, Instant};

use super::{Link, Relay, RelayConfig, Side};
use crate::peer::{hex, Peer};

/// Messages of the delivery scenario.
const MESSAGES: u32 = 2_000;

/// Their size: large enough that 1 % loss hits a few of the ~700 segments.
const SIZE: usize = 512;

/// The relay's delay and jitter, each way.
const DELAY: Duration = Duration::from_millis(100);
const JITTER: Duration = Duration::from_millis(20);

/// How long a partition lasts: over three heartbeat timeouts.
const PARTITION: Duration = Duration::from_secs(1);

/// Heartbeats on both sides: a ping every 100 ms, dead after 300 ms of
/// silence.
const HEARTBEATS: [&str; 2] = ["heartbeat_ivl=100", "heartbeat_timeout=300"];

/// Message `i` of the delivery scenario: its number, then bytes that
/// depend on it, so a corrupted or misplaced message shows.
fn numbered(i: u32) -> Vec<u8> {
    let mut m = i.to_be_bytes().to_vec();
    m.extend((0..SIZE - 4).map(|k| ((k as u32).wrapping_mul(7).wrapping_add(i) % 251) as u8));
    m
}

fn port_of(endpoint: &str) -> u16 {
    endpoint
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in `{endpoint}`"))
}

/// Binds `id` on `b`'s loopback and puts the delaying relay in front of it;
/// returns the endpoint `a` connects to.
fn behind_relay(link: &Link, server: &mut Peer, id: &str) -> (Relay, String) {
    let bound = server.bind(id, "tcp://127.0.0.1:*");
    let relay = Relay::start_in(
        &link.b,
        RelayConfig {
            listen: SocketAddr::from((link.addr_b, 0)),
            target: SocketAddr::from((Ipv4Addr::LOCALHOST, port_of(&bound))),
            delay: DELAY,
            jitter: JITTER,
        },
    );
    let endpoint = format!("tcp://{}:{}", link.addr_b, relay.port);
    (relay, endpoint)
}

/// PUSH in `a` sends [`MESSAGES`] numbered messages to PULL in `b` through
/// 100 ms +- 20 ms of delay and 1 % loss each way: every one arrives, in
/// order, once.
pub fn delivery(sender: Side, receiver: Side) {
    let link = Link::new();
    link.loss(1);
    let mut pull = receiver.start_in(&link.b);
    pull.socket("pull", "PULL", &[]);
    let (_relay, endpoint) = behind_relay(&link, &mut pull, "pull");
    let mut push = sender.start_in(&link.a);
    push.socket("push", "PUSH", &[]);
    push.connect("push", &endpoint);
    // The sender runs on its own thread: with both high-water marks reached
    // it waits for the receiver, which this thread drains meanwhile. Each
    // send may wait 20 s, under the 30 s in which a peer must answer.
    let sending = thread::spawn(move || {
        for i in 0..MESSAGES {
            assert!(
                push.send("push", &[&numbered(i)], 20_000),
                "message {i} could not be sent"
            );
        }
        push
    });
    let deadline = Instant::now() + Duration::from_secs(45);
    let mut next = 0u32;
    while next < MESSAGES {
        for msg in pull.recv_many("pull", (MESSAGES - next) as usize, 1_000) {
            assert_eq!(
                msg.len(),
                1,
                "message after {next} has {} frames",
                msg.len()
            );
            let number = u32::from_be_bytes(msg[0][..4].try_into().expect("4 bytes"));
            assert_eq!(
                number, next,
                "message {number} arrived where {next} was due"
            );
            assert!(msg[0] == numbered(next), "message {next} arrived corrupted");
            next += 1;
        }
        assert!(
            Instant::now() < deadline,
            "only {next} of {MESSAGES} messages arrived"
        );
    }
    let _push = sending
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    assert_eq!(
        pull.recv("pull", 300),
        None,
        "a message arrived after the last one: a duplicate"
    );
    eprintln!("  packets dropped by the 1 % rule: {}", link.dropped());
}

/// How a partition cuts the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// nftables drops every packet: the peers hear nothing, their kernels
    /// retransmit into the void.
    Drop,
    /// The link goes down: the connecting side's kernel knows the network
    /// is unreachable, so its reconnects fail at once, again and again.
    LinkDown,
}

/// Cuts the link the `cut` way for [`PARTITION`], and checks
/// that `id` of `client` (monitored) saw the connection die meanwhile and
/// then connected again; `during` runs on `client` inside the partition,
/// once the death is noticed.
fn partition_and_heal(
    link: &Link,
    cut: Cut,
    client: &mut Peer,
    side: Side,
    id: &str,
    during: impl FnOnce(&mut Peer),
) {
    match cut {
        Cut::Drop => link.loss(100),
        Cut::LinkDown => link.set_up(false),
    }
    let started = Instant::now();
    let died = client.cmd(&format!("event {id} DISCONNECTED 5000"));
    assert!(
        died.starts_with("EVENT DISCONNECTED"),
        "the partition went unnoticed: {died}"
    );
    if let Side::Ours(_) = side {
        // We name the cause: it must be the heartbeat, nothing else can see
        // a silent partition.
        assert!(
            died.contains("Heartbeat"),
            "disconnected, but not by the heartbeat: {died}"
        );
    }
    during(client);
    thread::sleep(PARTITION.saturating_sub(started.elapsed()));
    match cut {
        Cut::Drop => link.loss(0),
        Cut::LinkDown => link.set_up(true),
    }
    // The connect attempts made during the partition are retried by the
    // kernel (SYN again after 1 s, 3 s...), so allow for a few of them.
    let back = client.cmd(&format!("event {id} HANDSHAKE_SUCCEEDED 20000"));
    assert!(
        back.starts_with("EVENT HANDSHAKE_SUCCEEDED"),
        "no reconnection after the partition healed: {back}"
    );
}

/// Publishes `prefix-k` (and an unsubscribed `x` twin) until the subscriber
/// receives a `prefix` message. Messages of
/// earlier rounds still on the way are passed over; an `x` fails the test.
fn publish_until_heard(publisher: &mut Peer, subscriber: &mut Peer, prefix: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    for k in 0u32.. {
        let topic = format!("{prefix}-{k}");
        assert!(publisher.send("pub", &[format!("x{topic}").as_bytes()], 1_000));
        assert!(publisher.send("pub", &[topic.as_bytes()], 1_000));
        while let Some(msg) = subscriber.recv("sub", 100) {
            assert_eq!(msg[0][0], b't', "an unsubscribed message arrived: {msg:?}");
            if msg[0].starts_with(prefix.as_bytes()) {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the subscriber heard no `{prefix}`"
        );
    }
}

/// SUB in `a` subscribed to `t`, PUB in `b`, heartbeats on both: a
/// partition longer than the heartbeat timeout is detected, the SUB
/// reconnects when it heals, and its subscription (and only it) holds on
/// the new connection.
pub fn partition_pubsub(subscriber: Side, publisher: Side, cut: Cut) {
    let link = Link::new();
    let mut publ = publisher.start_in(&link.b);
    publ.socket("pub", "PUB", &HEARTBEATS.map(String::from));
    let (_relay, endpoint) = behind_relay(&link, &mut publ, "pub");
    let mut sub = subscriber.start_in(&link.a);
    let mut opts = HEARTBEATS.map(String::from).to_vec();
    opts.push("reconnect_ivl=100".into());
    opts.push(format!("subscribe={}", hex(b"t")));
    sub.socket("sub", "SUB", &opts);
    sub.ok("monitor sub");
    sub.connect("sub", &endpoint);
    publish_until_heard(&mut publ, &mut sub, "tbefore");
    partition_and_heal(&link, cut, &mut sub, subscriber, "sub", |_| {});
    publish_until_heard(&mut publ, &mut sub, "tafter");
    // Now that the subscription is back, nothing published is lost.
    for i in 0..20 {
        assert!(publ.send("pub", &[format!("xlast-{i}").as_bytes()], 1_000));
        assert!(publ.send("pub", &[format!("tlast-{i}").as_bytes()], 1_000));
    }
    let mut next = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while next < 20 {
        let Some(msg) = sub.recv("sub", 1_000) else {
            assert!(Instant::now() < deadline, "only {next} of 20 arrived");
            continue;
        };
        assert_eq!(msg[0][0], b't', "an unsubscribed message arrived: {msg:?}");
        if msg[0].starts_with(b"tlast-") {
            assert_eq!(msg[0], format!("tlast-{next}").as_bytes());
            next += 1;
        }
    }
}

/// One request, lazy-pirate style: the DEALER sends it (again every
/// second without a reply), the REP echoes whatever it gets, until the
/// DEALER hears the echo. Stale echoes of earlier requests are passed over.
fn exchange(dealer: &mut Peer, rep: &mut Peer, request: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut resend = Instant::now();
    loop {
        if Instant::now() >= resend {
            // EAGAIN while no connection is up: the next round tries again.
            dealer.send("d", &[b"", request.as_bytes()], 100);
            resend = Instant::now() + Duration::from_secs(1);
        }
        if let Some(msg) = rep.recv("rep", 50) {
            let body: Vec<&[u8]> = msg.iter().map(Vec::as_slice).collect();
            assert!(rep.send("rep", &body, 1_000), "REP could not reply");
        }
        if let Some(msg) = dealer.recv("d", 50) {
            assert_eq!(msg.len(), 2, "a reply without its empty delimiter: {msg:?}");
            if msg[1] == request.as_bytes() {
                return;
            }
        }
        assert!(Instant::now() < deadline, "no reply to `{request}`");
    }
}

/// DEALER in `a`, REP in `b`, heartbeats on both: a request answered, a
/// partition detected and healed, and the request made across it answered
/// once the DEALER resends it; the next one is answered as before.
pub fn partition_reqrep(client: Side, server: Side) {
    let link = Link::new();
    let mut rep = server.start_in(&link.b);
    rep.socket("rep", "REP", &HEARTBEATS.map(String::from));
    let (_relay, endpoint) = behind_relay(&link, &mut rep, "rep");
    let mut dealer = client.start_in(&link.a);
    let mut opts = HEARTBEATS.map(String::from).to_vec();
    opts.push("reconnect_ivl=100".into());
    dealer.socket("d", "DEALER", &opts);
    dealer.ok("monitor d");
    dealer.connect("d", &endpoint);
    exchange(&mut dealer, &mut rep, "before");
    partition_and_heal(&link, Cut::Drop, &mut dealer, client, "d", |dealer| {
        // No connection is up: the request waits (EAGAIN here) or is lost.
        dealer.send("d", &[b"", b"across"], 100);
    });
    exchange(&mut dealer, &mut rep, "across");
    exchange(&mut dealer, &mut rep, "after");
}

/// One request, the lazy pirate's way (the zguide's reliable REQ): a REQ
/// that hears nothing within a second is closed and `open` makes a new one,
/// which asks again; the REP echoes whatever it gets. `pending`: the
/// request was already sent by the current REQ. Returns how many REQs were
/// given up.
fn lazy_pirate(
    req: &mut Peer,
    rep: &mut Peer,
    request: &str,
    pending: bool,
    open: &dyn Fn(&mut Peer),
) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut sent = pending.then(Instant::now);
    let mut abandoned = 0;
    loop {
        match sent {
            // EAGAIN while no connection is up: asked again next round.
            None if req.send("q", &[request.as_bytes()], 100) => sent = Some(Instant::now()),
            Some(at) if at.elapsed() > Duration::from_secs(1) => {
                req.close("q");
                open(req);
                sent = None;
                abandoned += 1;
                continue;
            }
            _ => {}
        }
        if let Some(msg) = rep.recv("rep", 50) {
            let body: Vec<&[u8]> = msg.iter().map(Vec::as_slice).collect();
            assert!(rep.send("rep", &body, 1_000), "REP could not reply");
        }
        if let Some(msg) = req.recv("q", 50) {
            assert_eq!(
                msg,
                [request.as_bytes()],
                "a REQ got another request's reply"
            );
            return abandoned;
        }
        assert!(Instant::now() < deadline, "no reply to `{request}`");
    }
}

/// REQ in `a`, REP in `b`, heartbeats on both: a request sent just as the
/// partition starts goes into a connection that is dead but not yet known
/// so; the partition is detected and healed, and the lazy pirate gets the
/// request answered; the next one is answered as before.
pub fn partition_lazy_pirate(client: Side, server: Side) {
    let link = Link::new();
    let mut rep = server.start_in(&link.b);
    rep.socket("rep", "REP", &HEARTBEATS.map(String::from));
    let (_relay, endpoint) = behind_relay(&link, &mut rep, "rep");
    let mut req = client.start_in(&link.a);
    let mut opts = HEARTBEATS.map(String::from).to_vec();
    opts.push("reconnect_ivl=100".into());
    let open = |req: &mut Peer| {
        req.socket("q", "REQ", &opts);
        req.ok("monitor q");
        req.connect("q", &endpoint);
    };
    open(&mut req);
    lazy_pirate(&mut req, &mut rep, "before", false, &open);
    // Sent as the partition starts, into a connection believed alive until
    // the heartbeat times out: lost with it (partition_and_heal then keeps
    // the same rule in place).
    link.loss(100);
    assert!(
        req.send("q", &[b"across"], 1_000),
        "the REQ took no request"
    );
    partition_and_heal(&link, Cut::Drop, &mut req, client, "q", |_| {});
    let abandoned = lazy_pirate(&mut req, &mut rep, "across", true, &open);
    eprintln!("  REQs given up for the request across the partition: {abandoned}");
    lazy_pirate(&mut req, &mut rep, "after", false, &open);
}
