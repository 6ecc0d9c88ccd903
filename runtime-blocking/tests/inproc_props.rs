//! Two PAIR sockets joined over inproc, driven from one thread by a random
//! sequence of non-blocking sends and receives in both directions, with
//! random HWMs: whatever the interleaving, every message arrives once and in
//! order, no more than SNDHWM + RCVHWM are ever in flight (plus the batch a
//! PAIR's `recv` reads ahead, which counts against nothing: see
//! `zmq-runtime/src/core/inbox.rs`), a send is refused
//! only when the sender's own queue is full, and a receive finds a message
//! whenever one is in flight (the lanes never strand one).

use proptest::prelude::*;
use runtime_blocking::{Socket, SocketType};
use zmq_runtime::{RecvError, SendError};

#[derive(Clone, Copy, Debug)]
enum Op {
    Send(usize),
    Recv(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..2usize).prop_map(Op::Send),
        (0..2usize).prop_map(Op::Recv),
    ]
}

/// One direction of the pair, as the test counts it.
#[derive(Default)]
struct Flow {
    sent: u64,
    received: u64,
}

fn run(hwms: [(usize, usize); 2], ops: &[Op]) -> Result<(), TestCaseError> {
    let name = format!("inproc://props-{:?}-{}", hwms, ops.len());
    let make = |(snd, rcv): (usize, usize)| {
        Socket::builder(SocketType::Pair)
            .sndhwm(snd)
            .rcvhwm(rcv)
            .build()
            .expect("socket")
    };
    let socks = [make(hwms[0]), make(hwms[1])];
    socks[0].bind(&name[..]).expect("bind");
    socks[1].connect(&name[..]).expect("connect");
    // flows[i]: from socks[i] to the other.
    let mut flows = [Flow::default(), Flow::default()];
    // The read-ahead batch of `zmq-runtime/src/core/inbox.rs` (32) comes on
    // top of the HWMs.
    let limit = |from: usize| hwms[from].0 + hwms[1 - from].1 + 32;
    let recv = |to: usize, flows: &mut [Flow; 2]| -> Result<bool, TestCaseError> {
        let f = &mut flows[1 - to];
        match socks[to].try_recv() {
            Ok(m) => {
                let n: u64 = m.to_str().expect("text").parse().expect("number");
                prop_assert_eq!(n, f.received, "order, no loss, no duplicate");
                f.received += 1;
                Ok(true)
            }
            Err(RecvError::WouldBlock) => {
                prop_assert_eq!(f.sent, f.received, "a message in flight was not found");
                Ok(false)
            }
            Err(e) => Err(TestCaseError::fail(format!("recv: {e}"))),
        }
    };
    for &op in ops {
        match op {
            Op::Send(from) => {
                let f = &mut flows[from];
                match socks[from].try_send(f.sent.to_string()) {
                    Ok(()) => {
                        f.sent += 1;
                        prop_assert!(
                            f.sent - f.received <= limit(from) as u64,
                            "{} in flight past SNDHWM + RCVHWM + read-ahead {}",
                            f.sent - f.received,
                            limit(from)
                        );
                    }
                    Err(SendError::WouldBlock(_)) => {
                        prop_assert!(
                            f.sent - f.received >= hwms[from].0 as u64,
                            "refused with {} in flight, SNDHWM {}",
                            f.sent - f.received,
                            hwms[from].0
                        );
                    }
                    Err(e) => return Err(TestCaseError::fail(format!("send: {e}"))),
                }
            }
            Op::Recv(to) => {
                recv(to, &mut flows)?;
            }
        }
    }
    // Everything accepted arrives.
    for to in 0..2 {
        while recv(to, &mut flows)? {}
        prop_assert_eq!(flows[1 - to].sent, flows[1 - to].received);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn inproc_lanes_lose_nothing_and_hold_the_hwms(
        hwms in [(1..5usize, 1..5usize), (1..5usize, 1..5usize)],
        ops in proptest::collection::vec(op(), 1..200),
    ) {
        run(hwms, &ops)?;
    }
}
