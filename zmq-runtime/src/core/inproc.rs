//! `inproc://`: sockets of this process joined by their engines' pipes, with no
//! ZMTP encoding and no tasks. Each direction of a link is a lane (a [`LaneTx`]
//! at the sender, a [`LaneRx`] at the receiver, a lock-free ring between): the
//! sender moves its pipe's items into it under its own lock and tells the
//! receiver when the receiver last found it empty; the receiver takes them
//! into its engine when it next looks at its socket. Neither end ever takes
//! the other's socket lock for a message (only joining a link locks both, in
//! id order).
//!
//! The registry is process-wide, so sockets of different runtimes can talk over
//! inproc too. Its lock is always taken last (never while waiting for a socket
//! lock).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError, Weak};

use zmq_patterns::engine::{ConnId, ConnectorId, InprocRoom, ListenerId, ZAP_ENDPOINT};
use zmq_patterns::SendRefusal;
use zmtp_core::{Msg, SocketType};

use super::lane::{lane, LaneRx, LaneTx};
use super::work::Work;
use super::{Core, CoreShared, LockedState, StateGuard};
use crate::error::Error;

#[derive(Default)]
struct Registry {
    bound: HashMap<String, (Weak<CoreShared>, ListenerId)>,
    waiting: HashMap<String, Vec<(Weak<CoreShared>, ConnectorId)>>,
}

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(Mutex::default);

fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The socket bound at `name`, if it is alive.
fn binder(reg: &Registry, name: &str) -> Option<(Arc<CoreShared>, ListenerId)> {
    let (weak, id) = reg.bound.get(name)?;
    Some((weak.upgrade()?, *id))
}

/// A socket's inproc links with items to take, and whether there are any:
/// on a cache line of their own, since inproc senders write them on other
/// threads while the socket's own thread takes its locks nearby.
#[derive(Default)]
#[repr(align(128))]
pub(super) struct Ready {
    list: Mutex<Vec<ConnId>>,
    flag: AtomicBool,
}

impl Ready {
    /// Puts link `conn` on the list of lanes to take from.
    pub(super) fn mark(&self, conn: ConnId) {
        let mut list = self.list.lock().unwrap_or_else(PoisonError::into_inner);
        list.push(conn);
        // SeqCst, paired with the load in `is_set`: a receiver that
        // registered its wait and then finds the flag clear is one that the
        // `notify` after this store wakes.
        self.flag.store(true, Ordering::SeqCst);
    }

    /// Swaps the list into `into` (empty).
    pub(super) fn take(&self, into: &mut Vec<ConnId>) {
        let mut list = self.list.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::swap(&mut *list, into);
        self.flag.store(false, Ordering::SeqCst);
    }

    /// Whether any link was marked since the last `take` (read without the
    /// list's lock on every entry to the socket).
    #[inline]
    pub(super) fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}

/// One end of an inproc link.
pub(super) struct Link {
    pub(super) peer: Core,
    pub(super) peer_conn: ConnId,
    /// Towards the peer.
    out: LaneTx,
    /// From the peer.
    inn: LaneRx,
    /// The peer closed its end: this end goes once `inn` is drained.
    peer_gone: bool,
}

/// Binds `name` for `me`, joining connectors that were waiting for it.
pub(super) fn bind(
    me: &Core,
    id: ListenerId,
    name: &str,
    given: &str,
    work: &mut Vec<Work>,
) -> Result<(), Error> {
    let mut reg = registry();
    if binder(&reg, name).is_some() {
        return Err(Error::AddrInUse {
            endpoint: given.to_owned(),
        });
    }
    reg.bound
        .insert(name.to_owned(), (Arc::downgrade(&me.0), id));
    for (weak, connector_id) in reg.waiting.remove(name).unwrap_or_default() {
        if let Some(c) = weak.upgrade() {
            work.push(Work::Join {
                binder: me.clone(),
                listener: id,
                connector: Core(c),
                connector_id,
            });
        }
    }
    Ok(())
}

/// Releases `name` if `me` holds it.
pub(super) fn unbind(me: &CoreShared, name: &str) {
    let mut reg = registry();
    let ours = reg
        .bound
        .get(name)
        .is_some_and(|(w, _)| std::ptr::eq(w.as_ptr(), me));
    if ours {
        reg.bound.remove(name);
    }
}

/// Connects to `name`: joins the socket bound there, or waits for one to bind
/// (connect before bind).
pub(super) fn connect(me: &Core, id: ConnectorId, name: &str, work: &mut Vec<Work>) {
    let mut reg = registry();
    match binder(&reg, name) {
        Some((b, listener)) => work.push(Work::Join {
            binder: Core(b),
            listener,
            connector: me.clone(),
            connector_id: id,
        }),
        None => {
            let waiting = reg.waiting.entry(name.to_owned()).or_default();
            // Connectors whose sockets are gone wait no more.
            waiting.retain(|(w, _)| w.strong_count() > 0);
            waiting.push((Arc::downgrade(&me.0), id));
        }
    }
}

