//! One direction of an inproc link: the queue between the sending socket's
//! engine and the receiving socket's, behind a lock of its own.
//!
//! The sender pushes under its own socket lock and this one; the receiver
//! takes everything at once under its own socket lock and this one. Neither
//! ever holds the other's socket lock, so a busy sender and a busy receiver
//! meet only for the few instructions a push or a swap takes, as libzmq's
//! lock-free pipes meet only at their ends. A receiver takes this lock once
//! per look, and a second time only when its pipe refuses some of what it
//! took (it is at RCVHWM).
//!
//! HWM: the receiver records, each time it takes, how much its pipe can
//! still take ([`InprocRoom`]) once what it took is in; what waits here
//! counts against that room. So an idle receiver holds exactly RCVHWM here
//! and in its pipe together, and the sender's own pipe SNDHWM on top, as
//! libzmq's inproc pipes do. The room only grows between two looks (the
//! application reads), so a stale one holds the sender back a little early,
//! never too late.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};

use zmq_patterns::engine::{ConnId, Engine, InprocRoom};
use zmq_patterns::PipeItem;
use zmtp_core::Msg;

/// One direction of a link, shared by its two ends.
pub(super) struct Lane(Mutex<State>);

struct State {
    items: VecDeque<PipeItem>,
    /// Messages and bytes in `items`.
    msgs: usize,
    bytes: usize,
    /// The receiver's room when it last looked, less what it took then.
    room: InprocRoom,
    /// The receiver knows there are items here (it was told, its last take
    /// found some and it looks again before it waits, or its pipe refused
    /// some and it waits for room). Cleared by a take that leaves it
    /// nothing to come back for (see [`Lane::take`]).
    told: bool,
    /// The sender stopped for want of room: room must bring a refill.
    sender_blocked: bool,
}

impl State {
    fn has_room(&self) -> bool {
        self.msgs < self.room.msgs && self.bytes < self.room.bytes
    }

    /// Whether the sender, stopped for want of room, has room now; if so it
    /// is no longer stopped (one refill per block).
    fn refill_due(&mut self) -> bool {
        let due = self.sender_blocked && self.has_room();
        if due {
            self.sender_blocked = false;
        }
        due
    }

    fn push(&mut self, item: PipeItem) {
        if let PipeItem::Message(m) = &item {
            if self.room.conflate {
                // Only the newest message would survive the receiver's pipe.
                let (msgs, bytes) = count(&self.items);
                self.items.retain(|i| !matches!(i, PipeItem::Message(_)));
                self.msgs -= msgs;
                self.bytes -= bytes;
            }
            self.msgs += 1;
            self.bytes += m.byte_len();
        }
        self.items.push_back(item);
    }
}

/// The messages and bytes among `items`.
fn count(items: &VecDeque<PipeItem>) -> (usize, usize) {
    items.iter().fold((0, 0), |(n, b), i| match i {
        PipeItem::Message(m) => (n + 1, b + m.byte_len()),
        _ => (n, b),
    })
}

/// What a receiver's take found (see [`Lane::take`]).
pub(super) struct Taken {
    /// Messages and bytes taken.
    pub(super) counts: (usize, usize),
    /// The sender stopped for want of room, and there is room now.
    pub(super) refill_sender: bool,
}

