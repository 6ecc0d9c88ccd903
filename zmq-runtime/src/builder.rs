//! Making a socket: the runtime it runs on ([`RuntimeKind`]) and its options,
//! set before it exists, with libzmq 4.3's defaults.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use zmq_patterns::engine::{Authenticator, EngineConfig};
use zmq_patterns::RouterNotify;
use zmtp_core::{Config, KeyPair, MechanismConfig, Msg, PublicKey, SecretKey, SocketType};

use crate::core::{Core, Runtime, RuntimeAuth};
use crate::error::Error;
use crate::net::TcpOptions;
use crate::routing::RoutingOptions;
use crate::socket::Socket;

/// A runtime a socket can be created on, as a type: `Socket<Tokio>`.
pub trait RuntimeKind: Sized + 'static {
    /// The socket type users of this runtime hold (the shared [`Socket`], or a
    /// wrapper with a blocking API).
    type Socket: From<Socket<Self>>;

    /// The runtime to create a socket on (for tokio, the one the caller runs
    /// in).
    fn runtime() -> Result<Arc<dyn Runtime>, Error>;
}

impl<R: RuntimeKind> Socket<R> {
    /// A socket of this type with libzmq's default options.
    pub fn new(kind: SocketType) -> Result<Self, Error> {
        Builder::<R>::new(kind).build_socket()
    }

    /// A builder for a socket with options.
    pub fn builder(kind: SocketType) -> Builder<R> {
        Builder::new(kind)
    }
}

/// Builds a socket of runtime `R`: `Socket::<R>::builder(SocketType::Dealer)
/// .routing_id("a").sndhwm(10).build()`.
///
/// Every option is named after its libzmq counterpart and starts at libzmq's
/// default. Durations that libzmq spells -1 or 0 for "never" are `None` here.
#[must_use]
pub struct Builder<R> {
    /// The engine's and the connection's own defaults, with the infallible
    /// options applied as they are set: no default is restated here.
    pub(crate) engine: EngineConfig,
    // The options below are checked, or depend on each other, so they are
    // applied when the socket is built.
    routing_id: Bytes,
    mechanism: MechanismConfig,
    properties: Vec<(String, Bytes)>,
    zap_domain: String,
    tcp: TcpOptions,
    authenticator: Option<Box<dyn Authenticator>>,
    subscriptions: Vec<Bytes>,
    pub(crate) routing: RoutingOptions,
    zap_enforce_domain: bool,
    pub(crate) sndtimeo: Option<Duration>,
    pub(crate) rcvtimeo: Option<Duration>,
    _runtime: PhantomData<fn() -> R>,
}

impl<R: RuntimeKind> Builder<R> {
    /// libzmq's defaults for a socket of this type.
    pub fn new(kind: SocketType) -> Self {
        Self {
            engine: EngineConfig::new(Config::new(kind)),
            routing_id: Bytes::new(),
            mechanism: MechanismConfig::Null,
            properties: Vec::new(),
            zap_domain: String::new(),
            tcp: TcpOptions::default(),
            authenticator: None,
            subscriptions: Vec::new(),
            routing: RoutingOptions::default(),
            zap_enforce_domain: false,
            sndtimeo: None,
            rcvtimeo: None,
            _runtime: PhantomData,
        }
    }

    /// Creates the socket on `R` (for tokio: the runtime the caller is in).
    pub fn build(self) -> Result<R::Socket, Error> {
        self.build_socket().map(Into::into)
    }

