//! High-water marks: SNDHWM and RCVHWM in messages, whole multipart messages, changes at runtime.

use super::*;

// ---------------------------------------------------------------------------
// High-water marks (test_hwm, test_sockopt_hwm)

/// SNDHWM counts whole messages per pipe (default 1000): the 1001st send blocks,
/// and taking messages off the pipe makes room again.
#[test]
fn hwm_blocks_push_at_sndhwm_and_refills() {
    let mut push = with_pipes(SocketType::Push, Options::default(), SocketType::Pull, 1);
    assert_eq!(push.options().sndhwm, 1000);
    for i in 0..1000 {
        push.send(Msg::single(format!("{i}"))).unwrap();
    }
    assert!(!push.can_send());
    assert_eq!(
        push.send(m(&["over"])),
        Err(SendError::WouldBlock(m(&["over"])))
    );
    // libzmq refills at the low-water mark (HWM+1)/2; after draining that many
    // there is room for exactly that many more.
    for i in 0..500 {
        assert_eq!(next_msg(&mut push, 1), Some(Msg::single(format!("{i}"))));
    }
    assert!(push.can_send());
    for i in 1000..1500 {
        push.send(Msg::single(format!("{i}"))).unwrap();
    }
    assert_eq!(
        push.send(m(&["over"])),
        Err(SendError::WouldBlock(m(&["over"])))
    );
    // Nothing lost, nothing reordered.
    let rest = drain_msgs(&mut push, 1);
    assert_eq!(rest.len(), 1000);
    for (k, msg) in rest.iter().enumerate() {
        assert_eq!(*msg, Msg::single(format!("{}", k + 500)));
    }
}

/// A multipart message counts once against the HWM.
#[test]
fn hwm_counts_whole_multipart_messages() {
    let mut push = with_pipes(
        SocketType::Push,
        opts(|o| o.sndhwm = 2),
        SocketType::Pull,
        1,
    );
    push.send(m(&["a", "b", "c", "d", "e"])).unwrap();
    push.send(m(&["f", "g", "h"])).unwrap();
    assert!(matches!(
        push.send(m(&["i"])),
        Err(SendError::WouldBlock(_))
    ));
    let mut pull = with_pipes(
        SocketType::Pull,
        opts(|o| o.rcvhwm = 2),
        SocketType::Push,
        1,
    );
    pull.handle_message(p(1), m(&["a", "b", "c", "d", "e"]))
        .unwrap();
    pull.handle_message(p(1), m(&["f", "g", "h"])).unwrap();
    assert_eq!(pull.handle_message(p(1), m(&["i"])), Err(m(&["i"])));
}

/// test_hwm test_defaults: PUSH -> PULL with default HWMs buffers exactly
/// SNDHWM + RCVHWM = 2000 messages before the sender blocks; with 1 and 1, two.
#[test]
fn push_pull_end_to_end_buffers_sndhwm_plus_rcvhwm() {
    for (snd, rcv, total) in [(1000, 1000, 2000), (1, 1, 2), (5, 1, 6)] {
        let mut push = with_pipes(
            SocketType::Push,
            opts(|o| o.sndhwm = snd),
            SocketType::Pull,
            1,
        );
        let mut pull = with_pipes(
            SocketType::Pull,
            opts(|o| o.rcvhwm = rcv),
            SocketType::Push,
            1,
        );
        // The caller's transfer loop: move what PUSH writes into PULL while PULL
        // can take it (the caller stops reading the wire when it cannot).
        let mut sent = 0usize;
        loop {
            let queued = match push.send(Msg::single(format!("{sent}"))) {
                Ok(()) => {
                    sent += 1;
                    true
                }
                Err(SendError::WouldBlock(_)) => false,
                Err(e) => panic!("{e:?}"),
            };
            let mut moved = false;
            while pull.can_accept(p(1)) {
                let Some(msg) = next_msg(&mut push, 1) else {
                    break;
                };
                pull.handle_message(p(1), msg).unwrap();
                moved = true;
            }
            if !queued && !moved {
                break;
            }
        }
        assert_eq!(sent, total, "snd {snd} rcv {rcv}");
        assert_eq!(recv_all(&mut pull).len(), rcv);
        assert_eq!(drain_msgs(&mut push, 1).len(), snd);
    }
}

