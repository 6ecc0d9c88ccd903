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

mod auth;
mod backoff;
mod endpoint;
mod monitor;
mod zap;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use thiserror::Error;
use zmtp_core::{
    ApiMisuse, AuthId, AuthReply, AuthRequest, Config, Connection, ConnectionError, Credentials,
    Event, Msg, SocketType,
};

pub use self::auth::{AllowList, Authenticator};
pub use self::backoff::Backoff;
pub use self::endpoint::{Endpoint, EndpointError, Host, IpcAddr};
pub use self::monitor::MonitorEvent;
pub use self::zap::{ZapClient, ZAP_ENDPOINT};
use crate::error::{AttachError, RecvError, SendError};
use crate::idmap::IdMap;
use crate::options::Options;
use crate::pattern::{Pattern, PeerMeta, PipeAction, PipeId, PipeItem};

/// Bytes a connection may hold beyond its pipe before the engine stops moving
/// messages into it; with the pipe's SNDHWM and the kernel buffer this bounds
/// what a slow peer costs.
const CONN_OUT_LIMIT: usize = 64 * 1024;

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
}

/// Engine settings beyond the connection and pattern ones.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EngineConfig {
    /// Settings for every ZMTP connection (socket type, security, heartbeats).
    pub connection: Config,
    /// Pattern options (HWMs, ROUTER and XPUB flags...).
    pub options: Options,
    /// RECONNECT_IVL; `None` disables reconnecting. Default 100 ms.
    pub reconnect_ivl: Option<Duration>,
    /// RECONNECT_IVL_MAX; `None` means no back-off. Default none.
    pub reconnect_ivl_max: Option<Duration>,
    /// LINGER: how long `close` waits for queued messages; `None` waits forever
    /// (libzmq's default, -1).
    pub linger: Option<Duration>,
}

impl EngineConfig {
    /// libzmq's defaults around a connection configuration.
    pub fn new(connection: Config) -> Self {
        Self {
            connection,
            options: Options::default(),
            reconnect_ivl: Some(Duration::from_millis(100)),
            reconnect_ivl_max: None,
            linger: None,
        }
    }
}

enum Origin {
    Listener(ListenerId),
    Connector(ConnectorId),
}

struct Conn {
    conn: Connection,
    pipe: PipeId,
    origin: Origin,
    endpoint: Endpoint,
    /// Messages the pipe could not take yet (RCVHWM): while any wait here, the
    /// stream is not read.
    stash: VecDeque<Msg>,
    handshaken: bool,
    flush_queued: bool,
}

struct Connector {
    endpoint: Endpoint,
    pipe: PipeId,
    backoff: Backoff,
    retry_at: Option<Instant>,
    conn: Option<ConnId>,
}

struct Listener {
    endpoint: Endpoint,
}

/// An inproc peer: another engine in this process, joined without ZMTP. The
/// runtime moves whole messages between the two pipes.
struct InprocLink {
    pipe: PipeId,
    flush_queued: bool,
    /// The runtime found this side full; tell it when there is room again.
    blocked: bool,
    connector: Option<ConnectorId>,
}

/// A socket with its connections, sans I/O. See the module docs.
pub struct Engine {
    pattern: Pattern,
    cfg: Arc<Config>,
    reconnect_ivl: Option<Duration>,
    reconnect_ivl_max: Option<Duration>,
    linger: Option<Duration>,
    conns: IdMap<ConnId, Conn>,
    inproc: IdMap<ConnId, InprocLink>,
    pipe_link: IdMap<PipeId, ConnId>,
    /// Streams whose stash waits for room (so `recv` looks at these only).
    stalled: Vec<ConnId>,
    /// Inproc links the runtime found full.
    blocked_links: Vec<ConnId>,
    /// Closed streams whose last bytes (an ERROR, say) are still to be written.
    dying: IdMap<ConnId, Connection>,
    pipe_conn: IdMap<PipeId, ConnId>,
    connectors: IdMap<ConnectorId, Connector>,
    listeners: IdMap<ListenerId, Listener>,
    next_id: u64,
    actions: VecDeque<Action>,
    monitor: VecDeque<MonitorEvent>,
    monitor_on: bool,
    auth_queue: VecDeque<(ConnId, AuthRequest)>,
    authenticator: Option<Box<dyn Authenticator>>,
    /// `Some(deadline)` once `close` was called; the inner `None` waits forever.
    closing: Option<Option<Instant>>,
    closed: bool,
    jitter: u64,
    /// The latest instant seen, for work started outside a timed call.
    last_now: Instant,
}

