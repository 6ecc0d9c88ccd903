//! The zcert certificate reader (ZPL text): any text gives a certificate or a
//! typed error, never a panic, and a certificate that parses writes back (public
//! and secret forms) to text that parses to the same keys and metadata.

#![no_main]

use libfuzzer_sys::fuzz_target;
use zmtp_core::cert::Certificate;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(cert) = Certificate::parse(text) else {
        return;
    };
    if let Some(secret) = cert.secret() {
        assert_eq!(&secret.public_key(), cert.public());
    }
    // Metadata that the writer refuses (it could not read back the same) is
    // not expected to survive; everything else must.
    let writable = cert.metadata().iter().all(|(name, value)| {
        Certificate::from_public(*cert.public())
            .with_metadata(name, value)
            .is_ok()
    });
    let public = Certificate::parse(&cert.public_text()).expect("public text reads back");
    assert_eq!(public.public(), cert.public());
    // The public file never carries the secret key. (Its text may still
    // contain the key's characters: metadata values are free text.)
    assert!(public.secret().is_none());
    if writable {
        assert_eq!(public.metadata(), cert.metadata());
    }
    if let Some(secret_text) = cert.secret_text() {
        let back = Certificate::parse(&secret_text).expect("secret text reads back");
        assert_eq!(back.public(), cert.public());
        assert_eq!(
            back.secret().map(|s| s.as_bytes()),
            cert.secret().map(|s| s.as_bytes())
        );
        if writable {
            assert_eq!(back.metadata(), cert.metadata());
        }
    }
});
