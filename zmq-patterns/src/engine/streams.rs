//! Streams: one [`Connection`] (a raw one for STREAM sockets) per accepted or
//! connected stream, the pipe it serves, the messages its full pipe could not take yet, and the last bytes
//! of streams already closed.
//!
//! The engine decides what a handshake, a failure or a drop means for the
//! socket; this machine keeps each stream's record and runs its I/O.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use zmtp_core::{Config, Connection, ConnectionError, Event, Msg, SocketType};

use super::raw::RawConn;
use super::slots::{Slot, Slots};
use super::spent::Spent;
use super::timers::Timers;
use super::wire::Wire;
use super::{Action, ConnId, ConnectorId, Endpoint, ListenerId, Peer};
use crate::idmap::IdMap;
use crate::pattern::Pattern;
use crate::pipe::{PeerMeta, PipeId, PipeItem};

/// Bytes a connection may hold beyond its pipe before the engine stops moving
/// messages into it; with the pipe's SNDHWM and the kernel buffer this bounds
/// what a slow peer costs. It is also the write that a sending thread makes
/// itself (see [`Streams::check_backlog`]): the runtime's largest write, since
/// writes of 64 KiB cost twice as much per byte on loopback as 256 KiB ones
/// (tcp throughput at 1 KiB and 64 KiB halved), and a publisher that stops
/// at 64 KiB per subscriber queues (a copy of each message's handle per
/// subscriber) what it could have written.
const CONN_OUT_LIMIT: usize = 256 * 1024;

/// Who opened a stream: reconnecting and unbinding depend on it.
#[derive(Clone, Copy, Debug)]
pub(super) enum Origin {
    Listener(ListenerId),
    Connector(ConnectorId),
}

impl Origin {
    fn connector(self) -> Option<ConnectorId> {
        match self {
            Self::Connector(id) => Some(id),
            Self::Listener(_) => None,
        }
    }
}

struct Stream {
    conn: Wire,
    pipe: PipeId,
    origin: Origin,
    endpoint: Endpoint,
    /// The remote address and, once attached, the routing id: what monitor
    /// events say about the peer.
    peer: Peer,
    /// Its pipe reached RCVHWM: the stream is not read until the
    /// application has made room (what the last read brought went in
    /// whole, past the HWM).
    held: bool,
    handshaken: bool,
    flush_queued: bool,
    /// A second flush was asked for because a full write is waiting (see
    /// [`Streams::check_backlog`]); reset when the runtime writes.
    full_flush_queued: bool,
}

impl Stream {
    /// Asks the runtime for one flush however many writes happen before it.
    #[inline]
    fn queue_flush(&mut self, id: ConnId, actions: &mut VecDeque<Action>) {
        if !self.flush_queued && self.conn.pending_transmit() > 0 {
            self.flush_queued = true;
            actions.push_back(Action::Flush(id));
        }
    }
}

/// What is left for the engine once a stream's traffic reached the pattern.
pub(super) enum Drained {
    /// A handshake or authentication event: the engine's to handle.
    Control(Event),
    /// Nothing more for now.
    Idle,
    /// The stream is gone (dropped while its events were handled).
    Gone,
}

/// A stream that just finished its handshake, as the engine needs it to
/// attach the peer.
pub(super) struct Handshake {
    pub(super) pipe: PipeId,
    pub(super) endpoint: Endpoint,
    pub(super) peer: PeerMeta,
    pub(super) address: String,
    pub(super) connector: Option<ConnectorId>,
}

/// A failing stream, as the engine needs it to report and reconnect.
pub(super) struct Failing {
    pub(super) pipe: PipeId,
    pub(super) endpoint: Endpoint,
    pub(super) peer: Peer,
    pub(super) handshaken: bool,
    pub(super) connector: Option<ConnectorId>,
}

/// Every ZMTP stream of a socket.
pub(super) struct Streams {
    /// Boxed: a stream is about 1 KiB, and the slots keep room for several
    /// entries, so a socket with one connection (a DEALER, a REQ) would
    /// hold 4 KiB for it; boxed, it holds 4 slots and the one stream.
    live: Slots<Box<Stream>>,
    /// Streams held at RCVHWM (so `recv` looks at these only).
    holding: Vec<ConnId>,
    /// Closed streams whose last bytes (an ERROR, say) are still to be written.
    dying: IdMap<ConnId, Wire>,
    /// The stream a handshaken pipe writes to; a pipe that outlives a reconnect
    /// moves to the new stream at its handshake.
    /// With the stream's slot, so that the per-message paths (a publisher's
    /// per subscriber) reach it without a second lookup by id.
    by_pipe: IdMap<PipeId, (ConnId, Slot)>,
    /// The `by_pipe` entry the last direct send used: a sender's messages
    /// nearly all go to the pipe the one before went to, and this spares
    /// them the map's lookup. Forgotten whenever `by_pipe` changes.
    last_direct: Option<(PipeId, ConnId, Slot)>,
    /// Accepted streams still in their handshake: what
    /// `max_pending_handshakes` bounds, kept as a count so that an accept
    /// storm costs no walk over every stream.
    pending_accepted: usize,
    /// Every live stream's next deadline, in order.
    timers: RefCell<Timers>,
    /// Whether writing armed a stream's timer since the owner last asked
    /// (see [`Streams::take_timer_moved`]).
    timer_moved: bool,
}

