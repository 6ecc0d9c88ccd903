//! `zmq_proxy` and `zmq_proxy_steerable`: forward messages between two sockets
//! in both directions, copy them to a capture socket, obey a control socket.
//!
//! One step moves what can move without waiting; a full destination holds its
//! one message back without stopping the other direction (libzmq's proxy
//! blocks both). The capture socket gets a copy of each message when it can
//! take one and misses it otherwise, so a slow capture never stalls the flow.

use zmq_patterns::SendError;
use zmtp_core::{Msg, SocketType};

use crate::core::Core;
use crate::poll::Pollable;
use crate::signal::{any_of, block_on, AnyOf};

/// Messages moved per direction before the other gets a turn.
const BURST: usize = 1000;

/// Message and byte counts of one side of a proxy, as `STATISTICS` reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SideStats {
    /// Messages received from this socket.
    pub msgs_in: u64,
    /// Bytes received from this socket.
    pub bytes_in: u64,
    /// Messages sent to this socket.
    pub msgs_out: u64,
    /// Bytes sent to this socket.
    pub bytes_out: u64,
}

/// The statistics of a proxy: frontend, then backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// The frontend's counts.
    pub frontend: SideStats,
    /// The backend's counts.
    pub backend: SideStats,
}

impl ProxyStats {
    /// The `STATISTICS` reply: eight frames of u64 in host byte order, as
    /// libzmq sends them.
    pub fn to_msg(&self) -> Msg {
        let f = &self.frontend;
        let b = &self.backend;
        [
            f.msgs_in,
            f.bytes_in,
            f.msgs_out,
            f.bytes_out,
            b.msgs_in,
            b.bytes_in,
            b.msgs_out,
            b.bytes_out,
        ]
        .iter()
        .map(|v| v.to_ne_bytes().to_vec())
        .collect()
    }

    /// Parses a `STATISTICS` reply.
    pub fn from_msg(msg: &Msg) -> Option<Self> {
        let v: Vec<u64> = msg
            .frames()
            .iter()
            .map(|f| <[u8; 8]>::try_from(&f[..]).ok().map(u64::from_ne_bytes))
            .collect::<Option<_>>()?;
        let side = |o: usize| SideStats {
            msgs_in: v[o],
            bytes_in: v[o + 1],
            msgs_out: v[o + 2],
            bytes_out: v[o + 3],
        };
        (v.len() == 8).then(|| Self {
            frontend: side(0),
            backend: side(4),
        })
    }
}

struct Proxy<'a> {
    ends: [&'a Core; 2],
    capture: Option<&'a Core>,
    control: Option<&'a Core>,
    /// A message per direction that its destination could not take yet.
    held: [Option<Msg>; 2],
    paused: bool,
    stats: [SideStats; 2],
}

enum Step {
    Wait(AnyOf),
    Terminate,
}

