//! The vocabulary the caller and a pattern share about pipes: which pipe, who is
//! behind it, what travels through it, and what must be done to it.

use std::collections::VecDeque;

use bytes::Bytes;
use zmtp_core::{Msg, SocketType};

/// Identifies one pipe (one peer connection, or one inproc peer). Chosen by the
/// caller; unique among the socket's attached pipes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PipeId(pub u64);

/// What the handshake told about the peer behind a pipe.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerMeta {
    /// The peer's socket type, if known.
    pub socket_type: Option<SocketType>,
    /// The peer's routing id (`Identity`), empty if none.
    pub routing_id: Bytes,
}

impl PeerMeta {
    /// Metadata with a socket type and routing id.
    pub fn new(socket_type: Option<SocketType>, routing_id: impl Into<Bytes>) -> Self {
        Self {
            socket_type,
            routing_id: routing_id.into(),
        }
    }
}

/// One item travelling through a pipe: what a pattern hands the caller to write
/// to a peer, and what a peer delivers to a pattern (over inproc both ways).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PipeItem {
    /// A whole message.
    Message(Msg),
    /// A subscription to send upstream (SUBSCRIBE, or `0x01 topic` to a 3.0 peer).
    Subscribe(Bytes),
    /// A cancelled subscription (CANCEL, or `0x00 topic`).
    Cancel(Bytes),
}

/// Items offered to a pipe in order, one at a time, by whoever holds them
/// (an inproc receiver hands over its peer's lane this way). One the pipe
/// does not take now is handed back with [`ItemSource::put_back`] and must
/// come first next time; those not yet taken stay with the source, so a
/// source over a ring can leave them where they are instead of moving each
/// into a queue first.
pub trait ItemSource {
    /// The next item, if any.
    fn next_item(&mut self) -> Option<PipeItem>;
    /// Hands back `item`, the last one [`ItemSource::next_item`] gave, to be
    /// given again first.
    fn put_back(&mut self, item: PipeItem);
}

impl ItemSource for VecDeque<PipeItem> {
    #[inline]
    fn next_item(&mut self) -> Option<PipeItem> {
        self.pop_front()
    }

    #[inline]
    fn put_back(&mut self, item: PipeItem) {
        self.push_front(item);
    }
}

/// Something the caller must do to a pipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PipeAction {
    /// Close this pipe's connection (ROUTER_HANDOVER took its routing id).
    Terminate(PipeId),
}
