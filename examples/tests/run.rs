//! Runs every example program as a user would and checks that it finishes on
//! its own with status 0 and prints what its pattern should produce: an
//! example that no longer works fails here rather than in a user's hands.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Far more than any example needs (each takes well under a second): only a
/// hung example reaches it, and it is then killed and reported.
const HANG_LIMIT: Duration = Duration::from_secs(60);

/// Runs the example and returns its stdout, failing the test unless it
/// exited with status 0.
fn run(name: &str, exe: &str) -> String {
    let mut child = Command::new(exe)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {name} ({exe}): {e}"));
    // Read on threads, so that an example printing much never blocks on a
    // full pipe while this thread waits for it to exit.
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = wait(&mut child);
    let (stdout, stderr) = (join(stdout), join(stderr));
    match status {
        Some(s) if s.success() => stdout,
        Some(s) => panic!("{name} exited with {s}\nstdout:\n{stdout}\nstderr:\n{stderr}"),
        None => panic!("{name} hung and was killed\nstdout:\n{stdout}\nstderr:\n{stderr}"),
    }
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    })
}

fn join(reader: JoinHandle<String>) -> String {
    reader.join().expect("an output reader panicked")
}

/// The exit status, or `None` after killing a child that outlived
/// `HANG_LIMIT`.
fn wait(child: &mut Child) -> Option<ExitStatus> {
    let deadline = Instant::now() + HANG_LIMIT;
    loop {
        if let Some(status) = child.try_wait().expect("cannot wait for the example") {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn assert_has(name: &str, stdout: &str, line: &str) {
    assert!(
        stdout.lines().any(|l| l == line),
        "{name} did not print {line:?}; it printed:\n{stdout}"
    );
}

/// The numbers in `line` after `prefix`, in order.
fn numbers_after(line: &str, prefix: &str) -> Vec<u64> {
    line.strip_prefix(prefix)
        .unwrap_or_default()
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect()
}

#[test]
fn lazy_pirate_retries_the_request_the_server_dropped() {
    let out = run("lazy_pirate", env!("CARGO_BIN_EXE_lazy_pirate"));
    assert_has(
        "lazy_pirate",
        &out,
        "server: crashing on request 3, restarting",
    );
    assert_has(
        "lazy_pirate",
        &out,
        "client: no response from server, retrying request 3",
    );
    // Every request answered once, in order, the dropped one included.
    let answered: Vec<_> = out
        .lines()
        .filter(|l| l.starts_with("client: server replied OK"))
        .collect();
    let expected: Vec<_> = (1..=5)
        .map(|n| format!("client: server replied OK ({n})"))
        .collect();
    assert_eq!(answered, expected, "{out}");
    assert_has("lazy_pirate", &out, "client: all 5 requests answered");
}

#[test]
fn broker_serves_every_request_through_the_proxy() {
    let out = run("broker", env!("CARGO_BIN_EXE_broker"));
    for client in 1..=3 {
        for n in 1..=3 {
            let prefix =
                format!("client {client}: request {n} of client {client}, served by worker ");
            let served = out.lines().filter(|l| l.starts_with(&prefix)).count();
            assert_eq!(served, 1, "request {n} of client {client}:\n{out}");
        }
    }
    assert_has("broker", &out, "broker: 9 requests in, 9 replies out");
}

#[test]
fn slow_subscriber_sees_the_gaps_pub_left_at_the_hwm() {
    let out = run("slow_subscriber", env!("CARGO_BIN_EXE_slow_subscriber"));
    assert_has(
        "slow_subscriber",
        &out,
        "publisher: sent 5000 messages, never waiting for the subscriber",
    );
    let summary = out
        .lines()
        .find(|l| l.starts_with("subscriber: received "))
        .unwrap_or_else(|| panic!("no summary:\n{out}"));
    let [received, sent, lost, gaps] = numbers_after(summary, "subscriber: received ")[..] else {
        panic!("malformed summary {summary:?}");
    };
    assert_eq!(sent, 5000, "{summary}");
    // The numbering accounts for every message, and a subscriber this slow
    // cannot have kept up with a publisher that never waits.
    assert_eq!(received + lost, sent, "{summary}");
    assert!(lost > 0 && gaps > 0, "{out}");
    let gap_lines = out
        .lines()
        .filter(|l| l.starts_with("subscriber: gap: "))
        .count();
    assert_eq!(gap_lines as u64, gaps, "{out}");
}

#[test]
fn pipeline_shares_the_tasks_among_all_workers() {
    let out = run("pipeline", env!("CARGO_BIN_EXE_pipeline"));
    assert_has("pipeline", &out, "sink: 30 results, 90 ms of work in all");
    let counts: Vec<u64> = (1..=3)
        .map(|w| {
            let prefix = format!("sink: worker {w}: ");
            let line = out
                .lines()
                .find(|l| l.starts_with(&prefix))
                .unwrap_or_else(|| panic!("no count for worker {w}:\n{out}"));
            numbers_after(line, &prefix)[0]
        })
        .collect();
    assert_eq!(counts.iter().sum::<u64>(), 30, "{out}");
    // The ventilator waited for every worker, so none was left out.
    assert!(counts.iter().all(|&n| n > 0), "{out}");
}

#[test]
fn curve_admits_the_known_key_and_refuses_a_stranger() {
    let out = run("curve", env!("CARGO_BIN_EXE_curve"));
    assert_has("curve", &out, "known client: got \"hello over CURVE\" back");
    assert!(
        out.lines()
            .any(|l| l.starts_with("unknown client: refused (") && l.ends_with("no retry")),
        "{out}"
    );
    let key_of = |prefix: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line:\n{out}"))
            .to_owned()
    };
    let (allowed, refused) = (
        key_of("server: allowing client "),
        key_of("server: refusing client "),
    );
    assert_eq!((allowed.len(), refused.len()), (40, 40), "Z85 keys:\n{out}");
    assert_ne!(allowed, refused, "{out}");
}

/// Against libzmq: the example starts a pyzmq server itself.
#[test]
fn pyzmq_exchanges_multipart_messages_with_libzmq() {
    let out = run("pyzmq", env!("CARGO_BIN_EXE_pyzmq"));
    for word in ["HELLO", "FROM", "RUST"] {
        assert!(
            out.lines()
                .any(|l| l.starts_with("pyzmq replied: libzmq 4.")
                    && l.ends_with(&format!(" | {word}"))),
            "no reply for {word}:\n{out}"
        );
    }
    assert_has("pyzmq", &out, "pyzmq server exited cleanly");
}
