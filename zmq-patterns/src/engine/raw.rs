//! A STREAM socket's connection: raw bytes both ways, no greeting, no
//! framing, no security (libzmq's `raw_engine`).
//!
//! Whatever one read returns becomes one single-frame message, and every frame
//! given to `send` is written as is. The stream counts as connected from its
//! first instant: there is nothing to negotiate.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use zmtp_core::{ConnectionError, Event, Msg};

/// One raw stream's state.
pub(super) struct RawConn {
    out: VecDeque<Bytes>,
    /// Bytes in `out`, for the engine's write back-pressure.
    pending: usize,
    events: VecDeque<Event>,
    error: Option<ConnectionError>,
}

impl RawConn {
    /// A stream that is "handshaken" at once, so the engine attaches its pipe
    /// (and says so) as it does for a ZMTP stream after its handshake.
    pub(super) fn new() -> Self {
        Self {
            out: VecDeque::new(),
            pending: 0,
            events: VecDeque::from([Event::HandshakeSucceeded]),
            error: None,
        }
    }

    /// Takes everything in `buf`: a raw stream has no frames to wait for.
    pub(super) fn handle_input(&mut self, buf: &mut BytesMut) -> Result<(), ConnectionError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if !buf.is_empty() {
            let data = buf.split().freeze();
            self.events.push_back(Event::Message(Msg::single(data)));
        }
        Ok(())
    }

    /// The peer closed its side.
    pub(super) fn handle_eof(&mut self) -> Result<(), ConnectionError> {
        Err(self
            .error
            .get_or_insert(ConnectionError::PeerClosed)
            .clone())
    }

    /// Queues every frame's bytes, in order; empty frames write nothing.
    pub(super) fn send(&mut self, msg: Msg) {
        for frame in msg.into_frames().filter(|f| !f.is_empty()) {
            self.pending += frame.len();
            self.out.push_back(frame);
        }
    }

    pub(super) fn poll_transmit(&mut self) -> Option<Bytes> {
        let chunk = self.out.pop_front()?;
        self.pending -= chunk.len();
        Some(chunk)
    }

    pub(super) fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// As [`Connection::poll_message`](zmtp_core::Connection::poll_message).
    pub(super) fn poll_message(&mut self) -> Option<Msg> {
        match self.events.front() {
            Some(Event::Message(_)) => match self.events.pop_front() {
                Some(Event::Message(m)) => Some(m),
                _ => None,
            },
            _ => None,
        }
    }

    /// Stops taking input; what is queued is still written.
    pub(super) fn close(&mut self) {
        self.error.get_or_insert(ConnectionError::LocallyClosed);
    }

    pub(super) fn is_active(&self) -> bool {
        self.error.is_none()
    }

    pub(super) fn error(&self) -> Option<&ConnectionError> {
        self.error.as_ref()
    }

    pub(super) fn pending_transmit(&self) -> usize {
        self.pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_pass_untouched_both_ways() {
        let mut c = RawConn::new();
        assert_eq!(c.poll_event(), Some(Event::HandshakeSucceeded));
        let mut buf = BytesMut::from(&b"GET / HTTP/1.0\r\n\r\n"[..]);
        c.handle_input(&mut buf).unwrap();
        assert!(buf.is_empty());
        assert_eq!(
            c.poll_event(),
            Some(Event::Message(Msg::single(&b"GET / HTTP/1.0\r\n\r\n"[..])))
        );
        c.send(Msg::multipart(["head ", "", "body"]));
        assert_eq!(c.pending_transmit(), 9);
        assert_eq!(c.poll_transmit().as_deref(), Some(&b"head "[..]));
        assert_eq!(c.poll_transmit().as_deref(), Some(&b"body"[..]));
        assert_eq!((c.poll_transmit(), c.pending_transmit()), (None, 0));
    }

    #[test]
    fn eof_and_close_end_the_input() {
        let mut c = RawConn::new();
        assert_eq!(c.handle_eof(), Err(ConnectionError::PeerClosed));
        assert!(!c.is_active());
        let mut c = RawConn::new();
        c.send(Msg::single("last words"));
        c.close();
        assert!(c.handle_input(&mut BytesMut::from(&b"x"[..])).is_err());
        assert_eq!(c.poll_transmit().as_deref(), Some(&b"last words"[..]));
    }
}
