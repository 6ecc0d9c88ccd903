//! A whole NULL server connection fed arbitrary bytes in arbitrary chunks, with
//! time advancing, timers run, authentication requests answered (allow or deny,
//! chosen by the input) and messages echoed back. Never panics; errors are
//! sticky. Optionally starts from a valid client transcript prefix. See
//! `common::run_server` for the input layout.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| common::run_server(common::Mech::Null, input));
