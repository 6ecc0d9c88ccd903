//! The pattern: pipes, their queues, and the shared load-balancing and
//! fair-queueing parts every socket type is built from.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use zmtp_core::{Msg, SocketType};

use crate::error::{AttachError, RecvError, SendError, SendRefusal};
use crate::idmap::IdMap;
use crate::options::Options;
use crate::pipe::{ItemSource, PeerMeta, PipeAction, PipeId, PipeItem};
use crate::queue::MsgQueue;
use crate::subscriptions::Subscriptions;

#[derive(Debug)]
pub(crate) struct Pipe {
    pub(crate) peer: PeerMeta,
    pub(crate) out: VecDeque<PipeItem>,
    /// Messages (not subscriptions) in `out`, counted against SNDHWM.
    pub(crate) out_msgs: usize,
    /// Their bodies' bytes, counted against SNDHWM_BYTES.
    out_bytes: usize,
    pub(crate) inq: MsgQueue,
    /// What this peer subscribed to (PUB, XPUB).
    pub(crate) subs: Subscriptions,
    /// The routing id a ROUTER knows this pipe by.
    pub(crate) routing_id: Bytes,
    /// CONFLATE as it was when the pipe was made: libzmq makes a pipe
    /// conflating or not for its whole life.
    conflate: bool,
    in_lb: bool,
    in_fq: bool,
    dirty: bool,
    /// Its taker stopped for want of room with items left and comes back
    /// for them when it has room (see [`Pattern::take_outbound`]): items
    /// queued behind those need no dirty mark.
    pulled: bool,
    /// Detached, kept only until its received messages are read.
    pub(crate) closing: bool,
}

/// Per-type state.
#[derive(Debug)]
pub(crate) enum Kind {
    Plain,
    Req {
        /// The pipe the outstanding request went to.
        reply_pipe: Option<PipeId>,
        expecting: bool,
        request_id: u32,
    },
    Rep {
        /// Where the reply goes, and the envelope to put in front of it.
        pending: Option<(PipeId, Vec<Bytes>)>,
    },
    Router {
        by_id: HashMap<Bytes, PipeId>,
        next_id: u32,
    },
    Pub {
        /// XPUB: all pipes' subscriptions together, for first/last notifications.
        all: Subscriptions,
        /// XPUB: notifications for the application, with the pipe they came from.
        notes: VecDeque<(Msg, PipeId)>,
        /// XPUB_MANUAL: the pipe of the notification the application read last.
        last_pipe: Option<PipeId>,
    },
    Sub {
        /// SUB/XSUB: our own subscriptions, resent to every new pipe.
        subs: Subscriptions,
    },
}

/// A ZeroMQ socket's behaviour over pipes, with no I/O.
///
/// The owner attaches a pipe per peer, offers what arrives with
/// [`Pattern::handle_message`] / [`Pattern::handle_subscribe`], and writes what
/// [`Pattern::poll_outbound`] yields. The application calls [`Pattern::send`] and
/// [`Pattern::recv`]. Messages are whole (`Msg`), so a multipart message is always
/// delivered or dropped as a unit, and never interleaved between pipes.
///
/// Readiness: after any call, [`Pattern::poll_dirty`] names pipes with something new
/// to write, [`Pattern::can_send`] / [`Pattern::can_recv`] tell the application's
/// waiters whether to retry, and [`Pattern::poll_action`] lists pipes to close.
#[derive(Debug)]
pub struct Pattern {
    pub(crate) socket_type: SocketType,
    pub(crate) opts: Options,
    pub(crate) pipes: IdMap<PipeId, Pipe>,
    /// Attach order, for fan-out.
    pub(crate) order: Vec<PipeId>,
    lb: VecDeque<PipeId>,
    fq: VecDeque<PipeId>,
    pub(crate) dirty: VecDeque<PipeId>,
    pub(crate) actions: VecDeque<PipeAction>,
    pub(crate) kind: Kind,
    /// PUB/XPUB: prefix -> subscribed pipes.
    pub(crate) index: crate::subscriptions::PubIndex,
    /// Reused by fan-out, so a publish allocates nothing.
    pub(crate) scratch: Vec<PipeId>,
}

impl Pattern {
    /// A socket of this type with default options.
    pub fn new(socket_type: SocketType) -> Self {
        Self::with_options(socket_type, Options::default())
    }

    /// A socket of this type with the given options.
    pub fn with_options(socket_type: SocketType, opts: Options) -> Self {
        let kind = match socket_type {
            SocketType::Req => Kind::Req {
                reply_pipe: None,
                expecting: false,
                request_id: 0,
            },
            SocketType::Rep => Kind::Rep { pending: None },
            SocketType::Router | SocketType::Stream => Kind::Router {
                by_id: HashMap::new(),
                next_id: 0,
            },
            SocketType::Pub | SocketType::XPub => Kind::Pub {
                all: Subscriptions::new(),
                notes: VecDeque::new(),
                last_pipe: None,
            },
            SocketType::Sub | SocketType::XSub => Kind::Sub {
                subs: Subscriptions::new(),
            },
            _ => Kind::Plain,
        };
        Self {
            socket_type,
            opts,
            pipes: IdMap::default(),
            order: Vec::new(),
            lb: VecDeque::new(),
            fq: VecDeque::new(),
            dirty: VecDeque::new(),
            actions: VecDeque::new(),
            kind,
            index: Default::default(),
            scratch: Vec::new(),
        }
    }

