//! A socket registered with tokio's reactor for reading only, and for
//! writability only once a write finds it full.
//!
//! A descriptor registered for both directions is woken on every edge of
//! either. A Unix stream socket reports an edge of writability each time the
//! peer reads what was sent (the kernel's `unix_write_space` does not ask
//! whether the writer ever found the socket full, as TCP's does), so a
//! request/reply exchange over ipc woke the reactor's thread once more per
//! round trip for nothing: on the multi-thread runtime, 64 B one way,
//! 17-22 µs against 7-8 µs with read interest alone. libzmq likewise adds
//! `EPOLLOUT` only while it has bytes it could not write.
//!
//! So a write is tried at once, and only one that finds the socket full
//! makes a second registration, on a duplicate of the descriptor, for
//! writability. A bulk sender keeps it (over ipc at 64 KiB one write in
//! three or four finds the socket full, and making and dropping it each time
//! cost 12 % of the throughput); it goes after [`CLEAR_WRITES`] writes in a
//! row got through, when the stream is back to exchanges.

use std::io;
use std::os::fd::OwnedFd;
use std::sync::{Mutex, PoisonError};
use std::task::{ready, Context, Poll};

use tokio::io::unix::{AsyncFd, AsyncFdReadyGuard};
use tokio::io::Interest;
use tokio::runtime::Handle;
use zmq_runtime::Fd;

/// Writes in a row that find room before the registration for writability
/// is dropped.
const CLEAR_WRITES: u32 = 64;

/// A socket registered with tokio: for reading, and for writability only
/// once a write found it full (see the module's docs).
#[derive(Debug)]
pub struct Registered<T: Fd> {
    read: AsyncFd<T>,
    /// Made when a write found the socket full (see [`CLEAR_WRITES`]);
    /// boxed, since an idle connection has none.
    write: Mutex<Option<Box<WriteReg>>>,
}

/// The registration for writability, and the writes since one last found
/// the socket full.
#[derive(Debug)]
struct WriteReg {
    fd: AsyncFd<OwnedFd>,
    clear: u32,
}

impl<T: Fd> Registered<T> {
    /// Registers `io` for reading with the reactor of `handle`.
    #[allow(unsafe_code)]
    pub(crate) fn new(io: T, handle: &Handle) -> io::Result<Self> {
        let _in_runtime = handle.enter();
        // SAFETY: `Fd` is sealed to zmq-runtime's std socket wrappers, which own
        // their descriptor: it stays open and the same until the value (now
        // owned by the `AsyncFd`) is dropped.
        let read = unsafe { AsyncFd::register_with_interest(io, Interest::READABLE) }?;
        Ok(Self {
            read,
            write: Mutex::new(None),
        })
    }

    /// The socket.
    pub fn get_ref(&self) -> &T {
        self.read.get_ref()
    }

    /// Runs `op` once the socket is readable, again after every `WouldBlock`.
    pub(crate) fn poll_read_with<R>(
        &self,
        cx: &mut Context<'_>,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        retry(|| self.read.poll_read_ready(cx), op)
    }

    /// Runs `op` at once, and after a `WouldBlock` again each time the
    /// socket turns writable.
    pub(crate) fn poll_write_with<R>(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let mut write = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        if write.is_none() {
            match op(self.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                r => return Poll::Ready(r),
            }
            // Registering reports the socket's state at once: no edge
            // between the failed write and now is lost.
            *write = Some(Box::new(WriteReg {
                fd: self.register_write()?,
                clear: 0,
            }));
        }
        let w = write.as_mut().expect("registered above");
        let r = loop {
            let mut guard = ready!(w.fd.poll_write_ready(cx))?;
            match guard.try_io(|_| op(self.get_ref())) {
                Ok(r) => break r,
                Err(_) => w.clear = 0,
            }
        };
        w.clear += 1;
        if w.clear >= CLEAR_WRITES {
            *write = None;
        }
        Poll::Ready(r)
    }

    /// As [`Registered::poll_write_with`], for the wait of a connect: its
    /// registration goes with it (an idle connection would otherwise keep a
    /// second descriptor until 64 writes).
    pub(crate) fn poll_connect_with<R>(
        &self,
        cx: &mut Context<'_>,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let r = ready!(self.poll_write_with(cx, op));
        *self.write.lock().unwrap_or_else(PoisonError::into_inner) = None;
        Poll::Ready(r)
    }

