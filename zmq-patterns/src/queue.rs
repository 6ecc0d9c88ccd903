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
        let len = msg.byte_len();
        self.push_back_sized(msg, len);
    }

    /// [`MsgQueue::push_back`] of a message whose [`Msg::byte_len`] is
    /// `len`, for a caller that worked it out already.
    #[inline]
    pub(crate) fn push_back_sized(&mut self, msg: Msg, len: usize) {
        debug_assert_eq!(len, msg.byte_len());
        self.bytes += len;
        self.msgs.push_back(msg);
    }

    /// Lets `fill` move messages to the back of the queue all at once; it
    /// returns how many and their bytes ([`Msg::byte_len`] summed), which
    /// the queue takes on trust.
    #[inline]
    pub(crate) fn append_with(
        &mut self,
        fill: impl FnOnce(&mut VecDeque<Msg>) -> (usize, usize),
    ) -> usize {
        let (n, bytes) = fill(&mut self.msgs);
        self.bytes += bytes;
        n
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

    /// How many messages, of the first `most`, taking one at a time would
    /// move while under `max_msgs` and `max_bytes` (the one that reaches
    /// the byte limit still taken), and their bytes.
    pub(crate) fn front_run(
        &self,
        most: usize,
        max_msgs: usize,
        max_bytes: usize,
    ) -> (usize, usize) {
        let (mut n, mut bytes) = (0, 0);
        for m in self.msgs.iter().take(most.min(max_msgs)) {
            if bytes >= max_bytes {
                break;
            }
            n += 1;
            bytes += m.byte_len();
        }
        (n, bytes)
    }

    /// Moves the first `n` messages, of `bytes` bytes together (as
    /// [`MsgQueue::front_run`] counted them), to the back of `to`.
    pub(crate) fn move_front(&mut self, n: usize, bytes: usize, to: &mut VecDeque<Msg>) {
        to.extend(self.msgs.drain(..n));
        self.bytes -= bytes;
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
    fn a_front_run_is_what_one_at_a_time_would_take() {
        let sizes = [3, 4, 5, 6, 1];
        let queue = || {
            let mut q = MsgQueue::default();
            for n in sizes {
                q.push_back(Msg::from(vec![n as u8; n]));
            }
            q
        };
        for most in 0..=sizes.len() {
            for max_msgs in 0..=sizes.len() + 1 {
                for max_bytes in 0..=20 {
                    // One at a time, as a receive loop would.
                    let mut single = queue();
                    let mut want = VecDeque::new();
                    let mut bytes = 0;
                    while want.len() < max_msgs.min(most) && bytes < max_bytes {
                        let m = single.pop_front().unwrap();
                        bytes += m.byte_len();
                        want.push_back(m);
                    }
                    // Into a queue that holds one already, and into an
                    // empty one (a receive batch starts empty).
                    for before in [Some(Msg::from("before")), None] {
                        let mut run = queue();
                        let (n, b) = run.front_run(most, max_msgs, max_bytes);
                        assert_eq!((n, b), (want.len(), bytes), "{most} {max_msgs} {max_bytes}");
                        let mut got: VecDeque<Msg> = before.iter().cloned().collect();
                        run.move_front(n, b, &mut got);
                        if before.is_some() {
                            assert_eq!(got.pop_front(), before);
                        }
                        assert_eq!(got, want);
                        assert_eq!((run.len(), run.bytes()), (single.len(), single.bytes()));
                        let (mut left, mut rest) = (run, queue());
                        for _ in 0..sizes.len() - single.len() {
                            rest.pop_front();
                        }
                        while let Some(m) = rest.pop_front() {
                            assert_eq!(left.pop_front(), Some(m), "what stays, in order");
                        }
                        assert!(left.is_empty());
                    }
                }
            }
        }
    }

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
