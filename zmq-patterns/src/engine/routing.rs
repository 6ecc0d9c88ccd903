//! What ROUTER and STREAM sockets add to the engine: CONNECT_ROUTING_ID (the
//! routing id of the next connect's peer), the connect and disconnect
//! notifications (ROUTER_NOTIFY, STREAM_NOTIFY) and the options that shape
//! them, all changeable while the socket lives, as in libzmq.
//!
//! libzmq raises the notifications from its stream engine: a peer "connects"
//! when its handshake completes (a raw stream at once) and "disconnects" when
//! a handshaken stream fails or its peer closes it. A connection the
//! application itself ends (`disconnect`, `unbind`, a STREAM's empty frame,
//! closing the socket) is not announced.

use std::time::Instant;

use bytes::Bytes;
use zmtp_core::SocketType;

use super::{ConnId, Endpoint, Engine, EngineError};
use crate::options::RouterNotify;
use crate::pipe::PipeId;

impl Engine {
    /// CONNECT_ROUTING_ID (ROUTER, STREAM): the routing id under which the
    /// peer of the next [`connect`](Self::connect) is known, instead of the
    /// one it announces (ROUTER) or a generated one (STREAM). That connect
    /// uses it up. An empty id is refused, as libzmq refuses it.
    pub fn set_connect_routing_id(&mut self, id: impl Into<Bytes>) -> Result<(), EngineError> {
        let id = id.into();
        let t = self.pattern.socket_type();
        if !matches!(t, SocketType::Router | SocketType::Stream) {
            return Err(EngineError::Option {
                option: "connect_routing_id",
                reason: format!("only ROUTER and STREAM sockets take it, not {t}"),
            });
        }
        if id.is_empty() {
            return Err(EngineError::Option {
                option: "connect_routing_id",
                reason: "the routing id must not be empty".into(),
            });
        }
        self.connect_routing_id = Some(id);
        Ok(())
    }

    /// ROUTER_NOTIFY (ROUTER): from now on, `[routing id, ""]` for the
    /// peer events in `flags`.
    pub fn set_router_notify(&mut self, flags: RouterNotify) {
        self.pattern.opts.router_notify = flags;
    }

    /// STREAM_NOTIFY (STREAM): from now on, `[routing id, ""]` when a raw
    /// peer connects or disconnects (or not).
    pub fn set_stream_notify(&mut self, on: bool) {
        self.pattern.opts.stream_notify = on;
    }

    /// PROBE_ROUTER (ROUTER, DEALER, REQ): peers attached from now on get an
    /// empty message first.
    pub fn set_probe_router(&mut self, on: bool) {
        self.pattern.set_probe_router(on);
    }

    /// The routing id `connect` gives its pipe, taken from the pending
    /// CONNECT_ROUTING_ID; refuses (and keeps it) when a peer already has it,
    /// where libzmq would abort.
    pub(super) fn take_connect_routing_id(&mut self) -> Result<Option<Bytes>, EngineError> {
        if let Some(id) = &self.connect_routing_id {
            if self.pattern.has_routing_id(id) {
                return Err(EngineError::Option {
                    option: "connect_routing_id",
                    reason: format!("routing id {id:?} is already in use by a peer"),
                });
            }
        }
        Ok(self.connect_routing_id.take())
    }

    /// STREAM sockets speak raw bytes, which an inproc peer cannot read.
    pub(super) fn check_transport(&self, endpoint: &Endpoint) -> Result<(), EngineError> {
        if self.pattern.socket_type() == SocketType::Stream
            && matches!(endpoint, Endpoint::Inproc(_))
        {
            return Err(EngineError::Option {
                option: "endpoint",
                reason: format!(
                    "a STREAM socket speaks raw TCP: use tcp:// or ipc://, not {endpoint}"
                ),
            });
        }
        Ok(())
    }

    /// Whether this socket's streams are raw (STREAM).
    pub(super) fn is_raw(&self) -> bool {
        self.pattern.socket_type() == SocketType::Stream
    }

    /// A raw stream needs no handshake: it is attached (and announced) as
    /// soon as it exists.
    pub(super) fn start_raw(&mut self, now: Instant, id: ConnId) {
        if self.is_raw() {
            self.after_conn_io(now, id);
        }
    }

    /// `pipe`'s peer completed its handshake.
    pub(super) fn notify_connected(&mut self, pipe: PipeId) {
        if self.notifies(RouterNotify::CONNECT) {
            self.pattern.notify_peer(pipe);
        }
    }

    /// `pipe`'s handshaken peer went away.
    pub(super) fn notify_disconnected(&mut self, pipe: PipeId) {
        if self.notifies(RouterNotify::DISCONNECT) {
            self.pattern.notify_peer(pipe);
        }
    }

    fn notifies(&self, event: RouterNotify) -> bool {
        let opts = &self.pattern.opts;
        match self.pattern.socket_type() {
            SocketType::Stream => opts.stream_notify,
            SocketType::Router => opts.router_notify.contains(event),
            _ => false,
        }
    }
}
