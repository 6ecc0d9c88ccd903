//! Faults against libzmq: peers killed mid-handshake, mid-message and
//! mid-multipart; a peer that stops reading; connection-reset storms;
//! endpoints bound and unbound in a loop; libzmq restarted again and again
//! under a PUSH with sequence numbers; and a protocol error after the
//! handshake, which ends the connection for good, as in libzmq.
//!
//! libzmq processes that must die at a chosen moment are forked by
//! [`FAULT_PEER_SCRIPT`] and SIGKILLed; cuts at an exact byte are made by raw
//! TCP peers written here (RST through SO_LINGER 0).

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use zmq_runtime::{Builder, Error, Monitor, MonitorEvent, Msg, SendError, Socket, SocketType};

use super::ends::PATIENCE;
use super::{build, Env};
use crate::peer::Peer;
use crate::python::{PeerProcess, FAULT_PEER_SCRIPT};

/// The zygote of [`FAULT_PEER_SCRIPT`]; its children print on the same
/// stdout, so lines that are not the answer awaited are kept for later.
struct Zygote {
    process: PeerProcess,
    pending: VecDeque<String>,
}

impl Zygote {
    fn start() -> Self {
        let mut z = Self {
            process: PeerProcess::spawn_script(FAULT_PEER_SCRIPT, &[]),
            pending: VecDeque::new(),
        };
        assert_eq!(
            z.read(),
            "READY",
            "fault peer did not start{}",
            z.process.diag()
        );
        z
    }

    fn read(&mut self) -> String {
        let within = PATIENCE;
        self.process
            .line_within(within)
            .unwrap_or_else(|_| panic!("fault peer silent for {within:?}{}", self.process.diag()))
    }

    /// The next line that is not an answer to a command.
    fn next(&mut self) -> String {
        match self.pending.pop_front() {
            Some(line) => line,
            None => self.read(),
        }
    }

    /// Forks a child with `cmd` and returns its pid.
    fn fork(&mut self, cmd: &str) -> u32 {
        self.process.write_line(cmd);
        loop {
            let line = self.read();
            if let Some(pid) = line.strip_prefix("PID ") {
                return pid.parse().expect("pid");
            }
            assert!(!line.starts_with("ERR"), "fault peer `{cmd}`: {line}");
            self.pending.push_back(line);
        }
    }

    /// Waits for the line `what pid` (BOUND, PUSHED).
    fn expect(&mut self, what: &str, pid: u32) {
        let want = format!("{what} {pid}");
        loop {
            let line = self.next();
            if line == want {
                return;
            }
            assert!(
                line.starts_with("M "),
                "fault peer: `{line}` while waiting for `{want}`{}",
                self.process.diag()
            );
        }
    }
}

fn kill9(pid: u32) {
    let ok = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -KILL {pid}");
}

fn first_frame(m: &Msg) -> &[u8] {
    &m.frames()[0]
}

/// Waits for the first event `pick` accepts; panics with what was seen.
fn wait_for(m: &mut Monitor, what: &str, pick: impl Fn(&MonitorEvent) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    loop {
        match m.next_blocking(Some(deadline.saturating_duration_since(Instant::now()))) {
            Ok(e) if pick(&e) => return,
            Ok(e) => seen.push(e),
            Err(why) => panic!("no {what} event ({why}); saw {seen:?}"),
        }
    }
}

// --- raw ZMTP 3.0 bytes, for cuts at an exact place ---------------------------

/// A ZMTP 3.0 NULL greeting.
fn greeting(as_server: bool) -> Vec<u8> {
    let mut g = vec![0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0x7F, 3, 0];
    g.extend_from_slice(b"NULL");
    g.resize(32, 0);
    g.push(u8::from(as_server));
    g.resize(64, 0);
    g
}

/// A short READY command naming `socket_type`.
fn ready(socket_type: &str) -> Vec<u8> {
    let mut body = vec![5];
    body.extend_from_slice(b"READY");
    body.push(11);
    body.extend_from_slice(b"Socket-Type");
    body.extend_from_slice(&(socket_type.len() as u32).to_be_bytes());
    body.extend_from_slice(socket_type.as_bytes());
    let mut f = vec![0x04, body.len() as u8];
    f.extend(body);
    f
}

/// A short message frame.
fn frame(more: bool, data: &[u8]) -> Vec<u8> {
    let mut f = vec![u8::from(more), data.len() as u8];
    f.extend_from_slice(data);
    f
}

