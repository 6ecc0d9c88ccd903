//! Message properties (issue #12), proven against libzmq both ways: what our
//! received messages say about a pyzmq peer (its address over tcp and ipc,
//! socket type, routing id, a ZMQ_METADATA property, what our authenticator
//! granted), and what libzmq's `zmq_msg_gets` reads from our messages (our
//! READY properties, our address, what its ZAP handler granted us).

use std::time::Duration;

use zmq_runtime::{
    AuthReply, AuthRequest, Builder, Credentials, Metadata, Msg, Socket, SocketType,
};

use super::cases::{endpoint, Transport};
use super::{build, Env};
use crate::peer::{hex, Peer};

const WAIT: Duration = Duration::from_secs(5);
const WAIT_MS: u64 = 5000;

fn sock<E: Env>(b: Builder<E::R>) -> Socket<E::R> {
    build::<E>(b.linger(Some(Duration::ZERO)))
}

fn recv<E: Env>(s: &Socket<E::R>) -> Msg {
    s.recv_blocking(Some(WAIT)).expect("message within 5 s")
}

/// Receives one message on the peer's socket `id` and reads the properties
/// `names` from it with `zmq_msg_gets`: `None` where libzmq has none.
fn peer_props(peer: &mut Peer, id: &str, names: &[&str]) -> (Vec<Vec<u8>>, Vec<Option<String>>) {
    let answer = peer.cmd(&format!("recvprops {id} {WAIT_MS} {}", names.join(",")));
    let rest = answer
        .strip_prefix("MSG ")
        .unwrap_or_else(|| panic!("libzmq peer recvprops: {answer}"));
    let (frames, props) = rest.split_once(" PROPS ").expect("PROPS");
    let frames = frames
        .split(',')
        .map(|f| if f == "-" { Vec::new() } else { unhex(f) })
        .collect();
    let props = props
        .split(',')
        .map(|v| match v {
            "?" => None,
            "-" => Some(String::new()),
            v => Some(String::from_utf8(unhex(v)).expect("UTF-8 property")),
        })
        .collect();
    (frames, props)
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// The python peer's (uid, gid, pid): libzmq's IPC Peer-Address is
/// `localhost:UID:GID:PID` of the process at the other end.
fn peer_ids(peer: &mut Peer) -> (String, String, String) {
    let answer = peer.cmd("ids");
    let ids: Vec<&str> = answer
        .strip_prefix("IDS ")
        .unwrap_or_else(|| panic!("libzmq peer ids: {answer}"))
        .split(' ')
        .collect();
    (ids[0].into(), ids[1].into(), ids[2].into())
}

/// (a) A pyzmq DEALER with a routing id and ZMQ_METADATA talks to our ROUTER
/// over `transport`; each side reads the other's properties: address, socket
/// type, routing id, the application property, and no user id (nobody
/// authenticated anyone).
pub fn with_libzmq<E: Env>(transport: Transport) {
    let ours = sock::<E>(
        Builder::new(SocketType::Router)
            .routing_id("our-router")
            .property("X-Ours", "ours"),
    );
    let ep = ours.bind(endpoint(transport)).expect("bind").to_string();
    let mut peer = Peer::start();
    let (uid, gid, pid) = peer_ids(&mut peer);
    peer.socket(
        "d",
        "DEALER",
        &[
            format!("routing_id={}", hex(b"peer-1")),
            "metadata=X-Foo:bar".into(),
        ],
    );
    peer.connect("d", &ep);
    assert!(peer.send("d", &[b"hello"], WAIT_MS));

    let got = recv::<E>(&ours);
    assert_eq!(
        got,
        Msg::from(("peer-1", "hello")),
        "equality ignores properties"
    );
    let (their_address, our_address) = match transport {
        Transport::Tcp => ("127.0.0.1".to_owned(), "127.0.0.1".to_owned()),
        _ => (
            format!("localhost:{uid}:{gid}:{pid}"),
            format!("localhost:{uid}:{gid}:{}", std::process::id()),
        ),
    };
    assert_eq!(got.property("Peer-Address"), Some(&their_address[..]));
    assert_eq!(got.property("Socket-Type"), Some("DEALER"));
    assert_eq!(got.property("Routing-Id"), Some("peer-1"));
    assert_eq!(got.property("Identity"), Some("peer-1"));
    assert_eq!(got.property("X-Foo"), Some("bar"));
    assert_eq!(got.property("x-foo"), Some("bar"), "names ignore case");
    assert_eq!(got.property_bytes("X-Foo"), Some(&b"bar"[..]));
    assert_eq!(got.property("User-Id"), None);
    assert_eq!(got.property("No-Such"), None);
    let names: Vec<&str> = got.properties().map(|(n, _)| n).collect();
    assert_eq!(names, ["Peer-Address", "Socket-Type", "Identity", "X-Foo"]);

    ours.send_blocking(("peer-1", "back"), Some(WAIT))
        .expect("send back");
    let names = [
        "Peer-Address",
        "Socket-Type",
        "Identity",
        "X-Ours",
        "User-Id",
    ];
    let (frames, props) = peer_props(&mut peer, "d", &names);
    assert_eq!(frames, [b"back".to_vec()]);
    let expected = [
        Some(our_address),
        Some("ROUTER".into()),
        Some("our-router".into()),
        Some("ours".into()),
        None,
    ];
    assert_eq!(props, expected, "libzmq reads {names:?}");
}

/// (b) Our PLAIN server's authenticator grants a user id and metadata; a
/// libzmq PLAIN client's messages carry them, with its own READY properties
/// (one of which the grant overrides, as in libzmq).
pub fn authenticator_grant<E: Env>() {
    let server = sock::<E>(Builder::new(SocketType::Pull).plain_server().authenticator(
        |req: &AuthRequest| {
            let Credentials::Plain { username, password } = &req.credentials else {
                return Some(AuthReply::deny("PLAIN only"));
            };
            if &password[..] != b"secret" {
                return Some(AuthReply::deny("wrong password"));
            }
            let mut metadata = Metadata::new();
            metadata.push("Hello", "World");
            metadata.push("X-Foo", "granted");
            Some(AuthReply::Allow {
                user_id: username.clone(),
                metadata,
            })
        },
    ));
    let ep = server.bind("tcp://127.0.0.1:*").expect("bind").to_string();
    let mut peer = Peer::start();
    peer.socket(
        "c",
        "PUSH",
        &[
            "plain_username=alice".into(),
            "plain_password=secret".into(),
            "metadata=X-Foo:bar".into(),
        ],
    );
    peer.connect("c", &ep);
    peer.socket(
        "c2",
        "PUSH",
        &[
            "plain_username=bob".into(),
            "plain_password=secret".into(),
            "metadata=X-Bar:baz".into(),
        ],
    );
    peer.connect("c2", &ep);
    assert!(peer.send("c", &[b"from alice"], WAIT_MS));
    assert!(peer.send("c2", &[b"from bob"], WAIT_MS));

    for _ in 0..2 {
        let got = recv::<E>(&server);
        assert_eq!(got.property("Peer-Address"), Some("127.0.0.1"));
        assert_eq!(got.property("Socket-Type"), Some("PUSH"));
        assert_eq!(got.property("Hello"), Some("World"));
        match got.to_str() {
            Ok("from alice") => {
                assert_eq!(got.property("User-Id"), Some("alice"));
                assert_eq!(got.property("X-Foo"), Some("granted"));
            }
            Ok("from bob") => {
                assert_eq!(got.property("User-Id"), Some("bob"));
                assert_eq!(got.property("X-Bar"), Some("baz"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// (c) Our PLAIN client sends to a libzmq server whose ZAP handler grants a
/// user id and metadata: libzmq's `zmq_msg_gets` reads them, our address and
/// our own READY property from what we sent.
pub fn libzmq_zap_grant<E: Env>() {
    let mut peer = Peer::start();
    peer.ok("zap plain alice:secret");
    peer.ok("zapgrant alice Hello=World,X-Grant=yes");
    peer.socket("s", "PULL", &["plain_server=1".into()]);
    let ep = peer.bind("s", "tcp://127.0.0.1:*");
    let client = sock::<E>(
        Builder::new(SocketType::Push)
            .plain_client("alice", "secret")
            .property("X-Ours", "from-rust"),
    );
    client.connect(ep).expect("connect");
    client.send_blocking("hi", Some(WAIT)).expect("send");
    let names = [
        "User-Id",
        "Peer-Address",
        "Hello",
        "X-Grant",
        "X-Ours",
        "Socket-Type",
    ];
    let (frames, props) = peer_props(&mut peer, "s", &names);
    assert_eq!(frames, [b"hi".to_vec()]);
    let expected: Vec<Option<String>> = ["alice", "127.0.0.1", "World", "yes", "from-rust", "PUSH"]
        .iter()
        .map(|v| Some((*v).to_owned()))
        .collect();
    assert_eq!(props, expected, "libzmq reads {names:?}");
}

/// Inproc messages carry no properties (libzmq attaches metadata in its
/// stream engine only), and a received message sent on leaves its own
/// behind, as libzmq's send resets it.
pub fn inproc_and_forwarded<E: Env>() {
    let pull = sock::<E>(Builder::new(SocketType::Pull));
    let ep = pull.bind("tcp://127.0.0.1:*").expect("bind");
    let push = sock::<E>(Builder::new(SocketType::Push).property("X-Hop", "1"));
    push.connect(&ep).expect("connect");
    push.send_blocking("over tcp", Some(WAIT)).expect("send");
    let got = recv::<E>(&pull);
    assert_eq!(got.property("X-Hop"), Some("1"));
    assert_eq!(got.property("Peer-Address"), Some("127.0.0.1"));

    let name = endpoint(Transport::Inproc);
    let a = sock::<E>(Builder::new(SocketType::Pair).property("X-Inproc", "1"));
    a.bind(&name[..]).expect("bind inproc");
    let b = sock::<E>(Builder::new(SocketType::Pair));
    b.connect(&name[..]).expect("connect inproc");
    a.send_blocking(got, Some(WAIT)).expect("forward");
    a.send_blocking("built here", Some(WAIT)).expect("send");
    for text in ["over tcp", "built here"] {
        let m = recv::<E>(&b);
        assert_eq!(m.to_str(), Ok(text));
        assert_eq!(m.properties().count(), 0, "{text}: {m:?}");
        assert!(m.shared_properties().is_none());
    }
}
