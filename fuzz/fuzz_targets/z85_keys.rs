//! Z85 (RFC 32) and CURVE key text: whatever decodes encodes back to the same
//! text, whatever encodes decodes back to the same bytes, and a key parses as
//! `PublicKey` and `SecretKey` exactly when `decode_key` accepts it. Errors are
//! values, never panics, for any input.

#![no_main]

use libfuzzer_sys::fuzz_target;
use zmtp_core::z85;
use zmtp_core::{KeyPair, PublicKey, SecretKey};

fuzz_target!(|data: &[u8]| {
    // Any bytes as binary: encoding works exactly for non-empty multiples of 4
    // (libzmq refuses the empty string too).
    match z85::encode(data) {
        Ok(text) => {
            assert_eq!(data.len() % 4, 0);
            assert_eq!(text.len(), data.len() / 4 * 5);
            assert_eq!(z85::decode(&text).as_deref(), Ok(data));
        }
        Err(_) => assert!(data.is_empty() || data.len() % 4 != 0),
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(bytes) = z85::decode(text) {
        assert_eq!(bytes.len(), text.len() / 5 * 4);
        assert_eq!(z85::encode(&bytes).as_deref(), Ok(text));
    }
    let key = z85::decode_key(text);
    let public = text.parse::<PublicKey>();
    let secret = text.parse::<SecretKey>();
    assert_eq!(key.is_ok(), public.is_ok());
    assert_eq!(key.is_ok(), secret.is_ok());
    if let (Ok(k), Ok(p), Ok(s)) = (key, public, secret) {
        assert_eq!(text.len(), 40);
        assert_eq!(p.as_bytes(), &k);
        assert_eq!(p.to_z85(), text);
        assert_eq!(s.to_z85(), text);
        // The secret's Debug form never shows the key.
        assert!(!format!("{s:?}").contains(text));
        let pair = KeyPair::from_secret(s);
        assert_eq!(pair.secret.public_key(), pair.public);
    }
});
