//! Both ends of a pairing behind one interface, so each exchange is written
//! once and runs ours-against-libzmq and ours-against-ours alike.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use zmq_runtime::{Error, Msg, SendError, Socket, SocketType};

use crate::peer::Peer;

/// How long an exchange waits for a message that must come.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// One socket of a pairing.
pub trait End {
    /// The socket type.
    fn kind(&self) -> SocketType;
    /// Sends, retrying while the socket cannot take it yet (no peer, or a
    /// ROUTER peer not known yet); panics if it never goes.
    fn send(&mut self, frames: &[&[u8]]);
    /// One attempt that may fail (for refused connections).
    fn try_send(&mut self, frames: &[&[u8]]);
    /// The next message within `timeout`.
    fn recv(&mut self, timeout: Duration) -> Option<Vec<Vec<u8>>>;
    /// Who this is, for messages.
    fn name(&self) -> String;
}

/// Our socket.
pub struct Ours<'a, R>(pub &'a Socket<R>);

impl<R> End for Ours<'_, R> {
    fn kind(&self) -> SocketType {
        self.0.socket_type()
    }

    fn send(&mut self, frames: &[&[u8]]) {
        let deadline = Instant::now() + PATIENCE;
        let mut msg: Msg = frames.iter().map(|f| f.to_vec()).collect();
        loop {
            match self.0.try_send(msg) {
                Ok(()) => return,
                Err(SendError::WouldBlock(m) | SendError::HostUnreachable(m)) => msg = m,
                Err(e) => panic!("our {:?} send failed: {e}", self.kind()),
            }
            assert!(
                Instant::now() < deadline,
                "our {:?} could not send",
                self.kind()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn try_send(&mut self, frames: &[&[u8]]) {
        let msg: Msg = frames.iter().map(|f| f.to_vec()).collect();
        let _ = self.0.try_send(msg);
    }

    fn recv(&mut self, timeout: Duration) -> Option<Vec<Vec<u8>>> {
        match self.0.recv_blocking(Some(timeout)) {
            Ok(m) => Some(m.frames().iter().map(|f| f.to_vec()).collect()),
            // A refused socket fails instead of waiting: nothing came either way.
            Err(Error::Timeout | Error::Refused { .. }) => None,
            Err(e) => panic!("our {:?} recv failed: {e}", self.kind()),
        }
    }

    fn name(&self) -> String {
        format!("our {:?}", self.kind())
    }
}

/// A libzmq socket in the peer process.
pub struct Theirs<'a> {
    /// The peer process hosting the socket, shared with the other ends.
    pub peer: &'a RefCell<Peer>,
    /// The socket's id in the peer.
    pub id: String,
    /// The socket type.
    pub kind: SocketType,
}

impl End for Theirs<'_> {
    fn kind(&self) -> SocketType {
        self.kind
    }

    fn send(&mut self, frames: &[&[u8]]) {
        let sent = self
            .peer
            .borrow_mut()
            .send(&self.id, frames, PATIENCE.as_millis() as u64);
        assert!(sent, "libzmq {:?} could not send", self.kind);
    }

    fn try_send(&mut self, frames: &[&[u8]]) {
        self.peer.borrow_mut().send(&self.id, frames, 0);
    }

    fn recv(&mut self, timeout: Duration) -> Option<Vec<Vec<u8>>> {
        self.peer
            .borrow_mut()
            .recv(&self.id, timeout.as_millis() as u64)
    }

    fn name(&self) -> String {
        format!("libzmq {:?}", self.kind)
    }
}

/// The routing ids of the two sides, so ROUTER envelopes are predictable:
/// the client's.
pub const CLIENT_ID: &[u8] = b"CLI";
/// The server's routing id (see [`CLIENT_ID`]).
pub const SERVER_ID: &[u8] = b"SRV";
/// The topic subscribers subscribe to.
pub const TOPIC: &[u8] = b"t";

fn recv_must(end: &mut dyn End) -> Vec<Vec<u8>> {
    end.recv(PATIENCE)
        .unwrap_or_else(|| panic!("{} received nothing", end.name()))
}

fn frames(v: &[&[u8]]) -> Vec<Vec<u8>> {
    v.iter().map(|f| f.to_vec()).collect()
}

/// Runs the exchange of a pairing: `a` is the first type of the pair (the
/// requester, publisher, pusher), `b` the second.
pub fn exchange(a: &mut dyn End, b: &mut dyn End) {
    use SocketType::*;
    match (a.kind(), b.kind()) {
        (Push, Pull) => push_pull(a, b),
        (Pub, Sub) => pub_sub(a, b),
        (XPub, XSub) => xpub_xsub(a, b),
        _ => request_reply(a, b),
    }
}

