//! DEALER and ROUTER: routing ids, MANDATORY, HANDOVER.

use super::*;

// ---------------------------------------------------------------------------
// DEALER (test_spec_dealer)

/// test_spec_dealer round_robin_out and fair_queue_in.
#[test]
fn dealer_round_robin_and_fair_queue() {
    let mut dealer = with_pipes(SocketType::Dealer, Options::default(), SocketType::Rep, 5);
    for i in 0..5 {
        dealer
            .send(Msg::from_iter(["".to_string(), format!("m{i}")]))
            .unwrap();
    }
    for pipe in 1..=5u64 {
        assert_eq!(
            drain_msgs(&mut dealer, pipe),
            vec![Msg::from_iter(["".to_string(), format!("m{}", pipe - 1)])]
        );
    }
    // No envelope handling: what arrives is delivered as is.
    for pipe in 1..=5u64 {
        dealer
            .handle_message(
                p(pipe),
                Msg::from_iter([format!("{pipe}"), "x".to_string()]),
            )
            .unwrap();
        dealer
            .handle_message(
                p(pipe),
                Msg::from_iter([format!("{pipe}"), "y".to_string()]),
            )
            .unwrap();
    }
    let got = recv_all(&mut dealer);
    let mut sorted: Vec<Bytes> = got[..5].iter().map(|m| m.frames()[0].clone()).collect();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 5, "first five come one from each pipe");
    assert_eq!(got.len(), 10);
}

// ---------------------------------------------------------------------------
// ROUTER (test_spec_router, test_router_mandatory, test_router_handover)

/// Received messages are prefixed with the sender's routing id; sent messages are
/// routed by their first frame, which is stripped.
#[test]
fn router_prefixes_routing_id_and_routes_by_first_frame() {
    let mut router = Pattern::new(SocketType::Router);
    router.attach(p(1), named(SocketType::Dealer, "A")).unwrap();
    router.attach(p(2), named(SocketType::Req, "B")).unwrap();
    router.handle_message(p(1), m(&["hello", "x"])).unwrap();
    router.handle_message(p(2), m(&["", "req"])).unwrap();
    assert_eq!(router.recv(), Ok(m(&["A", "hello", "x"])));
    // A REQ peer's message shows its envelope: [id, "", body].
    assert_eq!(router.recv(), Ok(m(&["B", "", "req"])));
    router.send(m(&["B", "", "rep"])).unwrap();
    router.send(m(&["A", "to a", "2"])).unwrap();
    assert_eq!(drain_msgs(&mut router, 1), vec![m(&["to a", "2"])]);
    assert_eq!(drain_msgs(&mut router, 2), vec![m(&["", "rep"])]);
}

/// test_spec_router fair_queue_in: DEALERs with ids A..E; the ROUTER sees each
/// id once per round.
#[test]
fn router_fair_queues_and_names_each_peer() {
    let mut router = Pattern::new(SocketType::Router);
    let ids = ["A", "B", "C", "D", "E"];
    for (i, id) in ids.iter().enumerate() {
        router
            .attach(p(i as u64 + 1), named(SocketType::Dealer, id))
            .unwrap();
    }
    router.handle_message(p(1), m(&["M"])).unwrap();
    assert_eq!(router.recv(), Ok(m(&["A", "M"])));
    router.handle_message(p(1), m(&["M"])).unwrap();
    assert_eq!(router.recv(), Ok(m(&["A", "M"])));
    for i in 1..=5u64 {
        router.handle_message(p(i), m(&["M"])).unwrap();
    }
    let got: Vec<Msg> = recv_all(&mut router);
    let expected: Vec<Msg> = ids.iter().map(|id| m(&[id, "M"])).collect();
    assert_eq!(got, expected);
}

/// Anonymous peers get a generated 5-byte routing id: 0x00 then a u32 counter
/// (big-endian, +1 per peer).
#[test]
fn router_generates_5_byte_ids_starting_with_zero() {
    let mut router = Pattern::new(SocketType::Router);
    let mut ids = Vec::new();
    for i in 1..=3u64 {
        router.attach(p(i), anon(SocketType::Dealer)).unwrap();
        let id = router.routing_id(p(i)).unwrap().clone();
        assert_eq!(id.len(), 5, "{id:?}");
        assert_eq!(id[0], 0);
        ids.push(u32::from_be_bytes(id[1..5].try_into().unwrap()));
        router.handle_message(p(i), m(&["hi"])).unwrap();
        let got = router.recv().unwrap();
        assert_eq!(got.frames()[0], id);
    }
    assert_eq!(ids[1], ids[0].wrapping_add(1));
    assert_eq!(ids[2], ids[1].wrapping_add(1));
    // And the generated id routes.
    let mut msg = Msg::single(router.routing_id(p(2)).unwrap().clone());
    msg.push(Bytes::from_static(b"back"));
    router.send(msg).unwrap();
    assert_eq!(next_msg(&mut router, 2), Some(m(&["back"])));
}

