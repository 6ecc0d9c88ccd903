//! # zmtp-core
//!
//! The ZeroMQ Message Transport Protocol (ZMTP 3.0 and 3.1) as a pure state
//! machine: no sockets, no async, no threads, no clock reads. Bytes and time go in;
//! bytes to write, events and deadlines come out. It speaks to libzmq, pyzmq,
//! JeroMQ and any other ZMTP 3.x peer, with the NULL, PLAIN and CURVE security
//! mechanisms, and, as libzmq does, downgrades to ZMTP/2.0 and 1.0 peers (NULL
//! only; see [`Protocol`]).
//!
//! ```text
//!              +-------------------------------------------+
//!   bytes in ->| handle_input(now, &mut BytesMut)          |-> poll_event(): Message,
//!              |                                           |   Subscribe, AuthRequest..
//!  bytes out <-| poll_transmit() -> Bytes chunks           |<- send(Msg), auth_reply()
//!              +-------------------------------------------+
//!                 time: handle_timeout(now) / poll_timeout()
//! ```
//!
//! **After any `handle_*` call or command, call `poll_transmit` until `None`, then
//! `poll_event` until `None`, then re-arm a timer from `poll_timeout`. Instants must
//! not go backwards. Fatal errors are sticky: every later call returns the same
//! [`ConnectionError`].**
//!
//! ## Example: two connections wired back to back
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Instant;
//! use bytes::BytesMut;
//! use zmtp_core::{Config, Connection, Event, Msg, SocketType};
//!
//! let now = Instant::now();
//! let mut push = Connection::new(Arc::new(Config::new(SocketType::Push)), now);
//! let mut pull = Connection::new(Arc::new(Config::new(SocketType::Pull)), now);
//! let (mut to_pull, mut to_push) = (BytesMut::new(), BytesMut::new());
//! let (mut sent, mut received) = (false, false);
//! // The greeting is staged (signature, major version, rest): a few rounds.
//! for _ in 0..6 {
//!     while let Some(chunk) = push.poll_transmit() { to_pull.extend_from_slice(&chunk); }
//!     while let Some(chunk) = pull.poll_transmit() { to_push.extend_from_slice(&chunk); }
//!     push.handle_input(now, &mut to_push).unwrap();
//!     pull.handle_input(now, &mut to_pull).unwrap();
//!     if push.is_active() && !sent {
//!         push.send(Msg::from("hello")).unwrap();
//!         sent = true;
//!     }
//!     while let Some(ev) = pull.poll_event() {
//!         if let Event::Message(m) = ev {
//!             assert_eq!(&m.frames()[0][..], b"hello");
//!             received = true;
//!         }
//!     }
//! }
//! assert!(received);
//! ```
//!
//! ## A run loop over a socket
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use std::sync::Arc;
//! use std::time::Instant;
//! use bytes::BytesMut;
//! use zmtp_core::{Config, Connection, Event, Msg, SocketType};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut stream = std::net::TcpStream::connect("127.0.0.1:5555")?;
//! let mut conn = Connection::new(Arc::new(Config::new(SocketType::Dealer)), Instant::now());
//! let mut rbuf = BytesMut::with_capacity(64 * 1024);
//! loop {
//!     while let Some(chunk) = conn.poll_transmit() {
//!         stream.write_all(&chunk)?;
//!     }
//!     while let Some(event) = conn.poll_event() {
//!         match event {
//!             Event::HandshakeSucceeded => conn.send(Msg::from("hi"))?,
//!             Event::Message(msg) => println!("{:?}", msg.frames()),
//!             _ => {}
//!         }
//!     }
//!     if let Some(deadline) = conn.poll_timeout() {
//!         let wait = deadline.saturating_duration_since(Instant::now());
//!         stream.set_read_timeout(Some(wait.max(std::time::Duration::from_millis(1))))?;
//!     }
//!     let mut tmp = [0u8; 65536];
//!     match stream.read(&mut tmp) {
//!         Ok(0) => { conn.handle_eof(Instant::now())?; }
//!         Ok(n) => { rbuf.extend_from_slice(&tmp[..n]); conn.handle_input(Instant::now(), &mut rbuf)?; }
//!         Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
//!             || e.kind() == std::io::ErrorKind::TimedOut => conn.handle_timeout(Instant::now())?,
//!         Err(e) => return Err(e.into()),
//!     }
//! }
//! # }
//! ```
//!
//! ## Panics, errors and allocation
//!
//! Nothing a peer sends can make this crate panic: every malformed input becomes a
//! typed [`ConnectionError`] and the connection ends. Frame sizes are checked against
//! MAXMSGSIZE before any memory is reserved, and the receive buffer grows only as
//! fast as bytes actually arrive, so a peer announcing a 2^63-byte frame costs
//! nothing. Caller mistakes are [`ApiMisuse`] / [`SendError`], kept apart from peer
//! misbehaviour.
//!
//! See [`manual`] for the specs implemented and where we follow libzmq over the RFC
//! text.

#![forbid(unsafe_code)]
#![cfg_attr(not(fuzzing), deny(missing_docs))]

pub mod cert;
mod config;
mod connection;
mod error;
mod event;
mod keys;
pub mod manual;
mod mechanism;
mod message;
pub mod properties;
mod protocol;
mod random;
mod send_buf;
mod socket_type;
pub mod wire;
pub mod z85;

pub use crate::config::{Config, ConfigError, MechanismConfig, FRAME_COST};
pub use crate::connection::{Connection, Phase};
pub use crate::error::{ApiMisuse, CommandName, ConnectionError, SendError};
pub use crate::event::{AuthId, AuthReply, AuthRequest, Credentials, Event, PeerInfo};
pub use crate::keys::{KeyPair, PublicKey, SecretKey};
pub use crate::message::{IntoFrame, Msg};
pub use crate::properties::Properties;
pub use crate::protocol::Protocol;
pub use crate::random::{OsRandom, Random};
pub use crate::socket_type::SocketType;
pub use crate::wire::greeting::MechanismName;
pub use crate::wire::metadata::Metadata;
pub use crate::wire::WireError;
