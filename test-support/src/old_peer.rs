//! The raw old-ZMTP peer ([`OLD_PEER_SCRIPT`]): a ZMTP/2.0 (libzmq 3.x) or
//! ZMTP/1.0 (libzmq 2.x) socket made of plain bytes, which libzmq 4 still
//! serves and so must we. It has no socket semantics of its own: a test sends
//! and receives wire frames through it (envelopes and subscriptions written
//! out), and reads back the greeting and identity the other side sent.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use crate::peer::to_text;
use crate::python::{PeerProcess, OLD_PEER_SCRIPT};

/// How long one command may take beyond its own timeout.
const ANSWER: Duration = Duration::from_secs(30);

/// The protocol the old peer speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Zmtp {
    /// RFC 13: no signature, 1.0 framing, identity message first.
    V1,
    /// RFC 15: signature, revision 0x01, socket type, then 2.0 framing.
    V2,
    /// A signature with revision 0x00 and the socket type, then 1.0 framing
    /// (libzmq 4 still reads it as ZMTP/1.0, without the catch-all
    /// subscription it gives an unversioned 1.0 subscriber).
    V1Versioned,
}

impl Zmtp {
    fn arg(self) -> &'static str {
        match self {
            Self::V1 => "1",
            Self::V2 => "2",
            Self::V1Versioned => "1v",
        }
    }

    /// Whether the peer sends a signature and revision (ZMTP/2.0 and the
    /// versioned 1.0), so the other side answers with its socket type.
    pub fn versioned(self) -> bool {
        self != Self::V1
    }

    /// Whether frames use the 1.0 framing (length counting the flags byte).
    pub fn v1_framing(self) -> bool {
        self != Self::V2
    }
}

/// How the old peer is set up.
#[derive(Clone, Debug)]
pub struct OldPeerOpts {
    /// The protocol.
    pub zmtp: Zmtp,
    /// Its socket type as libzmq names it (sent in the ZMTP/2.0 greeting).
    pub kind: String,
    /// Its identity (the routing id a ROUTER on the other side sees).
    pub identity: Vec<u8>,
    /// Send the greeting and identity one byte per write, so the other side
    /// has to reassemble them.
    pub dribble: bool,
    /// ZMTP/2.0: send the whole greeting and the identity at once, before
    /// reading the other side's signature (libzmq 3.2 stages them).
    pub eager: bool,
}

/// What the old peer saw of the other side's handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handshake {
    /// `ready` (both greetings and identities exchanged), `closed` or
    /// `waiting`.
    pub state: String,
    /// The other side's greeting bytes: versioned, the signature, revision
    /// and socket type (12 bytes); ZMTP/1.0, the header of its identity
    /// message.
    pub greeting: Vec<u8>,
    /// The identity body the other side sent.
    pub identity: Vec<u8>,
}

/// The outcome of a receive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    /// A whole message, frame by frame.
    Msg(Vec<Vec<u8>>),
    /// Nothing within the timeout.
    Timeout,
    /// The other side closed the connection and everything was read.
    Closed,
}

/// The process hosting old peers ([`OLD_PEER_SCRIPT`]); killed when the
/// last [`OldPeer`] and handle are gone. One host serves a whole table of
/// cases, so the interpreter starts once.
pub struct OldPeerHost {
    process: RefCell<PeerProcess>,
    next: Cell<u32>,
}

impl OldPeerHost {
    /// Starts a host; panics with the fix when python3 cannot run.
    pub fn start() -> Rc<Self> {
        let host = Self {
            process: RefCell::new(PeerProcess::spawn_script(OLD_PEER_SCRIPT, &[])),
            next: Cell::new(0),
        };
        let first = host.read();
        assert_eq!(
            first,
            "READY",
            "the old peer host did not start{}",
            host.diag()
        );
        Rc::new(host)
    }

    fn read(&self) -> String {
        let process = self.process.borrow();
        process.line_within(ANSWER).unwrap_or_else(|_| {
            panic!(
                "the old peer did not answer within {ANSWER:?}{}",
                process.diag()
            )
        })
    }

    fn cmd(&self, line: &str) -> String {
        self.process.borrow_mut().write_line(line);
        self.read()
    }

    fn diag(&self) -> String {
        self.process.borrow().diag()
    }

    fn new_peer(&self, opts: &OldPeerOpts, role: &str, ep: &str) -> (String, String) {
        let n = self.next.get();
        self.next.set(n + 1);
        let id = format!("p{n}");
        let identity = to_text(&[&opts.identity]);
        let mut line = format!(
            "new {id} --zmtp {} --type {} --identity {identity} {role} {ep}",
            opts.zmtp.arg(),
            opts.kind
        );
        if opts.dribble {
            line.push_str(" --dribble");
        }
        if opts.eager {
            line.push_str(" --eager");
        }
        let answer = self.cmd(&line);
        (id, answer)
    }
}

/// One old peer in a host; closed (listener and connection) on drop.
pub struct OldPeer {
    host: Rc<OldPeerHost>,
    id: String,
    endpoint: String,
}

impl OldPeer {
    /// Starts a peer in a host of its own, listening on `ep`
    /// (`tcp://127.0.0.1:0` or `ipc://...`); it serves the first connection
    /// and counts the others.
    pub fn bind(opts: &OldPeerOpts, ep: &str) -> Self {
        Self::bind_in(&OldPeerHost::start(), opts, ep)
    }

    /// Starts a peer in a host of its own, connected to `ep`.
    pub fn connect(opts: &OldPeerOpts, ep: &str) -> Self {
        Self::connect_in(&OldPeerHost::start(), opts, ep)
    }

