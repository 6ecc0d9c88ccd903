//! One socket's engine behind a lock, and the dispatch of the engine's actions
//! to streams, listeners, inproc peers and waiters.
//!
//! Every call locks the engine, does its work, drains the engine's actions
//! while still holding the lock (raising stream signals, binding, starting
//! connects), then unlocks and runs what involves other sockets (inproc pumps,
//! ZAP requests). Only [`inproc`](crate::inproc) ever holds two socket locks, and
//! always in the order of the sockets' ids, so nothing deadlocks.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use smallvec::SmallVec;
use zmq_patterns::engine::{
    Action, ConnId, ConnectorId, Endpoint, Engine, EngineConfig, ListenerId,
};
use zmq_patterns::{IdMap, PeerMeta, PipeItem};
use zmtp_core::{AuthRequest, SocketType};

use crate::error::Error;
use crate::inproc;
use crate::net::{self, TcpOptions};
use crate::runtime::Runtime;
use crate::signal::{bits, Signal, Waiters};
use crate::zap;

static NEXT_SOCKET: AtomicU64 = AtomicU64::new(1);

/// Work that involves another socket, run after the lock is released.
pub(crate) enum Work {
    /// Move items over an inproc link.
    Pump {
        from: Core,
        from_conn: ConnId,
        to: Core,
        to_conn: ConnId,
    },
    /// Join an inproc connector to a bound inproc listener.
    Join {
        binder: Core,
        listener: ListenerId,
        connector: Core,
        connector_id: ConnectorId,
    },
    /// The other end of an inproc link went away.
    LinkClosed { peer: Core, conn: ConnId },
    /// Send an authentication request to the ZAP handler.
    Zap {
        owner: Core,
        conn: ConnId,
        req: AuthRequest,
    },
    /// Run the socket's readable hook (the ZAP client reading replies).
    Hook(Core),
    /// Close a socket (the ZAP client of a socket that closed).
    Close(Core),
}

/// Runs work until none is left. Each item may produce more.
pub(crate) fn run(mut work: Vec<Work>) {
    while let Some(w) = work.pop() {
        match w {
            Work::Pump {
                from,
                from_conn,
                to,
                to_conn,
            } => inproc::pump(&from, from_conn, &to, to_conn, &mut work),
            Work::Join {
                binder,
                listener,
                connector,
                connector_id,
            } => inproc::join(&binder, listener, &connector, connector_id, &mut work),
            Work::LinkClosed { peer, conn } => inproc::link_closed(&peer, conn, &mut work),
            Work::Zap { owner, conn, req } => zap::request(&owner, conn, req, &mut work),
            Work::Hook(core) => {
                if let Some(hook) = core.0.hook.get() {
                    hook(&mut work);
                }
            }
            Work::Close(core) => core.with_into(&mut work, |st| {
                let now = st.now();
                st.engine.close(now);
            }),
        }
    }
}

/// A readable hook: runs without locks, may queue more work.
pub(crate) type Hook = Box<dyn Fn(&mut Vec<Work>) + Send + Sync>;

/// The socket state shared by the user's handle and the runtime's tasks.
pub(crate) struct Shared {
    /// Orders locks when two sockets are locked at once.
    pub(crate) id: u64,
    state: Mutex<State>,
    pub(crate) rt: Arc<dyn Runtime>,
    pub(crate) readable: Arc<Waiters>,
    pub(crate) writable: Arc<Waiters>,
    pub(crate) monitor: Arc<Waiters>,
    pub(crate) done: Arc<Waiters>,
    pub(crate) timer: Signal,
    /// What an inproc peer learns instead of a handshake.
    pub(crate) local_peer: PeerMeta,
    pub(crate) socket_type: SocketType,
    pub(crate) tcp: TcpOptions,
    pub(crate) linger: Option<Duration>,
    /// Called (without locks) when the socket has messages: the ZAP client
    /// uses it to route replies.
    pub(crate) hook: OnceLock<Hook>,
}

pub(crate) struct Listener {
    pub(crate) given: String,
    pub(crate) bound: Option<Endpoint>,
    guard: Option<Box<dyn Send>>,
}

/// One end of an inproc link.
pub(crate) struct Link {
    pub(crate) peer: Core,
    pub(crate) peer_conn: ConnId,
    /// An item that arrived while this side was full.
    pub(crate) pending: Option<PipeItem>,
}