impl Streams {
    pub(super) fn new() -> Self {
        Self {
            live: Slots::default(),
            holding: Vec::new(),
            dying: IdMap::default(),
            by_pipe: IdMap::default(),
            last_direct: None,
            pending_accepted: 0,
            timers: RefCell::new(Timers::default()),
            timer_moved: false,
        }
    }

    /// Starts the ZMTP handshake on a new stream, with the settings of the
    /// endpoint that opened it (its greeting waits for a
    /// [`Streams::queue_flush`]), or, for a STREAM socket, a raw stream.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn open(
        &mut self,
        now: Instant,
        cfg: Arc<Config>,
        id: ConnId,
        origin: Origin,
        pipe: PipeId,
        endpoint: Endpoint,
        peer_address: String,
    ) {
        // STREAM sockets speak raw bytes; every other type ZMTP.
        let conn = if cfg.socket_type() == SocketType::Stream {
            Wire::Raw(RawConn::new())
        } else {
            Wire::Zmtp(Connection::with_peer_address(
                cfg,
                zap_address(&peer_address),
                now,
            ))
        };
        let stream = Box::new(Stream {
            conn,
            pipe,
            origin,
            endpoint,
            peer: Peer::at(peer_address),
            held: false,
            handshaken: false,
            flush_queued: false,
            full_flush_queued: false,
        });
        if matches!(origin, Origin::Listener(_)) {
            self.pending_accepted += 1;
        }
        touched(&mut self.live, &mut self.timers, id).insert(id, stream);
    }

    #[inline]
    pub(super) fn contains(&self, id: ConnId) -> bool {
        self.live.contains_key(id)
    }

    pub(super) fn len(&self) -> usize {
        self.live.len()
    }

    /// Accepted streams that have not finished their handshake.
    pub(super) fn pending_accepted(&self) -> usize {
        self.pending_accepted
    }

    /// The live connection, for the calls that need nothing but it.
    #[inline]
    pub(super) fn conn_mut(&mut self, id: ConnId) -> Option<&mut Wire> {
        touched(&mut self.live, &mut self.timers, id)
            .get_mut(id)
            .map(|s| &mut s.conn)
    }

    /// The error that ended the stream, if one did.
    #[inline]
    pub(super) fn error(&self, id: ConnId) -> Option<ConnectionError> {
        self.live.get(id).and_then(|s| s.conn.error().cloned())
    }

    /// The stream a handshaken pipe writes to.
    #[inline]
    pub(super) fn by_pipe(&self, pipe: PipeId) -> Option<ConnId> {
        self.by_pipe.get(&pipe).map(|&(id, _)| id)
    }

    /// Makes `id` the stream `pipe` writes to, and records the routing id
    /// its peer is known by, for the events that follow.
    pub(super) fn bind_pipe(&mut self, pipe: PipeId, id: ConnId, routing_id: Option<Bytes>) {
        let Some(slot) = self.live.slot(id) else {
            return;
        };
        self.by_pipe.insert(pipe, (id, slot));
        self.last_direct = None;
        if let Some(s) = touched(&mut self.live, &mut self.timers, id).get_mut(id) {
            s.peer.routing_id = routing_id;
        }
    }

    #[inline]
    pub(super) fn queue_flush(&mut self, id: ConnId, actions: &mut VecDeque<Action>) {
        if let Some(s) = touched(&mut self.live, &mut self.timers, id).get_mut(id) {
            s.queue_flush(id, actions);
        }
    }

    /// At most `max_frames` frames; true when more may be left. `None` when
    /// the stream is unknown.
    #[inline]
    pub(super) fn handle_input(
        &mut self,
        now: Instant,
        id: ConnId,
        buf: &mut BytesMut,
        max_frames: usize,
    ) -> Option<Result<bool, ConnectionError>> {
        Some(
            touched(&mut self.live, &mut self.timers, id)
                .get_mut(id)?
                .conn
                .handle_input(now, buf, max_frames),
        )
    }

    /// Why the stream ended at end of file; `None` when it is unknown.
    pub(super) fn handle_eof(&mut self, now: Instant, id: ConnId) -> Option<ConnectionError> {
        let s = touched(&mut self.live, &mut self.timers, id).get_mut(id)?;
        Some(
            s.conn
                .handle_eof(now)
                .err()
                .unwrap_or(ConnectionError::PeerClosed),
        )
    }

    /// `None` when the stream is unknown.
    pub(super) fn handle_timeout(
        &mut self,
        now: Instant,
        id: ConnId,
    ) -> Option<Result<(), ConnectionError>> {
        Some(
            touched(&mut self.live, &mut self.timers, id)
                .get_mut(id)?
                .conn
                .handle_timeout(now),
        )
    }

    /// Streams with a timer due at `now`.
    pub(super) fn due(&self, now: Instant) -> Vec<ConnId> {
        self.settled().due(now)
    }

    /// The earliest timer of any stream.
    pub(super) fn timeout(&self) -> Option<Instant> {
        self.settled().first()
    }

    /// The deadlines, with every touched stream's looked at again. Asked
    /// through `&self` (the engine's `poll_timeout` is a query), hence the
    /// cell.
    fn settled(&self) -> std::cell::RefMut<'_, Timers> {
        let mut timers = self.timers.borrow_mut();
        timers.settle(|id| self.live.get(id).and_then(|s| s.conn.poll_timeout()));
        timers
    }

    /// Hands the stream's messages and subscriptions to the pattern, in order,
    /// and stops at the first event the engine must handle. Messages go in
    /// whatever RCVHWM says (they were read); a pipe that is at its HWM
    /// after them holds its stream, which is not read again until `resume`
    /// finds room.
    #[inline]
    pub(super) fn drain(&mut self, id: ConnId, pattern: &mut Pattern) -> Drained {
        let Some(s) = touched(&mut self.live, &mut self.timers, id).get_mut(id) else {
            return Drained::Gone;
        };
        // The messages that wait ahead of every other event go into the
        // pipe's queue at once, where the pipe takes them as they are.
        let runs = pattern.takes_runs(s.pipe);
        loop {
            if runs {
                let conn = &mut s.conn;
                if pattern.handle_received_run(s.pipe, |q| conn.take_messages(q)) && !s.held {
                    s.held = true;
                    self.holding.push(id);
                }
            }
            match s.conn.poll_event() {
                None => return Drained::Idle,
                Some(Event::Message(msg)) => {
                    // This message and the run that follows it in one offer.
                    let mut first = Some(msg);
                    let conn = &mut s.conn;
                    let next = || first.take().or_else(|| conn.poll_message());
                    if pattern.handle_received(s.pipe, next) && !s.held {
                        s.held = true;
                        self.holding.push(id);
                    }
                }
                Some(Event::Subscribe(topic)) => pattern.handle_subscribe(s.pipe, topic),
                Some(Event::Cancel(topic)) => pattern.handle_cancel(s.pipe, topic),
                Some(other) => return Drained::Control(other),
            }
        }
    }

    /// Reads again from held streams whose pipes have room now.
    #[inline]
    pub(super) fn resume(&mut self, pattern: &Pattern, actions: &mut VecDeque<Action>) {
        // Called after every `recv`: the common case, nothing held, must
        // cost a length check and no call.
        if !self.holding.is_empty() {
            self.resume_held(pattern, actions);
        }
    }

    fn resume_held(&mut self, pattern: &Pattern, actions: &mut VecDeque<Action>) {
        self.holding.retain(|&id| {
            let Some(s) = self.live.get_mut(id) else {
                return false;
            };
            if pattern.holds_back(s.pipe) {
                return true;
            }
            s.held = false;
            actions.push_back(Action::ResumeRead(id));
            false
        });
    }

    /// Whether a full write waits for the stream (see [`Streams::check_backlog`]).
    pub(super) fn is_backlogged(&self, id: ConnId) -> bool {
        self.live.get(id).is_some_and(|s| s.full_flush_queued)
    }

    /// After `pipe`'s queue was moved towards its stream: when the
    /// connection is at its byte limit (a full write), asks for a flush again
    /// (the first is still pending), so that a runtime which can write on the
    /// sending thread does so now. On a runtime whose pump shares the
    /// application's thread the pump cannot run while the application
    /// sends: a PUB sending in a loop would queue without bound (HWM 0) or
    /// drop at its HWM before one byte went out.
    pub(super) fn check_backlog(&mut self, pipe: PipeId, actions: &mut VecDeque<Action>) {
        let Some(&(id, slot)) = self.by_pipe.get(&pipe) else {
            return;
        };
        let Some(s) = self.live.at_mut(slot, id) else {
            return;
        };
        if !s.full_flush_queued && s.conn.is_active() && s.conn.pending_transmit() >= CONN_OUT_LIMIT
        {
            s.full_flush_queued = true;
            actions.push_back(Action::Flush(id));
        }
    }

    /// Whether the runtime should read from this stream.
    #[inline]
    pub(super) fn wants_read(&self, id: ConnId) -> bool {
        self.live.get(id).is_some_and(|s| !s.held)
    }

    pub(super) fn handshake_done(&mut self, id: ConnId) -> Option<Handshake> {
        let s = touched(&mut self.live, &mut self.timers, id).get_mut(id)?;
        if !s.handshaken && matches!(s.origin, Origin::Listener(_)) {
            self.pending_accepted -= 1;
        }
        s.handshaken = true;
        let peer = s
            .conn
            .peer()
            .map(|p| PeerMeta::new(p.socket_type, p.routing_id.clone()))
            .unwrap_or_default();
        Some(Handshake {
            pipe: s.pipe,
            endpoint: s.endpoint.clone(),
            peer,
            address: s.peer.address.clone(),
            connector: s.origin.connector(),
        })
    }

    pub(super) fn failing(&self, id: ConnId) -> Option<Failing> {
        let s = self.live.get(id)?;
        Some(Failing {
            pipe: s.pipe,
            endpoint: s.endpoint.clone(),
            peer: s.peer.clone(),
            handshaken: s.handshaken,
            connector: s.origin.connector(),
        })
    }

    /// Moves queued items of `pipe` into the stream it writes to, up to the
    /// connection's byte limit.
    #[inline]
    pub(super) fn fill(
        &mut self,
        pipe: PipeId,
        pattern: &mut Pattern,
        actions: &mut VecDeque<Action>,
        spent: &mut Spent,
    ) {
        let Some(&(id, slot)) = self.by_pipe.get(&pipe) else {
            return;
        };
        let Some(s) = touched(&mut self.live, &mut self.timers, id).at_mut(slot, id) else {
            return;
        };
        if !s.conn.is_active() {
            return;
        }
        while s.conn.pending_transmit() < CONN_OUT_LIMIT {
            let Some(item) = pattern.poll_outbound(pipe) else {
                break;
            };
            let r = match item {
                PipeItem::Message(m) if spent.wants(&m) && s.conn.copies(&m) => {
                    let queued = s.conn.send_ref(&m);
                    if queued {
                        spent.keep(m);
                    }
                    queued
                }
                PipeItem::Message(m) => s.conn.send(m).is_ok(),
                PipeItem::Subscribe(t) => s.conn.send_subscribe(&t).is_ok(),
                PipeItem::Cancel(t) => s.conn.send_cancel(&t).is_ok(),
            };
            if !r {
                break;
            }
        }
        s.queue_flush(id, actions);
    }

    /// Writes a message straight into `pipe`'s stream, when `fill` would have
    /// moved it there at once: the stream is active and below its byte limit.
    /// False leaves the message to the pipe's queue.
    #[inline]
    pub(super) fn send_direct(
        &mut self,
        pipe: PipeId,
        msg: &Msg,
        actions: &mut VecDeque<Action>,
    ) -> bool {
        let (id, slot) = match self.last_direct {
            Some((last, id, slot)) if last == pipe => (id, slot),
            _ => {
                let Some(&(id, slot)) = self.by_pipe.get(&pipe) else {
                    return false;
                };
                self.last_direct = Some((pipe, id, slot));
                (id, slot)
            }
        };
        // Not `touched`: sending moves no deadline of the connection, and a
        // publisher would pay a set insert per subscriber per message. Only a
        // failed send (the connection closed itself) is marked below.
        let Some(s) = self.live.at_mut(slot, id) else {
            return false;
        };
        if !s.conn.is_active() {
            return false;
        }
        if s.conn.pending_transmit() >= CONN_OUT_LIMIT {
            return false;
        }
        let sent = s.conn.send_ref(msg);
        s.queue_flush(id, actions);
        if !sent {
            self.timers.get_mut().touch(id);
        }
        sent
    }

    /// Moves every queued item of `pipe` into its stream, past the byte limit:
    /// the pipe is about to go, and what was sent on it before must not.
    pub(super) fn fill_all(&mut self, pipe: PipeId, pattern: &mut Pattern) {
        let Some(s) =
            self.by_pipe.get(&pipe).copied().and_then(|(id, slot)| {
                touched(&mut self.live, &mut self.timers, id).at_mut(slot, id)
            })
        else {
            return;
        };
        if !s.conn.is_active() {
            return;
        }
        while let Some(item) = pattern.poll_outbound(pipe) {
            let _ = match item {
                PipeItem::Message(m) => s.conn.send(m),
                PipeItem::Subscribe(t) => s.conn.send_subscribe(&t),
                PipeItem::Cancel(t) => s.conn.send_cancel(&t),
            };
        }
    }

    /// The next chunk to write: `None` for an unknown stream or a closed one
    /// fully written; `Err(pipe)` when a live stream has nothing encoded, so the
    /// caller refills it from its pipe and asks the connection again.
    #[inline]
    pub(super) fn poll_transmit(&mut self, id: ConnId) -> Option<Result<Bytes, PipeId>> {
        if let Some(conn) = self.dying.get_mut(&id) {
            let chunk = conn.poll_transmit();
            if chunk.is_none() {
                self.dying.remove(&id);
            }
            return chunk.map(Ok);
        }
        let s = touched(&mut self.live, &mut self.timers, id).get_mut(id)?;
        s.flush_queued = false;
        s.full_flush_queued = false;
        Some(
            s.conn
                .poll_transmit_noting(&mut self.timer_moved)
                .ok_or(s.pipe),
        )
    }

    /// The next chunk of a live stream just refilled from its pipe.
    pub(super) fn poll_refilled(&mut self, id: ConnId) -> Option<Bytes> {
        touched(&mut self.live, &mut self.timers, id)
            .get_mut(id)?
            .conn
            .poll_transmit_noting(&mut self.timer_moved)
    }

    /// Whether writing armed a stream's timer since the last call: the
    /// owner's earliest deadline may be earlier now.
    pub(super) fn take_timer_moved(&mut self) -> bool {
        std::mem::take(&mut self.timer_moved)
    }

    /// Removes a live stream; `keep_tail` keeps its unwritten bytes for
    /// [`Streams::poll_transmit`]. Returns its pipe and origin.
    pub(super) fn remove(&mut self, id: ConnId, keep_tail: bool) -> Option<(PipeId, Origin)> {
        let Stream {
            mut conn,
            pipe,
            origin,
            handshaken,
            ..
        } = *touched(&mut self.live, &mut self.timers, id).remove(id)?;
        if !handshaken && matches!(origin, Origin::Listener(_)) {
            self.pending_accepted -= 1;
        }
        conn.close();
        if keep_tail && conn.pending_transmit() > 0 {
            self.dying.insert(id, conn);
        }
        if self
            .by_pipe
            .get(&pipe)
            .is_some_and(|&(bound, _)| bound == id)
        {
            self.by_pipe.remove(&pipe);
        }
        self.last_direct = None;
        Some((pipe, origin))
    }

    /// The runtime closed the stream: its unwritten bytes have nowhere to go.
    pub(super) fn forget_tail(&mut self, id: ConnId) {
        self.dying.remove(&id);
    }

    pub(super) fn forget_tails(&mut self) {
        self.dying.clear();
    }

    pub(super) fn accepted_by(&self, listener: ListenerId) -> Vec<ConnId> {
        self.live
            .iter()
            .filter(|(_, s)| matches!(s.origin, Origin::Listener(l) if l == listener))
            .map(|(id, _)| id)
            .collect()
    }

    pub(super) fn ids(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.live.keys()
    }

    pub(super) fn pipes(&self) -> impl Iterator<Item = PipeId> + '_ {
        self.live.values().map(|s| s.pipe)
    }

    /// Whether every live stream has written all it encoded.
    pub(super) fn all_written(&self) -> bool {
        self.live.values().all(|s| s.conn.pending_transmit() == 0)
    }
}

/// The address a ZAP request carries: the IP without the port, as libzmq's
/// do, from the `ip:port` the runtime reports (anything else as it is).
/// The live streams, with `id`'s deadline to be looked at again: every path
/// to a connection that may change it goes through here (a function of the
/// two fields, so that the others stay free to borrow).
#[inline]
fn touched<'a>(
    live: &'a mut Slots<Box<Stream>>,
    timers: &mut RefCell<Timers>,
    id: ConnId,
) -> &'a mut Slots<Box<Stream>> {
    timers.get_mut().touch(id);
    live
}

fn zap_address(peer_address: &str) -> String {
    match peer_address.parse::<std::net::SocketAddr>() {
        Ok(addr) => addr.ip().to_string(),
        Err(_) => peer_address.to_owned(),
    }
}
