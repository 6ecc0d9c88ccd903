//! The MESSAGE boxes of one direction of an established CURVE session.
//!
//! A MESSAGE box is NaCl's `crypto_box_afternm`: XSalsa20 keyed by the session's
//! precomputed key with a 24-byte nonce, the first 32 bytes of keystream keying a
//! one-time Poly1305 over the ciphertext. XSalsa20 first derives a Salsa20 subkey
//! with HSalsa20 from the key and the nonce's first 16 bytes; in CURVE those 16
//! bytes are the fixed `CurveZMQMESSAGE?` prefix, so the subkey is the same for a
//! whole direction and is derived once here rather than once per message.
//!
//! The Poly1305 is chosen by length. RustCrypto's `poly1305` picks its AVX2
//! backend at run time whenever the CPU has AVX2, and on a default (generic
//! x86-64) build that backend calls its intrinsics out of line: about a
//! microsecond per MAC, twenty times what portable code takes for a 64-byte
//! message, and no `Cargo.toml` feature turns it off (only a `--cfg`, which does
//! not reach the crates that depend on ours). Short
//! boxes therefore use libcrux's portable (HACL*-verified) Poly1305; from
//! [`LONG_BOX`] bytes on, where the AVX2 backend is faster per byte, the box goes
//! through `crypto_secretbox`'s supported API whole. Both produce the same bytes
//! (tests below compare them around the boundary), so the choice is invisible on
//! the wire and needs no build flag downstream.

use crypto_box::aead::generic_array::GenericArray;
use crypto_box::aead::{AeadInPlace, KeyInit};
use salsa20::cipher::{KeyIvInit, StreamCipherCore};
use salsa20::SalsaCore;
use subtle::ConstantTimeEq;
use xsalsa20poly1305::XSalsa20Poly1305;
use zeroize::Zeroizing;

use crate::error::ConnectionError;

/// Poly1305 tag length.
pub(crate) const TAG_LEN: usize = 16;

/// Plaintext length from which a box goes through `crypto_secretbox`: below it,
/// libcrux's portable Poly1305 beats the run-time-selected AVX2 one on this
/// project's measurements (2-4 KiB is about even, 8 KiB favours AVX2).
pub(crate) const LONG_BOX: usize = 8 * 1024;

/// One direction's MESSAGE key: the 16-byte nonce prefix and what it fixes.
pub(crate) struct SessionBox {
    prefix: &'static [u8; 16],
    /// HSalsa20(session key, prefix): the Salsa20 key of every short box.
    subkey: Zeroizing<[u8; 32]>,
    /// The whole construction, for long boxes.
    secretbox: XSalsa20Poly1305,
}

impl SessionBox {
    /// Derives the direction's subkey from the precomputed session key
    /// (`crypto_box_beforenm`) and the direction's nonce prefix.
    pub(crate) fn new(session_key: &[u8; 32], prefix: &'static [u8; 16]) -> Self {
        let key = GenericArray::from_slice(session_key);
        let subkey =
            salsa20::hsalsa::<salsa20::cipher::consts::U10>(key, GenericArray::from_slice(prefix));
        Self {
            prefix,
            subkey: Zeroizing::new(subkey.into()),
            secretbox: XSalsa20Poly1305::new(key),
        }
    }

    /// Encrypts `buf` in place under the nonce `prefix ‖ short_nonce` and returns
    /// the tag.
    pub(crate) fn seal(
        &self,
        short_nonce: u64,
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], ConnectionError> {
        if buf.len() >= LONG_BOX {
            return self.seal_long(short_nonce, buf);
        }
        let mut stream = self.short_stream(short_nonce);
        // A copy, taken before `apply` writes the stream's next blocks over
        // the first.
        let key = Zeroizing::new(*stream.mac_key());
        stream.apply(buf);
        mac(&key, buf)
    }

    /// Checks `tag` over the ciphertext in `buf` and only then decrypts it in place;
    /// on a bad tag `buf` is left as it came.
    pub(crate) fn open(
        &self,
        short_nonce: u64,
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), ConnectionError> {
        if buf.len() >= LONG_BOX {
            return self.open_long(short_nonce, buf, tag);
        }
        let mut stream = self.short_stream(short_nonce);
        // Borrowed from the first block: the MAC comes before `apply` here.
        let expected = mac(stream.mac_key(), buf)?;
        if !tags_match(&expected, tag) {
            return Err(ConnectionError::Cryptographic);
        }
        stream.apply(buf);
        Ok(())
    }