/// A peer Identity starting with 0x00 is taken as-is.
#[test]
fn router_accepts_peer_identity_starting_with_zero() {
    let mut router = Pattern::new(SocketType::Router);
    router
        .attach(
            p(1),
            PeerMeta::new(Some(SocketType::Dealer), Bytes::from_static(b"\0abc")),
        )
        .unwrap();
    assert_eq!(
        router.routing_id(p(1)).unwrap(),
        &Bytes::from_static(b"\0abc")
    );
    router.send(mb(&[b"\0abc", b"x"])).unwrap();
    assert_eq!(next_msg(&mut router, 1), Some(m(&["x"])));
}

/// test_router_mandatory basic, default: an unknown id is dropped silently.
#[test]
fn router_drops_unknown_ids_silently() {
    let mut router = Pattern::new(SocketType::Router);
    router.attach(p(1), named(SocketType::Dealer, "X")).unwrap();
    assert!(router.can_send());
    assert_eq!(router.send(m(&["UNKNOWN", "data"])), Ok(()));
    assert!(!router.has_outbound(p(1)));
    assert_eq!(router.poll_dirty(), None);
    router.send(m(&["X", "data"])).unwrap();
    assert_eq!(next_msg(&mut router, 1), Some(m(&["data"])));
}

/// router.cpp: a lone id frame (no MORE) is silently ignored, even with
/// ROUTER_MANDATORY (test_invalid_rep relies on it).
#[test]
fn router_drops_lone_id_frame() {
    for mandatory in [false, true] {
        let mut router =
            Pattern::with_options(SocketType::Router, opts(|o| o.router_mandatory = mandatory));
        router.attach(p(1), named(SocketType::Req, "X")).unwrap();
        assert_eq!(router.send(m(&["X"])), Ok(()));
        assert!(!router.has_outbound(p(1)));
    }
}

/// test_router_mandatory basic and test_router_mandatory_hwm: unknown id is
/// EHOSTUNREACH, a full peer is EAGAIN; both hand the message back.
#[test]
fn router_mandatory_reports_host_unreachable_and_would_block() {
    let o = opts(|o| {
        o.router_mandatory = true;
        o.sndhwm = 1;
    });
    let mut router = Pattern::with_options(SocketType::Router, o);
    assert!(!router.can_send(), "no peer can take a message");
    assert_eq!(
        router.send(m(&["X", "hi"])),
        Err(SendError::HostUnreachable(m(&["X", "hi"])))
    );
    router.attach(p(1), named(SocketType::Dealer, "X")).unwrap();
    assert!(router.can_send());
    router.send(m(&["X", "hi"])).unwrap();
    assert!(!router.can_send(), "the only peer is full");
    assert_eq!(
        router.send(m(&["X", "again"])),
        Err(SendError::WouldBlock(m(&["X", "again"])))
    );
    assert_eq!(
        router.send(m(&["Y", "hi"])),
        Err(SendError::HostUnreachable(m(&["Y", "hi"])))
    );
    assert_eq!(next_msg(&mut router, 1), Some(m(&["hi"])));
    assert!(router.can_send());
    router.send(m(&["X", "again"])).unwrap();
    assert_eq!(next_msg(&mut router, 1), Some(m(&["again"])));
}

/// Without MANDATORY, a full peer pipe drops the message and send never blocks.
#[test]
fn router_drops_when_peer_pipe_full_without_mandatory() {
    let mut router = Pattern::with_options(SocketType::Router, opts(|o| o.sndhwm = 2));
    router.attach(p(1), named(SocketType::Dealer, "X")).unwrap();
    for i in 0..5 {
        assert_eq!(
            router.send(Msg::from_iter(["X".to_string(), format!("{i}")])),
            Ok(())
        );
        assert!(router.can_send());
    }
    assert_eq!(drain_msgs(&mut router, 1), vec![m(&["0"]), m(&["1"])]);
}

/// test_router_handover without handover: a second peer with an id in use is
/// refused (its messages are never delivered); the first keeps the id.
#[test]
fn router_refuses_duplicate_id_without_handover() {
    let mut router = Pattern::new(SocketType::Router);
    router.attach(p(1), named(SocketType::Dealer, "X")).unwrap();
    assert_eq!(
        router.attach(p(2), named(SocketType::Dealer, "X")),
        Err(AttachError::DuplicateRoutingId)
    );
    assert!(!router.is_attached(p(2)));
    assert_eq!(router.handle_message(p(2), m(&["Hello"])), Ok(()));
    assert_eq!(router.recv(), Err(RecvError::WouldBlock));
    router.send(m(&["X", "Hello"])).unwrap();
    assert_eq!(next_msg(&mut router, 1), Some(m(&["Hello"])));
    assert_eq!(router.poll_action(), None);
}

