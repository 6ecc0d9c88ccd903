//! Command frames: `name-len(1) name data` (RFC 23 §3.3), and the commands every
//! mechanism shares (READY, ERROR) plus the ZMTP 3.1 traffic commands.

use bytes::{BufMut, Bytes};

use super::frame::FrameHeader;
use super::metadata::Metadata;
use super::WireError;

/// Longest PING context a PONG echoes back (RFC 37; libzmq truncates to this).
pub const MAX_PING_CONTEXT: usize = 16;

/// A command split into its name and data, before any per-command parsing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawCommand {
    /// The command name (ASCII on the wire, not validated).
    pub name: Bytes,
    /// Everything after the name.
    pub data: Bytes,
}

impl RawCommand {
    /// Splits a command body. The name must be 1..=255 bytes and fit in the body.
    pub fn parse(body: Bytes) -> Result<Self, WireError> {
        let &len = body.first().ok_or(WireError::MalformedCommand)?;
        let end = 1 + usize::from(len);
        if len == 0 || end > body.len() {
            return Err(WireError::MalformedCommand);
        }
        Ok(Self {
            name: body.slice(1..end),
            data: body.slice(end..),
        })
    }

    /// Whether the command has this name (exact bytes).
    pub fn is(&self, name: &str) -> bool {
        self.name.as_ref() == name.as_bytes()
    }

    /// The name as text, for error messages (at most 32 bytes of it).
    pub fn name_text(&self) -> String {
        String::from_utf8_lossy(&self.name[..self.name.len().min(32)]).into_owned()
    }
}

/// A command that is not mechanism-specific.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// READY with the sender's metadata.
    Ready(Metadata),
    /// ERROR with a reason (0..255 bytes).
    Error(Bytes),
    /// SUBSCRIBE (ZMTP 3.1) with a topic prefix.
    Subscribe(Bytes),
    /// CANCEL (ZMTP 3.1) with a topic prefix.
    Cancel(Bytes),
    /// PING (ZMTP 3.1) with a time-to-live in deciseconds and a context to echo.
    Ping {
        /// Time-to-live in tenths of a second; 0 means none.
        ttl: u16,
        /// Opaque context, echoed (truncated to 16 bytes) in the PONG.
        context: Bytes,
    },
    /// PONG (ZMTP 3.1) echoing a PING's context.
    Pong(Bytes),
    /// Any other command, left for the caller (mechanism commands, or unknown ones,
    /// which are ignored after the handshake).
    Other(RawCommand),
}

impl Command {
    /// Parses a command body into one of the shared commands.
    pub fn parse(body: Bytes) -> Result<Self, WireError> {
        Self::from_raw(RawCommand::parse(body)?)
    }

    /// Parses the data of an already split command, for a caller that looked at
    /// the name first.
    pub fn from_raw(raw: RawCommand) -> Result<Self, WireError> {
        let data = raw.data.clone();
        Ok(match raw.name.as_ref() {
            b"READY" => Self::Ready(Metadata::parse(&data)?),
            b"ERROR" => Self::Error(parse_error_reason(&data)?),
            b"SUBSCRIBE" => Self::Subscribe(data),
            b"CANCEL" => Self::Cancel(data),
            b"PING" => {
                let ttl: [u8; 2] = data
                    .get(..2)
                    .and_then(|s| s.try_into().ok())
                    .ok_or(WireError::MalformedBody("PING"))?;
                Self::Ping {
                    ttl: u16::from_be_bytes(ttl),
                    context: data.slice(2..),
                }
            }
            b"PONG" => Self::Pong(data),
            _ => Self::Other(raw),
        })
    }

    /// Writes the whole command frame (header and body).
    pub fn emit(&self, out: &mut impl BufMut) {
        match self {
            Self::Ready(md) => {
                emit_command_header(out, "READY", md.encoded_len());
                md.emit(out);
            }
            Self::Error(reason) => {
                let reason = &reason[..reason.len().min(255)];
                emit_command(out, "ERROR", &[&[reason.len() as u8], reason]);
            }
            Self::Subscribe(topic) => emit_command(out, "SUBSCRIBE", &[topic]),
            Self::Cancel(topic) => emit_command(out, "CANCEL", &[topic]),
            Self::Ping { ttl, context } => {
                let context = &context[..context.len().min(MAX_PING_CONTEXT)];
                emit_command(out, "PING", &[&ttl.to_be_bytes(), context]);
            }
            Self::Pong(context) => {
                let context = &context[..context.len().min(MAX_PING_CONTEXT)];
                emit_command(out, "PONG", &[context]);
            }
            Self::Other(raw) => {
                let name = &raw.name[..raw.name.len().min(255)];
                emit_command_raw(out, name, &[&raw.data]);
            }
        }
    }
}

