//! The per-stream byte pump of async runtimes: one task per stream moves
//! what [`StreamCtl`] has to write to the socket, and what the socket has
//! read to the engine.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::coalesce::Coalesce;
use super::lent::{consume, lent, waits_until, Direct, DirectIn, Hold, Input};
use super::AsyncIo;
use crate::core::{io_slices, ReadStep, StreamCtl, WriteStep};
use crate::net::{ReadBuf, StdStream};
use crate::signal::{bits, SpinSlot};

/// Reads and writes per wake-up before the pump yields to other tasks.
const BUDGET: usize = 32;

/// How often a spinning pump reads its socket itself: once per this many
/// polls. A read takes the socket's lock, which the kernel also needs to
/// deliver the bytes the pump waits for (the sender's core finds the socket
/// owned and leaves the packet to the owner's release); a read on every poll
/// kept delivery waiting. tokio, current thread, loopback, 64 B one-way:
/// every poll 14-17 µs, every 8th 10.3-10.6, every 16th 8.9-9.8, every
/// 32nd 9.9-10.3, every 64th 11.9-12.8, never 17-18 (tokio's readiness
/// lags, see above); over ipc 12.5-14.7 -> 7.9-9.3 µs. smol's pumps spin on
/// a thread of their own and did not change (4.3-4.8 µs).
const SPIN_READ_EVERY: u32 = 16;

/// Moves bytes between one stream and the engine until the stream ends.
pub(super) async fn pump<I: AsyncIo>(io: Arc<I>, stream: I::Registered<StdStream>, ctl: StreamCtl) {
    let stream = Arc::new(stream);
    let out = Arc::new(Mutex::new(VecDeque::new()));
    let armed = Arc::new(AtomicBool::new(false));
    let input = Arc::new(Mutex::new(Input {
        rbuf: ReadBuf::new(),
        reading: true,
        read_elsewhere: false,
        lent_until: None,
        pump_waker: None,
    }));
    if io.direct_ref(&stream).is_some() {
        ctl.set_direct(Arc::new(Direct {
            io: io.clone(),
            stream: stream.clone(),
            out: out.clone(),
            armed: armed.clone(),
            backlog_writer: io.backlog_writer(),
        }));
        if io.read_on_receiver() {
            ctl.set_direct_read(Arc::new(DirectIn {
                io: io.clone(),
                stream: stream.clone(),
                input: input.clone(),
                signal: ctl.shared_signal(),
                armed: armed.clone(),
            }));
        }
    }
    let mut p = Pump {
        spin: io.pump_spin(),
        read_budget: io.read_budget(),
        read: 0,
        lend_wait: None,
        coalesce: Coalesce::new(io.write_coalesce()),
        hold: None,
        io,
        stream,
        ctl,
        input,
        out,
        armed,
        last_progress: None,
        spin_poll: false,
        slot: None,
        spin_polls: 0,
    };
    std::future::poll_fn(|cx| p.poll(cx)).await;
}

struct Pump<I: AsyncIo> {
    io: Arc<I>,
    stream: Arc<I::Registered<StdStream>>,
    ctl: StreamCtl,
    /// Shared with [`DirectIn`]: whoever holds it reads, so bytes reach the
    /// engine in the stream's order.
    input: Arc<Mutex<Input>>,
    /// Shared with [`Direct`]: whoever holds it writes, so bytes leave in
    /// the engine's order.
    out: Arc<Mutex<VecDeque<Bytes>>>,
    /// Set when the pump found nothing to write: see [`Direct::armed`].
    armed: Arc<AtomicBool>,
    /// [`AsyncIo::read_budget`].
    read_budget: usize,
    /// Bytes read since the pump last let the application run: carried
    /// across the polls it wakes itself for (a spin, an exhausted
    /// [`BUDGET`]), which tokio's current-thread runtime runs again before
    /// the future in `block_on`, up to 61 times.
    read: usize,
    /// The pump's wake-up at the end of a lend of its reading (see
    /// [`DirectIn`]).
    lend_wait: Hold,
    /// How long to stay scheduled after bytes moved ([`AsyncIo::pump_spin`]).
    spin: Duration,
    /// When bytes last moved (`None`: idle for longer than `spin`).
    last_progress: Option<Instant>,
    /// This poll is one of the spin's.
    spin_poll: bool,
    /// Held while spinning.
    slot: Option<SpinSlot>,
    /// Polls of the spin since the last one that read the socket itself.
    spin_polls: u32,
    /// Whether the next write waits for more of a burst.
    coalesce: Coalesce,
    /// The wait of [`Coalesce`].
    hold: Hold,
}

