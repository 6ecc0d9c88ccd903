//! One direction of an inproc link: a lock-free ring from the sending
//! socket's engine to the receiving socket's, as libzmq's inproc pipes are.
//!
//! The sender ([`LaneTx`]) pushes under its own socket lock, the receiver
//! ([`LaneRx`]) takes under its own; they share no lock per message. A push
//! writes a slot and the ring's tail; a take reads the tail once and every
//! slot up to it, so a busy sender and a busy receiver meet only on the
//! cache lines they hand each other. (A mutex here, taken by every push and
//! every take, was with its contention a quarter of the samples in `perf
//! record` of the two-thread inproc throughput run on tokio's multi-thread
//! runtime.)
//!
//! HWM: the receiver publishes an allowance, how many messages and bytes
//! the sender may have pushed in all: what the receiver has moved into its
//! pipe so far plus the pipe's room once they are in. So an idle receiver
//! holds exactly RCVHWM here and in its pipe together, and the sender's own
//! pipe SNDHWM on top, as libzmq's inproc pipes do. The sender reads the
//! allowance again only once it has used up the one it read last: it only
//! grows as the application reads, so a stale one stops the sender a little
//! early, never too late. (It shrinks only when RCVHWM is lowered or the
//! pipe closes; the sender then runs on to the allowance it read, as a
//! libzmq pipe keeps the HWM it was made with.)
//!
//! The ring grows (a new ring twice the size, handed over behind the old
//! one) when a push finds it full with room left in the allowance, so a
//! large RCVHWM costs memory only once it is used.

use std::collections::VecDeque;
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rtrb::chunks::ReadChunkIntoIter;
use rtrb::{Consumer, Producer, PushError, RingBuffer};
use zmq_patterns::engine::{ConnId, Engine, InprocRoom};
use zmq_patterns::{ItemSource, PipeItem};
use zmtp_core::Msg;

/// Slots of a link's first ring (88 bytes each): small, as a process may
/// hold many links; a busy one doubles it a few times at the start.
const FIRST_RING: usize = 16;

/// What a receiver writes once per look, and its sender reads when the
/// figures it read last run out.
#[repr(align(128))]
struct Allowance {
    /// Messages and bytes the sender may have pushed in all.
    msgs: AtomicUsize,
    bytes: AtomicUsize,
    /// The sender stopped for want of allowance: more must bring a refill.
    sender_blocked: AtomicBool,
    /// The sender queued a bigger ring in [`Shared::next`].
    grown: AtomicBool,
}

/// Whether the receiver knows there are items to take: on a line of its own,
/// as the sender looks at it after every push.
#[repr(align(128))]
struct Told(AtomicBool);

/// What the two ends of a lane share besides the ring.
struct Shared {
    allowance: Allowance,
    /// The receiver was told there are items (see [`LaneRx::take`]); a push
    /// that finds this clear sets it and tells.
    told: Told,
    /// Rings the sender moved on to, oldest first, once each before it was
    /// full: the receiver finishes its ring, then takes the next.
    next: Mutex<VecDeque<Consumer<PipeItem>>>,
    /// CONFLATE at the receiver: only its newest message is kept, here
    /// rather than in the ring, which would hold every one.
    latest: Mutex<Option<Msg>>,
    conflate: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A new lane towards a receiver whose pipe has `room`: its sending end and
/// its receiving end.
pub(super) fn lane(room: InprocRoom) -> (LaneTx, LaneRx) {
    let (tx, rx) = RingBuffer::new(FIRST_RING);
    let shared = Arc::new(Shared {
        allowance: Allowance {
            msgs: AtomicUsize::new(room.msgs),
            bytes: AtomicUsize::new(room.bytes),
            sender_blocked: AtomicBool::new(false),
            grown: AtomicBool::new(false),
        },
        told: Told(AtomicBool::new(false)),
        next: Mutex::new(VecDeque::new()),
        latest: Mutex::new(None),
        conflate: room.conflate,
    });
    (
        LaneTx {
            ring: tx,
            shared: shared.clone(),
            sent: (0, 0),
            allowed: (room.msgs, room.bytes),
        },
        LaneRx {
            ring: rx,
            shared,
            consumed: (0, 0),
            held: None,
        },
    )
}

/// The sending end of a lane, kept with the sender's link.
pub(super) struct LaneTx {
    ring: Producer<PipeItem>,
    shared: Arc<Shared>,
    /// Messages and bytes pushed in all (against the allowance).
    sent: (usize, usize),
    /// The allowance when last read: pushes go by this one until it runs
    /// out, and leave the line the receiver writes alone.
    allowed: (usize, usize),
}

/// A lane's ring as the place a refill moves its run to (see
/// [`Pattern::take_outbound`](zmq_patterns::Pattern::take_outbound)): the
/// part that fits is written into the free slots in place, the rest into
/// bigger rings.
struct RingSink<'a> {
    ring: &'a mut Producer<PipeItem>,
    shared: &'a Shared,
    /// Anything was written.
    pushed: bool,
}

