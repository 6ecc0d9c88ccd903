//! `zmq perf local-sub` and `zmq perf remote-pub`: the PUB/SUB fan-out pair
//! of `../shared/bench/libzmq-perf` (local_sub.c, remote_pub.c), with their
//! arguments, options and output lines, so that `run-fanout.sh` runs ours in
//! place of libzmq's and the two mix on one endpoint.
//!
//! There are no sequence numbers on the wire, as in the C pair: a subscriber
//! counts what it received until the publisher's end marker (an empty
//! message), and what is missing of COUNT is lost.

use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use smol::Timer;
use zmq_runtime::{Builder, Msg, RuntimeKind, SendError, Socket, SocketType};

use crate::exec::{Choice, Exec};
use crate::perf;
use crate::Failure;

/// The two fan-out modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// local_sub: a SUB counting what arrives.
    LocalSub,
    /// remote_pub: an XPUB publishing to NSUBS subscribers.
    RemotePub,
}

impl Mode {
    /// `None` for any other word (one of `zmq perf`'s four other modes, or
    /// a mistake that [`perf::Mode::parse`] names).
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "local-sub" => Some(Self::LocalSub),
            "remote-pub" => Some(Self::RemotePub),
            _ => None,
        }
    }
}

/// Runs one mode; `nsubs` is remote-pub's fourth argument.
pub(crate) fn run(
    mode: Mode,
    endpoint: &str,
    size: usize,
    count: u64,
    nsubs: u64,
    runtime: Choice,
) -> Result<(), Failure> {
    crate::with_runtime!(runtime, true, |exec| match mode {
        Mode::LocalSub => run_sub(&exec, endpoint, size, count),
        Mode::RemotePub => run_pub(&exec, endpoint, size, count, nsubs),
    })
}

/// After the first message, this much silence ends a subscriber's run
/// (local_sub.c's RCVTIMEO of 5000 ms).
const SILENCE: Duration = Duration::from_secs(5);
/// The publisher's end markers: one every 10 ms, 200 times, as remote_pub.c
/// sends them (a marker can be dropped at the HWM like any message, the
/// repeats get through once the queues drain).
const MARKER_EVERY: Duration = Duration::from_millis(10);
const MARKERS: usize = 200;

/// What a subscriber saw.
pub(crate) struct SubReport {
    /// Data messages received before the end marker (or the silence).
    pub(crate) received: u64,
    /// From the first to the last data message, in microseconds.
    pub(crate) elapsed_us: u64,
}

/// `PERF_HWM`: SNDHWM for the publisher, RCVHWM for a subscriber (0 = no
/// limit); unset leaves libzmq's default of 1000. The C tools take it through
/// atoi; a value that is not a count is refused here rather than read as 0.
fn perf_hwm() -> Result<Option<usize>, Failure> {
    match std::env::var("PERF_HWM") {
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(v)) => Err(Failure::Usage(format!(
            "PERF_HWM {v:?}: expected a number of messages (0 = no limit)"
        ))),
        Ok(v) => v.trim().parse().map(Some).map_err(|_| {
            Failure::Usage(format!(
                "PERF_HWM '{v}': expected a number of messages (0 = no limit)"
            ))
        }),
    }
}

/// The subscriber's socket: SUB to everything, LINGER 0, RCVHWM from
/// `PERF_HWM`, a CURVE client under `PERF_CURVE=1`.
pub(crate) fn sub_builder<K: RuntimeKind>() -> Result<Builder<K>, Failure> {
    let b = perf::builder::<K>(SocketType::Sub, false)
        .subscribe(Bytes::new())
        .linger(Some(Duration::ZERO));
    Ok(match perf_hwm()? {
        Some(n) => b.rcvhwm(n),
        None => b,
    })
}

/// The publisher's socket: XPUB_VERBOSE (every subscriber's subscription
/// arrives, duplicates too), LINGER 0, SNDHWM from `PERF_HWM`, a CURVE
/// server under `PERF_CURVE=1`.
pub(crate) fn pub_builder<K: RuntimeKind>() -> Result<Builder<K>, Failure> {
    let b = perf::builder::<K>(SocketType::XPub, true)
        .xpub_verbose(true)
        .linger(Some(Duration::ZERO));
    Ok(match perf_hwm()? {
        Some(n) => b.sndhwm(n),
        None => b,
    })
}

/// `zmq perf local-sub EP SIZE COUNT`.
fn run_sub<K: RuntimeKind>(
    exec: &Exec<K>,
    endpoint: &str,
    size: usize,
    count: u64,
) -> Result<(), Failure> {
    let usage = |e: zmq_runtime::Error| Failure::Usage(e.to_string());
    let sock = exec.socket(sub_builder::<K>()?).map_err(usage)?;
    sock.connect(endpoint).map_err(usage)?;
    let report = exec
        .block_on(local_sub(sock, size))
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    print_sub(size, count, &report);
    if report.received == 0 {
        // local_sub.c's exit status: a subscriber that got nothing failed.
        return Err(Failure::Runtime("local-sub: no message received".into()));
    }
    Ok(())
}