fn tcp_addr(ep: &str) -> &str {
    ep.strip_prefix("tcp://").expect("tcp endpoint")
}

/// Closes `s` with an RST (SO_LINGER 0) or a FIN.
fn cut(s: TcpStream, rst: bool) {
    if rst {
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .expect("SO_LINGER 0");
    }
    drop(s);
}

/// Reads the server's greeting and READY (a NULL handshake's whole answer).
fn read_handshake(s: &mut TcpStream) {
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut g = [0u8; 66];
    s.read_exact(&mut g)
        .expect("peer greeting and READY header");
    let mut body = vec![0u8; usize::from(g[65])];
    s.read_exact(&mut body).expect("peer READY");
}

/// Where a raw PUSH peer is cut.
#[derive(Clone, Copy, Debug)]
enum CutAt {
    Greeting,
    Ready,
    Message,
    Multipart,
}

/// Raw PUSH peers cut (FIN and RST) inside the greeting, inside READY, inside
/// a frame and between the parts of a multipart message, then libzmq PUSHes
/// SIGKILLed while they stream large single-part and multipart messages: our
/// PULL delivers only whole messages, in order, and goes on serving libzmq.
pub fn killed_mid_message<E: Env>() {
    let pull = build::<E>(
        Builder::new(SocketType::Pull)
            .linger(Some(Duration::ZERO))
            .rcvhwm(4),
    );
    let ep = pull.bind("tcp://127.0.0.1:*").unwrap().to_string();
    let mut n = 0u32;
    for rst in [false, true] {
        for at in [
            CutAt::Greeting,
            CutAt::Ready,
            CutAt::Message,
            CutAt::Multipart,
        ] {
            n += 1;
            let mut s = TcpStream::connect(tcp_addr(&ep)).unwrap();
            let mut hello = greeting(false);
            match at {
                CutAt::Greeting => hello.truncate(30),
                CutAt::Ready => hello.extend_from_slice(&ready("PUSH")[..9]),
                CutAt::Message | CutAt::Multipart => hello.extend(ready("PUSH")),
            }
            s.write_all(&hello).unwrap();
            if matches!(at, CutAt::Message | CutAt::Multipart) {
                read_handshake(&mut s);
                let whole = format!("whole {n}");
                s.write_all(&frame(false, whole.as_bytes())).unwrap();
                // Delivered before the cut: an RST may discard unread bytes.
                let got = pull.recv_blocking(Some(PATIENCE)).unwrap();
                assert_eq!(first_frame(&got), whole.as_bytes(), "{at:?} rst={rst}");
                let partial = match at {
                    CutAt::Message => {
                        let mut f = vec![0u8, 100];
                        f.extend_from_slice(&[7u8; 10]);
                        f
                    }
                    _ => [frame(true, b"part 1"), frame(true, b"part 2")].concat(),
                };
                s.write_all(&partial).unwrap();
            }
            cut(s, rst);
        }
    }

    let mut z = Zygote::start();
    let mut peer = Peer::start();
    for parts in [1, 3] {
        killed_streaming::<E>(&pull, &ep, &mut z, &mut peer, parts);
    }
}

/// A libzmq PUSH streaming messages of `parts` frames of 256 KiB is
/// SIGKILLed while it writes: what our PULL delivers is whole and in order,
/// and a libzmq peer connecting afterwards is served.
fn killed_streaming<E: Env>(
    pull: &Socket<E::R>,
    ep: &str,
    z: &mut Zygote,
    peer: &mut Peer,
    parts: usize,
) {
    const SIZE: usize = 256 * 1024;
    let pid = z.fork(&format!("push {ep} 40 {SIZE} {parts}"));
    let first = pull.recv_blocking(Some(PATIENCE)).unwrap();
    kill9(pid);
    let mut next = 0u64;
    let mut check = |m: &Msg| {
        assert_eq!(
            m.frames().len(),
            parts,
            "a cut multipart message was delivered"
        );
        let seq = u64::from_be_bytes(m.frames()[0][..8].try_into().unwrap());
        for f in m.frames() {
            assert_eq!(f.len(), SIZE, "a cut message was delivered");
            assert_eq!(f[..8], seq.to_be_bytes(), "frames of two messages mixed");
            assert!(
                f[8..].iter().all(|&b| b == seq as u8),
                "message {seq} corrupted"
            );
        }
        assert_eq!(seq, next, "lost or reordered before the kill");
        next += 1;
    };
    check(&first);
    let id = format!("after{parts}");
    peer.socket(&id, "PUSH", &[]);
    peer.connect(&id, ep);
    assert!(peer.send(&id, &[b"after"], 5000));
    // Fair-queued: whole messages of the killed peer may still come after.
    let mut after = false;
    while !after {
        let m = pull
            .recv_blocking(Some(PATIENCE))
            .expect("libzmq's message after the kill");
        after = first_frame(&m) == b"after";
        if !after {
            check(&m);
        }
    }
    while let Ok(m) = pull.recv_blocking(Some(Duration::from_millis(100))) {
        check(&m);
    }
    assert!(next < 40, "the peer was killed after it sent everything");
    peer.close(&id);
}

