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

/// A socket registered with tokio's reactor for reading, and for
/// writability only once a write found it full: a Unix stream socket
/// registered for writability wakes the reactor each time its peer reads,
/// once more per round trip of an exchange. Writes are tried at once; one
/// that finds the socket full registers a duplicate of the descriptor for
/// writability, which goes after 64 writes in a row found
/// room (a connect's goes as soon as it is done).
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
    pub fn new(io: T, handle: &Handle) -> io::Result<Self> {
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
    pub fn poll_read_with<R>(
        &self,
        cx: &mut Context<'_>,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        retry(|| self.read.poll_read_ready(cx), op)
    }

    /// Runs `op` at once, and after a `WouldBlock` again each time the
    /// socket turns writable.
    pub fn poll_write_with<R>(
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
    pub fn poll_connect_with<R>(
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
