//! Messages taken from the engine ahead of `recv`, in batches: a receiver that
//! keeps up with its peer takes the socket's lock once per batch instead of
//! once per message, so the thread that feeds the engine (a blocking
//! runtime's I/O thread, a multi-thread runtime's pump, an inproc sender)
//! rarely finds the lock taken.
//!
//! Only the types whose `recv` is a plain queue prefetch (PULL, DEALER, PAIR,
//! ROUTER, SUB, XSUB): REQ and REP track a conversation, XPUB_MANUAL acts on
//! the notification read last, and STREAM's empty frames announce
//! connections, so those take one message per lock.
//!
//! What this holds counts against nothing: it is at most [`BATCH`] messages
//! and [`BATCH_BYTES`] bytes beyond RCVHWM, the same order as the slack
//! libzmq's pipes give (they grant credit back in batches too).
//!
//! The inbox is locked for every message, so its lock is a spin lock (the
//! socket state's kind, see [`super::lock`]), which releases with a plain
//! store where std's mutex swaps (an atomic read-modify-write): one extra
//! std lock and unlock per message cost a tcp receiver of 64-byte messages
//! 15 % of its CPU time, and the spin lock took 8 % off it (tokio, 4 M
//! messages: 277 -> 255 ms of `perf stat` task-clock, 14.2 -> 15.0 M msg/s,
//! medians of 6). It is held only to pop a message or to take a batch under
//! the socket's lock.
//!
//! It also counts how many messages the socket's receivers take between
//! waits ([`Streak`]), which decides whether their next wait spins.

use std::collections::VecDeque;

use spin::mutex::SpinMutexGuard;

use zmq_patterns::RecvError;
use zmtp_core::{Msg, SocketType};

use super::lock::Lock;
use super::Core;

/// Messages taken per lock at most.
pub(super) const BATCH: usize = 32;

/// Bytes taken per lock at most (a batch stops after the message that
/// reaches it, so a large message is never split off).
pub(super) const BATCH_BYTES: usize = 64 * 1024;

/// The lock and queue of [`Core`]'s messages taken ahead.
pub(super) type Inbox = Lock<Taken>;

/// What the inbox's lock guards.
#[derive(Default)]
pub(super) struct Taken {
    /// The messages taken ahead, oldest first.
    msgs: VecDeque<Msg>,
    /// How many messages the receivers take between waits.
    streak: Streak,
}

/// A receiver's messages per wait, which says whether its next wait spins
/// (see `poll_until` in `signal.rs`).
///
/// A receiver that keeps up with a fast sender finds the socket empty once
/// per batch the I/O side decodes, and a spin there keeps a core polling
/// that the I/O side's thread (tokio's multi-thread runtime's worker, which
/// reads and decodes the stream) and the sender need: on two cores, tcp,
/// 1 KiB, a receiver in `#[tokio::main]` ran at 3.2 M msg/s spinning and at
/// 4.1 M sleeping at once (medians of 6). A sleep and a wake-up per wait
/// cost little when each wait brings in dozens of messages (that receiver
/// took 64 or more per wait in four waits of five); when each brings one, as
/// in request-reply, they are most of the time the message takes, and the
/// spin is what makes the exchange fast (64 B, one way: 13 µs spinning,
/// 34 µs not). So a wait spins unless the receivers' recent waits came after
/// [`LONG_STREAK`] or more messages on average.
///
/// A large message counts as several: once, and once more per
/// [`UNIT_BYTES`] it carries. A receiver of 64 KiB messages that keeps up
/// waits for each, about as long as for sixteen small ones, and spun six
/// times a message (`#[tokio::main]`, tcp, 53 k msg/s; 78 k with this,
/// medians of 4).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Streak {
    /// Messages received since the last wait began, large ones counted as
    /// several.
    since_wait: u32,
    /// Four times a running average of `since_wait` at the last waits, each
    /// weighing a quarter (kept four times over so that the average of a
    /// steady count is that count, not a rounding below it).
    per_wait_x4: u32,
}

/// Messages per wait, on average, above which a wait does not spin.
const LONG_STREAK: u32 = 16;

/// A message counts once more per this many bytes it carries.
const UNIT_BYTES: usize = 2048;

/// The most one wait's streak counts for in the average, so that a long
/// burst does not keep the waits after it from spinning for long.
const STREAK_CAP: u32 = 4 * LONG_STREAK;

impl Streak {
    /// A message of `bytes` was received.
    pub(super) fn handle_received(&mut self, bytes: usize) {
        let count = u32::try_from(bytes / UNIT_BYTES).unwrap_or(u32::MAX);
        self.since_wait = self.since_wait.saturating_add(count).saturating_add(1);
    }

    /// A wait begins: whether it spins.
    pub(super) fn poll_wait_spins(&mut self) -> bool {
        let last = self.since_wait.min(STREAK_CAP);
        self.since_wait = 0;
        self.per_wait_x4 = self.per_wait_x4 - self.per_wait_x4 / 4 + last;
        self.per_wait_x4 < 4 * LONG_STREAK
    }
}

/// Whether `recv` of this type is a plain queue that may be read ahead.
pub(super) fn prefetches(t: SocketType) -> bool {
    matches!(
        t,
        SocketType::Pull
            | SocketType::Dealer
            | SocketType::Pair
            | SocketType::Router
            | SocketType::Sub
            | SocketType::XSub
    )
}

