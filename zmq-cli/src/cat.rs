//! `zmq cat`: one socket between stdin and stdout.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use zmq_runtime::{
    AllowList, Builder, Endpoint, Error, MonitorEvent, Msg, PublicKey, RuntimeKind, SecretKey,
    Socket, SocketType,
};

use crate::exec::{Choice, Exec};
use crate::frames;
use crate::Failure;

/// What `zmq cat` was asked to do, checked before any socket exists.
pub(crate) struct Config {
    pub(crate) kind: SocketType,
    pub(crate) binds: Vec<String>,
    pub(crate) connects: Vec<String>,
    pub(crate) subscribe: Vec<String>,
    pub(crate) count: Option<u64>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) routing_id: Option<String>,
    pub(crate) sndhwm: Option<usize>,
    pub(crate) rcvhwm: Option<usize>,
    pub(crate) linger: Option<Duration>,
    pub(crate) heartbeat_ivl: Option<Duration>,
    pub(crate) heartbeat_timeout: Option<Duration>,
    pub(crate) reconnect_ivl: Option<Option<Duration>>,
    pub(crate) runtime: Choice,
    pub(crate) security: Security,
    pub(crate) hex: bool,
    pub(crate) echo: bool,
}

/// `--plain-*` and `--curve-*`.
pub(crate) enum Security {
    Null,
    PlainClient {
        user: String,
        password: String,
    },
    PlainServer {
        allow: Vec<(String, String)>,
    },
    CurveServer {
        secret: SecretKey,
        allow: Vec<PublicKey>,
    },
    CurveClient {
        server: PublicKey,
        secret: Option<SecretKey>,
    },
}

/// Parses a socket type name as the CLI spells it.
pub(crate) fn parse_type(s: &str) -> Result<SocketType, String> {
    use SocketType::*;
    Ok(match s {
        "pair" => Pair,
        "pub" => Pub,
        "sub" => Sub,
        "req" => Req,
        "rep" => Rep,
        "dealer" => Dealer,
        "router" => Router,
        "push" => Push,
        "pull" => Pull,
        "xpub" => XPub,
        "xsub" => XSub,
        other => {
            return Err(format!(
                "unknown socket type '{other}' (pair pub sub req rep dealer router push pull xpub xsub)"
            ))
        }
    })
}