/// A libzmq PULL that stops reading: once its RCVHWM, the kernel buffers
/// and our SNDHWM are full, our PUSH refuses more and what it holds stays
/// at SNDHWM messages however long the sender keeps trying; every message
/// arrives, in order, when the peer reads again.
pub fn stalled_reader<E: Env>() {
    const SIZE: usize = 64 * 1024;
    const HWM: usize = 10;
    let mut peer = Peer::start();
    peer.socket("p", "PULL", &[format!("rcvhwm={HWM}")]);
    let ep = peer.bind("p", "tcp://127.0.0.1:*");
    let push = build::<E>(
        Builder::new(SocketType::Push)
            .sndhwm(HWM)
            .linger(Some(Duration::ZERO)),
    );
    push.connect(&ep).unwrap();
    let msg = |i: usize| {
        let mut v = vec![(i % 251) as u8; SIZE];
        v[..8].copy_from_slice(&(i as u64).to_be_bytes());
        Msg::single(v)
    };
    let mut sent = 0usize;
    let mut idle_since = Instant::now();
    while idle_since.elapsed() < Duration::from_millis(300) {
        match push.try_send(msg(sent)) {
            Ok(()) => {
                sent += 1;
                idle_since = Instant::now();
            }
            Err(SendError::WouldBlock(_)) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => panic!("{e}"),
        }
        assert!(sent < 100_000, "send never blocked");
    }
    let full = push.queued();
    assert!(
        full.out_messages <= HWM && full.out_bytes <= HWM * SIZE,
        "{full:?} held, more than SNDHWM {HWM}"
    );
    for _ in 0..200 {
        assert!(matches!(
            push.try_send(msg(sent)),
            Err(SendError::WouldBlock(_))
        ));
    }
    assert!(matches!(
        push.send_blocking(msg(sent), Some(Duration::from_millis(100))),
        Err(Error::Timeout)
    ));
    assert_eq!(push.queued(), full, "the sender grew while blocked");
    let got = peer.recv_many("p", sent, 20_000);
    assert_eq!(got.len(), sent, "messages lost under back-pressure");
    for (i, m) in got.iter().enumerate() {
        assert_eq!(m[0][..8], (i as u64).to_be_bytes(), "reordered at {i}");
    }
    assert_eq!(push.queued().out_messages, 0);
}

/// Connection-reset storms on both sides: 120 raw peers reset our listener
/// (on connect, mid-greeting, after the handshake with a message); our
/// connecting PUSH is reset 40 times by a listener that accepts and aborts.
/// Afterwards both sockets serve libzmq, and the message queued through the
/// storm arrives exactly once.
pub fn reset_storm<E: Env>() {
    let pull = build::<E>(Builder::new(SocketType::Pull).linger(Some(Duration::ZERO)));
    let ep = pull.bind("tcp://127.0.0.1:*").unwrap().to_string();
    for i in 0..120 {
        let mut s = TcpStream::connect(tcp_addr(&ep)).unwrap();
        match i % 3 {
            0 => {}
            1 => s.write_all(&greeting(false)[..20]).unwrap(),
            _ => {
                s.write_all(&[greeting(false), ready("PUSH"), frame(false, b"m")].concat())
                    .unwrap();
            }
        }
        cut(s, true);
    }
    let mut peer = Peer::start();
    peer.socket("a", "PUSH", &[]);
    peer.connect("a", &ep);
    assert!(peer.send("a", &[b"after"], 5000));
    loop {
        let m = pull
            .recv_blocking(Some(PATIENCE))
            .expect("libzmq after the storm");
        match first_frame(&m) {
            b"after" => break,
            b"m" => {}
            other => panic!("unexpected {other:?}"),
        }
    }

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let push = build::<E>(
        Builder::new(SocketType::Push)
            .linger(Some(Duration::ZERO))
            .reconnect_ivl(Some(Duration::from_millis(5)))
            .reconnect_ivl_max(Some(Duration::from_millis(5))),
    );
    let mut m = push.monitor();
    push.connect(format!("tcp://{addr}")).unwrap();
    push.try_send("through the storm").unwrap();
    for _ in 0..40 {
        let (s, _) = listener.accept().unwrap();
        cut(s, true);
    }
    drop(listener);
    peer.socket("b", "PULL", &[]);
    peer.bind("b", &format!("tcp://{addr}"));
    wait_for(&mut m, "HandshakeSucceeded", |e| {
        matches!(e, MonitorEvent::HandshakeSucceeded { .. })
    });
    let got = peer.recv_many("b", 2, 1000);
    assert_eq!(got, [vec![b"through the storm".to_vec()]]);
}

