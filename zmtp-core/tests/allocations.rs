//! Small messages cost no heap allocation per message in the steady state: frames
//! are coalesced into one batch buffer on the way out and sliced out of the
//! receive buffer on the way in.

// A counting global allocator is the only way to observe allocations; it forwards
// every call to the system allocator unchanged.
#![allow(unsafe_code)]
// Virtual time needs one real starting instant.
#![allow(clippy::disallowed_methods)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use zmtp_core::{Config, Connection, Event, Msg, SocketType};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
/// Bytes allocated and not yet freed.
static LIVE: AtomicUsize = AtomicUsize::new(0);
/// The counts are process-wide: one test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

// SAFETY: forwards to `System` with the same arguments; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn pump(from: &mut Connection, wire: &mut BytesMut) {
    while let Some(chunk) = from.poll_transmit() {
        wire.extend_from_slice(&chunk);
    }
}

/// A PUSH and a PULL past their handshake, with the buffer each reads.
fn active_pair(now: Instant) -> (Connection, Connection, BytesMut, BytesMut) {
    let mut push = Connection::new(Arc::new(Config::new(SocketType::Push)), now);
    let mut pull = Connection::new(Arc::new(Config::new(SocketType::Pull)), now);
    let (mut a, mut b) = (
        BytesMut::with_capacity(1 << 20),
        BytesMut::with_capacity(1 << 20),
    );
    for _ in 0..4 {
        pump(&mut push, &mut a);
        pump(&mut pull, &mut b);
        pull.handle_input(now, &mut a).unwrap();
        push.handle_input(now, &mut b).unwrap();
    }
    while pull.poll_event().is_some() {}
    assert!(push.is_active() && pull.is_active());
    (push, pull, a, b)
}

#[test]
fn steady_state_small_messages_do_not_allocate_per_message() {
    let _one = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let now = Instant::now();
    let (mut push, mut pull, mut a, _) = active_pair(now);

    let payload = Bytes::from_static(&[0x5A; 64]);
    let mut round = |n: usize| {
        for _ in 0..n {
            push.send(Msg::single(payload.clone())).unwrap();
        }
        pump(&mut push, &mut a);
        pull.handle_input(now, &mut a).unwrap();
        let mut got = 0;
        while let Some(ev) = pull.poll_event() {
            assert!(matches!(ev, Event::Message(ref m) if m.frames()[0].len() == 64));
            got += 1;
        }
        assert_eq!(got, n);
    };
    // Warm up buffers and queues to their working size.
    round(1000);
    let before = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..10 {
        round(1000);
    }
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    eprintln!("{allocs} allocations for 10,000 messages");
    // A handful per batch (buffer turnover), never one per message.
    assert!(allocs < 100, "{allocs} allocations for 10,000 messages");
}

/// Sends `rounds` × 64 messages of 1 KiB through `push`, with a writer that
/// holds what it took for three rounds before it has written it: `held`
/// keeps each chunk with the round it was taken in.
fn lagging_writer(push: &mut Connection, held: &mut VecDeque<(usize, Bytes)>, rounds: usize) {
    let payload = Bytes::from(vec![0x5A; 1024]);
    for round in 0..rounds {
        for _ in 0..64 {
            push.send(Msg::single(payload.clone())).unwrap();
        }
        while let Some(chunk) = push.poll_transmit() {
            held.push_back((round, chunk));
        }
        while held.front().is_some_and(|(r, _)| r + 3 <= round) {
            held.pop_front();
        }
    }
}

/// A sender whose writer runs behind it (another thread writes, or the
/// pump's next turn) fills the batches it filled before once they are
/// written, instead of a new 64 KiB allocation per batch: on glibc's
/// main-thread heap, freeing and allocating them shrank and regrew the
/// heap, at a page fault per 4 KiB.
#[test]
fn a_sender_behind_its_writer_fills_its_written_batches_again() {
    let _one = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let now = Instant::now();
    let (mut push, ..) = active_pair(now);
    let mut held = VecDeque::new();
    // To full batches, the queues to their working size.
    lagging_writer(&mut push, &mut held, 50);
    held.clear();
    let before = ALLOCS.load(Ordering::Relaxed);
    lagging_writer(&mut push, &mut held, 200);
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    // Over 200 batches: a new buffer each made it 412; reused, about 11
    // (the count is process-wide, and the test harness allocates too).
    eprintln!("{allocs} allocations for 200 rounds of 64 KiB");
    assert!(
        allocs < 100,
        "{allocs} allocations for 200 rounds of 64 KiB"
    );
}

/// The batches a busy stream keeps for reuse are let go once it stops
/// filling them: a quiet connection holds what it held before.
#[test]
fn a_quiet_sender_lets_its_spare_batches_go() {
    let _one = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let now = Instant::now();
    let (mut push, ..) = active_pair(now);
    assert_eq!(push.poll_timeout(), None, "no heartbeat, no deadline");
    let mut held = VecDeque::new();
    lagging_writer(&mut push, &mut held, 50);
    held.clear();
    // The writer has written everything and asks again before it idles.
    assert!(push.poll_transmit().is_none());
    let busy = LIVE.load(Ordering::Relaxed);
    // A look while batches are still being filled keeps them.
    let first = push.poll_timeout().expect("a look at the spare batches");
    push.handle_timeout(first).unwrap();
    let second = push.poll_timeout().expect("another look later");
    assert!(
        second >= first + Duration::from_millis(100),
        "{first:?} {second:?}"
    );
    lagging_writer(&mut push, &mut held, 2);
    held.clear();
    assert!(push.poll_transmit().is_none());
    push.handle_timeout(second).unwrap();
    let third = push.poll_timeout().expect("filled since: kept");
    assert!(
        LIVE.load(Ordering::Relaxed) + 64 * 1024 > busy,
        "kept while in use"
    );
    // Nothing filled since the last look: they go.
    push.handle_timeout(third).unwrap();
    assert_eq!(push.poll_timeout(), None);
    let quiet = LIVE.load(Ordering::Relaxed);
    eprintln!("{busy} bytes live while busy, {quiet} once quiet");
    assert!(
        busy >= quiet + 2 * 64 * 1024,
        "{busy} bytes live while busy, {quiet} once quiet"
    );
}
