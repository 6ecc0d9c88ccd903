//! `inproc://`: sockets of this process joined by their engines' pipes, with no
//! ZMTP encoding and no tasks. Whoever makes progress possible (a send, a recv
//! that made room, a bind that a connector waited for) moves the messages
//! itself, holding both sockets' locks in id order.
//!
//! The registry is process-wide, so sockets of different runtimes can talk over
//! inproc too. Its lock is always taken last (never while waiting for a socket
//! lock).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError, TryLockError, Weak};

use zmq_patterns::engine::{ConnId, ConnectorId, ListenerId, ZAP_ENDPOINT};
use zmq_patterns::PipeItem;
use zmtp_core::SocketType;

use super::work::Work;
use super::{Core, CoreShared, LockedState};
use crate::error::Error;

/// Items moved per lock hold, so one busy link cannot starve the others.
const BATCH: usize = 256;

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

/// One end of an inproc link.
pub(super) struct Link {
    pub(super) peer: Core,
    pub(super) peer_conn: ConnId,
    /// An item that arrived while this side was full.
    pending: Option<PipeItem>,
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
                locked.from().links.insert(
                    b,
                    Link {
                        peer: connector.clone(),
                        peer_conn: c,
                        pending: None,
                    },
                );
                locked.to().links.insert(
                    c,
                    Link {
                        peer: binder.clone(),
                        peer_conn: b,
                        pending: None,
                    },
                );
                work.push(Work::Pump {
                    from: binder.clone(),
                    from_conn: b,
                    to: connector.clone(),
                    to_conn: c,
                });
                work.push(Work::Pump {
                    from: connector.clone(),
                    from_conn: c,
                    to: binder.clone(),
                    to_conn: b,
                });
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

/// The end `conn` of `peer` lost its other end.
pub(super) fn link_closed(peer: &Core, conn: ConnId, work: &mut Vec<Work>) {
    peer.with_into(work, |st| {
        st.links.remove(&conn);
        st.engine.handle_inproc_closed(conn);
    });
}

/// The locked states of a link's two ends (one lock if a socket is linked to
/// itself; one side borrowed when its owner already holds it).
enum LockedPair<'a> {
    One(MutexGuard<'a, LockedState>),
    Two {
        from: MutexGuard<'a, LockedState>,
        to: MutexGuard<'a, LockedState>,
    },
    FromHeld {
        from: &'a mut LockedState,
        to: MutexGuard<'a, LockedState>,
    },
    ToHeld {
        from: MutexGuard<'a, LockedState>,
        to: &'a mut LockedState,
    },
}

impl LockedPair<'_> {
    fn from(&mut self) -> &mut LockedState {
        match self {
            Self::One(g) => g,
            Self::Two { from, .. } | Self::ToHeld { from, .. } => from,
            Self::FromHeld { from, .. } => from,
        }
    }

    fn to(&mut self) -> &mut LockedState {
        match self {
            Self::One(g) => g,
            Self::Two { to, .. } | Self::FromHeld { to, .. } => to,
            Self::ToHeld { to, .. } => to,
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

/// Locks `other` while `held` (of socket `me`) is locked, if that cannot
/// deadlock: waits for it only when the ids allow (the order every two-lock
/// holder keeps), else takes it only if it is free.
fn lock_second<'a>(me: &Core, other: &'a Core) -> Option<MutexGuard<'a, LockedState>> {
    if Arc::ptr_eq(&me.0, &other.0) {
        return None;
    }
    if me.0.id < other.0.id {
        return Some(other.lock());
    }
    match other.0.state.try_lock() {
        Ok(g) => Some(g),
        Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// Moves items over a link from the socket whose lock the caller holds
/// (`held`, socket `me`, its end `x`) to `to`'s end `y`, at once: the sender
/// then takes no second pass through its own lock and queues no work per
/// message. Falls back to a queued pump when `to` cannot be locked now.
pub(super) fn flush_held(
    me: &Core,
    held: &mut LockedState,
    x: ConnId,
    to: &Core,
    y: ConnId,
    work: &mut Vec<Work>,
) {
    let Some(guard) = lock_second(me, to) else {
        work.push(Work::Pump {
            from: me.clone(),
            from_conn: x,
            to: to.clone(),
            to_conn: y,
        });
        return;
    };
    let mut locked = LockedPair::FromHeld {
        from: held,
        to: guard,
    };
    let more = transfer(&mut locked, x, y);
    // The held side goes on with its own dispatch once this returns.
    locked.to().dispatch(to, work);
    drop(locked);
    if more {
        work.push(Work::Pump {
            from: me.clone(),
            from_conn: x,
            to: to.clone(),
            to_conn: y,
        });
    }
}

/// Moves items over a link from `from`'s end `x` to the socket whose lock the
/// caller holds (`held`, socket `me`, its end `y`), which has room again.
pub(super) fn resume_held(
    me: &Core,
    held: &mut LockedState,
    y: ConnId,
    from: &Core,
    x: ConnId,
    work: &mut Vec<Work>,
) {
    let Some(guard) = lock_second(me, from) else {
        work.push(Work::Pump {
            from: from.clone(),
            from_conn: x,
            to: me.clone(),
            to_conn: y,
        });
        return;
    };
    let mut locked = LockedPair::ToHeld {
        from: guard,
        to: held,
    };
    let more = transfer(&mut locked, x, y);
    locked.from().dispatch(from, work);
    drop(locked);
    if more {
        work.push(Work::Pump {
            from: from.clone(),
            from_conn: x,
            to: me.clone(),
            to_conn: y,
        });
    }
}

/// Moves what `from`'s end `x` has for `to`'s end `y`, while `y` has room.
pub(super) fn pump(from: &Core, x: ConnId, to: &Core, y: ConnId, work: &mut Vec<Work>) {
    let mut locked = lock_both(from, to);
    let more = transfer(&mut locked, x, y);
    dispatch_both(&mut locked, from, to, work);
    drop(locked);
    if more {
        work.push(Work::Pump {
            from: from.clone(),
            from_conn: x,
            to: to.clone(),
            to_conn: y,
        });
    }
}

/// Moves items from end `x` to end `y` of a locked pair while `y` has room, at
/// most [`BATCH`]; returns whether more may be waiting.
fn transfer(locked: &mut LockedPair<'_>, x: ConnId, y: ConnId) -> bool {
    let mut moved = 0;
    loop {
        let pending = locked.to().links.get_mut(&y).and_then(|l| l.pending.take());
        let item = match pending {
            Some(item) => item,
            None => {
                if moved == BATCH {
                    return true;
                }
                if !locked.to().engine.inproc_ready(y) {
                    return false;
                }
                match locked.from().engine.poll_inproc(x) {
                    Some(item) => item,
                    None => return false,
                }
            }
        };
        match locked.to().engine.handle_inproc(y, item) {
            Ok(()) => moved += 1,
            Err(item) => {
                // Full after all: keep it for the ResumeRead that room brings.
                if let Some(l) = locked.to().links.get_mut(&y) {
                    l.pending = Some(item);
                }
                return false;
            }
        }
    }
}
