//! What a socket's core asks of a runtime adapter.

use std::io;
use std::time::Instant;

use zmq_patterns::engine::{ConnectorId, Endpoint, ListenerId};

use super::Core;
use crate::error::Error;
use crate::net::StdListener;
use crate::signal::Spin;

/// The I/O half of a socket, provided by an adapter: accept on a bound listener,
/// connect, run a timer, read the clock. Everything else (the protocol, the
/// patterns, inproc, ZAP, linger) happens in [`Core`].
///
/// Async runtimes implement [`AsyncIo`](crate::AsyncIo) instead and get this
/// trait from [`Async`](crate::Async); a thread-based runtime implements it
/// directly.
pub trait Runtime: Send + Sync + 'static {
    /// The current time (a runtime with virtual time returns its own).
    fn now(&self) -> Instant;

    /// Starts accepting on `listener` (already bound by the core), handing every
    /// stream to [`Core::handle_accepted`]. Dropping the returned guard stops
    /// accepting and closes the listener.
    fn listen(
        &self,
        core: &Core,
        id: ListenerId,
        listener: StdListener,
    ) -> io::Result<Box<dyn Send>>;

    /// Starts a connect attempt to a TCP or IPC endpoint; reports the result
    /// with [`Core::handle_connected`] or [`Core::handle_connect_failed`].
    /// Called with the socket locked: an attempt that cannot even start
    /// returns the error instead of reporting it.
    fn connect(&self, core: &Core, id: ConnectorId, endpoint: Endpoint) -> io::Result<()>;

    /// Starts the socket's timer: wait until [`Core::arm_timer`]'s deadline or
    /// until [`Core::timer`] is raised, call [`Core::handle_timeout`], repeat
    /// until [`Core::is_finished`].
    fn start_timer(&self, core: &Core);

    /// Whether the calling thread runs this runtime's tasks, so that blocking
    /// it would stall the I/O a blocking call waits for (on a current-thread
    /// runtime, for good): the socket's blocking calls then fail with
    /// [`Error::BlockingInAsync`] instead. A thread-based runtime, whose I/O
    /// has threads of its own, keeps the default.
    fn is_runtime_thread(&self) -> bool {
        false
    }

    /// Whether a task that spins while it waits on a socket (see
    /// "Waiting: a short spin, then sleep" in the README) gives its thread's
    /// core away before each round, so that the thread that will wake it
    /// runs if it shares that core. The default, true, suits runtimes whose
    /// threads are few; a runtime that wakes another of its threads for
    /// every task woken (tokio's multi-thread runtime) says false on those
    /// threads.
    fn spin_yields_core(&self) -> bool {
        true
    }
}

impl Core {
    /// How a wait on this socket from the calling thread spins.
    pub(crate) fn spin(&self) -> Spin {
        if self.0.rt.spin_yields_core() {
            Spin::YieldingTheCore
        } else {
            Spin::KeepingTheCore
        }
    }

    /// `Ok` if this thread may block waiting for the socket; else the error
    /// that names `call` and says to use `instead`. Inlined: every blocking
    /// send and receive asks, and as a call of its own, returning the large
    /// `Result` through memory, it cost 30 instructions besides the
    /// runtime's answer (a blocking 64 B sender's message costs about 775).
    #[inline]
    pub(crate) fn check_blocking(
        &self,
        call: &'static str,
        instead: &'static str,
    ) -> Result<(), Error> {
        if self.0.rt.is_runtime_thread() {
            return Err(Error::BlockingInAsync { call, instead });
        }
        Ok(())
    }
}