    /// Creates the shared socket type, without the runtime's wrapper.
    pub fn build_socket(self) -> Result<Socket<R>, Error> {
        crate::options::check_device(self.tcp.bindtodevice.as_deref())?;
        let rt = R::runtime()?;
        let mut engine = self.engine;
        self.routing.apply(&mut engine)?;
        if self.zap_enforce_domain
            && self.zap_domain.is_empty()
            && matches!(self.mechanism, MechanismConfig::PlainServer)
        {
            // libzmq aborts on this combination; say why instead.
            return Err(Error::InvalidOption {
                option: "zap_enforce_domain",
                reason: "a PLAIN server that enforces the ZAP domain needs a zap_domain".into(),
            });
        }
        let mut config = engine
            .connection
            .with_mechanism(self.mechanism.clone())?
            .with_routing_id(self.routing_id)?
            // libzmq asks ZAP about NULL peers only when a domain is set.
            .with_null_authentication(
                !self.zap_domain.is_empty() && matches!(self.mechanism, MechanismConfig::Null),
            )
            .with_zap_domain(self.zap_domain);
        for (name, value) in self.properties {
            config = config.with_property(&name, value)?;
        }
        engine.connection = config;
        let core = Core::new(
            engine,
            rt,
            self.tcp,
            RuntimeAuth::new(self.authenticator).enforce_domain(self.zap_enforce_domain),
            false,
        );
        for topic in &self.subscriptions {
            core.with(|st| st.engine.subscribe(topic));
        }
        self.routing.start(&core)?;
        Ok(Socket::from_core(core, self.sndtimeo, self.rcvtimeo))
    }

    /// SNDHWM: messages queued per peer before send waits (or PUB drops); 0 = no
    /// limit. Default 1000.
    pub fn sndhwm(mut self, n: usize) -> Self {
        self.engine.options.sndhwm = n;
        self
    }

    /// RCVHWM: messages queued per peer before the stream stops being read; 0 =
    /// no limit. Default 1000.
    pub fn rcvhwm(mut self, n: usize) -> Self {
        self.engine.options.rcvhwm = n;
        self
    }

    /// ROUTING_ID: sent to peers as `Identity` (at most 255 bytes).
    pub fn routing_id(mut self, id: impl Into<Bytes>) -> Self {
        self.routing_id = id.into();
        self
    }

    /// LINGER: how long closing waits to deliver queued messages; `None` waits
    /// for ever (libzmq's default, -1), `Some(ZERO)` drops them.
    pub fn linger(mut self, linger: Option<Duration>) -> Self {
        self.engine.linger = linger;
        self
    }

    /// RECONNECT_IVL: wait before reconnecting; `None` never reconnects.
    /// Default 100 ms.
    pub fn reconnect_ivl(mut self, ivl: Option<Duration>) -> Self {
        self.engine.reconnect_ivl = ivl;
        self
    }

    /// RECONNECT_IVL_MAX: exponential back-off up to this; `None` (default)
    /// keeps RECONNECT_IVL.
    pub fn reconnect_ivl_max(mut self, ivl: Option<Duration>) -> Self {
        self.engine.reconnect_ivl_max = ivl;
        self
    }

    /// HEARTBEAT_IVL: send PING this often; `None` (default) sends none.
    pub fn heartbeat_ivl(mut self, ivl: Option<Duration>) -> Self {
        self.engine.connection = self.engine.connection.with_heartbeat_ivl(ivl);
        self
    }

