//! A request/reply broker (the ZeroMQ guide, chapter 2, "rrbroker" with
//! `zmq_proxy`): clients and workers each know only the broker, so either
//! side can grow or shrink without the other noticing.
//!
//! REQ clients talk to the broker's ROUTER frontend, which remembers who
//! asked by the envelope it puts on each request; the DEALER backend hands
//! the requests round-robin to REP workers, and the replies find their way
//! back along the same envelopes. The forwarding loop is the library's
//! `proxy_steerable`; its control socket lets the program ask for statistics
//! and stop it once every client is served.
//!
//! tokio runtime: every party is a task.
//!
//! `cargo run -p zmq-examples --bin broker`

use runtime_tokio::{proxy_steerable, Endpoint, Error, ProxyStats, Socket, SocketType};
use tokio::task::JoinSet;

/// Errors that may cross task boundaries.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

const WORKERS: usize = 3;
const CLIENTS: usize = 3;
const REQUESTS_PER_CLIENT: usize = 3;
/// Where the broker takes PAUSE / RESUME / STATISTICS / TERMINATE.
const CONTROL: &str = "inproc://broker-control";

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let frontend = Socket::new(SocketType::Router)?;
    let frontend_endpoint = frontend.bind("tcp://127.0.0.1:*")?;
    let backend = Socket::new(SocketType::Dealer)?;
    let backend_endpoint = backend.bind("tcp://127.0.0.1:*")?;
    // A REP control socket answers every command, so whoever sends TERMINATE
    // learns that the broker has stopped.
    let control = Socket::new(SocketType::Rep)?;
    control.bind(CONTROL)?;

    let mut workers = JoinSet::new();
    for id in 1..=WORKERS {
        workers.spawn(worker(id, backend_endpoint.clone()));
    }
    let mut clients = JoinSet::new();
    for id in 1..=CLIENTS {
        clients.spawn(client(id, frontend_endpoint.clone()));
    }
    let controller = tokio::spawn(stop_when_served(clients));

    // The broker runs in this task until the controller sends TERMINATE.
    proxy_steerable(&frontend, &backend, None, Some(&control)).await;
    let stats = controller.await??;
    println!(
        "broker: {} requests in, {} replies out",
        stats.frontend.msgs_in, stats.frontend.msgs_out
    );
    // Workers serve for ever, as real ones do; ending the program ends them.
    workers.shutdown().await;
    Ok(())
}

/// Waits for every client, then reads the broker's counters and stops it.
async fn stop_when_served(
    mut clients: JoinSet<Result<(), BoxError>>,
) -> Result<ProxyStats, BoxError> {
    // The broker is stopped even after a client failed, so that the program
    // ends and reports the failure instead of forwarding for ever.
    let mut failure = None;
    while let Some(client) = clients.join_next().await {
        if let Err(e) = client.map_err(BoxError::from).and_then(|served| served) {
            failure.get_or_insert(e);
        }
    }
    let control = Socket::new(SocketType::Req)?;
    control.connect(CONTROL)?;
    control.send("STATISTICS").await?;
    let stats = ProxyStats::from_msg(&control.recv().await?).ok_or("malformed STATISTICS reply")?;
    control.send("TERMINATE").await?;
    control.recv().await?;
    failure.map_or(Ok(stats), Err)
}

async fn client(id: usize, broker: Endpoint) -> Result<(), BoxError> {
    let req = Socket::new(SocketType::Req)?;
    req.connect(&broker)?;
    for n in 1..=REQUESTS_PER_CLIENT {
        let request = format!("request {n} of client {id}");
        req.send(&request).await?;
        let reply = req.recv().await?;
        let reply = reply.to_str()?;
        if !reply.starts_with(&request) {
            return Err(format!("client {id} asked for {request:?} and got {reply:?}").into());
        }
        println!("client {id}: {reply}");
    }
    Ok(())
}

async fn worker(id: usize, broker: Endpoint) -> Result<(), Error> {
    let rep = Socket::new(SocketType::Rep)?;
    rep.connect(&broker)?;
    loop {
        // REP strips the envelope the broker's ROUTER added and puts it back
        // on the reply: the worker sees only the request.
        let request = rep.recv().await?;
        rep.send(format!("{request}, served by worker {id}"))
            .await?;
    }
}