    /// The socket type.
    pub fn socket_type(&self) -> SocketType {
        self.socket_type
    }

    /// The options in force.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// Changes options. As libzmq 4.3's `update_pipe_options`, SNDHWM and
    /// RCVHWM apply to the pipes already there (from the next message on;
    /// nothing queued is dropped) as well as to later ones; CONFLATE only to
    /// pipes attached afterwards; the other flags from the next call on.
    pub fn set_options(&mut self, opts: Options) {
        self.opts = opts;
        let ids: Vec<PipeId> = self.order.clone();
        for id in ids {
            self.refill_lb(id);
        }
    }

    /// Adds a pipe for a new peer.
    pub fn attach(&mut self, id: PipeId, peer: PeerMeta) -> Result<(), AttachError> {
        if self.pipes.contains_key(&id) {
            return Err(AttachError::AlreadyAttached);
        }
        if let Some(t) = peer.socket_type {
            if !self.socket_type.is_compatible_with(t) {
                return Err(AttachError::Incompatible(t));
            }
        }
        if self.socket_type == SocketType::Pair && !self.pipes.is_empty() {
            return Err(AttachError::PairTaken);
        }
        let routing_id = self.assign_routing_id(id, &peer)?;
        self.pipes.insert(
            id,
            Pipe {
                peer,
                out: VecDeque::new(),
                out_msgs: 0,
                out_bytes: 0,
                inq: MsgQueue::default(),
                subs: Subscriptions::new(),
                routing_id,
                conflate: self.conflate(),
                in_lb: false,
                in_fq: false,
                dirty: false,
                pulled: false,
                closing: false,
            },
        );
        self.order.push(id);
        self.probe(id);
        self.refill_lb(id);
        self.on_attach_subscriptions(id);
        Ok(())
    }

    /// Removes a pipe (its peer is gone). Returns the messages that were still
    /// queued towards the peer; they are dropped, as libzmq drops them.
    ///
    /// Messages already received from the peer stay readable, in order, as
    /// libzmq's pipe termination lets the reader drain them.
    pub fn detach(&mut self, id: PipeId) -> Vec<Msg> {
        let Some(mut pipe) = self.pipes.remove(&id) else {
            return Vec::new();
        };
        if pipe.closing {
            self.pipes.insert(id, pipe);
            return Vec::new();
        }
        self.order.retain(|p| *p != id);
        self.lb.retain(|p| *p != id);
        self.dirty.retain(|p| *p != id);
        pipe.in_lb = false;
        pipe.dirty = false;
        self.on_detach(id, &pipe);
        let out = std::mem::take(&mut pipe.out);
        pipe.out_msgs = 0;
        pipe.out_bytes = 0;
        if !pipe.inq.is_empty() {
            pipe.closing = true;
            pipe.subs = Subscriptions::new();
            self.pipes.insert(id, pipe);
        }
        out.into_iter()
            .filter_map(|o| match o {
                PipeItem::Message(m) => Some(m),
                _ => None,
            })
            .collect()
    }

    /// Whether a pipe is attached (a detached pipe still draining its received
    /// messages is not).
    pub fn is_attached(&self, id: PipeId) -> bool {
        self.pipes.get(&id).is_some_and(|p| !p.closing)
    }

    /// Number of attached pipes.
    pub fn pipe_count(&self) -> usize {
        self.pipes.values().filter(|p| !p.closing).count()
    }

    /// Whether what arrives goes through [`Pattern::filter_incoming`] one
    /// message at a time (PUSH, PUB and REQ filter or discard it); the
    /// other types queue every message as it is.
    #[inline]
    fn filters_each(&self) -> bool {
        matches!(
            self.socket_type,
            SocketType::Push | SocketType::Pub | SocketType::Req
        )
    }

    /// Offers a message that arrived on `pipe`. `Err` hands it back when the pipe's
    /// receive queue is at RCVHWM: the caller keeps it, stops reading that peer, and
    /// offers it again after the application has received.
    pub fn handle_message(&mut self, id: PipeId, msg: Msg) -> Result<(), Msg> {
        if msg.is_empty() {
            return Ok(());
        }
        // Every message a receiver gets passes here: one lookup of its pipe
        // for the plain queues, whose filter keeps everything.
        let msg = if self.filters_each() {
            if !self.is_attached(id) {
                return Ok(());
            }
            let Some(msg) = self.filter_incoming(id, msg) else {
                return Ok(());
            };
            msg
        } else {
            msg
        };
        let opts = &self.opts;
        let Some(pipe) = self.pipes.get_mut(&id).filter(|p| !p.closing) else {
            return Ok(());
        };
        offer(opts, pipe, msg)?;
        join_fq(&mut self.fq, id, pipe);
        Ok(())
    }

