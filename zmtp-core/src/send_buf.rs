//! The outgoing byte queue: small frames coalesced into one contiguous batch,
//! large bodies queued by reference.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use crate::wire::command::Command;
use crate::wire::frame::FrameHeader;
use crate::wire::v1_frame::V1Header;

/// Bodies up to this size are copied into the batch; larger ones are queued as
/// their own chunk, without a copy. Copying 8 KiB costs about what one extra
/// `iovec` entry and its bookkeeping cost, so this is where the curves cross
/// (see the `codec` benchmark).
pub(crate) const COPY_THRESHOLD: usize = 8 * 1024;

/// Batch capacity of a busy stream; one allocation serves many small messages.
const BATCH_CAPACITY: usize = 64 * 1024;

/// The first batch allocation: a stream that has sent only its handshake, or
/// a few messages, holds this much rather than a busy stream's batch.
const BATCH_START: usize = 1024;

/// Spent batches followed at most: what a stream can have in flight, a
/// connection's full write (256 KiB) and its writer's (256 KiB), in full
/// batches.
const SPENT_MAX: usize = 8;

/// How often a stream that keeps spent batches looks whether it filled any
/// since the last look; one that did not gives them up (see
/// [`SendBuf::check_spare`]), 250 to 500 ms after its last batch.
pub(crate) const SPARE_KEEP: std::time::Duration = std::time::Duration::from_millis(250);

/// A frame header of either framing, as `SendBuf` writes it.
trait Header {
    fn encoded_len(&self) -> usize;
    fn emit(&self, out: &mut BytesMut);
}

impl Header for FrameHeader {
    #[inline(always)]
    fn encoded_len(&self) -> usize {
        Self::encoded_len(self)
    }
    #[inline(always)]
    fn emit(&self, out: &mut BytesMut) {
        Self::emit(self, out);
    }
}

impl Header for V1Header {
    #[inline(always)]
    fn encoded_len(&self) -> usize {
        Self::encoded_len(self)
    }
    #[inline(always)]
    fn emit(&self, out: &mut BytesMut) {
        Self::emit(self, out);
    }
}

#[derive(Debug, Default)]
pub(crate) struct SendBuf {
    chunks: VecDeque<Bytes>,
    batch: BytesMut,
    queued: usize,
    /// The size of the batch's latest allocation, doubled with each new one up
    /// to [`BATCH_CAPACITY`].
    batch_size: usize,
    /// Full batches whose bytes went out as chunks, oldest first, that the
    /// writer may still hold. Once it has dropped every chunk of one, the
    /// memory can be the next batch: a stream whose writer runs behind its
    /// encoder (on another thread, or on the same thread's next turn) goes
    /// round a few buffers instead of freeing one and allocating one per
    /// 64 KiB. With the writer on another thread, that churn made glibc
    /// shrink its heap and grow it again: 44,000 page faults per million
    /// 1 KiB messages from a blocking sender, which sent about 15 % slower
    /// for them. A stream that stops
    /// filling batches gives them up (see [`SendBuf::check_spare`]), so an
    /// idle connection holds no more than before.
    spent: VecDeque<BytesMut>,
    /// Spent batches found written: buffers that are ours alone again.
    free: Vec<BytesMut>,
    /// Whether a batch filled since [`SendBuf::check_spare`] last looked.
    filled: bool,
}

impl SendBuf {
    /// Queues a data or command frame.
    #[inline]
    pub(crate) fn push_frame(&mut self, more: bool, command: bool, body: &Bytes) {
        let header = FrameHeader {
            more,
            command,
            size: body.len() as u64,
        };
        self.push_with(&header, body);
    }

    /// Queues a ZMTP/1.0 data frame.
    pub(crate) fn push_frame_v1(&mut self, more: bool, body: &Bytes) {
        let header = V1Header {
            more,
            size: body.len() as u64,
        };
        self.push_with(&header, body);
    }

