//! The builder's options for sockets that route by peer: PROBE_ROUTER,
//! ROUTER_NOTIFY, STREAM_NOTIFY and CONNECT_ROUTING_ID. Each belongs to some
//! socket types only; setting it on another is refused when the socket is
//! built, as libzmq's `setsockopt` refuses it with EINVAL.

use bytes::Bytes;
use zmq_patterns::engine::{EngineConfig, EngineError};
use zmq_patterns::RouterNotify;
use zmtp_core::SocketType;

use crate::core::Core;
use crate::error::Error;
use crate::socket::Socket;

/// The options as set, applied at `build`.
#[derive(Default)]
pub(crate) struct RoutingOptions {
    pub(crate) probe_router: Option<bool>,
    pub(crate) router_notify: Option<RouterNotify>,
    pub(crate) stream_notify: Option<bool>,
    pub(crate) connect_routing_id: Option<Bytes>,
}

impl RoutingOptions {
    /// Checks each option against the socket type and writes it into the
    /// engine's configuration.
    pub(crate) fn apply(&self, engine: &mut EngineConfig) -> Result<(), Error> {
        let socket = engine.connection.socket_type();
        if let Some(on) = self.probe_router {
            check(socket, "probe_router")?;
            engine.options.probe_router = on;
        }
        if let Some(flags) = self.router_notify {
            check(socket, "router_notify")?;
            engine.options.router_notify = flags;
        }
        if let Some(on) = self.stream_notify {
            check(socket, "stream_notify")?;
            engine.options.stream_notify = on;
        }
        if self.connect_routing_id.is_some() {
            check(socket, "connect_routing_id")?;
        }
        Ok(())
    }

    /// What is applied to the engine once it exists: CONNECT_ROUTING_ID,
    /// which the first connect uses up.
    pub(crate) fn start(self, core: &Core) -> Result<(), Error> {
        let Some(id) = self.connect_routing_id else {
            return Ok(());
        };
        core.with(|st| st.engine.set_connect_routing_id(id))
            .map_err(option_error)
    }
}

/// Whether `socket` takes the routing option `call`, as libzmq's
/// `setsockopt` checks it (EINVAL otherwise).
fn check(socket: SocketType, call: &'static str) -> Result<(), Error> {
    use SocketType::*;
    let (only, types): (&'static str, &[SocketType]) = match call {
        "probe_router" => ("ROUTER, DEALER and REQ", &[Router, Dealer, Req]),
        "router_notify" => ("ROUTER", &[Router]),
        "stream_notify" => ("STREAM", &[Stream]),
        _ => ("ROUTER and STREAM", &[Router, Stream]),
    };
    if types.contains(&socket) {
        Ok(())
    } else {
        Err(Error::NotSupported { call, socket, only })
    }
}

/// The engine's refusal of a CONNECT_ROUTING_ID, as the socket's error.
fn option_error(e: EngineError) -> Error {
    match e {
        EngineError::Option { option, reason } => Error::InvalidOption { option, reason },
        _ => Error::Closed,
    }
}

/// The same options on a live socket (`set_<name>` and `<name>()`, as for
/// every option): each refused on the socket types libzmq refuses it on.
impl<R> Socket<R> {
    /// PROBE_ROUTER, for connections made afterwards.
    pub fn set_probe_router(&self, on: bool) -> Result<(), Error> {
        check(self.socket_type(), "probe_router")?;
        self.update(|c| {
            c.options.probe_router = on;
            Ok(())
        })
    }

    /// PROBE_ROUTER.
    pub fn probe_router(&self) -> bool {
        self.read(|c| c.options.probe_router)
    }

    /// ROUTER_NOTIFY, for peers that connect or disconnect afterwards.
    pub fn set_router_notify(&self, flags: RouterNotify) -> Result<(), Error> {
        check(self.socket_type(), "router_notify")?;
        self.update(|c| {
            c.options.router_notify = flags;
            Ok(())
        })
    }

    /// ROUTER_NOTIFY.
    pub fn router_notify(&self) -> RouterNotify {
        self.read(|c| c.options.router_notify)
    }

    /// STREAM_NOTIFY, for peers that connect or disconnect afterwards.
    pub fn set_stream_notify(&self, on: bool) -> Result<(), Error> {
        check(self.socket_type(), "stream_notify")?;
        self.update(|c| {
            c.options.stream_notify = on;
            Ok(())
        })
    }

    /// STREAM_NOTIFY.
    pub fn stream_notify(&self) -> bool {
        self.read(|c| c.options.stream_notify)
    }

    /// CONNECT_ROUTING_ID: the routing id of the peer of the next `connect`,
    /// which uses it up, as in libzmq. Refused when empty or when a peer
    /// already has that id.
    pub fn set_connect_routing_id(&self, id: impl Into<Bytes>) -> Result<(), Error> {
        check(self.socket_type(), "connect_routing_id")?;
        let id = id.into();
        self.core()
            .with(|st| st.engine.set_connect_routing_id(id))
            .map_err(option_error)
    }

    /// ZAP_ENFORCE_DOMAIN, from the next handshake on (see
    /// [`Builder::zap_enforce_domain`](crate::Builder::zap_enforce_domain)).
    pub fn set_zap_enforce_domain(&self, on: bool) -> Result<(), Error> {
        if self.core().is_closing() {
            return Err(Error::Closed);
        }
        self.core().set_zap_enforce_domain(on);
        Ok(())
    }

    /// ZAP_ENFORCE_DOMAIN.
    pub fn zap_enforce_domain(&self) -> bool {
        self.core().zap_enforce_domain()
    }
}
