//! CURVE over tcp, PUSH to PULL, at 64 B and 64 KiB, built as a downstream
//! crate is: without the workspace's `--cfg poly1305_force_soft`. Each end
//! runs on its own thread with a current-thread tokio runtime, as each
//! process of `zmq perf --runtime tokio` does, so the figures compare with
//! `PERF_CURVE=1 zmq perf local-thr/remote-thr`.
//!
//! usage: downstream-curve [COUNT_64B [COUNT_64KIB]]   (default 200000 5000)
//!
//! Prints one line per size, `CURVE tcp SIZE B: RATE [msg/s] (COUNT messages)`,
//! the rate counted from the first to the last message received as libzmq's
//! local_thr counts it.

use std::sync::mpsc;
use std::time::Instant;

use runtime_tokio::{KeyPair, Msg, Socket, SocketType};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Messages per second of `count` messages of `size` bytes, PUSH to PULL.
fn measure(size: usize, count: u64) -> Result<u64, runtime_tokio::Error> {
    let server = KeyPair::generate();
    let client = KeyPair::generate();
    let server_public = server.public;
    let (tx, rx) = mpsc::channel();
    let receiver = std::thread::spawn(move || {
        runtime().block_on(async move {
            let pull = Socket::builder(SocketType::Pull)
                .curve_server(server.secret)
                .build()?;
            let ep = pull.bind("tcp://127.0.0.1:*")?;
            tx.send(ep.to_string()).expect("the sender waits");
            pull.recv().await?;
            let start = Instant::now();
            for _ in 1..count {
                let m = match pull.try_recv() {
                    Ok(m) => m,
                    Err(_) => pull.recv().await?,
                };
                assert_eq!(m.byte_len(), size, "message of incorrect size received");
            }
            let us = start.elapsed().as_micros().max(1) as f64;
            Ok::<u64, runtime_tokio::Error>((count as f64 / us * 1e6) as u64)
        })
    });
    let ep = rx.recv().expect("the receiver binds");
    runtime().block_on(async move {
        let push = Socket::builder(SocketType::Push)
            .curve_client(server_public, client)
            .build()?;
        push.connect(ep.as_str())?;
        // A fresh message per send, as libzmq's remote_thr makes them.
        for _ in 0..count {
            push.send(Msg::single(vec![0u8; size])).await?;
        }
        push.close().await;
        Ok::<(), runtime_tokio::Error>(())
    })?;
    receiver.join().expect("the receiving thread")
}

fn main() {
    let arg = |i: usize, default: u64| -> u64 {
        std::env::args().nth(i).map_or(default, |v| {
            v.parse().ok().filter(|n| *n > 0).unwrap_or_else(|| {
                eprintln!("error: count '{v}' (argument {i}) is not a positive number");
                std::process::exit(2);
            })
        })
    };
    let counts = [(64, arg(1, 200_000)), (65536, arg(2, 5_000))];
    println!(
        "poly1305 backend: {}",
        if cfg!(poly1305_force_soft) {
            "soft (--cfg poly1305_force_soft: the workspace's flags reached this build)"
        } else {
            "default (no flags, as a downstream crate builds it)"
        }
    );
    for (size, count) in counts {
        match measure(size, count) {
            Ok(rate) => println!("CURVE tcp {size} B: {rate} [msg/s] ({count} messages)"),
            Err(e) => {
                eprintln!("error: {size} B run failed: {e}");
                std::process::exit(1);
            }
        }
    }
}
