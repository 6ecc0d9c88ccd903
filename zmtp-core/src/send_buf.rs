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
}

impl SendBuf {
    /// Queues a data or command frame.
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

    fn reserve(&mut self, additional: usize) {
        if self.batch.capacity() - self.batch.len() < additional {
            // What the full batch holds becomes a chunk of its own: growing
            // it in place would copy every byte already in it (a connection
            // holds up to a full write, 256 KiB, before its pipe queues).
            self.flush_batch();
            self.batch_size = (self.batch_size * 2).clamp(BATCH_START, BATCH_CAPACITY);
            self.batch.reserve(additional.max(self.batch_size));
        }
    }

    /// The next chunk to write, oldest first.
    pub(crate) fn poll_transmit(&mut self) -> Option<Bytes> {
        if self.chunks.is_empty() {
            self.flush_batch();
        }
        let chunk = self.chunks.pop_front()?;
        self.queued -= chunk.len();
        Some(chunk)
    }

    /// Bytes queued and not yet handed out.
    pub(crate) fn len(&self) -> usize {
        self.queued
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