    /// The Salsa20 stream for one nonce, its first block at hand.
    fn short_stream(&self, short_nonce: u64) -> ShortStream {
        let mut core = SalsaCore::<salsa20::cipher::consts::U10>::new(
            GenericArray::from_slice(&self.subkey[..]),
            &short_nonce.to_be_bytes().into(),
        );
        let mut block = Zeroizing::new([[0u8; 32]; 2]);
        core.write_keystream_block(GenericArray::from_mut_slice(block.as_flattened_mut()));
        ShortStream { core, block }
    }

    /// The whole 24-byte nonce, for `crypto_secretbox`.
    fn nonce(&self, short_nonce: u64) -> [u8; 24] {
        let mut n = [0u8; 24];
        n[..16].copy_from_slice(self.prefix);
        n[16..].copy_from_slice(&short_nonce.to_be_bytes());
        n
    }

    fn seal_long(
        &self,
        short_nonce: u64,
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], ConnectionError> {
        let n = self.nonce(short_nonce);
        self.secretbox
            .encrypt_in_place_detached(GenericArray::from_slice(&n), b"", buf)
            .map(Into::into)
            .map_err(|_| ConnectionError::Cryptographic)
    }

    fn open_long(
        &self,
        short_nonce: u64,
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), ConnectionError> {
        let n = self.nonce(short_nonce);
        self.secretbox
            .decrypt_in_place_detached(
                GenericArray::from_slice(&n),
                b"",
                buf,
                GenericArray::from_slice(tag),
            )
            .map_err(|_| ConnectionError::Cryptographic)
    }
}

/// The keystream of a short box, laid out as `crypto_secretbox` lays it: the
/// first 32 bytes key the MAC, the rest is XORed into the message. Taken a
/// block at a time from the Salsa20 core: the `StreamCipher` wrapper's
/// buffering of partial blocks was a quarter of the cipher's instructions
/// for a 64-byte message (callgrind).
struct ShortStream {
    core: SalsaCore<salsa20::cipher::consts::U10>,
    /// The stream's first block, in the halves `crypto_secretbox` uses
    /// apart: the MAC key, then the keystream of the message's first 32
    /// bytes.
    block: Zeroizing<[[u8; 32]; 2]>,
}

impl ShortStream {
    /// The one-time Poly1305 key.
    fn mac_key(&self) -> &[u8; 32] {
        &self.block[0]
    }

    /// XORs the keystream after the MAC key into `buf` (once: it moves the
    /// stream on, and overwrites the first block, MAC key and all).
    fn apply(&mut self, buf: &mut [u8]) {
        let (head, rest) = buf.split_at_mut(buf.len().min(32));
        xor(head, &self.block[1]);
        for chunk in rest.chunks_mut(64) {
            let block = self.block.as_flattened_mut();
            self.core
                .write_keystream_block(GenericArray::from_mut_slice(block));
            xor(chunk, block);
        }
    }
}

/// `data[i] ^= keystream[i]` over `data`.
fn xor(data: &mut [u8], keystream: &[u8]) {
    for (d, k) in data.iter_mut().zip(keystream) {
        *d ^= k;
    }
}

/// Whether two tags are equal, in constant time. The differences of their
/// two 8-byte halves are folded into one word and that word is compared
/// once: `subtle`'s comparison of byte slices hides each of the 16 bytes
/// from the optimiser on its own, 160 instructions of the 4.5 k that
/// decoding a 64-byte message took (callgrind, `codec_count curve`).
fn tags_match(a: &[u8; TAG_LEN], b: &[u8; TAG_LEN]) -> bool {
    let half = |t: &[u8; TAG_LEN], i: usize| {
        let mut h = [0u8; 8];
        h.copy_from_slice(&t[i * 8..i * 8 + 8]);
        u64::from_le_bytes(h)
    };
    let diff = (half(a, 0) ^ half(b, 0)) | (half(a, 1) ^ half(b, 1));
    diff.ct_eq(&0).into()
}

