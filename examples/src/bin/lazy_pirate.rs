//! Lazy Pirate (the ZeroMQ guide, chapter 4): reliable request/reply built on
//! the client side alone.
//!
//! A REQ socket whose request goes unanswered is stuck: it may not send again
//! before it has received. So the client waits with a timeout and, when the
//! server stays silent, throws its socket away and retries on a fresh one. The
//! server here "crashes" once: it drops a request unanswered, closes its
//! socket and comes back on the same endpoint, as a restarted process would.
//!
//! Blocking runtime: plain threads, `send` and `recv` that block.
//!
//! `cargo run -p zmq-examples --bin lazy_pirate`

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use runtime_blocking::{Endpoint, Error, Socket, SocketType};

/// How long the client waits for a reply before it gives up on the server.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(1000);
/// Attempts per request before the client decides the server is gone for good.
const REQUEST_RETRIES: u32 = 3;
/// Requests the client makes.
const REQUESTS: u32 = 5;
/// The request the server crashes on (the first time it sees it).
const CRASH_ON: u32 = 3;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rep = Socket::new(SocketType::Rep)?;
    // Port 0 through `*`: the OS picks a free port, and `bind` says which,
    // so the restarted server and the client know where to go.
    let endpoint = rep.bind("tcp://127.0.0.1:*")?;

    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let (endpoint, stop) = (endpoint.clone(), stop.clone());
        thread::spawn(move || server(rep, &endpoint, &stop))
    };

    let outcome = client(&endpoint);
    stop.store(true, Ordering::Relaxed);
    server.join().expect("the server thread panicked")?;
    outcome?;
    println!("client: all {REQUESTS} requests answered");
    Ok(())
}

/// Sends each request until it is answered, on a new socket after each
/// timeout.
fn client(endpoint: &Endpoint) -> Result<(), Box<dyn std::error::Error>> {
    let mut req = client_socket(endpoint)?;
    for n in 1..=REQUESTS {
        let request = n.to_string();
        let mut retries_left = REQUEST_RETRIES;
        loop {
            req.send(&request)?;
            match req.recv() {
                Ok(reply) if reply.to_str() == Ok(&request) => {
                    println!("client: server replied OK ({reply})");
                    break;
                }
                // A reply to another request cannot come back on this
                // socket (each retry is a new one), so this is a broken
                // server rather than a late answer.
                Ok(reply) => return Err(format!("malformed reply from server: {reply}").into()),
                Err(Error::Timeout) => {
                    retries_left -= 1;
                    if retries_left == 0 {
                        return Err("server seems to be offline, abandoning".into());
                    }
                    println!("client: no response from server, retrying request {n}");
                    // The old socket still owes a receive and cannot send;
                    // dropping it with LINGER 0 also discards the request
                    // that may still sit in its queue.
                    req = client_socket(endpoint)?;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

fn client_socket(endpoint: &Endpoint) -> Result<Socket, Error> {
    let req = Socket::builder(SocketType::Req)
        .rcvtimeo(Some(REQUEST_TIMEOUT))
        .linger(Some(Duration::ZERO))
        .build()?;
    req.connect(endpoint)?;
    Ok(req)
}

/// Echoes requests until `stop`, crashing once on request `CRASH_ON`.
fn server(mut rep: Socket, endpoint: &Endpoint, stop: &AtomicBool) -> Result<(), Error> {
    let mut crashed = false;
    while !stop.load(Ordering::Relaxed) {
        // The timeout only lets the loop look at `stop` now and then.
        let request = match rep.recv_timeout(Some(Duration::from_millis(50))) {
            Ok(request) => request,
            Err(Error::Timeout) => continue,
            Err(e) => return Err(e),
        };
        if !crashed && request.to_str() == Ok(&CRASH_ON.to_string()) {
            crashed = true;
            println!("server: crashing on request {request}, restarting");
            rep = restart(rep, endpoint)?;
            continue;
        }
        println!("server: normal request ({request})");
        rep.send(request)?;
    }
    Ok(())
}

/// Closes `rep` without answering and binds a new REP where it was, as a
/// restarted server process would.
fn restart(rep: Socket, endpoint: &Endpoint) -> Result<Socket, Error> {
    rep.close();
    let rep = Socket::new(SocketType::Rep)?;
    // The old listener is released in the background; until it is, the port
    // is still taken, so a real restart would retry its bind too.
    let mut attempts = 0;
    loop {
        match rep.bind(endpoint) {
            Ok(_) => return Ok(rep),
            Err(Error::AddrInUse { .. }) if attempts < 100 => {
                attempts += 1;
                thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e),
        }
    }
}