    /// Queues the messages `next` yields, in order, as
    /// [`Pattern::handle_message`] would one at a time, but past RCVHWM: a
    /// connection's messages were read off the wire, and what one read
    /// brought is taken whole. True when the pipe is at RCVHWM now: the
    /// caller reads no more from that peer until [`Pattern::holds_back`]
    /// says the application made room.
    #[inline]
    pub fn handle_received(&mut self, id: PipeId, mut next: impl FnMut() -> Option<Msg>) -> bool {
        if self.filters_each() {
            // They filter or discard each message: one at a time.
            while let Some(m) = next() {
                self.push_received(id, m);
            }
            return self.holds_back(id);
        }
        let Some(p) = self.pipes.get_mut(&id).filter(|p| !p.closing) else {
            // As `handle_message`: a pipe that went takes and drops them.
            while next().is_some() {}
            return false;
        };
        let mut took = false;
        while let Some(m) = next() {
            if m.is_empty() {
                continue;
            }
            if p.conflate {
                p.inq.clear();
            }
            p.inq.push_back(m);
            took = true;
        }
        if took {
            join_fq(&mut self.fq, id, p);
        }
        !p.conflate && inq_full(&self.opts, p)
    }

    /// Whether [`Pattern::handle_received_run`] may take `pipe`'s messages:
    /// the pattern neither filters nor discards what arrives (not PUSH, PUB
    /// or REQ) and the pipe keeps every message (not CONFLATE). Else offer
    /// them with [`Pattern::handle_received`].
    pub fn takes_runs(&self, id: PipeId) -> bool {
        !self.filters_each() && self.pipes.get(&id).is_some_and(|p| !p.conflate)
    }

    /// As [`Pattern::handle_received`] for a pipe that
    /// [takes runs](Pattern::takes_runs), with the messages moved into its
    /// queue at once: `fill` appends them to the queue it is given and
    /// returns how many and their bytes ([`Msg::byte_len`] summed), as
    /// [`zmtp_core::Connection::take_messages`] does. Every message must have
    /// a frame (a decoded message always has). Returns whether the pipe is
    /// now at RCVHWM.
    pub fn handle_received_run(
        &mut self,
        id: PipeId,
        fill: impl FnOnce(&mut VecDeque<Msg>) -> (usize, usize),
    ) -> bool {
        let Some(p) = self.pipes.get_mut(&id).filter(|p| !p.closing) else {
            // As `handle_received`: a pipe that went takes and drops them.
            fill(&mut VecDeque::new());
            return false;
        };
        debug_assert!(!p.conflate, "a CONFLATE pipe does not take runs");
        if p.inq.append_with(fill) > 0 {
            join_fq(&mut self.fq, id, p);
        }
        inq_full(&self.opts, p)
    }

    /// Whether `pipe` is at RCVHWM, so that its peer is not to be read
    /// (false for a pipe that went: what its peer sends is dropped).
    pub fn holds_back(&self, id: PipeId) -> bool {
        self.pipes
            .get(&id)
            .is_some_and(|p| !p.closing && !p.conflate && inq_full(&self.opts, p))
    }

    /// Offers the messages at the front of `items`, up to the first item
    /// that is not one, in order, as [`Pattern::handle_message`] would one
    /// at a time, looking the pipe up once. Those taken leave `items`; the
    /// first item that is not a message is handed back to it. Returns the
    /// messages and bytes taken, and whether the pipe refused one at RCVHWM
    /// (handed back too). An inproc receiver hands over what its peer's
    /// lane held this way: hundreds of messages per take when the receiver
    /// is behind.
    pub fn handle_message_run<S: ItemSource + ?Sized>(
        &mut self,
        id: PipeId,
        items: &mut S,
    ) -> (usize, usize, bool) {
        let (mut msgs, mut bytes) = (0, 0);
        if self.filters_each() {
            // They filter or discard each message: one at a time.
            while let Some(item) = items.next_item() {
                let PipeItem::Message(m) = item else {
                    items.put_back(item);
                    break;
                };
                let len = m.byte_len();
                if let Err(m) = self.handle_message(id, m) {
                    items.put_back(PipeItem::Message(m));
                    return (msgs, bytes, true);
                }
                msgs += 1;
                bytes += len;
            }
            return (msgs, bytes, false);
        }
        let opts = &self.opts;
        let mut pipe = self.pipes.get_mut(&id).filter(|p| !p.closing);
        let mut took = false;
        let mut refused = false;
        while let Some(item) = items.next_item() {
            let PipeItem::Message(m) = item else {
                items.put_back(item);
                break;
            };
            let len = m.byte_len();
            // As `handle_message`: a pipe that went takes and drops them,
            // and so do empty messages.
            if let Some(p) = pipe.as_deref_mut().filter(|_| !m.is_empty()) {
                if let Err(m) = offer_sized(opts, p, m, len) {
                    items.put_back(PipeItem::Message(m));
                    refused = true;
                    break;
                }
                took = true;
            }
            msgs += 1;
            bytes += len;
        }
        if let (true, Some(p)) = (took, pipe) {
            join_fq(&mut self.fq, id, p);
        }
        (msgs, bytes, refused)
    }