/// `zmq perf remote-pub EP SIZE COUNT NSUBS`.
fn run_pub<K: RuntimeKind>(
    exec: &Exec<K>,
    endpoint: &str,
    size: usize,
    count: u64,
    nsubs: u64,
) -> Result<(), Failure> {
    let usage = |e: zmq_runtime::Error| Failure::Usage(e.to_string());
    let sock = exec.socket(pub_builder::<K>()?).map_err(usage)?;
    sock.bind(endpoint).map_err(usage)?;
    let rate = exec
        .block_on(remote_pub(sock, size, count, nsubs))
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    crate::out(&format!(
        "subscribers: {nsubs}\npublish rate: {rate} [msg/s]"
    ));
    Ok(())
}

/// local_sub.c's six lines: its own two, `received` and `lost`, then
/// local_thr's throughput pair over the delivered messages.
pub(crate) fn print_sub(size: usize, count: u64, r: &SubReport) {
    let thr = perf::throughput(r.received, r.elapsed_us);
    let megabits = (thr * size as u64 * 8) as f64 / 1_000_000.0;
    // Signed, as the C tool prints a `long`: more than COUNT received (a
    // publisher sending more than we were told) shows as a negative loss.
    let lost = count as i128 - r.received as i128;
    crate::out(&format!(
        "message size: {size} [B]\nmessage count: {count}\nreceived: {}\nlost: {lost}\n\
         mean throughput: {thr} [msg/s]\nmean throughput: {megabits:.3} [Mb/s]",
        r.received
    ));
}

/// Receives until the end marker; the first message may take as long as the
/// publisher waits for its subscribers, after it [`SILENCE`] ends the run.
pub(crate) async fn local_sub<K: 'static>(
    sock: Socket<K>,
    size: usize,
) -> Result<SubReport, zmq_runtime::Error> {
    let mut received = 0u64;
    let mut start = None;
    let mut last = Instant::now();
    // One timer for the whole run, moved on only when it fires early: arming
    // a timer for every wait would cost more than the wait itself at 64 B.
    let mut silence: Option<Timer> = None;
    loop {
        let msg = match sock.try_recv() {
            Ok(m) => m,
            Err(_) => match silence.as_mut() {
                None => perf::recv(&sock).await?,
                Some(timer) => match recv_or_silence(&sock, timer, &last).await {
                    Some(m) => m?,
                    None => {
                        eprintln!("local-sub: 5 s without a message; no end marker");
                        break;
                    }
                },
            },
        };
        if msg.byte_len() == 0 {
            break;
        }
        if msg.byte_len() != size || msg.len() != 1 {
            eprintln!("message of incorrect size received");
            std::process::exit(1);
        }
        last = Instant::now();
        received += 1;
        start.get_or_insert(last);
        if silence.is_none() {
            silence = Some(Timer::at(last + SILENCE));
        }
    }
    let elapsed_us = start.map_or(0, |s| last.duration_since(s).as_micros() as u64);
    Ok(SubReport {
        received,
        elapsed_us,
    })
}

/// The next message, or `None` once [`SILENCE`] passed since `last`.
async fn recv_or_silence<K: 'static>(
    sock: &Socket<K>,
    timer: &mut Timer,
    last: &Instant,
) -> Option<Result<Msg, zmq_runtime::Error>> {
    loop {
        let fired = smol::future::or(async { Some(sock.recv().await) }, async {
            (&mut *timer).await;
            None
        })
        .await;
        match fired {
            Some(r) => return Some(r),
            None if last.elapsed() >= SILENCE => return None,
            None => timer.set_at(*last + SILENCE),
        }
    }
}

/// Waits for `nsubs` subscriptions, publishes `count` messages of `size`
/// zero bytes as fast as the socket takes them (XPUB drops at the HWM rather
/// than wait), returns that send rate, then sends the end markers.
pub(crate) async fn remote_pub<K: 'static>(
    sock: Socket<K>,
    size: usize,
    count: u64,
    nsubs: u64,
) -> Result<u64, zmq_runtime::Error> {
    let mut subs = 0;
    while subs < nsubs {
        let m = perf::recv(&sock).await?;
        if m.frames().first().and_then(|f| f.first()) == Some(&1) {
            subs += 1;
        }
    }
    // A fresh message per send, as libzmq's remote_pub makes them (see
    // `perf::remote_thr`).
    let bodies = perf::Bodies::new(size);
    let start = Instant::now();
    for _ in 0..count {
        perf::send(&sock, bodies.make()).await?;
    }
    let rate = perf::throughput(count, start.elapsed().as_micros() as u64);
    for _ in 0..MARKERS {
        match sock.try_send(Msg::single(Bytes::new())) {
            Ok(()) | Err(SendError::WouldBlock(_)) => {}
            Err(e) => return Err(e.into()),
        }
        sleep(MARKER_EVERY).await;
    }
    sock.close().await;
    Ok(rate)
}

/// A sleep that lets the runtime run meanwhile (a thread sleep would stop a
/// current-thread runtime from writing the queued messages out), on
/// async-io's timer, which works under every runtime here.
fn sleep(d: Duration) -> impl Future<Output = ()> {
    let timer = Timer::after(d);
    async move {
        timer.await;
    }
}
