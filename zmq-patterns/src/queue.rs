//! A pipe's receive queue, counting the bytes it holds as well as the
//! messages, for RCVHWM in bytes: a few huge messages must stop a peer as
//! surely as many small ones.

use std::collections::VecDeque;

use zmtp_core::Msg;

/// Messages with the sum of their bodies' lengths kept up to date.
#[derive(Debug, Default)]
pub(crate) struct MsgQueue {
    msgs: VecDeque<Msg>,
    bytes: usize,
}

impl MsgQueue {
    #[inline]
    pub(crate) fn push_back(&mut self, msg: Msg) {
        self.bytes += msg.byte_len();
        self.msgs.push_back(msg);
    }

    pub(crate) fn pop_front(&mut self) -> Option<Msg> {
        self.pop_front_sized().map(|(msg, _)| msg)
    }

    /// The oldest message with its [`Msg::byte_len`], which a caller that
    /// counts bytes would otherwise work out a second time.
    #[inline]
    pub(crate) fn pop_front_sized(&mut self) -> Option<(Msg, usize)> {
        let msg = self.msgs.pop_front()?;
        let len = msg.byte_len();
        self.bytes -= len;
        Some((msg, len))
    }

    pub(crate) fn front(&self) -> Option<&Msg> {
        self.msgs.front()
    }

    pub(crate) fn clear(&mut self) {
        self.msgs.clear();
        self.bytes = 0;
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.msgs.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.msgs.len()
    }

    /// The bodies' bytes of every queued message.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_follow_pushes_pops_and_clears() {
        let mut q = MsgQueue::default();
        q.push_back(Msg::from((vec![0u8; 3], vec![0u8; 4])));
        q.push_back(Msg::from(vec![1u8; 10]));
        assert_eq!((q.len(), q.bytes()), (2, 17));
        assert_eq!(q.pop_front().map(|m| m.byte_len()), Some(7));
        assert_eq!(q.bytes(), 10);
        q.clear();
        assert_eq!((q.len(), q.bytes()), (0, 0));
        assert!(q.pop_front().is_none());
    }
}
