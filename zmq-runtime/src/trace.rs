//! Lifecycle logs through `tracing`: one event per listener, connection and
//! refusal change (never per message), with the endpoint and what is known of
//! the peer as fields.
//!
//! Each call is a `tracing` macro, which checks whether anybody listens
//! before it evaluates a field: with no subscriber (or one that filters these
//! out) nothing is formatted. Text that a peer chose (an ERROR reason, a
//! routing id, a socket type name inside an error) is escaped, so that a log
//! line never carries a peer's raw control bytes to a terminal or a log file;
//! endpoints too, which come from configuration that may not be clean.

use std::fmt::{self, Write};

use tracing::{debug, info, trace, warn};
use zmq_patterns::engine::{Endpoint, MonitorEvent, Peer};
use zmtp_core::ConnectionError;

/// Logs one engine event.
pub(crate) fn lifecycle(ev: &MonitorEvent) {
    match ev {
        MonitorEvent::Listening(endpoint) => debug!(endpoint = %Escaped(endpoint), "listening"),
        MonitorEvent::BindFailed { endpoint, reason } => {
            warn!(endpoint = %Escaped(endpoint), reason = %Escaped(reason), "bind failed");
        }
        MonitorEvent::Accepted { endpoint, peer } => {
            debug!(endpoint = %Escaped(endpoint), peer = %Escaped(&peer.address), "accepted");
        }
        MonitorEvent::ConnectDelayed(endpoint) => {
            trace!(endpoint = %Escaped(endpoint), "connecting")
        }
        MonitorEvent::Connected { endpoint, peer } => {
            debug!(endpoint = %Escaped(endpoint), peer = %Escaped(&peer.address), "connected");
        }
        MonitorEvent::ConnectRetried { endpoint, ivl_ms } => {
            debug!(endpoint = %Escaped(endpoint), retry_in_ms = ivl_ms, "reconnect scheduled");
        }
        MonitorEvent::HandshakeSucceeded { endpoint, peer } => debug!(
            endpoint = %Escaped(endpoint),
            peer = %Escaped(&peer.address),
            routing_id = %RoutingId(peer),
            "handshake succeeded"
        ),
        MonitorEvent::HandshakeFailed {
            endpoint,
            peer,
            error,
        } => handshake_failed(endpoint, peer, error),
        MonitorEvent::Disconnected {
            endpoint,
            peer,
            error,
        } => debug!(
            endpoint = %Escaped(endpoint),
            peer = %Escaped(&peer.address),
            routing_id = %RoutingId(peer),
            reason = %Escaped(error),
            "disconnected"
        ),
        MonitorEvent::Refused {
            endpoint,
            peer,
            reason,
        } => info!(
            endpoint = %Escaped(endpoint),
            peer = %Escaped(&peer.address),
            routing_id = %RoutingId(peer),
            reason = %Escaped(reason),
            "peer refused by the socket's pattern"
        ),
        MonitorEvent::Closed(endpoint) => debug!(endpoint = %Escaped(endpoint), "closed"),
        // A kind of event this version does not know yet: its name will do.
        other => debug!(endpoint = %Escaped(other.endpoint()), event = other.name(), "event"),
    }
}

/// A failure that ends the endpoint (or, on an accepting socket, refuses
/// that peer for good) is a warning; one that is retried is news.
fn handshake_failed(endpoint: &Endpoint, peer: &Peer, error: &ConnectionError) {
    if error.is_permanent() {
        warn!(
            endpoint = %Escaped(endpoint),
            peer = %Escaped(&peer.address),
            reason = %Escaped(error),
            "handshake failed"
        );
    } else {
        info!(
            endpoint = %Escaped(endpoint),
            peer = %Escaped(&peer.address),
            reason = %Escaped(error),
            "handshake failed"
        );
    }
}

/// An endpoint's peer refused this socket: nothing will come from there
/// until the application connects anew (or, for a CURVE server that closes
/// after HELLO, until a retry gets through).
pub(crate) fn endpoint_refused(endpoint: &Endpoint, reason: &ConnectionError) {
    warn!(endpoint = %Escaped(endpoint), reason = %Escaped(reason), "refused");
}

/// A monitor nobody reads filled its queue: later events are dropped for it
/// (counted by `Monitor::missed`), the first time only.
pub(crate) fn monitor_overflow(capacity: usize) {
    warn!(capacity, "monitor queue full; its newer events are dropped");
}

/// Shows `T` with control characters and invisible format characters escaped
/// (`\n`, `\u{1b}`, `\u{202e}`), everything else as it is.
pub(crate) struct Escaped<'a, T: ?Sized>(pub(crate) &'a T);

impl<T: fmt::Display + ?Sized> fmt::Display for Escaped<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(EscapeControls(f), "{}", self.0)
    }
}

/// A writer that escapes the control characters written through it.
struct EscapeControls<'a, 'b>(&'a mut fmt::Formatter<'b>);

impl Write for EscapeControls<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            // Bidirectional overrides and zero-width characters too: they
            // would reorder or hide what a reader of the log sees.
            if c.is_control()
                || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
            {
                write!(self.0, "{}", c.escape_default())?;
            } else {
                self.0.write_char(c)?;
            }
        }
        Ok(())
    }
}

/// A peer's routing id as printable ASCII, other bytes (and `\`) as `\xNN`;
/// `-` for none.
struct RoutingId<'a>(&'a Peer);

impl fmt::Display for RoutingId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(id) = &self.0.routing_id else {
            return f.write_char('-');
        };
        for &b in id.iter() {
            if b.is_ascii_graphic() && b != b'\\' || b == b' ' {
                f.write_char(char::from(b))?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        let text = "bad\nline\u{1b}[31mred\u{7f}";
        assert_eq!(Escaped(text).to_string(), "bad\\nline\\u{1b}[31mred\\u{7f}");
        let error = ConnectionError::PeerError {
            reason: "no\r\nway".into(),
        };
        assert_eq!(
            Escaped(&error).to_string(),
            "peer refused the handshake: no\\r\\nway"
        );
    }

    #[test]
    fn invisible_format_characters_are_escaped() {
        // A right-to-left override would show "txt.exe" as "exe.txt".
        let text = "file\u{202e}txt.exe\u{200b}";
        assert_eq!(Escaped(text).to_string(), "file\\u{202e}txt.exe\\u{200b}");
        assert_eq!(Escaped("café ok").to_string(), "café ok");
    }

    #[test]
    fn routing_ids_show_bytes_beyond_printable_ascii() {
        let mut peer = Peer::at("127.0.0.1:1");
        assert_eq!(RoutingId(&peer).to_string(), "-");
        peer.routing_id = Some(bytes::Bytes::from_static(b"ok \\\n\x00\xff"));
        assert_eq!(RoutingId(&peer).to_string(), "ok \\x5c\\x0a\\x00\\xff");
    }
}
