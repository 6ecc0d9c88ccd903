//! A real network: the peers in network namespaces of their own, joined by
//! a veth pair that drops 1 % of the packets (nftables) behind a relay
//! that delays them 100 ms +- 20 ms, or that drops them all for a while
//! (a partition). Needs root; installs nftables and iproute2 if missing.
//!
//! Our side runs on tokio, smol and threads (runtime-blocking), each in
//! every scenario against libzmq, on either end of the link. This binary is also the peers' and the relay's
//! program (see `zmq_test_support::net`), hence `harness = false`.

use std::sync::LazyLock;

use zmq_test_support::net::scenarios::{self, Cut};
use zmq_test_support::net::{self, Side};
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

struct Smol;

impl suite::Env for Smol {
    type R = runtime_smol::Smol;

    fn enter() -> Box<dyn std::any::Any> {
        Box::new(())
    }
}

const SMOL: Side = Side::Ours("smol");
const TOKIO: Side = Side::Ours("tokio");
const THREADS: Side = Side::Ours("threads");

fn main() {
    let played = net::run_role(|runtime| match runtime {
        "tokio" => net::ours::serve::<Tokio>(),
        "threads" => net::ours::serve::<Threads>(),
        "smol" => net::ours::serve::<Smol>(),
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
        ("delivery_libzmq_push_to_smol_pull", || {
            scenarios::delivery(Side::Libzmq, SMOL)
        }),
        ("delivery_tokio_push_to_libzmq_pull", || {
            scenarios::delivery(TOKIO, Side::Libzmq)
        }),
        ("delivery_libzmq_push_to_threads_pull", || {
            scenarios::delivery(Side::Libzmq, THREADS)
        }),
        ("delivery_smol_push_to_libzmq_pull", || {
            scenarios::delivery(SMOL, Side::Libzmq)
        }),
        ("partition_pubsub_tokio_sub_libzmq_pub", || {
            scenarios::partition_pubsub(TOKIO, Side::Libzmq, Cut::Drop)
        }),
        ("partition_pubsub_libzmq_sub_threads_pub", || {
            scenarios::partition_pubsub(Side::Libzmq, THREADS, Cut::Drop)
        }),
        ("partition_pubsub_smol_sub_libzmq_pub", || {
            scenarios::partition_pubsub(SMOL, Side::Libzmq, Cut::Drop)
        }),
        ("link_down_pubsub_tokio_sub_libzmq_pub", || {
            scenarios::partition_pubsub(TOKIO, Side::Libzmq, Cut::LinkDown)
        }),
        ("link_down_pubsub_libzmq_sub_smol_pub", || {
            scenarios::partition_pubsub(Side::Libzmq, SMOL, Cut::LinkDown)
        }),
        ("partition_reqrep_threads_dealer_libzmq_rep", || {
            scenarios::partition_reqrep(THREADS, Side::Libzmq)
        }),
        ("partition_reqrep_libzmq_dealer_tokio_rep", || {
            scenarios::partition_reqrep(Side::Libzmq, TOKIO)
        }),
        ("partition_reqrep_smol_dealer_libzmq_rep", || {
            scenarios::partition_reqrep(SMOL, Side::Libzmq)
        }),
        ("partition_lazy_pirate_tokio_req_libzmq_rep", || {
            scenarios::partition_lazy_pirate(TOKIO, Side::Libzmq)
        }),
        ("partition_lazy_pirate_libzmq_req_threads_rep", || {
            scenarios::partition_lazy_pirate(Side::Libzmq, THREADS)
        }),
    ]);
}
