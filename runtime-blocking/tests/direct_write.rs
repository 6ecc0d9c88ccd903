//! Sending threads write a stream's bytes themselves while its pump is idle
//! and hand the rest to the I/O thread: with several senders, several
//! connections and writes the socket only partly takes, libzmq must still
//! get every message once, each connection's in the order it was sent.

use runtime_blocking::{Socket, SocketType};
use zmq_test_support::peer::Peer;

const THREADS: u8 = 4;
const PER_THREAD: u32 = 200;
/// Every this many messages one is large, so that a 4 KB SNDBUF makes the
/// sending thread's write partial and the pump take over mid-message.
const LARGE_EVERY: u32 = 40;

#[test]
fn concurrent_senders_over_two_libzmq_connections_keep_each_order() {
    let mut peer = Peer::start();
    let mut endpoints = Vec::new();
    for id in ["a", "b"] {
        peer.socket(id, "PULL", &[]);
        endpoints.push(peer.bind(id, "tcp://127.0.0.1:*"));
    }
    let push = Socket::builder(SocketType::Push)
        .sndbuf(Some(4096))
        .build()
        .unwrap();
    for ep in &endpoints {
        push.connect(ep.as_str()).unwrap();
    }
    // Both connections up before the senders start, so that both carry
    // messages: one goes round each, and comes back.
    push.send("hello").unwrap();
    push.send("hello").unwrap();
    for id in ["a", "b"] {
        assert_eq!(peer.recv_many(id, 1, 5000).len(), 1, "hello on {id}");
    }

    std::thread::scope(|s| {
        for t in 0..THREADS {
            let push = &push;
            s.spawn(move || {
                for seq in 0..PER_THREAD {
                    let len = if seq % LARGE_EVERY == LARGE_EVERY - 1 {
                        32 * 1024
                    } else {
                        5
                    };
                    let mut body = vec![t; len];
                    body[1..5].copy_from_slice(&seq.to_be_bytes());
                    push.send(body).unwrap();
                }
            });
        }
    });

    let total = usize::from(THREADS) * PER_THREAD as usize;
    let mut seen = vec![Vec::new(); usize::from(THREADS)];
    let mut last = [
        vec![None::<u32>; usize::from(THREADS)],
        vec![None; usize::from(THREADS)],
    ];
    let mut per_conn = [0; 2];
    let mut got = 0;
    let mut idle_rounds = 0;
    while got < total && idle_rounds < 100 {
        idle_rounds += 1;
        for (c, id) in ["a", "b"].into_iter().enumerate() {
            for msg in peer.recv_many(id, total - got, 20) {
                idle_rounds = 0;
                let body = &msg[0];
                let t = usize::from(body[0]);
                let seq = u32::from_be_bytes(body[1..5].try_into().unwrap());
                assert!(body[5..].iter().all(|&b| b == body[0]), "corrupt body");
                assert!(
                    last[c][t].is_none_or(|l| l < seq),
                    "connection {id}: thread {t} message {seq} after {:?}",
                    last[c][t]
                );
                last[c][t] = Some(seq);
                seen[t].push(seq);
                per_conn[c] += 1;
                got += 1;
            }
        }
    }
    assert_eq!(got, total, "messages per connection: {per_conn:?}");
    for (t, mut seqs) in seen.into_iter().enumerate() {
        seqs.sort_unstable();
        assert_eq!(seqs, (0..PER_THREAD).collect::<Vec<_>>(), "thread {t}");
    }
    assert!(per_conn.iter().all(|&n| n > 0), "{per_conn:?}");
}
