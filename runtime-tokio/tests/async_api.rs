//! The async API on tokio: tasks, cancellation, back-pressure, streams and
//! sinks, the async proxy, and virtual time.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use runtime_tokio::{proxy, MonitorEvent, Msg, Socket, SocketType};
use zmq_runtime::ConnectionError;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_share_one_socket() {
    let pull = Socket::new(SocketType::Pull).unwrap();
    let ep = pull.bind("tcp://127.0.0.1:*").unwrap().to_string();
    let push = Arc::new(Socket::new(SocketType::Push).unwrap());
    push.connect(&ep).unwrap();
    let mut tasks = Vec::new();
    for t in 0..4u8 {
        let push = push.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..250u8 {
                push.send(vec![t, i]).await.unwrap();
            }
        }));
    }
    let mut seen = vec![0u32; 4];
    for _ in 0..1000 {
        let m = pull.recv().await.unwrap();
        let f = &m.frames()[0];
        // Per task, in order.
        assert_eq!(u32::from(f[1]), seen[usize::from(f[0])]);
        seen[usize::from(f[0])] += 1;
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(seen, [250; 4]);
}

#[tokio::test]
async fn recv_in_select_loses_nothing() {
    let pull = Socket::new(SocketType::Pull).unwrap();
    pull.bind("inproc://select").unwrap();
    let push = Socket::new(SocketType::Push).unwrap();
    push.connect("inproc://select").unwrap();
    let sender = tokio::spawn(async move {
        for i in 0..200u32 {
            push.send(i.to_be_bytes().to_vec()).await.unwrap();
            if i % 10 == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        push
    });
    let mut next = 0u32;
    let mut timeouts = 0;
    while next < 200 {
        tokio::select! {
            m = pull.recv() => {
                let m = m.unwrap();
                assert_eq!(&m.frames()[0][..], next.to_be_bytes());
                next += 1;
            }
            _ = tokio::time::sleep(Duration::from_micros(200)) => timeouts += 1,
        }
    }
    drop(sender.await.unwrap());
    // Some selects were cancelled mid-wait, and still nothing was lost.
    let _ = timeouts;
}

#[tokio::test]
async fn send_waits_at_the_high_water_mark() {
    let pull = Socket::builder(SocketType::Pull).rcvhwm(1).build().unwrap();
    pull.bind("inproc://hwm").unwrap();
    let push = Socket::builder(SocketType::Push).sndhwm(1).build().unwrap();
    push.connect("inproc://hwm").unwrap();
    push.send("1").await.unwrap();
    push.send("2").await.unwrap();
    // Both pipes are full: the third send waits instead of growing memory.
    let mut third = Box::pin(push.send("3"));
    let pending =
        std::future::poll_fn(|cx| Poll::Ready(third.as_mut().poll(cx).is_pending())).await;
    assert!(pending);
    assert_eq!(&pull.recv().await.unwrap().frames()[0][..], b"1");
    third.await.unwrap();
    assert_eq!(&pull.recv().await.unwrap().frames()[0][..], b"2");
    assert_eq!(&pull.recv().await.unwrap().frames()[0][..], b"3");
}

#[tokio::test]
async fn stream_and_sink() {
    use futures_core::Stream;
    use futures_sink::Sink;
    let pull = Socket::new(SocketType::Pull).unwrap();
    let ep = pull
        .bind("ipc:///tmp/zmqrs-tokio-sink.sock")
        .unwrap()
        .to_string();
    let push = Socket::new(SocketType::Push).unwrap();
    push.connect(&ep).unwrap();
    let mut sink = push.sink();
    for i in 0..3u8 {
        std::future::poll_fn(|cx| Sink::<Msg>::poll_ready(Pin::new(&mut sink), cx))
            .await
            .unwrap();
        Pin::new(&mut sink)
            .start_send(Msg::single(vec![i]))
            .unwrap();
    }
    std::future::poll_fn(|cx| Sink::<Msg>::poll_flush(Pin::new(&mut sink), cx))
        .await
        .unwrap();
    let mut stream = pull.stream();
    for i in 0..3u8 {
        let m = std::future::poll_fn(|cx| Pin::new(&mut stream).poll_next(cx)).await;
        assert_eq!(&m.unwrap().unwrap().frames()[0][..], [i]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_proxy_between_tasks() {
    let front = Arc::new(Socket::new(SocketType::Router).unwrap());
    let back = Arc::new(Socket::new(SocketType::Dealer).unwrap());
    front.bind("inproc://front").unwrap();
    back.bind("inproc://back").unwrap();
    let (f, b) = (front.clone(), back.clone());
    let broker = tokio::spawn(async move { proxy(&*f, &*b, None).await });
    let worker = Socket::new(SocketType::Rep).unwrap();
    worker.connect("inproc://back").unwrap();
    let client = Socket::new(SocketType::Req).unwrap();
    client.connect("inproc://front").unwrap();
    client.send("ping").await.unwrap();
    let req = worker.recv().await.unwrap();
    worker.send(req).await.unwrap();
    assert_eq!(&client.recv().await.unwrap().frames()[0][..], b"ping");
    broker.abort();
}

/// A peer that accepts and never speaks: with tokio's clock paused, the
/// 30-second handshake timeout passes in virtual time.
#[tokio::test(start_paused = true)]
async fn handshake_timeout_in_virtual_time() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = format!("tcp://{}", silent.local_addr().unwrap());
    let dealer = Socket::new(SocketType::Dealer).unwrap();
    let mut monitor = dealer.monitor();
    dealer.connect(&ep).unwrap();
    loop {
        match monitor.next_event().await.unwrap() {
            MonitorEvent::HandshakeFailed { error, .. } => {
                assert_eq!(error, ConnectionError::HandshakeTimeout);
                break;
            }
            MonitorEvent::Disconnected { .. } => panic!("disconnected before the timeout"),
            _ => {}
        }
    }
    drop(silent);
}

#[test]
fn sockets_need_a_tokio_runtime() {
    let e = Socket::new(SocketType::Pair).unwrap_err();
    assert!(e.to_string().contains("tokio runtime"), "{e}");
}

/// `send` copies a borrowed buffer before it makes its future, so the future
/// outlives the buffer, and the bound `Endpoint` connects as is.
#[tokio::test]
async fn send_future_does_not_borrow_the_message() {
    let pull = Socket::new(SocketType::Pull).unwrap();
    let ep = pull.bind("tcp://127.0.0.1:*").unwrap();
    let push = Socket::new(SocketType::Push).unwrap();
    push.connect(&ep).unwrap();
    let sending = {
        let buf = b"borrowed".to_vec();
        push.send(&buf[..])
    };
    sending.await.unwrap();
    let line = String::from("line");
    push.send(&line).await.unwrap();
    push.send(("a", line.clone().into_bytes())).await.unwrap();
    assert_eq!(pull.recv().await.unwrap().to_str(), Ok("borrowed"));
    assert_eq!(pull.recv().await.unwrap().to_str(), Ok("line"));
    assert_eq!(pull.recv().await.unwrap().to_string(), "a | line");
}

/// Request and reply between tasks spawned on the multi-thread runtime, whose
/// waits spin without giving their worker's core away: every round trip
/// comes back, in order, over inproc and tcp.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_tasks_exchange_requests_and_replies() {
    for endpoint in ["inproc://spawned-exchange", "tcp://127.0.0.1:*"] {
        let rep = Socket::new(SocketType::Rep).unwrap();
        let ep = rep.bind(endpoint).unwrap().to_string();
        let req = Socket::new(SocketType::Req).unwrap();
        req.connect(&ep).unwrap();
        const ROUNDS: u32 = 2000;
        let echo = tokio::spawn(async move {
            for _ in 0..ROUNDS {
                let m = rep.recv().await.unwrap();
                rep.send(m).await.unwrap();
            }
        });
        let ask = tokio::spawn(async move {
            for i in 0..ROUNDS {
                req.send(i.to_be_bytes().to_vec()).await.unwrap();
                let m = req.recv().await.unwrap();
                assert_eq!(&m.frames()[0][..], &i.to_be_bytes(), "{endpoint}");
            }
        });
        tokio::time::timeout(Duration::from_secs(60), async {
            ask.await.unwrap();
            echo.await.unwrap();
        })
        .await
        .unwrap_or_else(|_| panic!("{endpoint}: the exchange stalled"));
    }
}

/// Only a task on a worker of the multi-thread runtime spins without giving
/// its core away (`Runtime::spin_yields_core`).
#[test]
fn a_spinning_wait_keeps_its_core_only_on_a_multi_thread_worker() {
    use zmq_runtime::RuntimeKind;
    let yields = || runtime_tokio::Tokio::runtime().unwrap().spin_yields_core();
    let mt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let in_task = mt.block_on(mt.spawn(async move { yields() })).unwrap();
    assert!(!in_task, "a task on a multi-thread worker");
    assert!(
        mt.block_on(async move { yields() }),
        "the future of a multi-thread runtime's block_on"
    );
    let ct = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let in_task = ct.block_on(ct.spawn(async move { yields() })).unwrap();
    assert!(in_task, "a task on the current-thread runtime");
    assert!(
        ct.block_on(async move { yields() }),
        "current-thread block_on"
    );
    let made_in_runtime = {
        let _in = mt.enter();
        runtime_tokio::Tokio::runtime().unwrap()
    };
    assert!(made_in_runtime.spin_yields_core(), "outside any runtime");
}

/// A send the socket refuses (not one it waits on) ends the future at once
/// with the refusal, and hands the message back in it; the socket still
/// sends afterwards.
#[tokio::test]
async fn refused_send_hands_the_message_back() {
    use zmq_runtime::{Error, SendError};

    let pull = Socket::new(SocketType::Pull).unwrap();
    match pull.send("not for a PULL").await {
        Err(Error::Send(SendError::NotSupported(m))) => {
            assert_eq!(m.to_str(), Ok("not for a PULL"));
        }
        other => panic!("PULL send: {other:?}"),
    }
    let ep = pull.bind("tcp://127.0.0.1:*").unwrap().to_string();
    let push = Socket::new(SocketType::Push).unwrap();
    push.connect(&ep).unwrap();
    assert!(matches!(
        push.send(Msg::default()).await,
        Err(Error::Send(SendError::EmptyMessage))
    ));
    push.send("after").await.unwrap();
    assert_eq!(pull.recv().await.unwrap().to_str(), Ok("after"));
}
