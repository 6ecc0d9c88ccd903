//! `zmq cat`: one socket between stdin and stdout.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Write};
use std::sync::mpsc::{self, Receiver};
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
        "stream" => Stream,
        other => {
            return Err(format!(
                "unknown socket type '{other}' (pair pub sub req rep dealer router push pull xpub xsub stream)"
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
    let cfg = Arc::new(cfg);
    crate::with_runtime!(cfg.runtime, false, |exec| run_on(&exec, cfg))
}

/// How `zmq cat` ends: its threads (the one talking on the socket, the stdin
/// sender of the two-way types, the refusal watcher) each report the end they
/// reached, and the first report is the program's result.
type End = mpsc::Sender<std::thread::Result<Result<(), Failure>>>;

/// The endpoints whose refusal is on stderr: the refusal watcher and the
/// talking thread (whose `send` or `recv` may hear of it first, from the
/// socket) each print what the other has not.
type Reported = Arc<Mutex<HashSet<String>>>;

/// Prints `refused: NAME: WHY` unless it was printed; true if it was new.
fn report_refused(reported: &Reported, name: &str, why: &str) -> bool {
    let fresh = reported
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(name.to_owned());
    if fresh {
        eprintln!("refused: {name}: {why}");
    }
    fresh
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

fn run_on<K: RuntimeKind>(exec: &Exec<K>, cfg: Arc<Config>) -> Result<(), Failure> {
    let sock = exec
        .socket(builder::<K>(&cfg))
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let monitor = sock.monitor();
    // Every bind first: a failure is then the only line on stderr.
    let mut bound = Vec::new();
    for ep in &cfg.binds {
        let actual = sock.bind(ep).map_err(|e| Failure::Usage(e.to_string()))?;
        if Endpoint::parse_bind(ep).is_ok_and(|e| e.has_wildcard_port()) {
            bound.push(actual);
        }
    }
    for ep in &cfg.connects {
        sock.connect(ep)
            .map_err(|e| Failure::Usage(e.to_string()))?;
    }
    for ep in bound {
        eprintln!("bound: {ep}");
    }
    let sock = Arc::new(sock);
    let (end, first_end) = mpsc::channel();
    let reported = Reported::default();
    watch_refusals(monitor, &cfg, sock.clone(), end.clone(), reported.clone());
    let talking = sock.clone();
    std::thread::spawn(move || {
        let sock = talking;
        let talked =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| talk(&sock, &cfg, &end)));
        let _ = end.send(talked);
    });
    match first_end.recv() {
        Ok(Ok(Err(Failure::Refused))) => {
            // The socket itself said every endpoint refused it: whatever the
            // watcher has not printed yet is printed here.
            for r in sock.refusals() {
                report_refused(&reported, &r.endpoint, &r.reason.to_string());
            }
            Err(Failure::Refused)
        }
        Ok(Ok(result)) => result,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(mpsc::RecvError) => unreachable!("the talking thread always reports"),
    }
}

/// What the socket type does between stdin and stdout, to its end.
fn talk<K: RuntimeKind>(sock: &Arc<Socket<K>>, cfg: &Config, end: &End) -> Result<(), Failure> {
    let io = Io::new(cfg);
    use SocketType::*;
    match cfg.kind {
        Push | Pub => send_stdin(sock, cfg),
        Pull | Sub => receive(sock, cfg, &io, frames::format_msg),
        Req => request(sock, cfg, &io),
        Rep if cfg.echo => echo(sock, cfg, &io),
        Rep => reply(sock, cfg, &io),
        Router if cfg.echo => echo(sock, cfg, &io),
        Router | Stream => both_ways(sock, cfg, io, frames::format_routed, false, end),
        XPub => both_ways(sock, cfg, io, frames::format_subscription, true, end),
        Dealer | Pair | XSub => both_ways(sock, cfg, io, frames::format_msg, false, end),
    }
}

/// What the stdin thread hands over: a message, EOF (`None`), or bad input.
type Line = Result<Option<Msg>, Failure>;

/// Reads stdin on its own thread, so that waiting for a line never stops the
/// socket side from noticing a timeout, and EOF is seen at once.
fn stdin_lines(kind: SocketType, hex: bool) -> Receiver<Line> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || loop {
        let line = next_line(kind, hex);
        let end = !matches!(line, Ok(Some(_)));
        if tx.send(line).is_err() || end {
            return;
        }
    });
    rx
}

