//! The shared runtime suite on tokio (a multi-thread runtime in the
//! background; the test threads block on the sockets).

use std::sync::LazyLock;

use zmq_test_support::suite;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
});

struct Tokio;

impl suite::Env for Tokio {
    type R = runtime_tokio::Tokio;

    fn enter() -> Box<dyn std::any::Any> {
        Box::new(RUNTIME.enter())
    }
}

zmq_test_support::suite_tests!(Tokio);
