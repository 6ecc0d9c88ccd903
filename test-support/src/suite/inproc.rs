//! `inproc://` between threads: what the sender hands over through a link's
//! lane, and the receiver takes when it next looks, must keep every HWM where
//! libzmq keeps it, lose nothing (not even when the sender closes with
//! messages still held back), keep order, and never deadlock when both ends
//! send at once.

use std::time::Duration;

use zmq_runtime::{Builder, SendError, Socket, SocketType};

use super::cases::{endpoint, Transport};
use super::{build, Env};
use crate::peer::Peer;

const WAIT: Duration = Duration::from_secs(10);

/// The HWMs tried: equal, the sender's larger, the receiver's larger, and a
/// receiver that holds one.
const HWMS: [(usize, usize); 4] = [(4, 4), (10, 3), (2, 9), (7, 1)];

/// How many messages libzmq's PUSH queues towards an idle inproc PULL before
/// a non-blocking send says EAGAIN.
fn libzmq_capacity(peer: &mut Peer, n: usize, sndhwm: usize, rcvhwm: usize) -> usize {
    let pull = format!("pull{n}");
    let push = format!("push{n}");
    let name = format!("inproc://capacity-{n}");
    peer.socket(&pull, "PULL", &[format!("rcvhwm={rcvhwm}")]);
    peer.bind(&pull, &name);
    peer.socket(&push, "PUSH", &[format!("sndhwm={sndhwm}")]);
    peer.connect(&push, &name);
    let mut sent = 0;
    while sent < 1000 && peer.send(&push, &[b"m"], 0) {
        sent += 1;
    }
    peer.close(&push);
    peer.close(&pull);
    sent
}

/// A PULL bound at a fresh inproc name with `rcvhwm`, and a PUSH with
/// `sndhwm` connected to it: (pull, push).
fn push_to_pull<E: Env>(sndhwm: usize, rcvhwm: usize) -> (Socket<E::R>, Socket<E::R>) {
    let name = endpoint(Transport::Inproc);
    let pull = build::<E>(Builder::new(SocketType::Pull).rcvhwm(rcvhwm));
    pull.bind(&name[..]).expect("bind");
    let push = build::<E>(Builder::new(SocketType::Push).sndhwm(sndhwm));
    push.connect(&name[..]).expect("connect");
    (pull, push)
}

/// Ours, the same way: the sends move straight into the receiver's queue
/// until its RCVHWM, then wait in the sender's up to its SNDHWM.
fn our_capacity<E: Env>(sndhwm: usize, rcvhwm: usize) -> usize {
    let (pull, push) = push_to_pull::<E>(sndhwm, rcvhwm);
    let mut sent = 0;
    loop {
        match push.try_send("m") {
            Ok(()) => sent += 1,
            Err(SendError::WouldBlock(_)) => break,
            Err(e) => panic!("send: {e}"),
        }
        assert!(sent <= 1000, "no HWM held ({sndhwm}, {rcvhwm})");
    }
    // Everything queued arrives, in order.
    for i in 0..sent {
        let m = pull.recv_blocking(Some(WAIT)).expect("queued message");
        assert_eq!(m.to_str(), Ok("m"), "message {i}");
    }
    sent
}

/// An idle inproc receiver takes SNDHWM + RCVHWM messages before a send
/// would block, as libzmq's.
pub fn capacity_matches_libzmq<E: Env>() {
    let mut peer = Peer::start();
    for (n, (snd, rcv)) in HWMS.into_iter().enumerate() {
        let theirs = libzmq_capacity(&mut peer, n, snd, rcv);
        let ours = our_capacity::<E>(snd, rcv);
        assert_eq!(ours, theirs, "SNDHWM {snd}, RCVHWM {rcv}");
    }
}

fn numbered(i: u32) -> String {
    format!("{i:08}")
}

/// Receives `count` numbered messages and checks that none is missing.
fn expect_numbered<R: zmq_runtime::RuntimeKind>(s: &Socket<R>, count: u32) {
    for i in 0..count {
        let m = s.recv_blocking(Some(WAIT)).expect("next message");
        assert_eq!(m.to_str(), Ok(&numbered(i)[..]), "message {i}");
    }
}

/// A sender thread far ahead of a receiver whose HWMs are small: it blocks
/// and resumes again and again, and every message arrives once, in order.
pub fn sender_thread_blocks_and_resumes<E: Env>() {
    const COUNT: u32 = 20_000;
    // Both orders of creation: the sender's lock comes first in one, the
    // receiver's in the other.
    for pull_first in [true, false] {
        let name = endpoint(Transport::Inproc);
        let (pull, push) = if pull_first {
            let pull = build::<E>(Builder::new(SocketType::Pull).rcvhwm(3));
            (pull, build::<E>(Builder::new(SocketType::Push).sndhwm(2)))
        } else {
            let push = build::<E>(Builder::new(SocketType::Push).sndhwm(2));
            (build::<E>(Builder::new(SocketType::Pull).rcvhwm(3)), push)
        };
        pull.bind(&name[..]).expect("bind");
        push.connect(&name[..]).expect("connect");
        let sender = std::thread::spawn(move || {
            for i in 0..COUNT {
                push.send_blocking(numbered(i), Some(WAIT)).expect("send");
            }
            push
        });
        expect_numbered(&pull, COUNT);
        drop(sender.join().expect("sender thread"));
    }
}

