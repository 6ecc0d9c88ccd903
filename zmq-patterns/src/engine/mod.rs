//! The sans-IO socket engine: one pattern, every ZMTP connection of the socket,
//! its endpoints and its timers, so that a runtime only moves bytes.
//!
//! A runtime tells the engine what happened (a listener is up, a connect
//! succeeded or failed, bytes arrived, a stream ended, time passed, the
//! application called `send`/`recv`/`bind`/`connect`/`close`) and drains what it
//! must do: [`Action`]s (listen, connect, close, flush, resume reading), bytes per
//! connection from [`Engine::poll_transmit`], the next deadline, monitor events
//! and authentication requests.
//!
//! Here, once for every runtime: endpoint parsing, reconnect with back-off and
//! jitter (none after a protocol error or an authentication failure, as libzmq
//! 4.3), connect-before-bind (the pipe exists from `connect`, so messages queue up
//! to the HWM), IMMEDIATE, HWM credit between a pipe and its connection (a full
//! receive pipe stops reading that stream), heartbeats and handshake timeouts,
//! LINGER on close, authentication routed to an [`Authenticator`], and monitor
//! events.
//!
//! Each part keeps its own state in its own module, so that none reaches into
//! another's records: `streams` (ZMTP connections, or with `wire` and `raw`
//! a STREAM socket's raw ones: their I/O, handshake and closing bytes),
//! `routing` (CONNECT_ROUTING_ID and the peer notifications), `inproc` (links to engines in this process), `connectors`
//! (connected endpoints and their reconnect schedule), `listeners` (bound
//! endpoints) and `linger` (when closing is over). [`Engine`] owns one of each
//! and carries what one produces to the next.

mod auth;
mod backoff;
mod connectors;
mod endpoint;
mod inproc;
mod limits;
mod linger;
mod listeners;
mod live;
mod monitor;
mod raw;
mod routing;
mod slots;
mod spent;
mod streams;
mod timers;
mod wire;
mod zap;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use thiserror::Error;
use zmtp_core::{
    ApiMisuse, AuthId, AuthReply, AuthRequest, Config, ConnectionError, Event, Msg, SocketType,
};

pub use self::auth::{libzmq_default, AllowList, Authenticator};
pub use self::backoff::Backoff;
pub use self::connectors::Refusal;
use self::connectors::{Connectors, Retry};
pub use self::endpoint::{Endpoint, EndpointError, Host, IpcAddr};
use self::inproc::InprocLinks;
pub use self::inproc::InprocRoom;
use self::linger::Linger;
use self::listeners::Listeners;
pub use self::monitor::{MonitorEvent, Peer};
use self::spent::Spent;
use self::streams::{Drained, Origin, Streams};
pub use self::zap::{ZapClient, ZAP_ENDPOINT};
use crate::error::{AttachError, RecvError, SendError, SendRefusal};
use crate::options::Options;
use crate::pattern::Pattern;
use crate::pipe::{ItemSource, PeerMeta, PipeAction, PipeId, PipeItem};

/// How many frames of a read are decoded before they are handed to the
/// pattern. A read of 256 KiB holds thousands of small messages: decoded
/// all at once, their events filled a queue far larger than the cache, each
/// written out to memory and read back, and the queue kept that capacity
/// (a receiver of 64-byte messages peaked 0.5 MB higher).
const INPUT_BATCH: usize = 256;

/// One stream (accepted or connected), chosen by the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// One bound endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerId(pub u64);

/// One connected endpoint (survives reconnects).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectorId(pub u64);

/// I/O the runtime must perform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Bind this endpoint, then call `handle_listening` or `handle_bind_failed`.
    Listen {
        /// The listener.
        id: ListenerId,
        /// Where to bind.
        endpoint: Endpoint,
    },
    /// Connect to this endpoint, then call `handle_connected` or
    /// `handle_connect_failed`.
    Connect {
        /// The connector.
        id: ConnectorId,
        /// Where to connect.
        endpoint: Endpoint,
    },
    /// Close this stream (after writing what `poll_transmit` still yields).
    Close(ConnId),
    /// Stop listening.
    StopListening(ListenerId),
    /// This stream has new bytes to write: call `poll_transmit`.
    Flush(ConnId),
    /// This stream may be read again (its pipe has room now).
    ResumeRead(ConnId),
}

/// A misuse of the engine's API by the application.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EngineError {
    /// The endpoint cannot be used.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The pattern refused the pipe (a second PAIR peer).
    #[error(transparent)]
    Attach(#[from] AttachError),
    /// The socket is closing.
    #[error("the socket is closed")]
    Closed,
    /// [`Engine::set_config`] was given the settings of another socket type.
    #[error("a {ours} socket cannot take the settings of a {given} socket")]
    SocketTypeChanged {
        /// The engine's socket type.
        ours: SocketType,
        /// The type the settings were made for.
        given: SocketType,
    },
    /// A socket option (or an endpoint) this socket cannot use; names it.
    #[error("invalid {option}: {reason}")]
    Option {
        /// The option, as the builder names it.
        option: &'static str,
        /// Why it cannot be used.
        reason: String,
    },
}

/// Engine settings beyond the connection and pattern ones.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EngineConfig {
    /// Settings for every ZMTP connection (socket type, security, heartbeats).
    pub connection: Config,
    /// Pattern options (HWMs, ROUTER and XPUB flags...).
    pub options: Options,
    /// RECONNECT_IVL; `None` disables reconnecting. Default
    /// [`EngineConfig::DEFAULT_RECONNECT_IVL`].
    pub reconnect_ivl: Option<Duration>,
    /// RECONNECT_IVL_MAX; `None` means no back-off. Default none.
    pub reconnect_ivl_max: Option<Duration>,
    /// LINGER: how long `close` waits for queued messages; `None` waits forever
    /// (libzmq's default, -1).
    pub linger: Option<Duration>,
    /// How many accepted connections may be in their handshake at once; one
    /// accepted beyond is closed at once. `None`: no cap (libzmq has none).
    /// Default [`EngineConfig::DEFAULT_MAX_PENDING_HANDSHAKES`].
    pub max_pending_handshakes: Option<usize>,
}

impl EngineConfig {
    /// libzmq's RECONNECT_IVL default, 100 ms: what [`EngineConfig::new`] sets,
    /// named so that a runtime's own builder starts from the same value.
    pub const DEFAULT_RECONNECT_IVL: Duration = Duration::from_millis(100);