    /// Queues a message whatever RCVHWM says: one already read off the wire
    /// (dropping it would lose a received message), or a notification.
    pub fn push_received(&mut self, id: PipeId, msg: Msg) {
        if msg.is_empty() || !self.is_attached(id) {
            return;
        }
        let Some(msg) = self.filter_incoming(id, msg) else {
            return;
        };
        if let Some(pipe) = self.pipes.get_mut(&id) {
            pipe.inq.push_back(msg);
            join_fq(&mut self.fq, id, pipe);
        }
    }

    /// A pipe's peer connection was replaced by a new one (reconnect): anything
    /// queued that belonged to the old stream's subscription state is redone, so
    /// SUB and XSUB send their whole subscription set again.
    pub fn hiccup(&mut self, id: PipeId) {
        if !matches!(self.kind, Kind::Sub { .. }) {
            return;
        }
        if let Some(p) = self.pipes.get_mut(&id) {
            p.out.retain(|o| matches!(o, PipeItem::Message(_)));
        }
        self.on_attach_subscriptions(id);
    }

    /// Whether `pipe` can take another incoming message now (below RCVHWM).
    pub fn can_accept(&self, id: PipeId) -> bool {
        self.pipes
            .get(&id)
            .is_some_and(|p| !p.closing && (p.conflate || !self.inq_full(id)))
    }

    /// How much `pipe`'s receive queue can still take before it is at RCVHWM:
    /// messages and bytes (`usize::MAX`: no limit; a CONFLATE pipe keeps
    /// only the newest message, so it never fills), or `None` for no such
    /// pipe.
    pub fn inq_room(&self, id: PipeId) -> Option<(usize, usize)> {
        let p = self.pipes.get(&id)?;
        if p.closing {
            return Some((0, 0));
        }
        if p.conflate {
            return Some((usize::MAX, usize::MAX));
        }
        let msgs = match self.opts.rcvhwm {
            0 => usize::MAX,
            hwm => hwm.saturating_sub(p.inq.len()),
        };
        let bytes = self
            .opts
            .rcvhwm_bytes
            .map_or(usize::MAX, |max| max.saturating_sub(p.inq.bytes()));
        Some((msgs, bytes))
    }

    /// Whether `pipe` is a CONFLATE pipe (it keeps the newest message only).
    pub fn is_conflate(&self, id: PipeId) -> bool {
        self.pipes.get(&id).is_some_and(|p| p.conflate)
    }

    /// Whether `pipe`'s receive queue is at RCVHWM, in messages or in bytes
    /// (checked before a message goes in, so one larger than the byte limit
    /// still goes into a queue below it, and nothing waits for ever).
    fn inq_full(&self, id: PipeId) -> bool {
        self.pipes.get(&id).is_some_and(|p| inq_full(&self.opts, p))
    }

    /// Sends a message on behalf of the application.
    pub fn send(&mut self, msg: Msg) -> Result<(), SendError> {
        self.send_via(msg, &mut |_, _, _| false)
    }

    /// As [`Pattern::send`], but a message bound for a pipe with nothing
    /// queued is first offered to `direct`, which may write it to that pipe's
    /// peer at once and return true; otherwise it is queued as `send` would.
    ///
    /// The pipe's queue, its dirty mark and the later
    /// [`Pattern::poll_outbound`] are the whole cost of a small message
    /// to a peer that keeps up; an owner that can write it straight away
    /// skips them. Order holds: only a pipe with an empty queue is offered a
    /// message. PUSH, DEALER, PAIR, ROUTER, PUB and XPUB use it; the rest
    /// queue. `direct` must not take a message when the connection would not
    /// have been given it from the queue right away (its byte limit).
    pub fn send_via(&mut self, msg: Msg, direct: &mut Direct<'_>) -> Result<(), SendError> {
        if msg.is_empty() {
            return Err(SendError::EmptyMessage);
        }
        match self.socket_type {
            SocketType::Push | SocketType::Dealer | SocketType::Pair => {
                self.lb_send_via(msg, direct).map(|_| ())
            }
            SocketType::Req => self.req_send(msg),
            SocketType::Rep => self.rep_send(msg),
            SocketType::Router => self.router_send(msg, direct),
            SocketType::Stream => self.stream_send(msg),
            SocketType::Pub | SocketType::XPub => self.pub_send(msg, direct),
            SocketType::XSub => self.xsub_send(msg),
            SocketType::Sub | SocketType::Pull => Err(SendError::NotSupported(msg)),
        }
    }

    /// As [`Pattern::send_via`], with the message left in `msg` when it is
    /// refused: a refusal is a word, where a [`SendError`] carries the
    /// message back through every layer of a send. Once sent, what `msg`
    /// holds is the caller's to drop. PUSH, DEALER and PAIR send in place;
    /// the other types go through `send_via`.
    #[inline]
    pub fn send_in<D>(&mut self, msg: &mut Msg, direct: &mut D) -> Result<(), SendRefusal>
    where
        D: FnMut(PipeId, &mut Msg, bool) -> bool,
    {
        if msg.is_empty() {
            return Err(SendRefusal::EmptyMessage);
        }
        match self.socket_type {
            SocketType::Push | SocketType::Dealer | SocketType::Pair => self
                .lb_send_in(msg, direct)
                .map(|_| ())
                .ok_or(SendRefusal::WouldBlock),
            _ => self.send_via(std::mem::take(msg), direct).map_err(|e| {
                let (refusal, back) = e.split();
                if let Some(back) = back {
                    *msg = back;
                }
                refusal
            }),
        }
    }

