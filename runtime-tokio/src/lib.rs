//! # runtime-tokio
//!
//! ZeroMQ sockets on tokio, in pure Rust: every socket type, over `tcp://`,
//! `ipc://` and `inproc://`, speaking ZMTP 3.1 with libzmq and every other
//! ZeroMQ peer. This crate is only the I/O: listeners, connects, one task per
//! stream that pumps bytes, and a timer per socket. The protocol, the patterns
//! and everything else live in `zmtp-core`, `zmq-patterns` and `zmq-runtime`.
//!
//! Sockets must be created inside a tokio runtime (with I/O and time enabled,
//! as `#[tokio::main]` has them); their tasks run on it.
//!
//! ```
//! use runtime_tokio::{Socket, SocketType};
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), runtime_tokio::Error> {
//!     let rep = Socket::new(SocketType::Rep)?;
//!     let endpoint = rep.bind("tcp://127.0.0.1:*")?;
//!     let req = Socket::new(SocketType::Req)?;
//!     req.connect(&endpoint.to_string())?;
//!
//!     req.send("hello").await?;
//!     let request = rep.recv().await?;
//!     rep.send(request).await?;
//!     assert_eq!(&req.recv().await?.frames()[0][..], b"hello");
//!     Ok(())
//! }
//! ```
//!
//! `send` waits while the peer is at its high-water mark; `recv` is
//! cancellation-safe, so it can sit in `tokio::select!`. See
//! [`zmq_runtime::Socket`] for the whole API, [`proxy`] for `zmq_proxy`, and
//! [`poll`] for waiting on several sockets.

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExamples;

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use zmq_runtime::{Async, AsyncIo, BacklogWriter, Fd, PUMP_READ_BUDGET, PUMP_SPIN};

mod fd;

pub use self::fd::Registered;

/// CURVE certificate files in the zcert (CZMQ, pyzmq) format.
pub use zmq_runtime::cert;
pub use zmq_runtime::proxy::{proxy, proxy_steerable, ProxyStats};
pub use zmq_runtime::{
    msg, poll_async as poll, AllowList, AsEndpoint, AuthReply, AuthRequest, Authenticator,
    Credentials, Endpoint, Error, Events, IntoFrame, KeyPair, Metadata, Monitor, MonitorEvent, Msg,
    OsRandom, Peer, PollItem, Properties, PublicKey, Refusal, RouterNotify, SecretKey, SocketType,
};

/// A socket on tokio.
pub type Socket = zmq_runtime::Socket<Tokio>;
/// Options for a socket on tokio: `Socket::builder(SocketType::Sub)`.
pub type Builder = zmq_runtime::Builder<Tokio>;

/// The tokio runtime, as a socket's runtime type.
#[derive(Debug)]
pub struct Tokio {
    handle: Handle,
}

impl zmq_runtime::RuntimeKind for Tokio {
    type Socket = Socket;

    fn runtime() -> Result<Arc<dyn zmq_runtime::Runtime>, Error> {
        let handle = Handle::try_current().map_err(|_| {
            Error::NoRuntime("runtime-tokio sockets must be created inside a tokio runtime".into())
        })?;
        Ok(Arc::new(Async::new(Self { handle })))
    }
}

impl AsyncIo for Tokio {
    type Registered<T: Fd> = Registered<T>;

    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.handle.spawn(task);
    }

    fn spawn_blocking(&self, f: impl FnOnce() + Send + 'static) -> io::Result<()> {
        self.handle.spawn_blocking(f);
        Ok(())
    }

    fn now(&self) -> Instant {
        // tokio's clock, so that tests with paused time run heartbeats and
        // reconnects in virtual time.
        tokio::time::Instant::now().into_std()
    }

    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send {
        tokio::time::sleep_until(deadline.into())
    }

    fn is_runtime_thread(&self) -> bool {
        in_budgeted_context()
    }

    /// Not in a task on a multi-thread worker: a task that wakes itself there
    /// also wakes an idle worker to steal it, which took the core the yield
    /// gave away, and the two took turns every round (spawned 64-byte round
    /// trips, one way: tcp 31.8 -> 15.8 µs, inproc 6.5 -> 1.3 µs without it).
    fn spin_yields_core(&self) -> bool {
        tokio::task::try_id().is_none()
            || Handle::try_current()
                .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread)
    }

    /// Writes keep no readiness of their own (each is tried at once, see
    /// [`Registered`]), and a write made beside the pump's reads leaves
    /// their readiness right.
    fn direct_ref<'a, T: Fd>(&self, io: &'a Registered<T>) -> Option<&'a T> {
        Some(io.get_ref())
    }

    fn backlog_writer(&self) -> BacklogWriter {
        BacklogWriter::Sender
    }

    fn pump_spin(&self) -> Duration {
        // Only where the application's tasks share the pumps' thread.
        match self.handle.runtime_flavor() {
            tokio::runtime::RuntimeFlavor::CurrentThread => PUMP_SPIN,
            _ => Duration::ZERO,
        }
    }

    fn read_budget(&self) -> usize {
        match self.handle.runtime_flavor() {
            tokio::runtime::RuntimeFlavor::CurrentThread => PUMP_READ_BUDGET,
            _ => usize::MAX,
        }
    }

    /// tokio's own yield: the task is woken only after the runtime has
    /// looked at its driver, and on the current-thread runtime after the
    /// future in `block_on` had its turn (a task that wakes itself is run
    /// again first, up to 61 times).
    fn yield_now(&self, cx: &mut Context<'_>) {
        // Its first poll defers the waker (or wakes it at once outside a
        // runtime) and is always pending.
        let _ = std::pin::pin!(tokio::task::yield_now()).poll(cx);
    }

    fn register<T: Fd>(&self, io: T) -> io::Result<Registered<T>> {
        Registered::new(io, &self.handle)
    }

    fn poll_read_with<T: Fd, R>(
        &self,
        io: &Registered<T>,
        cx: &mut Context<'_>,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        io.poll_read_with(cx, op)
    }

    fn poll_write_with<T: Fd, R>(
        &self,
        io: &Registered<T>,
        cx: &mut Context<'_>,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        io.poll_write_with(cx, op)
    }

    fn poll_connect_with<T: Fd, R>(
        &self,
        io: &Registered<T>,
        cx: &mut Context<'_>,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        io.poll_connect_with(cx, op)
    }
}

/// Whether this thread is inside tokio's async context: a task, or a
/// runtime's `block_on`. tokio gives exactly those a cooperative budget (a
/// `spawn_blocking` closure, a plain thread and a thread that only entered a
/// handle have none), and offers no other public way to ask. The probe
/// spends the budget until tokio says it is gone, which only a budgeted
/// context can say, then puts it back as it was: the first unit's guard,
/// dropped without progress, restores what the budget was before it.
/// (A future wrapped in `tokio::task::unconstrained` has no budget either,
/// and is let through.)
fn in_budgeted_context() -> bool {
    use tokio::task::coop::poll_proceed;
    // Outside any runtime (the common caller of a blocking call) there is
    // nothing to probe.
    if Handle::try_current().is_err() {
        return false;
    }
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let Poll::Ready(restore) = poll_proceed(&mut cx) else {
        return true;
    };
    let budgeted = (0..=u8::MAX).any(|_| match poll_proceed(&mut cx) {
        Poll::Ready(spent) => {
            spent.made_progress();
            false
        }
        Poll::Pending => true,
    });
    drop(restore);
    budgeted
}