/// One-time Poly1305 of `data`. libcrux refuses only inputs of 4 GiB or more,
/// which short boxes never are.
fn mac(key: &[u8; 32], data: &[u8]) -> Result<[u8; TAG_LEN], ConnectionError> {
    let mut tag = [0u8; TAG_LEN];
    libcrux_poly1305::mac(key, data, &mut tag).map_err(|_| ConnectionError::Cryptographic)?;
    Ok(tag)
}

impl std::fmt::Debug for SessionBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionBox")
            .field("prefix", &String::from_utf8_lossy(self.prefix))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> [u8; 32] {
        std::array::from_fn(|i| (i as u8).wrapping_mul(29).wrapping_add(3))
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + len) as u8).collect()
    }

    /// The short path must give the bytes of `crypto_secretbox` itself at every
    /// length where a Salsa20 block, a Poly1305 block or the path choice changes.
    #[test]
    fn short_and_long_paths_match_crypto_secretbox() {
        let k = key();
        let sb = SessionBox::new(&k, b"CurveZMQMESSAGEC");
        let reference = XSalsa20Poly1305::new(GenericArray::from_slice(&k));
        let mut lens: Vec<usize> = (0..=200).collect();
        lens.extend([255, 256, 257, 1023, 1024, 1025]);
        lens.extend(LONG_BOX - 70..LONG_BOX + 70);
        for (i, len) in lens.into_iter().enumerate() {
            let short_nonce = 1 + i as u64 * 0x0101_0101;
            let n: Vec<u8> = [&b"CurveZMQMESSAGEC"[..], &short_nonce.to_be_bytes()].concat();
            let mut want = data(len);
            let want_tag = reference
                .encrypt_in_place_detached(GenericArray::from_slice(&n), b"", &mut want)
                .expect("reference seal");

            let mut got = data(len);
            let tag = sb.seal(short_nonce, &mut got).expect("seal");
            assert_eq!(got, want, "ciphertext at {len}");
            assert_eq!(tag[..], want_tag[..], "tag at {len}");

            // And the forced short path agrees too where the long one would run.
            let mut short = data(len);
            let mut stream = sb.short_stream(short_nonce);
            let key = *stream.mac_key();
            stream.apply(&mut short);
            assert_eq!(short, want, "short-path ciphertext at {len}");
            assert_eq!(mac(&key, &short).expect("mac"), tag, "short tag at {len}");

            sb.open(short_nonce, &mut got, &tag).expect("open");
            assert_eq!(got, data(len), "round trip at {len}");
        }
    }

    /// Every single flipped bit of a tag is a mismatch; equal tags match.
    #[test]
    fn tags_match_only_when_every_bit_does() {
        let a: [u8; TAG_LEN] = std::array::from_fn(|i| (i as u8).wrapping_mul(37));
        assert!(tags_match(&a, &a));
        for bit in 0..TAG_LEN * 8 {
            let mut b = a;
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(!tags_match(&a, &b), "bit {bit}");
        }
    }

    /// A flipped bit anywhere (tag or ciphertext) is refused on both paths, and
    /// the refused buffer is left as it came.
    #[test]
    fn tampering_is_refused_on_both_paths() {
        let sb = SessionBox::new(&key(), b"CurveZMQMESSAGES");
        for len in [1, 65, LONG_BOX + 1] {
            let mut buf = data(len);
            let tag = sb.seal(7, &mut buf).expect("seal");
            let mut bad_tag = tag;
            bad_tag[15] ^= 0x80;
            let mut copy = buf.clone();
            assert_eq!(
                sb.open(7, &mut copy, &bad_tag),
                Err(ConnectionError::Cryptographic)
            );
            assert_eq!(copy, buf, "buffer kept at {len}");
            copy[len - 1] ^= 1;
            assert_eq!(
                sb.open(7, &mut copy, &tag),
                Err(ConnectionError::Cryptographic)
            );
            assert_eq!(
                sb.open(8, &mut buf.clone(), &tag),
                Err(ConnectionError::Cryptographic),
                "another nonce at {len}"
            );
            let other = SessionBox::new(&key(), b"CurveZMQMESSAGEC");
            assert_eq!(
                other.open(7, &mut buf.clone(), &tag),
                Err(ConnectionError::Cryptographic),
                "the other direction at {len}"
            );
        }
    }
}
