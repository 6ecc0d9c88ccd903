//! NaCl boxes for CURVE, over the RustCrypto crates, and the post-handshake
//! MESSAGE codec.
//!
//! "Box" here is libsodium's *easy* layout: the 16-byte Poly1305 tag followed by the
//! ciphertext, so a box is 16 bytes longer than its plaintext.

use bytes::{BufMut, Bytes, BytesMut};
use crypto_box::aead::generic_array::GenericArray;
use crypto_box::aead::{AeadInPlace, KeyInit};
use curve25519_dalek::MontgomeryPoint;
use xsalsa20poly1305::XSalsa20Poly1305;
use zeroize::Zeroizing;

use super::session_box::{SessionBox, TAG_LEN};

use crate::error::{CommandName, ConnectionError};
use crate::wire::frame::FrameHeader;

/// Builds a 24-byte nonce from a fixed ASCII prefix and a transmitted tail.
pub(crate) fn nonce(prefix: &[u8], tail: &[u8]) -> [u8; 24] {
    debug_assert_eq!(prefix.len() + tail.len(), 24);
    let mut n = [0u8; 24];
    n[..prefix.len()].copy_from_slice(prefix);
    n[prefix.len()..].copy_from_slice(tail);
    n
}

fn seal_with(aead: &impl AeadInPlace, nonce: &[u8; 24], plaintext: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; TAG_LEN + plaintext.len()];
    out[TAG_LEN..].copy_from_slice(plaintext);
    // Encryption with a valid key cannot fail for these sizes.
    if let Ok(tag) =
        aead.encrypt_in_place_detached(GenericArray::from_slice(nonce), b"", &mut out[TAG_LEN..])
    {
        out[..TAG_LEN].copy_from_slice(&tag);
    }
    out
}

fn open_with(
    aead: &impl AeadInPlace,
    nonce: &[u8; 24],
    boxed: &[u8],
) -> Result<Vec<u8>, ConnectionError> {
    if boxed.len() < TAG_LEN {
        return Err(ConnectionError::Cryptographic);
    }
    let mut plain = boxed[TAG_LEN..].to_vec();
    aead.decrypt_in_place_detached(
        GenericArray::from_slice(nonce),
        b"",
        &mut plain,
        GenericArray::from_slice(&boxed[..TAG_LEN]),
    )
    .map_err(|_| ConnectionError::Cryptographic)?;
    Ok(plain)
}

/// A precomputed crypto_box key (`crypto_box_beforenm`) between one public and one
/// secret key, so per-message work is only the stream cipher and MAC.
pub(crate) struct BoxKey {
    /// HSalsa20 of the X25519 shared secret: the secretbox key, which a CURVE
    /// session also needs bare to derive its per-direction MESSAGE keys.
    key: Zeroizing<[u8; 32]>,
    aead: XSalsa20Poly1305,
}

impl BoxKey {
    /// Precomputes the key, refusing a peer key whose X25519 with ours is all
    /// zero (a small-order point), as libsodium's `crypto_box_beforenm` refuses
    /// it: with such a key anyone can compute the box key, which would defeat the
    /// vouch.
    pub(crate) fn new(
        their_public: &[u8; 32],
        our_secret: &[u8; 32],
    ) -> Result<Self, ConnectionError> {
        // Clamped and unreduced, as libsodium multiplies: the result then matches
        // it for every peer point, not only those in the prime-order subgroup.
        let shared = Zeroizing::new(MontgomeryPoint(*their_public).mul_clamped(*our_secret).0);
        if shared.iter().fold(0u8, |acc, b| acc | b) == 0 {
            return Err(ConnectionError::Cryptographic);
        }
        let key = salsa20::hsalsa::<salsa20::cipher::consts::U10>(
            GenericArray::from_slice(&shared[..]),
            &GenericArray::default(),
        );
        let key = Zeroizing::new(<[u8; 32]>::from(key));
        let aead = XSalsa20Poly1305::new(GenericArray::from_slice(&key[..]));
        Ok(Self { key, aead })
    }

    pub(crate) fn seal(&self, nonce: &[u8; 24], plaintext: &[u8]) -> Vec<u8> {
        seal_with(&self.aead, nonce, plaintext)
    }

    pub(crate) fn open(&self, nonce: &[u8; 24], boxed: &[u8]) -> Result<Vec<u8>, ConnectionError> {
        open_with(&self.aead, nonce, boxed)
    }
}

impl std::fmt::Debug for BoxKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BoxKey(..)")
    }
}

/// The server's cookie key (`crypto_secretbox`).
pub(crate) struct CookieKey(XSalsa20Poly1305);

