//! The `zmq` binary as a user runs it, against real libzmq (pyzmq, installed
//! by scripts/test.sh): every socket type through `zmq cat`, PLAIN and CURVE
//! accepted and refused, keygen keys in libzmq, `zmq perf` against libzmq's
//! perf tools in both directions (the fan-out pair too), and bad input.

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use zmq_test_support::old_peer::{OldPeer, OldPeerOpts, Received, Zmtp};
use zmq_test_support::peer::Peer;
use zmq_test_support::python::{perf_peer, perf_peer_env, SOAK_PEER_SCRIPT};

const ZMQ: &str = env!("CARGO_BIN_EXE_zmq");
const WAIT: Duration = Duration::from_secs(15);

/// A running `zmq cat`, fed and read line by line.
struct Cat {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Receiver<String>,
}

fn lines_of(r: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Cat {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(ZMQ)
            .arg("cat")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the zmq binary");
        let lines = lines_of(child.stdout.take().unwrap());
        let stderr = lines_of(child.stderr.take().unwrap());
        Self {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr,
        }
    }

    fn write(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    fn line(&self) -> String {
        self.lines
            .recv_timeout(WAIT)
            .expect("zmq cat printed nothing")
    }

    fn try_line(&self, wait: Duration) -> Option<String> {
        self.lines.recv_timeout(wait).ok()
    }

    fn err_line(&self) -> String {
        self.stderr
            .recv_timeout(WAIT)
            .expect("zmq cat wrote nothing on stderr")
    }

    /// The `bound: tcp://...` line of a wildcard bind.
    fn bound(&self) -> String {
        let l = self.err_line();
        l.strip_prefix("bound: ")
            .unwrap_or_else(|| panic!("expected a bound line, got {l:?}"))
            .to_owned()
    }

    fn wait(mut self) -> i32 {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "zmq cat did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Cat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(ZMQ)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn frames(v: &[&str]) -> Vec<Vec<u8>> {
    v.iter().map(|f| f.as_bytes().to_vec()).collect()
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let in_use = format!("tcp://{}", taken.local_addr().unwrap());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["cat"], "TYPE"),
        (vec!["cat", "bogus", "-b", "tcp://*:0"], "bogus"),
        (vec!["cat", "push"], "-b"),
        (
            vec!["cat", "push", "-c", "tcp://127.0.0.1:1", "--nope"],
            "--nope",
        ),
        (
            vec!["cat", "push", "-c", "tcp://127.0.0.1:1", "-n", "0"],
            "0",
        ),
        (
            vec!["cat", "push", "-c", "tcp://127.0.0.1:1", "--sndhwm", "x"],
            "x",
        ),
        (
            vec![
                "cat",
                "push",
                "-c",
                "tcp://127.0.0.1:1",
                "--runtime",
                "nope",
            ],
            "nope",
        ),
        (
            vec!["cat", "rep", "-b", "tcp://*:0", "--curve-server"],
            "--curve-secret",
        ),
        (
            vec!["cat", "push", "-c", "tcp://127.0.0.1:0"],
            "tcp://127.0.0.1:0",
        ),
        (
            vec!["cat", "push", "-c", "tcp://127.0.0.1:70000"],
            "tcp://127.0.0.1:70000",
        ),
        (vec!["cat", "pull", "-b", "ipc://"], "ipc://"),
        (
            vec!["cat", "pull", "-b", "udp://1.2.3.4:5"],
            "udp://1.2.3.4:5",
        ),
        (vec!["cat", "pull", "-b", &in_use], &in_use),
        (
            vec![
                "cat",
                "req",
                "-c",
                "tcp://127.0.0.1:1",
                "--curve-serverkey",
                "short",
            ],
            "short",
        ),
        (
            vec![
                "cat",
                "req",
                "-c",
                "tcp://127.0.0.1:1",
                "--curve-serverkey",
                "########################################",
            ],
            "########################################",
        ),
        (
            vec![
                "cat",
                "req",
                "-c",
                "tcp://127.0.0.1:1",
                "--curve-serverkey",
                "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]y~7",
            ],
            "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]y~7",
        ),
        (vec!["perf", "local-thr", "tcp://*:0", "0", "10"], "0"),
        (vec!["perf", "sideways", "tcp://*:0", "1", "10"], "sideways"),
        (vec!["perf", "remote-pub", "tcp://*:0", "64", "10"], "NSUBS"),
        (
            vec!["perf", "remote-pub", "tcp://*:0", "64", "10", "0"],
            "0",
        ),
        (vec!["perf", "local-sub", "tcp://*:0", "64", "10", "3"], "3"),
        (vec!["perf", "idle-conns", "0"], "0"),
        (vec!["perf", "idle-conns", "ten"], "ten"),
        (vec!["perf", "idle-conns", "10", "64"], "64"),
        (
            vec![
                "perf",
                "local-sub",
                "tcp://*:0",
                "64",
                "10",
                "--runtime",
                "tokio-x",
            ],
            "tokio-x",
        ),
    ];
    for (args, offending) in cases {
        let out = run(&args, b"");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.contains(offending),
            "{args:?}: {err:?} does not name {offending:?}"
        );
    }
    // A PERF_HWM that is not a count is refused, not read as 0 as atoi would.
    for mode in [
        &["local-sub", "tcp://127.0.0.1:1", "64", "10"][..],
        &["remote-pub", "tcp://127.0.0.1:0", "64", "10", "1"],
    ] {
        let out = zmq_perf_env(mode, &[("PERF_HWM", "lots")])
            .wait_with_output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{mode:?}: {err}");
        assert!(err.contains("PERF_HWM 'lots'"), "{mode:?}: {err}");
    }
    // Bad hex on stdin.
    let pull = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = format!("tcp://{}", pull.local_addr().unwrap());
    let out = run(
        &["cat", "push", "-c", &ep, "--hex", "--linger", "0"],
        b"zz\n",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("zz"), "{err}");
}