/// The socket type bound at `name`, if it cannot talk to `ours`.
pub(super) fn incompatible_peer(name: &str, ours: SocketType) -> Option<SocketType> {
    let reg = registry();
    let (b, _) = binder(&reg, name)?;
    (!ours.is_compatible_with(b.socket_type)).then_some(b.socket_type)
}

/// Whether a ZAP handler is bound at `inproc://zeromq.zap.01`.
pub(super) fn has_zap_handler() -> bool {
    let name = &ZAP_ENDPOINT["inproc://".len()..];
    binder(&registry(), name).is_some()
}

/// Creates the two ends of a link and starts moving what was queued. Both
/// sockets stay locked throughout, so neither can finish its close between
/// the engine creating an end and the link being recorded.
pub(super) fn join(
    binder: &Core,
    listener: ListenerId,
    connector: &Core,
    connector_id: ConnectorId,
    work: &mut Vec<Work>,
) {
    if !binder
        .0
        .socket_type
        .is_compatible_with(connector.0.socket_type)
    {
        return;
    }
    let mut locked = lock_both(binder, connector);
    // What each learns instead of a handshake, with the routing id in force.
    let binder_peer = locked.from().engine.local_peer();
    let connector_peer = locked.to().engine.local_peer();
    let accepted = locked
        .from()
        .engine
        .handle_inproc_accepted(listener, connector_peer);
    if let Ok(b) = accepted {
        let connected = locked
            .to()
            .engine
            .handle_inproc_connected(connector_id, binder_peer);
        match connected {
            Ok(c) => {
                let (to_connector, from_binder) = lane(locked.to().engine.inproc_room(c));
                let (to_binder, from_connector) = lane(locked.from().engine.inproc_room(b));
                locked.from().links.insert(
                    b,
                    Link {
                        peer: connector.clone(),
                        peer_conn: c,
                        out: to_connector,
                        inn: from_connector,
                        peer_gone: false,
                    },
                );
                locked.to().links.insert(
                    c,
                    Link {
                        peer: binder.clone(),
                        peer_conn: b,
                        out: to_binder,
                        inn: from_binder,
                        peer_gone: false,
                    },
                );
                // What either queued before the link existed (a connect
                // before the bind) starts moving.
                locked.from().fill_link(b, work);
                locked.to().fill_link(c, work);
            }
            Err(_) => locked.from().engine.handle_inproc_closed(b),
        }
    }
    dispatch_both(&mut locked, binder, connector, work);
}

fn dispatch_both(locked: &mut LockedPair<'_>, from: &Core, to: &Core, work: &mut Vec<Work>) {
    if let LockedPair::One(g) = locked {
        g.dispatch(from, work);
    } else {
        locked.from().dispatch(from, work);
        locked.to().dispatch(to, work);
    }
}

/// The end `conn` of `peer` lost its other end. What the other end handed
/// over is still delivered: the end goes once its lane is drained.
pub(super) fn link_closed(peer: &Core, conn: ConnId, work: &mut Vec<Work>) {
    peer.with_work(work, |st, work| match st.links.get_mut(&conn) {
        Some(link) => {
            link.peer_gone = true;
            st.drain_link(conn, work);
        }
        None => st.engine.handle_inproc_closed(conn),
    });
}

/// Tells `peer` that items wait in the lane of its end `conn`: it takes them
/// when it next looks at its socket, and a waiting `recv` wakes for that.
pub(super) fn tell(peer: &Core, conn: ConnId, work: &mut Vec<Work>) {
    peer.0.ready.mark(conn);
    peer.0.readable.notify();
    if peer.0.hook.get().is_some() {
        work.push(Work::Hook(peer.clone()));
    }
}

/// Moves what `core`'s end `conn` holds back for want of room, now that the
/// receiver made room.
pub(super) fn refill(core: &Core, conn: ConnId, work: &mut Vec<Work>) {
    core.with_work(work, |st, work| st.fill_link(conn, work));
}

impl LockedState {
    /// Sender side: moves what the engine has for link `x` into its lane,
    /// and tells the peer if it last found the lane empty.
    pub(super) fn fill_link(&mut self, x: ConnId, work: &mut Vec<Work>) {
        let Some(link) = self.links.get_mut(&x) else {
            return;
        };
        if link.out.fill(&mut self.engine, x) {
            tell(&link.peer, link.peer_conn, work);
        }
    }

