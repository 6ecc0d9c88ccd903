//! Per-socket connection settings, shared by all connections of a socket.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use thiserror::Error;

use crate::keys::{KeyPair, PublicKey};
use crate::random::{OsRandom, Random};
use crate::wire::greeting::MechanismName;
use crate::wire::metadata::Metadata;
use crate::SocketType;

/// The security mechanism and this side's role in it.
///
/// Roles come from configuration only: libzmq always sends as-server = 0 in its
/// greeting, so the peer's flag is never consulted. `Debug` never shows the
/// PLAIN password (nor, through [`KeyPair`], a secret key).
#[derive(Clone)]
pub enum MechanismConfig {
    /// No security (RFC 23).
    Null,
    /// PLAIN client with these credentials (RFC 24).
    PlainClient {
        /// User name, at most 255 bytes.
        username: Bytes,
        /// Password, at most 255 bytes.
        password: Bytes,
    },
    /// PLAIN server; every HELLO becomes an [`Event::AuthRequest`](crate::Event).
    PlainServer,
    /// CURVE client (RFC 25/26).
    CurveClient {
        /// The server's long-term public key.
        server_key: PublicKey,
        /// This client's long-term key pair.
        keypair: KeyPair,
    },
    /// CURVE server; every INITIATE becomes an [`Event::AuthRequest`](crate::Event).
    CurveServer {
        /// The server's long-term key pair.
        keypair: KeyPair,
    },
}

impl std::fmt::Debug for MechanismConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Null => f.write_str("Null"),
            Self::PlainClient { username, .. } => f
                .debug_struct("PlainClient")
                .field("username", username)
                .field("password", &format_args!(".."))
                .finish(),
            Self::PlainServer => f.write_str("PlainServer"),
            Self::CurveClient {
                server_key,
                keypair,
            } => f
                .debug_struct("CurveClient")
                .field("server_key", server_key)
                .field("keypair", keypair)
                .finish(),
            Self::CurveServer { keypair } => f
                .debug_struct("CurveServer")
                .field("keypair", keypair)
                .finish(),
        }
    }
}

impl MechanismConfig {
    /// The mechanism name sent in the greeting.
    pub fn name(&self) -> MechanismName {
        match self {
            Self::Null => MechanismName::Null,
            Self::PlainClient { .. } | Self::PlainServer => MechanismName::Plain,
            Self::CurveClient { .. } | Self::CurveServer { .. } => MechanismName::Curve,
        }
    }

    /// Whether this side is the server of its mechanism (NULL has no server).
    pub fn is_server(&self) -> bool {
        matches!(self, Self::PlainServer | Self::CurveServer { .. })
    }
}

/// What each frame of a multipart message after the first is charged against
/// MAXMSGSIZE besides its body: its `Bytes` handle (32 bytes on 64-bit targets)
/// and as much again for the slot the message's frame vector may hold spare
/// while it grows by doubling. Without it, empty frames (2 bytes on the wire,
/// no body) would cost nothing, and a peer could make us hold millions of
/// handles under any MAXMSGSIZE. The first frame is not charged: every message
/// has one, so a single frame is held to MAXMSGSIZE exactly, as libzmq holds it.
pub const FRAME_COST: u64 = 64;

/// A configuration value that cannot be used.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    /// ROUTING_ID must be 1..=255 bytes (empty means "none").
    #[error("routing id is {0} bytes; the limit is 255")]
    RoutingIdTooLong(usize),
    /// PLAIN user names and passwords must be at most 255 bytes.
    #[error("PLAIN {0} is longer than 255 bytes")]
    PlainCredentialTooLong(&'static str),
    /// A metadata property name must be 1..=255 bytes and not a reserved name.
    #[error("metadata property {0:?} is not allowed (1..255 bytes, not Socket-Type or Identity)")]
    BadMetadataName(String),
    /// ZMTP minor versions we can speak are 0 and 1.
    #[error("ZMTP minor version {0} is not supported (use 0 or 1)")]
    BadVersion(u8),
}

/// Settings for the connections of one socket.
///
/// Build it with [`Config::new`] and the `with_*` methods, then share it as an
/// `Arc<Config>` between connections. Defaults are libzmq 4.3's.
#[derive(Clone)]
pub struct Config {
    pub(crate) socket_type: SocketType,
    pub(crate) routing_id: Bytes,
    pub(crate) mechanism: MechanismConfig,
    pub(crate) metadata: Metadata,
    pub(crate) max_msg_size: Option<u64>,
    pub(crate) max_frames: Option<usize>,
    pub(crate) handshake_ivl: Option<Duration>,
    pub(crate) heartbeat_ivl: Option<Duration>,
    pub(crate) heartbeat_timeout: Option<Duration>,
    pub(crate) heartbeat_ttl: Option<Duration>,
    pub(crate) authenticate_null: bool,
    pub(crate) zap_domain: String,
    pub(crate) minor_version: u8,
    pub(crate) random: Arc<dyn Random>,
}

