//! Maps keyed by the ids this crate and the engine hand out (pipes,
//! connections, listeners): a multiplicative hash instead of SipHash.
//!
//! SipHash resists a peer that picks keys to crowd one bucket; these keys are
//! counters chosen locally, never by a peer, so that cannot happen, and SipHash
//! was a third of the cost of moving a small message (measured with `perf
//! record` on `zmq perf`). Keys that do come from peers (routing ids, topics)
//! keep std's hasher.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A Fibonacci-hashing [`Hasher`] for integer ids.
#[derive(Clone, Copy, Debug, Default)]
pub struct IdHasher(u64);

/// 2^64 / golden ratio: spreads consecutive ids over the high bits the table
/// uses.
const K: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(K);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A `HashMap` keyed by locally chosen ids.
pub type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PipeId;

    #[test]
    fn consecutive_ids_spread_and_round_trip() {
        let mut m: IdMap<PipeId, u64> = IdMap::default();
        for i in 0..10_000 {
            m.insert(PipeId(i), i * 2);
        }
        assert!((0..10_000).all(|i| m[&PipeId(i)] == i * 2));
        let hash = |i: u64| {
            let mut h = IdHasher::default();
            h.write_u64(i);
            h.finish()
        };
        // Neighbours land far apart in the top bits.
        assert_ne!(hash(1) >> 57, hash(2) >> 57);
    }
}
