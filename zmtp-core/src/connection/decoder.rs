//! Splits whole frames off the front of the caller's receive buffer.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::ConnectionError;
use crate::wire::frame::FrameHeader;
use crate::wire::v1_frame::V1Header;

/// Reserve at least this much when a frame is incomplete, so small reads do not
/// grow the buffer a few bytes at a time.
const MIN_RESERVE: usize = 64 * 1024;

/// A frame removed from the receive buffer. Its body is still mutable so that
/// CURVE can decrypt in place before freezing it.
#[derive(Debug)]
pub(crate) struct RawFrame {
    pub(crate) more: bool,
    pub(crate) command: bool,
    pub(crate) body: BytesMut,
}

/// Largest command accepted before the handshake completes, whatever MAXMSGSIZE
/// says: READY and INITIATE carry a few properties, and an unauthenticated peer
/// must not make us buffer (and parse, and copy) more than this.
pub(crate) const HANDSHAKE_FRAME_LIMIT: u64 = 1 << 20;

/// How frame headers are laid out on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `flags size(1 | 8) body`: ZMTP 2.0 and 3.x.
    Flags,
    /// `length(1 | 0xFF + 8) flags body`: ZMTP/1.0.
    V1,
}

/// The frames of a run that [`Decoder::split_run`] split off: each one's
/// MORE and COMMAND flags and its body, a slice of the run (an empty body
/// takes no reference on it).
pub(crate) fn frames_of(run: &Bytes) -> impl Iterator<Item = (bool, bool, Bytes)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        // Every header in the run was parsed and checked by `split_run`.
        let (header, header_len) = FrameHeader::parse(run.get(at..)?)?;
        let start = at + header_len;
        at = start + header.size as usize;
        Some((header.more, header.command, run.slice(start..at)))
    })
}

#[derive(Debug)]
pub(crate) struct Decoder {
    max_size: u64,
    /// While set, frames are also held to HANDSHAKE_FRAME_LIMIT.
    pub(crate) handshake: bool,
    pub(crate) framing: Framing,
}

impl Decoder {
    pub(crate) fn new(max_msg_size: Option<u64>) -> Self {
        // Never more than the address space can hold, whatever the configuration.
        let cap = isize::MAX as u64;
        Self {
            max_size: max_msg_size.map_or(cap, |m| m.min(cap)),
            handshake: true,
            framing: Framing::Flags,
        }
    }

    /// Removes one whole frame from the front of `buf`, or returns `None` and leaves
    /// a partial frame in place. The size is checked against the limit as soon as
    /// the header is readable, before any memory is reserved for the body.
    pub(crate) fn decode(&self, buf: &mut BytesMut) -> Result<Option<RawFrame>, ConnectionError> {
        if self.framing == Framing::V1 {
            return self.decode_v1(buf);
        }
        let Some((header, header_len)) = FrameHeader::parse(buf) else {
            return Ok(None);
        };
        self.take(buf, header, header_len)
    }

    /// Splits off the run of whole frames at the front of `buf` at once, for
    /// the caller to slice into bodies ([`frames_of`]): one split per read
    /// instead of one per frame. The run stops before the first frame that
    /// is partial or larger than the limit, which [`Decoder::decode`] then
    /// handles (reserving room, or failing) after the run is delivered.
    /// It also stops after `max_frames` frames. Returns the run and how many
    /// frames it holds; `None` when there is not one such frame. Only for
    /// ZMTP 2.0/3.x framing after the handshake.
    pub(crate) fn split_run(
        &self,
        buf: &mut BytesMut,
        max_frames: usize,
    ) -> Option<(Bytes, usize)> {
        debug_assert!(self.framing == Framing::Flags && !self.handshake);
        let mut at = 0;
        let mut frames = 0;
        while frames < max_frames {
            let Some((header, header_len)) = FrameHeader::parse(&buf[at..]) else {
                break;
            };
            let left = (buf.len() - at - header_len) as u64;
            if header.size > self.max_size || header.size > left {
                break;
            }
            // Fits: at most what `buf` holds.
            at += header_len + header.size as usize;
            frames += 1;
        }
        (at > 0).then(|| (buf.split_to(at).freeze(), frames))
    }

