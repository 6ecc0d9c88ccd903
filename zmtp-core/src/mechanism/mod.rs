//! The security handshakes: NULL, PLAIN and CURVE.
//!
//! Each mechanism is a small state machine fed whole command frames. It writes its
//! own commands into the connection's send buffer and asks for authentication
//! decisions through the event queue; when it is done it hands back what it
//! established about the peer (and, for CURVE, the session that encrypts traffic).

pub(crate) mod crypto;
pub(crate) mod curve;
pub(crate) mod null;
pub(crate) mod plain;
pub(crate) mod session_box;

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use crate::config::{Config, MechanismConfig};
use crate::error::ConnectionError;
use crate::event::{AuthId, AuthReply, AuthRequest, Credentials, Event};
use crate::keys::PublicKey;
use crate::send_buf::SendBuf;
use crate::wire::command::{Command, RawCommand};
use crate::wire::greeting::MechanismName;
use crate::wire::metadata::{self, Metadata};
use crate::SocketType;

use self::crypto::CurveSession;

/// What a mechanism needs from the connection while it runs.
pub(crate) struct Cx<'a> {
    pub(crate) config: &'a Config,
    pub(crate) out: &'a mut SendBuf,
    pub(crate) events: &'a mut VecDeque<Event>,
    pub(crate) address: &'a str,
}

impl Cx<'_> {
    /// Queues a command frame (handshake commands are never encrypted by the
    /// session; CURVE boxes its own).
    pub(crate) fn send(&mut self, cmd: &Command) {
        self.out.push_command(cmd);
    }

    /// Queues a command frame from a name and data parts.
    pub(crate) fn send_parts(&mut self, name: &str, parts: &[&[u8]]) {
        let len: usize = parts.iter().map(|p| p.len()).sum::<usize>() + name.len() + 10;
        self.out.write(len, |out| {
            crate::wire::command::emit_command(out, name, parts)
        });
    }

    /// Emits an authentication request and returns its id.
    pub(crate) fn request_auth(
        &mut self,
        mechanism: MechanismName,
        credentials: Credentials,
    ) -> AuthId {
        // Unique across connections, so a reply given to the wrong connection is
        // refused instead of taken.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = AuthId(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        self.events
            .push_back(Event::AuthRequest(Box::new(AuthRequest {
                id,
                mechanism,
                domain: self.config.zap_domain.clone(),
                address: self.address.to_owned(),
                identity: self.config.routing_id.clone(),
                credentials,
            })));
        id
    }

    /// Applies a denial: ERROR for 400/500 (as libzmq), silence for 300.
    pub(crate) fn deny(&mut self, status: u16, text: String) -> ConnectionError {
        if AuthReply::deny_sends_error(status) {
            let reason = Bytes::from(status.to_string());
            self.send(&Command::Error(reason));
        }
        ConnectionError::AuthDenied { status, text }
    }
}

/// What a finished handshake established.
#[derive(Debug)]
pub(crate) struct Established {
    pub(crate) peer_metadata: Metadata,
    pub(crate) session: Option<CurveSession>,
    pub(crate) curve_key: Option<PublicKey>,
    pub(crate) user_id: Bytes,
    pub(crate) auth_metadata: Metadata,
    /// Whether an authenticator allowed the peer (then `user_id` is a
    /// property, even empty, as libzmq sets it from every ZAP reply).
    pub(crate) authenticated: bool,
}

impl Established {
    pub(crate) fn new(peer_metadata: Metadata) -> Self {
        Self {
            peer_metadata,
            session: None,
            curve_key: None,
            user_id: Bytes::new(),
            auth_metadata: Metadata::new(),
            authenticated: false,
        }
    }

    pub(crate) fn with_auth(mut self, granted: Option<(Bytes, Metadata)>) -> Self {
        if let Some((user_id, md)) = granted {
            self.user_id = user_id;
            self.auth_metadata = md;
            self.authenticated = true;
        }
        self
    }
}

/// The running handshake of one connection.
pub(crate) enum Handshake {
    Null(null::Null),
    Plain(plain::Plain),
    Curve(Box<curve::Curve>),
}

impl Handshake {
    /// Starts the mechanism right after the greetings were exchanged, queueing its
    /// first commands.
    pub(crate) fn start(cx: &mut Cx<'_>) -> Self {
        match &cx.config.mechanism {
            MechanismConfig::Null => Self::Null(null::Null::start(cx)),
            MechanismConfig::PlainClient { .. } | MechanismConfig::PlainServer => {
                Self::Plain(plain::Plain::start(cx))
            }
            MechanismConfig::CurveClient { .. } | MechanismConfig::CurveServer { .. } => {
                Self::Curve(Box::new(curve::Curve::start(cx)))
            }
        }
    }