    /// HEARTBEAT_TIMEOUT: drop the peer if nothing arrives this long after a
    /// PING. Defaults to HEARTBEAT_IVL.
    pub fn heartbeat_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.engine.connection = self.engine.connection.with_heartbeat_timeout(timeout);
        self
    }

    /// HEARTBEAT_TTL: the time-to-live announced to the peer in PINGs.
    pub fn heartbeat_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.engine.connection = self.engine.connection.with_heartbeat_ttl(ttl);
        self
    }

    /// HANDSHAKE_IVL: the longest a handshake may take; `None` for no limit.
    /// Default 30 s.
    pub fn handshake_ivl(mut self, ivl: Option<Duration>) -> Self {
        self.engine.connection = self.engine.connection.with_handshake_ivl(ivl);
        self
    }

    /// MAXMSGSIZE: a frame, or a multipart message, larger than this ends the
    /// connection; `None` (default) for no limit. A message weighs its bodies
    /// plus [`zmtp_core::FRAME_COST`] for each frame after the first
    /// ([`zmtp_core::Config::with_max_msg_size`]).
    pub fn maxmsgsize(mut self, max: Option<u64>) -> Self {
        self.engine.connection = self.engine.connection.with_max_msg_size(max);
        self
    }

    /// TCP_KEEPALIVE: `Some(true)` turns keep-alive probes on, `Some(false)` off,
    /// `None` (default) leaves the OS setting.
    pub fn tcp_keepalive(mut self, on: Option<bool>) -> Self {
        self.tcp.keepalive = on;
        self
    }

    /// TCP_KEEPALIVE_IDLE, TCP_KEEPALIVE_INTVL and TCP_KEEPALIVE_CNT.
    pub fn tcp_keepalive_params(
        mut self,
        idle: Option<Duration>,
        intvl: Option<Duration>,
        cnt: Option<u32>,
    ) -> Self {
        self.tcp.keepalive_idle = idle;
        self.tcp.keepalive_intvl = intvl;
        self.tcp.keepalive_cnt = cnt;
        self
    }

    /// CONNECT_TIMEOUT: a TCP connect attempt that takes longer is abandoned
    /// and retried after RECONNECT_IVL; `None` (default, libzmq's 0) leaves
    /// it to the OS, which may take minutes against a host that does not
    /// answer.
    pub fn connect_timeout(mut self, t: Option<Duration>) -> Self {
        self.tcp.connect_timeout = t.filter(|d| !d.is_zero());
        self
    }

    /// TCP_MAXRT: how long sent data may go unacknowledged before the
    /// connection is dropped (TCP_USER_TIMEOUT on Linux); `None` (default)
    /// leaves the OS setting.
    pub fn tcp_maxrt(mut self, t: Option<Duration>) -> Self {
        self.tcp.maxrt = t.filter(|d| !d.is_zero());
        self
    }

    /// SNDBUF: the kernel send buffer (SO_SNDBUF) in bytes; `None` (default)
    /// leaves the OS setting.
    pub fn sndbuf(mut self, bytes: Option<usize>) -> Self {
        self.tcp.sndbuf = bytes;
        self
    }

    /// RCVBUF: the kernel receive buffer (SO_RCVBUF) in bytes; `None`
    /// (default) leaves the OS setting.
    pub fn rcvbuf(mut self, bytes: Option<usize>) -> Self {
        self.tcp.rcvbuf = bytes;
        self
    }

    /// BACKLOG: the queue of connections not yet accepted, per listener.
    /// Default 100.
    pub fn backlog(mut self, n: u32) -> Self {
        self.tcp.backlog = n;
        self
    }

    /// IPV6: `tcp://*:port` listens on `[::]` and takes IPv4 clients as well,
    /// and host names may resolve to IPv6 addresses. Default off (IPv4 only,
    /// as in libzmq); literal IPv6 addresses such as `tcp://[::1]:port` work
    /// either way.
    pub fn ipv6(mut self, on: bool) -> Self {
        self.tcp.ipv6 = on;
        self
    }

    /// TOS: the IP type of service (IPV6_TCLASS on IPv6) of every TCP
    /// socket; 0 (default) leaves the OS setting.
    pub fn tos(mut self, tos: u8) -> Self {
        self.tcp.tos = tos;
        self
    }

    /// BINDTODEVICE: bind every TCP socket to this network interface
    /// (SO_BINDTODEVICE, Linux; needs CAP_NET_RAW). A name that cannot be
    /// an interface fails [`build`](Self::build) with
    /// [`Error::InvalidOption`]; one that does not exist fails `bind`, and
    /// every connect attempt.
    pub fn bindtodevice(mut self, device: impl Into<String>) -> Self {
        self.tcp.bindtodevice = Some(device.into());
        self
    }

    /// ZAP_DOMAIN: passed to the authenticator; on a NULL socket it also turns
    /// authentication on, as in libzmq.
    pub fn zap_domain(mut self, domain: impl Into<String>) -> Self {
        self.zap_domain = domain.into();
        self
    }

    /// ZAP_ENFORCE_DOMAIN: with no ZAP handler (and no
    /// [`authenticator`](Self::authenticator)) to ask, refuse clients that
    /// libzmq would let in without one: NULL clients of a socket with a
    /// [`zap_domain`](Self::zap_domain), CURVE clients when a domain is set.
    /// As in libzmq, a CURVE server without a domain then asks no ZAP handler
    /// at all (encryption without authentication), and a PLAIN server needs a
    /// domain. Default off.
    pub fn zap_enforce_domain(mut self, on: bool) -> Self {
        self.zap_enforce_domain = on;
        self
    }

    /// PLAIN_USERNAME and PLAIN_PASSWORD: be a PLAIN client.
    pub fn plain_client(mut self, username: impl Into<Bytes>, password: impl Into<Bytes>) -> Self {
        self.mechanism = MechanismConfig::PlainClient {
            username: username.into(),
            password: password.into(),
        };
        self
    }

    /// PLAIN_SERVER: be a PLAIN server. Clients are decided by the
    /// [`authenticator`](Self::authenticator), else by a ZAP handler; with
    /// neither, every PLAIN client is refused, as in libzmq.
    pub fn plain_server(mut self) -> Self {
        self.mechanism = MechanismConfig::PlainServer;
        self
    }

    /// CURVE_SERVER with CURVE_SECRETKEY: be a CURVE server. Without an
    /// authenticator or ZAP handler every client with a valid handshake is
    /// accepted, as in libzmq.
    pub fn curve_server(mut self, secret: SecretKey) -> Self {
        self.mechanism = MechanismConfig::CurveServer {
            keypair: KeyPair::from_secret(secret),
        };
        self
    }

    /// CURVE_SERVERKEY with CURVE_PUBLICKEY/CURVE_SECRETKEY: be a CURVE client
    /// of the server with that public key.
    pub fn curve_client(mut self, server_key: PublicKey, keypair: KeyPair) -> Self {
        self.mechanism = MechanismConfig::CurveClient {
            server_key,
            keypair,
        };
        self
    }

    /// A CURVE client with a fresh (ephemeral) long-term key pair.
    pub fn curve_client_ephemeral(self, server_key: PublicKey) -> Self {
        self.curve_client(server_key, KeyPair::generate())
    }

    /// Decides PLAIN, CURVE (and NULL with a ZAP domain) clients. A
    /// `None` from it hands the request to a ZAP handler on
    /// `inproc://zeromq.zap.01`.
    ///
    /// It is called while the socket's lock is held, on whichever thread
    /// read the client's handshake: it must decide at once. A decision that
    /// waits for I/O (a database, a directory) belongs in a ZAP handler,
    /// which answers when it is ready while the socket goes on.
    pub fn authenticator(mut self, auth: impl Authenticator + 'static) -> Self {
        self.authenticator = Some(Box::new(auth));
        self
    }

    /// An application metadata property sent to peers in the handshake
    /// (libzmq's ZMQ_METADATA, `X-` names by convention).
    pub fn property(mut self, name: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.properties.push((name.into(), value.into()));
        self
    }

    /// SUBSCRIBE (SUB): a topic prefix to subscribe to from the start.
    pub fn subscribe(mut self, topic: impl Into<Bytes>) -> Self {
        self.subscriptions.push(topic.into());
        self
    }

    /// SNDTIMEO: how long a blocking send waits; `None` (default) for ever.
    pub fn sndtimeo(mut self, t: Option<Duration>) -> Self {
        self.sndtimeo = t;
        self
    }

    /// RCVTIMEO: how long a blocking receive waits; `None` (default) for ever.
    pub fn rcvtimeo(mut self, t: Option<Duration>) -> Self {
        self.rcvtimeo = t;
        self
    }

    /// ROUTER_MANDATORY: unroutable messages are an error, and a full peer makes
    /// send wait, instead of being dropped.
    pub fn router_mandatory(mut self, on: bool) -> Self {
        self.engine.options.router_mandatory = on;
        self
    }

    /// ROUTER_HANDOVER: a new peer with a routing id in use takes it over.
    pub fn router_handover(mut self, on: bool) -> Self {
        self.engine.options.router_handover = on;
        self
    }

    /// CONFLATE: keep only the last message (PUSH, PULL, PUB, SUB, DEALER).
    pub fn conflate(mut self, on: bool) -> Self {
        self.engine.options.conflate = on;
        self
    }

    /// IMMEDIATE: queue messages only to completed connections.
    pub fn immediate(mut self, on: bool) -> Self {
        self.engine.options.immediate = on;
        self
    }

    /// XPUB_VERBOSE: pass every subscription to the application.
    pub fn xpub_verbose(mut self, on: bool) -> Self {
        self.engine.options.xpub_verbose = on;
        self
    }

    /// XPUB_VERBOSER: pass every subscription and unsubscription.
    pub fn xpub_verboser(mut self, on: bool) -> Self {
        self.engine.options.xpub_verboser = on;
        self
    }

    /// XPUB_NODROP: a full subscriber makes send wait instead of dropping.
    pub fn xpub_nodrop(mut self, on: bool) -> Self {
        self.engine.options.xpub_nodrop = on;
        self
    }

    /// XPUB_MANUAL: the application applies subscriptions itself.
    pub fn xpub_manual(mut self, on: bool) -> Self {
        self.engine.options.xpub_manual = on;
        self
    }

    /// XPUB_WELCOME_MSG: sent to every new subscriber.
    pub fn xpub_welcome_msg(mut self, msg: Option<Msg>) -> Self {
        self.engine.options.xpub_welcome_msg = msg;
        self
    }

    /// INVERT_MATCHING: deliver what matches no subscription.
    pub fn invert_matching(mut self, on: bool) -> Self {
        self.engine.options.invert_matching = on;
        self
    }

    /// REQ_RELAXED: a REQ may send again without waiting for a reply.
    pub fn req_relaxed(mut self, on: bool) -> Self {
        self.engine.options.req_relaxed = on;
        self
    }

    /// REQ_CORRELATE: a REQ matches replies to requests by id.
    pub fn req_correlate(mut self, on: bool) -> Self {
        self.engine.options.req_correlate = on;
        self
    }
}