    /// The default cap on accepted connections still in their handshake.
    /// About the 1,024 descriptors a process gets by default, which is what
    /// bounds libzmq's pending handshakes in practice: a server left with the
    /// defaults serves as many handshakes at once as libzmq's would, and an
    /// attacker's silent connections pin at most about 4 MB (a handshake's
    /// state and a 1 KiB read buffer each) until HANDSHAKE_IVL frees them.
    pub const DEFAULT_MAX_PENDING_HANDSHAKES: usize = 1024;

    /// libzmq's defaults around a connection configuration.
    pub fn new(connection: Config) -> Self {
        Self {
            connection,
            options: Options::default(),
            reconnect_ivl: Some(Self::DEFAULT_RECONNECT_IVL),
            reconnect_ivl_max: None,
            linger: None,
            max_pending_handshakes: Some(Self::DEFAULT_MAX_PENDING_HANDSHAKES),
        }
    }
}

/// A socket with its connections, sans I/O.
///
/// The engine never performs I/O and never reads a clock: the runtime that
/// drives it reports what happened, performs what it is asked to, and passes
/// the current time. Inside, it is a few machines, each owning its own state:
/// the pattern (pipes and routing), the ZMTP streams, the inproc links, the
/// connectors with their reconnect schedule, the listeners and the linger
/// state; the engine moves what one machine produces to the next.
///
/// # Inputs
///
/// What happened, reported by the runtime:
///
/// - to listeners: [`handle_listening`](Self::handle_listening),
///   [`handle_bind_failed`](Self::handle_bind_failed),
///   [`handle_accepted`](Self::handle_accepted);
/// - to connectors: [`handle_connected`](Self::handle_connected),
///   [`handle_connect_failed`](Self::handle_connect_failed);
/// - to streams: [`handle_input`](Self::handle_input),
///   [`handle_eof`](Self::handle_eof), [`handle_closed`](Self::handle_closed);
/// - to inproc links: [`handle_inproc_connected`](Self::handle_inproc_connected),
///   [`handle_inproc_accepted`](Self::handle_inproc_accepted),
///   [`handle_inproc`](Self::handle_inproc),
///   [`handle_inproc_batch`](Self::handle_inproc_batch),
///   [`handle_inproc_closed`](Self::handle_inproc_closed);
/// - time passing: [`handle_timeout`](Self::handle_timeout), once the instant
///   from [`poll_timeout`](Self::poll_timeout) has come.
///
/// # Application commands
///
/// [`bind`](Self::bind), [`unbind`](Self::unbind), [`connect`](Self::connect),
/// [`disconnect`](Self::disconnect), [`send`](Self::send), [`recv`](Self::recv),
/// [`subscribe`](Self::subscribe), [`unsubscribe`](Self::unsubscribe), the XPUB
/// manual calls, [`auth_reply`](Self::auth_reply) and [`close`](Self::close);
/// settings: [`set_authenticator`](Self::set_authenticator) and
/// [`set_monitor`](Self::set_monitor).
///
/// # Outputs
///
/// - [`poll_action`](Self::poll_action): the I/O to perform ([`Action`]);
/// - [`poll_transmit`](Self::poll_transmit): bytes to write to one stream,
///   after [`Action::Flush`] or [`Action::Close`];
/// - [`poll_inproc`](Self::poll_inproc): items for an inproc peer, after
///   [`Action::Flush`] on a link;
/// - [`poll_auth`](Self::poll_auth): authentication requests the
///   authenticator deferred;
/// - [`poll_monitor`](Self::poll_monitor): monitor events;
/// - [`poll_timeout`](Self::poll_timeout): when to call `handle_timeout` next.
///
/// # Queries
///
/// [`can_send`](Self::can_send), [`can_recv`](Self::can_recv),
/// [`wants_read`](Self::wants_read), [`inproc_ready`](Self::inproc_ready),
/// [`inproc_room`](Self::inproc_room), [`is_closed`](Self::is_closed), [`has_monitor_events`](Self::has_monitor_events),
/// [`refusals`](Self::refusals), [`is_refused`](Self::is_refused),
/// [`local_peer`](Self::local_peer) and [`pattern`](Self::pattern) produce no
/// output. Two take `&mut self` all the same: `can_recv`, because a SUB drops
/// queued messages that no longer match while answering (as libzmq's
/// `xhas_in`), and `inproc_ready`, because its `false` is what later brings
/// the [`Action::ResumeRead`] the runtime then waits for.
///
/// # Driving
///
/// After every input or command, a driver drains the outputs before it waits
/// again: `poll_action` until `None` (performing each action, which may call
/// `poll_transmit` or `poll_inproc` for the stream or link it names), then
/// `poll_auth`, `poll_monitor`, and last `poll_timeout`, since draining can
/// move the deadline. A stream is read only while
/// [`wants_read`](Self::wants_read) says so; [`Action::ResumeRead`] says when
/// to read again.
///
/// Every call that takes `now` takes it first. `now` never goes backwards:
/// each call passes a reading of the same monotonic clock, no earlier than the
/// one before, since heartbeats, handshake timeouts, reconnect back-off and
/// LINGER are all measured from it.
pub struct Engine {
    pattern: Pattern,
    cfg: Arc<Config>,
    streams: Streams,
    inproc: InprocLinks,
    connectors: Connectors,
    listeners: Listeners,
    linger: Linger,
    next_id: u64,
    actions: VecDeque<Action>,
    monitor: VecDeque<MonitorEvent>,
    monitor_on: bool,
    auth_queue: VecDeque<(ConnId, AuthRequest)>,
    authenticator: Option<Box<dyn Authenticator>>,
    /// The latest instant seen, for work started outside a timed call.
    last_now: Instant,
    /// CONNECT_ROUTING_ID, until a connect uses it.
    connect_routing_id: Option<Bytes>,
    /// See [`EngineConfig::max_pending_handshakes`].
    max_pending_handshakes: Option<usize>,
    /// Messages refills copied out, for the sender to drop (see [`spent`]).
    spent: Spent,
}

