//! Sockets with std and socket2, for every runtime: binding (synchronous, as in
//! libzmq, so its errors come back from `bind`), accepting, connecting without
//! blocking, reading and writing. An async adapter only registers these
//! sockets with its reactor; the blocking adapter uses them as they are.

use std::io::{self, IoSlice, Read, Write};
use std::net::{
    IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs,
};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

use bytes::BytesMut;
use socket2::{Domain, SockAddr, SockRef, Socket, Type};
use zmq_patterns::engine::{Endpoint, Host, IpcAddr};

use crate::error::Error;
use crate::ipc_dir;
pub(crate) use crate::ipc_peer::ipc_peer_address;
use crate::tcp::connect_tcp_blocking;
pub use crate::tcp::{configure_tcp, TcpOptions};

/// How long an accept loop pauses after a failed accept (out of descriptors,
/// an aborted handshake) instead of spinning, as libzmq's does.
pub(crate) const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A bound listener (TCP or Unix).
#[derive(Debug)]
pub enum StdListener {
    /// A TCP listener.
    Tcp(TcpListener),
    /// A Unix domain socket listener.
    Unix(UnixListener),
}

impl StdListener {
    /// Accepts one stream, configured (TCP options, blocking mode as asked),
    /// with its [`peer_address`].
    pub fn accept(&self, opts: &TcpOptions, nonblocking: bool) -> io::Result<(StdStream, String)> {
        let (stream, peer) = match self {
            Self::Tcp(l) => {
                let (s, addr) = l.accept()?;
                configure_tcp(&s, opts)?;
                (StdStream::Tcp(s), peer_address(Some(addr)))
            }
            Self::Unix(l) => {
                let s = l.accept()?.0;
                let peer = ipc_peer_address(&s);
                (StdStream::Unix(s), peer)
            }
        };
        stream.set_nonblocking(nonblocking)?;
        Ok((stream, peer))
    }

    /// Sets the blocking mode of `accept`.
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match self {
            Self::Tcp(l) => l.set_nonblocking(on),
            Self::Unix(l) => l.set_nonblocking(on),
        }
    }

    /// Wakes a thread blocked in `accept` (Linux), for good; the port stops
    /// listening at once, so it can be bound again right away.
    pub fn shutdown(&self) {
        let _ = SockRef::from(self).shutdown(Shutdown::Both);
    }

    /// A second handle on the same listening socket.
    pub fn try_clone(&self) -> io::Result<Self> {
        Ok(match self {
            Self::Tcp(l) => Self::Tcp(l.try_clone()?),
            Self::Unix(l) => Self::Unix(l.try_clone()?),
        })
    }
}

impl AsFd for StdListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Self::Tcp(l) => l.as_fd(),
            Self::Unix(l) => l.as_fd(),
        }
    }
}

impl AsRawFd for StdListener {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

/// A connected stream (TCP or Unix). Reads and writes go through `&self`, so
/// a reader and a writer can share it.
#[derive(Debug)]
pub enum StdStream {
    /// A TCP stream.
    Tcp(TcpStream),
    /// A Unix domain socket stream.
    Unix(UnixStream),
}

impl StdStream {
    /// Reads once into `buf`.
    pub fn read_into(&self, buf: &mut ReadBuf) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => buf.read_socket(s),
            Self::Unix(s) => buf.read_socket(s),
        }
    }

    /// Writes some of `bufs` in one call.
    pub fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => (&*s).write_vectored(bufs),
            Self::Unix(s) => (&*s).write_vectored(bufs),
        }
    }

    /// Sets the blocking mode.
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.set_nonblocking(on),
            Self::Unix(s) => s.set_nonblocking(on),
        }
    }

    /// SO_SNDTIMEO, for blocking writers that must look up now and then.
    pub fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.set_write_timeout(t),
            Self::Unix(s) => s.set_write_timeout(t),
        }
    }

    /// Shuts both directions down (wakes a blocked reader).
    pub fn shutdown(&self) {
        let _ = SockRef::from(self).shutdown(Shutdown::Both);
    }

    /// Sends FIN after the last byte written, keeping the read side open.
    pub fn shutdown_write(&self) {
        let _ = SockRef::from(self).shutdown(Shutdown::Write);
    }

    /// After a non-blocking connect became writable: `Ok` once connected,
    /// `WouldBlock` while still in progress, the error if it failed.
    pub fn connect_result(&self) -> io::Result<()> {
        let sock = SockRef::from(self);
        if let Some(e) = sock.take_error()? {
            return Err(e);
        }
        match sock.peer_addr() {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                Err(io::ErrorKind::WouldBlock.into())
            }
            Err(e) => Err(e),
        }
    }
}

