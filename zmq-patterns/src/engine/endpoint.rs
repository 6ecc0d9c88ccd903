//! Endpoint strings: `tcp://HOST:PORT`, `ipc:///path`, `ipc://@abstract`,
//! `inproc://name`, parsed once for every runtime.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;

use thiserror::Error;

/// A parsed endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// TCP: a host (address, name, or `*` for every interface) and a port.
    Tcp {
        /// Where to bind or connect.
        host: Host,
        /// The port; `None` for `*` or 0 (bind only: the OS picks one).
        port: Option<u16>,
    },
    /// A Unix domain socket.
    Ipc(IpcAddr),
    /// In-process, joined without ZMTP encoding.
    Inproc(String),
}

/// The host part of a TCP endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// `*`: every interface (bind only).
    Any,
    /// An IPv4 or IPv6 address (IPv6 written `[::1]`).
    Ip(IpAddr),
    /// A DNS name, resolved by the runtime.
    Name(String),
}

/// The address of an ipc endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum IpcAddr {
    /// A filesystem path.
    Path(PathBuf),
    /// A Linux abstract socket name (`ipc://@name`).
    Abstract(String),
}

/// A user-supplied endpoint that cannot be used; the message names it.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndpointError {
    /// No `scheme://` part.
    #[error("invalid endpoint {0:?}: expected transport://address")]
    Malformed(String),
    /// A scheme other than tcp, ipc and inproc.
    #[error("unsupported transport in endpoint {0:?} (use tcp, ipc or inproc)")]
    UnsupportedTransport(String),
    /// A TCP endpoint without a valid `host:port`.
    #[error("invalid TCP endpoint {0:?}: expected tcp://HOST:PORT")]
    BadTcpAddress(String),
    /// A port outside 1–65535 (or `*`/0 where a fixed port is needed).
    #[error("invalid port in endpoint {0:?} (1-65535, or * / 0 to bind any)")]
    BadPort(String),
    /// An empty ipc path or inproc name.
    #[error("empty address in endpoint {0:?}")]
    EmptyAddress(String),
    /// `*` host or port used to connect.
    #[error("cannot connect to wildcard endpoint {0:?}")]
    WildcardConnect(String),
    /// A wildcard given to `unbind`: as in libzmq, a listener is unbound by
    /// the endpoint `bind` returned, since one wildcard may have been bound
    /// several times.
    #[error(
        "cannot unbind wildcard endpoint {0:?}: unbind the endpoint bind returned \
         (e.g. tcp://127.0.0.1:5555 or ipc:///tmp/tmpAbC123/socket)"
    )]
    WildcardUnbind(String),
}

impl Endpoint {
    /// Parses an endpoint for binding (wildcards allowed).
    pub fn parse_bind(s: &str) -> Result<Self, EndpointError> {
        s.parse()
    }

    /// Parses an endpoint for connecting: wildcard host or port is an error.
    pub fn parse_connect(s: &str) -> Result<Self, EndpointError> {
        let ep: Self = s.parse()?;
        if let Self::Tcp { host, port } = &ep {
            if *host == Host::Any || port.is_none() {
                return Err(EndpointError::WildcardConnect(s.to_owned()));
            }
        }
        Ok(ep)
    }

    /// Parses an endpoint for unbinding: it must be one `bind` returned, so
    /// a wildcard (any `*` host or port, `ipc://*`) is an error.
    pub fn parse_unbind(s: &str) -> Result<Self, EndpointError> {
        let ep: Self = s.parse()?;
        if ep.is_wildcard() {
            return Err(EndpointError::WildcardUnbind(s.to_owned()));
        }
        Ok(ep)
    }

    /// Whether this is a TCP endpoint whose port the OS will pick.
    pub fn has_wildcard_port(&self) -> bool {
        matches!(self, Self::Tcp { port: None, .. })
    }

    /// Whether binding this endpoint picks the address: a `*` TCP host or
    /// port, or an ipc path starting with `*` (libzmq's test for a unique
    /// temporary socket file).
    pub fn is_wildcard(&self) -> bool {
        match self {
            Self::Tcp { host, port } => *host == Host::Any || port.is_none(),
            Self::Ipc(addr) => addr.is_wildcard(),
            Self::Inproc(_) => false,
        }
    }
}

impl IpcAddr {
    /// Whether binding this address creates a unique socket file instead
    /// (`ipc://*`): libzmq treats every path whose first character is `*` so.
    pub fn is_wildcard(&self) -> bool {
        matches!(self, Self::Path(p) if p.as_os_str().as_encoded_bytes().first() == Some(&b'*'))
    }
}

impl FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(s: &str) -> Result<Self, EndpointError> {
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| EndpointError::Malformed(s.to_owned()))?;
        match scheme {
            "tcp" => parse_tcp(s, rest),
            "ipc" => {
                if rest.is_empty() || rest == "@" {
                    return Err(EndpointError::EmptyAddress(s.to_owned()));
                }
                Ok(Self::Ipc(match rest.strip_prefix('@') {
                    Some(name) => IpcAddr::Abstract(name.to_owned()),
                    None => IpcAddr::Path(PathBuf::from(rest)),
                }))
            }
            "inproc" => {
                if rest.is_empty() {
                    return Err(EndpointError::EmptyAddress(s.to_owned()));
                }
                Ok(Self::Inproc(rest.to_owned()))
            }
            _ => Err(EndpointError::UnsupportedTransport(s.to_owned())),
        }
    }
}

