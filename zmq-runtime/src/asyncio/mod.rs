//! The async half of every async adapter: accept loop, connect, the per-stream
//! byte pump ([`pump`]) and the timer, written once over [`AsyncIo`], which is all a
//! runtime has to provide (spawn, sleep, sockets).

mod coalesce;
mod lent;
mod pump;

pub use self::lent::consume;

use std::future::Future;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_lite::future;
use zmq_patterns::engine::{ConnectorId, Endpoint, Host, ListenerId};

use self::pump::pump;
use crate::core::{Core, Runtime};
use crate::net::{self, StdListener, StdStream, TcpOptions};
use crate::signal::{bits, Signal};

/// A socket a reactor can watch: [`StdStream`] or [`StdListener`] (sealed).
///
/// Both own their descriptor through std: it stays open and names the same
/// socket until the value is dropped, which is what reactors that register raw
/// descriptors (tokio's `AsyncFd`) require.
pub trait Fd: sealed::Sealed + AsFd + AsRawFd + Send + Sync + 'static {}

impl Fd for StdStream {}
impl Fd for StdListener {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::net::StdStream {}
    impl Sealed for crate::net::StdListener {}
}

/// The [`AsyncIo::pump_spin`] of runtimes whose application tasks share a
/// thread with the pumps: long enough to cover a loopback round trip.
pub const PUMP_SPIN: Duration = Duration::from_micros(50);

/// The [`AsyncIo::read_budget`] of runtimes whose application tasks share a
/// thread with the pumps: two reads of the largest window.
pub const PUMP_READ_BUDGET: usize = 512 * 1024;

/// The [`AsyncIo::write_coalesce`] of runtimes whose pumps run beside the
/// sending thread. Measured on loopback, tcp, 64 B, blocking runtime: 10 µs
/// gave 4.4-4.9 M msg/s, 30 µs 4.8-6.0 M, 100 µs 6.8-7.1 M, against
/// 3.5-4.0 M without; a burst's tail waits at most this long, while libzmq's
/// own one-way latency on the same machine is about 45 µs.
pub const WRITE_COALESCE: Duration = Duration::from_micros(30);

/// Who writes a stream's backlog when a full write waits for it (see
/// [`AsyncIo::backlog_writer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BacklogWriter {
    /// The stream's pump, always.
    Pump,
    /// The sending thread that finds it waiting. Where the pumps may share
    /// the application's thread (tokio, smol) a sender in a loop would
    /// otherwise queue until its HWM, or without bound, before the pump got
    /// to run: a PUB dropped at its HWM before one byte went out. Measured
    /// on loopback, tcp: tokio 1 KiB 2.6 -> 3.2-3.6 M msg/s, smol 2.5 ->
    /// 3.0 M, tokio multi-thread 64 B 3.0-3.7 -> 4.0-4.3 M (but 1 KiB
    /// 1.5-1.7 -> 1.3-1.5 M).
    Sender,
    /// The sending thread when its socket has several streams, else the
    /// pump: for a runtime whose pumps all run on one thread of its own
    /// beside the senders (the blocking runtime). With one stream that
    /// thread writes while the sender produces the next messages, and a
    /// sender that wrote would only stop producing meanwhile (1 KiB,
    /// blocking pair: 1.4-1.7 -> 0.9-1.3 M msg/s). A publisher's streams
    /// are written one after another by that one thread while the sender
    /// waits on them; a sender that writes those waiting meanwhile shares
    /// the work (ten subscribers, 64 B: 625 k -> 748 k per subscriber,
    /// medians of 6, and a quarter less of the publisher's CPU).
    SenderOfSeveral,
}