impl<'a> Proxy<'a> {
    fn new(ends: [&'a Core; 2], capture: Option<&'a Core>, control: Option<&'a Core>) -> Self {
        Self {
            ends,
            capture,
            control,
            held: [None, None],
            paused: false,
            stats: Default::default(),
        }
    }

    /// Moves what can move; returns what to wait for once nothing can.
    fn step(&mut self) -> Step {
        loop {
            // A socket of the proxy was closed (shut down by another holder):
            // nothing more can pass, as zmq_proxy returns on ETERM.
            if self
                .ends
                .iter()
                .chain(self.control.iter())
                .any(|c| c.is_closing())
            {
                return Step::Terminate;
            }
            // Register first, so that nothing arriving during the round is missed.
            let key = self.wait_key();
            let waits = self.waits();
            let mut progress = false;
            if let Some(control) = self.control {
                while let Ok(cmd) = control.recv_msg() {
                    progress = true;
                    if self.command(control, &cmd) {
                        return Step::Terminate;
                    }
                }
            }
            if !self.paused {
                progress |= self.forward(0);
                progress |= self.forward(1);
            }
            // What to wait for may have changed during the round (a message
            // now held for a full destination): then the registrations are for
            // the wrong events, and one more round registers the right ones.
            if !progress && key == self.wait_key() {
                return Step::Wait(waits);
            }
        }
    }

    fn wait_key(&self) -> (bool, bool, bool) {
        (self.paused, self.held[0].is_some(), self.held[1].is_some())
    }

    fn waits(&self) -> AnyOf {
        let mut w = AnyOf::new();
        if let Some(c) = self.control {
            w.push(c.listen_readable());
        }
        if !self.paused {
            for dir in 0..2 {
                let (src, dst) = (self.ends[dir], self.ends[1 - dir]);
                if self.held[dir].is_some() {
                    w.push(dst.listen_writable());
                } else {
                    w.push(src.listen_readable());
                }
            }
        }
        w
    }

    /// Forwards from end `dir` to the other; true if anything moved.
    fn forward(&mut self, dir: usize) -> bool {
        let (src, dst) = (self.ends[dir], self.ends[1 - dir]);
        let mut moved = false;
        for _ in 0..BURST {
            let msg = match self.held[dir].take() {
                Some(m) => m,
                None => match src.recv_msg() {
                    Ok(m) => {
                        self.stats[dir].msgs_in += 1;
                        self.stats[dir].bytes_in += m.byte_len() as u64;
                        if let Some(cap) = self.capture {
                            let copy = m.clone();
                            let _ = cap.send_msg(copy);
                        }
                        m
                    }
                    Err(_) => break,
                },
            };
            let len = msg.byte_len() as u64;
            match dst.send_msg(msg) {
                Ok(()) => {
                    self.stats[1 - dir].msgs_out += 1;
                    self.stats[1 - dir].bytes_out += len;
                    moved = true;
                }
                Err(SendError::WouldBlock(m)) => {
                    self.held[dir] = Some(m);
                    break;
                }
                // Unroutable (ROUTER) or refused by the pattern: dropped, as
                // libzmq's proxy drops it.
                Err(_) => moved = true,
            }
        }
        moved
    }

    /// Obeys one control command; true for TERMINATE.
    fn command(&mut self, control: &Core, cmd: &Msg) -> bool {
        let word = cmd.first().map(|f| &f[..]).unwrap_or_default();
        let mut reply = Msg::single(bytes::Bytes::new());
        let terminate = match word {
            b"PAUSE" => {
                self.paused = true;
                false
            }
            b"RESUME" => {
                self.paused = false;
                false
            }
            b"TERMINATE" => true,
            b"STATISTICS" => {
                reply = ProxyStats {
                    frontend: self.stats[0],
                    backend: self.stats[1],
                }
                .to_msg();
                false
            }
            _ => false,
        };
        // STATISTICS is answered on any control socket; a REP control socket
        // gets an empty answer to the other commands too, so it can take the
        // next one.
        if word == b"STATISTICS" || control.socket_type() == SocketType::Rep {
            let _ = control.send_msg(reply);
        }
        terminate
    }
}

/// Forwards between `frontend` and `backend` until one of them is shut down,
/// copying every message to `capture` (`zmq_proxy`).
pub async fn proxy(
    frontend: &dyn Pollable,
    backend: &dyn Pollable,
    capture: Option<&dyn Pollable>,
) {
    proxy_steerable(frontend, backend, capture, None).await;
}

/// As [`proxy`], obeying `PAUSE`, `RESUME`, `TERMINATE` and `STATISTICS` from
/// `control` (`zmq_proxy_steerable`); returns after `TERMINATE`.
pub async fn proxy_steerable(
    frontend: &dyn Pollable,
    backend: &dyn Pollable,
    capture: Option<&dyn Pollable>,
    control: Option<&dyn Pollable>,
) {
    let mut p = Proxy::new(
        [frontend.core(), backend.core()],
        capture.map(Pollable::core),
        control.map(Pollable::core),
    );
    while let Step::Wait(w) = p.step() {
        any_of(w).await;
    }
}

/// [`proxy`], blocking the thread.
pub fn proxy_blocking(
    frontend: &dyn Pollable,
    backend: &dyn Pollable,
    capture: Option<&dyn Pollable>,
) {
    proxy_steerable_blocking(frontend, backend, capture, None);
}

/// [`proxy_steerable`], blocking the thread.
pub fn proxy_steerable_blocking(
    frontend: &dyn Pollable,
    backend: &dyn Pollable,
    capture: Option<&dyn Pollable>,
    control: Option<&dyn Pollable>,
) {
    block_on(proxy_steerable(frontend, backend, capture, control), None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_round_trip_as_eight_u64_frames() {
        let s = ProxyStats {
            frontend: SideStats {
                msgs_in: 1,
                bytes_in: 2,
                msgs_out: 3,
                bytes_out: 4,
            },
            backend: SideStats {
                msgs_in: 5,
                bytes_in: 6,
                msgs_out: 7,
                bytes_out: 8,
            },
        };
        let m = s.to_msg();
        assert_eq!(m.len(), 8);
        assert!(m.frames().iter().all(|f| f.len() == 8));
        assert_eq!(ProxyStats::from_msg(&m), Some(s));
    }
}