/// Parses the data of an ERROR command: `reason-len(1) reason`, exactly.
pub fn parse_error_reason(data: &Bytes) -> Result<Bytes, WireError> {
    let &len = data.first().ok_or(WireError::MalformedBody("ERROR"))?;
    if data.len() != 1 + usize::from(len) {
        return Err(WireError::MalformedBody("ERROR"));
    }
    Ok(data.slice(1..))
}

/// Writes the frame header and name of a command whose data is `data_len` bytes.
pub fn emit_command_header(out: &mut impl BufMut, name: &str, data_len: usize) {
    emit_command_header_raw(out, name.as_bytes(), data_len);
}

/// Writes a whole command frame whose data is the concatenation of `parts`.
pub fn emit_command(out: &mut impl BufMut, name: &str, parts: &[&[u8]]) {
    emit_command_raw(out, name.as_bytes(), parts);
}

fn emit_command_raw(out: &mut impl BufMut, name: &[u8], parts: &[&[u8]]) {
    let data_len: usize = parts.iter().map(|p| p.len()).sum();
    emit_command_header_raw(out, name, data_len);
    for p in parts {
        out.put_slice(p);
    }
}

fn emit_command_header_raw(out: &mut impl BufMut, name: &[u8], data_len: usize) {
    FrameHeader {
        more: false,
        command: true,
        size: (1 + name.len() + data_len) as u64,
    }
    .emit(out);
    out.put_u8(name.len() as u8);
    out.put_slice(name);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(c: &Command) -> Vec<u8> {
        let mut v = Vec::new();
        c.emit(&mut v);
        v
    }

    fn round_trip(c: Command) {
        let wire = bytes(&c);
        let (h, n) = FrameHeader::parse(&wire).unwrap();
        assert!(h.command);
        assert_eq!(h.size as usize, wire.len() - n);
        assert_eq!(
            Command::parse(Bytes::copy_from_slice(&wire[n..])).unwrap(),
            c
        );
    }

    #[test]
    fn checklist_byte_strings() {
        assert_eq!(
            bytes(&Command::Subscribe(Bytes::from_static(b"A"))),
            b"\x04\x0b\x09SUBSCRIBEA"
        );
        assert_eq!(
            bytes(&Command::Cancel(Bytes::from_static(b"A"))),
            b"\x04\x08\x06CANCELA"
        );
        assert_eq!(
            bytes(&Command::Ping {
                ttl: 0,
                context: Bytes::from_static(b"LOL")
            }),
            b"\x04\x0a\x04PING\x00\x00LOL"
        );
        assert_eq!(
            bytes(&Command::Pong(Bytes::from_static(b"LOL"))),
            b"\x04\x08\x04PONGLOL"
        );
        assert_eq!(
            bytes(&Command::Error(Bytes::from_static(b"400"))),
            b"\x04\x0a\x05ERROR\x03400"
        );
    }

    #[test]
    fn round_trips() {
        let mut md = Metadata::new();
        md.push("Socket-Type", "SUB");
        round_trip(Command::Ready(md));
        round_trip(Command::Error(Bytes::from_static(b"no")));
        round_trip(Command::Subscribe(Bytes::from(vec![7u8; 300])));
        round_trip(Command::Cancel(Bytes::new()));
        round_trip(Command::Ping {
            ttl: 655,
            context: Bytes::from_static(b"ctx"),
        });
        round_trip(Command::Pong(Bytes::new()));
    }

    #[test]
    fn pong_context_is_truncated_to_16() {
        let c = Command::Pong(Bytes::from(vec![b'x'; 58]));
        assert_eq!(bytes(&c).len(), 2 + 5 + 16);
    }

    #[test]
    fn malformed_commands() {
        assert!(RawCommand::parse(Bytes::new()).is_err());
        assert!(RawCommand::parse(Bytes::from_static(b"\x00")).is_err());
        assert!(RawCommand::parse(Bytes::from_static(b"\x05READ")).is_err());
        assert!(Command::parse(Bytes::from_static(b"\x04PING\x00")).is_err());
        assert!(Command::parse(Bytes::from_static(b"\x05ERROR\x05ab")).is_err());
        // libzmq's malformed PLAIN ERROR does not parse as a command at all.
        assert!(Command::parse(Bytes::from_static(b"\x5eRROR\x03400")).is_err());
    }
}
