//! # zmq-patterns (not yet implemented)
//!
//! This crate will hold ZeroMQ socket semantics (REQ, REP, DEALER, ROUTER, PUB,
//! SUB, XPUB, XSUB, PUSH, PULL, PAIR) over abstract pipes, and the sans-IO engine
//! that joins them to `zmtp-core` connections. It is empty on purpose: nothing here
//! pretends to work yet.
//!
//! ```
//! // Nothing to run yet; the crate compiles so the workspace layout is fixed.
//! ```

#![forbid(unsafe_code)]
