//! A whole socket engine as a CURVE server under a hostile CURVE client: a real
//! client connection (so the handshake and its boxes are genuine) whose bytes
//! the fuzzer delivers, replays, reorders, bit-flips, truncates or replaces
//! with garbage, while both applications send and receive and time passes.
//!
//! Nothing may panic, and the engine must never deliver a message the client
//! did not send: CURVE's boxes and strictly increasing nonces make a replayed,
//! tampered or invented MESSAGE a connection error, never data.
//!
//! Input: a selector byte (the socket pair), then ops of `op(1) arg(1)`.

#![no_main]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use zmq_patterns::engine::{Action, Engine, EngineConfig};
use zmtp_core::{Config, Connection, Event, KeyPair, MechanismConfig, Msg, SecretKey, SocketType};

/// (the engine's type, the client's type): pairs where the client's messages
/// reach the engine's application.
const PAIRS: [(SocketType, SocketType); 5] = [
    (SocketType::Router, SocketType::Dealer),
    (SocketType::Rep, SocketType::Req),
    (SocketType::Pull, SocketType::Push),
    (SocketType::Pair, SocketType::Pair),
    (SocketType::XPub, SocketType::Sub),
];

fn keypair(seed: u8) -> KeyPair {
    KeyPair::from_secret(SecretKey([seed; 32]))
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, ops)) = data.split_first() else {
        return;
    };
    let (ours, theirs) = PAIRS[usize::from(sel) % PAIRS.len()];
    let server_keys = keypair(1);
    let server_cfg = Config::new(ours)
        .with_mechanism(MechanismConfig::CurveServer {
            keypair: server_keys.clone(),
        })
        .unwrap();
    let client_cfg = Config::new(theirs)
        .with_mechanism(MechanismConfig::CurveClient {
            server_key: server_keys.public,
            keypair: keypair(2),
        })
        .unwrap()
        .with_heartbeat_ivl(Some(Duration::from_millis(100)));
    #[allow(clippy::disallowed_methods)]
    let mut now = Instant::now();
    let mut engine = Engine::new(now, EngineConfig::new(server_cfg));
    let listener = engine.bind("tcp://127.0.0.1:5555").unwrap();
    while engine.poll_action().is_some() {}
    let conn = engine.handle_accepted(now, listener, "127.0.0.1".into());
    let mut client = Connection::new(Arc::new(client_cfg), now);
    if theirs == SocketType::Sub {
        let _ = client.send_subscribe(b"");
    }

    // Every chunk the client produced, for replays; every payload it sent.
    let mut sent_chunks: Vec<Bytes> = Vec::new();
    let mut sent_payloads: HashSet<Vec<u8>> = HashSet::new();
    let mut to_engine = BytesMut::new();
    let mut to_client = BytesMut::new();
    let mut closed = false;
    let mut counter = 0u32;

    for op in ops.chunks(2) {
        let (code, arg) = (op[0], op.get(1).copied().unwrap_or(0));
        // The client's fresh output, possibly tampered with on the way.
        let mut fresh = Vec::new();
        while let Some(b) = client.poll_transmit() {
            sent_chunks.push(b.clone());
            fresh.extend_from_slice(&b);
        }
        match code % 8 {
            // Deliver the fresh bytes as they are.
            0 | 1 => to_engine.extend_from_slice(&fresh),
            // Flip one bit of the fresh bytes.
            2 if !fresh.is_empty() => {
                let at = usize::from(arg) * 7 % fresh.len();
                fresh[at] ^= 1 << (arg % 8);
                to_engine.extend_from_slice(&fresh);
            }
            // Replay an earlier chunk, then deliver the fresh bytes.
            3 if !sent_chunks.is_empty() => {
                let old = &sent_chunks[usize::from(arg) % sent_chunks.len()];
                to_engine.extend_from_slice(old);
                to_engine.extend_from_slice(&fresh);
            }
            // Drop the fresh bytes, or deliver only a prefix of them.
            4 => {
                let keep = fresh.len().min(usize::from(arg));
                to_engine.extend_from_slice(&fresh[..keep]);
            }
            // Garbage instead.
            5 => to_engine.extend_from_slice(&[arg; 3][..1 + usize::from(arg % 3)]),
            // The client application sends (never a payload seen before, so a
            // delivery can be traced to one send).
            6 => {
                to_engine.extend_from_slice(&fresh);
                counter += 1;
                let payload = format!("m{counter}-{arg}").into_bytes();
                sent_payloads.insert(payload.clone());
                let _ = client.send(Msg::from(payload));
            }
            // Time passes for both sides.
            _ => {
                to_engine.extend_from_slice(&fresh);
                now += Duration::from_millis(u64::from(arg) * 20);
                engine.handle_timeout(now);
                let _ = client.handle_timeout(now);
            }
        }
        if !closed && engine.wants_read(conn) && !to_engine.is_empty() {
            engine.handle_input(now, conn, &mut to_engine);
        }
        while let Some(b) = engine.poll_transmit(conn) {
            to_client.extend_from_slice(&b);
        }
        let _ = client.handle_input(now, &mut to_client);
        while let Some(ev) = client.poll_event() {
            if let Event::AuthRequest(_) = ev {
                unreachable!("a client is never asked for a decision");
            }
        }
        while let Some(action) = engine.poll_action() {
            if action == Action::Close(conn) {
                closed = true;
            }
        }
        // Whatever the engine's application receives, the client sent.
        while let Ok(msg) = engine.recv() {
            if let Some(last) = msg.frames().last() {
                if ours != SocketType::XPub {
                    assert!(
                        sent_payloads.contains(&last[..]),
                        "delivered a message nobody sent: {last:?}"
                    );
                }
            }
            if ours == SocketType::Rep || ours == SocketType::Router {
                let _ = engine.send(msg);
            }
        }
        if ours == SocketType::XPub && arg % 5 == 0 {
            let _ = engine.send(Msg::from(&b"news"[..]));
        }
    }
    if !closed {
        engine.handle_eof(now, conn);
    }
    while engine.recv().is_ok() {}
    engine.close(now);
});
