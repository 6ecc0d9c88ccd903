//! On tokio's current-thread runtime a stream's pump shares its thread with
//! the application, so it reads at most `PUMP_READ_BUDGET` per turn before
//! the application runs again (see `zmq_test_support::suite::turns`).

use runtime_blocking::Threads;
use runtime_tokio::Tokio;
use zmq_test_support::suite::turns::{longest_turn, longest_turn_eager_sender, most_per_turn};

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn the_application_runs_between_turns_of_a_busy_pump() {
    let longest = current_thread().block_on(longest_turn::<Tokio, Threads>());
    assert!(
        longest <= most_per_turn(),
        "{longest} messages arrived in one turn of the pump (at most {} expected)",
        most_per_turn()
    );
}

/// A receive buffer smaller than the budget runs dry within a turn, and the
/// pump spins (wakes itself) while a sender that writes the moment there is
/// room refills it. tokio runs a task that woke itself before the future in
/// `block_on`, up to 61 times, so those polls are one turn and share one
/// budget. Repeated, as the kernel does not run dry at the same point every
/// time (without the shared budget, 2 to 4 runs in 8 went over).
#[test]
fn a_turn_that_spins_while_the_kernel_refills_keeps_to_the_budget() {
    for rcvbuf in [128 * 1024, 256 * 1024] {
        for _ in 0..6 {
            let longest = current_thread().block_on(longest_turn_eager_sender::<Tokio>(rcvbuf));
            assert!(
                longest <= most_per_turn(),
                "{longest} messages arrived in one turn of the pump with SO_RCVBUF {rcvbuf} \
                 (at most {} expected)",
                most_per_turn()
            );
        }
    }
}
