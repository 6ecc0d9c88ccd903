//! Work that involves a second socket, queued while one socket is locked and
//! run once it is unlocked (by the core's `run`): only
//! [`inproc`](super::inproc) then holds two locks, and in a fixed order.

use zmq_patterns::engine::{ConnId, ConnectorId, ListenerId};
use zmtp_core::AuthRequest;

use super::Core;

/// One piece of cross-socket work.
pub(crate) enum Work {
    /// Move what an inproc link's sender held back into its lane: its
    /// receiver made room.
    Refill { core: Core, conn: ConnId },
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

/// A readable hook: runs without locks, may queue more work.
pub(crate) type Hook = Box<dyn Fn(&mut Vec<Work>) + Send + Sync>;
