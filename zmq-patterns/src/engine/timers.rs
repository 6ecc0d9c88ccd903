//! Every stream's next deadline, kept in order, so that finding the earliest
//! (after every call, to arm the runtime's timer) and the ones due costs a
//! look at the front instead of a walk over every stream: a server holding
//! thousands of idle or half-open peers must not pay for each of them on
//! every message of the peers that talk.
//!
//! A stream's deadline can move whenever its connection is touched, so the
//! streams machine marks a stream as touched each time it hands out its
//! connection, and the marked ones are looked at again before the next
//! question about deadlines.

use std::collections::{BTreeSet, HashSet};
use std::hash::BuildHasherDefault;
use std::time::Instant;

use super::ConnId;
use crate::idmap::{IdHasher, IdMap};

/// The deadlines, and the streams whose deadline may have moved since.
#[derive(Default)]
pub(super) struct Timers {
    sorted: BTreeSet<(Instant, ConnId)>,
    at: IdMap<ConnId, Instant>,
    touched: HashSet<ConnId, BuildHasherDefault<IdHasher>>,
    /// The id touched last, already in `touched`: the streams machine hands
    /// out the same connection several times per message, and a compare is
    /// cheaper than a set insert.
    last: Option<ConnId>,
}

impl Timers {
    /// `id`'s deadline may have moved (or the stream is gone).
    #[inline]
    pub(super) fn touch(&mut self, id: ConnId) {
        if self.last != Some(id) {
            self.touched.insert(id);
            self.last = Some(id);
        }
    }

    /// Looks again at the touched streams, with `deadline` giving a stream's
    /// current deadline (`None` for none, or for a stream that is gone).
    pub(super) fn settle(&mut self, mut deadline: impl FnMut(ConnId) -> Option<Instant>) {
        self.last = None;
        for id in self.touched.drain() {
            if let Some(old) = self.at.remove(&id) {
                self.sorted.remove(&(old, id));
            }
            if let Some(t) = deadline(id) {
                self.at.insert(id, t);
                self.sorted.insert((t, id));
            }
        }
    }

    /// The earliest deadline (of settled streams).
    pub(super) fn first(&self) -> Option<Instant> {
        self.sorted.first().map(|(t, _)| *t)
    }

    /// The settled streams due at `now`, earliest first.
    pub(super) fn due(&self, now: Instant) -> Vec<ConnId> {
        self.sorted
            .iter()
            .take_while(|(t, _)| *t <= now)
            .map(|(_, id)| *id)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    // A test reads the clock once to start its virtual timeline.
    #[allow(clippy::disallowed_methods)]
    #[test]
    fn moved_and_removed_deadlines_are_seen_after_a_touch() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut timers = Timers::default();
        let mut current: IdMap<ConnId, Instant> = IdMap::default();
        for (id, ms) in [(1, 30), (2, 10), (3, 20)] {
            current.insert(ConnId(id), at(ms));
            timers.touch(ConnId(id));
        }
        timers.settle(|id| current.get(&id).copied());
        assert_eq!(timers.first(), Some(at(10)));
        assert_eq!(timers.due(at(20)), [ConnId(2), ConnId(3)]);
        // 2 moves later, 3 goes: untouched, nothing changes; touched, both do.
        current.insert(ConnId(2), at(40));
        current.remove(&ConnId(3));
        timers.settle(|id| current.get(&id).copied());
        assert_eq!(timers.first(), Some(at(10)));
        timers.touch(ConnId(2));
        timers.touch(ConnId(3));
        timers.settle(|id| current.get(&id).copied());
        assert_eq!(timers.first(), Some(at(30)));
        assert_eq!(timers.due(at(40)), [ConnId(1), ConnId(2)]);
    }
}
