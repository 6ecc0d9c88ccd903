//! # runtime-blocking
//!
//! ZeroMQ sockets with a blocking API, on plain threads and std sockets: no
//! async runtime anywhere. Every socket type over `tcp://`, `ipc://` and
//! `inproc://`, speaking ZMTP 3.1 with libzmq and every other ZeroMQ peer.
//!
//! Each stream gets a reader and a writer thread, each listener an accept
//! thread, each socket a timer thread; the protocol and patterns run in the
//! shared engine (`zmq-patterns`, `zmq-runtime`), so this crate is only the
//! I/O.
//!
//! ```
//! use runtime_blocking::{Socket, SocketType};
//!
//! let rep = Socket::new(SocketType::Rep)?;
//! let endpoint = rep.bind("tcp://127.0.0.1:*")?;
//! let req = Socket::new(SocketType::Req)?;
//! req.connect(&endpoint.to_string())?;
//!
//! req.send("hello")?;
//! let request = rep.recv()?;
//! rep.send(request)?;
//! assert_eq!(&req.recv()?.frames()[0][..], b"hello");
//! # Ok::<(), runtime_blocking::Error>(())
//! ```
//!
//! `send` and `recv` wait for ever unless SNDTIMEO / RCVTIMEO are set on the
//! [`Builder`] (or later, with `set_sndtimeo` / `set_rcvtimeo`); [`poll`]
//! waits on several sockets as `zmq_poll` does.

use std::collections::VecDeque;
use std::io;
use std::ops::Deref;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use zmq_runtime::{
    bits, connect_blocking, io_slices, ConnectorId, Core, ListenerId, Pollable, ReadBuf, ReadStep,
    StdListener, StdStream, StreamCtl, WriteStep,
};

/// CURVE certificate files in the zcert (CZMQ, pyzmq) format.
pub use zmq_runtime::cert;
pub use zmq_runtime::proxy::{
    proxy_blocking as proxy, proxy_steerable_blocking as proxy_steerable, ProxyStats,
};
pub use zmq_runtime::{
    msg, poll, AllowList, AsEndpoint, AuthReply, AuthRequest, Authenticator, Credentials, Endpoint,
    Error, Events, IntoFrame, KeyPair, Metadata, MonitorEvent, Msg, OsRandom, Peer, PollItem,
    Properties, PublicKey, Refusal, RouterNotify, SecretKey, SocketType,
};

/// How often a writer stuck on a full peer looks whether LINGER ran out.
const WRITE_TICK: Duration = Duration::from_millis(100);
/// How long a closing stream waits for the peer's FIN after ours.
const CLOSE_GRACE: Duration = Duration::from_millis(500);
/// How long a listener pauses after a stream got no thread, so that it does
/// not spin accepting and dropping while the process is out of threads.
const SPAWN_BACKOFF: Duration = Duration::from_millis(100);

/// Options for a blocking socket: `Socket::builder(SocketType::Sub)`.
pub type Builder = zmq_runtime::Builder<Threads>;

/// A socket with a blocking API. Everything not about waiting (bind, connect,
/// subscribe, monitor, `try_send`...) comes from [`zmq_runtime::Socket`]
/// through `Deref`.
#[derive(Debug)]
pub struct Socket(zmq_runtime::Socket<Threads>);

impl Socket {
    /// A socket of this type with libzmq's default options.
    pub fn new(kind: SocketType) -> Result<Self, Error> {
        Builder::new(kind).build()
    }

    /// A builder for a socket with options.
    pub fn builder(kind: SocketType) -> Builder {
        Builder::new(kind)
    }

    /// Sends, waiting at most SNDTIMEO while the socket cannot take the message.
    pub fn send(&self, msg: impl Into<Msg>) -> Result<(), Error> {
        self.0.send_blocking(msg, self.0.timeouts().0)
    }

    /// Receives, waiting at most RCVTIMEO.
    pub fn recv(&self) -> Result<Msg, Error> {
        self.0.recv_blocking(self.0.timeouts().1)
    }

    /// Sends, waiting at most `timeout` (`None`: for ever).
    pub fn send_timeout(
        &self,
        msg: impl Into<Msg>,
        timeout: Option<Duration>,
    ) -> Result<(), Error> {
        self.0.send_blocking(msg, timeout)
    }