impl Engine {
    /// A socket engine with no endpoints yet.
    pub fn new(now: Instant, config: EngineConfig) -> Self {
        let mut seed = [0u8; 8];
        config.connection.random().fill(&mut seed);
        let pattern = Pattern::with_options(config.connection.socket_type(), config.options);
        let cfg = Arc::new(config.connection);
        Self {
            pattern,
            streams: Streams::new(),
            cfg,
            inproc: InprocLinks::default(),
            connectors: Connectors::new(
                config.reconnect_ivl,
                config.reconnect_ivl_max,
                u64::from_le_bytes(seed),
            ),
            listeners: Listeners::default(),
            linger: Linger::new(config.linger),
            next_id: 0,
            actions: VecDeque::new(),
            monitor: VecDeque::new(),
            monitor_on: false,
            auth_queue: VecDeque::new(),
            authenticator: None,
            last_now: now,
            connect_routing_id: None,
            max_pending_handshakes: config.max_pending_handshakes,
            spent: Spent::default(),
        }
    }

    /// Routes authentication requests to `auth`. Without one, libzmq's behaviour
    /// applies ([`libzmq_default`]): CURVE and NULL clients are accepted, PLAIN
    /// clients refused.
    pub fn set_authenticator(&mut self, auth: Box<dyn Authenticator>) {
        self.authenticator = Some(auth);
    }

    /// Turns monitor events on or off (off by default, as libzmq emits events only
    /// to an attached monitor; unread events would otherwise pile up).
    pub fn set_monitor(&mut self, on: bool) {
        self.monitor_on = on;
        if !on {
            self.monitor.clear();
        }
    }

    /// The pattern, for options and inspection.
    pub fn pattern(&self) -> &Pattern {
        &self.pattern
    }

    /// Binds an endpoint (the runtime performs it: see [`Action::Listen`]).
    pub fn bind(&mut self, endpoint: &str) -> Result<ListenerId, EngineError> {
        self.check_open()?;
        let endpoint = Endpoint::parse_bind(endpoint)?;
        self.check_transport(&endpoint)?;
        let id = ListenerId(self.alloc());
        self.listeners.add(id, endpoint.clone(), self.cfg.clone());
        self.actions.push_back(Action::Listen { id, endpoint });
        Ok(id)
    }

    /// Connects to an endpoint. The pipe exists at once (unless IMMEDIATE, or for
    /// a ROUTER, which needs the peer's routing id), so messages queue up to the
    /// HWM before the peer is there.
    pub fn connect(&mut self, endpoint: &str) -> Result<ConnectorId, EngineError> {
        self.check_open()?;
        let endpoint = Endpoint::parse_connect(endpoint)?;
        self.check_transport(&endpoint)?;
        let routing_id = self.take_connect_routing_id()?;
        let pipe = PipeId(self.alloc());
        // A pipe named by CONNECT_ROUTING_ID exists from here on, so messages
        // can be routed to it at once (a ROUTER's too), and outlives
        // reconnects, as in libzmq.
        let pinned = routing_id.is_some();
        let early = self.attach_early();
        if early || pinned {
            self.pattern
                .attach(pipe, PeerMeta::new(None, routing_id.unwrap_or_default()))?;
        }
        let id = ConnectorId(self.alloc());
        self.connectors
            .add(id, endpoint.clone(), pipe, self.cfg.clone(), early);
        if pinned {
            self.connectors.pin(id);
        }
        self.emit(MonitorEvent::ConnectDelayed(endpoint.clone()));
        self.actions.push_back(Action::Connect { id, endpoint });
        Ok(id)
    }

    /// Stops connecting to an endpoint and closes its connection.
    pub fn disconnect(&mut self, id: ConnectorId) {
        let Some(c) = self.connectors.remove(id) else {
            return;
        };
        if let Some(conn) = c.conn {
            if let Some(pipe) = self.drop_conn(conn, true) {
                self.pattern.detach(pipe);
            }
        }
        self.pattern.detach(c.pipe);
        self.emit(MonitorEvent::Closed(c.endpoint));
    }

    /// Stops listening on an endpoint and closes the connections it accepted, as
    /// libzmq does.
    pub fn unbind(&mut self, id: ListenerId) {
        if let Some(endpoint) = self.listeners.remove(id) {
            self.actions.push_back(Action::StopListening(id));
            for conn in self.streams.accepted_by(id) {
                if let Some(pipe) = self.drop_conn(conn, true) {
                    self.pattern.detach(pipe);
                }
            }
            self.emit(MonitorEvent::Closed(endpoint));
        }
    }

    /// The runtime bound a listener; `bound` is the actual endpoint (port 0
    /// resolved).
    pub fn handle_listening(&mut self, id: ListenerId, bound: Endpoint) {
        if self.listeners.set_bound(id, bound.clone()) {
            self.emit(MonitorEvent::Listening(bound));
        }
    }

    /// The runtime could not bind.
    pub fn handle_bind_failed(&mut self, id: ListenerId, reason: String) {
        if let Some(endpoint) = self.listeners.remove(id) {
            self.emit(MonitorEvent::BindFailed { endpoint, reason });
        }
    }

    /// A listener accepted a stream from `peer_address`. At the cap of
    /// pending handshakes ([`Engine::has_handshake_room`]) the stream is
    /// refused instead: closed at once, unrecorded, without a monitor event.
    pub fn handle_accepted(
        &mut self,
        now: Instant,
        id: ListenerId,
        peer_address: String,
    ) -> ConnId {
        if let Some(refused) = self.refuse_over_cap() {
            return refused;
        }
        let endpoint = self
            .listeners
            .endpoint(id)
            .cloned()
            .unwrap_or(Endpoint::Inproc(String::new()));
        let cfg = self.listeners.config(id).unwrap_or(&self.cfg).clone();
        let pipe = PipeId(self.alloc());
        self.emit(MonitorEvent::Accepted {
            endpoint: endpoint.clone(),
            peer: Peer::at(peer_address.clone()),
        });
        self.open_conn(now, cfg, Origin::Listener(id), pipe, endpoint, peer_address)
    }

