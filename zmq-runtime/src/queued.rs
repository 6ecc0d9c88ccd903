//! [`Socket::queued`]: what the socket holds in memory for its peers and its
//! reader, so a test or an operator can see that back-pressure keeps it flat.

use zmq_patterns::Queued;

use crate::socket::Socket;

impl<R> Socket<R> {
    /// Messages and bytes queued in the socket's pipes: waiting to be written
    /// to a peer (bounded by SNDHWM per peer) and received but not yet read
    /// (bounded by RCVHWM per peer). Bytes already handed to a connection's
    /// writer (at most one write buffer per connection) and the kernel's
    /// buffers are not counted. Counting walks every queued message.
    pub fn queued(&self) -> Queued {
        self.core().with(|s| s.engine.pattern().queued())
    }
}
