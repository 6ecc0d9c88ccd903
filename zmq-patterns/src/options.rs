//! Pattern-level socket options, with libzmq 4.3's defaults.

/// Options that shape the behaviour of a socket's pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// SNDHWM: messages queued per pipe towards a peer; 0 means no limit.
    pub sndhwm: usize,
    /// RCVHWM: messages queued per pipe from a peer; 0 means no limit.
    pub rcvhwm: usize,
    /// SNDHWM in bytes (not a libzmq option): a pipe towards a peer is also
    /// full, as at SNDHWM, while the bodies queued on it hold this many bytes
    /// or more, so that a few huge messages cannot pin unbounded memory
    /// behind a slow peer. A full pipe does what it does at SNDHWM (a send
    /// waits, or PUB and ROUTER drop as libzmq drops at its HWM), so no
    /// message is lost where one would not be at SNDHWM. A message larger
    /// than the limit still goes to a pipe below it. `None` (default): no
    /// limit, as libzmq; what is queued is the application's own.
    pub sndhwm_bytes: Option<usize>,
    /// RCVHWM in bytes (not a libzmq option): a pipe from a peer is also
    /// full while the messages received on it and not yet read hold this
    /// many bytes or more; its stream is not read until the application
    /// catches up (back-pressure: nothing is dropped). A message larger than
    /// the limit still goes to a pipe below it. Default
    /// [`Options::DEFAULT_RCVHWM_BYTES`].
    pub rcvhwm_bytes: Option<usize>,
    /// ROUTER_MANDATORY: unroutable messages are an error instead of dropped, and a
    /// full pipe makes send wait instead of dropping.
    pub router_mandatory: bool,
    /// ROUTER_HANDOVER: a new peer with a routing id already in use takes it over
    /// (the old pipe is terminated) instead of being refused.
    pub router_handover: bool,
    /// CONFLATE: keep only the newest message per pipe (PUSH, PULL, PUB, SUB,
    /// DEALER).
    pub conflate: bool,
    /// IMMEDIATE: queue only to completed connections (applied by the engine).
    pub immediate: bool,
    /// XPUB_VERBOSE: pass every subscription to the XPUB application, not only the
    /// first for a topic.
    pub xpub_verbose: bool,
    /// XPUB_VERBOSER: as XPUB_VERBOSE, and every unsubscription too.
    pub xpub_verboser: bool,
    /// XPUB_NODROP: a full subscriber pipe makes send fail with `WouldBlock`
    /// instead of dropping the message for that subscriber.
    pub xpub_nodrop: bool,
    /// XPUB_MANUAL: subscriptions from peers are not applied; the application
    /// sees every (un)subscription and applies its choice with
    /// [`Pattern::xpub_manual_subscribe`](crate::Pattern::xpub_manual_subscribe) for
    /// the peer of the notification it last received.
    pub xpub_manual: bool,
    /// XPUB_WELCOME_MSG: sent to every new subscriber as it attaches.
    pub xpub_welcome_msg: Option<zmtp_core::Msg>,
    /// INVERT_MATCHING (PUB, XPUB, SUB, XSUB): deliver messages that match no
    /// subscription.
    pub invert_matching: bool,
    /// REQ_RELAXED: a REQ may send again without waiting for the reply.
    pub req_relaxed: bool,
    /// REQ_CORRELATE: a REQ prefixes a request id and accepts only the reply that
    /// echoes it.
    pub req_correlate: bool,
    /// PROBE_ROUTER (ROUTER, DEALER, REQ): every new pipe first carries an empty
    /// message, so a ROUTER peer learns our routing id before we say anything.
    pub probe_router: bool,
    /// ROUTER_NOTIFY (ROUTER): the application receives `[routing id, ""]`
    /// when a peer's handshake completes and when that peer goes away.
    pub router_notify: RouterNotify,
    /// STREAM_NOTIFY (STREAM): `[routing id, ""]` when a raw peer connects and
    /// when it disconnects. On by default, as in libzmq.
    pub stream_notify: bool,
}

/// ROUTER_NOTIFY's flags: which peer events a ROUTER hears of, as
/// `[routing id, ""]` messages. Combine with `|`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RouterNotify(u8);

impl RouterNotify {
    /// No notifications (libzmq's default).
    pub const NONE: Self = Self(0);
    /// ZMQ_NOTIFY_CONNECT: a peer completed its handshake.
    pub const CONNECT: Self = Self(1);
    /// ZMQ_NOTIFY_DISCONNECT: a handshaken peer's connection ended.
    pub const DISCONNECT: Self = Self(2);

    /// The flags from libzmq's integer value; `None` outside 0..=3, which
    /// libzmq refuses with EINVAL.
    pub fn from_bits(bits: i32) -> Option<Self> {
        u8::try_from(bits).ok().filter(|b| *b <= 3).map(Self)
    }

    /// libzmq's integer value.
    pub fn bits(self) -> i32 {
        i32::from(self.0)
    }

    /// Whether every flag of `other` is set.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for RouterNotify {
    type Output = Self;

    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl Options {
    /// The default RCVHWM in bytes, 1 MiB per peer: what a peer can make
    /// the socket hold is bounded by what it sends, not by RCVHWM times
    /// whatever size it likes (MAXMSGSIZE is unlimited by default). At the
    /// default RCVHWM it binds only for messages over 1 KiB; for large ones
    /// it keeps a fast reader's memory small while TCP's own buffers keep
    /// the stream busy. A 64 KiB throughput run peaked at 87-110 MB with
    /// 64 MiB here and 11-12 MB with 4 MiB at the same rate; where the
    /// application reads on another thread than the stream's (tokio's
    /// multi-thread runtime, the blocking runtime), 4 MiB still left the
    /// receiver at 15-20 MB, over libzmq's 17 MB, and 1 MiB at 9.5-11 MB
    /// with no loss of rate (tcp and ipc, 64 KiB and 1 KiB).
    pub const DEFAULT_RCVHWM_BYTES: usize = 1 << 20;
}

impl Default for Options {
    fn default() -> Self {
        Self {
            sndhwm: 1000,
            rcvhwm: 1000,
            sndhwm_bytes: None,
            rcvhwm_bytes: Some(Self::DEFAULT_RCVHWM_BYTES),
            router_mandatory: false,
            router_handover: false,
            conflate: false,
            immediate: false,
            xpub_verbose: false,
            xpub_verboser: false,
            xpub_nodrop: false,
            xpub_manual: false,
            xpub_welcome_msg: None,
            invert_matching: false,
            req_relaxed: false,
            req_correlate: false,
            probe_router: false,
            router_notify: RouterNotify::NONE,
            stream_notify: true,
        }
    }
}
