//! inproc across two threads, measured as libzmq's inproc_thr / inproc_lat
//! do (and /work/shared/bench/libzmq-perf/inproc.c): the main thread binds
//! PULL (thr) or REQ (lat) at `inproc://perf`, a second thread connects PUSH
//! and sends `count` messages, or connects REP and echoes `count` round trips.
//! Throughput is timed from the first message received; latency is half the
//! mean round trip.
//!
//! `cargo run --release -p zmq-cli --example inproc_perf -- tokio thr 64 1000000`
//! (runtimes: tokio, smol, blocking; modes: thr, lat). Each thread drives its
//! socket the way a user of that runtime would: tokio with a current-thread
//! runtime per thread, smol with `smol::block_on`, blocking with the
//! blocking calls.

use std::future::Future;
use std::time::Instant;

use zmq_runtime::{RuntimeKind, Socket, SocketType};

/// How one thread runs its side.
trait Driver: RuntimeKind {
    fn drive<T>(f: impl Future<Output = T>) -> T;
}

impl Driver for runtime_tokio::Tokio {
    fn drive<T>(f: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
            .block_on(f)
    }
}

impl Driver for runtime_smol::Smol {
    fn drive<T>(f: impl Future<Output = T>) -> T {
        smol::block_on(f)
    }
}

impl Driver for runtime_blocking::Threads {
    fn drive<T>(f: impl Future<Output = T>) -> T {
        // Nothing async runs here: the closures below use the blocking calls.
        smol::future::block_on(f)
    }
}

/// Sends or receives one message; blocking runtimes park the thread, the
/// others await.
async fn send<K: RuntimeKind>(s: &Socket<K>, blocking: bool, m: zmq_runtime::Msg) {
    if blocking {
        s.send_blocking(m, None).expect("send");
    } else {
        s.send(m).await.expect("send");
    }
}

async fn recv<K: RuntimeKind>(s: &Socket<K>, blocking: bool) -> zmq_runtime::Msg {
    if blocking {
        s.recv_blocking(None).expect("recv")
    } else {
        s.recv().await.expect("recv")
    }
}

fn run<K: Driver>(blocking: bool, lat: bool, size: usize, count: u64) -> f64 {
    let endpoint = "inproc://perf";
    let (local, remote) = if lat {
        (SocketType::Req, SocketType::Rep)
    } else {
        (SocketType::Pull, SocketType::Push)
    };
    K::drive(async move {
        let s = Socket::<K>::new(local).expect("socket");
        s.bind(endpoint).expect("bind");
        let peer = std::thread::spawn(move || {
            K::drive(async move {
                let s = Socket::<K>::new(remote).expect("socket");
                s.connect(endpoint).expect("connect");
                for _ in 0..count {
                    if lat {
                        let m = recv(&s, blocking).await;
                        send(&s, blocking, m).await;
                    } else {
                        send(&s, blocking, zmq_runtime::Msg::from(vec![0u8; size])).await;
                    }
                }
                // Let the last messages go before the socket closes.
                s.close().await;
            })
        });
        let result = if lat {
            let start = Instant::now();
            for _ in 0..count {
                send(&s, blocking, zmq_runtime::Msg::from(vec![0u8; size])).await;
                recv(&s, blocking).await;
            }
            start.elapsed().as_secs_f64() * 1e6 / (count * 2) as f64
        } else {
            recv(&s, blocking).await;
            let start = Instant::now();
            for _ in 1..count {
                recv(&s, blocking).await;
            }
            count as f64 / start.elapsed().as_secs_f64().max(1e-9)
        };
        peer.join().expect("peer thread");
        result
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 4 || !matches!(args[1].as_str(), "thr" | "lat") {
        eprintln!("usage: inproc_perf (tokio|smol|blocking) (thr|lat) <message-size> <count>");
        std::process::exit(2);
    }
    let lat = args[1] == "lat";
    let size: usize = args[2].parse().expect("a message size");
    let count: u64 = args[3].parse().expect("a count");
    let v = match args[0].as_str() {
        "tokio" => run::<runtime_tokio::Tokio>(false, lat, size, count),
        "smol" => run::<runtime_smol::Smol>(false, lat, size, count),
        "blocking" => run::<runtime_blocking::Threads>(true, lat, size, count),
        other => {
            eprintln!("unknown runtime {other}: tokio, smol or blocking");
            std::process::exit(2);
        }
    };
    if lat {
        println!("average latency: {v:.3} [us]");
    } else {
        println!("mean throughput: {} [msg/s]", v as u64);
    }
}
