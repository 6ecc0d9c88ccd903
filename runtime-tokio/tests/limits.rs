//! The load test on tokio, alone in its process: it measures the process's
//! threads and memory (see `zmq_test_support::suite::limits`).

use zmq_test_support::suite;

struct Tokio;

static RUNTIME: std::sync::LazyLock<tokio::runtime::Runtime> = std::sync::LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
});

impl suite::Env for Tokio {
    type R = runtime_tokio::Tokio;

    fn enter() -> Box<dyn std::any::Any> {
        Box::new(RUNTIME.enter())
    }
}

#[test]
fn idle_and_slowloris_peers_leave_a_client_served() {
    let (before, unloaded, loaded, rss) = suite::limits::idle_and_slowloris_load::<Tokio>();
    eprintln!(
        "tokio: median round trip {before} µs before the load, {loaded} µs loaded, \
         {unloaded} µs unloaded alongside; +{rss} KiB"
    );
}
