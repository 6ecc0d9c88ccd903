//! The shared runtime suite on threads.

use zmq_test_support::suite;

struct Threads;

impl suite::Env for Threads {
    type R = runtime_blocking::Threads;

    fn enter() -> Box<dyn std::any::Any> {
        Box::new(())
    }
}

zmq_test_support::suite_tests!(Threads);