impl Engine {
    /// A socket engine with no endpoints yet.
    pub fn new(config: EngineConfig, now: Instant) -> Self {
        let mut seed = [0u8; 8];
        config.connection.random().fill(&mut seed);
        Self {
            pattern: Pattern::with_options(config.connection.socket_type(), config.options),
            cfg: Arc::new(config.connection),
            reconnect_ivl: config.reconnect_ivl,
            reconnect_ivl_max: config.reconnect_ivl_max,
            linger: config.linger,
            conns: IdMap::default(),
            inproc: IdMap::default(),
            pipe_link: IdMap::default(),
            stalled: Vec::new(),
            blocked_links: Vec::new(),
            dying: IdMap::default(),
            pipe_conn: IdMap::default(),
            connectors: IdMap::default(),
            listeners: IdMap::default(),
            next_id: 0,
            actions: VecDeque::new(),
            monitor: VecDeque::new(),
            monitor_on: false,
            auth_queue: VecDeque::new(),
            authenticator: None,
            closing: None,
            closed: false,
            jitter: u64::from_le_bytes(seed) | 1,
            last_now: now,
        }
    }

    /// Routes authentication requests to `auth`. Without one, libzmq's behaviour
    /// applies: CURVE and NULL clients are accepted, PLAIN clients refused.
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
        let id = ListenerId(self.alloc());
        self.listeners.insert(
            id,
            Listener {
                endpoint: endpoint.clone(),
            },
        );
        self.actions.push_back(Action::Listen { id, endpoint });
        Ok(id)
    }

    /// Connects to an endpoint. The pipe exists at once (unless IMMEDIATE, or for
    /// a ROUTER, which needs the peer's routing id), so messages queue up to the
    /// HWM before the peer is there.
    pub fn connect(&mut self, endpoint: &str) -> Result<ConnectorId, EngineError> {
        self.check_open()?;
        let endpoint = Endpoint::parse_connect(endpoint)?;
        let pipe = PipeId(self.alloc());
        if self.attach_early() {
            self.pattern.attach(pipe, PeerMeta::default())?;
        }
        let id = ConnectorId(self.alloc());
        self.connectors.insert(
            id,
            Connector {
                endpoint: endpoint.clone(),
                pipe,
                backoff: Backoff::new(self.reconnect_ivl, self.reconnect_ivl_max),
                retry_at: None,
                conn: None,
            },
        );
        self.emit(MonitorEvent::ConnectDelayed(endpoint.clone()));
        self.actions.push_back(Action::Connect { id, endpoint });
        Ok(id)
    }

    /// Stops connecting to an endpoint and closes its connection.
    pub fn disconnect(&mut self, id: ConnectorId) {
        let Some(c) = self.connectors.remove(&id) else {
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
        if let Some(l) = self.listeners.remove(&id) {
            self.actions.push_back(Action::StopListening(id));
            let accepted: Vec<ConnId> = self
                .conns
                .iter()
                .filter(|(_, c)| matches!(c.origin, Origin::Listener(l) if l == id))
                .map(|(c, _)| *c)
                .collect();
            for conn in accepted {
                if let Some(pipe) = self.drop_conn(conn, true) {
                    self.pattern.detach(pipe);
                }
            }
            self.emit(MonitorEvent::Closed(l.endpoint));
        }
    }

    /// The runtime bound a listener; `bound` is the actual endpoint (port 0
    /// resolved).
    pub fn handle_listening(&mut self, id: ListenerId, bound: Endpoint) {
        if let Some(l) = self.listeners.get_mut(&id) {
            l.endpoint = bound.clone();
            self.emit(MonitorEvent::Listening(bound));
        }
    }

    /// The runtime could not bind.
    pub fn handle_bind_failed(&mut self, id: ListenerId, reason: String) {
        if let Some(l) = self.listeners.remove(&id) {
            self.emit(MonitorEvent::BindFailed {
                endpoint: l.endpoint,
                reason,
            });
        }
    }

    /// A listener accepted a stream from `peer_address`.
    pub fn handle_accepted(
        &mut self,
        id: ListenerId,
        now: Instant,
        peer_address: String,
    ) -> ConnId {
        let endpoint = self
            .listeners
            .get(&id)
            .map(|l| l.endpoint.clone())
            .unwrap_or(Endpoint::Inproc(String::new()));
        let pipe = PipeId(self.alloc());
        self.emit(MonitorEvent::Accepted(endpoint.clone()));
        self.open_conn(Origin::Listener(id), pipe, endpoint, now, peer_address)
    }

    /// A connect attempt succeeded.
    pub fn handle_connected(
        &mut self,
        id: ConnectorId,
        now: Instant,
        peer_address: String,
    ) -> Option<ConnId> {
        let c = self.connectors.get(&id)?;
        let endpoint = c.endpoint.clone();
        // ROUTER and IMMEDIATE sockets attach at the handshake: each connection
        // gets its own pipe (the last one may still be draining received messages).
        let pipe = if self.attach_early() {
            c.pipe
        } else {
            PipeId(self.alloc())
        };
        self.emit(MonitorEvent::Connected(endpoint.clone()));
        let conn = self.open_conn(Origin::Connector(id), pipe, endpoint, now, peer_address);
        if let Some(c) = self.connectors.get_mut(&id) {
            c.conn = Some(conn);
        }
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
        let pipe = self.connectors.get(&id).ok_or(EngineError::Closed)?.pipe;
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
        if !self.listeners.contains_key(&id) {
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
        let Some(link) = self.inproc.get_mut(&id) else {
            return false;
        };
        let ready = self.pattern.can_accept(link.pipe);
        if !ready && !link.blocked {
            self.blocked_links.push(id);
        }
        link.blocked = !ready;
        ready
    }

    /// The next item this side sends over an inproc link.
    pub fn poll_inproc(&mut self, id: ConnId) -> Option<PipeItem> {
        let link = self.inproc.get_mut(&id)?;
        link.flush_queued = false;
        let item = self.pattern.poll_outbound(link.pipe);
        if item.is_none() {
            self.check_linger_soon();
        }
        item
    }

    /// An item arrived over an inproc link (check [`Engine::inproc_ready`] first;
    /// a message that does not fit is handed back).
    pub fn handle_inproc(&mut self, id: ConnId, item: PipeItem) -> Result<(), PipeItem> {
        let Some(pipe) = self.inproc.get(&id).map(|l| l.pipe) else {
            return Ok(());
        };
        match item {
            PipeItem::Message(m) => {
                if let Err(m) = self.pattern.handle_message(pipe, m) {
                    if let Some(link) = self.inproc.get_mut(&id) {
                        if !link.blocked {
                            link.blocked = true;
                            self.blocked_links.push(id);
                        }
                    }
                    return Err(PipeItem::Message(m));
                }
            }
            PipeItem::Subscribe(t) => self.pattern.handle_subscribe(pipe, t),
            PipeItem::Cancel(t) => self.pattern.handle_cancel(pipe, t),
        }
        self.flush_dirty();
        Ok(())
    }

    /// The other end of an inproc link went away.
    pub fn handle_inproc_closed(&mut self, id: ConnId) {
        if let Some(link) = self.inproc.remove(&id) {
            self.pipe_link.remove(&link.pipe);
            self.pattern.detach(link.pipe);
            if let Some(c) = link.connector.and_then(|c| self.connectors.get_mut(&c)) {
                c.conn = None;
            }
        }
        self.check_linger_soon();
    }

    /// A connect attempt failed; a retry is scheduled.
    pub fn handle_connect_failed(&mut self, id: ConnectorId, now: Instant) {
        self.last_now = self.last_now.max(now);
        self.schedule_reconnect(id, now);
    }

    /// Bytes arrived on a stream. Whole frames are consumed from `buf`.
    pub fn handle_input(&mut self, id: ConnId, now: Instant, buf: &mut BytesMut) {
        self.last_now = self.last_now.max(now);
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        match c.conn.handle_input(now, buf) {
            Ok(()) => self.after_conn_io(id, now),
            Err(e) => {
                self.after_conn_io(id, now);
                self.fail_conn(id, e, now);
            }
        }
    }

    /// A stream reached end of file (or broke).
    pub fn handle_eof(&mut self, id: ConnId, now: Instant) {
        self.last_now = self.last_now.max(now);
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let err = c
            .conn
            .handle_eof(now)
            .err()
            .unwrap_or(ConnectionError::PeerClosed);
        self.fail_conn(id, err, now);
    }

    /// The runtime has closed a stream, after [`Action::Close`] or on its own
    /// (a write failed, a task ended): a stream still live ends as at end of
    /// file, and bytes still waiting to be written to it are dropped.
    pub fn handle_closed(&mut self, id: ConnId, now: Instant) {
        if self.conns.contains_key(&id) {
            self.handle_eof(id, now);
        }
        self.dying.remove(&id);
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        let due: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.conn.poll_timeout().is_some_and(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if let Some(c) = self.conns.get_mut(&id) {
                match c.conn.handle_timeout(now) {
                    Ok(()) => self.after_conn_io(id, now),
                    Err(e) => self.fail_conn(id, e, now),
                }
            }
        }
        let retries: Vec<ConnectorId> = self
            .connectors
            .iter()
            .filter(|(_, c)| c.retry_at.is_some_and(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in retries {
            if let Some(c) = self.connectors.get_mut(&id) {
                c.retry_at = None;
                let endpoint = c.endpoint.clone();
                self.emit(MonitorEvent::ConnectDelayed(endpoint.clone()));
                self.actions.push_back(Action::Connect { id, endpoint });
            }
        }
        self.check_linger(now);
    }

    /// The next chunk to write to a stream.
    ///
    /// After [`Action::Close`], drain this until `None` before closing the stream.
    pub fn poll_transmit(&mut self, id: ConnId) -> Option<Bytes> {
        if let Some(conn) = self.dying.get_mut(&id) {
            let chunk = conn.poll_transmit();
            if chunk.is_none() {
                self.dying.remove(&id);
            }
            return chunk;
        }
        let c = self.conns.get_mut(&id)?;
        c.flush_queued = false;
        if let Some(b) = c.conn.poll_transmit() {
            return Some(b);
        }
        let pipe = c.pipe;
        self.fill_conn(pipe);
        let chunk = self.conns.get_mut(&id)?.conn.poll_transmit();
        if chunk.is_none() && self.closing.is_some() {
            self.check_linger_soon();
        }
        chunk
    }

    /// Whether the runtime should read from this stream (false while its pipe is
    /// full: back-pressure instead of unbounded buffering).
    pub fn wants_read(&self, id: ConnId) -> bool {
        self.conns.get(&id).is_some_and(|c| c.stash.is_empty())
    }

    /// Sends a message (see [`Pattern::send`]).
    pub fn send(&mut self, msg: Msg) -> Result<(), SendError> {
        if self.closing.is_some() {
            return Err(SendError::WouldBlock(msg));
        }
        let r = self.pattern.send(msg);
        self.flush_dirty();
        r
    }

    /// Receives a message (see [`Pattern::recv`]).
    pub fn recv(&mut self) -> Result<Msg, RecvError> {
        let r = self.pattern.recv();
        self.unstash();
        if !self.blocked_links.is_empty() {
            for id in std::mem::take(&mut self.blocked_links) {
                let Some(l) = self.inproc.get_mut(&id) else {
                    continue;
                };
                if self.pattern.can_accept(l.pipe) {
                    l.blocked = false;
                    self.actions.push_back(Action::ResumeRead(id));
                } else {
                    self.blocked_links.push(id);
                }
            }
        }
        self.flush_dirty();
        r
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

    /// Whether `send` may succeed now.
    pub fn can_send(&mut self) -> bool {
        self.closing.is_none() && self.pattern.can_send()
    }

    /// Whether a message is waiting.
    pub fn can_recv(&mut self) -> bool {
        self.pattern.can_recv()
    }

    /// Answers an authentication request from [`Engine::poll_auth`].
    pub fn auth_reply(
        &mut self,
        conn: ConnId,
        id: AuthId,
        reply: AuthReply,
        now: Instant,
    ) -> Result<(), ApiMisuse> {
        let Some(c) = self.conns.get_mut(&conn) else {
            return Err(ApiMisuse::UnknownAuthRequest(id.value()));
        };
        c.conn.auth_reply(id, reply)?;
        self.after_conn_io(conn, now);
        if let Some(e) = self.conns.get(&conn).and_then(|c| c.conn.error().cloned()) {
            self.fail_conn(conn, e, now);
        }
        Ok(())
    }

    /// Starts closing: no more sends; queued messages are delivered until LINGER
    /// runs out (0 drops them at once, `None` waits forever).
    pub fn close(&mut self, now: Instant) {
        if self.closing.is_some() {
            return;
        }
        self.closing = Some(self.linger.map(|l| now + l));
        // New peers are not accepted while lingering.
        let listeners: Vec<ListenerId> = self.listeners.keys().copied().collect();
        for id in listeners {
            if let Some(l) = self.listeners.remove(&id) {
                self.actions.push_back(Action::StopListening(id));
                self.emit(MonitorEvent::Closed(l.endpoint));
            }
        }
        self.check_linger(now);
    }

    /// Whether `close` has finished.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The next I/O action.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next monitor event.
    pub fn poll_monitor(&mut self) -> Option<MonitorEvent> {
        self.monitor.pop_front()
    }

    /// Whether monitor events are waiting (so a runtime wakes a monitor reader
    /// only when there is something to read).
    pub fn has_monitor_events(&self) -> bool {
        !self.monitor.is_empty()
    }

    /// The next authentication request the authenticator deferred.
    pub fn poll_auth(&mut self) -> Option<(ConnId, AuthRequest)> {
        self.auth_queue.pop_front()
    }

    /// The earliest deadline at which `handle_timeout` must run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let conns = self.conns.values().filter_map(|c| c.conn.poll_timeout());
        let retries = self.connectors.values().filter_map(|c| c.retry_at);
        let linger = self.closing.flatten().filter(|_| !self.closed);
        conns.chain(retries).chain(linger).min()
    }

    // ---- internals ----

    /// Links a pipe to an inproc peer. As libzmq, inproc links emit no monitor
    /// events.
    fn add_inproc(&mut self, pipe: PipeId, connector: Option<ConnectorId>) -> ConnId {
        let conn = ConnId(self.alloc());
        let link = InprocLink {
            pipe,
            flush_queued: false,
            blocked: false,
            connector,
        };
        self.inproc.insert(conn, link);
        self.pipe_link.insert(pipe, conn);
        if let Some(c) = connector.and_then(|c| self.connectors.get_mut(&c)) {
            c.conn = Some(conn);
        }
        self.flush_dirty();
        self.queue_inproc_flush(conn);
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

    fn next_jitter(&mut self) -> u64 {
        // xorshift64: cheap, seeded from the injected randomness.
        let mut x = self.jitter;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.jitter = x;
        x
    }

    fn check_open(&self) -> Result<(), EngineError> {
        if self.closing.is_some() {
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
        origin: Origin,
        pipe: PipeId,
        endpoint: Endpoint,
        now: Instant,
        peer_address: String,
    ) -> ConnId {
        let id = ConnId(self.alloc());
        let conn = Connection::with_peer_address(self.cfg.clone(), peer_address, now);
        self.conns.insert(
            id,
            Conn {
                conn,
                pipe,
                origin,
                endpoint,
                stash: VecDeque::new(),
                handshaken: false,
                flush_queued: false,
            },
        );
        self.queue_flush(id);
        id
    }

    fn queue_flush(&mut self, id: ConnId) {
        if let Some(c) = self.conns.get_mut(&id) {
            if !c.flush_queued && c.conn.pending_transmit() > 0 {
                c.flush_queued = true;
                self.actions.push_back(Action::Flush(id));
            }
        }
    }

    /// Drains a connection's events into the pattern after any input.
    fn after_conn_io(&mut self, id: ConnId, now: Instant) {
        loop {
            let Some(c) = self.conns.get_mut(&id) else {
                return;
            };
            let Some(event) = c.conn.poll_event() else {
                break;
            };
            let pipe = c.pipe;
            match event {
                Event::HandshakeSucceeded => self.on_handshake(id),
                Event::AuthRequest(req) => self.on_auth(id, *req),
                Event::Message(msg) => {
                    let Some(c) = self.conns.get_mut(&id) else {
                        return;
                    };
                    if !c.stash.is_empty() {
                        c.stash.push_back(msg);
                    } else if let Err(msg) = self.pattern.handle_message(pipe, msg) {
                        if let Some(c) = self.conns.get_mut(&id) {
                            c.stash.push_back(msg);
                            self.stalled.push(id);
                        }
                    }
                }
                Event::Subscribe(topic) => self.pattern.handle_subscribe(pipe, topic),
                Event::Cancel(topic) => self.pattern.handle_cancel(pipe, topic),
                _ => {}
            }
        }
        self.flush_dirty();
        self.queue_flush(id);
        if let Some(e) = self.conns.get(&id).and_then(|c| c.conn.error().cloned()) {
            self.fail_conn(id, e, now);
        }
    }

    fn on_handshake(&mut self, id: ConnId) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        c.handshaken = true;
        let pipe = c.pipe;
        let endpoint = c.endpoint.clone();
        let peer = c
            .conn
            .peer()
            .map(|p| PeerMeta::new(p.socket_type, p.routing_id.clone()))
            .unwrap_or_default();
        if let Origin::Connector(cid) = c.origin {
            if let Some(conn) = self.connectors.get_mut(&cid) {
                conn.backoff.reset();
            }
        }
        let connector = match c.origin {
            Origin::Connector(cid) => Some(cid),
            Origin::Listener(_) => None,
        };
        if self.pattern.is_attached(pipe) {
            // A connect-side pipe that outlived a reconnect: SUB and XSUB send
            // their subscriptions again, as libzmq's pipe "hiccup" makes them.
            self.pattern.hiccup(pipe);
        } else if let Err(reason) = self.pattern.attach(pipe, peer) {
            // A second PAIR peer or a duplicate routing id: refuse this stream.
            self.emit(MonitorEvent::Refused { endpoint, reason });
            self.drop_conn(id, false);
            if let Some(cid) = connector {
                self.schedule_reconnect(cid, self.last_now);
            }
            return;
        }
        self.pipe_conn.insert(pipe, id);
        self.emit(MonitorEvent::HandshakeSucceeded(endpoint));
        self.fill_conn(pipe);
        self.process_pipe_actions();
    }

    fn on_auth(&mut self, id: ConnId, req: AuthRequest) {
        let decision = match self.authenticator.as_mut() {
            Some(a) => a.authenticate(&req),
            None => Some(match req.credentials {
                Credentials::Plain { .. } => AuthReply::deny("no authenticator for PLAIN"),
                _ => AuthReply::allow(),
            }),
        };
        match decision {
            Some(reply) => {
                let reply = sanitize(reply);
                if let Some(c) = self.conns.get_mut(&id) {
                    // The id was just issued and the status sanitized: no misuse.
                    let _ = c.conn.auth_reply(req.id, reply);
                }
            }
            None => self.auth_queue.push_back((id, req)),
        }
    }

    /// Moves queued messages of a pipe into its live connection, up to the
    /// connection's byte limit.
    fn queue_inproc_flush(&mut self, id: ConnId) {
        if let Some(link) = self.inproc.get_mut(&id) {
            if !link.flush_queued && self.pattern.has_outbound(link.pipe) {
                link.flush_queued = true;
                self.actions.push_back(Action::Flush(id));
            }
        }
    }

    fn fill_conn(&mut self, pipe: PipeId) {
        if let Some(&id) = self.pipe_link.get(&pipe) {
            self.queue_inproc_flush(id);
            return;
        }
        let Some(&id) = self.pipe_conn.get(&pipe) else {
            return;
        };
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        if !c.conn.is_active() {
            return;
        }
        while c.conn.pending_transmit() < CONN_OUT_LIMIT {
            let Some(item) = self.pattern.poll_outbound(pipe) else {
                break;
            };
            let r = match item {
                PipeItem::Message(m) => c.conn.send(m).is_ok(),
                PipeItem::Subscribe(t) => c.conn.send_subscribe(&t).is_ok(),
                PipeItem::Cancel(t) => c.conn.send_cancel(&t).is_ok(),
            };
            if !r {
                break;
            }
        }
        self.queue_flush(id);
    }

    fn flush_dirty(&mut self) {
        while let Some(pipe) = self.pattern.poll_dirty() {
            self.fill_conn(pipe);
        }
        self.process_pipe_actions();
    }

    fn process_pipe_actions(&mut self) {
        while let Some(PipeAction::Terminate(pipe)) = self.pattern.poll_action() {
            self.pattern.detach(pipe);
            let conn = self
                .pipe_conn
                .get(&pipe)
                .or_else(|| self.pipe_link.get(&pipe))
                .copied();
            if let Some(id) = conn {
                self.drop_conn(id, true);
            }
        }
    }

    /// Retries stashed messages after the application made room.
    fn unstash(&mut self) {
        if self.stalled.is_empty() {
            return;
        }
        let ids = std::mem::take(&mut self.stalled);
        for id in ids {
            let Some(c) = self.conns.get_mut(&id) else {
                continue;
            };
            while let Some(msg) = c.stash.pop_front() {
                if let Err(msg) = self.pattern.handle_message(c.pipe, msg) {
                    c.stash.push_front(msg);
                    break;
                }
            }
            if c.stash.is_empty() {
                self.actions.push_back(Action::ResumeRead(id));
            } else {
                self.stalled.push(id);
            }
        }
    }

    /// Removes a stream (or inproc link) without reconnecting; `keep_tail` keeps
    /// its unwritten bytes for the runtime to flush. Returns its pipe.
    fn drop_conn(&mut self, id: ConnId, keep_tail: bool) -> Option<PipeId> {
        if let Some(link) = self.inproc.remove(&id) {
            self.pipe_link.remove(&link.pipe);
            if let Some(c) = link.connector.and_then(|c| self.connectors.get_mut(&c)) {
                c.conn = None;
            }
            self.actions.push_back(Action::Close(id));
            return Some(link.pipe);
        }
        let Conn {
            mut conn,
            pipe,
            origin,
            ..
        } = self.conns.remove(&id)?;
        conn.close();
        if keep_tail && conn.pending_transmit() > 0 {
            self.dying.insert(id, conn);
        }
        if self.pipe_conn.get(&pipe) == Some(&id) {
            self.pipe_conn.remove(&pipe);
        }
        if let Origin::Connector(cid) = origin {
            if let Some(c) = self.connectors.get_mut(&cid) {
                c.conn = None;
            }
        }
        self.actions.push_back(Action::Close(id));
        Some(pipe)
    }

    fn fail_conn(&mut self, id: ConnId, error: ConnectionError, now: Instant) {
        let Some(c) = self.conns.get(&id) else {
            return;
        };
        let (pipe, endpoint, handshaken) = (c.pipe, c.endpoint.clone(), c.handshaken);
        let connector = match c.origin {
            Origin::Connector(cid) => Some(cid),
            Origin::Listener(_) => None,
        };
        // As libzmq: a failed handshake reports HANDSHAKE_FAILED, and every
        // ended stream reports DISCONNECTED.
        if !handshaken {
            self.emit(MonitorEvent::HandshakeFailed {
                endpoint: endpoint.clone(),
                error: error.clone(),
            });
        }
        self.emit(MonitorEvent::Disconnected {
            endpoint,
            error: error.clone(),
        });
        // Messages already read off the wire are delivered, whatever the HWM says:
        // they were received.
        if let Some(c) = self.conns.get_mut(&id) {
            for msg in std::mem::take(&mut c.stash) {
                self.pattern.push_received(pipe, msg);
            }
        }
        // Let the runtime write a final ERROR before closing.
        self.drop_conn(id, true);
        let keep_pipe = connector.is_some() && self.attach_early() && !error.is_permanent();
        if !keep_pipe {
            self.pattern.detach(pipe);
        }
        match connector {
            Some(cid) if !error.is_permanent() => self.schedule_reconnect(cid, now),
            Some(cid) => {
                // As libzmq 4.3: a protocol error or an authentication failure ends
                // this endpoint for good.
                if let Some(c) = self.connectors.get_mut(&cid) {
                    c.retry_at = None;
                }
            }
            None => {}
        }
        self.check_linger(now);
    }

    /// Schedules the next attempt, also while lingering (queued messages still
    /// want their peer). With reconnection disabled the endpoint ends here and its
    /// pipe goes, as libzmq terminates it.
    fn schedule_reconnect(&mut self, id: ConnectorId, now: Instant) {
        let jitter = self.next_jitter();
        if self.closed {
            return;
        }
        let Some(c) = self.connectors.get_mut(&id) else {
            return;
        };
        c.conn = None;
        match c.backoff.next_delay(jitter) {
            Some(delay) => {
                c.retry_at = Some(now + delay);
                let endpoint = c.endpoint.clone();
                self.emit(MonitorEvent::ConnectRetried {
                    endpoint,
                    ivl_ms: delay.as_millis() as u64,
                });
            }
            None => {
                if let Some(c) = self.connectors.remove(&id) {
                    self.pattern.detach(c.pipe);
                    self.emit(MonitorEvent::Closed(c.endpoint));
                }
                self.check_linger(now);
            }
        }
    }

    fn check_linger_soon(&mut self) {
        if self.closing.is_some() && !self.closed && self.drained() {
            self.finish_close(false);
        }
    }

    fn check_linger(&mut self, now: Instant) {
        let Some(deadline) = self.closing else {
            return;
        };
        if self.closed {
            return;
        }
        let expired = deadline.is_some_and(|d| d <= now);
        if expired || self.drained() {
            self.finish_close(expired);
        }
    }

    /// Nothing left to deliver: every pipe and connection is empty.
    fn drained(&self) -> bool {
        let pipes_empty = self
            .connectors
            .values()
            .map(|c| c.pipe)
            .chain(self.conns.values().map(|c| c.pipe))
            .chain(self.inproc.values().map(|l| l.pipe))
            .all(|p| !self.pattern.has_outbound(p));
        pipes_empty && self.conns.values().all(|c| c.conn.pending_transmit() == 0)
    }

    /// Ends everything. After LINGER expired (or with LINGER 0) unwritten bytes
    /// are dropped too.
    fn finish_close(&mut self, expired: bool) {
        self.closed = true;
        let keep_tail = !expired && self.linger != Some(Duration::ZERO);
        // The runtime closes each stream and tells each inproc peer
        // (`handle_inproc_closed`).
        let conns: Vec<ConnId> = self
            .conns
            .keys()
            .chain(self.inproc.keys())
            .copied()
            .collect();
        for id in conns {
            if let Some(pipe) = self.drop_conn(id, keep_tail) {
                self.pattern.detach(pipe);
            }
        }
        if !keep_tail {
            self.dying.clear();
        }
        let listeners: Vec<ListenerId> = self.listeners.keys().copied().collect();
        for id in listeners {
            self.unbind(id);
        }
        let connectors: Vec<ConnectorId> = self.connectors.keys().copied().collect();
        for id in connectors {
            self.disconnect(id);
        }
    }
}

/// Statuses a ZMTP connection cannot send become 400, so a custom authenticator's
/// odd answer still refuses the peer instead of stalling its handshake.
fn sanitize(reply: AuthReply) -> AuthReply {
    match reply {
        AuthReply::Deny { status, text } if !matches!(status, 300 | 400 | 500) => {
            AuthReply::Deny { status: 400, text }
        }
        other => other,
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("socket_type", &self.pattern.socket_type())
            .field("conns", &self.conns.len())
            .field("closing", &self.closing)
            .finish_non_exhaustive()
    }
}
