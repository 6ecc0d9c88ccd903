//! A slow subscriber (the ZeroMQ guide, chapter 5, "slow subscriber
//! detection"): PUB never waits for its subscribers, so one that cannot keep
//! up loses messages, and only the subscriber can tell.
//!
//! Between a publisher and each subscriber sit the publisher's queue (SNDHWM
//! messages), the operating system's socket buffers and the subscriber's
//! queue (RCVHWM). Once they are full, PUB drops what that subscriber would
//! get next, without blocking or an error, so one slow subscriber cannot stall
//! the publisher or the others. Numbering the messages lets the subscriber
//! see the gaps.
//!
//! Blocking runtime: the publisher and the subscriber are threads.
//!
//! `cargo run -p zmq-examples --bin slow_subscriber`

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use runtime_blocking::{Endpoint, Msg, Socket, SocketType};

/// Errors that may cross from a thread to `main`.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Messages the publisher sends as fast as it can.
const MESSAGES: u64 = 5_000;
/// Each message's payload: large, so that the operating system's buffers hold
/// only a few hundred of them and the high-water marks are what decide.
const PAYLOAD: usize = 16 * 1024;
/// SNDHWM of the publisher and RCVHWM of the subscriber.
const HWM: usize = 100;
/// What handling one message costs the subscriber: far slower than the
/// publisher sends.
const WORK_PER_MESSAGE: Duration = Duration::from_micros(100);

fn main() -> Result<(), BoxError> {
    let publisher = Socket::builder(SocketType::Pub).sndhwm(HWM).build()?;
    let endpoint = publisher.bind("tcp://127.0.0.1:*")?;

    let (subscribed_tx, subscribed) = mpsc::channel();
    let (done_tx, done) = mpsc::channel();
    let subscriber = thread::spawn(move || subscriber(&endpoint, &subscribed_tx, &done_tx));

    // A subscription takes a moment to reach the publisher, and PUB drops
    // everything published before it arrives (the "slow joiner"): so the
    // publisher says hello until the subscriber hears one.
    while let Err(RecvTimeoutError::Timeout) = subscribed.recv_timeout(Duration::from_millis(10)) {
        publisher.send("hello")?;
    }

    let payload = Bytes::from(vec![b'x'; PAYLOAD]);
    for seq in 0..MESSAGES {
        // `Bytes` is shared, not copied: a message only adds a reference.
        publisher.send(("data", seq.to_string(), payload.clone()))?;
    }
    println!("publisher: sent {MESSAGES} messages, never waiting for the subscriber");

    // The end marker may be dropped as well while the subscriber is behind,
    // so it is repeated until the subscriber has it. It carries the next
    // sequence number: a gap before it is the lost tail of the stream. (A
    // subscriber that failed disconnects the channel, which ends the loop too.)
    while let Err(RecvTimeoutError::Timeout) = done.recv_timeout(Duration::from_millis(10)) {
        publisher.send(("end", MESSAGES.to_string()))?;
    }
    subscriber.join().expect("the subscriber thread panicked")?;
    Ok(())
}

fn subscriber(
    endpoint: &Endpoint,
    subscribed: &mpsc::Sender<()>,
    done: &mpsc::Sender<()>,
) -> Result<(), BoxError> {
    let sub = Socket::builder(SocketType::Sub)
        .rcvhwm(HWM)
        .subscribe("")
        // Only so that a broken publisher ends the program instead of hanging it.
        .rcvtimeo(Some(Duration::from_secs(5)))
        .build()?;
    sub.connect(endpoint)?;

    let (mut expected, mut received, mut lost, mut gaps) = (0u64, 0u64, 0u64, 0u64);
    loop {
        let msg = sub.recv()?;
        let kind = msg.first().map(|f| &f[..]).unwrap_or_default();
        if kind == b"hello" {
            let _ = subscribed.send(());
            continue;
        }
        let seq: u64 = sequence_number(&msg)?;
        if seq > expected {
            gaps += 1;
            lost += seq - expected;
            println!(
                "subscriber: gap: expected message {expected}, got {seq} ({} lost)",
                seq - expected
            );
        }
        expected = seq + 1;
        if kind == b"end" {
            break;
        }
        received += 1;
        thread::sleep(WORK_PER_MESSAGE);
    }
    println!(
        "subscriber: received {received} of {MESSAGES} messages, {lost} lost in {gaps} gap(s)"
    );
    let _ = done.send(());
    Ok(())
}

/// The second frame of a "data" or "end" message.
fn sequence_number(msg: &Msg) -> Result<u64, BoxError> {
    let frame = msg
        .frames()
        .get(1)
        .ok_or("a message without a sequence number")?;
    Ok(std::str::from_utf8(frame)?.parse()?)
}
