//! `recv` takes messages from the engine in batches (one lock per batch, not
//! per message). What it took ahead must be invisible: the poller still sees
//! them, a subscription change still filters them as `recv` would have, and
//! two threads receiving from one socket still see the engine's order.

use std::collections::HashSet;
use std::time::Duration;

use runtime_blocking::{poll, Error, Events, PollItem, Socket, SocketType};

fn seq(m: &runtime_blocking::Msg) -> u64 {
    let f = &m.frames()[0];
    u64::from_be_bytes(f[f.len() - 8..].try_into().unwrap())
}

/// Gives what was sent time to reach the receiving socket's queue (inproc
/// moves it on `send` today; the tests should not depend on that).
fn settle() {
    std::thread::sleep(Duration::from_millis(50));
}

#[test]
fn poller_sees_messages_taken_ahead() {
    let pull = Socket::new(SocketType::Pull).unwrap();
    pull.bind("inproc://read-ahead-poll").unwrap();
    let push = Socket::new(SocketType::Push).unwrap();
    push.connect("inproc://read-ahead-poll").unwrap();
    for i in 0u64..3 {
        push.send(&i.to_be_bytes()[..]).unwrap();
    }
    settle();
    assert_eq!(seq(&pull.recv().unwrap()), 0);
    // Both others were taken with the first; POLLIN must still be set.
    for want in 1u64..3 {
        let mut items = [PollItem::new(&pull, Events::IN)];
        assert_eq!(poll(&mut items, Some(Duration::ZERO)), 1, "before {want}");
        assert!(pull.can_recv());
        assert_eq!(seq(&pull.try_recv().unwrap()), want);
    }
    let mut items = [PollItem::new(&pull, Events::IN)];
    assert_eq!(poll(&mut items, Some(Duration::ZERO)), 0);
    assert!(!pull.can_recv());
}

#[test]
fn unsubscribing_filters_what_was_taken_ahead() {
    let pubs = Socket::new(SocketType::Pub).unwrap();
    pubs.bind("inproc://read-ahead-sub").unwrap();
    let sub = Socket::builder(SocketType::Sub)
        .rcvtimeo(Some(Duration::from_millis(100)))
        .build()
        .unwrap();
    sub.subscribe("a").unwrap();
    sub.subscribe("b").unwrap();
    sub.connect("inproc://read-ahead-sub").unwrap();
    settle();
    for i in 0u64..10 {
        for topic in [b'a', b'b'] {
            let mut body = vec![topic];
            body.extend_from_slice(&i.to_be_bytes());
            pubs.send(body).unwrap();
        }
    }
    settle();
    let first = sub.recv().unwrap();
    assert_eq!(first.frames()[0][0], b'a');
    // The rest of both topics is now in the batch; "b" must go, as libzmq's
    // SUB matches at `recv`, not on arrival.
    sub.unsubscribe("b").unwrap();
    let mut got = Vec::new();
    loop {
        match sub.recv() {
            Ok(m) => got.push((m.frames()[0][0], seq(&m))),
            Err(Error::Timeout) => break,
            Err(e) => panic!("{e}"),
        }
    }
    let want: Vec<(u8, u64)> = (1..10).map(|i| (b'a', i)).collect();
    assert_eq!(got, want);
}

#[test]
fn two_receiving_threads_each_see_the_engine_order() {
    const N: u64 = 100_000;
    let pull = Socket::new(SocketType::Pull).unwrap();
    pull.bind("inproc://read-ahead-threads").unwrap();
    let push = Socket::new(SocketType::Push).unwrap();
    push.connect("inproc://read-ahead-threads").unwrap();
    let pull = &pull;
    let seen: Vec<Vec<u64>> = std::thread::scope(|s| {
        let readers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(move || {
                    let mut mine = Vec::new();
                    loop {
                        let m = pull.recv().unwrap();
                        let n = seq(&m);
                        if n == u64::MAX {
                            return mine;
                        }
                        mine.push(n);
                    }
                })
            })
            .collect();
        for i in 0..N {
            push.send(&i.to_be_bytes()[..]).unwrap();
        }
        // One end marker per reader.
        push.send(&u64::MAX.to_be_bytes()[..]).unwrap();
        push.send(&u64::MAX.to_be_bytes()[..]).unwrap();
        readers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let mut all = HashSet::new();
    for mine in &seen {
        assert!(mine.windows(2).all(|w| w[0] < w[1]), "out of order");
        for &n in mine {
            assert!(all.insert(n), "{n} twice");
        }
    }
    assert_eq!(all.len() as u64, N);
}
