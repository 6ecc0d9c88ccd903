//! PUB, XPUB, SUB and XSUB (RFC 29): filtering at the publisher, counted
//! subscriptions, notifications for XPUB, subscriptions as messages for XSUB.

use bytes::Bytes;
use zmtp_core::{Msg, SocketType};

use crate::error::{RecvError, SendError};
use crate::pattern::{enqueue, room, subs_match, Direct, Kind, Pattern, Pipe};
use crate::pipe::{PipeId, PipeItem};

impl Pattern {
    /// A peer subscribed (PUB/XPUB; ignored by other types). XPUB tells its
    /// application about the first subscription to a topic (every one with
    /// XPUB_VERBOSE) as a message `0x01 + topic`.
    pub fn handle_subscribe(&mut self, id: PipeId, topic: Bytes) {
        let verbose = self.opts.xpub_verbose || self.opts.xpub_verboser;
        let is_xpub = self.socket_type == SocketType::XPub;
        let Some(pipe) = self.pipes.get_mut(&id) else {
            return;
        };
        let manual = self.opts.xpub_manual && is_xpub;
        let Kind::Pub { all, notes, .. } = &mut self.kind else {
            return;
        };
        if manual {
            notes.push_back((notification(1, &topic), id));
            return;
        }
        // Per pipe, subscriptions are a set (libzmq's mtrie keeps a set of pipes
        // per topic): a peer's second SUBSCRIBE to a topic changes nothing, and
        // one CANCEL removes it.
        let inserted = pipe.subs.insert(&topic);
        if inserted {
            self.index.add(&topic, id);
        }
        let first = inserted && all.add(&topic);
        if is_xpub && (first || verbose) {
            notes.push_back((notification(1, &topic), id));
        }
    }

    /// A peer cancelled a subscription. XPUB tells its application when the last
    /// subscription to a topic goes (every one with XPUB_VERBOSER): `0x00 + topic`.
    pub fn handle_cancel(&mut self, id: PipeId, topic: Bytes) {
        let verboser = self.opts.xpub_verboser;
        let is_xpub = self.socket_type == SocketType::XPub;
        let Some(pipe) = self.pipes.get_mut(&id) else {
            return;
        };
        let manual = self.opts.xpub_manual && is_xpub;
        let Kind::Pub { all, notes, .. } = &mut self.kind else {
            return;
        };
        if manual {
            notes.push_back((notification(0, &topic), id));
            return;
        }
        if pipe.subs.remove(&topic).is_none() {
            return;
        }
        self.index.remove(&topic, id);
        let last = all.remove(&topic) == Some(true);
        if is_xpub && (last || verboser) {
            notes.push_back((notification(0, &topic), id));
        }
    }

    /// XPUB_MANUAL: subscribes the peer of the notification last received to
    /// `topic`.
    pub fn xpub_manual_subscribe(&mut self, topic: &[u8]) {
        let Kind::Pub {
            all,
            last_pipe: Some(id),
            ..
        } = &mut self.kind
        else {
            return;
        };
        if let Some(pipe) = self.pipes.get_mut(id) {
            if !pipe.closing && pipe.subs.insert(topic) {
                all.add(topic);
                self.index.add(topic, *id);
            }
        }
    }

    /// XPUB_MANUAL: unsubscribes the peer of the notification last received.
    pub fn xpub_manual_unsubscribe(&mut self, topic: &[u8]) {
        let Kind::Pub {
            all,
            last_pipe: Some(id),
            ..
        } = &mut self.kind
        else {
            return;
        };
        if let Some(pipe) = self.pipes.get_mut(id) {
            if pipe.subs.remove(topic).is_some() {
                all.remove(topic);
                self.index.remove(topic, *id);
            }
        }
    }

    /// SUB: subscribe to a prefix (counted). Every subscribe is sent upstream.
    pub fn subscribe(&mut self, topic: &[u8]) {
        let Kind::Sub { subs } = &mut self.kind else {
            return;
        };
        subs.add(topic);
        self.broadcast(PipeItem::Subscribe(Bytes::copy_from_slice(topic)));
    }

    /// SUB: drop one subscription to a prefix; the cancel goes upstream only when
    /// the last one goes. Unknown prefixes are ignored.
    pub fn unsubscribe(&mut self, topic: &[u8]) {
        let Kind::Sub { subs } = &mut self.kind else {
            return;
        };
        if subs.remove(topic) == Some(true) {
            self.broadcast(PipeItem::Cancel(Bytes::copy_from_slice(topic)));
        }
    }

    /// PUB/XPUB: every pipe whose subscriptions match the first frame gets the
    /// message (shared, not copied); a full pipe misses it, or with XPUB_NODROP the
    /// send fails before anyone gets it.
    pub(crate) fn pub_send(
        &mut self,
        mut msg: Msg,
        direct: &mut Direct<'_>,
    ) -> Result<(), SendError> {
        let invert = self.opts.invert_matching;
        let mut targets = std::mem::take(&mut self.scratch);
        targets.clear();
        if invert {
            // Inverted matching wants the pipes *without* a match: ask each one.
            targets.extend(self.order.iter().filter(|id| {
                self.pipes
                    .get(id)
                    .is_some_and(|p| subs_match(&p.subs, &msg, true))
            }));
        } else {
            let topic = msg.first().map_or(&[][..], |f| &f[..]);
            self.index.matching(topic, &mut targets);
        }
        if self.opts.xpub_nodrop && targets.iter().any(|id| !self.pipe_has_room(*id)) {
            self.scratch = targets;
            return Err(SendError::WouldBlock(msg));
        }
        for &id in &targets {
            // A subscriber that keeps up is written to from the borrowed
            // message: no handle to clone and drop, no queue.
            let Some(p) = self.pipes.get_mut(&id) else {
                continue;
            };
            if !room(&self.opts, p) || (p.out.is_empty() && direct(id, &mut msg, false)) {
                continue;
            }
            enqueue(&mut self.dirty, id, p, PipeItem::Message(msg.clone()));
        }
        self.scratch = targets;
        Ok(())
    }

