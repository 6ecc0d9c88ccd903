//! Byte-exact CURVE handshake and MESSAGE transcript from
//! `shared/spec/zmtp-curve-kat.md` (RFC 26 test keys, fixed randomness; the
//! transcript was checked against libzmq 4.3.5 in both roles).

// Virtual time needs one real starting instant; nothing here reads the clock again.
#![allow(clippy::disallowed_methods)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use common::*;
use zmtp_core::wire::greeting::{Greeting, MechanismName};
use zmtp_core::{
    CommandName, Config, Connection, ConnectionError, Event, MechanismConfig, Msg, SocketType,
};

const HELLO: &str = "04c8
0548454c4c4f0100000000000000000000000000000000000000000000000000
0000000000000000000000000000000000000000000000000000000000000000
000000000000000000000000000000007b4e909bbe7ffe44c465a220037d608e
e35897d31ef972f07f74892cb0f73f1300000000000000014421bee1b6bcfdff
97d7ff0fbb19b8498d7c639897ae554a2bc26a32f47752b33a6969a446f85cb3
46cd5a19216cc1991c7b926bbecbd5cb4fd2793c0c010324677919f0c2caf410
afaf707e7ecab73a";

const WELCOME: &str = "04a8
0757454c434f4d454444444444444444444444444444444483144995674ecaf8
b72bd71fd680ec3d202cb8e1c3ca487faa463e451f7c091c70d7e4f2d8058a0a
18cc96a0184050e016483a8750447237cc506f08899665e2cbeac404c1dc079a
0bbe831db15d202cdd78c8f586171c138e03132521096d2b3272c75177bdaf22
82ad33458c2169f58c5574d8efc5dbc704e7f36290fcfb5ea0e42b6badbecb30
f42c4dc9f90819de";

const INITIATE: &str = "060000000000000124
08494e49544941544566666666666666666666666666666666587e600a1f9a94
a1bde841496d916edb4f21e20cbb3059548c205f50f44f13d02aaa191d6d5f70
f8739da21f28f7c2d0cb6dba633f88f6c90e7f588d59a2485abc51ff421baab6
dbc8366bd50468832b00000000000000023c8be89dec188ba34c4397a6a28e2b
977fd0b1bd4786b433298d13aa099ce6c846014a1cf449512c271355ecb7221e
fa71dad829638d1d6ad5bbd939a1155cf9648615182b62c0abba13117268a6e6
b8460ff625b367a84201bf1313aa9f5c86ae58bbf937daf6f0a15018d1989c29
e485c238cfbca95e76447e779a27f7b4c67afbae4822060ece92d3330a01a43a
f4f5b8d3808d9d1bf9cb1c287e52cdcda00d4bc6a98dfe16900f052b5c65864b
ef35a86d";

const READY: &str = "0441
05524541445900000000000000010223ae1849e8f91bf7757d06dadd2b5754e7
0311133af8dd9cde37f50d62b7358b35c0188dd175991a3df18ccea54beb4306
8d";

const MSG_HELLO_C3: &str =
    "0026 074d4553534147450000000000000003366c98968851459cb88c8fa6635a34349cb609978d78";
const MSG_WORLD_S2: &str =
    "0026 074d4553534147450000000000000002bd323d5111d7dcc13f03bbf0a5ec979ad1394c849c64";
const MSG_A_C4: &str = "0022 074d45535341474500000000000000047eeb59b56ebaef3dfe3d77eab4996288e71a";
const MSG_B_C5: &str = "0022 074d45535341474500000000000000059ba9771c9d738f8e033143f3d742af81f4f2";
const MSG_PING_C6: &str =
    "0028 074d4553534147450000000000000006f61b1ef293aa88a267fcd7bb7e95f5979845b52d4ac9ad0b";
const MSG_SUB_C7: &str =
    "002d 074d45535341474500000000000000072907a142ddb48d4c4dfb02bd2505b6ccddc0d5ce4a28253a4ce8a3df8d";

fn kat_client() -> Connection {
    let random = Scripted::new(vec![vec![0x11; 32], vec![0x22; 16]]);
    let cfg = Config::new(SocketType::Dealer)
        .with_mechanism(MechanismConfig::CurveClient {
            server_key: server_keys().public,
            keypair: client_keys(),
        })
        .unwrap()
        .with_random(random)
        .with_heartbeat_ivl(Some(Duration::from_secs(1)));
    Connection::new(Arc::new(cfg), t0())
}

fn kat_server() -> Connection {
    let random = Scripted::new(vec![
        vec![0x33; 32], // server transient secret s'
        vec![0x55; 32], // cookie key K
        vec![0x66; 16], // cookie nonce
        vec![0x44; 16], // WELCOME nonce
    ]);
    let cfg = Config::new(SocketType::Router)
        .with_mechanism(MechanismConfig::CurveServer {
            keypair: server_keys(),
        })
        .unwrap()
        .with_random(random);
    Connection::new(Arc::new(cfg), t0())
}

