//! The shared runtime suite on smol (its global executor runs the sockets'
//! tasks; the test threads block on the sockets).

use zmq_test_support::suite;

struct Smol;

impl suite::Env for Smol {
    type R = runtime_smol::Smol;

    fn enter() -> Box<dyn std::any::Any> {
        Box::new(())
    }
}

zmq_test_support::suite_tests!(Smol);
