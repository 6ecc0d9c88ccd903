//! The socket handle: endpoints, sending and receiving (async, non-blocking or
//! blocking), subscriptions, monitor, close.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use zmq_patterns::engine::Endpoint;
use zmq_patterns::{RecvError, SendError, SendRefusal};
use zmtp_core::{IntoFrame, Msg, SocketType};

use crate::core::{Core, Refusal};
use crate::error::Error;
use crate::local::Local;
use crate::monitor::Monitor;
use crate::signal::{
    any_of, block_on, block_on_assisted, poll_until, AnyOf, Assist, Spin, Waiting,
};

/// What `bind`, `connect`, `unbind` and `disconnect` take: an endpoint as
/// text (`&str`, `String`) or the [`Endpoint`] that `bind` returned.
pub trait AsEndpoint {
    /// The endpoint as text.
    fn as_endpoint(&self) -> Cow<'_, str>;
}

impl AsEndpoint for str {
    fn as_endpoint(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
}

impl AsEndpoint for String {
    fn as_endpoint(&self) -> Cow<'_, str> {
        Cow::Borrowed(self)
    }
}

impl AsEndpoint for Endpoint {
    fn as_endpoint(&self) -> Cow<'_, str> {
        Cow::Owned(self.to_string())
    }
}

impl<T: AsEndpoint + ?Sized> AsEndpoint for &T {
    fn as_endpoint(&self) -> Cow<'_, str> {
        (**self).as_endpoint()
    }
}

/// The types that take subscriptions.
const SUBSCRIBERS: &[SocketType] = &[SocketType::Sub, SocketType::XSub];

/// A ZeroMQ socket running on runtime `R`.
///
/// `Send + Sync`: share it between tasks or threads behind an `Arc`. Dropping it
/// closes it in the background (LINGER applies); [`Socket::close`] waits for
/// that to finish.
///
/// Async [`send`](Socket::send) and [`recv`](Socket::recv) wait on the HWM and
/// on arriving messages. `recv` is cancellation-safe: a message is taken only
/// when the future completes. `send` either queues the whole message or, if
/// dropped before it completes, queues nothing (the message is dropped with
/// the future); use [`writable`](Socket::writable) and
/// [`try_send`](Socket::try_send) to keep the message instead.
pub struct Socket<R> {
    core: Core,
    /// Timeouts and the last endpoint, changed through `&self`.
    pub(crate) live: Local,
    _runtime: PhantomData<fn() -> R>,
}

impl<R> Socket<R> {
    /// Wraps a built core; the builder is the one place sockets are made.
    pub(crate) fn from_core(
        core: Core,
        sndtimeo: Option<Duration>,
        rcvtimeo: Option<Duration>,
    ) -> Self {
        Self {
            core,
            live: Local::new(sndtimeo, rcvtimeo),
            _runtime: PhantomData,
        }
    }

    /// The socket's shared state, for runtime adapters and the poller.
    pub fn core(&self) -> &Core {
        &self.core
    }

    /// This socket's type.
    pub fn socket_type(&self) -> SocketType {
        self.core.socket_type()
    }

    /// SNDTIMEO and RCVTIMEO as they stand, for blocking wrappers.
    pub fn timeouts(&self) -> (Option<Duration>, Option<Duration>) {
        (self.sndtimeo(), self.rcvtimeo())
    }

    /// Binds an endpoint (`tcp://*:0`, `ipc:///tmp/x`, `inproc://name`, ...) and
    /// returns the endpoint actually bound, with the port the OS picked.
    pub fn bind(&self, endpoint: impl AsEndpoint) -> Result<Endpoint, Error> {
        let bound = self.core.bind(&endpoint.as_endpoint())?;
        self.live.set_last_endpoint(bound.to_string());
        Ok(bound)
    }

    /// Connects to an endpoint. The peer need not be there yet: messages queue
    /// up to the HWM and the socket reconnects until it is.
    pub fn connect(&self, endpoint: impl AsEndpoint) -> Result<(), Error> {
        let endpoint = endpoint.as_endpoint();
        self.core.connect(&endpoint)?;
        self.live.set_last_endpoint(endpoint.into_owned());
        Ok(())
    }

