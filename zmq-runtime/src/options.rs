//! Options on a live socket: `set_<name>` and `<name>()` for every option the
//! [`Builder`](crate::Builder) has, with the builder's names, and the
//! read-only ZMQ_LAST_ENDPOINT, ZMQ_EVENTS and ZMQ_ROUTING_ID.
//!
//! A change takes effect when libzmq 4.3's would (see
//! [`Engine::set_config`](zmq_patterns::engine::Engine::set_config)):
//! SNDHWM and RCVHWM on every existing connection at once; SNDTIMEO,
//! RCVTIMEO and LINGER for the next call that uses them; the pattern's flags
//! from the next send or receive; security, routing id, heartbeats,
//! properties, MAXMSGSIZE, IMMEDIATE, CONFLATE, the reconnect intervals and
//! the TCP options for endpoints bound or connected afterwards, since libzmq
//! gives every listener and connecter a copy of the options of its time.
//! libzmq 4.3 refuses none of these after `bind` or `connect`, so neither do
//! we; a closed socket refuses every change.

use std::sync::PoisonError;
use std::time::Duration;

use bytes::Bytes;
use zmq_patterns::engine::{Authenticator, EngineConfig};
use zmtp_core::{Config, KeyPair, MechanismConfig, Msg, PublicKey, SecretKey};

use crate::error::Error;
use crate::net::TcpOptions;
use crate::socket::Socket;
use crate::tcp::MAX_DEVICE_NAME;

impl<R> Socket<R> {
    /// Changes the engine's settings through `f`, refused once the socket
    /// is closing.
    pub(crate) fn update(
        &self,
        f: impl FnOnce(&mut EngineConfig) -> Result<(), Error>,
    ) -> Result<(), Error> {
        if self.core().is_closing() {
            return Err(Error::Closed);
        }
        self.core().with(|st| {
            let mut cfg = st.engine.config();
            f(&mut cfg)?;
            st.engine.set_config(cfg).map_err(|_| Error::Closed)
        })
    }

    /// Changes the connection settings through `f`.
    fn update_connection(
        &self,
        f: impl FnOnce(Config) -> Result<Config, Error>,
    ) -> Result<(), Error> {
        self.update(|cfg| {
            cfg.connection = f(cfg.connection.clone())?;
            Ok(())
        })
    }

