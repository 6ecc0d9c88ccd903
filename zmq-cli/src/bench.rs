//! `zmq bench`: throughput and latency of every runtime over tcp, ipc and
//! inproc, both ends in this process, each on its own thread and runtime
//! instance. Over inproc each end also runs on its own thread for every
//! runtime, as libzmq's inproc_thr and inproc_lat measure; over tcp and ipc
//! smol's two ends run as tasks of its global executor, next to their stream
//! tasks (one thread unless SMOL_THREADS says otherwise).

use std::future::Future;
use std::sync::mpsc;

use indicatif::{ProgressBar, ProgressStyle};
use zmq_runtime::{RuntimeKind, Socket, SocketType};

use crate::exec::{Choice, Exec};
use crate::perf;
use crate::Failure;

/// What to measure.
pub(crate) struct Plan {
    pub(crate) size: usize,
    pub(crate) count: u64,
    pub(crate) roundtrips: u64,
    pub(crate) runtimes: Vec<Choice>,
    pub(crate) transports: Vec<&'static str>,
    pub(crate) json: bool,
}

/// One measured cell.
struct Row {
    runtime: &'static str,
    transport: &'static str,
    thr: u64,
    lat_us: f64,
}

pub(crate) const TRANSPORTS: [&str; 3] = ["tcp", "ipc", "inproc"];

fn endpoint(transport: &str, n: usize) -> String {
    match transport {
        "tcp" => "tcp://127.0.0.1:*".into(),
        "ipc" => format!("ipc:///tmp/zmq-bench-{}-{n}.sock", std::process::id()),
        _ => format!("inproc://zmq-bench-{n}"),
    }
}

pub(crate) fn run(plan: &Plan) -> Result<(), Failure> {
    let cells = plan.runtimes.len() * plan.transports.len();
    let bar = ProgressBar::new(2 * cells as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
            .expect("a valid progress template"),
    );
    let mut rows = Vec::new();
    let mut n = 0;
    for &rt in &plan.runtimes {
        for &transport in &plan.transports {
            n += 1;
            bar.set_message(format!("{} {transport} throughput", rt.name()));
            let ep = endpoint(transport, n);
            let thr = crate::with_kind!(rt, K => thr_cell::<K>(rt, &ep, plan))?;
            bar.inc(1);
            n += 1;
            bar.set_message(format!("{} {transport} latency", rt.name()));
            let ep = endpoint(transport, n);
            let lat_us = crate::with_kind!(rt, K => lat_cell::<K>(rt, &ep, plan))?;
            bar.inc(1);
            rows.push(Row {
                runtime: rt.name(),
                transport,
                thr,
                lat_us,
            });
        }
    }
    bar.finish_and_clear();
    if plan.json {
        print_json(plan, &rows);
    } else {
        print_table(plan, &rows);
    }
    Ok(())
}

fn rt_err(e: zmq_runtime::Error) -> Failure {
    Failure::Runtime(e.to_string())
}

/// Throughput, as local-thr and remote-thr measure it.
fn thr_cell<K: RuntimeKind>(choice: Choice, endpoint: &str, plan: &Plan) -> Result<u64, Failure> {
    let (size, count) = (plan.size, plan.count);
    let (thr, ()) = cell::<K, _, _, _, _>(
        choice,
        endpoint,
        (SocketType::Pull, SocketType::Push),
        move |s| perf::local_thr(s, size, count),
        move |s| perf::remote_thr(s, size, count),
    )?;
    Ok(thr)
}

/// Latency, as local-lat and remote-lat measure it.
fn lat_cell<K: RuntimeKind>(choice: Choice, endpoint: &str, plan: &Plan) -> Result<f64, Failure> {
    let (size, count) = (plan.size, plan.roundtrips);
    let ((), lat) = cell::<K, _, _, _, _>(
        choice,
        endpoint,
        (SocketType::Rep, SocketType::Req),
        move |s| perf::local_lat(s, count),
        move |s| perf::remote_lat(s, size, count),
    )?;
    Ok(lat)
}

