//! Sending threads write a stream's bytes themselves while its pump is idle
//! (and a publisher's sender the streams whose backlog waits for the I/O
//! thread) and hand the rest to the I/O thread: with several senders,
//! several connections and writes the socket only partly takes, libzmq must
//! still get every message once, each connection's in the order it was
//! sent.

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

/// Messages in the publisher's burst, each [`BURST_BODY`] bytes: several
/// full writes (256 KiB) per subscriber, more than the one I/O thread writes
/// before the sender has queued them all.
const BURST: u32 = 2000;
const BURST_BODY: usize = 2048;

/// Write system calls made by the calling thread so far (`syscw` of
/// /proc/thread-self/io).
fn writes_by_this_thread() -> u64 {
    let io = std::fs::read_to_string("/proc/thread-self/io").unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix("syscw: "))
        .expect("syscw")
        .trim()
        .parse()
        .unwrap()
}

/// The publisher's sending thread writes the subscribers' streams that wait
/// for the one I/O thread (`BacklogWriter::SenderOfSeveral`): each stream is
/// then written by two threads in turn, and every subscriber, libzmq's too,
/// must still get every message once, whole and in order.
#[test]
fn a_publisher_helps_write_its_subscribers_and_each_gets_every_message_in_order() {
    let mut peer = Peer::start();
    // A small SNDBUF: writes are partial, and the other thread takes over
    // mid-message.
    let xpub = Socket::builder(SocketType::XPub)
        .sndhwm(0)
        .sndbuf(Some(16 * 1024))
        .xpub_verbose(true)
        .build()
        .unwrap();
    let endpoint = xpub.bind("tcp://127.0.0.1:*").unwrap().to_string();
    peer.socket("sub", "SUB", &["subscribe=-".into(), "rcvhwm=0".into()]);
    peer.connect("sub", &endpoint);
    let ours: Vec<Socket> = (0..2)
        .map(|_| {
            // A lost message fails the test instead of hanging it.
            let s = Socket::builder(SocketType::Sub)
                .rcvhwm(0)
                .rcvtimeo(Some(std::time::Duration::from_secs(10)))
                .subscribe("")
                .build()
                .unwrap();
            s.connect(endpoint.as_str()).unwrap();
            s
        })
        .collect();
    // Every subscription in before the burst (verbose: one each).
    for _ in 0..3 {
        assert_eq!(&xpub.recv().unwrap().frames()[0][..], b"\x01");
    }

    let before = writes_by_this_thread();
    for seq in 0..BURST {
        let mut body = vec![(seq % 251) as u8; BURST_BODY];
        body[..4].copy_from_slice(&seq.to_be_bytes());
        xpub.send(body).unwrap();
    }
    let sender_writes = writes_by_this_thread() - before;

    let check = |who: &str, seq: u32, body: &[u8]| {
        assert_eq!(body.len(), BURST_BODY, "{who}: message {seq}");
        assert_eq!(
            u32::from_be_bytes(body[..4].try_into().unwrap()),
            seq,
            "{who}: out of order"
        );
        assert!(
            body[4..].iter().all(|&b| b == (seq % 251) as u8),
            "{who}: message {seq} corrupt"
        );
    };
    std::thread::scope(|s| {
        for (i, sub) in ours.iter().enumerate() {
            s.spawn(move || {
                for seq in 0..BURST {
                    let m = sub.recv().unwrap();
                    check(&format!("our SUB {i}"), seq, &m.frames()[0]);
                }
            });
        }
        let mut seq = 0;
        let mut idle_rounds = 0;
        while seq < BURST && idle_rounds < 50 {
            idle_rounds += 1;
            for m in peer.recv_many("sub", (BURST - seq) as usize, 100) {
                idle_rounds = 0;
                check("libzmq's SUB", seq, &m[0]);
                seq += 1;
            }
        }
        assert_eq!(seq, BURST, "libzmq's SUB got {seq} of {BURST}");
    });
    // How much of that the sending thread wrote depends on how far the I/O
    // thread fell behind, so it is shown, not asserted: debug builds here
    // made 13-14 writes on the sending thread, 4-5 with the pump writing
    // every backlog (`BacklogWriter::Pump`).
    eprintln!("writes on the sending thread: {sender_writes}");
}
