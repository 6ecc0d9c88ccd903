//! PUSH and PULL: round-robin out, fair-queue in, and the one-way types.

use super::*;

// ---------------------------------------------------------------------------
// PUSH / PULL (test_spec_pushpull)

/// test_spec_pushpull push_round_robin_out: 10 messages over 5 PULLs, 2 each,
/// in order.
#[test]
fn push_round_robin_out_gives_each_peer_its_turn() {
    let mut push = with_pipes(SocketType::Push, Options::default(), SocketType::Pull, 5);
    let sent: Vec<Msg> = (0..10).map(|i| Msg::single(format!("m{i}"))).collect();
    for msg in &sent {
        push.send(msg.clone()).unwrap();
    }
    for pipe in 1..=5u64 {
        let i = (pipe - 1) as usize;
        assert_eq!(
            drain_msgs(&mut push, pipe),
            vec![sent[i].clone(), sent[i + 5].clone()],
            "pipe {pipe}"
        );
    }
}

/// Round-robin only over pipes that can take a whole message: a full pipe is
/// skipped, and rejoins the rotation once it has room again.
#[test]
fn push_round_robins_over_pipes_with_room() {
    let mut push = with_pipes(
        SocketType::Push,
        opts(|o| o.sndhwm = 1),
        SocketType::Pull,
        3,
    );
    push.send(m(&["a"])).unwrap();
    push.send(m(&["b"])).unwrap();
    push.send(m(&["c"])).unwrap();
    // Every pipe is at its HWM of 1.
    assert!(!push.can_send());
    assert_eq!(push.send(m(&["d"])), Err(SendError::WouldBlock(m(&["d"]))));
    // Pipe 2 drains: it is the only one with room, so it takes the next two
    // messages one at a time.
    assert_eq!(next_msg(&mut push, 2), Some(m(&["b"])));
    assert!(push.can_send());
    push.send(m(&["d"])).unwrap();
    assert_eq!(push.send(m(&["e"])), Err(SendError::WouldBlock(m(&["e"]))));
    assert_eq!(next_msg(&mut push, 2), Some(m(&["d"])));
    assert_eq!(next_msg(&mut push, 1), Some(m(&["a"])));
    assert_eq!(next_msg(&mut push, 3), Some(m(&["c"])));
    assert_eq!(next_msg(&mut push, 1), None);
}

/// A multipart message goes whole to one pipe, and the rotation advances after
/// the whole message.
#[test]
fn push_sends_multipart_messages_atomically_to_one_pipe() {
    let mut push = with_pipes(SocketType::Push, Options::default(), SocketType::Pull, 2);
    push.send(m(&["a1", "a2", "a3"])).unwrap();
    push.send(m(&["b1", "b2"])).unwrap();
    push.send(m(&["c1", "c2", "c3", "c4"])).unwrap();
    assert_eq!(
        drain_msgs(&mut push, 1),
        vec![m(&["a1", "a2", "a3"]), m(&["c1", "c2", "c3", "c4"])]
    );
    assert_eq!(drain_msgs(&mut push, 2), vec![m(&["b1", "b2"])]);
}

/// test_spec_pushpull pull_fair_queue_in: with 5 PUSHes sending 2 each, the first
/// 5 received are one per PUSH.
#[test]
fn pull_fair_queues_one_message_per_pipe_in_turn() {
    let mut pull = with_pipes(SocketType::Pull, Options::default(), SocketType::Push, 5);
    for pipe in 1..=5u64 {
        for k in 0..2 {
            pull.handle_message(p(pipe), Msg::single(format!("{pipe}-{k}")))
                .unwrap();
        }
    }
    let got: Vec<Msg> = recv_all(&mut pull);
    let expected: Vec<Msg> = (0..2)
        .flat_map(|k| (1..=5).map(move |pipe| Msg::single(format!("{pipe}-{k}"))))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(pull.recv(), Err(RecvError::WouldBlock));
}

/// Fair queueing alternates between the pipes that have data: a pipe that ran
/// dry and gets a new message takes its turn after the pipe just served, not
/// after that pipe's whole backlog.
#[test]
fn pull_fair_queue_alternates_when_a_pipe_refills() {
    let mut pull = with_pipes(SocketType::Pull, Options::default(), SocketType::Push, 2);
    pull.handle_message(p(1), m(&["1a"])).unwrap();
    pull.handle_message(p(2), m(&["2a"])).unwrap();
    pull.handle_message(p(2), m(&["2b"])).unwrap();
    pull.handle_message(p(2), m(&["2c"])).unwrap();
    assert_eq!(pull.recv(), Ok(m(&["1a"])));
    pull.handle_message(p(1), m(&["1b"])).unwrap();
    assert_eq!(
        recv_all(&mut pull),
        vec![m(&["2a"]), m(&["1b"]), m(&["2b"]), m(&["2c"])]
    );
}

/// test_spec_pushpull / test_spec_dealer / test_spec_req block_on_send_no_peers:
/// the round-robin types have nowhere to queue, so send is EAGAIN and hands the
/// message back unchanged.
#[test]
fn push_blocks_with_no_peers() {
    for t in [
        SocketType::Push,
        SocketType::Dealer,
        SocketType::Req,
        SocketType::Pair,
    ] {
        let mut s = Pattern::new(t);
        assert!(!s.can_send(), "{t:?}");
        assert_eq!(
            s.send(m(&["x", "y"])),
            Err(SendError::WouldBlock(m(&["x", "y"]))),
            "{t:?}"
        );
    }
}

/// Sending on a receive-only type and receiving on a send-only type fail.
#[test]
fn one_way_types_refuse_the_other_direction() {
    for t in [SocketType::Pull, SocketType::Sub] {
        let mut s = Pattern::new(t);
        assert_eq!(
            s.send(m(&["x"])),
            Err(SendError::NotSupported(m(&["x"]))),
            "{t:?}"
        );
        assert!(!s.can_send());
    }
    for t in [SocketType::Push, SocketType::Pub] {
        let mut s = Pattern::new(t);
        assert_eq!(s.recv(), Err(RecvError::NotSupported), "{t:?}");
    }
}

/// A message needs at least one frame.
#[test]
fn empty_message_is_refused() {
    let mut push = with_pipes(SocketType::Push, Options::default(), SocketType::Pull, 1);
    assert_eq!(push.send(Msg::new()), Err(SendError::EmptyMessage));
    assert_eq!(next_msg(&mut push, 1), None);
}

/// PUSH and PUB discard what their peers send them.
#[test]
fn send_only_types_discard_incoming_data() {
    let mut push = with_pipes(SocketType::Push, Options::default(), SocketType::Pull, 1);
    assert_eq!(push.handle_message(p(1), m(&["junk"])), Ok(()));
    assert!(!push.can_recv());
    let mut publ = with_pipes(SocketType::Pub, Options::default(), SocketType::Sub, 1);
    assert_eq!(publ.handle_message(p(1), m(&["junk"])), Ok(()));
    assert!(!publ.can_recv());
    assert_eq!(publ.recv(), Err(RecvError::NotSupported));
}
