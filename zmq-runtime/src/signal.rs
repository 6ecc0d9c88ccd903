//! Wake-ups: per-stream signals for the I/O side, waiter lists for the
//! application side, and the thread parking that lets blocking code wait on the
//! same futures as async code.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use atomic_waker::AtomicWaker;
use event_listener::{Event, EventListener};
use smallvec::SmallVec;

/// Bits of a [`Signal`].
pub mod bits {
    /// The writer has bytes to take (`Action::Flush`).
    pub const FLUSH: u8 = 1;
    /// The reader may read again (`Action::ResumeRead`).
    pub const RESUME: u8 = 2;
    /// The stream is to be closed after its last bytes are written. Sticky.
    pub const CLOSE: u8 = 4;
    /// The stream is to be dropped now, unwritten bytes and all (LINGER ran
    /// out). Sticky.
    pub const ABORT: u8 = 8;
    /// On a socket's timer signal ([`Core::timer`](crate::Core::timer)): the
    /// deadline moved earlier, or the socket finished.
    pub const DEADLINE: u8 = 16;
    /// A one-shot answer from a blocking call (a host name lookup) is ready.
    pub(crate) const ANSWER: u8 = 32;
}

const STICKY: u8 = bits::CLOSE | bits::ABORT;

/// A stream's (or the timer's, or a lookup's) wake-up flags, raised by the engine side and
/// consumed by the I/O side without locks or allocation.
///
/// There are two waker slots so that a blocking runtime can run the reader and
/// the writer of a stream on separate threads; an async pump registers the same
/// waker in both.
#[derive(Debug, Default)]
pub struct Signal {
    flags: AtomicU8,
    writer: AtomicWaker,
    reader: AtomicWaker,
}

impl Signal {
    /// Raises `bit` and wakes whoever waits for it.
    pub fn raise(&self, bit: u8) {
        self.flags.fetch_or(bit, Ordering::AcqRel);
        // Every bit but RESUME is waited for in the writer's slot (see
        // `register_for`).
        if bit & !bits::RESUME != 0 {
            self.writer.wake();
        }
        if bit & (bits::RESUME | STICKY) != 0 {
            self.reader.wake();
        }
    }

    /// Clears `bit` and says whether it was raised. `CLOSE` and `ABORT` are
    /// never cleared.
    pub fn take(&self, bit: u8) -> bool {
        let clear = bit & !STICKY;
        self.flags.fetch_and(!clear, Ordering::AcqRel) & bit != 0
    }

    /// Whether any of `bits` is raised (nothing is cleared).
    pub fn is_raised(&self, bits: u8) -> bool {
        self.flags.load(Ordering::Acquire) & bits != 0
    }

    /// Whether the stream was told to close.
    pub fn is_closing(&self) -> bool {
        self.flags.load(Ordering::Acquire) & bits::CLOSE != 0
    }

    /// Whether the stream was told to stop at once.
    pub fn is_aborted(&self) -> bool {
        self.flags.load(Ordering::Acquire) & bits::ABORT != 0
    }

    /// Registers the waker of the writing side (woken by every bit but RESUME).
    pub fn register_writer(&self, waker: &Waker) {
        self.writer.register(waker);
    }

    /// Registers the waker of the reading side (woken by RESUME and CLOSE).
    pub fn register_reader(&self, waker: &Waker) {
        self.reader.register(waker);
    }

    /// Registers `waker` in the one slot the waiter of `bit` owns: the reader's
    /// if it waits for RESUME, else the writer's. A blocking reader and writer
    /// wait on the same signal from two threads, so each must keep to its own
    /// slot; CLOSE and ABORT wake both slots anyway.
    fn register_for(&self, bit: u8, waker: &Waker) {
        if bit & bits::RESUME != 0 {
            self.reader.register(waker);
        } else {
            self.writer.register(waker);
        }
    }

