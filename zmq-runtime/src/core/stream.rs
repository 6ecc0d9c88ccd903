//! One stream's driver, as a runtime adapter sees it: what to write next,
//! where read bytes go, and the [`Signal`] that says when to look again. The
//! bytes of a `send` reach the OS here: the engine encodes them, [`StreamCtl`]
//! hands them to the adapter's pump, which writes them to the socket.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::{Arc, PoisonError};

use bytes::{Bytes, BytesMut};
use smallvec::SmallVec;
use zmq_patterns::engine::ConnId;

use super::{Core, DirectRead, DirectWrite, LockedState};
use crate::signal::{bits, Signal};

/// Bytes asked of the engine per write: enough to batch thousands of small
/// messages into one vectored write.
pub(super) const WRITE_LIMIT: usize = 256 * 1024;

/// Slices per vectored write (Linux takes up to 1024; large bodies are few).
pub const MAX_IOV: usize = 64;

/// The next move of a stream's writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteStep {
    /// Write what `out` holds (see [`io_slices`]), then [`consume`](crate::consume)
    /// what went.
    Write,
    /// Nothing to write: wait for [`bits::FLUSH`] (or CLOSE, ABORT).
    Idle,
    /// Everything is written and the stream is to close: send FIN, drain the
    /// input, close.
    Finish,
    /// Close at once, unwritten bytes and all (LINGER ran out).
    Abort,
}

/// The next move of a stream's reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadStep {
    /// Read, and hand the bytes to [`StreamCtl::handle_input`].
    Read,
    /// The receive pipe is full: wait for [`bits::RESUME`] (or CLOSE, ABORT).
    Paused,
    /// The stream is closing: read and drop until the peer's FIN.
    Drain,
    /// Stop now.
    Abort,
}

/// The slices of one vectored write of `out`.
pub fn io_slices(out: &VecDeque<Bytes>) -> SmallVec<[IoSlice<'_>; MAX_IOV]> {
    out.iter().take(MAX_IOV).map(|b| IoSlice::new(b)).collect()
}

/// A runtime's handle on one stream: take bytes to write, give bytes read, and
/// watch the [`Signal`] for more work. Dropping it tells the socket the stream
/// is gone.
pub struct StreamCtl {
    core: Core,
    id: ConnId,
    signal: Arc<Signal>,
}

impl StreamCtl {
    /// The stream's wake-up flags.
    pub fn signal(&self) -> &Signal {
        &self.signal
    }

    /// The stream's wake-up flags, for a helper that outlives this borrow
    /// (a [`DirectRead`] checks them before it reads).
    pub fn shared_signal(&self) -> Arc<Signal> {
        self.signal.clone()
    }

    /// Moves up to about `limit` bytes of output into `out` (several chunks, for
    /// one vectored write; large message bodies stay shared, not copied).
    /// Returns the number of bytes added.
    pub fn fill(&self, out: &mut VecDeque<Bytes>, limit: usize) -> usize {
        self.core.with_data(|st| {
            let mut added = 0;
            while added < limit {
                match st.engine.poll_transmit(self.id) {
                    Some(chunk) => {
                        added += chunk.len();
                        out.push_back(chunk);
                    }
                    None => break,
                }
            }
            st.note_timer_moved();
            added
        })
    }

    /// What the writing side does next, given the bytes it still holds in
    /// `out` (refilled here when empty): the one place that reads FLUSH,
    /// CLOSE and ABORT for writers of every runtime.
    pub fn next_write(&self, out: &mut VecDeque<Bytes>) -> WriteStep {
        if self.signal.is_aborted() {
            return WriteStep::Abort;
        }
        let closing = self.signal.is_closing();
        self.signal.take(bits::FLUSH);
        if out.is_empty() {
            self.fill(out, WRITE_LIMIT);
        }
        if !out.is_empty() {
            WriteStep::Write
        } else if closing {
            WriteStep::Finish
        } else {
            WriteStep::Idle
        }
    }