    /// Queues one frame of either framing. Generic rather than dynamic, and
    /// always inlined, so that the ZMTP 3.x path compiles to the code it had
    /// before ZMTP/1.0 framing existed.
    #[inline(always)]
    fn push_with(&mut self, header: &impl Header, body: &Bytes) {
        self.queued += header.encoded_len() + body.len();
        let inline = body.len() <= COPY_THRESHOLD;
        self.reserve(header.encoded_len() + if inline { body.len() } else { 0 });
        header.emit(&mut self.batch);
        if inline {
            self.batch.extend_from_slice(body);
        } else {
            self.flush_batch();
            self.chunks.push_back(body.clone());
        }
    }

    /// Queues a command frame (unencrypted).
    pub(crate) fn push_command(&mut self, cmd: &Command) {
        self.write(64, |batch| cmd.emit(batch));
    }

    /// Lets an encoder that writes in place (commands, CURVE) append to the batch,
    /// and counts what it appended, so no write can go uncounted. `hint` is the
    /// expected length; `write` may append more, and must not remove anything.
    pub(crate) fn write<T>(&mut self, hint: usize, write: impl FnOnce(&mut BytesMut) -> T) -> T {
        self.reserve(hint);
        let before = self.batch.len();
        let result = write(&mut self.batch);
        self.queued += self.batch.len() - before;
        result
    }

    #[inline(always)]
    fn reserve(&mut self, additional: usize) {
        if self.batch.capacity() - self.batch.len() < additional {
            self.next_batch(additional);
        }
    }

    /// The batch is full: what it holds becomes a chunk of its own (growing
    /// it in place would copy every byte already in it, and a connection
    /// holds up to a full write, 256 KiB, before its pipe queues), and a
    /// written batch or a new allocation is the next. Out of line: once per
    /// 64 KiB, and the per-frame path stays small enough to inline.
    #[inline(never)]
    fn next_batch(&mut self, additional: usize) {
        let spent = !self.batch.is_empty();
        self.flush_batch();
        self.batch_size = (self.batch_size * 2).clamp(BATCH_START, BATCH_CAPACITY);
        let want = additional.max(self.batch_size);
        if spent {
            self.filled = true;
            self.spent.push_back(std::mem::take(&mut self.batch));
            if self.spent.len() > SPENT_MAX {
                self.spent.pop_front();
            }
        }
        match self.reusable(want) {
            Some(b) => self.batch = b,
            None => self.batch.reserve(want),
        }
    }

    /// A written batch of at least `want` bytes, if there is one.
    fn reusable(&mut self, want: usize) -> Option<BytesMut> {
        if let Some(i) = self.free.iter().position(|b| b.capacity() >= want) {
            return Some(self.free.swap_remove(i));
        }
        // `try_reclaim` succeeds for the buffer's last owner only: the
        // writer dropped every chunk of it.
        let i = self.spent.iter_mut().position(|s| s.try_reclaim(want))?;
        self.spent.remove(i)
    }

    /// The next chunk to write, oldest first.
    pub(crate) fn poll_transmit(&mut self) -> Option<Bytes> {
        if self.chunks.is_empty() {
            self.flush_batch();
        }
        let Some(chunk) = self.chunks.pop_front() else {
            self.collect_written();
            return None;
        };
        self.queued -= chunk.len();
        Some(chunk)
    }

    /// Bytes queued and not yet handed out.
    pub(crate) fn len(&self) -> usize {
        self.queued
    }

    /// Everything queued went to the writer: the spent batches it has
    /// finished with are free for the next ones.
    fn collect_written(&mut self) {
        let mut i = 0;
        while i < self.spent.len() {
            // A spent batch's remaining capacity is what was left over when
            // it filled: reclaiming more succeeds for the last owner only.
            let s = &mut self.spent[i];
            if s.try_reclaim(s.capacity() + 1) {
                self.free.extend(self.spent.remove(i));
            } else {
                i += 1;
            }
        }
    }

    /// Whether spent batches are kept, written or not.
    pub(crate) fn holds_spare(&self) -> bool {
        !self.spent.is_empty() || !self.free.is_empty()
    }