fn push_pull(push: &mut dyn End, pull: &mut dyn End) {
    let big = vec![7u8; 70_000];
    push.send(&[b"one"]);
    push.send(&[b"two", b"", &big]);
    assert_eq!(recv_must(pull), frames(&[b"one"]));
    assert_eq!(recv_must(pull), frames(&[b"two", b"", &big]));
}

fn pub_sub(publisher: &mut dyn End, sub: &mut dyn End) {
    // The subscription travels to the publisher on its own time: publish until
    // the subscriber sees one, as every PUB/SUB user does.
    let deadline = Instant::now() + PATIENCE;
    loop {
        publisher.send(&[b"t-1"]);
        if sub.recv(Duration::from_millis(20)).is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} never got a message",
            sub.name()
        );
    }
    publisher.send(&[b"x-filtered"]);
    publisher.send(&[b"t-2", b"more"]);
    loop {
        let m = recv_must(sub);
        assert_ne!(
            m,
            frames(&[b"x-filtered"]),
            "the subscriber's filter let x through"
        );
        if m[0] == b"t-2" {
            assert_eq!(m, frames(&[b"t-2", b"more"]));
            break;
        }
        assert_eq!(m, frames(&[b"t-1"]));
    }
}

fn xpub_xsub(xpub: &mut dyn End, xsub: &mut dyn End) {
    // libzmq's XSUB drops a subscription sent while it has no peer (ours keeps
    // it for the next one): subscribe until the XPUB hears it. XPUB reports
    // only the first subscription to a topic, so the repeats stay silent.
    let deadline = Instant::now() + PATIENCE;
    loop {
        xsub.send(&[b"\x01t"]);
        if let Some(m) = xpub.recv(Duration::from_millis(20)) {
            assert_eq!(m, frames(&[b"\x01t"]));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} never saw the subscription",
            xpub.name()
        );
    }
    xpub.send(&[b"t-data"]);
    assert_eq!(recv_must(xsub), frames(&[b"t-data"]));
}

fn request_reply(client: &mut dyn End, server: &mut dyn End) {
    use SocketType::*;
    let (c, s) = (client.kind(), server.kind());
    let body: &[&[u8]] = &[b"hello", b"x"];
    // What the client sends, and what the server application then sees.
    let (sent, seen): (Vec<Vec<u8>>, Vec<Vec<u8>>) = match (c, s) {
        (Req, Rep) | (Dealer, Dealer) | (Pair, Pair) => (frames(body), frames(body)),
        (Req, Router) => (frames(body), frames(&[CLIENT_ID, b"", b"hello", b"x"])),
        (Dealer, Rep) => (frames(&[b"", b"hello", b"x"]), frames(body)),
        (Dealer, Router) => (frames(body), frames(&[CLIENT_ID, b"hello", b"x"])),
        (Router, Router) => (
            frames(&[SERVER_ID, b"hello", b"x"]),
            frames(&[CLIENT_ID, b"hello", b"x"]),
        ),
        other => panic!("no exchange for {other:?}"),
    };
    let sent_refs: Vec<&[u8]> = sent.iter().map(Vec::as_slice).collect();
    client.send(&sent_refs);
    assert_eq!(
        recv_must(server),
        seen,
        "{} -> {}",
        client.name(),
        server.name()
    );
    // The reply: the envelope back, then the body.
    let reply: Vec<Vec<u8>> = match s {
        Router => {
            let mut r = seen[..seen.len() - 2].to_vec();
            r.push(b"world".to_vec());
            r
        }
        _ => frames(&[b"world"]),
    };
    let reply_refs: Vec<&[u8]> = reply.iter().map(Vec::as_slice).collect();
    server.send(&reply_refs);
    let expect = match (c, s) {
        (Dealer, Rep) => frames(&[b"", b"world"]),
        (Router, Router) => frames(&[SERVER_ID, b"world"]),
        _ => frames(&[b"world"]),
    };
    assert_eq!(
        recv_must(client),
        expect,
        "{} <- {}",
        client.name(),
        server.name()
    );
}

/// One attempt from `a` to `b` over a refused connection: nothing may arrive.
pub fn nothing_passes<'a>(a: &'a mut dyn End, b: &'a mut dyn End) {
    use SocketType::*;
    match (a.kind(), b.kind()) {
        (Router, Router) => {}
        (XPub, XSub) => b.try_send(&[b"\x01t"]),
        (Dealer, Rep) => a.try_send(&[b"", b"hello"]),
        _ => a.try_send(&[b"hello"]),
    }
    let (receiver, other) = match (a.kind(), b.kind()) {
        (XPub, XSub) => (a, b),
        _ => (b, a),
    };
    assert!(
        receiver.recv(Duration::from_millis(200)).is_none(),
        "{} received from {} over a refused connection",
        receiver.name(),
        other.name()
    );
}
