//! `zmq soak`: PUSH/PULL, REQ/REP, PUB/SUB and ROUTER/DEALER with CURVE
//! against libzmq (a pyzmq process running `soak_peer.py`) for a set time,
//! all four at once; checks sequence numbers and this process's RSS.
//!
//! Delivery is promised for PUSH/PULL (a connected peer, no HWM drops), for
//! REQ/REP and for ROUTER/DEALER (replies, with a bounded window so no HWM is
//! reached); PUB drops at its HWM by design, so PUB/SUB losses are reported
//! but allowed. Duplicates and reordering are failures everywhere.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

use zmq_runtime::{Builder, Error, Msg, RuntimeKind, Socket, SocketType};
use zmtp_core::KeyPair;

use crate::exec::{Choice, Exec};
use crate::Failure;

/// How long the subscriber keeps receiving after the run has ended, when
/// the peer's publisher does not stop (a stopped one goes quiet within
/// moments, which ends the subscriber sooner).
const SUB_DRAIN: Duration = Duration::from_secs(10);

/// What `zmq soak` was asked to do.
pub(crate) struct Plan {
    pub(crate) duration: Duration,
    pub(crate) peer_script: String,
    pub(crate) max_rss_growth_kib: u64,
    pub(crate) runtime: Choice,
}

/// Parses `120s`, `2m`, `500ms` or a bare number of seconds.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("--duration '{s}': expected a number with s, m or ms (120s, 2m, 500ms)");
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num.parse().map_err(|_| bad())?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        _ => return Err(bad()),
    };
    if d.is_zero() {
        return Err(bad());
    }
    Ok(d)
}

/// A sequence-number tally: `moved` distinct numbers seen, `dup` seen twice,
/// `reordered` arrived after a later one (filling a gap), `lost` (set at the
/// end) never arrived.
#[derive(Default)]
struct Tally {
    next: u64,
    moved: u64,
    dup: u64,
    reordered: u64,
    lost: u64,
    gaps: BTreeSet<u64>,
}

impl Tally {
    fn see(&mut self, n: u64) {
        if n == self.next {
            self.moved += 1;
            self.next += 1;
        } else if n > self.next {
            self.gaps.extend(self.next..n);
            self.moved += 1;
            self.next = n + 1;
        } else if self.gaps.remove(&n) {
            self.moved += 1;
            self.reordered += 1;
        } else {
            self.dup += 1;
        }
    }

    /// Counts as lost what never came of the first `sent`.
    fn close(mut self, sent: u64) -> Self {
        self.lost = self.gaps.len() as u64 + sent.saturating_sub(self.next);
        self
    }
}

fn seq_of(m: &Msg, frame: usize) -> Result<u64, String> {
    m.frames()
        .get(frame)
        .and_then(|f| f.get(..8))
        .map(|b| u64::from_be_bytes(b.try_into().expect("8 bytes")))
        .ok_or_else(|| format!("a message without a sequence number: {m:?}"))
}

fn payload(seq: u64) -> Vec<u8> {
    let mut v = seq.to_be_bytes().to_vec();
    v.resize(64, b's');
    v
}

/// This process's resident set and its peak, in KiB (Linux `/proc`).
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The pyzmq process.
struct Peer {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl Peer {
    fn start(script: &str, secret: &str) -> Result<(Self, Vec<String>), Failure> {
        let mut child = Command::new("python3")
            .arg("-u")
            .arg(script)
            .arg(secret)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| {
                Failure::Usage(format!("--peer-script {script}: cannot run python3: {e}"))
            })?;
        let stdout = child.stdout.take().expect("piped");
        let stdin = child.stdin.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut peer = Self {
            child,
            stdin,
            lines,
        };
        let first = peer.line(Duration::from_secs(30))?;
        let ports = first
            .strip_prefix("PORTS ")
            .ok_or_else(|| Failure::Runtime(format!("libzmq peer ({script}) said: {first}")))?;
        let eps = ports
            .split(' ')
            .map(|p| format!("tcp://127.0.0.1:{p}"))
            .collect();
        Ok((peer, eps))
    }

