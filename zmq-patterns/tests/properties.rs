//! Model-based property tests: random sequences of attach / detach / send / recv
//! / offer (`handle_message`) / poll_outbound over several pipes, checked step by
//! step against a small model of what libzmq's semantics allow.
//!
//! Every message carries a unique tag frame, so a delivered message is matched to
//! the one that was sent or offered and compared whole: a partial or mixed
//! multipart message fails the comparison. Per type the models check:
//!
//! - **PUSH / PULL / DEALER**: every message accepted by `send` comes out of
//!   exactly one pipe (by `poll_outbound`, or returned by `detach`), in order, on
//!   a pipe that had room, and no pipe ever holds more than SNDHWM; `send` blocks
//!   only when no pipe has room. Every message accepted by `handle_message` is
//!   received, in order per pipe, fairly (a pipe with data waits at most one turn
//!   of the other pipes with data); RCVHWM is exact per pipe. **Decision on
//!   detach:** messages already accepted from a pipe stay readable after the pipe
//!   is detached, as in libzmq (the socket's inbound pipe is terminated with
//!   delay and drained up to its delimiter); messages offered after the detach
//!   are discarded. Messages queued towards a detached peer are dropped, and
//!   `detach` returns exactly those.
//! - **ROUTER**: routing by the first frame to the pipe owning that id, dropping
//!   (or EHOSTUNREACH / EAGAIN with ROUTER_MANDATORY) unknown ids and full pipes,
//!   duplicate ids refused or handed over; received messages carry the sender's
//!   id.
//! - **PUB / XPUB**: exact per-subscriber queues (prefix match, INVERT_MATCHING,
//!   drop at the HWM or EAGAIN with XPUB_NODROP), shared frames (zero copy), and
//!   XPUB's notifications (first / last, VERBOSE, VERBOSER, on detach).
//! - **SUB**: upstream subscriptions exact per pipe; received messages match the
//!   current subscriptions; no matching message is lost.
//! - **REQ / REP**: strict (or relaxed) alternation, replies only from the
//!   request's pipe (and with the request's id under REQ_CORRELATE), envelopes
//!   returned to the origin pipe.
//! - **`handle_message_run`** (an inproc batch offered at once): takes and
//!   leaves exactly what `handle_message` one at a time would, for every
//!   receiving type; **`handle_received`** (a read's messages) takes what one
//!   at a time with no RCVHWM would, and reports the HWM reached.
//!
//! The peers never subscribe to a topic they already hold, nor cancel one they do
//! not: libzmq's publisher keeps a set of topics per pipe where this crate keeps
//! counts, and the deterministic suite covers that difference
//! (`xpub_cancel_from_a_sub_that_subscribed_twice_removes_the_topic`).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use bytes::Bytes;
use proptest::prelude::*;
use zmq_patterns::{
    AttachError, Options, Pattern, PeerMeta, PipeAction, PipeId, PipeItem, RecvError, SendError,
};
use zmtp_core::{Msg, SocketType};

const SLOTS: usize = 4;
const MAX_OPS: usize = 128;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------
// shared pieces

fn hwm() -> impl Strategy<Value = usize> {
    prop_oneof![1 => Just(0usize), 4 => 1usize..=4]
}

/// Up to three extra frames of up to three bytes (empty frames included).
fn extra() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..3), 0..3)
}

fn slot() -> impl Strategy<Value = usize> {
    0..SLOTS
}

/// Unique tags: `#1`, `#2`, ...
#[derive(Default)]
struct Tags(u64);

impl Tags {
    fn next(&mut self) -> Bytes {
        self.0 += 1;
        Bytes::from(format!("#{}", self.0))
    }
}

fn build(head: &[Bytes], extra: &[Vec<u8>]) -> Msg {
    let mut msg: Msg = head.iter().cloned().collect();
    for f in extra {
        msg.push(Bytes::copy_from_slice(f));
    }
    msg
}

fn options(f: impl FnOnce(&mut Options)) -> Options {
    let mut o = Options::default();
    f(&mut o);
    o
}

fn anon(t: SocketType) -> PeerMeta {
    PeerMeta::new(Some(t), Bytes::new())
}

fn drain_dirty(s: &mut Pattern) -> Vec<PipeId> {
    let mut v: Vec<PipeId> = std::iter::from_fn(|| s.poll_dirty()).collect();
    v.sort();
    v.dedup();
    v
}

/// Slots hold the pipe currently attached there, and the last one detached
/// (offers to it must be discarded). Pipe ids are never reused.
struct Slots {
    cur: [Option<PipeId>; SLOTS],
    stale: [Option<PipeId>; SLOTS],
    next: u64,
}

impl Slots {
    fn new() -> Self {
        Self {
            cur: [None; SLOTS],
            stale: [None; SLOTS],
            next: 0,
        }
    }

    fn fresh(&mut self) -> PipeId {
        self.next += 1;
        PipeId(self.next)
    }

    fn attached(&self) -> impl Iterator<Item = PipeId> + '_ {
        self.cur.iter().flatten().copied()
    }

    fn vacate(&mut self, id: PipeId) {
        for s in 0..SLOTS {
            if self.cur[s] == Some(id) {
                self.cur[s] = None;
                self.stale[s] = Some(id);
            }
        }
    }
}

fn room(hwm: usize, queued: usize) -> bool {
    hwm == 0 || queued < hwm
}

/// Fair-queue bookkeeping: a pipe with data waits at most one turn of the pipes
/// that had data when it (re)joined the queue.
#[derive(Default)]
struct Fairness {
    /// pipe -> (recvs served to others since it joined, bound)
    waiting: HashMap<PipeId, (usize, usize)>,
}

impl Fairness {
    fn joined(&mut self, id: PipeId, with_data: usize) {
        self.waiting.insert(id, (0, with_data));
    }

