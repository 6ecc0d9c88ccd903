//! A socket's monitor events as an async stream or a blocking iterator.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

pub use zmq_patterns::engine::MonitorEvent;

use crate::core::Core;
use crate::signal::{block_on, poll_until, Waiting};

/// The events of one socket (`zmq_socket_monitor`), from
/// [`Socket::monitor`](crate::Socket::monitor). Ends (`None`) once the socket is closed and every
/// event was read.
pub struct Monitor {
    core: Core,
    wait: Option<Waiting>,
}

impl Monitor {
    pub(crate) fn new(core: Core) -> Self {
        Self { core, wait: None }
    }

    /// The next event if one is waiting; `Ok(None)` means none yet, `Err(())`
    /// that the socket is gone and nothing more will come.
    fn poll_once(core: &Core) -> Result<Option<MonitorEvent>, ()> {
        let (event, finished) = core.with_data(|st| (st.engine.poll_monitor(), st.is_finished()));
        match event {
            Some(e) => Ok(Some(e)),
            None if finished => Err(()),
            None => Ok(None),
        }
    }

    /// The next event if one is waiting.
    pub fn try_next(&mut self) -> Option<MonitorEvent> {
        Self::poll_once(&self.core).ok().flatten()
    }

    /// Waits for the next event.
    pub async fn next_event(&mut self) -> Option<MonitorEvent> {
        std::future::poll_fn(|cx| self.poll_event(cx)).await
    }

    /// Blocks for the next event, at most `timeout` (`None`: for ever). `None`
    /// on timeout or once the socket is gone.
    pub fn next_blocking(&mut self, timeout: Option<Duration>) -> Option<MonitorEvent> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        block_on(self.next_event(), deadline).flatten()
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<MonitorEvent>> {
        let core = &self.core;
        poll_until(
            cx,
            &mut self.wait,
            || core.listen_monitor(),
            || Self::poll_once(core).transpose(),
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

impl Iterator for Monitor {
    type Item = MonitorEvent;

    /// Blocks for the next event; ends when the socket is gone.
    fn next(&mut self) -> Option<MonitorEvent> {
        self.next_blocking(None)
    }
}

impl Drop for Monitor {
    /// Nobody reads the events any more: stop recording them, as libzmq stops
    /// when its monitor socket goes.
    fn drop(&mut self) {
        self.core.with_data(|st| st.engine.set_monitor(false));
    }
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor").finish_non_exhaustive()
    }
}