/// Our PULL binds and unbinds the same TCP port 30 times while a libzmq
/// PUSH keeps connecting to it: unbinding closes the connections it accepted
/// (as in libzmq), each rebinding is reached again, each message arrives once
/// and in order.
pub fn bind_unbind_loop<E: Env>() {
    let pull = build::<E>(Builder::new(SocketType::Pull).linger(Some(Duration::ZERO)));
    let ep = pull.bind("tcp://127.0.0.1:*").unwrap().to_string();
    pull.unbind(&ep).unwrap();
    let mut m = pull.monitor();
    let mut peer = Peer::start();
    peer.socket("p", "PUSH", &["reconnect_ivl=5".into()]);
    peer.connect("p", &ep);
    for i in 0..30u8 {
        // The port may still be held for a moment by the listener just closed.
        let deadline = Instant::now() + PATIENCE;
        while let Err(e) = pull.bind(&ep) {
            assert!(Instant::now() < deadline, "rebinding {ep}: {e}");
            std::thread::sleep(Duration::from_millis(5));
        }
        // libzmq loses what it sends into a connection it has not yet seen
        // closed, so the message waits for the new one.
        wait_for(&mut m, "HandshakeSucceeded", |e| {
            matches!(e, MonitorEvent::HandshakeSucceeded { .. })
        });
        assert!(peer.send("p", &[&[i]], 5000));
        let m = pull
            .recv_blocking(Some(PATIENCE))
            .expect("message after rebinding");
        assert_eq!(first_frame(&m), [i], "round {i}");
        pull.unbind(&ep).unwrap();
    }
    assert!(pull.unbind(&ep).is_err(), "{ep} unbound twice");
}

/// `rounds` times, libzmq's PULL is SIGKILLed and a new process binds the same
/// port while our PUSH reconnects, with sequence numbers sent all along: while
/// connected, right before the kill (in flight, may be lost) and while the
/// peer is away (queued, must arrive). Nothing is duplicated or reordered, and
/// everything sent after a reconnect or while disconnected is delivered.
pub fn libzmq_restarts<E: Env>(rounds: u32) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ep = format!("tcp://127.0.0.1:{port}");
    let push = build::<E>(
        Builder::new(SocketType::Push)
            .linger(Some(Duration::ZERO))
            .reconnect_ivl(Some(Duration::from_millis(5)))
            .reconnect_ivl_max(Some(Duration::from_millis(5))),
    );
    let mut m = push.monitor();
    push.connect(&ep).unwrap();
    let mut z = Zygote::start();
    let mut seq = 0u64;
    let mut must = std::collections::BTreeSet::new();
    let mut got: Vec<u64> = Vec::new();
    let mut send = |push: &Socket<E::R>, seq: &mut u64, promised: bool| {
        push.send_blocking(seq.to_be_bytes().to_vec(), Some(PATIENCE))
            .expect("send");
        if promised {
            must.insert(*seq);
        }
        *seq += 1;
    };
    for round in 0..rounds {
        let pid = z.fork(&format!("pull {ep}"));
        z.expect("BOUND", pid);
        wait_for(&mut m, "HandshakeSucceeded", |e| {
            matches!(e, MonitorEvent::HandshakeSucceeded { .. })
        });
        for _ in 0..3 {
            send(&push, &mut seq, true);
        }
        let last = seq - 1;
        loop {
            let line = z.next();
            let mut parts = line.split(' ');
            assert_eq!(parts.next(), Some("M"), "round {round}: {line}");
            let from: u32 = parts.next().unwrap().parse().unwrap();
            let s = u64::from_str_radix(parts.next().unwrap(), 16).unwrap();
            if let Some(&prev) = got.last() {
                assert!(
                    s > prev,
                    "round {round}: {s} after {prev} (duplicated or reordered)"
                );
            }
            got.push(s);
            if from == pid && s == last {
                break;
            }
        }
        // In flight when the peer dies: these may be lost, never doubled.
        send(&push, &mut seq, false);
        send(&push, &mut seq, false);
        kill9(pid);
        wait_for(&mut m, "Disconnected", |e| {
            matches!(e, MonitorEvent::Disconnected { .. })
        });
        // Queued while the peer is away: delivered after the reconnect.
        send(&push, &mut seq, true);
    }
    let pid = z.fork(&format!("pull {ep}"));
    z.expect("BOUND", pid);
    let last = seq - 1;
    while got.last() != Some(&last) {
        let line = z.next();
        let s = u64::from_str_radix(line.rsplit(' ').next().unwrap(), 16).unwrap();
        assert!(
            got.last().is_none_or(|&p| s > p),
            "{s} duplicated or reordered"
        );
        got.push(s);
    }
    kill9(pid);
    let missing: Vec<_> = must
        .iter()
        .filter(|s| got.binary_search(s).is_err())
        .collect();
    assert!(missing.is_empty(), "promised messages lost: {missing:?}");
}

