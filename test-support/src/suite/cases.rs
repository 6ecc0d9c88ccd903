//! The pairing matrix: every valid socket pairing, each type on our side, our
//! side binding and connecting, over tcp and ipc, with NULL, PLAIN and CURVE,
//! accepted and refused; against libzmq, and against our own sockets.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use zmq_runtime::{
    AllowList, Builder, ConnectionError, KeyPair, Monitor, MonitorEvent, PublicKey, SecretKey,
    Socket, SocketType,
};

use super::ends::{exchange, nothing_passes, End, Ours, Theirs, CLIENT_ID, SERVER_ID, TOPIC};
use super::{build, Env};
use crate::peer::{hex, Peer};

/// The valid pairings of the issue; the first type is the requester,
/// publisher or pusher of the exchange.
pub const PAIRS: [(SocketType, SocketType); 10] = {
    use SocketType::*;
    [
        (Pub, Sub),
        (XPub, XSub),
        (Req, Rep),
        (Req, Router),
        (Dealer, Rep),
        (Dealer, Router),
        (Dealer, Dealer),
        (Router, Router),
        (Push, Pull),
        (Pair, Pair),
    ]
};

/// Where sockets meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// `tcp://127.0.0.1`, a fresh port each time.
    Tcp,
    /// `ipc://`, a fresh path each time.
    Ipc,
    /// `inproc://`, our own sockets only.
    Inproc,
}

/// The security of a case. The binding side is the PLAIN or CURVE server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mech {
    /// No security.
    Null,
    /// PLAIN with the credentials the server allows.
    Plain,
    /// CURVE with the client key the server allows.
    Curve,
    /// PLAIN with a wrong password.
    PlainRefused,
    /// CURVE with a client key the server does not allow.
    CurveRefused,
}

impl Mech {
    fn refused(self) -> bool {
        matches!(self, Self::PlainRefused | Self::CurveRefused)
    }
}

/// zmq_curve(7)'s test keys: the server, the allowed client, and a client
/// the server does not know.
pub struct Keys {
    /// The server's pair.
    pub server: KeyPair,
    /// The client the server allows.
    pub client: KeyPair,
    /// A client the server does not know.
    pub stranger: KeyPair,
}

