//! CURVE (RFC 25 + CurveZMQ RFC 26): HELLO / WELCOME / INITIATE / READY with
//! transient keys, a stateless-server cookie and a vouch for the client's
//! long-term key. Byte layouts follow libzmq (checked against
//! `zmtp-curve-kat.md`): HELLO is 200 bytes with 72 bytes of padding, WELCOME 168,
//! INITIATE at least 257, READY at least 30.

use bytes::Bytes;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use super::crypto::{nonce, BoxKey, CookieKey, CurveSession};
use super::{parse_raw, peer_metadata, unexpected, Cx, Established};
use crate::config::MechanismConfig;
use crate::error::{CommandName, ConnectionError};
use crate::event::{AuthId, AuthReply, Credentials};
use crate::keys::{KeyPair, PublicKey, SecretKey};
use crate::wire::greeting::MechanismName;
use crate::wire::metadata::Metadata;

const HELLO_LEN: usize = 200;
const WELCOME_LEN: usize = 168;
const INITIATE_MIN: usize = 257;
const READY_MIN: usize = 30;
const COOKIE_LEN: usize = 96;

enum State {
    ClientExpectWelcome {
        transient: KeyPair,
    },
    ClientExpectReady {
        session: BoxKey,
    },
    ServerExpectHello,
    /// Only the cookie key and the client's transient key are kept: the server's
    /// transient secret travels inside the cookie, as CurveZMQ intends.
    ServerExpectInitiate {
        cookie_key: Zeroizing<[u8; 32]>,
        client_transient: [u8; 32],
    },
    ServerAwaitAuth {
        id: AuthId,
        session: BoxKey,
        peer: Metadata,
        client_key: PublicKey,
        rx_nonce: u64,
    },
    Failed,
}

pub(crate) struct Curve {
    state: State,
    /// Our long-term key pair.
    keypair: KeyPair,
    /// Client side: the server's long-term public key.
    server_key: Option<PublicKey>,
}

impl Curve {
    pub(crate) fn start(cx: &mut Cx<'_>) -> Self {
        match &cx.config.mechanism {
            MechanismConfig::CurveClient {
                server_key,
                keypair,
            } => {
                let mut secret = [0u8; 32];
                cx.config.random.fill(&mut secret);
                let transient = KeyPair::from_secret(SecretKey(secret));
                secret.zeroize();
                // A small-order server key is refused by the server's box check.
                let hello_box = BoxKey::new(&server_key.0, &transient.secret.0)
                    .map(|k| k.seal(&nonce(b"CurveZMQHELLO---", &1u64.to_be_bytes()), &[0u8; 64]))
                    .unwrap_or_else(|_| vec![0u8; 80]);
                cx.send_parts(
                    "HELLO",
                    &[
                        &[1, 0],
                        &[0u8; 72],
                        &transient.public.0,
                        &1u64.to_be_bytes(),
                        &hello_box,
                    ],
                );
                Self {
                    state: State::ClientExpectWelcome { transient },
                    keypair: keypair.clone(),
                    server_key: Some(*server_key),
                }
            }
            MechanismConfig::CurveServer { keypair } => Self {
                state: State::ServerExpectHello,
                keypair: keypair.clone(),
                server_key: None,
            },
            // Handshake::start only builds Curve for CURVE configurations.
            _ => Self {
                state: State::Failed,
                keypair: KeyPair::from_secret(SecretKey([0; 32])),
                server_key: None,
            },
        }
    }

    /// Whether HELLO went out and no WELCOME came back yet.
    pub(crate) fn awaits_welcome(&self) -> bool {
        matches!(self.state, State::ClientExpectWelcome { .. })
    }

    pub(crate) fn handle_command(
        &mut self,
        body: Bytes,
        cx: &mut Cx<'_>,
    ) -> Result<Option<Established>, ConnectionError> {
        let raw = parse_raw(body.clone())?;
        match std::mem::replace(&mut self.state, State::Failed) {
            State::ClientExpectWelcome { transient } if raw.is("WELCOME") => {
                self.on_welcome(&body, &transient, cx)?;
                Ok(None)
            }
            State::ClientExpectReady { session } if raw.is("READY") => {
                if body.len() < READY_MIN {
                    return Err(ConnectionError::MalformedCommand {
                        command: CommandName::Ready,
                    });
                }
                let short = &body[6..14];
                let md = session.open(&nonce(b"CurveZMQREADY---", short), &body[14..])?;
                let md = peer_metadata(cx.config.socket_type, &Bytes::from(md))?;
                let rx_nonce = u64::from_be_bytes(short.try_into().unwrap_or_default());
                let mut est = Established::new(md);
                est.session = Some(CurveSession::new(session, true, 2, rx_nonce));
                est.curve_key = self.server_key;
                Ok(Some(est))
            }
            State::ServerExpectHello if raw.is("HELLO") => {
                self.on_hello(&body, cx)?;
                Ok(None)
            }
            State::ServerExpectInitiate {
                cookie_key,
                client_transient,
            } if raw.is("INITIATE") => {
                self.on_initiate(&body, &cookie_key, &client_transient, cx)?;
                Ok(None)
            }
            _ => Err(unexpected(&raw)),
        }
    }

