//! LINGER: after `close`, how long queued messages may still go out, and when
//! closing is over.
//!
//! Closing ends when everything is delivered or the deadline passes; the
//! engine answers "delivered" (it sees every pipe and stream) and tears the
//! socket down once this machine says so.

use std::time::{Duration, Instant};

/// The closing state of a socket.
#[derive(Debug)]
pub(super) struct Linger {
    linger: Option<Duration>,
    /// `Some(deadline)` once `close` was called; the inner `None` waits forever.
    closing: Option<Option<Instant>>,
    closed: bool,
}

impl Linger {
    /// `linger = None` waits forever (libzmq's -1).
    pub(super) fn new(linger: Option<Duration>) -> Self {
        Self {
            linger,
            closing: None,
            closed: false,
        }
    }

    /// LINGER as it stands.
    pub(super) fn linger(&self) -> Option<Duration> {
        self.linger
    }

    /// Changes LINGER; as libzmq reads it at `close`, a change once closing
    /// has started does nothing.
    pub(super) fn set_linger(&mut self, linger: Option<Duration>) {
        if self.closing.is_none() {
            self.linger = linger;
        }
    }

    /// Starts closing at `now`; `false` if it had started already.
    pub(super) fn start(&mut self, now: Instant) -> bool {
        if self.closing.is_some() {
            return false;
        }
        // A LINGER too long to add to `now` is as good as for ever.
        self.closing = Some(self.linger.and_then(|l| now.checked_add(l)));
        true
    }

    /// Whether `close` was called.
    #[inline]
    pub(super) fn is_closing(&self) -> bool {
        self.closing.is_some()
    }

    /// Whether closing has finished.
    #[inline]
    pub(super) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether closing waits for the socket to drain.
    #[inline]
    pub(super) fn is_lingering(&self) -> bool {
        self.closing.is_some() && !self.closed
    }

    /// The deadline as set by `close`, for inspection.
    pub(super) fn deadline(&self) -> Option<Option<Instant>> {
        self.closing
    }

    /// Whether closing must finish at `now`: `Some(expired)` once the deadline
    /// passed or `drained` says everything went out (asked only before the
    /// deadline, since it looks at every pipe).
    pub(super) fn finish_due(&self, now: Instant, drained: impl FnOnce() -> bool) -> Option<bool> {
        let deadline = self.closing?;
        if self.closed {
            return None;
        }
        let expired = deadline.is_some_and(|d| d <= now);
        (expired || drained()).then_some(expired)
    }

    /// Closing is over. Returns whether the streams' unwritten bytes are still
    /// written: not after LINGER expired, nor with LINGER 0.
    pub(super) fn finish(&mut self, expired: bool) -> bool {
        self.closed = true;
        !expired && self.linger != Some(Duration::ZERO)
    }

    /// The deadline `handle_timeout` must see.
    #[inline]
    pub(super) fn timeout(&self) -> Option<Instant> {
        self.closing.flatten().filter(|_| !self.closed)
    }
}
