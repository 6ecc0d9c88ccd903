//! A fixed workload for instruction counts (`valgrind --tool=callgrind`):
//! one NULL connection pair in memory encodes and decodes 100,000 messages of
//! 64 bytes, a read of at most 64 KiB at a time, as a socket would deliver them.
//! `codec_count maxmsgsize` sets MAXMSGSIZE, `codec_count parts` sends
//! two-frame messages, `curve` runs the pair over CURVE, `size=N` sends N-byte
//! bodies and `n=N` sends N messages. Criterion's wall-clock numbers drift on a
//! shared machine; instruction counts do not. Per message, the inclusive counts
//! of `Connection::send` (encode) and `Connection::handle_input` (decode)
//! divided by N are what to compare.
//!
//! Run: `cargo build --release -p zmtp-core --example codec_count`, then
//! `valgrind --tool=callgrind target/release/examples/codec_count`, or e.g.
//! `... codec_count curve size=65536 n=300`.

// Virtual time needs one real starting instant; nothing here reads the clock again.
#![allow(clippy::disallowed_methods)]

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use zmtp_core::{AuthReply, Config, Connection, Event, KeyPair, MechanismConfig, Msg, SocketType};

const READ: usize = 64 * 1024;

fn pump(from: &mut Connection, wire: &mut BytesMut) {
    while let Some(chunk) = from.poll_transmit() {
        wire.extend_from_slice(&chunk);
    }
}

/// The value of a `name=N` argument.
fn arg_value(args: &[String], name: &str) -> Option<usize> {
    args.iter().find_map(|a| {
        let v = a.strip_prefix(name)?.strip_prefix('=')?;
        Some(
            v.parse()
                .unwrap_or_else(|_| panic!("{name}={v}: not a number")),
        )
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let max = args.iter().any(|a| a == "maxmsgsize");
    let parts = args.iter().any(|a| a == "parts");
    let curve = args.iter().any(|a| a == "curve");
    let size = arg_value(&args, "size").unwrap_or(64);
    let messages = arg_value(&args, "n").unwrap_or(100_000);
    let now = Instant::now();
    let (mut c, mut s) = (Config::new(SocketType::Push), Config::new(SocketType::Pull));
    if curve {
        let server = KeyPair::generate();
        let client = MechanismConfig::CurveClient {
            server_key: server.public,
            keypair: KeyPair::generate(),
        };
        c = c.with_mechanism(client).expect("curve client");
        s = s
            .with_mechanism(MechanismConfig::CurveServer { keypair: server })
            .expect("curve server");
    }
    if max {
        s = s.with_max_msg_size(Some(1 << 20));
    }
    let mut push = Connection::new(Arc::new(c), now);
    let mut pull = Connection::new(Arc::new(s), now);
    let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
    for _ in 0..8 {
        pump(&mut push, &mut a);
        pump(&mut pull, &mut b);
        pull.handle_input(now, &mut a).expect("handshake");
        push.handle_input(now, &mut b).expect("handshake");
        while let Some(ev) = pull.poll_event() {
            if let Event::AuthRequest(req) = ev {
                pull.auth_reply(req.id, AuthReply::allow()).expect("auth");
            }
        }
        while push.poll_event().is_some() {}
    }
    assert!(push.is_active() && pull.is_active());

    let body = Bytes::from(vec![0xA5u8; size]);
    let mut wire = BytesMut::new();
    for _ in 0..messages {
        let msg = if parts {
            Msg::from_iter([body.clone(), body.clone()])
        } else {
            Msg::single(body.clone())
        };
        push.send(msg).expect("send");
    }
    pump(&mut push, &mut wire);

    let mut input = BytesMut::new();
    let (mut received, mut bytes) = (0usize, 0usize);
    while !wire.is_empty() {
        let n = wire.len().min(READ);
        input.extend_from_slice(&wire.split_to(n));
        pull.handle_input(now, &mut input).expect("decode");
        while let Some(ev) = pull.poll_event() {
            if let Event::Message(m) = ev {
                received += 1;
                bytes += m.frames().iter().map(Bytes::len).sum::<usize>();
            }
        }
    }
    assert_eq!(received, messages);
    println!("{received} messages, {bytes} body bytes");
}
