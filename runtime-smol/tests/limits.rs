//! The load test on smol, alone in its process: it measures the process's
//! threads and memory (see `zmq_test_support::suite::limits`).

use zmq_test_support::suite;

struct Smol;

impl suite::Env for Smol {
    type R = runtime_smol::Smol;

    fn enter() -> Box<dyn std::any::Any> {
        Box::new(())
    }
}

#[test]
fn idle_and_slowloris_peers_leave_a_client_served() {
    let (before, unloaded, loaded, rss) = suite::limits::idle_and_slowloris_load::<Smol>();
    eprintln!(
        "smol: median round trip {before} µs before the load, {loaded} µs loaded, \
         {unloaded} µs unloaded alongside; +{rss} KiB"
    );
}
