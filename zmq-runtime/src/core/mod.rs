//! One socket's engine behind a lock, and the dispatch of the engine's actions
//! to streams, listeners, inproc peers and waiters.
//!
//! Every call locks the engine, does its work, drains the engine's actions
//! while still holding the lock (raising stream signals, binding, starting
//! connects), then unlocks and runs what involves other sockets ([`work`]:
//! inproc pumps, ZAP requests). Only [`inproc`] ever holds two socket locks,
//! and always in the order of the sockets' ids, so nothing deadlocks.
//!
//! Binding and connecting are in [`endpoint`]. A message's bytes go from the
//! engine to the OS through [`stream`]; the adapter that moves them
//! implements [`runtime`].

#[cfg(test)]
mod by_hand;
mod direct;
mod endpoint;
mod events;
mod inbox;
mod inproc;
mod lane;
mod lock;
mod runtime;
mod stream;
mod work;
mod zap;

pub use self::direct::{Backlog, DirectRead, DirectWrite};
pub use self::events::Refusal;
pub use self::runtime::Runtime;
pub use self::stream::{io_slices, ReadStep, StreamCtl, WriteStep, MAX_IOV};
pub(crate) use self::zap::RuntimeAuth;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use zmq_patterns::engine::{
    Action, ConnId, ConnectorId, Endpoint, Engine, EngineConfig, ListenerId,
};
use zmq_patterns::IdMap;
use zmtp_core::SocketType;

use self::inproc::Link;
use self::lock::Lock;
use self::work::{Hook, Work};
use crate::net::TcpOptions;
use crate::signal::{bits, Signal, Waiters, Waiting};

static NEXT_SOCKET: AtomicU64 = AtomicU64::new(1);

/// What every [`Core`] handle of one socket points to: the locked state, and
/// what can be read without the lock (settings, waiter lists, the timer).
struct CoreShared {
    /// Orders locks when two sockets are locked at once.
    id: u64,
    state: StateLock,
    rt: Arc<dyn Runtime>,
    readable: Arc<Waiters>,
    writable: Arc<Waiters>,
    monitor: Arc<Waiters>,
    done: Arc<Waiters>,
    timer: Signal,
    socket_type: SocketType,
    /// The TCP options in force, for endpoints bound or connected from now
    /// on (each keeps those of its own time, as in libzmq).
    tcp: Mutex<Arc<TcpOptions>>,
    /// Called (without locks) when the socket has messages: the ZAP client
    /// uses it to route replies.
    hook: OnceLock<Hook>,
    /// ZAP_ENFORCE_DOMAIN, read by the socket's authentication.
    zap_enforce_domain: Arc<AtomicBool>,
    /// Messages taken from the engine ahead of `recv` (see [`inbox`]).
    inbox: inbox::Inbox,
    /// Whether this type's `recv` may read ahead into `inbox`.
    prefetch: bool,
    /// The streams a thread blocked in `recv` may read itself (see
    /// [`direct`]); apart from the socket's lock, which the read takes after.
    readers: Mutex<IdMap<ConnId, Arc<dyn DirectRead>>>,
    /// Inproc links whose lanes have items this socket was told about (see
    /// [`inproc`]), and whether the list is not empty (read without its lock
    /// on every entry).
    ready: inproc::Ready,
    /// Whether a writer on another thread left messages for the sender to
    /// drop (see [`StreamCtl::fill`](stream::StreamCtl::fill)): read
    /// without the lock after every send, taken with it.
    spent: AtomicBool,
}

/// A socket's locked state (see [`lock`]).
type StateLock = Lock<LockedState>;

/// A held [`StateLock`]: the state, unlocked when dropped.
type StateGuard<'a> = spin::mutex::SpinMutexGuard<'a, LockedState>;

/// The part of a socket behind its lock: the engine, and what the runtime
/// side keeps per stream, listener, connector and inproc link.
pub(crate) struct LockedState {
    pub(crate) engine: Engine,
    rt: Arc<dyn Runtime>,
    streams: IdMap<ConnId, Arc<Signal>>,
    /// The streams whose adapter lets the sending thread write (see [`direct`]).
    direct: IdMap<ConnId, Arc<dyn DirectWrite>>,
    listeners: IdMap<ListenerId, endpoint::Listener>,
    connectors: IdMap<ConnectorId, String>,
    /// The TCP options each connector was made with.
    connect_tcp: IdMap<ConnectorId, Arc<TcpOptions>>,
    links: IdMap<ConnId, Link>,
    timer_armed: Option<Instant>,
    timers_dirty: bool,
    last_now: Instant,
    linger_deadline: Option<Instant>,
    closing: bool,
    finished: bool,
    /// Kept between uses so that taking from inproc lanes allocates nothing.
    ready_scratch: Vec<ConnId>,
    /// Links whose lane the last take found items in: their senders do not
    /// tell of more, so a receive looks at them again (see [`lane::LaneRx::take`]).
    awake_links: Vec<ConnId>,
    /// Whether this socket's receives come back to its lanes before it waits:
    /// false for a socket read from a hook (the ZAP bridge), which reads only
    /// when told.
    looks_again: bool,
    zap: Option<zap::Bridge>,
    events: events::Events,
    /// The thread of the latest send, as [`thread_mark`] names it.
    pub(crate) sender: usize,
}