    /// Reads the engine's settings.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&EngineConfig) -> T) -> T {
        self.core().with(|st| f(&st.engine.config()))
    }

    /// Changes the TCP options for endpoints bound or connected afterwards.
    fn update_tcp(
        &self,
        f: impl FnOnce(&mut TcpOptions) -> Result<(), Error>,
    ) -> Result<(), Error> {
        if self.core().is_closing() {
            return Err(Error::Closed);
        }
        self.core().update_tcp_options(f)
    }

    /// Sets the mechanism or the ZAP domain (`None`: keep it), and with them
    /// whether NULL peers are authenticated (libzmq does so on a NULL socket
    /// with a ZAP domain).
    fn set_security(
        &self,
        mechanism: Option<MechanismConfig>,
        zap_domain: Option<String>,
    ) -> Result<(), Error> {
        self.update_connection(|c| {
            let domain = zap_domain.unwrap_or_else(|| c.zap_domain().to_owned());
            let mechanism = mechanism.unwrap_or_else(|| c.mechanism().clone());
            let null = matches!(mechanism, MechanismConfig::Null);
            Ok(c.with_mechanism(mechanism)?
                .with_null_authentication(null && !domain.is_empty())
                .with_zap_domain(domain))
        })
    }

    // ---- read-only ----

    /// ZMQ_LAST_ENDPOINT: the endpoint of the last `bind` or `connect` that
    /// succeeded, with the port a `*` or 0 resolved to; empty before either.
    pub fn last_endpoint(&self) -> String {
        self.live
            .last_endpoint
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    // ---- pattern options: at once ----

    /// SNDHWM (see [`Builder::sndhwm`](crate::Builder::sndhwm)); applies to
    /// existing connections too, as in libzmq 4.3. Messages already queued
    /// beyond a lowered HWM stay queued.
    pub fn set_sndhwm(&self, n: usize) -> Result<(), Error> {
        self.update(|c| {
            c.options.sndhwm = n;
            Ok(())
        })
    }

    /// SNDHWM.
    pub fn sndhwm(&self) -> usize {
        self.read(|c| c.options.sndhwm)
    }

    /// RCVHWM; applies to existing connections too (a connection stopped at
    /// the old limit is read again when it is raised).
    pub fn set_rcvhwm(&self, n: usize) -> Result<(), Error> {
        self.update(|c| {
            c.options.rcvhwm = n;
            Ok(())
        })
    }

    /// RCVHWM.
    pub fn rcvhwm(&self) -> usize {
        self.read(|c| c.options.rcvhwm)
    }

    /// ROUTER_MANDATORY, from the next send on.
    pub fn set_router_mandatory(&self, on: bool) -> Result<(), Error> {
        self.update(|c| {
            c.options.router_mandatory = on;
            Ok(())
        })
    }

    /// ROUTER_MANDATORY.
    pub fn router_mandatory(&self) -> bool {
        self.read(|c| c.options.router_mandatory)
    }

    /// ROUTER_HANDOVER, for peers that arrive afterwards.
    pub fn set_router_handover(&self, on: bool) -> Result<(), Error> {
        self.update(|c| {
            c.options.router_handover = on;
            Ok(())
        })
    }

    /// ROUTER_HANDOVER.
    pub fn router_handover(&self) -> bool {
        self.read(|c| c.options.router_handover)
    }

    /// CONFLATE, for connections made afterwards (libzmq makes a pipe
    /// conflating or not when it creates it).
    pub fn set_conflate(&self, on: bool) -> Result<(), Error> {
        self.update(|c| {
            c.options.conflate = on;
            Ok(())
        })
    }

    /// CONFLATE.
    pub fn conflate(&self) -> bool {
        self.read(|c| c.options.conflate)
    }

    /// IMMEDIATE, for endpoints connected afterwards.
    pub fn set_immediate(&self, on: bool) -> Result<(), Error> {
        self.update(|c| {
            c.options.immediate = on;
            Ok(())
        })
    }

    /// IMMEDIATE.
    pub fn immediate(&self) -> bool {
        self.read(|c| c.options.immediate)
    }

    /// XPUB_VERBOSE, from the next subscription on.
    pub fn set_xpub_verbose(&self, on: bool) -> Result<(), Error> {
        self.update(|c| {
            c.options.xpub_verbose = on;
            Ok(())
        })
    }

    /// XPUB_VERBOSE.
    pub fn xpub_verbose(&self) -> bool {
        self.read(|c| c.options.xpub_verbose)
    }

    /// XPUB_VERBOSER, from the next (un)subscription on.
    pub fn set_xpub_verboser(&self, on: bool) -> Result<(), Error> {
        self.update(|c| {
            c.options.xpub_verboser = on;
            Ok(())
        })
    }

    /// XPUB_VERBOSER.
    pub fn xpub_verboser(&self) -> bool {
        self.read(|c| c.options.xpub_verboser)
    }

    /// XPUB_NODROP, from the next send on.
    pub fn set_xpub_nodrop(&self, on: bool) -> Result<(), Error> {
        self.update(|c| {
            c.options.xpub_nodrop = on;
            Ok(())
        })
    }

    /// XPUB_NODROP.
    pub fn xpub_nodrop(&self) -> bool {
        self.read(|c| c.options.xpub_nodrop)
    }

    /// XPUB_MANUAL, from the next subscription on.
    pub fn set_xpub_manual(&self, on: bool) -> Result<(), Error> {
        self.update(|c| {
            c.options.xpub_manual = on;
            Ok(())
        })
    }

    /// XPUB_MANUAL.
    pub fn xpub_manual(&self) -> bool {
        self.read(|c| c.options.xpub_manual)
    }

    /// XPUB_WELCOME_MSG, for subscribers that arrive afterwards.
    pub fn set_xpub_welcome_msg(&self, msg: Option<Msg>) -> Result<(), Error> {
        self.update(|c| {
            c.options.xpub_welcome_msg = msg;
            Ok(())
        })
    }

    /// XPUB_WELCOME_MSG.
    pub fn xpub_welcome_msg(&self) -> Option<Msg> {
        self.read(|c| c.options.xpub_welcome_msg.clone())
    }

    /// INVERT_MATCHING, from the next message on.
    pub fn set_invert_matching(&self, on: bool) -> Result<(), Error> {
        self.update(|c| {
            c.options.invert_matching = on;
            Ok(())
        })
    }

    /// INVERT_MATCHING.
    pub fn invert_matching(&self) -> bool {
        self.read(|c| c.options.invert_matching)
    }

    /// REQ_RELAXED, from the next send on.
    pub fn set_req_relaxed(&self, on: bool) -> Result<(), Error> {
        self.update(|c| {
            c.options.req_relaxed = on;
            Ok(())
        })
    }

    /// REQ_RELAXED.
    pub fn req_relaxed(&self) -> bool {
        self.read(|c| c.options.req_relaxed)
    }

    /// REQ_CORRELATE, from the next request on.
    pub fn set_req_correlate(&self, on: bool) -> Result<(), Error> {
        self.update(|c| {
            c.options.req_correlate = on;
            Ok(())
        })
    }

    /// REQ_CORRELATE.
    pub fn req_correlate(&self) -> bool {
        self.read(|c| c.options.req_correlate)
    }

    // ---- timeouts: at once ----

    /// SNDTIMEO, for the blocking sends that start afterwards.
    pub fn set_sndtimeo(&self, t: Option<Duration>) -> Result<(), Error> {
        self.live.sndtimeo.set(t);
        Ok(())
    }

    /// SNDTIMEO.
    pub fn sndtimeo(&self) -> Option<Duration> {
        self.live.sndtimeo.get()
    }

    /// RCVTIMEO, for the blocking receives that start afterwards.
    pub fn set_rcvtimeo(&self, t: Option<Duration>) -> Result<(), Error> {
        self.live.rcvtimeo.set(t);
        Ok(())
    }

    /// RCVTIMEO.
    pub fn rcvtimeo(&self) -> Option<Duration> {
        self.live.rcvtimeo.get()
    }

    /// LINGER, read when the socket is closed (as libzmq reads it).
    pub fn set_linger(&self, linger: Option<Duration>) -> Result<(), Error> {
        self.update(|c| {
            c.linger = linger;
            Ok(())
        })
    }

    /// LINGER.
    pub fn linger(&self) -> Option<Duration> {
        self.read(|c| c.linger)
    }

    // ---- per endpoint: for binds and connects made afterwards ----

    /// RECONNECT_IVL, for endpoints connected afterwards.
    pub fn set_reconnect_ivl(&self, ivl: Option<Duration>) -> Result<(), Error> {
        self.update(|c| {
            c.reconnect_ivl = ivl;
            Ok(())
        })
    }

    /// RECONNECT_IVL.
    pub fn reconnect_ivl(&self) -> Option<Duration> {
        self.read(|c| c.reconnect_ivl)
    }

    /// RECONNECT_IVL_MAX, for endpoints connected afterwards.
    pub fn set_reconnect_ivl_max(&self, ivl: Option<Duration>) -> Result<(), Error> {
        self.update(|c| {
            c.reconnect_ivl_max = ivl;
            Ok(())
        })
    }

    /// RECONNECT_IVL_MAX.
    pub fn reconnect_ivl_max(&self) -> Option<Duration> {
        self.read(|c| c.reconnect_ivl_max)
    }

    /// ROUTING_ID (at most 255 bytes), sent on connections of endpoints
    /// bound or connected afterwards.
    pub fn set_routing_id(&self, id: impl Into<Bytes>) -> Result<(), Error> {
        let id = id.into();
        self.update_connection(|c| Ok(c.with_routing_id(id)?))
    }

    /// ROUTING_ID (empty: none).
    pub fn routing_id(&self) -> Bytes {
        self.read(|c| c.connection.routing_id().clone())
    }

    /// HEARTBEAT_IVL, for endpoints bound or connected afterwards.
    pub fn set_heartbeat_ivl(&self, ivl: Option<Duration>) -> Result<(), Error> {
        self.update_connection(|c| Ok(c.with_heartbeat_ivl(ivl)))
    }

    /// HEARTBEAT_IVL.
    pub fn heartbeat_ivl(&self) -> Option<Duration> {
        self.read(|c| c.connection.heartbeat_ivl())
    }

    /// HEARTBEAT_TIMEOUT, for endpoints bound or connected afterwards.
    pub fn set_heartbeat_timeout(&self, timeout: Option<Duration>) -> Result<(), Error> {
        self.update_connection(|c| Ok(c.with_heartbeat_timeout(timeout)))
    }

    /// HEARTBEAT_TIMEOUT as set (`None`: HEARTBEAT_IVL stands in).
    pub fn heartbeat_timeout(&self) -> Option<Duration> {
        self.read(|c| c.connection.heartbeat_timeout_setting())
    }

    /// HEARTBEAT_TTL, for endpoints bound or connected afterwards.
    pub fn set_heartbeat_ttl(&self, ttl: Option<Duration>) -> Result<(), Error> {
        self.update_connection(|c| Ok(c.with_heartbeat_ttl(ttl)))
    }

    /// HEARTBEAT_TTL.
    pub fn heartbeat_ttl(&self) -> Option<Duration> {
        self.read(|c| c.connection.heartbeat_ttl())
    }

    /// HANDSHAKE_IVL, for endpoints bound or connected afterwards.
    pub fn set_handshake_ivl(&self, ivl: Option<Duration>) -> Result<(), Error> {
        self.update_connection(|c| Ok(c.with_handshake_ivl(ivl)))
    }

    /// HANDSHAKE_IVL.
    pub fn handshake_ivl(&self) -> Option<Duration> {
        self.read(|c| c.connection.handshake_ivl())
    }

    /// MAXMSGSIZE, for endpoints bound or connected afterwards.
    pub fn set_maxmsgsize(&self, max: Option<u64>) -> Result<(), Error> {
        self.update_connection(|c| Ok(c.with_max_msg_size(max)))
    }

    /// MAXMSGSIZE.
    pub fn maxmsgsize(&self) -> Option<u64> {
        self.read(|c| c.connection.max_msg_size())
    }

    /// An application metadata property (ZMQ_METADATA), sent on connections
    /// of endpoints bound or connected afterwards. Setting a name again
    /// replaces its value.
    pub fn set_property(&self, name: &str, value: impl Into<Bytes>) -> Result<(), Error> {
        let value = value.into();
        self.update_connection(|c| Ok(c.without_property(name).with_property(name, value)?))
    }

    /// The value of an application metadata property.
    pub fn property(&self, name: &str) -> Option<Bytes> {
        self.read(|c| c.connection.properties().get(name).cloned())
    }

    /// ZAP_DOMAIN, for endpoints bound or connected afterwards; on a NULL
    /// socket a domain turns authentication on, as in libzmq.
    pub fn set_zap_domain(&self, domain: impl Into<String>) -> Result<(), Error> {
        self.set_security(None, Some(domain.into()))
    }

    /// ZAP_DOMAIN (empty: none).
    pub fn zap_domain(&self) -> String {
        self.read(|c| c.connection.zap_domain().to_owned())
    }

    /// The security mechanism and role, for endpoints bound or connected
    /// afterwards: what PLAIN_SERVER, PLAIN_USERNAME/PASSWORD, CURVE_SERVER
    /// and the CURVE keys set together ([`MechanismConfig::Null`] turns
    /// security off again).
    pub fn set_mechanism(&self, mechanism: MechanismConfig) -> Result<(), Error> {
        self.set_security(Some(mechanism), None)
    }

    /// The security mechanism and role.
    pub fn mechanism(&self) -> MechanismConfig {
        self.read(|c| c.connection.mechanism().clone())
    }

    /// PLAIN_USERNAME and PLAIN_PASSWORD: be a PLAIN client.
    pub fn set_plain_client(
        &self,
        username: impl Into<Bytes>,
        password: impl Into<Bytes>,
    ) -> Result<(), Error> {
        self.set_mechanism(MechanismConfig::PlainClient {
            username: username.into(),
            password: password.into(),
        })
    }

    /// PLAIN_USERNAME (`None` unless a PLAIN client).
    pub fn plain_username(&self) -> Option<Bytes> {
        match self.mechanism() {
            MechanismConfig::PlainClient { username, .. } => Some(username),
            _ => None,
        }
    }

    /// PLAIN_PASSWORD (`None` unless a PLAIN client).
    pub fn plain_password(&self) -> Option<Bytes> {
        match self.mechanism() {
            MechanismConfig::PlainClient { password, .. } => Some(password),
            _ => None,
        }
    }

    /// PLAIN_SERVER: be a PLAIN server.
    pub fn set_plain_server(&self) -> Result<(), Error> {
        self.set_mechanism(MechanismConfig::PlainServer)
    }

    /// PLAIN_SERVER.
    pub fn plain_server(&self) -> bool {
        matches!(self.mechanism(), MechanismConfig::PlainServer)
    }

    /// CURVE_SERVER with CURVE_SECRETKEY: be a CURVE server.
    pub fn set_curve_server(&self, secret: SecretKey) -> Result<(), Error> {
        self.set_mechanism(MechanismConfig::CurveServer {
            keypair: KeyPair::from_secret(secret),
        })
    }

    /// CURVE_SERVER.
    pub fn curve_server(&self) -> bool {
        matches!(self.mechanism(), MechanismConfig::CurveServer { .. })
    }

    /// CURVE_SERVERKEY with CURVE_PUBLICKEY/CURVE_SECRETKEY: be a CURVE
    /// client of the server with that public key.
    pub fn set_curve_client(&self, server_key: PublicKey, keypair: KeyPair) -> Result<(), Error> {
        self.set_mechanism(MechanismConfig::CurveClient {
            server_key,
            keypair,
        })
    }

    /// A CURVE client with a fresh (ephemeral) long-term key pair.
    pub fn set_curve_client_ephemeral(&self, server_key: PublicKey) -> Result<(), Error> {
        self.set_curve_client(server_key, KeyPair::generate())
    }

    /// CURVE_PUBLICKEY: this side's public key (`None` without CURVE).
    pub fn curve_publickey(&self) -> Option<PublicKey> {
        match self.mechanism() {
            MechanismConfig::CurveServer { keypair }
            | MechanismConfig::CurveClient { keypair, .. } => Some(keypair.public),
            _ => None,
        }
    }

    /// CURVE_SERVERKEY (`None` unless a CURVE client).
    pub fn curve_serverkey(&self) -> Option<PublicKey> {
        match self.mechanism() {
            MechanismConfig::CurveClient { server_key, .. } => Some(server_key),
            _ => None,
        }
    }

    /// Decides PLAIN, CURVE (and NULL with a ZAP domain) clients from the
    /// next authentication on (see
    /// [`Builder::authenticator`](crate::Builder::authenticator)).
    pub fn set_authenticator(&self, auth: impl Authenticator + 'static) -> Result<(), Error> {
        if self.core().is_closing() {
            return Err(Error::Closed);
        }
        // The new authenticator keeps the socket's ZAP_ENFORCE_DOMAIN switch.
        let auth = self.core().runtime_auth(Box::new(auth));
        self.core()
            .with(|st| st.engine.set_authenticator(Box::new(auth)));
        Ok(())
    }

    // ---- TCP: for binds and connects made afterwards ----

    /// TCP_KEEPALIVE.
    pub fn set_tcp_keepalive(&self, on: Option<bool>) -> Result<(), Error> {
        self.update_tcp(|t| {
            t.keepalive = on;
            Ok(())
        })
    }

    /// TCP_KEEPALIVE.
    pub fn tcp_keepalive(&self) -> Option<bool> {
        self.core().tcp_options().keepalive
    }

    /// TCP_KEEPALIVE_IDLE, TCP_KEEPALIVE_INTVL and TCP_KEEPALIVE_CNT.
    pub fn set_tcp_keepalive_params(
        &self,
        idle: Option<Duration>,
        intvl: Option<Duration>,
        cnt: Option<u32>,
    ) -> Result<(), Error> {
        self.update_tcp(|t| {
            t.keepalive_idle = idle;
            t.keepalive_intvl = intvl;
            t.keepalive_cnt = cnt;
            Ok(())
        })
    }

    /// TCP_KEEPALIVE_IDLE, TCP_KEEPALIVE_INTVL and TCP_KEEPALIVE_CNT.
    pub fn tcp_keepalive_params(&self) -> (Option<Duration>, Option<Duration>, Option<u32>) {
        let t = self.core().tcp_options();
        (t.keepalive_idle, t.keepalive_intvl, t.keepalive_cnt)
    }

    /// CONNECT_TIMEOUT (see [`Builder::connect_timeout`](crate::Builder::connect_timeout)).
    pub fn set_connect_timeout(&self, t: Option<Duration>) -> Result<(), Error> {
        self.update_tcp(|o| {
            o.connect_timeout = t.filter(|d| !d.is_zero());
            Ok(())
        })
    }

    /// CONNECT_TIMEOUT.
    pub fn connect_timeout(&self) -> Option<Duration> {
        self.core().tcp_options().connect_timeout
    }

    /// TCP_MAXRT (see [`Builder::tcp_maxrt`](crate::Builder::tcp_maxrt)).
    pub fn set_tcp_maxrt(&self, t: Option<Duration>) -> Result<(), Error> {
        self.update_tcp(|o| {
            o.maxrt = t.filter(|d| !d.is_zero());
            Ok(())
        })
    }

    /// TCP_MAXRT.
    pub fn tcp_maxrt(&self) -> Option<Duration> {
        self.core().tcp_options().maxrt
    }

    /// SNDBUF (SO_SNDBUF, bytes; `None`: the OS default).
    pub fn set_sndbuf(&self, bytes: Option<usize>) -> Result<(), Error> {
        self.update_tcp(|o| {
            o.sndbuf = bytes;
            Ok(())
        })
    }

    /// SNDBUF as set.
    pub fn sndbuf(&self) -> Option<usize> {
        self.core().tcp_options().sndbuf
    }

    /// RCVBUF (SO_RCVBUF, bytes; `None`: the OS default).
    pub fn set_rcvbuf(&self, bytes: Option<usize>) -> Result<(), Error> {
        self.update_tcp(|o| {
            o.rcvbuf = bytes;
            Ok(())
        })
    }

    /// RCVBUF as set.
    pub fn rcvbuf(&self) -> Option<usize> {
        self.core().tcp_options().rcvbuf
    }

    /// BACKLOG, for endpoints bound afterwards.
    pub fn set_backlog(&self, n: u32) -> Result<(), Error> {
        self.update_tcp(|o| {
            o.backlog = n;
            Ok(())
        })
    }

    /// BACKLOG.
    pub fn backlog(&self) -> u32 {
        self.core().tcp_options().backlog
    }

    /// IPV6 (see [`Builder::ipv6`](crate::Builder::ipv6)).
    pub fn set_ipv6(&self, on: bool) -> Result<(), Error> {
        self.update_tcp(|o| {
            o.ipv6 = on;
            Ok(())
        })
    }

    /// IPV6.
    pub fn ipv6(&self) -> bool {
        self.core().tcp_options().ipv6
    }

    /// TOS (IP_TOS, or IPV6_TCLASS on IPv6; 0 leaves the OS setting).
    pub fn set_tos(&self, tos: u8) -> Result<(), Error> {
        self.update_tcp(|o| {
            o.tos = tos;
            Ok(())
        })
    }

    /// TOS.
    pub fn tos(&self) -> u8 {
        self.core().tcp_options().tos
    }

    /// BINDTODEVICE (see [`Builder::bindtodevice`](crate::Builder::bindtodevice));
    /// `None` unbinds later sockets again.
    pub fn set_bindtodevice(&self, device: Option<&str>) -> Result<(), Error> {
        let device = device.map(str::to_owned);
        check_device(device.as_deref())?;
        self.update_tcp(|o| {
            o.bindtodevice = device;
            Ok(())
        })
    }

    /// BINDTODEVICE.
    pub fn bindtodevice(&self) -> Option<String> {
        self.core().tcp_options().bindtodevice.clone()
    }
}

/// An interface name SO_BINDTODEVICE can take.
pub(crate) fn check_device(device: Option<&str>) -> Result<(), Error> {
    let Some(d) = device else {
        return Ok(());
    };
    let reason = if d.is_empty() {
        "an empty interface name (use None for no device)".to_owned()
    } else if d.len() > MAX_DEVICE_NAME {
        format!("interface name {d:?} is longer than {MAX_DEVICE_NAME} bytes")
    } else if d.contains(['\0', '/']) || d.chars().any(char::is_whitespace) {
        format!("{d:?} is not an interface name")
    } else {
        return Ok(());
    };
    Err(Error::InvalidOption {
        option: "BINDTODEVICE",
        reason,
    })
}
