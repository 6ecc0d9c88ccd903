//! Talking to libzmq: a pyzmq REP server in a child `python3` process and a
//! REQ client on this project's sockets, speaking ZMTP over TCP.
//!
//! Nothing about the peer is special: any ZeroMQ implementation at the other
//! end of the endpoint is met the same way. pyzmq is only the handiest libzmq
//! to start from a program (`pip install pyzmq`).
//!
//! Blocking runtime.
//!
//! `cargo run -p zmq-examples --bin pyzmq`

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use runtime_blocking::{Socket, SocketType};

/// The server: binds a free port, tells it on stdout, and answers each
/// request with two frames until it gets "bye".
const SERVER: &str = r#"
import zmq
rep = zmq.Context().socket(zmq.REP)
rep.rcvtimeo = 5000  # gone after 5 s without a request, should our side die
port = rep.bind_to_random_port("tcp://127.0.0.1")
print(port, flush=True)
while True:
    request = rep.recv()
    if request == b"bye":
        rep.send(b"bye")
        break
    rep.send_multipart([b"libzmq " + zmq.zmq_version().encode(), request.upper()])
rep.close(linger=1000)
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut server = PythonServer::start()?;
    let port = server.port()?;

    let req = Socket::builder(SocketType::Req)
        // A server that stops answering fails the program instead of
        // hanging it.
        .rcvtimeo(Some(Duration::from_secs(5)))
        .build()?;
    req.connect(format!("tcp://127.0.0.1:{port}"))?;
    for word in ["hello", "from", "rust"] {
        req.send(word)?;
        let reply = req.recv()?;
        // Multipart survives the trip: `Display` shows frames joined by " | ".
        println!("pyzmq replied: {reply}");
    }
    req.send("bye")?;
    req.recv()?;

    let status = server.0.wait()?;
    if !status.success() {
        return Err(format!("the python server failed: {status}").into());
    }
    println!("pyzmq server exited cleanly");
    Ok(())
}

/// The child process, killed if `main` leaves early with an error.
struct PythonServer(Child);

impl PythonServer {
    fn start() -> Result<Self, String> {
        Command::new("python3")
            .args(["-c", SERVER])
            .stdout(Stdio::piped())
            .spawn()
            .map(Self)
            .map_err(|e| format!("cannot start python3: {e}"))
    }

    /// The port the server printed once it was bound.
    fn port(&mut self) -> Result<u16, String> {
        let mut line = String::new();
        if let Some(out) = self.0.stdout.take() {
            BufReader::new(out)
                .read_line(&mut line)
                .map_err(|e| format!("cannot read the server's port: {e}"))?;
        }
        line.trim().parse().map_err(|_| {
            format!(
                "the python server printed {line:?} instead of its port \
                 (is pyzmq installed? `pip install pyzmq`)"
            )
        })
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        // Harmless once the child has exited and been waited for.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
