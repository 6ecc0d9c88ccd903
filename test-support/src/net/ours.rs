//! Our sockets behind the libzmq peer's line protocol: the network tests
//! drive either side through [`Peer`](crate::peer::Peer), whichever
//! library is behind it, so every scenario runs the same commands against
//! libzmq and against us.
//!
//! The subset of `zmq_peer.py`'s many-socket commands the scenarios use:
//! `new ID TYPE [K=V...]` (options heartbeat_ivl heartbeat_timeout
//! heartbeat_ttl reconnect_ivl linger sndhwm rcvhwm subscribe routing_id),
//! `bind`, `connect`, `send ID FRAMES [MS]`, `recv ID MS`, `recvn ID N MS`,
//! `monitor ID`, `event ID NAMES MS` (libzmq's event names), `close ID`,
//! `quit`. Runs in its own process (inside a network namespace), answering
//! on stdout.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use zmq_runtime::{Builder, Error, Monitor, MonitorEvent, Msg, Socket, SocketType};

use crate::peer::{from_text, to_text};
use crate::suite::Env;

/// libzmq's name of an event (pyzmq's `zmq.Event(n).name`), and a value
/// for the report: the error of a disconnection or failed handshake.
fn event_name(e: &MonitorEvent) -> (&'static str, String) {
    match e {
        MonitorEvent::Listening(_) => ("LISTENING", "-".into()),
        MonitorEvent::BindFailed { .. } => ("BIND_FAILED", "-".into()),
        MonitorEvent::Accepted { .. } => ("ACCEPTED", "-".into()),
        MonitorEvent::ConnectDelayed(_) => ("CONNECT_DELAYED", "-".into()),
        MonitorEvent::Connected { .. } => ("CONNECTED", "-".into()),
        MonitorEvent::ConnectRetried { ivl_ms, .. } => ("CONNECT_RETRIED", ivl_ms.to_string()),
        MonitorEvent::HandshakeSucceeded { .. } => ("HANDSHAKE_SUCCEEDED", "-".into()),
        MonitorEvent::HandshakeFailed { error, .. } => (
            "HANDSHAKE_FAILED_PROTOCOL",
            format!("{error:?}").replace(' ', "_"),
        ),
        MonitorEvent::Disconnected { error, .. } => {
            ("DISCONNECTED", format!("{error:?}").replace(' ', "_"))
        }
        MonitorEvent::Refused { .. } => ("HANDSHAKE_FAILED_AUTH", "-".into()),
        MonitorEvent::Closed(_) => ("CLOSED", "-".into()),
        _ => ("OTHER", "-".into()),
    }
}

fn ms(text: &str) -> Result<Duration, String> {
    text.parse()
        .map(Duration::from_millis)
        .map_err(|e| format!("milliseconds `{text}`: {e}"))
}

fn hex(text: &str) -> Result<Vec<u8>, String> {
    if text == "-" {
        return Ok(Vec::new());
    }
    from_text(text).pop().ok_or_else(|| format!("hex `{text}`"))
}

fn builder<R: zmq_runtime::RuntimeKind>(kind: &str, opts: &[&str]) -> Result<Builder<R>, String> {
    let kind =
        SocketType::from_name(kind.as_bytes()).ok_or_else(|| format!("socket type `{kind}`"))?;
    let mut b = Builder::new(kind);
    for opt in opts {
        let (key, value) = opt
            .split_once('=')
            .ok_or_else(|| format!("option `{opt}`: want KEY=VALUE"))?;
        let count = || {
            value
                .parse::<usize>()
                .map_err(|e| format!("option `{opt}`: {e}"))
        };
        b = match key {
            "heartbeat_ivl" => b.heartbeat_ivl(Some(ms(value)?)),
            "heartbeat_timeout" => b.heartbeat_timeout(Some(ms(value)?)),
            "heartbeat_ttl" => b.heartbeat_ttl(Some(ms(value)?)),
            "reconnect_ivl" => b.reconnect_ivl(Some(ms(value)?)),
            "linger" => b.linger(Some(ms(value)?)),
            "sndhwm" => b.sndhwm(count()?),
            "rcvhwm" => b.rcvhwm(count()?),
            "subscribe" => b.subscribe(hex(value)?),
            "routing_id" => b.routing_id(hex(value)?),
            _ => return Err(format!("unknown option `{key}`")),
        };
    }
    Ok(b)
}

struct Sock<R: zmq_runtime::RuntimeKind> {
    socket: Socket<R>,
    monitor: Option<(Monitor, Vec<String>)>,
}

fn msg_text(msg: &Msg) -> String {
    let frames: Vec<&[u8]> = msg.frames().iter().map(|f| f.as_ref()).collect();
    to_text(&frames)
}