    /// A registration for writability of the same socket. The reactor keys
    /// registrations by descriptor, so it is made on a duplicate.
    #[allow(unsafe_code)]
    fn register_write(&self) -> io::Result<AsyncFd<OwnedFd>> {
        let dup = self.get_ref().as_fd().try_clone_to_owned()?;
        // Only the runtime's tasks wait for writability (the pumps, the
        // connects), so this runs inside the runtime that registered the
        // socket; anywhere else is an error, not the reactor's panic.
        Handle::try_current().map_err(io::Error::other)?;
        // SAFETY: the `OwnedFd` owns the duplicate: it stays open and the same
        // until the `AsyncFd` that owns it is dropped.
        Ok(unsafe { AsyncFd::register_with_interest(dup, Interest::WRITABLE) }?)
    }
}

/// Runs `op` on each readiness event; `try_io` clears the readiness when `op`
/// says WouldBlock, so the next poll waits for a fresh event.
fn retry<'a, T: Fd, R>(
    mut ready: impl FnMut() -> Poll<io::Result<AsyncFdReadyGuard<'a, T>>>,
    mut op: impl FnMut(&T) -> io::Result<R>,
) -> Poll<io::Result<R>> {
    loop {
        let mut guard = ready!(ready())?;
        if let Ok(r) = guard.try_io(|fd| op(fd.get_ref())) {
            return Poll::Ready(r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::HashMap;
    use std::future::Future;
    use std::io::{IoSlice, Read};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    use zmq_runtime::StdStream;

    const EPOLLOUT: u32 = 0x4;

    /// The event masks of every descriptor registered with an epoll
    /// instance of this process (tokio's reactor), by descriptor.
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
            // "tfd:        9 events:       19 data: ..." (hex mask)
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

    #[test]
    fn writes_that_find_room_leave_the_socket_registered_for_reading_only() {
        runtime().block_on(async {
            let (a, mut b) = UnixStream::pair().unwrap();
            a.set_nonblocking(true).unwrap();
            let fd = a.as_raw_fd();
            let reg = Registered::new(StdStream::Unix(a), &Handle::current()).unwrap();
            for _ in 0..10 {
                assert_eq!(write(&reg, b"ping").await.unwrap(), 4);
                let mut got = [0u8; 4];
                b.read_exact(&mut got).unwrap();
            }
            assert!(reg.write.lock().unwrap().is_none());
            let mask = epoll_masks()[&fd];
            assert_eq!(mask & EPOLLOUT, 0, "registered for writability: {mask:#x}");
        });
    }

    #[test]
    fn a_connect_keeps_no_registration_for_writability() {
        runtime().block_on(async {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = l.local_addr().unwrap();
            let s = zmq_runtime::start_connect_tcp(addr, &Default::default()).unwrap();
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
            assert!(reg.write.lock().unwrap().is_none());
        });
    }

    #[test]
    fn a_write_to_a_full_socket_waits_for_room_then_the_registration_goes() {
        runtime().block_on(async {
            let (a, mut b) = UnixStream::pair().unwrap();
            a.set_nonblocking(true).unwrap();
            let reg = Registered::new(StdStream::Unix(a), &Handle::current()).unwrap();
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
            let dup = {
                let w = reg.write.lock().unwrap();
                w.as_ref()
                    .expect("a registration for writability")
                    .fd
                    .as_raw_fd()
            };
            assert_ne!(epoll_masks()[&dup] & EPOLLOUT, 0);
            // The peer reads everything; the waiting write must be woken.
            let reader = std::thread::spawn(move || {
                let mut all = Vec::new();
                b.read_to_end(&mut all).unwrap();
                all.len()
            });
            let n = tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
                .await
                .expect("the write was never woken")
                .unwrap();
            sent += n;
            // Writes that find room: after CLEAR_WRITES of them in a row the
            // registration is dropped, and its descriptor with it (the
            // first few may still find the socket full while the peer
            // catches up).
            let mut writes = 0;
            while reg.write.lock().unwrap().is_some() {
                assert!(writes < 100 * CLEAR_WRITES, "the registration stays");
                sent += write(&reg, b"x").await.unwrap();
                writes += 1;
            }
            // The write that waited counts as the first.
            assert!(writes >= CLEAR_WRITES - 1);
            assert!(!epoll_masks().contains_key(&dup));
            drop(reg);
            assert_eq!(reader.join().unwrap(), sent);
        });
    }
}
