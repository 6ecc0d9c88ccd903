//! How `runtime_tokio::Registered` registers a socket with tokio's reactor,
//! read from `/proc`: for reading only while writes find room (a Unix
//! socket registered for writability wakes the reactor each time its peer
//! reads), and for writability, through a duplicate of the descriptor, only
//! once a write finds the socket full.

use std::collections::HashMap;
use std::future::Future;
use std::io::{self, IoSlice, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::task::{Context, Poll};
use std::time::Duration;

use runtime_tokio::Registered;
use tokio::runtime::Handle;
use zmq_runtime::StdStream;

const EPOLLOUT: u32 = 0x4;

/// The event masks of every descriptor registered with an epoll instance of
/// this process (tokio's reactors), by descriptor.
fn epoll_masks() -> HashMap<i32, u32> {
    let mut masks = HashMap::new();
    for entry in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let is_epoll = std::fs::read_link(entry.path())
            .is_ok_and(|t| t.to_string_lossy().contains("eventpoll"));
        if !is_epoll {
            continue;
        }
        let info = format!("/proc/self/fdinfo/{}", entry.file_name().to_string_lossy());
        let Ok(info) = std::fs::read_to_string(info) else {
            continue;
        };
        // "tfd:        9 events:       19 data: ..." (a hex mask)
        for line in info.lines().filter(|l| l.starts_with("tfd:")) {
            let f: Vec<&str> = line.split_whitespace().collect();
            masks.insert(
                f[1].parse().unwrap(),
                u32::from_str_radix(f[3], 16).unwrap(),
            );
        }
    }
    masks
}

/// The other descriptors of this process open on the same socket as `fd`.
fn duplicates(fd: i32) -> Vec<i32> {
    let target = |n: &str| std::fs::read_link(format!("/proc/self/fd/{n}")).ok();
    let me = target(&fd.to_string()).unwrap();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .filter(|&n| n != fd && target(&n.to_string()).as_ref() == Some(&me))
        .collect()
}

fn write<'a>(
    reg: &'a Registered<StdStream>,
    bytes: &'a [u8],
) -> impl Future<Output = io::Result<usize>> + 'a {
    std::future::poll_fn(move |cx| {
        reg.poll_write_with(cx, |s| s.write_vectored(&[IoSlice::new(bytes)]))
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// One end of a Unix socket pair registered with the current runtime, its
/// descriptor, and the other end (blocking).
fn registered_pair() -> (Registered<StdStream>, i32, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let fd = a.as_raw_fd();
    let reg = Registered::new(StdStream::Unix(a), &Handle::current()).unwrap();
    (reg, fd, b)
}

#[test]
fn writes_that_find_room_leave_the_socket_registered_for_reading_only() {
    runtime().block_on(async {
        let (reg, fd, mut b) = registered_pair();
        for _ in 0..10 {
            assert_eq!(write(&reg, b"ping").await.unwrap(), 4);
            let mut got = [0u8; 4];
            b.read_exact(&mut got).unwrap();
        }
        let mask = epoll_masks()[&fd];
        assert_eq!(mask & EPOLLOUT, 0, "registered for writability: {mask:#x}");
        assert_eq!(duplicates(fd), Vec::<i32>::new());
    });
}

#[test]
fn a_write_to_a_full_socket_waits_for_room_then_the_registration_goes() {
    runtime().block_on(async {
        let (reg, fd, mut b) = registered_pair();
        let chunk = vec![7u8; 64 * 1024];
        // Fill the socket: the write that finds no room waits.
        let mut sent = 0;
        let waiting = loop {
            let mut w = Box::pin(write(&reg, &chunk));
            let mut cx = Context::from_waker(std::task::Waker::noop());
            match w.as_mut().poll(&mut cx) {
                Poll::Ready(n) => sent += n.unwrap(),
                Poll::Pending => break w,
            }
        };
        let dups = duplicates(fd);
        assert_eq!(dups.len(), 1, "one registration for writability");
        assert_ne!(epoll_masks()[&dups[0]] & EPOLLOUT, 0);
        // The peer reads everything; the waiting write must be woken.
        let reader = std::thread::spawn(move || {
            let mut all = Vec::new();
            b.read_to_end(&mut all).unwrap();
            all.len()
        });
        sent += tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("the write was never woken")
            .unwrap();
        // Writes that find room: after 64 in a row (the one that waited
        // counts) the registration goes, its descriptor with it. The first
        // few may still find the socket full while the peer catches up.
        let mut writes = 0;
        while !duplicates(fd).is_empty() {
            assert!(writes < 10_000, "the registration stays");
            sent += write(&reg, b"x").await.unwrap();
            writes += 1;
        }
        assert!(writes >= 63, "gone after {writes} writes");
        drop(reg);
        assert_eq!(reader.join().unwrap(), sent);
    });
}

#[test]
fn a_connect_keeps_no_registration_for_writability() {
    runtime().block_on(async {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let s = zmq_runtime::start_connect_tcp(addr, &Default::default()).unwrap();
        let fd = s.as_raw_fd();
        let reg = Registered::new(s, &Handle::current()).unwrap();
        // A loopback connect may be done before it is first asked: the
        // first answer is "in progress" all the same, so that it waits.
        let mut asked = false;
        std::future::poll_fn(|cx| {
            reg.poll_connect_with(cx, |s| {
                if std::mem::replace(&mut asked, true) {
                    s.connect_result()
                } else {
                    Err(io::ErrorKind::WouldBlock.into())
                }
            })
        })
        .await
        .unwrap();
        assert!(asked);
        assert_eq!(duplicates(fd), Vec::<i32>::new());
    });
}