/// RCVHWM: a full inbound pipe hands the message back instead of dropping it;
/// after the application reads, it is accepted.
#[test]
fn rcvhwm_backpressure_hands_message_back() {
    let mut pull = with_pipes(
        SocketType::Pull,
        opts(|o| o.rcvhwm = 2),
        SocketType::Push,
        2,
    );
    pull.handle_message(p(1), m(&["a"])).unwrap();
    assert!(pull.can_accept(p(1)));
    pull.handle_message(p(1), m(&["b", "b2"])).unwrap();
    assert!(!pull.can_accept(p(1)));
    assert_eq!(
        pull.handle_message(p(1), m(&["c", "c2"])),
        Err(m(&["c", "c2"]))
    );
    // The HWM is per pipe: pipe 2 still has room.
    assert!(pull.can_accept(p(2)));
    pull.handle_message(p(2), m(&["x"])).unwrap();
    assert_eq!(pull.recv(), Ok(m(&["a"])));
    assert!(pull.can_accept(p(1)));
    pull.handle_message(p(1), m(&["c", "c2"])).unwrap();
    assert_eq!(
        recv_all(&mut pull),
        vec![m(&["x"]), m(&["b", "b2"]), m(&["c", "c2"])]
    );
}

/// test_hwm test_infinite_both_*: HWM 0 means no limit (10,000 messages).
#[test]
fn hwm_zero_is_unlimited() {
    let o = opts(|o| {
        o.sndhwm = 0;
        o.rcvhwm = 0;
    });
    let mut push = with_pipes(SocketType::Push, o.clone(), SocketType::Pull, 1);
    for i in 0..10_000 {
        push.send(Msg::single(format!("{i}"))).unwrap();
    }
    assert!(push.can_send());
    assert_eq!(drain_msgs(&mut push, 1).len(), 10_000);
    let mut pull = with_pipes(SocketType::Pull, o, SocketType::Push, 1);
    for i in 0..10_000 {
        pull.handle_message(p(1), Msg::single(format!("{i}")))
            .unwrap();
    }
    assert_eq!(recv_all(&mut pull).len(), 10_000);
}

/// test_sockopt_hwm test_change_after_connected / test_decrease_when_full: a new
/// SNDHWM applies to pipes that already exist.
#[test]
fn sndhwm_change_applies_to_attached_pipes() {
    let mut push = with_pipes(
        SocketType::Push,
        opts(|o| o.sndhwm = 1),
        SocketType::Pull,
        1,
    );
    push.send(m(&["0"])).unwrap();
    assert!(!push.can_send());
    push.set_options(opts(|o| o.sndhwm = 5));
    for i in 1..5 {
        push.send(Msg::single(format!("{i}"))).unwrap();
    }
    assert!(matches!(
        push.send(m(&["x"])),
        Err(SendError::WouldBlock(_))
    ));
    assert_eq!(drain_msgs(&mut push, 1).len(), 5);

    // Decrease while full: 100 queued, HWM lowered to 70; sending resumes only
    // below 70.
    let mut push = with_pipes(
        SocketType::Push,
        opts(|o| o.sndhwm = 100),
        SocketType::Pull,
        1,
    );
    for i in 0..100 {
        push.send(Msg::single(format!("{i}"))).unwrap();
    }
    push.set_options(opts(|o| o.sndhwm = 70));
    for _ in 0..30 {
        next_msg(&mut push, 1).unwrap();
        assert!(matches!(
            push.send(m(&["x"])),
            Err(SendError::WouldBlock(_))
        ));
    }
    next_msg(&mut push, 1).unwrap();
    push.send(m(&["x"])).unwrap();
    assert!(matches!(
        push.send(m(&["y"])),
        Err(SendError::WouldBlock(_))
    ));
}
