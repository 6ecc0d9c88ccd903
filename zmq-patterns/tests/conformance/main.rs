//! Deterministic conformance tests for the socket patterns, sans-IO.
//!
//! Each test is named after the behaviour it checks. Most reproduce a scenario
//! of libzmq's own test suite (named in the test's comment) with the peer side
//! simulated by hand: what a peer would send is offered with `handle_message` /
//! `handle_subscribe`, and what the socket would write is taken with
//! `poll_outbound`. The expected behaviour is libzmq 4.3's, as summarised in
//! `shared/spec/zmtp-checklist.md` sections 4 and 6.

use bytes::Bytes;
use zmq_patterns::{
    AttachError, Options, Pattern, PeerMeta, PipeAction, PipeId, PipeItem, RecvError, SendError,
};
use zmtp_core::{Msg, SocketType};

mod conflate;
mod hwm;
mod pair;
mod pipes;
mod pubsub;
mod pushpull;
mod reqrep;
mod router_dealer;

// ---------------------------------------------------------------------------
// helpers

/// A message with these frames.
fn m(frames: &[&'static str]) -> Msg {
    frames
        .iter()
        .map(|f| Bytes::from_static(f.as_bytes()))
        .collect()
}

/// A message whose frames are raw bytes.
fn mb(frames: &[&[u8]]) -> Msg {
    frames.iter().map(|f| Bytes::copy_from_slice(f)).collect()
}

fn p(n: u64) -> PipeId {
    PipeId(n)
}

fn anon(t: SocketType) -> PeerMeta {
    PeerMeta::new(Some(t), Bytes::new())
}

fn named(t: SocketType, id: &'static str) -> PeerMeta {
    PeerMeta::new(Some(t), Bytes::from_static(id.as_bytes()))
}

fn opts(f: impl FnOnce(&mut Options)) -> Options {
    let mut o = Options::default();
    f(&mut o);
    o
}

/// A socket of type `t` with pipes `1..=n` to anonymous peers of type `peer`.
fn with_pipes(t: SocketType, o: Options, peer: SocketType, n: u64) -> Pattern {
    let mut s = Pattern::with_options(t, o);
    for i in 1..=n {
        s.attach(p(i), anon(peer)).unwrap();
    }
    s
}

/// The next whole message queued towards `pipe`, skipping nothing: anything
/// other than a message is a test failure.
fn next_msg(s: &mut Pattern, pipe: u64) -> Option<Msg> {
    match s.poll_outbound(p(pipe)) {
        None => None,
        Some(PipeItem::Message(msg)) => Some(msg),
        Some(other) => panic!("expected a message on pipe {pipe}, got {other:?}"),
    }
}

/// Everything queued towards `pipe`.
fn drain(s: &mut Pattern, pipe: u64) -> Vec<PipeItem> {
    std::iter::from_fn(|| s.poll_outbound(p(pipe))).collect()
}

/// Every message queued towards `pipe`.
fn drain_msgs(s: &mut Pattern, pipe: u64) -> Vec<Msg> {
    std::iter::from_fn(|| next_msg(s, pipe)).collect()
}

fn recv_all(s: &mut Pattern) -> Vec<Msg> {
    std::iter::from_fn(|| s.recv().ok()).collect()
}

fn sub(topic: &'static str) -> PipeItem {
    PipeItem::Subscribe(Bytes::from_static(topic.as_bytes()))
}

fn cancel(topic: &'static str) -> PipeItem {
    PipeItem::Cancel(Bytes::from_static(topic.as_bytes()))
}

fn topic(t: &'static str) -> Bytes {
    Bytes::from_static(t.as_bytes())
}

/// An XPUB notification: `0x01 topic` or `0x00 topic`.
fn note(kind: u8, t: &str) -> Msg {
    let mut v = vec![kind];
    v.extend_from_slice(t.as_bytes());
    Msg::single(v)
}
