//! The API a newcomer meets first (issue #12): sending whatever buffer is at
//! hand, reading text back, connecting to what `bind` returned, a closure as
//! an authenticator, and errors that explain a misuse instead of ignoring it.

use std::time::Duration;

use zmq_runtime::{
    AuthReply, AuthRequest, Builder, Credentials, Error, KeyPair, SendError, Socket, SocketType,
};

use super::{build, Env};

const WAIT: Option<Duration> = Some(Duration::from_secs(10));

fn sock<E: Env>(b: Builder<E::R>) -> Socket<E::R> {
    build::<E>(b.linger(Some(Duration::ZERO)))
}

/// Borrowed buffers (copied), owned ones and mixed multipart messages all
/// send; the bound `Endpoint` connects as is; messages read back as text.
pub fn send_anything_and_read_text<E: Env>() {
    let pull = sock::<E>(Builder::new(SocketType::Pull));
    let ep = pull.bind("tcp://127.0.0.1:*").expect("bind");
    let push = sock::<E>(Builder::new(SocketType::Push));
    push.connect(&ep).expect("connect to &Endpoint");
    let other = sock::<E>(Builder::new(SocketType::Push));
    other.connect(ep.clone()).expect("connect to Endpoint");
    other.connect(ep.to_string()).expect("connect to String");

    let text = format!("text {}", 1);
    let buf = text.clone().into_bytes();
    push.send_blocking(&buf[..], WAIT).expect("&[u8]");
    push.send_blocking(&text, WAIT).expect("&String");
    push.send_blocking(&text[..], WAIT).expect("&str");
    push.send_blocking(text.clone(), WAIT).expect("String");
    push.send_blocking(("topic", buf, vec![0xffu8]), WAIT)
        .expect("mixed multipart");
    drop(text);

    for _ in 0..4 {
        let m = pull.recv_blocking(WAIT).expect("recv");
        assert_eq!(m.to_str(), Ok("text 1"));
        assert_eq!(m.to_string(), "text 1");
    }
    let m = pull.recv_blocking(WAIT).expect("recv multipart");
    assert_eq!(m.frame_str(0), Ok("topic"));
    assert_eq!(format!("{m:?}"), r#"Msg["topic", "text 1", 0xff]"#);
}

/// A closure decides PLAIN clients; the runtime crates re-export what it needs.
pub fn closure_authenticator<E: Env>() {
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = asked.clone();
    let server = sock::<E>(Builder::new(SocketType::Rep).plain_server().authenticator(
        move |req: &AuthRequest| {
            seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Some(match &req.credentials {
                Credentials::Plain { password, .. } if &password[..] == b"secret" => {
                    AuthReply::allow()
                }
                _ => AuthReply::deny("wrong password"),
            })
        },
    ));
    let ep = server.bind("tcp://127.0.0.1:*").expect("bind");
    let client = sock::<E>(Builder::new(SocketType::Req).plain_client("me", "secret"));
    client.connect(&ep).expect("connect");
    client.send_blocking("hi", WAIT).expect("send");
    assert_eq!(server.recv_blocking(WAIT).expect("recv").to_str(), Ok("hi"));
    assert_eq!(asked.load(std::sync::atomic::Ordering::Relaxed), 1);

    let pair = KeyPair::generate();
    assert_ne!(pair.public, KeyPair::generate().public);
}

/// A REQ that sends out of turn is told about `req_relaxed`; a call the
/// socket type would ignore is an error.
pub fn misuse_is_explained<E: Env>() {
    let rep = sock::<E>(Builder::new(SocketType::Rep));
    rep.bind("inproc://first-hour-misuse").expect("bind");
    let req = sock::<E>(Builder::new(SocketType::Req));
    req.connect("inproc://first-hour-misuse").expect("connect");
    req.send_blocking("one", WAIT).expect("first send");
    let err = req.send_blocking("two", WAIT).expect_err("second send");
    assert!(
        matches!(err, Error::Send(SendError::InvalidState(_))),
        "{err:?}"
    );
    assert!(err.to_string().contains("req_relaxed"), "{err}");

    let push = sock::<E>(Builder::new(SocketType::Push));
    let err = push.subscribe("x").expect_err("subscribe on PUSH");
    assert!(matches!(err, Error::NotSupported { .. }), "{err:?}");
    assert!(err.to_string().contains("subscribe"), "{err}");
    assert!(push.unsubscribe("x").is_err());
    assert!(push.xpub_manual_subscribe("x").is_err());
    let sub = sock::<E>(Builder::new(SocketType::Sub));
    sub.subscribe("x").expect("subscribe on SUB");
    sub.unsubscribe("x").expect("unsubscribe on SUB");
}
