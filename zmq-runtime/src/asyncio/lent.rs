//! The sides of a stream's pump that other threads borrow for a moment:
//! its writing side, to a thread that sends while the pump is idle
//! ([`Direct`]), and its reading side, to a thread blocked in `recv`
//! ([`DirectIn`]), which the pump leaves alone while it is lent.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};

use super::{AsyncIo, BacklogWriter};
use crate::core::{io_slices, Backlog, DirectRead, DirectWrite};
use crate::net::{ReadBuf, StdStream};
use crate::signal::Signal;

/// The pump's writing side lent to sending threads, for runtimes whose
/// [`AsyncIo::direct_ref`] allows it.
pub(super) struct Direct<I: AsyncIo> {
    pub(super) io: Arc<I>,
    pub(super) stream: Arc<I::Registered<StdStream>>,
    pub(super) out: Arc<Mutex<VecDeque<Bytes>>>,
    /// One direct write per idle spell of the pump: the first message after
    /// a pause goes out at once on the sender's thread (what a request or
    /// reply needs), those that follow it go to the pump, which batches a
    /// burst into few vectored writes (a syscall per 64-byte message would
    /// cap throughput well below what batching reaches).
    pub(super) armed: Arc<AtomicBool>,
    /// [`AsyncIo::backlog_writer`].
    pub(super) backlog_writer: BacklogWriter,
}

/// A stream's reading side: the receive buffer and whether the engine takes
/// more.
pub(super) struct Input {
    pub(super) rbuf: ReadBuf,
    /// False while the socket's receive pipe is full (see
    /// [`StreamCtl::next_read`](crate::StreamCtl::next_read)).
    pub(super) reading: bool,
    /// A [`DirectIn`] read bytes since the pump last looked.
    pub(super) read_elsewhere: bool,
    /// Reading is lent to a thread blocked in `recv` until then.
    pub(super) lent_until: Option<Instant>,
    /// The pump's, while it waits for a lend to end: whoever ends one early
    /// wakes it.
    pub(super) pump_waker: Option<Waker>,
}

/// How long a [`DirectIn`]'s attempt lends the stream's reading: each attempt
/// of a receiver that keeps spinning extends it, so that across an exchange
/// the pump, and the I/O thread under it, sleeps. A receiver that stops
/// without ending it (it got its message and went on) leaves the stream
/// unread at most this long before the pump reads again.
const LEND: Duration = Duration::from_millis(1);

/// The pump's reading side lent to a thread blocked in `recv`, for
/// runtimes whose [`AsyncIo::read_on_receiver`] asks for it.
pub(super) struct DirectIn<I: AsyncIo> {
    pub(super) io: Arc<I>,
    pub(super) stream: Arc<I::Registered<StdStream>>,
    pub(super) input: Arc<Mutex<Input>>,
    pub(super) signal: Arc<Signal>,
    /// [`Direct::armed`]: set again by a read, which means an exchange.
    pub(super) armed: Arc<AtomicBool>,
}

impl<I: AsyncIo> DirectRead for DirectIn<I> {
    fn read_now(&self, handle: &mut dyn FnMut(&mut BytesMut) -> bool) -> bool {
        // A closing stream's input is drained and dropped by its pump.
        if self.signal.is_closing() || self.signal.is_aborted() {
            return false;
        }
        let Some(stream) = self.io.direct_ref(&self.stream) else {
            return false;
        };
        // Busy: the pump is reading.
        let Ok(mut input) = self.input.try_lock() else {
            return false;
        };
        if !input.reading {
            return false;
        }
        input.lent_until = Some(self.io.now() + LEND);
        match stream.read_into(&mut input.rbuf) {
            Ok(n) if n > 0 => {
                input.reading = handle(&mut input.rbuf.buf);
                input.read_elsewhere = true;
                // The peer talks back: the answer this thread is about to
                // send goes out at once, on this thread, as the first message
                // after a pause does (the pump, which would otherwise have to
                // run to re-arm that, sleeps through the lend).
                self.armed.store(true, Ordering::Release);
                true
            }
            // Nothing yet, or an end or error, which the pump reads again
            // and reports once the lend is over.
            _ => false,
        }
    }

