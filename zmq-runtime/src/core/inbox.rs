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
pub(super) type Inbox = Lock<VecDeque<Msg>>;

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
    fn inbox(&self) -> SpinMutexGuard<'_, VecDeque<Msg>> {
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
        if let Some(m) = inbox.pop_front() {
            return Ok(m);
        }
        self.with_recv(|st| st.engine.recv_batch(&mut inbox, BATCH, BATCH_BYTES))
    }

    /// Whether a message is waiting (ZMQ_POLLIN), taken ahead or not.
    pub(crate) fn can_recv_msg(&self) -> bool {
        if self.0.prefetch && !self.inbox().is_empty() {
            return true;
        }
        self.with_recv(|st| st.engine.can_recv())
    }

    /// ZMQ_POLLIN and ZMQ_POLLOUT, as far as asked, under one lock of the
    /// socket.
    pub(crate) fn poll_ready(&self, want_in: bool, want_out: bool) -> (bool, bool) {
        let taken = want_in && self.0.prefetch && !self.inbox().is_empty();
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
            inbox.retain(|m| st.engine.sub_accepts(m));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