    /// A connect attempt succeeded.
    pub fn handle_connected(
        &mut self,
        now: Instant,
        id: ConnectorId,
        peer_address: String,
    ) -> Option<ConnId> {
        let (endpoint, early_pipe) = self.connectors.endpoint_and_pipe(id)?;
        // ROUTER and IMMEDIATE sockets attach at the handshake: each connection
        // gets its own pipe (the last one may still be draining received messages).
        let pipe = if self.connectors.attaches_early(id) || self.connectors.is_pinned(id) {
            early_pipe
        } else {
            PipeId(self.alloc())
        };
        let cfg = self.connectors.config(id).unwrap_or(&self.cfg).clone();
        self.emit(MonitorEvent::Connected {
            endpoint: endpoint.clone(),
            peer: Peer::at(peer_address.clone()),
        });
        let conn = self.open_conn(
            now,
            cfg,
            Origin::Connector(id),
            pipe,
            endpoint,
            peer_address,
        );
        self.connectors.set_conn(id, Some(conn));
        Some(conn)
    }

    /// What an inproc peer learns about this socket instead of a handshake.
    pub fn local_peer(&self) -> PeerMeta {
        PeerMeta::new(Some(self.cfg.socket_type()), self.cfg.routing_id().clone())
    }

    /// An inproc connect found its bound peer (`peer` is that engine's
    /// [`Engine::local_peer`]). Messages queued since `connect` flow at once.
    pub fn handle_inproc_connected(
        &mut self,
        id: ConnectorId,
        peer: PeerMeta,
    ) -> Result<ConnId, EngineError> {
        let pipe = self.connectors.pipe(id).ok_or(EngineError::Closed)?;
        if !self.pattern.is_attached(pipe) {
            self.pattern.attach(pipe, peer)?;
        }
        Ok(self.add_inproc(pipe, Some(id)))
    }

    /// An inproc peer connected to one of our inproc listeners.
    pub fn handle_inproc_accepted(
        &mut self,
        id: ListenerId,
        peer: PeerMeta,
    ) -> Result<ConnId, EngineError> {
        if !self.listeners.contains(id) {
            return Err(EngineError::Closed);
        }
        let pipe = PipeId(self.alloc());
        self.pattern.attach(pipe, peer)?;
        Ok(self.add_inproc(pipe, None))
    }

    /// Whether this side of an inproc link can take another item now. When it
    /// cannot, [`Action::ResumeRead`] names the link once the application has made
    /// room.
    pub fn inproc_ready(&mut self, id: ConnId) -> bool {
        self.inproc.ready(id, &self.pattern)
    }

    /// The next item this side sends over an inproc link.
    pub fn poll_inproc(&mut self, id: ConnId) -> Option<PipeItem> {
        let pipe = self.inproc.start_flush(id)?;
        let item = self.pattern.poll_outbound(pipe);
        if item.is_none() {
            self.check_linger_soon();
        }
        item
    }

    /// What [`Engine::poll_inproc`] would give while `counts` stays under
    /// `limit`, moved to `into` at once (see [`Pattern::take_outbound`]).
    pub fn take_inproc<E: Extend<PipeItem> + ?Sized>(
        &mut self,
        id: ConnId,
        counts: &mut (usize, usize),
        limit: (usize, usize),
        into: &mut E,
    ) {
        let Some(pipe) = self.inproc.start_flush(id) else {
            return;
        };
        if self.pattern.take_outbound(pipe, counts, limit, into) {
            self.check_linger_soon();
        }
    }

    /// An item arrived over an inproc link (check [`Engine::inproc_ready`] first;
    /// a message that does not fit is handed back).
    pub fn handle_inproc(&mut self, id: ConnId, item: PipeItem) -> Result<(), PipeItem> {
        let Some(pipe) = self.inproc.pipe(id) else {
            return Ok(());
        };
        self.inproc_item(id, pipe, item)?;
        self.flush_dirty();
        Ok(())
    }

    /// One item into link `id`'s `pipe`; a message that does not fit is
    /// handed back, and the link waits for room.
    fn inproc_item(&mut self, id: ConnId, pipe: PipeId, item: PipeItem) -> Result<(), PipeItem> {
        match item {
            PipeItem::Message(m) => {
                if let Err(m) = self.pattern.handle_message(pipe, m) {
                    self.inproc.block(id);
                    return Err(PipeItem::Message(m));
                }
            }
            PipeItem::Subscribe(t) => self.pattern.handle_subscribe(pipe, t),
            PipeItem::Cancel(t) => self.pattern.handle_cancel(pipe, t),
        }
        Ok(())
    }

    /// Items that arrived over an inproc link, taken from `items` in order
    /// while this side accepts them; the one it refuses is handed back
    /// ([`ItemSource::put_back`]) and the rest are left with the source, and
    /// [`Action::ResumeRead`] names the link once there is room. Returns the
    /// messages and bytes taken (subscription commands count for neither).
    pub fn handle_inproc_batch<S: ItemSource + ?Sized>(
        &mut self,
        id: ConnId,
        items: &mut S,
    ) -> (usize, usize) {
        let Some(pipe) = self.inproc.pipe(id) else {
            // The link is gone: what it carried goes with it.
            let (mut msgs, mut bytes) = (0, 0);
            while let Some(item) = items.next_item() {
                if let PipeItem::Message(m) = item {
                    msgs += 1;
                    bytes += m.byte_len();
                }
            }
            return (msgs, bytes);
        };
        let (mut msgs, mut bytes) = (0, 0);
        loop {
            // Runs of messages with one look at the pipe; the subscriptions
            // between them one at a time.
            let (n, b, refused) = self.pattern.handle_message_run(pipe, items);
            msgs += n;
            bytes += b;
            if refused {
                self.inproc.block(id);
                break;
            }
            let Some(item) = items.next_item() else {
                break;
            };
            let len = match &item {
                PipeItem::Message(m) => Some(m.byte_len()),
                _ => None,
            };
            if let Err(item) = self.inproc_item(id, pipe, item) {
                items.put_back(item);
                break;
            }
            if let Some(len) = len {
                msgs += 1;
                bytes += len;
            }
        }
        self.flush_dirty();
        (msgs, bytes)
    }

    /// How much this side of an inproc link can still take before its pipe is
    /// at RCVHWM, in messages and in bytes (`usize::MAX`: no limit), and
    /// whether the pipe conflates. A sender that keeps what it has handed
    /// over but this side has not yet taken within this room keeps the
    /// link's HWM where libzmq keeps it (SNDHWM + RCVHWM). When the room is
    /// zero, [`Engine::inproc_ready`] asks for [`Action::ResumeRead`].
    pub fn inproc_room(&self, id: ConnId) -> InprocRoom {
        let room = self.inproc.pipe(id).and_then(|p| {
            let (msgs, bytes) = self.pattern.inq_room(p)?;
            Some(InprocRoom {
                msgs,
                bytes,
                conflate: self.pattern.is_conflate(p),
            })
        });
        room.unwrap_or(InprocRoom {
            msgs: 0,
            bytes: 0,
            conflate: false,
        })
    }