    /// As [`bind`](Self::bind), in `host`.
    pub fn bind_in(host: &Rc<OldPeerHost>, opts: &OldPeerOpts, ep: &str) -> Self {
        let (id, answer) = host.new_peer(opts, "--bind", ep);
        let endpoint = answer
            .strip_prefix("ENDPOINT ")
            .unwrap_or_else(|| panic!("old peer did not bind {ep}: {answer}{}", host.diag()))
            .to_owned();
        Self {
            host: Rc::clone(host),
            id,
            endpoint,
        }
    }

    /// As [`connect`](Self::connect), in `host`.
    pub fn connect_in(host: &Rc<OldPeerHost>, opts: &OldPeerOpts, ep: &str) -> Self {
        let (id, answer) = host.new_peer(opts, "--connect", ep);
        assert_eq!(
            answer,
            "READY",
            "old peer did not connect to {ep}{}",
            host.diag()
        );
        Self {
            host: Rc::clone(host),
            id,
            endpoint: ep.to_owned(),
        }
    }

    /// The endpoint it listens on or connected to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn cmd(&mut self, line: &str) -> String {
        let (cmd, rest) = line.split_once(' ').unwrap_or((line, ""));
        self.host.cmd(&format!("{cmd} {} {rest}", self.id))
    }

    /// Waits up to `ms` for the handshake to finish (or the connection to
    /// close) and reports what the other side sent.
    pub fn handshake(&mut self, ms: u64) -> Handshake {
        let answer = self.cmd(&format!("peer {ms}"));
        let parts: Vec<&str> = answer.split(' ').collect();
        match parts.as_slice() {
            ["PEER", state, greeting, identity] => Handshake {
                state: (*state).to_owned(),
                greeting: from_hex(greeting),
                identity: from_hex(identity),
            },
            _ => panic!("old peer: peer -> {answer}{}", self.diag()),
        }
    }

    /// Sends a message once the handshake is done; false if the connection
    /// is closed.
    pub fn send(&mut self, frames: &[&[u8]]) -> bool {
        self.sent(&format!("send {}", to_text(frames)))
    }

    /// Sends a message given as the peer's text (`*N` for N pattern bytes).
    pub fn send_text(&mut self, text: &str) -> bool {
        self.sent(&format!("send {text}"))
    }

    /// Writes raw bytes after the handshake (a frame header of the test's
    /// own making); false if the connection is closed.
    pub fn send_raw(&mut self, bytes: &[u8]) -> bool {
        self.sent(&format!("raw {}", crate::peer::hex(bytes)))
    }

    fn sent(&mut self, line: &str) -> bool {
        let answer = self.cmd(line);
        match answer.as_str() {
            "SENT" => true,
            "CLOSED" => false,
            other => panic!("old peer: {line:.40} -> {other}{}", self.diag()),
        }
    }

    /// The next message within `ms`.
    pub fn recv(&mut self, ms: u64) -> Received {
        let answer = self.cmd(&format!("recv {ms}"));
        match answer.as_str() {
            "TIMEOUT" => Received::Timeout,
            "CLOSED" => Received::Closed,
            _ => match answer.strip_prefix("MSG ") {
                Some(text) => Received::Msg(text.split(',').map(from_hex).collect()),
                None => panic!("old peer: recv -> {answer}{}", self.diag()),
            },
        }
    }

    /// Whether the other side closed the connection within `ms`.
    pub fn closed_within(&mut self, ms: u64) -> bool {
        self.cmd(&format!("closed {ms}")) == "CLOSED"
    }

    /// Connections accepted (or made) so far: a refused side that
    /// reconnects shows here.
    pub fn connections(&mut self) -> u32 {
        let answer = self.cmd("conns");
        answer
            .strip_prefix("CONNS ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("old peer: conns -> {answer}"))
    }

    /// What the other side sent that an old peer would not accept (commands,
    /// unknown flags, huge lengths); empty when all was well.
    pub fn errors(&mut self) -> Vec<String> {
        let answer = self.cmd("errors");
        let rest = answer
            .strip_prefix("ERRORS")
            .unwrap_or_else(|| panic!("old peer: errors -> {answer}"))
            .trim();
        rest.split(';')
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The host's stderr and this peer's id, for failure messages.
    pub fn diag(&self) -> String {
        format!("\n  old peer {}{}", self.id, self.host.diag())
    }
}

impl Drop for OldPeer {
    fn drop(&mut self) {
        // Never panics (this runs while a failed case unwinds): a host that
        // is gone has closed everything anyway.
        let mut process = self.host.process.borrow_mut();
        if process.try_write_line(&format!("close {}", self.id)) {
            let _ = process.line_within(ANSWER);
        }
    }
}

fn from_hex(text: &str) -> Vec<u8> {
    if text == "-" {
        return Vec::new();
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex from the old peer"))
        .collect()
}

/// The 10-byte signature libzmq 4 (and a ZMTP/2.0 peer) sends first: 0xFF,
/// `len(identity) + 1` as a big-endian u64, 0x7F. To a ZMTP/1.0 peer it is
/// the header of an identity message with flags 0x7F.
pub fn signature(identity_len: usize) -> Vec<u8> {
    let mut s = vec![0xFF];
    s.extend_from_slice(&(identity_len as u64 + 1).to_be_bytes());
    s.push(0x7F);
    s
}

/// The ZMTP/2.0 socket-type byte of a libzmq type name.
pub fn type_byte(kind: &str) -> u8 {
    const NAMES: [&str; 11] = [
        "PAIR", "PUB", "SUB", "REQ", "REP", "DEALER", "ROUTER", "PULL", "PUSH", "XPUB", "XSUB",
    ];
    NAMES
        .iter()
        .position(|n| *n == kind)
        .unwrap_or_else(|| panic!("no ZMTP/2.0 socket type {kind}")) as u8
}