pub(crate) struct State {
    pub(crate) engine: Engine,
    rt: Arc<dyn Runtime>,
    streams: IdMap<ConnId, Arc<Signal>>,
    pub(crate) listeners: IdMap<ListenerId, Listener>,
    pub(crate) connectors: IdMap<ConnectorId, String>,
    pub(crate) links: IdMap<ConnId, Link>,
    /// What each bind came to, until `bind` picks it up.
    bind_results: IdMap<ListenerId, Result<Endpoint, Error>>,
    timer_armed: Option<Instant>,
    timers_dirty: bool,
    last_now: Instant,
    linger_deadline: Option<Instant>,
    closing: bool,
    finished: bool,
    pub(crate) zap: Option<zap::Bridge>,
}

impl State {
    /// Whether the socket is closed and every stream has ended.
    pub(crate) fn is_finished(&self) -> bool {
        self.finished
    }

    /// The current time, never earlier than any time the engine has seen (two
    /// threads may read the clock in one order and lock in the other).
    pub(crate) fn now(&mut self) -> Instant {
        let now = self.rt.now().max(self.last_now);
        self.last_now = now;
        now
    }

    /// Drains the engine's actions and wakes whoever must act on them.
    fn dispatch(&mut self, me: &Core, work: &mut Vec<Work>) {
        let shared = &me.0;
        while let Some(action) = self.engine.poll_action() {
            match action {
                Action::Listen { id, endpoint } => self.listen(me, id, endpoint, work),
                Action::Connect { id, endpoint } => match endpoint {
                    Endpoint::Inproc(name) => inproc::connect(me, id, &name, work),
                    ep => {
                        if shared.rt.connect(me, id, ep).is_err() {
                            let now = self.now();
                            self.engine.handle_connect_failed(now, id);
                        }
                    }
                },
                Action::Close(c) => {
                    if let Some(sig) = self.streams.get(&c) {
                        sig.raise(bits::CLOSE);
                    } else if let Some(l) = self.links.remove(&c) {
                        work.push(Work::LinkClosed {
                            peer: l.peer,
                            conn: l.peer_conn,
                        });
                    }
                }
                Action::StopListening(id) => {
                    if let Some(l) = self.listeners.remove(&id) {
                        self.stop_listener(shared, l);
                    }
                }
                Action::Flush(c) => {
                    if let Some(sig) = self.streams.get(&c) {
                        sig.raise(bits::FLUSH);
                    } else if let Some(l) = self.links.get(&c) {
                        work.push(Work::Pump {
                            from: me.clone(),
                            from_conn: c,
                            to: l.peer.clone(),
                            to_conn: l.peer_conn,
                        });
                    }
                }
                Action::ResumeRead(c) => {
                    if let Some(sig) = self.streams.get(&c) {
                        sig.raise(bits::RESUME);
                    } else if let Some(l) = self.links.get(&c) {
                        work.push(Work::Pump {
                            from: l.peer.clone(),
                            from_conn: l.peer_conn,
                            to: me.clone(),
                            to_conn: c,
                        });
                    }
                }
            }
        }
        while let Some((conn, req)) = self.engine.poll_auth() {
            work.push(Work::Zap {
                owner: me.clone(),
                conn,
                req,
            });
        }
        let hooked = shared.hook.get().is_some();
        if (shared.readable.wanted() || hooked) && self.engine.can_recv() {
            shared.readable.notify();
            if hooked {
                work.push(Work::Hook(me.clone()));
            }
        }
        if shared.writable.wanted() && self.engine.can_send() {
            shared.writable.notify();
        }
        if shared.monitor.wanted() && self.engine.has_monitor_events() {
            shared.monitor.notify();
        }
        if self.timers_dirty {
            self.timers_dirty = false;
            let next = self.next_deadline();
            if next.is_some_and(|t| self.timer_armed.is_none_or(|armed| t < armed)) {
                shared.timer.raise(bits::FLUSH);
            }
        }
        if !self.finished
            && self.engine.is_closed()
            && self.streams.is_empty()
            && self.links.is_empty()
        {
            self.finished = true;
            if let Some(z) = self.zap.take() {
                work.push(Work::Close(z.socket));
            }
            shared.done.notify();
            shared.monitor.notify();
            shared.readable.notify();
            shared.writable.notify();
            shared.timer.raise(bits::FLUSH);
        }
    }

