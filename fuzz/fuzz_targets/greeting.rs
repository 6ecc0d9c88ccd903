//! `Greeting::parse` on arbitrary bytes: never panics; a parsed greeting emits
//! bytes that parse back to the same fields; verdicts are consistent across
//! prefixes (an error never turns into "need more", a greeting needs 64 bytes).
//!
//! Then the staged exchange of a whole connection, fed the same bytes one at a
//! time, on a NULL socket (which downgrades to ZMTP/1.0 and 2.0 peers) and a
//! PLAIN one (which refuses them): after each byte, what the connection has sent
//! is exactly what libzmq would have sent by then, never more (the signature;
//! the major version after the peer's signature; after its revision either the
//! rest of a 3.x greeting or, to an old peer, the socket type and identity).
#![no_main]

use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use zmtp_core::wire::greeting::{Greeting, MechanismName, GREETING_LEN};
use zmtp_core::{
    Config, Connection, ConnectionError, MechanismConfig, Phase, Protocol, SocketType,
};

/// What our side must have sent once the peer's first `n` bytes of `data`
/// arrived, while the greeting is under way (`None`: past the greeting, where
/// the handshake may send more).
fn staged_len(data: &[u8], n: usize, downgrade: bool) -> Option<usize> {
    let unversioned = data.first().is_some_and(|&b| b != 0xFF) || (n >= 10 && data[9] & 1 == 0);
    if n == 0 || unversioned || n < 10 {
        // Unversioned: our signature was the header of an empty identity.
        return Some(10);
    }
    if n == 10 {
        return Some(11);
    }
    match data[10] {
        0 | 1 if !downgrade => Some(11),
        0 | 1 if n == 11 => Some(12),
        // Signature, major, type, then an empty identity frame (2 bytes either
        // framing) and nothing else until the application sends.
        0 | 1 => Some(14),
        _ if n < GREETING_LEN => Some(GREETING_LEN),
        _ => None,
    }
}

fn staged(data: &[u8], downgrade: bool) {
    let mechanism = if downgrade {
        MechanismConfig::Null
    } else {
        MechanismConfig::PlainServer
    };
    let cfg = Config::new(SocketType::Pull)
        .with_mechanism(mechanism)
        .unwrap();
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now();
    let mut conn = Connection::new(Arc::new(cfg), now);
    let mut sent = 0;
    let mut buf = BytesMut::new();
    for n in 0..=data.len().min(2 * GREETING_LEN) {
        if n > 0 {
            buf.extend_from_slice(&data[n - 1..n]);
            let r = conn.handle_input(now, &mut buf);
            if let Err(ConnectionError::DowngradeRefused { peer }) = &r {
                assert!(!downgrade);
                assert!(peer.is_legacy());
            }
        }
        while let Some(c) = conn.poll_transmit() {
            sent += c.len();
        }
        if let Some(want) = staged_len(data, n, downgrade) {
            if conn.phase() != Phase::Active {
                assert_eq!(sent, want, "after {n} peer bytes");
            }
        }
        if let Some(peer) = conn.peer() {
            assert!(!peer.protocol.is_legacy() || downgrade);
            if peer.protocol == Protocol::Zmtp2 {
                assert_eq!(data[10], 1);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    staged(data, true);
    staged(data, false);

    let full = Greeting::parse(data);
    if let Ok(Some(g)) = full {
        assert!(data.len() >= GREETING_LEN);
        // Revisions 0 and 1 are the older protocols; libzmq takes any other
        // for 3.x.
        assert!(g.major >= 2);
        let mut out = [0u8; GREETING_LEN];
        g.emit(&mut out);
        assert_eq!(Greeting::parse(&out), Ok(Some(g)));
        assert_eq!(&out[10..32], &data[10..32]);
        assert_eq!(out[32] != 0, data[32] != 0);
        // Only the first 64 bytes matter.
        assert_eq!(Greeting::parse(&data[..GREETING_LEN]), Ok(Some(g)));
        if let Some(m) = MechanismName::from_padded(&g.mechanism) {
            assert_eq!(g.mechanism_text(), m.as_str());
            // `Greeting::new` always says major 3.
            assert_eq!(
                Greeting::new(g.minor, m, g.as_server),
                Greeting { major: 3, ..g }
            );
        }
    }

    // Prefix consistency: once an error is seen it stays the same error.
    let mut first_err = None;
    for n in 0..=data.len().min(GREETING_LEN) {
        match (Greeting::parse(&data[..n]), first_err) {
            (Err(e), None) => first_err = Some(e),
            (Err(e), Some(f)) => assert_eq!(e, f, "error changed at prefix {n}"),
            (Ok(_), Some(f)) => panic!("prefix {n} parses after error {f:?}"),
            (Ok(Some(_)), None) => assert_eq!(n, GREETING_LEN),
            (Ok(None), None) => assert!(n < GREETING_LEN),
        }
    }
    if let Some(f) = first_err {
        assert_eq!(full, Err(f));
    }
});