    /// Sends a message; one for an inproc link with nothing queued ahead of
    /// it and room at the receiver goes straight into the link's lane.
    /// The message stays in `msg` when it is refused.
    pub(super) fn send_msg(
        &mut self,
        msg: &mut Msg,
        work: &mut Vec<Work>,
    ) -> Result<(), SendRefusal> {
        let Self { engine, links, .. } = self;
        engine.send_in(msg, &mut |id, m, sole| {
            let Some(link) = links.get_mut(&id) else {
                return false;
            };
            match link.out.push_direct(m, sole) {
                Some(tell) => {
                    if tell {
                        self::tell(&link.peer, link.peer_conn, work);
                    }
                    true
                }
                None => false,
            }
        })
    }

    /// Receiver side: takes what waits in the lanes the peers told about.
    ///
    /// `receiving`: the caller is about to receive, or to decide that nothing
    /// is waiting, so the lanes it took from last time without finding them
    /// empty are looked at again too (their senders do not tell of what
    /// they push; see [`LaneRx::take`]).
    pub(super) fn drain_ready(&mut self, me: &Core, work: &mut Vec<Work>, receiving: bool) {
        let mut ready = std::mem::take(&mut self.ready_scratch);
        if me.0.ready.is_set() {
            me.0.ready.take(&mut ready);
        }
        if receiving {
            ready.append(&mut self.awake_links);
        }
        for y in ready.drain(..) {
            self.drain_link(y, work);
        }
        self.ready_scratch = ready;
    }

    /// Receiver side: takes what waits in link `y`'s lane into the engine, as
    /// far as its pipe has room, and records the room left for the sender.
    pub(super) fn drain_link(&mut self, y: ConnId, work: &mut Vec<Work>) {
        let Self { engine, links, .. } = self;
        let Some(link) = links.get_mut(&y) else {
            return;
        };
        let before = engine.inproc_room(y);
        let mut accepted = (0, 0);
        let took = link.inn.take(self.looks_again, |items| {
            let (msgs, bytes) = engine.handle_inproc_batch(y, items);
            accepted.0 += msgs;
            accepted.1 += bytes;
        });
        let refused = took.refused;
        let (room, full) = if refused {
            // The rest waits with the lane, before what comes meanwhile.
            (engine.inproc_room(y), true)
        } else {
            // Everything went in: the pipe's room is what it was, less that.
            let room = InprocRoom {
                msgs: before.msgs.saturating_sub(accepted.0),
                bytes: before.bytes.saturating_sub(accepted.1),
                conflate: before.conflate,
            };
            (room, room.msgs == 0 || room.bytes == 0)
        };
        let mut refill_sender = link.inn.settle(accepted, room);
        // When full, the application's next read brings ResumeRead for this
        // link, and with it a fresh room for the sender.
        let mut waits_for_room = full;
        if full && self.engine.inproc_ready(y) {
            // Not full after all: the pipe dropped some of what it took (a
            // REQ drops stray replies), so the room is more than reckoned.
            refill_sender |= link.inn.set_room(self.engine.inproc_room(y));
            waits_for_room = refused;
        }
        // The lane still counts as told (it was not empty): look at it again
        // on the next receive, unless ResumeRead is what brings it back.
        if self.looks_again && took.found && !waits_for_room && !self.awake_links.contains(&y) {
            self.awake_links.push(y);
        }
        if refill_sender {
            work.push(Work::Refill {
                core: link.peer.clone(),
                conn: link.peer_conn,
            });
        }
        if !refused && link.peer_gone {
            self.links.remove(&y);
            self.engine.handle_inproc_closed(y);
        }
    }
}

/// The locked states of a link's two ends (one lock if a socket is linked to
/// itself).
enum LockedPair<'a> {
    One(StateGuard<'a>),
    Two {
        from: StateGuard<'a>,
        to: StateGuard<'a>,
    },
}

impl LockedPair<'_> {
    fn from(&mut self) -> &mut LockedState {
        match self {
            Self::One(g) => g,
            Self::Two { from, .. } => from,
        }
    }

    fn to(&mut self) -> &mut LockedState {
        match self {
            Self::One(g) => g,
            Self::Two { to, .. } => to,
        }
    }
}

fn lock_both<'a>(from: &'a Core, to: &'a Core) -> LockedPair<'a> {
    if Arc::ptr_eq(&from.0, &to.0) {
        return LockedPair::One(from.lock());
    }
    if from.0.id < to.0.id {
        let f = from.lock();
        LockedPair::Two {
            from: f,
            to: to.lock(),
        }
    } else {
        let t = to.lock();
        LockedPair::Two {
            from: from.lock(),
            to: t,
        }
    }
}
