//! PUB, XPUB, SUB and XSUB: subscriptions, notifications, filtering, NODROP.

use super::*;

// ---------------------------------------------------------------------------
// PUB / XPUB (test_pubsub, test_xpub_verbose, test_xpub_nodrop, test_hwm_pubsub)

/// Filtering happens at the publisher: only subscribers whose prefix matches the
/// first frame get the message, and all of them share the same bytes.
#[test]
fn pub_fans_out_only_to_matching_subscribers_zero_copy() {
    let mut publ = with_pipes(SocketType::Pub, Options::default(), SocketType::Sub, 4);
    publ.handle_subscribe(p(1), topic("A"));
    publ.handle_subscribe(p(2), topic(""));
    publ.handle_subscribe(p(3), topic("AB"));
    publ.handle_subscribe(p(4), topic("B"));
    let body = Bytes::from(vec![7u8; 4096]);
    let msg: Msg = [Bytes::from(b"ABC".to_vec()), body.clone()]
        .into_iter()
        .collect();
    publ.send(msg.clone()).unwrap();
    let mut ptrs = Vec::new();
    for pipe in 1..=3u64 {
        let got = drain_msgs(&mut publ, pipe);
        assert_eq!(got, vec![msg.clone()], "pipe {pipe}");
        ptrs.push((got[0].frames()[0].as_ptr(), got[0].frames()[1].as_ptr()));
    }
    assert!(!publ.has_outbound(p(4)));
    for (f0, f1) in ptrs {
        assert_eq!(f0, msg.frames()[0].as_ptr(), "first frame copied");
        assert_eq!(f1, body.as_ptr(), "body copied");
    }
}

/// Matching is a byte prefix of the first frame only; later frames do not
/// count, and an empty first frame matches only the empty subscription.
#[test]
fn pub_matches_prefix_of_first_frame_only() {
    let mut publ = with_pipes(SocketType::Pub, Options::default(), SocketType::Sub, 2);
    publ.handle_subscribe(p(1), topic("news"));
    publ.handle_subscribe(p(2), topic(""));
    publ.send(m(&["new", "news"])).unwrap();
    publ.send(m(&["newsflash", "x"])).unwrap();
    publ.send(m(&["", "news"])).unwrap();
    assert_eq!(drain_msgs(&mut publ, 1), vec![m(&["newsflash", "x"])]);
    assert_eq!(drain_msgs(&mut publ, 2).len(), 3);
}

/// A subscriber at its HWM misses the message; the others still get it, and
/// send never blocks. With no subscribers the message is dropped.
#[test]
fn pub_drops_for_full_subscriber_only() {
    let mut publ = with_pipes(SocketType::Pub, opts(|o| o.sndhwm = 2), SocketType::Sub, 2);
    publ.handle_subscribe(p(1), topic(""));
    publ.handle_subscribe(p(2), topic(""));
    publ.send(m(&["1"])).unwrap();
    publ.send(m(&["2"])).unwrap();
    next_msg(&mut publ, 2).unwrap();
    next_msg(&mut publ, 2).unwrap();
    assert!(publ.can_send());
    publ.send(m(&["3"])).unwrap();
    assert_eq!(drain_msgs(&mut publ, 1), vec![m(&["1"]), m(&["2"])]);
    assert_eq!(drain_msgs(&mut publ, 2), vec![m(&["3"])]);

    let mut lonely = Pattern::new(SocketType::Pub);
    assert!(lonely.can_send());
    assert_eq!(lonely.send(m(&["nobody"])), Ok(()));
}

