//! Waiting on several sockets at once, as `zmq_poll` does.

use std::ops::{BitAnd, BitOr, BitOrAssign};
use std::time::{Duration, Instant};

use crate::core::Core;
use smallvec::SmallVec;

use crate::signal::{any_of, block_on_assisted, AnyOf, Assist};
use crate::socket::Socket;

/// Something with a socket inside, of any runtime.
pub trait Pollable: Send + Sync {
    /// The socket's shared state.
    fn core(&self) -> &Core;
}

/// ZMQ_EVENTS on the socket itself, next to the poller that uses the same
/// two questions.
impl<R> Socket<R> {
    /// ZMQ_EVENTS: whether a message is waiting ([`Events::IN`]) and whether
    /// a send would succeed now ([`Events::OUT`]).
    pub fn events(&self) -> Events {
        let mut ev = Events::NONE;
        if self.can_recv() {
            ev |= Events::IN;
        }
        if self.can_send() {
            ev |= Events::OUT;
        }
        ev
    }
}

impl<R> Pollable for Socket<R> {
    fn core(&self) -> &Core {
        Self::core(self)
    }
}

impl Pollable for Core {
    fn core(&self) -> &Core {
        self
    }
}

/// Readiness bits: [`Events::IN`] (a message is waiting), [`Events::OUT`] (a
/// send would succeed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Events(u8);

impl Events {
    /// Nothing.
    pub const NONE: Self = Self(0);
    /// ZMQ_POLLIN.
    pub const IN: Self = Self(1);
    /// ZMQ_POLLOUT.
    pub const OUT: Self = Self(2);

    /// Whether every bit of `other` is set.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no bit is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl BitOr for Events {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl BitOrAssign for Events {
    fn bitor_assign(&mut self, rhs: Self) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for Events {
    type Output = Self;
    fn bitand(self, rhs: Self) -> Self {
        Self(self.0 & rhs.0)
    }
}

/// One socket and the events to wait for; [`poll`] fills `revents`.
pub struct PollItem<'a> {
    socket: &'a dyn Pollable,
    events: Events,
    revents: Events,
}

impl<'a> PollItem<'a> {
    /// Waits for `events` on `socket`.
    pub fn new(socket: &'a dyn Pollable, events: Events) -> Self {
        Self {
            socket,
            events,
            revents: Events::NONE,
        }
    }

    /// The events that were ready when [`poll`] returned.
    pub fn revents(&self) -> Events {
        self.revents
    }

    /// Whether a message is waiting.
    pub fn is_readable(&self) -> bool {
        self.revents.contains(Events::IN)
    }

    /// Whether a send would succeed.
    pub fn is_writable(&self) -> bool {
        self.revents.contains(Events::OUT)
    }
}

/// Sets `revents` of every item and returns how many have any, after
/// registering the wake-ups a wait would need (so none is missed between the
/// check and the wait).
fn check(items: &mut [PollItem<'_>]) -> (usize, AnyOf) {
    let mut waits = AnyOf::new();
    let mut ready = 0;
    for item in items.iter_mut() {
        let core = item.socket.core();
        if item.events.contains(Events::IN) {
            waits.push(core.listen_readable());
        }
        if item.events.contains(Events::OUT) {
            waits.push(core.listen_writable());
        }
        let (can_recv, can_send) = core.poll_ready(
            item.events.contains(Events::IN),
            item.events.contains(Events::OUT),
        );
        let mut r = Events::NONE;
        if can_recv {
            r |= Events::IN;
        }
        if can_send {
            r |= Events::OUT;
        }
        item.revents = r & item.events;
        if !item.revents.is_empty() {
            ready += 1;
        }
    }
    (ready, waits)
}

/// Blocks until at least one item is ready or `timeout` passes (`None`: for
/// ever; zero: just look). Returns the number of ready items.
pub fn poll(items: &mut [PollItem<'_>], timeout: Option<Duration>) -> usize {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    // While it spins, the thread reads the streams of the sockets it waits
    // to read from itself, as a blocking `recv` does; for a few sockets
    // only, since each costs a system call per look.
    let mut readers = ReadAny(SmallVec::new());
    if items.len() <= ASSISTED_ITEMS {
        readers.0.extend(
            items
                .iter()
                .filter(|i| i.events.contains(Events::IN))
                .map(|i| i.socket.core().clone()),
        );
    }
    match block_on_assisted(poll_async(items), deadline, &readers) {
        Some(ready) => ready,
        None => check(items).0,
    }
}

/// The most items a blocking [`poll`] reads the streams of itself.
const ASSISTED_ITEMS: usize = 4;

/// A blocking [`poll`]'s help while it spins (see [`Core::read_direct`]).
struct ReadAny(SmallVec<[Core; ASSISTED_ITEMS]>);

impl Assist for ReadAny {
    fn attempt(&self) -> bool {
        // Every socket is read (not only up to the first with bytes): what
        // comes in on any of them ends the poll.
        let mut got = false;
        for core in &self.0 {
            got |= core.read_direct();
        }
        got
    }

    fn stop(&self) {
        for core in &self.0 {
            core.end_direct_read();
        }
    }
}

/// As [`poll`], for async code (no timeout: wrap it in the runtime's).
pub async fn poll_async(items: &mut [PollItem<'_>]) -> usize {
    loop {
        let (ready, waits) = check(items);
        if ready > 0 {
            return ready;
        }
        any_of(waits).await;
    }
}
