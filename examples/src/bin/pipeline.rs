//! A parallel pipeline (the ZeroMQ guide, chapter 1, "divide and conquer":
//! taskvent, taskwork, tasksink).
//!
//! The ventilator PUSHes tasks, which PUSH hands out round-robin to the
//! workers' PULL sockets; each worker PUSHes its result to the sink, whose
//! PULL collects them fairly from every worker. Adding a worker only means
//! starting one: the ventilator and the sink, which bind, never learn about it.
//!
//! smol runtime: the ventilator and the workers are tasks, the sink is `main`.
//!
//! `cargo run -p zmq-examples --bin pipeline`

use std::time::Duration;

use runtime_smol::{Endpoint, Monitor, MonitorEvent, Socket, SocketType};

/// Errors that may cross from a task to `main`.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

const WORKERS: usize = 3;
const TASKS: u64 = 30;

fn main() -> Result<(), BoxError> {
    smol::block_on(async {
        let sink = Socket::new(SocketType::Pull)?;
        let sink_endpoint = sink.bind("tcp://127.0.0.1:*")?;
        let ventilator = Socket::new(SocketType::Push)?;
        let ventilator_endpoint = ventilator.bind("tcp://127.0.0.1:*")?;
        // Watched from before the first worker connects, so no connection
        // goes unseen.
        let monitor = ventilator.monitor();

        let workers: Vec<_> = (1..=WORKERS)
            .map(|id| {
                let (from, to) = (ventilator_endpoint.clone(), sink_endpoint.clone());
                smol::spawn(worker(id, from, to))
            })
            .collect();
        let ventilating = smol::spawn(ventilate(ventilator, monitor));

        let mut done_by = [0u64; WORKERS];
        for _ in 0..TASKS {
            let result = sink.recv().await?;
            let id: usize = result.to_str()?.parse()?;
            let count = id.checked_sub(1).and_then(|i| done_by.get_mut(i));
            *count.ok_or_else(|| format!("a result from unknown worker {id}"))? += 1;
        }
        let total_ms = ventilating.await?;
        println!("sink: {TASKS} results, {total_ms} ms of work in all");
        for (i, n) in done_by.iter().enumerate() {
            println!("sink: worker {}: {n} tasks", i + 1);
        }
        // The workers would wait for tasks for ever; dropping a smol task
        // cancels it, which closes its sockets.
        drop(workers);
        Ok(())
    })
}

/// Sends every task once all the workers are connected; returns the total
/// work handed out, in milliseconds.
async fn ventilate(ventilator: Socket, mut monitor: Monitor) -> Result<u64, BoxError> {
    // PUSH shares the tasks among the workers connected when each is sent:
    // sent now, they would all go to whichever worker happened to connect
    // first. The guide waits for a key press; the monitor is more precise.
    let mut connected = 0;
    while connected < WORKERS {
        match monitor.next_event().await {
            Some(MonitorEvent::HandshakeSucceeded { .. }) => connected += 1,
            Some(_) => {}
            None => return Err("the ventilator closed before the workers came".into()),
        }
    }
    let mut total_ms = 0;
    for task in 0..TASKS {
        let ms = 1 + task % 5;
        total_ms += ms;
        ventilator.send(ms.to_string()).await?;
    }
    Ok(total_ms)
}

async fn worker(id: usize, ventilator: Endpoint, sink: Endpoint) -> Result<(), BoxError> {
    let tasks = Socket::new(SocketType::Pull)?;
    tasks.connect(&ventilator)?;
    let results = Socket::new(SocketType::Push)?;
    results.connect(&sink)?;
    loop {
        let task = tasks.recv().await?;
        let ms: u64 = task.to_str()?.parse()?;
        // The "work": a task is only how long to be busy.
        smol::Timer::after(Duration::from_millis(ms)).await;
        results.send(id.to_string()).await?;
    }
}
