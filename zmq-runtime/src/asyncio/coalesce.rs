//! When a pump that runs beside the sending thread lets a burst build up
//! before it writes.
//!
//! Such a pump (the blocking runtime's I/O thread, a worker of tokio's
//! multi-thread runtime) outruns a sender of small messages: it takes the
//! few that wait, writes them, finds nothing more and goes to sleep, and the
//! next message wakes it again. On loopback, tcp, 64 B, that was one write
//! of about 15 messages and one wake-up per few microseconds, with the two
//! threads taking turns on the socket's lock; the sender, the slower side,
//! then paid for the wake-ups and the lock hand-offs.
//!
//! So after a small write (less than [`SMALL_WRITE`]) the pump writes again
//! only once [`AsyncIo::write_coalesce`](super::AsyncIo::write_coalesce) has
//! passed since it: the messages of a running burst go out in fewer, larger
//! writes. Nothing else waits:
//! - the first message after a pause is written by the sending thread itself
//!   (`DirectWrite`), so a request or a reply is not delayed;
//! - after a large write the pump writes on at once (large writes cost
//!   little per byte, and holding them back would only idle the pump);
//! - closing streams are written at once;
//! - a stream that read anything in the last [`EXCHANGE`] is not held:
//!   bytes coming in mean an exchange (a request and its reply, a ROUTER's
//!   echo), where the burst a hold waits for does not come, and the hold's
//!   timer only costs the I/O thread a wake-up. Against libzmq REQs echoed
//!   by a ROUTER that held 2,000 other peers, holds after the replies the
//!   pump wrote (about one in ten; the sender writes the rest) failed the
//!   suite's 1.5x bound on the round trip in 3 runs of 8 (median 77-94 µs
//!   against 48-55 µs without the peers); never holding there, 0 of 8.

use std::time::{Duration, Instant};

/// libzmq's own write batch (`out_batch_size`): a write smaller than this
/// means the pump took fewer messages than libzmq's I/O thread would have.
pub(super) const SMALL_WRITE: usize = 8192;

/// How long after reading bytes a stream counts as an exchange, not a
/// one-way burst, and is not held.
pub(super) const EXCHANGE: Duration = Duration::from_millis(1);

/// One pump's record of its last write, and what it implies for the next.
#[derive(Debug)]
pub(super) struct Coalesce {
    /// How long a burst may build after a small write (zero: never wait).
    window: Duration,
    /// Bytes written since the queue was last refilled.
    batch: usize,
    /// When the last small write emptied the queue.
    small_at: Option<Instant>,
    /// When bytes last came in.
    read_at: Option<Instant>,
}

impl Coalesce {
    pub(super) fn new(window: Duration) -> Self {
        Self {
            window,
            batch: 0,
            small_at: None,
            read_at: None,
        }
    }

    /// Whether the pump ever waits: only then does it need the clock.
    pub(super) fn is_on(&self) -> bool {
        !self.window.is_zero()
    }

    /// Whether a wait may be running (its deadline needs the clock).
    pub(super) fn is_waiting(&self) -> bool {
        self.small_at.is_some()
    }

    /// `n` bytes went out; `drained` when nothing is left of the batch.
    pub(super) fn handle_written(&mut self, n: usize, drained: bool, now: Instant) {
        if !self.is_on() {
            return;
        }
        self.batch += n;
        if drained {
            let batch = std::mem::take(&mut self.batch);
            let exchange = self
                .read_at
                .is_some_and(|t| now.saturating_duration_since(t) < EXCHANGE);
            self.small_at = (batch < SMALL_WRITE && !exchange).then_some(now);
        }
    }

    /// Bytes came in: the peer talks back, so writes wait for nothing for
    /// a while (see the module's notes).
    pub(super) fn handle_read(&mut self, now: Instant) {
        if self.is_on() {
            self.read_at = Some(now);
            self.small_at = None;
        }
    }

    /// Until when the next batch should wait (`None`: write it now).
    pub(super) fn poll_deadline(&mut self, now: Instant) -> Option<Instant> {
        let until = self.small_at? + self.window;
        if now < until {
            Some(until)
        } else {
            self.small_at = None;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_micros(30);

    #[test]
    fn a_small_write_holds_the_next_back_for_the_window() {
        let t0 = Instant::now();
        let mut c = Coalesce::new(WINDOW);
        assert_eq!(c.poll_deadline(t0), None, "nothing written yet");
        c.handle_written(1000, true, t0);
        let t1 = t0 + Duration::from_micros(10);
        assert_eq!(c.poll_deadline(t1), Some(t0 + WINDOW));
        assert_eq!(c.poll_deadline(t0 + WINDOW), None);
        // Spent: a later look does not wait either.
        assert_eq!(c.poll_deadline(t1), None);
    }

    #[test]
    fn a_large_write_never_waits() {
        let t0 = Instant::now();
        let mut c = Coalesce::new(WINDOW);
        c.handle_written(SMALL_WRITE, true, t0);
        assert_eq!(c.poll_deadline(t0), None);
    }

    #[test]
    fn partial_writes_count_as_one_batch() {
        let t0 = Instant::now();
        let mut c = Coalesce::new(WINDOW);
        c.handle_written(SMALL_WRITE - 1, false, t0);
        assert_eq!(c.poll_deadline(t0), None, "the batch is not written yet");
        c.handle_written(1, true, t0);
        assert_eq!(c.poll_deadline(t0), None, "together they are large");
        c.handle_written(10, true, t0);
        assert_eq!(c.poll_deadline(t0), Some(t0 + WINDOW), "a new, small batch");
    }

    #[test]
    fn a_large_write_ends_a_wait() {
        let t0 = Instant::now();
        let mut c = Coalesce::new(WINDOW);
        c.handle_written(10, true, t0);
        c.handle_written(SMALL_WRITE * 4, true, t0);
        assert_eq!(c.poll_deadline(t0), None);
    }

    #[test]
    fn a_stream_that_reads_is_not_held() {
        let t0 = Instant::now();
        let mut c = Coalesce::new(WINDOW);
        c.handle_written(10, true, t0);
        c.handle_read(t0);
        assert_eq!(c.poll_deadline(t0), None, "a read ends the wait");
        let t1 = t0 + EXCHANGE / 2;
        c.handle_written(10, true, t1);
        assert_eq!(c.poll_deadline(t1), None, "an exchange, not a burst");
        // Quiet on the way in for long enough: a one-way burst again.
        let t2 = t0 + EXCHANGE;
        c.handle_written(10, true, t2);
        assert_eq!(c.poll_deadline(t2), Some(t2 + WINDOW));
    }

    #[test]
    fn a_zero_window_never_waits() {
        let t0 = Instant::now();
        let mut c = Coalesce::new(Duration::ZERO);
        c.handle_written(10, true, t0);
        assert_eq!(c.poll_deadline(t0), None);
    }
}
