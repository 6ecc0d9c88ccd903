//! Inproc links: peers that are other engines in this process, joined without
//! ZMTP. The runtime moves whole pipe items between the two engines; this
//! machine remembers which pipe each link serves and which links the runtime
//! found full, so that it hears when they have room again.

use std::collections::VecDeque;

use super::{Action, ConnId, ConnectorId};
use crate::idmap::IdMap;
use crate::pattern::Pattern;
use crate::pipe::PipeId;

/// What one side of an inproc link can still take (see
/// [`Engine::inproc_room`](super::Engine::inproc_room)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InprocRoom {
    /// Messages before RCVHWM (`usize::MAX`: no limit).
    pub msgs: usize,
    /// Bytes before the byte RCVHWM (`usize::MAX`: no limit).
    pub bytes: usize,
    /// The pipe keeps only the newest message (CONFLATE): it never fills, and
    /// a sender need hand over only its newest message.
    pub conflate: bool,
}

struct Link {
    pipe: PipeId,
    flush_queued: bool,
    /// The runtime found this side full; tell it when there is room again.
    blocked: bool,
    connector: Option<ConnectorId>,
}

/// Every inproc link of a socket.
#[derive(Default)]
pub(super) struct InprocLinks {
    links: IdMap<ConnId, Link>,
    by_pipe: IdMap<PipeId, ConnId>,
    /// Links the runtime found full.
    blocked: Vec<ConnId>,
}

impl InprocLinks {
    pub(super) fn add(&mut self, id: ConnId, pipe: PipeId, connector: Option<ConnectorId>) {
        let link = Link {
            pipe,
            flush_queued: false,
            blocked: false,
            connector,
        };
        self.links.insert(id, link);
        self.by_pipe.insert(pipe, id);
    }

    /// Removes a link; returns its pipe and the connector that made it.
    pub(super) fn remove(&mut self, id: ConnId) -> Option<(PipeId, Option<ConnectorId>)> {
        let link = self.links.remove(&id)?;
        self.by_pipe.remove(&link.pipe);
        Some((link.pipe, link.connector))
    }

    #[inline]
    pub(super) fn pipe(&self, id: ConnId) -> Option<PipeId> {
        self.links.get(&id).map(|l| l.pipe)
    }

    #[inline]
    pub(super) fn by_pipe(&self, pipe: PipeId) -> Option<ConnId> {
        self.by_pipe.get(&pipe).copied()
    }

    /// Asks the runtime for one flush while the pipe has items for the peer.
    #[inline]
    pub(super) fn queue_flush(
        &mut self,
        id: ConnId,
        pattern: &Pattern,
        actions: &mut VecDeque<Action>,
    ) {
        if let Some(link) = self.links.get_mut(&id) {
            if !link.flush_queued && pattern.has_outbound(link.pipe) {
                link.flush_queued = true;
                actions.push_back(Action::Flush(id));
            }
        }
    }

    /// The runtime is draining the link: the next new item needs a new flush.
    /// Returns the link's pipe.
    #[inline]
    pub(super) fn start_flush(&mut self, id: ConnId) -> Option<PipeId> {
        let link = self.links.get_mut(&id)?;
        link.flush_queued = false;
        Some(link.pipe)
    }

    /// Whether the link's pipe can take another item; a `false` is remembered,
    /// as the runtime now waits for [`Action::ResumeRead`].
    #[inline]
    pub(super) fn ready(&mut self, id: ConnId, pattern: &Pattern) -> bool {
        let Some(link) = self.links.get_mut(&id) else {
            return false;
        };
        let ready = pattern.can_accept(link.pipe);
        if !ready && !link.blocked {
            self.blocked.push(id);
        }
        link.blocked = !ready;
        ready
    }

    /// The link's pipe refused an item: the runtime waits for room.
    pub(super) fn block(&mut self, id: ConnId) {
        if let Some(link) = self.links.get_mut(&id) {
            if !link.blocked {
                link.blocked = true;
                self.blocked.push(id);
            }
        }
    }

    /// Tells the runtime which blocked links have room again.
    #[inline]
    pub(super) fn resume(&mut self, pattern: &Pattern, actions: &mut VecDeque<Action>) {
        // Called after every `recv`: nothing blocked must cost no call.
        if !self.blocked.is_empty() {
            self.resume_blocked(pattern, actions);
        }
    }

    fn resume_blocked(&mut self, pattern: &Pattern, actions: &mut VecDeque<Action>) {
        for id in std::mem::take(&mut self.blocked) {
            let Some(l) = self.links.get_mut(&id) else {
                continue;
            };
            if pattern.can_accept(l.pipe) {
                l.blocked = false;
                actions.push_back(Action::ResumeRead(id));
            } else {
                self.blocked.push(id);
            }
        }
    }

    pub(super) fn ids(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.links.keys().copied()
    }

    pub(super) fn pipes(&self) -> impl Iterator<Item = PipeId> + '_ {
        self.links.values().map(|l| l.pipe)
    }
}
