//! Small messages cost no heap allocation per message in the steady state: frames
//! are coalesced into one batch buffer on the way out and sliced out of the
//! receive buffer on the way in.

// A counting global allocator is the only way to observe allocations; it forwards
// every call to the system allocator unchanged.
#![allow(unsafe_code)]
// Virtual time needs one real starting instant.
#![allow(clippy::disallowed_methods)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use zmtp_core::{Config, Connection, Event, Msg, SocketType};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to `System` with the same arguments; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
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

#[test]
fn steady_state_small_messages_do_not_allocate_per_message() {
    let now = Instant::now();
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