impl Extend<PipeItem> for RingSink<'_> {
    fn extend<T: IntoIterator<Item = PipeItem>>(&mut self, items: T) {
        let mut items = items.into_iter();
        let n = items.size_hint().0.min(self.ring.slots());
        if let Ok(chunk) = self.ring.write_chunk_uninit(n) {
            self.pushed |= chunk.fill_from_iter(items.by_ref()) > 0;
        }
        for item in items {
            push(self.ring, self.shared, item);
            self.pushed = true;
        }
    }
}

/// Pushes `item` into `ring`, moving on to a bigger one if it is full.
fn push(ring: &mut Producer<PipeItem>, shared: &Shared, item: PipeItem) {
    if let Err(PushError::Full(item)) = ring.push(item) {
        grow(ring, shared, item);
    }
}

/// The ring is full: moves on to one twice its size, queued behind it.
#[cold]
fn grow(ring: &mut Producer<PipeItem>, shared: &Shared, item: PipeItem) {
    let (mut tx, rx) = RingBuffer::new(ring.buffer().capacity() * 2);
    if tx.push(item).is_err() {
        unreachable!("a new ring has room");
    }
    {
        let mut next = lock(&shared.next);
        next.push_back(rx);
        shared.allowance.grown.store(true, Ordering::Release);
    }
    // Everything pushed into the old ring came before the new one was
    // queued, under the lock the receiver takes to move on.
    *ring = tx;
}

impl LaneTx {
    /// The allowance, read afresh.
    fn reload(&mut self, order: Ordering) -> (usize, usize) {
        let a = &self.shared.allowance;
        self.allowed = (a.msgs.load(order), a.bytes.load(order));
        self.allowed
    }

    fn under(&self, limit: (usize, usize)) -> bool {
        self.sent.0 < limit.0 && self.sent.1 < limit.1
    }

    /// Whether another message may go, by the allowance last read, else
    /// by the allowance now.
    #[inline]
    fn has_room(&mut self) -> bool {
        self.under(self.allowed) || {
            let now = self.reload(Ordering::Relaxed);
            self.under(now)
        }
    }

    fn push(&mut self, item: PipeItem) {
        push(&mut self.ring, &self.shared, item);
    }

    /// After a push: whether the receiver must now be told.
    #[inline]
    fn tell_due(&self) -> bool {
        // The push against the receiver's look: it clears `told` and then
        // looks at the ring (see `LaneRx::take`); with a fence on both sides,
        // either it sees this push or this sees `told` clear.
        fence(Ordering::SeqCst);
        let told = &self.shared.told.0;
        !told.load(Ordering::Relaxed) && !told.swap(true, Ordering::SeqCst)
    }

    fn push_conflated(&mut self, item: PipeItem) {
        match item {
            PipeItem::Message(m) => *lock(&self.shared.latest) = Some(m),
            other => self.push(other),
        }
    }

