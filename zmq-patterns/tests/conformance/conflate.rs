//! CONFLATE: only the last message is kept.

use super::*;

// ---------------------------------------------------------------------------
// CONFLATE (test_conflate)

/// test_conflate: a PULL with CONFLATE gets only the last of 20 messages; a PUSH
/// with CONFLATE keeps only the newest message queued per pipe.
#[test]
fn conflate_keeps_only_last() {
    let mut pull = with_pipes(
        SocketType::Pull,
        opts(|o| o.conflate = true),
        SocketType::Push,
        1,
    );
    for i in 0..20 {
        pull.handle_message(p(1), Msg::single(format!("{i}")))
            .unwrap();
    }
    assert_eq!(recv_all(&mut pull), vec![m(&["19"])]);

    let mut push = with_pipes(
        SocketType::Push,
        opts(|o| o.conflate = true),
        SocketType::Pull,
        1,
    );
    for i in 0..20 {
        push.send(Msg::single(format!("{i}"))).unwrap();
    }
    assert_eq!(drain_msgs(&mut push, 1), vec![m(&["19"])]);

    let mut publ = with_pipes(
        SocketType::Pub,
        opts(|o| o.conflate = true),
        SocketType::Sub,
        1,
    );
    publ.handle_subscribe(p(1), topic(""));
    for i in 0..5 {
        publ.send(Msg::single(format!("{i}"))).unwrap();
    }
    assert_eq!(drain_msgs(&mut publ, 1), vec![m(&["4"])]);
}

/// options.hpp get_effective_conflate_option: CONFLATE takes effect only for
/// DEALER, PULL, PUSH, PUB and SUB. A ROUTER with CONFLATE set keeps its normal
/// queues: every received message is delivered and SNDHWM still applies.
#[test]
fn conflate_is_ignored_by_types_that_do_not_support_it() {
    let o = opts(|o| {
        o.conflate = true;
        o.sndhwm = 2;
    });
    let mut router = Pattern::with_options(SocketType::Router, o.clone());
    router.attach(p(1), named(SocketType::Dealer, "X")).unwrap();
    router.handle_message(p(1), m(&["1"])).unwrap();
    router.handle_message(p(1), m(&["2"])).unwrap();
    assert_eq!(
        recv_all(&mut router),
        vec![m(&["X", "1"]), m(&["X", "2"])],
        "ROUTER conflated its input"
    );
    for i in 0..4 {
        router
            .send(Msg::from_iter(["X".to_string(), format!("{i}")]))
            .unwrap();
    }
    assert_eq!(
        drain_msgs(&mut router, 1),
        vec![m(&["0"]), m(&["1"])],
        "ROUTER ignored SNDHWM"
    );

    let mut rep = Pattern::with_options(SocketType::Rep, o);
    rep.attach(p(1), anon(SocketType::Req)).unwrap();
    rep.handle_message(p(1), m(&["", "q1"])).unwrap();
    rep.handle_message(p(1), m(&["", "q2"])).unwrap();
    assert_eq!(rep.recv(), Ok(m(&["q1"])), "REP conflated its input");
}
