//! The blocking API: timeouts, the poller, close.

use std::time::Duration;

use runtime_blocking::{poll, proxy_steerable, Error, Events, PollItem, Socket, SocketType};

#[test]
fn rcvtimeo_and_sndtimeo() {
    let pull = Socket::builder(SocketType::Pull)
        .rcvtimeo(Some(Duration::from_millis(50)))
        .build()
        .unwrap();
    pull.bind("inproc://timeo").unwrap();
    assert!(matches!(pull.recv(), Err(Error::Timeout)));
    // A PUSH with no peer cannot send: SNDTIMEO ends the wait.
    let push = Socket::builder(SocketType::Push)
        .sndtimeo(Some(Duration::from_millis(50)))
        .immediate(true)
        .build()
        .unwrap();
    assert!(matches!(push.send("x"), Err(Error::Timeout)));
    // And the explicit forms.
    assert!(matches!(
        pull.recv_timeout(Some(Duration::ZERO)),
        Err(Error::Timeout)
    ));
    push.connect("inproc://timeo").unwrap();
    push.send_timeout("y", None).unwrap();
    assert_eq!(&pull.recv().unwrap().frames()[0][..], b"y");
}

#[test]
fn poller_reports_the_ready_socket() {
    let pulls: Vec<Socket> = (0..3)
        .map(|i| {
            let s = Socket::new(SocketType::Pull).unwrap();
            s.bind(format!("inproc://poll-{i}")).unwrap();
            s
        })
        .collect();
    let push = Socket::new(SocketType::Push).unwrap();
    push.connect("inproc://poll-1").unwrap();
    let mut items: Vec<PollItem<'_>> = pulls.iter().map(|s| PollItem::new(s, Events::IN)).collect();
    assert_eq!(poll(&mut items, Some(Duration::from_millis(20))), 0);
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(20));
            push.send("wake").unwrap();
        });
        assert_eq!(poll(&mut items, None), 1);
    });
    let ready: Vec<bool> = items.iter().map(PollItem::is_readable).collect();
    assert_eq!(ready, [false, true, false]);
    // POLLOUT: a PUSH with a peer and room is writable.
    let mut out = [PollItem::new(&push, Events::OUT | Events::IN)];
    assert_eq!(poll(&mut out, Some(Duration::ZERO)), 1);
    assert!(out[0].is_writable() && !out[0].is_readable());
}

#[test]
fn blocking_proxy_on_a_thread() {
    let front = Socket::new(SocketType::Pull).unwrap();
    let back = Socket::new(SocketType::Push).unwrap();
    front.bind("inproc://bp-front").unwrap();
    back.bind("inproc://bp-back").unwrap();
    let src = Socket::new(SocketType::Push).unwrap();
    src.connect("inproc://bp-front").unwrap();
    let dst = Socket::new(SocketType::Pull).unwrap();
    dst.connect("inproc://bp-back").unwrap();
    let control = Socket::new(SocketType::Pair).unwrap();
    control.bind("inproc://bp-control").unwrap();
    let steer = Socket::new(SocketType::Pair).unwrap();
    steer.connect("inproc://bp-control").unwrap();
    std::thread::scope(|s| {
        s.spawn(|| proxy_steerable(&front, &back, None, Some(&control)));
        for i in 0..100u8 {
            src.send(vec![i]).unwrap();
        }
        for i in 0..100u8 {
            assert_eq!(&dst.recv().unwrap().frames()[0][..], [i]);
        }
        steer.send("TERMINATE").unwrap();
    });
}

#[test]
fn close_waits_for_linger_and_returns() {
    let pull = Socket::new(SocketType::Pull).unwrap();
    let ep = pull.bind("tcp://127.0.0.1:*").unwrap().to_string();
    let push = Socket::new(SocketType::Push).unwrap();
    push.connect(&ep).unwrap();
    for i in 0..100u32 {
        push.send(i.to_be_bytes().to_vec()).unwrap();
    }
    push.close();
    for i in 0..100u32 {
        assert_eq!(&pull.recv().unwrap().frames()[0][..], i.to_be_bytes());
    }
}

/// A borrowed slice of a local buffer sends (copied), and the bound
/// `Endpoint` connects as is.
#[test]
fn send_borrowed_slice() {
    let pull = Socket::new(SocketType::Pull).unwrap();
    let ep = pull.bind("tcp://127.0.0.1:*").unwrap();
    let push = Socket::new(SocketType::Push).unwrap();
    push.connect(ep).unwrap();
    {
        let buf = [0xffu8, b'x'];
        push.send(&buf[..]).unwrap();
    }
    assert_eq!(format!("{:?}", pull.recv().unwrap()), "Msg[0xff78]");
}

#[test]
fn blocking_calls_on_the_io_thread_fail_instead_of_stalling_it() {
    use std::sync::{Arc, Mutex};

    use runtime_blocking::{AuthReply, AuthRequest};

    // An authenticator runs on the I/O thread, which moves every socket's
    // bytes: a blocking receive there must fail at once, not wait.
    let p = Socket::new(SocketType::Pull).unwrap();
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    let server = Socket::builder(SocketType::Pull)
        .plain_server()
        .authenticator(move |_: &AuthRequest| {
            let on_io_thread = std::thread::current().name() == Some("zmq-io");
            let r = p.recv_timeout(Some(Duration::from_secs(5)));
            *s.lock().unwrap() = Some((on_io_thread, r));
            Some(AuthReply::allow())
        })
        .build()
        .unwrap();
    server.bind("tcp://127.0.0.1:*").unwrap();
    let client = Socket::builder(SocketType::Push)
        .plain_client("u", "p")
        .build()
        .unwrap();
    client.connect(server.last_endpoint()).unwrap();
    client.send("after auth").unwrap();
    assert_eq!(&server.recv().unwrap().frames()[0][..], b"after auth");
    let (on_io_thread, r) = seen.lock().unwrap().take().expect("authenticator ran");
    assert!(on_io_thread, "the authenticator ran on another thread");
    assert!(matches!(r, Err(Error::BlockingInAsync { .. })), "{r:?}");
}
