//! A thread blocked in `recv` on a socket with one stream reads that stream
//! itself while it spins, and the stream's pump (on the I/O thread) leaves
//! reading to it meanwhile (`DirectRead`, zmq-runtime/src/core/direct.rs).
//! What that must not change: every message arrives, whole and in order,
//! from libzmq too; once the receiver stops, the pump reads again (a message
//! nobody waits for in `recv`, a peer that leaves); a full receive pipe
//! still stops reading.

use std::time::{Duration, Instant};

use runtime_blocking::{poll, Events, MonitorEvent, PollItem, Socket, SocketType};
use zmq_test_support::peer::Peer;

const ROUND_TRIPS: usize = 2000;

#[test]
fn a_libzmq_req_gets_every_reply_from_a_rep_that_reads_on_its_own_thread() {
    let mut peer = Peer::start();
    let rep = Socket::new(SocketType::Rep).unwrap();
    let endpoint = rep.bind("tcp://127.0.0.1:*").unwrap().to_string();
    peer.socket("req", "REQ", &[]);
    peer.connect("req", &endpoint);
    std::thread::scope(|s| {
        let server = s.spawn(|| {
            for i in 0..ROUND_TRIPS {
                // Half the requests are waited for by the poller, which
                // reads the stream itself too.
                let m = if i % 2 == 0 {
                    rep.recv().unwrap()
                } else {
                    let mut items = [PollItem::new(&rep, Events::IN)];
                    assert_eq!(poll(&mut items, Some(Duration::from_secs(10))), 1);
                    rep.try_recv().unwrap()
                };
                assert_eq!(m.frames().len(), 1);
                assert_eq!(&m.frames()[0][..], i.to_string().as_bytes(), "request {i}");
                rep.send(m).unwrap();
            }
        });
        // libzmq times the round trips and checks nothing; the server
        // above checks every request's number and order.
        peer.ok(&format!("rtt req {ROUND_TRIPS} 5000"));
        server.join().unwrap();
    });
}

#[test]
fn after_an_exchange_the_pump_reads_what_nobody_waits_for_in_recv() {
    // No linger: a failure below must end the test, not wait on close.
    let no_linger = Some(Duration::ZERO);
    let rep = Socket::builder(SocketType::Rep)
        .linger(no_linger)
        .build()
        .unwrap();
    let endpoint = rep.bind("tcp://127.0.0.1:*").unwrap().to_string();
    let req = Socket::builder(SocketType::Req)
        .linger(no_linger)
        .build()
        .unwrap();
    req.connect(&endpoint).unwrap();
    // Connected and past the handshake before counting.
    req.send("hello").unwrap();
    rep.send(rep.recv().unwrap()).unwrap();
    req.recv().unwrap();

    std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..ROUND_TRIPS {
                rep.send(rep.recv().unwrap()).unwrap();
            }
        });
        for i in 0..ROUND_TRIPS {
            req.send(i.to_string()).unwrap();
            let m = req.recv().unwrap();
            assert_eq!(&m.frames()[0][..], i.to_string().as_bytes());
        }
    });
    // Nobody waits on the REP now, and it read the last request itself:
    // its pump left reading to it. `try_recv` does not read; the pump must,
    // once the lend is over.
    req.send("after").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        match rep.try_recv() {
            Ok(m) => break m,
            Err(_) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("the pump did not read again: {e}"),
        }
    };
    assert_eq!(&after.frames()[0][..], b"after");
}

#[test]
fn a_peer_that_leaves_after_an_exchange_is_seen_without_a_recv() {
    let mut peer = Peer::start();
    peer.socket("d", "DEALER", &[]);
    let endpoint = peer.bind("d", "tcp://127.0.0.1:*");
    let dealer = Socket::new(SocketType::Dealer).unwrap();
    let mut monitor = dealer.monitor();
    dealer.connect(endpoint.as_str()).unwrap();
    for i in 0..20u32 {
        dealer.send(i.to_string()).unwrap();
        let got = peer.recv("d", 5000).expect("libzmq got the request");
        assert!(peer.send("d", &[&got[0]], 5000));
        assert_eq!(
            &dealer.recv().unwrap().frames()[0][..],
            i.to_string().as_bytes()
        );
    }
    peer.close("d");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match monitor.next_timeout(Some(left)) {
            Ok(MonitorEvent::Disconnected { .. }) => break,
            Ok(_) => {}
            Err(e) => panic!("no disconnect seen: {e}"),
        }
    }
}

#[test]
fn a_full_receive_pipe_stops_direct_reads_and_nothing_is_lost() {
    const COUNT: u32 = 5000;
    let pull = Socket::builder(SocketType::Pull)
        .rcvhwm(10)
        .build()
        .unwrap();
    let endpoint = pull.bind("tcp://127.0.0.1:*").unwrap().to_string();
    let push = Socket::builder(SocketType::Push)
        .sndhwm(10)
        .build()
        .unwrap();
    push.connect(&endpoint).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..COUNT {
                let mut body = vec![0u8; 1 + (i as usize * 97) % 3000];
                let n = 4.min(body.len());
                body[..n].copy_from_slice(&i.to_be_bytes()[..n]);
                push.send(body).unwrap();
            }
        });
        for i in 0..COUNT {
            // Every so often the receiver lags, so that the pipe fills and
            // reading pauses, then starts again from `recv`.
            if i % 500 == 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
            let m = pull.recv().unwrap();
            let body = &m.frames()[0];
            assert_eq!(body.len(), 1 + (i as usize * 97) % 3000, "message {i}");
            let n = 4.min(body.len());
            assert_eq!(&body[..n], &i.to_be_bytes()[..n], "message {i}");
        }
    });
}
