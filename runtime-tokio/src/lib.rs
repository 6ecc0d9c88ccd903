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

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use bytes::BytesMut;
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::runtime::Handle;
use zmq_runtime::{
    configure_tcp, peer_address, Async, AsyncIo, AsyncStream, StdListener, TcpOptions,
};

pub use zmq_runtime::proxy::{proxy, proxy_steerable, ProxyStats};
pub use zmq_runtime::{
    msg, poll_async as poll, AllowList, Authenticator, Endpoint, Error, Events, KeyPair, Monitor,
    MonitorEvent, Msg, PollItem, PublicKey, SecretKey, SocketType,
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

/// A tokio stream: TCP or Unix.
#[derive(Debug)]
pub enum Stream {
    /// TCP.
    Tcp(TcpStream),
    /// Unix domain socket.
    Unix(UnixStream),
}

/// A tokio listener: TCP or Unix.
#[derive(Debug)]
pub enum Listener {
    /// TCP.
    Tcp(TcpListener),
    /// Unix domain socket.
    Unix(UnixListener),
}

impl AsyncIo for Tokio {
    type Stream = Stream;
    type Listener = Listener;

    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.handle.spawn(task);
    }

    fn now(&self) -> Instant {
        // tokio's clock, so that `start_paused` tests run heartbeats in virtual
        // time.
        tokio::time::Instant::now().into_std()
    }

    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send {
        tokio::time::sleep_until(deadline.into())
    }

    fn listener(&self, listener: StdListener) -> io::Result<Listener> {
        let _guard = self.handle.enter();
        Ok(match listener {
            StdListener::Tcp(l) => Listener::Tcp(TcpListener::from_std(l)?),
            StdListener::Unix(l) => Listener::Unix(UnixListener::from_std(l)?),
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
        let s = TcpStream::connect(addr).await?;
        configure_tcp(&s, opts)?;
        Ok(Stream::Tcp(s))
    }

    async fn resolve(&self, host: String, port: u16) -> io::Result<Vec<SocketAddr>> {
        Ok(tokio::net::lookup_host((host.as_str(), port))
            .await?
            .collect())
    }

    fn unix_stream(&self, stream: std::os::unix::net::UnixStream) -> io::Result<Stream> {
        let _guard = self.handle.enter();
        Ok(Stream::Unix(UnixStream::from_std(stream)?))
    }
}

/// Retries a `try_*` call after readiness until it stops saying WouldBlock.
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
            Self::Tcp(s) => poll_io!(s, cx, poll_read_ready, s.try_read_buf(buf)),
            Self::Unix(s) => poll_io!(s, cx, poll_read_ready, s.try_read_buf(buf)),
        }
    }

    fn poll_write(&self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        match self {
            Self::Tcp(s) => poll_io!(s, cx, poll_write_ready, s.try_write_vectored(bufs)),
            Self::Unix(s) => poll_io!(s, cx, poll_write_ready, s.try_write_vectored(bufs)),
        }
    }
}
