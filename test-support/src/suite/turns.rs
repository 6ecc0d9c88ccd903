//! What one turn of a stream's pump hands over, where the pump shares its
//! thread with the application (tokio's current-thread runtime, smol's
//! executor): at most `zmq_runtime::PUMP_READ_BUDGET` read, then the
//! application runs again, whatever the kernel still holds.

use std::time::Duration;

use zmq_runtime::{RuntimeKind, Socket, SocketType};

/// The size of the messages [`longest_turn`] receives.
pub const SIZE: usize = 64 * 1024;
/// How many it receives.
pub const COUNT: usize = 600;

/// Messages one turn of the pump can hand over: reads go on until the budget
/// is reached, the last one at most the largest read window (256 KiB), and a
/// message split by the previous turn may complete.
pub fn most_per_turn() -> usize {
    (zmq_runtime::PUMP_READ_BUDGET + 256 * 1024) / SIZE + 1
}

/// Binds a PULL on runtime `R`, has a PUSH on runtime `S` (one whose sockets
/// need no executor: the blocking runtime) send it [`COUNT`] messages of
/// [`SIZE`] bytes from another thread, and receives them as a slow
/// application would (2 ms of work after each wait, during which the kernel
/// gathers megabytes). Returns the most messages found waiting after one
/// wait: what one turn of the pump handed over. Run it where the
/// application shares the pump's thread.
pub async fn longest_turn<R: RuntimeKind, S: RuntimeKind>() -> usize {
    let pull = Socket::<R>::new(SocketType::Pull).unwrap();
    let ep = pull.bind("tcp://127.0.0.1:*").unwrap().to_string();
    let sender = std::thread::spawn(move || {
        let push = Socket::<S>::new(SocketType::Push).unwrap();
        push.connect(ep.as_str()).unwrap();
        let body = bytes::Bytes::from(vec![7u8; SIZE]);
        for _ in 0..COUNT {
            push.send_blocking(body.clone(), None).unwrap();
        }
        push.close_blocking();
    });
    let mut got = 0;
    let mut longest = 0;
    while got < COUNT {
        // What was taken ahead is used up here: the wait lets the pump run.
        let m = pull.recv().await.unwrap();
        assert_eq!(m.frames()[0].len(), SIZE);
        let mut run = 1;
        while let Ok(m) = pull.try_recv() {
            assert_eq!(m.frames()[0].len(), SIZE);
            run += 1;
        }
        got += run;
        longest = longest.max(run);
        std::thread::sleep(Duration::from_millis(2));
    }
    sender.join().unwrap();
    assert_eq!(got, COUNT);
    longest
}