    /// Moves what `engine` has for its end `x` of the link into the lane,
    /// while the allowance lasts. Returns whether the receiver must now be
    /// told that items wait.
    pub(super) fn fill(&mut self, engine: &mut Engine, x: ConnId) -> bool {
        let mut pushed = false;
        if self.shared.conflate {
            // The receiver keeps only the newest message: it never fills.
            while let Some(item) = engine.poll_inproc(x) {
                self.push_conflated(item);
                pushed = true;
            }
            return pushed && self.tell_due();
        }
        loop {
            // Asked even with no room, so that the pipe learns it will be
            // pulled from (see `Pattern::take_outbound`).
            let limit = self.reload(Ordering::Relaxed);
            // The run goes straight into the ring's slots: no queue between.
            let mut sink = RingSink {
                ring: &mut self.ring,
                shared: &self.shared,
                pushed: false,
            };
            engine.take_inproc(x, &mut self.sent, limit, &mut sink);
            pushed |= sink.pushed;
            if self.under(limit) {
                // The engine has nothing more. (Not a second look at the
                // allowance: one raised since would hide a stop by the first.)
                break;
            }
            // Whatever is left waits in the sender's pipe, where its SNDHWM
            // holds it, until the receiver raises the allowance and, seeing
            // this, asks for a refill. Raised meanwhile: go on.
            self.shared
                .allowance
                .sender_blocked
                .store(true, Ordering::SeqCst);
            let now = self.reload(Ordering::SeqCst);
            if !self.under(now) {
                break;
            }
            self.shared
                .allowance
                .sender_blocked
                .store(false, Ordering::SeqCst);
        }
        pushed && self.tell_due()
    }

    /// Puts `m` straight into the lane if the allowance has room for it,
    /// taking it out of `m` when it is for this lane alone (`sole`), else a
    /// copy. `None` when there is no room (`m` is left as it was); else
    /// whether the receiver must now be told that items wait.
    #[inline]
    pub(super) fn push_direct(&mut self, m: &mut Msg, sole: bool) -> Option<bool> {
        // The receiver of a conflating lane never fills.
        if !self.shared.conflate && !self.has_room() {
            return None;
        }
        let m = if sole { std::mem::take(m) } else { m.clone() };
        if self.shared.conflate {
            self.push_conflated(PipeItem::Message(m));
            return Some(self.tell_due());
        }
        self.sent.0 += 1;
        self.sent.1 += m.byte_len();
        self.push(PipeItem::Message(m));
        Some(self.tell_due())
    }
}

/// The receiving end of a lane, kept with the receiver's link.
pub(super) struct LaneRx {
    ring: Consumer<PipeItem>,
    shared: Arc<Shared>,
    /// Messages and bytes the pipe took in all.
    consumed: (usize, usize),
    /// Taken, but refused by the pipe (it was full): offered first next time.
    held: Option<PipeItem>,
}

/// What a take offers the receiver's pipe: the items it holds from the
/// lane, in order. They move from the ring's slots straight into the pipe
/// (a queue between them cost the receiver 6 % of its instructions); one the
/// pipe refuses is held for next time, and those it did not reach stay in
/// the ring.
pub(super) struct Offered<'a> {
    held: &'a mut Option<PipeItem>,
    ring: Option<ReadChunkIntoIter<'a, PipeItem>>,
}

impl ItemSource for Offered<'_> {
    #[inline]
    fn next_item(&mut self) -> Option<PipeItem> {
        // Looked at before it is taken: a take writes `None` back, a store
        // of the whole slot for every item of the run.
        if self.held.is_some() {
            return self.held.take();
        }
        self.ring.as_mut()?.next()
    }

    #[inline]
    fn put_back(&mut self, item: PipeItem) {
        // The taker hands back at most the item it was last given, before
        // it asks for another.
        debug_assert!(self.held.is_none());
        *self.held = Some(item);
    }
}

/// What a take found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Took {
    /// Items were waiting (whether or not the pipe took them all).
    pub(super) found: bool,
    /// The pipe refused one: it is full, and the rest wait here.
    pub(super) refused: bool,
}

impl LaneRx {
    /// Offers what `ring` holds now; whether the pipe refused an item.
    fn offer_ring<F: FnMut(&mut Offered<'_>)>(&mut self, offer: &mut F, found: &mut bool) -> bool {
        let n = self.ring.slots();
        if n == 0 {
            return false;
        }
        *found = true;
        if let Ok(chunk) = self.ring.read_chunk(n) {
            offer(&mut Offered {
                held: &mut self.held,
                ring: Some(chunk.into_iter()),
            });
        }
        self.held.is_some()
    }

    /// Offers the current ring, then the rings queued behind it, until the
    /// pipe refuses an item (true) or all are empty (false).
    fn offer_rings<F: FnMut(&mut Offered<'_>)>(&mut self, offer: &mut F, found: &mut bool) -> bool {
        loop {
            if self.offer_ring(offer, found) {
                return true;
            }
            if !self.shared.allowance.grown.load(Ordering::Acquire) {
                return false;
            }
            let shared = self.shared.clone();
            let mut next = lock(&shared.next);
            // The sender queued the next ring after its last push into this
            // one, under this lock: what is in this one is all visible now.
            if self.offer_ring(offer, found) {
                return true;
            }
            match next.pop_front() {
                Some(ring) => self.ring = ring,
                None => debug_assert!(false, "grown with no ring queued"),
            }
            if next.is_empty() {
                shared.allowance.grown.store(false, Ordering::Relaxed);
            }
        }
    }

