//! # Design manual (documentation only)
//!
//! ## Specifications implemented
//! - ZMTP 3.0 (RFC 23) and 3.1 (RFC 37): greeting, framing, commands, READY
//!   metadata, ERROR, SUBSCRIBE/CANCEL, PING/PONG. ZMTP 1.0 and 2.0 peers are
//!   refused after the signature bytes.
//! - NULL (RFC 23/37), PLAIN (RFC 24), CURVE (RFC 25, CurveZMQ RFC 26).
//! - Z85 (RFC 32) for keys.
//! - ZAP (RFC 27) is served by the owner: servers emit
//!   [`Event::AuthRequest`](crate::Event::AuthRequest) and wait for
//!   [`Connection::auth_reply`](crate::Connection::auth_reply).
//!
//! ## Where we follow libzmq rather than the RFC text
//! - The peer's as-server greeting byte is never read (libzmq always sends 0);
//!   roles come from [`MechanismConfig`](crate::MechanismConfig).
//! - Our whole greeting is queued at once; the peer's is accepted in any split.
//! - NULL: both sides send READY at once (RFC 37 says client first).
//! - READY without `Socket-Type` is accepted; names compare case-insensitively,
//!   emitted names use libzmq's exact casing; REQ, DEALER and ROUTER always send
//!   `Identity`, even empty.
//! - Unknown commands after the handshake are ignored; during it they are fatal.
//! - CURVE: HELLO has 72 bytes of padding (RFC prose says 70); MESSAGE nonces use
//!   `CurveZMQMESSAGEC`/`S`; MESSAGE travels in a *data* frame and its inner flags
//!   byte carries MORE (0x01) and COMMAND (0x02), so PING/PONG and subscriptions are
//!   encrypted too. Any outer flags are accepted on receive.
//! - A PLAIN client also recognises libzmq's malformed ERROR (`5E "RROR"`); we always
//!   send the correct form.
//! - Authentication denial: status 400/500 sends ERROR with the code as reason;
//!   300 closes silently.
//! - PING TTL we send is capped at 655 deciseconds (libzmq #4226 overflows above).
//! - SUBSCRIBE/CANCEL arriving at a non-publisher socket are ignored (libzmq leaks
//!   them to the application as data).
//!
//! ## Buffers
//! - Input: the caller owns one `BytesMut` per connection and only appends to it;
//!   [`Connection::handle_input`](crate::Connection::handle_input) splits whole
//!   frames off the front, so payloads are zero-copy slices. CURVE decrypts in place
//!   in the split-off part.
//! - Output: frames up to 8 KiB are coalesced into one batch buffer; larger bodies
//!   are queued by reference. `poll_transmit` yields chunks in order for a vectored
//!   write.
//!
//! ## Limits
//! - MAXMSGSIZE ([`Config::with_max_msg_size`](crate::Config::with_max_msg_size)) is
//!   checked per frame, as libzmq does, on the header, before any allocation.
//!   Without it, frames up to `isize::MAX` are accepted, but the receive buffer only
//!   grows as bytes arrive (at most doubling, plus 64 KiB).
//! - Metadata lengths are checked against the bytes present; CURVE INITIATE
//!   metadata has no fixed-size buffer (libzmq CVE-2019-13132).
//! - Before the handshake completes, frames are also held to 1 MiB, whatever
//!   MAXMSGSIZE says: an unauthenticated peer cannot make us buffer more.
//! - Metadata lists hold at most 1,024 properties.
//! - A received message has at most 65,536 frames by default
//!   ([`Config::with_max_frames`](crate::Config::with_max_frames)); libzmq has no
//!   such cap, but without one a never-ending multipart message grows until memory
//!   runs out.
//! - PINGs are answered only while less than 64 KiB of output is queued, so a
//!   peer that sends PINGs and never reads cannot grow our output (libzmq keeps
//!   one pending PONG).
//! - CURVE refuses peer keys of small order (an all-zero shared secret), as
//!   libsodium does; otherwise anyone could compute the box keys.
//! - Text from the peer kept in errors (ERROR reasons, socket-type names) is cut
//!   to 255 and 32 bytes.
//!
//! Left to the owner: received payloads are slices of the receive buffer, so an
//! application that holds many small messages read one per `read` keeps each
//! buffer alive; runtimes size their reads with that in mind.