impl Config {
    /// Defaults for a socket of this type: NULL security, no routing id, no size
    /// limit, 30 s handshake limit, no heartbeats, ZMTP 3.1.
    pub fn new(socket_type: SocketType) -> Self {
        Self {
            socket_type,
            routing_id: Bytes::new(),
            mechanism: MechanismConfig::Null,
            metadata: Metadata::new(),
            max_msg_size: None,
            max_frames: None,
            handshake_ivl: Some(Duration::from_secs(30)),
            heartbeat_ivl: None,
            heartbeat_timeout: None,
            heartbeat_ttl: None,
            authenticate_null: false,
            zap_domain: String::new(),
            minor_version: 1,
            random: Arc::new(OsRandom),
        }
    }

    /// Sets the security mechanism (checks PLAIN credential lengths).
    pub fn with_mechanism(mut self, mechanism: MechanismConfig) -> Result<Self, ConfigError> {
        if let MechanismConfig::PlainClient { username, password } = &mechanism {
            if username.len() > 255 {
                return Err(ConfigError::PlainCredentialTooLong("username"));
            }
            if password.len() > 255 {
                return Err(ConfigError::PlainCredentialTooLong("password"));
            }
        }
        self.mechanism = mechanism;
        Ok(self)
    }

    /// Sets the routing id sent as `Identity` (REQ, DEALER and ROUTER send it).
    pub fn with_routing_id(mut self, id: impl Into<Bytes>) -> Result<Self, ConfigError> {
        let id = id.into();
        if id.len() > 255 {
            return Err(ConfigError::RoutingIdTooLong(id.len()));
        }
        self.routing_id = id;
        Ok(self)
    }

    /// Adds an application metadata property sent in READY / INITIATE.
    pub fn with_property(
        mut self,
        name: &str,
        value: impl Into<Bytes>,
    ) -> Result<Self, ConfigError> {
        let reserved = name.eq_ignore_ascii_case(crate::wire::metadata::SOCKET_TYPE)
            || name.eq_ignore_ascii_case(crate::wire::metadata::IDENTITY);
        if reserved
            || !self
                .metadata
                .try_push(Bytes::copy_from_slice(name.as_bytes()), value)
        {
            return Err(ConfigError::BadMetadataName(name.to_owned()));
        }
        Ok(self)
    }

    /// Drops the application property `name` (ignoring ASCII case), so that
    /// setting it again replaces its value instead of sending it twice.
    pub fn without_property(mut self, name: &str) -> Self {
        self.metadata.remove(name);
        self
    }

    /// MAXMSGSIZE: the most a received message may weigh, `None` for no limit.
    /// Each frame is held to it on its header, before anything is allocated, as
    /// libzmq holds each frame; the message as a whole is held to it too, its
    /// bodies plus [`FRAME_COST`] for each frame after the first (libzmq
    /// documents the limit per message but checks it per frame, so it takes a
    /// multipart message of any size).
    pub fn with_max_msg_size(mut self, max: Option<u64>) -> Self {
        self.max_msg_size = max;
        self
    }

    /// The most frames one received message may have; `None` (the default, as
    /// in libzmq) for no limit. MAXMSGSIZE already bounds a message's memory
    /// however many frames it has; this is for a count limit of its own. A
    /// message with more frames ends the connection with
    /// [`ConnectionError::TooManyFrames`](crate::ConnectionError::TooManyFrames).
    pub fn with_max_frames(mut self, max: Option<usize>) -> Self {
        self.max_frames = max;
        self
    }

    /// HANDSHAKE_IVL: how long the greeting and handshake may take. `None` = forever.
    pub fn with_handshake_ivl(mut self, ivl: Option<Duration>) -> Self {
        self.handshake_ivl = ivl;
        self
    }

    /// HEARTBEAT_IVL: send a PING this often once the handshake is done.
    pub fn with_heartbeat_ivl(mut self, ivl: Option<Duration>) -> Self {
        self.heartbeat_ivl = ivl;
        self
    }

