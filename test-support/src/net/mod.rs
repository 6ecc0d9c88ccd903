//! The network tests' machinery: peers in network namespaces of their own,
//! joined by a veth pair that loses packets ([`netns`]), a relay that
//! delays them ([`relay`]), our sockets behind the libzmq peer's protocol
//! ([`ours`]) and the scenarios ([`scenarios`]).
//!
//! A namespace holds whole processes, so every peer is one: libzmq is
//! `ip netns exec NS python3 zmq_peer.py`, and our sockets and the relay
//! are the test binary itself, started again inside a namespace with
//! [`ROLE_VAR`] saying what to be. The test binary's `main` (a
//! `harness = false` target) hands such a run to its role first
//! ([`run_role`]), and otherwise runs the scenarios ([`run_tests`]).

pub mod netns;
pub mod ours;
pub mod relay;
pub mod scenarios;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::thread;
use std::time::Instant;

use crate::peer::Peer;
use crate::python::PeerProcess;

pub use netns::{ensure_tools, Link, Netns};
pub use relay::RelayConfig;

/// The environment variable telling a re-run of the test binary which role
/// it plays: `relay` (with [`RELAY_VAR`]) or `ours-NAME`, our sockets on
/// runtime NAME.
pub const ROLE_VAR: &str = "ZMQ_NET_ROLE";

/// The relay's configuration ([`RelayConfig::to_arg`]).
pub const RELAY_VAR: &str = "ZMQ_NET_RELAY";

/// Which library drives one side of a scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// libzmq 4.3.5, through pyzmq.
    Libzmq,
    /// Our sockets on the runtime the test binary names so (`ours-NAME`).
    Ours(&'static str),
}

impl Side {
    /// Starts this side's peer inside `ns`.
    pub fn start_in(self, ns: &Netns) -> Peer {
        match self {
            Self::Libzmq => Peer::start_in(ns.name()),
            Self::Ours(runtime) => {
                let role = format!("ours-{runtime}");
                Peer::start_process(spawn_self(ns, &role, &[]))
            }
        }
    }
}

/// The test binary, started again inside `ns` in `role`.
fn spawn_self(ns: &Netns, role: &str, env: &[(&str, String)]) -> PeerProcess {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut command = Command::new("ip");
    command
        .args(["netns", "exec", ns.name()])
        .arg(&exe)
        .env(ROLE_VAR, role);
    for (key, value) in env {
        command.env(key, value);
    }
    PeerProcess::spawn_command(command, &[ns.name(), role])
}

/// A delaying relay running inside a namespace; killed on drop.
pub struct Relay {
    _process: PeerProcess,
    /// The port it listens on.
    pub port: u16,
}

impl Relay {
    /// Starts the relay inside `ns` and waits for its port.
    pub fn start_in(ns: &Netns, config: RelayConfig) -> Self {
        let process = spawn_self(ns, "relay", &[(RELAY_VAR, config.to_arg())]);
        let first = process
            .line_within(std::time::Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("the relay did not start{}", process.diag()));
        let port = first
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the relay said `{first}`{}", process.diag()));
        Self {
            _process: process,
            port,
        }
    }
}

/// Plays the role [`ROLE_VAR`] names, if any, and returns true (the
/// process should then exit); false when this is a plain test run.
/// `ours` runs our sockets' peer on the runtime named by the role's suffix.
pub fn run_role(ours: impl FnOnce(&str)) -> bool {
    let Ok(role) = std::env::var(ROLE_VAR) else {
        return false;
    };
    if role == "relay" {
        let arg = std::env::var(RELAY_VAR).unwrap_or_default();
        let config = RelayConfig::from_arg(&arg).unwrap_or_else(|why| panic!("{why}"));
        relay::serve(config);
    }
    match role.strip_prefix("ours-") {
        Some(runtime) => ours(runtime),
        None => panic!("{ROLE_VAR}={role}: want `relay` or `ours-RUNTIME`"),
    }
    true
}

/// The tests run at once by default: they mostly wait on timers and the
/// network, so two keep the file short without crowding a small machine.
const DEFAULT_THREADS: usize = 2;

/// A minimal test runner for a `harness = false` target: runs the tests
/// whose names contain the first command-line argument that is not a flag
/// (all without one), `--test-threads=N` at a time (default
/// [`DEFAULT_THREADS`]), each to the end even when others fail, and exits
/// non-zero if any failed. `--list` lists them.
pub fn run_tests(tests: &[(&str, fn())]) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in tests {
            println!("{name}: test");
        }
        return;
    }
    let mut filter = String::new();
    let mut threads = DEFAULT_THREADS;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let count = if let Some(n) = arg.strip_prefix("--test-threads=") {
            Some(n.to_owned())
        } else if arg == "--test-threads" {
            rest.next().cloned()
        } else {
            if !arg.starts_with('-') && filter.is_empty() {
                filter.clone_from(arg);
            }
            None
        };
        if let Some(n) = count {
            threads = n
                .parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .unwrap_or_else(|| panic!("--test-threads `{n}`: want a positive number"));
        }
    }
    let chosen: Vec<(&str, fn())> = tests
        .iter()
        .copied()
        .filter(|(name, _)| name.contains(filter.as_str()))
        .collect();
    println!("\nrunning {} tests", chosen.len());
    let next = AtomicUsize::new(0);
    let failed = Mutex::new(Vec::new());
    thread::scope(|scope| {
        for _ in 0..threads.min(chosen.len()) {
            scope.spawn(|| {
                while let Some(&(name, test)) = chosen.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let started = Instant::now();
                    let outcome = std::panic::catch_unwind(test);
                    let took = started.elapsed();
                    if outcome.is_ok() {
                        println!("test {name} ... ok ({took:.1?})");
                    } else {
                        println!("test {name} ... FAILED ({took:.1?})");
                        failed
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push(name);
                    }
                }
            });
        }
    });
    let failed = failed.into_inner().unwrap_or_else(PoisonError::into_inner);
    if failed.is_empty() {
        println!("\ntest result: ok. {} passed", chosen.len());
    } else {
        println!("\nfailures: {failed:?}\ntest result: FAILED");
        std::process::exit(101);
    }
}
