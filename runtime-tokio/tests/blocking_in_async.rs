//! The blocking calls of a tokio socket: on a thread that runs tokio's
//! tasks (a task, or `block_on`) they fail with `Error::BlockingInAsync`
//! rather than stall the I/O they wait for (which on a current-thread
//! runtime never came: a waiting message timed out); from any other thread
//! (`spawn_blocking`, a thread of its own) they work.

use std::sync::Arc;
use std::time::Duration;

use runtime_tokio::{Error, Socket, SocketType};

const WAIT: Option<Duration> = Some(Duration::from_secs(10));

/// A PULL with a message waiting, over TCP, and its PUSH.
async fn waiting_message() -> (Socket, Arc<Socket>) {
    let pull = Socket::new(SocketType::Pull).unwrap();
    let ep = pull.bind("tcp://127.0.0.1:*").unwrap();
    let push = Socket::new(SocketType::Push).unwrap();
    push.connect(&ep).unwrap();
    push.send("waiting").await.unwrap();
    pull.readable().await;
    (push, Arc::new(pull))
}

/// Every blocking wait of the socket API refuses to run here, and says what
/// to use instead.
fn refused_here(push: &Socket, pull: &Socket) {
    match pull.recv_blocking(WAIT) {
        Err(e @ Error::BlockingInAsync { call, instead }) => {
            assert_eq!((call, instead), ("recv_blocking", "recv().await"));
            assert!(e.to_string().contains("spawn_blocking"), "{e}");
        }
        other => panic!("recv_blocking on a runtime thread: {other:?}"),
    }
    assert!(matches!(
        push.send_blocking("x", WAIT),
        Err(Error::BlockingInAsync {
            call: "send_blocking",
            ..
        })
    ));
    assert!(matches!(
        pull.monitor().next_blocking(WAIT),
        Err(Error::BlockingInAsync { .. })
    ));
}

async fn served_elsewhere(push: Socket, pull: Arc<Socket>) {
    let p = pull.clone();
    let m = tokio::task::spawn_blocking(move || p.recv_blocking(WAIT))
        .await
        .unwrap()
        .expect("recv_blocking from spawn_blocking");
    assert_eq!(m.to_str(), Ok("waiting"));
    let p = pull.clone();
    let own_thread = std::thread::spawn(move || p.recv_blocking(WAIT));
    push.send("second").await.unwrap();
    let m = tokio::task::spawn_blocking(move || own_thread.join().unwrap())
        .await
        .unwrap()
        .expect("recv_blocking from a thread of its own");
    assert_eq!(m.to_str(), Ok("second"));
    push.send("third").await.unwrap();
    assert_eq!(pull.recv().await.unwrap().to_str(), Ok("third"));
}

#[test]
fn current_thread_runtime() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (push, pull) = waiting_message().await;
        refused_here(&push, &pull);
        let (push, pull) = tokio::spawn(async move {
            refused_here(&push, &pull);
            (push, pull)
        })
        .await
        .unwrap();
        served_elsewhere(push, pull).await;
        // Closing does not wait here (the wait would stall the close) and
        // says so; the socket is closed all the same.
        let s = Socket::new(SocketType::Pull).unwrap();
        assert!(!s.shutdown_timeout(WAIT));
        assert!(matches!(s.recv().await, Err(Error::Closed)));
    });
}

#[test]
fn multi_thread_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (push, pull) = waiting_message().await;
        refused_here(&push, &pull);
        let (push, pull) = tokio::spawn(async move {
            refused_here(&push, &pull);
            (push, pull)
        })
        .await
        .unwrap();
        served_elsewhere(push, pull).await;
    });
}
