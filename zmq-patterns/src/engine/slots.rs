//! Slots: values keyed by [`ConnId`] that also stay where they were put, so
//! that a record kept elsewhere (the stream a pipe writes to) can reach one
//! by its [`Slot`] with an index instead of a second hash lookup.
//!
//! A publisher looks up each subscriber's stream once per message. Through
//! the pipe and then the id, that took two of the three hash lookups a
//! message paid per subscriber (callgrind, `zmq perf remote-pub` to ten
//! subscribers). A slot is reused once its value is removed, so whoever
//! keeps one keeps the id with it and [`Slots::at_mut`] checks both.

use super::ConnId;
use crate::idmap::IdMap;

/// Where a value sits in its [`Slots`], valid until it is removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Slot(usize);

/// Values by id, each in a slot of its own.
pub(super) struct Slots<V> {
    entries: Vec<Option<(ConnId, V)>>,
    /// Emptied slots, reused before the vector grows.
    free: Vec<usize>,
    index: IdMap<ConnId, usize>,
}

impl<V> Default for Slots<V> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            free: Vec::new(),
            index: IdMap::default(),
        }
    }
}

impl<V> Slots<V> {
    /// Puts `value` under `id`, replacing (in its slot) any value there.
    pub(super) fn insert(&mut self, id: ConnId, value: V) -> Slot {
        if let Some(&i) = self.index.get(&id) {
            self.entries[i] = Some((id, value));
            return Slot(i);
        }
        let i = match self.free.pop() {
            Some(i) => {
                self.entries[i] = Some((id, value));
                i
            }
            None => {
                self.entries.push(Some((id, value)));
                self.entries.len() - 1
            }
        };
        self.index.insert(id, i);
        Slot(i)
    }

    /// The slot of `id`'s value.
    #[inline]
    pub(super) fn slot(&self, id: ConnId) -> Option<Slot> {
        self.index.get(&id).map(|&i| Slot(i))
    }

    #[inline]
    pub(super) fn get(&self, id: ConnId) -> Option<&V> {
        let &i = self.index.get(&id)?;
        self.entries[i].as_ref().map(|(_, v)| v)
    }

    #[inline]
    pub(super) fn get_mut(&mut self, id: ConnId) -> Option<&mut V> {
        let &i = self.index.get(&id)?;
        self.entries[i].as_mut().map(|(_, v)| v)
    }

    /// The value in `slot` if it is still `id`'s.
    #[inline]
    pub(super) fn at_mut(&mut self, slot: Slot, id: ConnId) -> Option<&mut V> {
        match self.entries.get_mut(slot.0) {
            Some(Some((held, v))) if *held == id => Some(v),
            _ => None,
        }
    }

    pub(super) fn remove(&mut self, id: ConnId) -> Option<V> {
        let i = self.index.remove(&id)?;
        let (_, v) = self.entries[i].take()?;
        if i + 1 == self.entries.len() {
            self.entries.pop();
        } else {
            self.free.push(i);
        }
        Some(v)
    }

    #[inline]
    pub(super) fn contains_key(&self, id: ConnId) -> bool {
        self.index.contains_key(&id)
    }

    pub(super) fn len(&self) -> usize {
        self.index.len()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (ConnId, &V)> + '_ {
        self.entries.iter().flatten().map(|(id, v)| (*id, v))
    }

    pub(super) fn keys(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.iter().map(|(id, _)| id)
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.iter().map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reused_slot_does_not_answer_for_its_old_id() {
        let mut s: Slots<&str> = Slots::default();
        let a = s.insert(ConnId(1), "a");
        let b = s.insert(ConnId(2), "b");
        assert_ne!(a, b);
        assert_eq!(s.at_mut(a, ConnId(1)).copied(), Some("a"));
        assert_eq!(s.remove(ConnId(1)), Some("a"));
        assert_eq!(s.at_mut(a, ConnId(1)), None, "emptied");
        let c = s.insert(ConnId(3), "c");
        assert_eq!(c, a, "the emptied slot is reused");
        assert_eq!(s.at_mut(a, ConnId(1)), None, "now someone else's");
        assert_eq!(s.at_mut(c, ConnId(3)).copied(), Some("c"));
        assert_eq!(s.get(ConnId(2)).copied(), Some("b"));
        assert_eq!(s.len(), 2);
        let mut keys: Vec<_> = s.keys().collect();
        keys.sort_by_key(|k| k.0);
        assert_eq!(keys, [ConnId(2), ConnId(3)]);
    }

    #[test]
    fn inserting_again_replaces_in_place_and_removal_shrinks() {
        let mut s: Slots<u8> = Slots::default();
        let a = s.insert(ConnId(9), 1);
        assert_eq!(s.insert(ConnId(9), 2), a);
        assert_eq!(s.len(), 1);
        assert_eq!(s.get_mut(ConnId(9)).copied(), Some(2));
        assert_eq!(s.slot(ConnId(9)), Some(a));
        assert_eq!(s.remove(ConnId(9)), Some(2));
        assert_eq!(s.remove(ConnId(9)), None);
        assert!(!s.contains_key(ConnId(9)));
        assert_eq!(s.iter().count(), 0);
        // The last slot is dropped, not kept free: a later insert takes a
        // fresh one at the same place without the free list growing.
        assert_eq!(s.insert(ConnId(10), 3), a);
        assert!(s.free.is_empty());
    }
}