/// The next stdin line as a message: `None` at EOF. A last line without LF
/// still counts; only LF ends a line.
fn next_line(kind: SocketType, hex: bool) -> Line {
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
    let mut parts = frames::parse_line(&line, hex).map_err(|e| Failure::Usage(e.0))?;
    if !hex {
        match kind {
            SocketType::Router | SocketType::Stream => {
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

/// Idle-timeout bookkeeping and stdout.
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

    /// One line on stdout, flushed. A reader that went away (`| head -1`) is
    /// [`Failure::StdoutClosed`], which ends the program quietly.
    fn print(&self, line: &[u8]) -> Result<(), Failure> {
        let mut out = std::io::stdout().lock();
        let written = out
            .write_all(line)
            .and_then(|()| out.write_all(b"\n"))
            .and_then(|()| out.flush());
        match written {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Failure::StdoutClosed),
            Err(e) => Err(Failure::Runtime(format!("stdout: {e}"))),
        }
    }

    fn touch(&self) {
        *self
            .idle_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
    }

    /// Time left before the idle timeout (`None`: no timeout).
    fn left(&self) -> Option<Duration> {
        let since = *self
            .idle_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.timeout
            .map(|t| (since + t).saturating_duration_since(Instant::now()))
    }

    fn expired(&self) -> bool {
        self.left().is_some_and(|l| l.is_zero())
    }

    /// Receives within the idle timeout; `Ok(None)` when `slice` passed first
    /// (so the caller can look at stdin).
    fn recv_for<K>(
        &self,
        sock: &Socket<K>,
        slice: Option<Duration>,
    ) -> Result<Option<Msg>, Failure> {
        let wait = match (self.left(), slice) {
            (Some(l), Some(s)) => Some(l.min(s)),
            (l, s) => l.or(s),
        };
        match sock.recv_blocking(wait) {
            Ok(m) => {
                self.touch();
                Ok(Some(m))
            }
            Err(Error::Timeout) if self.expired() => Err(Failure::Timeout),
            Err(Error::Timeout) => Ok(None),
            Err(Error::Refused { .. }) => Err(Failure::Refused),
            Err(e) => Err(Failure::Runtime(e.to_string())),
        }
    }

    /// Receives, failing with [`Failure::Timeout`] once the idle timeout has
    /// passed.
    fn recv<K>(&self, sock: &Socket<K>) -> Result<Msg, Failure> {
        loop {
            if let Some(m) = self.recv_for(sock, None)? {
                return Ok(m);
            }
        }
    }

    /// The next stdin line, within the idle timeout.
    fn line(&self, lines: &Receiver<Line>) -> Line {
        let item = match self.left() {
            None => lines.recv().ok(),
            Some(left) => match lines.recv_timeout(left) {
                Ok(item) => Some(item),
                Err(mpsc::RecvTimeoutError::Timeout) => return Err(Failure::Timeout),
                Err(mpsc::RecvTimeoutError::Disconnected) => None,
            },
        };
        item.unwrap_or(Ok(None))
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

/// How long an early end (`-n`, `--timeout`, bad input) waits for queued
/// messages to leave; the normal ends wait for LINGER.
const EARLY_END_FLUSH: Duration = Duration::from_secs(1);

fn send<K>(sock: &Socket<K>, msg: Msg) -> Result<(), Failure> {
    sock.send_blocking(msg, None).map_err(|e| match e {
        Error::Refused { .. } => Failure::Refused,
        e => Failure::Runtime(e.to_string()),
    })
}

/// Hands what is queued to the network for as long as LINGER says, at a
/// normal end (stdin EOF).
fn flush_linger<K>(sock: &Socket<K>) {
    sock.shutdown_timeout(None);
}

/// Ends an early path (`-n`, a timeout, bad input) after a short flush. A
/// reader that went away ends it at once, as it would any Unix filter.
fn end_early<K: RuntimeKind>(sock: &Arc<Socket<K>>, r: Result<(), Failure>) -> Result<(), Failure> {
    if !matches!(r, Err(Failure::StdoutClosed)) {
        sock.shutdown_timeout(Some(EARLY_END_FLUSH));
    }
    r
}

/// push, pub: every line out; at EOF what is queued reaches the network (or
/// LINGER runs out).
fn send_stdin<K: RuntimeKind>(sock: &Arc<Socket<K>>, cfg: &Config) -> Result<(), Failure> {
    let lines = stdin_lines(cfg.kind, cfg.hex);
    for line in lines {
        match line {
            Ok(Some(msg)) => send(sock, msg)?,
            Ok(None) => break,
            Err(e) => return end_early(sock, Err(e)),
        }
    }
    flush_linger(sock);
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

fn request<K: RuntimeKind>(sock: &Arc<Socket<K>>, cfg: &Config, io: &Io) -> Result<(), Failure> {
    let lines = stdin_lines(cfg.kind, cfg.hex);
    let mut n = Counter::new(cfg);
    loop {
        let msg = match io.line(&lines) {
            Ok(Some(msg)) => msg,
            Ok(None) => return Ok(()),
            Err(e) => return end_early(sock, Err(e)),
        };
        send(sock, msg)?;
        io.touch();
        let reply = io.recv(sock)?;
        io.print(&frames::format_msg(reply.frames(), io.hex))?;
        if n.hit() {
            return Ok(());
        }
    }
}

/// rep: print each request, answer it with the next stdin line; stdin EOF
/// ends it at once, even while waiting for a request.
fn reply<K: RuntimeKind>(sock: &Arc<Socket<K>>, cfg: &Config, io: &Io) -> Result<(), Failure> {
    /// How often the wait for a request looks at stdin.
    const LOOK: Duration = Duration::from_millis(20);
    let lines = stdin_lines(cfg.kind, cfg.hex);
    let mut ahead: Option<Line> = None;
    let mut n = Counter::new(cfg);
    loop {
        let request = loop {
            if ahead.is_none() {
                ahead = lines.try_recv().ok();
            }
            match &ahead {
                Some(Ok(None)) => {
                    flush_linger(sock);
                    return Ok(());
                }
                Some(Err(_)) => {
                    let Some(Err(e)) = ahead.take() else {
                        unreachable!()
                    };
                    return end_early(sock, Err(e));
                }
                _ => {}
            }
            if let Some(m) = io.recv_for(sock, Some(LOOK))? {
                break m;
            }
        };
        io.print(&frames::format_msg(request.frames(), io.hex))?;
        let answer = match ahead.take() {
            Some(line) => line,
            None => io.line(&lines),
        };
        match answer {
            Ok(Some(msg)) => send(sock, msg)?,
            Ok(None) => {
                flush_linger(sock);
                return Ok(());
            }
            Err(e) => return end_early(sock, Err(e)),
        }
        if n.hit() {
            return end_early(sock, Ok(()));
        }
    }
}

/// rep/router `--echo`: every message back to its sender, nothing printed.
fn echo<K: RuntimeKind>(sock: &Arc<Socket<K>>, cfg: &Config, io: &Io) -> Result<(), Failure> {
    let mut n = Counter::new(cfg);
    loop {
        let m = io.recv(sock)?;
        send(sock, m)?;
        if n.hit() {
            return end_early(sock, Ok(()));
        }
    }
}

/// dealer, router, stream, pair, xsub, xpub: stdin goes out on a thread while this one
/// prints what arrives. At EOF the sender stops; xpub then lingers and ends.
/// Bad input on stdin ends the program from the sending thread at once, through
/// `end`.
fn both_ways<K: RuntimeKind>(
    sock: &Arc<Socket<K>>,
    cfg: &Config,
    io: Io,
    format: fn(&[Bytes], bool) -> Vec<u8>,
    end_at_eof: bool,
    end: &End,
) -> Result<(), Failure> {
    if cfg.kind == SocketType::XSub {
        for s in &cfg.subscribe {
            let mut frame = vec![1u8];
            frame.extend_from_slice(s.as_bytes());
            send(sock, Msg::single(frame))?;
        }
    }
    let lines = stdin_lines(cfg.kind, cfg.hex);
    let s = sock.clone();
    let end = end.clone();
    std::thread::spawn(move || {
        if let Some(result) = send_lines(&s, lines, end_at_eof) {
            let _ = end.send(Ok(result));
        }
    });
    let printed = receive(sock, cfg, &io, format);
    end_early(sock, printed)
}

/// The stdin half of [`both_ways`]: sends every line, and says how the program
/// ends if this half decides it (`None`: stdin ended and the other half goes on).
fn send_lines<K: RuntimeKind>(
    sock: &Arc<Socket<K>>,
    lines: Receiver<Line>,
    end_at_eof: bool,
) -> Option<Result<(), Failure>> {
    for line in lines {
        match line {
            Ok(Some(msg)) => {
                if let Err(e) = send(sock, msg) {
                    return Some(Err(e));
                }
            }
            Ok(None) => break,
            Err(e) => return Some(end_early(sock, Err(e))),
        }
    }
    end_at_eof.then(|| {
        flush_linger(sock);
        Ok(())
    })
}

/// Reports refused connections (`refused: ENDPOINT: REASON`) and ends the
/// program with [`Failure::Refused`] when every connected endpoint refused and
/// nothing is bound.
///
/// A refusal is what libzmq 4.3 stops reconnecting after (an authentication
/// failure or a protocol error). One more, for CURVE clients: a server that
/// closes the connection during the handshake three times in a row, which is
/// what a CURVE server does with a HELLO it cannot open (a wrong server key);
/// libzmq would retry that for ever, silently.
fn watch_refusals<K: RuntimeKind>(
    mut monitor: zmq_runtime::Monitor,
    cfg: &Config,
    sock: Arc<Socket<K>>,
    end: End,
    reported: Reported,
) {
    const TRIES: u32 = 3;
    let given: HashMap<Endpoint, String> = cfg
        .connects
        .iter()
        .filter_map(|s| Endpoint::parse_connect(s).ok().map(|e| (e, s.clone())))
        .collect();
    let total = given.len();
    let binds = !cfg.binds.is_empty();
    let curve_client = matches!(cfg.security, Security::CurveClient { .. });
    std::thread::spawn(move || {
        let mut refused = HashSet::new();
        let mut closed_in_handshake: HashMap<Endpoint, u32> = HashMap::new();
        while let Ok(event) = monitor.next_blocking(None) {
            let (endpoint, why) = match event {
                MonitorEvent::HandshakeSucceeded { endpoint, .. } => {
                    closed_in_handshake.remove(&endpoint);
                    continue;
                }
                MonitorEvent::HandshakeFailed {
                    endpoint, error, ..
                } if error.is_permanent() => (endpoint, error.to_string()),
                MonitorEvent::HandshakeFailed { endpoint, .. } if curve_client => {
                    let n = closed_in_handshake.entry(endpoint.clone()).or_default();
                    *n += 1;
                    if *n < TRIES {
                        continue;
                    }
                    (
                        endpoint,
                        "the server closed the CURVE handshake (wrong server key?)".to_owned(),
                    )
                }
                _ => continue,
            };
            let Some(name) = given.get(&endpoint) else {
                continue;
            };
            if !refused.insert(name.clone()) {
                continue;
            }
            report_refused(&reported, name, &why);
            let _ = sock.disconnect(name);
            if !binds && refused.len() == total {
                let _ = end.send(Ok(Err(Failure::Refused)));
                return;
            }
        }
    });
}
