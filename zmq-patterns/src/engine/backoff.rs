//! Reconnect delays, as libzmq 4.3 computes them.

use std::time::Duration;

/// RECONNECT_IVL / RECONNECT_IVL_MAX bookkeeping for one connecting endpoint.
///
/// Without a maximum, every retry waits `ivl` plus a random jitter in `[0, ivl)`.
/// With one, the waits are `ivl`, `2·ivl`, `4·ivl`… capped at the maximum, without
/// jitter. A zero or negative interval disables reconnecting. The jitter comes in
/// as an argument, so the schedule is deterministic under test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    ivl: Option<Duration>,
    ivl_max: Option<Duration>,
    current: Option<Duration>,
}

impl Backoff {
    /// `ivl = None` disables reconnection; `ivl_max = None` means no back-off.
    pub fn new(ivl: Option<Duration>, ivl_max: Option<Duration>) -> Self {
        Self {
            ivl: ivl.filter(|d| !d.is_zero()),
            ivl_max: ivl_max.filter(|d| !d.is_zero()),
            current: None,
        }
    }

    /// The delay before the next attempt, or `None` if reconnecting is disabled.
    /// `jitter` is a uniformly random value; only its remainder is used.
    pub fn next_delay(&mut self, jitter: u64) -> Option<Duration> {
        let ivl = self.ivl?;
        match self.ivl_max {
            Some(max) => {
                let next = match self.current {
                    None => ivl,
                    Some(c) => c.saturating_mul(2),
                };
                let next = next.min(max.max(ivl));
                self.current = Some(next);
                Some(next)
            }
            None => {
                let ms = ivl.as_millis().max(1) as u64;
                Some(ivl.saturating_add(Duration::from_millis(jitter % ms)))
            }
        }
    }

    /// A connection succeeded: the next failure starts from `ivl` again.
    pub fn reset(&mut self) {
        self.current = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn fixed_interval_with_jitter_below_ivl() {
        let mut b = Backoff::new(Some(100 * MS), None);
        assert_eq!(b.next_delay(0), Some(100 * MS));
        assert_eq!(b.next_delay(99), Some(199 * MS));
        assert_eq!(b.next_delay(100), Some(100 * MS));
    }

    #[test]
    fn exponential_backoff_is_capped_and_resets() {
        let mut b = Backoff::new(Some(100 * MS), Some(500 * MS));
        let delays: Vec<_> = (0..5).map(|_| b.next_delay(7).unwrap()).collect();
        assert_eq!(delays, [100 * MS, 200 * MS, 400 * MS, 500 * MS, 500 * MS]);
        b.reset();
        assert_eq!(b.next_delay(7), Some(100 * MS));
    }

    #[test]
    fn disabled_when_ivl_is_zero() {
        assert_eq!(Backoff::new(None, None).next_delay(1), None);
        assert_eq!(Backoff::new(Some(Duration::ZERO), None).next_delay(1), None);
    }
}
