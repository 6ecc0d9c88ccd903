//! The greeting exchange, staged as libzmq stages it, so that ZMTP/1.0 and 2.0
//! peers can be told apart and served.
//!
//! libzmq sends its 10-byte signature at once, its major version only once the
//! peer's signature has arrived, and the rest of its greeting only once the
//! peer's revision byte says 3.x; to a ZMTP/1.0 or 2.0 peer it sends its socket
//! type instead. Sending more before knowing the revision breaks a 2.0 peer (it
//! reads our minor version as a socket type, the mechanism as frames). Sending
//! less, or waiting for more of the peer's greeting than the next stage needs,
//! deadlocks against a peer doing the same.

use bytes::{Buf, BytesMut};

use crate::config::Config;
use crate::error::ConnectionError;
use crate::protocol::Protocol;
use crate::send_buf::SendBuf;
use crate::wire::greeting::{Greeting, GREETING_LEN, SIGNATURE_LEN, V2_GREETING_LEN};

/// Offset of the revision (major version) byte.
const REVISION_AT: usize = 10;

/// What the peer's first bytes revealed.
#[derive(Debug)]
pub(crate) enum Detected {
    /// ZMTP/1.0 without a signature: its first byte is not `0xFF`, or its tenth
    /// has bit 0 clear (a long-form length followed by flags). Nothing was
    /// consumed: those bytes are the header of its identity message.
    Unversioned,
    /// A versioned ZMTP/1.0 or 2.0 greeting (signature, revision, socket type);
    /// its 12 bytes were consumed.
    Legacy(Protocol),
    /// A ZMTP 3.x greeting; its 64 bytes were consumed.
    Zmtp3(Greeting),
}

/// How much of our own greeting is queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sent {
    Signature,
    Major,
    All,
}

#[derive(Debug)]
pub(crate) struct GreetingExchange {
    /// Our 3.x greeting; its prefix goes out as the peer's bytes allow.
    ours: [u8; GREETING_LEN],
    sent: Sent,
}

impl GreetingExchange {
    /// Queues our signature: it is the same whatever the peer turns out to be.
    pub(crate) fn start(config: &Config, out: &mut SendBuf) -> Self {
        let mut ours = [0u8; GREETING_LEN];
        Greeting::new(
            config.minor_version,
            config.mechanism.name(),
            config.mechanism.is_server(),
        )
        .emit(&mut ours);
        // The configuration holds routing ids to 255 bytes.
        let id_len = u8::try_from(config.routing_id.len()).unwrap_or(u8::MAX);
        ours[..SIGNATURE_LEN].copy_from_slice(&Greeting::signature(id_len));
        out.write(SIGNATURE_LEN, |b| {
            b.extend_from_slice(&ours[..SIGNATURE_LEN]);
        });
        Self {
            ours,
            sent: Sent::Signature,
        }
    }

    /// Reads what has arrived of the peer's greeting at the front of `buf`, queues
    /// the next stage of ours as soon as those bytes allow it, and once the peer's
    /// generation is known consumes its greeting and says what it is. Refuses a
    /// ZMTP/1.0 or 2.0 peer when security is configured, as soon as it is
    /// recognised and before anything more is sent.
    pub(crate) fn step(
        &mut self,
        buf: &mut BytesMut,
        config: &Config,
        out: &mut SendBuf,
    ) -> Result<Option<Detected>, ConnectionError> {
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        if first != 0xFF {
            return refuse_unless_allowed(config, Protocol::Zmtp1)
                .map(|()| Some(Detected::Unversioned));
        }
        if buf.len() < SIGNATURE_LEN {
            return Ok(None);
        }
        if buf[SIGNATURE_LEN - 1] & 0x01 == 0 {
            return refuse_unless_allowed(config, Protocol::Zmtp1)
                .map(|()| Some(Detected::Unversioned));
        }
        if self.sent == Sent::Signature {
            self.send(out, SIGNATURE_LEN..REVISION_AT + 1, Sent::Major);
        }
        let Some(&revision) = buf.get(REVISION_AT) else {
            return Ok(None);
        };
        if revision <= 1 {
            let protocol = Protocol::from_revision(revision, 0);
            refuse_unless_allowed(config, protocol)?;
            if self.sent == Sent::Major {
                let socket_type = config.socket_type.number();
                out.write(1, |b| b.extend_from_slice(&[socket_type]));
                self.sent = Sent::All;
            }
            if buf.len() < V2_GREETING_LEN {
                return Ok(None);
            }
            // The peer's socket type is not checked: libzmq does not check it.
            buf.advance(V2_GREETING_LEN);
            return Ok(Some(Detected::Legacy(protocol)));
        }
        if self.sent == Sent::Major {
            self.send(out, REVISION_AT + 1..GREETING_LEN, Sent::All);
        }
        let Some(greeting) = Greeting::parse(buf)? else {
            return Ok(None);
        };
        buf.advance(GREETING_LEN);
        Ok(Some(Detected::Zmtp3(greeting)))
    }

    fn send(&mut self, out: &mut SendBuf, range: std::ops::Range<usize>, then: Sent) {
        let bytes = &self.ours[range];
        out.write(bytes.len(), |b| b.extend_from_slice(bytes));
        self.sent = then;
    }
}

/// libzmq serves ZMTP/1.0 and 2.0 peers only while ZAP is off (NULL mechanism,
/// no ZAP domain): the old protocols have no security, so accepting them on a
/// secured socket would be a downgrade attack (RFC 23 says the same).
fn refuse_unless_allowed(config: &Config, peer: Protocol) -> Result<(), ConnectionError> {
    if config.allows_downgrade() {
        Ok(())
    } else {
        Err(ConnectionError::DowngradeRefused { peer })
    }
}
