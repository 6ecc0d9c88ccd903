//! What a socket holds for its peers and for its reader: a count to check
//! that back-pressure keeps memory flat (a sender blocked at SNDHWM must stop
//! growing), not a figure libzmq exposes.

use crate::pattern::Pattern;
use crate::pipe::PipeItem;

/// Messages and payload bytes held in a socket's pipes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Queued {
    /// Messages waiting to be written to a peer (subscriptions not counted:
    /// SNDHWM does not bound them either).
    pub out_messages: usize,
    /// Payload bytes of those messages.
    pub out_bytes: usize,
    /// Messages received and not yet read by the application.
    pub in_messages: usize,
    /// Payload bytes of those messages.
    pub in_bytes: usize,
}

impl Pattern {
    /// Counts what every pipe holds; linear in the queued messages, meant
    /// for tests and diagnostics rather than the hot path.
    pub fn queued(&self) -> Queued {
        let mut q = Queued::default();
        for pipe in self.pipes.values() {
            for item in &pipe.out {
                if let PipeItem::Message(m) = item {
                    q.out_messages += 1;
                    q.out_bytes += m.byte_len();
                }
            }
            q.in_messages += pipe.inq.len();
            q.in_bytes += pipe.inq.bytes();
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use zmtp_core::{Msg, SocketType};

    use super::*;
    use crate::pipe::{PeerMeta, PipeId};

    #[test]
    fn counts_outbound_and_inbound() {
        let mut p = Pattern::new(SocketType::Dealer);
        p.attach(PipeId(1), PeerMeta::new(Some(SocketType::Router), ""))
            .unwrap();
        p.send(Msg::multipart(["ab", "cde"])).unwrap();
        p.handle_message(PipeId(1), Msg::single("xyz")).unwrap();
        let q = p.queued();
        assert_eq!((q.out_messages, q.out_bytes), (1, 5));
        assert_eq!((q.in_messages, q.in_bytes), (1, 3));
        while p.poll_outbound(PipeId(1)).is_some() {}
        p.recv().unwrap();
        assert_eq!(p.queued(), Queued::default());
    }
}
