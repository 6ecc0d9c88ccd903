//! A socket's lifecycle events, drained from the engine after every call:
//! each goes to the log and to every monitor's own queue, and a change in
//! whether the socket is refused wakes the senders and receivers that wait.
//!
//! The engine records events always (they are per connection, never per
//! message), so that the log sees them whether or not a monitor exists.

use std::collections::VecDeque;

use zmq_patterns::engine::{ConnectorId, MonitorEvent};

use super::{Core, CoreShared, LockedState};
use crate::trace;

/// How many events one monitor holds unread: libzmq's monitor is a PAIR
/// socket with the default high-water mark, 1000 messages.
pub(crate) const MONITOR_CAPACITY: usize = 1000;

/// The monitors' queues, and what was last logged about refusals.
#[derive(Default)]
pub(super) struct Events {
    queues: Vec<Queue>,
    next_id: u64,
    /// The connectors whose refusal was logged, so each is logged once.
    refusals_logged: Vec<ConnectorId>,
    /// Whether the socket was refused as a whole when last looked at.
    refused: bool,
}

/// One monitor's unread events.
struct Queue {
    id: u64,
    events: VecDeque<MonitorEvent>,
    /// Events dropped because the queue was full.
    missed: u64,
}

impl Events {
    /// Gives `ev` to every monitor with room; true if any took it.
    fn push(&mut self, ev: &MonitorEvent) -> bool {
        let mut any = false;
        for q in &mut self.queues {
            if q.events.len() < MONITOR_CAPACITY {
                q.events.push_back(ev.clone());
                any = true;
            } else {
                if q.missed == 0 {
                    trace::monitor_overflow(MONITOR_CAPACITY);
                }
                q.missed += 1;
            }
        }
        any
    }

    fn queue(&mut self, id: u64) -> Option<&mut Queue> {
        self.queues.iter_mut().find(|q| q.id == id)
    }
}

impl LockedState {
    /// Logs the engine's new events, hands them to the monitors and wakes
    /// whoever must hear of them.
    pub(super) fn drain_events(&mut self, shared: &CoreShared) {
        if !self.engine.has_monitor_events() {
            return;
        }
        let mut queued = false;
        let mut handshakes = false;
        while let Some(ev) = self.engine.poll_monitor() {
            trace::lifecycle(&ev);
            handshakes |= matches!(
                ev,
                MonitorEvent::HandshakeFailed { .. } | MonitorEvent::HandshakeSucceeded { .. }
            );
            queued |= self.events.push(&ev);
        }
        if handshakes {
            self.log_refusals();
        }
        // Binds, unbinds and disconnects change it too; each emits an event.
        let refused = self.engine.is_refused();
        if refused && !self.events.refused {
            // A send or recv waiting for a peer learns that none will come.
            shared.readable.notify();
            shared.writable.notify();
        }
        self.events.refused = refused;
        if queued && shared.monitor.wanted() {
            shared.monitor.notify();
        }
    }

    /// Logs each endpoint the first time it is refused.
    fn log_refusals(&mut self) {
        let refusals = self.engine.refusals();
        for r in &refusals {
            if !self.events.refusals_logged.contains(&r.connector) {
                trace::endpoint_refused(&r.endpoint, &r.reason);
            }
        }
        self.events.refusals_logged = refusals.iter().map(|r| r.connector).collect();
    }
}

impl Core {
    /// Opens a monitor queue; events from now on go to it too.
    pub(crate) fn add_monitor(&self) -> u64 {
        let mut st = self.lock();
        st.events.next_id += 1;
        let id = st.events.next_id;
        st.events.queues.push(Queue {
            id,
            events: VecDeque::new(),
            missed: 0,
        });
        id
    }

    /// Closes a monitor queue, dropping what it held.
    pub(crate) fn remove_monitor(&self, id: u64) {
        self.lock().events.queues.retain(|q| q.id != id);
    }

    /// The next event of monitor `id` if one is waiting; `Err(())` once the
    /// socket is gone and the queue is empty.
    pub(crate) fn next_monitor_event(&self, id: u64) -> Result<Option<MonitorEvent>, ()> {
        let mut st = self.lock();
        let finished = st.finished;
        match st.events.queue(id).and_then(|q| q.events.pop_front()) {
            Some(ev) => Ok(Some(ev)),
            None if finished => Err(()),
            None => Ok(None),
        }
    }

    /// How many events monitor `id` lost to a full queue.
    pub(crate) fn monitor_missed(&self, id: u64) -> u64 {
        self.lock().events.queue(id).map_or(0, |q| q.missed)
    }
}

/// An endpoint whose peer refused this socket, from
/// [`Socket::refusals`](crate::Socket::refusals).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Refusal {
    /// The endpoint as given to `connect`.
    pub endpoint: String,
    /// Why its last handshake failed: denied credentials
    /// ([`ConnectionError::PeerError`](zmtp_core::ConnectionError::PeerError)
    /// with libzmq's "400"), a protocol error, or a CURVE server that kept
    /// closing the connection after HELLO
    /// ([`ConnectionError::ClosedAfterHello`](zmtp_core::ConnectionError::ClosedAfterHello)).
    pub reason: zmtp_core::ConnectionError,
}

impl LockedState {
    fn refusal_list(&self) -> Vec<Refusal> {
        self.engine
            .refusals()
            .into_iter()
            .map(|r| Refusal {
                endpoint: self
                    .connectors
                    .get(&r.connector)
                    .cloned()
                    .unwrap_or_else(|| r.endpoint.to_string()),
                reason: r.reason,
            })
            .collect()
    }
}

impl Core {
    /// The endpoints whose peers refused this socket.
    pub(crate) fn refusals(&self) -> Vec<Refusal> {
        self.lock().refusal_list()
    }

    /// Why a send or recv must not wait: the socket is closing (`Closed`), or
    /// no peer can come (`Refused`, naming the first refusal).
    pub(crate) fn cannot_wait(&self, closing_too: bool) -> Option<crate::Error> {
        let st = self.lock();
        if closing_too && st.closing {
            return Some(crate::Error::Closed);
        }
        if !st.engine.is_refused() {
            return None;
        }
        let first = st.refusal_list().into_iter().next()?;
        Some(crate::Error::Refused {
            endpoint: first.endpoint,
            reason: first.reason,
        })
    }
}
