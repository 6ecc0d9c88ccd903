//! CURVE certificate files shared with pyzmq: the ones
//! `zmq.auth.create_certificates` writes load here and key a CURVE
//! connection to libzmq in both roles, and the ones we save load in
//! `zmq.auth.load_certificate`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use zmq_runtime::cert::{self, Certificate};
use zmq_runtime::{Builder, KeyPair, Socket, SocketType};

use super::ends::PATIENCE;
use super::{build, Env};
use crate::peer::Peer;

/// A fresh directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("zmqrs-{what}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn sock<E: Env>(b: Builder<E::R>) -> Socket<E::R> {
    build::<E>(b.linger(Some(Duration::ZERO)))
}

/// The keys pyzmq reads from a certificate file: public and, if there, secret.
fn pyzmq_load(peer: &mut Peer, path: &Path) -> (String, Option<String>) {
    let answer = peer.ok(&format!("loadcert {}", path.display()));
    let (public, secret) = answer.split_once(' ').expect("two keys");
    (
        public.to_owned(),
        (secret != "-").then(|| secret.to_owned()),
    )
}

/// Certificates pyzmq created key our CURVE server and our CURVE client,
/// each against a libzmq peer keyed from the same files by pyzmq.
pub fn pyzmq_certificates<E: Env>() {
    let dir = TempDir::new("pyzmq-certs");
    let mut peer = Peer::start();
    for name in ["server", "client"] {
        let answer = peer.ok(&format!("certs {} {name}", dir.0.display()));
        let public = dir.path(&format!("{name}.key"));
        let expected = format!(
            "{} {}",
            public.display(),
            cert::secret_path(&public).display()
        );
        assert_eq!(answer, expected);
    }
    let server = cert::load(dir.path("server.key_secret")).expect("server secret cert");
    let server_public = cert::load(dir.path("server.key")).expect("server public cert");
    let client = cert::load(dir.path("client.key_secret")).expect("client secret cert");
    assert_eq!(server.public(), server_public.public());
    assert!(server_public.keypair().is_none());
    let (py_server, py_server_secret) = pyzmq_load(&mut peer, &dir.path("server.key_secret"));
    let (py_client, py_client_secret) = pyzmq_load(&mut peer, &dir.path("client.key_secret"));
    assert_eq!(server.public().to_z85(), py_server);
    assert_eq!(client.public().to_z85(), py_client);
    let (py_server_secret, py_client_secret) = (
        py_server_secret.expect("server secret"),
        py_client_secret.expect("client secret"),
    );

    // Our server, keyed by pyzmq's server certificate; a libzmq client.
    let keys = server.keypair().expect("secret certificate");
    let rep = sock::<E>(Builder::new(SocketType::Rep).curve_server(keys.secret));
    let ep = rep.bind("tcp://127.0.0.1:*").expect("bind").to_string();
    peer.socket(
        "req",
        "REQ",
        &[
            format!("curve_serverkey={py_server}"),
            format!("curve_publickey={py_client}"),
            format!("curve_secretkey={py_client_secret}"),
        ],
    );
    peer.connect("req", &ep);
    assert!(peer.send("req", &[b"to our server"], 5000));
    let m = rep.recv_blocking(Some(PATIENCE)).expect("recv over CURVE");
    assert_eq!(&m.frames()[0][..], b"to our server");

    // Our client, keyed by pyzmq's client certificate and the server's
    // public one; a libzmq server.
    peer.socket(
        "rep",
        "REP",
        &[
            "curve_server=1".into(),
            format!("curve_secretkey={py_server_secret}"),
        ],
    );
    let theirs = peer.bind("rep", "tcp://127.0.0.1:*");
    let client_keys = client.keypair().expect("secret certificate");
    let req =
        sock::<E>(Builder::new(SocketType::Req).curve_client(*server_public.public(), client_keys));
    req.connect(&theirs).expect("connect");
    req.send_blocking("to their server", Some(PATIENCE))
        .expect("send");
    let got = peer.recv("rep", 10_000).expect("libzmq server received");
    assert_eq!(got, [b"to their server".to_vec()]);
}

/// A certificate we save (with metadata) loads in pyzmq: the public file
/// with no secret key, the secret file with both.
pub fn certificates_load_in_pyzmq<E: Env>() {
    let dir = TempDir::new("our-certs");
    let mut peer = Peer::start();
    let keys = KeyPair::generate();
    let ours = Certificate::new(keys.clone())
        .with_metadata("name", "our server")
        .expect("metadata");
    let path = dir.path("ours.cert");
    cert::save(&ours, &path).expect("save");
    let (public, secret) = pyzmq_load(&mut peer, &path);
    assert_eq!(public, keys.public.to_z85());
    assert_eq!(secret, None);
    let (public, secret) = pyzmq_load(&mut peer, &cert::secret_path(&path));
    assert_eq!(public, keys.public.to_z85());
    assert_eq!(secret, Some(keys.secret.to_z85()));
}