impl<I: AsyncIo> Pump<I> {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut spin_poll = std::mem::take(&mut self.spin_poll);
        // Every SPIN_READ_EVERY-th poll of the spin reads the socket itself
        // where the runtime lends it: the reactor's readiness may lag behind
        // it (tokio looks at its driver only between batches of task polls,
        // and a spinning task keeps that batch going).
        let mut spin_read = spin_poll && self.spin_read_due();
        let signal = self.ctl.signal();
        signal.register_writer(cx.waker());
        signal.register_reader(cx.waker());
        for _ in 0..BUDGET {
            if self.read >= self.read_budget {
                self.read = 0;
                self.io.yield_now(cx);
                return Poll::Pending;
            }
            let mut progress = false;
            let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
            // A poll of the spin looks at the engine only when a signal says
            // to: taking the socket's lock every round would slow the threads
            // that send on it.
            let quiet = spin_poll
                && out.is_empty()
                && !signal.is_raised(bits::FLUSH | bits::CLOSE | bits::ABORT);
            spin_poll = false;
            // A burst building up: the bytes stay with the engine, and the
            // sender, seeing the pump busy (not armed), leaves them there too.
            let held = out.is_empty()
                && !signal.is_raised(bits::CLOSE | bits::ABORT)
                && hold(&self.io, &mut self.coalesce, &mut self.hold, cx);
            let step = if quiet || held {
                WriteStep::Idle
            } else {
                self.ctl.next_write(&mut out)
            };
            match step {
                WriteStep::Abort => return Poll::Ready(()),
                WriteStep::Finish => {
                    drop(out);
                    self.finish(cx);
                    return Poll::Ready(());
                }
                WriteStep::Idle if held => {}
                WriteStep::Idle => self.armed.store(true, Ordering::Release),
                WriteStep::Write => {
                    let o = &*out;
                    match self
                        .io
                        .poll_write_with(&self.stream, cx, |s| s.write_vectored(&io_slices(o)))
                    {
                        Poll::Ready(Ok(n)) if n > 0 => {
                            consume(&mut out, n);
                            if self.coalesce.is_on() {
                                let now = self.io.now();
                                self.coalesce.handle_written(n, out.is_empty(), now);
                            }
                            progress = true;
                        }
                        Poll::Ready(_) => {
                            self.ctl.handle_eof();
                            return Poll::Ready(());
                        }
                        Poll::Pending => {}
                    }
                }
            }
            drop(out);
            let mut input = self.input.lock().unwrap_or_else(PoisonError::into_inner);
            if std::mem::take(&mut input.read_elsewhere) && self.coalesce.is_on() {
                self.coalesce.handle_read(self.io.now());
            }
            // While closing with bytes still to write, the input waits: it is
            // drained by `finish`. While a receiving thread reads, the pump
            // does not.
            if self.ctl.next_read(&mut input.reading) == ReadStep::Read
                && !lent(&self.io, &mut self.lend_wait, &mut input, cx)
            {
                let Input { rbuf, reading, .. } = &mut *input;
                let direct = self.io.direct_ref(&self.stream).filter(|_| spin_read);
                spin_read = false;
                let polled = match direct.map(|s| s.read_into(rbuf)) {
                    Some(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                        // Nothing yet: register with the reactor all the
                        // same, in case this was the spin's last poll.
                        self.io
                            .poll_read_with(&self.stream, cx, |s| s.read_into(rbuf))
                    }
                    Some(r) => Poll::Ready(r),
                    None => self
                        .io
                        .poll_read_with(&self.stream, cx, |s| s.read_into(rbuf)),
                };
                match polled {
                    Poll::Ready(Ok(n)) if n > 0 => {
                        self.read += n;
                        *reading = self.ctl.handle_input(&mut rbuf.buf);
                        if self.coalesce.is_on() {
                            self.coalesce.handle_read(self.io.now());
                        }
                        progress = true;
                    }
                    Poll::Ready(_) => {
                        self.ctl.handle_eof();
                        return Poll::Ready(());
                    }
                    Poll::Pending => {}
                }
            }
            drop(input);
            if progress {
                if !self.spin.is_zero() {
                    self.last_progress = Some(Instant::now());
                    // A busy pump needs no slot; another may spin meanwhile.
                    self.slot = None;
                }
            } else {
                // Stay scheduled for a moment after the last byte moved: the
                // next message of a burst, or the answer to what was just
                // written, then needs no wake-up of this task (a system call
                // and a trip through the scheduler when the runtime sleeps).
                let recent = self.last_progress.is_some_and(|t| t.elapsed() < self.spin);
                if recent && (self.slot.is_some() || self.spin_poll_allowed()) {
                    self.spin_poll = true;
                    cx.waker().wake_by_ref();
                } else {
                    // Idle until the reactor or a signal wakes it, which
                    // lets whatever was woken meanwhile run first.
                    self.read = 0;
                    self.last_progress = None;
                    self.slot = None;
                }
                return Poll::Pending;
            }
        }
        // Out of budget with work left: let other tasks run, then continue.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl<I: AsyncIo> Pump<I> {
    /// Whether this poll of the spin reads the socket (see [`SPIN_READ_EVERY`]).
    fn spin_read_due(&mut self) -> bool {
        self.spin_polls += 1;
        if self.spin_polls < SPIN_READ_EVERY {
            return false;
        }
        self.spin_polls = 0;
        true
    }

