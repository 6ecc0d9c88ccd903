//! The limits that protect a server from its peers, on the builder and on a
//! live socket: the cap on accepted connections still in their handshake
//! (see `zmq_patterns::engine::EngineConfig::max_pending_handshakes`), and
//! the HWMs in bytes, which bound what one connection's queues hold however
//! large its messages (see `zmq_patterns::Options::sndhwm_bytes`).
//!
//! What a connection holds beyond its queues is bounded too: the bytes
//! encoded and not yet written (64 KiB in the connection, at most 256 KiB
//! more in the write being made, then the pipe waits), and its read
//! buffer, which grows to the window (256 KiB) plus the frame being read, so
//! that MAXMSGSIZE bounds the frame.
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

    /// SNDHWM in bytes (not a libzmq option): a pipe towards a peer is full,
    /// as at SNDHWM, while the messages queued on it hold this many bytes;
    /// a full pipe does what it does at SNDHWM (a send waits, or PUB and
    /// ROUTER drop), so nothing is lost that SNDHWM would keep. `None`
    /// (default): no limit, as libzmq.
    pub fn sndhwm_bytes(mut self, max: Option<usize>) -> Self {
        self.engine.options.sndhwm_bytes = max;
        self
    }

    /// RCVHWM in bytes (not a libzmq option): a peer whose received and
    /// unread messages hold this many bytes is not read until the
    /// application catches up. Default
    /// [`Options::DEFAULT_RCVHWM_BYTES`](zmq_patterns::Options::DEFAULT_RCVHWM_BYTES)
    /// (1 MiB); `None`: no limit.
    pub fn rcvhwm_bytes(mut self, max: Option<usize>) -> Self {
        self.engine.options.rcvhwm_bytes = max;
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

    /// SNDHWM in bytes (see [`Builder::sndhwm_bytes`]), for every pipe at
    /// once, as SNDHWM.
    pub fn set_sndhwm_bytes(&self, max: Option<usize>) -> Result<(), Error> {
        self.update(|c| {
            c.options.sndhwm_bytes = max;
            Ok(())
        })
    }

    /// SNDHWM in bytes.
    pub fn sndhwm_bytes(&self) -> Option<usize> {
        self.read(|c| c.options.sndhwm_bytes)
    }

    /// RCVHWM in bytes (see [`Builder::rcvhwm_bytes`]), for every pipe at
    /// once, as RCVHWM: a peer stopped at the old limit is read again when it
    /// is raised.
    pub fn set_rcvhwm_bytes(&self, max: Option<usize>) -> Result<(), Error> {
        self.update(|c| {
            c.options.rcvhwm_bytes = max;
            Ok(())
        })
    }

    /// RCVHWM in bytes.
    pub fn rcvhwm_bytes(&self) -> Option<usize> {
        self.read(|c| c.options.rcvhwm_bytes)
    }

    /// How many accepted connections are in their handshake now: what
    /// [`Socket::max_pending_handshakes`] bounds.
    pub fn pending_handshakes(&self) -> usize {
        self.core().with(|st| st.engine.pending_handshakes())
    }
}
