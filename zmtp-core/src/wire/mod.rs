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

use thiserror::Error;

/// Malformed bytes from the peer. Small and `Copy`, so it can travel anywhere.
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
pub enum WireError {
    /// The first ten bytes are not a ZMTP 3.x signature (a ZMTP 1.0/2.0 peer or not
    /// ZeroMQ at all).
    #[error("peer is not speaking ZMTP 3.x (bad signature)")]
    NotZmtp,
    /// The peer's major version is below 3 (ZMTP 1.0 and 2.0 are not supported).
    #[error("peer speaks ZMTP major version {0}; only 3.x is supported")]
    UnsupportedVersion(u8),
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
