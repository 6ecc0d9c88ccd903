//! The builder's options for sockets that route by peer: PROBE_ROUTER,
//! ROUTER_NOTIFY, STREAM_NOTIFY and CONNECT_ROUTING_ID. Each belongs to some
//! socket types only; setting it on another is refused when the socket is
//! built, as libzmq's `setsockopt` refuses it with EINVAL.

use bytes::Bytes;
use zmq_patterns::engine::EngineConfig;
use zmq_patterns::RouterNotify;
use zmtp_core::SocketType;

use crate::builder::{Builder, RuntimeKind};
use crate::core::Core;
use crate::error::Error;

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
        use SocketType::*;
        let socket = engine.connection.socket_type();
        let only = |call, only: &'static str, types: &[SocketType]| {
            if types.contains(&socket) {
                Ok(())
            } else {
                Err(Error::NotSupported { call, socket, only })
            }
        };
        if let Some(on) = self.probe_router {
            only(
                "probe_router",
                "ROUTER, DEALER and REQ",
                &[Router, Dealer, Req],
            )?;
            engine.options.probe_router = on;
        }
        if let Some(flags) = self.router_notify {
            only("router_notify", "ROUTER", &[Router])?;
            engine.options.router_notify = flags;
        }
        if let Some(on) = self.stream_notify {
            only("stream_notify", "STREAM", &[Stream])?;
            engine.options.stream_notify = on;
        }
        if self.connect_routing_id.is_some() {
            only("connect_routing_id", "ROUTER and STREAM", &[Router, Stream])?;
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
            .map_err(|e| match e {
                zmq_patterns::engine::EngineError::Option { option, reason } => {
                    Error::InvalidOption { option, reason }
                }
                _ => Error::Closed,
            })
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