    /// Stops listening on an endpoint (as given to `bind`, or as returned by
    /// it) and closes the connections it accepted.
    pub fn unbind(&self, endpoint: impl AsEndpoint) -> Result<(), Error> {
        self.core.unbind(&endpoint.as_endpoint())
    }

    /// Stops connecting to an endpoint and closes its connection.
    pub fn disconnect(&self, endpoint: impl AsEndpoint) -> Result<(), Error> {
        self.core.disconnect(&endpoint.as_endpoint())
    }

    /// SUBSCRIBE (SUB, XSUB): receive messages starting with `topic` (empty:
    /// everything). Counted: subscribe twice, unsubscribe twice.
    pub fn subscribe(&self, topic: impl AsRef<[u8]>) -> Result<(), Error> {
        self.only(SUBSCRIBERS, "subscribe", "SUB and XSUB")?;
        self.core.resubscribe(|e| e.subscribe(topic.as_ref()));
        Ok(())
    }

    /// UNSUBSCRIBE (SUB, XSUB): cancel one subscription to `topic`.
    pub fn unsubscribe(&self, topic: impl AsRef<[u8]>) -> Result<(), Error> {
        self.only(SUBSCRIBERS, "unsubscribe", "SUB and XSUB")?;
        self.core.resubscribe(|e| e.unsubscribe(topic.as_ref()));
        Ok(())
    }

    /// XPUB_MANUAL: subscribe the peer of the notification received last.
    pub fn xpub_manual_subscribe(&self, topic: impl AsRef<[u8]>) -> Result<(), Error> {
        self.only(&[SocketType::XPub], "xpub_manual_subscribe", "XPUB")?;
        self.core
            .with(|st| st.engine.xpub_manual_subscribe(topic.as_ref()));
        Ok(())
    }

    /// XPUB_MANUAL: unsubscribe the peer of the notification received last.
    pub fn xpub_manual_unsubscribe(&self, topic: impl AsRef<[u8]>) -> Result<(), Error> {
        self.only(&[SocketType::XPub], "xpub_manual_unsubscribe", "XPUB")?;
        self.core
            .with(|st| st.engine.xpub_manual_unsubscribe(topic.as_ref()));
        Ok(())
    }

    /// An error for a call this socket's type would silently ignore, so that
    /// a mistyped socket shows up at the call rather than as missing messages.
    fn only(
        &self,
        kinds: &[SocketType],
        call: &'static str,
        only: &'static str,
    ) -> Result<(), Error> {
        let socket = self.socket_type();
        if kinds.contains(&socket) {
            Ok(())
        } else {
            Err(Error::NotSupported { call, socket, only })
        }
    }

    /// Sends if the socket can take the message now (ZMQ_DONTWAIT); a
    /// `WouldBlock` hands the message back.
    pub fn try_send(&self, msg: impl Into<Msg>) -> Result<(), SendError> {
        self.core.send_msg(msg.into())
    }

    /// Receives if a message is waiting (ZMQ_DONTWAIT).
    pub fn try_recv(&self) -> Result<Msg, RecvError> {
        self.core.recv_msg()
    }

    /// Whether a send could succeed now (ZMQ_POLLOUT).
    pub fn can_send(&self) -> bool {
        self.core.with_data(|st| st.engine.can_send())
    }

    /// Whether a message is waiting (ZMQ_POLLIN).
    pub fn can_recv(&self) -> bool {
        self.core.can_recv_msg()
    }