    /// Receives the next message for the application.
    pub fn recv(&mut self) -> Result<Msg, RecvError> {
        match self.socket_type {
            SocketType::Pull | SocketType::Dealer | SocketType::Pair => {
                self.fq_recv().ok_or(RecvError::WouldBlock)
            }
            SocketType::Req => self.req_recv(),
            SocketType::Rep => self.rep_recv(),
            SocketType::Router | SocketType::Stream => self.router_recv(),
            SocketType::Sub | SocketType::XSub => self.sub_recv(),
            SocketType::XPub => self.xpub_recv(),
            SocketType::Push | SocketType::Pub => Err(RecvError::NotSupported),
        }
    }

    /// The next thing to write to `pipe`'s peer.
    pub fn poll_outbound(&mut self, id: PipeId) -> Option<PipeItem> {
        let pipe = self.pipes.get_mut(&id)?;
        let item = pipe.out.pop_front()?;
        if let PipeItem::Message(m) = &item {
            pipe.out_msgs -= 1;
            pipe.out_bytes -= m.byte_len();
            rejoin_lb(&self.opts, &mut self.lb, id, pipe);
        }
        Some(item)
    }

    /// Moves items from the front of `pipe`'s outbound queue to `into`
    /// while `counts` (messages and bytes the taker holds, updated as items
    /// move) is under `limit` in both: the items, in the order, that calling
    /// [`Pattern::poll_outbound`] while the counts are under the limit would
    /// give, without a lookup and a rejoin of the rotation per message (the
    /// inproc sender's refill). Subscriptions count for neither. Returns
    /// whether the queue is now empty.
    ///
    /// A taker that stops for want of room must come back for the rest
    /// when it has room: until the queue has been emptied, what is queued
    /// behind is not marked dirty ([`Pattern::poll_dirty`]) again.
    ///
    /// `into` gets the run in one `extend` call, from an iterator whose
    /// `size_hint` is exact, so that a sink with slots of its own (the
    /// inproc lane's ring) can write them in place.
    pub fn take_outbound<E: Extend<PipeItem> + ?Sized>(
        &mut self,
        id: PipeId,
        counts: &mut (usize, usize),
        limit: (usize, usize),
        into: &mut E,
    ) -> bool {
        let Some(pipe) = self.pipes.get_mut(&id) else {
            return true;
        };
        let (mut msgs, mut bytes) = *counts;
        let mut n = 0;
        for item in &pipe.out {
            if msgs >= limit.0 || bytes >= limit.1 {
                break;
            }
            if let PipeItem::Message(m) = item {
                msgs += 1;
                bytes += m.byte_len();
            }
            n += 1;
        }
        // Stopped by the limit with items left: the taker comes back.
        pipe.pulled = n < pipe.out.len();
        into.extend(pipe.out.drain(..n));
        pipe.out_msgs -= msgs - counts.0;
        pipe.out_bytes -= bytes - counts.1;
        if msgs > counts.0 {
            rejoin_lb(&self.opts, &mut self.lb, id, pipe);
        }
        *counts = (msgs, bytes);
        pipe.out.is_empty()
    }

    /// A pipe that has new outbound items since the last call (each named once
    /// until drained with `poll_outbound`).
    pub fn poll_dirty(&mut self) -> Option<PipeId> {
        while let Some(id) = self.dirty.pop_front() {
            if let Some(p) = self.pipes.get_mut(&id) {
                p.dirty = false;
                if !p.out.is_empty() {
                    return Some(id);
                }
            }
        }
        None
    }

    /// Whether [`Pattern::poll_dirty`] or [`Pattern::poll_action`] may have
    /// anything: after nearly every send neither has, and this says so
    /// without a call.
    #[inline]
    pub(crate) fn has_dirty_or_actions(&self) -> bool {
        !(self.dirty.is_empty() && self.actions.is_empty())
    }

    /// The next pipe the owner must close.
    pub fn poll_action(&mut self) -> Option<PipeAction> {
        self.actions.pop_front()
    }

    /// Whether `send` could succeed now for a typical message (a waiter may retry).
    /// Drop-type sockets (PUB, ROUTER without MANDATORY) are always writable.
    pub fn can_send(&self) -> bool {
        match self.socket_type {
            SocketType::Sub | SocketType::Pull => false,
            SocketType::Pub | SocketType::XPub => !self.opts.xpub_nodrop || self.all_have_room(),
            // As libzmq: a STREAM is always writable; the peer decides.
            SocketType::XSub | SocketType::Stream => true,
            SocketType::Router => !self.opts.router_mandatory || self.any_has_room(),
            SocketType::Rep => matches!(self.kind, Kind::Rep { pending: Some(_) }),
            SocketType::Req => {
                let idle = matches!(
                    self.kind,
                    Kind::Req {
                        expecting: false,
                        ..
                    }
                );
                (idle || self.opts.req_relaxed) && self.lb_has_room()
            }
            SocketType::Push | SocketType::Dealer | SocketType::Pair => self.lb_has_room(),
        }
    }