    /// Called [`SPARE_KEEP`] after the last call, or after a drain that
    /// left spare batches: a stream that filled none since lets them go.
    /// Returns whether it keeps any (look again later).
    pub(crate) fn check_spare(&mut self) -> bool {
        if !std::mem::take(&mut self.filled) {
            // What the writer still holds is freed when it is written.
            self.spent = VecDeque::new();
            self.free = Vec::new();
        }
        self.holds_spare()
    }

    fn flush_batch(&mut self) {
        if !self.batch.is_empty() {
            self.chunks.push_back(self.batch.split().freeze());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(s: &mut SendBuf) -> Vec<Bytes> {
        std::iter::from_fn(|| s.poll_transmit()).collect()
    }

    #[test]
    fn small_frames_coalesce_into_one_chunk() {
        let mut s = SendBuf::default();
        for _ in 0..100 {
            s.push_frame(false, false, &Bytes::from_static(b"hello"));
        }
        assert_eq!(s.len(), 700);
        let chunks = drain(&mut s);
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].len(), 700);
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn large_bodies_go_by_reference_in_order() {
        let mut s = SendBuf::default();
        let big = Bytes::from(vec![7u8; COPY_THRESHOLD + 1]);
        s.push_frame(true, false, &Bytes::from_static(b"a"));
        s.push_frame(false, false, &big);
        s.push_frame(false, false, &Bytes::from_static(b"b"));
        let chunks = drain(&mut s);
        assert_eq!(chunks.len(), 3);
        assert_eq!(
            &chunks[0][..],
            &[0x01, 0x01, b'a', 0x02, 0, 0, 0, 0, 0, 0, 0x20, 0x01]
        );
        assert_eq!(chunks[1].as_ptr(), big.as_ptr());
        assert_eq!(&chunks[2][..], b"\x00\x01b");
    }

    /// A batch that fills up is closed as a chunk, not copied into a bigger
    /// one: the bytes already queued stay where they are.
    #[test]
    fn a_full_batch_is_not_copied() {
        let mut s = SendBuf::default();
        let body = Bytes::from(vec![0u8; 1000]);
        s.push_frame(false, false, &body);
        let first = s.batch.as_ptr();
        let mut pushed = 1;
        // Well past a full batch (64 KiB).
        while pushed < 200 {
            s.push_frame(false, false, &body);
            pushed += 1;
        }
        assert!(!s.chunks.is_empty(), "a full batch became a chunk");
        assert_eq!(s.chunks[0].as_ptr(), first, "the first batch stayed put");
        // A long frame: 9 bytes of header.
        assert_eq!(s.len(), pushed * 1009);
        let chunks = drain(&mut s);
        assert_eq!(chunks.iter().map(|c| c.len()).sum::<usize>(), pushed * 1009);
    }

    /// A stream that sent only a command holds a small batch (it was 64 KiB
    /// per connection, before any handshake completed); one that keeps
    /// sending earns a full one.
    #[test]
    fn the_batch_starts_small_and_grows_with_traffic() {
        let mut s = SendBuf::default();
        s.push_frame(false, true, &Bytes::from_static(b"\x05READY"));
        assert!(s.batch.capacity() <= BATCH_START, "{}", s.batch.capacity());
        let body = Bytes::from(vec![0u8; 1000]);
        for _ in 0..8 {
            for _ in 0..100 {
                s.push_frame(false, false, &body);
            }
            drain(&mut s);
        }
        assert_eq!(s.batch_size, BATCH_CAPACITY);
    }
}

#[cfg(test)]
mod reuse {
    use std::collections::{HashSet, VecDeque};

    use bytes::Bytes;
    use proptest::prelude::*;

    use super::{SendBuf, BATCH_CAPACITY};

    /// The buffer the batch is in, named by where it ends (a split leaves
    /// the end where it was).
    fn buffer(s: &SendBuf) -> usize {
        s.batch.as_ptr() as usize + s.batch.capacity()
    }

    /// Queues `n` frames of 1000 bytes, the i-th of them filled with `i`.
    fn push(s: &mut SendBuf, from: usize, n: usize) {
        for i in from..from + n {
            s.push_frame(false, false, &Bytes::from(vec![i as u8; 1000]));
        }
    }