    /// The other end of an inproc link went away.
    pub fn handle_inproc_closed(&mut self, id: ConnId) {
        if let Some((pipe, connector)) = self.inproc.remove(id) {
            self.pattern.detach(pipe);
            if let Some(c) = connector {
                self.connectors.set_conn(c, None);
            }
        }
        self.check_linger_soon();
    }

    /// A connect attempt failed; a retry is scheduled.
    pub fn handle_connect_failed(&mut self, now: Instant, id: ConnectorId) {
        self.last_now = self.last_now.max(now);
        self.schedule_reconnect(now, id);
    }

    /// Bytes arrived on a stream. Whole frames are consumed from `buf`.
    pub fn handle_input(&mut self, now: Instant, id: ConnId, buf: &mut BytesMut) {
        self.last_now = self.last_now.max(now);
        loop {
            // A read's frames are taken a few at a time, each batch handed
            // on while its events are still in the cache.
            let more = match self.streams.handle_input(now, id, buf, INPUT_BATCH) {
                None => return,
                Some(Ok(more)) => more,
                Some(Err(e)) => {
                    self.after_conn_io(now, id);
                    return self.fail_conn(now, id, e);
                }
            };
            if !more {
                return self.after_conn_io(now, id);
            }
            if !self.drain_events(id) {
                return;
            }
        }
    }

    /// A stream reached end of file (or broke).
    pub fn handle_eof(&mut self, now: Instant, id: ConnId) {
        self.last_now = self.last_now.max(now);
        if let Some(err) = self.streams.handle_eof(now, id) {
            self.fail_conn(now, id, err);
        }
    }

    /// The runtime has closed a stream, after [`Action::Close`] or on its own
    /// (a write failed, a task ended): a stream still live ends as at end of
    /// file, and bytes still waiting to be written to it are dropped.
    pub fn handle_closed(&mut self, now: Instant, id: ConnId) {
        if self.streams.contains(id) {
            self.handle_eof(now, id);
        }
        self.streams.forget_tail(id);
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        for id in self.streams.due(now) {
            match self.streams.handle_timeout(now, id) {
                None => {}
                Some(Ok(())) => self.after_conn_io(now, id),
                Some(Err(e)) => self.fail_conn(now, id, e),
            }
        }
        for (id, endpoint) in self.connectors.due(now) {
            self.emit(MonitorEvent::ConnectDelayed(endpoint.clone()));
            self.actions.push_back(Action::Connect { id, endpoint });
        }
        self.spent.handle_timeout(now);
        self.check_linger(now);
    }

    /// The next chunk to write to a stream.
    ///
    /// After [`Action::Close`], drain this until `None` before closing the stream.
    pub fn poll_transmit(&mut self, id: ConnId) -> Option<Bytes> {
        let pipe = match self.streams.poll_transmit(id)? {
            Ok(chunk) => return Some(chunk),
            Err(pipe) => pipe,
        };
        self.fill_conn(pipe);
        let chunk = self.streams.poll_refilled(id);
        if chunk.is_none() && self.linger.is_closing() {
            self.check_linger_soon();
        }
        chunk
    }

    /// Whether [`Engine::poll_transmit`] moved a deadline since the last
    /// call: a stream whose queue ran empty looks later whether the buffers
    /// it keeps for sending are still wanted. Writing moves no other
    /// deadline, so a runtime that reads [`Engine::poll_timeout`] again only
    /// after the other calls asks this after writing.
    pub fn poll_timer_moved(&mut self) -> bool {
        self.streams.take_timer_moved() | self.spent.take_armed()
    }

    /// Whether a full write (256 KiB) waits for a stream: a runtime that can
    /// write from the sending thread should do so now, even if it writes only
    /// the first message of a burst that way otherwise. Until it is written,
    /// sends queue on the stream's pipe.
    pub fn is_backlogged(&self, id: ConnId) -> bool {
        self.streams.is_backlogged(id)
    }

    /// Whether the runtime should read from this stream (false while its pipe is
    /// full: back-pressure instead of unbounded buffering).
    pub fn wants_read(&self, id: ConnId) -> bool {
        self.streams.wants_read(id)
    }

    /// Sends a message (see [`Pattern::send`]). A received message sent on
    /// leaves its properties behind, as libzmq resets a message's metadata on
    /// send: an inproc peer must not read the first hop's facts as its own.
    pub fn send(&mut self, msg: Msg) -> Result<(), SendError> {
        self.send_with(msg, &mut |_, _, _| false)
    }

    /// As [`Engine::send`], offering a message bound for an inproc link whose
    /// pipe has nothing queued to `inproc` first, with the
    /// [`Direct`](crate::Direct) contract: it may hand the message to the
    /// link's peer at once and return true (taking it out when the flag says
    /// it is for this link alone), instead of the pipe's queue, the
    /// [`Action::Flush`] and [`Engine::poll_inproc`] it would go through.
    /// Order holds, since the pipe has nothing queued ahead of it; `inproc`
    /// must refuse what the peer would not take at once (its RCVHWM).
    pub fn send_with(
        &mut self,
        mut msg: Msg,
        inproc: &mut dyn FnMut(ConnId, &mut Msg, bool) -> bool,
    ) -> Result<(), SendError> {
        self.send_in(&mut msg, inproc).map_err(|r| r.with(msg))
    }

    /// As [`Engine::send_with`], with the message left in `msg` when it is
    /// refused (see [`Pattern::send_in`]); once sent, what `msg` holds is
    /// the caller's to drop.
    #[inline]
    pub fn send_in(
        &mut self,
        msg: &mut Msg,
        inproc: &mut dyn FnMut(ConnId, &mut Msg, bool) -> bool,
    ) -> Result<(), SendRefusal> {
        msg.clear_properties();
        if self.linger.is_closing() {
            return Err(SendRefusal::WouldBlock);
        }
        // A message for a stream that has room goes straight into its
        // connection; what cannot (a full or unready stream, a queue ahead)
        // is queued and moved by `flush_dirty` as before.
        let Self {
            pattern,
            streams,
            actions,
            inproc: links,
            ..
        } = self;
        let r = pattern.send_in(msg, &mut |pipe, m, sole| {
            if streams.send_direct(pipe, m, actions) {
                return true;
            }
            links.by_pipe(pipe).is_some_and(|id| inproc(id, m, sole))
        });
        if r.is_ok() {
            self.spent.note_send();
        }
        self.flush_dirty();
        r
    }

