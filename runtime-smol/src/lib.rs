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
use std::io::{self, IoSlice, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use bytes::BytesMut;
use smol::Async;
use zmq_runtime::{
    configure_tcp, peer_address, read_buf, AsyncIo, AsyncStream, StdListener, TcpOptions,
};

pub use zmq_runtime::proxy::{proxy, proxy_steerable, ProxyStats};
pub use zmq_runtime::{
    msg, poll_async as poll, AllowList, Authenticator, Endpoint, Error, Events, KeyPair, Monitor,
    MonitorEvent, Msg, PollItem, PublicKey, SecretKey, SocketType,
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

/// An async-io stream: TCP or Unix.
#[derive(Debug)]
pub enum Stream {
    /// TCP.
    Tcp(Async<TcpStream>),
    /// Unix domain socket.
    Unix(Async<UnixStream>),
}

/// An async-io listener: TCP or Unix.
#[derive(Debug)]
pub enum Listener {
    /// TCP.
    Tcp(Async<TcpListener>),
    /// Unix domain socket.
    Unix(Async<UnixListener>),
}

impl AsyncIo for Smol {
    type Stream = Stream;
    type Listener = Listener;

    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        smol::spawn(task).detach();
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

    fn listener(&self, listener: StdListener) -> io::Result<Listener> {
        Ok(match listener {
            StdListener::Tcp(l) => Listener::Tcp(Async::new(l)?),
            StdListener::Unix(l) => Listener::Unix(Async::new(l)?),
        })
    }

    async fn accept(&self, listener: &Listener, opts: &TcpOptions) -> io::Result<(Stream, String)> {
        match listener {
            Listener::Tcp(l) => {
                let (s, addr) = l.accept().await?;
                configure_tcp(&s, opts)?;
                Ok((Stream::Tcp(s), peer_address(Some(addr))))
            }
            Listener::Unix(l) => Ok((Stream::Unix(l.accept().await?.0), String::new())),
        }
    }

    async fn connect_tcp(&self, addr: SocketAddr, opts: &TcpOptions) -> io::Result<Stream> {
        let s = Async::<TcpStream>::connect(addr).await?;
        configure_tcp(&s, opts)?;
        Ok(Stream::Tcp(s))
    }

    async fn resolve(&self, host: String, port: u16) -> io::Result<Vec<SocketAddr>> {
        smol::net::resolve((host.as_str(), port)).await
    }

    fn unix_stream(&self, stream: UnixStream) -> io::Result<Stream> {
        Ok(Stream::Unix(Async::new(stream)?))
    }
}

/// Retries a std call after async-io readiness until it stops saying
/// WouldBlock.
macro_rules! poll_io {
    ($s:expr, $cx:expr, $ready:ident, $op:expr) => {
        loop {
            ready!($s.$ready($cx))?;
            match $op {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                r => return Poll::Ready(r),
            }
        }
    };
}

impl AsyncStream for Stream {
    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut BytesMut) -> Poll<io::Result<usize>> {
        match self {
            Self::Tcp(s) => poll_io!(s, cx, poll_readable, read_buf(s.get_ref(), buf, 0)),
            Self::Unix(s) => poll_io!(s, cx, poll_readable, read_buf(s.get_ref(), buf, 0)),
        }
    }

    fn poll_write(&self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        match self {
            Self::Tcp(s) => poll_io!(s, cx, poll_writable, s.get_ref().write_vectored(bufs)),
            Self::Unix(s) => poll_io!(s, cx, poll_writable, s.get_ref().write_vectored(bufs)),
        }
    }
}
