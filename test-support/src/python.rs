//! Spawning the Python peers: the one place a test starts `python3`.
//!
//! The scripts live in this crate's `peers/` folder and are found through its
//! manifest directory, so a test finds them whatever its working directory.
//! Every spawn first checks that `python3` imports pyzmq with CURVE: a missing
//! peer fails the test with the fix, it never skips it.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The libzmq peer: many sockets driven by commands, or one socket set up
/// from its arguments (the script's docstring lists both).
pub const PEER_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/peers/zmq_peer.py");

/// The raw ZMTP/2.0 and ZMTP/1.0 peer: plain sockets, no libzmq (its
/// docstring lists the arguments and commands; [`crate::old_peer`] drives it).
pub const OLD_PEER_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/peers/old_peer.py");

/// The fault tests' zygote: forks one libzmq process per socket, for tests
/// that SIGKILL peers (its docstring lists the commands).
pub const FAULT_PEER_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/peers/fault_peer.py");

/// The libzmq side of `zmq soak`: four CURVE servers (its docstring tells
/// the protocol).
pub const SOAK_PEER_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/peers/soak_peer.py");

/// libzmq's four perf tools (`local-thr`, `remote-thr`, `local-lat`,
/// `remote-lat`) and the fan-out pair (`local-sub`, `remote-pub`) with their
/// arguments and output.
pub const PERF_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/peers/perf_peer.py");

/// What to do when the peer cannot run, appended to every such failure.
pub const INSTALL_HINT: &str = "the libzmq interop tests need python3 with pyzmq (built with \
     CURVE); install them with `pip install -r requirements-test.txt` from the repository root \
     (scripts/test.sh does)";

/// Panics with [`INSTALL_HINT`] unless `python3` runs and imports pyzmq with
/// CURVE; probed once per test binary.
pub fn check_prerequisites() {
    static CHECK: OnceLock<Result<(), String>> = OnceLock::new();
    let result = CHECK.get_or_init(|| {
        let probe = "import sys\ntry:\n    import zmq\nexcept ImportError as e:\n    \
                     print('cannot import zmq:', e); sys.exit(3)\n\
                     sys.exit(0 if zmq.has('curve') else 4)\n";
        match Command::new("python3").args(["-c", probe]).output() {
            Err(e) => Err(format!("cannot run `python3` from PATH: {e}")),
            Ok(out) if out.status.code() == Some(4) => {
                Err("pyzmq is installed but its libzmq lacks CURVE".to_owned())
            }
            Ok(out) if !out.status.success() => Err(format!(
                "`python3 -c 'import zmq'` failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )),
            Ok(_) => Ok(()),
        }
    });
    if let Err(why) = result {
        panic!("{why}\n{INSTALL_HINT}");
    }
}

/// Starts libzmq's perf tool `args[0]` (see [`PERF_SCRIPT`]) with its
/// stdout and stderr piped; the caller reads them when it has finished.
pub fn perf_peer(args: &[&str]) -> Child {
    perf_peer_env(args, &[])
}

/// As [`perf_peer`], with extra environment variables (`PERF_HWM` for the
/// fan-out pair, read as the C tools read it).
pub fn perf_peer_env(args: &[&str], env: &[(&str, &str)]) -> Child {
    check_prerequisites();
    Command::new("python3")
        .arg(PERF_SCRIPT)
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn python3: {e}\n{INSTALL_HINT}"))
}

/// A running [`PEER_SCRIPT`] talking in lines; killed on drop.
///
/// Its stdout is read by a thread, so a test can keep its own side of a
/// connection moving while it waits for an answer ([`try_line`]); its stderr
/// is kept for [`diag`].
///
/// [`try_line`]: Self::try_line
/// [`diag`]: Self::diag
pub struct PeerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    args: Vec<String>,
}

impl PeerProcess {
    /// Spawns the peer with `args` (none: many sockets; `--type ...`: one
    /// socket). Its first line (`READY` or `PORT n`) is left to the caller.
    pub fn spawn(args: &[&str]) -> Self {
        Self::spawn_script(PEER_SCRIPT, args)
    }

    /// Spawns another line-driven script of `peers/` (such as
    /// [`OLD_PEER_SCRIPT`]) with `args`; its first line is left to the caller.
    pub fn spawn_script(script: &str, args: &[&str]) -> Self {
        check_prerequisites();
        let mut command = Command::new("python3");
        command.arg("-u").arg(script).args(args);
        Self::spawn_command(command, args)
    }

    /// Spawns a prepared line-driven command (a peer started through
    /// `ip netns exec` inside a network namespace, say); `args` only label
    /// its failures. Its first line is left to the caller.
    pub fn spawn_command(mut command: Command, args: &[&str]) -> Self {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot spawn {:?}: {e}\n{INSTALL_HINT}",
                    command.get_program()
                )
            });
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr_pipe = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut pipe = stderr_pipe;
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = sink.lock() {
                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });
        Self {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr,
            args: args.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// The process id, for signals.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Writes one command line; panics if the peer no longer reads.
    pub fn write_line(&mut self, line: &str) {
        let Some(stdin) = self.stdin.as_mut() else {
            panic!("the libzmq peer's stdin is closed{}", self.diag())
        };
        if let Err(e) = writeln!(stdin, "{line}").and_then(|()| stdin.flush()) {
            panic!("cannot write to the libzmq peer: {e}{}", self.diag());
        }
    }

    /// Writes one command line; false if the peer no longer reads (for
    /// clean-up that must not panic).
    pub fn try_write_line(&mut self, line: &str) -> bool {
        self.stdin.as_mut().is_some_and(|stdin| {
            writeln!(stdin, "{line}")
                .and_then(|()| stdin.flush())
                .is_ok()
        })
    }

    /// The next line if one is there; `Disconnected` once the peer closed
    /// its stdout and every line was read.
    pub fn try_line(&self) -> Result<String, TryRecvError> {
        self.lines.try_recv()
    }

    /// The next line within `wait`.
    pub fn line_within(&self, wait: Duration) -> Result<String, RecvTimeoutError> {
        self.lines.recv_timeout(wait)
    }

    /// The exit status if the peer has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Closes the peer's stdin (its end of input) and waits up to `within`
    /// for it to exit; `None` if it is still running.
    pub fn close_and_wait(&mut self, within: Duration) -> Option<ExitStatus> {
        self.stdin = None;
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The peer's arguments and what it wrote on stderr, to append to a
    /// failure message.
    pub fn diag(&self) -> String {
        let err = self.stderr.lock().map(|s| s.clone()).unwrap_or_default();
        // Long arguments (a 300-byte identity in hex) would bury the rest.
        let args: Vec<String> = self
            .args
            .iter()
            .map(|a| match a.char_indices().nth(60) {
                Some((cut, _)) => format!("{}...", &a[..cut]),
                None => a.clone(),
            })
            .collect();
        format!("\n  peer args: {args:?}\n  peer stderr: {err}")
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
