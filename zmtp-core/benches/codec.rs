//! Encode + decode throughput of one established connection pair, in memory:
//! messages are sent, their bytes copied once (as a socket would), decoded and
//! delivered. NULL and CURVE, 64 B, 1 KiB and 64 KiB bodies.
//!
//! Run: `cargo bench -p zmtp-core --bench codec`

// Virtual time needs one real starting instant; nothing here reads the clock again.
#![allow(clippy::disallowed_methods)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use zmtp_core::{AuthReply, Config, Connection, Event, KeyPair, MechanismConfig, Msg, SocketType};

fn pump(from: &mut Connection, wire: &mut BytesMut) {
    while let Some(chunk) = from.poll_transmit() {
        wire.extend_from_slice(&chunk);
    }
}

fn pair(curve: bool) -> (Connection, Connection) {
    let now = Instant::now();
    let (cm, sm) = if curve {
        let server = KeyPair::generate();
        (
            MechanismConfig::CurveClient {
                server_key: server.public,
                keypair: KeyPair::generate(),
            },
            MechanismConfig::CurveServer { keypair: server },
        )
    } else {
        (MechanismConfig::Null, MechanismConfig::Null)
    };
    let c = Config::new(SocketType::Push).with_mechanism(cm).unwrap();
    let s = Config::new(SocketType::Pull).with_mechanism(sm).unwrap();
    let mut push = Connection::new(Arc::new(c), now);
    let mut pull = Connection::new(Arc::new(s), now);
    let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
    for _ in 0..8 {
        pump(&mut push, &mut a);
        pump(&mut pull, &mut b);
        pull.handle_input(now, &mut a).unwrap();
        push.handle_input(now, &mut b).unwrap();
        while let Some(ev) = pull.poll_event() {
            if let Event::AuthRequest(req) = ev {
                pull.auth_reply(req.id, AuthReply::allow()).unwrap();
            }
        }
        while push.poll_event().is_some() {}
    }
    assert!(push.is_active() && pull.is_active());
    (push, pull)
}

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode_decode");
    for curve in [false, true] {
        for size in [64usize, 1024, 65536] {
            let batch: u64 = if size >= 65536 { 16 } else { 1000 };
            let (mut push, mut pull) = pair(curve);
            let payload = Bytes::from(vec![0xA5u8; size]);
            let mut wire = BytesMut::with_capacity(1 << 20);
            let now = Instant::now();
            group.throughput(Throughput::Elements(batch));
            let name = if curve { "curve" } else { "null" };
            group.bench_with_input(BenchmarkId::new(name, size), &size, |b, _| {
                b.iter(|| {
                    for _ in 0..batch {
                        push.send(Msg::single(payload.clone())).unwrap();
                    }
                    pump(&mut push, &mut wire);
                    pull.handle_input(now, &mut wire).unwrap();
                    let mut n = 0;
                    while let Some(ev) = pull.poll_event() {
                        black_box(&ev);
                        n += 1;
                    }
                    assert_eq!(n, batch);
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