    fn served(
        &mut self,
        id: PipeId,
        still_has_data: bool,
        with_data: usize,
    ) -> Result<(), TestCaseError> {
        self.waiting.remove(&id);
        for (other, (waited, bound)) in self.waiting.iter_mut() {
            *waited += 1;
            prop_assert!(
                *waited < *bound,
                "pipe {:?} waited {} turns with {} pipes holding data",
                other,
                waited,
                bound
            );
        }
        if still_has_data {
            self.joined(id, with_data);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// PUSH, PULL, DEALER: load balancing out, fair queueing in

#[derive(Debug, Clone)]
enum LbOp {
    Attach(usize),
    Detach(usize),
    Send(Vec<Vec<u8>>),
    /// Offer a message from a peer; `true` = to the slot's last detached pipe.
    Offer(usize, bool, Vec<Vec<u8>>),
    Recv,
    Poll(usize),
    Drain(usize),
}

fn lb_op() -> impl Strategy<Value = LbOp> {
    prop_oneof![
        2 => slot().prop_map(LbOp::Attach),
        1 => slot().prop_map(LbOp::Detach),
        4 => extra().prop_map(LbOp::Send),
        4 => (slot(), prop::bool::weighted(0.1), extra())
            .prop_map(|(s, stale, e)| LbOp::Offer(s, stale, e)),
        3 => Just(LbOp::Recv),
        3 => slot().prop_map(LbOp::Poll),
        1 => slot().prop_map(LbOp::Drain),
    ]
}

#[derive(Default)]
struct PipeModel {
    attached: bool,
    out: VecDeque<Msg>,
    inq: VecDeque<Msg>,
}

fn run_lb(
    t: SocketType,
    peer: SocketType,
    sndhwm: usize,
    rcvhwm: usize,
    ops: Vec<LbOp>,
) -> Result<(), TestCaseError> {
    let sends = matches!(t, SocketType::Push | SocketType::Dealer);
    let recvs = matches!(t, SocketType::Pull | SocketType::Dealer);
    let o = options(|o| {
        o.sndhwm = sndhwm;
        o.rcvhwm = rcvhwm;
    });
    let mut sock = Pattern::with_options(t, o);
    let mut slots = Slots::new();
    let mut pipes: HashMap<PipeId, PipeModel> = HashMap::new();
    let mut tags = Tags::default();
    let mut fair = Fairness::default();

    for op in ops {
        match op {
            LbOp::Attach(s) => {
                if slots.cur[s].is_none() {
                    let id = slots.fresh();
                    prop_assert_eq!(sock.attach(id, anon(peer)), Ok(()));
                    slots.cur[s] = Some(id);
                    pipes.insert(
                        id,
                        PipeModel {
                            attached: true,
                            ..PipeModel::default()
                        },
                    );
                }
            }
            LbOp::Detach(s) => {
                if let Some(id) = slots.cur[s] {
                    slots.vacate(id);
                    let back = sock.detach(id);
                    let pm = pipes.get_mut(&id).unwrap();
                    prop_assert_eq!(back, pm.out.drain(..).collect::<Vec<_>>());
                    pm.attached = false;
                    prop_assert!(!sock.is_attached(id));
                    if pm.inq.is_empty() {
                        pipes.remove(&id);
                    }
                }
            }
            LbOp::Send(e) => {
                let msg = build(&[tags.next()], &e);
                let with_room: Vec<PipeId> = slots
                    .attached()
                    .filter(|id| room(sndhwm, pipes[id].out.len()))
                    .collect();
                let r = sock.send(msg.clone());
                let dirty = drain_dirty(&mut sock);
                if !sends {
                    prop_assert_eq!(r, Err(SendError::NotSupported(msg)));
                } else if with_room.is_empty() {
                    prop_assert_eq!(r, Err(SendError::WouldBlock(msg)));
                    prop_assert!(dirty.is_empty());
                } else {
                    prop_assert_eq!(r, Ok(()));
                    prop_assert_eq!(dirty.len(), 1, "one pipe takes the message");
                    let id = dirty[0];
                    prop_assert!(with_room.contains(&id), "sent to a full pipe");
                    let pm = pipes.get_mut(&id).unwrap();
                    pm.out.push_back(msg);
                    if sndhwm > 0 {
                        prop_assert!(pm.out.len() <= sndhwm);
                    }
                }
            }
            LbOp::Offer(s, stale, e) => {
                let target = if stale { slots.stale[s] } else { slots.cur[s] };
                let Some(id) = target else { continue };
                let msg = build(&[tags.next()], &e);
                let r = sock.handle_message(id, msg.clone());
                let attached = pipes.get(&id).is_some_and(|p| p.attached);
                if !attached || !recvs {
                    // Discarded: a PUSH ignores its peers' data; a detached
                    // pipe takes nothing more.
                    prop_assert_eq!(r, Ok(()));
                    continue;
                }
                let with_data = pipes.values().filter(|p| !p.inq.is_empty()).count();
                let pm = pipes.get_mut(&id).unwrap();
                if room(rcvhwm, pm.inq.len()) {
                    prop_assert_eq!(r, Ok(()));
                    if pm.inq.is_empty() {
                        fair.joined(id, with_data + 1);
                    }
                    pm.inq.push_back(msg);
                } else {
                    prop_assert_eq!(r, Err(msg), "back-pressure hands the message back");
                }
                let pm = &pipes[&id];
                if rcvhwm > 0 {
                    prop_assert!(pm.inq.len() <= rcvhwm);
                }
                prop_assert_eq!(sock.can_accept(id), room(rcvhwm, pm.inq.len()));
            }
            LbOp::Recv => {
                let r = sock.recv();
                if !recvs {
                    prop_assert_eq!(r, Err(RecvError::NotSupported));
                    continue;
                }
                match r {
                    Err(RecvError::WouldBlock) => {
                        prop_assert!(
                            pipes.values().all(|p| p.inq.is_empty()),
                            "a queued message was not delivered"
                        );
                    }
                    Ok(msg) => {
                        let from = pipes
                            .iter()
                            .find(|(_, p)| p.inq.front() == Some(&msg))
                            .map(|(id, _)| *id);
                        prop_assert!(
                            from.is_some(),
                            "delivered {:?}, which is not the oldest message of any pipe",
                            msg
                        );
                        let id = from.unwrap();
                        let pm = pipes.get_mut(&id).unwrap();
                        pm.inq.pop_front();
                        let still = !pm.inq.is_empty();
                        if !still && !pm.attached {
                            pipes.remove(&id);
                        }
                        let with_data = pipes.values().filter(|p| !p.inq.is_empty()).count();
                        fair.served(id, still, with_data)?;
                    }
                    Err(e) => prop_assert!(false, "recv: {:?}", e),
                }
            }
            LbOp::Poll(s) => {
                if let Some(id) = slots.cur[s] {
                    let expected = pipes
                        .get_mut(&id)
                        .unwrap()
                        .out
                        .pop_front()
                        .map(PipeItem::Message);
                    prop_assert_eq!(sock.poll_outbound(id), expected);
                }
            }
            LbOp::Drain(s) => {
                if let Some(id) = slots.cur[s] {
                    let got: Vec<PipeItem> =
                        std::iter::from_fn(|| sock.poll_outbound(id)).collect();
                    let expected: Vec<PipeItem> = pipes
                        .get_mut(&id)
                        .unwrap()
                        .out
                        .drain(..)
                        .map(PipeItem::Message)
                        .collect();
                    prop_assert!(sndhwm == 0 || got.len() <= sndhwm);
                    prop_assert_eq!(got, expected);
                }
            }
        }
        // Readiness agrees with the model.
        if recvs {
            prop_assert_eq!(sock.can_recv(), pipes.values().any(|p| !p.inq.is_empty()));
        }
        if sends {
            let any_room = slots
                .attached()
                .any(|id| room(sndhwm, pipes[&id].out.len()));
            prop_assert_eq!(sock.can_send(), any_room);
        }
        prop_assert_eq!(sock.pipe_count(), slots.attached().count());
    }

    // Nothing is lost: what is still queued out comes back from detach, and
    // everything accepted in is received (detached pipes included).
    for s in 0..SLOTS {
        if let Some(id) = slots.cur[s] {
            slots.vacate(id);
            let back = sock.detach(id);
            let pm = pipes.get_mut(&id).unwrap();
            prop_assert_eq!(back, pm.out.drain(..).collect::<Vec<_>>());
            pm.attached = false;
        }
    }
    if recvs {
        let mut left: usize = pipes.values().map(|p| p.inq.len()).sum();
        while left > 0 {
            let msg = sock.recv();
            prop_assert!(msg.is_ok(), "lost {} received messages", left);
            let msg = msg.unwrap();
            let pm = pipes.values_mut().find(|p| p.inq.front() == Some(&msg));
            prop_assert!(pm.is_some(), "unexpected {:?}", msg);
            pm.unwrap().inq.pop_front();
            left -= 1;
        }
        prop_assert_eq!(sock.recv(), Err(RecvError::WouldBlock));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// ROUTER

#[derive(Debug, Clone)]
enum RouterOp {
    /// Attach with a peer identity `ID0`..`ID2`, or anonymous.
    Attach(usize, Option<u8>),
    Detach(usize),
    /// Send to the id of the pipe in a slot, or (slot empty / SLOTS) an unknown id.
    Send(usize, Vec<Vec<u8>>),
    Offer(usize, bool, Vec<Vec<u8>>),
    Recv,
    Poll(usize),
}

fn router_op() -> impl Strategy<Value = RouterOp> {
    prop_oneof![
        2 => (slot(), prop::option::of(0u8..3)).prop_map(|(s, i)| RouterOp::Attach(s, i)),
        1 => slot().prop_map(RouterOp::Detach),
        4 => (0..=SLOTS, extra()).prop_map(|(s, e)| RouterOp::Send(s, e)),
        4 => (slot(), prop::bool::weighted(0.1), extra())
            .prop_map(|(s, stale, e)| RouterOp::Offer(s, stale, e)),
        3 => Just(RouterOp::Recv),
        3 => slot().prop_map(RouterOp::Poll),
    ]
}

#[derive(Default)]
struct RouterPipe {
    attached: bool,
    rid: Bytes,
    /// Lost its id to a newer peer (ROUTER_HANDOVER).
    handed_over: bool,
    out: VecDeque<Msg>,
    inq: VecDeque<Msg>,
}

fn run_router(
    sndhwm: usize,
    rcvhwm: usize,
    mandatory: bool,
    handover: bool,
    ops: Vec<RouterOp>,
) -> Result<(), TestCaseError> {
    let o = options(|o| {
        o.sndhwm = sndhwm;
        o.rcvhwm = rcvhwm;
        o.router_mandatory = mandatory;
        o.router_handover = handover;
    });
    let mut sock = Pattern::with_options(SocketType::Router, o);
    let mut slots = Slots::new();
    let mut pipes: HashMap<PipeId, RouterPipe> = HashMap::new();
    let mut owner: HashMap<Bytes, PipeId> = HashMap::new();
    let mut tags = Tags::default();

    for op in ops {
        match op {
            RouterOp::Attach(s, ident) => {
                if slots.cur[s].is_some() {
                    continue;
                }
                let id = slots.fresh();
                let name = ident.map(|i| Bytes::from(format!("ID{i}")));
                let meta =
                    PeerMeta::new(Some(SocketType::Dealer), name.clone().unwrap_or_default());
                let r = sock.attach(id, meta);
                let previous = name.as_ref().and_then(|n| owner.get(n).copied());
                if previous.is_some() && !handover {
                    prop_assert_eq!(r, Err(AttachError::DuplicateRoutingId));
                    prop_assert!(!sock.is_attached(id));
                    continue;
                }
                prop_assert_eq!(r, Ok(()));
                let rid = sock.routing_id(id).cloned().unwrap_or_default();
                match &name {
                    Some(n) => prop_assert_eq!(&rid, n),
                    None => {
                        prop_assert_eq!(rid.len(), 5);
                        prop_assert_eq!(rid[0], 0);
                        prop_assert!(!owner.contains_key(&rid), "generated id in use");
                    }
                }
                if let Some(old) = previous {
                    // Handover: the owner closes the old pipe at once.
                    prop_assert_eq!(sock.poll_action(), Some(PipeAction::Terminate(old)));
                    slots.vacate(old);
                    let back = sock.detach(old);
                    let pm = pipes.get_mut(&old).unwrap();
                    prop_assert_eq!(back, pm.out.drain(..).collect::<Vec<_>>());
                    pm.attached = false;
                    pm.handed_over = true;
                    if pm.inq.is_empty() {
                        pipes.remove(&old);
                    }
                }
                prop_assert_eq!(sock.poll_action(), None);
                owner.insert(rid.clone(), id);
                slots.cur[s] = Some(id);
                pipes.insert(
                    id,
                    RouterPipe {
                        attached: true,
                        rid,
                        ..RouterPipe::default()
                    },
                );
            }
            RouterOp::Detach(s) => {
                if let Some(id) = slots.cur[s] {
                    slots.vacate(id);
                    let back = sock.detach(id);
                    let pm = pipes.get_mut(&id).unwrap();
                    prop_assert_eq!(back, pm.out.drain(..).collect::<Vec<_>>());
                    pm.attached = false;
                    if owner.get(&pm.rid) == Some(&id) {
                        owner.remove(&pm.rid);
                    }
                    if pm.inq.is_empty() {
                        pipes.remove(&id);
                    }
                }
            }
            RouterOp::Send(s, e) => {
                let rid = slots.cur.get(s).copied().flatten().map_or_else(
                    || Bytes::from_static(b"nobody"),
                    |id| pipes[&id].rid.clone(),
                );
                let tag = tags.next();
                let msg = build(&[rid.clone(), tag.clone()], &e);
                let body = build(&[tag], &e);
                let r = sock.send(msg.clone());
                let dirty = drain_dirty(&mut sock);
                match owner.get(&rid).copied() {
                    Some(id) if room(sndhwm, pipes[&id].out.len()) => {
                        prop_assert_eq!(r, Ok(()));
                        prop_assert_eq!(dirty, vec![id]);
                        pipes.get_mut(&id).unwrap().out.push_back(body);
                    }
                    Some(_) => {
                        if mandatory {
                            prop_assert_eq!(r, Err(SendError::WouldBlock(msg)));
                        } else {
                            prop_assert_eq!(r, Ok(()));
                        }
                        prop_assert!(dirty.is_empty());
                    }
                    None => {
                        if mandatory {
                            prop_assert_eq!(r, Err(SendError::HostUnreachable(msg)));
                        } else {
                            prop_assert_eq!(r, Ok(()));
                        }
                        prop_assert!(dirty.is_empty());
                    }
                }
            }
            RouterOp::Offer(s, stale, e) => {
                let target = if stale { slots.stale[s] } else { slots.cur[s] };
                let Some(id) = target else { continue };
                let msg = build(&[tags.next()], &e);
                let r = sock.handle_message(id, msg.clone());
                match pipes.get_mut(&id) {
                    Some(pm) if pm.attached => {
                        if room(rcvhwm, pm.inq.len()) {
                            prop_assert_eq!(r, Ok(()));
                            pm.inq.push_back(msg);
                        } else {
                            prop_assert_eq!(r, Err(msg));
                        }
                    }
                    _ => prop_assert_eq!(r, Ok(())),
                }
            }
            RouterOp::Recv => match sock.recv() {
                Err(RecvError::WouldBlock) => {
                    prop_assert!(pipes.values().all(|p| p.inq.is_empty()), "lost a message");
                }
                Ok(mut msg) => {
                    let rid = msg.pop_front().unwrap();
                    let from = pipes
                        .iter()
                        .find(|(_, p)| p.inq.front() == Some(&msg))
                        .map(|(id, _)| *id);
                    prop_assert!(from.is_some(), "unexpected {:?}", msg);
                    let id = from.unwrap();
                    let pm = pipes.get_mut(&id).unwrap();
                    if !pm.handed_over {
                        prop_assert_eq!(&rid, &pm.rid, "wrong routing id");
                    }
                    pm.inq.pop_front();
                    if pm.inq.is_empty() && !pm.attached {
                        pipes.remove(&id);
                    }
                }
                Err(e) => prop_assert!(false, "recv: {:?}", e),
            },
            RouterOp::Poll(s) => {
                if let Some(id) = slots.cur[s] {
                    let expected = pipes
                        .get_mut(&id)
                        .unwrap()
                        .out
                        .pop_front()
                        .map(PipeItem::Message);
                    prop_assert_eq!(sock.poll_outbound(id), expected);
                }
            }
        }
        for id in slots.attached() {
            prop_assert!(sndhwm == 0 || pipes[&id].out.len() <= sndhwm);
            prop_assert!(rcvhwm == 0 || pipes[&id].inq.len() <= rcvhwm);
        }
        let any_room = slots
            .attached()
            .any(|id| room(sndhwm, pipes[&id].out.len()));
        prop_assert_eq!(sock.can_send(), !mandatory || any_room);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// PUB / XPUB

const TOPICS: [&[u8]; 4] = [b"", b"A", b"AB", b"B"];
const FIRSTS: [&[u8]; 6] = [b"", b"A", b"AB", b"ABC", b"B", b"C"];

#[derive(Debug, Clone)]
enum PubOp {
    Attach(usize),
    Detach(usize),
    Subscribe(usize, usize),
    Cancel(usize, usize),
    Send(usize, Vec<Vec<u8>>),
    Poll(usize),
    Drain(usize),
}

fn pub_op() -> impl Strategy<Value = PubOp> {
    prop_oneof![
        2 => slot().prop_map(PubOp::Attach),
        1 => slot().prop_map(PubOp::Detach),
        3 => (slot(), 0..TOPICS.len()).prop_map(|(s, t)| PubOp::Subscribe(s, t)),
        2 => (slot(), 0..TOPICS.len()).prop_map(|(s, t)| PubOp::Cancel(s, t)),
        5 => (0..FIRSTS.len(), extra()).prop_map(|(f, e)| PubOp::Send(f, e)),
        3 => slot().prop_map(PubOp::Poll),
        1 => slot().prop_map(PubOp::Drain),
    ]
}

#[derive(Clone, Copy, Debug)]
struct PubCfg {
    xpub: bool,
    sndhwm: usize,
    invert: bool,
    nodrop: bool,
    verbose: bool,
    verboser: bool,
}

fn pub_cfg() -> impl Strategy<Value = PubCfg> {
    (
        any::<bool>(),
        hwm(),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.3),
        any::<bool>(),
        prop::bool::weighted(0.3),
    )
        .prop_map(|(xpub, sndhwm, invert, nodrop, verbose, verboser)| PubCfg {
            xpub,
            sndhwm,
            invert,
            nodrop,
            verbose,
            verboser,
        })
}

#[derive(Default)]
struct PubPipe {
    subs: BTreeSet<Bytes>,
    out: VecDeque<Msg>,
}

fn note(kind: u8, t: &[u8]) -> Msg {
    let mut v = vec![kind];
    v.extend_from_slice(t);
    Msg::single(v)
}

/// Frames share their bytes with the message that was sent.
fn same_bytes(a: &Msg, b: &Msg) -> bool {
    a.len() == b.len()
        && a.frames()
            .iter()
            .zip(b.frames())
            .all(|(x, y)| x.is_empty() || x.as_ptr() == y.as_ptr())
}

fn run_pub(cfg: PubCfg, ops: Vec<PubOp>) -> Result<(), TestCaseError> {
    let o = options(|o| {
        o.sndhwm = cfg.sndhwm;
        o.invert_matching = cfg.invert;
        o.xpub_nodrop = cfg.nodrop;
        o.xpub_verbose = cfg.verbose;
        o.xpub_verboser = cfg.verboser;
    });
    let t = if cfg.xpub {
        SocketType::XPub
    } else {
        SocketType::Pub
    };
    let mut sock = Pattern::with_options(t, o);
    let mut slots = Slots::new();
    let mut pipes: HashMap<PipeId, PubPipe> = HashMap::new();
    let mut holders: HashMap<Bytes, usize> = HashMap::new();
    let mut notes: VecDeque<Msg> = VecDeque::new();
    let mut tags = Tags::default();
    let verbose_subs = cfg.verbose || cfg.verboser;

    for op in ops {
        match op {
            PubOp::Attach(s) => {
                if slots.cur[s].is_none() {
                    let id = slots.fresh();
                    prop_assert_eq!(sock.attach(id, anon(SocketType::Sub)), Ok(()));
                    slots.cur[s] = Some(id);
                    pipes.insert(id, PubPipe::default());
                }
            }
            PubOp::Detach(s) => {
                if let Some(id) = slots.cur[s] {
                    slots.vacate(id);
                    let back = sock.detach(id);
                    let pm = pipes.remove(&id).unwrap();
                    prop_assert_eq!(back, pm.out.into_iter().collect::<Vec<_>>());
                    for topic in pm.subs {
                        let n = holders.get_mut(&topic).unwrap();
                        *n -= 1;
                        let last = *n == 0;
                        if last {
                            holders.remove(&topic);
                        }
                        if last || cfg.verboser {
                            notes.push_back(note(0, &topic));
                        }
                    }
                }
            }
            PubOp::Subscribe(s, ti) => {
                let Some(id) = slots.cur[s] else { continue };
                let topic = Bytes::from_static(TOPICS[ti]);
                if !pipes.get_mut(&id).unwrap().subs.insert(topic.clone()) {
                    continue; // see the module docs
                }
                sock.handle_subscribe(id, topic.clone());
                let n = holders.entry(topic.clone()).or_insert(0);
                *n += 1;
                if *n == 1 || verbose_subs {
                    notes.push_back(note(1, &topic));
                }
            }
            PubOp::Cancel(s, ti) => {
                let Some(id) = slots.cur[s] else { continue };
                let topic = Bytes::from_static(TOPICS[ti]);
                if !pipes.get_mut(&id).unwrap().subs.remove(&topic) {
                    continue; // see the module docs
                }
                sock.handle_cancel(id, topic.clone());
                let n = holders.get_mut(&topic).unwrap();
                *n -= 1;
                let last = *n == 0;
                if last {
                    holders.remove(&topic);
                }
                if last || cfg.verboser {
                    notes.push_back(note(0, &topic));
                }
            }
            PubOp::Send(fi, e) => {
                let first = Bytes::copy_from_slice(FIRSTS[fi]);
                let msg = build(&[first.clone(), tags.next()], &e);
                let matching: Vec<PipeId> = slots
                    .attached()
                    .filter(|id| pipes[id].subs.iter().any(|t| first.starts_with(t)) != cfg.invert)
                    .collect();
                let blocked = cfg.nodrop
                    && matching
                        .iter()
                        .any(|id| !room(cfg.sndhwm, pipes[id].out.len()));
                let r = sock.send(msg.clone());
                let dirty = drain_dirty(&mut sock);
                if blocked {
                    prop_assert_eq!(r, Err(SendError::WouldBlock(msg)));
                    prop_assert!(dirty.is_empty());
                    continue;
                }
                prop_assert_eq!(r, Ok(()));
                let mut got: Vec<PipeId> = Vec::new();
                for id in matching {
                    let pm = pipes.get_mut(&id).unwrap();
                    if room(cfg.sndhwm, pm.out.len()) {
                        pm.out.push_back(msg.clone());
                        got.push(id);
                    }
                }
                got.sort();
                prop_assert_eq!(dirty, got);
            }
            PubOp::Poll(s) => {
                if let Some(id) = slots.cur[s] {
                    let expected = pipes.get_mut(&id).unwrap().out.pop_front();
                    let got = sock.poll_outbound(id);
                    match (&got, &expected) {
                        (Some(PipeItem::Message(g)), Some(e)) => {
                            prop_assert_eq!(g, e);
                            prop_assert!(same_bytes(g, e), "frames were copied");
                        }
                        (None, None) => {}
                        _ => prop_assert!(false, "got {:?}, expected {:?}", got, expected),
                    }
                }
            }
            PubOp::Drain(s) => {
                if let Some(id) = slots.cur[s] {
                    let got: Vec<PipeItem> =
                        std::iter::from_fn(|| sock.poll_outbound(id)).collect();
                    let expected: Vec<PipeItem> = pipes
                        .get_mut(&id)
                        .unwrap()
                        .out
                        .drain(..)
                        .map(PipeItem::Message)
                        .collect();
                    prop_assert_eq!(got, expected);
                }
            }
        }
        for id in slots.attached() {
            prop_assert!(cfg.sndhwm == 0 || pipes[&id].out.len() <= cfg.sndhwm);
        }
        if !cfg.xpub {
            notes.clear();
        }
        if cfg.xpub {
            let got: Vec<Msg> = std::iter::from_fn(|| sock.recv().ok()).collect();
            prop_assert_eq!(got, notes.drain(..).collect::<Vec<_>>());
        } else {
            prop_assert_eq!(sock.recv(), Err(RecvError::NotSupported));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// SUB

#[derive(Debug, Clone)]
enum SubOp {
    Attach(usize),
    Detach(usize),
    Subscribe(usize),
    Unsubscribe(usize),
    Offer(usize, bool, usize, Vec<Vec<u8>>),
    Recv,
    Upstream(usize),
}

fn sub_op() -> impl Strategy<Value = SubOp> {
    prop_oneof![
        2 => slot().prop_map(SubOp::Attach),
        1 => slot().prop_map(SubOp::Detach),
        2 => (0..TOPICS.len()).prop_map(SubOp::Subscribe),
        2 => (0..TOPICS.len()).prop_map(SubOp::Unsubscribe),
        5 => (slot(), prop::bool::weighted(0.1), 0..FIRSTS.len(), extra())
            .prop_map(|(s, stale, f, e)| SubOp::Offer(s, stale, f, e)),
        4 => Just(SubOp::Recv),
        2 => slot().prop_map(SubOp::Upstream),
    ]
}

#[derive(Default)]
struct SubPipe {
    attached: bool,
    up: VecDeque<PipeItem>,
    /// Offered messages; the flag marks those a receive may have discarded
    /// (they did not match at some receive while queued).
    inq: VecDeque<(Msg, bool)>,
}

fn run_sub(rcvhwm: usize, invert: bool, ops: Vec<SubOp>) -> Result<(), TestCaseError> {
    let o = options(|o| {
        o.rcvhwm = rcvhwm;
        o.invert_matching = invert;
    });
    let mut sock = Pattern::with_options(SocketType::Sub, o);
    let mut slots = Slots::new();
    let mut pipes: HashMap<PipeId, SubPipe> = HashMap::new();
    let mut subs: BTreeMap<Bytes, u32> = BTreeMap::new();
    let mut tags = Tags::default();
    let matches = |subs: &BTreeMap<Bytes, u32>, msg: &Msg| {
        let first = msg.first().cloned().unwrap_or_default();
        subs.keys().any(|t| first.starts_with(t)) != invert
    };

    for op in ops {
        match op {
            SubOp::Attach(s) => {
                if slots.cur[s].is_none() {
                    let id = slots.fresh();
                    prop_assert_eq!(sock.attach(id, anon(SocketType::Pub)), Ok(()));
                    slots.cur[s] = Some(id);
                    let up = subs.keys().cloned().map(PipeItem::Subscribe).collect();
                    pipes.insert(
                        id,
                        SubPipe {
                            attached: true,
                            up,
                            ..SubPipe::default()
                        },
                    );
                }
            }
            SubOp::Detach(s) => {
                if let Some(id) = slots.cur[s] {
                    slots.vacate(id);
                    prop_assert!(sock.detach(id).is_empty());
                    let pm = pipes.get_mut(&id).unwrap();
                    pm.attached = false;
                    pm.up.clear();
                    if pm.inq.is_empty() {
                        pipes.remove(&id);
                    }
                }
            }
            SubOp::Subscribe(ti) => {
                let topic = Bytes::from_static(TOPICS[ti]);
                sock.subscribe(&topic);
                *subs.entry(topic.clone()).or_insert(0) += 1;
                for pm in pipes.values_mut().filter(|p| p.attached) {
                    pm.up.push_back(PipeItem::Subscribe(topic.clone()));
                }
            }
            SubOp::Unsubscribe(ti) => {
                let topic = Bytes::from_static(TOPICS[ti]);
                sock.unsubscribe(&topic);
                if let Some(n) = subs.get_mut(&topic) {
                    *n -= 1;
                    if *n == 0 {
                        subs.remove(&topic);
                        for pm in pipes.values_mut().filter(|p| p.attached) {
                            pm.up.push_back(PipeItem::Cancel(topic.clone()));
                        }
                    }
                }
            }
            SubOp::Offer(s, stale, fi, e) => {
                let target = if stale { slots.stale[s] } else { slots.cur[s] };
                let Some(id) = target else { continue };
                let msg = build(&[Bytes::from_static(FIRSTS[fi]), tags.next()], &e);
                let r = sock.handle_message(id, msg.clone());
                match pipes.get_mut(&id) {
                    Some(pm) if pm.attached => match r {
                        Ok(()) => pm.inq.push_back((msg, false)),
                        Err(back) => {
                            prop_assert_eq!(&back, &msg);
                            // The model may over-count (discarded messages), never
                            // under-count: refusing below RCVHWM is a bug.
                            prop_assert!(rcvhwm > 0 && pm.inq.len() >= rcvhwm);
                        }
                    },
                    _ => prop_assert_eq!(r, Ok(())),
                }
            }
            SubOp::Recv => {
                for pm in pipes.values_mut() {
                    for (msg, flagged) in pm.inq.iter_mut() {
                        if !matches(&subs, msg) {
                            *flagged = true;
                        }
                    }
                }
                match sock.recv() {
                    Ok(msg) => {
                        prop_assert!(matches(&subs, &msg), "delivered a filtered message");
                        let tag = msg.frames()[1].clone();
                        let found = pipes.iter_mut().find_map(|(id, p)| {
                            p.inq
                                .iter()
                                .position(|(m, _)| m.frames()[1] == tag)
                                .map(|pos| (*id, pos))
                        });
                        prop_assert!(found.is_some(), "unexpected {:?}", msg);
                        let (id, pos) = found.unwrap();
                        let pm = pipes.get_mut(&id).unwrap();
                        prop_assert_eq!(&pm.inq[pos].0, &msg);
                        prop_assert!(
                            pm.inq.iter().take(pos).all(|(_, f)| *f),
                            "skipped a matching message of the same pipe"
                        );
                        pm.inq.drain(..=pos);
                        if pm.inq.is_empty() && !pm.attached {
                            pipes.remove(&id);
                        }
                    }
                    Err(RecvError::WouldBlock) => {
                        for pm in pipes.values() {
                            prop_assert!(
                                pm.inq.iter().all(|(_, f)| *f),
                                "a matching message was lost"
                            );
                        }
                        // Everything queued was read and discarded.
                        pipes.retain(|_, p| p.attached);
                        for pm in pipes.values_mut() {
                            pm.inq.clear();
                        }
                    }
                    Err(e) => prop_assert!(false, "recv: {:?}", e),
                }
            }
            SubOp::Upstream(s) => {
                if let Some(id) = slots.cur[s] {
                    let got: Vec<PipeItem> =
                        std::iter::from_fn(|| sock.poll_outbound(id)).collect();
                    let expected: Vec<PipeItem> =
                        pipes.get_mut(&id).unwrap().up.drain(..).collect();
                    prop_assert_eq!(got, expected);
                }
            }
        }
        // can_recv drops queued messages that do not match now (libzmq's
        // xhas_in does the same), so those may be gone afterwards.
        for pm in pipes.values_mut() {
            for (msg, flagged) in pm.inq.iter_mut() {
                if !matches(&subs, msg) {
                    *flagged = true;
                }
            }
        }
        let sure = pipes
            .values()
            .any(|p| p.inq.iter().any(|(m, f)| !*f && matches(&subs, m)));
        let maybe = pipes
            .values()
            .any(|p| p.inq.iter().any(|(m, _)| matches(&subs, m)));
        let can = sock.can_recv();
        prop_assert!(
            !sure || can,
            "a matching message is queued but can_recv is false"
        );
        prop_assert!(!can || maybe, "can_recv with nothing matching");
        prop_assert!(!sock.can_send());
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// REQ

#[derive(Debug, Clone, Copy)]
enum ReplyKind {
    /// Echo the envelope of the newest request the peer has seen.
    Latest,
    /// Echo the envelope of the oldest request the peer has seen.
    Oldest,
    /// No delimiter.
    NoDelimiter,
    /// Envelope only, no body.
    EmptyBody,
    /// A first frame that is neither the delimiter nor the request id.
    Garbage,
}

#[derive(Debug, Clone)]
enum ReqOp {
    Attach(usize, bool),
    Detach(usize),
    Send(Vec<Vec<u8>>),
    /// The peer in a slot takes its requests and sends a reply.
    Reply(usize, ReplyKind, Vec<Vec<u8>>),
    Recv,
}

fn req_op() -> impl Strategy<Value = ReqOp> {
    let kind = prop_oneof![
        4 => Just(ReplyKind::Latest),
        1 => Just(ReplyKind::Oldest),
        1 => Just(ReplyKind::NoDelimiter),
        1 => Just(ReplyKind::EmptyBody),
        1 => Just(ReplyKind::Garbage),
    ];
    prop_oneof![
        2 => (slot(), any::<bool>()).prop_map(|(s, router)| ReqOp::Attach(s, router)),
        1 => slot().prop_map(ReqOp::Detach),
        3 => extra().prop_map(ReqOp::Send),
        4 => (slot(), kind, extra()).prop_map(|(s, k, e)| ReqOp::Reply(s, k, e)),
        3 => Just(ReqOp::Recv),
    ]
}

#[derive(Default)]
struct ReqPipe {
    /// Bodies of the requests queued towards the peer, with their tags.
    out: VecDeque<(Bytes, Msg)>,
    /// Requests the peer took: (tag, envelope).
    seen: Vec<(Bytes, Vec<Bytes>)>,
}

/// Checks a request's framing: `[id (CORRELATE)] "" body...`; returns the
/// envelope.
fn split_request(msg: &Msg, body: &Msg, correlate: bool) -> Result<Vec<Bytes>, TestCaseError> {
    let n = usize::from(correlate);
    prop_assert_eq!(msg.len(), body.len() + n + 1, "request framing {:?}", msg);
    if correlate {
        prop_assert_eq!(msg.frames()[0].len(), 4);
    }
    prop_assert!(msg.frames()[n].is_empty(), "no delimiter in {:?}", msg);
    prop_assert_eq!(&msg.frames()[n + 1..], body.frames());
    Ok(msg.frames()[..=n].to_vec())
}

fn run_req(
    relaxed: bool,
    correlate: bool,
    sndhwm: usize,
    ops: Vec<ReqOp>,
) -> Result<(), TestCaseError> {
    let o = options(|o| {
        o.req_relaxed = relaxed;
        o.req_correlate = correlate;
        o.sndhwm = sndhwm;
    });
    let mut sock = Pattern::with_options(SocketType::Req, o);
    let mut slots = Slots::new();
    let mut pipes: HashMap<PipeId, ReqPipe> = HashMap::new();
    let mut tags = Tags::default();
    let mut expecting = false;
    // The pipe and tag of the current request.
    let mut current: Option<(PipeId, Bytes)> = None;
    let mut replies: VecDeque<Msg> = VecDeque::new();
    let mut last_id: Option<u32> = None;

    for op in ops {
        match op {
            ReqOp::Attach(s, router) => {
                if slots.cur[s].is_none() {
                    let id = slots.fresh();
                    let t = if router {
                        SocketType::Router
                    } else {
                        SocketType::Rep
                    };
                    prop_assert_eq!(sock.attach(id, anon(t)), Ok(()));
                    slots.cur[s] = Some(id);
                    pipes.insert(id, ReqPipe::default());
                }
            }
            ReqOp::Detach(s) => {
                if let Some(id) = slots.cur[s] {
                    slots.vacate(id);
                    let back = sock.detach(id);
                    let pm = pipes.remove(&id).unwrap();
                    prop_assert_eq!(back.len(), pm.out.len());
                    for (msg, (_, body)) in back.iter().zip(&pm.out) {
                        split_request(msg, body, correlate)?;
                    }
                }
            }
            ReqOp::Send(e) => {
                let tag = tags.next();
                let body = build(std::slice::from_ref(&tag), &e);
                let with_room: Vec<PipeId> = slots
                    .attached()
                    .filter(|id| room(sndhwm, pipes[id].out.len()))
                    .collect();
                let r = sock.send(body.clone());
                let dirty = drain_dirty(&mut sock);
                if expecting && !relaxed {
                    prop_assert_eq!(r, Err(SendError::InvalidState(body)));
                    prop_assert!(dirty.is_empty());
                } else if with_room.is_empty() {
                    prop_assert_eq!(r, Err(SendError::WouldBlock(body)));
                    prop_assert!(dirty.is_empty());
                } else {
                    prop_assert_eq!(r, Ok(()));
                    prop_assert_eq!(dirty.len(), 1);
                    let id = dirty[0];
                    prop_assert!(with_room.contains(&id));
                    pipes
                        .get_mut(&id)
                        .unwrap()
                        .out
                        .push_back((tag.clone(), body));
                    expecting = true;
                    current = Some((id, tag));
                    // Replies queued for earlier requests are stale now.
                    replies.clear();
                }
            }
            ReqOp::Reply(s, kind, e) => {
                let Some(id) = slots.cur[s] else { continue };
                // The peer takes everything queued towards it.
                let pm = pipes.get_mut(&id).unwrap();
                while let Some(item) = sock.poll_outbound(id) {
                    let PipeItem::Message(msg) = item else {
                        return Err(TestCaseError::fail(format!("REQ wrote {item:?}")));
                    };
                    let queued = pm.out.pop_front();
                    prop_assert!(queued.is_some(), "unexpected request {:?}", msg);
                    let (tag, body) = queued.unwrap();
                    let env = split_request(&msg, &body, correlate)?;
                    if correlate {
                        let n = u32::from_ne_bytes(env[0][..].try_into().unwrap());
                        if let Some(prev) = last_id {
                            prop_assert!(n != prev, "request id reused");
                        }
                        last_id = Some(n);
                    }
                    pm.seen.push((tag, env));
                }
                prop_assert!(pm.out.is_empty());
                let reply_body = build(&[Bytes::from_static(b"R"), tags.next()], &e);
                let (msg, answers) = match kind {
                    ReplyKind::Latest | ReplyKind::Oldest => {
                        let pick = if matches!(kind, ReplyKind::Latest) {
                            pm.seen.last()
                        } else {
                            pm.seen.first()
                        };
                        let Some((tag, env)) = pick.cloned() else {
                            continue;
                        };
                        let mut msg: Msg = env.into_iter().collect();
                        for f in reply_body.frames() {
                            msg.push(f.clone());
                        }
                        (msg, Some(tag))
                    }
                    ReplyKind::NoDelimiter => (reply_body.clone(), None),
                    ReplyKind::EmptyBody => {
                        let Some((_, env)) = pm.seen.last().cloned() else {
                            continue;
                        };
                        (env.into_iter().collect(), None)
                    }
                    ReplyKind::Garbage => {
                        let mut msg = reply_body.clone();
                        msg.push_front(Bytes::new());
                        msg.push_front(Bytes::from_static(b"xx"));
                        (msg, None)
                    }
                };
                prop_assert_eq!(sock.handle_message(id, msg), Ok(()));
                let accepted = match (&current, answers) {
                    (Some((cur_pipe, cur_tag)), Some(tag)) => {
                        expecting && *cur_pipe == id && (!correlate || *cur_tag == tag)
                    }
                    _ => false,
                };
                if accepted {
                    replies.push_back(reply_body);
                }
            }
            ReqOp::Recv => {
                let r = sock.recv();
                if !expecting {
                    prop_assert_eq!(r, Err(RecvError::InvalidState));
                } else if let Some(reply) = replies.pop_front() {
                    prop_assert_eq!(r, Ok(reply));
                    expecting = false;
                } else {
                    prop_assert_eq!(r, Err(RecvError::WouldBlock));
                }
            }
        }
        let any_room = slots
            .attached()
            .any(|id| room(sndhwm, pipes[&id].out.len()));
        prop_assert_eq!(sock.can_send(), (!expecting || relaxed) && any_room);
        prop_assert_eq!(sock.can_recv(), expecting && !replies.is_empty());
        for id in slots.attached() {
            prop_assert!(sndhwm == 0 || pipes[&id].out.len() <= sndhwm);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// REP

#[derive(Debug, Clone, Copy)]
enum Shape {
    /// `hops` address frames, the delimiter, then the body.
    Valid(usize),
    /// No empty frame at all.
    NoDelimiter,
    /// The delimiter is the last frame.
    DelimiterLast,
}

#[derive(Debug, Clone)]
enum RepOp {
    Attach(usize, bool),
    Detach(usize),
    Offer(usize, bool, Shape, Vec<Vec<u8>>),
    Recv,
    Send(Vec<Vec<u8>>),
    Take(usize),
}

fn rep_op() -> impl Strategy<Value = RepOp> {
    let shape = prop_oneof![
        6 => (0usize..3).prop_map(Shape::Valid),
        1 => Just(Shape::NoDelimiter),
        1 => Just(Shape::DelimiterLast),
    ];
    prop_oneof![
        2 => (slot(), any::<bool>()).prop_map(|(s, d)| RepOp::Attach(s, d)),
        1 => slot().prop_map(RepOp::Detach),
        5 => (slot(), prop::bool::weighted(0.1), shape, extra())
            .prop_map(|(s, stale, sh, e)| RepOp::Offer(s, stale, sh, e)),
        4 => Just(RepOp::Recv),
        3 => extra().prop_map(RepOp::Send),
        2 => slot().prop_map(RepOp::Take),
    ]
}

/// A valid request's envelope (up to the delimiter) and body.
type Parsed = Option<(Vec<Bytes>, Msg)>;

#[derive(Default)]
struct RepPipe {
    attached: bool,
    /// Offered requests: (message, its envelope and body if valid).
    inq: VecDeque<(Msg, Parsed)>,
    out: VecDeque<Msg>,
}

fn run_rep(sndhwm: usize, rcvhwm: usize, ops: Vec<RepOp>) -> Result<(), TestCaseError> {
    let o = options(|o| {
        o.sndhwm = sndhwm;
        o.rcvhwm = rcvhwm;
    });
    let mut sock = Pattern::with_options(SocketType::Rep, o);
    let mut slots = Slots::new();
    let mut pipes: HashMap<PipeId, RepPipe> = HashMap::new();
    let mut tags = Tags::default();
    let mut pending: Option<(PipeId, Vec<Bytes>)> = None;

    for op in ops {
        match op {
            RepOp::Attach(s, dealer) => {
                if slots.cur[s].is_none() {
                    let id = slots.fresh();
                    let t = if dealer {
                        SocketType::Dealer
                    } else {
                        SocketType::Req
                    };
                    prop_assert_eq!(sock.attach(id, anon(t)), Ok(()));
                    slots.cur[s] = Some(id);
                    pipes.insert(
                        id,
                        RepPipe {
                            attached: true,
                            ..RepPipe::default()
                        },
                    );
                }
            }
            RepOp::Detach(s) => {
                if let Some(id) = slots.cur[s] {
                    slots.vacate(id);
                    let back = sock.detach(id);
                    let pm = pipes.get_mut(&id).unwrap();
                    prop_assert_eq!(back, pm.out.drain(..).collect::<Vec<_>>());
                    pm.attached = false;
                    if pm.inq.is_empty() {
                        pipes.remove(&id);
                    }
                }
            }
            RepOp::Offer(s, stale, shape, e) => {
                let target = if stale { slots.stale[s] } else { slots.cur[s] };
                let Some(id) = target else { continue };
                let tag = tags.next();
                let (msg, parsed) = match shape {
                    Shape::Valid(hops) => {
                        let mut env: Vec<Bytes> =
                            (0..hops).map(|h| Bytes::from(format!("hop{h}"))).collect();
                        env.push(Bytes::new());
                        let body = build(&[tag], &e);
                        let mut msg: Msg = env.iter().cloned().collect();
                        for f in body.frames() {
                            msg.push(f.clone());
                        }
                        (msg, Some((env, body)))
                    }
                    Shape::NoDelimiter => {
                        let nonempty: Vec<Vec<u8>> = e
                            .iter()
                            .map(|f| if f.is_empty() { vec![b'x'] } else { f.clone() })
                            .collect();
                        (build(&[tag], &nonempty), None)
                    }
                    Shape::DelimiterLast => (build(&[tag, Bytes::new()], &[]), None),
                };
                let r = sock.handle_message(id, msg.clone());
                match pipes.get_mut(&id) {
                    Some(pm) if pm.attached => match r {
                        Ok(()) => pm.inq.push_back((msg, parsed)),
                        Err(back) => {
                            prop_assert_eq!(&back, &msg);
                            prop_assert!(rcvhwm > 0 && pm.inq.len() >= rcvhwm);
                        }
                    },
                    _ => prop_assert_eq!(r, Ok(())),
                }
            }
            RepOp::Recv => {
                let r = sock.recv();
                if pending.is_some() {
                    prop_assert_eq!(r, Err(RecvError::InvalidState));
                    continue;
                }
                match r {
                    Ok(body) => {
                        let tag = body.frames()[0].clone();
                        let found = pipes.iter().find_map(|(id, p)| {
                            p.inq
                                .iter()
                                .position(|(_, parsed)| {
                                    parsed.as_ref().is_some_and(|(_, b)| b.frames()[0] == tag)
                                })
                                .map(|pos| (*id, pos))
                        });
                        prop_assert!(found.is_some(), "unexpected request {:?}", body);
                        let (id, pos) = found.unwrap();
                        let pm = pipes.get_mut(&id).unwrap();
                        prop_assert!(
                            pm.inq.iter().take(pos).all(|(_, p)| p.is_none()),
                            "skipped a valid request"
                        );
                        let (env, expected) = pm.inq[pos].1.clone().unwrap();
                        prop_assert_eq!(body, expected);
                        pm.inq.drain(..=pos);
                        if pm.inq.is_empty() && !pm.attached {
                            pipes.remove(&id);
                        }
                        pending = Some((id, env));
                    }
                    Err(RecvError::WouldBlock) => {
                        for pm in pipes.values() {
                            prop_assert!(
                                pm.inq.iter().all(|(_, p)| p.is_none()),
                                "a valid request was lost"
                            );
                        }
                        pipes.retain(|_, p| p.attached);
                        for pm in pipes.values_mut() {
                            pm.inq.clear();
                        }
                    }
                    Err(e) => prop_assert!(false, "recv: {:?}", e),
                }
            }
            RepOp::Send(e) => {
                let reply = build(&[tags.next()], &e);
                let r = sock.send(reply.clone());
                let dirty = drain_dirty(&mut sock);
                let Some((id, env)) = pending.take() else {
                    prop_assert_eq!(r, Err(SendError::InvalidState(reply)));
                    continue;
                };
                prop_assert_eq!(r, Ok(()));
                match pipes.get_mut(&id) {
                    Some(pm) if pm.attached && room(sndhwm, pm.out.len()) => {
                        let mut full: Msg = env.into_iter().collect();
                        for f in reply.frames() {
                            full.push(f.clone());
                        }
                        pm.out.push_back(full);
                        prop_assert_eq!(dirty, vec![id]);
                    }
                    _ => prop_assert!(dirty.is_empty(), "reply not dropped"),
                }
            }
            RepOp::Take(s) => {
                if let Some(id) = slots.cur[s] {
                    let got: Vec<PipeItem> =
                        std::iter::from_fn(|| sock.poll_outbound(id)).collect();
                    let expected: Vec<PipeItem> = pipes
                        .get_mut(&id)
                        .unwrap()
                        .out
                        .drain(..)
                        .map(PipeItem::Message)
                        .collect();
                    prop_assert_eq!(got, expected);
                }
            }
        }
        prop_assert_eq!(sock.can_send(), pending.is_some());
        for id in slots.attached() {
            prop_assert!(sndhwm == 0 || pipes[&id].out.len() <= sndhwm);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------

fn op_seq<T: std::fmt::Debug>(op: impl Strategy<Value = T>) -> impl Strategy<Value = Vec<T>> {
    prop::collection::vec(op, 1..MAX_OPS)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn push_delivers_every_message_whole_once_within_sndhwm(
        sndhwm in hwm(), ops in op_seq(lb_op())
    ) {
        run_lb(SocketType::Push, SocketType::Pull, sndhwm, 1000, ops)?;
    }

    #[test]
    fn pull_receives_every_accepted_message_fairly_within_rcvhwm(
        rcvhwm in hwm(), ops in op_seq(lb_op())
    ) {
        run_lb(SocketType::Pull, SocketType::Push, 1000, rcvhwm, ops)?;
    }

    #[test]
    fn dealer_balances_out_and_fair_queues_in(
        sndhwm in hwm(), rcvhwm in hwm(), ops in op_seq(lb_op())
    ) {
        run_lb(SocketType::Dealer, SocketType::Router, sndhwm, rcvhwm, ops)?;
    }

    #[test]
    fn router_routes_by_id_and_never_exceeds_hwm(
        sndhwm in hwm(),
        rcvhwm in hwm(),
        mandatory in any::<bool>(),
        handover in any::<bool>(),
        ops in op_seq(router_op()),
    ) {
        run_router(sndhwm, rcvhwm, mandatory, handover, ops)?;
    }

    #[test]
    fn pub_fans_out_exactly_to_matching_subscribers(
        cfg in pub_cfg(), ops in op_seq(pub_op())
    ) {
        run_pub(cfg, ops)?;
    }

    #[test]
    fn sub_delivers_matching_messages_and_tracks_subscriptions(
        rcvhwm in hwm(), invert in prop::bool::weighted(0.2), ops in op_seq(sub_op())
    ) {
        run_sub(rcvhwm, invert, ops)?;
    }

    #[test]
    fn req_alternates_and_accepts_only_the_current_reply(
        relaxed in any::<bool>(),
        correlate in any::<bool>(),
        sndhwm in hwm(),
        ops in op_seq(req_op()),
    ) {
        run_req(relaxed, correlate, sndhwm, ops)?;
    }

    #[test]
    fn rep_returns_each_reply_with_its_envelope_to_its_origin(
        sndhwm in hwm(), rcvhwm in hwm(), ops in op_seq(rep_op())
    ) {
        run_rep(sndhwm, rcvhwm, ops)?;
    }
}

// ---------------------------------------------------------------------------
// handle_received and handle_message_run: many messages offered at once

#[derive(Debug, Clone)]
enum BatchOp {
    /// Messages to offer in one go (`None`: an empty message, no frame).
    Offer(Vec<Option<Vec<Vec<u8>>>>),
    Recv(usize),
    Detach,
}

fn batch_op() -> impl Strategy<Value = BatchOp> {
    prop_oneof![
        4 => prop::collection::vec(prop::option::weighted(0.9, extra()), 0..8).prop_map(BatchOp::Offer),
        3 => (0usize..6).prop_map(BatchOp::Recv),
        1 => Just(BatchOp::Detach),
    ]
}

/// A receiving type and a peer it accepts.
fn receiving_pair() -> impl Strategy<Value = (SocketType, SocketType)> {
    prop::sample::select(vec![
        (SocketType::Pull, SocketType::Push),
        (SocketType::Dealer, SocketType::Dealer),
        (SocketType::Pair, SocketType::Pair),
        (SocketType::Router, SocketType::Dealer),
        (SocketType::Sub, SocketType::Pub),
        (SocketType::XSub, SocketType::Pub),
        (SocketType::Rep, SocketType::Req),
        (SocketType::Req, SocketType::Rep),
        (SocketType::Push, SocketType::Pull),
        (SocketType::Pub, SocketType::Sub),
    ])
}

/// Two receivers of `kind` with the same options, each with one pipe from
/// `peer` (subscribed to everything where they filter): one to be fed many
/// messages per call, the other one message at a time.
fn twin_receivers(
    kind: SocketType,
    peer: SocketType,
    rcvhwm: usize,
    rcvhwm_bytes: Option<usize>,
    conflate: bool,
) -> (Pattern, Pattern, PipeId) {
    let conflate = conflate
        && matches!(
            kind,
            SocketType::Pull | SocketType::Dealer | SocketType::Sub
        );
    let opts = options(|o| {
        o.rcvhwm = rcvhwm;
        o.rcvhwm_bytes = rcvhwm_bytes;
        o.conflate = conflate;
    });
    let mut many = Pattern::with_options(kind, opts.clone());
    let mut single = Pattern::with_options(kind, opts);
    let id = PipeId(1);
    for p in [&mut many, &mut single] {
        p.attach(id, anon(peer)).unwrap();
        if matches!(kind, SocketType::Sub | SocketType::XSub) {
            p.subscribe(b"");
        }
    }
    (many, single, id)
}

/// Offers `left` to `p` one `handle_message` at a time until it refuses one:
/// the messages and bytes taken, and whether one was refused.
fn offer_singly(p: &mut Pattern, id: PipeId, left: &mut VecDeque<Msg>) -> (usize, usize, bool) {
    let (mut n, mut bytes) = (0, 0);
    while let Some(m) = left.pop_front() {
        let len = m.byte_len();
        if let Err(m) = p.handle_message(id, m) {
            left.push_front(m);
            return (n, bytes, true);
        }
        n += 1;
        bytes += len;
    }
    (n, bytes, false)
}

proptest! {
    #![proptest_config(config())]

    /// `handle_message_run` takes exactly what `handle_message` one at a
    /// time would (the same ones, the same left over at RCVHWM, in
    /// messages or in bytes, conflated or not), stops at the first item
    /// that is not a message, and counts what it took. `handle_received`
    /// takes everything, as one at a time with no RCVHWM would, and says
    /// the pipe is full exactly when it is at RCVHWM. The application
    /// then receives the same from each pair.
    #[test]
    fn batch_and_run_offers_are_the_same_as_one_offer_at_a_time(
        (kind, peer) in receiving_pair(),
        rcvhwm in hwm(),
        rcvhwm_bytes in prop::option::of(1usize..24),
        conflate in any::<bool>(),
        ops in prop::collection::vec(batch_op(), 0..MAX_OPS),
    ) {
        let (mut run, mut single, id) =
            twin_receivers(kind, peer, rcvhwm, rcvhwm_bytes, conflate);
        let (mut batch, mut bulk, _) = twin_receivers(kind, peer, rcvhwm, rcvhwm_bytes, conflate);
        let (mut unlimited, _, _) = twin_receivers(kind, peer, 0, None, conflate);
        let stop = PipeItem::Cancel(Bytes::from_static(b"stop"));
        let (mut left_b, mut left_r, mut left_s) =
            (VecDeque::new(), VecDeque::new(), VecDeque::new());
        let mut tags = Tags::default();
        for op in ops {
            match op {
                BatchOp::Offer(msgs) => {
                    for m in msgs {
                        let m = m.map_or_else(Msg::new, |e| build(&[tags.next()], &e));
                        left_b.push_back(m.clone());
                        left_r.push_back(PipeItem::Message(m.clone()));
                        left_s.push_back(m);
                    }
                    // A command after the run, and a message after that,
                    // which the run must not reach.
                    left_r.push_back(stop.clone());
                    left_r.push_back(PipeItem::Message(Msg::from("after")));
                    let mut all = left_b.clone();
                    prop_assert_eq!(offer_singly(&mut unlimited, id, &mut all).2, false);
                    // The same, moved into the queue at once where the
                    // pipe takes runs (no empty messages: the wire has none).
                    let mut decoded: VecDeque<Msg> =
                        left_b.iter().filter(|m| !m.is_empty()).cloned().collect();
                    let bulk_full = if bulk.takes_runs(id) {
                        bulk.handle_received_run(id, |q| {
                            let n = decoded.len();
                            let bytes = decoded.iter().map(Msg::byte_len).sum();
                            q.append(&mut decoded);
                            (n, bytes)
                        })
                    } else {
                        bulk.handle_received(id, || decoded.pop_front())
                    };
                    prop_assert!(decoded.is_empty());
                    let full = batch.handle_received(id, || left_b.pop_front());
                    prop_assert!(left_b.is_empty());
                    prop_assert_eq!(bulk_full, full);
                    prop_assert_eq!(full, batch.is_attached(id) && !batch.can_accept(id));
                    prop_assert_eq!(full, batch.holds_back(id));
                    let taken = run.handle_message_run(id, &mut left_r);
                    prop_assert_eq!(taken, offer_singly(&mut single, id, &mut left_s));
                    prop_assert_eq!(left_r.pop_back(), Some(PipeItem::Message(Msg::from("after"))));
                    prop_assert_eq!(left_r.pop_back(), Some(stop.clone()));
                    let left: Vec<Msg> = left_r
                        .iter()
                        .map(|i| match i {
                            PipeItem::Message(m) => m.clone(),
                            other => panic!("only messages are left, not {other:?}"),
                        })
                        .collect();
                    prop_assert_eq!(left, Vec::from(left_s.clone()));
                }
                BatchOp::Recv(n) => {
                    for _ in 0..n {
                        prop_assert_eq!(run.recv(), single.recv());
                        let got = batch.recv();
                        prop_assert_eq!(&bulk.recv(), &got);
                        prop_assert_eq!(got, unlimited.recv());
                    }
                }
                BatchOp::Detach => {
                    for p in [&mut batch, &mut bulk, &mut run, &mut single, &mut unlimited] {
                        p.detach(id);
                    }
                }
            }
        }
    }
}

#[derive(Debug, Clone)]
enum TakeOp {
    /// Sends through an XSUB: `Some(n)` a message of `n` bytes, `None` a
    /// subscription (an item that counts for neither limit).
    Send(Vec<Option<usize>>),
    /// Takes with the taker already holding `have` and stopping at `limit`.
    Take {
        have: (usize, usize),
        limit: (usize, usize),
    },
    /// Polls up to this many items one at a time, as a stream's fill does.
    Poll(usize),
}

fn take_op() -> impl Strategy<Value = TakeOp> {
    prop_oneof![
        3 => prop::collection::vec(prop::option::weighted(0.8, 1usize..6), 1..8)
            .prop_map(TakeOp::Send),
        2 => ((0usize..4, 0usize..12), (0usize..8, 0usize..30))
            .prop_map(|(have, limit)| TakeOp::Take { have, limit }),
        1 => (1usize..6).prop_map(TakeOp::Poll),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// `take_outbound` moves the items, in the order, that `poll_outbound`
    /// one at a time gives while the taker's counts stay under the limit
    /// (the item that reaches the byte limit still taken, subscriptions
    /// counting for neither), and says whether the queue is now empty. A
    /// pipe it left items in for want of room is not marked dirty again by
    /// what is queued behind them: its taker comes back. Once emptied, by
    /// a take or by polling, the next item marks it again.
    #[test]
    fn a_taken_run_is_what_polling_one_at_a_time_gives(
        ops in prop::collection::vec(take_op(), 0..MAX_OPS),
    ) {
        let opts = options(|o| o.sndhwm = 0);
        let mut run = Pattern::with_options(SocketType::XSub, opts.clone());
        let mut single = Pattern::with_options(SocketType::XSub, opts);
        let id = PipeId(1);
        for p in [&mut run, &mut single] {
            p.attach(id, anon(SocketType::Pub)).unwrap();
            drain_dirty(p);
        }
        let mut tag = 0u8;
        // Whether `run`'s last take left items behind.
        let mut pulled = false;
        for op in ops {
            match op {
                TakeOp::Send(items) => {
                    let was_empty = !run.has_outbound(id);
                    for item in items {
                        tag = tag.wrapping_add(1);
                        for p in [&mut run, &mut single] {
                            match item {
                                Some(n) => {
                                    let mut body = vec![tag; n];
                                    // Not a subscription command.
                                    body[0] = 2;
                                    p.send(Msg::single(body)).unwrap();
                                }
                                None => p.subscribe(&[tag]),
                            }
                        }
                    }
                    let marked = !drain_dirty(&mut run).is_empty();
                    prop_assert_eq!(marked, was_empty || !pulled);
                    drain_dirty(&mut single);
                }
                TakeOp::Take { have, limit } => {
                    let mut counts = have;
                    let mut taken = VecDeque::new();
                    let emptied = run.take_outbound(id, &mut counts, limit, &mut taken);
                    let mut expected = VecDeque::new();
                    let mut want = have;
                    while want.0 < limit.0 && want.1 < limit.1 {
                        let Some(item) = single.poll_outbound(id) else {
                            break;
                        };
                        if let PipeItem::Message(m) = &item {
                            want.0 += 1;
                            want.1 += m.byte_len();
                        }
                        expected.push_back(item);
                    }
                    prop_assert_eq!(taken, expected);
                    prop_assert_eq!(counts, want);
                    prop_assert_eq!(emptied, !single.has_outbound(id));
                    prop_assert_eq!(emptied, !run.has_outbound(id));
                    pulled = !emptied;
                }
                TakeOp::Poll(n) => {
                    for _ in 0..n {
                        prop_assert_eq!(run.poll_outbound(id), single.poll_outbound(id));
                    }
                }
            }
        }
    }
}

#[derive(Debug, Clone)]
enum InPlaceOp {
    /// Sends a message of a tag and these extra frames (`None`: an empty
    /// message); for a ROUTER the tag is taken for a routing id, so a
    /// `Some(slot)` id names a live pipe's instead.
    Send(Option<Vec<Vec<u8>>>, Option<usize>),
    Attach(usize),
    Detach(usize),
    /// Takes the next outbound item of a pipe.
    Poll(usize),
    /// A message arrives on a pipe, and the application receives one.
    Arrive(usize),
}

fn in_place_op() -> impl Strategy<Value = InPlaceOp> {
    prop_oneof![
        6 => (prop::option::weighted(0.95, extra()), prop::option::of(slot()))
            .prop_map(|(m, to)| InPlaceOp::Send(m, to)),
        2 => slot().prop_map(InPlaceOp::Attach),
        1 => slot().prop_map(InPlaceOp::Detach),
        3 => slot().prop_map(InPlaceOp::Poll),
        2 => slot().prop_map(InPlaceOp::Arrive),
    ]
}

/// A sending type and a peer it accepts; a PULL and a SUB cannot send.
fn sending_pair() -> impl Strategy<Value = (SocketType, SocketType)> {
    prop::sample::select(vec![
        (SocketType::Push, SocketType::Pull),
        (SocketType::Dealer, SocketType::Router),
        (SocketType::Pair, SocketType::Pair),
        (SocketType::Router, SocketType::Dealer),
        (SocketType::Req, SocketType::Rep),
        (SocketType::Rep, SocketType::Req),
        (SocketType::Pub, SocketType::Sub),
        (SocketType::XSub, SocketType::XPub),
        (SocketType::Pull, SocketType::Push),
        (SocketType::Sub, SocketType::Pub),
    ])
}

proptest! {
    #![proptest_config(config())]

    /// `send_in` does what `send` does, for every type: the same outcome,
    /// the message left in place exactly when `send` hands it back (and
    /// equal to what it hands back), and the same items queued after it.
    #[test]
    fn sending_in_place_is_sending(
        (kind, peer) in sending_pair(),
        sndhwm in hwm(),
        ops in prop::collection::vec(in_place_op(), 0..MAX_OPS),
    ) {
        let opts = options(|o| o.sndhwm = sndhwm);
        let mut by_value = Pattern::with_options(kind, opts.clone());
        let mut in_place = Pattern::with_options(kind, opts);
        let mut tags = Tags::default();
        let mut live = [false; SLOTS];
        for op in ops {
            match op {
                InPlaceOp::Send(extra, to) => {
                    let msg = match extra {
                        None => Msg::new(),
                        Some(e) => {
                            let head = match to.filter(|&s| live[s]) {
                                Some(s) if kind == SocketType::Router => by_value
                                    .routing_id(PipeId(s as u64 + 1))
                                    .cloned()
                                    .unwrap_or_else(|| tags.next()),
                                _ => tags.next(),
                            };
                            build(&[head], &e)
                        }
                    };
                    let mut left = msg.clone();
                    let sent = by_value.send(msg.clone());
                    let refused = in_place.send_in(&mut left, &mut |_, _, _| false);
                    match (sent, refused) {
                        (Ok(()), Ok(())) => {}
                        (Err(e), Err(r)) => {
                            let (kind_back, back) = e.split();
                            prop_assert_eq!(kind_back, r);
                            match back {
                                Some(back) => prop_assert_eq!(&left, &back),
                                None => prop_assert!(msg.is_empty()),
                            }
                        }
                        (s, r) => prop_assert!(false, "send gave {:?}, send_in {:?}", s, r),
                    }
                }
                InPlaceOp::Attach(s) if !live[s] => {
                    let id = PipeId(s as u64 + 1);
                    let a = by_value.attach(id, anon(peer));
                    prop_assert_eq!(&a, &in_place.attach(id, anon(peer)));
                    live[s] = a.is_ok();
                }
                InPlaceOp::Attach(_) => {}
                InPlaceOp::Detach(s) => {
                    for p in [&mut by_value, &mut in_place] {
                        p.detach(PipeId(s as u64 + 1));
                    }
                    live[s] = false;
                }
                InPlaceOp::Poll(s) => {
                    let id = PipeId(s as u64 + 1);
                    prop_assert_eq!(by_value.poll_outbound(id), in_place.poll_outbound(id));
                }
                InPlaceOp::Arrive(s) => {
                    let id = PipeId(s as u64 + 1);
                    let m = build(&[tags.next()], &[]);
                    let a = by_value.handle_message(id, m.clone());
                    let b = in_place.handle_message(id, m);
                    prop_assert_eq!(a, b);
                    prop_assert_eq!(by_value.recv(), in_place.recv());
                }
            }
            prop_assert_eq!(drain_dirty(&mut by_value), drain_dirty(&mut in_place));
        }
    }
}
