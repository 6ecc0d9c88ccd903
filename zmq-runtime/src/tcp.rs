//! libzmq's TCP-level socket options and where each lands: on the listening
//! socket before `bind` (BACKLOG, IPV6, buffers, TOS, device), on the
//! connecting socket before `connect` (buffers, TOS, device; CONNECT_TIMEOUT
//! bounds the attempt), and on every stream once it is up (TCP_NODELAY,
//! keep-alive, TCP_MAXRT), as libzmq's `tcp.cpp` tunes them.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::time::Duration;

use socket2::{Domain, SockAddr, SockRef, Socket, TcpKeepalive, Type};

/// libzmq's BACKLOG default.
pub(crate) const DEFAULT_BACKLOG: u32 = 100;

/// The longest interface name SO_BINDTODEVICE takes (IFNAMSIZ less its NUL).
pub(crate) const MAX_DEVICE_NAME: usize = 15;

/// TCP settings applied to every stream of a socket.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// SNDBUF (SO_SNDBUF, bytes): `None` leaves the OS default (libzmq's -1).
    pub sndbuf: Option<usize>,
    /// RCVBUF (SO_RCVBUF, bytes): `None` leaves the OS default.
    pub rcvbuf: Option<usize>,
    /// TOS: IP_TOS (IPv4) or IPV6_TCLASS (IPv6); 0, the default, leaves the
    /// OS setting, as libzmq does.
    pub tos: u8,
    /// TCP_MAXRT (TCP_USER_TIMEOUT on Linux): how long sent data may stay
    /// unacknowledged before the connection is dropped; `None` for the OS
    /// default.
    pub maxrt: Option<Duration>,
    /// BINDTODEVICE (SO_BINDTODEVICE): the interface every socket is bound to.
    pub bindtodevice: Option<String>,
    /// CONNECT_TIMEOUT: a connect attempt taking longer is abandoned (and
    /// retried per RECONNECT_IVL); `None` leaves it to the OS.
    pub connect_timeout: Option<Duration>,
    /// BACKLOG: the listen queue length. Default 100.
    pub backlog: u32,
    /// IPV6: a `*` bind listens on `[::]` for IPv6 and IPv4 clients both, and
    /// host names resolve to IPv6 addresses too. Default off.
    pub ipv6: bool,
}

impl Default for TcpOptions {
    fn default() -> Self {
        Self {
            keepalive: None,
            keepalive_idle: None,
            keepalive_intvl: None,
            keepalive_cnt: None,
            sndbuf: None,
            rcvbuf: None,
            tos: 0,
            maxrt: None,
            bindtodevice: None,
            connect_timeout: None,
            backlog: DEFAULT_BACKLOG,
            ipv6: false,
        }
    }
}

impl TcpOptions {
    /// Which resolved addresses a socket may use: without IPV6 only IPv4
    /// ones, as libzmq resolves names for such a socket.
    pub fn usable(&self, addrs: impl IntoIterator<Item = SocketAddr>) -> Vec<SocketAddr> {
        addrs
            .into_iter()
            .filter(|a| self.ipv6 || a.is_ipv4())
            .collect()
    }
}

/// Applies what must be set before `bind` or `connect`: buffer sizes, TOS
/// (or the IPv6 traffic class) and the device.
pub(crate) fn prepare_socket(sock: &impl AsFd, v6: bool, opts: &TcpOptions) -> io::Result<()> {
    let sock = SockRef::from(sock);
    if let Some(n) = opts.sndbuf {
        sock.set_send_buffer_size(n)?;
    }
    if let Some(n) = opts.rcvbuf {
        sock.set_recv_buffer_size(n)?;
    }
    if opts.tos != 0 {
        set_tos(&sock, v6, opts.tos)?;
    }
    if let Some(dev) = &opts.bindtodevice {
        bind_device(&sock, dev)?;
    }
    Ok(())
}

