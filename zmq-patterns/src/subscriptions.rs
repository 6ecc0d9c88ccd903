//! Counted prefix subscriptions.
//!
//! A map from prefix to count, plus how many distinct prefixes exist of each
//! length. Matching looks up the topic's prefixes only at lengths that are
//! subscribed, so its cost depends on the number of distinct prefix *lengths*,
//! not on the number of subscriptions: 10,000 topics of similar length cost a
//! publish about what ten do. Unlike a byte-per-node trie, memory is linear in the
//! bytes subscribed and nothing recurses, so a peer's huge subscription cannot
//! overflow the stack or multiply memory.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;

use crate::pipe::PipeId;

/// Subscriptions counted per prefix, as RFC 29 and libzmq count them: subscribing
/// twice to "A" needs two cancels.
#[derive(Debug, Default, Clone)]
pub struct Subscriptions {
    counts: HashMap<Bytes, u32>,
    /// Distinct prefixes per length, ascending.
    lengths: BTreeMap<usize, usize>,
    /// Whether the empty prefix is subscribed: kept beside the maps because
    /// a subscriber asks for every message it takes, and a tree walk to
    /// length 0 costs about as much as the rest of its filter.
    everything: bool,
}

impl Subscriptions {
    /// No subscriptions (matches nothing).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one subscription to `prefix`; returns true if it is the first.
    pub fn add(&mut self, prefix: &[u8]) -> bool {
        if let Some(c) = self.counts.get_mut(prefix) {
            *c = c.saturating_add(1);
            return false;
        }
        self.counts.insert(Bytes::copy_from_slice(prefix), 1);
        *self.lengths.entry(prefix.len()).or_insert(0) += 1;
        self.everything |= prefix.is_empty();
        true
    }

    /// Adds `prefix` once: set semantics, for a publisher's view of one peer.
    /// Returns true if it was not there yet.
    pub fn insert(&mut self, prefix: &[u8]) -> bool {
        !self.counts.contains_key(prefix) && self.add(prefix)
    }

    /// Removes one subscription to `prefix`. `Some(true)` if that was the last,
    /// `Some(false)` if others remain, `None` if there was none.
    pub fn remove(&mut self, prefix: &[u8]) -> Option<bool> {
        let c = self.counts.get_mut(prefix)?;
        *c -= 1;
        if *c > 0 {
            return Some(false);
        }
        self.counts.remove(prefix);
        if let Some(n) = self.lengths.get_mut(&prefix.len()) {
            *n -= 1;
            if *n == 0 {
                self.lengths.remove(&prefix.len());
            }
        }
        self.everything &= !prefix.is_empty();
        Some(true)
    }

    /// Whether any subscribed prefix is a prefix of `topic`.
    #[inline]
    pub fn matches(&self, topic: &[u8]) -> bool {
        // The empty prefix (a subscription to everything) matches every
        // topic: no lookup, which a subscriber would pay per message.
        self.everything || self.matches_some_prefix(topic)
    }

    /// Whether every topic matches (the empty prefix is subscribed).
    #[inline]
    pub fn matches_everything(&self) -> bool {
        self.everything
    }

    fn matches_some_prefix(&self, topic: &[u8]) -> bool {
        self.lengths
            .keys()
            .take_while(|&&len| len <= topic.len())
            .any(|&len| self.counts.contains_key(&topic[..len]))
    }

    /// Number of distinct prefixes.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// Whether nothing is subscribed.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Every distinct prefix in byte order (libzmq resends in trie order: "" before
    /// "AB"), with its count.
    pub fn entries(&self) -> Vec<(Bytes, u32)> {
        let mut v: Vec<_> = self.counts.iter().map(|(k, c)| (k.clone(), *c)).collect();
        v.sort();
        v
    }

    /// Removes everything, returning the distinct prefixes that were subscribed.
    pub fn clear(&mut self) -> Vec<Bytes> {
        self.lengths.clear();
        self.everything = false;
        let mut v: Vec<Bytes> = self.counts.drain().map(|(k, _)| k).collect();
        v.sort();
        v
    }
}

/// A publisher's index from subscribed prefix to the pipes holding it, so a
/// publish costs the number of distinct prefix lengths plus the matches, not the
/// number of pipes (libzmq's mtrie plays this role).
///
/// Each prefix's pipes are kept in id order, so a topic that only one prefix
/// matches (every subscriber on "", the usual fan-out) costs a copy of that
/// list: no sort, and no hash of the topic for the empty prefix, which sits
/// apart from the map. Sorting and hashing were 14 % of a publish to ten
/// subscribers (callgrind, `zmq perf remote-pub`).
#[derive(Debug, Default)]
pub(crate) struct PubIndex {
    by_topic: HashMap<Bytes, Vec<PipeId>>,
    /// The pipes subscribed to the empty prefix (everything), in id order.
    everything: Vec<PipeId>,
    /// Distinct non-empty prefixes per length, ascending.
    lengths: BTreeMap<usize, usize>,
}

impl PubIndex {
    /// `pipe` now holds `topic` (it did not before).
    pub(crate) fn add(&mut self, topic: &[u8], pipe: PipeId) {
        if topic.is_empty() {
            insert_sorted(&mut self.everything, pipe);
            return;
        }
        match self.by_topic.get_mut(topic) {
            Some(pipes) => insert_sorted(pipes, pipe),
            None => {
                self.by_topic
                    .insert(Bytes::copy_from_slice(topic), vec![pipe]);
                *self.lengths.entry(topic.len()).or_insert(0) += 1;
            }
        }
    }