    /// Waits (async) until `bit` is raised, then clears it.
    pub fn wait(&self, bit: u8) -> SignalWait<'_> {
        SignalWait { signal: self, bit }
    }

    /// Blocks the thread until `bit` is raised (and clears it) or `deadline`
    /// passes; returns whether the bit was raised.
    pub fn wait_blocking(&self, bit: u8, deadline: Option<Instant>) -> bool {
        block_on(self.wait(bit), deadline).is_some()
    }
}

/// The future of [`Signal::wait`].
#[derive(Debug)]
pub struct SignalWait<'a> {
    signal: &'a Signal,
    bit: u8,
}

impl Future for SignalWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.signal.register_for(self.bit, cx.waker());
        if self.signal.take(self.bit) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// Application-side waiters for one condition (readable, writable, a monitor
/// event, closed), counted so that the engine side checks the condition only
/// when somebody waits.
#[derive(Debug, Default)]
pub(crate) struct Waiters {
    count: AtomicUsize,
    event: Event,
}

impl Waiters {
    /// Whether anybody waits. Read under the socket's lock: a waiter counts
    /// itself before it re-checks its condition under that lock, so the lock
    /// orders the two and no wake-up is lost.
    pub(crate) fn wanted(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    pub(crate) fn notify(&self) {
        self.event.notify(usize::MAX);
    }

    /// Starts waiting; re-check the condition after this and before waiting.
    pub(crate) fn listen(self: &Arc<Self>) -> Waiting {
        self.count.fetch_add(1, Ordering::Relaxed);
        Waiting {
            listener: self.event.listen(),
            waiters: self.clone(),
            since: Instant::now(),
            slot: None,
        }
    }
}

/// One registered wait for a socket condition (readable, writable, a monitor
/// event, closed): a future, which blocking code polls with a thread waker.
#[derive(Debug)]
pub struct Waiting {
    listener: EventListener,
    waiters: Arc<Waiters>,
    /// When the wait began (see [`poll_until`]'s spin).
    since: Instant,
    /// Held while the wait spins; `Some(None)` once none was free.
    slot: Option<Option<SpinSlot>>,
}

impl Waiting {
    /// This wait sleeps at once instead of spinning in [`poll_until`].
    pub(crate) fn without_spin(mut self) -> Self {
        self.slot = Some(None);
        self
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.waiters.count.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Future for Waiting {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.listener).poll(cx)
    }
}

/// Whether and how a wait in [`poll_until`] spins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Spin {
    /// It sleeps at once.
    Off,
    /// Each round gives the thread's core away first
    /// ([`Runtime::spin_yields_core`](crate::Runtime::spin_yields_core)).
    YieldingTheCore,
    /// Each round only wakes the task again.
    KeepingTheCore,
}

/// The one wait loop of the socket API (send, recv, their stream and sink,
/// the monitor): try; while the attempt finds nothing, register a wait, try
/// once more (what happened before the registration would otherwise be
/// missed), then wait. `attempt` returns `Some` with the final answer, which
/// includes "the socket is closed". The registration is kept in `wait`
/// between polls.
///
/// Unless `spin` says [`Spin::Off`] (it is asked only when a wait is pending,
/// not on every call), a wait stays scheduled for [`SPIN`] after it starts
/// (the task wakes itself), so that a message that comes within that time
/// costs no sleep and wake-up of the runtime's thread; those polls only look
/// at the registration, never at the socket (its lock belongs to the threads
/// that make progress). A wait made [`Waiting::without_spin`] sleeps at once:
/// a send's (it waits for the pump to make room), and a receive's after many
/// messages per wait (see `Streak` in `core/inbox.rs`). Blocking calls spin
/// on their thread instead (`block_on`).
pub(crate) fn poll_until<T>(
    cx: &mut Context<'_>,
    wait: &mut Option<Waiting>,
    spin: impl Fn() -> Spin,
    listen: impl Fn() -> Waiting,
    mut attempt: impl FnMut() -> Option<T>,
) -> Poll<T> {
    let pending = |w: &mut Waiting, cx: &mut Context<'_>| {
        let p = Pin::new(&mut *w).poll(cx).is_pending();
        if p && !IN_BLOCK_ON.get() {
            let spin = spin();
            if spin == Spin::Off {
                return p;
            }
            if w.since.elapsed() < SPIN {
                if w.slot.get_or_insert_with(SpinSlot::take).is_some() {
                    if spin == Spin::YieldingTheCore {
                        // Let the thread that will wake us run if it shares
                        // our core (another process's thread).
                        thread::yield_now();
                    }
                    cx.waker().wake_by_ref();
                }
            } else if let Some(slot) = &mut w.slot {
                // Done spinning: the slot is someone else's now.
                *slot = None;
            }
        }
        p
    };
    if let Some(w) = wait {
        if pending(w, cx) {
            return Poll::Pending;
        }
        *wait = None;
    }
    loop {
        if let Some(answer) = attempt() {
            *wait = None;
            return Poll::Ready(answer);
        }
        match wait {
            Some(w) => {
                if pending(w, cx) {
                    return Poll::Pending;
                }
                *wait = None;
            }
            None => *wait = Some(listen()),
        }
    }
}

