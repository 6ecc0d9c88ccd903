//! The I/O thread lets a burst of small messages build up after a small
//! write (`zmq-runtime/src/asyncio/coalesce.rs`): the end of every burst
//! must still reach libzmq on its own, with nothing sent after it to push
//! it out, burst after burst.

use runtime_blocking::{Socket, SocketType};
use zmq_test_support::peer::Peer;

const BURSTS: u32 = 20;
const PER_BURST: u32 = 300;

#[test]
fn each_burst_ends_up_at_libzmq_without_a_next_send() {
    let mut peer = Peer::start();
    peer.socket("pull", "PULL", &[]);
    let endpoint = peer.bind("pull", "tcp://127.0.0.1:*");
    let push = Socket::new(SocketType::Push).unwrap();
    push.connect(endpoint.as_str()).unwrap();

    for burst in 0..BURSTS {
        for seq in 0..PER_BURST {
            let mut body = [0u8; 64];
            body[..4].copy_from_slice(&burst.to_be_bytes());
            body[4..8].copy_from_slice(&seq.to_be_bytes());
            push.send(&body[..]).unwrap();
        }
        // Nothing more is sent until the whole burst has arrived.
        let mut got = Vec::new();
        while got.len() < PER_BURST as usize {
            let more = peer.recv_many("pull", PER_BURST as usize - got.len(), 5000);
            assert!(
                !more.is_empty(),
                "burst {burst}: {} of {PER_BURST} arrived",
                got.len()
            );
            got.extend(more);
        }
        for (seq, msg) in got.iter().enumerate() {
            let body = &msg[0];
            assert_eq!(&body[..4], &burst.to_be_bytes(), "burst");
            assert_eq!(&body[4..8], &(seq as u32).to_be_bytes(), "order");
        }
    }
}