/// Two PAIR sockets on two threads sending to each other at once, with
/// HWMs small enough that both block: each takes the other's lock out of
/// order at times, which must neither deadlock nor lose a message.
pub fn both_ends_send_at_once<E: Env>() {
    const COUNT: u32 = 5_000;
    let name = endpoint(Transport::Inproc);
    let a = build::<E>(Builder::new(SocketType::Pair).sndhwm(2).rcvhwm(2));
    a.bind(&name[..]).expect("bind");
    let b = build::<E>(Builder::new(SocketType::Pair).sndhwm(2).rcvhwm(2));
    b.connect(&name[..]).expect("connect");
    let run = |s: Socket<E::R>| {
        std::thread::spawn(move || {
            // Sends and receives in turns of a few, so that neither end
            // waits on a full queue for ever.
            let (mut sent, mut got) = (0, 0);
            while sent < COUNT || got < COUNT {
                for _ in 0..3 {
                    if sent < COUNT && s.try_send(numbered(sent)).is_ok() {
                        sent += 1;
                    }
                }
                while got < COUNT {
                    match s.try_recv() {
                        Ok(m) => {
                            assert_eq!(m.to_str(), Ok(&numbered(got)[..]), "message {got}");
                            got += 1;
                        }
                        Err(_) => break,
                    }
                }
                if sent == COUNT && got < COUNT {
                    let m = s
                        .recv_blocking(Some(WAIT))
                        .expect("the peer's next message");
                    assert_eq!(m.to_str(), Ok(&numbered(got)[..]), "message {got}");
                    got += 1;
                }
                std::thread::yield_now();
            }
            s
        })
    };
    let ta = run(a);
    let tb = run(b);
    let a = ta.join().expect("thread a");
    let b = tb.join().expect("thread b");
    drop((a, b));
}

/// A sender that closes while its messages still wait for room at the
/// receiver: every one arrives, in order, as libzmq's LINGER promises.
pub fn closing_sender_delivers_everything<E: Env>() {
    for (snd, rcv) in HWMS {
        let (pull, push) = push_to_pull::<E>(snd, rcv);
        let mut sent = 0;
        while push.try_send(numbered(sent)).is_ok() {
            sent += 1;
            assert!(sent <= 1000, "no HWM held ({snd}, {rcv})");
        }
        // Closed with most of its messages still its own, or in the lane.
        drop(push);
        expect_numbered(&pull, sent);
        assert!(
            pull.recv_blocking(Some(Duration::from_millis(50))).is_err(),
            "nothing beyond what was sent ({snd}, {rcv})"
        );
    }
}

/// A CONFLATE receiver that does not read keeps only the newest message, and
/// the sender never has to wait for it.
pub fn conflate_receiver_keeps_the_newest<E: Env>() {
    let name = endpoint(Transport::Inproc);
    let pull = build::<E>(Builder::new(SocketType::Pull).conflate(true));
    pull.bind(&name[..]).expect("bind");
    let push = build::<E>(Builder::new(SocketType::Push).sndhwm(1));
    push.connect(&name[..]).expect("connect");
    // More than the default RCVHWM: a conflating receiver never fills.
    for i in 0..5000 {
        push.try_send(numbered(i))
            .unwrap_or_else(|e| panic!("send {i} would wait: {e}"));
    }
    let m = pull.recv_blocking(Some(WAIT)).expect("the newest message");
    assert_eq!(m.to_str(), Ok(&numbered(4999)[..]));
    assert!(pull.try_recv().is_err(), "only the newest is kept");
}

/// A PUB's message reaches every inproc subscriber whole, in order: each gets
/// its own handle on the one message, none takes it from the others.
pub fn publisher_reaches_every_subscriber<E: Env>() {
    const COUNT: u32 = 100;
    let name = endpoint(Transport::Inproc);
    let publisher = build::<E>(Builder::new(SocketType::Pub));
    publisher.bind(&name[..]).expect("bind");
    let subs: Vec<_> = (0..3)
        .map(|_| {
            let s = build::<E>(Builder::new(SocketType::Sub).subscribe(""));
            s.connect(&name[..]).expect("connect");
            s
        })
        .collect();
    // No wait needed: an inproc connect to a bound name joins at once, and
    // the publisher takes the subscriptions waiting on its links before it
    // sends.
    for i in 0..COUNT {
        publisher.try_send(numbered(i)).expect("PUB never blocks");
    }
    for s in &subs {
        expect_numbered(s, COUNT);
    }
}