/// Several waiters, ready when any one is.
pub(crate) type AnyOf = SmallVec<[Waiting; 4]>;

/// Waits (async) until any of `waits` fires.
pub(crate) async fn any_of(mut waits: AnyOf) {
    std::future::poll_fn(|cx| {
        for w in waits.iter_mut() {
            if Pin::new(w).poll(cx).is_ready() {
                return Poll::Ready(());
            }
        }
        Poll::Pending
    })
    .await;
}

/// How long a blocked thread keeps polling for its wake-up before it sleeps.
/// A wake-up that finds the thread asleep costs the waker a system call and
/// the sleeper a trip through the scheduler (tens of microseconds on a
/// virtual machine); one that comes within this window costs two atomic
/// operations. Request-reply and a receiver that keeps up with its sender
/// are woken within it nearly always.
const SPIN: Duration = Duration::from_micros(50);

/// How often a spinning [`block_on_assisted`] calls its `assist`: every this
/// many rounds of its spin (a multiple of the 16 between looks at the clock).
const ASSIST_EVERY: u32 = 16;

/// Waits spinning at once in this process (counted by [`SpinSlot`]).
static SPINNING: AtomicUsize = AtomicUsize::new(0);

/// The right to spin: at most one per core (and at least two) in a process
/// at a time. A latency-bound exchange has one or two waits spinning; a
/// server with many connections would otherwise keep a core busy polling
/// them, and a real event would wait its turn behind every spinning task.
/// Whoever gets no slot sleeps at once, as it did before spinning existed.
#[derive(Debug)]
pub(crate) struct SpinSlot(());

impl SpinSlot {
    /// A slot if one is free.
    pub(crate) fn take() -> Option<Self> {
        static MAX: OnceLock<usize> = OnceLock::new();
        let max =
            *MAX.get_or_init(|| thread::available_parallelism().map_or(2, |n| n.get().max(2)));
        if SPINNING.fetch_add(1, Ordering::Relaxed) < max {
            Some(Self(()))
        } else {
            SPINNING.fetch_sub(1, Ordering::Relaxed);
            None
        }
    }
}