    fn line(&mut self, within: Duration) -> Result<String, Failure> {
        self.lines
            .recv_timeout(within)
            .map_err(|_| Failure::Runtime("the libzmq peer stopped answering".into()))
    }

    fn say(&mut self, line: &str) -> Result<(), Failure> {
        writeln!(self.stdin, "{line}")
            .and_then(|()| self.stdin.flush())
            .map_err(|e| Failure::Runtime(format!("the libzmq peer went away: {e}")))
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One pattern's result.
struct Row {
    name: &'static str,
    promised: bool,
    tally: Tally,
}

/// Runs the soak; `Err` (exit 1) on a loss where delivery is promised, any
/// duplicate or reordering, or RSS growth over the limit.
pub(crate) fn run(plan: &Plan) -> Result<(), Failure> {
    crate::with_runtime!(plan.runtime, false, |exec| run_on(&exec, plan))
}

fn run_on<K: RuntimeKind>(exec: &Exec<K>, plan: &Plan) -> Result<(), Failure> {
    let server = KeyPair::generate();
    let (mut peer, eps) = Peer::start(&plan.peer_script, &server.secret.to_z85())?;
    let rt = |e: Error| Failure::Runtime(e.to_string());
    let sock = |kind: SocketType, ep: &str| -> Result<Socket<K>, Failure> {
        let s = exec
            .socket(
                Builder::new(kind)
                    .linger(Some(Duration::ZERO))
                    .curve_client(server.public, KeyPair::generate()),
            )
            .map_err(rt)?;
        s.connect(ep).map_err(rt)?;
        Ok(s)
    };
    let push = sock(SocketType::Push, &eps[0])?;
    let req = sock(SocketType::Req, &eps[1])?;
    let sub = sock(SocketType::Sub, &eps[2])?;
    sub.subscribe("").map_err(rt)?;
    let dealer = sock(SocketType::Dealer, &eps[3])?;

    let stop = Arc::new(AtomicBool::new(false));
    let sub_stop = Arc::new(AtomicBool::new(false));
    let wait = Some(Duration::from_secs(10));
    let started = Instant::now();
    let warmup = (plan.duration / 4).min(Duration::from_secs(10));
    println!(
        "soak: {:?} on {}, CURVE, against libzmq (pyzmq); warm-up {:?}",
        plan.duration,
        plan.runtime.name(),
        warmup
    );

    let (rows, push_sent, warm_rss) = std::thread::scope(|s| {
        let push_t = s.spawn(|| -> Result<u64, String> {
            let mut seq = 0u64;
            while !stop.load(Ordering::Relaxed) {
                push.send_blocking(payload(seq), wait)
                    .map_err(|e| stalled("push", &push, &eps[0], seq, e))?;
                seq += 1;
            }
            Ok(seq)
        });
        let req_t = s.spawn(|| -> Result<Tally, String> {
            let mut t = Tally::default();
            let mut seq = 0u64;
            while !stop.load(Ordering::Relaxed) {
                req.send_blocking(payload(seq), wait)
                    .map_err(|e| stalled("req", &req, &eps[1], seq, e))?;
                let m = req
                    .recv_blocking(wait)
                    .map_err(|e| format!("req reply {seq}: {e}"))?;
                t.see(seq_of(&m, 0)?);
                seq += 1;
            }
            Ok(t.close(seq))
        });
        let dealer_t = s.spawn(|| -> Result<Tally, String> {
            const WINDOW: u64 = 100;
            let mut t = Tally::default();
            let mut seq = 0u64;
            while !stop.load(Ordering::Relaxed) {
                while seq < t.next + WINDOW {
                    dealer
                        .send_blocking(payload(seq), wait)
                        .map_err(|e| stalled("dealer", &dealer, &eps[3], seq, e))?;
                    seq += 1;
                }
                let m = dealer
                    .recv_blocking(wait)
                    .map_err(|e| format!("dealer reply: {e}"))?;
                t.see(seq_of(&m, 0)?);
            }
            while t.next < seq {
                match dealer.recv_blocking(Some(Duration::from_secs(5))) {
                    Ok(m) => t.see(seq_of(&m, 0)?),
                    Err(_) => break,
                }
            }
            Ok(t.close(seq))
        });
        let sub_t = s.spawn(|| -> Result<(Tally, u64), String> {
            let mut t = Tally::default();
            let mut first = None;
            let mut stop_seen: Option<Instant> = None;
            loop {
                match sub.recv_blocking(Some(Duration::from_millis(500))) {
                    Ok(m) => {
                        let n = seq_of(&m, 0)?;
                        // A late joiner misses the first messages: count from
                        // the first one it saw.
                        let base = *first.get_or_insert(n);
                        t.see(n.saturating_sub(base));
                        // The peer stops publishing once told; one that goes
                        // on (it was never told: another thread failed first)
                        // must not keep this thread, and the run, going.
                        if sub_stop.load(Ordering::Relaxed)
                            && stop_seen.get_or_insert_with(Instant::now).elapsed() > SUB_DRAIN
                        {
                            break;
                        }
                    }
                    Err(Error::Timeout) if sub_stop.load(Ordering::Relaxed) => break,
                    Err(Error::Timeout) => {}
                    Err(e) => return Err(format!("sub: {e}")),
                }
            }
            Ok((t, first.unwrap_or(0)))
        });
        std::thread::sleep(warmup);
        let warm_rss = rss_kib().0;
        std::thread::sleep(plan.duration.saturating_sub(started.elapsed()));
        stop.store(true, Ordering::Relaxed);
        let join = |h: std::thread::ScopedJoinHandle<'_, Result<Tally, String>>| {
            h.join()
                .unwrap_or_else(|_| Err("a soak thread panicked".into()))
        };
        let push_sent = push_t
            .join()
            .unwrap_or_else(|_| Err("the push thread panicked".into()));
        let req_r = join(req_t);
        let dealer_r = join(dealer_t);
        let stats = push_sent.as_ref().map_err(Clone::clone).and_then(|&n| {
            peer.say(&format!("stop {n}")).map_err(fail_text)?;
            peer.line(Duration::from_secs(30)).map_err(fail_text)
        });
        sub_stop.store(true, Ordering::Relaxed);
        let sub_r = sub_t
            .join()
            .unwrap_or_else(|_| Err("the sub thread panicked".into()));
        ((stats, req_r, sub_r, dealer_r), push_sent, warm_rss)
    });
    let _ = peer.say("quit");
    let (stats, req_r, sub_r, dealer_r) = rows;
    let push_sent = push_sent.map_err(Failure::Runtime)?;
    let stats = stats.map_err(Failure::Runtime)?;
    let f: Vec<u64> = stats
        .strip_prefix("STATS ")
        .map(|s| s.split(' ').filter_map(|v| v.parse().ok()).collect())
        .unwrap_or_default();
    let [moved, dup, reordered, lost, published] = f[..] else {
        return Err(Failure::Runtime(format!("libzmq peer: {stats}")));
    };
    let pull = Tally {
        moved,
        dup,
        reordered,
        lost,
        next: push_sent,
        gaps: BTreeSet::new(),
    };
    let (sub_t, base) = sub_r.map_err(Failure::Runtime)?;
    // Lost: what the PUB sent from the SUB's first message on and never came.
    let sub_t = sub_t.close(published.saturating_sub(base));
    let rows = [
        Row {
            name: "push/pull",
            promised: true,
            tally: pull,
        },
        Row {
            name: "req/rep",
            promised: true,
            tally: req_r.map_err(Failure::Runtime)?,
        },
        Row {
            name: "pub/sub",
            promised: false,
            tally: sub_t,
        },
        Row {
            name: "router/dealer",
            promised: true,
            tally: dealer_r.map_err(Failure::Runtime)?,
        },
    ];
    let (end_rss, peak_rss) = rss_kib();
    report(plan, &rows, warm_rss, end_rss, peak_rss)
}

/// A send that failed, with what there is to go on when it timed out:
/// whether the socket would take a message now (then its wait missed a
/// wake-up) and the kernel's view of the connection (`ss`: our Send-Q full
/// and the peer's Recv-Q full say the peer stopped reading; an empty Send-Q
/// says the bytes never reached the socket).
fn stalled<K>(name: &str, sock: &Socket<K>, ep: &str, seq: u64, e: Error) -> String {
    if !matches!(e, Error::Timeout) {
        return format!("{name}: {e}");
    }
    let room = if sock.can_send() {
        "takes a message now (its wait missed a wake-up)"
    } else {
        "still has no room"
    };
    let port = ep.rsplit(':').next().unwrap_or_default();
    let filter = format!("( sport = :{port} or dport = :{port} )");
    let ss = Command::new("ss")
        .args(["-tmnio", "state", "all", &filter])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_else(|e| format!("(ss failed: {e})"));
    format!("{name}: message {seq}: {e}; the socket {room}; ss:\n{ss}")
}

fn fail_text(f: Failure) -> String {
    match f {
        Failure::Runtime(s) | Failure::Usage(s) => s,
        _ => "the libzmq peer failed".into(),
    }
}

fn report(plan: &Plan, rows: &[Row], warm: u64, end: u64, peak: u64) -> Result<(), Failure> {
    println!(
        "{:<14} {:>10} {:>6} {:>10} {:>10}  delivery",
        "pattern", "moved", "lost", "duplicated", "reordered"
    );
    let mut bad = Vec::new();
    for r in rows {
        let t = &r.tally;
        println!(
            "{:<14} {:>10} {:>6} {:>10} {:>10}  {}",
            r.name,
            t.moved,
            t.lost,
            t.dup,
            t.reordered,
            if r.promised {
                "promised"
            } else {
                "best effort (PUB drops at HWM)"
            }
        );
        if r.promised && t.lost > 0 {
            bad.push(format!("{}: {} lost", r.name, t.lost));
        }
        if t.dup > 0 || t.reordered > 0 {
            bad.push(format!(
                "{}: {} duplicated, {} reordered",
                r.name, t.dup, t.reordered
            ));
        }
        if t.moved == 0 {
            bad.push(format!("{}: nothing moved", r.name));
        }
    }
    let growth = end.saturating_sub(warm);
    println!(
        "rss: {warm} KiB after warm-up, {end} KiB at the end (+{growth} KiB, limit +{} KiB), peak {peak} KiB",
        plan.max_rss_growth_kib
    );
    if growth > plan.max_rss_growth_kib {
        bad.push(format!("RSS grew by {growth} KiB after warm-up"));
    }
    if bad.is_empty() {
        println!("soak: ok");
        Ok(())
    } else {
        Err(Failure::Runtime(format!("soak failed: {}", bad.join("; "))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_tells_loss_duplicates_and_reordering() {
        let mut t = Tally::default();
        for n in [0, 1, 3, 2, 2, 5] {
            t.see(n);
        }
        let t = t.close(7);
        assert_eq!((t.moved, t.dup, t.reordered), (5, 1, 1));
        // 4 never came, 6 was sent and never came.
        assert_eq!(t.lost, 2);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("120s"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        for bad in ["", "0s", "2h", "s", "-1s"] {
            assert!(
                parse_duration(bad).unwrap_err().contains("--duration"),
                "{bad}"
            );
        }
    }
}