/// What an async runtime provides: a task spawner, a clock, a timer, and a
/// reactor to register non-blocking sockets with. [`Async`] turns it into a
/// [`Runtime`]; sockets, reads and writes are this crate's.
pub trait AsyncIo: Send + Sync + Sized + 'static {
    /// A socket registered with the reactor.
    type Registered<T: Fd>: Send + Sync + 'static;

    /// Runs a task in the background.
    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static);
    /// The runtime's clock.
    fn now(&self) -> Instant;
    /// Completes at `deadline`.
    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send;
    /// Registers a non-blocking socket.
    fn register<T: Fd>(&self, io: T) -> io::Result<Self::Registered<T>>;
    /// Runs `op` once the socket is readable, again after every `WouldBlock`.
    fn poll_read_with<T: Fd, R>(
        &self,
        io: &Self::Registered<T>,
        cx: &mut Context<'_>,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>>;
    /// Runs `op` once the socket is writable, again after every `WouldBlock`.
    fn poll_write_with<T: Fd, R>(
        &self,
        io: &Self::Registered<T>,
        cx: &mut Context<'_>,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>>;
    /// Runs `op` once a connecting socket is writable, again after every
    /// `WouldBlock`: the wait of a non-blocking connect. The default is
    /// [`poll_write_with`](AsyncIo::poll_write_with); a runtime that keeps
    /// a wait's registration for the writes that follow (see
    /// `runtime-tokio`) lets this one go, since a connected stream mostly
    /// finds room.
    fn poll_connect_with<T: Fd, R>(
        &self,
        io: &Self::Registered<T>,
        cx: &mut Context<'_>,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_write_with(io, cx, op)
    }
    /// Runs a call that blocks (a host name lookup) where it cannot stall the
    /// executor. The default is a thread of its own; a runtime with a pool
    /// for blocking calls uses that instead.
    fn spawn_blocking(&self, f: impl FnOnce() + Send + 'static) -> io::Result<()> {
        std::thread::Builder::new()
            .name("zmq-blocking".into())
            .spawn(f)
            .map(drop)
    }

    /// The socket behind a registration, when any thread may write to it
    /// directly (a non-blocking write that leaves the reactor's view of it
    /// consistent): then a sending thread writes a stream's bytes itself
    /// while its pump is idle, sparing a wake-up of the pump's task. The
    /// default, `None`, leaves every write to the pump.
    fn direct_ref<'a, T: Fd>(&self, io: &'a Self::Registered<T>) -> Option<&'a T> {
        let _ = io;
        None
    }

    /// Whether a thread blocked in `recv` on a socket with one stream reads
    /// that stream itself while it spins (see `DirectRead`), rather than
    /// wait for the stream's pump to read, decode and wake it. Needs
    /// [`direct_ref`](AsyncIo::direct_ref). Where the pumps run on a thread
    /// of their own (the blocking runtime) that saves a wake-up of that
    /// thread and a hand-over per message received; where they share the
    /// caller's thread there is no blocked thread to read. The default is
    /// false.
    fn read_on_receiver(&self) -> bool {
        false
    }

    /// Who writes a full write (256 KiB) that waits for an idle pump
    /// ([`Engine::is_backlogged`](zmq_patterns::engine::Engine::is_backlogged)):
    /// the pump, or the sending thread that finds it waiting. The sending
    /// thread always writes the first message after a pause itself. Needs
    /// [`direct_ref`](AsyncIo::direct_ref). The default is
    /// [`BacklogWriter::Pump`].
    fn backlog_writer(&self) -> BacklogWriter {
        BacklogWriter::Pump
    }

    /// How long a stream's pump stays scheduled (yielding) after it last
    /// moved bytes, instead of sleeping until woken. Where the application's
    /// tasks and the pumps share a thread, this turns the wake-ups of a
    /// message exchange into polls: tokio's current-thread runtime answered
    /// a 64-byte round trip in 18 µs one way instead of 45, smol in 6
    /// instead of 43. Where they run on separate threads (tokio's
    /// multi-thread runtime, the blocking runtime's I/O thread) the spinning
    /// pump only competes with them for the cores, so the default is zero.
    fn pump_spin(&self) -> Duration {
        Duration::ZERO
    }

    /// How long a stream's pump lets a burst of small messages build up
    /// after a small write before it writes again (see `coalesce`), where
    /// the pump runs on a thread of its own beside the sender. Zero, the
    /// default, writes at once; where the pumps share the application's
    /// thread they cannot run during a burst anyway.
    ///
    /// The runtime's timer must be finer than the window: a timer that
    /// rounds up to the millisecond would hold a burst's tail that long.
    fn write_coalesce(&self) -> Duration {
        Duration::ZERO
    }

    /// How many bytes a stream's pump reads per wake-up before it yields,
    /// where the pumps share the application's thread. A pump that reads on
    /// while the kernel has bytes (up to its budget of reads, 8 MiB at
    /// 64 KiB messages) keeps the application from taking them meanwhile:
    /// the receive queue, and the memory under it, grows by that much, and
    /// the messages are cold by the time they are taken. The default, no
    /// limit, is for runtimes whose pumps run beside the application.
    fn read_budget(&self) -> usize {
        usize::MAX
    }

    /// Yields a pump's turn so that the application's tasks on its thread
    /// run before it is polled again. The default wakes the task at once,
    /// which an executor with one queue serves after the tasks already
    /// waiting.
    fn yield_now(&self, cx: &mut Context<'_>) {
        cx.waker().wake_by_ref();
    }

    /// Whether the calling thread runs this runtime's tasks (an executor's
    /// worker, or a thread inside the runtime's `block_on`): see
    /// [`Runtime::is_runtime_thread`]. The default, false, lets every
    /// blocking call through.
    fn is_runtime_thread(&self) -> bool {
        false
    }

    /// See [`Runtime::spin_yields_core`]; the default is true.
    fn spin_yields_core(&self) -> bool {
        true
    }
}