    /// Takes a spin slot if one is free (see [`SpinSlot`]).
    fn spin_poll_allowed(&mut self) -> bool {
        self.slot = SpinSlot::take();
        self.slot.is_some()
    }

    /// A FIN after the last byte, then what the peer has already sent is read
    /// and dropped: closing a socket with unread input makes the kernel send
    /// a reset, which can throw away bytes not yet delivered.
    fn finish(&mut self, cx: &mut Context<'_>) {
        let _ = self.io.poll_write_with(&self.stream, cx, |s| {
            s.shutdown_write();
            Ok(())
        });
        let mut input = self.input.lock().unwrap_or_else(PoisonError::into_inner);
        let rbuf = &mut input.rbuf;
        for _ in 0..BUDGET {
            match self
                .io
                .poll_read_with(&self.stream, cx, |s| s.read_into(rbuf))
            {
                Poll::Ready(Ok(n)) if n > 0 => rbuf.buf.clear(),
                _ => return,
            }
        }
    }
}

/// Whether the pump's next write waits (see [`Coalesce`]); if so, the pump
/// is woken when the wait is over.
fn hold<I: AsyncIo>(
    io: &Arc<I>,
    coalesce: &mut Coalesce,
    hold: &mut Hold,
    cx: &mut Context<'_>,
) -> bool {
    // The clock only for a wait that may be running (never, where the
    // runtime does not coalesce: a spinning pump polls here constantly).
    let until = coalesce
        .is_waiting()
        .then(|| coalesce.poll_deadline(io.now()))
        .flatten();
    let Some(until) = until else {
        *hold = None;
        return false;
    };
    if waits_until(io, hold, until, cx) {
        return true;
    }
    // The timer may fire a moment before the clock reaches `until`.
    *hold = None;
    false
}
