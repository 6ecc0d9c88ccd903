//! A socket's monitor: its events as an async stream.
//!
//! Every monitor has its own queue, fed by the socket with every event from
//! the monitor's creation on (`core/events.rs`), so two monitors of one
//! socket each see everything. The async monitor is a `Stream` and has an
//! inherent [`Monitor::next_event`]; it is deliberately not an `Iterator`,
//! whose blocking `next` would be one import away from `StreamExt::next`.
//! The blocking runtime wraps it in a monitor that is an `Iterator`.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

pub use zmq_patterns::engine::{MonitorEvent, Peer};

use crate::core::Core;
use crate::error::Error;
use crate::signal::{block_on, poll_until, Spin, Waiting};

/// The events of one socket (`zmq_socket_monitor`), from
/// [`Socket::monitor`](crate::Socket::monitor). Ends (`None`) once the socket is closed and every
/// event was read.
///
/// It holds at most 1000 unread events (libzmq's monitor socket has the same
/// high-water mark); events that find it full are dropped and counted by
/// [`missed`](Monitor::missed).
pub struct Monitor {
    core: Core,
    id: u64,
    wait: Option<Waiting>,
}

impl Monitor {
    pub(crate) fn new(core: Core) -> Self {
        let id = core.add_monitor();
        Self {
            core,
            id,
            wait: None,
        }
    }

    /// The next event if one is waiting.
    pub fn try_next(&mut self) -> Option<MonitorEvent> {
        self.core.next_monitor_event(self.id).ok().flatten()
    }

    /// Waits for the next event; `None` once the socket is gone and every
    /// event was read.
    pub async fn next_event(&mut self) -> Option<MonitorEvent> {
        std::future::poll_fn(|cx| self.poll_event(cx)).await
    }

    /// Blocks the thread for the next event, at most `timeout` (`None`: for
    /// ever): [`Error::Timeout`] when none came, [`Error::Closed`] once the
    /// socket is gone and every event was read, and
    /// [`Error::BlockingInAsync`] on a thread that runs an async runtime's
    /// tasks (use [`next_event`](Monitor::next_event)`.await` there).
    pub fn next_blocking(&mut self, timeout: Option<Duration>) -> Result<MonitorEvent, Error> {
        self.core
            .check_blocking("Monitor::next_blocking", "next_event().await")?;
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        match block_on(self.next_event(), deadline) {
            Some(Some(ev)) => Ok(ev),
            Some(None) => Err(Error::Closed),
            None => Err(Error::Timeout),
        }
    }

    /// How many events this monitor lost because its queue was full.
    pub fn missed(&self) -> u64 {
        self.core.monitor_missed(self.id)
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<MonitorEvent>> {
        let (core, id) = (&self.core, self.id);
        poll_until(
            cx,
            &mut self.wait,
            || Spin::Off,
            || core.listen_monitor(),
            || core.next_monitor_event(id).transpose(),
        )
        .map(|r| r.ok())
    }
}

impl futures_core::Stream for Monitor {
    type Item = MonitorEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<MonitorEvent>> {
        self.poll_event(cx)
    }
}

impl Drop for Monitor {
    /// Nobody reads this queue any more: the socket stops filling it.
    fn drop(&mut self) {
        self.core.remove_monitor(self.id);
    }
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}