    fn listen(&mut self, me: &Core, id: ListenerId, endpoint: Endpoint, work: &mut Vec<Work>) {
        let given = self
            .listeners
            .get(&id)
            .map(|l| l.given.clone())
            .unwrap_or_else(|| endpoint.to_string());
        let result = match &endpoint {
            Endpoint::Inproc(name) => {
                inproc::bind(me, id, name, &given, work).map(|()| (None, endpoint.clone()))
            }
            _ => net::bind(&endpoint, &given).and_then(|(l, bound)| {
                me.0.rt
                    .listen(me, id, l)
                    .map(|g| (Some(g), bound))
                    .map_err(|source| Error::Bind {
                        endpoint: given.clone(),
                        source,
                    })
            }),
        };
        let result = match result {
            Ok((guard, bound)) => {
                self.engine.handle_listening(id, bound.clone());
                if let Some(l) = self.listeners.get_mut(&id) {
                    l.guard = guard;
                    l.bound = Some(bound.clone());
                }
                Ok(bound)
            }
            Err(e) => {
                self.engine.handle_bind_failed(id, e.to_string());
                self.listeners.remove(&id);
                Err(e)
            }
        };
        self.bind_results.insert(id, result);
    }

    fn stop_listener(&mut self, shared: &Shared, l: Listener) {
        match &l.bound {
            Some(Endpoint::Inproc(name)) => inproc::unbind(shared, name),
            Some(ep) => net::unlink_ipc(ep),
            None => {}
        }
        drop(l.guard);
    }

