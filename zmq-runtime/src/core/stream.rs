//! One stream's driver, as a runtime adapter sees it: what to write next,
//! where read bytes go, and the [`Signal`] that says when to look again. The
//! bytes of a `send` reach the OS here: the engine encodes them, [`StreamCtl`]
//! hands them to the adapter's pump, which writes them to the socket.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use bytes::{Bytes, BytesMut};
use smallvec::SmallVec;
use zmq_patterns::engine::ConnId;

use super::{thread_mark, Core, DirectRead, DirectWrite, LockedState};
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
            // A writer on another thread than the latest sender's leaves the
            // messages it copies for that sender to drop: the sender's
            // thread most likely allocated their bodies, and glibc frees
            // them badly from elsewhere (see `Engine::set_keep_spent`).
            st.engine.set_keep_spent(st.sender != thread_mark());
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
            if st.engine.has_spent() {
                self.core.0.spent.store(true, Ordering::Relaxed);
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::thread::{self, ThreadId};
    use std::time::Instant;

    use zmtp_core::{Config, Connection, Msg, SocketType};

    use super::*;
    use crate::core::by_hand::{Kind, CONNECTS};

    /// A body that records the thread its last handle was dropped on.
    struct Traced {
        body: Vec<u8>,
        dropped_on: Arc<Mutex<Vec<ThreadId>>>,
    }

    impl AsRef<[u8]> for Traced {
        fn as_ref(&self) -> &[u8] {
            &self.body
        }
    }

    impl Drop for Traced {
        fn drop(&mut self) {
            self.dropped_on
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(thread::current().id());
        }
    }

    /// Moves bytes both ways between the socket's stream and `peer`, a few
    /// rounds; each side leaves in its buffer what it cannot take yet.
    fn exchange(ctl: &StreamCtl, peer: &mut Connection) {
        let (mut to_ctl, mut to_peer) = (BytesMut::new(), BytesMut::new());
        for _ in 0..6 {
            while let Some(b) = peer.poll_transmit() {
                to_ctl.extend_from_slice(&b);
            }
            ctl.handle_input(&mut to_ctl);
            let mut out = VecDeque::new();
            ctl.fill(&mut out, usize::MAX);
            for b in &out {
                to_peer.extend_from_slice(b);
            }
            peer.handle_input(Instant::now(), &mut to_peer).unwrap();
        }
    }

    /// A writer on another thread than the sender's copies queued messages
    /// out of the pipe and leaves them to the sender, whose next send
    /// drops them: every body is freed on the sending thread.
    #[test]
    fn the_sender_drops_what_a_writer_on_another_thread_copied() {
        let push = crate::Socket::<Kind>::new(SocketType::Push).unwrap();
        push.connect("tcp://127.0.0.1:9").unwrap();
        let id = CONNECTS.lock().unwrap().pop().expect("a connect asked");
        let ctl = push
            .core()
            .handle_connected(id, "127.0.0.1:9".into())
            .unwrap();
        let mut peer = Connection::new(Arc::new(Config::new(SocketType::Pull)), Instant::now());
        exchange(&ctl, &mut peer);
        assert!(peer.is_active(), "handshake done");

        let dropped_on = Arc::new(Mutex::new(Vec::new()));
        let n = 600;
        for i in 0..n {
            let mut body = format!("t{i:05}").into_bytes();
            body.resize(1024, b'.');
            let traced = Traced {
                body,
                dropped_on: dropped_on.clone(),
            };
            push.try_send(Msg::single(Bytes::from_owner(traced)))
                .unwrap();
        }
        // The stream's byte limit took some at once; the rest is queued.
        let direct = dropped_on.lock().unwrap().len();
        assert!(direct > 0 && direct < n, "{direct} of {n}");

        // The writer, on a thread of its own, takes everything.
        thread::scope(|s| {
            s.spawn(|| {
                let mut out = VecDeque::new();
                while ctl.fill(&mut out, usize::MAX) > 0 {
                    out.clear();
                }
            });
        });
        assert_eq!(
            dropped_on.lock().unwrap().len(),
            direct,
            "kept for the sender"
        );

        // The sender's next send drops them, here.
        push.try_send("last").unwrap();
        let me = thread::current().id();
        let dropped_on = dropped_on.lock().unwrap();
        assert_eq!(dropped_on.len(), n);
        assert!(dropped_on.iter().all(|t| *t == me));
    }
}