    /// Feeds one command frame body.
    pub(crate) fn handle_command(
        &mut self,
        body: BytesMut,
        cx: &mut Cx<'_>,
    ) -> Result<Option<Established>, ConnectionError> {
        match self {
            Self::Null(m) => m.handle_command(body.freeze(), cx),
            Self::Plain(m) => m.handle_command(body.freeze(), cx),
            Self::Curve(m) => m.handle_command(body.freeze(), cx),
        }
    }

    /// Whether this is a CURVE client that sent HELLO and has no WELCOME yet.
    pub(crate) fn awaits_welcome(&self) -> bool {
        matches!(self, Self::Curve(m) if m.awaits_welcome())
    }

    /// The authentication request this handshake waits for, if any.
    pub(crate) fn pending_auth(&self) -> Option<AuthId> {
        match self {
            Self::Null(m) => m.pending_auth(),
            Self::Plain(m) => m.pending_auth(),
            Self::Curve(m) => m.pending_auth(),
        }
    }

    /// Applies the owner's decision on the pending request.
    pub(crate) fn handle_auth_reply(
        &mut self,
        reply: AuthReply,
        cx: &mut Cx<'_>,
    ) -> Result<Option<Established>, ConnectionError> {
        match self {
            Self::Null(m) => m.handle_auth_reply(reply, cx),
            Self::Plain(m) => m.handle_auth_reply(reply, cx),
            Self::Curve(m) => m.handle_auth_reply(reply, cx),
        }
    }
}

/// Parses the peer's metadata from a handshake command (errors in libzmq's
/// category) and validates it against our socket type.
pub(crate) fn peer_metadata(ours: SocketType, data: &Bytes) -> Result<Metadata, ConnectionError> {
    let md = Metadata::parse(data).map_err(|_| ConnectionError::InvalidMetadata)?;
    check_peer_metadata(ours, &md)?;
    Ok(md)
}

/// Validates the peer's metadata against our socket type (RFC 37 table).
/// A READY without `Socket-Type` is accepted, as libzmq accepts it.
fn check_peer_metadata(ours: SocketType, md: &Metadata) -> Result<(), ConnectionError> {
    if let Some(value) = md.get(metadata::SOCKET_TYPE) {
        let compatible = SocketType::from_name(value).is_some_and(|t| ours.is_compatible_with(t));
        if !compatible {
            return Err(ConnectionError::IncompatibleSocketType {
                ours,
                peer: peer_text(value, 32),
            });
        }
    }
    if md.get(metadata::IDENTITY).is_some_and(|id| id.len() > 255) {
        return Err(ConnectionError::InvalidMetadata);
    }
    Ok(())
}

/// Splits a handshake command, mapping a frame that is not a command at all.
pub(crate) fn parse_raw(body: Bytes) -> Result<RawCommand, ConnectionError> {
    RawCommand::parse(body).map_err(ConnectionError::from)
}

/// The error for a command that is not allowed in the current state. ERROR from
/// the peer becomes [`ConnectionError::PeerError`].
pub(crate) fn unexpected(raw: &RawCommand) -> ConnectionError {
    if raw.is("ERROR") {
        return peer_error(&raw.data);
    }
    ConnectionError::UnexpectedCommand {
        name: raw.name_text(),
    }
}

/// The ERROR reason, leniently: a malformed length still yields the text.
pub(crate) fn peer_error(data: &Bytes) -> ConnectionError {
    let reason = crate::wire::command::parse_error_reason(data)
        .unwrap_or_else(|_| data.slice(data.len().min(1)..));
    ConnectionError::PeerError {
        reason: escaped_peer_text(&reason, 255),
    }
}

/// Peer text for an error whose message shows it bare (the ERROR reason):
/// control characters, bidirectional overrides and invisible characters come
/// out escaped (`\u{1b}`), as does `\` itself, so a hostile reason cannot
/// forge a log line, recolour a terminal or hide text. Other fields are shown
/// through `{:?}`, which escapes them already.
pub(crate) fn escaped_peer_text(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(max)]);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\\' || c.is_control() || is_invisible_format(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Unicode format characters that change how the text around them reads
/// without showing themselves: zero-width marks, bidirectional embeddings,
/// overrides and isolates, the byte order mark.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

/// Text from the peer for an error value, cut to `max` bytes first so a huge
/// field cannot become a huge (and repeatedly cloned) string.
pub(crate) fn peer_text(bytes: &[u8], max: usize) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(max)]).into_owned()
}