impl Drop for SpinSlot {
    fn drop(&mut self) {
        SPINNING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Drives `f` on this thread, parking between polls, until it completes
/// (`Some`) or `deadline` passes (`None`): every blocking wait of the crate
/// is its async twin run this way.
pub(crate) fn block_on<F: Future>(f: F, deadline: Option<Instant>) -> Option<F::Output> {
    block_on_assisted(f, deadline, &NoAssist)
}

/// Work a thread blocked in [`block_on_assisted`] does itself while it spins,
/// instead of waiting for another thread to do it and wake it: a blocking
/// `recv` reads its socket's stream.
pub(crate) trait Assist {
    /// One attempt (every [`ASSIST_EVERY`] rounds of the spin); true when it
    /// got somewhere. What it brings in wakes the thread through the
    /// future's waker, as it would from another thread.
    fn attempt(&self) -> bool;
    /// The spin is over without a wake-up and the thread goes to sleep:
    /// whatever `attempt` took over is handed back.
    fn stop(&self);
}

/// No help: a plain wait.
struct NoAssist;

impl Assist for NoAssist {
    fn attempt(&self) -> bool {
        false
    }

    fn stop(&self) {}
}

/// As [`block_on`], with `assist` doing what it can while the thread spins.
pub(crate) fn block_on_assisted<F: Future>(
    f: F,
    deadline: Option<Instant>,
    assist: &dyn Assist,
) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    let _inside = InBlockOn::enter();
    THREAD_WAKER.with(|(me, waker)| {
        let mut cx = Context::from_waker(waker);
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return Some(v);
            }
            if !me.wait(deadline, assist) {
                return None;
            }
        }
    })
}

/// Runs a future to completion on this thread, waiting as blocking `send`
/// and `recv` do (a short spin, then a sleep): the async API (several sends
/// joined, [`poll_async`](crate::poll_async), a monitor stream) from
/// blocking code. Not for a thread that runs an async runtime's tasks.
pub fn block_on_thread<F: Future>(f: F) -> F::Output {
    block_on(f, None).expect("no deadline")
}

/// Wakes a thread blocked in [`block_on`]: the waker that lets blocking code
/// poll futures.
struct ThreadWaker {
    thread: Thread,
    /// Set by a wake-up, cleared by the woken thread.
    woken: AtomicBool,
    /// Set while the thread sleeps (or is about to): only then does a
    /// wake-up need the system call of `unpark`.
    asleep: AtomicBool,
}

impl ThreadWaker {
    /// Waits for a wake-up: polls for it for [`SPIN`] (yielding the core to
    /// any other thread that wants it), then sleeps. False once `deadline`
    /// has passed.
    fn wait(&self, deadline: Option<Instant>, assist: &dyn Assist) -> bool {
        let start = Instant::now();
        if deadline.is_some_and(|d| start >= d) {
            return false;
        }
        let slot = SpinSlot::take();
        let spin = if slot.is_some() { SPIN } else { Duration::ZERO };
        let spin_until = deadline.map_or(start + spin, |d| d.min(start + spin));
        let mut rounds = 0u32;
        while slot.is_some() {
            if self.woken.swap(false, Ordering::Acquire) {
                return true;
            }
            rounds += 1;
            // The clock is read every few rounds only; yielding lets the
            // thread that will wake us run when the cores are all taken.
            if rounds % 16 != 0 {
                std::hint::spin_loop();
                continue;
            }
            if Instant::now() >= spin_until {
                break;
            }
            if rounds % ASSIST_EVERY != 0 || !assist.attempt() {
                thread::yield_now();
            }
        }
        if slot.is_some() {
            assist.stop();
        }
        drop(slot);
        // Announce the sleep, then look once more: a waker either sees
        // `asleep` and unparks, or set `woken` before we looked (both sides
        // use SeqCst, so one of them sees the other's write).
        self.asleep.store(true, Ordering::SeqCst);
        // A sleep cut short without a wake-up is fine: the caller polls again.
        let slept = self.woken.swap(false, Ordering::SeqCst) || park_until(deadline);
        self.asleep.store(false, Ordering::SeqCst);
        slept
    }

    fn notify(&self) {
        self.woken.store(true, Ordering::SeqCst);
        if self.asleep.load(Ordering::SeqCst) {
            self.thread.unpark();
        }
    }
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.notify();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.notify();
    }
}

/// Marks this thread as inside [`block_on`] until dropped (a panic in the
/// future included), restoring what an outer `block_on` had set.
struct InBlockOn(bool);

impl InBlockOn {
    fn enter() -> Self {
        Self(IN_BLOCK_ON.replace(true))
    }
}

