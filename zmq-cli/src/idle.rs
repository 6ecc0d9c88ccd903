//! `zmq perf idle-conns N`: what an idle connection costs, measured as
//! `../shared/bench/libzmq-perf/idle_conns.c` measures libzmq's, with its
//! output lines, so that `run-memory.sh` runs ours in its place.
//!
//! This process binds a ROUTER on `tcp://127.0.0.1:*`; a second process (this
//! binary again, mode `idle-conns-dealers`, where the C tool forks) opens N
//! DEALER sockets, each connected once. Every DEALER sends one message and
//! the ROUTER answers each by its routing id, so every connection is up
//! both ways when the child has all N answers. Each process reads its own
//! VmRSS before the connections (runtime started, no connection) and after
//! (all connected, idle); this one prints both sides and
//! (after - before) / N. `PERF_CURVE=1`: CURVE, as in the other modes.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use zmq_runtime::{Msg, RuntimeKind, Socket, SocketType};

use crate::exec::{Choice, Exec};
use crate::perf;
use crate::Failure;

/// The resident set of this process, in KiB (`VmRSS` of /proc/self/status).
fn rss_kib() -> Result<u64, Failure> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| Failure::Runtime(format!("idle-conns: /proc/self/status: {e}")))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| Failure::Runtime("idle-conns: no VmRSS in /proc/self/status".into()))
}

/// Lets this process hold `need` descriptors, as far as the hard limit
/// allows: each connection is one, and a soft limit of 1024 is common.
fn raise_nofile(need: u64) {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let now = getrlimit(Resource::Nofile);
    if now.current.is_none_or(|c| c >= need) {
        return;
    }
    let current = now.maximum.map_or(need, |max| need.min(max));
    // On failure the run goes on, and a connection that finds no descriptor
    // fails with an error that says so.
    let _ = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(current),
            maximum: now.maximum,
        },
    );
}

/// Bytes per connection from two RSS readings in KiB, as the C tool prints
/// them (no decimals, negative if the process shrank).
fn per_conn(before: u64, after: u64, n: u64) -> f64 {
    (after as f64 - before as f64) * 1024.0 / n as f64
}

/// `zmq perf idle-conns N`: the ROUTER side, which starts the DEALER side.
pub(crate) fn run(n: u64, runtime: Choice) -> Result<(), Failure> {
    raise_nofile(n + 256);
    crate::with_runtime!(runtime, true, |exec| router(&exec, n, runtime))
}

/// `zmq perf idle-conns-dealers EP N`: the DEALER side, run by [`run`] with
/// its stdin and stdout as the two pipes of the C tool.
pub(crate) fn run_dealers(endpoint: &str, n: u64, runtime: Choice) -> Result<(), Failure> {
    raise_nofile(n + 256);
    crate::with_runtime!(runtime, true, |exec| dealers(&exec, endpoint, n))
}

