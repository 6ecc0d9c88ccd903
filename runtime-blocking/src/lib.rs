//! # runtime-blocking
//!
//! ZeroMQ sockets with a blocking API, on plain threads and std sockets: no
//! async runtime anywhere. Every socket type over `tcp://`, `ipc://` and
//! `inproc://`, speaking ZMTP 3.1 with libzmq and every other ZeroMQ peer.
//!
//! One I/O thread per process moves the bytes of every socket's streams
//! through a readiness poller (async-io's reactor), so the thread count does
//! not grow with connections or listeners; the protocol and patterns run in
//! the shared engine (`zmq-patterns`, `zmq-runtime`), so this crate is only
//! the I/O.
//!
//! ```
//! use runtime_blocking::{Socket, SocketType};
//!
//! let rep = Socket::new(SocketType::Rep)?;
//! let endpoint = rep.bind("tcp://127.0.0.1:*")?;
//! let req = Socket::new(SocketType::Req)?;
//! req.connect(&endpoint.to_string())?;
//!
//! req.send("hello")?;
//! let request = rep.recv()?;
//! rep.send(request)?;
//! assert_eq!(&req.recv()?.frames()[0][..], b"hello");
//! # Ok::<(), runtime_blocking::Error>(())
//! ```
//!
//! `send` and `recv` wait for ever unless SNDTIMEO / RCVTIMEO are set on the
//! [`Builder`] (or later, with `set_sndtimeo` / `set_rcvtimeo`); [`poll`]
//! waits on several sockets as `zmq_poll` does.

