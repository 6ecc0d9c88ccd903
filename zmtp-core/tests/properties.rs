//! Message properties over in-memory connection pairs: what each side's
//! messages report about the other, for every mechanism, with and without an
//! authenticator's grant; none for ZMTP/2.0 peers.

// Virtual time starts from one real instant.
#![allow(clippy::disallowed_methods)]

mod common;

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use common::*;
use zmtp_core::wire::greeting::Greeting;
use zmtp_core::{AuthReply, Connection, Event, Metadata, Msg, SocketType};

fn granting(user: &'static str) -> Box<dyn FnMut(&zmtp_core::AuthRequest) -> AuthReply> {
    Box::new(move |_| {
        let mut metadata = Metadata::new();
        metadata.push("Hello", "World");
        // The peer cannot override what the authenticator said.
        metadata.push("X-Client", "from the grant");
        AuthReply::Allow {
            user_id: Bytes::from_static(user.as_bytes()),
            metadata,
        }
    })
}

/// A pair whose server knows its client's address, as a runtime passes it.
fn pair(mech: Mech, auth_null: bool) -> Pair {
    let (c, s) = configs(mech, SocketType::Dealer, SocketType::Router);
    let c = c
        .with_routing_id(&b"client-id"[..])
        .unwrap()
        .with_property("X-Client", "yes")
        .unwrap();
    let s = s
        .with_null_authentication(auth_null)
        .with_property("X-Server", "1")
        .unwrap();
    let mut p = Pair::new(c, s.clone());
    p.server.conn = Connection::with_peer_address(Arc::new(s), "10.1.2.3", p.now);
    p
}

fn one_message(side: &mut Side) -> Msg {
    let mut msgs = side.take_messages();
    assert_eq!(msgs.len(), 1);
    msgs.pop().unwrap()
}

#[test]
fn every_mechanism_reports_address_user_type_routing_id_and_custom_properties() {
    for mech in ALL_MECHS {
        let mut p = pair(mech, mech == Mech::Null);
        p.authenticator = Some(granting("alice"));
        p.drive();
        assert!(p.both_active(), "{mech:?}");
        p.client.conn.send(Msg::from("up")).unwrap();
        p.client.conn.send(Msg::from(("two", "frames"))).unwrap();
        p.server.conn.send(Msg::from("down")).unwrap();
        p.drive();

        let msgs = p.server.take_messages();
        assert_eq!(msgs.len(), 2);
        for m in &msgs {
            assert_eq!(m.property("Peer-Address"), Some("10.1.2.3"), "{mech:?}");
            assert_eq!(m.property("User-Id"), Some("alice"), "{mech:?}");
            assert_eq!(m.property("Hello"), Some("World"));
            assert_eq!(m.property("X-Client"), Some("from the grant"));
            assert_eq!(m.property("Socket-Type"), Some("DEALER"));
            assert_eq!(m.property("socket-type"), Some("DEALER"));
            assert_eq!(m.property("Routing-Id"), Some("client-id"));
            assert_eq!(m.property("Identity"), Some("client-id"));
            assert_eq!(m.property_bytes("Identity"), Some(&b"client-id"[..]));
            assert_eq!(m.property("No Such"), None);
        }
        // One shared set per connection, not a copy per message.
        assert!(Arc::ptr_eq(
            msgs[0].shared_properties().unwrap(),
            msgs[1].shared_properties().unwrap()
        ));
        assert!(Arc::ptr_eq(
            msgs[0].shared_properties().unwrap(),
            p.server.conn.properties().unwrap()
        ));
        let names: Vec<&str> = msgs[0].properties().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "Peer-Address",
                "User-Id",
                "Hello",
                "X-Client",
                "Socket-Type",
                "Identity"
            ],
            "{mech:?}"
        );

        // The client asked no authenticator and was given no address.
        let down = one_message(&mut p.client);
        assert_eq!(down.property("Socket-Type"), Some("ROUTER"), "{mech:?}");
        assert_eq!(down.property("X-Server"), Some("1"));
        assert_eq!(
            down.property("Routing-Id"),
            Some(""),
            "ROUTER sends an empty Identity"
        );
        assert_eq!(down.property("Peer-Address"), None);
        assert_eq!(down.property("User-Id"), None);
    }
}

#[test]
fn without_an_authenticator_there_is_no_user_id_and_an_empty_grant_is_one() {
    let mut p = pair(Mech::Null, false);
    p.drive();
    p.client.conn.send(Msg::from("x")).unwrap();
    p.drive();
    let m = one_message(&mut p.server);
    assert_eq!(m.property("User-Id"), None);
    assert_eq!(m.property("X-Client"), Some("yes"), "the peer's own value");

    let mut p = pair(Mech::Plain, false);
    p.authenticator = Some(Box::new(|_| AuthReply::allow()));
    p.drive();
    p.client.conn.send(Msg::from("x")).unwrap();
    p.drive();
    assert_eq!(one_message(&mut p.server).property("User-Id"), Some(""));
}

#[test]
fn equality_ignores_properties_and_built_messages_have_none() {
    let mut p = pair(Mech::Null, false);
    p.drive();
    p.client.conn.send(Msg::from(("a", "b"))).unwrap();
    p.drive();
    let mut got = one_message(&mut p.server);
    let built = Msg::from(("a", "b"));
    assert_eq!(got, built);
    assert!(built.shared_properties().is_none());
    assert_eq!(built.properties().count(), 0);
    assert_eq!(built.property("Socket-Type"), None);
    // Envelope edits keep them: a ROUTER's routing-id frame, a REQ's delimiter.
    got.push_front("id");
    assert!(got.pop_front().is_some());
    assert_eq!(got.property("Socket-Type"), Some("DEALER"));
    got.clear_properties();
    assert_eq!(got.property("Socket-Type"), None);
}

#[test]
fn zmtp2_peers_give_no_properties_as_in_libzmq() {
    let now = Instant::now();
    let cfg = zmtp_core::Config::new(SocketType::Router);
    let mut c = Connection::with_peer_address(Arc::new(cfg), "10.1.2.3", now);
    let mut peer = Greeting::signature(0).to_vec();
    peer.extend_from_slice(&[1, SocketType::Dealer.number()]);
    peer.extend_from_slice(&[0, 2, b'i', b'd', 0, 1, b'A']);
    let mut buf = BytesMut::from(&peer[..]);
    c.handle_input(now, &mut buf).unwrap();
    let msgs: Vec<Msg> = events(&mut c)
        .into_iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(msgs, vec![Msg::from("A")]);
    assert!(msgs[0].shared_properties().is_none());
}
