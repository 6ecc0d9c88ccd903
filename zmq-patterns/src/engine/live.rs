//! Options changed on a live engine, taking effect when libzmq 4.3's would.
//!
//! libzmq copies a socket's options into every listener and session it
//! creates, so most options hold for the endpoints bound or connected after
//! the change and not for those already there (their reconnects and accepted
//! streams included). The exceptions, which act at once, are the HWMs (pushed
//! to every existing pipe by `update_pipe_options`), LINGER (read at close),
//! and the pattern's flags, which the socket consults on each call.

use std::sync::Arc;

use super::{Engine, EngineConfig, EngineError};

impl Engine {
    /// The settings in force: what a socket's option getters report, and the
    /// base a setter changes one field of before [`Engine::set_config`].
    pub fn config(&self) -> EngineConfig {
        let (reconnect_ivl, reconnect_ivl_max) = self.connectors.intervals();
        EngineConfig {
            connection: (*self.cfg).clone(),
            options: self.pattern.options().clone(),
            reconnect_ivl,
            reconnect_ivl_max,
            linger: self.linger.linger(),
            max_pending_handshakes: self.max_pending_handshakes,
        }
    }

    /// Applies new settings (of the same socket type):
    ///
    /// - SNDHWM and RCVHWM hold for every pipe at once; a raised RCVHWM lets
    ///   a stream stopped at the old one be read again, a raised SNDHWM lets
    ///   a waiting sender go on. Queued messages beyond a lowered HWM stay.
    /// - CONFLATE holds for pipes made afterwards; the other pattern flags
    ///   from the next call on.
    /// - The connection settings (security, routing id, heartbeats,
    ///   handshake interval, MAXMSGSIZE, properties), IMMEDIATE and the
    ///   reconnect intervals hold for endpoints bound or connected
    ///   afterwards.
    /// - LINGER holds for a `close` still to come.
    /// - The cap on pending handshakes holds from the next accept.
    pub fn set_config(&mut self, config: EngineConfig) -> Result<(), EngineError> {
        let ours = self.cfg.socket_type();
        let given = config.connection.socket_type();
        if ours != given {
            return Err(EngineError::SocketTypeChanged { ours, given });
        }
        self.cfg = Arc::new(config.connection);
        self.connectors
            .set_intervals(config.reconnect_ivl, config.reconnect_ivl_max);
        self.linger.set_linger(config.linger);
        // Checked at each accept: a lowered cap closes no stream already in
        // its handshake, it only refuses new ones until enough finish.
        self.max_pending_handshakes = config.max_pending_handshakes;
        self.pattern.set_options(config.options);
        // Room made by a raised RCVHWM: held streams and inproc links are
        // read again.
        self.streams.resume(&self.pattern, &mut self.actions);
        self.inproc.resume(&self.pattern, &mut self.actions);
        self.flush_dirty();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use zmtp_core::{Config, Msg, SocketType};

    use bytes::Bytes;

    use super::*;
    use crate::engine::{Action, Endpoint};
    use crate::error::SendError;
    use crate::pipe::{PeerMeta, PipeItem};

    // A test reads the clock once to start its virtual timeline.
    #[allow(clippy::disallowed_methods)]
    fn engine(kind: SocketType) -> (Engine, Instant) {
        let now = Instant::now();
        (Engine::new(now, EngineConfig::new(Config::new(kind))), now)
    }

    fn with_sndhwm(e: &Engine, n: usize) -> EngineConfig {
        let mut cfg = e.config();
        cfg.options.sndhwm = n;
        cfg
    }

    /// A PUSH connected to nobody queues up to SNDHWM; raising it makes room
    /// in the same pipe, lowering it keeps what is queued.
    #[test]
    fn sndhwm_applies_to_the_existing_pipe() {
        let (mut e, _) = engine(SocketType::Push);
        e.set_config(with_sndhwm(&e, 2)).unwrap();
        e.connect("tcp://127.0.0.1:1").unwrap();
        let mut sent = 0;
        while e.send(Msg::single("x")).is_ok() {
            sent += 1;
        }
        assert_eq!(sent, 2);
        e.set_config(with_sndhwm(&e, 5)).unwrap();
        assert!(e.can_send());
        while e.send(Msg::single("x")).is_ok() {
            sent += 1;
        }
        assert_eq!(sent, 5);
        e.set_config(with_sndhwm(&e, 1)).unwrap();
        assert!(matches!(
            e.send(Msg::single("x")),
            Err(SendError::WouldBlock(_))
        ));
    }

    /// A peer stopped at RCVHWM is read again as soon as RCVHWM is raised,
    /// before the application receives anything.
    #[test]
    fn raised_rcvhwm_resumes_a_stopped_peer() {
        let (mut e, _) = engine(SocketType::Pull);
        let mut cfg = e.config();
        cfg.options.rcvhwm = 2;
        e.set_config(cfg).unwrap();
        let listener = e.bind("inproc://live").unwrap();
        e.handle_listening(listener, Endpoint::Inproc("live".into()));
        let peer = PeerMeta::new(Some(SocketType::Push), Bytes::new());
        let link = e.handle_inproc_accepted(listener, peer).unwrap();
        while e.poll_action().is_some() {}
        let offer = |e: &mut Engine| e.handle_inproc(link, PipeItem::Message(Msg::single("m")));
        assert!(offer(&mut e).is_ok() && offer(&mut e).is_ok());
        assert!(offer(&mut e).is_err(), "RCVHWM 2 took a third message");
        let mut cfg = e.config();
        cfg.options.rcvhwm = 3;
        e.set_config(cfg).unwrap();
        assert_eq!(e.poll_action(), Some(Action::ResumeRead(link)));
        assert!(offer(&mut e).is_ok());
    }

    /// The connection settings of a connect are those of its time: a later
    /// change of routing id reaches only later connects.
    #[test]
    fn connection_settings_hold_per_endpoint() {
        let (mut e, now) = engine(SocketType::Dealer);
        let first = e.connect("tcp://127.0.0.1:1").unwrap();
        let mut cfg = e.config();
        cfg.connection = cfg.connection.with_routing_id("later").unwrap();
        e.set_config(cfg).unwrap();
        let second = e.connect("tcp://127.0.0.1:2").unwrap();
        assert_eq!(&e.config().connection.routing_id()[..], b"later");
        assert_eq!(e.connectors.config(first).unwrap().routing_id().len(), 0);
        assert_eq!(
            &e.connectors.config(second).unwrap().routing_id()[..],
            b"later"
        );
        let conn = e.handle_connected(now, first, String::new()).unwrap();
        assert!(e.streams.contains(conn));
    }

    /// IMMEDIATE changed after a connect leaves that connect's pipe as it
    /// was: the queued messages still go when the peer comes.
    #[test]
    fn immediate_holds_per_connect() {
        let (mut e, now) = engine(SocketType::Push);
        let id = e.connect("tcp://127.0.0.1:1").unwrap();
        e.send(Msg::single("queued")).unwrap();
        let mut cfg = e.config();
        cfg.options.immediate = true;
        e.set_config(cfg).unwrap();
        e.handle_connected(now, id, String::new()).unwrap();
        let pipe = e.connectors.pipe(id).unwrap();
        assert!(e.streams.pipes().any(|p| p == pipe), "a new pipe was made");
        assert!(e.pattern.has_outbound(pipe));
    }

    /// LINGER set before `close` is the one `close` uses; after, it is
    /// ignored.
    #[test]
    fn linger_is_read_at_close() {
        let (mut e, now) = engine(SocketType::Push);
        let mut cfg = e.config();
        cfg.linger = Some(Duration::from_millis(5));
        e.set_config(cfg).unwrap();
        e.connect("tcp://127.0.0.1:1").unwrap();
        e.send(Msg::single("stuck")).unwrap();
        e.close(now);
        let mut cfg = e.config();
        cfg.linger = None;
        e.set_config(cfg).unwrap();
        assert_eq!(e.poll_timeout(), Some(now + Duration::from_millis(5)));
        while e.poll_action().is_some() {}
        e.handle_timeout(now + Duration::from_millis(5));
        assert!(e.is_closed());
    }

    #[test]
    fn another_socket_type_is_refused() {
        let (mut e, _) = engine(SocketType::Push);
        let other = EngineConfig::new(Config::new(SocketType::Pull));
        assert!(matches!(
            e.set_config(other),
            Err(EngineError::SocketTypeChanged { .. })
        ));
    }
}
