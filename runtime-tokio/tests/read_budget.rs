//! On tokio's current-thread runtime a stream's pump shares its thread with
//! the application, so it reads at most `PUMP_READ_BUDGET` per turn before
//! the application runs again (see `zmq_test_support::suite::turns`).

use runtime_blocking::Threads;
use runtime_tokio::Tokio;
use zmq_test_support::suite::turns::{longest_turn, most_per_turn};

#[test]
fn the_application_runs_between_turns_of_a_busy_pump() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let longest = rt.block_on(longest_turn::<Tokio, Threads>());
    assert!(
        longest <= most_per_turn(),
        "{longest} messages arrived in one turn of the pump (at most {} expected)",
        most_per_turn()
    );
}