impl AsFd for StdStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Self::Tcp(s) => s.as_fd(),
            Self::Unix(s) => s.as_fd(),
        }
    }
}

impl AsRawFd for StdStream {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

/// Starts a non-blocking TCP connect; wait for writability, then
/// [`StdStream::connect_result`].
pub fn start_connect_tcp(addr: SocketAddr, opts: &TcpOptions) -> io::Result<StdStream> {
    let sock = crate::tcp::connecting_socket(addr, opts)?;
    sock.set_nonblocking(true)?;
    match sock.connect(&SockAddr::from(addr)) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(e),
    }
    let stream = TcpStream::from(sock);
    configure_tcp(&stream, opts)?;
    Ok(StdStream::Tcp(stream))
}

/// The addresses a TCP host name resolves to, looked up before the socket's
/// lock is taken (see [`resolve_bind`]).
pub(crate) type Resolved = Option<io::Result<Vec<SocketAddr>>>;

/// Looks up the host name of a `tcp://name:port` bind endpoint (`None` for
/// every other endpoint): a lookup can take seconds, and the socket's lock,
/// which `bind` runs under, must not be held that long.
pub(crate) fn resolve_bind(endpoint: &str) -> Resolved {
    match Endpoint::parse_bind(endpoint) {
        Ok(Endpoint::Tcp {
            host: Host::Name(name),
            port,
        }) => Some(lookup(&name, port.unwrap_or(0))),
        _ => None,
    }
}

/// The addresses `name` resolves to, with `port`.
fn lookup(name: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    (name, port).to_socket_addrs().map(Iterator::collect)
}

/// Binds `ep` (TCP or IPC), non-blocking, and returns the listener with the
/// endpoint actually bound (port 0 resolved). `given` names the endpoint in
/// errors. With IPV6, `*` is `[::]` and takes IPv4 clients too. A host
/// name's addresses come from `resolved` when it has them (see
/// [`resolve_bind`]), else from a lookup here.
pub(crate) fn bind(
    ep: &Endpoint,
    given: &str,
    opts: &TcpOptions,
    resolved: Resolved,
) -> Result<(StdListener, Endpoint), Error> {
    let bind_err = |source: io::Error| {
        if source.kind() == io::ErrorKind::AddrInUse {
            Error::AddrInUse {
                endpoint: given.to_owned(),
            }
        } else {
            Error::Bind {
                endpoint: given.to_owned(),
                source,
            }
        }
    };
    match ep {
        Endpoint::Tcp { host, port } => {
            let port = port.unwrap_or(0);
            let addrs: Vec<SocketAddr> = match host {
                Host::Any if opts.ipv6 => {
                    vec![SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port)]
                }
                Host::Any => vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)],
                Host::Ip(ip) => vec![SocketAddr::new(*ip, port)],
                Host::Name(name) => {
                    let found = resolved.unwrap_or_else(|| lookup(name, port));
                    opts.usable(found.map_err(bind_err)?)
                }
            };
            let l = first_ok(addrs, |a| crate::tcp::listen_tcp(a, opts)).map_err(bind_err)?;
            let a = l.local_addr().map_err(bind_err)?;
            let bound = Endpoint::Tcp {
                host: Host::Ip(a.ip()),
                port: Some(a.port()),
            };
            Ok((StdListener::Tcp(l), bound))
        }
        Endpoint::Ipc(addr) if addr.is_wildcard() => {
            let path = ipc_dir::create().map_err(bind_err)?;
            let bound = UnixListener::bind(&path).and_then(|l| l.set_nonblocking(true).map(|()| l));
            match bound {
                Ok(l) => Ok((StdListener::Unix(l), Endpoint::Ipc(IpcAddr::Path(path)))),
                Err(e) => {
                    ipc_dir::remove(&path);
                    Err(bind_err(e))
                }
            }
        }
        Endpoint::Ipc(addr) => {
            let l = bind_ipc(addr).map_err(bind_err)?;
            l.set_nonblocking(true).map_err(bind_err)?;
            Ok((StdListener::Unix(l), ep.clone()))
        }
        Endpoint::Inproc(_) => unreachable!("inproc endpoints are bound by the registry"),
    }
}