    /// Offers everything waiting to the receiver's pipe through `offer`
    /// (which hands its [`Offered`] to the engine): what the pipe refused
    /// last time first, then what the sender pushed since, until the pipe
    /// refuses an item. Hand what the pipe took, and its room, to
    /// [`LaneRx::settle`].
    ///
    /// A receiver that takes something and will look here again before it
    /// waits (`looks_again`) need not be told of what comes meanwhile, as
    /// libzmq's reader is not told while it is awake: the sender then pushes
    /// without marking the receiver's ready list or waking it, which was a
    /// sixth of the sender's time when the receiver keeps up. Finding the
    /// lane empty ends that: the next push tells.
    pub(super) fn take<F: FnMut(&mut Offered<'_>)>(
        &mut self,
        looks_again: bool,
        mut offer: F,
    ) -> Took {
        let mut found = self.held.is_some();
        let refused = self.offer_all(looks_again, &mut offer, &mut found);
        if refused {
            // The receiver comes back when its application makes room, and
            // takes what came meanwhile then.
            self.shared.told.0.store(true, Ordering::Relaxed);
        }
        Took { found, refused }
    }

    /// The body of [`LaneRx::take`]: whether the pipe refused an item.
    fn offer_all<F: FnMut(&mut Offered<'_>)>(
        &mut self,
        looks_again: bool,
        offer: &mut F,
        found: &mut bool,
    ) -> bool {
        if *found {
            offer(&mut Offered {
                held: &mut self.held,
                ring: None,
            });
            if self.held.is_some() {
                return true;
            }
        }
        if self.offer_rings(offer, found) {
            return true;
        }
        if !*found || !looks_again {
            self.shared.told.0.store(false, Ordering::SeqCst);
            // Against the sender's fence in `LaneTx::tell_due`: a push this
            // look misses saw `told` clear, and tells.
            fence(Ordering::SeqCst);
            if self.offer_rings(offer, found) {
                return true;
            }
        }
        if self.shared.conflate {
            if let Some(m) = lock(&self.shared.latest).take() {
                *found = true;
                self.held = Some(PipeItem::Message(m));
                offer(&mut Offered {
                    held: &mut self.held,
                    ring: None,
                });
                return self.held.is_some();
            }
        }
        false
    }

    /// After a take: the pipe took `accepted` (messages and bytes) and has
    /// `room` now. Raises the sender's allowance to match; returns whether
    /// the sender, stopped for want of it, is to be refilled.
    pub(super) fn settle(&mut self, accepted: (usize, usize), room: InprocRoom) -> bool {
        self.consumed.0 += accepted.0;
        self.consumed.1 += accepted.1;
        self.set_room(room)
    }