    fn end_lend(&self) {
        let mut input = self.input.lock().unwrap_or_else(PoisonError::into_inner);
        input.lent_until = None;
        let waker = input.pump_waker.take();
        drop(input);
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<I: AsyncIo> DirectWrite for Direct<I> {
    fn write_now(&self, backlog: Backlog, fill: &mut dyn FnMut(&mut VecDeque<Bytes>)) -> bool {
        let first_after_idle = self.armed.swap(false, Ordering::AcqRel);
        if !(first_after_idle || sender_writes(self.backlog_writer, backlog)) {
            return false;
        }
        let Some(stream) = self.io.direct_ref(&self.stream) else {
            return false;
        };
        // Busy: the pump is writing, and will look at the engine again.
        let Ok(mut out) = self.out.try_lock() else {
            return false;
        };
        if !out.is_empty() {
            return false;
        }
        fill(&mut out);
        while !out.is_empty() {
            let written = stream.write_vectored(&io_slices(&out));
            match written {
                Ok(n) if n > 0 => consume(&mut out, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                _ => return false,
            }
        }
        true
    }
}

/// Whether a sending thread writes `backlog` itself under `writer`'s rule
/// (besides the first message after a pause, which it always writes).
fn sender_writes(writer: BacklogWriter, backlog: Backlog) -> bool {
    match (writer, backlog) {
        (BacklogWriter::Pump, _) | (_, Backlog::Short) => false,
        (BacklogWriter::Sender, _) => true,
        (BacklogWriter::SenderOfSeveral, Backlog::Full) => false,
        (BacklogWriter::SenderOfSeveral, Backlog::FullOfSeveral) => true,
    }
}

/// Whether the stream's reading is lent to a receiving thread (see
/// [`DirectIn`]); if so, the pump is woken when the lend runs out or is ended.
pub(super) fn lent<I: AsyncIo>(
    io: &Arc<I>,
    lend_wait: &mut Hold,
    input: &mut Input,
    cx: &mut Context<'_>,
) -> bool {
    let Some(until) = input.lent_until else {
        *lend_wait = None;
        return false;
    };
    if io.now() < until {
        if !input
            .pump_waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            input.pump_waker = Some(cx.waker().clone());
        }
        if waits_until(io, lend_wait, until, cx) {
            return true;
        }
    }
    // Over (the timer may fire a moment before the clock reaches it).
    input.lent_until = None;
    input.pump_waker = None;
    *lend_wait = None;
    false
}

/// A pump's wait for a deadline (the end of a lend, or of a
/// [`Coalesce`](super::coalesce::Coalesce) hold), and the deadline it was set
/// for.
pub(super) type Hold = Option<(Instant, Pin<Box<dyn Future<Output = ()> + Send>>)>;

/// Whether `hold`'s wait for `until` (set up here if it is not the one
/// running) is still on; if so, the pump is woken when it ends.
pub(super) fn waits_until<I: AsyncIo>(
    io: &Arc<I>,
    hold: &mut Hold,
    until: Instant,
    cx: &mut Context<'_>,
) -> bool {
    if hold.as_ref().is_none_or(|(at, _)| *at != until) {
        let io = io.clone();
        *hold = Some((until, Box::pin(async move { io.sleep_until(until).await })));
    }
    let (_, wait) = hold.as_mut().expect("set above");
    wait.as_mut().poll(cx).is_pending()
}

/// Drops `n` written bytes from the front of a write queue (after a partial
/// vectored write).
pub fn consume(out: &mut VecDeque<Bytes>, mut n: usize) {
    while n > 0 {
        let Some(front) = out.front_mut() else {
            return;
        };
        if front.len() <= n {
            n -= front.len();
            out.pop_front();
        } else {
            front.advance(n);
            n = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_writes_a_backlog() {
        use Backlog::{Full, FullOfSeveral, Short};
        use BacklogWriter::{Pump, Sender, SenderOfSeveral};
        for (writer, backlog, sender) in [
            (Pump, Short, false),
            (Pump, Full, false),
            (Pump, FullOfSeveral, false),
            (Sender, Short, false),
            (Sender, Full, true),
            (Sender, FullOfSeveral, true),
            (SenderOfSeveral, Short, false),
            // A socket's only stream: its pump writes while the sender
            // produces.
            (SenderOfSeveral, Full, false),
            // One of a publisher's streams: the sender shares the writing.
            (SenderOfSeveral, FullOfSeveral, true),
        ] {
            assert_eq!(
                sender_writes(writer, backlog),
                sender,
                "{writer:?} {backlog:?}"
            );
        }
    }

    #[test]
    fn consume_drops_whole_and_partial_chunks() {
        let mut q: VecDeque<Bytes> = ["abc", "de", "fgh"]
            .iter()
            .map(|s| Bytes::from_static(s.as_bytes()))
            .collect();
        consume(&mut q, 4);
        assert_eq!(q.len(), 2);
        assert_eq!(&q[0][..], b"e");
        consume(&mut q, 1);
        assert_eq!(&q[0][..], b"fgh");
        consume(&mut q, 10);
        assert!(q.is_empty());
    }
}
