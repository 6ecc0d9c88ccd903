//! Binding and the blocking parts of connecting, with std, for every runtime: a
//! bind is synchronous in libzmq too (its errors come back from `zmq_bind`), so
//! each runtime only wraps the listener this module binds.

use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

use bytes::BytesMut;
use socket2::{SockRef, TcpKeepalive};
use zmq_patterns::engine::{Endpoint, Host, IpcAddr};

use crate::error::Error;

/// A bound listener, handed to the runtime to accept on.
#[derive(Debug)]
pub enum StdListener {
    /// A TCP listener.
    Tcp(TcpListener),
    /// A Unix domain socket listener.
    Unix(UnixListener),
}

/// A connected stream, for runtimes that wrap std streams.
#[derive(Debug)]
pub enum StdStream {
    /// A TCP stream.
    Tcp(TcpStream),
    /// A Unix domain socket stream.
    Unix(UnixStream),
}

/// TCP settings applied to every stream of a socket.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TcpOptions {
    /// TCP_KEEPALIVE: `None` leaves the OS default (libzmq's -1).
    pub keepalive: Option<bool>,
    /// TCP_KEEPALIVE_IDLE.
    pub keepalive_idle: Option<Duration>,
    /// TCP_KEEPALIVE_INTVL.
    pub keepalive_intvl: Option<Duration>,
    /// TCP_KEEPALIVE_CNT.
    pub keepalive_cnt: Option<u32>,
}

/// Applies TCP_NODELAY (always, as libzmq) and the keep-alive options to a TCP
/// stream of any runtime.
pub fn configure_tcp(stream: &impl AsFd, opts: &TcpOptions) -> io::Result<()> {
    let sock = SockRef::from(stream);
    sock.set_tcp_nodelay(true)?;
    match opts.keepalive {
        Some(true) => {
            let mut ka = TcpKeepalive::new();
            if let Some(t) = opts.keepalive_idle {
                ka = ka.with_time(t);
            }
            if let Some(t) = opts.keepalive_intvl {
                ka = ka.with_interval(t);
            }
            if let Some(n) = opts.keepalive_cnt {
                ka = ka.with_retries(n);
            }
            sock.set_tcp_keepalive(&ka)?;
        }
        Some(false) => sock.set_keepalive(false)?,
        None => {}
    }
    Ok(())
}

/// Binds `ep` (TCP or IPC), non-blocking, and returns the listener with the
/// endpoint actually bound (port 0 resolved). `given` names the endpoint in
/// errors.
pub(crate) fn bind(ep: &Endpoint, given: &str) -> Result<(StdListener, Endpoint), Error> {
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
                Host::Any => vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)],
                Host::Ip(ip) => vec![SocketAddr::new(*ip, port)],
                Host::Name(name) => (name.as_str(), port)
                    .to_socket_addrs()
                    .map_err(bind_err)?
                    .collect(),
            };
            let l = TcpListener::bind(&addrs[..]).map_err(bind_err)?;
            l.set_nonblocking(true).map_err(bind_err)?;
            let a = l.local_addr().map_err(bind_err)?;
            let bound = Endpoint::Tcp {
                host: Host::Ip(a.ip()),
                port: Some(a.port()),
            };
            Ok((StdListener::Tcp(l), bound))
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
                if UnixStream::connect(path).is_ok() {
                    return Err(io::ErrorKind::AddrInUse.into());
                }
                let _ = std::fs::remove_file(path);
            }
            UnixListener::bind(path)
        }
        IpcAddr::Abstract(name) => UnixListener::bind_addr(&abstract_addr(name)?),
    }
}

/// Removes the socket file of an ipc listener when it stops, as libzmq does.
pub(crate) fn unlink_ipc(ep: &Endpoint) {
    if let Endpoint::Ipc(IpcAddr::Path(path)) = ep {
        let _ = std::fs::remove_file(path);
    }
}

/// Connects a Unix domain socket (fast enough to do in place: no network round
/// trip).
pub fn connect_ipc(addr: &IpcAddr) -> io::Result<UnixStream> {
    match addr {
        IpcAddr::Path(path) => UnixStream::connect(path),
        IpcAddr::Abstract(name) => UnixStream::connect_addr(&abstract_addr(name)?),
    }
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

/// Reads once into the spare capacity of `buf` (at least `min_spare` bytes of
/// it) through a std reader. A std `read` wants initialised memory, so the
/// spare part is zeroed first: that costs about what an uninitialised read
/// saves, and keeps the adapters free of `unsafe`.
pub fn read_buf(mut reader: impl Read, buf: &mut BytesMut, min_spare: usize) -> io::Result<usize> {
    if buf.capacity() - buf.len() < min_spare {
        buf.reserve(min_spare);
    }
    let start = buf.len();
    buf.resize(buf.capacity(), 0);
    let res = reader.read(&mut buf[start..]);
    buf.truncate(start + *res.as_ref().unwrap_or(&0));
    res
}

/// The peer address an authenticator sees: the IP without the port for TCP, as
/// libzmq's ZAP requests carry it; empty for IPC.
pub fn peer_address(addr: Option<SocketAddr>) -> String {
    addr.map(|a| a.ip().to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_port_zero_and_reports_the_port() {
        let ep = Endpoint::parse_bind("tcp://127.0.0.1:*").unwrap();
        let (_l, bound) = bind(&ep, "tcp://127.0.0.1:*").unwrap();
        let s = bound.to_string();
        assert!(
            s.starts_with("tcp://127.0.0.1:") && !s.ends_with(":*"),
            "{s}"
        );
    }

    #[test]
    fn address_in_use_names_the_endpoint() {
        let ep = Endpoint::parse_bind("tcp://127.0.0.1:*").unwrap();
        let (_l, bound) = bind(&ep, "x").unwrap();
        let given = bound.to_string();
        let e = bind(&bound, &given).unwrap_err();
        assert!(matches!(e, Error::AddrInUse { .. }));
        assert!(e.to_string().contains(&given));
    }

    #[test]
    fn ipc_live_listener_is_in_use_but_a_stale_file_is_replaced() {
        let dir = std::env::temp_dir().join(format!("zmqrt-net-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("s");
        let ep = Endpoint::Ipc(IpcAddr::Path(path.clone()));
        let (l, _) = bind(&ep, "ipc").unwrap();
        assert!(matches!(bind(&ep, "ipc"), Err(Error::AddrInUse { .. })));
        drop(l); // the file stays behind, as after a crash
        assert!(path.exists());
        let (_l2, _) = bind(&ep, "ipc").unwrap();
        unlink_ipc(&ep);
        assert!(!path.exists());
    }
}
