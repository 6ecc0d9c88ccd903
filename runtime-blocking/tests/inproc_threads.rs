//! inproc links between sockets on two threads, and bursts larger than an
//! inproc lane's first ring: nothing is lost, duplicated or reordered, the
//! HWMs hold where libzmq's hold, and no side waits for a wake-up that never
//! comes (each wait has a timeout that fails the test).

use std::time::Duration;

use runtime_blocking::{Msg, Socket, SocketType};
use zmq_runtime::SendError;

const PATIENCE: Option<Duration> = Some(Duration::from_secs(30));

fn pair(name: &str, sndhwm: usize, rcvhwm: usize) -> (Socket, Socket) {
    let push = Socket::builder(SocketType::Push)
        .sndhwm(sndhwm)
        .sndtimeo(PATIENCE)
        .build()
        .expect("push");
    let pull = Socket::builder(SocketType::Pull)
        .rcvhwm(rcvhwm)
        .rcvtimeo(PATIENCE)
        .build()
        .expect("pull");
    pull.bind(name).expect("bind");
    push.connect(name).expect("connect");
    (push, pull)
}

fn number(m: &Msg) -> u64 {
    u64::from_le_bytes(m.frames()[0][..].try_into().expect("8 bytes"))
}

/// A sender on its own thread, held back by HWMs of a few messages, and a
/// receiver on this one: the sender stops and is refilled many times.
#[test]
fn small_hwms_across_threads_lose_nothing() {
    const N: u64 = 100_000;
    for (snd, rcv) in [(1, 1), (2, 7), (50, 3)] {
        let (push, pull) = pair(&format!("inproc://threads-{snd}-{rcv}"), snd, rcv);
        let sender = std::thread::spawn(move || {
            for i in 0..N {
                push.send(i.to_le_bytes().to_vec()).expect("send");
            }
        });
        for i in 0..N {
            let m = pull.recv().expect("recv: a message was stranded");
            assert_eq!(number(&m), i, "order, no loss, no duplicate");
        }
        sender.join().expect("sender");
    }
}

/// With no one reading, a sender may queue RCVHWM at the receiver and SNDHWM
/// of its own, as libzmq's inproc pipes allow: far more than a lane's first
/// ring holds, so the lane grows and must keep the order across its rings.
#[test]
fn a_large_rcvhwm_takes_a_burst_without_a_read() {
    let (snd, rcv) = (10, 5_000);
    let (push, pull) = pair("inproc://threads-burst", snd, rcv);
    let mut sent = 0u64;
    loop {
        match push.try_send(sent.to_le_bytes().to_vec()) {
            Ok(()) => sent += 1,
            Err(SendError::WouldBlock(_)) => break,
            Err(e) => panic!("send: {e}"),
        }
    }
    assert_eq!(
        sent,
        (snd + rcv) as u64,
        "SNDHWM + RCVHWM, no more, no less"
    );
    for i in 0..sent {
        assert_eq!(number(&pull.recv().expect("recv")), i);
    }
    // The lane keeps working at its new size.
    for i in 0..3 * rcv as u64 {
        push.send(i.to_le_bytes().to_vec()).expect("send");
        assert_eq!(number(&pull.recv().expect("recv")), i);
    }
}
