//! # runtime-smol (not yet implemented)
//!
//! This crate will adapt the sans-IO engine of `zmq-patterns` to smol: it will own
//! the OS sockets, tasks or threads, timers and wake-ups, and nothing else. It is
//! empty on purpose: nothing here pretends to work yet.
//!
//! There is no example yet because there is nothing to run.