    /// The engine's next deadline, and the linger deadline while streams still
    /// flush their last bytes.
    fn next_deadline(&self) -> Option<Instant> {
        let engine = self.engine.poll_timeout();
        let linger = self
            .linger_deadline
            .filter(|_| self.closing && !self.streams.is_empty());
        match (engine, linger) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// A socket's shared state, as runtime adapters see it: they hand it accepted
/// and connected streams, drive its timer, and read its clock.
#[derive(Clone)]
pub struct Core(pub(crate) Arc<Shared>);

impl Core {
    pub(crate) fn new(
        config: EngineConfig,
        rt: Arc<dyn Runtime>,
        tcp: TcpOptions,
        auth: zap::RuntimeAuth,
        internal: bool,
    ) -> Self {
        let now = rt.now();
        let linger = config.linger;
        let socket_type = config.connection.socket_type();
        let mut engine = Engine::new(now, config);
        engine.set_authenticator(Box::new(auth));
        let local_peer = engine.local_peer();
        let state = State {
            engine,
            rt: rt.clone(),
            streams: IdMap::default(),
            listeners: IdMap::default(),
            connectors: IdMap::default(),
            links: IdMap::default(),
            bind_results: IdMap::default(),
            timer_armed: None,
            timers_dirty: false,
            last_now: now,
            linger_deadline: None,
            closing: false,
            finished: false,
            zap: None,
        };
        let core = Self(Arc::new(Shared {
            id: NEXT_SOCKET.fetch_add(1, Ordering::Relaxed),
            state: Mutex::new(state),
            rt,
            readable: Arc::default(),
            writable: Arc::default(),
            monitor: Arc::default(),
            done: Arc::default(),
            timer: Signal::default(),
            local_peer,
            socket_type,
            tcp,
            linger,
            hook: OnceLock::new(),
        }));
        if !internal {
            core.0.rt.clone().start_timer(&core);
        }
        core
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic under the lock is a bug, but the state it leaves is still the
        // best there is; later callers go on with it.
        self.0.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the locked state, dispatches, unlocks, then runs the work
    /// that involves other sockets.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut work = Vec::new();
        let r = self.with_into(&mut work, f);
        run(work);
        r
    }

    /// As [`Core::with`], leaving the other sockets' work to the caller.
    pub(crate) fn with_into<T>(&self, work: &mut Vec<Work>, f: impl FnOnce(&mut State) -> T) -> T {
        let mut st = self.lock();
        st.timers_dirty = true;
        let r = f(&mut st);
        st.dispatch(self, work);
        r
    }

    /// For the data path (send, recv, write): no timer can move earlier here, so
    /// the deadline is not recomputed.
    pub(crate) fn with_data<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut work = Vec::new();
        let r = {
            let mut st = self.lock();
            let r = f(&mut st);
            st.dispatch(self, &mut work);
            r
        };
        run(work);
        r
    }

    /// Dispatches a state locked by the caller (the inproc pump holds two).
    pub(crate) fn dispatch_locked(&self, st: &mut State, work: &mut Vec<Work>) {
        st.dispatch(self, work);
    }

    /// Binds an endpoint, returning the one actually bound.
    pub(crate) fn bind(&self, endpoint: &str) -> Result<Endpoint, Error> {
        let id = self.with(|st| {
            let id = st.engine.bind(endpoint).map_err(engine_error)?;
            st.listeners.insert(
                id,
                Listener {
                    given: endpoint.to_owned(),
                    bound: None,
                    guard: None,
                },
            );
            Ok::<_, Error>(id)
        })?;
        self.with(|st| st.bind_results.remove(&id))
            .unwrap_or(Err(Error::Closed))
    }

    /// The socket's timer signal: raised when the deadline moved earlier or the
    /// socket finished.
    pub fn timer(&self) -> &Signal {
        &self.0.timer
    }

    /// Records and returns the deadline the timer must wake at (`None`: wait for
    /// [`Core::timer`] only).
    pub fn arm_timer(&self) -> Option<Instant> {
        self.0.timer.take(bits::FLUSH);
        let mut st = self.lock();
        let next = st.next_deadline();
        st.timer_armed = next;
        next
    }

    /// Runs the timers that are due.
    pub fn handle_timeout(&self) {
        self.with(|st| {
            let now = st.now();
            st.engine.handle_timeout(now);
            if st.closing && st.linger_deadline.is_some_and(|d| d <= now) {
                // LINGER ran out while streams still held unwritten bytes: once
                // told, the deadline is spent (the timer must not keep firing).
                st.linger_deadline = None;
                for sig in st.streams.values() {
                    sig.raise(bits::ABORT);
                }
            }
        });
    }

    /// Whether the socket is closed and every stream has ended: the runtime's
    /// tasks for it may stop.
    pub fn is_finished(&self) -> bool {
        self.lock().finished
    }

    /// Whether `close` was called (sends are refused from then on).
    pub fn is_closing(&self) -> bool {
        self.lock().closing
    }

    /// The runtime's clock.
    pub fn now(&self) -> Instant {
        self.0.rt.now()
    }

    /// The TCP settings for this socket's streams.
    pub fn tcp_options(&self) -> &TcpOptions {
        &self.0.tcp
    }

    /// A listener accepted a stream from `peer` (an IP address, or empty for
    /// IPC). `None` when the listener was stopped meanwhile: close the stream.
    pub fn handle_accepted(&self, id: ListenerId, peer: String) -> Option<StreamCtl> {
        self.with(|st| {
            if !st.listeners.contains_key(&id) || st.closing {
                return None;
            }
            let now = st.now();
            let conn = st.engine.handle_accepted(now, id, peer);
            Some(self.add_stream(st, conn))
        })
    }

    /// A connect attempt succeeded. `None` when the endpoint was disconnected
    /// meanwhile: close the stream.
    pub fn handle_connected(&self, id: ConnectorId, peer: String) -> Option<StreamCtl> {
        self.with(|st| {
            let now = st.now();
            let conn = st.engine.handle_connected(now, id, peer)?;
            Some(self.add_stream(st, conn))
        })
    }

    /// A connect attempt failed; the engine schedules the retry.
    pub fn handle_connect_failed(&self, id: ConnectorId) {
        self.with(|st| {
            let now = st.now();
            st.engine.handle_connect_failed(now, id);
        });
    }

    fn add_stream(&self, st: &mut State, conn: ConnId) -> StreamCtl {
        let signal = Arc::new(Signal::default());
        // The greeting is queued already: the first poll of the stream writes it.
        signal.raise(bits::FLUSH);
        st.streams.insert(conn, signal.clone());
        StreamCtl {
            core: self.clone(),
            id: conn,
            signal,
            reader_done: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Starts closing (LINGER applies).
    pub(crate) fn close(&self) {
        self.with(|st| {
            if st.closing {
                return;
            }
            st.closing = true;
            let now = st.now();
            // A LINGER too long to add is as good as for ever.
            st.linger_deadline = self.0.linger.and_then(|l| now.checked_add(l));
            st.engine.close(now);
            // Senders waiting for room learn that none will come.
            self.0.writable.notify();
            self.0.readable.notify();
        });
    }
}

fn engine_error(e: zmq_patterns::engine::EngineError) -> Error {
    match e {
        zmq_patterns::engine::EngineError::Endpoint(e) => Error::Endpoint(e),
        _ => Error::Closed,
    }
}

/// Bytes asked of the engine per write: enough to batch thousands of small
/// messages into one vectored write.
const WRITE_LIMIT: usize = 256 * 1024;

/// Slices per vectored write (Linux takes up to 1024; large bodies are few).
pub const MAX_IOV: usize = 64;

/// The next move of a stream's writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteStep {
    /// Write what `out` holds (see [`io_slices`]), then [`consume`](crate::consume)
    /// what went.
    Write,
    /// Nothing to write: wait for [`bits::FLUSH`] (or CLOSE, ABORT).
    Idle,
    /// Everything is written and the stream is to close: send FIN, drain the
    /// input, close.
    Finish,
    /// Close at once, unwritten bytes and all (LINGER ran out).
    Abort,
}

/// The next move of a stream's reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadStep {
    /// Read, and hand the bytes to [`StreamCtl::handle_input`].
    Read,
    /// The receive pipe is full: wait for [`bits::RESUME`] (or CLOSE, ABORT).
    Paused,
    /// The stream is closing: read and drop until the peer's FIN.
    Drain,
    /// Stop now.
    Abort,
}

/// The slices of one vectored write of `out`.
pub fn io_slices(out: &VecDeque<Bytes>) -> SmallVec<[IoSlice<'_>; MAX_IOV]> {
    out.iter().take(MAX_IOV).map(|b| IoSlice::new(b)).collect()
}

/// A runtime's handle on one stream: take bytes to write, give bytes read, and
/// watch the [`Signal`] for more work. Dropping it tells the socket the stream
/// is gone.
pub struct StreamCtl {
    core: Core,
    id: ConnId,
    signal: Arc<Signal>,
    reader_done: std::sync::atomic::AtomicBool,
}

impl StreamCtl {
    /// The stream's wake-up flags.
    pub fn signal(&self) -> &Signal {
        &self.signal
    }

