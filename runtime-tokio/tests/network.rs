//! A real network: the peers in network namespaces of their own, joined by
//! a veth pair that drops 1 % of the packets (nftables) behind a relay
//! that delays them 100 ms +- 20 ms, or that drops them all for a while
//! (a partition). Needs root; installs nftables and iproute2 if missing.
//!
//! Our side runs on tokio or on threads (runtime-blocking), each against
//! libzmq both ways round. This binary is also the peers' and the relay's
//! program (see `zmq_test_support::net`), hence `harness = false`.

use std::sync::LazyLock;

use zmq_test_support::net::{self, scenarios, Side};
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

struct Threads;

impl suite::Env for Threads {
    type R = runtime_blocking::Threads;

    fn enter() -> Box<dyn std::any::Any> {
        Box::new(())
    }
}

const TOKIO: Side = Side::Ours("tokio");
const THREADS: Side = Side::Ours("threads");

fn main() {
    let played = net::run_role(|runtime| match runtime {
        "tokio" => net::ours::serve::<Tokio>(),
        "threads" => net::ours::serve::<Threads>(),
        other => panic!("no runtime `{other}` in this test binary"),
    });
    if played {
        return;
    }
    net::run_tests(&[
        ("delivery_libzmq_push_to_tokio_pull", || {
            scenarios::delivery(Side::Libzmq, TOKIO)
        }),
        ("delivery_threads_push_to_libzmq_pull", || {
            scenarios::delivery(THREADS, Side::Libzmq)
        }),
        ("partition_pubsub_tokio_sub_libzmq_pub", || {
            scenarios::partition_pubsub(TOKIO, Side::Libzmq)
        }),
        ("partition_pubsub_libzmq_sub_threads_pub", || {
            scenarios::partition_pubsub(Side::Libzmq, THREADS)
        }),
        ("partition_reqrep_threads_dealer_libzmq_rep", || {
            scenarios::partition_reqrep(THREADS, Side::Libzmq)
        }),
        ("partition_reqrep_libzmq_dealer_tokio_rep", || {
            scenarios::partition_reqrep(Side::Libzmq, TOKIO)
        }),
    ]);
}