/// A number that tells the calling thread from every other live thread (the
/// address of a thread-local), at the cost of a load.
#[inline]
pub(crate) fn thread_mark() -> usize {
    thread_local! {
        static MARK: u8 = const { 0 };
    }
    MARK.with(|m| std::ptr::from_ref(m) as usize)
}

impl LockedState {
    /// Whether the socket is closed and every stream has ended.
    pub(crate) fn is_finished(&self) -> bool {
        self.finished
    }

    /// The current time, never earlier than any time the engine has seen (two
    /// threads may read the clock in one order and lock in the other).
    fn now(&mut self) -> Instant {
        let now = self.rt.now().max(self.last_now);
        self.last_now = now;
        now
    }

    /// Drains the engine's actions and wakes whoever must act on them.
    #[inline]
    fn dispatch(&mut self, me: &Core, work: &mut Vec<Work>) {
        // Runs after every send and receive, most of which leave nothing to
        // do: a few loads decide that, without a call.
        let shared = &me.0;
        let quiet = !self.engine.has_output()
            && !self.timers_dirty
            && !shared.readable.wanted()
            && !shared.writable.wanted()
            && shared.hook.get().is_none()
            && (self.finished || !self.engine.is_closed());
        if !quiet {
            self.dispatch_all(me, work);
        }
    }