    pub(crate) fn pending_auth(&self) -> Option<AuthId> {
        match self.state {
            State::ServerAwaitAuth { id, .. } => Some(id),
            _ => None,
        }
    }

    pub(crate) fn handle_auth_reply(
        &mut self,
        reply: AuthReply,
        cx: &mut Cx<'_>,
    ) -> Result<Option<Established>, ConnectionError> {
        let State::ServerAwaitAuth {
            session,
            peer,
            client_key,
            rx_nonce,
            ..
        } = std::mem::replace(&mut self.state, State::Failed)
        else {
            return Ok(None);
        };
        match reply {
            AuthReply::Allow { user_id, metadata } => {
                let plain = cx.config.local_metadata().to_vec();
                let ready_nonce = 1u64.to_be_bytes();
                let boxed = session.seal(&nonce(b"CurveZMQREADY---", &ready_nonce), &plain);
                cx.send_parts("READY", &[&ready_nonce, &boxed]);
                let mut est = Established::new(peer).with_auth(Some((user_id, metadata)));
                est.session = Some(CurveSession::new(session, false, 1, rx_nonce));
                est.curve_key = Some(client_key);
                Ok(Some(est))
            }
            AuthReply::Deny { status, text } => Err(cx.deny(status, text)),
        }
    }

    /// Client: WELCOME = `07 WELCOME` nonce(16) box[S' + cookie](s -> C').
    fn on_welcome(
        &mut self,
        body: &Bytes,
        transient: &KeyPair,
        cx: &mut Cx<'_>,
    ) -> Result<(), ConnectionError> {
        if body.len() != WELCOME_LEN {
            return Err(ConnectionError::MalformedCommand {
                command: CommandName::Welcome,
            });
        }
        let server_key = self.server_key.unwrap_or(PublicKey([0; 32]));
        let plain = BoxKey::new(&server_key.0, &transient.secret.0)?
            .open(&nonce(b"WELCOME-", &body[8..24]), &body[24..])?;
        let mut server_transient = [0u8; 32];
        server_transient.copy_from_slice(&plain[..32]);
        let cookie = &plain[32..32 + COOKIE_LEN];

        let mut vouch_nonce = [0u8; 16];
        cx.config.random.fill(&mut vouch_nonce);
        let mut vouch_plain = [0u8; 64];
        vouch_plain[..32].copy_from_slice(&transient.public.0);
        vouch_plain[32..].copy_from_slice(&server_key.0);
        let vouch = BoxKey::new(&server_transient, &self.keypair.secret.0)?
            .seal(&nonce(b"VOUCH---", &vouch_nonce), &vouch_plain);

        let md = cx.config.local_metadata();
        let mut plain = Vec::with_capacity(32 + 16 + vouch.len() + md.encoded_len());
        plain.extend_from_slice(&self.keypair.public.0);
        plain.extend_from_slice(&vouch_nonce);
        plain.extend_from_slice(&vouch);
        md.emit(&mut plain);
        let session = BoxKey::new(&server_transient, &transient.secret.0)?;
        let short = 2u64.to_be_bytes();
        let boxed = session.seal(&nonce(b"CurveZMQINITIATE", &short), &plain);
        cx.send_parts("INITIATE", &[cookie, &short, &boxed]);
        self.state = State::ClientExpectReady { session };
        Ok(())
    }

