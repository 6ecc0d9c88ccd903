//! The shared runtime suite on threads.

#[path = "../../tests/suite/mod.rs"]
mod suite;

struct Threads;

impl suite::Env for Threads {
    type R = runtime_blocking::Threads;

    fn enter() -> Box<dyn std::any::Any> {
        Box::new(())
    }
}

suite_tests!(Threads);
