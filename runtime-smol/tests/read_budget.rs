//! On smol's global executor (one thread) a stream's pump shares its thread with
//! the application, so it reads at most `PUMP_READ_BUDGET` per turn before
//! the application runs again: the messages the application finds waiting
//! after each wait are what one turn read, not everything the kernel held.

use std::time::Duration;

use runtime_smol::{Socket, SocketType};

const SIZE: usize = 64 * 1024;
const COUNT: usize = 600;

/// Messages one turn of the pump can hand over: reads go on until the budget
/// is reached, the last one at most the largest read window (256 KiB), and
/// a message split by the previous turn may complete.
fn most_per_turn() -> usize {
    (zmq_runtime::PUMP_READ_BUDGET + 256 * 1024) / SIZE + 1
}

#[test]
fn the_application_runs_between_turns_of_a_busy_pump() {
    // Spawned, the application runs on the executor's thread, beside the
    // pumps (`smol::block_on` alone would run it on this one).
    let longest = smol::block_on(smol::spawn(async {
        let pull = Socket::new(SocketType::Pull).unwrap();
        let ep = pull.bind("tcp://127.0.0.1:*").unwrap().to_string();
        let sender = std::thread::spawn(move || {
            let push = runtime_blocking::Socket::new(SocketType::Push).unwrap();
            push.connect(&ep).unwrap();
            let body = bytes::Bytes::from(vec![7u8; SIZE]);
            for _ in 0..COUNT {
                push.send(body.clone()).unwrap();
            }
            push.close();
        });
        let mut got = 0;
        let mut longest = 0;
        while got < COUNT {
            // Whatever was taken ahead is used up here: the wait below
            // lets the pump run.
            let m = pull.recv().await.unwrap();
            assert_eq!(m.frames()[0].len(), SIZE);
            let mut run = 1;
            while let Ok(m) = pull.try_recv() {
                assert_eq!(m.frames()[0].len(), SIZE);
                run += 1;
            }
            got += run;
            longest = longest.max(run);
            // A slow application: the kernel gathers megabytes meanwhile,
            // which a pump without a budget would read in one turn.
            std::thread::sleep(Duration::from_millis(2));
        }
        sender.join().unwrap();
        assert_eq!(got, COUNT);
        longest
    }));
    assert!(
        longest <= most_per_turn(),
        "{longest} messages arrived in one turn of the pump (at most {} expected)",
        most_per_turn()
    );
}