/// The options for sockets that route by peer (`routing.rs` checks and
/// applies them at `build`).
impl<R: RuntimeKind> Builder<R> {
    /// PROBE_ROUTER (ROUTER, DEALER, REQ): each new connection first sends an
    /// empty message, so that a ROUTER peer learns this socket's routing id
    /// before anything else is said. Default off.
    pub fn probe_router(mut self, on: bool) -> Self {
        self.routing.probe_router = Some(on);
        self
    }

    /// ROUTER_NOTIFY (ROUTER; a draft option in libzmq): receive
    /// `[routing id, ""]` when a peer completes its handshake
    /// ([`RouterNotify::CONNECT`]) and when that peer's connection ends
    /// ([`RouterNotify::DISCONNECT`]); combine both with `|`. Default
    /// [`RouterNotify::NONE`].
    pub fn router_notify(mut self, flags: RouterNotify) -> Self {
        self.routing.router_notify = Some(flags);
        self
    }

    /// STREAM_NOTIFY (STREAM): receive `[routing id, ""]` when a raw peer
    /// connects and when it disconnects. Default on, as in libzmq.
    pub fn stream_notify(mut self, on: bool) -> Self {
        self.routing.stream_notify = Some(on);
        self
    }

    /// CONNECT_ROUTING_ID (ROUTER, STREAM): the routing id under which the
    /// peer of the first `connect` is known, instead of the one it announces
    /// (ROUTER) or a generated one (STREAM). Messages can be sent to it at
    /// once; they wait for the connection. Must not be empty.
    pub fn connect_routing_id(mut self, id: impl Into<Bytes>) -> Self {
        self.routing.connect_routing_id = Some(id.into());
        self
    }
}
