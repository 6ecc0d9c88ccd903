//! REQ and REP (RFC 28): envelopes, strict alternation, replies to the right pipe.

use bytes::Bytes;
use zmtp_core::Msg;

use crate::error::{RecvError, SendError};
use crate::pattern::{Kind, Pattern};
use crate::pipe::{PipeId, PipeItem};

impl Pattern {
    /// REQ: prefix the delimiter (and request id), send round-robin, remember the
    /// pipe; only its reply will be accepted.
    pub(crate) fn req_send(&mut self, mut msg: Msg) -> Result<(), SendError> {
        let relaxed = self.opts.req_relaxed;
        let correlate = self.opts.req_correlate;
        let Kind::Req {
            expecting,
            request_id,
            ..
        } = &mut self.kind
        else {
            return Err(SendError::NotSupported(msg));
        };
        if *expecting && !relaxed {
            return Err(SendError::InvalidState(msg));
        }
        let next_id = request_id.wrapping_add(1);
        msg.push_front(Bytes::new());
        if correlate {
            // libzmq writes the id in host byte order; peers echo it as opaque bytes.
            msg.push_front(Bytes::copy_from_slice(&next_id.to_le_bytes()));
        }
        match self.lb_send(msg) {
            Ok(pipe) => {
                if let Kind::Req {
                    reply_pipe,
                    expecting,
                    request_id,
                } = &mut self.kind
                {
                    *reply_pipe = Some(pipe);
                    *expecting = true;
                    *request_id = next_id;
                }
                // Anything queued now is a stale reply to an abandoned request.
                for p in self.pipes.values_mut() {
                    p.inq.clear();
                }
                self.reap_closing();
                Ok(())
            }
            Err(SendError::WouldBlock(mut m)) => {
                m.pop_front();
                if correlate {
                    m.pop_front();
                }
                Err(SendError::WouldBlock(m))
            }
            Err(e) => Err(e),
        }
    }

    /// REQ: drop replies from other pipes, replies without the delimiter, and
    /// replies that do not echo the current request id.
    pub(crate) fn req_filter(&self, pipe: PipeId, mut msg: Msg) -> Option<Msg> {
        let Kind::Req {
            reply_pipe,
            expecting,
            request_id,
        } = &self.kind
        else {
            return None;
        };
        if !*expecting || *reply_pipe != Some(pipe) {
            return None;
        }
        if self.opts.req_correlate {
            let id = msg.pop_front()?;
            if id[..] != request_id.to_le_bytes() {
                return None;
            }
        }
        if !msg.pop_front()?.is_empty() || msg.is_empty() {
            return None;
        }
        Some(msg)
    }

    pub(crate) fn req_recv(&mut self) -> Result<Msg, RecvError> {
        if !matches!(
            self.kind,
            Kind::Req {
                expecting: true,
                ..
            }
        ) {
            return Err(RecvError::InvalidState);
        }
        let msg = self.fq_recv().ok_or(RecvError::WouldBlock)?;
        if let Kind::Req { expecting, .. } = &mut self.kind {
            *expecting = false;
        }
        Ok(msg)
    }

    /// REP: take the next request fairly, keep its envelope (everything up to and
    /// including the first empty frame). Requests without one are dropped.
    pub(crate) fn rep_recv(&mut self) -> Result<Msg, RecvError> {
        if matches!(self.kind, Kind::Rep { pending: Some(_) }) {
            return Err(RecvError::InvalidState);
        }
        while let Some((pipe, msg)) = self.fq_recv_from() {
            let frames: Vec<Bytes> = msg.into_frames().collect();
            let Some(delim) = frames.iter().position(Bytes::is_empty) else {
                continue;
            };
            if delim + 1 == frames.len() {
                continue;
            }
            let body: Msg = frames[delim + 1..].iter().cloned().collect();
            let envelope = frames[..=delim].to_vec();
            if let Kind::Rep { pending } = &mut self.kind {
                *pending = Some((pipe, envelope));
            }
            return Ok(body);
        }
        Err(RecvError::WouldBlock)
    }

    /// REP: the reply goes back with the stored envelope to the pipe the request
    /// came from; if that peer is gone or full, the reply is dropped.
    pub(crate) fn rep_send(&mut self, msg: Msg) -> Result<(), SendError> {
        let Kind::Rep { pending } = &mut self.kind else {
            return Err(SendError::NotSupported(msg));
        };
        let Some((pipe, envelope)) = pending.take() else {
            return Err(SendError::InvalidState(msg));
        };
        if self.pipe_has_room(pipe) {
            let mut reply: Msg = envelope.into_iter().collect();
            for f in msg.into_frames() {
                reply.push(f);
            }
            self.push_out(pipe, PipeItem::Message(reply));
        }
        Ok(())
    }
}
