//! Message properties: what libzmq's `zmq_msg_gets` reads, the facts about
//! the connection a message arrived on.
//!
//! A connection builds its [`Properties`] once, when its handshake completes,
//! and every message it delivers carries a shared reference to them (one
//! `Arc` clone per message, never a copy).

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;

use crate::wire::metadata::Metadata;

/// Property name of the peer's address: its IP without the port over TCP,
/// `localhost:UID:GID:PID` over IPC (libzmq's `ZMQ_MSG_PROPERTY_PEER_ADDRESS`).
pub const PEER_ADDRESS: &str = "Peer-Address";
/// Property name of the user id an authenticator granted
/// (libzmq's `ZMQ_MSG_PROPERTY_USER_ID`).
pub const USER_ID: &str = "User-Id";
/// Property name of the peer's socket type, as it sent it
/// (libzmq's `ZMQ_MSG_PROPERTY_SOCKET_TYPE`).
pub const SOCKET_TYPE: &str = "Socket-Type";
/// Property name of the peer's routing id (libzmq's
/// `ZMQ_MSG_PROPERTY_ROUTING_ID`). The peer sends it as `Identity`; either
/// name finds it.
pub const ROUTING_ID: &str = "Routing-Id";

/// The properties of one connection, as its messages report them.
///
/// Built as libzmq builds a message's metadata, so the same names hold the
/// same values: [`PEER_ADDRESS`] first (when the transport has an address),
/// then [`USER_ID`] and the metadata an authenticator granted (only on a
/// server that asked one), then every property the peer sent in READY or
/// INITIATE (`Socket-Type`, `Identity`, its application properties). A name
/// that appears twice keeps its first value, so a peer cannot claim a user id
/// or an address of its choosing. Names match ignoring ASCII case (RFC 23;
/// libzmq itself matches exactly), and `Routing-Id` and `Identity` name the
/// same property.
///
/// Messages from inproc peers, from ZMTP/1.0 and 2.0 peers and messages the
/// application builds have none, as in libzmq.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Properties {
    /// In precedence order, names unique (exactly, as libzmq's map keys).
    entries: Vec<(String, Bytes)>,
}

impl Properties {
    /// Compiles the properties of a connection whose handshake completed:
    /// `peer_address` (skipped when empty), the authenticator's grant (user
    /// id and metadata, `None` when no authenticator was asked), and the
    /// peer's own handshake metadata.
    pub(crate) fn compile(
        peer_address: &str,
        granted: Option<(&Bytes, &Metadata)>,
        peer: &Metadata,
    ) -> Self {
        let mut props = Self::default();
        if !peer_address.is_empty() {
            props.insert(
                Cow::Borrowed(PEER_ADDRESS),
                Bytes::copy_from_slice(peer_address.as_bytes()),
            );
        }
        if let Some((user_id, metadata)) = granted {
            props.insert(Cow::Borrowed(USER_ID), user_id.clone());
            props.extend(metadata);
        }
        props.extend(peer);
        props
    }

    fn extend(&mut self, md: &Metadata) {
        for (name, value) in md.iter() {
            self.insert(String::from_utf8_lossy(name), value.clone());
        }
    }

    /// Adds a property unless one of exactly that name is already there.
    fn insert(&mut self, name: Cow<'_, str>, value: Bytes) {
        if !self.entries.iter().any(|(n, _)| *n == name) {
            self.entries.push((name.into_owned(), value));
        }
    }

    /// The value of property `name` as text; `None` when there is no such
    /// property or its value is not UTF-8 (see [`Properties::get_bytes`]).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.get_bytes(name)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The value of property `name` as bytes.
    pub fn get_bytes(&self, name: &str) -> Option<&[u8]> {
        self.find(name).or_else(|| {
            // The deprecated and the current name of one property.
            let alias = if name.eq_ignore_ascii_case(ROUTING_ID) {
                crate::wire::metadata::IDENTITY
            } else if name.eq_ignore_ascii_case(crate::wire::metadata::IDENTITY) {
                ROUTING_ID
            } else {
                return None;
            };
            self.find(alias)
        })
    }

