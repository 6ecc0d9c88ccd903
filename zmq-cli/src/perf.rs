//! `zmq perf`: libzmq's four perf tools, on the wire and in their output, on
//! any of the runtimes (the fan-out pair is in `fanout.rs`). `PERF_CURVE=1` makes the binding side a CURVE server
//! and the connecting side a client with zmq_curve(7)'s test keys, as
//! `../shared/bench/libzmq-perf` does.

use std::time::Instant;

use bytes::Bytes;
use zmq_runtime::{Builder, KeyPair, Msg, RuntimeKind, SecretKey, Socket, SocketType};

use crate::exec::{Choice, Exec};
use crate::Failure;

/// The four modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    LocalThr,
    RemoteThr,
    LocalLat,
    RemoteLat,
}

impl Mode {
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        Ok(match s {
            "local-thr" => Self::LocalThr,
            "remote-thr" => Self::RemoteThr,
            "local-lat" => Self::LocalLat,
            "remote-lat" => Self::RemoteLat,
            other => {
                return Err(format!(
                    "unknown perf mode '{other}' (local-thr, remote-thr, local-lat, remote-lat, \
                     local-sub or remote-pub)"
                ))
            }
        })
    }
}

const SERVER_SECRET: &str = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";
const CLIENT_SECRET: &str = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";

pub(crate) fn curve() -> bool {
    std::env::var("PERF_CURVE").is_ok_and(|v| v == "1")
}

/// `PERF_REUSE_BODY=1`: every message a sender makes shares one body (a
/// reference count up per send, down per write) instead of a fresh
/// allocation, which takes the allocator out of a profile of this crate's
/// own path. The default makes each message as libzmq's perf tools do, and
/// is what comparisons with them use.
pub(crate) fn reuse_body() -> bool {
    std::env::var("PERF_REUSE_BODY").is_ok_and(|v| v == "1")
}

/// A message of `size` zero bytes the way the sending modes make them: a
/// fresh allocation, or a share of `shared` under [`reuse_body`].
pub(crate) struct Bodies {
    shared: Option<Bytes>,
    size: usize,
}

impl Bodies {
    pub(crate) fn new(size: usize) -> Self {
        Self {
            shared: reuse_body().then(|| Bytes::from(vec![0u8; size])),
            size,
        }
    }

    pub(crate) fn make(&self) -> Msg {
        match &self.shared {
            Some(b) => Msg::single(b.clone()),
            None => Msg::single(vec![0u8; self.size]),
        }
    }
}

fn key(z85: &str) -> SecretKey {
    z85.parse().expect("the zmq_curve(7) test keys are valid")
}

/// A perf socket: the binder is the CURVE server under `PERF_CURVE=1`.
pub(crate) fn builder<K: RuntimeKind>(kind: SocketType, binds: bool) -> Builder<K> {
    let b = Builder::<K>::new(kind);
    match (curve(), binds) {
        (false, _) => b,
        (true, true) => b.curve_server(key(SERVER_SECRET)),
        (true, false) => b.curve_client(
            KeyPair::from_secret(key(SERVER_SECRET)).public,
            KeyPair::from_secret(key(CLIENT_SECRET)),
        ),
    }
}

/// Runs one mode; the measuring modes print libzmq's lines.
pub(crate) fn run(
    mode: Mode,
    endpoint: &str,
    size: usize,
    count: u64,
    runtime: Choice,
) -> Result<(), Failure> {
    crate::with_runtime!(runtime, true, |exec| run_on(
        &exec, mode, endpoint, size, count
    ))
}

fn run_on<K: RuntimeKind>(
    exec: &Exec<K>,
    mode: Mode,
    endpoint: &str,
    size: usize,
    count: u64,
) -> Result<(), Failure> {
    let usage = |e: zmq_runtime::Error| Failure::Usage(e.to_string());
    let kind = match mode {
        Mode::LocalThr => SocketType::Pull,
        Mode::RemoteThr => SocketType::Push,
        Mode::LocalLat => SocketType::Rep,
        Mode::RemoteLat => SocketType::Req,
    };
    let binds = matches!(mode, Mode::LocalThr | Mode::LocalLat);
    let sock = exec.socket(builder::<K>(kind, binds)).map_err(usage)?;
    if binds {
        sock.bind(endpoint).map_err(usage)?;
    } else {
        sock.connect(endpoint).map_err(usage)?;
    }
    let rt = |e: zmq_runtime::Error| Failure::Runtime(e.to_string());
    match mode {
        Mode::LocalThr => {
            let thr = exec.block_on(local_thr(sock, size, count)).map_err(rt)?;
            print_thr(size, count, thr);
        }
        Mode::RemoteThr => exec.block_on(remote_thr(sock, size, count)).map_err(rt)?,
        Mode::LocalLat => exec.block_on(local_lat(sock, count)).map_err(rt)?,
        Mode::RemoteLat => {
            let lat = exec.block_on(remote_lat(sock, size, count)).map_err(rt)?;
            print_lat(size, count, lat);
        }
    }
    Ok(())
}