    /// Whether a message is waiting for the application. For SUB and XSUB this
    /// drops queued messages that no longer match, as libzmq's `xhas_in` does, so
    /// the answer is exact and costs only the messages it discards.
    pub fn can_recv(&mut self) -> bool {
        match &self.kind {
            Kind::Pub { notes, .. } => !notes.is_empty() || self.any_inbound(),
            Kind::Sub { .. } => self.sub_has_in(),
            Kind::Req { expecting, .. } => *expecting && self.any_inbound(),
            Kind::Rep { pending } => pending.is_none() && self.any_inbound(),
            _ => self.any_inbound(),
        }
    }

    /// Whether `pipe` has something left to write.
    pub fn has_outbound(&self, id: PipeId) -> bool {
        self.pipes.get(&id).is_some_and(|p| !p.out.is_empty())
    }

    /// What the handshake told about the peer behind `pipe`.
    pub fn peer(&self, id: PipeId) -> Option<&PeerMeta> {
        self.pipes.get(&id).map(|p| &p.peer)
    }

    /// The routing id a ROUTER knows `pipe` by.
    pub fn routing_id(&self, id: PipeId) -> Option<&Bytes> {
        self.pipes.get(&id).map(|p| &p.routing_id)
    }

    // ---- shared parts ----

    /// CONFLATE as libzmq applies it: only to DEALER, PULL, PUSH, PUB and SUB.
    fn conflate(&self) -> bool {
        self.opts.conflate && is_conflatable(self.socket_type)
    }

    fn any_inbound(&self) -> bool {
        // Every pipe with a message waiting is in the fair queue (a message
        // queued puts its pipe there; only an empty pipe leaves it), so the
        // pipes that talk are looked at, not the thousands that may be idle.
        self.fq
            .iter()
            .any(|id| self.pipes.get(id).is_some_and(|p| !p.inq.is_empty()))
    }

    fn has_room(&self, p: &Pipe) -> bool {
        room(&self.opts, p)
    }

    fn any_has_room(&self) -> bool {
        self.pipes.values().any(|p| self.has_room(p))
    }

    fn all_have_room(&self) -> bool {
        self.pipes
            .values()
            .filter(|p| !p.closing)
            .all(|p| self.has_room(p))
    }

    /// Puts a pipe with room back in the round-robin rotation.
    fn refill_lb(&mut self, id: PipeId) {
        if let Some(p) = self.pipes.get_mut(&id) {
            rejoin_lb(&self.opts, &mut self.lb, id, p);
        }
    }

    /// Whether some pipe in the rotation has room, without the clean-up that
    /// `lb_send_via` does on the way, so a query need not mutate. Stale
    /// entries (pipes that filled up or went) are rare, since a pipe rejoins
    /// the rotation only with room, and `lb_send` still drops them.
    fn lb_has_room(&self) -> bool {
        self.lb
            .iter()
            .any(|id| self.pipes.get(id).is_some_and(|p| self.has_room(p)))
    }

    /// Round-robin: the next pipe with room takes the whole message.
    pub(crate) fn lb_send(&mut self, msg: Msg) -> Result<PipeId, SendError> {
        self.lb_send_via(msg, &mut |_, _, _| false)
    }

    /// As `lb_send`, offering the message to `direct` first (see
    /// [`Pattern::send_via`]).
    pub(crate) fn lb_send_via(
        &mut self,
        mut msg: Msg,
        direct: &mut Direct<'_>,
    ) -> Result<PipeId, SendError> {
        match self.lb_send_in(&mut msg, direct) {
            Some(id) => Ok(id),
            None => Err(SendError::WouldBlock(msg)),
        }
    }

    /// As `lb_send_via`, with the message left in `msg` when no pipe has
    /// room (`None`); once sent, what `msg` holds is the caller's to drop.
    #[inline]
    fn lb_send_in<D>(&mut self, msg: &mut Msg, direct: &mut D) -> Option<PipeId>
    where
        D: FnMut(PipeId, &mut Msg, bool) -> bool + ?Sized,
    {
        // One lookup per message: this runs for every one. Pipes at the
        // front that filled up or went are dropped from the rotation on the
        // way.
        while let Some(&id) = self.lb.front() {
            let Some(p) = self.pipes.get_mut(&id) else {
                self.lb.pop_front();
                continue;
            };
            if !room(&self.opts, p) {
                self.lb.pop_front();
                p.in_lb = false;
                continue;
            }
            deliver(&mut self.dirty, direct, id, p, msg);
            if !room(&self.opts, p) {
                self.lb.pop_front();
                p.in_lb = false;
            } else if self.lb.len() > 1 {
                // Round-robin: the next message goes to the next pipe.
                self.lb.pop_front();
                self.lb.push_back(id);
            }
            return Some(id);
        }
        None
    }

