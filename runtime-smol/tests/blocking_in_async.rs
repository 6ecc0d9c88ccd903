//! The blocking calls of a smol socket: on smol's executor threads, which
//! run the sockets' tasks, they fail with `Error::BlockingInAsync` rather
//! than stall them; from any other thread (`smol::unblock`, a thread in
//! `smol::block_on`) they work.

use std::sync::Arc;
use std::time::Duration;

use runtime_smol::{Error, Socket, SocketType};

const WAIT: Option<Duration> = Some(Duration::from_secs(10));

#[test]
fn executor_threads_refuse_blocking_calls() {
    smol::block_on(async {
        let pull = Socket::new(SocketType::Pull).unwrap();
        let ep = pull.bind("tcp://127.0.0.1:*").unwrap();
        let push = Socket::new(SocketType::Push).unwrap();
        push.connect(&ep).unwrap();
        push.send("waiting").await.unwrap();
        pull.readable().await;
        let pull = Arc::new(pull);

        let p = pull.clone();
        let (push, in_task) = smol::spawn(async move {
            let r = p.recv_blocking(WAIT);
            let s = push.send_blocking("x", WAIT);
            (push, (r, s))
        })
        .await;
        assert!(
            matches!(
                in_task.0,
                Err(Error::BlockingInAsync {
                    call: "recv_blocking",
                    instead: "recv().await"
                })
            ),
            "{:?}",
            in_task.0
        );
        assert!(matches!(in_task.1, Err(Error::BlockingInAsync { .. })));

        let p = pull.clone();
        let m = smol::unblock(move || p.recv_blocking(WAIT))
            .await
            .expect("recv_blocking from smol::unblock");
        assert_eq!(m.to_str(), Ok("waiting"));

        // This thread runs `block_on`, not the executor: it may block.
        push.send("second").await.unwrap();
        let m = pull.recv_blocking(WAIT).expect("recv_blocking in block_on");
        assert_eq!(m.to_str(), Ok("second"));
    });
}
