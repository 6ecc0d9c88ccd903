//! Writes on the sending thread: when the engine has bytes for a stream whose
//! writer is idle, the thread that produced them (a blocking `send`, usually)
//! writes them to the socket itself, without waking the runtime's pump. Only
//! what the socket does not take at once is left to the pump.
//!
//! Reads on the receiving thread, the other way round: a thread that waits in
//! a blocking `recv` on a socket with one stream reads that stream itself
//! while it spins ([`DirectRead`]), so that a reply is decoded on the thread
//! that wants it instead of on the runtime's I/O thread and handed over.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
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
    /// A writer that writes only the first message of a burst itself may
    /// write a [`Backlog`] too (see
    /// [`AsyncIo::backlog_writer`](crate::AsyncIo::backlog_writer)).
    fn write_now(&self, backlog: Backlog, fill: &mut dyn FnMut(&mut VecDeque<Bytes>)) -> bool;
}

/// What waits for a stream when a thread may write it (see
/// [`DirectWrite::write_now`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backlog {
    /// Less than a full write.
    Short,
    /// A full write
    /// ([`Engine::is_backlogged`](zmq_patterns::engine::Engine::is_backlogged)),
    /// for the socket's only stream.
    Full,
    /// A full write, and the socket has other streams that its pumps write
    /// too.
    FullOfSeveral,
}

/// A stream's reading side that a thread blocked in `recv` may borrow for a
/// moment, offered by an adapter through
/// [`StreamCtl::set_direct_read`](super::StreamCtl::set_direct_read).
///
/// Each attempt lends the stream's reading to the thread for a moment: the
/// pump leaves it alone (and its reactor unarmed for it, so that a reply does
/// not wake the I/O thread too) until the lend runs out or is ended, then
/// reads as before. Whatever a direct read leaves unread (an end of file, an
/// error, bytes that came after it) is the pump's to find then.
pub trait DirectRead: Send + Sync {
    /// If the reader is free and the stream reading (not paused at RCVHWM,
    /// not closing): extends the lend, reads once without blocking and hands
    /// the bytes to `handle`, which returns whether to go on reading. True
    /// when bytes were handed over; false for nothing read, an end of file
    /// or an error, all left to the pump.
    fn read_now(&self, handle: &mut dyn FnMut(&mut BytesMut) -> bool) -> bool;

    /// The thread stops reading (it is about to sleep): the pump reads
    /// again from now on.
    fn end_lend(&self);
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
        let backlog = match (engine.is_backlogged(c), self.streams.len() > 1) {
            (false, _) => Backlog::Short,
            (true, false) => Backlog::Full,
            (true, true) => Backlog::FullOfSeveral,
        };
        let mut more = false;
        let flushed = d.write_now(backlog, &mut |out| {
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
        self.note_timer_moved();
        flushed && !more
    }
}