/// Runs the two ends of a cell, each on a thread with its own runtime
/// instance: `kinds.0` binds `endpoint` and runs `binder`, `kinds.1` connects
/// to what was bound and runs `connecter`.
fn cell<K, FA, FB, A, B>(
    choice: Choice,
    endpoint: &str,
    kinds: (SocketType, SocketType),
    binder: impl FnOnce(Socket<K>) -> FA + Send,
    connecter: impl FnOnce(Socket<K>) -> FB + Send,
) -> Result<(A, B), Failure>
where
    K: RuntimeKind,
    FA: Future<Output = Result<A, zmq_runtime::Error>> + Send + 'static,
    FB: Future<Output = Result<B, zmq_runtime::Error>> + Send + 'static,
    A: Send,
    B: Send,
{
    // inproc has no stream tasks to sit next to: each end runs where it was
    // started, so that the two ends are two threads on every runtime.
    let here = endpoint.starts_with("inproc://");
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        let bound_side = s.spawn(move || -> Result<A, Failure> {
            let exec = Exec::<K>::new(choice, true);
            let sock = exec
                .socket(perf::builder::<K>(kinds.0, true))
                .map_err(rt_err)?;
            let bound = sock.bind(endpoint).map_err(rt_err)?;
            tx.send(bound.to_string())
                .expect("the connecting end waits");
            drive(&exec, here, binder(sock)).map_err(rt_err)
        });
        let connected_side = s.spawn(move || -> Result<Option<B>, Failure> {
            // No endpoint: the binding end failed, and says why.
            let Ok(ep) = rx.recv() else {
                return Ok(None);
            };
            let exec = Exec::<K>::new(choice, true);
            let sock = exec
                .socket(perf::builder::<K>(kinds.1, false))
                .map_err(rt_err)?;
            sock.connect(&ep).map_err(rt_err)?;
            drive(&exec, here, connecter(sock))
                .map(Some)
                .map_err(rt_err)
        });
        let b = connected_side.join().expect("bench connecting end");
        let a = bound_side.join().expect("bench binding end")?;
        match b? {
            Some(b) => Ok((a, b)),
            None => Err(Failure::Runtime("the binding end gave no endpoint".into())),
        }
    })
}

/// Runs one end: on this thread (`here`) or where the runtime runs tasks.
fn drive<K: RuntimeKind, F>(exec: &Exec<K>, here: bool, f: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send,
{
    if here {
        exec.block_on_here(f)
    } else {
        exec.block_on(f)
    }
}

fn print_table(plan: &Plan, rows: &[Row]) {
    let curve = std::env::var("PERF_CURVE").is_ok_and(|v| v == "1");
    let mut t = format!(
        "{} B messages: {} for throughput, {} round trips for latency{}\n\n",
        plan.size,
        plan.count,
        plan.roundtrips,
        if curve { ", CURVE" } else { "" }
    );
    t += &format!(
        "{:<10} {:<10} {:>20} {:>14}",
        "runtime", "transport", "throughput [msg/s]", "latency [us]"
    );
    for r in rows {
        t += &format!(
            "\n{:<10} {:<10} {:>20} {:>14.3}",
            r.runtime, r.transport, r.thr, r.lat_us
        );
    }
    crate::out(&t);
}

fn print_json(plan: &Plan, rows: &[Row]) {
    let cell = |r: &Row, test: &str, count: u64, value: String, unit: &str| {
        format!(
            "{{\"runtime\":\"{}\",\"transport\":\"{}\",\"test\":\"{test}\",\"size\":{},\"count\":{count},\"value\":{value},\"unit\":\"{unit}\"}}",
            r.runtime, r.transport, plan.size
        )
    };
    let cells: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            [
                cell(r, "thr", plan.count, r.thr.to_string(), "msg/s"),
                cell(r, "lat", plan.roundtrips, format!("{:.3}", r.lat_us), "us"),
            ]
        })
        .collect();
    crate::out(&format!("[{}]", cells.join(",\n ")));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::Choice;
    use zmq_runtime::Msg;

    /// The thread each end of an inproc cell ran on.
    fn inproc_threads<K: RuntimeKind>(
        choice: Choice,
    ) -> (std::thread::ThreadId, std::thread::ThreadId) {
        let ep = format!("inproc://bench-threads-{}", choice.name());
        cell::<K, _, _, _, _>(
            choice,
            &ep,
            (SocketType::Pull, SocketType::Push),
            |s| async move {
                s.recv().await?;
                Ok(std::thread::current().id())
            },
            |s| async move {
                s.send(Msg::single("x")).await?;
                let id = std::thread::current().id();
                s.close().await;
                Ok(id)
            },
        )
        .unwrap_or_else(|_| panic!("{} inproc cell failed", choice.name()))
    }

    /// Every runtime's inproc cell measures two threads, as libzmq's
    /// inproc_thr and inproc_lat do (smol's global executor would otherwise
    /// run both ends on its one thread).
    #[test]
    fn inproc_ends_run_on_two_threads() {
        for choice in [
            Choice::Tokio,
            Choice::TokioMt,
            Choice::TokioMtMain,
            Choice::Smol,
            Choice::Blocking,
        ] {
            let (a, b) = crate::with_kind!(choice, K => inproc_threads::<K>(choice));
            assert_ne!(a, b, "{}: both inproc ends on one thread", choice.name());
        }
    }
}