impl Core {
    fn inbox(&self) -> SpinMutexGuard<'_, Taken> {
        self.0.inbox.lock()
    }

    /// The next message (ZMQ_DONTWAIT): from the batch taken earlier, else a
    /// new batch from the engine.
    pub(crate) fn recv_msg(&self) -> Result<Msg, RecvError> {
        if !self.0.prefetch {
            return self.with_recv(|st| st.engine.recv());
        }
        // The inbox lock is taken before the socket's and never after it, and
        // is held while the batch is taken so that two receiving threads see
        // the messages in the engine's order.
        let mut inbox = self.inbox();
        let Taken { msgs, streak } = &mut *inbox;
        let m = match msgs.pop_front() {
            Some(m) => m,
            None => self.with_recv(|st| st.engine.recv_batch(msgs, BATCH, BATCH_BYTES))?,
        };
        streak.handle_received(m.byte_len());
        Ok(m)
    }

    /// A receiver is about to wait: whether the wait spins (see [`Streak`]).
    /// Sockets that do not read ahead (REQ, REP, STREAM, XPUB) always spin:
    /// they mostly answer one message at a time.
    pub(crate) fn recv_wait_spins(&self) -> bool {
        !self.0.prefetch || self.inbox().streak.poll_wait_spins()
    }

    /// Whether a message is waiting (ZMQ_POLLIN), taken ahead or not.
    pub(crate) fn can_recv_msg(&self) -> bool {
        if self.0.prefetch && !self.inbox().msgs.is_empty() {
            return true;
        }
        self.with_recv(|st| st.engine.can_recv())
    }

    /// ZMQ_POLLIN and ZMQ_POLLOUT, as far as asked, under one lock of the
    /// socket.
    pub(crate) fn poll_ready(&self, want_in: bool, want_out: bool) -> (bool, bool) {
        let taken = want_in && self.0.prefetch && !self.inbox().msgs.is_empty();
        self.with_recv(|st| {
            (
                taken || (want_in && st.engine.can_recv()),
                want_out && st.engine.can_send(),
            )
        })
    }

    /// Runs `f` (a subscription change) on the engine, then drops what was
    /// taken ahead and no longer passes the subscriptions, as `recv` would
    /// have dropped it had it still been queued.
    pub(crate) fn resubscribe(&self, f: impl FnOnce(&mut zmq_patterns::engine::Engine)) {
        let mut inbox = self.inbox();
        self.with(|st| {
            f(&mut st.engine);
            inbox.msgs.retain(|m| st.engine.sub_accepts(m));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_after_long_streaks_do_not_spin() {
        let mut s = Streak::default();
        // Request-reply: one message per wait.
        for _ in 0..10 {
            s.handle_received(64);
            assert!(s.poll_wait_spins());
        }
        // A fast sender: dozens per wait, and the odd wait after one (the
        // receiver woke while the I/O side was still decoding).
        let mut spun = 0;
        for i in 0..20 {
            let n = if i % 5 == 4 { 1 } else { 80 };
            for _ in 0..n {
                s.handle_received(64);
            }
            spun += usize::from(s.poll_wait_spins());
        }
        assert!(spun <= 1, "{spun} of 20 waits spun");
        // Back to request-reply: spinning again within a few waits.
        let back = (1..=10)
            .find(|_| {
                s.handle_received(64);
                s.poll_wait_spins()
            })
            .expect("spins again");
        assert!(back <= 6, "after {back} waits");
        // A wait with nothing received since the last counts as none.
        assert!(s.poll_wait_spins());
        // Large messages, one per wait, count as many small ones; 4 KiB ones
        // as three.
        let mut large = Streak::default();
        let mut medium = Streak::default();
        let (mut spun_large, mut spun_medium) = (0, 0);
        for _ in 0..10 {
            large.handle_received(64 * 1024);
            spun_large += usize::from(large.poll_wait_spins());
            medium.handle_received(4096);
            spun_medium += usize::from(medium.poll_wait_spins());
        }
        assert!(spun_large <= 3, "{spun_large} of 10 waits spun");
        assert_eq!(spun_medium, 10);
    }

    #[test]
    fn a_socket_counts_what_its_receivers_take_between_waits() {
        type S = crate::Socket<crate::core::by_hand::Kind>;
        let pull = S::new(SocketType::Pull).unwrap();
        pull.bind("inproc://inbox-streak").unwrap();
        let push = S::new(SocketType::Push).unwrap();
        push.connect("inproc://inbox-streak").unwrap();
        // A burst, taken whole before each wait: those waits sleep.
        for _ in 0..3 {
            for i in 0..100u32 {
                push.try_send(i.to_be_bytes().to_vec()).unwrap();
            }
            for _ in 0..100 {
                pull.try_recv().unwrap();
            }
            assert!(!pull.core().recv_wait_spins());
        }
        // One message per wait: spinning again within a few waits.
        let back = (1..=10).find(|_| {
            push.try_send("one").unwrap();
            pull.try_recv().unwrap();
            pull.core().recv_wait_spins()
        });
        assert!(back.is_some_and(|n| n <= 6), "{back:?}");
        // REQ does not read ahead, and always spins.
        let req = S::new(SocketType::Req).unwrap();
        assert!(req.core().recv_wait_spins());
    }

    #[test]
    fn only_plain_queues_prefetch() {
        for t in [SocketType::Pull, SocketType::Dealer, SocketType::Sub] {
            assert!(prefetches(t), "{t:?}");
        }
        for t in [
            SocketType::Req,
            SocketType::Rep,
            SocketType::XPub,
            SocketType::Stream,
            SocketType::Push,
            SocketType::Pub,
        ] {
            assert!(!prefetches(t), "{t:?}");
        }
    }
}