    /// `pipe` no longer holds `topic`.
    pub(crate) fn remove(&mut self, topic: &[u8], pipe: PipeId) {
        if topic.is_empty() {
            self.everything.retain(|p| *p != pipe);
            return;
        }
        let Some(pipes) = self.by_topic.get_mut(topic) else {
            return;
        };
        pipes.retain(|p| *p != pipe);
        if pipes.is_empty() {
            self.by_topic.remove(topic);
            if let Some(n) = self.lengths.get_mut(&topic.len()) {
                *n -= 1;
                if *n == 0 {
                    self.lengths.remove(&topic.len());
                }
            }
        }
    }

    /// Every pipe with a subscription that prefixes `topic`, each once, in id
    /// order, appended to `out`.
    pub(crate) fn matching(&self, topic: &[u8], out: &mut Vec<PipeId>) {
        let start = out.len();
        out.extend_from_slice(&self.everything);
        let mut lists = usize::from(!self.everything.is_empty());
        for &len in self.lengths.keys().take_while(|&&len| len <= topic.len()) {
            if let Some(pipes) = self.by_topic.get(&topic[..len]) {
                out.extend_from_slice(pipes);
                lists += 1;
            }
        }
        if lists < 2 {
            // One list: already in order, each pipe once.
            return;
        }
        out[start..].sort_unstable();
        let mut kept = start;
        for i in start..out.len() {
            if kept == start || out[i] != out[kept - 1] {
                out[kept] = out[i];
                kept += 1;
            }
        }
        out.truncate(kept);
    }
}

/// Inserts `pipe` (not yet in `pipes`) where id order puts it.
fn insert_sorted(pipes: &mut Vec<PipeId>, pipe: PipeId) {
    let at = pipes.partition_point(|p| *p < pipe);
    pipes.insert(at, pipe);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_prefix_matches_everything() {
        let mut t = Subscriptions::new();
        assert!(!t.matches(b"x"));
        t.add(b"");
        assert!(t.matches(b""));
        assert!(t.matches(b"anything"));
        // Beside other prefixes, and no more once cancelled.
        t.add(b"AB");
        assert!(t.matches(b"x"));
        assert_eq!(t.remove(b""), Some(true));
        assert!(!t.matches(b"x"));
        assert!(t.matches(b"ABC"));
        // Counted like any prefix: the second cancel ends it; so does clear.
        t.add(b"");
        t.add(b"");
        assert_eq!(t.remove(b""), Some(false));
        assert!(t.matches(b"x") && t.matches_everything());
        assert_eq!(t.remove(b""), Some(true));
        assert!(!t.matches(b"x") && !t.matches_everything());
        t.add(b"");
        t.clear();
        assert!(!t.matches(b"") && !t.matches_everything());
    }

    #[test]
    fn subscriptions_are_counted() {
        let mut t = Subscriptions::new();
        assert!(t.add(b"A"));
        assert!(!t.add(b"A"));
        assert_eq!(t.remove(b"A"), Some(false));
        assert!(t.matches(b"AB"));
        assert_eq!(t.remove(b"A"), Some(true));
        assert!(!t.matches(b"AB"));
        assert_eq!(t.remove(b"A"), None);
        assert!(t.is_empty());
    }

    #[test]
    fn prefix_matching_and_entries_in_order() {
        let mut t = Subscriptions::new();
        t.add(b"AB");
        t.add(b"");
        t.add(b"B");
        let keys: Vec<_> = t.entries().into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            vec![Bytes::new(), Bytes::from("AB"), Bytes::from("B")]
        );
        t.remove(b"");
        assert!(t.matches(b"ABC"));
        assert!(!t.matches(b"A"));
        assert!(t.matches(b"Bx"));
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn pub_index_finds_each_matching_pipe_once() {
        let mut ix = PubIndex::default();
        ix.add(b"a", PipeId(2));
        ix.add(b"ab", PipeId(2));
        ix.add(b"", PipeId(1));
        ix.add(b"b", PipeId(3));
        let mut out = Vec::new();
        ix.matching(b"abc", &mut out);
        assert_eq!(out, vec![PipeId(1), PipeId(2)]);
        ix.remove(b"", PipeId(1));
        ix.remove(b"a", PipeId(2));
        out.clear();
        ix.matching(b"abc", &mut out);
        assert_eq!(out, vec![PipeId(2)]);
        ix.remove(b"ab", PipeId(2));
        out.clear();
        ix.matching(b"abc", &mut out);
        assert!(out.is_empty());
        assert!(ix.lengths.keys().all(|&l| l == 1), "{:?}", ix.lengths);
    }

    #[test]
    fn one_matching_prefix_gives_its_pipes_in_id_order() {
        // Subscribed out of id order (a pipe that reconnected subscribes
        // after newer ones): the single-list path does not sort.
        let mut ix = PubIndex::default();
        for id in [5, 1, 9, 3] {
            ix.add(b"", PipeId(id));
            ix.add(b"t", PipeId(id + 100));
        }
        let mut out = Vec::new();
        ix.matching(b"x", &mut out);
        assert_eq!(out, [1, 3, 5, 9].map(PipeId));
        out.clear();
        ix.remove(b"", PipeId(3));
        ix.matching(b"t", &mut out);
        assert_eq!(out, [1, 5, 9, 101, 103, 105, 109].map(PipeId));
    }

    #[test]
    fn huge_prefixes_cost_only_their_bytes() {
        let mut t = Subscriptions::new();
        let big = vec![7u8; 1 << 20];
        t.add(&big);
        assert!(t.matches(&[big.as_slice(), b"x"].concat()));
        assert_eq!(t.remove(&big), Some(true));
    }
}