/// test_xpub_nodrop: with XPUB_NODROP a full matching subscriber makes send
/// EAGAIN (nobody gets the message); a full subscriber that does not match does
/// not block.
#[test]
fn xpub_nodrop_blocks_when_a_matching_subscriber_is_full() {
    let o = opts(|o| {
        o.xpub_nodrop = true;
        o.sndhwm = 1;
    });
    let mut xpub = with_pipes(SocketType::XPub, o, SocketType::Sub, 2);
    xpub.handle_subscribe(p(1), topic("A"));
    xpub.handle_subscribe(p(2), topic("B"));
    xpub.send(m(&["A1"])).unwrap();
    // Pipe 1 is full, but "B" does not go there.
    xpub.send(m(&["B1"])).unwrap();
    assert_eq!(
        xpub.send(m(&["A2"])),
        Err(SendError::WouldBlock(m(&["A2"])))
    );
    xpub.handle_subscribe(p(2), topic("A"));
    next_msg(&mut xpub, 1).unwrap();
    // Now pipe 2 (subscribed to A too) is full: still blocked, nobody got it.
    assert_eq!(
        xpub.send(m(&["A2"])),
        Err(SendError::WouldBlock(m(&["A2"])))
    );
    assert!(!xpub.has_outbound(p(1)));
    next_msg(&mut xpub, 2).unwrap();
    xpub.send(m(&["A2"])).unwrap();
    assert_eq!(drain_msgs(&mut xpub, 1), vec![m(&["A2"])]);
    assert_eq!(drain_msgs(&mut xpub, 2), vec![m(&["A2"])]);
}

/// test_xpub_verbose one_sub / two_subs: only the first subscription to a topic
/// is passed to the application, unless XPUB_VERBOSE.
#[test]
fn xpub_notifies_first_subscription_only_unless_verbose() {
    // One subscriber.
    let mut xpub = with_pipes(SocketType::XPub, Options::default(), SocketType::Sub, 1);
    xpub.handle_subscribe(p(1), topic("A"));
    assert_eq!(xpub.recv(), Ok(note(1, "A")));
    xpub.handle_subscribe(p(1), topic("B"));
    assert_eq!(xpub.recv(), Ok(note(1, "B")));
    xpub.handle_subscribe(p(1), topic("A"));
    assert_eq!(xpub.recv(), Err(RecvError::WouldBlock));
    xpub.set_options(opts(|o| o.xpub_verbose = true));
    xpub.handle_subscribe(p(1), topic("A"));
    assert_eq!(xpub.recv(), Ok(note(1, "A")));
    xpub.send(m(&["A"])).unwrap();
    xpub.send(m(&["B"])).unwrap();
    assert_eq!(drain_msgs(&mut xpub, 1), vec![m(&["A"]), m(&["B"])]);

    // Two subscribers.
    let mut xpub = with_pipes(SocketType::XPub, Options::default(), SocketType::Sub, 2);
    xpub.handle_subscribe(p(1), topic("A"));
    assert_eq!(xpub.recv(), Ok(note(1, "A")));
    xpub.handle_subscribe(p(2), topic("A"));
    assert_eq!(xpub.recv(), Err(RecvError::WouldBlock));
    xpub.handle_subscribe(p(1), topic("B"));
    assert_eq!(xpub.recv(), Ok(note(1, "B")));
    xpub.set_options(opts(|o| o.xpub_verbose = true));
    xpub.handle_subscribe(p(2), topic("A"));
    assert_eq!(xpub.recv(), Ok(note(1, "A")));
    xpub.send(m(&["A"])).unwrap();
    xpub.send(m(&["B"])).unwrap();
    assert_eq!(drain_msgs(&mut xpub, 1), vec![m(&["A"]), m(&["B"])]);
    assert_eq!(drain_msgs(&mut xpub, 2), vec![m(&["A"])]);
}

/// test_xpub_verbose verboser_two_subs: the cancel is passed on only when the
/// last subscriber goes, unless XPUB_VERBOSER, which passes every subscribe and
/// unsubscribe.
#[test]
fn xpub_verboser_passes_every_unsubscribe() {
    let mut xpub = with_pipes(SocketType::XPub, Options::default(), SocketType::Sub, 2);
    xpub.handle_subscribe(p(1), topic("A"));
    xpub.handle_subscribe(p(2), topic("A"));
    assert_eq!(recv_all(&mut xpub), vec![note(1, "A")]);
    xpub.handle_cancel(p(1), topic("A"));
    assert_eq!(xpub.recv(), Err(RecvError::WouldBlock));
    xpub.handle_cancel(p(2), topic("A"));
    assert_eq!(recv_all(&mut xpub), vec![note(0, "A")]);

    xpub.set_options(opts(|o| o.xpub_verboser = true));
    xpub.handle_subscribe(p(1), topic("A"));
    xpub.handle_subscribe(p(2), topic("A"));
    assert_eq!(recv_all(&mut xpub), vec![note(1, "A"), note(1, "A")]);
    xpub.send(m(&["A"])).unwrap();
    assert_eq!(drain_msgs(&mut xpub, 1), vec![m(&["A"])]);
    assert_eq!(drain_msgs(&mut xpub, 2), vec![m(&["A"])]);
    xpub.handle_cancel(p(2), topic("A"));
    assert_eq!(recv_all(&mut xpub), vec![note(0, "A")]);
    xpub.handle_cancel(p(1), topic("A"));
    assert_eq!(recv_all(&mut xpub), vec![note(0, "A")]);
}

