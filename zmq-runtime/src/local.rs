//! What a socket keeps beside its engine, readable and settable through
//! `&self`: SNDTIMEO and RCVTIMEO for the blocking calls, and the last
//! endpoint (ZMQ_LAST_ENDPOINT).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// What a socket keeps outside its engine: the blocking calls' timeouts,
/// readable and settable through `&self`, and the last endpoint.
#[derive(Debug)]
pub(crate) struct Local {
    pub(crate) sndtimeo: AtomicTimeout,
    pub(crate) rcvtimeo: AtomicTimeout,
    pub(crate) last_endpoint: Mutex<String>,
}

impl Local {
    pub(crate) fn new(sndtimeo: Option<Duration>, rcvtimeo: Option<Duration>) -> Self {
        Self {
            sndtimeo: AtomicTimeout::new(sndtimeo),
            rcvtimeo: AtomicTimeout::new(rcvtimeo),
            last_endpoint: Mutex::new(String::new()),
        }
    }

    /// Records the endpoint of a `bind` or `connect` that succeeded.
    pub(crate) fn set_last_endpoint(&self, endpoint: String) {
        *self
            .last_endpoint
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = endpoint;
    }
}

/// A timeout that one thread may change while another waits with the old
/// one: nanoseconds, with `u64::MAX` for "for ever".
#[derive(Debug)]
pub(crate) struct AtomicTimeout(AtomicU64);

impl AtomicTimeout {
    const NEVER: u64 = u64::MAX;

    fn new(t: Option<Duration>) -> Self {
        let this = Self(AtomicU64::new(Self::NEVER));
        this.set(t);
        this
    }

    pub(crate) fn set(&self, t: Option<Duration>) {
        // 584 years of nanoseconds fit; longer is as good as for ever.
        let raw = t.map_or(Self::NEVER, |d| {
            u64::try_from(d.as_nanos()).map_or(Self::NEVER, |n| n.min(Self::NEVER - 1))
        });
        self.0.store(raw, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> Option<Duration> {
        match self.0.load(Ordering::Relaxed) {
            Self::NEVER => None,
            n => Some(Duration::from_nanos(n)),
        }
    }
}