    /// Sends a message, waiting while every candidate peer is at its HWM (or,
    /// for REQ/DEALER/PUSH/PAIR, while there is no peer yet).
    ///
    /// The message is made before the future is, so the future borrows only
    /// the socket: `send(&buf[..])` copies `buf` and does not hold it.
    pub fn send(&self, msg: impl Into<Msg>) -> SendFuture<'_, R> {
        SendFuture {
            socket: self,
            slot: Some(msg.into()),
            wait: None,
        }
    }

    /// Receives the next message, waiting until one arrives.
    ///
    /// Fails with [`Error::Refused`] instead of waiting for ever once every
    /// endpoint the socket connects to has refused it and it binds nothing
    /// (see [`refusals`](Socket::refusals)); [`send`](Socket::send) does the
    /// same when it would have to wait.
    pub async fn recv(&self) -> Result<Msg, Error> {
        // The common case first, as `recv_blocking` takes it: a message that
        // is waiting is taken at once, without the wait's machinery.
        if let Ok(m) = self.core.recv_msg() {
            return Ok(m);
        }
        let mut wait = None;
        std::future::poll_fn(|cx| self.poll_recv(cx, &mut wait))
            .await
            .unwrap_or(Err(Error::Closed))
    }

    /// Sends the message in `slot` (none: done), keeping it there while the
    /// socket is full; an error once the socket is closing.
    fn poll_send(
        &self,
        cx: &mut Context<'_>,
        slot: &mut Option<Msg>,
        wait: &mut Option<Waiting>,
    ) -> Poll<Result<(), Error>> {
        poll_until(
            cx,
            wait,
            || self.core.spin(),
            // A send waits only at SNDHWM (or for a peer), where room comes
            // as fast as the pump writes (or an inproc peer takes): a spin
            // would only take their time (1 KiB, tcp, medians of 8: a sender in
            // `#[tokio::main]` 4.35 -> 4.56 M msg/s, in a multi-thread
            // task 6.39 -> 6.74 M; on one thread with the pump, level).
            || self.core.listen_writable().without_spin(),
            || {
                self.send_now(slot)
                    .or_else(|| self.core.cannot_wait(true).map(Err))
            },
        )
    }

    /// Sends the message in `slot` (none: done) if the socket takes it now;
    /// `None` when it is full, with the message still in `slot`.
    #[inline]
    fn send_now(&self, slot: &mut Option<Msg>) -> Option<Result<(), Error>> {
        match self.send_slot(slot) {
            Ok(true) => Some(Ok(())),
            Ok(false) => None,
            Err(r) => Some(Err(refused(slot, r))),
        }
    }

    /// [`Socket::send_now`]'s attempt, answered in a word: true once the
    /// slot is empty (sent, or nothing to send), false while the socket is
    /// full; a refusal leaves the message in `slot` for [`refused`].
    #[inline]
    fn send_slot(&self, slot: &mut Option<Msg>) -> Result<bool, SendRefusal> {
        let Some(msg) = slot.as_mut() else {
            return Ok(true);
        };
        match self.core.send_in(msg) {
            Ok(()) => {
                *slot = None;
                Ok(true)
            }
            Err(SendRefusal::WouldBlock) => Ok(false),
            Err(r) => Err(r),
        }
    }

    /// The next message; `None` once the socket is closed and drained.
    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        wait: &mut Option<Waiting>,
    ) -> Poll<Option<Result<Msg, Error>>> {
        poll_until(
            cx,
            wait,
            || self.core.spin(),
            || {
                let wait = self.core.listen_readable();
                // A task that keeps its worker's core while it spins (tokio's
                // multi-thread runtime) spins after long streaks too: sleeping
                // there lost a fifth of a 64 KiB pair's rate.
                let spins = self.core.recv_wait_spins();
                if spins || self.core.spin() == Spin::KeepingTheCore {
                    wait
                } else {
                    wait.without_spin()
                }
            },
            || match self.try_recv() {
                Ok(m) => Some(Some(Ok(m))),
                Err(RecvError::WouldBlock) if self.core.is_finished() => Some(None),
                Err(RecvError::WouldBlock) => self.core.cannot_wait(false).map(|e| Some(Err(e))),
                Err(e) => Some(Some(Err(e.into()))),
            },
        )
    }

    /// Waits until a message is waiting.
    pub async fn readable(&self) {
        self.wait_until(true, |s| s.can_recv()).await;
    }

    /// Waits until a send could succeed.
    pub async fn writable(&self) {
        self.wait_until(false, |s| s.can_send()).await;
    }

    async fn wait_until(&self, read: bool, ready: impl Fn(&Self) -> bool) {
        loop {
            let w = if read {
                self.core.listen_readable()
            } else {
                self.core.listen_writable()
            };
            if ready(self) || self.core.is_finished() {
                return;
            }
            w.await;
        }
    }

    /// Sends, blocking the thread while the socket cannot take the message, for
    /// at most `timeout` (`None`: for ever).
    ///
    /// On a thread that runs an async runtime's tasks (inside a task, or in
    /// the runtime's `block_on`) it fails with [`Error::BlockingInAsync`]:
    /// blocking there would stall the I/O it waits for. Use
    /// [`send`](Socket::send)`.await` there.
    pub fn send_blocking(
        &self,
        msg: impl Into<Msg>,
        timeout: Option<Duration>,
    ) -> Result<(), Error> {
        self.core.check_blocking("send_blocking", "send().await")?;
        // The common case first: a socket with room takes the message at
        // once, with no future, waker or clock read.
        let mut msg = msg.into();
        match self.core.send_in(&mut msg) {
            Ok(()) => return Ok(()),
            Err(SendRefusal::WouldBlock) => {}
            Err(r) => return Err(r.with(msg).into()),
        }
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        block_on(self.send(msg), deadline).unwrap_or(Err(Error::Timeout))
    }

    /// Receives, blocking the thread for at most `timeout` (`None`: for ever).
    ///
    /// On a thread that runs an async runtime's tasks it fails with
    /// [`Error::BlockingInAsync`], as [`send_blocking`](Socket::send_blocking)
    /// does; use [`recv`](Socket::recv)`.await` there.
    pub fn recv_blocking(&self, timeout: Option<Duration>) -> Result<Msg, Error> {
        self.core.check_blocking("recv_blocking", "recv().await")?;
        if let Ok(m) = self.try_recv() {
            return Ok(m);
        }
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        // While it spins, the thread reads the socket's stream itself where
        // the runtime lends it: the reply is decoded here, not on the I/O
        // thread, which would first have to be woken and then wake us.
        block_on_assisted(self.recv(), deadline, &ReadHere(&self.core))
            .unwrap_or(Err(Error::Timeout))
    }

    /// A new monitor: every event from now on, in its own queue. Each call
    /// makes another monitor that sees every event too (none is split
    /// between monitors); a monitor that is not read holds at most 1000
    /// events and drops newer ones, counting them
    /// ([`Monitor::missed`]).
    pub fn monitor(&self) -> Monitor {
        Monitor::new(self.core.clone())
    }

    /// The endpoints whose peers refused this socket (denied credentials, a
    /// protocol error, a CURVE server that keeps closing after HELLO), in the
    /// order they were connected. Once every endpoint is on this list and the
    /// socket binds nothing, `send` and `recv` fail with [`Error::Refused`]
    /// rather than wait.
    pub fn refusals(&self) -> Vec<Refusal> {
        self.core.refusals()
    }

    /// Closes the socket and waits until LINGER has delivered what was queued
    /// (or ran out).
    pub async fn close(self) {
        self.shutdown().await;
    }

    /// As [`close`](Socket::close), blocking the thread.
    pub fn close_blocking(self) {
        self.shutdown_blocking();
    }

    /// Closes the socket through a shared reference (other holders of it see
    /// [`Error::Closed`] from then on) and waits until LINGER has delivered
    /// what was queued: for a socket shared between tasks behind an `Arc`.
    pub async fn shutdown(&self) {
        self.core.close();
        loop {
            let w = self.core.listen_done();
            if self.core.is_finished() {
                return;
            }
            any_of(AnyOf::from_iter([w])).await;
        }
    }

    /// As [`shutdown`](Socket::shutdown), blocking the thread.
    pub fn shutdown_blocking(&self) {
        self.shutdown_timeout(None);
    }

    /// As [`shutdown_blocking`](Socket::shutdown_blocking), waiting at most
    /// `timeout` for LINGER to finish; false if it had not. The socket is
    /// closed either way, and what is left finishes in the background.
    ///
    /// On a thread that runs an async runtime's tasks it does not wait (the
    /// wait would stall the I/O that finishes the close) and returns false.
    pub fn shutdown_timeout(&self, timeout: Option<Duration>) -> bool {
        if self
            .core
            .check_blocking("shutdown_timeout", "shutdown().await")
            .is_err()
        {
            self.core.close();
            return false;
        }
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        block_on(self.shutdown(), deadline).is_some()
    }

    /// The received messages as a `futures` stream (it ends once the socket
    /// is closed and drained).
    pub fn stream(&self) -> RecvStream<'_, R> {
        RecvStream {
            socket: self,
            wait: None,
        }
    }

    /// A `futures` sink that sends messages.
    pub fn sink(&self) -> SendSink<'_, R> {
        SendSink {
            socket: self,
            slot: None,
            wait: None,
        }
    }
}