    /// What [`LockedState::dispatch`] does when something may be due.
    fn dispatch_all(&mut self, me: &Core, work: &mut Vec<Work>) {
        let shared = &me.0;
        while let Some(action) = self.engine.poll_action() {
            self.act(me, action, work);
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
        self.drain_events(shared);
        if self.timers_dirty {
            self.timers_dirty = false;
            let next = self.next_deadline();
            if next.is_some_and(|t| self.timer_armed.is_none_or(|armed| t < armed)) {
                shared.timer.raise(bits::DEADLINE);
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
            shared.timer.raise(bits::DEADLINE);
        }
    }

    /// Carries out one of the engine's actions.
    fn act(&mut self, me: &Core, action: Action, work: &mut Vec<Work>) {
        match action {
            Action::Listen { id, endpoint } => {
                // Its error was reported to the engine; only `bind` returns it.
                // (`bind` takes its own listen; no host name was looked up.)
                let _ = self.listen(me, id, endpoint, None, work);
            }
            Action::Connect { id, endpoint } => match endpoint {
                Endpoint::Inproc(name) => inproc::connect(me, id, &name, work),
                ep => {
                    if me.0.rt.connect(me, id, ep).is_err() {
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
                    endpoint::stop_listener(&me.0, l);
                }
            }
            Action::Flush(c) => {
                if self.flush_direct(c) {
                    // Written on this thread: the pump sleeps on.
                } else if let Some(sig) = self.streams.get(&c) {
                    sig.raise(bits::FLUSH);
                } else {
                    self.fill_link(c, work);
                }
            }
            Action::ResumeRead(c) => {
                if let Some(sig) = self.streams.get(&c) {
                    sig.raise(bits::RESUME);
                } else {
                    self.drain_link(c, work);
                }
            }
        }
    }

    /// After writing: the data path leaves the timer alone, except when a
    /// stream's emptied queue armed a deadline (see
    /// [`Engine::poll_timer_moved`](zmq_patterns::engine::Engine::poll_timer_moved)).
    #[inline]
    pub(super) fn note_timer_moved(&mut self) {
        if self.engine.poll_timer_moved() {
            self.timers_dirty = true;
        }
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

/// A handle on one socket's core, as runtime adapters see it: they hand it
/// accepted and connected streams, drive its timer, and read its clock.
/// Cloning it is cheap; every clone is the same socket.
#[derive(Clone)]
pub struct Core(Arc<CoreShared>);

impl Core {
    /// A socket's core on runtime `rt`; `internal` sockets (the ZAP client)
    /// run no timer.
    pub(crate) fn new(
        config: EngineConfig,
        rt: Arc<dyn Runtime>,
        tcp: TcpOptions,
        auth: RuntimeAuth,
        internal: bool,
    ) -> Self {
        let now = rt.now();
        let socket_type = config.connection.socket_type();
        let mut engine = Engine::new(now, config);
        let zap_enforce_domain = auth.enforce_switch();
        engine.set_authenticator(Box::new(auth));
        // Always on: the log reads the events too (see `events`).
        engine.set_monitor(true);
        let state = LockedState {
            engine,
            rt: rt.clone(),
            streams: IdMap::default(),
            direct: IdMap::default(),
            listeners: IdMap::default(),
            connectors: IdMap::default(),
            connect_tcp: IdMap::default(),
            links: IdMap::default(),
            timer_armed: None,
            timers_dirty: false,
            last_now: now,
            linger_deadline: None,
            closing: false,
            finished: false,
            ready_scratch: Vec::new(),
            awake_links: Vec::new(),
            looks_again: true,
            zap: None,
            events: events::Events::default(),
            sender: 0,
        };
        let core = Self(Arc::new(CoreShared {
            id: NEXT_SOCKET.fetch_add(1, Ordering::Relaxed),
            state: StateLock::new(state),
            rt,
            readable: Arc::default(),
            writable: Arc::default(),
            monitor: Arc::default(),
            done: Arc::default(),
            timer: Signal::default(),
            socket_type,
            tcp: Mutex::new(Arc::new(tcp)),
            hook: OnceLock::new(),
            zap_enforce_domain,
            inbox: inbox::Inbox::new(inbox::Taken::default()),
            prefetch: inbox::prefetches(socket_type),
            readers: Mutex::default(),
            ready: inproc::Ready::default(),
            spent: AtomicBool::new(false),
        }));
        if !internal {
            core.0.rt.clone().start_timer(&core);
        }
        core
    }

    fn lock(&self) -> StateGuard<'_> {
        self.0.state.lock()
    }

    /// Runs `f` on the locked state, dispatches, unlocks, then runs the work
    /// that involves other sockets.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut LockedState) -> T) -> T {
        let mut work = Vec::new();
        let r = self.with_into(&mut work, f);
        run(work);
        r
    }

    /// As [`Core::with`], leaving the other sockets' work to the caller.
    fn with_into<T>(&self, work: &mut Vec<Work>, f: impl FnOnce(&mut LockedState) -> T) -> T {
        self.with_work(work, |st, _| f(st))
    }

    /// As [`Core::with_into`], with the work list lent to `f` too.
    fn with_work<T>(
        &self,
        work: &mut Vec<Work>,
        f: impl FnOnce(&mut LockedState, &mut Vec<Work>) -> T,
    ) -> T {
        let mut st = self.lock();
        self.take_inproc(&mut st, work, false);
        st.timers_dirty = true;
        let r = f(&mut st, work);
        st.dispatch(self, work);
        r
    }

    /// For the data path (send, recv, write): no timer can move earlier here, so
    /// the deadline is not recomputed.
    pub(crate) fn with_data<T>(&self, f: impl FnOnce(&mut LockedState) -> T) -> T {
        self.with_data_work(|st, _| f(st))
    }

    /// As [`Core::with_data`], for a receive or a look at whether one would
    /// find anything: every inproc lane that may hold items is taken from
    /// first.
    pub(crate) fn with_recv<T>(&self, f: impl FnOnce(&mut LockedState) -> T) -> T {
        self.with_data_taking(true, |st, _| f(st))
    }

    /// As [`Core::with_data`], with the list of work for other sockets lent
    /// to `f` too.
    fn with_data_work<T>(&self, f: impl FnOnce(&mut LockedState, &mut Vec<Work>) -> T) -> T {
        self.with_data_taking(false, f)
    }

    /// The data path's entry: `receiving` as in [`Core::take_inproc`].
    #[inline]
    fn with_data_taking<T>(
        &self,
        receiving: bool,
        f: impl FnOnce(&mut LockedState, &mut Vec<Work>) -> T,
    ) -> T {
        let mut work = Vec::new();
        let r = {
            let mut st = self.lock();
            self.take_inproc(&mut st, &mut work, receiving);
            let r = f(&mut st, &mut work);
            st.dispatch(self, &mut work);
            r
        };
        run(work);
        r
    }

    /// Sends a message (ZMQ_DONTWAIT); one for an inproc peer with room goes
    /// straight into the link's lane (see [`inproc`]).
    pub(crate) fn send_msg(&self, mut msg: zmtp_core::Msg) -> Result<(), zmq_patterns::SendError> {
        self.send_in(&mut msg).map_err(|r| r.with(msg))
    }

    /// As [`Core::send_msg`], with the message left in `msg` when it is
    /// refused (the send path of `Socket`'s calls: a refusal comes back as
    /// a word, not as the message inside an error); once sent, what `msg`
    /// holds is the caller's to drop.
    pub(crate) fn send_in(
        &self,
        msg: &mut zmtp_core::Msg,
    ) -> Result<(), zmq_patterns::SendRefusal> {
        let r = self.with_data_work(|st, work| {
            st.sender = thread_mark();
            st.send_msg(msg, work)
        });
        if self.0.spent.load(Ordering::Relaxed) {
            self.drop_spent();
        }
        r
    }

    /// Drops what writers on other threads copied out of the pipes since
    /// the last time (see `StreamCtl::fill`), once the lock is let go. Out
    /// of line: once per refill, not per message.
    #[cold]
    #[inline(never)]
    fn drop_spent(&self) {
        let spent = self.with(|st| {
            self.0.spent.store(false, Ordering::Relaxed);
            st.engine.take_spent()
        });
        drop(spent);
    }

    /// Takes what inproc peers handed over since the last look, so that
    /// everything that reads the engine sees it; `receiving` (a receive, or
    /// a look at whether one would find anything) also looks again at the
    /// lanes that were not empty last time.
    #[inline]
    fn take_inproc(&self, st: &mut LockedState, work: &mut Vec<Work>, receiving: bool) {
        if self.0.ready.is_set() || (receiving && !st.awake_links.is_empty()) {
            st.drain_ready(self, work, receiving);
        }
    }

    /// This socket's type.
    pub(crate) fn socket_type(&self) -> SocketType {
        self.0.socket_type
    }

    /// Starts waiting until a message may be waiting (see [`Waiters::listen`]).
    pub(crate) fn listen_readable(&self) -> Waiting {
        self.0.readable.listen()
    }

    /// Starts waiting until a send may succeed.
    pub(crate) fn listen_writable(&self) -> Waiting {
        self.0.writable.listen()
    }

    /// Starts waiting until a monitor event may be waiting.
    pub(crate) fn listen_monitor(&self) -> Waiting {
        self.0.monitor.listen()
    }

    /// Starts waiting until the socket has finished closing.
    pub(crate) fn listen_done(&self) -> Waiting {
        self.0.done.listen()
    }

    /// The socket's timer signal: [`bits::DEADLINE`] is raised when the
    /// deadline moved earlier or the socket finished.
    pub fn timer(&self) -> &Signal {
        &self.0.timer
    }

    /// Records and returns the deadline the timer must wake at (`None`: wait for
    /// [`Core::timer`] only).
    pub fn arm_timer(&self) -> Option<Instant> {
        self.0.timer.take(bits::DEADLINE);
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

    /// The TCP settings in force: for a listener, those it is started with
    /// hold for every stream it accepts.
    pub fn tcp_options(&self) -> Arc<TcpOptions> {
        self.0
            .tcp
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Changes the TCP settings for endpoints bound or connected from now on,
    /// under the lock, so that two threads setting two options keep both.
    pub(crate) fn update_tcp_options<E>(
        &self,
        f: impl FnOnce(&mut TcpOptions) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut tcp = self.0.tcp.lock().unwrap_or_else(PoisonError::into_inner);
        let mut new = (**tcp).clone();
        f(&mut new)?;
        *tcp = Arc::new(new);
        Ok(())
    }

    /// The TCP settings of a connector's attempts: those of its `connect`,
    /// as libzmq's session keeps them.
    pub fn connect_options(&self, id: ConnectorId) -> Arc<TcpOptions> {
        let kept = self.lock().connect_tcp.get(&id).cloned();
        kept.unwrap_or_else(|| self.tcp_options())
    }

    /// A listener accepted a stream from `peer` (`ip:port` as
    /// [`peer_address`](crate::peer_address) gives it, or empty for IPC). `None` when the listener was stopped meanwhile: close the stream.
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

    /// Starts closing (LINGER applies).
    pub(crate) fn close(&self) {
        self.with(|st| {
            if st.closing {
                return;
            }
            st.closing = true;
            let now = st.now();
            // A LINGER too long to add is as good as for ever.
            st.linger_deadline = st.engine.config().linger.and_then(|l| now.checked_add(l));
            st.engine.close(now);
            // Senders waiting for room learn that none will come.
            self.0.writable.notify();
            self.0.readable.notify();
        });
    }
}

/// Runs work until none is left. Each item may produce more.
#[inline]
fn run(work: Vec<Work>) {
    // Nearly every call has none (a send or recv touches no other socket):
    // that case costs no call.
    if !work.is_empty() {
        run_all(work);
    }
}

fn run_all(mut work: Vec<Work>) {
    while let Some(w) = work.pop() {
        match w {
            Work::Refill { core, conn } => inproc::refill(&core, conn, &mut work),
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
