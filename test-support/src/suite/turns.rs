//! What one turn of a stream's pump hands over, where the pump shares its
//! thread with the application (tokio's current-thread runtime, smol's
//! executor): at most `zmq_runtime::PUMP_READ_BUDGET` read, then the
//! application runs again, whatever the kernel still holds.

use std::io::Write;
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
    let longest = receive_in_turns(&pull).await;
    sender.join().unwrap();
    longest
}

/// [`longest_turn`] with a sender that refills the kernel the moment the
/// pump has read: a raw ZMTP 3.0 PUSH writing [`COUNT`] messages in small
/// pieces to a non-blocking socket, trying again at once when it is full.
/// The pump then often finds the socket empty before its budget is spent,
/// and finds more as soon as it looks again.
pub async fn longest_turn_eager_sender<R: RuntimeKind>(rcvbuf: usize) -> usize {
    let pull = Socket::<R>::new(SocketType::Pull).unwrap();
    pull.set_rcvbuf(Some(rcvbuf)).unwrap();
    let ep = pull.bind("tcp://127.0.0.1:*").unwrap().to_string();
    let addr = ep.trim_start_matches("tcp://").to_string();
    let sender = std::thread::spawn(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.set_nonblocking(true).unwrap();
        let bytes = raw_push_stream();
        let mut at = 0;
        while at < bytes.len() {
            let end = bytes.len().min(at + 8 * 1024);
            match stream.write(&bytes[at..end]) {
                Ok(n) => at += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::hint::spin_loop(),
                Err(e) => panic!("the raw sender's write failed: {e}"),
            }
        }
        // Kept open until the receiver has everything: a close could reset.
        stream
    });
    let longest = receive_in_turns(&pull).await;
    drop(sender.join().unwrap());
    longest
}

/// What a NULL-mechanism ZMTP 3.0 PUSH sends: greeting, READY, then
/// [`COUNT`] single-frame messages of [`SIZE`] bytes (long frames).
fn raw_push_stream() -> Vec<u8> {
    let mut out = super::limits::null_handshake("PUSH");
    for _ in 0..COUNT {
        out.push(0x02);
        out.extend_from_slice(&(SIZE as u64).to_be_bytes());
        out.resize(out.len() + SIZE, 7);
    }
    out
}

/// Receives [`COUNT`] messages of [`SIZE`] bytes as a slow application
/// would (see [`longest_turn`]) and returns the most found after one wait.
async fn receive_in_turns<R: RuntimeKind>(pull: &Socket<R>) -> usize {
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
    assert_eq!(got, COUNT);
    longest
}