impl<R> Drop for Socket<R> {
    fn drop(&mut self) {
        self.core.close();
    }
}

impl<R> std::fmt::Debug for Socket<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("type", &self.socket_type())
            .finish_non_exhaustive()
    }
}

/// [`Socket::send`]'s future: the message waiting to be queued.
#[must_use = "futures do nothing unless awaited"]
pub struct SendFuture<'a, R> {
    socket: &'a Socket<R>,
    slot: Option<Msg>,
    wait: Option<Waiting>,
}

impl<R> std::future::Future for SendFuture<'_, R> {
    type Output = Result<(), Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        // The common case first, as `send_blocking` takes it: a socket with
        // room takes the message at once, without the wait's machinery. The
        // attempt answers in a word and the `Ok` is written here: a moved
        // `Result<(), Error>` copies the whole error-sized value even when
        // it is `Ok`.
        if this.wait.is_none() {
            match this.socket.send_slot(&mut this.slot) {
                Ok(true) => return Poll::Ready(Ok(())),
                Ok(false) => {}
                Err(r) => return Poll::Ready(Err(refused(&mut this.slot, r))),
            }
        }
        this.socket.poll_send(cx, &mut this.slot, &mut this.wait)
    }
}

/// The error for a refused send, with the message taken back out of `slot`.
fn refused(slot: &mut Option<Msg>, r: SendRefusal) -> Error {
    r.with(slot.take().unwrap_or_default()).into()
}