/// A server that completes the handshake and then sends a message over the
/// client's MAXMSGSIZE (a protocol error, as any malformed frame): libzmq's
/// client closes the connection and never reconnects to that endpoint (its
/// session ends: `session_base_t::engine_error`), and neither do we; the
/// socket itself stays open, so connecting it elsewhere works.
pub fn protocol_error_after_handshake<E: Env>() {
    fn serve_once(listener: &TcpListener) {
        let (mut s, _) = listener.accept().unwrap();
        s.write_all(&[greeting(true), ready("ROUTER")].concat())
            .unwrap();
        s.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut g = [0u8; 64];
        s.read_exact(&mut g).expect("client greeting");
        // Over the client's MAXMSGSIZE (64, above READY's 28 bytes, which
        // libzmq checks too): its decoder fails with EMSGSIZE.
        s.write_all(&frame(false, &[0u8; 100])).unwrap();
        // The client closes on its own; read until it does.
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
    }
    fn reconnects(listener: &TcpListener) -> bool {
        listener.set_nonblocking(true).unwrap();
        let deadline = Instant::now() + Duration::from_millis(500);
        while Instant::now() < deadline {
            if listener.accept().is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    let theirs = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut peer = Peer::start();
    peer.socket(
        "d",
        "DEALER",
        &["reconnect_ivl=10".into(), "maxmsgsize=64".into()],
    );
    peer.connect("d", &format!("tcp://{}", theirs.local_addr().unwrap()));
    serve_once(&theirs);
    let libzmq_reconnects = reconnects(&theirs);

    let ours = TcpListener::bind("127.0.0.1:0").unwrap();
    let dealer = build::<E>(
        Builder::new(SocketType::Dealer)
            .linger(Some(Duration::ZERO))
            .maxmsgsize(Some(64))
            .reconnect_ivl(Some(Duration::from_millis(10))),
    );
    let mut m = dealer.monitor();
    dealer
        .connect(format!("tcp://{}", ours.local_addr().unwrap()))
        .unwrap();
    serve_once(&ours);
    wait_for(&mut m, "Disconnected", |e| {
        matches!(e, MonitorEvent::Disconnected { .. })
    });
    assert_eq!(
        reconnects(&ours),
        libzmq_reconnects,
        "libzmq reconnects: {libzmq_reconnects}"
    );
    assert!(!libzmq_reconnects, "libzmq 4.3.5 gives a protocol error up");
    // Still open: a second connect to a live libzmq peer works.
    peer.socket("r", "ROUTER", &[]);
    let live = peer.bind("r", "tcp://127.0.0.1:*");
    dealer.connect(&live).unwrap();
    dealer.send_blocking("still here", Some(PATIENCE)).unwrap();
    let got = peer
        .recv("r", 10_000)
        .expect("message after the protocol error");
    assert_eq!(got[1], b"still here");
}