fn t0() -> Instant {
    static T: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *T.get_or_init(Instant::now)
}

fn greeting(as_server: bool) -> Vec<u8> {
    let mut g = [0u8; 64];
    Greeting::new(1, MechanismName::Curve, as_server).emit(&mut g);
    g.to_vec()
}

/// What a connection sends once the peer's greeting is in: the 54 bytes of its
/// own greeting staged behind the signature, then `then`.
fn after_greeting(as_server: bool, then: &[u8]) -> Vec<u8> {
    let mut v = greeting(as_server)[10..].to_vec();
    v.extend_from_slice(then);
    v
}

fn feed(conn: &mut Connection, bytes: &[u8]) -> Result<(), ConnectionError> {
    let mut buf = BytesMut::from(bytes);
    let r = conn.handle_input(t0(), &mut buf);
    assert!(r.is_err() || buf.is_empty(), "input left over");
    r
}

fn allow_pending(conn: &mut Connection) {
    while let Some(ev) = conn.poll_event() {
        if let Event::AuthRequest(req) = ev {
            conn.auth_reply(req.id, zmtp_core::AuthReply::allow())
                .unwrap();
        }
    }
}

#[test]
fn client_hello_and_initiate_match_the_transcript() {
    let mut c = kat_client();
    assert_eq!(drain(&mut c), greeting(false)[..10]);
    feed(&mut c, &greeting(false)).unwrap();
    assert_eq!(drain(&mut c), after_greeting(false, &hex(HELLO)));
    feed(&mut c, &hex(WELCOME)).unwrap();
    assert_eq!(drain(&mut c), hex(INITIATE));
    feed(&mut c, &hex(READY)).unwrap();
    assert!(c.is_active());
    assert_eq!(c.peer().unwrap().socket_type, Some(SocketType::Router));
}

#[test]
fn server_welcome_and_ready_match_the_transcript() {
    let mut s = kat_server();
    assert_eq!(drain(&mut s), greeting(true)[..10]);
    feed(&mut s, &greeting(false)).unwrap();
    assert_eq!(
        drain(&mut s),
        after_greeting(true, &[]),
        "server speaks only after HELLO"
    );
    feed(&mut s, &hex(HELLO)).unwrap();
    assert_eq!(drain(&mut s), hex(WELCOME));
    feed(&mut s, &hex(INITIATE)).unwrap();
    assert!(
        drain(&mut s).is_empty(),
        "READY waits for the auth decision"
    );
    allow_pending(&mut s);
    assert_eq!(drain(&mut s), hex(READY));
    assert!(s.is_active());
    assert_eq!(s.peer().unwrap().socket_type, Some(SocketType::Dealer));
}

fn established() -> (Connection, Connection) {
    let mut c = kat_client();
    let mut s = kat_server();
    drain(&mut c);
    drain(&mut s);
    feed(&mut c, &greeting(true)).unwrap();
    feed(&mut s, &greeting(false)).unwrap();
    drain(&mut s);
    let hello = drain(&mut c)[54..].to_vec();
    feed(&mut s, &hello).unwrap();
    let welcome = drain(&mut s);
    feed(&mut c, &welcome).unwrap();
    let initiate = drain(&mut c);
    feed(&mut s, &initiate).unwrap();
    allow_pending(&mut s);
    let ready = drain(&mut s);
    feed(&mut c, &ready).unwrap();
    assert!(c.is_active() && s.is_active());
    while c.poll_event().is_some() {}
    while s.poll_event().is_some() {}
    (c, s)
}

#[test]
fn messages_heartbeats_and_subscriptions_match_the_transcript() {
    let (mut c, mut s) = established();
    c.send(Msg::from("Hello")).unwrap();
    assert_eq!(drain(&mut c), hex(MSG_HELLO_C3));
    s.send(Msg::from("World")).unwrap();
    assert_eq!(drain(&mut s), hex(MSG_WORLD_S2));
    c.send(Msg::from_iter(["A", "B"])).unwrap();
    let mut ab = hex(MSG_A_C4);
    ab.extend(hex(MSG_B_C5));
    assert_eq!(drain(&mut c), ab);
    // The heartbeat timer sends PING ttl 0 as an encrypted command (inner flags 02).
    c.handle_timeout(t0() + Duration::from_secs(1)).unwrap();
    assert_eq!(drain(&mut c), hex(MSG_PING_C6));
    c.send_subscribe(b"AB").unwrap();
    assert_eq!(drain(&mut c), hex(MSG_SUB_C7));
}