    /// Whether the refills for writers that follow (see
    /// [`Engine::poll_transmit`]) keep the messages they copy out of a pipe,
    /// from 512 bytes up, for the sender to take with
    /// [`Engine::take_spent`] and drop, instead of dropping them there. A
    /// runtime turns it on for a writer that runs on another thread than
    /// the latest sender, so that each body is freed on the thread that
    /// most likely allocated it (see the `spent` module's notes). Off by
    /// default; turning it off keeps what is kept. Messages still kept when
    /// the sender stops sending are dropped by a timer (see
    /// [`Engine::poll_timeout`]) 200 to 400 ms after the last send.
    #[inline]
    pub fn set_keep_spent(&mut self, on: bool) {
        self.spent.set_on(on);
    }

    /// Whether [`Engine::take_spent`] has anything.
    #[inline]
    pub fn has_spent(&self) -> bool {
        !self.spent.is_empty()
    }

    /// The messages kept since the last call (see
    /// [`Engine::set_keep_spent`]), for the caller to drop, best after it
    /// has let go of any lock around the engine.
    pub fn take_spent(&mut self) -> Vec<Msg> {
        self.spent.take()
    }

    /// Receives a message (see [`Pattern::recv`]).
    pub fn recv(&mut self) -> Result<Msg, RecvError> {
        let r = self.pattern.recv();
        self.after_recv();
        r
    }

    /// Receives up to `max_msgs` messages at once: the first is returned, the
    /// rest appended to `more` until their bodies reach `max_bytes` (the
    /// message that reaches it is still taken, so none is split off).
    ///
    /// The same messages in the same order as that many calls to
    /// [`Engine::recv`], but held peers are resumed and queues refilled once
    /// per batch instead of once per message. Only for the types whose `recv`
    /// is a plain queue (PULL, DEALER, PAIR, ROUTER, SUB, XSUB); the others
    /// act on each message they return.
    pub fn recv_batch(
        &mut self,
        more: &mut VecDeque<Msg>,
        max_msgs: usize,
        max_bytes: usize,
    ) -> Result<Msg, RecvError> {
        let first = match self.pattern.recv() {
            Ok(m) => m,
            Err(e) => {
                self.after_recv();
                return Err(e);
            }
        };
        let mut taken = 1;
        let mut bytes = first.byte_len();
        while taken < max_msgs && bytes < max_bytes {
            // One peer with messages: a run of them at once.
            let (n, b) = self
                .pattern
                .fq_run(more, max_msgs - taken, max_bytes - bytes);
            taken += n;
            bytes += b;
            if taken >= max_msgs || bytes >= max_bytes {
                break;
            }
            let Ok(m) = self.pattern.recv() else {
                break;
            };
            taken += 1;
            bytes += m.byte_len();
            more.push_back(m);
        }
        self.after_recv();
        Ok(first)
    }

    /// What follows taking messages off the queues: held peers whose pipes
    /// have room now are read again.
    fn after_recv(&mut self) {
        self.streams.resume(&self.pattern, &mut self.actions);
        self.inproc.resume(&self.pattern, &mut self.actions);
        self.flush_dirty();
    }

    /// XPUB_MANUAL: subscribe the peer of the last notification read.
    pub fn xpub_manual_subscribe(&mut self, topic: &[u8]) {
        self.pattern.xpub_manual_subscribe(topic);
    }

    /// XPUB_MANUAL: unsubscribe the peer of the last notification read.
    pub fn xpub_manual_unsubscribe(&mut self, topic: &[u8]) {
        self.pattern.xpub_manual_unsubscribe(topic);
    }

    /// SUB: subscribe to a topic prefix.
    pub fn subscribe(&mut self, topic: &[u8]) {
        self.pattern.subscribe(topic);
        self.flush_dirty();
    }

    /// SUB: cancel one subscription.
    pub fn unsubscribe(&mut self, topic: &[u8]) {
        self.pattern.unsubscribe(topic);
        self.flush_dirty();
    }

    /// SUB/XSUB: whether `msg` passes the subscriptions in force (always true
    /// for other types): what `recv` would decide for it now.
    pub fn sub_accepts(&self, msg: &Msg) -> bool {
        self.pattern.sub_accepts(msg)
    }

    /// Whether `send` may succeed now.
    pub fn can_send(&self) -> bool {
        !self.linger.is_closing() && self.pattern.can_send()
    }

    /// Whether a message is waiting.
    pub fn can_recv(&mut self) -> bool {
        self.pattern.can_recv()
    }

    /// Answers an authentication request from [`Engine::poll_auth`].
    pub fn auth_reply(
        &mut self,
        now: Instant,
        conn: ConnId,
        id: AuthId,
        reply: AuthReply,
    ) -> Result<(), ApiMisuse> {
        let Some(c) = self.streams.conn_mut(conn) else {
            return Err(ApiMisuse::UnknownAuthRequest(id.value()));
        };
        c.auth_reply(id, reply)?;
        self.after_conn_io(now, conn);
        if let Some(e) = self.streams.error(conn) {
            self.fail_conn(now, conn, e);
        }
        Ok(())
    }

    /// Starts closing: no more sends; queued messages are delivered until LINGER
    /// runs out (0 drops them at once, `None` waits forever).
    pub fn close(&mut self, now: Instant) {
        if !self.linger.start(now) {
            return;
        }
        // New peers are not accepted while lingering.
        for id in self.listeners.ids() {
            if let Some(endpoint) = self.listeners.remove(id) {
                self.actions.push_back(Action::StopListening(id));
                self.emit(MonitorEvent::Closed(endpoint));
            }
        }
        self.check_linger(now);
    }

    /// Whether `close` has finished.
    pub fn is_closed(&self) -> bool {
        self.linger.is_closed()
    }

    /// The next I/O action.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next monitor event.
    pub fn poll_monitor(&mut self) -> Option<MonitorEvent> {
        let event = self.monitor.pop_front();
        if event.is_none() && self.monitor.capacity() > 0 {
            // Events come a few at a time (connect, handshake, disconnect),
            // then none for the life of a connection: an idle socket should
            // not keep their room (544 bytes for one connection's four).
            self.monitor = VecDeque::new();
        }
        event
    }