/// The [`Keys`], parsed from their Z85 secrets.
pub fn keys() -> Keys {
    let pair = |secret: &str| KeyPair::from_secret(secret.parse::<SecretKey>().expect("test key"));
    Keys {
        server: pair("JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"),
        client: pair("D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs"),
        stranger: pair("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    }
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A fresh endpoint to bind on.
pub fn endpoint(t: Transport) -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    match t {
        Transport::Tcp => "tcp://127.0.0.1:*".into(),
        Transport::Ipc => format!("ipc:///tmp/zmqrs-{}-{n}.sock", std::process::id()),
        Transport::Inproc => format!("inproc://case-{n}"),
    }
}

/// Our socket for a case: routing id, subscription, security role.
pub fn ours<E: Env>(kind: SocketType, id: &[u8], mech: Mech, server: bool) -> Socket<E::R> {
    let k = keys();
    let mut b = Builder::<E::R>::new(kind)
        .routing_id(id.to_vec())
        .linger(Some(Duration::from_millis(100)));
    if kind == SocketType::Sub {
        b = b.subscribe(TOPIC);
    }
    // A ROUTER may only address a peer once its handshake is done; MANDATORY
    // makes an early send fail (and be retried) instead of vanishing.
    b = b.router_mandatory(kind == SocketType::Router);
    b = match (mech, server) {
        (Mech::Null, _) => b,
        (Mech::Plain | Mech::PlainRefused, true) => b
            .plain_server()
            .authenticator(AllowList::new().allow_user("admin", "secret")),
        (Mech::Plain, false) => b.plain_client("admin", "secret"),
        (Mech::PlainRefused, false) => b.plain_client("admin", "wrong"),
        (Mech::Curve | Mech::CurveRefused, true) => b
            .curve_server(k.server.secret.clone())
            .authenticator(AllowList::new().allow_key(k.client.public)),
        (Mech::Curve, false) => b.curve_client(k.server.public, k.client),
        (Mech::CurveRefused, false) => b.curve_client(k.server.public, k.stranger),
    };
    build::<E>(b)
}

/// libzmq options for the same case.
pub fn their_opts(kind: SocketType, id: &[u8], mech: Mech, server: bool) -> Vec<String> {
    let k = keys();
    let mut o = vec![format!("routing_id={}", hex(id))];
    if kind == SocketType::Sub {
        o.push(format!("subscribe={}", hex(TOPIC)));
    }
    if kind == SocketType::Router {
        o.push("router_mandatory=1".into());
    }
    let client_keys = |pair: &KeyPair| {
        vec![
            format!("curve_serverkey={}", k.server.public.to_z85()),
            format!("curve_publickey={}", pair.public.to_z85()),
            format!("curve_secretkey={}", pair.secret.to_z85()),
        ]
    };
    o.extend(match (mech, server) {
        (Mech::Null, _) => vec![],
        (Mech::Plain | Mech::PlainRefused, true) => vec!["plain_server=1".into()],
        (Mech::Plain, false) => vec![
            "plain_username=admin".into(),
            "plain_password=secret".into(),
        ],
        (Mech::PlainRefused, false) => {
            vec!["plain_username=admin".into(), "plain_password=wrong".into()]
        }
        (Mech::Curve | Mech::CurveRefused, true) => vec![
            "curve_server=1".into(),
            format!("curve_secretkey={}", k.server.secret.to_z85()),
        ],
        (Mech::Curve, false) => client_keys(&k.client),
        (Mech::CurveRefused, false) => client_keys(&k.stranger),
    });
    o
}

/// Starts a libzmq peer whose ZAP handler allows what our servers allow.
pub fn peer_for(mech: Mech) -> Peer {
    let mut p = Peer::start();
    match mech {
        Mech::Plain | Mech::PlainRefused => {
            p.ok("zap plain admin:secret");
        }
        Mech::Curve | Mech::CurveRefused => {
            p.ok(&format!("zap curve {}", keys().client.public.to_z85()));
        }
        Mech::Null => {}
    }
    p
}

/// Waits for our side to report the refused handshake.
pub fn expect_refused(monitor: &mut Monitor, ours_server: bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while let Ok(ev) =
        monitor.next_blocking(Some(deadline.saturating_duration_since(Instant::now())))
    {
        if let MonitorEvent::HandshakeFailed { error, .. } = &ev {
            let expected = if ours_server {
                matches!(error, ConnectionError::AuthDenied { .. })
            } else {
                matches!(error, ConnectionError::PeerError { .. })
            };
            assert!(expected, "refused with an unexpected error: {error:?}");
            return;
        }
        seen.push(ev);
    }
    panic!("no HandshakeFailed; saw {seen:?}");
}

/// The whole matrix against libzmq, for one transport and mechanism.
pub fn interop<E: Env>(t: Transport, mech: Mech) {
    let peer = RefCell::new(peer_for(mech));
    let mut n = 0;
    for (a, b) in PAIRS {
        for ours_is_a in [true, false] {
            if a == b && !ours_is_a {
                continue;
            }
            for we_bind in [true, false] {
                n += 1;
                let (our_kind, their_kind) = if ours_is_a { (a, b) } else { (b, a) };
                let (our_id, their_id) = if ours_is_a {
                    (CLIENT_ID, SERVER_ID)
                } else {
                    (SERVER_ID, CLIENT_ID)
                };
                let ours = ours::<E>(our_kind, our_id, mech, we_bind);
                let mut monitor = mech.refused().then(|| ours.monitor());
                let id = format!("s{n}");
                peer.borrow_mut().socket(
                    &id,
                    their_kind.as_str(),
                    &their_opts(their_kind, their_id, mech, !we_bind),
                );
                if we_bind {
                    let ep = ours.bind(endpoint(t)).expect("bind").to_string();
                    peer.borrow_mut().connect(&id, &ep);
                } else {
                    let ep = peer.borrow_mut().bind(&id, &endpoint(t));
                    ours.connect(&ep).expect("connect");
                }
                eprintln!("case ours={our_kind:?} theirs={their_kind:?} we_bind={we_bind}");
                let mut o = Ours(&ours);
                let mut th = Theirs {
                    peer: &peer,
                    id: id.clone(),
                    kind: their_kind,
                };
                let (ea, eb): (&mut dyn End, &mut dyn End) = if ours_is_a {
                    (&mut o, &mut th)
                } else {
                    (&mut th, &mut o)
                };
                if let Some(m) = monitor.as_mut() {
                    expect_refused(m, we_bind);
                    nothing_passes(ea, eb);
                } else {
                    exchange(ea, eb);
                }
                peer.borrow_mut().close(&id);
            }
        }
    }
}

/// The matrix between two of our own sockets (the binder is the server).
pub fn same_runtime<E: Env>(t: Transport, mech: Mech) {
    for (a, b) in PAIRS {
        for a_binds in [false, true] {
            let sa = ours::<E>(a, CLIENT_ID, mech, a_binds);
            let sb = ours::<E>(b, SERVER_ID, mech, !a_binds);
            let (binder, connecter) = if a_binds { (&sa, &sb) } else { (&sb, &sa) };
            let mut monitor = mech.refused().then(|| binder.monitor());
            let ep = binder.bind(endpoint(t)).expect("bind").to_string();
            connecter.connect(&ep).expect("connect");
            let (mut ea, mut eb) = (Ours(&sa), Ours(&sb));
            eprintln!("case {a:?} {b:?} a_binds={a_binds} {ep}");
            if let Some(m) = monitor.as_mut() {
                expect_refused(m, true);
                nothing_passes(&mut ea, &mut eb);
            } else {
                exchange(&mut ea, &mut eb);
            }
        }
    }
}

/// PublicKey of the test client, for tests that build their own sockets.
pub fn client_public() -> PublicKey {
    keys().client.public
}
