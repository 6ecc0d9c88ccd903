//! ZMTP/1.0 frame headers (RFC 13): `length(1 | 0xFF + 8) flags(1) body`, where
//! the length counts the flags byte and the body.

use bytes::BufMut;

use super::WireError;

/// The escape byte that announces an 8-byte length.
const LONG_ESCAPE: u8 = 0xFF;

/// A decoded ZMTP/1.0 frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct V1Header {
    /// MORE bit (the only flag ZMTP/1.0 has).
    pub more: bool,
    /// Body length (the wire length minus the flags byte); not yet checked
    /// against any limit.
    pub size: u64,
}

impl V1Header {
    /// Parses a header from the front of `buf`: `Ok(None)` when more bytes are
    /// needed, otherwise the header and its length (2 or 10). A length of zero
    /// leaves no room for the flags byte and is refused, as libzmq refuses it.
    pub fn parse(buf: &[u8]) -> Result<Option<(Self, usize)>, WireError> {
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        let (len, at) = if first == LONG_ESCAPE {
            let Some(raw) = buf.get(1..9) else {
                return Ok(None);
            };
            let mut be = [0u8; 8];
            be.copy_from_slice(raw);
            (u64::from_be_bytes(be), 9)
        } else {
            (u64::from(first), 1)
        };
        if len == 0 {
            return Err(WireError::EmptyV1Frame);
        }
        let Some(&flags) = buf.get(at) else {
            return Ok(None);
        };
        let header = Self {
            more: flags & 0x01 != 0,
            size: len - 1,
        };
        Ok(Some((header, at + 1)))
    }

    /// Encoded length of this header: 2, or 10 once the length needs the escape.
    pub fn encoded_len(&self) -> usize {
        if self.size + 1 < u64::from(LONG_ESCAPE) {
            2
        } else {
            10
        }
    }

    /// Writes the header. As libzmq, a wire length of 255 or more takes the long
    /// form, since 255 itself is the escape.
    pub fn emit(&self, out: &mut impl BufMut) {
        let len = self.size + 1;
        if len < u64::from(LONG_ESCAPE) {
            out.put_u8(len as u8);
        } else {
            out.put_u8(LONG_ESCAPE);
            out.put_u64(len);
        }
        out.put_u8(u8::from(self.more));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emit(h: V1Header) -> Vec<u8> {
        let mut v = Vec::new();
        h.emit(&mut v);
        assert_eq!(v.len(), h.encoded_len());
        v
    }

    #[test]
    fn short_and_long_forms_round_trip() {
        for (size, more, bytes) in [
            (0u64, false, vec![1, 0]),
            (3, true, vec![4, 1]),
            (253, false, vec![254, 0]),
            (254, false, vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 255, 0]),
            (1000, true, vec![0xFF, 0, 0, 0, 0, 0, 0, 0x03, 0xE9, 1]),
        ] {
            let h = V1Header { more, size };
            assert_eq!(emit(h), bytes, "size {size}");
            assert_eq!(V1Header::parse(&bytes), Ok(Some((h, bytes.len()))));
            for n in 0..bytes.len() {
                assert_eq!(V1Header::parse(&bytes[..n]), Ok(None), "prefix {n}");
            }
        }
    }

    #[test]
    fn zero_length_is_refused_in_both_forms() {
        assert_eq!(V1Header::parse(&[0]), Err(WireError::EmptyV1Frame));
        assert_eq!(
            V1Header::parse(&[0xFF, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(WireError::EmptyV1Frame)
        );
    }

    #[test]
    fn libzmq_signature_reads_as_an_identity_header() {
        // libzmq's greeting signature with a 3-byte routing id: a long-form
        // header of length 4 whose flags byte 0x7F has MORE set.
        let sig = [0xFF, 0, 0, 0, 0, 0, 0, 0, 4, 0x7F];
        let (h, n) = V1Header::parse(&sig).unwrap().unwrap();
        assert_eq!((h.size, h.more, n), (3, true, 10));
    }
}
