//! Admission of accepted streams: the cap on connections that have not
//! finished their handshake, so that peers which connect and then say
//! nothing (or half a greeting) cannot hold a socket's memory and
//! descriptors beyond a known bound while HANDSHAKE_IVL runs out.
//!
//! A stream over the cap is closed at once, before a byte is written to it,
//! rather than left unaccepted in the kernel's backlog: a full backlog drops
//! every SYN, a good peer's included, and TCP retries those after one
//! second, then three, then seven; a closed stream costs its peer one
//! reconnect interval (100 ms by default in libzmq) and the listener keeps
//! draining the backlog, so a good peer gets in as soon as a slot frees.

use super::{ConnId, Engine};

impl Engine {
    /// Whether an accepted stream may start its handshake now: false while
    /// [`EngineConfig::max_pending_handshakes`](super::EngineConfig::max_pending_handshakes)
    /// accepted streams are still in theirs.
    pub fn has_handshake_room(&self) -> bool {
        self.max_pending_handshakes
            .is_none_or(|max| self.streams.pending_accepted() < max)
    }

    /// Accepted streams that have not finished their handshake yet.
    pub fn pending_handshakes(&self) -> usize {
        self.streams.pending_accepted()
    }

    /// A stream just accepted, when the socket is at its cap of pending
    /// handshakes: its refusal, as an id for the runtime to drive as any
    /// other stream's, with an [`Action::Close`](super::Action::Close) for it
    /// queued at once and nothing to write. The engine keeps no record of a
    /// refused stream, so every later call naming it is ignored.
    pub(super) fn refuse_over_cap(&mut self) -> Option<ConnId> {
        if self.has_handshake_room() {
            return None;
        }
        let refused = ConnId(self.alloc());
        self.actions.push_back(super::Action::Close(refused));
        Some(refused)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use bytes::BytesMut;
    use zmtp_core::{Config, SocketType};

    use crate::engine::{Action, EngineConfig};

    use super::*;

    /// The whole greeting and READY of a NULL DEALER.
    fn dealer_hello() -> BytesMut {
        let mut g = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 0];
        g.extend_from_slice(b"NULL");
        g.resize(64, 0);
        let mut ready = vec![5];
        ready.extend_from_slice(b"READY");
        ready.push(11);
        ready.extend_from_slice(b"Socket-Type");
        ready.extend_from_slice(&6u32.to_be_bytes());
        ready.extend_from_slice(b"DEALER");
        g.extend_from_slice(&[0x04, u8::try_from(ready.len()).unwrap()]);
        g.extend_from_slice(&ready);
        BytesMut::from(&g[..])
    }

    // A test reads the clock once to start its virtual timeline.
    #[allow(clippy::disallowed_methods)]
    #[test]
    fn accepted_streams_beyond_the_cap_are_closed_and_handshaken_ones_free_a_slot() {
        let now = Instant::now();
        let mut cfg = EngineConfig::new(Config::new(SocketType::Router));
        cfg.max_pending_handshakes = Some(1);
        let mut e = Engine::new(now, cfg);
        let l = e.bind("tcp://127.0.0.1:5555").unwrap();
        while e.poll_action().is_some() {}

        let first = e.handle_accepted(now, l, "127.0.0.1:1".into());
        assert!(!e.has_handshake_room());
        assert!(e.poll_action().is_some_and(|a| a == Action::Flush(first)));
        let refused = e.handle_accepted(now, l, "127.0.0.1:2".into());
        assert_eq!(e.poll_action(), Some(Action::Close(refused)));
        assert_eq!(
            e.poll_transmit(refused),
            None,
            "not a byte to a refused peer"
        );
        assert_eq!(e.pending_handshakes(), 1);

        // The first finishes its handshake: its slot is free.
        e.handle_input(now, first, &mut dealer_hello());
        assert_eq!(e.pending_handshakes(), 0);
        while e.poll_action().is_some() {}
        let second = e.handle_accepted(now, l, "127.0.0.1:3".into());
        assert_eq!(e.poll_action(), Some(Action::Flush(second)));
        // One that ends before its handshake frees its slot too.
        e.handle_eof(now, second);
        assert_eq!(e.pending_handshakes(), 0);
    }
}
