//! PLAIN (RFC 24): HELLO / WELCOME / INITIATE / READY, with the server's decision
//! taken by the owner between HELLO and WELCOME.

use bytes::Bytes;

use super::{peer_error, peer_metadata, unexpected, Cx, Established};
use crate::config::MechanismConfig;
use crate::error::{CommandName, ConnectionError};
use crate::event::{AuthId, AuthReply, Credentials};
use crate::wire::command::{Command, RawCommand};
use crate::wire::greeting::MechanismName;
use crate::wire::metadata::Metadata;

enum State {
    ClientExpectWelcome,
    ClientExpectReady,
    ServerExpectHello,
    ServerAwaitAuth(AuthId),
    ServerExpectInitiate { granted: (Bytes, Metadata) },
    Failed,
}

pub(crate) struct Plain {
    state: State,
}

impl Plain {
    pub(crate) fn start(cx: &mut Cx<'_>) -> Self {
        let state = match &cx.config.mechanism {
            MechanismConfig::PlainClient { username, password } => {
                // Lengths were checked by Config::with_mechanism.
                let (u, p) = (username.clone(), password.clone());
                cx.send_parts("HELLO", &[&[u.len() as u8], &u, &[p.len() as u8], &p]);
                State::ClientExpectWelcome
            }
            _ => State::ServerExpectHello,
        };
        Self { state }
    }

    pub(crate) fn handle_command(
        &mut self,
        body: Bytes,
        cx: &mut Cx<'_>,
    ) -> Result<Option<Established>, ConnectionError> {
        let raw = match RawCommand::parse(body.clone()) {
            Ok(raw) => raw,
            // libzmq's PLAIN server sends ERROR as `5E "RROR"` (a C escape bug);
            // recognise it so its refusal reads as a refusal.
            Err(_) if body.starts_with(b"\x5eRROR") => return Err(peer_error(&body.slice(5..))),
            Err(e) => return Err(e.into()),
        };
        match std::mem::replace(&mut self.state, State::Failed) {
            State::ClientExpectWelcome if raw.is("WELCOME") => {
                // Exactly the name, nothing after it: libzmq's client rejects more.
                if !raw.data.is_empty() {
                    return Err(ConnectionError::MalformedCommand {
                        command: CommandName::Welcome,
                    });
                }
                let md = cx.config.local_metadata().to_vec();
                cx.send_parts("INITIATE", &[&md]);
                self.state = State::ClientExpectReady;
                Ok(None)
            }
            State::ClientExpectReady if raw.is("READY") => {
                let md = peer_metadata(cx.config.socket_type, &raw.data)?;
                Ok(Some(Established::new(md)))
            }
            State::ServerExpectHello if raw.is("HELLO") => {
                let (username, password) =
                    parse_hello(&raw.data).ok_or(ConnectionError::MalformedCommand {
                        command: CommandName::Hello,
                    })?;
                let id = cx.request_auth(
                    MechanismName::Plain,
                    Credentials::Plain { username, password },
                );
                self.state = State::ServerAwaitAuth(id);
                Ok(None)
            }
            State::ServerExpectInitiate { granted } if raw.is("INITIATE") => {
                let md = peer_metadata(cx.config.socket_type, &raw.data)?;
                cx.send(&Command::Ready(cx.config.local_metadata()));
                Ok(Some(Established::new(md).with_auth(Some(granted))))
            }
            _ => Err(unexpected(&raw)),
        }
    }

    pub(crate) fn pending_auth(&self) -> Option<AuthId> {
        match self.state {
            State::ServerAwaitAuth(id) => Some(id),
            _ => None,
        }
    }

    pub(crate) fn handle_auth_reply(
        &mut self,
        reply: AuthReply,
        cx: &mut Cx<'_>,
    ) -> Result<Option<Established>, ConnectionError> {
        match reply {
            AuthReply::Allow { user_id, metadata } => {
                cx.send_parts("WELCOME", &[]);
                self.state = State::ServerExpectInitiate {
                    granted: (user_id, metadata),
                };
                Ok(None)
            }
            AuthReply::Deny { status, text } => {
                self.state = State::Failed;
                Err(cx.deny(status, text))
            }
        }
    }
}

/// `ulen(1) username plen(1) password`, ending exactly at the password.
fn parse_hello(data: &Bytes) -> Option<(Bytes, Bytes)> {
    let ulen = usize::from(*data.first()?);
    let user_end = 1 + ulen;
    let plen = usize::from(*data.get(user_end)?);
    let pass_start = user_end + 1;
    if data.len() != pass_start + plen {
        return None;
    }
    Some((data.slice(1..user_end), data.slice(pass_start..)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_must_end_at_the_password() {
        let ok = Bytes::from_static(b"\x05admin\x06secret");
        assert_eq!(
            parse_hello(&ok),
            Some((Bytes::from_static(b"admin"), Bytes::from_static(b"secret")))
        );
        assert_eq!(
            parse_hello(&Bytes::from_static(b"\x05admin\x06secretX")),
            None
        );
        assert_eq!(
            parse_hello(&Bytes::from_static(b"\x05admin\x07secret")),
            None
        );
        assert_eq!(parse_hello(&Bytes::from_static(b"\x09admin")), None);
        assert_eq!(parse_hello(&Bytes::new()), None);
        assert!(parse_hello(&Bytes::from_static(b"\x00\x00")).is_some());
    }
}
