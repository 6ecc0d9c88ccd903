//! The shared runtime suite on smol (its global executor runs the sockets'
//! tasks; the test threads block on the sockets).

#[path = "../../tests/suite/mod.rs"]
mod suite;

struct Smol;

impl suite::Env for Smol {
    type R = runtime_smol::Smol;

    fn enter() -> Box<dyn std::any::Any> {
        Box::new(())
    }
}

suite_tests!(Smol);