    /// A ZMTP/1.0 header in the shape of a 2.0/3.x one (1.0 has no commands), so
    /// both framings share the size checks and the buffer discipline of `take`.
    /// Out of line, so the 3.x path stays what it was.
    #[cold]
    fn decode_v1(&self, buf: &mut BytesMut) -> Result<Option<RawFrame>, ConnectionError> {
        let Some((h, header_len)) = V1Header::parse(buf)? else {
            return Ok(None);
        };
        let header = FrameHeader {
            more: h.more,
            command: false,
            size: h.size,
        };
        self.take(buf, header, header_len)
    }

    /// Checks the announced size, then splits the frame off once it is whole.
    #[inline(always)]
    fn take(
        &self,
        buf: &mut BytesMut,
        header: FrameHeader,
        header_len: usize,
    ) -> Result<Option<RawFrame>, ConnectionError> {
        let max = if self.handshake {
            self.max_size.min(HANDSHAKE_FRAME_LIMIT)
        } else {
            self.max_size
        };
        if header.size > max {
            return Err(ConnectionError::MessageTooLarge {
                size: header.size,
                max,
            });
        }
        // Fits in usize: max_size <= isize::MAX.
        let size = header.size as usize;
        let total = header_len + size;
        if buf.len() < total {
            // Grow geometrically but never by more than what has actually arrived
            // (plus 64 KiB), so a peer announcing a huge frame costs nothing until it
            // really sends the bytes.
            let missing = total - buf.len();
            let want = missing.min(MIN_RESERVE.max(buf.len()));
            buf.reserve(want);
            return Ok(None);
        }
        buf.advance(header_len);
        // An empty body takes no reference on the receive buffer.
        let body = if size == 0 {
            BytesMut::new()
        } else {
            buf.split_to(size)
        };
        Ok(Some(RawFrame {
            more: header.more,
            command: header.command,
            body,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_announced_frame_is_refused_without_growth() {
        let d = Decoder::new(Some(1024));
        let mut buf = BytesMut::from(&[0x02u8, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff][..]);
        let cap = buf.capacity();
        assert!(matches!(
            d.decode(&mut buf),
            Err(ConnectionError::MessageTooLarge { .. })
        ));
        assert_eq!(buf.capacity(), cap);
    }

    #[test]
    fn huge_frame_without_limit_reserves_only_a_window() {
        let mut d = Decoder::new(None);
        d.handshake = false;
        let mut buf = BytesMut::from(&[0x02u8, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff][..]);
        assert!(d.decode(&mut buf).unwrap().is_none());
        assert!(buf.capacity() <= 2 * MIN_RESERVE);
        let mut buf = BytesMut::from(&[0x02u8, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff][..]);
        assert!(d.decode(&mut buf).unwrap().is_none());
        assert!(buf.capacity() <= 2 * MIN_RESERVE);
        let mut buf = BytesMut::from(&[0x02u8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff][..]);
        assert!(d.decode(&mut buf).is_err());
    }

    #[test]
    fn v1_frames_split_and_are_held_to_the_limit() {
        let mut d = Decoder::new(Some(4));
        d.framing = Framing::V1;
        let mut buf = BytesMut::from(&b"\x02\x01A\x01\x00\x03\x00B"[..]);
        let a = d.decode(&mut buf).unwrap().unwrap();
        assert!(a.more && !a.command && &a.body[..] == b"A");
        let empty = d.decode(&mut buf).unwrap().unwrap();
        assert!(!empty.more && empty.body.is_empty());
        assert!(d.decode(&mut buf).unwrap().is_none());
        assert_eq!(&buf[..], b"\x03\x00B");
        // Body 5 > 4: refused on the header, before the body arrives.
        let mut buf = BytesMut::from(&b"\x06\x00"[..]);
        assert!(matches!(
            d.decode(&mut buf),
            Err(ConnectionError::MessageTooLarge { size: 5, max: 4 })
        ));
        let mut buf =
            BytesMut::from(&[0xFFu8, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0][..]);
        let cap = buf.capacity();
        assert!(d.decode(&mut buf).is_err());
        assert_eq!(buf.capacity(), cap);
        let mut buf = BytesMut::from(&[0u8][..]);
        assert!(d.decode(&mut buf).is_err());
    }

    #[test]
    fn huge_v1_frame_without_limit_reserves_only_a_window() {
        let mut d = Decoder::new(None);
        d.handshake = false;
        d.framing = Framing::V1;
        let mut buf =
            BytesMut::from(&[0xFFu8, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0][..]);
        assert!(d.decode(&mut buf).unwrap().is_none());
        assert!(buf.capacity() <= 2 * MIN_RESERVE);
    }

    #[test]
    fn splits_frames_and_keeps_partial_tail() {
        let d = Decoder::new(None);
        let mut buf = BytesMut::from(&b"\x01\x01A\x00\x01B\x00\x05HE"[..]);
        let a = d.decode(&mut buf).unwrap().unwrap();
        assert!(a.more && !a.command && &a.body[..] == b"A");
        let b = d.decode(&mut buf).unwrap().unwrap();
        assert!(!b.more && &b.body[..] == b"B");
        assert!(d.decode(&mut buf).unwrap().is_none());
        assert_eq!(&buf[..], b"\x00\x05HE");
    }

    fn active(max: Option<u64>) -> Decoder {
        let mut d = Decoder::new(max);
        d.handshake = false;
        d
    }

    #[test]
    fn a_run_is_the_whole_frames_and_leaves_the_partial_tail() {
        let d = active(None);
        // MORE "A", an empty frame, a command, a long-form header, then a
        // partial frame.
        let mut wire =
            b"\x01\x01A\x00\x00\x04\x02PQ\x02\x00\x00\x00\x00\x00\x00\x00\x03xyz".to_vec();
        wire.extend_from_slice(b"\x00\x05HE");
        let mut buf = BytesMut::from(&wire[..]);
        let (run, n) = d.split_run(&mut buf, usize::MAX).unwrap();
        assert_eq!(n, 4);
        assert_eq!(&buf[..], b"\x00\x05HE");
        let frames: Vec<_> = frames_of(&run).collect();
        assert_eq!(frames.len(), 4);
        assert_eq!(frames[0], (true, false, Bytes::from_static(b"A")));
        assert_eq!(frames[1], (false, false, Bytes::new()));
        assert_eq!(frames[2], (false, true, Bytes::from_static(b"PQ")));
        assert_eq!(frames[3], (false, false, Bytes::from_static(b"xyz")));
        assert!(
            d.split_run(&mut buf, usize::MAX).is_none(),
            "nothing whole is left"
        );
        assert_eq!(&buf[..], b"\x00\x05HE");
    }

    #[test]
    fn a_run_stops_after_the_frames_asked_for() {
        let d = active(None);
        let mut buf = BytesMut::from(&b"\x00\x01A\x00\x01B\x00\x01C\x00"[..]);
        let (run, n) = d.split_run(&mut buf, 2).unwrap();
        assert_eq!(n, 2);
        let bodies: Vec<_> = frames_of(&run).map(|f| f.2).collect();
        assert_eq!(bodies, [Bytes::from_static(b"A"), Bytes::from_static(b"B")]);
        assert_eq!(&buf[..], b"\x00\x01C\x00");
        let (run, n) = d.split_run(&mut buf, 2).unwrap();
        assert_eq!((n, &run[..]), (1, &b"\x00\x01C"[..]));
        assert_eq!(&buf[..], b"\x00");
    }

    #[test]
    fn a_run_stops_before_a_frame_over_the_limit_and_decode_refuses_it() {
        let d = active(Some(3));
        let mut buf = BytesMut::from(&b"\x00\x01A\x00\x04ABCD\x00\x01B"[..]);
        let (run, _) = d.split_run(&mut buf, usize::MAX).unwrap();
        assert_eq!(frames_of(&run).count(), 1, "only the frame before it");
        assert!(matches!(
            d.decode(&mut buf),
            Err(ConnectionError::MessageTooLarge { size: 4, max: 3 })
        ));
        // A long header announcing more than arrived is no run either; nor
        // is one announcing more than any buffer can hold.
        let d = active(None);
        let mut buf = BytesMut::from(&[0x02u8, 0, 0, 0, 0, 0, 0, 1, 0, b'a', b'b'][..]);
        assert!(d.split_run(&mut buf, usize::MAX).is_none());
        assert_eq!(buf.len(), 11);
        let mut buf = BytesMut::from(&[0x02u8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff][..]);
        assert!(d.split_run(&mut buf, usize::MAX).is_none());
        assert_eq!(buf.len(), 9);
    }
}
