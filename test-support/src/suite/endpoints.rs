//! Wildcard endpoints against libzmq: `ipc://*` binds a unique socket file
//! of the shape libzmq gives it (and that a libzmq peer connects to), and
//! `unbind` takes the endpoint `bind` returned, refusing a wildcard as
//! libzmq does.

use std::path::{Path, PathBuf};
use std::time::Duration;

use zmq_runtime::{Builder, EndpointError, Error, Socket, SocketType};

use super::ends::PATIENCE;
use super::{build, Env};
use crate::peer::Peer;

fn sock<E: Env>(kind: SocketType) -> Socket<E::R> {
    build::<E>(Builder::new(kind).linger(Some(Duration::ZERO)))
}

/// The socket file of an `ipc://` endpoint.
fn ipc_path(ep: &str) -> PathBuf {
    PathBuf::from(ep.strip_prefix("ipc://").expect("an ipc endpoint"))
}

/// What libzmq's `ipc://*` paths have in common: `PARENT/tmpXXXXXX/socket`.
fn shape(path: &Path) -> (PathBuf, String, usize, String) {
    let dir = path.parent().expect("a directory");
    let name = dir.file_name().expect("a name").to_string_lossy();
    let file = path.file_name().expect("a file").to_string_lossy();
    let prefix: String = name.chars().take(3).collect();
    (
        dir.parent().expect("a parent").to_owned(),
        prefix,
        name.len(),
        file.into_owned(),
    )
}

fn is_wildcard_unbind(e: &Error) -> bool {
    matches!(e, Error::Endpoint(EndpointError::WildcardUnbind(_)))
}

/// `ipc://*` binds a fresh `TMPDIR/tmpXXXXXX/socket` (libzmq binds the same
/// shape in the same place), a libzmq peer connects to the path returned,
/// and unbind and close remove the file and its directory.
pub fn ipc_wildcard<E: Env>() {
    let mut peer = Peer::start();
    let pull = sock::<E>(SocketType::Pull);
    let ours = pull.bind("ipc://*").expect("bind ipc://*").to_string();
    let second = pull
        .bind("ipc://*")
        .expect("bind ipc://* again")
        .to_string();
    assert_ne!(ours, second);
    let path = ipc_path(&ours);
    assert!(path.exists(), "{ours}");

    let (parent, ..) = shape(&path);
    peer.ok(&format!("tmpdir {}", parent.display()));
    peer.socket("l", "PULL", &[]);
    let theirs = peer.bind("l", "ipc://*");
    assert_eq!(
        shape(&path),
        shape(&ipc_path(&theirs)),
        "{ours} vs {theirs}"
    );
    assert_eq!(shape(&path).1, "tmp");
    assert_eq!(shape(&path).2, 9);
    peer.close("l");

    peer.socket("push", "PUSH", &[]);
    peer.connect("push", &ours);
    assert!(peer.send("push", &[b"over ipc://*"], 5000));
    let m = pull.recv_blocking(Some(PATIENCE)).expect("recv");
    assert_eq!(m.frames()[0], &b"over ipc://*"[..]);

    let e = pull.unbind("ipc://*").expect_err("unbind ipc://*");
    assert!(is_wildcard_unbind(&e), "{e:?}");
    pull.unbind(&ours).expect("unbind the returned endpoint");
    assert!(!path.parent().expect("dir").exists(), "{ours} left behind");
    let other = ipc_path(&second);
    assert!(other.exists());
    drop(pull);
    assert!(
        !other.parent().expect("dir").exists(),
        "{second} left behind"
    );
}

/// libzmq refuses to unbind a wildcard (it names no one listener); so do we,
/// saying why, and the listeners stay. The endpoint returned, or a host name
/// that resolves to it, unbinds one listener only.
pub fn unbind_wildcards<E: Env>() {
    let mut peer = Peer::start();
    peer.socket("l", "PULL", &[]);
    let theirs = peer.bind("l", "tcp://127.0.0.1:*");
    let answer = peer.cmd("unbind l tcp://127.0.0.1:*");
    assert!(
        answer.starts_with("ERR"),
        "libzmq unbound a wildcard: {answer}"
    );
    peer.ok(&format!("unbind l {theirs}"));

    let pull = sock::<E>(SocketType::Pull);
    let a = pull.bind("tcp://127.0.0.1:*").expect("bind").to_string();
    let b = pull.bind("tcp://127.0.0.1:*").expect("bind").to_string();
    let port_b = b.rsplit(':').next().expect("port").to_owned();
    for wildcard in [
        "tcp://127.0.0.1:*".to_owned(),
        "tcp://127.0.0.1:0".to_owned(),
        format!("tcp://*:{port_b}"),
        "ipc://*".to_owned(),
    ] {
        let e = pull.unbind(&wildcard).expect_err(&wildcard);
        assert!(is_wildcard_unbind(&e), "{wildcard}: {e:?}");
        assert!(
            e.to_string().contains(&wildcard) && e.to_string().contains("bind returned"),
            "{e}"
        );
    }

    // Both listeners still take libzmq peers.
    for (id, ep) in [("a", &a), ("b", &b)] {
        peer.socket(id, "PUSH", &[]);
        peer.connect(id, ep);
        assert!(peer.send(id, &[id.as_bytes()], 5000));
    }
    let mut got: Vec<Vec<u8>> = (0..2)
        .map(|_| pull.recv_blocking(Some(PATIENCE)).expect("recv").frames()[0].to_vec())
        .collect();
    got.sort();
    assert_eq!(got, [b"a", b"b"]);

    pull.unbind(&a).expect("unbind a");
    assert!(matches!(pull.unbind(&a), Err(Error::UnknownEndpoint(_))));
    assert!(std::net::TcpStream::connect(a.trim_start_matches("tcp://")).is_err());
    assert!(std::net::TcpStream::connect(b.trim_start_matches("tcp://")).is_ok());
    // A name, as libzmq resolves it: localhost is 127.0.0.1.
    pull.unbind(format!("tcp://localhost:{port_b}"))
        .expect("unbind by host name");
    assert!(std::net::TcpStream::connect(b.trim_start_matches("tcp://")).is_err());
}