#[test]
fn transcript_messages_decrypt_on_both_sides() {
    let (mut c, mut s) = established();
    feed(&mut c, &hex(MSG_WORLD_S2)).unwrap();
    assert_eq!(c.poll_event(), Some(Event::Message(Msg::from("World"))));
    let mut stream = hex(MSG_HELLO_C3);
    stream.extend(hex(MSG_A_C4));
    stream.extend(hex(MSG_B_C5));
    stream.extend(hex(MSG_PING_C6));
    feed(&mut s, &stream).unwrap();
    assert_eq!(s.poll_event(), Some(Event::Message(Msg::from("Hello"))));
    assert_eq!(
        s.poll_event(),
        Some(Event::Message(Msg::from_iter(["A", "B"])))
    );
    assert_eq!(s.poll_event(), None, "PING is answered, not delivered");
    // The PONG goes back encrypted with the server's next nonce (2: this server
    // has sent nothing since READY; the client saw nonce 2 from the transcript,
    // so it must refuse the reuse).
    let pong = drain(&mut s);
    assert_eq!(&pong[2..10], b"\x07MESSAGE");
    assert_eq!(&pong[10..18], &2u64.to_be_bytes());
    assert_eq!(feed(&mut c, &pong), Err(ConnectionError::InvalidNonce));
    let (mut c, mut s) = established();
    feed(&mut s, &hex(MSG_PING_C6)).unwrap();
    feed(&mut c, &drain(&mut s)).unwrap();
    assert_eq!(c.poll_event(), None);
}

#[test]
fn replayed_nonce_closes_the_connection() {
    let (_, mut s) = established();
    feed(&mut s, &hex(MSG_HELLO_C3)).unwrap();
    feed(&mut s, &hex(MSG_A_C4)).unwrap();
    assert_eq!(
        feed(&mut s, &hex(MSG_HELLO_C3)),
        Err(ConnectionError::InvalidNonce)
    );
}

#[test]
fn flipped_box_bytes_fail_authentication() {
    // INITIATE byte 30 of the body is inside the cookie box, 150 inside the
    // INITIATE box (libzmq test_security_curve).
    for offset in [30, 150] {
        let mut s = kat_server();
        drain(&mut s);
        feed(&mut s, &greeting(false)).unwrap();
        feed(&mut s, &hex(HELLO)).unwrap();
        let mut initiate = hex(INITIATE);
        initiate[9 + offset] ^= 0x01;
        assert_eq!(
            feed(&mut s, &initiate),
            Err(ConnectionError::Cryptographic),
            "offset {offset}"
        );
    }
    let (_, mut s) = established();
    let mut msg = hex(MSG_HELLO_C3);
    let last = msg.len() - 1;
    msg[last] ^= 0x80;
    assert_eq!(feed(&mut s, &msg), Err(ConnectionError::Cryptographic));
}

#[test]
fn malformed_hello_is_refused_like_libzmq() {
    let cases: Vec<(Vec<u8>, ConnectionError)> = vec![
        (
            hex("04 06 05 48454c4c4f"),
            ConnectionError::MalformedCommand {
                command: CommandName::Hello,
            },
        ),
        (
            {
                let mut h = hex(HELLO);
                h[2 + 6] = 2; // version 2.0
                h
            },
            ConnectionError::MalformedCommand {
                command: CommandName::Hello,
            },
        ),
        (
            {
                let mut h = hex(HELLO);
                h[2 + 1] = b'X'; // name patched
                h
            },
            ConnectionError::UnexpectedCommand {
                name: "XELLO".into(),
            },
        ),
        (
            hex("04 09 08 494e4954494154 45"),
            ConnectionError::UnexpectedCommand {
                name: "INITIATE".into(),
            },
        ),
    ];
    for (input, expected) in cases {
        let mut s = kat_server();
        feed(&mut s, &greeting(false)).unwrap();
        assert_eq!(feed(&mut s, &input), Err(expected));
    }
    // A too-short INITIATE after a good HELLO.
    let mut s = kat_server();
    feed(&mut s, &greeting(false)).unwrap();
    feed(&mut s, &hex(HELLO)).unwrap();
    assert_eq!(
        feed(&mut s, &hex("04 09 08 494e4954494154 45")),
        Err(ConnectionError::MalformedCommand {
            command: CommandName::Initiate
        })
    );
}

#[test]
fn message_with_wrong_direction_prefix_fails() {
    // A server->client MESSAGE fed back to the server uses the MESSAGES prefix.
    let (_, mut s) = established();
    let mut world = hex(MSG_WORLD_S2);
    world[17] = 0x09; // make the nonce (9) larger than anything seen
    assert_eq!(feed(&mut s, &world), Err(ConnectionError::Cryptographic));
}

#[test]
fn message_in_a_command_frame_is_accepted_too() {
    let (_, mut s) = established();
    let mut m = hex(MSG_HELLO_C3);
    m[0] = 0x04;
    feed(&mut s, &m).unwrap();
    assert_eq!(
        s.poll_event(),
        Some(Event::Message(Msg::single(Bytes::from_static(b"Hello"))))
    );
}
