//! On smol's global executor (one thread) a stream's pump shares its thread
//! with the application's spawned tasks, so it reads at most
//! `PUMP_READ_BUDGET` per turn before they run again (see
//! `zmq_test_support::suite::turns`).

use runtime_blocking::Threads;
use runtime_smol::Smol;
use zmq_test_support::suite::turns::{longest_turn, longest_turn_eager_sender, most_per_turn};

#[test]
fn the_application_runs_between_turns_of_a_busy_pump() {
    // Spawned, the application runs on the executor's thread, beside the
    // pumps (`smol::block_on` alone would run it on this one).
    let longest = smol::block_on(smol::spawn(longest_turn::<Smol, Threads>()));
    assert!(
        longest <= most_per_turn(),
        "{longest} messages arrived in one turn of the pump (at most {} expected)",
        most_per_turn()
    );
}

/// The same with a receive buffer smaller than the budget and a sender that
/// refills it the moment there is room (see runtime-tokio's test of the name).
#[test]
fn a_turn_that_spins_while_the_kernel_refills_keeps_to_the_budget() {
    for rcvbuf in [128 * 1024, 256 * 1024] {
        for _ in 0..6 {
            let longest = smol::block_on(smol::spawn(longest_turn_eager_sender::<Smol>(rcvbuf)));
            assert!(
                longest <= most_per_turn(),
                "{longest} messages arrived in one turn of the pump with SO_RCVBUF {rcvbuf} \
                 (at most {} expected)",
                most_per_turn()
            );
        }
    }
}
