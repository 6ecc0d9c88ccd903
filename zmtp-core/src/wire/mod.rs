//! Pure wire types: parse and emit, no state.
//!
//! Guarantees, relied on by the connection and checked by the fuzz targets:
//! - parsing never panics and never allocates more than the bytes it was given;
//! - `Ok(None)` from a streaming parser means "give me more bytes", an `Err` means the
//!   stream is corrupt and the connection must close;
//! - every `emit` writes exactly the bytes its `parse` accepts back.

pub mod command;
pub mod frame;
pub mod greeting;
pub mod metadata;
pub mod v1_frame;

use thiserror::Error;

/// Malformed bytes from the peer. Small and `Copy`, so it can travel anywhere.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum WireError {
    /// The first ten bytes are not a ZMTP 3.x signature. Only
    /// [`Greeting::parse`](greeting::Greeting::parse) says this: a connection
    /// takes such a peer for ZMTP/1.0, as libzmq does.
    #[error("peer is not speaking ZMTP 3.x (bad signature)")]
    NotZmtp,
    /// The greeting's revision byte says ZMTP/1.0 (0) or 2.0 (1). Only
    /// [`Greeting::parse`](greeting::Greeting::parse) says this: a connection
    /// downgrades instead.
    #[error("peer speaks ZMTP revision {0}, not 3.x")]
    UnsupportedVersion(u8),
    /// A ZMTP/1.0 frame whose length is zero, leaving no room for its flags byte.
    #[error("ZMTP/1.0 frame with a zero length")]
    EmptyV1Frame,
    /// A command body that ends before its declared name, or has an empty name.
    #[error("malformed command frame")]
    MalformedCommand,
    /// A command whose fields do not match the grammar of that command.
    #[error("malformed {0} command")]
    MalformedBody(&'static str),
    /// A metadata property list that runs past its end or leaves a stray byte.
    #[error("malformed metadata property list")]
    MalformedMetadata,
}
