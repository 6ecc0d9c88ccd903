//! REQ and REP: envelopes, strict alternation, RELAXED and CORRELATE.

use super::*;

// ---------------------------------------------------------------------------
// REQ (test_spec_req, test_req_relaxed, test_req_correlate, test_invalid_rep)

/// The REP peer's side: take the request, answer with the same envelope.
fn rep_answer(req: &mut Pattern, pipe: u64, body: &[&'static str]) {
    let request = next_msg(req, pipe).expect("a request");
    let mut frames: Vec<Bytes> = request.into_frames().collect();
    let delim = frames.iter().position(Bytes::is_empty).unwrap();
    frames.truncate(delim + 1);
    let mut reply: Msg = frames.into_iter().collect();
    for f in body {
        reply.push(Bytes::from_static(f.as_bytes()));
    }
    req.handle_message(p(pipe), reply).unwrap();
}

/// test_spec_req round_robin_out: REQ with 5 REPs; 5 request/reply cycles hit
/// each REP once, in order.
#[test]
fn req_round_robins_requests_over_peers() {
    let mut req = with_pipes(SocketType::Req, Options::default(), SocketType::Rep, 5);
    for pipe in 1..=5u64 {
        req.send(Msg::single(format!("ABC{pipe}"))).unwrap();
        for other in 1..=5u64 {
            if other != pipe {
                assert!(!req.has_outbound(p(other)));
            }
        }
        rep_answer(&mut req, pipe, &["DEF"]);
        assert_eq!(req.recv(), Ok(m(&["DEF"])));
    }
}

/// test_spec_req req_message_format: the REQ puts an empty delimiter in front of
/// the request; a reply [id?] "" "GHI" reaches the application as "GHI".
#[test]
fn req_message_format_adds_empty_delimiter() {
    let mut req = with_pipes(SocketType::Req, Options::default(), SocketType::Router, 1);
    req.send(m(&["ABC", "DEF"])).unwrap();
    assert_eq!(next_msg(&mut req, 1), Some(m(&["", "ABC", "DEF"])));
    req.handle_message(p(1), m(&["", "GHI"])).unwrap();
    assert_eq!(req.recv(), Ok(m(&["GHI"])));
    // A multipart reply is delivered whole.
    req.send(m(&["again"])).unwrap();
    drain(&mut req, 1);
    req.handle_message(p(1), m(&["", "J", "K"])).unwrap();
    assert_eq!(req.recv(), Ok(m(&["J", "K"])));
}

/// test_spec_req only_listens_to_current_peer: replies from any pipe but the one
/// the request went to are discarded.
#[test]
fn req_drops_replies_from_other_pipes() {
    let mut req = with_pipes(SocketType::Req, Options::default(), SocketType::Router, 3);
    req.send(m(&["Q"])).unwrap();
    assert!(next_msg(&mut req, 1).is_some());
    req.handle_message(p(2), m(&["", "from 2"])).unwrap();
    req.handle_message(p(3), m(&["", "from 3"])).unwrap();
    assert!(!req.can_recv());
    assert_eq!(req.recv(), Err(RecvError::WouldBlock));
    req.handle_message(p(1), m(&["", "from 1"])).unwrap();
    assert!(req.can_recv());
    assert_eq!(req.recv(), Ok(m(&["from 1"])));
    // The others' replies never surface, not even after the next request.
    req.send(m(&["Q2"])).unwrap();
    assert_eq!(req.recv(), Err(RecvError::WouldBlock));
}

/// Strict alternation: recv before send and send while waiting are EFSM.
#[test]
fn req_strict_alternation_gives_invalid_state() {
    let mut req = with_pipes(SocketType::Req, Options::default(), SocketType::Rep, 2);
    assert_eq!(req.recv(), Err(RecvError::InvalidState));
    req.send(m(&["1"])).unwrap();
    assert!(!req.can_send());
    assert_eq!(req.send(m(&["2"])), Err(SendError::InvalidState(m(&["2"]))));
    // Nothing of the refused request went out.
    assert_eq!(drain_msgs(&mut req, 1), vec![m(&["", "1"])]);
    assert!(!req.has_outbound(p(2)));
    assert_eq!(req.recv(), Err(RecvError::WouldBlock));
    req.handle_message(p(1), m(&["", "r"])).unwrap();
    assert_eq!(req.recv(), Ok(m(&["r"])));
    assert_eq!(req.recv(), Err(RecvError::InvalidState));
    assert!(req.can_send());
    req.send(m(&["3"])).unwrap();
}

/// A REQ with no peer at all hands the request back; nothing is half-sent and
/// the state machine does not move.
#[test]
fn req_blocked_send_leaves_state_unchanged() {
    let mut req = Pattern::new(SocketType::Req);
    assert_eq!(
        req.send(m(&["a", "b"])),
        Err(SendError::WouldBlock(m(&["a", "b"])))
    );
    assert_eq!(req.recv(), Err(RecvError::InvalidState));
    req.attach(p(1), anon(SocketType::Rep)).unwrap();
    req.send(m(&["a", "b"])).unwrap();
    assert_eq!(next_msg(&mut req, 1), Some(m(&["", "a", "b"])));
}

/// test_invalid_rep (and req.cpp's reply check): a reply without the empty
/// delimiter, or with nothing after it, is skipped; the next valid one is
/// delivered.
#[test]
fn req_ignores_malformed_replies() {
    let mut req = with_pipes(SocketType::Req, Options::default(), SocketType::Router, 1);
    req.send(m(&["r"])).unwrap();
    drain(&mut req, 1);
    req.handle_message(p(1), m(&["b"])).unwrap();
    req.handle_message(p(1), m(&["x", "b"])).unwrap();
    req.handle_message(p(1), m(&[""])).unwrap();
    assert_eq!(req.recv(), Err(RecvError::WouldBlock));
    req.handle_message(p(1), m(&["", "b"])).unwrap();
    assert_eq!(req.recv(), Ok(m(&["b"])));
}

/// test_req_relaxed cases 1-3: with REQ_RELAXED a second request may go out
/// before the reply; the reply to the abandoned request is discarded, whether it
/// arrives after the new request (case 1) or was already queued (case 2); and
/// the round-robin carries on over all pipes (case 3, issue #1690).
#[test]
fn req_relaxed_allows_resend_and_discards_stale_reply() {
    let o = opts(|o| {
        o.req_relaxed = true;
        o.req_correlate = true;
    });
    let mut req = with_pipes(SocketType::Req, o, SocketType::Rep, 5);
    // Case 1.
    req.send(m(&["A", "B"])).unwrap();
    let first = next_msg(&mut req, 1).unwrap();
    assert!(req.can_send());
    req.send(m(&["C", "D"])).unwrap();
    let second = next_msg(&mut req, 2).unwrap();
    let mut wrong = Msg::single(first.frames()[0].clone());
    wrong.push(Bytes::new());
    wrong.push(Bytes::from_static(b"WRONG"));
    req.handle_message(p(1), wrong).unwrap();
    let mut ok = Msg::single(second.frames()[0].clone());
    ok.push(Bytes::new());
    ok.push(Bytes::from_static(b"OK"));
    req.handle_message(p(2), ok).unwrap();
    assert_eq!(req.recv(), Ok(m(&["OK"])));
    assert_eq!(req.recv(), Err(RecvError::InvalidState));

    // A standard cycle.
    req.send(m(&["E"])).unwrap();
    rep_answer(&mut req, 3, &["F", "G"]);
    assert_eq!(req.recv(), Ok(m(&["F", "G"])));

    // Case 2: the reply to H is already queued when I is sent.
    req.send(m(&["H"])).unwrap();
    rep_answer(&mut req, 4, &["BAD"]);
    req.send(m(&["I"])).unwrap();
    assert_eq!(req.recv(), Err(RecvError::WouldBlock));
    rep_answer(&mut req, 5, &["GOOD"]);
    assert_eq!(req.recv(), Ok(m(&["GOOD"])));

    // Case 3: the pipe to the first REP was not closed; it is next in turn.
    req.send(m(&["J"])).unwrap();
    assert_eq!(
        next_msg(&mut req, 1).map(|m| m.frames()[1..].to_vec()),
        Some(vec![Bytes::new(), Bytes::from_static(b"J")])
    );
    for pipe in 2..=5 {
        assert!(!req.has_outbound(p(pipe)));
    }
}

/// Without REQ_CORRELATE, a relaxed REQ talking to one peer cannot tell a late
/// reply from the current one (libzmq's test enables CORRELATE for that reason),
/// but replies from the abandoned pipe are still dropped.
#[test]
fn req_relaxed_without_correlate_drops_replies_from_abandoned_pipe() {
    let mut req = with_pipes(
        SocketType::Req,
        opts(|o| o.req_relaxed = true),
        SocketType::Rep,
        2,
    );
    req.send(m(&["1"])).unwrap();
    req.send(m(&["2"])).unwrap();
    assert_eq!(next_msg(&mut req, 1), Some(m(&["", "1"])));
    assert_eq!(next_msg(&mut req, 2), Some(m(&["", "2"])));
    req.handle_message(p(1), m(&["", "late"])).unwrap();
    assert_eq!(req.recv(), Err(RecvError::WouldBlock));
    req.handle_message(p(2), m(&["", "current"])).unwrap();
    assert_eq!(req.recv(), Ok(m(&["current"])));
}

/// test_req_correlate: the request carries a 4-byte id (host order, +1 per
/// request) before the delimiter; a reply with a wrong id is ignored, the one
/// echoing the current id is delivered.
#[test]
fn req_correlate_accepts_only_matching_id() {
    let mut req = with_pipes(
        SocketType::Req,
        opts(|o| o.req_correlate = true),
        SocketType::Router,
        1,
    );
    req.send(m(&["ABC", "DEF"])).unwrap();
    let request = next_msg(&mut req, 1).unwrap();
    assert_eq!(request.len(), 4);
    let id = request.frames()[0].clone();
    assert_eq!(id.len(), 4);
    assert_eq!(&request.frames()[1..], m(&["", "ABC", "DEF"]).frames());

    let n = u32::from_ne_bytes(id[..].try_into().unwrap());
    let bad = n.wrapping_add(1).to_ne_bytes();
    req.handle_message(p(1), mb(&[&bad, b"", b"GHI"])).unwrap();
    // An id frame without the delimiter after it, and a reply lacking the id.
    req.handle_message(p(1), mb(&[&id, b"GHI"])).unwrap();
    req.handle_message(p(1), mb(&[b"", b"GHI"])).unwrap();
    assert_eq!(req.recv(), Err(RecvError::WouldBlock));
    req.handle_message(p(1), mb(&[&id, b"", b"GHI"])).unwrap();
    assert_eq!(req.recv(), Ok(m(&["GHI"])));

    // The next request has the next id.
    req.send(m(&["x"])).unwrap();
    let request = next_msg(&mut req, 1).unwrap();
    let n2 = u32::from_ne_bytes(request.frames()[0][..].try_into().unwrap());
    assert_eq!(n2, n.wrapping_add(1));
}

/// test_req_relaxed case 4 (issue #1695): two requests pile up on one pipe before
/// the peer is there; the peer bounces both; only the reply to the last request
/// is delivered.
#[test]
fn req_relaxed_correlate_discards_piled_up_replies() {
    let o = opts(|o| {
        o.req_relaxed = true;
        o.req_correlate = true;
    });
    let mut req = with_pipes(SocketType::Req, o, SocketType::Router, 1);
    req.send(m(&["TO_BE_DISCARDED"])).unwrap();
    req.send(m(&["TO_BE_ANSWERED"])).unwrap();
    for request in drain_msgs(&mut req, 1) {
        req.handle_message(p(1), request).unwrap();
    }
    assert_eq!(req.recv(), Ok(m(&["TO_BE_ANSWERED"])));
    assert_eq!(req.recv(), Err(RecvError::InvalidState));
}

// ---------------------------------------------------------------------------
// REP (test_spec_rep)

/// test_spec_rep envelope: DEALER sends ["X","Y","","A"]; the REP application
/// sees "A"; the reply carries the whole envelope back to the same pipe.
#[test]
fn rep_keeps_envelope_and_replies_to_origin_pipe() {
    let mut rep = with_pipes(SocketType::Rep, Options::default(), SocketType::Dealer, 3);
    rep.handle_message(p(2), m(&["X", "Y", "", "A"])).unwrap();
    rep.handle_message(p(3), m(&["", "other"])).unwrap();
    assert_eq!(rep.recv(), Ok(m(&["A"])));
    rep.send(m(&["A-reply", "more"])).unwrap();
    assert_eq!(
        drain_msgs(&mut rep, 2),
        vec![m(&["X", "Y", "", "A-reply", "more"])]
    );
    assert!(!rep.has_outbound(p(1)));
    assert!(!rep.has_outbound(p(3)));

    // The plain REQ envelope [""] works the same way.
    assert_eq!(rep.recv(), Ok(m(&["other"])));
    rep.send(m(&["B"])).unwrap();
    assert_eq!(drain_msgs(&mut rep, 3), vec![m(&["", "B"])]);
}

/// Only the frames up to and including the FIRST empty frame are the envelope:
/// later empty frames are body.
#[test]
fn rep_envelope_ends_at_first_empty_frame() {
    let mut rep = with_pipes(SocketType::Rep, Options::default(), SocketType::Dealer, 1);
    rep.handle_message(p(1), m(&["id", "", "", "body"]))
        .unwrap();
    assert_eq!(rep.recv(), Ok(m(&["", "body"])));
    rep.send(m(&["r"])).unwrap();
    assert_eq!(next_msg(&mut rep, 1), Some(m(&["id", "", "r"])));
}

/// A request with no empty delimiter, or with nothing after it, is dropped
/// silently (rep.cpp rolls the envelope back); the next valid one is delivered.
#[test]
fn rep_drops_requests_without_delimiter() {
    let mut rep = with_pipes(SocketType::Rep, Options::default(), SocketType::Dealer, 1);
    rep.handle_message(p(1), m(&["A"])).unwrap();
    rep.handle_message(p(1), m(&["X", "Y"])).unwrap();
    rep.handle_message(p(1), m(&["X", ""])).unwrap();
    rep.handle_message(p(1), m(&["X", "", "ok"])).unwrap();
    assert_eq!(rep.recv(), Ok(m(&["ok"])));
    rep.send(m(&["r"])).unwrap();
    assert_eq!(drain_msgs(&mut rep, 1), vec![m(&["X", "", "r"])]);
    assert_eq!(rep.recv(), Err(RecvError::WouldBlock));
}

/// Strict alternation: send before a request and a second recv before the reply
/// are EFSM.
#[test]
fn rep_strict_alternation_gives_invalid_state() {
    let mut rep = with_pipes(SocketType::Rep, Options::default(), SocketType::Req, 1);
    assert!(!rep.can_send());
    assert_eq!(rep.send(m(&["r"])), Err(SendError::InvalidState(m(&["r"]))));
    assert_eq!(rep.recv(), Err(RecvError::WouldBlock));
    rep.handle_message(p(1), m(&["", "q1"])).unwrap();
    rep.handle_message(p(1), m(&["", "q2"])).unwrap();
    assert_eq!(rep.recv(), Ok(m(&["q1"])));
    assert!(!rep.can_recv());
    assert_eq!(rep.recv(), Err(RecvError::InvalidState));
    assert!(rep.can_send());
    rep.send(m(&["r1"])).unwrap();
    assert_eq!(rep.send(m(&["r"])), Err(SendError::InvalidState(m(&["r"]))));
    assert_eq!(rep.recv(), Ok(m(&["q2"])));
}

/// test_spec_rep fair_queue_in: 5 REQs each with a request; the REP serves them
/// in turn, and each reply goes back to its own REQ.
#[test]
fn rep_fair_queues_requests_and_answers_each_peer() {
    let mut rep = with_pipes(SocketType::Rep, Options::default(), SocketType::Req, 5);
    for pipe in 1..=5u64 {
        for k in 0..2 {
            rep.handle_message(
                p(pipe),
                Msg::from_iter(["".to_string(), format!("{pipe}.{k}")]),
            )
            .unwrap();
        }
    }
    for k in 0..2 {
        for pipe in 1..=5u64 {
            assert_eq!(rep.recv(), Ok(Msg::single(format!("{pipe}.{k}"))));
            rep.send(Msg::single(format!("re {pipe}.{k}"))).unwrap();
        }
    }
    for pipe in 1..=5u64 {
        let got = drain_msgs(&mut rep, pipe);
        let expected: Vec<Msg> = (0..2)
            .map(|k| Msg::from_iter(["".to_string(), format!("re {pipe}.{k}")]))
            .collect();
        assert_eq!(got, expected);
    }
}

/// A reply to a peer that has gone is dropped, and the REP is ready for the next
/// request.
#[test]
fn rep_drops_reply_when_origin_pipe_is_gone() {
    let mut rep = with_pipes(SocketType::Rep, Options::default(), SocketType::Req, 2);
    rep.handle_message(p(1), m(&["", "q"])).unwrap();
    assert_eq!(rep.recv(), Ok(m(&["q"])));
    rep.detach(p(1));
    assert_eq!(rep.send(m(&["r"])), Ok(()));
    assert!(!rep.has_outbound(p(2)));
    rep.handle_message(p(2), m(&["", "q2"])).unwrap();
    assert_eq!(rep.recv(), Ok(m(&["q2"])));
    rep.send(m(&["r2"])).unwrap();
    assert_eq!(next_msg(&mut rep, 2), Some(m(&["", "r2"])));
}
