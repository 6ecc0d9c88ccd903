//! Z85 text encoding of binary data (RFC 32), used for CURVE keys.
//!
//! Stricter than the RFC's reference decoder, as libzmq is: characters outside the
//! alphabet and 5-character groups worth more than `u32::MAX` are rejected instead
//! of silently decoding to something else, and the empty string is invalid.

use thiserror::Error;

const ALPHABET: &[u8; 85] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/// Why a Z85 string or a binary input was refused.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum Z85Error {
    /// Encoding needs a non-empty input whose length is a multiple of 4.
    #[error("Z85 encoding needs a non-empty input whose length is a multiple of 4, got {0} bytes")]
    BadInputLength(usize),
    /// Decoding needs a non-empty string whose length is a multiple of 5.
    #[error("Z85 text must be a non-empty multiple of 5 characters long, got {0}")]
    BadTextLength(usize),
    /// A character outside the Z85 alphabet.
    #[error("invalid Z85 character {ch:?} at position {pos}")]
    BadChar {
        /// The offending character.
        ch: char,
        /// Its byte offset in the text.
        pos: usize,
    },
    /// A 5-character group whose value does not fit in 32 bits.
    #[error("Z85 group at position {0} is larger than 2^32-1")]
    Overflow(usize),
}

/// Encodes `data` (length a multiple of 4) as Z85 text.
pub fn encode(data: &[u8]) -> Result<String, Z85Error> {
    if data.is_empty() || data.len() % 4 != 0 {
        return Err(Z85Error::BadInputLength(data.len()));
    }
    let mut out = String::with_capacity(data.len() / 4 * 5);
    for chunk in data.chunks_exact(4) {
        let mut value = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        let mut digits = [0u8; 5];
        for d in digits.iter_mut().rev() {
            *d = ALPHABET[(value % 85) as usize];
            value /= 85;
        }
        out.extend(digits.iter().map(|&b| b as char));
    }
    Ok(out)
}

/// Decodes Z85 text (length a multiple of 5) into bytes.
pub fn decode(text: &str) -> Result<Vec<u8>, Z85Error> {
    let bytes = text.as_bytes();
    if bytes.is_empty() || bytes.len() % 5 != 0 {
        return Err(Z85Error::BadTextLength(text.chars().count()));
    }
    let mut out = Vec::with_capacity(bytes.len() / 5 * 4);
    for (group, chunk) in bytes.chunks_exact(5).enumerate() {
        let mut value: u64 = 0;
        for (i, &c) in chunk.iter().enumerate() {
            let pos = group * 5 + i;
            let digit = digit_value(c).ok_or_else(|| Z85Error::BadChar {
                ch: text
                    .get(pos..)
                    .and_then(|s| s.chars().next())
                    .unwrap_or('\u{fffd}'),
                pos,
            })?;
            value = value * 85 + u64::from(digit);
        }
        let value = u32::try_from(value).map_err(|_| Z85Error::Overflow(group * 5))?;
        out.extend_from_slice(&value.to_be_bytes());
    }
    Ok(out)
}

/// Decodes a 40-character Z85 key into its 32 bytes.
pub fn decode_key(text: &str) -> Result<[u8; 32], Z85Error> {
    if text.len() != 40 {
        return Err(Z85Error::BadTextLength(text.chars().count()));
    }
    let v = decode(text)?;
    let mut key = [0u8; 32];
    key.copy_from_slice(&v);
    Ok(key)
}

fn digit_value(c: u8) -> Option<u8> {
    // A 256-entry table would be faster; keys are decoded once, so clarity wins.
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_vector_both_ways() {
        let raw = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B];
        assert_eq!(encode(&raw).unwrap(), "HelloWorld");
        assert_eq!(decode("HelloWorld").unwrap(), raw);
    }

    #[test]
    fn reference_key_vector() {
        let key = [
            0x8E, 0x0B, 0xDD, 0x69, 0x76, 0x28, 0xB9, 0x1D, 0x8F, 0x24, 0x55, 0x87, 0xEE, 0x95,
            0xC5, 0xB0, 0x4D, 0x48, 0x96, 0x3F, 0x79, 0x25, 0x98, 0x77, 0xB4, 0x9C, 0xD9, 0x06,
            0x3A, 0xEA, 0xD3, 0xB7,
        ];
        let text = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
        assert_eq!(encode(&key).unwrap(), text);
        assert_eq!(decode_key(text).unwrap(), key);
    }

    #[test]
    fn libzmq_round_trip_vector() {
        let text = "r^/rM9M=rMToK)63O8dCvd9D<PY<7iGlC+{BiSnG";
        assert_eq!(encode(&decode(text).unwrap()).unwrap(), text);
    }

    #[test]
    fn rejects_bad_lengths() {
        assert_eq!(encode(&[]), Err(Z85Error::BadInputLength(0)));
        assert_eq!(encode(&[1]), Err(Z85Error::BadInputLength(1)));
        assert_eq!(encode(&[0; 42]), Err(Z85Error::BadInputLength(42)));
        assert_eq!(decode(""), Err(Z85Error::BadTextLength(0)));
        assert_eq!(decode("0"), Err(Z85Error::BadTextLength(1)));
        assert_eq!(decode("01234567"), Err(Z85Error::BadTextLength(8)));
        assert!(decode_key("HelloWorld").is_err());
    }

    #[test]
    fn rejects_bad_characters_and_overflow() {
        for bad in [" ", "\"", "'", ",", ";", "\\", "_", "`", "|", "~"] {
            let text = format!("0000{bad}");
            assert!(
                matches!(decode(&text), Err(Z85Error::BadChar { pos: 4, .. })),
                "{text}"
            );
        }
        assert_eq!(decode("#####"), Err(Z85Error::Overflow(0)));
        assert_eq!(decode("%nSc1"), Err(Z85Error::Overflow(0)));
        assert_eq!(decode("%nSc0").unwrap(), [0xFF; 4]);
        // Multi-byte UTF-8 must not panic when reporting the position.
        assert!(matches!(
            decode("0000é0000"),
            Err(Z85Error::BadChar { pos: 4, .. })
        ));
    }
}