    /// Whether an action, an authentication request or a monitor event
    /// waits for the owner. Most sends and receives leave none, and an
    /// owner that asks first need not poll each queue after every one.
    #[inline]
    pub fn has_output(&self) -> bool {
        !(self.actions.is_empty() && self.auth_queue.is_empty() && self.monitor.is_empty())
    }

    /// Whether monitor events are waiting (so a runtime wakes a monitor reader
    /// only when there is something to read).
    pub fn has_monitor_events(&self) -> bool {
        !self.monitor.is_empty()
    }

    /// The endpoints whose peers refused this socket, in the order they were
    /// connected: a handshake that failed for good (denied credentials, a
    /// protocol error; the endpoint is not retried), or a CURVE server that
    /// keeps closing the connection after HELLO (retried, as libzmq does). An
    /// endpoint leaves the list when a handshake with it succeeds.
    pub fn refusals(&self) -> Vec<Refusal> {
        let mut list: Vec<Refusal> = self.connectors.refusals().collect();
        list.sort_by_key(|r| r.connector);
        list
    }

    /// Whether the socket can expect no peer: it binds nothing, connects
    /// somewhere, and every endpoint it connects to refused it (see
    /// [`refusals`](Self::refusals)). A runtime fails a `send` or `recv`
    /// that would wait for a peer then, instead of letting it wait for ever.
    pub fn is_refused(&self) -> bool {
        self.listeners.is_empty() && self.connectors.all_refused()
    }

    /// The next authentication request the authenticator deferred.
    pub fn poll_auth(&mut self) -> Option<(ConnId, AuthRequest)> {
        self.auth_queue.pop_front()
    }

    /// The earliest deadline at which `handle_timeout` must run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.streams.timeout(),
            self.connectors.timeout(),
            self.linger.timeout(),
            self.spent.timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // ---- internals ----

    /// Links a pipe to an inproc peer. As libzmq, inproc links emit no monitor
    /// events.
    fn add_inproc(&mut self, pipe: PipeId, connector: Option<ConnectorId>) -> ConnId {
        let conn = ConnId(self.alloc());
        self.inproc.add(conn, pipe, connector);
        if let Some(c) = connector {
            self.connectors.set_conn(c, Some(conn));
        }
        self.flush_dirty();
        self.inproc
            .queue_flush(conn, &self.pattern, &mut self.actions);
        conn
    }

    fn emit(&mut self, event: MonitorEvent) {
        if self.monitor_on {
            self.monitor.push_back(event);
        }
    }