/// test_xpub_verbose verboser_one_sub, as seen on the XPUB's pipe: a libzmq SUB
/// that subscribed to "A" twice sends SUBSCRIBE A twice but CANCEL A only once
/// (when its own count reaches zero). libzmq's XPUB keeps a *set* of pipes per
/// topic (generic_mtrie_t::_pipes is a std::set; add() inserts, rm() erases), so
/// that one cancel removes the pipe's subscription and the application hears
/// `0x00 A`.
#[test]
fn xpub_cancel_from_a_sub_that_subscribed_twice_removes_the_topic() {
    let mut xpub = with_pipes(SocketType::XPub, Options::default(), SocketType::Sub, 1);
    xpub.handle_subscribe(p(1), topic("A"));
    assert_eq!(xpub.recv(), Ok(note(1, "A")));
    xpub.handle_subscribe(p(1), topic("A"));
    assert_eq!(xpub.recv(), Err(RecvError::WouldBlock));
    xpub.handle_cancel(p(1), topic("A"));
    assert_eq!(xpub.recv(), Ok(note(0, "A")));
    xpub.send(m(&["A"])).unwrap();
    assert!(!xpub.has_outbound(p(1)), "the subscriber no longer wants A");
}

/// End to end between this crate's own SUB and PUB: subscribe twice, unsubscribe
/// twice. The SUB sends two subscribes and one cancel; afterwards the PUB must
/// not keep sending "A" to that subscriber.
#[test]
fn sub_to_pub_double_subscribe_then_full_unsubscribe_stops_delivery() {
    let mut subs = with_pipes(SocketType::Sub, Options::default(), SocketType::Pub, 1);
    let mut publ = with_pipes(SocketType::Pub, Options::default(), SocketType::Sub, 1);
    subs.subscribe(b"A");
    subs.subscribe(b"A");
    subs.unsubscribe(b"A");
    subs.unsubscribe(b"A");
    let upstream = drain(&mut subs, 1);
    assert_eq!(upstream, vec![sub("A"), sub("A"), cancel("A")]);
    for item in upstream {
        match item {
            PipeItem::Subscribe(t) => publ.handle_subscribe(p(1), t),
            PipeItem::Cancel(t) => publ.handle_cancel(p(1), t),
            PipeItem::Message(_) => unreachable!(),
        }
    }
    publ.send(m(&["A"])).unwrap();
    assert!(
        !publ.has_outbound(p(1)),
        "PUB still sends A to a SUB that unsubscribed"
    );
}

/// A departing subscriber's topics that nobody else holds are announced as
/// cancelled; a topic another subscriber still holds is not.
#[test]
fn xpub_notifies_last_cancel_and_on_detach() {
    let mut xpub = with_pipes(SocketType::XPub, Options::default(), SocketType::Sub, 2);
    xpub.handle_subscribe(p(1), topic("A"));
    xpub.handle_subscribe(p(2), topic("A"));
    xpub.handle_subscribe(p(1), topic("B"));
    assert_eq!(recv_all(&mut xpub), vec![note(1, "A"), note(1, "B")]);
    xpub.detach(p(1));
    assert_eq!(recv_all(&mut xpub), vec![note(0, "B")]);
    // Pipe 2 still receives A.
    xpub.send(m(&["A"])).unwrap();
    assert_eq!(drain_msgs(&mut xpub, 2), vec![m(&["A"])]);
    xpub.detach(p(2));
    assert_eq!(recv_all(&mut xpub), vec![note(0, "A")]);
    // A cancel for a topic the pipe never had is not passed on.
    xpub.attach(p(3), anon(SocketType::Sub)).unwrap();
    xpub.handle_cancel(p(3), topic("Z"));
    assert_eq!(xpub.recv(), Err(RecvError::WouldBlock));
}

