//! Writes on the sending thread: when the engine has bytes for a stream whose
//! writer is idle, the thread that produced them (a blocking `send`, usually)
//! writes them to the socket itself, without waking the runtime's pump. Only
//! what the socket does not take at once is left to the pump.

use std::collections::VecDeque;

use bytes::Bytes;
use zmq_patterns::engine::ConnId;

use super::stream::WRITE_LIMIT;
use super::LockedState;

/// A stream's writing side that any thread may borrow for a moment, offered by
/// an adapter through [`StreamCtl::set_direct`](super::StreamCtl::set_direct).
pub trait DirectWrite: Send + Sync {
    /// If the writer is free and holds no unwritten bytes: lets `fill` queue
    /// the engine's output and writes it without blocking. True when every
    /// byte went out; false when the pump must be woken for the rest (or for
    /// everything: the writer was busy, the socket full, or failed, which
    /// the pump then finds out and reports).
    ///
    /// `full`: a full write waits for this stream
    /// ([`Engine::is_backlogged`](zmq_patterns::engine::Engine::is_backlogged)).
    /// A writer that writes only the first message of a burst itself may
    /// write this too (see [`AsyncIo::write_backlog_on_sender`](crate::AsyncIo::write_backlog_on_sender)).
    fn write_now(&self, full: bool, fill: &mut dyn FnMut(&mut VecDeque<Bytes>)) -> bool;
}

impl LockedState {
    /// Flushes stream `c` on this thread if its adapter allows it; false when
    /// its pump must be woken instead.
    pub(super) fn flush_direct(&mut self, c: ConnId) -> bool {
        let (Some(d), Some(sig)) = (self.direct.get(&c), self.streams.get(&c)) else {
            return false;
        };
        // A closing stream's last bytes and FIN are the pump's.
        if sig.is_closing() || sig.is_aborted() {
            return false;
        }
        let engine = &mut self.engine;
        let full = engine.is_backlogged(c);
        let mut more = false;
        let flushed = d.write_now(full, &mut |out| {
            let mut added = 0;
            while added < WRITE_LIMIT {
                let Some(chunk) = engine.poll_transmit(c) else {
                    return;
                };
                added += chunk.len();
                out.push_back(chunk);
            }
            // What the engine holds beyond one batch is the pump's.
            more = true;
        });
        flushed && !more
    }
}