/// An [`AsyncIo`] as a [`Runtime`].
pub struct Async<I>(Arc<I>);

impl<I: AsyncIo> Async<I> {
    /// Wraps the runtime's I/O.
    pub fn new(io: I) -> Self {
        Self(Arc::new(io))
    }
}

/// Stops an accept loop when dropped, and stops the socket listening at once
/// (the task that owns it ends on its next poll), so that the endpoint can
/// be bound again straight after `unbind`.
struct StopOnDrop {
    stop: Arc<Signal>,
    listener: StdListener,
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.listener.shutdown();
        self.stop.raise(bits::CLOSE);
    }
}

impl<I: AsyncIo> Runtime for Async<I> {
    fn now(&self) -> Instant {
        self.0.now()
    }

    fn listen(
        &self,
        core: &Core,
        id: ListenerId,
        listener: StdListener,
    ) -> io::Result<Box<dyn Send>> {
        let handle = listener.try_clone()?;
        let listener = self.0.register(listener)?;
        let stop = Arc::new(Signal::default());
        self.0.spawn(accept_loop(
            self.0.clone(),
            core.clone(),
            id,
            listener,
            stop.clone(),
        ));
        Ok(Box::new(StopOnDrop {
            stop,
            listener: handle,
        }))
    }

    fn connect(&self, core: &Core, id: ConnectorId, endpoint: Endpoint) -> io::Result<()> {
        self.0
            .spawn(connect(self.0.clone(), core.clone(), id, endpoint));
        Ok(())
    }

    fn start_timer(&self, core: &Core) {
        self.0.spawn(timer(self.0.clone(), core.clone()));
    }

    fn is_runtime_thread(&self) -> bool {
        self.0.is_runtime_thread()
    }

    fn spin_yields_core(&self) -> bool {
        self.0.spin_yields_core()
    }
}