/// libzmq's arithmetic: messages per second, as an integer.
pub(crate) fn throughput(count: u64, elapsed_us: u64) -> u64 {
    (count as f64 / elapsed_us.max(1) as f64 * 1_000_000.0) as u64
}

pub(crate) fn print_thr(size: usize, count: u64, thr: u64) {
    let megabits = (thr * size as u64 * 8) as f64 / 1_000_000.0;
    crate::out(&format!(
        "message size: {size} [B]\nmessage count: {count}\n\
         mean throughput: {thr} [msg/s]\nmean throughput: {megabits:.3} [Mb/s]"
    ));
}

pub(crate) fn print_lat(size: usize, count: u64, lat_us: f64) {
    crate::out(&format!(
        "message size: {size} [B]\nroundtrip count: {count}\naverage latency: {lat_us:.3} [us]"
    ));
}

fn check(msg: &Msg, size: usize) -> Result<(), zmq_runtime::Error> {
    if msg.byte_len() == size && msg.len() == 1 {
        Ok(())
    } else {
        eprintln!("message of incorrect size received");
        std::process::exit(1);
    }
}

/// Whether `K` is the blocking runtime, measured through the blocking calls
/// its users make (they wait on the calling thread, which reads the socket
/// itself while it waits; the async calls cannot).
fn is_blocking<K: 'static>() -> bool {
    std::any::TypeId::of::<K>() == std::any::TypeId::of::<runtime_blocking::Threads>()
}

/// The next message, the way `K`'s users receive it.
pub(crate) async fn recv<K: 'static>(sock: &Socket<K>) -> Result<Msg, zmq_runtime::Error> {
    if is_blocking::<K>() {
        sock.recv_blocking(None)
    } else {
        sock.recv().await
    }
}

/// Sends the way `K`'s users send.
pub(crate) async fn send<K: 'static>(sock: &Socket<K>, msg: Msg) -> Result<(), zmq_runtime::Error> {
    if is_blocking::<K>() {
        sock.send_blocking(msg, None)
    } else {
        sock.send(msg).await
    }
}

/// Receives `count` messages; throughput counted from the first to the last.
pub(crate) async fn local_thr<K: 'static>(
    sock: Socket<K>,
    size: usize,
    count: u64,
) -> Result<u64, zmq_runtime::Error> {
    check(&recv(&sock).await?, size)?;
    let start = Instant::now();
    for _ in 1..count {
        // The fast path first: a pump that just read 64 KiB left hundreds
        // waiting, and `try_recv` takes them without touching the waker.
        let m = match sock.try_recv() {
            Ok(m) => m,
            Err(_) => recv(&sock).await?,
        };
        check(&m, size)?;
    }
    Ok(throughput(count, start.elapsed().as_micros() as u64))
}

/// Sends `count` messages of `size` bytes, then waits until they are on the
/// wire (LINGER), as libzmq's remote_thr does by closing.
pub(crate) async fn remote_thr<K: 'static>(
    sock: Socket<K>,
    size: usize,
    count: u64,
) -> Result<(), zmq_runtime::Error> {
    // One freshly allocated, zero-filled message per send, as libzmq's
    // remote_thr (`zmq_msg_init_size` and `memset`) and the peers' perf
    // programs make theirs: where the receiving or writing thread is not
    // the sending one, each body is freed on another thread than the one
    // that allocated it, which glibc's allocator makes costly, for them and
    // for us alike.
    let bodies = Bodies::new(size);
    // The branch outside the loop, as a user of either kind writes it: a
    // `send` future per message, even one that never waits, moved the
    // message in and out of its state (80 instructions per message).
    if is_blocking::<K>() {
        for _ in 0..count {
            sock.send_blocking(bodies.make(), None)?;
        }
    } else {
        for _ in 0..count {
            sock.send(bodies.make()).await?;
        }
    }
    sock.close().await;
    Ok(())
}

/// Echoes `count` requests.
pub(crate) async fn local_lat<K: 'static>(
    sock: Socket<K>,
    count: u64,
) -> Result<(), zmq_runtime::Error> {
    for _ in 0..count {
        let m = recv(&sock).await?;
        send(&sock, m).await?;
    }
    // Let the last reply reach the wire before the process ends.
    sock.shutdown().await;
    Ok(())
}

/// `count` round trips; latency = elapsed / (count * 2), in microseconds.
pub(crate) async fn remote_lat<K: 'static>(
    sock: Socket<K>,
    size: usize,
    count: u64,
) -> Result<f64, zmq_runtime::Error> {
    let payload = Bytes::from(vec![0u8; size]);
    let start = Instant::now();
    for _ in 0..count {
        send(&sock, Msg::single(payload.clone())).await?;
        check(&recv(&sock).await?, size)?;
    }
    Ok(start.elapsed().as_secs_f64() * 1e6 / (count as f64 * 2.0))
}
