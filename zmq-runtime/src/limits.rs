//! The limits that protect a server from its peers, on the builder and on a
//! live socket: the cap on accepted connections still in their handshake
//! (see `zmq_patterns::engine::EngineConfig::max_pending_handshakes`).
//!
//! The other limits are libzmq options with their own places: MAXMSGSIZE and
//! HANDSHAKE_IVL on the builder and in `options`, SNDHWM and RCVHWM (a full
//! receive pipe stops reading its stream, so a peer that sends faster than
//! the application receives fills its own kernel buffers, not our heap).

use crate::builder::Builder;
use crate::error::Error;
use crate::socket::Socket;

impl<R> Builder<R> {
    /// How many accepted connections may be in their handshake at once
    /// (`None`: no cap, as libzmq); a connection accepted beyond is closed at
    /// once, before a byte is written, and its peer reconnects as from any
    /// closed connection. Default
    /// [`EngineConfig::DEFAULT_MAX_PENDING_HANDSHAKES`](zmq_patterns::engine::EngineConfig::DEFAULT_MAX_PENDING_HANDSHAKES)
    /// (1,024). Not a libzmq option.
    ///
    /// Peers that connect and then send nothing, or half a greeting, each
    /// hold a descriptor and a little memory until HANDSHAKE_IVL (30 s by
    /// default) ends them; the cap bounds what they can hold however fast
    /// they come, and handshaken peers are not counted, so they are served
    /// whatever the unfinished ones do.
    pub fn max_pending_handshakes(mut self, max: Option<usize>) -> Self {
        self.engine.max_pending_handshakes = max;
        self
    }
}

impl<R> Socket<R> {
    /// The cap on accepted connections still in their handshake (see
    /// [`Builder::max_pending_handshakes`]), from the next accept on: a
    /// lowered cap closes none of the connections already in their
    /// handshake.
    pub fn set_max_pending_handshakes(&self, max: Option<usize>) -> Result<(), Error> {
        self.update(|c| {
            c.max_pending_handshakes = max;
            Ok(())
        })
    }

    /// The cap on accepted connections still in their handshake.
    pub fn max_pending_handshakes(&self) -> Option<usize> {
        self.read(|c| c.max_pending_handshakes)
    }

    /// How many accepted connections are in their handshake now: what
    /// [`Socket::max_pending_handshakes`] bounds.
    pub fn pending_handshakes(&self) -> usize {
        self.core().with(|st| st.engine.pending_handshakes())
    }
}
