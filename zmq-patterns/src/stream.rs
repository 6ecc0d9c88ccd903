//! STREAM (libzmq's ZMQ_STREAM): raw peers addressed by routing id. Also the
//! two things ROUTER-like sockets add to a pipe's life: the `[routing id, ""]`
//! notification of a peer coming or going (STREAM_NOTIFY, ROUTER_NOTIFY) and
//! PROBE_ROUTER's empty first message.
//!
//! A STREAM keeps its routing ids as a ROUTER does (the same `Kind::Router`
//! table, ids generated the same way), and receives as a ROUTER does; only
//! sending differs.

use bytes::Bytes;
use zmtp_core::{Msg, SocketType};

use crate::error::SendError;
use crate::pattern::{Kind, Pattern};
use crate::pipe::{PipeAction, PipeId, PipeItem};

impl Pattern {
    /// STREAM: `[routing id, data...]` writes the data frames' bytes to that
    /// peer; `[routing id, ""]` closes its connection after what was sent
    /// before it. As libzmq: an unknown id fails with `HostUnreachable` and a
    /// full pipe with `WouldBlock` (no ROUTER_MANDATORY needed), and an id
    /// with nothing after it is dropped.
    pub(crate) fn stream_send(&mut self, mut msg: Msg) -> Result<(), SendError> {
        if msg.len() < 2 {
            return Ok(());
        }
        let target = self.routed_pipe(&msg);
        let Some(pipe) = target else {
            return Err(SendError::HostUnreachable(msg));
        };
        if !self.pipe_has_room(pipe) {
            return Err(SendError::WouldBlock(msg));
        }
        let rid = msg.pop_front().unwrap_or_default();
        if msg.frames().iter().all(|f| f.is_empty()) {
            // The id is forgotten at once: from here on sending to it fails
            // as it does for any peer that has gone.
            self.router_detach(pipe, &rid);
            self.actions.push_back(PipeAction::Terminate(pipe));
            return Ok(());
        }
        self.push_out(pipe, PipeItem::Message(msg));
        Ok(())
    }

    /// Queues the notification that `pipe`'s peer connected or went away: the
    /// application receives it as `[routing id, ""]`. It is queued past
    /// RCVHWM: one empty message per connection event is bounded, and losing
    /// it would leave the application with a peer it never hears the end of.
    pub fn notify_peer(&mut self, pipe: PipeId) {
        self.push_received(pipe, Msg::single(Bytes::new()));
    }

    /// PROBE_ROUTER: a new pipe of a ROUTER, DEALER or REQ first carries an
    /// empty message, as libzmq writes it when it attaches the pipe.
    pub(crate) fn probe(&mut self, pipe: PipeId) {
        let probing = matches!(
            self.socket_type,
            SocketType::Router | SocketType::Dealer | SocketType::Req
        );
        if self.opts.probe_router && probing {
            self.push_out(pipe, PipeItem::Message(Msg::single(Bytes::new())));
        }
    }

    /// PROBE_ROUTER from now on: pipes attached later send the probe.
    pub fn set_probe_router(&mut self, on: bool) {
        self.opts.probe_router = on;
    }

    /// Whether a ROUTER or STREAM already routes to `id` (a CONNECT_ROUTING_ID
    /// must not take an id in use).
    pub fn has_routing_id(&self, id: &[u8]) -> bool {
        matches!(&self.kind, Kind::Router { by_id, .. } if by_id.contains_key(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Options, PeerMeta, RecvError};

    fn stream_with(pipes: &[u64]) -> Pattern {
        let mut p = Pattern::new(SocketType::Stream);
        for &id in pipes {
            p.attach(PipeId(id), PeerMeta::default()).unwrap();
        }
        p
    }

    #[test]
    fn generated_ids_route_both_ways() {
        let mut p = stream_with(&[1, 2]);
        let rid = p.routing_id(PipeId(2)).unwrap().clone();
        assert_eq!((rid.len(), rid[0]), (5, 0));
        p.handle_message(PipeId(2), Msg::single("hello")).unwrap();
        let got = p.recv().unwrap();
        assert_eq!(got.frames(), &[rid.clone(), Bytes::from("hello")]);
        assert_eq!(p.recv(), Err(RecvError::WouldBlock));
        p.send(Msg::multipart([rid, Bytes::from("reply")])).unwrap();
        assert_eq!(
            p.poll_outbound(PipeId(2)),
            Some(PipeItem::Message(Msg::single("reply")))
        );
        assert_eq!(p.poll_outbound(PipeId(1)), None);
    }

    #[test]
    fn unknown_id_is_unreachable_and_a_lone_id_is_dropped() {
        let mut p = stream_with(&[1]);
        assert!(matches!(
            p.send(Msg::multipart(["nobody", "x"])),
            Err(SendError::HostUnreachable(_))
        ));
        assert_eq!(p.send(Msg::single("nobody")), Ok(()));
        assert!(p.can_send());
    }

    #[test]
    fn an_empty_frame_closes_the_peer_and_forgets_its_id() {
        let mut p = stream_with(&[1]);
        let rid = p.routing_id(PipeId(1)).unwrap().clone();
        p.send(Msg::multipart([rid.clone(), Bytes::from("bye")]))
            .unwrap();
        p.send(Msg::multipart([rid.clone(), Bytes::new()])).unwrap();
        assert_eq!(p.poll_action(), Some(PipeAction::Terminate(PipeId(1))));
        assert!(matches!(
            p.send(Msg::multipart([rid, Bytes::from("late")])),
            Err(SendError::HostUnreachable(_))
        ));
        // What was sent before the close still goes out.
        assert_eq!(
            p.poll_outbound(PipeId(1)),
            Some(PipeItem::Message(Msg::single("bye")))
        );
    }

    #[test]
    fn full_pipe_would_block() {
        let opts = Options {
            sndhwm: 1,
            ..Options::default()
        };
        let mut p = Pattern::with_options(SocketType::Stream, opts);
        p.attach(PipeId(1), PeerMeta::default()).unwrap();
        let rid = p.routing_id(PipeId(1)).unwrap().clone();
        p.send(Msg::multipart([rid.clone(), Bytes::from("a")]))
            .unwrap();
        assert!(matches!(
            p.send(Msg::multipart([rid, Bytes::from("b")])),
            Err(SendError::WouldBlock(_))
        ));
    }

    #[test]
    fn notifications_outlive_the_pipe() {
        let mut p = stream_with(&[1]);
        let rid = p.routing_id(PipeId(1)).unwrap().clone();
        p.notify_peer(PipeId(1));
        p.notify_peer(PipeId(1));
        p.detach(PipeId(1));
        for _ in 0..2 {
            assert_eq!(p.recv().unwrap().frames(), &[rid.clone(), Bytes::new()]);
        }
        assert_eq!(p.recv(), Err(RecvError::WouldBlock));
    }

    #[test]
    fn probe_goes_first_on_router_dealer_and_req_only() {
        for t in SocketType::ALL {
            let opts = Options {
                probe_router: true,
                ..Options::default()
            };
            let mut p = Pattern::with_options(t, opts);
            if p.attach(PipeId(1), PeerMeta::default()).is_err() {
                continue;
            }
            let probed = p.poll_outbound(PipeId(1)) == Some(PipeItem::Message(Msg::single("")));
            let expected = matches!(t, SocketType::Router | SocketType::Dealer | SocketType::Req);
            assert_eq!(probed, expected, "{t}");
        }
    }
}