#[test]
fn keygen_prints_two_lines_whose_keys_libzmq_accepts() {
    let keys = |_| {
        let out = run(&["keygen"], b"");
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        let public = lines[0]
            .strip_prefix("public: ")
            .expect("public first")
            .to_owned();
        let secret = lines[1]
            .strip_prefix("secret: ")
            .expect("secret second")
            .to_owned();
        assert_eq!((public.len(), secret.len()), (40, 40));
        (public, secret)
    };
    let (server_pub, server_sec) = keys(0);
    let (client_pub, client_sec) = keys(1);
    let mut p = Peer::start();
    p.ok(&format!("zap curve {client_pub}"));
    p.socket(
        "rep",
        "REP",
        &[
            "curve_server=1".into(),
            format!("curve_secretkey={server_sec}"),
        ],
    );
    let ep = p.bind("rep", "tcp://127.0.0.1:*");
    let mut cat = Cat::start(&[
        "req",
        "-c",
        &ep,
        "--curve-serverkey",
        &server_pub,
        "--curve-secret",
        &client_sec,
    ]);
    cat.write("secret hello");
    assert_eq!(
        p.recv("rep", 15_000).expect("request over CURVE"),
        frames(&["secret hello"])
    );
    assert!(p.send("rep", &[b"ok"], 1000));
    assert_eq!(cat.line(), "ok");
    cat.close_stdin();
    assert_eq!(cat.wait(), 0);
}

