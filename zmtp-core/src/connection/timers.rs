//! Deadlines of one connection; `poll_timeout` is their minimum.

use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    /// HANDSHAKE_IVL, armed at creation, cleared when the handshake completes.
    Handshake,
    /// When to send the next PING.
    HeartbeatSend,
    /// HEARTBEAT_TIMEOUT, armed by a PING we sent, cleared by any received frame.
    HeartbeatTimeout,
    /// The peer's PING TTL, cleared by any received frame.
    PeerTtl,
    /// When to look whether the send queue's spare batches are still in use.
    Spare,
}

const COUNT: usize = 5;

#[derive(Debug, Default)]
pub(crate) struct TimerTable {
    at: [Option<Instant>; COUNT],
}

impl TimerTable {
    /// Arms `t` to fire `after` from `now`, or stops it when there is no
    /// duration, when it is zero (the options' "off"), or when the deadline is
    /// past what an `Instant` can hold.
    pub(crate) fn arm(&mut self, t: Timer, now: Instant, after: Option<Duration>) {
        self.at[t as usize] = after
            .filter(|d| !d.is_zero())
            .and_then(|d| now.checked_add(d));
    }

    pub(crate) fn stop(&mut self, t: Timer) {
        self.at[t as usize] = None;
    }

    pub(crate) fn get(&self, t: Timer) -> Option<Instant> {
        self.at[t as usize]
    }

    pub(crate) fn is_set(&self, t: Timer) -> bool {
        self.at[t as usize].is_some()
    }

    /// Whether `t` is armed and due at `now`.
    pub(crate) fn expired(&self, t: Timer, now: Instant) -> bool {
        self.get(t).is_some_and(|at| at <= now)
    }

    pub(crate) fn next(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }
}