    /// What the reading side does next; `reading` is false while the
    /// socket's receive pipe is full (set from [`StreamCtl::handle_input`]).
    pub fn next_read(&self, reading: &mut bool) -> ReadStep {
        if self.signal.is_aborted() {
            return ReadStep::Abort;
        }
        if self.signal.is_closing() {
            return ReadStep::Drain;
        }
        if self.signal.take(bits::RESUME) {
            *reading = true;
        }
        if *reading {
            ReadStep::Read
        } else {
            ReadStep::Paused
        }
    }

    /// Bytes arrived: whole frames are taken from the front of `buf`. Returns
    /// whether to keep reading (false while the socket's receive pipe is full:
    /// wait for [`bits::RESUME`]).
    pub fn handle_input(&self, buf: &mut BytesMut) -> bool {
        self.core.handle_stream_input(self.id, buf)
    }

    /// Lets the threads that send on this socket write this stream's bytes
    /// themselves while its writer is idle (see [`DirectWrite`]), instead
    /// of waking the pump for each message.
    pub fn set_direct(&self, writer: Arc<dyn DirectWrite>) {
        self.core.with_data(|st| {
            st.direct.insert(self.id, writer);
        });
    }

    /// Lets a thread blocked in `recv` on this socket read this stream
    /// itself while it spins, when it is the socket's only stream (see
    /// [`DirectRead`]).
    pub fn set_direct_read(&self, reader: Arc<dyn DirectRead>) {
        self.core
            .0
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(self.id, reader);
    }

    /// The stream reached end of file or failed.
    pub fn handle_eof(&self) {
        self.core.with(|st| {
            let now = st.now();
            st.engine.handle_eof(now, self.id);
        });
    }
}

impl Drop for StreamCtl {
    fn drop(&mut self) {
        self.core
            .0
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
        self.core.with(|st| {
            st.streams.remove(&self.id);
            st.direct.remove(&self.id);
            let now = st.now();
            st.engine.handle_closed(now, self.id);
        });
    }
}

impl Core {
    /// Bytes read from stream `id`, by its pump or a direct reader: whether
    /// to go on reading.
    fn handle_stream_input(&self, id: ConnId, buf: &mut BytesMut) -> bool {
        self.with(|st| {
            let now = st.now();
            st.engine.handle_input(now, id, buf);
            st.engine.wants_read(id)
        })
    }

    /// Reads the socket's only stream on this thread, if its adapter lends
    /// it (see [`DirectRead`]): what a blocking `recv` does while it spins.
    /// True when bytes came in.
    pub(crate) fn read_direct(&self) -> bool {
        let Some((id, reader)) = self.sole_reader() else {
            return false;
        };
        reader.read_now(&mut |buf| self.handle_stream_input(id, buf))
    }

    /// The thread that called [`Core::read_direct`] stops: the stream's
    /// pump reads again.
    pub(crate) fn end_direct_read(&self) {
        if let Some((_, reader)) = self.sole_reader() {
            reader.end_lend();
        }
    }

    /// The socket's stream and its [`DirectRead`], if it has exactly one
    /// stream and the stream's adapter offered one.
    fn sole_reader(&self) -> Option<(ConnId, Arc<dyn DirectRead>)> {
        let readers = self
            .0
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // With several streams, which one the answer comes from is anyone's
        // guess, and reading each in turn would cost a system call apiece:
        // the pumps read them. A lend left on one when another came runs
        // out by itself.
        if readers.len() != 1 {
            return None;
        }
        readers.iter().next().map(|(id, r)| (*id, r.clone()))
    }

    /// Records a new stream and hands the adapter its driver.
    pub(super) fn add_stream(&self, st: &mut LockedState, conn: ConnId) -> StreamCtl {
        let signal = Arc::new(Signal::default());
        // The greeting is queued already: the first poll of the stream writes it.
        signal.raise(bits::FLUSH);
        st.streams.insert(conn, signal.clone());
        StreamCtl {
            core: self.clone(),
            id: conn,
            signal,
        }
    }
}
