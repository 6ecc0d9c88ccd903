//! The async half of every async adapter: accept loop, connect, the per-stream
//! byte pump and the timer, written once over [`AsyncIo`], which is all a
//! runtime has to provide (spawn, sleep, sockets).

use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use futures_lite::future;
use smallvec::SmallVec;
use zmq_patterns::engine::{ConnectorId, Endpoint, Host, ListenerId};

use crate::core::{Core, StreamCtl};
use crate::net::{self, StdListener, TcpOptions};
use crate::runtime::Runtime;
use crate::signal::{bits, Signal};

/// Bytes asked of the engine per write: enough to batch thousands of small
/// messages in one vectored write.
const WRITE_LIMIT: usize = 256 * 1024;
/// Free space kept in the read buffer before each read.
const READ_CHUNK: usize = 64 * 1024;
/// Slices per vectored write (Linux takes up to 1024; large bodies are few).
const MAX_IOV: usize = 64;
/// Reads and writes per wake-up before the pump yields to other tasks.
const BUDGET: usize = 32;

/// A stream of an async runtime: readiness-based reads and writes through a
/// shared reference, so one task can wait on both directions at once.
pub trait AsyncStream: Send + Sync + 'static {
    /// Reads into the spare capacity of `buf`; `Ok(0)` is end of file.
    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Poll<io::Result<usize>>;

    /// Writes some of `bufs` in one call.
    fn poll_write(&self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>>;
}

/// What an async runtime provides. Implement this, and [`Async`] turns it into
/// a [`Runtime`].
pub trait AsyncIo: Send + Sync + Sized + 'static {
    /// The runtime's stream type (TCP or Unix).
    type Stream: AsyncStream;
    /// The runtime's listener type (TCP or Unix).
    type Listener: Send + Sync + 'static;

    /// Runs a task in the background.
    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static);
    /// The runtime's clock.
    fn now(&self) -> Instant;
    /// Completes at `deadline`.
    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send;
    /// Wraps a bound, non-blocking std listener.
    fn listener(&self, listener: StdListener) -> io::Result<Self::Listener>;
    /// Accepts the next stream with its peer address (IP, or empty for IPC),
    /// TCP streams configured with [`net::configure_tcp`].
    fn accept<'a>(
        &'a self,
        listener: &'a Self::Listener,
        opts: &'a TcpOptions,
    ) -> impl Future<Output = io::Result<(Self::Stream, String)>> + Send + 'a;
    /// Connects to one TCP address and configures the stream.
    fn connect_tcp<'a>(
        &'a self,
        addr: SocketAddr,
        opts: &'a TcpOptions,
    ) -> impl Future<Output = io::Result<Self::Stream>> + Send + 'a;
    /// Resolves a host name.
    fn resolve(
        &self,
        host: String,
        port: u16,
    ) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send;
    /// Wraps a connected, non-blocking std Unix stream.
    fn unix_stream(&self, stream: std::os::unix::net::UnixStream) -> io::Result<Self::Stream>;
}

/// An [`AsyncIo`] as a [`Runtime`].
pub struct Async<I>(Arc<I>);

impl<I: AsyncIo> Async<I> {
    /// Wraps the runtime's I/O.
    pub fn new(io: I) -> Self {
        Self(Arc::new(io))
    }
}

/// Stops an accept loop when dropped.
struct StopOnDrop(Arc<Signal>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.raise(bits::CLOSE);
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
        let listener = self.0.listener(listener)?;
        let stop = Arc::new(Signal::default());
        self.0.spawn(accept_loop(
            self.0.clone(),
            core.clone(),
            id,
            listener,
            stop.clone(),
        ));
        Ok(Box::new(StopOnDrop(stop)))
    }

    fn connect(&self, core: &Core, id: ConnectorId, endpoint: Endpoint) {
        self.0
            .spawn(connect(self.0.clone(), core.clone(), id, endpoint));
    }

    fn start_timer(&self, core: &Core) {
        self.0.spawn(timer(self.0.clone(), core.clone()));
    }
}

