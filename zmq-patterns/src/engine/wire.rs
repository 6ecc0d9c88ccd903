//! What one stream speaks: ZMTP (every socket type but STREAM) or raw bytes
//! (STREAM), behind the one set of calls the stream machine makes.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use zmtp_core::{
    ApiMisuse, AuthId, AuthReply, Connection, ConnectionError, Event, Msg, PeerInfo, SendError,
};

use super::raw::RawConn;

/// One stream's protocol state.
// The ZMTP connection stays inline: it is on every message's path, and a
// socket's streams are all of one kind, so no memory is wasted on the mix.
#[allow(clippy::large_enum_variant)]
pub(super) enum Wire {
    Zmtp(Connection),
    Raw(RawConn),
}

impl Wire {
    /// True when it stopped after `max_frames` frames, with more maybe left.
    #[inline]
    pub(super) fn handle_input(
        &mut self,
        now: Instant,
        buf: &mut BytesMut,
        max_frames: usize,
    ) -> Result<bool, ConnectionError> {
        match self {
            Self::Zmtp(c) => c.handle_input_up_to(now, buf, max_frames),
            Self::Raw(r) => r.handle_input(buf).map(|()| false),
        }
    }

    pub(super) fn handle_eof(&mut self, now: Instant) -> Result<(), ConnectionError> {
        match self {
            Self::Zmtp(c) => c.handle_eof(now),
            Self::Raw(r) => r.handle_eof(),
        }
    }

    pub(super) fn handle_timeout(&mut self, now: Instant) -> Result<(), ConnectionError> {
        match self {
            Self::Zmtp(c) => c.handle_timeout(now),
            // No heartbeats and no handshake: no timers.
            Self::Raw(_) => Ok(()),
        }
    }

    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Self::Zmtp(c) => c.poll_timeout(),
            Self::Raw(_) => None,
        }
    }

    #[inline]
    pub(super) fn poll_event(&mut self) -> Option<Event> {
        match self {
            Self::Zmtp(c) => c.poll_event(),
            Self::Raw(r) => r.poll_event(),
        }
    }

    /// The next event if it is a message (others stay first in line).
    #[inline]
    pub(super) fn poll_message(&mut self) -> Option<Msg> {
        match self {
            Self::Zmtp(c) => c.poll_message(),
            Self::Raw(r) => r.poll_message(),
        }
    }

    /// Moves the messages waiting ahead of every other event to the back of
    /// `into` at once (see [`Connection::take_messages`]); a raw stream's
    /// are polled one at a time.
    #[inline]
    pub(super) fn take_messages(&mut self, into: &mut VecDeque<Msg>) -> (usize, usize) {
        match self {
            Self::Zmtp(c) => c.take_messages(into),
            Self::Raw(_) => (0, 0),
        }
    }

    #[inline]
    pub(super) fn poll_transmit(&mut self) -> Option<Bytes> {
        match self {
            Self::Zmtp(c) => c.poll_transmit(),
            Self::Raw(r) => r.poll_transmit(),
        }
    }

    /// As [`Wire::poll_transmit`]; sets `moved` when an empty queue armed a
    /// timer of the connection's (it looks later whether the buffers it
    /// keeps for sending are still wanted), which its owner must learn
    /// although nothing else about the stream changed.
    #[inline]
    pub(super) fn poll_transmit_noting(&mut self, moved: &mut bool) -> Option<Bytes> {
        let Self::Zmtp(c) = self else {
            return self.poll_transmit();
        };
        let before = c.poll_timeout();
        let chunk = c.poll_transmit();
        if chunk.is_none() && c.poll_timeout() != before {
            *moved = true;
        }
        chunk
    }

    /// Whether queuing `msg` keeps no reference to its bodies (see
    /// [`Connection::copies`]); a raw stream queues them as they are.
    #[inline]
    pub(super) fn copies(&self, msg: &Msg) -> bool {
        match self {
            Self::Zmtp(c) => c.copies(msg),
            Self::Raw(_) => false,
        }
    }

    /// Writes a borrowed message; false when it was not taken. Raw streams
    /// never take one this way: STREAM queues every message.
    #[inline]
    pub(super) fn send_ref(&mut self, msg: &Msg) -> bool {
        match self {
            Self::Zmtp(c) => c.try_send_ref(msg),
            Self::Raw(_) => false,
        }
    }

    #[inline]
    pub(super) fn send(&mut self, msg: Msg) -> Result<(), SendError> {
        match self {
            Self::Zmtp(c) => c.send(msg),
            Self::Raw(r) => {
                r.send(msg);
                Ok(())
            }
        }
    }

    /// STREAM has no subscriptions, so a raw stream never gets here.
    pub(super) fn send_subscribe(&mut self, topic: &[u8]) -> Result<(), SendError> {
        match self {
            Self::Zmtp(c) => c.send_subscribe(topic),
            Self::Raw(_) => Ok(()),
        }
    }

    /// As `send_subscribe`.
    pub(super) fn send_cancel(&mut self, topic: &[u8]) -> Result<(), SendError> {
        match self {
            Self::Zmtp(c) => c.send_cancel(topic),
            Self::Raw(_) => Ok(()),
        }
    }

    /// A raw stream asks for no authentication, so any id is unknown to it.
    pub(super) fn auth_reply(&mut self, id: AuthId, reply: AuthReply) -> Result<(), ApiMisuse> {
        match self {
            Self::Zmtp(c) => c.auth_reply(id, reply),
            Self::Raw(_) => Err(ApiMisuse::UnknownAuthRequest(id.value())),
        }
    }

    pub(super) fn close(&mut self) {
        match self {
            Self::Zmtp(c) => c.close(),
            Self::Raw(r) => r.close(),
        }
    }

    #[inline]
    pub(super) fn is_active(&self) -> bool {
        match self {
            Self::Zmtp(c) => c.is_active(),
            Self::Raw(r) => r.is_active(),
        }
    }

    /// A raw peer tells nothing about itself.
    pub(super) fn peer(&self) -> Option<&PeerInfo> {
        match self {
            Self::Zmtp(c) => c.peer(),
            Self::Raw(_) => None,
        }
    }

    pub(super) fn error(&self) -> Option<&ConnectionError> {
        match self {
            Self::Zmtp(c) => c.error(),
            Self::Raw(r) => r.error(),
        }
    }

    #[inline]
    pub(super) fn pending_transmit(&self) -> usize {
        match self {
            Self::Zmtp(c) => c.pending_transmit(),
            Self::Raw(r) => r.pending_transmit(),
        }
    }
}