    /// HEARTBEAT_TIMEOUT: close if nothing arrives this long after a PING was sent.
    /// Defaults to the heartbeat interval.
    pub fn with_heartbeat_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.heartbeat_timeout = timeout;
        self
    }

    /// HEARTBEAT_TTL: the time-to-live announced in our PINGs. Sent in deciseconds
    /// and capped at 65.5 s, because libzmq receivers overflow above that (#4226).
    pub fn with_heartbeat_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.heartbeat_ttl = ttl;
        self
    }

    /// Ask the owner to authenticate NULL peers too (libzmq does this when
    /// ZAP_DOMAIN is set on a NULL socket).
    pub fn with_null_authentication(mut self, on: bool) -> Self {
        self.authenticate_null = on;
        self
    }

    /// ZAP_DOMAIN, carried in authentication requests.
    pub fn with_zap_domain(mut self, domain: impl Into<String>) -> Self {
        self.zap_domain = domain.into();
        self
    }

    /// Speak ZMTP 3.`minor` (0 or 1; default 1). 3.0 is for testing old-peer paths.
    pub fn with_minor_version(mut self, minor: u8) -> Result<Self, ConfigError> {
        if minor > 1 {
            return Err(ConfigError::BadVersion(minor));
        }
        self.minor_version = minor;
        Ok(self)
    }

    /// The source of randomness for CURVE (defaults to the OS).
    pub fn with_random(mut self, random: Arc<dyn Random>) -> Self {
        self.random = random;
        self
    }

    /// This socket's type.
    pub fn socket_type(&self) -> SocketType {
        self.socket_type
    }

    /// The configured mechanism.
    pub fn mechanism(&self) -> &MechanismConfig {
        &self.mechanism
    }

    /// The source of randomness (also for owners that need jitter or ids).
    pub fn random(&self) -> &Arc<dyn Random> {
        &self.random
    }

    /// The routing id sent to peers.
    pub fn routing_id(&self) -> &Bytes {
        &self.routing_id
    }

    /// The application metadata properties, in the order they were added.
    pub fn properties(&self) -> &Metadata {
        &self.metadata
    }

    /// MAXMSGSIZE as set (`None`: no limit).
    pub fn max_msg_size(&self) -> Option<u64> {
        self.max_msg_size
    }

    /// HANDSHAKE_IVL as set (`None`: no limit).
    pub fn handshake_ivl(&self) -> Option<Duration> {
        self.handshake_ivl
    }

    /// HEARTBEAT_IVL as set (`None`: no heartbeats).
    pub fn heartbeat_ivl(&self) -> Option<Duration> {
        self.heartbeat_ivl
    }

    /// HEARTBEAT_TIMEOUT as set, before the interval stands in for an unset
    /// one: what a getter reports back.
    pub fn heartbeat_timeout_setting(&self) -> Option<Duration> {
        self.heartbeat_timeout
    }

    /// HEARTBEAT_TTL as set.
    pub fn heartbeat_ttl(&self) -> Option<Duration> {
        self.heartbeat_ttl
    }

    /// ZAP_DOMAIN (empty: none).
    pub fn zap_domain(&self) -> &str {
        &self.zap_domain
    }

    /// The metadata this side sends: `Socket-Type`, `Identity` where libzmq sends it,
    /// then the application properties.
    pub(crate) fn local_metadata(&self) -> Metadata {
        let mut md = Metadata::new();
        md.push(
            crate::wire::metadata::SOCKET_TYPE,
            self.socket_type.as_str(),
        );
        if self.socket_type.sends_identity() {
            md.push(crate::wire::metadata::IDENTITY, self.routing_id.clone());
        }
        for (n, v) in self.metadata.iter() {
            md.push(n.clone(), v.clone());
        }
        md
    }

    /// Whether a ZMTP/1.0 or 2.0 peer may be served: only with ZAP off, as libzmq
    /// (`session_base_t::zap_enabled`: a mechanism other than NULL, or a ZAP
    /// domain; NULL authentication is our spelling of the latter).
    pub(crate) fn allows_downgrade(&self) -> bool {
        matches!(self.mechanism, MechanismConfig::Null)
            && self.zap_domain.is_empty()
            && !self.authenticate_null
    }

    /// HEARTBEAT_TIMEOUT as libzmq applies it: unset means the interval, zero
    /// means no timeout.
    pub(crate) fn heartbeat_timeout(&self) -> Option<Duration> {
        match self.heartbeat_timeout {
            None => self.heartbeat_ivl,
            Some(d) if d.is_zero() => None,
            Some(d) => Some(d),
        }
    }

    /// The PING TTL field in deciseconds, capped at 655 (see `with_heartbeat_ttl`).
    pub(crate) fn ping_ttl_ds(&self) -> u16 {
        self.heartbeat_ttl
            .map_or(0, |t| (t.as_millis() / 100).min(655) as u16)
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("socket_type", &self.socket_type)
            .field("routing_id", &self.routing_id)
            .field("mechanism", &self.mechanism)
            .field("max_msg_size", &self.max_msg_size)
            .field("handshake_ivl", &self.handshake_ivl)
            .field("heartbeat_ivl", &self.heartbeat_ivl)
            .field("minor_version", &self.minor_version)
            .finish_non_exhaustive()
    }
}