    /// Receives, waiting at most `timeout` (`None`: for ever).
    pub fn recv_timeout(&self, timeout: Option<Duration>) -> Result<Msg, Error> {
        self.0.recv_blocking(timeout)
    }

    /// Closes the socket and waits until LINGER has delivered what was queued.
    pub fn close(self) {
        self.0.close_blocking();
    }

    /// A new monitor of this socket's events, as a blocking iterator: every
    /// event from now on (each monitor gets them all).
    pub fn monitor(&self) -> Monitor {
        Monitor(self.0.monitor())
    }
}

/// A socket's events (`zmq_socket_monitor`), from [`Socket::monitor`]: an
/// iterator that blocks for the next event and ends once the socket is
/// closed and every event was read.
#[derive(Debug)]
pub struct Monitor(zmq_runtime::Monitor);

impl Monitor {
    /// Blocks for the next event, at most `timeout` (`None`: for ever):
    /// [`Error::Timeout`] when none came, [`Error::Closed`] once the socket
    /// is gone and every event was read.
    pub fn next_timeout(&mut self, timeout: Option<Duration>) -> Result<MonitorEvent, Error> {
        self.0.next_blocking(timeout)
    }

    /// The next event if one is waiting.
    pub fn try_next(&mut self) -> Option<MonitorEvent> {
        self.0.try_next()
    }

    /// How many events this monitor lost because nobody read them and its
    /// queue (1000 events) was full.
    pub fn missed(&self) -> u64 {
        self.0.missed()
    }
}

impl Iterator for Monitor {
    type Item = MonitorEvent;

    /// Blocks for the next event; `None` once the socket is gone.
    fn next(&mut self) -> Option<MonitorEvent> {
        self.0.next_blocking(None).ok()
    }
}

impl Deref for Socket {
    type Target = zmq_runtime::Socket<Threads>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl From<zmq_runtime::Socket<Threads>> for Socket {
    fn from(s: zmq_runtime::Socket<Threads>) -> Self {
        Self(s)
    }
}

impl Pollable for Socket {
    fn core(&self) -> &Core {
        self.0.core()
    }
}

/// Plain threads, as a socket's runtime type.
#[derive(Debug)]
pub struct Threads;

impl zmq_runtime::RuntimeKind for Threads {
    type Socket = Socket;