async fn accept_loop<I: AsyncIo>(
    io: Arc<I>,
    core: Core,
    id: ListenerId,
    listener: I::Registered<StdListener>,
    stop: Arc<Signal>,
) {
    let opts = core.tcp_options().clone();
    loop {
        let accept =
            std::future::poll_fn(|cx| io.poll_read_with(&listener, cx, |l| l.accept(&opts, true)));
        let next = future::or(async { Some(accept.await) }, async {
            stop.wait(bits::CLOSE).await;
            None
        })
        .await;
        match next {
            None => return,
            Some(Ok((stream, peer))) => {
                let Some(ctl) = core.handle_accepted(id, peer) else {
                    return;
                };
                match io.register(stream) {
                    Ok(stream) => io.spawn(pump(io.clone(), stream, ctl)),
                    Err(_) => ctl.handle_eof(),
                }
            }
            Some(Err(_)) => {
                let later = io.now() + net::ACCEPT_BACKOFF;
                io.sleep_until(later).await;
            }
        }
    }
}

async fn connect<I: AsyncIo>(io: Arc<I>, core: Core, id: ConnectorId, endpoint: Endpoint) {
    let stream = match &endpoint {
        Endpoint::Tcp {
            host,
            port: Some(port),
        } => connect_tcp(&*io, host, *port, &core.connect_options(id)).await,
        Endpoint::Ipc(addr) => net::start_connect_ipc(addr).and_then(|s| {
            let peer = net::ipc_peer_address(&s);
            Ok((io.register(s)?, peer))
        }),
        _ => Err(io::ErrorKind::InvalidInput.into()),
    };
    match stream {
        Ok((stream, peer)) => {
            if let Some(ctl) = core.handle_connected(id, peer) {
                pump(io, stream, ctl).await;
            }
        }
        Err(_) => core.handle_connect_failed(id),
    }
}

/// Tries every address the host resolves to, in order, each for at most
/// CONNECT_TIMEOUT.
async fn connect_tcp<I: AsyncIo>(
    io: &I,
    host: &Host,
    port: u16,
    opts: &TcpOptions,
) -> io::Result<(I::Registered<StdStream>, String)> {
    let addrs = match net::tcp_target(host, port) {
        Ok(addr) => vec![addr],
        Err(name) => opts.usable(resolve(io, name, port).await?),
    };
    let mut last = io::Error::new(io::ErrorKind::NotFound, "host name resolved to no address");
    for addr in addrs {
        let attempt = async {
            let s = io.register(net::start_connect_tcp(addr, opts)?)?;
            std::future::poll_fn(|cx| io.poll_connect_with(&s, cx, StdStream::connect_result))
                .await?;
            Ok::<_, io::Error>(s)
        };
        let attempt = async {
            match opts.connect_timeout.and_then(|t| io.now().checked_add(t)) {
                Some(deadline) => {
                    future::or(attempt, async {
                        io.sleep_until(deadline).await;
                        Err(io::ErrorKind::TimedOut.into())
                    })
                    .await
                }
                None => attempt.await,
            }
        };
        match attempt.await {
            Ok(s) => return Ok((s, net::peer_address(Some(addr)))),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Resolves a host name through [`AsyncIo::spawn_blocking`] (`getaddrinfo`
/// blocks), waiting for the answer without blocking the executor.
async fn resolve<I: AsyncIo>(io: &I, host: String, port: u16) -> io::Result<Vec<SocketAddr>> {
    type Answer = Mutex<Option<io::Result<Vec<SocketAddr>>>>;
    let answer: Arc<(Answer, Signal)> = Arc::default();
    let a = answer.clone();
    io.spawn_blocking(move || {
        let r = (host.as_str(), port)
            .to_socket_addrs()
            .map(Iterator::collect);
        *a.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(r);
        a.1.raise(bits::ANSWER);
    })?;
    loop {
        answer.1.wait(bits::ANSWER).await;
        if let Some(r) = answer
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            return r;
        }
    }
}

async fn timer<I: AsyncIo>(io: Arc<I>, core: Core) {
    loop {
        let deadline = core.arm_timer();
        if core.is_finished() {
            return;
        }
        let changed = core.timer().wait(bits::DEADLINE);
        match deadline {
            Some(d) => future::or(io.sleep_until(d), changed).await,
            None => changed.await,
        }
        core.handle_timeout();
        // A deadline that stays in the past must not starve the executor.
        future::yield_now().await;
    }
}