impl<R> std::fmt::Debug for SendFuture<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendFuture")
            .field("msg", &self.slot)
            .finish_non_exhaustive()
    }
}

/// [`Socket::stream`]: received messages; ends when the socket is closed.
pub struct RecvStream<'a, R> {
    socket: &'a Socket<R>,
    wait: Option<Waiting>,
}

impl<R> futures_core::Stream for RecvStream<'_, R> {
    type Item = Result<Msg, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        this.socket.poll_recv(cx, &mut this.wait)
    }
}

/// [`Socket::sink`]: sends messages, holding at most one while the socket is
/// full.
pub struct SendSink<'a, R> {
    socket: &'a Socket<R>,
    slot: Option<Msg>,
    wait: Option<Waiting>,
}

impl<R> SendSink<'_, R> {
    fn poll_slot(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.socket.poll_send(cx, &mut self.slot, &mut self.wait)
    }
}

impl<R, M: Into<Msg>> futures_sink::Sink<M> for SendSink<'_, R> {
    type Error = Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.poll_slot(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: M) -> Result<(), Error> {
        self.slot = Some(item.into());
        Ok(())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.poll_slot(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.poll_slot(cx)
    }
}

/// Frames from byte strings, for examples and tests: `msg(["", "hello"])`.
pub fn msg<I, T>(frames: I) -> Msg
where
    I: IntoIterator<Item = T>,
    T: IntoFrame,
{
    frames.into_iter().collect()
}

/// A blocking `recv`'s help while it spins: reading the socket's stream on
/// its own thread (see [`Core::read_direct`]).
struct ReadHere<'a>(&'a Core);

impl Assist for ReadHere<'_> {
    fn attempt(&self) -> bool {
        self.0.read_direct()
    }

    fn stop(&self) {
        self.0.end_direct_read();
    }
}