impl CookieKey {
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        Self(XSalsa20Poly1305::new(GenericArray::from_slice(key)))
    }

    pub(crate) fn seal(&self, nonce: &[u8; 24], plaintext: &[u8]) -> Vec<u8> {
        seal_with(&self.0, nonce, plaintext)
    }

    pub(crate) fn open(&self, nonce: &[u8; 24], boxed: &[u8]) -> Result<Vec<u8>, ConnectionError> {
        open_with(&self.0, nonce, boxed)
    }
}

const MESSAGE_NAME: &[u8] = b"\x07MESSAGE";
/// `07 MESSAGE` + 8-byte nonce + tag + flags byte.
const MESSAGE_OVERHEAD: usize = 8 + 8 + TAG_LEN + 1;

/// Flags inside a MESSAGE box: MORE, and (undocumented in RFC 26, used by libzmq)
/// COMMAND for heartbeats and subscriptions.
pub(crate) const INNER_MORE: u8 = 0x01;
pub(crate) const INNER_COMMAND: u8 = 0x02;

/// The encrypted session after a CURVE handshake: one MESSAGE key and a short
/// nonce counter per direction.
#[derive(Debug)]
pub(crate) struct CurveSession {
    tx: SessionBox,
    rx: SessionBox,
    /// The last short nonce we used.
    tx_nonce: u64,
    /// The last short nonce the peer used; the next must be larger.
    rx_nonce: u64,
}

impl CurveSession {
    pub(crate) fn new(key: BoxKey, is_client: bool, tx_nonce: u64, rx_nonce: u64) -> Self {
        let (tx_prefix, rx_prefix) = if is_client {
            (b"CurveZMQMESSAGEC", b"CurveZMQMESSAGES")
        } else {
            (b"CurveZMQMESSAGES", b"CurveZMQMESSAGEC")
        };
        Self {
            tx: SessionBox::new(&key.key, tx_prefix),
            rx: SessionBox::new(&key.key, rx_prefix),
            tx_nonce,
            rx_nonce,
        }
    }

    /// Encrypts one frame as a MESSAGE command written straight into `out`, in a data
    /// frame (flags 0x00/0x02) as libzmq sends it. On failure `out` is left as it
    /// was.
    pub(crate) fn encrypt_into(
        &mut self,
        out: &mut BytesMut,
        inner_flags: u8,
        payload: &[u8],
    ) -> Result<(), ConnectionError> {
        // 2^64-1 messages cannot be reached in practice, but a nonce must never wrap.
        self.tx_nonce = self
            .tx_nonce
            .checked_add(1)
            .ok_or(ConnectionError::InvalidNonce)?;
        let body_len = MESSAGE_OVERHEAD + payload.len();
        let start = out.len();
        FrameHeader {
            more: false,
            command: false,
            size: body_len as u64,
        }
        .emit(out);
        out.put_slice(MESSAGE_NAME);
        out.put_u64(self.tx_nonce);
        let tag_at = out.len();
        out.put_bytes(0, TAG_LEN);
        let plain_at = out.len();
        out.put_u8(inner_flags);
        out.put_slice(payload);
        match self.tx.seal(self.tx_nonce, &mut out[plain_at..]) {
            Ok(tag) => {
                out[tag_at..plain_at].copy_from_slice(&tag);
                Ok(())
            }
            Err(e) => {
                // Never leave plaintext queued.
                out.truncate(start);
                Err(e)
            }
        }
    }

    /// Opens a MESSAGE in place and returns its inner flags and payload, which is a
    /// slice of the received buffer (no copy).
    pub(crate) fn decrypt(&mut self, mut body: BytesMut) -> Result<(u8, Bytes), ConnectionError> {
        if !body.starts_with(MESSAGE_NAME) {
            return Err(ConnectionError::UnexpectedCommand {
                name: super::peer_text(body.get(1..body.len().min(33)).unwrap_or_default(), 32),
            });
        }
        if body.len() < MESSAGE_OVERHEAD {
            return Err(ConnectionError::MalformedCommand {
                command: CommandName::Message,
            });
        }
        let mut short = [0u8; 8];
        short.copy_from_slice(&body[8..16]);
        let short_nonce = u64::from_be_bytes(short);
        if short_nonce <= self.rx_nonce {
            return Err(ConnectionError::InvalidNonce);
        }
        let (head, plain) = body.split_at_mut(16 + TAG_LEN);
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&head[16..]);
        self.rx.open(short_nonce, plain, &tag)?;
        self.rx_nonce = short_nonce;
        let flags = body[16 + TAG_LEN];
        Ok((flags, body.freeze().slice(MESSAGE_OVERHEAD..)))
    }

    /// Bytes a frame of `payload_len` takes on the wire, header included.
    pub(crate) fn wire_len(payload_len: usize) -> usize {
        let body = MESSAGE_OVERHEAD + payload_len;
        body + if body > 255 { 9 } else { 2 }
    }
}