fn command<E: Env>(
    socks: &mut HashMap<String, Sock<E::R>>,
    parts: &[&str],
) -> Result<String, String> {
    let sock = |socks: &'_ mut HashMap<String, Sock<E::R>>, id: &str| -> Result<(), String> {
        if socks.contains_key(id) {
            Ok(())
        } else {
            Err(format!("no socket `{id}`"))
        }
    };
    let err = |e: Error| e.to_string();
    match parts {
        ["new", id, kind, opts @ ..] => {
            let b = builder::<E::R>(kind, opts)?;
            let _ctx = E::enter();
            let socket = b.build_socket().map_err(err)?;
            socks.insert(
                (*id).to_owned(),
                Sock {
                    socket,
                    monitor: None,
                },
            );
            Ok("OK".into())
        }
        ["bind", id, ep] => {
            sock(socks, id)?;
            let bound = socks[*id].socket.bind(*ep).map_err(err)?;
            Ok(format!("OK {bound}"))
        }
        ["connect", id, ep] => {
            sock(socks, id)?;
            socks[*id].socket.connect(*ep).map_err(err)?;
            Ok("OK".into())
        }
        ["send", id, frames, rest @ ..] => {
            sock(socks, id)?;
            let wait = ms(rest.first().copied().unwrap_or("3000"))?;
            let msg = Msg::multipart(from_text(frames));
            match socks[*id].socket.send_blocking(msg, Some(wait)) {
                Ok(()) => Ok("OK".into()),
                Err(Error::Timeout) => Ok("EAGAIN".into()),
                Err(e) => Ok(format!("ERR {e}")),
            }
        }
        ["recv", id, wait] => {
            sock(socks, id)?;
            match socks[*id].socket.recv_blocking(Some(ms(wait)?)) {
                Ok(msg) => Ok(format!("MSG {}", msg_text(&msg))),
                Err(Error::Timeout) => Ok("TIMEOUT".into()),
                Err(e) => Err(e.to_string()),
            }
        }
        ["recvn", id, n, wait] => {
            sock(socks, id)?;
            let n: usize = n.parse().map_err(|e| format!("count `{n}`: {e}"))?;
            let deadline = Instant::now() + ms(wait)?;
            let mut got = Vec::new();
            while got.len() < n {
                let left = deadline.saturating_duration_since(Instant::now());
                match socks[*id].socket.recv_blocking(Some(left)) {
                    Ok(msg) => got.push(msg_text(&msg)),
                    Err(Error::Timeout) => break,
                    Err(e) => return Err(e.to_string()),
                }
            }
            Ok(format!("MSGS {} {}", got.len(), got.join(";")))
        }
        ["monitor", id] => {
            sock(socks, id)?;
            let s = socks.get_mut(*id).expect("checked");
            s.monitor = Some((s.socket.monitor(), Vec::new()));
            Ok("OK".into())
        }
        ["event", id, names, wait] => {
            sock(socks, id)?;
            let deadline = Instant::now() + ms(wait)?;
            let Some((monitor, seen)) = socks.get_mut(*id).expect("checked").monitor.as_mut()
            else {
                return Err(format!("socket `{id}` has no monitor"));
            };
            let wanted: Vec<&str> = names.split(',').collect();
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match monitor.next_blocking(Some(left)) {
                    Ok(e) => {
                        let (name, value) = event_name(&e);
                        seen.push(format!("{name}:{value}"));
                        if wanted.contains(&name) {
                            return Ok(format!("EVENT {name} {value}"));
                        }
                    }
                    Err(_) => return Ok(format!("NOEVENT {}", seen.join(","))),
                }
            }
        }
        ["close", id] => {
            let s = socks
                .remove(*id)
                .ok_or_else(|| format!("no socket `{id}`"))?;
            s.socket.close_blocking();
            Ok("OK".into())
        }
        _ => Err(format!("unknown command `{}`", parts.join(" "))),
    }
}

/// Runs the peer on runtime `E` until stdin closes or says `quit`: prints
/// `READY`, then answers each command with one line (`ERR why` for a bad
/// one, as the libzmq peer does).
pub fn serve<E: Env>() {
    let mut socks: HashMap<String, Sock<E::R>> = HashMap::new();
    let stdout = std::io::stdout();
    let say = |line: &str| {
        let mut out = stdout.lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    };
    say("READY");
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.is_empty() {
            continue;
        }
        if parts == ["quit"] {
            say("BYE");
            break;
        }
        match command::<E>(&mut socks, &parts) {
            Ok(answer) => say(&answer),
            Err(why) => say(&format!("ERR {why}")),
        }
    }
    for (_, s) in socks.drain() {
        s.socket.close_blocking();
    }
}