/// Checks the endpoints as bind and connect will, so a bad one is reported
/// before anything starts.
pub(crate) fn check_endpoints(binds: &[String], connects: &[String]) -> Result<(), String> {
    for ep in binds {
        Endpoint::parse_bind(ep).map_err(|e| e.to_string())?;
    }
    for ep in connects {
        Endpoint::parse_connect(ep).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Runs `zmq cat` to its end: Ok for exit 0.
pub(crate) fn run(cfg: Config) -> Result<(), Failure> {
    crate::with_runtime!(cfg.runtime, false, |exec| run_on(&exec, &cfg))
}

fn builder<K: RuntimeKind>(cfg: &Config) -> Builder<K> {
    let mut b = Builder::<K>::new(cfg.kind).linger(cfg.linger);
    if let Some(id) = &cfg.routing_id {
        b = b.routing_id(id.clone().into_bytes());
    }
    if let Some(n) = cfg.sndhwm {
        b = b.sndhwm(n);
    }
    if let Some(n) = cfg.rcvhwm {
        b = b.rcvhwm(n);
    }
    if let Some(ivl) = cfg.reconnect_ivl {
        b = b.reconnect_ivl(ivl);
    }
    b = b
        .heartbeat_ivl(cfg.heartbeat_ivl)
        .heartbeat_timeout(cfg.heartbeat_timeout);
    if cfg.kind == SocketType::Sub {
        if cfg.subscribe.is_empty() {
            b = b.subscribe(Bytes::new());
        }
        for s in &cfg.subscribe {
            b = b.subscribe(s.clone().into_bytes());
        }
    }
    match &cfg.security {
        Security::Null => b,
        Security::PlainClient { user, password } => {
            b.plain_client(user.clone().into_bytes(), password.clone().into_bytes())
        }
        Security::PlainServer { allow } => {
            let list = allow.iter().fold(AllowList::new(), |l, (u, p)| {
                l.allow_user(u.clone().into_bytes(), p.clone().into_bytes())
            });
            b.plain_server().authenticator(list)
        }
        Security::CurveServer { secret, allow } => {
            let list = allow.iter().fold(AllowList::new(), |l, k| l.allow_key(*k));
            b.curve_server(secret.clone()).authenticator(list)
        }
        Security::CurveClient { server, secret } => match secret {
            Some(s) => b.curve_client(*server, zmq_runtime::KeyPair::from_secret(s.clone())),
            None => b.curve_client_ephemeral(*server),
        },
    }
}

fn run_on<K: RuntimeKind>(exec: &Exec<K>, cfg: &Config) -> Result<(), Failure> {
    let sock = exec
        .socket(builder::<K>(cfg))
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let monitor = sock.monitor();
    for ep in &cfg.binds {
        let bound = sock.bind(ep).map_err(|e| Failure::Usage(e.to_string()))?;
        if Endpoint::parse_bind(ep).is_ok_and(|e| e.has_wildcard_port()) {
            eprintln!("bound: {bound}");
        }
    }
    for ep in &cfg.connects {
        sock.connect(ep)
            .map_err(|e| Failure::Usage(e.to_string()))?;
    }
    watch_refusals(monitor, cfg);
    let sock = Arc::new(sock);
    let io = Io::new(cfg);
    use SocketType::*;
    match cfg.kind {
        Push | Pub => {
            send_stdin(&sock, cfg, &io)?;
            finish(&sock)
        }
        Pull | Sub => receive(&sock, cfg, &io, frames::format_msg),
        Req => request(&sock, cfg, &io),
        Rep => reply(&sock, cfg, &io),
        Router if cfg.echo => echo(&sock, cfg, &io),
        Router => both_ways(&sock, cfg, io, frames::format_routed, false),
        XPub => both_ways(&sock, cfg, io, frames::format_subscription, true),
        Dealer | Pair | XSub => both_ways(&sock, cfg, io, frames::format_msg, false),
    }
}

/// stdin and stdout, shared by the sending and the printing thread.
struct Io {
    hex: bool,
    /// Start of the idle timeout: now, then every message received (every
    /// request sent, for REQ).
    idle_since: Mutex<Instant>,
    timeout: Option<Duration>,
}

impl Io {
    fn new(cfg: &Config) -> Self {
        Self {
            hex: cfg.hex,
            idle_since: Mutex::new(Instant::now()),
            timeout: cfg.timeout,
        }
    }

    /// The next stdin line as a message: `None` at EOF. A last line without LF
    /// still counts; only LF ends a line.
    fn next(&self, kind: SocketType) -> Result<Option<Msg>, Failure> {
        let mut line = Vec::new();
        let n = std::io::stdin()
            .lock()
            .read_until(b'\n', &mut line)
            .map_err(|e| Failure::Runtime(format!("stdin: {e}")))?;
        if n == 0 {
            return Ok(None);
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        let mut parts = frames::parse_line(&line, self.hex).map_err(|e| Failure::Usage(e.0))?;
        if !self.hex {
            match kind {
                SocketType::Router => {
                    parts[0] = frames::parse_routing_id(std::mem::take(&mut parts[0]))
                }
                SocketType::XSub => {
                    parts[0] = frames::parse_subscription(std::mem::take(&mut parts[0]))
                }
                _ => {}
            }
        }
        Ok(Some(parts.into_iter().collect()))
    }

    fn print(&self, line: &[u8]) -> Result<(), Failure> {
        let mut out = std::io::stdout().lock();
        out.write_all(line)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush())
            .map_err(|e| Failure::Runtime(format!("stdout: {e}")))
    }

    fn touch(&self) {
        *self
            .idle_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
    }

    /// Receives, failing with [`Failure::Timeout`] once the idle timeout has
    /// passed.
    fn recv<K>(&self, sock: &Socket<K>) -> Result<Msg, Failure> {
        loop {
            let wait = self.timeout.map(|t| {
                let since = *self
                    .idle_since
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                (since + t).saturating_duration_since(Instant::now())
            });
            match sock.recv_blocking(wait) {
                Ok(m) => {
                    self.touch();
                    return Ok(m);
                }
                // A request sent meanwhile may have moved the deadline.
                Err(Error::Timeout) if self.expired() => return Err(Failure::Timeout),
                Err(Error::Timeout) => {}
                Err(e) => return Err(Failure::Runtime(e.to_string())),
            }
        }
    }

    fn expired(&self) -> bool {
        let since = *self
            .idle_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.timeout.is_some_and(|t| since.elapsed() >= t)
    }
}

/// Counts toward `-n`; true once it is reached.
struct Counter {
    left: Option<u64>,
}

impl Counter {
    fn new(cfg: &Config) -> Self {
        Self { left: cfg.count }
    }

    fn hit(&mut self) -> bool {
        match &mut self.left {
            Some(n) => {
                *n -= 1;
                *n == 0
            }
            None => false,
        }
    }
}

fn send<K>(sock: &Socket<K>, msg: Msg) -> Result<(), Failure> {
    sock.send_blocking(msg, None)
        .map_err(|e| Failure::Runtime(e.to_string()))
}

fn send_stdin<K>(sock: &Socket<K>, cfg: &Config, io: &Io) -> Result<(), Failure> {
    while let Some(msg) = io.next(cfg.kind)? {
        send(sock, msg)?;
    }
    Ok(())
}

/// At EOF: what is queued reaches the network (or LINGER runs out).
fn finish<K>(sock: &Socket<K>) -> Result<(), Failure> {
    sock.shutdown_blocking();
    Ok(())
}

fn receive<K>(
    sock: &Socket<K>,
    cfg: &Config,
    io: &Io,
    format: fn(&[Bytes], bool) -> Vec<u8>,
) -> Result<(), Failure> {
    let mut n = Counter::new(cfg);
    loop {
        let m = io.recv(sock)?;
        io.print(&format(m.frames(), io.hex))?;
        if n.hit() {
            return Ok(());
        }
    }
}

fn request<K>(sock: &Socket<K>, cfg: &Config, io: &Io) -> Result<(), Failure> {
    let mut n = Counter::new(cfg);
    while let Some(msg) = io.next(cfg.kind)? {
        send(sock, msg)?;
        io.touch();
        let reply = io.recv(sock)?;
        io.print(&frames::format_msg(reply.frames(), io.hex))?;
        if n.hit() {
            return Ok(());
        }
    }
    Ok(())
}

fn reply<K>(sock: &Socket<K>, cfg: &Config, io: &Io) -> Result<(), Failure> {
    if cfg.echo {
        return echo(sock, cfg, io);
    }
    let mut n = Counter::new(cfg);
    loop {
        let req = io.recv(sock)?;
        io.print(&frames::format_msg(req.frames(), io.hex))?;
        let Some(answer) = io.next(cfg.kind)? else {
            return Ok(());
        };
        send(sock, answer)?;
        if n.hit() {
            return finish(sock);
        }
    }
}

/// rep/router `--echo`: every message back to its sender, nothing printed.
fn echo<K>(sock: &Socket<K>, cfg: &Config, io: &Io) -> Result<(), Failure> {
    let mut n = Counter::new(cfg);
    loop {
        let m = io.recv(sock)?;
        send(sock, m)?;
        if n.hit() {
            return finish(sock);
        }
    }
}

/// dealer, router, pair, xsub, xpub: stdin goes out on a thread while this one
/// prints what arrives. At EOF the sender stops; xpub then lingers and exits.
fn both_ways<K: RuntimeKind>(
    sock: &Arc<Socket<K>>,
    cfg: &Config,
    io: Io,
    format: fn(&[Bytes], bool) -> Vec<u8>,
    exit_at_eof: bool,
) -> Result<(), Failure> {
    let io = Arc::new(io);
    if cfg.kind == SocketType::XSub {
        for s in &cfg.subscribe {
            let mut frame = vec![1u8];
            frame.extend_from_slice(s.as_bytes());
            send(sock, Msg::single(frame))?;
        }
    }
    let (s, i, kind) = (sock.clone(), io.clone(), cfg.kind);
    let sender = std::thread::spawn(move || -> Result<(), Failure> {
        while let Some(msg) = i.next(kind)? {
            send(&s, msg)?;
        }
        if exit_at_eof {
            s.shutdown_blocking();
            std::process::exit(0);
        }
        Ok(())
    });
    let printed = receive(sock, cfg, &io, format);
    if sender.is_finished() {
        // A bad stdin line is bad input even while printing went on.
        if let Ok(Err(e)) = sender.join() {
            return Err(e);
        }
    }
    printed
}

/// Reports refused connections (`refused: ENDPOINT: REASON`) and exits 4 when
/// every connected endpoint refused and nothing is bound.
fn watch_refusals(mut monitor: zmq_runtime::Monitor, cfg: &Config) {
    let given: HashMap<Endpoint, String> = cfg
        .connects
        .iter()
        .filter_map(|s| Endpoint::parse_connect(s).ok().map(|e| (e, s.clone())))
        .collect();
    let total = given.len();
    let binds = !cfg.binds.is_empty();
    std::thread::spawn(move || {
        let mut refused = std::collections::HashSet::new();
        for event in &mut monitor {
            let MonitorEvent::HandshakeFailed { endpoint, error } = event else {
                continue;
            };
            let Some(name) = given.get(&endpoint) else {
                continue;
            };
            if !error.is_permanent() {
                continue;
            }
            eprintln!("refused: {name}: {error}");
            refused.insert(name.clone());
            if !binds && refused.len() == total {
                let _ = std::io::stdout().flush();
                std::process::exit(4);
            }
        }
    });
}