    /// Records `room`, the pipe's room now. Returns whether the sender,
    /// stopped for want of allowance, is to be refilled (once per stop).
    pub(super) fn set_room(&mut self, room: InprocRoom) -> bool {
        let a = &self.shared.allowance;
        let msgs = self.consumed.0.saturating_add(room.msgs);
        let bytes = self.consumed.1.saturating_add(room.bytes);
        let grew = msgs > a.msgs.load(Ordering::Relaxed) || bytes > a.bytes.load(Ordering::Relaxed);
        a.msgs.store(msgs, Ordering::SeqCst);
        a.bytes.store(bytes, Ordering::SeqCst);
        // Against the sender's store and second look in `LaneTx::fill`:
        // either it sees the new allowance, or this sees it stopped.
        grew && a.sender_blocked.load(Ordering::SeqCst)
            && a.sender_blocked.swap(false, Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use zmq_patterns::engine::EngineConfig;
    use zmtp_core::SocketType;

    fn room(msgs: usize) -> InprocRoom {
        InprocRoom {
            msgs,
            bytes: usize::MAX,
            conflate: false,
        }
    }

    /// Pushes `text` as a message; whether it went in.
    fn push(tx: &mut LaneTx, text: &str) -> bool {
        tx.push_direct(&mut Msg::single(text.to_owned()), true)
            .is_some()
    }

    fn texts(items: &[PipeItem]) -> Vec<String> {
        items
            .iter()
            .map(|i| match i {
                PipeItem::Message(m) => String::from_utf8(m.frames()[0].to_vec()).unwrap(),
                _ => "(sub)".to_owned(),
            })
            .collect()
    }

    /// Takes from `rx` into a pretend pipe that accepts `limit` items and
    /// refuses the next: what it accepted, and what the take reported.
    fn take_up_to(rx: &mut LaneRx, looks_again: bool, limit: usize) -> (Vec<PipeItem>, Took) {
        let mut got = Vec::new();
        let took = rx.take(looks_again, |items| {
            while let Some(item) = items.next_item() {
                items.put_back(item);
                if got.len() == limit {
                    return;
                }
                // As the engine takes an item that ended a run of messages:
                // handed back, then asked for again.
                got.push(items.next_item().expect("the item handed back"));
            }
        });
        (got, took)
    }

    fn take_all(rx: &mut LaneRx, looks_again: bool) -> Vec<String> {
        let (got, took) = take_up_to(rx, looks_again, usize::MAX);
        assert!(!took.refused);
        assert_eq!(took.found, !got.is_empty());
        texts(&got)
    }

    #[test]
    fn the_allowance_is_what_went_in_plus_the_room_after() {
        let (mut tx, mut rx) = lane(room(2));
        assert!(push(&mut tx, "ab"));
        assert!(push(&mut tx, "c"));
        assert!(!push(&mut tx, "d"), "two messages fill a room of two");
        assert_eq!(take_all(&mut rx, false), ["ab", "c"]);
        // Both went in, and the pipe has room for 3 more.
        assert!(!rx.settle((2, 3), room(3)));
        for m in ["d", "e", "f"] {
            assert!(push(&mut tx, m), "{m}");
        }
        assert!(!push(&mut tx, "g"));
        assert_eq!(take_all(&mut rx, false), ["d", "e", "f"]);
    }

    #[test]
    fn refused_items_come_first_next_time_and_count_again() {
        let (mut tx, mut rx) = lane(room(3));
        for m in ["a", "bb", "ccc"] {
            assert!(push(&mut tx, m));
        }
        // The pipe takes "a" and refuses "bb": it is full.
        let (got, took) = take_up_to(&mut rx, true, 1);
        assert_eq!(texts(&got), ["a"]);
        assert_eq!(
            took,
            Took {
                found: true,
                refused: true
            }
        );
        assert!(!rx.settle((1, 1), room(0)));
        assert!(
            rx.shared.told.0.load(Ordering::Relaxed),
            "the receiver waits for room, and knows"
        );
        assert!(
            !push(&mut tx, "d"),
            "three sent, one went in and none fits: the allowance is 1"
        );
        // Refused again at once: nothing moves, and it is still held.
        let (got, took) = take_up_to(&mut rx, true, 0);
        assert!(got.is_empty() && took.refused && took.found);
        assert!(!rx.settle((0, 0), room(3)));
        assert!(push(&mut tx, "d"));
        // One more taken, then the pipe is full again: the rest keeps its
        // place, in order.
        let (got, _) = take_up_to(&mut rx, true, 2);
        assert_eq!(texts(&got), ["bb", "ccc"]);
        assert_eq!(
            take_all(&mut rx, true),
            ["d"],
            "refused first, then what came meanwhile"
        );
    }

    #[test]
    fn a_receiver_that_looks_again_is_told_once_it_found_the_lane_empty() {
        let (mut tx, mut rx) = lane(room(100));
        let mut m = Msg::single("a");
        assert_eq!(tx.push_direct(&mut m, false), Some(true), "news");
        assert_eq!(take_all(&mut rx, true).len(), 1);
        assert_eq!(
            tx.push_direct(&mut m, false),
            Some(false),
            "the receiver looks again before it waits"
        );
        assert_eq!(take_all(&mut rx, true).len(), 1);
        assert!(take_all(&mut rx, true).is_empty());
        assert_eq!(
            tx.push_direct(&mut m, false),
            Some(true),
            "it found the lane empty: it may be waiting"
        );
        // A receiver that will not look again is told of every push after
        // a take.
        assert_eq!(take_all(&mut rx, false).len(), 1);
        assert_eq!(tx.push_direct(&mut m, false), Some(true));
    }

    #[test]
    fn conflate_keeps_the_newest_message_only() {
        let (mut tx, mut rx) = lane(InprocRoom {
            msgs: usize::MAX,
            bytes: usize::MAX,
            conflate: true,
        });
        for m in ["a", "bb", "ccc"] {
            assert!(push(&mut tx, m));
        }
        assert_eq!(take_all(&mut rx, false), ["ccc"]);
    }

    #[test]
    fn rings_grow_past_the_first_and_keep_the_order() {
        let (mut tx, mut rx) = lane(room(usize::MAX));
        let mut next = 0;
        let mut expect = 0;
        // Several rings queued at once, a take between two growths, and
        // takes that a full pipe stops part of the way through a ring.
        for (burst, limit) in [
            (100, usize::MAX),
            (5 * FIRST_RING, FIRST_RING + 3),
            (1, usize::MAX),
            (40 * FIRST_RING, 7 * FIRST_RING),
        ] {
            for _ in 0..burst {
                assert!(push(&mut tx, &next.to_string()));
                next += 1;
            }
            let mut taken = 0;
            while taken < burst {
                let (got, took) = take_up_to(&mut rx, true, limit);
                assert_eq!(took.refused, burst - taken > limit);
                taken += got.len();
                for t in texts(&got) {
                    assert_eq!(t, expect.to_string());
                    expect += 1;
                }
            }
            assert_eq!(taken, burst);
        }
        assert!(take_all(&mut rx, true).is_empty());
        assert!(lock(&rx.shared.next).is_empty());
        assert!(!rx.shared.allowance.grown.load(Ordering::Relaxed));
        assert!(rx.ring.buffer().capacity() >= 32 * FIRST_RING);
    }

    #[test]
    fn a_refill_larger_than_the_ring_goes_in_whole_and_in_order() {
        let (mut tx, mut rx) = lane(room(usize::MAX));
        // The run starts part of the way into the ring, behind an item
        // still waiting, so that it wraps and then needs bigger rings.
        for m in ["a", "b", "c"] {
            assert!(push(&mut tx, m));
        }
        assert_eq!(take_all(&mut rx, true), ["a", "b", "c"]);
        assert!(push(&mut tx, "d"));
        let run = 5 * FIRST_RING;
        let mut sink = RingSink {
            ring: &mut tx.ring,
            shared: &tx.shared,
            pushed: false,
        };
        sink.extend(VecDeque::<PipeItem>::new());
        assert!(!sink.pushed, "an empty run pushes nothing");
        sink.extend((0..run).map(|i| PipeItem::Message(Msg::single(i.to_string()))));
        assert!(sink.pushed);
        let want: Vec<String> = std::iter::once("d".to_owned())
            .chain((0..run).map(|i| i.to_string()))
            .collect();
        assert_eq!(take_all(&mut rx, true), want);
        assert!(rx.ring.buffer().capacity() > FIRST_RING, "it grew");
        // A run that fits is written in place, and counts as pushed too.
        let mut sink = RingSink {
            ring: &mut tx.ring,
            shared: &tx.shared,
            pushed: false,
        };
        sink.extend(["e", "f"].map(|m| PipeItem::Message(Msg::single(m))));
        assert!(sink.pushed);
        assert_eq!(take_all(&mut rx, true), ["e", "f"]);
    }

    #[test]
    fn a_blocked_sender_is_refilled_once_room_comes() {
        let mut engine = Engine::new(
            std::time::Instant::now(),
            EngineConfig::new(zmtp_core::Config::new(SocketType::Push)),
        );
        let (mut tx, mut rx) = lane(room(0));
        // Nothing is linked at this id: the engine has nothing to give.
        assert!(!tx.fill(&mut engine, ConnId(7)));
        assert!(take_all(&mut rx, false).is_empty());
        assert!(rx.settle((0, 0), room(5)));
        assert!(!rx.settle((0, 0), room(5)), "one refill per stop");
        // Stopped again; room that comes without a take (the receiver found
        // its pipe less full than reckoned) refills too, once.
        assert!(!rx.set_room(room(0)));
        assert!(!tx.fill(&mut engine, ConnId(7)));
        assert!(!rx.set_room(room(0)));
        assert!(rx.set_room(room(1)));
        assert!(!rx.set_room(room(1)), "one refill per stop");
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(256))]

        /// Pushes in bursts that grow the ring several times, and takes by
        /// pipes that accept a few and refuse the next: every take hands
        /// over exactly the oldest items not yet taken, as many as the pipe
        /// accepts, reports a refusal exactly when more were waiting, and
        /// nothing is lost, repeated or reordered.
        #[test]
        fn takes_hand_over_the_oldest_items_as_far_as_the_pipe_accepts(
            ops in prop::collection::vec(
                prop_oneof![
                    (0usize..80).prop_map(Op::Push),
                    (0usize..40, any::<bool>())
                        .prop_map(|(limit, again)| Op::Take(limit, again)),
                ],
                1..60,
            ),
        ) {
            let (mut tx, mut rx) = lane(room(usize::MAX));
            let mut waiting = VecDeque::new();
            let mut next = 0u32;
            for op in ops {
                match op {
                    Op::Push(n) => {
                        for _ in 0..n {
                            prop_assert!(push(&mut tx, &next.to_string()));
                            waiting.push_back(next.to_string());
                            next += 1;
                        }
                    }
                    Op::Take(limit, again) => {
                        let (got, took) = take_up_to(&mut rx, again, limit);
                        let n = limit.min(waiting.len());
                        let want: Vec<String> = waiting.drain(..n).collect();
                        prop_assert_eq!(texts(&got), want);
                        prop_assert_eq!(took.refused, !waiting.is_empty());
                        prop_assert_eq!(took.found, n > 0 || took.refused);
                    }
                }
            }
            let rest: Vec<String> = waiting.into_iter().collect();
            prop_assert_eq!(take_all(&mut rx, false), rest);
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Pushes this many messages.
        Push(usize),
        /// Takes into a pipe that accepts this many, looking again or not.
        Take(usize, bool),
    }

    /// Two threads, a lane between them, a receiver that sleeps whenever a
    /// take finds nothing until a push tells it, and a sender that now and
    /// then waits for the receiver to catch up (so that a push lands just as
    /// the receiver finds the lane empty): every message arrives once and in
    /// order, and no push goes untold (the two would wait for each other
    /// until the test gives up).
    #[test]
    fn two_threads_lose_no_message_and_no_wakeup() {
        use std::sync::atomic::AtomicU64;
        use std::sync::Condvar;
        use std::time::{Duration, Instant};

        const N: u64 = 100_000;
        const PATIENCE: Duration = Duration::from_secs(20);
        let (mut tx, mut rx) = lane(room(usize::MAX));
        let bell = Arc::new((Mutex::new(0u64), Condvar::new()));
        let got = Arc::new(AtomicU64::new(0));
        let sender = {
            let (bell, got) = (bell.clone(), got.clone());
            std::thread::spawn(move || {
                for i in 0..N {
                    let mut m = Msg::single(i.to_le_bytes().to_vec());
                    if tx.push_direct(&mut m, true) == Some(true) {
                        *lock(&bell.0) += 1;
                        bell.1.notify_one();
                    }
                    // Runs of 1 to 4 messages, then wait for the receiver.
                    if i % 4 <= i % 3 {
                        let since = Instant::now();
                        while got.load(Ordering::Acquire) <= i {
                            assert!(
                                since.elapsed() < PATIENCE,
                                "stranded at {i}: a push was not told"
                            );
                            std::thread::yield_now();
                        }
                    }
                }
            })
        };
        let mut expect = 0u64;
        let mut rings = 0u64;
        while expect < N {
            // Alternate the two ways a take ends, so both are raced.
            let (took, _) = take_up_to(&mut rx, expect % 3 != 0, usize::MAX);
            if took.is_empty() {
                let mut rung = lock(&bell.0);
                while *rung == rings {
                    let (g, t) = bell.1.wait_timeout(rung, PATIENCE).unwrap();
                    assert!(!t.timed_out(), "stranded at {expect}: a push was not told");
                    rung = g;
                }
                rings = *rung;
                continue;
            }
            for item in took {
                let PipeItem::Message(m) = item else {
                    panic!("a message");
                };
                let n = u64::from_le_bytes(m.frames()[0][..].try_into().unwrap());
                assert_eq!(n, expect, "order, no loss, no duplicate");
                expect += 1;
            }
            got.store(expect, Ordering::Release);
        }
        sender.join().unwrap();
    }
}