use std::future::Future;
use std::io;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};
use std::task::{ready, Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use async_executor::Executor;
use zmq_runtime::{AsyncIo, BacklogWriter, Core, Fd, Pollable};

/// CURVE certificate files in the zcert (CZMQ, pyzmq) format.
pub use zmq_runtime::cert;
pub use zmq_runtime::proxy::{
    proxy_blocking as proxy, proxy_steerable_blocking as proxy_steerable, ProxyStats,
};
pub use zmq_runtime::{
    block_on_thread as block_on, msg, poll, AllowList, AsEndpoint, AuthReply, AuthRequest,
    Authenticator, Credentials, Endpoint, Error, Events, IntoFrame, KeyPair, Metadata,
    MonitorEvent, Msg, OsRandom, Peer, PollItem, Properties, PublicKey, Refusal, RouterNotify,
    SecretKey, SocketType,
};

/// Options for a blocking socket: `Socket::builder(SocketType::Sub)`.
pub type Builder = zmq_runtime::Builder<Threads>;

/// A socket with a blocking API. Everything not about waiting (bind, connect,
/// subscribe, monitor, `try_send`...) comes from [`zmq_runtime::Socket`]
/// through `Deref`.
#[derive(Debug)]
pub struct Socket(zmq_runtime::Socket<Threads>);

impl Socket {
    /// A socket of this type with libzmq's default options.
    pub fn new(kind: SocketType) -> Result<Self, Error> {
        Builder::new(kind).build()
    }

    /// A builder for a socket with options.
    pub fn builder(kind: SocketType) -> Builder {
        Builder::new(kind)
    }

    /// Sends, waiting at most SNDTIMEO while the socket cannot take the message.
    pub fn send(&self, msg: impl Into<Msg>) -> Result<(), Error> {
        self.0.send_blocking(msg, self.0.timeouts().0)
    }

    /// Receives, waiting at most RCVTIMEO.
    pub fn recv(&self) -> Result<Msg, Error> {
        self.0.recv_blocking(self.0.timeouts().1)
    }

    /// Sends, waiting at most `timeout` (`None`: for ever).
    pub fn send_timeout(
        &self,
        msg: impl Into<Msg>,
        timeout: Option<Duration>,
    ) -> Result<(), Error> {
        self.0.send_blocking(msg, timeout)
    }

    /// Receives, waiting at most `timeout` (`None`: for ever).
    pub fn recv_timeout(&self, timeout: Option<Duration>) -> Result<Msg, Error> {
        self.0.recv_blocking(timeout)
    }

    /// Closes the socket and waits until LINGER has delivered what was queued.
    pub fn close(self) {
        self.0.close_blocking();
    }

    /// A new monitor of this socket's events, as a blocking iterator: every
    /// event from now on (each monitor gets them all).
    pub fn monitor(&self) -> Monitor {
        Monitor(self.0.monitor())
    }
}

/// A socket's events (`zmq_socket_monitor`), from [`Socket::monitor`]: an
/// iterator that blocks for the next event and ends once the socket is
/// closed and every event was read.
#[derive(Debug)]
pub struct Monitor(zmq_runtime::Monitor);

impl Monitor {
    /// Blocks for the next event, at most `timeout` (`None`: for ever):
    /// [`Error::Timeout`] when none came, [`Error::Closed`] once the socket
    /// is gone and every event was read.
    pub fn next_timeout(&mut self, timeout: Option<Duration>) -> Result<MonitorEvent, Error> {
        self.0.next_blocking(timeout)
    }

    /// The next event if one is waiting.
    pub fn try_next(&mut self) -> Option<MonitorEvent> {
        self.0.try_next()
    }

    /// How many events this monitor lost because nobody read them and its
    /// queue (1000 events) was full.
    pub fn missed(&self) -> u64 {
        self.0.missed()
    }
}

impl Iterator for Monitor {
    type Item = MonitorEvent;

    /// Blocks for the next event; `None` once the socket is gone.
    fn next(&mut self) -> Option<MonitorEvent> {
        self.0.next_blocking(None).ok()
    }
}

impl Deref for Socket {
    type Target = zmq_runtime::Socket<Threads>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl From<zmq_runtime::Socket<Threads>> for Socket {
    fn from(s: zmq_runtime::Socket<Threads>) -> Self {
        Self(s)
    }
}

impl Pollable for Socket {
    fn core(&self) -> &Core {
        self.0.core()
    }
}

/// The blocking runtime, as a socket's runtime type: every socket's streams,
/// listeners and timers run on one process-wide I/O thread; the caller's
/// thread blocks in `send`/`recv`/`poll`, writing the first message after a
/// pause itself and, while it waits on a socket with one connection,
/// reading that connection itself.
#[derive(Debug)]
pub struct Threads;

impl zmq_runtime::RuntimeKind for Threads {
    type Socket = Socket;

    fn runtime() -> Result<Arc<dyn zmq_runtime::Runtime>, Error> {
        Ok(Arc::new(zmq_runtime::Async::new(IoThread::get()?)))
    }
}

/// The process-wide I/O thread: an executor whose tasks (one per stream, per
/// listener, per socket timer) wait on async-io's reactor, so that the
/// number of threads does not grow with connections (1,000 idle peers cost
/// 1,000 parked tasks, not 2,000 threads).
#[derive(Debug, Clone)]
struct IoThread {
    executor: Arc<Executor<'static>>,
}

thread_local! {
    /// Set on the I/O thread: asked on every blocking call, where
    /// `thread::current()` would cost a reference count up and down.
    static ON_IO_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl IoThread {
    /// Starts the thread on first use; a failure to start it is reported to
    /// every later `Socket::new` too, rather than retried on each.
    fn get() -> Result<Self, Error> {
        static IO: OnceLock<Result<IoThread, io::ErrorKind>> = OnceLock::new();
        IO.get_or_init(|| {
            let executor = Arc::new(Executor::new());
            let ex = executor.clone();
            thread::Builder::new()
                .name("zmq-io".into())
                // `block_on` drives the reactor itself while the executor has
                // nothing to run: a wake-up is one epoll return, not a hop
                // through async-io's own thread.
                .spawn(move || {
                    ON_IO_THREAD.with(|on| on.set(true));
                    async_io::block_on(ex.run(std::future::pending::<()>()));
                })
                .map_err(|e| e.kind())?;
            Ok(Self { executor })
        })
        .clone()
        .map_err(|kind| {
            Error::NoRuntime(format!(
                "runtime-blocking cannot start its zmq-io thread: {}",
                io::Error::from(kind)
            ))
        })
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

impl AsyncIo for IoThread {
    type Registered<T: Fd> = async_io::Async<T>;

    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.executor.spawn(task).detach();
    }

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send {
        let timer = async_io::Timer::at(deadline);
        async move {
            timer.await;
        }
    }

    /// A blocking call on the I/O thread would stall every socket's I/O, the
    /// one it waits for included; user code never runs there, but a callback
    /// might.
    fn is_runtime_thread(&self) -> bool {
        ON_IO_THREAD.with(std::cell::Cell::get)
    }

    /// async-io's readiness is "an event since the last `Pending`": a write
    /// made by another thread, whatever its outcome, leaves it right, so
    /// the sending thread may write while the stream's pump sleeps.
    fn direct_ref<'a, T: Fd>(&self, io: &'a async_io::Async<T>) -> Option<&'a T> {
        Some(io.get_ref())
    }

    /// A thread blocked in `recv` reads its socket's stream itself: a reply
    /// then needs no wake-up of the I/O thread and no hand-over from it.
    fn read_on_receiver(&self) -> bool {
        true
    }

    /// One I/O thread writes every stream: a publisher's sender writes the
    /// streams that wait for it meanwhile.
    fn backlog_writer(&self) -> BacklogWriter {
        BacklogWriter::SenderOfSeveral
    }

    /// The I/O thread runs beside the sending threads, and async-io's
    /// timers are precise (a timerfd).
    fn write_coalesce(&self) -> Duration {
        zmq_runtime::WRITE_COALESCE
    }

    fn register<T: Fd>(&self, io: T) -> io::Result<async_io::Async<T>> {
        async_io::Async::new_nonblocking(io)
    }

    fn poll_read_with<T: Fd, R>(
        &self,
        io: &async_io::Async<T>,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        retry(|| io.poll_readable(cx), || op(io.get_ref()))
    }

    fn poll_write_with<T: Fd, R>(
        &self,
        io: &async_io::Async<T>,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        retry(|| io.poll_writable(cx), || op(io.get_ref()))
    }
}
