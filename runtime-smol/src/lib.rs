//! # runtime-smol
//!
//! ZeroMQ sockets on smol, in pure Rust: every socket type, over `tcp://`,
//! `ipc://` and `inproc://`, speaking ZMTP 3.1 with libzmq and every other
//! ZeroMQ peer. This crate is only the I/O: listeners, connects, one task per
//! stream that pumps bytes, and a timer per socket, on smol's global executor
//! and async-io's reactor. async-std runs on the same reactor, so these sockets
//! work under `async_std::task::block_on` as they do under `smol::block_on`.
//!
//! ```
//! use runtime_smol::{Socket, SocketType};
//!
//! smol::block_on(async {
//!     let pull = Socket::new(SocketType::Pull)?;
//!     let endpoint = pull.bind("tcp://127.0.0.1:*")?;
//!     let push = Socket::new(SocketType::Push)?;
//!     push.connect(&endpoint.to_string())?;
//!
//!     push.send("hello").await?;
//!     assert_eq!(&pull.recv().await?.frames()[0][..], b"hello");
//!     Ok::<(), runtime_smol::Error>(())
//! })?;
//! # Ok::<(), runtime_smol::Error>(())
//! ```
//!
//! See [`zmq_runtime::Socket`] for the whole API.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use smol::Async;
use zmq_runtime::{AsyncIo, BacklogWriter, Fd, PUMP_READ_BUDGET, PUMP_SPIN};

/// CURVE certificate files in the zcert (CZMQ, pyzmq) format.
pub use zmq_runtime::cert;
pub use zmq_runtime::proxy::{proxy, proxy_steerable, ProxyStats};
pub use zmq_runtime::{
    msg, poll_async as poll, AllowList, AsEndpoint, AuthReply, AuthRequest, Authenticator,
    Credentials, Endpoint, Error, Events, IntoFrame, KeyPair, Metadata, Monitor, MonitorEvent, Msg,
    OsRandom, Peer, PollItem, Properties, PublicKey, Refusal, RouterNotify, SecretKey, SocketType,
};

/// A socket on smol.
pub type Socket = zmq_runtime::Socket<Smol>;
/// Options for a socket on smol: `Socket::builder(SocketType::Sub)`.
pub type Builder = zmq_runtime::Builder<Smol>;

/// smol (its global executor and async-io's reactor), as a socket's runtime
/// type.
#[derive(Debug, Default)]
pub struct Smol;

impl zmq_runtime::RuntimeKind for Smol {
    type Socket = Socket;

    fn runtime() -> Result<Arc<dyn zmq_runtime::Runtime>, Error> {
        Ok(Arc::new(zmq_runtime::Async::new(Self)))
    }
}

/// The operation first, readiness only after it says WouldBlock: async-io's
/// readiness is "an event since the last `Pending`", so asking before an
/// operation that would succeed costs a trip through the reactor.
fn retry<R>(
    mut ready: impl FnMut() -> Poll<io::Result<()>>,
    mut op: impl FnMut() -> io::Result<R>,
) -> Poll<io::Result<R>> {
    loop {
        match op() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => ready!(ready())?,
            r => return Poll::Ready(r),
        }
    }
}

impl AsyncIo for Smol {
    type Registered<T: Fd> = Async<T>;

    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        smol::spawn(task).detach();
    }

    fn spawn_blocking(&self, f: impl FnOnce() + Send + 'static) -> io::Result<()> {
        smol::unblock(f).detach();
        Ok(())
    }

    fn backlog_writer(&self) -> BacklogWriter {
        BacklogWriter::Sender
    }

    fn pump_spin(&self) -> Duration {
        PUMP_SPIN
    }

    /// The global executor runs the pumps and whatever the application
    /// spawns on it, on one thread unless told otherwise.
    fn read_budget(&self) -> usize {
        PUMP_READ_BUDGET
    }

    /// async-io's readiness is "an event since the last `Pending`": a write
    /// made beside it, whatever its outcome, leaves that right.
    fn direct_ref<'a, T: Fd>(&self, io: &'a Async<T>) -> Option<&'a T> {
        Some(io.get_ref())
    }

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send {
        let timer = smol::Timer::at(deadline);
        async move {
            timer.await;
        }
    }

    /// smol's global executor, which runs the sockets' tasks, runs on
    /// threads it names `smol-1`, `smol-2`...: a blocking call there would
    /// stall them (with the default single thread, for good). Any other
    /// thread, including one in `smol::block_on`, may block.
    fn is_runtime_thread(&self) -> bool {
        std::thread::current().name().is_some_and(|n| {
            n.strip_prefix("smol-")
                .is_some_and(|k| k.parse::<u32>().is_ok())
        })
    }

    fn register<T: Fd>(&self, io: T) -> io::Result<Async<T>> {
        Async::new_nonblocking(io)
    }

    fn poll_read_with<T: Fd, R>(
        &self,
        io: &Async<T>,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        retry(|| io.poll_readable(cx), || op(io.get_ref()))
    }

    fn poll_write_with<T: Fd, R>(
        &self,
        io: &Async<T>,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        retry(|| io.poll_writable(cx), || op(io.get_ref()))
    }
}
