//! Authentication: the application's [`Authenticator`], or a libzmq-style ZAP
//! handler socket bound at `inproc://zeromq.zap.01`, or libzmq's defaults.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use zmq_patterns::engine::{Authenticator, ConnId, EngineConfig, ZapClient, ZAP_ENDPOINT};
use zmtp_core::{AuthReply, AuthRequest, Config, Credentials, SocketType};

use super::work::Work;
use super::{inproc, Core, CoreShared};
use crate::net::TcpOptions;

/// The decision order of a socket's authentication requests.
pub(crate) struct RuntimeAuth {
    user: Option<Box<dyn Authenticator>>,
    /// ZAP_ENFORCE_DOMAIN, shared with the socket's core so that it can
    /// change while the socket lives (it applies from the next handshake).
    enforce_domain: Arc<AtomicBool>,
}

impl RuntimeAuth {
    pub(crate) fn new(user: Option<Box<dyn Authenticator>>) -> Self {
        Self {
            user,
            enforce_domain: Arc::default(),
        }
    }

    /// ZAP_ENFORCE_DOMAIN from the start.
    pub(crate) fn enforce_domain(self, on: bool) -> Self {
        self.enforce_domain.store(on, Ordering::Relaxed);
        self
    }

    /// The switch the core keeps, to turn ZAP_ENFORCE_DOMAIN on and off later.
    pub(super) fn enforce_switch(&self) -> Arc<AtomicBool> {
        self.enforce_domain.clone()
    }
}

impl Authenticator for RuntimeAuth {
    fn authenticate(&mut self, req: &AuthRequest) -> Option<AuthReply> {
        // An authenticator that defers leaves the request to the ZAP handler.
        if let Some(user) = &mut self.user {
            return user.authenticate(req);
        }
        let enforce = self.enforce_domain.load(Ordering::Relaxed);
        let plain = matches!(req.credentials, Credentials::Plain { .. });
        if enforce && req.domain.is_empty() && !plain {
            // libzmq with ZAP_ENFORCE_DOMAIN asks ZAP only about a domain: a
            // CURVE client without one is encrypted, not authenticated (a
            // NULL one never gets here without a domain).
            return Some(AuthReply::allow());
        }
        if inproc::has_zap_handler() {
            return None;
        }
        if enforce {
            // Where libzmq 4.3 would let the client in without a handler,
            // ZAP_ENFORCE_DOMAIN refuses it (500: the server cannot decide).
            return Some(AuthReply::Deny {
                status: 500,
                text: "ZAP_ENFORCE_DOMAIN is set and no ZAP handler is bound".into(),
            });
        }
        // libzmq without a handler: NULL and CURVE pass, PLAIN needs one.
        Some(zmq_patterns::engine::libzmq_default(req))
    }
}

impl Core {
    /// ZAP_ENFORCE_DOMAIN from the next handshake on (see
    /// [`Builder::zap_enforce_domain`](crate::Builder::zap_enforce_domain)).
    pub fn set_zap_enforce_domain(&self, on: bool) {
        self.0.zap_enforce_domain.store(on, Ordering::Relaxed);
    }

    /// Whether ZAP_ENFORCE_DOMAIN is on.
    pub fn zap_enforce_domain(&self) -> bool {
        self.0.zap_enforce_domain.load(Ordering::Relaxed)
    }

    /// An authenticator for this socket that keeps its ZAP_ENFORCE_DOMAIN
    /// switch, for a live `set_authenticator`.
    pub(crate) fn runtime_auth(&self, user: Box<dyn Authenticator>) -> RuntimeAuth {
        RuntimeAuth {
            user: Some(user),
            enforce_domain: self.0.zap_enforce_domain.clone(),
        }
    }
}

/// A socket's link to the ZAP handler: an internal DEALER connected to
/// `inproc://zeromq.zap.01`, and the requests it has outstanding.
pub(super) struct Bridge {
    pub(super) socket: Core,
    client: ZapClient,
}