fn router<K: RuntimeKind>(exec: &Exec<K>, n: u64, runtime: Choice) -> Result<(), Failure> {
    let usage = |e: zmq_runtime::Error| Failure::Usage(e.to_string());
    let rt = |e: zmq_runtime::Error| Failure::Runtime(e.to_string());
    let builder = perf::builder::<K>(SocketType::Router, true).linger(Some(Duration::ZERO));
    let sock = exec.socket(builder).map_err(usage)?;
    let endpoint = sock.bind("tcp://127.0.0.1:*").map_err(usage)?.to_string();
    let before = rss_kib()?;

    let exe = std::env::current_exe()
        .map_err(|e| Failure::Runtime(format!("idle-conns: this program's path: {e}")))?;
    let mut child = Command::new(exe)
        .args(["perf", "idle-conns-dealers", &endpoint, &n.to_string()])
        .args(["--runtime", runtime.name()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| Failure::Runtime(format!("idle-conns: starting the DEALER side: {e}")))?;

    let start = Instant::now();
    let sock = exec.block_on(echo(sock, n)).map_err(rt)?;
    let report = child.stdout.take().map(BufReader::new).and_then(|mut r| {
        let mut line = String::new();
        r.read_line(&mut line).ok()?;
        let mut words = line.split_whitespace().map(str::parse::<u64>);
        Some((words.next()?.ok()?, words.next()?.ok()?))
    });
    let elapsed = start.elapsed();
    let after = rss_kib()?;
    // The child tears down once told (or once its stdin closes).
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(b"x");
    }
    let status = child.wait();
    drop(sock);
    let Some((d_before, d_after)) = report else {
        return Err(Failure::Runtime(
            "idle-conns: the DEALER side reported nothing".into(),
        ));
    };
    crate::out(&format!(
        "connections: {n} ({})\nall connected + ping round: {:.1} [ms]\n\
         ROUTER process RSS: before {before} kB, after {after} kB, {:.0} [B/conn]\n\
         DEALER process RSS: before {d_before} kB, after {d_after} kB, {:.0} [B/conn]",
        if perf::curve() { "CURVE" } else { "NULL" },
        elapsed.as_secs_f64() * 1000.0,
        per_conn(before, after, n),
        per_conn(d_before, d_after, n),
    ));
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(Failure::Runtime(format!(
            "idle-conns: the DEALER side exited with {s}"
        ))),
        Err(e) => Err(Failure::Runtime(format!(
            "idle-conns: waiting for the DEALER side: {e}"
        ))),
    }
}

/// Answers `n` pings, each to the DEALER that sent it; gives the socket back
/// so that its connections outlive the measurement.
async fn echo<K: 'static>(sock: Socket<K>, n: u64) -> Result<Socket<K>, zmq_runtime::Error> {
    for _ in 0..n {
        let ping = perf::recv(&sock).await?;
        perf::send(&sock, ping).await?;
    }
    Ok(sock)
}

fn dealers<K: RuntimeKind>(exec: &Exec<K>, endpoint: &str, n: u64) -> Result<(), Failure> {
    let usage = |e: zmq_runtime::Error| Failure::Usage(e.to_string());
    let rt = |e: zmq_runtime::Error| Failure::Runtime(e.to_string());
    let builder = || perf::builder::<K>(SocketType::Dealer, false).linger(Some(Duration::ZERO));
    // One socket first, as the C tool's probe, so that "before" counts the
    // runtime's threads and buffers but no connection.
    drop(exec.socket(builder()).map_err(usage)?);
    let before = rss_kib()?;
    let mut socks = Vec::new();
    for _ in 0..n {
        let s = exec.socket(builder()).map_err(usage)?;
        s.connect(endpoint).map_err(usage)?;
        socks.push(s);
    }
    let socks = exec.block_on(ping_all(socks)).map_err(rt)?;
    let after = rss_kib()?;
    crate::out(&format!("{before} {after}"));
    // Idle until the ROUTER side has measured; EOF counts as the word too.
    let mut word = [0u8; 1];
    let _ = std::io::Read::read(&mut std::io::stdin(), &mut word);
    drop(socks);
    Ok(())
}

/// Every DEALER sends a ping, then waits for its answer.
async fn ping_all<K: 'static>(socks: Vec<Socket<K>>) -> Result<Vec<Socket<K>>, zmq_runtime::Error> {
    for s in &socks {
        perf::send(s, Msg::single("ping")).await?;
    }
    for s in &socks {
        perf::recv(s).await?;
    }
    Ok(socks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_per_connection_as_the_c_tool_computes_them() {
        assert_eq!(per_conn(1000, 1010, 1), 10_240.0);
        assert_eq!(per_conn(1000, 1100, 1000), 102.4);
        assert_eq!(per_conn(1100, 1000, 100), -1024.0);
    }

    #[test]
    fn reads_this_process_resident_set() {
        let kib = rss_kib().unwrap_or(0);
        assert!(kib > 0, "VmRSS of a running test process: {kib} kB");
    }
}