impl Drop for InBlockOn {
    fn drop(&mut self) {
        IN_BLOCK_ON.set(self.0);
    }
}

thread_local! {
    /// Set while this thread runs [`block_on`], which spins itself.
    static IN_BLOCK_ON: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };

    /// One per thread, made once: a blocking send or recv allocates nothing
    /// to wait.
    static THREAD_WAKER: (Arc<ThreadWaker>, Waker) = {
        let me = Arc::new(ThreadWaker {
            thread: thread::current(),
            woken: AtomicBool::new(false),
            asleep: AtomicBool::new(false),
        });
        (me.clone(), Waker::from(me))
    };
}

/// Parks until unparked or `deadline`; false once the deadline has passed.
/// Spurious wake-ups are fine: every caller re-checks its condition.
fn park_until(deadline: Option<Instant>) -> bool {
    match deadline {
        None => {
            thread::park();
            true
        }
        Some(d) => {
            let now = Instant::now();
            if now >= d {
                return false;
            }
            thread::park_timeout(d - now);
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn signal_bits_are_taken_once_and_close_sticks() {
        let s = Signal::default();
        assert!(!s.take(bits::FLUSH));
        s.raise(bits::FLUSH);
        s.raise(bits::RESUME);
        assert!(s.take(bits::FLUSH));
        assert!(!s.take(bits::FLUSH));
        assert!(s.take(bits::RESUME));
        s.raise(bits::CLOSE);
        assert!(s.take(bits::CLOSE));
        assert!(s.take(bits::CLOSE));
        assert!(s.is_closing());
    }

    #[test]
    fn blocking_wait_wakes_from_another_thread_and_times_out() {
        let s = Arc::new(Signal::default());
        let s2 = s.clone();
        let t = thread::spawn(move || s2.wait_blocking(bits::FLUSH, None));
        thread::sleep(Duration::from_millis(20));
        s.raise(bits::FLUSH);
        assert!(t.join().unwrap());
        let soon = Instant::now() + Duration::from_millis(10);
        assert!(!s.wait_blocking(bits::FLUSH, Some(soon)));
    }

    #[test]
    fn spinning_is_capped_per_process() {
        let max = thread::available_parallelism().map_or(2, |n| n.get().max(2));
        // Other tests of this binary may hold slots meanwhile: fewer may be
        // free, never more.
        let held: Vec<SpinSlot> = std::iter::from_fn(SpinSlot::take).take(max + 1).collect();
        assert!(held.len() <= max, "{} slots for {max} cores", held.len());
        assert!(SpinSlot::take().is_none() || held.len() < max);
    }

    #[test]
    fn ping_pong_never_loses_a_wake_up() {
        // Each side waits for the other's bit, so a wake-up lost between the
        // spin and the sleep would hang this test.
        let (a, b) = (Arc::new(Signal::default()), Arc::new(Signal::default()));
        let (a2, b2) = (a.clone(), b.clone());
        let t = thread::spawn(move || {
            for _ in 0..20_000 {
                assert!(a2.wait_blocking(bits::FLUSH, None));
                b2.raise(bits::FLUSH);
            }
        });
        for i in 0..20_000u32 {
            a.raise(bits::FLUSH);
            // Now and then the other side sleeps before it is woken.
            if i % 1000 == 0 {
                thread::sleep(Duration::from_millis(1));
            }
            assert!(b.wait_blocking(bits::FLUSH, None));
        }
        t.join().unwrap();
    }

    #[test]
    fn waiters_count_themselves_and_wake_together() {
        let w = Arc::new(Waiters::default());
        assert!(!w.wanted());
        let a = w.listen();
        let b = w.listen();
        assert!(w.wanted());
        let w2 = w.clone();
        let t = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            w2.notify();
        });
        assert!(block_on(any_of([a].into_iter().collect()), None).is_some());
        assert!(block_on(any_of([b].into_iter().collect()), None).is_some());
        t.join().unwrap();
        assert!(!w.wanted());
    }
}
