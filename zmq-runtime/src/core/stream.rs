//! One stream's driver, as a runtime adapter sees it: what to write next,
//! where read bytes go, and the [`Signal`] that says when to look again. The
//! bytes of a `send` reach the OS here: the engine encodes them, [`StreamCtl`]
//! hands them to the adapter's pump, which writes them to the socket.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use smallvec::SmallVec;
use zmq_patterns::engine::ConnId;

use super::{Core, DirectWrite, LockedState};
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
        self.core.with(|st| {
            let now = st.now();
            st.engine.handle_input(now, self.id, buf);
            st.engine.wants_read(self.id)
        })
    }

    /// Lets the threads that send on this socket write this stream's bytes
    /// themselves while its writer is idle (see [`DirectWrite`]), instead
    /// of waking the pump for each message.
    pub fn set_direct(&self, writer: Arc<dyn DirectWrite>) {
        self.core.with_data(|st| {
            st.direct.insert(self.id, writer);
        });
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
        self.core.with(|st| {
            st.streams.remove(&self.id);
            st.direct.remove(&self.id);
            let now = st.now();
            st.engine.handle_closed(now, self.id);
        });
    }
}

impl Core {
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