    /// Queues a message on a pipe, or hands it to `direct` when nothing is
    /// queued ahead of it.
    pub(crate) fn push_msg(&mut self, id: PipeId, mut msg: Msg, direct: &mut Direct<'_>) {
        if let Some(p) = self.pipes.get_mut(&id) {
            deliver(&mut self.dirty, direct, id, p, &mut msg);
        }
    }

    /// Queues an item on a pipe and marks it dirty. Conflate keeps only the newest
    /// message.
    pub(crate) fn push_out(&mut self, id: PipeId, item: PipeItem) {
        if let Some(p) = self.pipes.get_mut(&id) {
            enqueue(&mut self.dirty, id, p, item);
        }
    }

    /// Whether `pipe` has room for another message (below SNDHWM).
    pub(crate) fn pipe_has_room(&self, id: PipeId) -> bool {
        self.pipes.get(&id).is_some_and(|p| self.has_room(p))
    }

    /// Forgets detached pipes whose received messages are all gone.
    pub(crate) fn reap_closing(&mut self) {
        self.pipes.retain(|_, p| !(p.closing && p.inq.is_empty()));
    }

    /// Fair queue: one message from each pipe with data, in turn.
    pub(crate) fn fq_recv(&mut self) -> Option<Msg> {
        self.fq_recv_from().map(|(_, m)| m)
    }

    /// As `fq_recv`, also naming the pipe.
    pub(crate) fn fq_recv_from(&mut self) -> Option<(PipeId, Msg)> {
        self.fq_take(|_| ()).map(|(id, m, ())| (id, m))
    }

    /// As `fq_recv_from`, also giving the pipe's routing id (still known for a
    /// departed pipe's last messages).
    pub(crate) fn fq_pop(&mut self) -> Option<(PipeId, Msg, Bytes)> {
        self.fq_take(|p| p.routing_id.clone())
    }

    /// The fair-queue step, with `extra` reading what the caller needs of the
    /// pipe before it may be forgotten (cloning the routing id costs PULL and
    /// DEALER for nothing on every message).
    #[inline]
    fn fq_take<T>(&mut self, extra: impl Fn(&Pipe) -> T) -> Option<(PipeId, Msg, T)> {
        while let Some(&id) = self.fq.front() {
            let Some(p) = self.pipes.get_mut(&id) else {
                self.fq.pop_front();
                continue;
            };
            let Some(msg) = p.inq.pop_front() else {
                p.in_fq = false;
                self.fq.pop_front();
                continue;
            };
            let rid = extra(p);
            if p.inq.is_empty() {
                p.in_fq = false;
                self.fq.pop_front();
                if p.closing {
                    self.pipes.remove(&id);
                }
            } else if self.fq.len() > 1 {
                // Its turn is over: to the back of the line.
                self.fq.rotate_left(1);
            }
            return Some((id, msg, rid));
        }
        None
    }

    /// PULL, DEALER, PAIR, SUB and XSUB: after a message from the fair
    /// queue, the messages that the same call would take next while one pipe
    /// alone has any, appended to `more` until `max_msgs` or `max_bytes`
    /// (the message that reaches it still taken), with one lookup of the
    /// pipe. SUB and XSUB drop what their subscriptions do not match on the
    /// way, as their `recv` does. Returns the messages and bytes taken; the
    /// fair queue takes over when a second pipe has messages or this one
    /// runs dry.
    pub(crate) fn fq_run(
        &mut self,
        more: &mut VecDeque<Msg>,
        max_msgs: usize,
        max_bytes: usize,
    ) -> (usize, usize) {
        let subs = match (&self.kind, self.socket_type) {
            (_, SocketType::Pull | SocketType::Dealer | SocketType::Pair) => None,
            (Kind::Sub { subs }, SocketType::Sub | SocketType::XSub) => Some(subs),
            _ => return (0, 0),
        };
        if self.fq.len() != 1 {
            return (0, 0);
        }
        let id = self.fq[0];
        let Some(p) = self.pipes.get_mut(&id) else {
            return (0, 0);
        };
        let invert = self.opts.invert_matching;
        // A subscription to everything keeps every message: no filter to ask.
        let subs = subs.filter(|s| invert || !s.matches_everything());
        // Leave the last one to `fq_take`, which ends the pipe's turn (and
        // forgets a departed pipe) as the queue runs dry.
        if subs.is_none() {
            // Nothing to filter: the run's length from the sizes, then the
            // messages move in one go.
            let most = p.inq.len().saturating_sub(1);
            let (taken, bytes) = p.inq.front_run(most, max_msgs, max_bytes);
            p.inq.move_front(taken, bytes, more);
            return (taken, bytes);
        }
        let (mut taken, mut bytes) = (0, 0);
        while taken < max_msgs && bytes < max_bytes && p.inq.len() > 1 {
            let Some((m, len)) = p.inq.pop_front_sized() else {
                break;
            };
            if subs.is_some_and(|subs| !subs_match(subs, &m, invert)) {
                continue;
            }
            taken += 1;
            bytes += len;
            more.push_back(m);
        }
        (taken, bytes)
    }
}

/// Queues a received message on `pipe`, or hands it back when the pipe is
/// at RCVHWM; a conflating pipe keeps only the newest.
#[inline]
fn offer(opts: &Options, pipe: &mut Pipe, msg: Msg) -> Result<(), Msg> {
    let len = msg.byte_len();
    offer_sized(opts, pipe, msg, len)
}

