//! Per-message cost of routing, sans-IO: each iteration sends one message and
//! drains what it produced with `poll_dirty` / `poll_outbound`.
//!
//! - `push/N`: round-robin over N pipes.
//! - `router/N`: addressed sends, rotating over N peers' routing ids.
//! - `pub_fanout/N`: N subscribers, all subscribed to everything; one message
//!   is delivered N times (shared bytes, no copy).
//! - `pub_10k_subs/N`: 10,000 distinct topics spread over N subscribers; each
//!   message matches exactly one subscription.
//!
//! Run: `cargo bench -p zmq-patterns --bench routing`

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use zmq_patterns::{Pattern, PeerMeta, PipeId};
use zmtp_core::{Msg, SocketType};

const PIPES: [u64; 3] = [1, 10, 1_000];
const TOPICS: usize = 10_000;

fn body() -> Bytes {
    Bytes::from(vec![0xA5u8; 64])
}

/// Drains every pipe that has something new to write.
fn drain(sock: &mut Pattern) -> usize {
    let mut n = 0;
    while let Some(id) = sock.poll_dirty() {
        while let Some(out) = sock.poll_outbound(id) {
            black_box(&out);
            n += 1;
        }
    }
    n
}

fn socket(t: SocketType, peer: SocketType, n: u64, named: bool) -> Pattern {
    let mut s = Pattern::new(t);
    for i in 0..n {
        let id = if named {
            Bytes::from(format!("peer-{i}"))
        } else {
            Bytes::new()
        };
        s.attach(PipeId(i), PeerMeta::new(Some(peer), id)).unwrap();
    }
    s
}

fn push(c: &mut Criterion) {
    let mut g = c.benchmark_group("push");
    g.throughput(Throughput::Elements(1));
    for n in PIPES {
        let mut sock = socket(SocketType::Push, SocketType::Pull, n, false);
        let msg = Msg::single(body());
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                sock.send(black_box(msg.clone())).unwrap();
                drain(&mut sock)
            });
        });
    }
    g.finish();
}

fn router(c: &mut Criterion) {
    let mut g = c.benchmark_group("router");
    g.throughput(Throughput::Elements(1));
    for n in PIPES {
        let mut sock = socket(SocketType::Router, SocketType::Dealer, n, true);
        let msgs: Vec<Msg> = (0..n)
            .map(|i| {
                [Bytes::from(format!("peer-{i}")), body()]
                    .into_iter()
                    .collect()
            })
            .collect();
        let mut next = 0usize;
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                let msg = msgs[next].clone();
                next = (next + 1) % msgs.len();
                sock.send(black_box(msg)).unwrap();
                drain(&mut sock)
            });
        });
    }
    g.finish();
}

fn pub_fanout(c: &mut Criterion) {
    let mut g = c.benchmark_group("pub_fanout");
    g.throughput(Throughput::Elements(1));
    for n in PIPES {
        let mut sock = socket(SocketType::Pub, SocketType::Sub, n, false);
        for i in 0..n {
            sock.handle_subscribe(PipeId(i), Bytes::new());
        }
        let msg: Msg = [Bytes::from_static(b"topic"), body()].into_iter().collect();
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                sock.send(black_box(msg.clone())).unwrap();
                let delivered = drain(&mut sock);
                debug_assert_eq!(delivered as u64, n);
                delivered
            });
        });
    }
    g.finish();
}

fn pub_10k_subs(c: &mut Criterion) {
    let mut g = c.benchmark_group("pub_10k_subs");
    g.throughput(Throughput::Elements(1));
    for n in PIPES {
        let mut sock = socket(SocketType::Pub, SocketType::Sub, n, false);
        let topics: Vec<Bytes> = (0..TOPICS)
            .map(|k| Bytes::from(format!("topic-{k:05}")))
            .collect();
        for (k, t) in topics.iter().enumerate() {
            sock.handle_subscribe(PipeId(k as u64 % n), t.clone());
        }
        // Messages whose first frame extends one subscribed topic.
        let msgs: Vec<Msg> = (0..TOPICS)
            .step_by(97)
            .map(|k| {
                [Bytes::from(format!("topic-{k:05}/event")), body()]
                    .into_iter()
                    .collect()
            })
            .collect();
        let mut next = 0usize;
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                let msg = msgs[next].clone();
                next = (next + 1) % msgs.len();
                sock.send(black_box(msg)).unwrap();
                let delivered = drain(&mut sock);
                debug_assert_eq!(delivered, 1);
                delivered
            });
        });
    }
    g.finish();
}

criterion_group!(benches, push, router, pub_fanout, pub_10k_subs);
criterion_main!(benches);
