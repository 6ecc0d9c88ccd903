//! PAIR: one peer only.

use super::*;

// ---------------------------------------------------------------------------
// PAIR

/// PAIR keeps exactly one peer; another is refused while the first exists, and
/// accepted once it has gone.
#[test]
fn pair_refuses_second_peer() {
    let mut pair = Pattern::new(SocketType::Pair);
    pair.attach(p(1), anon(SocketType::Pair)).unwrap();
    assert_eq!(
        pair.attach(p(2), anon(SocketType::Pair)),
        Err(AttachError::PairTaken)
    );
    assert_eq!(pair.pipe_count(), 1);
    pair.send(m(&["x", "y"])).unwrap();
    assert_eq!(next_msg(&mut pair, 1), Some(m(&["x", "y"])));
    pair.handle_message(p(1), m(&["back"])).unwrap();
    assert_eq!(pair.recv(), Ok(m(&["back"])));
    pair.detach(p(1));
    pair.attach(p(2), anon(SocketType::Pair)).unwrap();
    pair.send(m(&["z"])).unwrap();
    assert_eq!(next_msg(&mut pair, 2), Some(m(&["z"])));
}