#[cfg(target_os = "linux")]
fn set_tos(sock: &SockRef<'_>, v6: bool, tos: u8) -> io::Result<()> {
    if v6 {
        sock.set_tclass_v6(u32::from(tos))
    } else {
        sock.set_tos_v4(u32::from(tos))
    }
}

#[cfg(not(target_os = "linux"))]
fn set_tos(sock: &SockRef<'_>, v6: bool, tos: u8) -> io::Result<()> {
    if v6 {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "TOS on IPv6 sockets is implemented on Linux only",
        ));
    }
    sock.set_tos_v4(u32::from(tos))
}

#[cfg(target_os = "linux")]
fn bind_device(sock: &SockRef<'_>, dev: &str) -> io::Result<()> {
    sock.bind_device(Some(dev.as_bytes()))
}

#[cfg(not(target_os = "linux"))]
fn bind_device(_sock: &SockRef<'_>, _dev: &str) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "BINDTODEVICE exists on Linux only",
    ))
}

#[cfg(target_os = "linux")]
fn set_maxrt(sock: &SockRef<'_>, maxrt: Duration) -> io::Result<()> {
    sock.set_tcp_user_timeout(Some(maxrt))
}

#[cfg(not(target_os = "linux"))]
fn set_maxrt(_sock: &SockRef<'_>, _maxrt: Duration) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "TCP_MAXRT is implemented on Linux (TCP_USER_TIMEOUT) only",
    ))
}

/// Applies TCP_NODELAY (always, as libzmq), keep-alive and TCP_MAXRT to a
/// connected or accepted TCP stream of any runtime.
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
    if let Some(t) = opts.maxrt {
        set_maxrt(&sock, t)?;
    }
    Ok(())
}

/// A listening TCP socket on `addr`, non-blocking, with SO_REUSEADDR (as
/// libzmq and std), the options that accepted streams inherit, BACKLOG, and
/// for IPv6 the IPv4-mapped addresses accepted too (libzmq turns
/// IPV6_V6ONLY off on every IPv6 socket).
pub(crate) fn listen_tcp(addr: SocketAddr, opts: &TcpOptions) -> io::Result<TcpListener> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    sock.set_reuse_address(true)?;
    if addr.is_ipv6() {
        sock.set_only_v6(false)?;
    }
    prepare_socket(&sock, addr.is_ipv6(), opts)?;
    sock.bind(&SockAddr::from(addr))?;
    sock.listen(i32::try_from(opts.backlog).unwrap_or(i32::MAX))?;
    sock.set_nonblocking(true)?;
    Ok(TcpListener::from(sock))
}

/// A TCP socket for a connect to `addr`, with what must be set before it.
pub(crate) fn connecting_socket(addr: SocketAddr, opts: &TcpOptions) -> io::Result<Socket> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    prepare_socket(&sock, addr.is_ipv6(), opts)?;
    Ok(sock)
}

