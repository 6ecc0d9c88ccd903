//! A whole socket engine (pattern + connections) fed by a hostile peer: a valid
//! NULL greeting and READY for a compatible socket type, then arbitrary bytes in
//! arbitrary chunks, while the application sends, receives and lets time pass.
//! Nothing may panic, whatever the socket type.
//!
//! Selector bits 0-3 pick the pair (bit 4: the peer speaks ZMTP 3.0); values 11
//! to 15, which no pair needs, make the peer an older one instead: then the
//! first data byte picks the pair and the generation (ZMTP/2.0, versioned 1.0,
//! unversioned 1.0), and the rest is read in that framing.

#![no_main]

use std::time::{Duration, Instant};

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use zmq_patterns::engine::{Action, Engine, EngineConfig};
use zmtp_core::wire::frame::FrameHeader;
use zmtp_core::wire::greeting::{Greeting, MechanismName};
use zmtp_core::wire::metadata::Metadata;
use zmtp_core::wire::v1_frame::V1Header;
use zmtp_core::{Config, Msg, SocketType};

/// (our type, the peer's type announced in READY)
const PAIRS: [(SocketType, SocketType); 11] = [
    (SocketType::Rep, SocketType::Req),
    (SocketType::Req, SocketType::Rep),
    (SocketType::Router, SocketType::Dealer),
    (SocketType::Dealer, SocketType::Router),
    (SocketType::Pub, SocketType::Sub),
    (SocketType::XPub, SocketType::XSub),
    (SocketType::Sub, SocketType::Pub),
    (SocketType::XSub, SocketType::XPub),
    (SocketType::Pull, SocketType::Push),
    (SocketType::Push, SocketType::Pull),
    (SocketType::Pair, SocketType::Pair),
];

fn peer_preamble(peer: SocketType, minor: u8) -> Vec<u8> {
    let mut g = [0u8; 64];
    Greeting::new(minor, MechanismName::Null, false).emit(&mut g);
    let mut out = g.to_vec();
    let mut md = Metadata::new();
    md.push("Pattern-Type", peer.as_str());
    md.push("Identity", "peer");
    zmtp_core::wire::command::Command::Ready(md).emit(&mut out);
    out
}

/// What a ZMTP/2.0 (`generation` 0), versioned 1.0 (1) or unversioned 1.0 (2)
/// peer sends first: its greeting and its identity "peer".
fn old_peer_preamble(peer: SocketType, generation: u8) -> Vec<u8> {
    let mut out = Vec::new();
    if generation < 2 {
        out.extend_from_slice(&Greeting::signature(4));
        out.extend_from_slice(&[1 - generation, peer.number()]);
    }
    if generation == 0 {
        FrameHeader {
            more: false,
            command: false,
            size: 4,
        }
        .emit(&mut out);
    } else {
        V1Header {
            more: false,
            size: 4,
        }
        .emit(&mut out);
    }
    out.extend_from_slice(b"peer");
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let legacy = usize::from(sel & 15) >= PAIRS.len();
    let (ours, peer, rest) = if legacy {
        let Some((&pick, rest)) = rest.split_first() else {
            return;
        };
        let (ours, peer) = PAIRS[usize::from(pick) % PAIRS.len()];
        (ours, peer, rest)
    } else {
        let (ours, peer) = PAIRS[usize::from(sel & 15)];
        (ours, peer, rest)
    };
    let minor = u8::from(sel & 16 == 0);
    let mut cfg = EngineConfig::new(Config::new(ours));
    cfg.options.sndhwm = 4;
    cfg.options.rcvhwm = 4;
    #[allow(clippy::disallowed_methods)]
    let mut now = Instant::now();
    let mut engine = Engine::new(now, cfg);
    if ours == SocketType::Sub {
        engine.subscribe(b"");
    }
    let listener = engine.bind("tcp://127.0.0.1:5555").unwrap();
    while engine.poll_action().is_some() {}
    let conn = engine.handle_accepted(now, listener, "127.0.0.1".into());
    let preamble = if legacy {
        let generation = data[1] / PAIRS.len() as u8 % 3;
        old_peer_preamble(peer, generation)
    } else {
        peer_preamble(peer, minor)
    };
    let mut rbuf = BytesMut::from(&preamble[..]);
    engine.handle_input(now, conn, &mut rbuf);

    let mut chunks = rest.chunks(1 + usize::from(sel >> 5) * 17);
    let mut closed = false;
    for (i, chunk) in chunks.by_ref().enumerate() {
        if !closed && engine.wants_read(conn) {
            rbuf.extend_from_slice(chunk);
            engine.handle_input(now, conn, &mut rbuf);
        }
        // The application side, driven by the input too.
        match chunk.first().map(|b| b % 4) {
            Some(0) => {
                let _ = engine.recv();
            }
            Some(1) => {
                let msg = match ours {
                    SocketType::Router => Msg::from_iter(["peer", "reply"]),
                    _ => Msg::from(chunk.to_vec()),
                };
                let _ = engine.send(msg);
            }
            Some(2) => {
                now += Duration::from_millis(u64::from(chunk.len() as u8) * 10);
                engine.handle_timeout(now);
            }
            _ => {}
        }
        while engine.poll_transmit(conn).is_some() {}
        while let Some(action) = engine.poll_action() {
            if action == Action::Close(conn) {
                closed = true;
            }
        }
        if i % 7 == 6 {
            let _ = engine.can_recv();
            let _ = engine.can_send();
        }
    }
    if !closed {
        engine.handle_eof(now, conn);
    }
    while engine.recv().is_ok() {}
    engine.close(now);
    let _ = engine.is_closed();
});