/// test_router_handover with handover: the new peer takes the id, the old pipe
/// is to be closed, messages to the id reach the new peer.
#[test]
fn router_handover_terminates_old_pipe() {
    let mut router = Pattern::with_options(SocketType::Router, opts(|o| o.router_handover = true));
    router.attach(p(1), named(SocketType::Dealer, "X")).unwrap();
    router.handle_message(p(1), m(&["Hello"])).unwrap();
    assert_eq!(router.recv(), Ok(m(&["X", "Hello"])));
    router.attach(p(2), named(SocketType::Dealer, "X")).unwrap();
    assert_eq!(router.poll_action(), Some(PipeAction::Terminate(p(1))));
    assert_eq!(router.poll_action(), None);
    router.handle_message(p(2), m(&["Hello"])).unwrap();
    assert_eq!(router.recv(), Ok(m(&["X", "Hello"])));
    router.send(m(&["X", "Hello"])).unwrap();
    assert!(!router.has_outbound(p(1)));
    assert_eq!(next_msg(&mut router, 2), Some(m(&["Hello"])));
    // The owner closes the old pipe; the id stays with the new one.
    router.detach(p(1));
    router.send(m(&["X", "still"])).unwrap();
    assert_eq!(next_msg(&mut router, 2), Some(m(&["still"])));
}

/// router.cpp identify_peer: on handover libzmq gives the old pipe a fresh
/// generated id ("temporarily assign a new routing id to the existing pipe so we
/// can terminate it asynchronously"), so whatever the old connection still
/// delivers is not labelled with the id that now names the new peer.
#[test]
fn router_handover_renames_old_pipe_for_what_it_still_delivers() {
    let mut router = Pattern::with_options(SocketType::Router, opts(|o| o.router_handover = true));
    router.attach(p(1), named(SocketType::Dealer, "X")).unwrap();
    router.handle_message(p(1), m(&["late"])).unwrap();
    router.attach(p(2), named(SocketType::Dealer, "X")).unwrap();
    let got = router.recv().unwrap();
    assert_eq!(got.frames()[1], Bytes::from_static(b"late"));
    assert_ne!(
        got.frames()[0],
        Bytes::from_static(b"X"),
        "a reply to this message would reach the new peer, not its sender"
    );
}

/// What a departed peer sent before it left is still labelled with its routing
/// id: libzmq's ROUTER reads those messages from the terminating pipe, whose
/// routing id is still set (router.cpp xrecv prefixes `pipe->get_routing_id()`).
#[test]
fn router_labels_messages_of_a_departed_peer_with_its_id() {
    let mut router = Pattern::new(SocketType::Router);
    router.attach(p(1), named(SocketType::Dealer, "A")).unwrap();
    router.attach(p(2), anon(SocketType::Dealer)).unwrap();
    let generated = router.routing_id(p(2)).unwrap().clone();
    router.handle_message(p(1), m(&["a1"])).unwrap();
    router.handle_message(p(1), m(&["a2"])).unwrap();
    router.handle_message(p(2), m(&["b1"])).unwrap();
    router.detach(p(1));
    router.detach(p(2));
    let mut b1 = m(&["b1"]);
    b1.push_front(generated);
    assert_eq!(
        recv_all(&mut router),
        vec![m(&["A", "a1"]), b1, m(&["A", "a2"])]
    );
}

/// test_spec_router destroy_queue_on_disconnect (MANDATORY): after the peer
/// left, its id is unknown; a new peer may take the same id.
#[test]
fn router_forgets_id_of_detached_peer() {
    let mut router = Pattern::with_options(SocketType::Router, opts(|o| o.router_mandatory = true));
    router.attach(p(1), named(SocketType::Dealer, "B")).unwrap();
    router.send(m(&["B", "ABC"])).unwrap();
    assert_eq!(router.detach(p(1)), vec![m(&["ABC"])]);
    assert_eq!(
        router.send(m(&["B", "x"])),
        Err(SendError::HostUnreachable(m(&["B", "x"])))
    );
    router.attach(p(2), named(SocketType::Dealer, "B")).unwrap();
    // The old queue is gone; the new peer gets only what is sent now.
    assert!(!router.has_outbound(p(2)));
    router.send(m(&["B", "y"])).unwrap();
    assert_eq!(drain_msgs(&mut router, 2), vec![m(&["y"])]);
}
