//! Frame headers: `flags(1) size(1 | 8) body(size)` (RFC 23 §3.1).

use bytes::BufMut;

/// MORE flag: another frame of the same message follows.
pub const FLAG_MORE: u8 = 0x01;
/// LONG flag: the size field is 8 bytes big-endian instead of 1.
pub const FLAG_LONG: u8 = 0x02;
/// COMMAND flag: the frame is a command, not message data.
pub const FLAG_COMMAND: u8 = 0x04;

/// Longest frame header: flags plus an 8-byte size.
pub const MAX_HEADER_LEN: usize = 9;

/// A decoded frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// MORE bit.
    pub more: bool,
    /// COMMAND bit.
    pub command: bool,
    /// Body length as declared by the peer; not yet checked against any limit.
    pub size: u64,
}

impl FrameHeader {
    /// Parses a header from the front of `buf`, returning it and its length, or
    /// `None` when more bytes are needed. Reserved flag bits are ignored, as libzmq
    /// ignores them; the long form is accepted for any size, as libzmq accepts it.
    pub fn parse(buf: &[u8]) -> Option<(Self, usize)> {
        let &flags = buf.first()?;
        let (size, len) = if flags & FLAG_LONG != 0 {
            let raw: [u8; 8] = buf.get(1..9)?.try_into().ok()?;
            (u64::from_be_bytes(raw), 9)
        } else {
            (u64::from(*buf.get(1)?), 2)
        };
        Some((
            Self {
                more: flags & FLAG_MORE != 0,
                command: flags & FLAG_COMMAND != 0,
                size,
            },
            len,
        ))
    }

    /// The flags byte for this header (LONG set iff the size needs it).
    pub fn flags(&self) -> u8 {
        let mut f = 0;
        if self.more {
            f |= FLAG_MORE;
        }
        if self.command {
            f |= FLAG_COMMAND;
        }
        if self.size > 255 {
            f |= FLAG_LONG;
        }
        f
    }

    /// Encoded length of this header: 2 for short frames, 9 for long ones.
    pub fn encoded_len(&self) -> usize {
        if self.size > 255 {
            9
        } else {
            2
        }
    }

    /// Writes the header; the short form is used iff the size fits in one byte,
    /// exactly as libzmq does.
    /// One `put_slice` either way: each `put` into a `BytesMut` checks its
    /// room, and a publisher writes a header per subscriber per message.
    pub fn emit(&self, out: &mut impl BufMut) {
        if self.size > 255 {
            let mut long = [0u8; 9];
            long[0] = self.flags();
            long[1..].copy_from_slice(&self.size.to_be_bytes());
            out.put_slice(&long);
        } else {
            out.put_slice(&[self.flags(), self.size as u8]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emit(h: FrameHeader) -> Vec<u8> {
        let mut v = Vec::new();
        h.emit(&mut v);
        v
    }

    #[test]
    fn two_part_message_bytes() {
        let a = FrameHeader {
            more: true,
            command: false,
            size: 1,
        };
        let b = FrameHeader {
            more: false,
            command: false,
            size: 1,
        };
        assert_eq!(emit(a), [0x01, 0x01]);
        assert_eq!(emit(b), [0x00, 0x01]);
    }

    #[test]
    fn long_frame_header() {
        let h = FrameHeader {
            more: false,
            command: false,
            size: 256,
        };
        assert_eq!(emit(h), [0x02, 0, 0, 0, 0, 0, 0, 1, 0]);
        assert_eq!(FrameHeader::parse(&emit(h)), Some((h, 9)));
        let c = FrameHeader {
            more: false,
            command: true,
            size: 255,
        };
        assert_eq!(emit(c), [0x04, 0xFF]);
    }

    #[test]
    fn partial_headers_need_more() {
        let full = [0x02, 0, 0, 0, 0, 0, 0, 1, 0];
        for n in 0..9 {
            assert_eq!(FrameHeader::parse(&full[..n]), None);
        }
        assert_eq!(FrameHeader::parse(&[0x00]), None);
    }

    #[test]
    fn accepts_long_form_for_small_sizes_and_ignores_reserved_bits() {
        let (h, n) = FrameHeader::parse(&[0xFA, 0, 0, 0, 0, 0, 0, 0, 3]).unwrap();
        assert_eq!(n, 9);
        assert_eq!(h.size, 3);
        assert!(!h.more);
        assert!(!h.command);
    }
}
