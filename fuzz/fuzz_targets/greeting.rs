//! `Greeting::parse` on arbitrary bytes: never panics; a parsed greeting emits
//! bytes that parse back to the same fields; verdicts are consistent across
//! prefixes (an error never turns into "need more", a greeting needs 64 bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use zmtp_core::wire::greeting::{Greeting, MechanismName, GREETING_LEN};

fuzz_target!(|data: &[u8]| {
    let full = Greeting::parse(data);
    if let Ok(Some(g)) = full {
        assert!(data.len() >= GREETING_LEN);
        assert!(g.major >= 3);
        let mut out = [0u8; GREETING_LEN];
        g.emit(&mut out);
        assert_eq!(Greeting::parse(&out), Ok(Some(g)));
        assert_eq!(&out[10..32], &data[10..32]);
        assert_eq!(out[32] != 0, data[32] != 0);
        // Only the first 64 bytes matter.
        assert_eq!(Greeting::parse(&data[..GREETING_LEN]), Ok(Some(g)));
        if let Some(m) = MechanismName::from_padded(&g.mechanism) {
            assert_eq!(g.mechanism_text(), m.as_str());
            // `Greeting::new` always says major 3.
            assert_eq!(
                Greeting::new(g.minor, m, g.as_server),
                Greeting { major: 3, ..g }
            );
        }
    }

    // Prefix consistency: once an error is seen it stays the same error.
    let mut first_err = None;
    for n in 0..=data.len().min(GREETING_LEN) {
        match (Greeting::parse(&data[..n]), first_err) {
            (Err(e), None) => first_err = Some(e),
            (Err(e), Some(f)) => assert_eq!(e, f, "error changed at prefix {n}"),
            (Ok(_), Some(f)) => panic!("prefix {n} parses after error {f:?}"),
            (Ok(Some(_)), None) => assert_eq!(n, GREETING_LEN),
            (Ok(None), None) => assert!(n < GREETING_LEN),
        }
    }
    if let Some(f) = first_err {
        assert_eq!(full, Err(f));
    }
});