    fn alloc(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn check_open(&self) -> Result<(), EngineError> {
        if self.linger.is_closing() {
            Err(EngineError::Closed)
        } else {
            Ok(())
        }
    }

    fn attach_early(&self) -> bool {
        !self.pattern.options().immediate && self.pattern.socket_type() != SocketType::Router
    }

    fn open_conn(
        &mut self,
        now: Instant,
        cfg: Arc<Config>,
        origin: Origin,
        pipe: PipeId,
        endpoint: Endpoint,
        peer_address: String,
    ) -> ConnId {
        let id = ConnId(self.alloc());
        self.streams
            .open(now, cfg, id, origin, pipe, endpoint, peer_address);
        self.streams.queue_flush(id, &mut self.actions);
        self.start_raw(now, id);
        id
    }

    /// Drains a connection's events into the pattern after any input.
    fn after_conn_io(&mut self, now: Instant, id: ConnId) {
        if !self.drain_events(id) {
            return;
        }
        self.flush_dirty();
        self.streams.queue_flush(id, &mut self.actions);
        if let Some(e) = self.streams.error(id) {
            self.fail_conn(now, id, e);
        }
    }

    /// Hands the stream's events on; false when the stream is gone.
    fn drain_events(&mut self, id: ConnId) -> bool {
        loop {
            match self.streams.drain(id, &mut self.pattern) {
                Drained::Idle => return true,
                Drained::Gone => return false,
                Drained::Control(Event::HandshakeSucceeded) => self.on_handshake(id),
                Drained::Control(Event::AuthRequest(req)) => self.on_auth(id, *req),
                Drained::Control(_) => {}
            }
        }
    }

    fn on_handshake(&mut self, id: ConnId) {
        let Some(h) = self.streams.handshake_done(id) else {
            return;
        };
        if let Some(cid) = h.connector {
            self.connectors.connected(cid);
        }
        if self.pattern.is_attached(h.pipe) {
            // A connect-side pipe that outlived a reconnect: SUB and XSUB send
            // their subscriptions again, as libzmq's pipe "hiccup" makes them.
            self.pattern.hiccup(h.pipe);
        } else if let Err(reason) = self.pattern.attach(h.pipe, h.peer.clone()) {
            // A second PAIR peer or a duplicate routing id: refuse this stream.
            let announced = Some(h.peer.routing_id).filter(|id| !id.is_empty());
            self.emit(MonitorEvent::Refused {
                endpoint: h.endpoint,
                peer: Peer {
                    address: h.address,
                    routing_id: announced,
                },
                reason,
            });
            self.drop_conn(id, false);
            if let Some(cid) = h.connector {
                self.schedule_reconnect(self.last_now, cid);
            }
            return;
        }
        // A ROUTER's name for the peer; else (and for a pipe attached at
        // `connect`, before any handshake) the one the peer announced.
        let routing_id = self
            .pattern
            .routing_id(h.pipe)
            .filter(|id| !id.is_empty())
            .cloned()
            .or_else(|| Some(h.peer.routing_id.clone()).filter(|id| !id.is_empty()));
        self.streams.bind_pipe(h.pipe, id, routing_id.clone());
        // As libzmq's raw engine, a raw stream reports no handshake.
        if !self.is_raw() {
            self.emit(MonitorEvent::HandshakeSucceeded {
                endpoint: h.endpoint,
                peer: Peer {
                    address: h.address,
                    routing_id,
                },
            });
        }
        self.notify_connected(h.pipe);
        self.fill_conn(h.pipe);
        self.process_pipe_actions();
    }

    fn on_auth(&mut self, id: ConnId, req: AuthRequest) {
        let decision = match self.authenticator.as_mut() {
            Some(a) => a.authenticate(&req),
            None => Some(libzmq_default(&req)),
        };
        match decision {
            Some(reply) => {
                let reply = reply.normalized();
                if let Some(c) = self.streams.conn_mut(id) {
                    // The id was just issued and the status normalized: no misuse.
                    let _ = c.auth_reply(req.id, reply);
                }
            }
            None => self.auth_queue.push_back((id, req)),
        }
    }

    /// Moves queued items of a pipe towards its live stream or inproc link.
    fn fill_conn(&mut self, pipe: PipeId) {
        if let Some(id) = self.inproc.by_pipe(pipe) {
            self.inproc
                .queue_flush(id, &self.pattern, &mut self.actions);
            return;
        }
        self.streams
            .fill(pipe, &mut self.pattern, &mut self.actions, &mut self.spent);
        self.spent.arm(self.last_now);
    }

    fn flush_dirty(&mut self) {
        if !self.pattern.has_dirty_or_actions() {
            return;
        }
        while let Some(pipe) = self.pattern.poll_dirty() {
            self.fill_conn(pipe);
            self.streams.check_backlog(pipe, &mut self.actions);
        }
        self.process_pipe_actions();
    }

    fn process_pipe_actions(&mut self) {
        while let Some(PipeAction::Terminate(pipe)) = self.pattern.poll_action() {
            // What was sent before the end still goes out (a STREAM's reply
            // before its closing empty frame).
            self.streams.fill_all(pipe, &mut self.pattern);
            self.pattern.detach(pipe);
            let conn = self
                .streams
                .by_pipe(pipe)
                .or_else(|| self.inproc.by_pipe(pipe));
            if let Some(id) = conn {
                self.drop_conn(id, true);
            }
        }
    }

    /// Removes a stream (or inproc link) without reconnecting; `keep_tail` keeps
    /// its unwritten bytes for the runtime to flush. Returns its pipe.
    fn drop_conn(&mut self, id: ConnId, keep_tail: bool) -> Option<PipeId> {
        if let Some((pipe, connector)) = self.inproc.remove(id) {
            if let Some(c) = connector {
                self.connectors.set_conn(c, None);
            }
            self.actions.push_back(Action::Close(id));
            return Some(pipe);
        }
        let (pipe, origin) = self.streams.remove(id, keep_tail)?;
        if let Origin::Connector(cid) = origin {
            self.connectors.set_conn(cid, None);
        }
        self.actions.push_back(Action::Close(id));
        Some(pipe)
    }

    fn fail_conn(&mut self, now: Instant, id: ConnId, error: ConnectionError) {
        let Some(f) = self.streams.failing(id) else {
            return;
        };
        // As libzmq: a failed handshake reports HANDSHAKE_FAILED, and every
        // ended stream reports DISCONNECTED.
        if !f.handshaken {
            self.emit(MonitorEvent::HandshakeFailed {
                endpoint: f.endpoint.clone(),
                peer: f.peer.clone(),
                error: error.clone(),
            });
        }
        self.emit(MonitorEvent::Disconnected {
            endpoint: f.endpoint,
            peer: f.peer,
            error: error.clone(),
        });
        if f.handshaken {
            self.notify_disconnected(f.pipe);
        }
        // Let the runtime write a final ERROR before closing.
        self.drop_conn(id, true);
        let keep_pipe = f
            .connector
            .is_some_and(|c| self.connectors.attaches_early(c) || self.connectors.is_pinned(c))
            && !error.is_permanent();
        if !keep_pipe {
            self.pattern.detach(f.pipe);
        }
        match f.connector {
            Some(cid) if !error.is_permanent() => {
                if !f.handshaken {
                    self.connectors.handshake_failed(cid, &error);
                }
                self.schedule_reconnect(now, cid);
            }
            Some(cid) => self.connectors.give_up(cid, error),
            None => {}
        }
        self.check_linger(now);
    }

    /// Schedules the next attempt, also while lingering (queued messages still
    /// want their peer). With reconnection disabled the endpoint ends here and its
    /// pipe goes, as libzmq terminates it.
    fn schedule_reconnect(&mut self, now: Instant, id: ConnectorId) {
        if self.linger.is_closed() {
            return;
        }
        match self.connectors.schedule(now, id) {
            None => {}
            Some(Retry::After { endpoint, delay }) => {
                self.emit(MonitorEvent::ConnectRetried {
                    endpoint,
                    ivl_ms: delay.as_millis() as u64,
                });
            }
            Some(Retry::Never { endpoint, pipe }) => {
                self.pattern.detach(pipe);
                self.emit(MonitorEvent::Closed(endpoint));
                self.check_linger(now);
            }
        }
    }

    /// Finishes closing if everything went out, from calls that carry no time
    /// (the deadline is `handle_timeout`'s business).
    fn check_linger_soon(&mut self) {
        if self.linger.is_lingering() && self.drained() {
            self.finish_close(false);
        }
    }

    fn check_linger(&mut self, now: Instant) {
        if let Some(expired) = self.linger.finish_due(now, || self.drained()) {
            self.finish_close(expired);
        }
    }

    /// Nothing left to deliver: every pipe and connection is empty.
    fn drained(&self) -> bool {
        let mut pipes = self
            .connectors
            .pipes()
            .chain(self.streams.pipes())
            .chain(self.inproc.pipes());
        pipes.all(|p| !self.pattern.has_outbound(p)) && self.streams.all_written()
    }

    /// Ends everything. After LINGER expired (or with LINGER 0) unwritten bytes
    /// are dropped too.
    fn finish_close(&mut self, expired: bool) {
        let keep_tail = self.linger.finish(expired);
        // The runtime closes each stream and tells each inproc peer
        // (`handle_inproc_closed`).
        let conns: Vec<ConnId> = self.streams.ids().chain(self.inproc.ids()).collect();
        for id in conns {
            if let Some(pipe) = self.drop_conn(id, keep_tail) {
                self.pattern.detach(pipe);
            }
        }
        if !keep_tail {
            self.streams.forget_tails();
        }
        for id in self.listeners.ids() {
            self.unbind(id);
        }
        for id in self.connectors.ids() {
            self.disconnect(id);
        }
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("socket_type", &self.pattern.socket_type())
            .field("conns", &self.streams.len())
            .field("closing", &self.linger.deadline())
            .finish_non_exhaustive()
    }
}
