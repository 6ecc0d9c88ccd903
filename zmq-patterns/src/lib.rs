//! # zmq-patterns
//!
//! ZeroMQ socket semantics with no I/O: REQ, REP, DEALER, ROUTER, PUB, SUB, XPUB,
//! XSUB, PUSH, PULL, PAIR and STREAM over abstract pipes. A [`Pattern`] holds one pipe per
//! peer, identified by a [`PipeId`] the caller chooses; the caller attaches and
//! detaches pipes, offers what arrives, writes what comes out, and calls
//! `send`/`recv` for the application. No async, no threads, no clock reads.
//!
//! Messages are whole [`Msg`](zmtp_core::Msg)s, so multipart messages are atomic
//! through every type. High-water marks count whole messages per pipe, as libzmq
//! does; drops happen only where ZeroMQ drops (PUB at the HWM, unroutable ROUTER
//! messages without ROUTER_MANDATORY).
//!
//! ```
//! use zmq_patterns::{PipeItem, PeerMeta, PipeId, Pattern};
//! use zmtp_core::{Msg, SocketType};
//!
//! let mut push = Pattern::new(SocketType::Push);
//! push.attach(PipeId(1), PeerMeta::new(Some(SocketType::Pull), "")).unwrap();
//! push.attach(PipeId(2), PeerMeta::new(Some(SocketType::Pull), "")).unwrap();
//! push.send(Msg::from("a")).unwrap();
//! push.send(Msg::from("b")).unwrap();
//! // Round-robin: one message per pipe.
//! assert_eq!(push.poll_outbound(PipeId(1)), Some(PipeItem::Message(Msg::from("a"))));
//! assert_eq!(push.poll_outbound(PipeId(2)), Some(PipeItem::Message(Msg::from("b"))));
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod engine;
mod error;
pub mod idmap;
mod options;
mod pattern;
mod pipe;
mod pubsub;
mod queue;
mod queued;
mod reqrep;
mod router;
mod stream;
mod subscriptions;

pub use crate::error::{AttachError, RecvError, SendError, SendRefusal};
pub use crate::idmap::IdMap;
pub use crate::options::{Options, RouterNotify};
pub use crate::pattern::{Direct, Pattern};
pub use crate::pipe::{ItemSource, PeerMeta, PipeAction, PipeId, PipeItem};
pub use crate::queued::Queued;
pub use crate::subscriptions::Subscriptions;
