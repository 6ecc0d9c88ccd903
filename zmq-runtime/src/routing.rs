//! The builder's options for sockets that route by peer: PROBE_ROUTER,
//! ROUTER_NOTIFY, STREAM_NOTIFY and CONNECT_ROUTING_ID. Each belongs to some
//! socket types only; setting it on another is refused when the socket is
//! built, as libzmq's `setsockopt` refuses it with EINVAL.

use bytes::Bytes;
use zmq_patterns::engine::{EngineConfig, EngineError};
use zmq_patterns::RouterNotify;
use zmtp_core::SocketType;

use crate::builder::{Builder, RuntimeKind};
use crate::core::Core;
use crate::error::Error;
use crate::socket::Socket;

/// The options as set, applied at `build`.
#[derive(Default)]
pub(crate) struct RoutingOptions {
    probe_router: Option<bool>,
    router_notify: Option<RouterNotify>,
    stream_notify: Option<bool>,
    connect_routing_id: Option<Bytes>,
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

impl<R: RuntimeKind> Builder<R> {
    /// PROBE_ROUTER (ROUTER, DEALER, REQ): each new connection first sends an
    /// empty message, so that a ROUTER peer learns this socket's routing id
    /// before anything else is said. Default off.
    pub fn probe_router(mut self, on: bool) -> Self {
        self.routing.probe_router = Some(on);
        self
    }

    /// ROUTER_NOTIFY (ROUTER; a draft option in libzmq): receive
    /// `[routing id, ""]` when a peer completes its handshake
    /// ([`RouterNotify::CONNECT`]) and when that peer's connection ends
    /// ([`RouterNotify::DISCONNECT`]); combine both with `|`. Default
    /// [`RouterNotify::NONE`].
    pub fn router_notify(mut self, flags: RouterNotify) -> Self {
        self.routing.router_notify = Some(flags);
        self
    }

    /// STREAM_NOTIFY (STREAM): receive `[routing id, ""]` when a raw peer
    /// connects and when it disconnects. Default on, as in libzmq.
    pub fn stream_notify(mut self, on: bool) -> Self {
        self.routing.stream_notify = Some(on);
        self
    }

    /// CONNECT_ROUTING_ID (ROUTER, STREAM): the routing id under which the
    /// peer of the first `connect` is known, instead of the one it announces
    /// (ROUTER) or a generated one (STREAM). Messages can be sent to it at
    /// once; they wait for the connection. Must not be empty.
    pub fn connect_routing_id(mut self, id: impl Into<Bytes>) -> Self {
        self.routing.connect_routing_id = Some(id.into());
        self
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
    /// [`Builder::zap_enforce_domain`]).
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
