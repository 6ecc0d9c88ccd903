//! The async API on smol, and the proof that async-std users are served: the
//! same sockets run under `async_std::task::block_on` and its tasks, on the
//! reactor both share.

use std::sync::Arc;

use runtime_smol::{proxy, MonitorEvent, Socket, SocketType};

#[test]
fn works_under_async_std() {
    async_std::task::block_on(async {
        let rep = Socket::new(SocketType::Rep).unwrap();
        let ep = rep.bind("tcp://127.0.0.1:*").unwrap().to_string();
        let server = async_std::task::spawn(async move {
            for _ in 0..3 {
                let m = rep.recv().await.unwrap();
                rep.send(m).await.unwrap();
            }
        });
        let req = Socket::new(SocketType::Req).unwrap();
        req.connect(&ep).unwrap();
        for i in 0..3u8 {
            req.send(vec![i]).await.unwrap();
            assert_eq!(&req.recv().await.unwrap().frames()[0][..], [i]);
        }
        server.await;
        // async-std's timers fire too: the monitor's events arrive while
        // async-std's executor waits.
        let dealer = Socket::new(SocketType::Dealer).unwrap();
        let mut monitor = dealer.monitor();
        dealer.connect(&ep).unwrap();
        let first =
            async_std::future::timeout(std::time::Duration::from_secs(10), monitor.next_event())
                .await
                .unwrap();
        assert!(
            matches!(first, Some(MonitorEvent::ConnectDelayed(_))),
            "{first:?}"
        );
    });
}

#[test]
fn pub_sub_over_ipc_with_smol_tasks() {
    smol::block_on(async {
        let publisher = Socket::new(SocketType::Pub).unwrap();
        let ep = publisher
            .bind(format!("ipc:///tmp/zmqrs-smol-{}.sock", std::process::id()))
            .unwrap()
            .to_string();
        let sub = Socket::builder(SocketType::Sub)
            .subscribe("a")
            .build()
            .unwrap();
        sub.connect(&ep).unwrap();
        let got = smol::spawn(async move {
            let m = sub.recv().await.unwrap();
            m.frames()[0].clone()
        });
        // Until the subscription has reached the publisher.
        let got = loop {
            publisher.send("b-filtered").await.unwrap();
            publisher.send("a-1").await.unwrap();
            smol::Timer::after(std::time::Duration::from_millis(5)).await;
            if got.is_finished() {
                break got.await;
            }
        };
        assert_eq!(&got[..], b"a-1");
    });
}

#[test]
fn async_proxy_on_smol() {
    smol::block_on(async {
        let front = Arc::new(Socket::new(SocketType::Router).unwrap());
        let back = Arc::new(Socket::new(SocketType::Dealer).unwrap());
        front.bind("inproc://smol-front").unwrap();
        back.bind("inproc://smol-back").unwrap();
        let (f, b) = (front.clone(), back.clone());
        let broker = smol::spawn(async move { proxy(&*f, &*b, None).await });
        let worker = Socket::new(SocketType::Rep).unwrap();
        worker.connect("inproc://smol-back").unwrap();
        let client = Socket::new(SocketType::Req).unwrap();
        client.connect("inproc://smol-front").unwrap();
        client.send("ping").await.unwrap();
        let req = worker.recv().await.unwrap();
        worker.send(req).await.unwrap();
        assert_eq!(&client.recv().await.unwrap().frames()[0][..], b"ping");
        drop(broker);
    });
}
