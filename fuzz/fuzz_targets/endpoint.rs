//! Endpoint strings as `bind`, `connect` and `unbind` read them: any text gives
//! an endpoint or a typed error naming the text, never a panic, and an endpoint
//! prints to a string that parses back to the same endpoint.

#![no_main]

use libfuzzer_sys::fuzz_target;
use zmq_patterns::engine::{Endpoint, EndpointError};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsers: [fn(&str) -> Result<Endpoint, EndpointError>; 4] = [
        Endpoint::parse_bind,
        Endpoint::parse_connect,
        Endpoint::parse_unbind,
        |s: &str| s.parse::<Endpoint>(),
    ];
    for parse in parsers {
        match parse(text) {
            Ok(ep) => {
                let printed = ep.to_string();
                assert_eq!(printed.parse::<Endpoint>().as_ref(), Ok(&ep), "{printed}");
                let _ = (ep.is_wildcard(), ep.has_wildcard_port());
            }
            // Every refusal names what it refused, quoted and escaped, so the
            // user can find it and a control character cannot forge a log line.
            Err(e) => assert!(e.to_string().contains(&format!("{text:?}")), "{e}"),
        }
    }
});
