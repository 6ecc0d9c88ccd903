//! Randomness, injected like time so that tests and fuzzers are deterministic.

use std::fmt;

/// A source of cryptographically secure random bytes.
///
/// The core never draws randomness on its own: CURVE transient keys, cookie keys
/// and long nonces come from the [`Random`] in the [`Config`](crate::Config).
/// The order of draws is part of the contract, so a scripted source can replay a
/// known transcript: a CURVE client draws its transient secret key (32 bytes) when
/// it sends HELLO, then the vouch nonce (16) when it sends INITIATE; a CURVE server
/// draws, when it answers HELLO, its transient secret key (32), the cookie key (32),
/// the cookie nonce (16) and the WELCOME nonce (16), in that order.
pub trait Random: Send + Sync {
    /// Fills `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]);
}

/// The operating system's random source.
#[derive(Clone, Copy, Default)]
pub struct OsRandom;

impl Random for OsRandom {
    fn fill(&self, buf: &mut [u8]) {
        use crypto_box::aead::rand_core::RngCore;
        crypto_box::aead::OsRng.fill_bytes(buf);
    }
}

impl fmt::Debug for OsRandom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OsRandom")
    }
}
