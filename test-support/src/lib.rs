//! The workspace's test support, one home for what several crates' tests
//! share (`publish = false`: it exists for the tests alone).
//!
//! The libzmq peer: `peers/zmq_peer.py`, a pyzmq (libzmq 4.3.5) process
//! driven by one-line commands, and `peers/perf_peer.py`, libzmq's perf
//! tools. [`python`] spawns them (the one place a test starts `python3`);
//! [`peer`] drives the many-socket peer for the runtime suite and the `zmq`
//! binary's tests; zmtp-core's and zmq-patterns' byte-level tests drive the
//! one-socket peer through [`python::PeerProcess`]. [`old_peer`] drives
//! `peers/old_peer.py`, a raw ZMTP/2.0 or ZMTP/1.0 peer (libzmq 3.x and 2.x
//! on the wire), for the downgrade tests. pyzmq is installed by
//! `scripts/test.sh`; a missing peer fails the tests, they never skip.
//!
//! The runtime suite, `suite` (feature `suite`): the tests every runtime crate
//! runs, written once against zmq-runtime. zmtp-core's tests use this crate
//! too, so nothing outside the feature depends on a crate of the workspace.
//!
//! The network tests, `net` (feature `suite`): peers in network namespaces
//! joined by a lossy veth pair and a delaying relay.

#![warn(missing_docs)]

#[cfg(feature = "suite")]
pub mod net;
pub mod old_peer;
pub mod peer;
pub mod python;
#[cfg(feature = "suite")]
pub mod suite;
