//! Arbitrary bytes fed, in arbitrary chunks, to a NULL server connection that is
//! already past the handshake. Never panics; and feeding the same bytes in one
//! piece gives exactly the same events, output and error.
//!
//! Input: `[options, seed_lo, seed_hi, data...]`; options bits 0-2 pick the socket
//! types, bit 3 sets MAXMSGSIZE=1000, bit 4 makes the peer speak ZMTP 3.0, bits
//! 5-6 make it an older peer instead: 1 ZMTP/2.0, 2 ZMTP/1.0 with a signature
//! and revision 0, 3 ZMTP/1.0 without one (libzmq 2.x), so the data is read in
//! that framing.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use std::time::Instant;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use zmtp_core::wire::command::Command;
use zmtp_core::wire::frame::FrameHeader;
use zmtp_core::wire::greeting::{Greeting, MechanismName, GREETING_LEN};
use zmtp_core::wire::v1_frame::V1Header;
use zmtp_core::{Connection, ConnectionError, Event, Metadata, Protocol};

use common::{pair, server_config, Mech, Rng, ServerOpts};

fn active_server(options: u8, now: Instant) -> Connection {
    let (sty, cty) = pair(options & 7);
    let generation = (options >> 5) & 3;
    let opts = ServerOpts {
        max_msg_size: options & 8 != 0,
        no_zap_domain: generation != 0,
        ..ServerOpts::default()
    };
    let mut conn = Connection::new(server_config(Mech::Null, sty, opts), now);
    let mut input = BytesMut::new();
    let expected = match generation {
        0 => {
            let mut g = [0u8; GREETING_LEN];
            let minor = if options & 16 != 0 { 0 } else { 1 };
            Greeting::new(minor, MechanismName::Null, false).emit(&mut g);
            input.extend_from_slice(&g);
            let mut md = Metadata::new();
            md.push("Pattern-Type", cty.as_str());
            md.push("Identity", "peer");
            Command::Ready(md).emit(&mut input);
            Protocol::from_revision(3, minor)
        }
        1 | 2 => {
            input.extend_from_slice(&Greeting::signature(4));
            input.extend_from_slice(&[2 - generation, cty.number()]);
            if generation == 1 {
                FrameHeader {
                    more: false,
                    command: false,
                    size: 4,
                }
                .emit(&mut input);
            } else {
                V1Header {
                    more: false,
                    size: 4,
                }
                .emit(&mut input);
            }
            input.extend_from_slice(b"peer");
            Protocol::from_revision(2 - generation, 0)
        }
        _ => {
            V1Header {
                more: false,
                size: 4,
            }
            .emit(&mut input);
            input.extend_from_slice(b"peer");
            Protocol::Zmtp1
        }
    };
    conn.handle_input(now, &mut input).unwrap();
    assert!(conn.is_active());
    assert!(input.is_empty());
    let peer = conn.peer().unwrap();
    assert_eq!(peer.protocol, expected);
    assert_eq!(&peer.routing_id[..], b"peer");
    assert_eq!(conn.poll_event(), Some(Event::HandshakeSucceeded));
    if generation == 3 && sty.accepts_subscriptions() {
        // libzmq's catch-all for a subscriber that never subscribes.
        assert_eq!(
            conn.poll_event(),
            Some(Event::Subscribe(Default::default()))
        );
    }
    assert_eq!(conn.poll_event(), None);
    while conn.poll_transmit().is_some() {}
    conn
}

type Outcome = (Vec<Event>, Vec<u8>, Option<ConnectionError>);

fn drain(conn: &mut Connection, out: &mut Outcome, max_msg_size: bool) {
    while let Some(c) = conn.poll_transmit() {
        out.1.extend_from_slice(&c);
    }
    while let Some(ev) = conn.poll_event() {
        if let Event::Message(m) = &ev {
            assert!(!m.is_empty());
            // Any number of frames, but never more than MAXMSGSIZE in all.
            assert!(!max_msg_size || common::weight(m) <= common::MAX_MSG_SIZE);
        }
        out.0.push(ev);
    }
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 3 {
        return;
    }
    let (options, seed, data) = (
        input[0],
        u64::from(u16::from_le_bytes([input[1], input[2]])),
        &input[3..],
    );
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();

    // In random chunks.
    let mut chunked = active_server(options, now);
    let mut a: Outcome = Default::default();
    let mut rng = Rng::new(seed);
    let mut buf = BytesMut::new();
    let mut rest = data;
    while !rest.is_empty() {
        let n = rng.chunk_len().min(rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        let r = chunked.handle_input(now, &mut buf);
        drain(&mut chunked, &mut a, options & 8 != 0);
        if let Err(e) = r {
            common::assert_sticky(&mut chunked, &e, now);
            a.2 = Some(e);
            break;
        }
    }

    // In one piece.
    let mut whole = active_server(options, now);
    let mut b: Outcome = Default::default();
    let mut buf = BytesMut::from(data);
    let r = whole.handle_input(now, &mut buf);
    drain(&mut whole, &mut b, options & 8 != 0);
    b.2 = r.err();

    assert_eq!(a.0, b.0, "events differ between chunked and whole input");
    assert_eq!(a.1, b.1, "output differs between chunked and whole input");
    assert_eq!(a.2, b.2, "error differs between chunked and whole input");
});
