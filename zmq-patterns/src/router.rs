//! ROUTER (RFC 28): routing ids, addressed sends, prefixed receives.

use std::collections::HashMap;

use bytes::Bytes;
use zmtp_core::Msg;

use crate::error::{AttachError, RecvError, SendError};
use crate::pattern::{Direct, Kind, Pattern};
use crate::pipe::{PeerMeta, PipeAction, PipeId};

impl Pattern {
    /// The routing id of a new pipe: the peer's `Identity` if it sent one, else a
    /// generated 5-byte id starting with 0x00, as libzmq generates them.
    pub(crate) fn assign_routing_id(
        &mut self,
        id: PipeId,
        peer: &PeerMeta,
    ) -> Result<Bytes, AttachError> {
        let handover = self.opts.router_handover;
        let Kind::Router { by_id, next_id } = &mut self.kind else {
            return Ok(peer.routing_id.clone());
        };
        let rid = if peer.routing_id.is_empty() {
            fresh_id(by_id, next_id)
        } else {
            peer.routing_id.clone()
        };
        if let Some(&old) = by_id.get(&rid) {
            if !handover {
                return Err(AttachError::DuplicateRoutingId);
            }
            // As libzmq: the old pipe gets a fresh id for what it still delivers,
            // so replies to those go nowhere rather than to the new peer.
            let fresh = fresh_id(by_id, next_id);
            by_id.insert(fresh.clone(), old);
            if let Some(p) = self.pipes.get_mut(&old) {
                p.routing_id = fresh;
            }
            self.actions.push_back(PipeAction::Terminate(old));
        }
        by_id.insert(rid.clone(), id);
        Ok(rid)
    }

    /// The pipe of the peer a routed message's first frame names (ROUTER
    /// and STREAM), if one has that routing id.
    pub(crate) fn routed_pipe(&self, msg: &Msg) -> Option<PipeId> {
        match &self.kind {
            Kind::Router { by_id, .. } => msg.first().and_then(|id| by_id.get(id)).copied(),
            _ => None,
        }
    }

    /// ROUTER: the first frame names the pipe. Unknown ids and full pipes drop the
    /// message, or fail with ROUTER_MANDATORY.
    pub(crate) fn router_send(
        &mut self,
        mut msg: Msg,
        direct: &mut Direct<'_>,
    ) -> Result<(), SendError> {
        let mandatory = self.opts.router_mandatory;
        // The id frame must be followed by at least one frame (it carries MORE).
        if msg.len() < 2 {
            return Ok(());
        }
        let target = self.routed_pipe(&msg);
        let Some(pipe) = target else {
            return if mandatory {
                Err(SendError::HostUnreachable(msg))
            } else {
                Ok(())
            };
        };
        if !self.pipe_has_room(pipe) {
            return if mandatory {
                Err(SendError::WouldBlock(msg))
            } else {
                Ok(())
            };
        }
        msg.pop_front();
        self.push_msg(pipe, msg, direct);
        Ok(())
    }

    pub(crate) fn router_recv(&mut self) -> Result<Msg, RecvError> {
        let (_, mut msg, rid) = self.fq_pop().ok_or(RecvError::WouldBlock)?;
        msg.push_front(rid);
        Ok(msg)
    }

    /// Forgets a departed pipe's routing id (unless a handover gave it away).
    pub(crate) fn router_detach(&mut self, id: PipeId, rid: &Bytes) {
        if let Kind::Router { by_id, .. } = &mut self.kind {
            if by_id.get(rid) == Some(&id) {
                by_id.remove(rid);
            }
        }
    }
}

/// A generated routing id: 0x00 then a 32-bit counter, as libzmq makes them,
/// skipping any already in use.
fn fresh_id(by_id: &HashMap<Bytes, PipeId>, next_id: &mut u32) -> Bytes {
    loop {
        *next_id = next_id.wrapping_add(1);
        let mut v = vec![0u8];
        v.extend_from_slice(&next_id.to_be_bytes());
        let candidate = Bytes::from(v);
        if !by_id.contains_key(&candidate) {
            return candidate;
        }
    }
}