/// Connects to `addr`, blocking for at most CONNECT_TIMEOUT (for
/// thread-based runtimes), and configures the stream.
pub(crate) fn connect_tcp_blocking(addr: SocketAddr, opts: &TcpOptions) -> io::Result<TcpStream> {
    let sock = connecting_socket(addr, opts)?;
    match opts.connect_timeout {
        Some(t) => sock.connect_timeout(&SockAddr::from(addr), t)?,
        None => sock.connect(&SockAddr::from(addr))?,
    }
    let stream = TcpStream::from(sock);
    configure_tcp(&stream, opts)?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn opts() -> TcpOptions {
        TcpOptions {
            sndbuf: Some(64 * 1024),
            rcvbuf: Some(96 * 1024),
            tos: 0x28,
            maxrt: Some(Duration::from_millis(1500)),
            bindtodevice: Some("lo".into()),
            ..TcpOptions::default()
        }
    }

    /// What each option leaves on the real descriptors: the listener, the
    /// connecting socket, and the streams on both sides.
    #[test]
    #[cfg(target_os = "linux")]
    fn options_reach_the_descriptors() {
        let o = opts();
        let l = listen_tcp(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), &o).unwrap();
        let ls = SockRef::from(&l);
        // Linux doubles what is asked, for its bookkeeping.
        assert!(ls.recv_buffer_size().unwrap() >= 96 * 1024);
        assert_eq!(ls.tos_v4().unwrap(), 0x28);
        assert_eq!(ls.device().unwrap().as_deref(), Some(&b"lo"[..]));
        let c = connect_tcp_blocking(l.local_addr().unwrap(), &o).unwrap();
        let cs = SockRef::from(&c);
        assert!(cs.send_buffer_size().unwrap() >= 64 * 1024);
        assert!(cs.recv_buffer_size().unwrap() >= 96 * 1024);
        assert_eq!(cs.tos_v4().unwrap(), 0x28);
        assert_eq!(cs.device().unwrap().as_deref(), Some(&b"lo"[..]));
        assert_eq!(
            cs.tcp_user_timeout().unwrap(),
            Some(Duration::from_millis(1500))
        );
        assert!(cs.tcp_nodelay().unwrap());
        l.set_nonblocking(false).unwrap();
        let (a, _) = l.accept().unwrap();
        configure_tcp(&a, &o).unwrap();
        let accepted = SockRef::from(&a);
        assert_eq!(accepted.tos_v4().unwrap(), 0x28);
        assert_eq!(
            accepted.tcp_user_timeout().unwrap(),
            Some(Duration::from_millis(1500))
        );
    }

    /// Connections a listener that never accepts lets complete: BACKLOG
    /// bounds them (Linux queues one more than asked, then drops SYNs).
    fn completed_connects(backlog: u32) -> usize {
        let o = TcpOptions {
            backlog,
            connect_timeout: Some(Duration::from_millis(200)),
            ..TcpOptions::default()
        };
        let l = listen_tcp(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), &o).unwrap();
        let addr = l.local_addr().unwrap();
        let mut held = Vec::new();
        while held.len() < 5 {
            match connect_tcp_blocking(addr, &o) {
                Ok(s) => held.push(s),
                Err(e) => {
                    assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
                    break;
                }
            }
        }
        held.len()
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn backlog_bounds_the_accept_queue() {
        assert!(completed_connects(0) < 5);
        assert_eq!(completed_connects(4), 5);
    }

    #[test]
    fn backlog_and_defaults_leave_the_os_settings() {
        let d = TcpOptions::default();
        assert_eq!(d.backlog, DEFAULT_BACKLOG);
        let l = listen_tcp(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), &d).unwrap();
        let c = connect_tcp_blocking(l.local_addr().unwrap(), &d).unwrap();
        assert_eq!(SockRef::from(&c).tos_v4().unwrap(), 0);
    }

    /// An IPv6 wildcard listener takes IPv4 clients too.
    #[test]
    fn ipv6_wildcard_is_dual_stack() {
        let Ok(l) = listen_tcp(
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
            &TcpOptions::default(),
        ) else {
            panic!("this machine has no IPv6; the IPV6 option needs it");
        };
        assert!(!SockRef::from(&l).only_v6().unwrap());
        let port = l.local_addr().unwrap().port();
        connect_tcp_blocking(
            SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            &TcpOptions::default(),
        )
        .unwrap();
    }

    #[test]
    fn names_resolve_to_ipv4_unless_ipv6() {
        let both = [
            SocketAddr::from((Ipv6Addr::LOCALHOST, 1)),
            SocketAddr::from((Ipv4Addr::LOCALHOST, 1)),
        ];
        assert_eq!(TcpOptions::default().usable(both), vec![both[1]]);
        let v6 = TcpOptions {
            ipv6: true,
            ..TcpOptions::default()
        };
        assert_eq!(v6.usable(both), both.to_vec());
    }
}