    /// What `push` queued, as the peer must read it.
    fn expected(n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..n {
            out.extend_from_slice(&[0x02, 0, 0, 0, 0, 0, 0, 0x03, 0xE8]);
            out.extend(std::iter::repeat_n(i as u8, 1000));
        }
        out
    }

    fn take_all(s: &mut SendBuf, into: &mut VecDeque<Bytes>) {
        while let Some(c) = s.poll_transmit() {
            into.push_back(c);
        }
    }

    /// A stream grown to full batches whose writer drops each chunk once
    /// written goes round a few buffers, not a new one per batch: the
    /// 100 KB a round queues spans three at most.
    #[test]
    fn a_batch_the_writer_has_dropped_is_filled_again() {
        let mut s = SendBuf::default();
        let mut out = VecDeque::new();
        for _ in 0..10 {
            push(&mut s, 0, 100);
            take_all(&mut s, &mut out);
            out.clear();
        }
        assert_eq!(s.batch_size, BATCH_CAPACITY);
        let mut seen = HashSet::new();
        for _ in 0..50 {
            push(&mut s, 0, 100);
            seen.insert(buffer(&s));
            take_all(&mut s, &mut out);
            out.clear();
        }
        assert!(seen.len() <= 3, "{} buffers for 50 rounds", seen.len());
    }

    /// While the writer holds a batch's chunks, its memory is not touched:
    /// every batch is a new buffer, and every byte reads as queued.
    #[test]
    fn a_batch_the_writer_holds_is_never_written_again() {
        let mut s = SendBuf::default();
        let mut out = VecDeque::new();
        let mut seen = HashSet::new();
        for round in 0..20 {
            push(&mut s, round * 100, 100);
            seen.insert(buffer(&s));
            take_all(&mut s, &mut out);
        }
        // The batch grows to 64 KiB over its first few buffers, then each
        // 100 KB round fills one or two new ones.
        assert!(seen.len() >= 20, "{} buffers", seen.len());
        let got: Vec<u8> = out.iter().flat_map(|c| c.iter().copied()).collect();
        assert!(got == expected(2000), "the queued bytes changed");
    }

    #[test]
    fn spare_batches_go_when_none_was_filled_since_the_last_look() {
        let mut s = SendBuf::default();
        let mut out = VecDeque::new();
        assert!(!s.holds_spare(), "a new stream keeps nothing");
        for _ in 0..10 {
            push(&mut s, 0, 100);
            take_all(&mut s, &mut out);
            out.clear();
        }
        assert!(s.holds_spare());
        assert!(s.check_spare(), "batches were filled since");
        push(&mut s, 0, 100);
        take_all(&mut s, &mut out);
        assert!(s.check_spare(), "and again");
        assert!(!s.check_spare(), "none filled since the last look");
        assert!(!s.holds_spare());
        // Chunks the writer still held are intact.
        let got: Vec<u8> = out.iter().flat_map(|c| c.iter().copied()).collect();
        assert!(got == expected(100));
    }

    proptest! {
        /// Whatever the writer holds, drops and in which order the stream
        /// looks at its spares, the bytes written are those queued.
        #[test]
        fn reuse_never_changes_what_is_written(
            steps in proptest::collection::vec((0usize..4, 1usize..200), 1..120),
        ) {
            let mut s = SendBuf::default();
            let mut held: VecDeque<Bytes> = VecDeque::new();
            let mut written = Vec::new();
            let mut queued = 0;
            for (op, n) in steps {
                match op {
                    0 => {
                        push(&mut s, queued, n);
                        queued += n;
                    }
                    1 => take_all(&mut s, &mut held),
                    2 => {
                        for c in held.drain(..n.min(held.len())) {
                            written.extend_from_slice(&c);
                        }
                    }
                    _ => {
                        s.check_spare();
                    }
                }
            }
            take_all(&mut s, &mut held);
            for c in held {
                written.extend_from_slice(&c);
            }
            prop_assert!(written == expected(queued), "the written bytes differ");
        }
    }
}