    fn runtime() -> Result<Arc<dyn zmq_runtime::Runtime>, Error> {
        Ok(Arc::new(Self))
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> io::Result<()> {
    thread::Builder::new().name(name.into()).spawn(f).map(drop)
}

/// Stops an accept thread: shutting a listening socket down wakes its blocked
/// `accept`.
struct StopListener(Arc<StdListener>);

impl Drop for StopListener {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}

impl zmq_runtime::Runtime for Threads {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn listen(
        &self,
        core: &Core,
        id: ListenerId,
        listener: StdListener,
    ) -> io::Result<Box<dyn Send>> {
        listener.set_nonblocking(false)?;
        let listener = Arc::new(listener);
        let (l, core) = (listener.clone(), core.clone());
        spawn("zmq-accept", move || accept_loop(&core, id, &l))?;
        Ok(Box::new(StopListener(listener)))
    }

    fn connect(&self, core: &Core, id: ConnectorId, endpoint: Endpoint) -> io::Result<()> {
        let core = core.clone();
        spawn("zmq-stream", move || {
            match connect_blocking(&endpoint, &core.connect_options(id)) {
                Ok((stream, peer)) => {
                    if let Some(ctl) = core.handle_connected(id, peer) {
                        run_stream(stream, ctl);
                    }
                }
                Err(_) => core.handle_connect_failed(id),
            }
        })
    }

    fn start_timer(&self, core: &Core) {
        let core = core.clone();
        let _ = spawn("zmq-timer", move || loop {
            let deadline = core.arm_timer();
            if core.is_finished() {
                return;
            }
            core.timer().wait_blocking(bits::DEADLINE, deadline);
            core.handle_timeout();
        });
    }
}

fn accept_loop(core: &Core, id: ListenerId, listener: &StdListener) {
    // The options of the bind hold for every stream it accepts, as in libzmq.
    let opts = core.tcp_options();
    let accepted = std::iter::from_fn(|| listener.accept_blocking(&opts));
    serve(
        accepted,
        |(stream, peer)| {
            let ctl = core.handle_accepted(id, peer)?;
            Some(spawn("zmq-stream", move || run_stream(stream, ctl)))
        },
        || thread::sleep(SPAWN_BACKOFF),
    );
}

/// Starts each accepted stream until `start` says the listener is gone
/// (`None`). A stream that gets no thread (out of threads or memory) is
/// refused, not the listener stopped: the failed spawn dropped it, which
/// closed it and told the engine (its monitor sees it disconnect), and after
/// a pause, as after a failed accept, the listener goes on.
fn serve<T>(
    accepted: impl IntoIterator<Item = T>,
    mut start: impl FnMut(T) -> Option<io::Result<()>>,
    mut back_off: impl FnMut(),
) {
    for stream in accepted {
        match start(stream) {
            None => return,
            Some(Ok(())) => {}
            Some(Err(_)) => back_off(),
        }
    }
}

/// Runs one stream: a writer thread, and the reader on this thread.
fn run_stream(stream: StdStream, ctl: StreamCtl) {
    let stream = Arc::new(stream);
    let ctl = Arc::new(ctl);
    let (s, c) = (stream.clone(), ctl.clone());
    if spawn("zmq-writer", move || write_loop(&s, &c)).is_err() {
        return;
    }
    read_loop(&stream, &ctl);
}

fn write_loop(stream: &StdStream, ctl: &StreamCtl) {
    let _ = stream.set_write_timeout(Some(WRITE_TICK));
    let mut out = VecDeque::new();
    loop {
        match ctl.next_write(&mut out) {
            WriteStep::Abort => break,
            WriteStep::Finish => {
                // FIN after the last byte; the reader drains what the peer
                // still sends (closing with unread input would reset the
                // connection and could lose our tail), and is woken for good
                // if the peer does not close soon.
                stream.shutdown_write();
                let deadline = Instant::now() + CLOSE_GRACE;
                while !ctl.reader_done() && Instant::now() < deadline {
                    thread::sleep(Duration::from_millis(5));
                }
                break;
            }
            WriteStep::Idle => {
                ctl.signal()
                    .wait_blocking(bits::FLUSH | bits::CLOSE | bits::ABORT, None);
            }
            WriteStep::Write => {
                let written = stream.write_vectored(&io_slices(&out));
                match written {
                    Ok(n) if n > 0 => zmq_runtime::consume(&mut out, n),
                    Err(e) if is_retry(&e) => {}
                    _ => {
                        ctl.handle_eof();
                        break;
                    }
                }
            }
        }
    }
    // Wakes the reader, which may be blocked in `read`.
    stream.shutdown();
}

/// Errors after which a blocking call is simply made again: a write timeout
/// tick, or a signal.
fn is_retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

fn read_loop(stream: &StdStream, ctl: &StreamCtl) {
    read_until_closed(stream, ctl);
    ctl.set_reader_done();
}

fn read_until_closed(stream: &StdStream, ctl: &StreamCtl) {
    let mut rbuf = ReadBuf::new();
    let mut reading = true;
    loop {
        let step = ctl.next_read(&mut reading);
        match step {
            ReadStep::Abort => return,
            ReadStep::Paused => {
                // The wait consumes RESUME: what woke it was room (or a close,
                // which `next_read` reports first).
                ctl.signal()
                    .wait_blocking(bits::RESUME | bits::CLOSE | bits::ABORT, None);
                reading = true;
                continue;
            }
            ReadStep::Read | ReadStep::Drain => {}
        }
        match stream.read_into(&mut rbuf) {
            Ok(n) if n > 0 && step == ReadStep::Drain => rbuf.buf.clear(),
            Ok(n) if n > 0 => reading = ctl.handle_input(&mut rbuf.buf),
            Err(e) if is_retry(&e) => {}
            _ => {
                if step == ReadStep::Read {
                    ctl.handle_eof();
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_without_a_thread_is_refused_and_the_listener_goes_on() {
        let (mut started, mut pauses) = (Vec::new(), 0);
        serve(
            0..6,
            |n| match n {
                5 => None,
                1 | 3 => Some(Err(io::ErrorKind::OutOfMemory.into())),
                n => {
                    started.push(n);
                    Some(Ok(()))
                }
            },
            || pauses += 1,
        );
        assert_eq!((started, pauses), (vec![0, 2, 4], 2));
    }
}