/// `zmq keygen --cert PATH` writes PATH and PATH_secret as zcert does; pyzmq's
/// `load_certificate` reads the public key from one and both from the other,
/// and bad arguments name themselves.
#[test]
fn keygen_cert_files_load_in_pyzmq() {
    let dir = std::env::temp_dir().join(format!("zmq-cli-keygen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("server.cert");
    let path_s = path.to_str().unwrap();
    let out = run(
        &["keygen", "--cert", path_s, "--meta", "name=the server"],
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let public = text.trim().strip_prefix("public: ").expect("public: Z85");
    let secret_file = format!("{path_s}_secret");
    assert!(std::fs::read_to_string(&secret_file)
        .unwrap()
        .contains("    name = \"the server\"\n"));

    let mut p = Peer::start();
    assert_eq!(p.ok(&format!("loadcert {path_s}")), format!("{public} -"));
    let both = p.ok(&format!("loadcert {secret_file}"));
    let (again, secret) = both.split_once(' ').unwrap();
    assert_eq!(again, public);
    let secret: zmtp_core::SecretKey = secret.parse().expect("Z85 secret");
    assert_eq!(secret.public_key().to_z85(), public);

    for (args, names) in [
        (
            vec!["keygen", "--cert", path_s, "--meta", "novalue"],
            "novalue",
        ),
        (vec!["keygen", "--cert", path_s, "--meta", "a/b=c"], "a/b"),
        (vec!["keygen", "--meta", "a=b"], "--cert"),
        (
            vec!["keygen", "--cert", "/nonexistent-dir/x.cert"],
            "/nonexistent-dir/x.cert",
        ),
    ] {
        let out = run(&args, b"");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(names) && err.lines().count() == 1,
            "{args:?}: {err}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every socket type through `zmq cat`, facing libzmq; on every runtime for
/// the simplest pair.
#[test]
fn every_socket_type_against_libzmq() {
    let p = RefCell::new(Peer::start());
    let peer = || p.borrow_mut();

    for runtime in ["tokio", "smol", "blocking"] {
        // push -> libzmq pull; then pull <- libzmq push.
        peer().socket("pull", "PULL", &[]);
        let ep = peer().bind("pull", "tcp://127.0.0.1:*");
        let out = run(
            &["cat", "push", "-c", &ep, "--runtime", runtime],
            b"a\tb\n\nlast",
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(peer().recv("pull", 5000).unwrap(), frames(&["a", "b"]));
        assert_eq!(peer().recv("pull", 5000).unwrap(), frames(&[""]));
        assert_eq!(peer().recv("pull", 5000).unwrap(), frames(&["last"]));
        peer().close("pull");

        let cat = Cat::start(&[
            "pull",
            "-b",
            "tcp://127.0.0.1:0",
            "-n",
            "2",
            "--runtime",
            runtime,
        ]);
        let ep = cat.bound();
        peer().socket("push", "PUSH", &[]);
        peer().connect("push", &ep);
        assert!(peer().send("push", &[b"x", b"y"], 5000));
        assert!(peer().send("push", &[b"z"], 5000));
        assert_eq!(cat.line(), "x\ty");
        assert_eq!(cat.line(), "z");
        assert_eq!(cat.wait(), 0);
        peer().close("push");
    }

    // pub -> libzmq sub: publish until the subscriber hears.
    let mut cat = Cat::start(&["pub", "-b", "tcp://127.0.0.1:0"]);
    let ep = cat.bound();
    peer().socket("sub", "SUB", &["subscribe=74".into()]);
    peer().connect("sub", &ep);
    let deadline = Instant::now() + WAIT;
    loop {
        cat.write("x-filtered");
        cat.write("topic");
        if let Some(m) = peer().recv("sub", 50) {
            assert_eq!(m, frames(&["topic"]));
            break;
        }
        assert!(Instant::now() < deadline);
    }
    cat.close_stdin();
    assert_eq!(cat.wait(), 0);
    peer().close("sub");

    // sub <- libzmq pub, with a prefix.
    let cat = Cat::start(&["sub", "-b", "tcp://127.0.0.1:0", "-s", "t", "-n", "1"]);
    let ep = cat.bound();
    peer().socket("pub", "PUB", &[]);
    peer().connect("pub", &ep);
    let got = loop {
        peer().send("pub", &[b"u-no"], 0);
        peer().send("pub", &[b"t-yes", b"2"], 0);
        if let Some(l) = cat.try_line(Duration::from_millis(50)) {
            break l;
        }
    };
    assert_eq!(got, "t-yes\t2");
    assert_eq!(cat.wait(), 0);
    peer().close("pub");

    // req -> libzmq rep.
    peer().socket("rep", "REP", &[]);
    let ep = peer().bind("rep", "tcp://127.0.0.1:*");
    let mut cat = Cat::start(&["req", "-c", &ep]);
    cat.write("question");
    assert_eq!(peer().recv("rep", 5000).unwrap(), frames(&["question"]));
    assert!(peer().send("rep", &[b"answer", b"2"], 1000));
    assert_eq!(cat.line(), "answer\t2");
    cat.close_stdin();
    assert_eq!(cat.wait(), 0);
    peer().close("rep");

    // rep <- libzmq req; stdin holds the answers.
    let mut cat = Cat::start(&["rep", "-b", "tcp://127.0.0.1:0"]);
    let ep = cat.bound();
    peer().socket("req", "REQ", &[]);
    peer().connect("req", &ep);
    assert!(peer().send("req", &[b"q1"], 5000));
    assert_eq!(cat.line(), "q1");
    cat.write("a1");
    assert_eq!(peer().recv("req", 5000).unwrap(), frames(&["a1"]));
    // The second request is printed before stdin ends: a rep whose stdin is
    // exhausted ends at once, even while it waits for a request, so closing
    // stdin first would race the request.
    assert!(peer().send("req", &[b"q2"], 5000));
    assert_eq!(cat.line(), "q2");
    cat.close_stdin();
    assert_eq!(cat.wait(), 0, "rep exits at stdin EOF");
    peer().close("req");

    // dealer <-> libzmq router.
    peer().socket("router", "ROUTER", &[]);
    let ep = peer().bind("router", "tcp://127.0.0.1:*");
    let mut cat = Cat::start(&["dealer", "-c", &ep, "--routing-id", "D1", "-n", "1"]);
    cat.write("up");
    assert_eq!(peer().recv("router", 5000).unwrap(), frames(&["D1", "up"]));
    assert!(peer().send("router", &[b"D1", b"down"], 1000));
    assert_eq!(cat.line(), "down");
    assert_eq!(cat.wait(), 0);
    peer().close("router");

    // router <-> libzmq dealer: ids printed as text, or 0x+hex when binary.
    let mut cat = Cat::start(&["router", "-b", "tcp://127.0.0.1:0", "-n", "3"]);
    let ep = cat.bound();
    peer().socket("d1", "DEALER", &[format!("routing_id={}", hex(b"peer-1"))]);
    peer().connect("d1", &ep);
    peer().socket("d2", "DEALER", &[format!("routing_id={}", hex(&[0, 1, 2]))]);
    peer().connect("d2", &ep);
    assert!(peer().send("d1", &[b"hi"], 5000));
    assert_eq!(cat.line(), "peer-1\thi");
    assert!(peer().send("d2", &[b"bin"], 5000));
    assert_eq!(cat.line(), "0x000102\tbin");
    cat.write("peer-1\tback");
    cat.write("0x000102\tback2");
    assert_eq!(peer().recv("d1", 5000).unwrap(), frames(&["back"]));
    assert_eq!(peer().recv("d2", 5000).unwrap(), frames(&["back2"]));
    assert!(peer().send("d1", &[b"bye"], 5000));
    assert_eq!(cat.line(), "peer-1\tbye");
    assert_eq!(cat.wait(), 0);
    peer().close("d1");
    peer().close("d2");

    // pair <-> libzmq pair, in hex.
    peer().socket("pair", "PAIR", &[]);
    let ep = peer().bind("pair", "tcp://127.0.0.1:*");
    let mut cat = Cat::start(&["pair", "-c", &ep, "--hex", "-n", "1"]);
    cat.write("00ff\t");
    assert_eq!(
        peer().recv("pair", 5000).unwrap(),
        vec![vec![0u8, 255], vec![]]
    );
    assert!(peer().send("pair", &[&[1, 2], b"A"], 1000));
    assert_eq!(cat.line(), "0102\t41");
    assert_eq!(cat.wait(), 0);
    peer().close("pair");

    // xpub <- libzmq xsub: subscriptions printed as \x01topic.
    let cat = Cat::start(&["xpub", "-b", "tcp://127.0.0.1:0", "-n", "1"]);
    let ep = cat.bound();
    peer().socket("xsub", "XSUB", &[]);
    peer().connect("xsub", &ep);
    let got = loop {
        assert!(peer().send("xsub", &[b"\x01news"], 1000));
        if let Some(l) = cat.try_line(Duration::from_millis(50)) {
            break l;
        }
    };
    assert_eq!(got, "\\x01news");
    assert_eq!(cat.wait(), 0);
    peer().close("xsub");

    // xsub -> libzmq xpub: a \x01 line subscribes, data comes back.
    peer().socket("xpub", "XPUB", &[]);
    let ep = peer().bind("xpub", "tcp://127.0.0.1:*");
    let mut cat = Cat::start(&["xsub", "-c", &ep, "-n", "1"]);
    cat.write("\\x01ne");
    assert_eq!(peer().recv("xpub", 5000).unwrap(), vec![b"\x01ne".to_vec()]);
    assert!(peer().send("xpub", &[b"news!"], 1000));
    assert_eq!(cat.line(), "news!");
    assert_eq!(cat.wait(), 0);
    peer().close("xpub");
}

/// `zmq cat` facing libzmq 3.x and 2.x on the wire (the raw old peer):
/// pull from a ZMTP/2.0 pusher, push to a ZMTP/1.0 puller. Each is first
/// run with a libzmq socket in cat's place.
#[test]
fn cat_with_zmtp2_and_zmtp1_peers() {
    let opts = |zmtp, kind: &str| OldPeerOpts {
        zmtp,
        kind: kind.to_owned(),
        identity: b"OLD".to_vec(),
        dribble: false,
        eager: false,
    };
    let big = "y".repeat(300);
    let mut p = Peer::start();

    // A ZMTP/2.0 pusher into a binding pull: libzmq, then zmq cat.
    p.socket("pull", "PULL", &[]);
    let ep = p.bind("pull", "tcp://127.0.0.1:*");
    let mut old = OldPeer::connect(&opts(Zmtp::V2, "PUSH"), &ep);
    assert!(old.send(&[b"x", big.as_bytes()]));
    assert!(old.send(&[b"z"]));
    assert_eq!(p.recv("pull", 5000).unwrap(), frames(&["x", &big]));
    assert_eq!(p.recv("pull", 5000).unwrap(), frames(&["z"]));
    p.close("pull");
    let cat = Cat::start(&["pull", "-b", "tcp://127.0.0.1:0", "-n", "2"]);
    let ep = cat.bound();
    let mut old = OldPeer::connect(&opts(Zmtp::V2, "PUSH"), &ep);
    assert!(old.send(&[b"x", big.as_bytes()]));
    assert!(old.send(&[b"z"]));
    assert_eq!(cat.line(), format!("x\t{big}"));
    assert_eq!(cat.line(), "z");
    assert_eq!(cat.wait(), 0);
    drop(old);

    // A connecting push into a binding ZMTP/1.0 puller: libzmq, then zmq cat.
    let mut old = OldPeer::bind(&opts(Zmtp::V1, "PULL"), "tcp://127.0.0.1:0");
    p.socket("push", "PUSH", &[]);
    p.connect("push", old.endpoint());
    assert!(p.send("push", &[b"a", big.as_bytes()], 5000));
    assert_eq!(old.recv(5000), Received::Msg(frames(&["a", &big])));
    p.close("push");
    let mut old = OldPeer::bind(&opts(Zmtp::V1, "PULL"), "tcp://127.0.0.1:0");
    let out = run(
        &["cat", "push", "-c", old.endpoint()],
        format!("a\t{big}\nlast").as_bytes(),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(old.recv(5000), Received::Msg(frames(&["a", &big])));
    assert_eq!(old.recv(5000), Received::Msg(frames(&["last"])));
    assert_eq!(old.errors(), Vec::<String>::new());
}

#[test]
fn plain_and_curve_accepted_and_refused() {
    let mut p = Peer::start();
    // Our PLAIN server with an allow-list, libzmq clients.
    let cat = Cat::start(&[
        "rep",
        "-b",
        "tcp://127.0.0.1:0",
        "--plain-server",
        "--allow",
        "admin:pa:ss",
        "--echo",
    ]);
    let ep = cat.bound();
    p.socket(
        "good",
        "REQ",
        &["plain_username=admin".into(), "plain_password=pa:ss".into()],
    );
    p.connect("good", &ep);
    assert!(p.send("good", &[b"in"], 5000));
    assert_eq!(p.recv("good", 10_000).expect("allowed"), frames(&["in"]));
    p.socket(
        "bad",
        "REQ",
        &["plain_username=admin".into(), "plain_password=pa".into()],
    );
    p.connect("bad", &ep);
    // libzmq drops the REQ's pipe once our server refuses it, so this send
    // either queues (before the refusal) or finds no peer (after): both fine.
    let _ = p.send("bad", &[b"out"], 500);
    assert!(
        p.recv("bad", 500).is_none(),
        "a refused client got an answer"
    );
    drop(cat);

    // Our PLAIN client refused by libzmq: one refused line, exit 4.
    p.ok("zap plain admin:secret");
    p.socket("srv", "REP", &["plain_server=1".into()]);
    let ep = p.bind("srv", "tcp://127.0.0.1:*");
    let mut cat = Cat::start(&[
        "req",
        "-c",
        &ep,
        "--plain-user",
        "admin",
        "--plain-password",
        "wrong",
    ]);
    cat.write("let me in");
    let err = cat.err_line();
    assert!(err.starts_with(&format!("refused: {ep}: ")), "{err}");
    assert_eq!(cat.wait(), 4);
    assert!(p.recv("srv", 200).is_none());
    // And accepted with the right password.
    let mut cat = Cat::start(&[
        "req",
        "-c",
        &ep,
        "--plain-user",
        "admin",
        "--plain-password",
        "secret",
    ]);
    cat.write("hello");
    assert_eq!(p.recv("srv", 10_000).unwrap(), frames(&["hello"]));
    assert!(p.send("srv", &[b"welcome"], 1000));
    assert_eq!(cat.line(), "welcome");
    cat.close_stdin();
    assert_eq!(cat.wait(), 0);

    // Our CURVE server allowing one client key.
    let server = zmq_runtime::KeyPair::generate();
    let allowed = zmq_runtime::KeyPair::generate();
    let other = zmq_runtime::KeyPair::generate();
    let cat = Cat::start(&[
        "rep",
        "-b",
        "tcp://127.0.0.1:0",
        "--curve-server",
        "--curve-secret",
        &server.secret.to_z85(),
        "--curve-allow",
        &allowed.public.to_z85(),
        "--echo",
    ]);
    let ep = cat.bound();
    let client_opts = |k: &zmq_runtime::KeyPair| {
        vec![
            format!("curve_serverkey={}", server.public.to_z85()),
            format!("curve_publickey={}", k.public.to_z85()),
            format!("curve_secretkey={}", k.secret.to_z85()),
        ]
    };
    p.socket("c-good", "REQ", &client_opts(&allowed));
    p.connect("c-good", &ep);
    assert!(p.send("c-good", &[b"curve"], 5000));
    assert_eq!(
        p.recv("c-good", 10_000).expect("allowed key"),
        frames(&["curve"])
    );
    p.socket("c-bad", "REQ", &client_opts(&other));
    p.connect("c-bad", &ep);
    assert!(p.send("c-bad", &[b"x"], 5000));
    assert!(
        p.recv("c-bad", 500).is_none(),
        "a refused key got an answer"
    );
    drop(cat);

    // Our CURVE client (ephemeral key) refused by libzmq's ZAP handler, which
    // allows PLAIN only: exit 4.
    curve_client_refused(&mut p, &server, &server.public);
}

/// A libzmq CURVE server with `server`'s keys, and `zmq cat req` knowing it
/// as `serverkey`: the client must report the refusal and exit 4.
fn curve_client_refused(
    p: &mut Peer,
    server: &zmq_runtime::KeyPair,
    serverkey: &zmq_runtime::PublicKey,
) {
    let id = format!("csrv{}", p_counter());
    p.socket(
        &id,
        "REP",
        &[
            "curve_server=1".into(),
            format!("curve_secretkey={}", server.secret.to_z85()),
        ],
    );
    let ep = p.bind(&id, "tcp://127.0.0.1:*");
    let mut cat = Cat::start(&["req", "-c", &ep, "--curve-serverkey", &serverkey.to_z85()]);
    cat.write("x");
    let err = cat.err_line();
    assert!(err.starts_with(&format!("refused: {ep}: ")), "{err}");
    assert_eq!(cat.wait(), 4);
}

fn p_counter() -> usize {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

#[test]
fn timeout_exits_3_and_counts_from_start() {
    let out = run(
        &["cat", "pull", "-b", "tcp://127.0.0.1:0", "--timeout", "200"],
        b"",
    );
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.lines()
            .next()
            .unwrap()
            .starts_with("bound: tcp://127.0.0.1:"),
        "{err}"
    );
}

fn zmq_perf(args: &[&str]) -> Child {
    Command::new(ZMQ)
        .arg("perf")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn output(child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn check_thr(text: &str, size: usize, count: u64) {
    let l: Vec<&str> = text.lines().collect();
    assert_eq!(l.len(), 4, "{text}");
    assert_eq!(l[0], format!("message size: {size} [B]"));
    assert_eq!(l[1], format!("message count: {count}"));
    let thr: u64 = l[2]
        .strip_prefix("mean throughput: ")
        .and_then(|r| r.strip_suffix(" [msg/s]"))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{}", l[2]));
    let mb = format!(
        "mean throughput: {:.3} [Mb/s]",
        (thr * size as u64 * 8) as f64 / 1e6
    );
    assert_eq!(l[3], mb);
}

fn check_lat(text: &str, size: usize, count: u64) {
    let l: Vec<&str> = text.lines().collect();
    assert_eq!(l.len(), 3, "{text}");
    assert_eq!(l[0], format!("message size: {size} [B]"));
    assert_eq!(l[1], format!("roundtrip count: {count}"));
    let v = l[2]
        .strip_prefix("average latency: ")
        .and_then(|r| r.strip_suffix(" [us]"))
        .unwrap_or_else(|| panic!("{}", l[2]));
    assert!(
        v.parse::<f64>().is_ok() && v.split('.').nth(1).is_some_and(|d| d.len() == 3),
        "{v}"
    );
}

fn free_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("tcp://{}", l.local_addr().unwrap())
}

/// Starts a binding side and waits until it listens (connect-before-bind
/// works anyway, but this keeps the measured part short).
fn settle() {
    std::thread::sleep(Duration::from_millis(300));
}

#[test]
fn perf_against_libzmq_perf_tools_both_ways() {
    for runtime in ["tokio", "tokio-mt", "tokio-mt-main", "smol", "blocking"] {
        // Our local-thr, libzmq's remote-thr.
        let ep = free_port();
        let ours = zmq_perf(&["local-thr", &ep, "100", "20000", "--runtime", runtime]);
        settle();
        let theirs = perf_peer(&["remote-thr", &ep, "100", "20000"]);
        check_thr(&output(ours), 100, 20000);
        output(theirs);
        // libzmq's local-thr, our remote-thr.
        let ep = free_port();
        let theirs = perf_peer(&["local-thr", &ep, "100", "20000"]);
        settle();
        let ours = zmq_perf(&["remote-thr", &ep, "100", "20000", "--runtime", runtime]);
        output(ours);
        check_thr(&output(theirs), 100, 20000);
        // Our local-lat, libzmq's remote-lat; and the other way round.
        let ep = free_port();
        let ours = zmq_perf(&["local-lat", &ep, "64", "500", "--runtime", runtime]);
        settle();
        let theirs = perf_peer(&["remote-lat", &ep, "64", "500"]);
        check_lat(&output(theirs), 64, 500);
        output(ours);
        let ep = free_port();
        let theirs = perf_peer(&["local-lat", &ep, "64", "500"]);
        settle();
        let ours = zmq_perf(&["remote-lat", &ep, "64", "500", "--runtime", runtime]);
        check_lat(&output(ours), 64, 500);
        output(theirs);
    }
}

fn zmq_perf_env(args: &[&str], env: &[(&str, &str)]) -> Child {
    Command::new(ZMQ)
        .arg("perf")
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The output of a perf process that must end by itself within a minute
/// (a subscriber waits for ever for its first message, as local_sub does).
fn finished(mut child: Child, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{what} did not finish: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{what}: {}\n{text}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// local_sub's six lines; returns `received`, after checking that `lost`
/// is what is missing of `count` and that the rates agree.
fn check_sub(text: &str, size: usize, count: u64) -> u64 {
    let l: Vec<&str> = text.lines().collect();
    assert_eq!(l.len(), 6, "{text}");
    assert_eq!(l[0], format!("message size: {size} [B]"));
    assert_eq!(l[1], format!("message count: {count}"));
    let num = |line: &str, pre: &str, post: &str| -> i64 {
        line.strip_prefix(pre)
            .and_then(|r| r.strip_suffix(post))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{line:?} in {text}"))
    };
    let received = num(l[2], "received: ", "");
    let lost = num(l[3], "lost: ", "");
    assert!(received >= 1 && received as u64 <= count, "{text}");
    assert_eq!(received + lost, count as i64, "{text}");
    let thr = num(l[4], "mean throughput: ", " [msg/s]");
    assert_eq!(
        l[5],
        format!(
            "mean throughput: {:.3} [Mb/s]",
            (thr as u64 * size as u64 * 8) as f64 / 1e6
        )
    );
    received as u64
}

fn check_pub(text: &str, nsubs: u64) {
    let l: Vec<&str> = text.lines().collect();
    assert_eq!(l.len(), 2, "{text}");
    assert_eq!(l[0], format!("subscribers: {nsubs}"));
    assert!(
        l[1].strip_prefix("publish rate: ")
            .and_then(|r| r.strip_suffix(" [msg/s]"))
            .is_some_and(|v| v.parse::<u64>().is_ok()),
        "{text}"
    );
}

/// The fan-out pair on every runtime, mixed with pyzmq's libzmq on one
/// endpoint both ways: our XPUB publishing to one subscriber of ours and one
/// of libzmq's, and libzmq's XPUB publishing to one of ours. With PERF_HWM=0
/// nothing may be lost; with the default HWM (counted in shared code, so on
/// one runtime) what is lost must be exactly what did not arrive. All cells
/// run at once: each publisher spends 2 s on its end markers, as
/// remote_pub.c does.
#[test]
fn perf_fanout_against_libzmq_both_ways() {
    const SIZE: usize = 64;
    const N: u64 = 2000;
    let n = N.to_string();
    let no_hwm: &[(&str, &str)] = &[("PERF_HWM", "0")];
    let ours = |ep: &str, count: &str, rt: &str, env| {
        zmq_perf_env(&["local-sub", ep, "64", count, "--runtime", rt], env)
    };
    let mut cells = Vec::new();
    for rt in ["tokio", "tokio-mt", "smol", "blocking"] {
        // Ours publishing, no HWM: a subscriber of ours and one of libzmq's.
        let ep = free_port();
        let subs = vec![
            ours(&ep, &n, rt, no_hwm),
            perf_peer_env(&["local-sub", &ep, "64", &n], no_hwm),
        ];
        let publisher = zmq_perf_env(&["remote-pub", &ep, "64", &n, "2", "--runtime", rt], no_hwm);
        cells.push((format!("{rt}: ours publishing"), publisher, subs, true));
        // libzmq publishing, no HWM, to one of ours.
        let ep = free_port();
        let subs = vec![ours(&ep, &n, rt, no_hwm)];
        let publisher = perf_peer_env(&["remote-pub", &ep, "64", &n, "1"], no_hwm);
        cells.push((format!("{rt}: libzmq publishing"), publisher, subs, true));
    }
    // Default HWM (1000 each way): the publisher may drop, and the counts say so.
    let ep = free_port();
    let subs = vec![
        ours(&ep, "20000", "tokio", &[]),
        perf_peer_env(&["local-sub", &ep, "64", "20000"], &[]),
    ];
    let publisher = zmq_perf_env(&["remote-pub", &ep, "64", "20000", "2"], &[]);
    cells.push(("default HWM".to_owned(), publisher, subs, false));
    for (what, publisher, subs, lossless) in cells {
        let nsubs = subs.len() as u64;
        check_pub(&finished(publisher, &what), nsubs);
        for (i, sub) in subs.into_iter().enumerate() {
            let text = finished(sub, &format!("{what}, subscriber {i}"));
            if lossless {
                assert_eq!(check_sub(&text, SIZE, N), N, "{what}, subscriber {i}");
            } else {
                check_sub(&text, SIZE, 20000);
            }
        }
    }
}

/// A one-second soak on every runtime against the libzmq peer: four rows, no
/// loss, and a clear error for a bad duration or script.
#[test]
fn soak_against_libzmq_briefly() {
    for rt in ["tokio", "smol", "blocking"] {
        let out = run(
            &[
                "soak",
                "--duration",
                "1s",
                "--runtime",
                rt,
                "--peer-script",
                SOAK_PEER_SCRIPT,
            ],
            b"",
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{rt}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for row in [
            "push/pull",
            "req/rep",
            "pub/sub",
            "router/dealer",
            "rss:",
            "soak: ok",
        ] {
            assert!(text.contains(row), "{rt}: no {row} in {text}");
        }
    }
    for (args, names) in [
        (
            vec![
                "soak",
                "--duration",
                "2h",
                "--peer-script",
                SOAK_PEER_SCRIPT,
            ],
            "--duration",
        ),
        (
            vec!["soak", "--peer-script", "/no/such/script.py"],
            "--peer-script",
        ),
    ] {
        let out = run(&args, b"");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(names), "{args:?}: {err}");
    }
}

#[test]
fn bench_runs_every_cell() {
    let out = run(
        &["bench", "--count", "2000", "--roundtrips", "50", "--json"],
        b"",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = String::from_utf8(out.stdout).unwrap();
    assert_eq!(json.matches("\"test\":\"thr\"").count(), 9, "{json}");
    assert_eq!(json.matches("\"test\":\"lat\"").count(), 9, "{json}");
    for rt in ["tokio", "smol", "blocking"] {
        for t in ["tcp", "ipc", "inproc"] {
            assert!(
                json.contains(&format!("\"runtime\":\"{rt}\",\"transport\":\"{t}\"")),
                "{json}"
            );
        }
    }
}

#[test]
fn stdin_eof_bad_hex_and_idle_timeouts_everywhere() {
    // rep: stdin exhausted after one answer: exit 0 without another request.
    let mut p = Peer::start();
    let mut cat = Cat::start(&["rep", "-b", "tcp://127.0.0.1:0"]);
    let ep = cat.bound();
    p.socket("req", "REQ", &[]);
    p.connect("req", &ep);
    cat.write("only answer");
    cat.close_stdin();
    assert!(p.send("req", &[b"q1"], 5000));
    assert_eq!(cat.line(), "q1");
    assert_eq!(p.recv("req", 5000).unwrap(), frames(&["only answer"]));
    assert_eq!(cat.wait(), 0);
    // A two-way socket with bad hex on its third line: exit 2 at once.
    let out = run(
        &["cat", "dealer", "--hex", "-c", &free_port()],
        b"41\n42\nzz\n",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    // req idle while stdin says nothing: the timeout still runs.
    // (stdin stays open: the test holds its end.)
    let cat = Cat::start(&["req", "-c", &free_port(), "--timeout", "300"]);
    assert_eq!(cat.wait(), 3);
    // A wildcard bind followed by one in use: the error is the only line.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let in_use = format!("tcp://{}", taken.local_addr().unwrap());
    let out = run(
        &["cat", "pull", "-b", "tcp://127.0.0.1:0", "-b", &in_use],
        b"",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    // A missing positional of perf is named.
    let out = run(&["perf", "local-thr", "tcp://127.0.0.1:1", "64"], b"");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.trim_end().lines().count() == 1 && err.contains("COUNT"),
        "{err}"
    );
}

/// `zmq perf idle-conns N` prints libzmq's idle_conns lines, which
/// `run-memory.sh` parses: both sides' RSS before and after, and bytes per
/// connection. Its second process (the DEALERs) is this binary again.
#[test]
fn perf_idle_conns_reports_both_sides() {
    for runtime in ["tokio", "blocking"] {
        let out = run(&["perf", "idle-conns", "20", "--runtime", runtime], b"");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{runtime}: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{runtime}: {text}");
        assert_eq!(lines[0], "connections: 20 (NULL)");
        assert!(
            lines[1].starts_with("all connected + ping round: "),
            "{text}"
        );
        for (line, side) in lines[2..].iter().zip(["ROUTER", "DEALER"]) {
            let rest = line
                .strip_prefix(&format!("{side} process RSS: before "))
                .unwrap_or_else(|| panic!("{runtime}: {line}"));
            let numbers: Vec<i64> = rest
                .split(|c: char| !c.is_ascii_digit() && c != '-')
                .filter_map(|w| w.parse().ok())
                .collect();
            let [before, after, per_conn] = numbers[..] else {
                panic!("{runtime}: {line}");
            };
            assert!(before > 0 && after > 0, "{runtime}: {line}");
            // The C tool's arithmetic, rounded: (after - before) KiB / N.
            let expected = ((after - before) * 1024) as f64 / 20.0;
            assert!(
                (per_conn as f64 - expected).abs() <= 1.0,
                "{runtime}: {line}"
            );
            // Not a megabyte per idle connection.
            assert!(per_conn < 1 << 20, "{runtime}: {line}");
        }
    }
}

/// Z85 has `-` in its alphabet: a key (or a password, a topic) that starts
/// with one is still a value, not an option.
#[test]
fn option_values_may_start_with_a_dash() {
    let mut p = Peer::start();
    let server = loop {
        let k = zmq_runtime::KeyPair::generate();
        if k.secret.to_z85().starts_with('-') {
            break k;
        }
    };
    let mut cat = Cat::start(&[
        "rep",
        "-b",
        "tcp://127.0.0.1:0",
        "--curve-server",
        "--curve-secret",
        &server.secret.to_z85(),
        "--echo",
        "-n",
        "1",
    ]);
    let ep = cat.bound();
    let me = zmq_runtime::KeyPair::generate();
    p.socket(
        "c",
        "REQ",
        &[
            format!("curve_serverkey={}", server.public.to_z85()),
            format!("curve_publickey={}", me.public.to_z85()),
            format!("curve_secretkey={}", me.secret.to_z85()),
        ],
    );
    p.connect("c", &ep);
    assert!(p.send("c", &[b"dash"], 5000));
    assert_eq!(
        p.recv("c", 10_000).expect("echo over CURVE"),
        frames(&["dash"])
    );
    cat.close_stdin();
    assert_eq!(cat.wait(), 0);
    let out = run(
        &[
            "cat",
            "sub",
            "-c",
            "tcp://127.0.0.1:1",
            "-s",
            "-minus",
            "--timeout",
            "50",
        ],
        b"",
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn curve_client_with_a_wrong_server_key_is_refused() {
    let mut p = Peer::start();
    let server = zmq_runtime::KeyPair::generate();
    let wrong = zmq_runtime::KeyPair::generate();
    curve_client_refused(&mut p, &server, &wrong.public);
}

#[test]
fn host_names_and_ipv6_endpoints() {
    let mut p = Peer::start();
    p.socket("pull", "PULL", &[]);
    let ep = p.bind("pull", "tcp://127.0.0.1:*");
    let port = ep.rsplit(':').next().unwrap().to_owned();
    let out = run(
        &["cat", "push", "-c", &format!("tcp://localhost:{port}")],
        b"by name\n",
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(p.recv("pull", 5000).unwrap(), frames(&["by name"]));
    if std::net::TcpListener::bind("[::1]:0").is_ok() {
        let cat = Cat::start(&["pull", "-b", "tcp://[::1]:0", "-n", "1"]);
        let ep6 = cat.bound();
        assert!(ep6.starts_with("tcp://[::1]:"), "{ep6}");
        p.ok("new v6 PUSH ipv6=1");
        p.connect("v6", &ep6);
        assert!(p.send("v6", &[b"six"], 5000));
        assert_eq!(cat.line(), "six");
        assert_eq!(cat.wait(), 0);
    }
}

/// `zmq cat stream` serves a client that speaks no ZeroMQ: the connect
/// notification is a line with an empty frame, data comes and goes as text,
/// and a line with an empty frame closes the connection.
#[test]
fn cat_stream_with_a_plain_tcp_client() {
    let mut p = Peer::start();
    let mut cat = Cat::start(&["stream", "-b", "tcp://127.0.0.1:0"]);
    let ep = cat.bound();
    p.ok(&format!("tcp_connect c {ep}"));
    let notice = cat.line();
    let id = notice.strip_suffix('\t').expect("[id, \"\"]").to_owned();
    assert!(id.starts_with("0x00") && id.len() == 12, "{id}");
    p.ok(&format!("tcp_send c {}", hex(b"hello")));
    assert_eq!(cat.line(), format!("{id}\thello"));
    cat.write(&format!("{id}\tworld"));
    assert_eq!(
        p.cmd("tcp_recv c 5 5000"),
        format!("DATA {}", hex(b"world"))
    );
    cat.write(&format!("{id}\t"));
    assert!(p.cmd("tcp_recv c 1 5000").starts_with("EOF"));
}
