//! A busy stream's read buffer writes into blocks it used before, once the
//! frames split off them are gone, instead of allocating a fresh block each
//! time it fills one. Fresh blocks of a few hundred KiB, freed a moment
//! later, made glibc give the pages back and fault them in again: a third of
//! a 64 KiB receiver's time.
//!
//! Its own test binary: the allocator below counts every allocation of the
//! process. A counting allocator needs `unsafe`, which the workspace denies
//! elsewhere.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::VecDeque;
use std::io::{self, Read};
use std::sync::atomic::{AtomicUsize, Ordering};

use zmq_runtime::ReadBuf;

/// Counts allocations of at least `LARGE` bytes.
struct Counting;

const LARGE: usize = 128 * 1024;
static LARGE_ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() >= LARGE {
            LARGE_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above, i.e. from `System`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// A peer that always has more to send than a read asks for.
struct Flood;

impl Read for Flood {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        out.fill(9);
        Ok(out.len())
    }
}

#[test]
fn a_busy_stream_writes_into_blocks_its_frames_have_left() {
    const FRAME: usize = 64 * 1024;
    let mut rb = ReadBuf::new();
    // The application is a few frames behind the reader, as a receiver
    // that keeps up is.
    let mut queue = VecDeque::new();
    let mut pump = |rb: &mut ReadBuf| {
        let n = rb.read_from(Flood).unwrap();
        while rb.buf.len() >= FRAME {
            queue.push_back(rb.buf.split_to(FRAME).freeze());
            if queue.len() > 8 {
                queue.pop_front();
            }
        }
        n
    };
    // Warm up: the window grows to its largest and the first blocks are made.
    for _ in 0..64 {
        pump(&mut rb);
    }
    let before = LARGE_ALLOCS.load(Ordering::Relaxed);
    let mut moved = 0;
    while moved < 256 << 20 {
        moved += pump(&mut rb);
    }
    let fresh = LARGE_ALLOCS.load(Ordering::Relaxed) - before;
    // Without reuse this is one block per 256 KiB read: about a thousand.
    assert!(fresh <= 2, "{fresh} fresh blocks for 256 MiB read");
}