    fn find(&self, name: &str) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| &v[..])
    }

    /// Every property as (name, value), in the precedence order above. A
    /// name that is not UTF-8 on the wire reads with U+FFFD in place of the
    /// bad bytes.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.entries.iter().map(|(n, v)| (n.as_str(), &v[..]))
    }

    /// Number of properties.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// `{"Peer-Address": "127.0.0.1", "Socket-Type": "DEALER"}`; binary values
/// as byte lists.
impl fmt::Debug for Properties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (name, value) in self.iter() {
            match std::str::from_utf8(value) {
                Ok(text) => map.entry(&name, &text),
                Err(_) => map.entry(&name, &value),
            };
        }
        map.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(pairs: &[(&str, &str)]) -> Metadata {
        let mut m = Metadata::new();
        for (n, v) in pairs {
            m.push(n.to_string(), v.to_string());
        }
        m
    }

    #[test]
    fn libzmq_precedence_address_then_grant_then_peer() {
        let peer = md(&[
            ("Socket-Type", "DEALER"),
            ("Identity", "id1"),
            ("User-Id", "mallory"),
            ("Peer-Address", "10.0.0.1"),
            ("X-Foo", "bar"),
        ]);
        let grant = md(&[("Hello", "World"), ("X-Foo", "granted")]);
        let user = Bytes::from_static(b"alice");
        let p = Properties::compile("127.0.0.1", Some((&user, &grant)), &peer);
        assert_eq!(p.get("Peer-Address"), Some("127.0.0.1"));
        assert_eq!(p.get("User-Id"), Some("alice"));
        assert_eq!(p.get("X-Foo"), Some("granted"));
        assert_eq!(p.get("Hello"), Some("World"));
        assert_eq!(p.get("Socket-Type"), Some("DEALER"));
        let names: Vec<&str> = p.iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "Peer-Address",
                "User-Id",
                "Hello",
                "X-Foo",
                "Socket-Type",
                "Identity"
            ]
        );
        assert_eq!(p.len(), 6);
    }

    #[test]
    fn names_ignore_case_and_routing_id_is_identity() {
        let p = Properties::compile("", None, &md(&[("Identity", "id1"), ("x-foo", "bar")]));
        assert_eq!(p.get("X-FOO"), Some("bar"));
        assert_eq!(p.get("Routing-Id"), Some("id1"));
        assert_eq!(p.get("routing-id"), Some("id1"));
        assert_eq!(p.get("identity"), Some("id1"));
        assert_eq!(p.get("Peer-Address"), None, "no address, no property");
        assert_eq!(p.get("User-Id"), None, "no authenticator, no user id");
        assert_eq!(p.get("No Such"), None);
        let q = Properties::compile("", None, &md(&[("Routing-Id", "r")]));
        assert_eq!(q.get("Identity"), Some("r"));
    }

    #[test]
    fn empty_grant_still_names_a_user_id_and_binary_values_read_as_bytes() {
        let mut peer = Metadata::new();
        peer.push(Bytes::from_static(b"Bin"), Bytes::from_static(&[0xff, 0]));
        peer.push(Bytes::from_static(&[b'N', 0xff]), Bytes::from_static(b"v"));
        let p = Properties::compile("", Some((&Bytes::new(), &Metadata::new())), &peer);
        assert_eq!(p.get("User-Id"), Some(""));
        assert_eq!(p.get("Bin"), None);
        assert_eq!(p.get_bytes("Bin"), Some(&[0xff, 0][..]));
        assert_eq!(p.get("N\u{fffd}"), Some("v"));
        assert_eq!(
            format!("{p:?}"),
            r#"{"User-Id": "", "Bin": [255, 0], "N�": "v"}"#
        );
    }
}