fn bind_ipc(addr: &IpcAddr) -> io::Result<UnixListener> {
    match addr {
        IpcAddr::Path(path) => {
            // libzmq unlinks whatever is at the path before binding. A file left
            // by a process that died is removed here too, but a live listener is
            // reported as in use instead of being silently stolen.
            if path.exists() {
                // Accepting (or too busy to: a full backlog) means alive.
                match start_connect_ipc(addr) {
                    Err(e) if e.kind() != io::ErrorKind::WouldBlock => {
                        let _ = std::fs::remove_file(path);
                    }
                    _ => return Err(io::ErrorKind::AddrInUse.into()),
                }
            }
            UnixListener::bind(path)
        }
        IpcAddr::Abstract(name) => UnixListener::bind_addr(&abstract_addr(name)?),
    }
}

/// Removes the socket file of an ipc listener when it stops, as libzmq does,
/// and the directory made for it when it was bound as `ipc://*`.
pub(crate) fn unlink_ipc(ep: &Endpoint, wildcard: bool) {
    if let Endpoint::Ipc(IpcAddr::Path(path)) = ep {
        if wildcard {
            ipc_dir::remove(path);
        } else {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Connects to a TCP or IPC endpoint, blocking (for thread-based runtimes),
/// and returns the stream with its [`peer_address`]. std
/// tries every address a host name resolves to, in order.
pub fn connect_blocking(endpoint: &Endpoint, opts: &TcpOptions) -> io::Result<(StdStream, String)> {
    match endpoint {
        Endpoint::Tcp {
            host,
            port: Some(port),
        } => {
            let addrs = match host {
                Host::Ip(ip) => vec![SocketAddr::new(*ip, *port)],
                Host::Name(name) => opts.usable((name.as_str(), *port).to_socket_addrs()?),
                Host::Any => return Err(io::ErrorKind::InvalidInput.into()),
            };
            let s = first_ok(addrs, |a| connect_tcp_blocking(a, opts))?;
            let peer = peer_address(s.peer_addr().ok());
            Ok((StdStream::Tcp(s), peer))
        }
        Endpoint::Ipc(addr) => {
            let s = connect_ipc(addr)?;
            let peer = ipc_peer_address(&s);
            Ok((StdStream::Unix(s), peer))
        }
        _ => Err(io::ErrorKind::InvalidInput.into()),
    }
}

/// The first address `f` succeeds with, or the last error (as std tries a
/// host's addresses in order).
fn first_ok<T>(
    addrs: Vec<SocketAddr>,
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "no usable address");
    for a in addrs {
        match f(a) {
            Ok(t) => return Ok(t),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Connects a Unix domain socket, blocking (for threads: a full backlog
/// makes it wait).
pub fn connect_ipc(addr: &IpcAddr) -> io::Result<UnixStream> {
    match addr {
        IpcAddr::Path(path) => UnixStream::connect(path),
        IpcAddr::Abstract(name) => UnixStream::connect_addr(&abstract_addr(name)?),
    }
}

/// Connects a Unix domain socket without blocking: done at once or failed
/// (a full backlog is `WouldBlock`, retried by the engine's reconnect), so an
/// executor thread never waits for a listener it may itself have to run.
pub fn start_connect_ipc(addr: &IpcAddr) -> io::Result<StdStream> {
    let target = match addr {
        IpcAddr::Path(path) => SockAddr::unix(path)?,
        IpcAddr::Abstract(name) => {
            let mut raw = vec![0u8];
            raw.extend_from_slice(name.as_bytes());
            SockAddr::unix(std::ffi::OsStr::from_bytes(&raw))?
        }
    };
    let sock = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    sock.set_nonblocking(true)?;
    sock.connect(&target)?;
    Ok(StdStream::Unix(UnixStream::from(
        std::os::fd::OwnedFd::from(sock),
    )))
}

#[cfg(target_os = "linux")]
fn abstract_addr(name: &str) -> io::Result<std::os::unix::net::SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
}

#[cfg(not(target_os = "linux"))]
fn abstract_addr(_name: &str) -> io::Result<std::os::unix::net::SocketAddr> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract ipc names exist only on Linux",
    ))
}

/// The TCP addresses a connect should try, in order. Names are resolved by the
/// caller's runtime; literal addresses need no lookup.
pub(crate) fn tcp_target(host: &Host, port: u16) -> Result<SocketAddr, String> {
    match host {
        Host::Ip(ip) => Ok(SocketAddr::new(*ip, port)),
        Host::Name(name) => Err(name.clone()),
        Host::Any => Err("*".to_owned()),
    }
}

/// A stream's receive buffer.
///
/// A busy stream's reads land straight in the free end of `buf`, which the
/// kernel fills without a copy or a memset. Any other read lands in a
/// zeroed scratch buffer (one per thread, zeroed once per byte as it grows)
/// and is copied to the end of `buf`: a quiet stream holds no window's worth
/// of memory before its peer sends one, and a read that finds nothing costs
/// nothing. The window grows while reads fill it (bulk transfer) and shrinks
/// when they come back small (request/reply). The one line of `unsafe`
/// this takes, setting the length `recv` filled, is here rather than in
/// the adapters.
///
/// Memory follows what the peer has actually sent: a fresh stream holds a
/// small block (a peer that sends a few bytes and stops, before any
/// handshake, costs 1 KiB, not a window), large allocations come once reads
/// fill the window, and a quiet stream whose bytes were all consumed gives a
/// large allocation back. An allocation that fails is an
/// [`io::ErrorKind::OutOfMemory`] error, which ends that stream only.
#[derive(Debug)]
pub struct ReadBuf {
    /// The bytes read and not yet consumed by the engine.
    pub buf: BytesMut,
    window: usize,
    /// Blocks this stream read into before, emptied, whose frames may still
    /// be queued. One whose frames are all gone is written into again
    /// instead of a fresh allocation: freeing and getting back blocks of a
    /// few hundred KiB made glibc hand pages back to the OS and fault them
    /// in again, which was a third of a 64 KiB receiver's time (tokio:
    /// 20 k msg/s; 38-53 k with glibc's trimming turned off by tunables).
    spare: Vec<BytesMut>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl ReadBuf {
    const MIN: usize = 8 * 1024;
    const MAX: usize = 256 * 1024;
    /// The allocation of a stream whose reads are small: a few requests'
    /// worth, or a handshake.
    const SMALL: usize = 1024;
    /// Blocks kept for reuse besides the current one: with `MAX`-sized
    /// blocks, 768 KiB per busy stream in all (256 KiB before blocks were
    /// reused), given back when the stream turns quiet. Four measured no
    /// faster at 64 KiB.
    const SPARES: usize = 2;

    /// An empty buffer.
    pub fn new() -> Self {
        Self {
            buf: BytesMut::new(),
            window: Self::MIN,
            spare: Vec::new(),
        }
    }

    /// Reads once from a socket into the buffer.
    pub fn read_socket(&mut self, socket: &impl AsFd) -> io::Result<usize> {
        let socket = SockRef::from(socket);
        self.give_back_when_quiet();
        if self.window > Self::MIN && self.buf.capacity() - self.buf.len() < self.window {
            // A busy stream: room for a whole window is made before the
            // read, as it was made after it for the bytes such a read
            // brings.
            self.grow(self.window)?;
        }
        if self.buf.capacity() - self.buf.len() < self.window {
            // A new or quiet stream's small block: a read into it would be
            // cut short, and one that cannot fill a window is no reason to
            // take a larger block.
            return self.read_from(&*socket);
        }
        let n = socket.recv(&mut self.buf.spare_capacity_mut()[..self.window])?;
        assert!(n <= self.window, "recv returned more than it was given");
        // SAFETY: `recv` initialised the first `n` bytes of the spare
        // capacity it was lent, and `n` is within it (checked above).
        #[allow(unsafe_code)]
        unsafe {
            self.buf.set_len(self.buf.len() + n);
        }
        self.adapt_window(n);
        Ok(n)
    }

    /// Reads once from `reader` into the buffer, through the scratch buffer.
    pub fn read_from(&mut self, mut reader: impl Read) -> io::Result<usize> {
        self.give_back_when_quiet();
        SCRATCH.with_borrow_mut(|scratch| {
            if scratch.len() < self.window {
                // Sockets read through here only at the smallest window (a
                // busy stream reads into its block), so a thread's scratch
                // stays that small; other readers size it to their window.
                scratch
                    .try_reserve_exact(self.window - scratch.len())
                    .map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
                scratch.resize(self.window, 0);
            }
            let n = reader.read(&mut scratch[..self.window])?;
            if self.buf.capacity() - self.buf.len() < n {
                self.grow(n)?;
            }
            self.buf.extend_from_slice(&scratch[..n]);
            self.adapt_window(n);
            Ok(n)
        })
    }

    fn give_back_when_quiet(&mut self) {
        if self.buf.is_empty() && self.window == Self::MIN && self.buf.capacity() > Self::SMALL {
            // Everything read was consumed and reads are small: the stream is
            // quiet (request/reply, an idle peer), and a thread blocked in
            // `read` should not sit on a busy stream's allocation. A small one
            // is kept: it serves the next few small reads without a malloc.
            self.buf = BytesMut::new();
            self.spare = Vec::new();
        }
    }

    /// The window doubles while reads fill it and halves when they bring
    /// less than a quarter of it.
    fn adapt_window(&mut self, n: usize) {
        if n == self.window {
            self.window = (self.window * 2).min(Self::MAX);
        } else if n < self.window / 4 {
            self.window = (self.window / 2).max(Self::MIN);
        }
    }

    /// Makes room for `n` more bytes in a new allocation.
    fn grow(&mut self, n: usize) -> io::Result<()> {
        // Every frame split off the current block is gone: start it over.
        if self.buf.try_reclaim(n) {
            return Ok(());
        }
        let needed = self.buf.len() + n;
        // Frames split off earlier still share the old allocation, so growing
        // means a new one. Once a read filled the window (a busy stream), sizes
        // from a few powers of two, at least the largest window, let the
        // allocator hand back blocks just freed instead of fresh pages (page
        // faults were most of the cost of 64 KiB messages: 14k -> 50k msg/s
        // on smol), and a window halved by one short read does not mean
        // smaller blocks and more copies of a large frame's head. Until then
        // a small block (or what arrived, if more) is enough.
        let floor = if self.window > Self::MIN {
            Self::MAX
        } else {
            Self::SMALL
        };
        let cap = needed.next_power_of_two().max(floor);
        // The oldest spare is the likeliest to have no frame left in a queue;
        // `try_reclaim` takes one only when nothing else holds it and it has
        // room for `cap`.
        let mut next = match self.spare.iter_mut().position(|b| b.try_reclaim(cap)) {
            Some(i) => self.spare.remove(i),
            None => {
                let mut fresh = Vec::new();
                fresh
                    .try_reserve_exact(cap)
                    .map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
                // bytes has no fallible allocation of its own; a unique
                // `Bytes` turns back into a `BytesMut` over the same
                // allocation, capacity and all.
                BytesMut::from(bytes::Bytes::from(fresh))
            }
        };
        next.extend_from_slice(&self.buf);
        let mut old = std::mem::replace(&mut self.buf, next);
        // Only a busy stream's blocks are worth keeping; a small one that
        // could never hold `cap` would only take a place.
        if self.window > Self::MIN {
            old.clear();
            if self.spare.len() == Self::SPARES {
                self.spare.remove(0);
            }
            self.spare.push(old);
        }
        Ok(())
    }
}

impl Default for ReadBuf {
    fn default() -> Self {
        Self::new()
    }
}

/// The peer address a runtime reports to the core: `ip:port` for TCP (the
/// monitor shows it whole; the engine gives ZAP and the `Peer-Address`
/// property the IP alone, as libzmq does). IPC peers get
/// `localhost:UID:GID:PID`, see `ipc_peer_address`.
pub fn peer_address(addr: Option<SocketAddr>) -> String {
    addr.map(|a| a.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_port_zero_and_reports_the_port() {
        let ep = Endpoint::parse_bind("tcp://127.0.0.1:*").unwrap();
        let (_l, bound) = bind(&ep, "tcp://127.0.0.1:*", &TcpOptions::default(), None).unwrap();
        let s = bound.to_string();
        assert!(
            s.starts_with("tcp://127.0.0.1:") && !s.ends_with(":*"),
            "{s}"
        );
    }

    #[test]
    fn a_host_name_is_looked_up_before_the_bind_and_used_there() {
        assert!(resolve_bind("tcp://127.0.0.1:*").is_none(), "an address");
        assert!(resolve_bind("tcp://*:5555").is_none());
        assert!(resolve_bind("ipc://x").is_none());
        let found = resolve_bind("tcp://localhost:*").expect("a host name");
        assert!(!found.expect("localhost resolves").is_empty());
        // The bind takes the addresses it is given, not a lookup of its own:
        // this name would not resolve.
        let ep = Endpoint::parse_bind("tcp://no-such-host.invalid:*").unwrap();
        let given = Some(Ok(vec![SocketAddr::from(([127, 0, 0, 1], 0))]));
        let (_l, bound) = bind(&ep, "n", &TcpOptions::default(), given).unwrap();
        assert!(bound.to_string().starts_with("tcp://127.0.0.1:"), "{bound}");
        // A failed lookup is the bind's error, naming the endpoint.
        let failed = Some(Err(io::Error::other("no such host")));
        let e = bind(
            &ep,
            "tcp://no-such-host.invalid:*",
            &TcpOptions::default(),
            failed,
        );
        let e = e.unwrap_err();
        assert!(matches!(e, Error::Bind { .. }), "{e}");
        assert!(e.to_string().contains("no-such-host.invalid"), "{e}");
    }

    #[test]
    fn address_in_use_names_the_endpoint() {
        let ep = Endpoint::parse_bind("tcp://127.0.0.1:*").unwrap();
        let (_l, bound) = bind(&ep, "x", &TcpOptions::default(), None).unwrap();
        let given = bound.to_string();
        let e = bind(&bound, &given, &TcpOptions::default(), None).unwrap_err();
        assert!(matches!(e, Error::AddrInUse { .. }));
        assert!(e.to_string().contains(&given));
    }

    #[test]
    fn ipc_live_listener_is_in_use_but_a_stale_file_is_replaced() {
        let dir = std::env::temp_dir().join(format!("zmqrt-net-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("s");
        let ep = Endpoint::Ipc(IpcAddr::Path(path.clone()));
        let (l, _) = bind(&ep, "ipc", &TcpOptions::default(), None).unwrap();
        assert!(matches!(
            bind(&ep, "ipc", &TcpOptions::default(), None),
            Err(Error::AddrInUse { .. })
        ));
        drop(l); // the file stays behind, as after a crash
        assert!(path.exists());
        let (_l2, _) = bind(&ep, "ipc", &TcpOptions::default(), None).unwrap();
        unlink_ipc(&ep, false);
        assert!(!path.exists());
    }

    /// `bind`, both connects and `accept` hand the socket's TCP options to
    /// the descriptors they make.
    #[test]
    #[cfg(target_os = "linux")]
    fn every_path_applies_the_tcp_options() {
        let opts = TcpOptions {
            tos: 0x10,
            maxrt: Some(Duration::from_secs(2)),
            bindtodevice: Some("lo".into()),
            ..TcpOptions::default()
        };
        let ep = Endpoint::parse_bind("tcp://127.0.0.1:*").unwrap();
        let (l, bound) = bind(&ep, "b", &opts, None).unwrap();
        assert_eq!(SockRef::from(&l).tos_v4().unwrap(), 0x10);
        assert_eq!(
            SockRef::from(&l).device().unwrap().as_deref(),
            Some(&b"lo"[..])
        );
        let target = Endpoint::parse_connect(&bound.to_string()).unwrap();
        let (c, _) = connect_blocking(&target, &opts).unwrap();
        let cs = SockRef::from(&c);
        assert_eq!(cs.tos_v4().unwrap(), 0x10);
        assert_eq!(cs.tcp_user_timeout().unwrap(), Some(Duration::from_secs(2)));
        let (a, _) = l.accept(&opts, false).unwrap();
        let accepted = SockRef::from(&a);
        assert_eq!(
            accepted.tcp_user_timeout().unwrap(),
            Some(Duration::from_secs(2))
        );
        let Endpoint::Tcp {
            port: Some(port), ..
        } = bound
        else {
            panic!("{bound}")
        };
        let s = start_connect_tcp(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), &opts).unwrap();
        assert_eq!(SockRef::from(&s).tos_v4().unwrap(), 0x10);
        // A device that does not exist: the bind fails, naming the endpoint.
        let missing = TcpOptions {
            bindtodevice: Some("nosuchdev0".into()),
            ..TcpOptions::default()
        };
        let e = bind(&ep, "tcp://127.0.0.1:*", &missing, None).unwrap_err();
        assert!(e.to_string().contains("tcp://127.0.0.1:*"), "{e}");
        assert!(connect_blocking(&target, &missing).is_err());
    }

    #[test]
    fn ipc_wildcard_binds_a_fresh_socket_file_and_unlink_removes_its_directory() {
        let ep = Endpoint::parse_bind("ipc://*").unwrap();
        let (_a, a) = bind(&ep, "ipc://*", &TcpOptions::default(), None).unwrap();
        let (_b, b) = bind(&ep, "ipc://*", &TcpOptions::default(), None).unwrap();
        assert_ne!(a, b);
        let Endpoint::Ipc(IpcAddr::Path(path)) = &a else {
            panic!("{a}")
        };
        assert!(path.is_absolute() && path.ends_with("socket"), "{a}");
        assert!(start_connect_ipc(&IpcAddr::Path(path.clone())).is_ok());
        let dir = path.parent().unwrap().to_owned();
        unlink_ipc(&a, true);
        unlink_ipc(&b, true);
        assert!(!dir.exists());
    }

    /// A reader that returns up to `left` bytes, as much as asked each time.
    struct Flood {
        left: usize,
    }

    impl Read for Flood {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = out.len().min(self.left);
            out[..n].fill(7);
            self.left -= n;
            Ok(n)
        }
    }

    /// The heap held by a stream whose peer sent a few bytes and stopped:
    /// it was a 256 KiB allocation per connection (and a 256 KiB scratch
    /// per reader thread) before the peer had earned anything.
    #[test]
    fn a_few_bytes_hold_a_few_bytes() {
        std::thread::spawn(|| {
            let mut rb = ReadBuf::new();
            assert_eq!(rb.read_from(&[1u8; 32][..]).unwrap(), 32);
            assert_eq!(&rb.buf[..], &[1u8; 32][..]);
            assert!(rb.buf.capacity() <= 1024, "{}", rb.buf.capacity());
            let scratch = SCRATCH.with_borrow(|s| s.len());
            assert!(scratch <= 8 * 1024, "scratch {scratch}");
        })
        .join()
        .unwrap();
    }

    /// Reads from a real socket: a few bytes from a new peer still cost a
    /// small block, a busy stream's reads land in its blocks directly, and
    /// every byte arrives once, in order, while earlier frames are held.
    #[test]
    fn socket_reads_keep_every_byte_and_start_small() {
        let (mut tx, rx) = UnixStream::pair().unwrap();
        let mut rb = ReadBuf::new();
        tx.write_all(&[9u8; 40]).unwrap();
        assert_eq!(rb.read_socket(&rx).unwrap(), 40);
        assert!(rb.buf.capacity() <= 1024, "{}", rb.buf.capacity());
        rb.buf.clear();
        let total = 8 << 20;
        let writer = std::thread::spawn(move || {
            let data: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
            tx.write_all(&data).unwrap();
        });
        let mut at = 0;
        let mut held = std::collections::VecDeque::new();
        let check = |frame: &[u8], from: usize| {
            for (i, b) in frame.iter().enumerate() {
                assert_eq!(*b, ((from + i) % 251) as u8, "byte {}", from + i);
            }
        };
        while at + rb.buf.len() < total {
            assert!(rb.read_socket(&rx).unwrap() > 0);
            // The engine takes whole frames and leaves a partial tail; the
            // frames stay referenced a while, in pipes.
            let take = rb.buf.len() - rb.buf.len() % 1000;
            let frame = rb.buf.split_to(take).freeze();
            check(&frame, at);
            at += frame.len();
            held.push_back(frame);
            if held.len() > 3 {
                held.pop_front();
            }
        }
        writer.join().unwrap();
        check(&rb.buf, at);
        assert!(rb.window > ReadBuf::MIN);
        // Only the first reads, before the stream was busy, went through
        // the scratch buffer: it never grew past the smallest window.
        let scratch = SCRATCH.with_borrow(|s| s.len());
        assert!(scratch <= ReadBuf::MIN, "scratch {scratch}");
    }

    /// A peer that keeps sending earns large reads and allocations, and once
    /// its bytes are consumed and reads come back small, the allocation goes.
    #[test]
    fn a_busy_stream_grows_and_a_quiet_one_lets_go() {
        let mut rb = ReadBuf::new();
        let mut flood = Flood { left: 4 << 20 };
        for _ in 0..8 {
            rb.read_from(&mut flood).unwrap();
            rb.buf.clear(); // consumed by the engine
        }
        assert_eq!(rb.window, ReadBuf::MAX);
        assert!(rb.buf.capacity() >= 128 * 1024, "{}", rb.buf.capacity());
        assert!(SCRATCH.with_borrow(|s| s.len()) >= ReadBuf::MAX);
        // A large frame arriving in pieces is kept whole across reads.
        let mut big = Flood { left: 1 << 20 };
        while big.left > 0 {
            rb.read_from(&mut big).unwrap();
        }
        assert_eq!(rb.buf.len(), 1 << 20);
        rb.buf.clear();
        // Request/reply: small reads shrink the window, then the buffer.
        for _ in 0..8 {
            rb.read_from(&[2u8; 64][..]).unwrap();
            rb.buf.clear();
        }
        assert_eq!(rb.window, ReadBuf::MIN);
        rb.read_from(&[3u8; 16][..]).unwrap();
        assert!(rb.buf.capacity() <= 1024, "{}", rb.buf.capacity());
        assert!(rb.spare.is_empty(), "a quiet stream keeps no spare blocks");
    }
}
