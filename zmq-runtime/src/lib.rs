//! # zmq-runtime
//!
//! The runtime-neutral half of the runtime adapters (`runtime-tokio`,
//! `runtime-smol`, `runtime-blocking`): a socket's sans-IO
//! [`Engine`](zmq_patterns::engine::Engine) behind a lock, the wake-ups between
//! the application and the I/O tasks, inproc links, the ZAP handler bridge,
//! the monitor stream, the poller and the proxy. No I/O runtime: an adapter
//! provides accept, connect, a timer and a byte pump, through [`Runtime`] (or,
//! for async runtimes, the smaller [`AsyncIo`]).
//!
//! Applications use it through an adapter crate, whose `Socket` is this
//! crate's [`Socket`] on that runtime. Most of the API is the same everywhere:
//!
//! ```
//! use zmq_runtime::{Events, PollItem, Socket, SocketType};
//! # use zmq_runtime::{Error, Runtime, RuntimeKind};
//! # use std::sync::Arc;
//! # /// inproc needs no I/O, so a runtime that refuses all I/O will do here.
//! # struct NoIo;
//! # impl Runtime for NoIo {
//! #     fn now(&self) -> std::time::Instant { std::time::Instant::now() }
//! #     fn listen(&self, _: &zmq_runtime::Core, _: zmq_runtime::ListenerId, _: zmq_runtime::StdListener)
//! #         -> std::io::Result<Box<dyn Send>> { Err(std::io::ErrorKind::Unsupported.into()) }
//! #     fn connect(&self, _: &zmq_runtime::Core, _: zmq_runtime::ConnectorId, _: zmq_runtime::Endpoint)
//! #         -> std::io::Result<()> { Err(std::io::ErrorKind::Unsupported.into()) }
//! #     fn start_timer(&self, _: &zmq_runtime::Core) {}
//! # }
//! # struct Inproc;
//! # impl RuntimeKind for Inproc {
//! #     type Socket = Socket<Inproc>;
//! #     fn runtime() -> Result<Arc<dyn Runtime>, Error> { Ok(Arc::new(NoIo)) }
//! # }
//! let rep = Socket::<Inproc>::new(SocketType::Rep)?;
//! rep.bind("inproc://doc-example")?;
//! let req = Socket::<Inproc>::new(SocketType::Req)?;
//! req.connect("inproc://doc-example")?;
//!
//! req.send_blocking("ping", None)?;
//! let mut items = [PollItem::new(&rep, Events::IN)];
//! assert_eq!(zmq_runtime::poll(&mut items, None), 1);
//! assert_eq!(&rep.try_recv()?.frames()[0][..], b"ping");
//! rep.try_send("pong")?;
//! assert_eq!(&req.recv_blocking(None)?.frames()[0][..], b"pong");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## How it is put together
//!
//! Every call locks the engine, runs, and drains the engine's actions before
//! unlocking: bytes to write raise the stream's [`Signal`], which the stream's
//! pump (one task per stream, or two threads) is waiting on; a bind binds at
//! once, so its error comes back from `bind`; a connect is handed to the
//! runtime. Waiters (a `recv` with nothing to read, a `send` at the HWM) are
//! counted, and the engine side checks readiness only when somebody waits.
//! Work that involves a second socket (an inproc pump, a ZAP request) runs
//! after the lock is released; the only place that holds two socket locks
//! takes them in a fixed order.
//!
//! ## Where a message goes
//!
//! [`Socket::send`] (`socket.rs`) gives the message to the socket's engine,
//! which the core keeps behind its lock (`core/mod.rs`) and which encodes it
//! for a peer's stream. The stream's driver (`core/stream.rs`, [`StreamCtl`])
//! hands the bytes to the runtime's pump (`asyncio/pump.rs` on async
//! runtimes, a writer thread in `runtime-blocking`), which writes them with
//! [`StdStream`] (`net.rs`). Received bytes go back the same way. Inproc
//! peers have no stream: `core/inproc.rs` moves messages between two engines.
//!
//! ## Lifecycle events and logs
//!
//! The engine reports every listener and connection change (listening,
//! accepted, connected, handshake succeeded or failed, disconnected,
//! reconnect scheduled, closed). After each call the core drains them
//! (`core/events.rs`): each is logged through `tracing` (`trace.rs`; targets
//! under `zmq_runtime`, nothing formatted without a subscriber) and copied
//! to every [`Monitor`]'s queue. The engine also remembers which connected
//! endpoints refused the socket ([`Socket::refusals`]); once all did and
//! nothing is bound, `send` and `recv` fail with [`Error::Refused`].

#![deny(missing_docs)]

mod asyncio;
mod builder;
pub mod cert;
mod core;
mod error;
mod ipc_dir;
mod ipc_peer;
mod limits;
mod local;
mod monitor;
mod net;
mod options;
mod poll;
pub mod proxy;
mod queued;
mod routing;
mod signal;
mod socket;
mod tcp;
mod trace;

pub use crate::asyncio::{
    consume, Async, AsyncIo, BacklogWriter, Fd, PUMP_READ_BUDGET, PUMP_SPIN, WRITE_COALESCE,
};
pub use crate::builder::{Builder, RuntimeKind};
pub use crate::core::{
    io_slices, Backlog, Core, DirectRead, DirectWrite, ReadStep, Refusal, Runtime, StreamCtl,
    WriteStep, MAX_IOV,
};
pub use crate::error::Error;
pub use crate::monitor::{Monitor, MonitorEvent, Peer};
pub use crate::net::{
    configure_tcp, connect_blocking, connect_ipc, peer_address, start_connect_ipc,
    start_connect_tcp, ReadBuf, StdListener, StdStream, TcpOptions,
};
pub use crate::poll::{poll, poll_async, Events, PollItem, Pollable};
pub use crate::signal::{bits, block_on_thread, Signal, SignalWait, Waiting};
pub use crate::socket::{msg, AsEndpoint, RecvStream, SendFuture, SendSink, Socket};

pub use zmq_patterns::engine::{
    AllowList, Authenticator, ConnectorId, Endpoint, EndpointError, Host, IpcAddr, ListenerId,
    ZAP_ENDPOINT,
};
pub use zmq_patterns::{Queued, RecvError, RouterNotify, SendError};
pub use zmtp_core::{
    AuthReply, AuthRequest, ConnectionError, Credentials, IntoFrame, KeyPair, MechanismConfig,
    Metadata, Msg, OsRandom, Properties, PublicKey, SecretKey, SocketType,
};