fn parse_tcp(whole: &str, rest: &str) -> Result<Endpoint, EndpointError> {
    let bad = || EndpointError::BadTcpAddress(whole.to_owned());
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').ok_or_else(bad)?;
        let port = after.strip_prefix(':').ok_or_else(bad)?;
        let ip: IpAddr = addr.parse().map_err(|_| bad())?;
        (Host::Ip(ip), port)
    } else {
        let (h, p) = rest.rsplit_once(':').ok_or_else(bad)?;
        let host = if h == "*" {
            Host::Any
        } else if let Ok(ip) = h.parse::<IpAddr>() {
            Host::Ip(ip)
        } else if is_host_name(h) {
            Host::Name(h.to_owned())
        } else {
            return Err(bad());
        };
        (host, p)
    };
    let port = match port {
        "*" | "0" => None,
        p => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return Err(EndpointError::BadPort(whole.to_owned())),
        },
    };
    Ok(Endpoint::Tcp { host, port })
}

fn is_host_name(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp { host, port } => {
                let port = port.map_or_else(|| "*".to_owned(), |p| p.to_string());
                match host {
                    Host::Any => write!(f, "tcp://*:{port}"),
                    Host::Ip(IpAddr::V6(ip)) => write!(f, "tcp://[{ip}]:{port}"),
                    Host::Ip(ip) => write!(f, "tcp://{ip}:{port}"),
                    Host::Name(n) => write!(f, "tcp://{n}:{port}"),
                }
            }
            Self::Ipc(IpcAddr::Path(p)) => write!(f, "ipc://{}", p.display()),
            Self::Ipc(IpcAddr::Abstract(n)) => write!(f, "ipc://@{n}"),
            Self::Inproc(n) => write!(f, "inproc://{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_transport_and_round_trips() {
        for s in [
            "tcp://127.0.0.1:5555",
            "tcp://*:*",
            "tcp://[::1]:80",
            "tcp://localhost:9",
            "ipc:///tmp/sock",
            "ipc://@abstract",
            "inproc://name",
        ] {
            let ep: Endpoint = s.parse().unwrap();
            assert_eq!(ep.to_string(), s);
        }
        assert_eq!(
            Endpoint::parse_bind("tcp://*:0").unwrap().to_string(),
            "tcp://*:*"
        );
    }

    #[test]
    fn errors_name_the_endpoint() {
        let cases = [
            ("nonsense", "expected transport"),
            ("udp://1.2.3.4:5", "unsupported transport"),
            ("tcp://1.2.3.4", "HOST:PORT"),
            ("tcp://1.2.3.4:70000", "invalid port"),
            ("tcp://1.2.3.4:-1", "invalid port"),
            ("tcp://1.2.3.4:+80", "invalid port"),
            ("tcp://[::1:80", "HOST:PORT"),
            ("tcp://bad host:80", "HOST:PORT"),
            ("ipc://", "empty address"),
            ("inproc://", "empty address"),
        ];
        for (s, what) in cases {
            let e = s.parse::<Endpoint>().unwrap_err().to_string();
            assert!(e.contains(s) && e.contains(what), "{s}: {e}");
        }
    }

    #[test]
    fn wildcards_only_bind() {
        assert!(Endpoint::parse_bind("tcp://*:*")
            .unwrap()
            .has_wildcard_port());
        assert!(matches!(
            Endpoint::parse_connect("tcp://*:5555"),
            Err(EndpointError::WildcardConnect(_))
        ));
        assert!(matches!(
            Endpoint::parse_connect("tcp://127.0.0.1:0"),
            Err(EndpointError::WildcardConnect(_))
        ));
        assert!(Endpoint::parse_connect("tcp://example.com:80").is_ok());
    }

    /// libzmq unbinds by the resolved endpoint only: `tcp://*:5555`,
    /// `tcp://127.0.0.1:*` and `ipc://*` name no listener.
    #[test]
    fn unbind_refuses_wildcards_and_says_why() {
        for s in [
            "tcp://127.0.0.1:*",
            "tcp://127.0.0.1:0",
            "tcp://*:5555",
            "ipc://*",
            "ipc://*x",
        ] {
            let e = Endpoint::parse_unbind(s).unwrap_err();
            assert_eq!(e, EndpointError::WildcardUnbind(s.to_owned()));
            let text = e.to_string();
            assert!(text.contains(s) && text.contains("bind returned"), "{text}");
        }
        for s in [
            "tcp://127.0.0.1:5555",
            "tcp://localhost:5555",
            "ipc:///tmp/x*",
            "ipc://@*",
            "inproc://*",
        ] {
            assert!(Endpoint::parse_unbind(s).is_ok(), "{s}");
        }
    }
}