    /// Server: HELLO = `05 HELLO` version(2) padding(72) C'(32) nonce(8) box(80).
    fn on_hello(&mut self, body: &Bytes, cx: &mut Cx<'_>) -> Result<(), ConnectionError> {
        if body.len() != HELLO_LEN || body[6..8] != [1, 0] {
            return Err(ConnectionError::MalformedCommand {
                command: CommandName::Hello,
            });
        }
        let mut client_transient = [0u8; 32];
        client_transient.copy_from_slice(&body[80..112]);
        // The plaintext should be 64 zeros; like libzmq, only the box is checked.
        BoxKey::new(&client_transient, &self.keypair.secret.0)?
            .open(&nonce(b"CurveZMQHELLO---", &body[112..120]), &body[120..])?;

        let random = &cx.config.random;
        let mut secret = [0u8; 32];
        random.fill(&mut secret);
        let server_transient = KeyPair::from_secret(SecretKey(secret));
        secret.zeroize();
        let mut cookie_key = Zeroizing::new([0u8; 32]);
        random.fill(&mut cookie_key[..]);
        let mut cookie_nonce = [0u8; 16];
        random.fill(&mut cookie_nonce);
        let mut welcome_nonce = [0u8; 16];
        random.fill(&mut welcome_nonce);

        let mut cookie_plain = [0u8; 64];
        cookie_plain[..32].copy_from_slice(&client_transient);
        cookie_plain[32..].copy_from_slice(&server_transient.secret.0);
        let cookie_box =
            CookieKey::new(&cookie_key).seal(&nonce(b"COOKIE--", &cookie_nonce), &cookie_plain);
        cookie_plain.zeroize();
        let mut welcome_plain = Vec::with_capacity(32 + COOKIE_LEN);
        welcome_plain.extend_from_slice(&server_transient.public.0);
        welcome_plain.extend_from_slice(&cookie_nonce);
        welcome_plain.extend_from_slice(&cookie_box);
        let welcome_box = BoxKey::new(&client_transient, &self.keypair.secret.0)?
            .seal(&nonce(b"WELCOME-", &welcome_nonce), &welcome_plain);
        cx.send_parts("WELCOME", &[&welcome_nonce, &welcome_box]);
        self.state = State::ServerExpectInitiate {
            cookie_key,
            client_transient,
        };
        Ok(())
    }

    /// Server: INITIATE = `08 INITIATE` cookie(96) nonce(8)
    /// box[C + vouch nonce(16) + vouch(80) + metadata](C' -> s').
    fn on_initiate(
        &mut self,
        body: &Bytes,
        cookie_key: &[u8; 32],
        client_transient: &[u8; 32],
        cx: &mut Cx<'_>,
    ) -> Result<(), ConnectionError> {
        if body.len() < INITIATE_MIN {
            return Err(ConnectionError::MalformedCommand {
                command: CommandName::Initiate,
            });
        }
        let cookie = Zeroizing::new(
            CookieKey::new(cookie_key).open(&nonce(b"COOKIE--", &body[9..25]), &body[25..105])?,
        );
        if !bool::from(cookie[..32].ct_eq(&client_transient[..])) {
            return Err(ConnectionError::Cryptographic);
        }
        let mut server_transient_secret = Zeroizing::new([0u8; 32]);
        server_transient_secret.copy_from_slice(&cookie[32..64]);
        let short = &body[105..113];
        let session = BoxKey::new(client_transient, &server_transient_secret)?;
        let plain = session.open(&nonce(b"CurveZMQINITIATE", short), &body[113..])?;
        if plain.len() < 128 {
            return Err(ConnectionError::MalformedCommand {
                command: CommandName::Initiate,
            });
        }
        let mut client_key = [0u8; 32];
        client_key.copy_from_slice(&plain[..32]);
        let vouch = BoxKey::new(&client_key, &server_transient_secret)?
            .open(&nonce(b"VOUCH---", &plain[32..48]), &plain[48..128])?;
        // libzmq checks only the C' half; the S half binds the vouch to this server.
        let binds =
            vouch[..32].ct_eq(&client_transient[..]) & vouch[32..64].ct_eq(&self.keypair.public.0);
        if !bool::from(binds) {
            return Err(ConnectionError::Cryptographic);
        }
        let md = peer_metadata(
            cx.config.socket_type,
            &Bytes::copy_from_slice(&plain[128..]),
        )?;
        let client_key = PublicKey(client_key);
        let id = cx.request_auth(
            MechanismName::Curve,
            Credentials::Curve {
                public_key: client_key,
            },
        );
        self.state = State::ServerAwaitAuth {
            id,
            session,
            peer: md,
            client_key,
            rx_nonce: u64::from_be_bytes(short.try_into().unwrap_or_default()),
        };
        Ok(())
    }
}