impl Lane {
    /// An empty lane towards a receiver with `room`.
    pub(super) fn new(room: InprocRoom) -> Self {
        Self(Mutex::new(State {
            items: VecDeque::new(),
            msgs: 0,
            bytes: 0,
            room,
            told: false,
            sender_blocked: false,
        }))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sender side: moves what `engine` has for its end `x` of the link
    /// into the lane, while the receiver's room allows. Returns whether the
    /// receiver must now be told that items wait.
    pub(super) fn fill(&self, engine: &mut Engine, x: ConnId) -> bool {
        let mut s = self.lock();
        let mut pushed = false;
        if s.room.conflate {
            // Each push may drop the message before it: one at a time.
            while s.has_room() {
                match engine.poll_inproc(x) {
                    Some(item) => {
                        s.push(item);
                        pushed = true;
                    }
                    None => break,
                }
            }
        } else {
            // A push is a move and a count: the run that fits moves at once.
            // Asked even with no room, so that the pipe learns it will be
            // pulled from (see `Pattern::take_outbound`).
            let before = s.items.len();
            let limit = (s.room.msgs, s.room.bytes);
            let mut counts = (s.msgs, s.bytes);
            engine.take_inproc(x, &mut counts, limit, &mut s.items);
            (s.msgs, s.bytes) = counts;
            pushed = s.items.len() > before;
        }
        if !s.has_room() {
            // Whatever is left waits in the sender's pipe, where its SNDHWM
            // holds it, until the receiver makes room.
            s.sender_blocked = true;
        }
        let tell = pushed && !s.told;
        if tell {
            s.told = true;
        }
        tell
    }

    /// Sender side: puts `m` straight into the lane if the receiver's room
    /// allows, taking it out of `m` when it is for this lane alone (`sole`),
    /// else a copy. `None` when there is no room (`m` is left as it was);
    /// else whether the receiver must now be told that items wait.
    pub(super) fn push_direct(&self, m: &mut Msg, sole: bool) -> Option<bool> {
        let mut s = self.lock();
        if !s.has_room() {
            return None;
        }
        let m = if sole { std::mem::take(m) } else { m.clone() };
        s.push(PipeItem::Message(m));
        let tell = !s.told;
        s.told = true;
        Some(tell)
    }

    /// Receiver side: everything waiting, swapped into `into` (which must be
    /// empty), for a pipe with `room` before it takes them. The room is
    /// recorded as if the pipe takes everything, the common case; what it
    /// refuses comes back with [`Lane::give_back`].
    ///
    /// A receiver that takes something and will look here again before it
    /// waits (`looks_again`) need not be told of what comes meanwhile, as
    /// libzmq's reader is not told while it is awake: the sender then pushes
    /// without marking the receiver's ready list or waking it, which was a
    /// sixth of the sender's time when the receiver keeps up. Finding the
    /// lane empty ends that: the next push tells.
    pub(super) fn take(
        &self,
        into: &mut VecDeque<PipeItem>,
        room: InprocRoom,
        looks_again: bool,
    ) -> Taken {
        debug_assert!(into.is_empty());
        let mut s = self.lock();
        std::mem::swap(&mut s.items, into);
        let counts = (std::mem::take(&mut s.msgs), std::mem::take(&mut s.bytes));
        s.room = InprocRoom {
            msgs: room.msgs.saturating_sub(counts.0),
            bytes: room.bytes.saturating_sub(counts.1),
            conflate: room.conflate,
        };
        s.told = looks_again && !into.is_empty();
        Taken {
            counts,
            refill_sender: s.refill_due(),
        }
    }

    /// Receiver side, when its pipe refused `left` of what it took (it is
    /// full): they go back in front of anything pushed meanwhile, with
    /// `room` the pipe's room now. The receiver waits for room, so the
    /// sender need not tell of what comes meanwhile.
    /// Returns whether the sender, stopped for want of room, has room now.
    pub(super) fn give_back(&self, left: &mut VecDeque<PipeItem>, room: InprocRoom) -> bool {
        let (msgs, bytes) = count(left);
        let mut s = self.lock();
        s.msgs += msgs;
        s.bytes += bytes;
        left.append(&mut s.items);
        std::mem::swap(&mut s.items, left);
        s.room = room;
        s.told = true;
        s.refill_due()
    }

    /// Receiver side: records `room`, its pipe's room now. Returns whether
    /// the sender, stopped for want of room, has room now.
    pub(super) fn set_room(&self, room: InprocRoom) -> bool {
        let mut s = self.lock();
        s.room = room;
        s.refill_due()
    }

    /// What is waiting, messages and bytes (for tests and the final drain).
    #[cfg(test)]
    fn waiting(&self) -> (usize, usize) {
        let s = self.lock();
        (s.msgs, s.bytes)
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

    #[test]
    fn a_take_reckons_the_room_as_if_all_went_in() {
        let lane = Lane::new(room(2));
        let mut s = lane.lock();
        s.push(PipeItem::Message(Msg::single("ab")));
        s.push(PipeItem::Subscribe(bytes::Bytes::from_static(b"t")));
        assert!(s.has_room());
        s.push(PipeItem::Message(Msg::single("c")));
        assert!(!s.has_room(), "two messages fill a room of two");
        drop(s);
        assert_eq!(lane.waiting(), (2, 3));
        let mut took = VecDeque::new();
        // The pipe had room for 3: one is left once these two are in.
        let taken = lane.take(&mut took, room(3), false);
        assert_eq!(took.len(), 3);
        assert_eq!(taken.counts, (2, 3));
        assert_eq!(lane.waiting(), (0, 0));
        let s = lane.lock();
        assert!(!s.told, "the next push is news");
        assert_eq!(s.room.msgs, 1);
        assert!(s.has_room());
    }

    #[test]
    fn refused_items_go_back_in_front_and_count_again() {
        let lane = Lane::new(room(5));
        lane.lock().push(PipeItem::Message(Msg::single("a")));
        lane.lock().push(PipeItem::Message(Msg::single("bb")));
        let mut took = VecDeque::new();
        lane.take(&mut took, room(5), false);
        // Pushed while the receiver handed its batch over.
        lane.lock().push(PipeItem::Message(Msg::single("ccc")));
        // The pipe took "a" and refused "bb": it is full.
        took.pop_front();
        assert!(!lane.give_back(&mut took, room(0)));
        assert!(took.is_empty());
        assert_eq!(lane.waiting(), (2, 5));
        let s = lane.lock();
        assert!(s.told, "the receiver waits for room, and knows");
        assert!(!s.has_room());
        let order: Vec<usize> = s
            .items
            .iter()
            .map(|i| match i {
                PipeItem::Message(m) => m.byte_len(),
                _ => 0,
            })
            .collect();
        assert_eq!(order, [2, 3], "refused first, then what came meanwhile");
    }

    #[test]
    fn a_receiver_that_looks_again_is_told_once_it_found_the_lane_empty() {
        let lane = Lane::new(room(10));
        let mut m = Msg::single("a");
        let mut took = VecDeque::new();
        assert_eq!(lane.push_direct(&mut m, false), Some(true), "news");
        lane.take(&mut took, room(10), true);
        assert_eq!(took.len(), 1);
        took.clear();
        assert_eq!(
            lane.push_direct(&mut m, false),
            Some(false),
            "the receiver looks again before it waits"
        );
        lane.take(&mut took, room(10), true);
        took.clear();
        lane.take(&mut took, room(10), true);
        assert!(took.is_empty());
        assert_eq!(
            lane.push_direct(&mut m, false),
            Some(true),
            "it found the lane empty: it may be waiting"
        );
        // A receiver that will not look again is told of every push after
        // a take.
        lane.take(&mut took, room(10), false);
        assert_eq!(took.len(), 1);
        assert_eq!(lane.push_direct(&mut m, false), Some(true));
    }

    #[test]
    fn conflate_keeps_the_newest_message_only() {
        let lane = Lane::new(InprocRoom {
            msgs: usize::MAX,
            bytes: usize::MAX,
            conflate: true,
        });
        let mut s = lane.lock();
        for m in ["a", "bb", "ccc"] {
            s.push(PipeItem::Message(Msg::single(m)));
        }
        assert_eq!((s.msgs, s.bytes, s.items.len()), (1, 3, 1));
    }

    #[test]
    fn a_blocked_sender_is_refilled_once_room_comes() {
        let mut engine = Engine::new(
            std::time::Instant::now(),
            EngineConfig::new(zmtp_core::Config::new(SocketType::Push)),
        );
        let lane = Lane::new(room(0));
        // Nothing is linked at this id: the engine has nothing to give.
        assert!(!lane.fill(&mut engine, ConnId(7)));
        let mut took = VecDeque::new();
        assert!(lane.take(&mut took, room(5), false).refill_sender);
        assert!(
            !lane.take(&mut took, room(5), false).refill_sender,
            "one refill per block"
        );
        // Blocked again; room that comes without a take (the receiver found
        // its pipe less full than reckoned) refills too, once.
        lane.set_room(room(0));
        assert!(!lane.fill(&mut engine, ConnId(7)));
        assert!(!lane.set_room(room(0)));
        assert!(lane.set_room(room(1)));
        assert!(!lane.set_room(room(1)), "one refill per block");
    }
}
