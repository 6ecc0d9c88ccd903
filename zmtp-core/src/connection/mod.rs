//! One ZMTP connection as a state machine.

pub(crate) mod decoder;
mod greeting;
mod timers;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use self::decoder::{Decoder, Framing, RawFrame};
use self::greeting::{Detected, GreetingExchange};
use self::timers::{Timer, TimerTable};
use crate::config::{Config, FRAME_COST};
use crate::error::{ApiMisuse, ConnectionError, SendError};
use crate::event::{AuthId, AuthReply, Event, PeerInfo};
use crate::mechanism::crypto::{CurveSession, INNER_COMMAND, INNER_MORE};
use crate::mechanism::{Cx, Established, Handshake};
use crate::message::{Frames, Msg};
use crate::properties::Properties;
use crate::protocol::Protocol;
use crate::send_buf::{self, SendBuf};
use crate::wire::command::{Command, RawCommand};
use crate::wire::frame::FrameHeader;
use crate::wire::greeting::{Greeting, MechanismName};
use crate::wire::metadata;

/// Above this many queued bytes, PINGs are not answered (see `on_command`).
const PONG_BACKLOG_LIMIT: usize = 64 * 1024;

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for (the rest of) the peer's greeting.
    Greeting,
    /// Running the security handshake (for a ZMTP/1.0 or 2.0 peer: waiting for
    /// its identity message).
    Handshake,
    /// Handshake done: messages flow.
    Active,
    /// Failed or closed; see [`Connection::error`].
    Closed,
}

/// One ZMTP connection, with no I/O of its own. It speaks ZMTP 3.1 and 3.0,
/// and downgrades to ZMTP/2.0 or 1.0 (NULL only) for a peer that speaks those,
/// as libzmq does; [`PeerInfo::protocol`] says which.
///
/// Feed it what arrives (`handle_input`, `handle_eof`, `handle_timeout`) and what
/// the application wants (`send`, `send_subscribe`, `auth_reply`, `close`); drain
/// what it produces (`poll_transmit`, `poll_event`, `poll_timeout`).
///
/// **Drive contract.** After any `handle_*` call or command, call `poll_transmit`
/// until `None` and write those bytes in order, then `poll_event` until `None`, then
/// re-arm a timer from `poll_timeout`. Instants must not go backwards. Fatal errors
/// are sticky: every later `handle_*` call returns the same [`ConnectionError`];
/// still write out what `poll_transmit` yields (an ERROR, say) before closing.
pub struct Connection {
    config: Arc<Config>,
    phase: Phase,
    error: Option<ConnectionError>,
    exchange: GreetingExchange,
    /// Known once the peer's greeting has shown it.
    protocol: Option<Protocol>,
    /// A ZMTP/1.0 peer that sent no signature (libzmq 2.x), the one case where
    /// libzmq injects a catch-all subscription.
    unversioned: bool,
    /// Messages go out in ZMTP/1.0 framing (a plain flag: `send` tests it once
    /// per message).
    v1_out: bool,
    peer_greeting: Option<Greeting>,
    handshake: Option<Handshake>,
    session: Option<CurveSession>,
    peer: Option<PeerInfo>,
    decoder: Decoder,
    out: SendBuf,
    /// Messages delivered while no other event waited: they come before
    /// everything in `events`, so a receiver can take them all at once
    /// ([`Connection::take_messages`]). A message delivered behind another
    /// event waits in `events`, in order.
    msgs: VecDeque<Msg>,
    /// The bodies' bytes of `msgs` ([`Msg::byte_len`] summed).
    msgs_bytes: usize,
    events: VecDeque<Event>,
    /// Frames of a message still waiting for its last frame.
    partial: Frames,
    /// What `partial` is charged against `msg_budget`: its bodies, plus
    /// `FRAME_COST` for each frame.
    partial_cost: u64,
    /// MAXMSGSIZE plus one `FRAME_COST`, kept here so the per-frame check
    /// reads no `Config`.
    msg_budget: Option<u64>,
    timers: TimerTable,
    address: String,
    /// What every delivered message carries, compiled at the handshake;
    /// `None` before it and for peers older than ZMTP 3 (libzmq attaches no
    /// metadata to their messages).
    properties: Option<Arc<Properties>>,
    /// The latest instant given to any `handle_*` call, for work started by a
    /// command (an auth reply completing the handshake arms heartbeats).
    last_now: Instant,
}