async fn accept_loop<I: AsyncIo>(
    io: Arc<I>,
    core: Core,
    id: ListenerId,
    listener: I::Listener,
    stop: Arc<Signal>,
) {
    loop {
        let next = future::or(
            async { Some(io.accept(&listener, core.tcp_options()).await) },
            async {
                stop.wait(bits::CLOSE).await;
                None
            },
        )
        .await;
        match next {
            None => return,
            Some(Ok((stream, peer))) => match core.handle_accepted(id, peer) {
                Some(ctl) => io.spawn(pump(stream, ctl)),
                None => return,
            },
            // Out of descriptors or an aborted handshake: back off a little,
            // as libzmq's accept loop does, instead of spinning.
            Some(Err(_)) => {
                let later = io.now() + std::time::Duration::from_millis(100);
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
        } => connect_tcp(&*io, host, *port, core.tcp_options()).await,
        Endpoint::Ipc(addr) => net::connect_ipc(addr)
            .and_then(|s| {
                s.set_nonblocking(true)?;
                io.unix_stream(s)
            })
            .map(|s| (s, String::new())),
        _ => Err(io::ErrorKind::InvalidInput.into()),
    };
    match stream {
        Ok((stream, peer)) => {
            if let Some(ctl) = core.handle_connected(id, peer) {
                pump(stream, ctl).await;
            }
        }
        Err(_) => core.handle_connect_failed(id),
    }
}

/// Tries every address the host resolves to, in order.
async fn connect_tcp<I: AsyncIo>(
    io: &I,
    host: &Host,
    port: u16,
    opts: &TcpOptions,
) -> io::Result<(I::Stream, String)> {
    let addrs = match net::tcp_target(host, port) {
        Ok(addr) => vec![addr],
        Err(name) => io.resolve(name, port).await?,
    };
    let mut last = io::Error::new(io::ErrorKind::NotFound, "host name resolved to no address");
    for addr in addrs {
        match io.connect_tcp(addr, opts).await {
            Ok(s) => return Ok((s, addr.ip().to_string())),
            Err(e) => last = e,
        }
    }
    Err(last)
}

async fn timer<I: AsyncIo>(io: Arc<I>, core: Core) {
    loop {
        let deadline = core.arm_timer();
        if core.is_finished() {
            return;
        }
        let changed = core.timer().wait(bits::FLUSH);
        match deadline {
            Some(d) => future::or(io.sleep_until(d), changed).await,
            None => changed.await,
        }
        core.handle_timeout();
    }
}

/// Moves bytes between one stream and the engine until the stream ends.
async fn pump<S: AsyncStream>(stream: S, ctl: StreamCtl) {
    let mut p = Pump {
        stream,
        ctl,
        rbuf: BytesMut::with_capacity(READ_CHUNK),
        out: VecDeque::new(),
        reading: true,
    };
    std::future::poll_fn(|cx| p.poll(cx)).await;
}

struct Pump<S> {
    stream: S,
    ctl: StreamCtl,
    rbuf: BytesMut,
    out: VecDeque<Bytes>,
    reading: bool,
}

impl<S: AsyncStream> Pump<S> {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let signal = self.ctl.signal();
        signal.register_writer(cx.waker());
        signal.register_reader(cx.waker());
        for _ in 0..BUDGET {
            let signal = self.ctl.signal();
            if signal.is_aborted() {
                return Poll::Ready(());
            }
            let mut progress = false;
            let closing = signal.is_closing();
            signal.take(bits::FLUSH);
            if self.out.is_empty() {
                self.ctl.fill(&mut self.out, WRITE_LIMIT);
            }
            if self.out.is_empty() {
                if closing {
                    return Poll::Ready(());
                }
            } else {
                let written = {
                    let slices: SmallVec<[IoSlice<'_>; MAX_IOV]> = self
                        .out
                        .iter()
                        .take(MAX_IOV)
                        .map(|b| IoSlice::new(b))
                        .collect();
                    self.stream.poll_write(cx, &slices)
                };
                match written {
                    Poll::Ready(Ok(n)) if n > 0 => {
                        consume(&mut self.out, n);
                        progress = true;
                    }
                    Poll::Ready(_) => {
                        self.ctl.handle_eof();
                        return Poll::Ready(());
                    }
                    Poll::Pending => {}
                }
            }
            if self.ctl.signal().take(bits::RESUME) {
                self.reading = true;
            }
            if self.reading && !closing {
                if self.rbuf.capacity() - self.rbuf.len() < READ_CHUNK / 4 {
                    self.rbuf.reserve(READ_CHUNK);
                }
                match self.stream.poll_read(cx, &mut self.rbuf) {
                    Poll::Ready(Ok(n)) if n > 0 => {
                        self.reading = self.ctl.handle_input(&mut self.rbuf);
                        progress = true;
                    }
                    Poll::Ready(_) => {
                        self.ctl.handle_eof();
                        return Poll::Ready(());
                    }
                    Poll::Pending => {}
                }
            }
            if !progress {
                return Poll::Pending;
            }
        }
        // Out of budget with work left: let other tasks run, then continue.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Drops `n` written bytes from the front of a write queue (after a partial
/// vectored write).
pub fn consume(out: &mut VecDeque<Bytes>, mut n: usize) {
    while n > 0 {
        let Some(front) = out.front_mut() else {
            return;
        };
        if front.len() <= n {
            n -= front.len();
            out.pop_front();
        } else {
            front.advance(n);
            n = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consume_drops_whole_and_partial_chunks() {
        let mut q: VecDeque<Bytes> = ["abc", "de", "fgh"]
            .iter()
            .map(|s| Bytes::from_static(s.as_bytes()))
            .collect();
        consume(&mut q, 4);
        assert_eq!(q.len(), 2);
        assert_eq!(&q[0][..], b"e");
        consume(&mut q, 1);
        assert_eq!(&q[0][..], b"fgh");
        consume(&mut q, 10);
        assert!(q.is_empty());
    }
}
