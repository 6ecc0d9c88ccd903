//! Memory held per connection before authentication: binds a ROUTER on one
//! runtime, opens raw TCP connections that each send 32 bytes of a greeting
//! (half of it: the handshake never completes), and reports the growth of the
//! heap in use (glibc's mallinfo2: `uordblks + hblkhd`, what was asked of
//! malloc, touched or not) and of the resident set (VmRSS).
//!
//! `cargo run --release -p zmq-cli --example conn_memory -- tokio 1000`
//! (runtimes: tokio, smol, blocking). One runtime per process, so that one
//! run's heap does not blur the next.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The process's threads (`Threads:` in /proc/self/status): a runtime whose
/// thread count grows with idle connections shows it here.
fn threads() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Bytes handed out by malloc, from its arenas and as separate mappings.
// The one unsafe call of the workspace outside its FFI-free crates: a
// measurement, not library code.
#[allow(unsafe_code)]
fn heap_bytes() -> u64 {
    // SAFETY: mallinfo2 only reads the allocator's counters.
    let m = unsafe { libc::mallinfo2() };
    (m.uordblks + m.hblkhd) as u64
}

/// Opens `n` connections to `endpoint`, each sending 32 bytes, and prints the
/// RSS growth once the runtime has had time to read them.
fn measure(runtime: &str, endpoint: &str, n: usize) {
    let addr = endpoint.trim_start_matches("tcp://").to_owned();
    // A first connection warms the runtime up (thread-locals, lazily started
    // threads) so that the figure is per connection.
    let warm = connect(&addr);
    std::thread::sleep(Duration::from_millis(300));
    let (rss0, heap0) = (rss_kib(), heap_bytes());
    let conns: Vec<TcpStream> = (0..n).map(|_| connect(&addr)).collect();
    std::thread::sleep(Duration::from_secs(2));
    let (rss1, heap1, threads1) = (rss_kib(), heap_bytes(), threads());
    let heap = heap1.saturating_sub(heap0);
    let rss = rss1.saturating_sub(rss0) * 1024;
    println!(
        "{runtime}: {n} connections x 32 bytes: heap +{:.1} MB ({} B/conn), VmRSS +{:.1} MB ({} B/conn), {threads1} threads",
        heap as f64 / 1e6,
        heap / n as u64,
        rss as f64 / 1e6,
        rss / n as u64
    );
    drop((warm, conns));
}

fn connect(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect");
    // The first 32 bytes of a ZMTP 3.1 greeting: signature, version, mechanism.
    let mut greeting = [0u8; 32];
    greeting[0] = 0xff;
    greeting[9] = 0x7f;
    greeting[10] = 3;
    greeting[11] = 1;
    greeting[12..16].copy_from_slice(b"NULL");
    s.write_all(&greeting).expect("write");
    s
}

fn main() {
    let mut args = std::env::args().skip(1);
    let runtime = args.next().unwrap_or_else(|| "tokio".into());
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1000);
    match runtime.as_str() {
        "tokio" => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("tokio");
            let router = rt.block_on(async {
                runtime_tokio::Socket::new(runtime_tokio::SocketType::Router).expect("socket")
            });
            let ep = router.bind("tcp://127.0.0.1:*").expect("bind").to_string();
            measure("tokio", &ep, n);
            drop(router);
        }
        "smol" => {
            let router =
                runtime_smol::Socket::new(runtime_smol::SocketType::Router).expect("socket");
            let ep = router.bind("tcp://127.0.0.1:*").expect("bind").to_string();
            measure("smol", &ep, n);
        }
        "blocking" => {
            let router = runtime_blocking::Socket::new(runtime_blocking::SocketType::Router)
                .expect("socket");
            let ep = router.bind("tcp://127.0.0.1:*").expect("bind").to_string();
            measure("blocking", &ep, n);
        }
        other => eprintln!("unknown runtime {other}: tokio, smol or blocking"),
    }
}
