//! XPUB_MANUAL and XPUB_WELCOME_MSG (libzmq's test_xpub_manual and
//! test_xpub_welcome_msg, sans I/O).

use bytes::Bytes;
use zmq_patterns::{Options, Pattern, PeerMeta, PipeId, PipeItem};
use zmtp_core::{Msg, SocketType};

fn xpub(opts: Options) -> Pattern {
    let mut s = Pattern::with_options(SocketType::XPub, opts);
    for i in 1..=2 {
        s.attach(PipeId(i), PeerMeta::new(Some(SocketType::Sub), ""))
            .unwrap();
    }
    s
}

fn outbound(s: &mut Pattern, pipe: u64) -> Vec<PipeItem> {
    std::iter::from_fn(|| s.poll_outbound(PipeId(pipe))).collect()
}

#[test]
fn xpub_manual_applies_only_what_the_application_chooses() {
    let mut opts = Options::default();
    opts.xpub_manual = true;
    let mut s = xpub(opts);
    s.handle_subscribe(PipeId(1), Bytes::from_static(b"A"));
    s.handle_subscribe(PipeId(2), Bytes::from_static(b"A"));
    // Every subscription is passed on, duplicates included, and nothing applies.
    assert_eq!(s.recv().unwrap(), Msg::from(&b"\x01A"[..]));
    s.send(Msg::from("A1")).unwrap();
    assert!(outbound(&mut s, 1).is_empty());
    // The application subscribes the second peer to "B" instead.
    assert_eq!(s.recv().unwrap(), Msg::from(&b"\x01A"[..]));
    s.xpub_manual_subscribe(b"B");
    s.send(Msg::from("A2")).unwrap();
    s.send(Msg::from("B1")).unwrap();
    assert!(outbound(&mut s, 1).is_empty());
    assert_eq!(
        outbound(&mut s, 2),
        vec![PipeItem::Message(Msg::from("B1"))]
    );
    // Cancels are passed on too; unsubscribing is the application's call.
    s.handle_cancel(PipeId(2), Bytes::from_static(b"A"));
    assert_eq!(s.recv().unwrap(), Msg::from(&b"\x00A"[..]));
    s.xpub_manual_unsubscribe(b"B");
    s.send(Msg::from("B2")).unwrap();
    assert!(outbound(&mut s, 2).is_empty());
}

#[test]
fn xpub_welcome_message_goes_to_every_new_subscriber() {
    let mut opts = Options::default();
    opts.xpub_welcome_msg = Some(Msg::from("W"));
    let mut s = xpub(opts);
    for pipe in 1..=2 {
        assert_eq!(
            outbound(&mut s, pipe),
            vec![PipeItem::Message(Msg::from("W"))]
        );
    }
    // The welcome is not a publication: later messages still need a subscription.
    s.send(Msg::from("W2")).unwrap();
    assert!(outbound(&mut s, 1).is_empty());
}