    /// XSUB: a one-frame message starting with 1 or 0 is a (un)subscription;
    /// anything else goes to every publisher.
    pub(crate) fn xsub_send(&mut self, msg: Msg) -> Result<(), SendError> {
        if msg.len() == 1 {
            let frame = &msg.frames()[0];
            match frame.first() {
                Some(1) => {
                    self.subscribe(&frame[1..]);
                    return Ok(());
                }
                Some(0) => {
                    self.unsubscribe(&frame[1..]);
                    return Ok(());
                }
                _ => {}
            }
        }
        for i in 0..self.order.len() {
            let id = self.order[i];
            if self.pipe_has_room(id) {
                self.push_out(id, PipeItem::Message(msg.clone()));
            }
        }
        Ok(())
    }

    /// SUB/XSUB: fair-queued, filtered again locally by prefix.
    pub(crate) fn sub_recv(&mut self) -> Result<Msg, RecvError> {
        while let Some(msg) = self.fq_recv() {
            if self.sub_accepts(&msg) {
                return Ok(msg);
            }
        }
        Err(RecvError::WouldBlock)
    }

    /// SUB/XSUB: whether `msg` matches the subscriptions as they stand now
    /// (true for every other type). A message taken from the queue ahead of
    /// `recv` is checked again with this after the subscriptions change, as
    /// `recv` would have filtered it.
    pub(crate) fn sub_accepts(&self, msg: &Msg) -> bool {
        match &self.kind {
            Kind::Sub { subs } => subs_match(subs, msg, self.opts.invert_matching),
            _ => true,
        }
    }

    /// SUB/XSUB: whether a matching message is queued; non-matching heads are
    /// dropped on the way.
    pub(crate) fn sub_has_in(&mut self) -> bool {
        let invert = self.opts.invert_matching;
        let Kind::Sub { subs } = &self.kind else {
            return false;
        };
        let mut found = false;
        'pipes: for pipe in self.pipes.values_mut() {
            while let Some(head) = pipe.inq.front() {
                if subs_match(subs, head, invert) {
                    found = true;
                    break 'pipes;
                }
                pipe.inq.pop_front();
            }
        }
        // Departed pipes emptied here are forgotten.
        self.reap_closing();
        found
    }

    /// XPUB: subscription notifications first, then messages from subscribers.
    pub(crate) fn xpub_recv(&mut self) -> Result<Msg, RecvError> {
        if let Kind::Pub {
            notes, last_pipe, ..
        } = &mut self.kind
        {
            if let Some((n, pipe)) = notes.pop_front() {
                *last_pipe = Some(pipe);
                return Ok(n);
            }
        }
        self.fq_recv().ok_or(RecvError::WouldBlock)
    }

    /// SUB/XSUB: a new publisher gets our whole subscription set, each prefix once,
    /// in byte order.
    pub(crate) fn on_attach_subscriptions(&mut self, id: PipeId) {
        if self.socket_type == SocketType::XPub {
            if let Some(welcome) = self.opts.xpub_welcome_msg.clone() {
                self.push_out(id, PipeItem::Message(welcome));
            }
        }
        let topics: Vec<Bytes> = match &self.kind {
            Kind::Sub { subs } => subs.entries().into_iter().map(|(t, _)| t).collect(),
            _ => return,
        };
        for t in topics {
            self.push_out(id, PipeItem::Subscribe(t));
        }
    }

    /// XPUB: a departed subscriber's topics are cancelled; the application hears
    /// of those nobody else holds.
    pub(crate) fn pubsub_detach(&mut self, id: PipeId, pipe: &Pipe) {
        let verboser = self.opts.xpub_verboser;
        let is_xpub = self.socket_type == SocketType::XPub;
        let Kind::Pub {
            all,
            notes,
            last_pipe,
        } = &mut self.kind
        else {
            return;
        };
        if *last_pipe == Some(id) {
            *last_pipe = None;
        }
        for (topic, count) in pipe.subs.entries() {
            self.index.remove(&topic, id);
            for _ in 0..count {
                let last = all.remove(&topic) == Some(true);
                if is_xpub && (last || verboser) {
                    notes.push_back((notification(0, &topic), id));
                }
            }
        }
    }

    fn broadcast(&mut self, item: PipeItem) {
        for i in 0..self.order.len() {
            let id = self.order[i];
            self.push_out(id, item.clone());
        }
    }
}

fn notification(kind: u8, topic: &[u8]) -> Msg {
    let mut v = Vec::with_capacity(topic.len() + 1);
    v.push(kind);
    v.extend_from_slice(topic);
    Msg::single(v)
}
