//! The lifecycle logs, through `tracing`, caught by a small subscriber of
//! the suite's own: each event names its endpoint (and the peer where one is
//! known), and what a libzmq peer chose (a routing id full of control bytes,
//! an ERROR reason) reaches the log escaped.

use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use zmq_runtime::{Builder, MonitorEvent, Socket, SocketType};

use super::ends::PATIENCE;
use super::monitoring::until;
use super::{build, Env};
use crate::peer::{hex, Peer};

/// Every line logged by zmq-runtime in this test process, as
/// `LEVEL [message] field=value ...`.
static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Keeps zmq-runtime's events, formatted through their fields' `Display`
/// (what a formatting subscriber would print), and nothing else.
struct Capture;

struct Line<'a>(&'a mut String);

impl Visit for Line<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, " [{value:?}]");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

impl Subscriber for Capture {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target().starts_with("zmq_runtime")
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut line = event.metadata().level().to_string();
        event.record(&mut Line(&mut line));
        LINES
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// Installs [`Capture`] for the whole process (the sockets log from their
/// runtime's threads, which a thread-local subscriber would not see).
fn capture() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        tracing::subscriber::set_global_default(Capture).expect("the only global subscriber");
    });
}

/// Waits until a logged line has every one of `parts`; returns it.
fn logged(parts: &[&str]) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        {
            let lines = LINES.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(l) = lines.iter().find(|l| parts.iter().all(|p| l.contains(p))) {
                return l.clone();
            }
            assert!(
                Instant::now() < deadline,
                "nothing logged with {parts:?}; lines: {:#?}",
                lines
                    .iter()
                    .filter(|l| l.contains(parts[0]))
                    .collect::<Vec<_>>()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn sock<E: Env>(b: Builder<E::R>) -> Socket<E::R> {
    build::<E>(b.linger(Some(Duration::ZERO)))
}

/// Listening, accepted, handshake succeeded, disconnected, reconnect
/// scheduled, handshake failed, refused and closed are logged with their
/// endpoint; a libzmq DEALER's routing id of control bytes and escape
/// sequences is logged escaped, and no captured line holds a control byte.
pub fn lifecycle_is_logged_escaped<E: Env>() {
    capture();
    let router = sock::<E>(Builder::new(SocketType::Router));
    let mut m = router.monitor();
    let ep = router.bind("tcp://127.0.0.1:*").expect("bind").to_string();
    let endpoint = format!("endpoint={ep}");
    logged(&["DEBUG", "[listening]", &endpoint]);

    let mut peer = Peer::start();
    let nasty = b"\n\x1b[31mred\r";
    peer.socket("dealer", "DEALER", &[format!("routing_id={}", hex(nasty))]);
    peer.connect("dealer", &ep);
    until(&mut m, "HandshakeSucceeded", |e| {
        matches!(e, MonitorEvent::HandshakeSucceeded { .. })
    });
    let accepted = logged(&["[accepted]", &endpoint, "peer=127.0.0.1:"]);
    assert!(accepted.starts_with("DEBUG"), "{accepted}");
    let done = logged(&["[handshake succeeded]", &endpoint]);
    assert!(
        done.contains(r"routing_id=\x0a\x1b[31mred\x0d"),
        "the routing id is escaped: {done}"
    );
    peer.close("dealer");
    logged(&[
        "[disconnected]",
        &endpoint,
        "reason=peer closed the connection",
    ]);

    // A client the libzmq server refuses: the failure, the refusal, and the
    // reconnects of an endpoint nobody listens on.
    peer.ok("zap plain admin:secret");
    peer.socket("server", "ROUTER", &["plain_server=1".into()]);
    let refusing = peer.bind("server", "tcp://127.0.0.1:*");
    let silent = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        format!("tcp://{}", l.local_addr().expect("addr"))
    };
    let client = sock::<E>(Builder::new(SocketType::Dealer).plain_client("admin", "wrong"));
    client.connect(&refusing).expect("connect");
    client.connect(&silent).expect("connect");
    let refusing_field = format!("endpoint={refusing}");
    let failed = logged(&["[handshake failed]", &refusing_field]);
    assert!(
        failed.starts_with("WARN") && failed.contains("reason=peer refused the handshake: 400"),
        "{failed}"
    );
    logged(&["WARN", "[refused]", &refusing_field]);
    logged(&[
        "[reconnect scheduled]",
        &format!("endpoint={silent}"),
        "retry_in_ms=",
    ]);
    client.disconnect(&silent).expect("disconnect");
    logged(&["[closed]", &format!("endpoint={silent}")]);

    let lines = LINES.lock().unwrap_or_else(PoisonError::into_inner);
    for line in lines.iter() {
        assert!(
            !line.chars().any(char::is_control),
            "a raw control character reached the log: {line:?}"
        );
    }
}