/// XPUB passes non-subscription data from subscribers to the application.
#[test]
fn xpub_delivers_upstream_data_to_application() {
    let mut xpub = with_pipes(SocketType::XPub, Options::default(), SocketType::XSub, 1);
    xpub.handle_message(p(1), m(&["up", "stream"])).unwrap();
    assert!(xpub.can_recv());
    assert_eq!(xpub.recv(), Ok(m(&["up", "stream"])));
}

// ---------------------------------------------------------------------------
// SUB / XSUB

/// Every subscribe goes upstream; the cancel goes only when the last
/// subscription to that topic goes; cancelling an unknown topic sends nothing.
#[test]
fn sub_counts_subscriptions_and_cancels_upstream_on_last() {
    let mut s = with_pipes(SocketType::Sub, Options::default(), SocketType::Pub, 2);
    s.subscribe(b"A");
    s.subscribe(b"A");
    assert_eq!(drain(&mut s, 1), vec![sub("A"), sub("A")]);
    assert_eq!(drain(&mut s, 2), vec![sub("A"), sub("A")]);
    s.unsubscribe(b"A");
    assert!(!s.has_outbound(p(1)));
    // Still subscribed locally.
    s.handle_message(p(1), m(&["A1"])).unwrap();
    assert_eq!(s.recv(), Ok(m(&["A1"])));
    s.unsubscribe(b"A");
    assert_eq!(drain(&mut s, 1), vec![cancel("A")]);
    assert_eq!(drain(&mut s, 2), vec![cancel("A")]);
    s.unsubscribe(b"A");
    s.unsubscribe(b"never");
    assert!(!s.has_outbound(p(1)));
    s.handle_message(p(1), m(&["A2"])).unwrap();
    assert_eq!(s.recv(), Err(RecvError::WouldBlock));
}

/// A new publisher pipe gets the whole subscription set, each topic once, in byte
/// order ("" before "AB" before "B"), after a reconnect too.
#[test]
fn sub_resends_subscriptions_to_new_pipe_in_byte_order() {
    let mut s = Pattern::new(SocketType::Sub);
    s.subscribe(b"B");
    s.subscribe(b"AB");
    s.subscribe(b"AB");
    s.subscribe(b"");
    s.subscribe(b"gone");
    s.unsubscribe(b"gone");
    s.attach(p(1), anon(SocketType::Pub)).unwrap();
    assert_eq!(drain(&mut s, 1), vec![sub(""), sub("AB"), sub("B")]);
    // Reconnect: a new pipe for the same publisher.
    s.detach(p(1));
    s.attach(p(2), anon(SocketType::XPub)).unwrap();
    assert_eq!(drain(&mut s, 2), vec![sub(""), sub("AB"), sub("B")]);
}

/// A SUB starts with no subscriptions and receives nothing; it filters again
/// locally by prefix of the first frame, whatever the publisher sent.
#[test]
fn sub_filters_locally() {
    let mut s = with_pipes(SocketType::Sub, Options::default(), SocketType::Pub, 1);
    s.handle_message(p(1), m(&["anything"])).unwrap();
    assert!(!s.can_recv());
    assert_eq!(s.recv(), Err(RecvError::WouldBlock));
    s.subscribe(b"A");
    s.handle_message(p(1), m(&["B", "A"])).unwrap();
    s.handle_message(p(1), m(&["AB", "rest"])).unwrap();
    s.handle_message(p(1), m(&["", "A"])).unwrap();
    assert!(s.can_recv());
    assert_eq!(recv_all(&mut s), vec![m(&["AB", "rest"])]);
    assert!(!s.can_recv());
}

