//! A runtime for the core's unit tests that does no I/O: inproc needs none,
//! and a test completes a connect itself (with [`Core::handle_connected`]),
//! moving the stream's bytes on the threads it chooses.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::Core;
use crate::{ConnectorId, Endpoint, ListenerId, StdListener};

/// The connects asked of [`ByHand`], for the tests to complete.
pub(super) static CONNECTS: Mutex<Vec<ConnectorId>> = Mutex::new(Vec::new());

/// See the module's notes.
struct ByHand;

impl crate::Runtime for ByHand {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn listen(&self, _: &Core, _: ListenerId, _: StdListener) -> std::io::Result<Box<dyn Send>> {
        Err(std::io::ErrorKind::Unsupported.into())
    }
    fn connect(&self, _: &Core, id: ConnectorId, _: Endpoint) -> std::io::Result<()> {
        CONNECTS.lock().unwrap().push(id);
        Ok(())
    }
    fn start_timer(&self, _: &Core) {}
}

/// Sockets on [`ByHand`]: `crate::Socket<Kind>`.
pub(super) struct Kind;

impl crate::RuntimeKind for Kind {
    type Socket = crate::Socket<Self>;
    fn runtime() -> Result<Arc<dyn crate::Runtime>, crate::Error> {
        Ok(Arc::new(ByHand))
    }
}
