//! The many-socket libzmq peer ([`PEER_SCRIPT`](crate::python::PEER_SCRIPT)
//! without arguments), driven command by command: the runtime suite's and
//! the `zmq` binary's peer.

use std::process::Command;
use std::time::Duration;

use crate::python::PeerProcess;

/// How long one command may take before the test fails (recv and send carry
/// their own, shorter, timeouts).
const ANSWER: Duration = Duration::from_secs(30);

/// A python process hosting libzmq sockets.
pub struct Peer {
    process: PeerProcess,
}

impl Peer {
    /// Starts the peer; panics with the fix when pyzmq is missing.
    pub fn start() -> Self {
        Self::start_process(PeerProcess::spawn(&[]))
    }

    /// Starts the peer inside network namespace `netns` (`ip netns exec`).
    pub fn start_in(netns: &str) -> Self {
        crate::python::check_prerequisites();
        let mut command = Command::new("ip");
        command.args([
            "netns",
            "exec",
            netns,
            "python3",
            "-u",
            crate::python::PEER_SCRIPT,
        ]);
        Self::start_process(PeerProcess::spawn_command(command, &["netns", netns]))
    }

    /// Drives an already spawned process that speaks the peer's protocol
    /// (our own sockets' stand-in for it, in the network tests) and answers
    /// `READY` first.
    pub fn start_process(process: PeerProcess) -> Self {
        let mut peer = Self { process };
        let first = peer.read();
        assert_eq!(
            first, "READY",
            "the libzmq peer did not start; is pyzmq installed? (pip install -r requirements-test.txt)"
        );
        peer
    }

    fn read(&mut self) -> String {
        self.process.line_within(ANSWER).unwrap_or_else(|_| {
            panic!(
                "the libzmq peer did not answer within {ANSWER:?}{}",
                self.process.diag()
            )
        })
    }

    /// Sends a command and returns its answer.
    pub fn cmd(&mut self, line: &str) -> String {
        self.process.write_line(line);
        self.read()
    }

    /// A command that must answer `OK...`; returns what follows `OK`.
    pub fn ok(&mut self, line: &str) -> String {
        let answer = self.cmd(line);
        assert!(
            answer.starts_with("OK"),
            "libzmq peer: `{line}` -> {answer}"
        );
        answer[2..].trim().to_owned()
    }

    /// Creates socket `id` of type `kind` (libzmq name) with `key=value` options.
    pub fn socket(&mut self, id: &str, kind: &str, opts: &[String]) {
        self.ok(&format!("new {id} {kind} {}", opts.join(" ")));
    }

    /// Binds and returns the endpoint actually bound.
    pub fn bind(&mut self, id: &str, ep: &str) -> String {
        self.ok(&format!("bind {id} {ep}"))
    }

    /// Connects.
    pub fn connect(&mut self, id: &str, ep: &str) {
        self.ok(&format!("connect {id} {ep}"));
    }

    /// Sends a message, retrying for `ms` while libzmq says EAGAIN or
    /// EHOSTUNREACH; false if it never went.
    pub fn send(&mut self, id: &str, frames: &[&[u8]], ms: u64) -> bool {
        let answer = self.cmd(&format!("send {id} {} {ms}", to_text(frames)));
        match answer.as_str() {
            "OK" => true,
            "EAGAIN" => false,
            other => panic!("libzmq peer send: {other}"),
        }
    }

    /// Receives a message within `ms`.
    pub fn recv(&mut self, id: &str, ms: u64) -> Option<Vec<Vec<u8>>> {
        let answer = self.cmd(&format!("recv {id} {ms}"));
        if answer == "TIMEOUT" {
            return None;
        }
        let text = answer
            .strip_prefix("MSG ")
            .unwrap_or_else(|| panic!("libzmq peer recv: {answer}"));
        Some(from_text(text))
    }

    /// Receives up to `n` messages within `ms` (one round trip).
    pub fn recv_many(&mut self, id: &str, n: usize, ms: u64) -> Vec<Vec<Vec<u8>>> {
        let answer = self.cmd(&format!("recvn {id} {n} {ms}"));
        let rest = answer
            .strip_prefix("MSGS ")
            .unwrap_or_else(|| panic!("libzmq peer recvn: {answer}"));
        let (count, msgs) = rest.split_once(' ').unwrap_or((rest, ""));
        let count: usize = count.parse().expect("count");
        let got: Vec<_> = msgs
            .split(';')
            .filter(|m| !m.is_empty())
            .map(from_text)
            .collect();
        assert_eq!(got.len(), count);
        got
    }

    /// Closes a socket.
    pub fn close(&mut self, id: &str) {
        self.ok(&format!("close {id}"));
    }

    /// The peer process's id, for a thread that signals it while another
    /// drives it.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Sends SIGSTOP or SIGCONT to the peer (a stopped peer keeps its
    /// connections open and answers nothing, not even heartbeats).
    pub fn signal(&mut self, sig: &str) {
        let pid = self.process.pid();
        let ok = Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {sig} {pid}");
    }
}

/// Frames as the peer writes them: hex joined by `,`, `-` for empty.
pub fn to_text(frames: &[&[u8]]) -> String {
    frames
        .iter()
        .map(|f| {
            if f.is_empty() {
                "-".to_owned()
            } else {
                f.iter().map(|b| format!("{b:02x}")).collect()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The inverse of [`to_text`].
pub fn from_text(text: &str) -> Vec<Vec<u8>> {
    text.split(',')
        .map(|part| {
            if part == "-" {
                Vec::new()
            } else {
                (0..part.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&part[i..i + 2], 16).expect("hex from peer"))
                    .collect()
            }
        })
        .collect()
}

/// Hex of a byte string, for socket options.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