/// XSUB: a message `0x01 topic` subscribes, `0x00 topic` cancels (only when it
/// matches a subscription and is the last), and they travel upstream as
/// subscriptions.
#[test]
fn xsub_sends_subscriptions_as_messages() {
    let mut x = with_pipes(SocketType::XSub, Options::default(), SocketType::Pub, 2);
    x.send(mb(&[b"\x01A"])).unwrap();
    x.send(mb(&[b"\x01A"])).unwrap();
    x.send(mb(&[b"\x00A"])).unwrap();
    x.send(mb(&[b"\x00unknown"])).unwrap();
    assert_eq!(drain(&mut x, 1), vec![sub("A"), sub("A")]);
    x.send(mb(&[b"\x00A"])).unwrap();
    assert_eq!(drain(&mut x, 1), vec![cancel("A")]);
    assert_eq!(drain(&mut x, 2), vec![sub("A"), sub("A"), cancel("A")]);
    // Receiving is filtered as for SUB.
    x.send(mb(&[b"\x01B"])).unwrap();
    x.handle_message(p(1), m(&["A"])).unwrap();
    x.handle_message(p(1), m(&["Bx"])).unwrap();
    assert_eq!(recv_all(&mut x), vec![m(&["Bx"])]);
}

/// XSUB passes other data to every publisher.
#[test]
fn xsub_forwards_other_data_to_all_publishers() {
    let mut x = with_pipes(SocketType::XSub, Options::default(), SocketType::XPub, 2);
    x.send(m(&["hello", "world"])).unwrap();
    x.send(mb(&[b"\x02x"])).unwrap();
    for pipe in 1..=2 {
        assert_eq!(
            drain_msgs(&mut x, pipe),
            vec![m(&["hello", "world"]), mb(&[b"\x02x"])]
        );
    }
}

/// test_pub_invert_matching: with INVERT_MATCHING on both sides, a subscriber
/// gets exactly the messages that do NOT match its subscriptions.
#[test]
fn invert_matching() {
    let mut publ = with_pipes(SocketType::Pub, Options::default(), SocketType::Sub, 2);
    let mut s1 = with_pipes(SocketType::Sub, Options::default(), SocketType::Pub, 1);
    let mut s2 = with_pipes(SocketType::Sub, Options::default(), SocketType::Pub, 1);
    s1.subscribe(b"prefix1");
    s2.subscribe(b"p2");
    publ.handle_subscribe(p(1), topic("prefix1"));
    publ.handle_subscribe(p(2), topic("p2"));

    // Pumps PUB's output into the two SUBs.
    fn pump(publ: &mut Pattern, s1: &mut Pattern, s2: &mut Pattern) {
        for (pipe, s) in [(1u64, s1), (2u64, s2)] {
            for msg in drain_msgs(publ, pipe) {
                s.handle_message(p(1), msg).unwrap();
            }
        }
    }

    publ.send(m(&["prefix1"])).unwrap();
    pump(&mut publ, &mut s1, &mut s2);
    assert_eq!(s1.recv(), Ok(m(&["prefix1"])));
    assert_eq!(s2.recv(), Err(RecvError::WouldBlock));
    publ.send(m(&["p2"])).unwrap();
    pump(&mut publ, &mut s1, &mut s2);
    assert_eq!(s2.recv(), Ok(m(&["p2"])));
    assert_eq!(s1.recv(), Err(RecvError::WouldBlock));

    let inv = opts(|o| o.invert_matching = true);
    publ.set_options(inv.clone());
    s1.set_options(inv.clone());
    s2.set_options(inv);
    publ.send(m(&["prefix1"])).unwrap();
    pump(&mut publ, &mut s1, &mut s2);
    assert_eq!(s2.recv(), Ok(m(&["prefix1"])));
    assert_eq!(s1.recv(), Err(RecvError::WouldBlock));
    publ.send(m(&["p2"])).unwrap();
    pump(&mut publ, &mut s1, &mut s2);
    assert_eq!(s1.recv(), Ok(m(&["p2"])));
    assert_eq!(s2.recv(), Err(RecvError::WouldBlock));

    // An inverted SUB alone (PUB not inverted) filters out what PUB sends it.
    let mut s3 = with_pipes(
        SocketType::Sub,
        opts(|o| o.invert_matching = true),
        SocketType::Pub,
        1,
    );
    s3.subscribe(b"A");
    s3.handle_message(p(1), m(&["A1"])).unwrap();
    s3.handle_message(p(1), m(&["B1"])).unwrap();
    assert_eq!(recv_all(&mut s3), vec![m(&["B1"])]);
}
