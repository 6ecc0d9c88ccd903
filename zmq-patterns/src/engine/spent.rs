//! Messages a stream's refill copied into its output, kept for the sender to
//! drop.
//!
//! A message that waited in a pipe is copied into its stream's output when
//! the stream's writer asks for more, on the writer's thread: in a runtime
//! whose I/O has threads of its own, not the thread that sent it, and so not
//! the one whose allocator gave its body. glibc frees such a body into the
//! sending thread's arena from the writing thread, and the two threads'
//! frees and allocations made that arena give memory back to the system and
//! take it again: a blocking sender of 1 KiB messages paid 35,000 to 140,000
//! page faults per 3 million messages (2,000 to 3,500 with this), and sent
//! 2.64 M msg/s instead of 3.39 M (medians of 5, into a tokio receiver).
//! Kept here, the bodies are dropped by the next `send` (see
//! [`Engine::take_spent`](super::Engine::take_spent)), where they came from.
//!
//! Short bodies are not kept: a free of one from any thread is cheap (glibc
//! puts it in a fast bin), and the sending thread, which is the slower side
//! at that size, would take on the writer's work (64 B, blocking sender,
//! medians of 5: 12.4 -> 9.1 M msg/s; 256 B level).
//!
//! A sender that has stopped sending would hold them for ever: a timer
//! that finds no send since it last looked drops them where it runs,
//! [`KEEP_FOR`] to twice that after the last send.

use std::time::{Duration, Instant};

use zmtp_core::Msg;

/// The shortest message kept: shorter ones are dropped where they were copied.
pub(super) const KEEP_MIN: usize = 512;

/// How often kept messages are looked at, while there are any: those of a
/// sender that sent nothing since the last look are dropped.
pub(super) const KEEP_FOR: Duration = Duration::from_millis(200);

/// See the module's notes.
#[derive(Debug, Default)]
pub(super) struct Spent {
    /// Whether refills keep messages (see
    /// [`Engine::set_keep_spent`](super::Engine::set_keep_spent)).
    on: bool,
    msgs: Vec<Msg>,
    /// Whether a send came since the timer last looked.
    sent: bool,
    /// When the timer looks next; `None` while nothing is kept.
    due: Option<Instant>,
    /// Whether `due` was set since the owner last asked (see
    /// [`Spent::take_armed`]).
    armed: bool,
}

impl Spent {
    /// Whether refills keep messages from now on; what is kept stays until
    /// taken (the runtime may turn it off and on between two refills).
    #[inline]
    pub(super) fn set_on(&mut self, on: bool) {
        self.on = on;
    }

    /// Whether `msg` would be kept, by its length (the stream decides
    /// whether it is copied).
    #[inline]
    pub(super) fn wants(&self, msg: &Msg) -> bool {
        self.on && msg.byte_len() >= KEEP_MIN
    }

    pub(super) fn keep(&mut self, msg: Msg) {
        self.msgs.push(msg);
    }

    /// Starts the timer at `now` if something is kept and it is not running.
    pub(super) fn arm(&mut self, now: Instant) {
        if self.due.is_none() && !self.msgs.is_empty() {
            self.due = Some(now + KEEP_FOR);
            self.armed = true;
        }
    }

    /// Whether [`Spent::arm`] started the timer since the last call.
    pub(super) fn take_armed(&mut self) -> bool {
        std::mem::take(&mut self.armed)
    }

    /// A message was sent.
    #[inline]
    pub(super) fn note_send(&mut self) {
        self.sent = true;
    }

    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.msgs.is_empty()
    }

    /// Everything kept, for the caller to drop.
    pub(super) fn take(&mut self) -> Vec<Msg> {
        std::mem::take(&mut self.msgs)
    }

    /// When the timer looks next.
    pub(super) fn timeout(&self) -> Option<Instant> {
        self.due
    }

    /// The timer: with no send since the last look, the sender is idle, and
    /// what is kept goes now.
    pub(super) fn handle_timeout(&mut self, now: Instant) {
        if self.due.is_none_or(|due| now < due) {
            return;
        }
        if std::mem::take(&mut self.sent) && !self.msgs.is_empty() {
            self.due = Some(now + KEEP_FOR);
        } else {
            self.msgs = Vec::new();
            self.due = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(n: usize) -> Spent {
        let mut s = Spent::default();
        s.set_on(true);
        for _ in 0..n {
            s.keep(Msg::single(vec![0u8; KEEP_MIN]));
        }
        s
    }

    #[test]
    fn only_long_messages_are_wanted_and_only_when_on() {
        let len = |n: usize| Msg::single(vec![0u8; n]);
        let mut s = Spent::default();
        assert!(!s.wants(&len(KEEP_MIN)), "off by default");
        s.set_on(true);
        assert!(s.wants(&len(KEEP_MIN)));
        assert!(s.wants(&len(8192)));
        assert!(!s.wants(&len(KEEP_MIN - 1)));
        s.keep(len(KEEP_MIN));
        s.set_on(false);
        assert!(!s.wants(&len(KEEP_MIN)));
        assert!(
            !s.is_empty(),
            "turned off, what was kept stays for the sender"
        );
    }

    #[test]
    fn the_sender_takes_everything_kept() {
        let mut s = kept(3);
        assert_eq!(s.take().len(), 3);
        assert!(s.is_empty());
        assert!(s.take().is_empty());
    }

    /// The timer drops what a sender that stopped sending left, once a
    /// look finds no send since the one before; not while it sends.
    // A test's start of virtual time; nothing else reads the clock.
    #[allow(clippy::disallowed_methods)]
    #[test]
    fn an_idle_senders_messages_go_at_the_timer() {
        let t0 = Instant::now();
        let mut s = kept(2);
        s.note_send();
        s.arm(t0);
        assert!(s.take_armed());
        assert!(!s.take_armed(), "told once");
        assert_eq!(s.timeout(), Some(t0 + KEEP_FOR));
        s.arm(t0 + KEEP_FOR / 2);
        assert_eq!(s.timeout(), Some(t0 + KEEP_FOR), "a running timer stays");
        s.handle_timeout(t0 + KEEP_FOR / 2);
        assert!(!s.is_empty(), "not due yet");
        s.handle_timeout(t0 + KEEP_FOR);
        assert!(!s.is_empty(), "a send came since the last look");
        assert_eq!(s.timeout(), Some(t0 + 2 * KEEP_FOR));
        s.handle_timeout(t0 + 2 * KEEP_FOR);
        assert!(s.is_empty(), "no send since the last look");
        assert_eq!(s.timeout(), None);
        // Nothing kept, nothing to time.
        s.arm(t0);
        assert_eq!(s.timeout(), None);
        // Taken by the sender before the timer looks: the timer stops.
        let mut s = kept(1);
        s.arm(t0);
        s.note_send();
        drop(s.take());
        s.handle_timeout(t0 + KEEP_FOR);
        assert_eq!(s.timeout(), None);
    }
}