impl Connection {
    /// Creates a connection and queues the first stage of our greeting, the
    /// 10-byte signature; the rest follows as the peer's greeting arrives, as
    /// libzmq stages it (each stage waits only for what it needs, so two peers
    /// staging alike never deadlock). Starts the HANDSHAKE_IVL timer.
    ///
    /// Authentication requests carry an empty address; see
    /// [`Connection::with_peer_address`].
    pub fn new(config: Arc<Config>, now: Instant) -> Self {
        Self::with_peer_address(config, String::new(), now)
    }

    /// [`Connection::new`], for a peer whose address authentication requests
    /// carry (ZAP's "address" field) and received messages report as their
    /// `Peer-Address` property: it is known before any input, and fixed.
    pub fn with_peer_address(
        config: Arc<Config>,
        peer_address: impl Into<String>,
        now: Instant,
    ) -> Self {
        let mut out = SendBuf::default();
        let exchange = GreetingExchange::start(&config, &mut out);
        let mut timers = TimerTable::default();
        timers.arm(Timer::Handshake, now, config.handshake_ivl);
        // Saturated, it is out of reach anyway: no message weighs 2^64 bytes.
        let msg_budget = config.max_msg_size.map(|m| m.saturating_add(FRAME_COST));
        Self {
            decoder: Decoder::new(config.max_msg_size),
            config,
            phase: Phase::Greeting,
            error: None,
            exchange,
            protocol: None,
            unversioned: false,
            v1_out: false,
            peer_greeting: None,
            handshake: None,
            session: None,
            peer: None,
            out,
            msgs: VecDeque::new(),
            msgs_bytes: 0,
            events: VecDeque::new(),
            partial: Frames::new(),
            partial_cost: 0,
            msg_budget,
            timers,
            address: peer_address.into(),
            properties: None,
            last_now: now,
        }
    }

    /// Consumes every whole frame at the front of `buf` and leaves a partial one in
    /// place; the caller only ever appends to `buf`. Message payloads become
    /// slices of `buf`'s memory (no copy). May reserve capacity in `buf`, but never
    /// more than what the peer has actually sent plus 64 KiB.
    pub fn handle_input(
        &mut self,
        now: Instant,
        buf: &mut BytesMut,
    ) -> Result<(), ConnectionError> {
        self.handle_input_up_to(now, buf, usize::MAX).map(drop)
    }

    /// As [`handle_input`](Self::handle_input), but stops after `max_frames`
    /// frames (at least one) and returns `true` when it did: whole frames
    /// may be left in `buf`, to be taken by calling again once the events
    /// are polled.
    ///
    /// What a receiver behind its peer wants: a read of many small messages
    /// then becomes a few short runs of events, each taken while it is still
    /// in the cache, instead of one queue as large as the read.
    pub fn handle_input_up_to(
        &mut self,
        now: Instant,
        buf: &mut BytesMut,
        max_frames: usize,
    ) -> Result<bool, ConnectionError> {
        self.check_open()?;
        self.last_now = self.last_now.max(now);
        let result = self.process_input(now, buf, max_frames.max(1));
        self.fail_on(result)
    }

    /// The peer closed its side of the stream. A partly received message is
    /// dropped, never delivered in part.
    pub fn handle_eof(&mut self, _now: Instant) -> Result<(), ConnectionError> {
        self.check_open()?;
        let awaiting_welcome = self.phase == Phase::Handshake
            && self
                .handshake
                .as_ref()
                .is_some_and(Handshake::awaits_welcome);
        let error = if awaiting_welcome {
            ConnectionError::ClosedAfterHello
        } else {
            ConnectionError::PeerClosed
        };
        self.fail_on(Err(error))
    }

