//! The load test on threads, alone in its process: it measures the process's
//! threads and memory (see `zmq_test_support::suite::limits`).
//!
//! All connections share the runtime's one I/O thread, so 2,000 peers add
//! no thread here either.

use zmq_test_support::suite;

struct Threads;

impl suite::Env for Threads {
    type R = runtime_blocking::Threads;

    fn enter() -> Box<dyn std::any::Any> {
        Box::new(())
    }
}

#[test]
fn idle_and_slowloris_peers_leave_a_client_served() {
    let (before, unloaded, loaded, rss) = suite::limits::idle_and_slowloris_load::<Threads>();
    eprintln!(
        "threads: median round trip {before} µs before the load, {loaded} µs loaded, \
         {unloaded} µs unloaded alongside; +{rss} KiB"
    );
}
