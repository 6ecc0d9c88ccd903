//! The runtime-agnostic parts of a socket's life that every runtime would
//! otherwise repeat: endpoint parsing and reconnect scheduling. (The full engine
//! that owns connections, timers and ZAP routing is still to come.)

mod backoff;
mod endpoint;

pub use self::backoff::Backoff;
pub use self::endpoint::{Endpoint, EndpointError, Host, IpcAddr};
