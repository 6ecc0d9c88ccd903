//! `zmq bench`: throughput and latency of every runtime over tcp, ipc and
//! inproc, both ends in this process (each on its own thread and runtime).

use std::sync::mpsc;

use indicatif::{ProgressBar, ProgressStyle};
use zmq_runtime::{RuntimeKind, SocketType};

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

/// Throughput, as local-thr and remote-thr measure it, each end on a thread
/// with its own runtime instance.
fn thr_cell<K: RuntimeKind>(choice: Choice, endpoint: &str, plan: &Plan) -> Result<u64, Failure> {
    let (tx, rx) = mpsc::channel();
    let (size, count) = (plan.size, plan.count);
    std::thread::scope(|s| {
        let receiver = s.spawn(move || -> Result<u64, Failure> {
            let exec = Exec::<K>::new(choice, true);
            let pull = exec
                .socket(perf::builder::<K>(SocketType::Pull, true))
                .map_err(rt_err)?;
            let bound = pull.bind(endpoint).map_err(rt_err)?;
            tx.send(bound.to_string()).expect("bench sender waits");
            exec.block_on(perf::local_thr(pull, size, count))
                .map_err(rt_err)
        });
        let sender = s.spawn(move || -> Result<(), Failure> {
            let Ok(ep) = rx.recv() else {
                return Ok(());
            };
            let exec = Exec::<K>::new(choice, true);
            let push = exec
                .socket(perf::builder::<K>(SocketType::Push, false))
                .map_err(rt_err)?;
            push.connect(&ep).map_err(rt_err)?;
            exec.block_on(perf::remote_thr(push, size, count))
                .map_err(rt_err)
        });
        sender.join().expect("bench sender")?;
        receiver.join().expect("bench receiver")
    })
}

/// Latency, as local-lat and remote-lat measure it.
fn lat_cell<K: RuntimeKind>(choice: Choice, endpoint: &str, plan: &Plan) -> Result<f64, Failure> {
    let (tx, rx) = mpsc::channel();
    let (size, count) = (plan.size, plan.roundtrips);
    std::thread::scope(|s| {
        let server = s.spawn(move || -> Result<(), Failure> {
            let exec = Exec::<K>::new(choice, true);
            let rep = exec
                .socket(perf::builder::<K>(SocketType::Rep, true))
                .map_err(rt_err)?;
            let bound = rep.bind(endpoint).map_err(rt_err)?;
            tx.send(bound.to_string()).expect("bench client waits");
            exec.block_on(perf::local_lat(rep, count)).map_err(rt_err)
        });
        let client = s.spawn(move || -> Result<f64, Failure> {
            let Ok(ep) = rx.recv() else {
                return Ok(0.0);
            };
            let exec = Exec::<K>::new(choice, true);
            let req = exec
                .socket(perf::builder::<K>(SocketType::Req, false))
                .map_err(rt_err)?;
            req.connect(&ep).map_err(rt_err)?;
            exec.block_on(perf::remote_lat(req, size, count))
                .map_err(rt_err)
        });
        server.join().expect("bench server")?;
        client.join().expect("bench client")
    })
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