/// [`offer`] of a message whose [`Msg::byte_len`] the caller has already.
#[inline]
fn offer_sized(opts: &Options, pipe: &mut Pipe, msg: Msg, len: usize) -> Result<(), Msg> {
    if pipe.conflate {
        pipe.inq.clear();
    } else if inq_full(opts, pipe) {
        return Err(msg);
    }
    pipe.inq.push_back_sized(msg, len);
    Ok(())
}

/// Puts a pipe that has received messages in the fair-queue rotation, once.
#[inline]
fn join_fq(fq: &mut VecDeque<PipeId>, id: PipeId, pipe: &mut Pipe) {
    if !pipe.in_fq {
        pipe.in_fq = true;
        fq.push_back(id);
    }
}

/// Whether a pipe's receive queue is at RCVHWM (see [`Pattern::inq_full`]).
#[inline]
fn inq_full(opts: &Options, p: &Pipe) -> bool {
    (opts.rcvhwm != 0 && p.inq.len() >= opts.rcvhwm)
        || opts.rcvhwm_bytes.is_some_and(|max| p.inq.bytes() >= max)
}

/// Whether a pipe is below SNDHWM (in messages and in bytes).
#[inline]
pub(crate) fn room(opts: &Options, p: &Pipe) -> bool {
    !p.closing
        && (p.conflate
            || ((opts.sndhwm == 0 || p.out_msgs < opts.sndhwm)
                && opts.sndhwm_bytes.is_none_or(|max| p.out_bytes < max)))
}

/// Puts a pipe with room back in the round-robin rotation.
#[inline]
fn rejoin_lb(opts: &Options, lb: &mut VecDeque<PipeId>, id: PipeId, p: &mut Pipe) {
    if !p.in_lb && room(opts, p) {
        p.in_lb = true;
        lb.push_back(id);
    }
}

/// Writes a message to a pipe's peer at once, skipping the pipe's queue (see
/// [`Pattern::send_via`]); true when it took the message.
///
/// The flag says whether the message goes to this pipe alone: a taker may
/// then move it out (`std::mem::take`) instead of copying from it. When it
/// is false (a publisher's copy for one of several subscribers) the message
/// must be left as it was; so must it whenever the answer is false.
pub type Direct<'a> = dyn FnMut(PipeId, &mut Msg, bool) -> bool + 'a;

/// The message goes to `direct` when nothing is queued ahead of it on the
/// pipe, else to the queue (taken out of `msg`). What `msg` holds afterwards
/// (nothing, or what `direct` wrote without taking it) is the caller's to
/// drop.
#[inline(always)]
fn deliver<D>(dirty: &mut VecDeque<PipeId>, direct: &mut D, id: PipeId, p: &mut Pipe, msg: &mut Msg)
where
    D: FnMut(PipeId, &mut Msg, bool) -> bool + ?Sized,
{
    if !(p.out.is_empty() && direct(id, msg, true)) {
        enqueue(dirty, id, p, PipeItem::Message(std::mem::take(msg)));
    }
}

/// Queues an item on a pipe and marks it dirty. Conflate keeps only the newest
/// message.
#[inline(always)]
pub(crate) fn enqueue(dirty: &mut VecDeque<PipeId>, id: PipeId, p: &mut Pipe, item: PipeItem) {
    if let PipeItem::Message(m) = &item {
        if p.conflate && p.out_msgs > 0 {
            p.out.retain(|o| !matches!(o, PipeItem::Message(_)));
            p.out_msgs = 0;
            p.out_bytes = 0;
        }
        p.out_msgs += 1;
        p.out_bytes += m.byte_len();
    }
    // Behind items a taker comes back for, the new one needs no mark (an
    // inproc sender ahead of its receiver queues every message here).
    let pulled = p.pulled && !p.out.is_empty();
    p.out.push_back(item);
    if !p.dirty && !pulled {
        p.dirty = true;
        dirty.push_back(id);
    }
}

fn is_conflatable(t: SocketType) -> bool {
    matches!(
        t,
        SocketType::Push
            | SocketType::Pull
            | SocketType::Pub
            | SocketType::Sub
            | SocketType::Dealer
    )
}

/// Prefix match of a message's first frame, possibly inverted.
pub(crate) fn subs_match(subs: &Subscriptions, msg: &Msg, invert: bool) -> bool {
    let topic = msg.first().map_or(&[][..], |f| &f[..]);
    subs.matches(topic) != invert
}

impl Pattern {
    /// Per-type handling of an arriving message: `None` drops it.
    fn filter_incoming(&self, id: PipeId, msg: Msg) -> Option<Msg> {
        match self.socket_type {
            // Sending-only patterns discard what their peers send.
            SocketType::Push | SocketType::Pub => None,
            SocketType::Req => self.req_filter(id, msg),
            _ => Some(msg),
        }
    }

    fn on_detach(&mut self, id: PipeId, pipe: &Pipe) {
        self.router_detach(id, &pipe.routing_id);
        self.pubsub_detach(id, pipe);
    }
}
