//! Pattern-level socket options, with libzmq 4.3's defaults.

/// Options that shape the behaviour of a socket's pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// SNDHWM: messages queued per pipe towards a peer; 0 means no limit.
    pub sndhwm: usize,
    /// RCVHWM: messages queued per pipe from a peer; 0 means no limit.
    pub rcvhwm: usize,
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
}

impl Default for Options {
    fn default() -> Self {
        Self {
            sndhwm: 1000,
            rcvhwm: 1000,
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
        }
    }
}