impl Bridge {
    fn new(owner: &Core, work: &mut Vec<Work>) -> Self {
        let config = EngineConfig::new(Config::new(SocketType::Dealer));
        let socket = Core::new(
            config,
            owner.0.rt.clone(),
            TcpOptions::default(),
            RuntimeAuth::new(None),
            true,
        );
        let weak_owner = Arc::downgrade(&owner.0);
        let weak_socket = Arc::downgrade(&socket.0);
        let _ = socket.0.hook.set(Box::new(move |work| {
            replies(&weak_owner, &weak_socket, work)
        }));
        socket.with_into(work, |st| {
            // Read from the hook, which runs only when a reply is told of.
            st.looks_again = false;
            let _ = st.engine.connect(ZAP_ENDPOINT);
        });
        Self {
            socket,
            client: ZapClient::new(),
        }
    }
}

/// Sends `req` of `owner`'s connection `conn` to the ZAP handler.
pub(super) fn request(owner: &Core, conn: ConnId, req: AuthRequest, work: &mut Vec<Work>) {
    let deny = |work: &mut Vec<Work>, text: &str| {
        owner.with_into(work, |st| {
            let now = st.now();
            let _ = st.engine.auth_reply(
                now,
                conn,
                req.id,
                AuthReply::Deny {
                    status: 500,
                    text: text.to_owned(),
                },
            );
        });
    };
    if !inproc::has_zap_handler() {
        deny(work, "no ZAP handler is bound");
        return;
    }
    // Twice at most: a bridge whose handler went away (inproc links do not
    // come back) is replaced once by one to the handler bound now.
    for _ in 0..2 {
        let mut created = Vec::new();
        let sent = owner.with_into(work, |st| {
            if st.zap.is_none() && !st.is_finished() {
                st.zap = Some(Bridge::new(owner, &mut created));
            }
            let bridge = st.zap.as_mut()?;
            let msg = bridge.client.request(conn, &req);
            Some((bridge.socket.clone(), msg))
        });
        work.append(&mut created);
        let Some((socket, msg)) = sent else {
            deny(work, "socket closing");
            return;
        };
        if socket.with_into(work, |st| st.engine.send(msg)).is_ok() {
            return;
        }
        // What the old handler still owed is refused; this request is tried
        // again on a fresh bridge.
        let stale = owner.with_into(work, |st| st.zap.take());
        if let Some(mut old) = stale {
            let owed = old.client.take_pending();
            owner.with_into(work, |st| {
                let now = st.now();
                for (c, id) in owed
                    .into_iter()
                    .filter(|&(c, id)| (c, id) != (conn, req.id))
                {
                    let _ = st.engine.auth_reply(
                        now,
                        c,
                        id,
                        AuthReply::Deny {
                            status: 500,
                            text: "the ZAP handler went away".into(),
                        },
                    );
                }
            });
            work.push(Work::Close(old.socket));
        }
    }
    deny(work, "ZAP handler not reachable");
}

/// The ZAP client's hook: hands every reply to the owner's connection.
fn replies(owner: &Weak<CoreShared>, socket: &Weak<CoreShared>, work: &mut Vec<Work>) {
    let (Some(owner), Some(socket)) = (owner.upgrade(), socket.upgrade()) else {
        return;
    };
    let (owner, socket) = (Core(owner), Core(socket));
    let mut msgs = Vec::new();
    socket.with_into(work, |st| {
        while let Ok(m) = st.engine.recv() {
            msgs.push(m);
        }
    });
    if msgs.is_empty() {
        return;
    }
    owner.with_into(work, |st| {
        for msg in msgs {
            let Some((conn, id, reply)) = st.zap.as_mut().and_then(|z| z.client.handle_reply(msg))
            else {
                continue;
            };
            let now = st.now();
            let _ = st.engine.auth_reply(now, conn, id, reply);
        }
    });
}