    /// Runs timers due at `now`: handshake timeout, heartbeat PINGs and timeouts.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), ConnectionError> {
        self.check_open()?;
        self.last_now = self.last_now.max(now);
        let result = self.process_timers(now);
        self.fail_on(result)
    }

    /// Queues a message for the peer. Small frames are copied into one batch
    /// buffer; frames above 8 KiB are queued by reference.
    pub fn send(&mut self, msg: Msg) -> Result<(), SendError> {
        self.encode(&msg).map_err(|refuse| refuse(msg))
    }

    /// As [`Connection::send`], from a borrowed message: what a publisher
    /// uses to write one message to many peers without a copy of its handle
    /// for each. The frames are copied or shared just as `send` would; only an
    /// error clones the message, to hand it back.
    pub fn send_ref(&mut self, msg: &Msg) -> Result<(), SendError> {
        self.encode(msg).map_err(|refuse| refuse(msg.clone()))
    }

    /// Whether queuing `msg` copies every frame into the output, so that
    /// the writer keeps no reference to any of its bodies: true for frames
    /// of up to 8 KiB, and for every frame of a CURVE connection (sealed into
    /// the output). The engine uses it to hand such messages back to the
    /// sending thread to drop, instead of dropping them where it writes.
    #[inline]
    pub fn copies(&self, msg: &Msg) -> bool {
        self.session.is_some()
            || msg
                .frames()
                .iter()
                .all(|f| f.len() <= send_buf::COPY_THRESHOLD)
    }

    /// As [`Connection::send_ref`], for a sender that keeps the message
    /// whatever happens (a publisher offering one message to many peers):
    /// false when it was not queued, with nothing cloned to hand back. Why
    /// it was refused is what `send_ref` would have said.
    pub fn try_send_ref(&mut self, msg: &Msg) -> bool {
        self.encode(msg).is_ok()
    }

    fn encode(&mut self, msg: &Msg) -> Result<(), fn(Msg) -> SendError> {
        if msg.is_empty() {
            return Err(|_| SendError::EmptyMessage);
        }
        self.check_sendable()?;
        let last = msg.len() - 1;
        if self.v1_out {
            for (i, frame) in msg.frames().iter().enumerate() {
                self.out.push_frame_v1(i < last, frame);
            }
            return Ok(());
        }
        for (i, frame) in msg.frames().iter().enumerate() {
            let more = i < last;
            match &mut self.session {
                None => self.out.push_frame(more, false, frame),
                Some(session) => {
                    let flags = if more { INNER_MORE } else { 0 };
                    let len = CurveSession::wire_len(frame.len());
                    if let Err(e) = self
                        .out
                        .write(len, |buf| session.encrypt_into(buf, flags, frame))
                    {
                        self.error = Some(e);
                        self.phase = Phase::Closed;
                        return Err(SendError::Closed);
                    }
                }
            }
        }
        Ok(())
    }

    /// Sends a subscription to a publisher: a SUBSCRIBE command to a ZMTP 3.1 peer,
    /// a message `0x01 + topic` to an older one.
    pub fn send_subscribe(&mut self, topic: &[u8]) -> Result<(), SendError> {
        self.send_subscription(true, topic)
    }

    /// Cancels a subscription: CANCEL to a 3.1 peer, `0x00 + topic` to an older one.
    pub fn send_cancel(&mut self, topic: &[u8]) -> Result<(), SendError> {
        self.send_subscription(false, topic)
    }

    /// Answers an [`Event::AuthRequest`]. Allowing continues the handshake;
    /// denying with 400 or 500 queues an ERROR, and the connection then fails with
    /// [`ConnectionError::AuthDenied`]: check [`Connection::error`] after this call
    /// (a 300 denial queues nothing, so no later I/O would tell you), write out
    /// `poll_transmit`, then close.
    pub fn auth_reply(&mut self, id: AuthId, reply: AuthReply) -> Result<(), ApiMisuse> {
        if let AuthReply::Deny { status, .. } = &reply {
            if !AuthReply::is_deny_status(*status) {
                return Err(ApiMisuse::BadAuthStatus(*status));
            }
        }
        let pending = self.handshake.as_ref().and_then(Handshake::pending_auth);
        if self.phase != Phase::Handshake || pending != Some(id) {
            return Err(ApiMisuse::UnknownAuthRequest(id.0));
        }
        let result = self.step_handshake(self.last_now, |hs, cx| hs.handle_auth_reply(reply, cx));
        // The failure is reported by the next handle_* call, and the ERROR bytes
        // are already queued for poll_transmit.
        let _ = self.fail_on(result);
        Ok(())
    }

    /// Stops the connection: nothing more is accepted or sent, but bytes already
    /// queued stay available from `poll_transmit`, so the owner can linger.
    pub fn close(&mut self) {
        if self.phase != Phase::Closed {
            self.phase = Phase::Closed;
            self.error = Some(ConnectionError::LocallyClosed);
            self.partial = Frames::new();
        }
    }

    /// The next chunk of bytes to write, oldest first. Small frames come coalesced
    /// into one chunk; large bodies come as their own chunks, by reference. Collect
    /// several and hand them to one vectored write.
    ///
    /// Written batches are filled again once every chunk of them is dropped;
    /// when this finds the queue empty while it keeps some, it arms a
    /// deadline ([`Connection::poll_timeout`]) at which a stream that filled
    /// none since lets them go.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        let chunk = self.out.poll_transmit();
        if chunk.is_none() && !self.timers.is_set(Timer::Spare) && self.out.holds_spare() {
            // Everything went to the writer, and the queue keeps buffers
            // for the next batches: whether they are still wanted is asked
            // later. The last time seen may be long past (a sender reads
            // nothing): the first look then comes at once and finds the
            // batches just filled, and the next is SPARE_KEEP after it.
            self.timers
                .arm(Timer::Spare, self.last_now, Some(send_buf::SPARE_KEEP));
        }
        chunk
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        match self.pop_msg() {
            Some(m) => Some(Event::Message(m)),
            None => self.events.pop_front(),
        }
    }

    /// The next event if it is a message, which leaves any other event
    /// first in line for [`Connection::poll_event`]: a receiver can take a
    /// run of messages into one queue without matching on each event.
    #[inline]
    pub fn poll_message(&mut self) -> Option<Msg> {
        if let Some(m) = self.pop_msg() {
            return Some(m);
        }
        match self.events.front() {
            Some(Event::Message(_)) => match self.events.pop_front() {
                Some(Event::Message(m)) => Some(m),
                _ => None,
            },
            _ => None,
        }
    }

    /// Moves the messages that wait ahead of every other event to the back
    /// of `into`, all at once, and returns how many there were and their
    /// bodies' bytes ([`Msg::byte_len`] summed). What is left is polled as
    /// before; messages that arrived behind another event are among it.
    ///
    /// A receiver behind its peer decodes hundreds of messages per read:
    /// this hands them over with at most one copy of the queue's slots (none
    /// when `into` is empty: the two queues trade buffers), where
    /// [`Connection::poll_message`] costs a move and a match per message.
    pub fn take_messages(&mut self, into: &mut VecDeque<Msg>) -> (usize, usize) {
        let n = self.msgs.len();
        if into.is_empty() {
            // The whole queue changes hands, and its buffer is kept for the
            // next run.
            std::mem::swap(into, &mut self.msgs);
        } else {
            into.append(&mut self.msgs);
        }
        (n, std::mem::take(&mut self.msgs_bytes))
    }

    fn pop_msg(&mut self) -> Option<Msg> {
        let m = self.msgs.pop_front()?;
        self.msgs_bytes -= m.byte_len();
        Some(m)
    }

    /// Queues a received message behind whatever waits.
    #[inline(always)]
    fn push_msg(&mut self, msg: Msg) {
        if self.events.is_empty() {
            self.msgs_bytes += msg.byte_len();
            self.msgs.push_back(msg);
        } else {
            self.events.push_back(Event::Message(msg));
        }
    }

    /// The earliest deadline at which `handle_timeout` must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.phase == Phase::Closed {
            return None;
        }
        self.timers.next()
    }

    /// Where the connection is in its life.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Whether messages can be sent.
    pub fn is_active(&self) -> bool {
        self.phase == Phase::Active
    }

    /// What the handshake established about the peer (after `HandshakeSucceeded`).
    pub fn peer(&self) -> Option<&PeerInfo> {
        self.peer.as_ref()
    }

    /// The properties every received message carries (see
    /// [`Msg::property`]), known once the handshake is done; `None` before,
    /// and for ZMTP/1.0 and 2.0 peers.
    pub fn properties(&self) -> Option<&Arc<Properties>> {
        self.properties.as_ref()
    }

    /// The error that ended the connection, if any.
    pub fn error(&self) -> Option<&ConnectionError> {
        self.error.as_ref()
    }

    /// Bytes queued for the peer and not yet taken by `poll_transmit`; an owner
    /// stops accepting messages above its own limit (back-pressure).
    pub fn pending_transmit(&self) -> usize {
        self.out.len()
    }

    /// The shared configuration.
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// Whether the application may send now; the error is how to hand the refused
    /// message back.
    fn check_sendable(&self) -> Result<(), fn(Msg) -> SendError> {
        match self.phase {
            Phase::Active => Ok(()),
            Phase::Closed => Err(SendError::Closed),
            Phase::Greeting | Phase::Handshake => Err(SendError::NotReady),
        }
    }

    fn check_open(&self) -> Result<(), ConnectionError> {
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn fail_on<T>(&mut self, result: Result<T, ConnectionError>) -> Result<T, ConnectionError> {
        if let Err(e) = &result {
            self.error = Some(e.clone());
            self.phase = Phase::Closed;
            self.partial = Frames::new();
            self.handshake = None;
        }
        result
    }

    /// Takes at most `max_frames` frames (at least one); true when it
    /// stopped there.
    fn process_input(
        &mut self,
        now: Instant,
        buf: &mut BytesMut,
        max_frames: usize,
    ) -> Result<bool, ConnectionError> {
        if self.phase == Phase::Greeting {
            let Some(detected) = self.exchange.step(buf, &self.config, &mut self.out)? else {
                return Ok(false);
            };
            self.on_greeting(detected)?;
        }
        let mut left = max_frames;
        if self.phase == Phase::Active
            && self.session.is_none()
            && self.decoder.framing == Framing::Flags
        {
            // The common case, a run of plain frames: split off at once.
            if let Some((run, frames)) = self.decoder.split_run(buf, left) {
                for (more, command, body) in decoder::frames_of(&run) {
                    self.timers.stop(Timer::HeartbeatTimeout);
                    self.timers.stop(Timer::PeerTtl);
                    self.on_active_body(more, command, body, now)?;
                    if self.phase != Phase::Active {
                        return Ok(false);
                    }
                }
                left -= frames;
            }
        }
        while left > 0 {
            let Some(frame) = self.decoder.decode(buf)? else {
                return Ok(false);
            };
            left -= 1;
            // Any traffic is proof of life (a PING below may re-arm the TTL).
            self.timers.stop(Timer::HeartbeatTimeout);
            self.timers.stop(Timer::PeerTtl);
            match self.phase {
                Phase::Handshake => self.on_handshake_frame(frame, now)?,
                Phase::Active => self.on_active_frame(frame, now)?,
                Phase::Greeting | Phase::Closed => return Ok(false),
            }
        }
        Ok(true)
    }

    fn on_greeting(&mut self, detected: Detected) -> Result<(), ConnectionError> {
        let greeting = match detected {
            Detected::Zmtp3(greeting) => greeting,
            Detected::Unversioned => {
                self.unversioned = true;
                self.start_legacy(Protocol::Zmtp1);
                return Ok(());
            }
            Detected::Legacy(protocol) => {
                self.start_legacy(protocol);
                return Ok(());
            }
        };
        self.protocol = Some(Protocol::from_revision(greeting.major, greeting.minor));
        let ours = self.config.mechanism.name();
        if greeting.mechanism != ours.padded() {
            return Err(ConnectionError::MechanismMismatch {
                ours,
                peer: greeting.mechanism_text(),
            });
        }
        self.peer_greeting = Some(greeting);
        self.phase = Phase::Handshake;
        self.handshake = Some(Handshake::start(&mut self.cx()));
        Ok(())
    }

    /// ZMTP/1.0 and 2.0 have no handshake beyond the greeting: each side's first
    /// message is its identity. Ours goes at once; the peer's is awaited in
    /// [`Phase::Handshake`] (the engine needs a ROUTER peer's routing id before
    /// it attaches the peer).
    fn start_legacy(&mut self, protocol: Protocol) {
        self.protocol = Some(protocol);
        self.phase = Phase::Handshake;
        if protocol == Protocol::Zmtp1 {
            self.decoder.framing = Framing::V1;
            self.v1_out = true;
        }
        let id = self.config.routing_id.clone();
        if self.unversioned {
            // Our signature already was the header of this message (see
            // `Greeting::signature`): only the body is left to send.
            self.out.write(id.len(), |b| b.extend_from_slice(&id));
        } else if protocol == Protocol::Zmtp1 {
            self.out.push_frame_v1(false, &id);
        } else {
            self.out.push_frame(false, false, &id);
        }
    }

    /// The first frame of a ZMTP/1.0 or 2.0 peer is its identity, whatever its
    /// flags say (libzmq's signature trick sends it with MORE set), as libzmq's
    /// `process_routing_id_msg` takes it.
    fn on_identity(&mut self, frame: RawFrame) -> Result<(), ConnectionError> {
        let protocol = self.protocol.unwrap_or(Protocol::Zmtp2);
        let version = match (protocol, self.unversioned) {
            (Protocol::Zmtp2, _) => (1, 0),
            _ => (0, 0),
        };
        self.peer = Some(PeerInfo {
            protocol,
            version,
            mechanism: MechanismName::Null,
            socket_type: None,
            routing_id: frame.body.freeze(),
            metadata: metadata::Metadata::new(),
            user_id: Bytes::new(),
            auth_metadata: metadata::Metadata::new(),
            curve_key: None,
        });
        self.decoder.handshake = false;
        self.phase = Phase::Active;
        self.timers.stop(Timer::Handshake);
        self.events.push_back(Event::HandshakeSucceeded);
        // A libzmq 2.x subscriber filters on its own side and never subscribes
        // upstream, so a publisher must send it everything (libzmq's
        // `_subscription_required`, set for unversioned peers only).
        if self.unversioned && self.config.socket_type.accepts_subscriptions() {
            self.events.push_back(Event::Subscribe(Bytes::new()));
        }
        Ok(())
    }

    fn on_handshake_frame(&mut self, frame: RawFrame, now: Instant) -> Result<(), ConnectionError> {
        if self.protocol.is_some_and(Protocol::is_legacy) {
            return self.on_identity(frame);
        }
        if !frame.command || self.handshake.is_none() {
            return Err(ConnectionError::DataBeforeHandshake);
        }
        self.step_handshake(now, |hs, cx| hs.handle_command(frame.body, cx))
    }

    /// Runs one step of the handshake (a command, an auth reply); the step that
    /// finishes it makes the connection active.
    fn step_handshake(
        &mut self,
        now: Instant,
        step: impl FnOnce(&mut Handshake, &mut Cx<'_>) -> Result<Option<Established>, ConnectionError>,
    ) -> Result<(), ConnectionError> {
        // Taken out for the step, so the mechanism can borrow the rest of `self`.
        let Some(mut hs) = self.handshake.take() else {
            return Ok(());
        };
        let result = step(&mut hs, &mut self.cx());
        self.handshake = Some(hs);
        if let Some(est) = result? {
            self.establish(est);
            self.start_heartbeats(now);
        }
        Ok(())
    }

    /// What a mechanism may use of the connection while it runs.
    fn cx(&mut self) -> Cx<'_> {
        Cx {
            config: &self.config,
            out: &mut self.out,
            events: &mut self.events,
            address: &self.address,
        }
    }

    fn establish(&mut self, est: Established) {
        let greeting = self
            .peer_greeting
            .unwrap_or_else(|| Greeting::new(1, MechanismName::Null, false));
        let protocol = Protocol::from_revision(greeting.major, greeting.minor);
        let md = est.peer_metadata;
        let socket_type = md
            .get(metadata::SOCKET_TYPE)
            .and_then(|v| crate::SocketType::from_name(v));
        let routing_id = md.get(metadata::IDENTITY).cloned().unwrap_or_default();
        let granted = est
            .authenticated
            .then_some((&est.user_id, &est.auth_metadata));
        let properties = Properties::compile(&self.address, granted, &md);
        self.properties = (!properties.is_empty()).then(|| Arc::new(properties));
        self.peer = Some(PeerInfo {
            protocol,
            version: (greeting.major, greeting.minor),
            mechanism: self.config.mechanism.name(),
            socket_type,
            routing_id,
            metadata: md,
            user_id: est.user_id,
            auth_metadata: est.auth_metadata,
            curve_key: est.curve_key,
        });
        self.session = est.session;
        self.handshake = None;
        self.decoder.handshake = false;
        self.phase = Phase::Active;
        self.timers.stop(Timer::Handshake);
        self.events.push_back(Event::HandshakeSucceeded);
    }

    fn start_heartbeats(&mut self, now: Instant) {
        // PING is ZMTP 3.1: no timer at all for a 3.0 peer (or when we speak 3.0).
        if !self.speaks_v31() {
            return;
        }
        self.timers
            .arm(Timer::HeartbeatSend, now, self.config.heartbeat_ivl);
    }

    /// Whether both sides speak ZMTP 3.1 (we talk our own version to newer peers).
    fn speaks_v31(&self) -> bool {
        self.config.minor_version >= 1 && self.peer.as_ref().is_some_and(PeerInfo::is_v31)
    }

    fn on_active_frame(&mut self, frame: RawFrame, now: Instant) -> Result<(), ConnectionError> {
        // CURVE: every frame is a MESSAGE (libzmq sends it as a data frame; accept
        // either outer form) and MORE/COMMAND come from the inner flags byte.
        let (more, command, body) = match &mut self.session {
            None => (frame.more, frame.command, frame.body.freeze()),
            Some(session) => {
                let (flags, payload) = session.decrypt(frame.body)?;
                (flags & INNER_MORE != 0, flags & INNER_COMMAND != 0, payload)
            }
        };
        self.on_active_body(more, command, body, now)
    }

    /// A frame after the handshake, in the clear: a command, or a part of
    /// a message.
    #[inline]
    fn on_active_body(
        &mut self,
        more: bool,
        command: bool,
        body: Bytes,
        now: Instant,
    ) -> Result<(), ConnectionError> {
        if command {
            // ZMTP/2.0 has no commands: libzmq's session drops such frames.
            if self.protocol == Some(Protocol::Zmtp2) {
                return Ok(());
            }
            return self.on_command(body, now);
        }
        if let Some(budget) = self.msg_budget {
            // The decoder held each frame to MAXMSGSIZE on its header; this holds
            // the message, so what a peer can make us keep is bounded in bytes
            // however many frames it sends. Every frame is charged FRAME_COST
            // against a budget one FRAME_COST above MAXMSGSIZE: the first frame
            // goes free without a branch on which frame this is.
            let cost = self
                .partial_cost
                .saturating_add(body.len() as u64 + FRAME_COST);
            if cost > budget {
                return Err(ConnectionError::MessageTooLarge {
                    size: cost - FRAME_COST,
                    max: budget - FRAME_COST,
                });
            }
            self.partial_cost = cost;
        }
        if let Some(max) = self.config.max_frames {
            if self.partial.len() >= max {
                return Err(ConnectionError::TooManyFrames { max });
            }
        }
        if !more && self.partial.is_empty() {
            // A one-frame message, most of them: its frames are built in
            // place, not pushed onto `partial` and taken back.
            self.partial_cost = 0;
            self.deliver(Frames::from_buf_and_len([body, Bytes::new()], 1));
            return Ok(());
        }
        self.partial.push(body);
        if !more {
            self.partial_cost = 0;
            let frames = std::mem::take(&mut self.partial);
            self.deliver(frames);
        }
        Ok(())
    }

    fn on_command(&mut self, body: Bytes, now: Instant) -> Result<(), ConnectionError> {
        let accepts_subs = self.config.socket_type.accepts_subscriptions();
        // Only the traffic commands are parsed after the handshake; anything else
        // (READY, ERROR, unknown names) is ignored unread, as libzmq ignores it.
        let raw = RawCommand::parse(body)?;
        if !matches!(
            raw.name.as_ref(),
            b"PING" | b"PONG" | b"SUBSCRIBE" | b"CANCEL"
        ) {
            return Ok(());
        }
        match Command::from_raw(raw)? {
            Command::Ping { ttl, context } => {
                if ttl > 0 && !self.timers.is_set(Timer::PeerTtl) {
                    let ttl = Duration::from_millis(u64::from(ttl) * 100);
                    self.timers.arm(Timer::PeerTtl, now, Some(ttl));
                }
                // A peer that streams PINGs without reading our output would grow
                // it without bound; like libzmq (one pending PONG), answer only
                // while the output is moving.
                if self.out.len() < PONG_BACKLOG_LIMIT {
                    self.send_command(&Command::Pong(context))?;
                }
            }
            Command::Subscribe(topic) if accepts_subs => {
                self.events.push_back(Event::Subscribe(topic));
            }
            Command::Cancel(topic) if accepts_subs => {
                self.events.push_back(Event::Cancel(topic));
            }
            // PONG only proves life; subscriptions to non-publishers, READY, ERROR
            // and unknown commands are ignored after the handshake, as libzmq does.
            _ => {}
        }
        Ok(())
    }

    /// Hands a complete message to the application with the connection's
    /// properties, built in place (no extra move of the message: inlined
    /// into the frame loop, which a call here cost 40 instructions per
    /// message in callgrind).
    #[inline(always)]
    fn deliver(&mut self, frames: Frames) {
        let is_sub = |f: &Bytes| matches!(f.first(), Some(0 | 1));
        if self.config.socket_type.accepts_subscriptions() && frames.iter().any(is_sub) {
            return self.deliver_to_publisher(frames);
        }
        let msg = Msg::received(frames, self.properties.clone());
        self.push_msg(msg);
    }

    /// 3.0 peers (and libzmq, from anyone) subscribe with data frames whose
    /// first byte is 1 or 0. As libzmq's XPUB, every frame is examined; the
    /// other frames still reach the application.
    #[cold]
    fn deliver_to_publisher(&mut self, frames: Frames) {
        let mut rest = Frames::new();
        for frame in frames {
            match frame.first() {
                Some(1) => self.events.push_back(Event::Subscribe(frame.slice(1..))),
                Some(0) => self.events.push_back(Event::Cancel(frame.slice(1..))),
                _ => rest.push(frame),
            }
        }
        if !rest.is_empty() {
            let msg = Msg::received(rest, self.properties.clone());
            self.push_msg(msg);
        }
    }

    fn send_subscription(&mut self, subscribe: bool, topic: &[u8]) -> Result<(), SendError> {
        if let Err(refuse) = self.check_sendable() {
            return Err(refuse(Msg::single(Bytes::copy_from_slice(topic))));
        }
        if !self.speaks_v31() {
            let mut frame = Vec::with_capacity(topic.len() + 1);
            frame.push(u8::from(subscribe));
            frame.extend_from_slice(topic);
            return self.send(Msg::single(frame));
        }
        let topic_bytes = Bytes::copy_from_slice(topic);
        let cmd = if subscribe {
            Command::Subscribe(topic_bytes.clone())
        } else {
            Command::Cancel(topic_bytes.clone())
        };
        self.send_command(&cmd)
            .map_err(|_| SendError::Closed(Msg::single(topic_bytes)))
    }

    /// Queues a traffic command, boxed in a MESSAGE with the COMMAND flag under
    /// CURVE.
    fn send_command(&mut self, cmd: &Command) -> Result<(), ConnectionError> {
        match &mut self.session {
            None => self.out.push_command(cmd),
            Some(session) => {
                let mut frame = Vec::new();
                cmd.emit(&mut frame);
                // Strip the frame header: the box carries the command body only.
                let header_len = FrameHeader::parse(&frame).map_or(0, |(_, n)| n);
                let body = &frame[header_len..];
                let len = CurveSession::wire_len(body.len());
                self.out
                    .write(len, |buf| session.encrypt_into(buf, INNER_COMMAND, body))?;
            }
        }
        Ok(())
    }

    fn process_timers(&mut self, now: Instant) -> Result<(), ConnectionError> {
        if self.timers.expired(Timer::Spare, now) {
            if self.out.check_spare() {
                self.timers
                    .arm(Timer::Spare, now, Some(send_buf::SPARE_KEEP));
            } else {
                self.timers.stop(Timer::Spare);
            }
        }
        if self.timers.expired(Timer::Handshake, now) {
            return Err(ConnectionError::HandshakeTimeout);
        }
        if self.timers.expired(Timer::HeartbeatTimeout, now)
            || self.timers.expired(Timer::PeerTtl, now)
        {
            return Err(ConnectionError::HeartbeatTimeout);
        }
        if self.timers.expired(Timer::HeartbeatSend, now) {
            self.timers
                .arm(Timer::HeartbeatSend, now, self.config.heartbeat_ivl);
            if self.speaks_v31() {
                let ttl = self.config.ping_ttl_ds();
                self.send_command(&Command::Ping {
                    ttl,
                    context: Bytes::new(),
                })?;
                if !self.timers.is_set(Timer::HeartbeatTimeout) {
                    let timeout = self.config.heartbeat_timeout();
                    self.timers.arm(Timer::HeartbeatTimeout, now, timeout);
                }
            }
        }
        Ok(())
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("phase", &self.phase)
            .field("error", &self.error)
            .field("peer", &self.peer)
            .field("pending_transmit", &self.out.len())
            .finish_non_exhaustive()
    }
}