    /// Moves up to about `limit` bytes of output into `out` (several chunks, for
    /// one vectored write; large message bodies stay shared, not copied).
    /// Returns the number of bytes added.
    pub fn fill(&self, out: &mut VecDeque<Bytes>, limit: usize) -> usize {
        self.core.with_data(|st| {
            let mut added = 0;
            while added < limit {
                match st.engine.poll_transmit(self.id) {
                    Some(chunk) => {
                        added += chunk.len();
                        out.push_back(chunk);
                    }
                    None => break,
                }
            }
            added
        })
    }

    /// What the writing side does next, given the bytes it still holds in
    /// `out` (refilled here when empty): the one place that reads FLUSH,
    /// CLOSE and ABORT for writers of every runtime.
    pub fn next_write(&self, out: &mut VecDeque<Bytes>) -> WriteStep {
        if self.signal.is_aborted() {
            return WriteStep::Abort;
        }
        let closing = self.signal.is_closing();
        self.signal.take(bits::FLUSH);
        if out.is_empty() {
            self.fill(out, WRITE_LIMIT);
        }
        if !out.is_empty() {
            WriteStep::Write
        } else if closing {
            WriteStep::Finish
        } else {
            WriteStep::Idle
        }
    }

    /// What the reading side does next; `reading` is false while the
    /// socket's receive pipe is full (set from [`StreamCtl::handle_input`]).
    pub fn next_read(&self, reading: &mut bool) -> ReadStep {
        if self.signal.is_aborted() {
            return ReadStep::Abort;
        }
        if self.signal.is_closing() {
            return ReadStep::Drain;
        }
        if self.signal.take(bits::RESUME) {
            *reading = true;
        }
        if *reading {
            ReadStep::Read
        } else {
            ReadStep::Paused
        }
    }

    /// Bytes arrived: whole frames are taken from the front of `buf`. Returns
    /// whether to keep reading (false while the socket's receive pipe is full:
    /// wait for [`bits::RESUME`]).
    pub fn handle_input(&self, buf: &mut BytesMut) -> bool {
        self.core.with(|st| {
            let now = st.now();
            st.engine.handle_input(now, self.id, buf);
            st.engine.wants_read(self.id)
        })
    }

    /// For runtimes that read and write on separate threads: the reader has
    /// stopped.
    pub fn set_reader_done(&self) {
        self.reader_done.store(true, Ordering::Release);
    }

    /// Whether [`StreamCtl::set_reader_done`] was called.
    pub fn reader_done(&self) -> bool {
        self.reader_done.load(Ordering::Acquire)
    }

    /// The stream reached end of file or failed.
    pub fn handle_eof(&self) {
        self.core.with(|st| {
            let now = st.now();
            st.engine.handle_eof(now, self.id);
        });
    }
}

impl Drop for StreamCtl {
    fn drop(&mut self) {
        self.core.with(|st| {
            st.streams.remove(&self.id);
            let now = st.now();
            st.engine.handle_closed(now, self.id);
        });
    }
}
