//! # Design manual (documentation only)
//!
//! ## Specifications implemented
//! - ZMTP 3.0 (RFC 23) and 3.1 (RFC 37): greeting, framing, commands, READY
//!   metadata, ERROR, SUBSCRIBE/CANCEL, PING/PONG.
//! - ZMTP/2.0 (RFC 15) and 1.0 (RFC 13) peers, as libzmq 4.x serves them: the
//!   greeting is staged so they can be recognised; then each side sends its
//!   identity as its first message, in 2.0 framing (`flags size body`) or 1.0
//!   framing (`length flags body`, the length counting the flags byte). No
//!   commands, no security, no heartbeats; [`PeerInfo::protocol`] says which
//!   generation a peer speaks.
//! - NULL (RFC 23/37), PLAIN (RFC 24), CURVE (RFC 25, CurveZMQ RFC 26).
//! - Z85 (RFC 32) for keys.
//! - ZAP (RFC 27) is served by the owner: servers emit
//!   [`Event::AuthRequest`](crate::Event::AuthRequest) and wait for
//!   [`Connection::auth_reply`](crate::Connection::auth_reply).
//!
//! ## Where we follow libzmq rather than the RFC text
//! - The peer's as-server greeting byte is never read (libzmq always sends 0);
//!   roles come from [`MechanismConfig`](crate::MechanismConfig).
//! - The greeting is staged as libzmq stages it: our 10-byte signature at once,
//!   our major version once the peer's signature is in, and the rest once the
//!   peer's revision byte is in (to a ZMTP/1.0 or 2.0 peer, our socket type
//!   instead). Each stage waits only for what it needs, so it costs a 3.x peer
//!   one round trip and never deadlocks; the peer's greeting is accepted in any
//!   split. Our signature's padding is `len(routing id) + 1`, which makes it the
//!   header of our identity message to a 1.0 peer.
//! - Any first byte but `0xFF`, or a tenth byte with bit 0 clear, means ZMTP/1.0
//!   (libzmq's test); so does revision 0; revision 1 is ZMTP/2.0, and any other
//!   revision (2, 4...) follows 3.1 rules. A stranger (an HTTP client, say) is
//!   therefore read as a 1.0 peer, as libzmq reads it.
//! - A ZMTP/1.0 or 2.0 peer is refused ([`ConnectionError::DowngradeRefused`],
//!   permanent) whenever ZAP is on: a mechanism other than NULL, a ZAP domain, or
//!   NULL authentication (libzmq's `zap_enabled`). We refuse as soon as the
//!   revision is known, without sending our socket type.
//! - The 2.0 socket-type byte is not checked and [`PeerInfo::socket_type`] is
//!   `None` for old peers: libzmq checks types only in 3.x metadata.
//! - The old peer's first frame is its identity whatever its flags say (libzmq's
//!   own signature trick sends it with MORE set). Its length is not capped at
//!   the 255 bytes of a ZMTP/3.x routing id: libzmq 4.3.5 takes a longer one
//!   whole (a ROUTER routes by it), and so do we; the handshake's frame limit
//!   still bounds it. The connection reports
//!   `HandshakeSucceeded` once that identity is in, and HANDSHAKE_IVL runs until
//!   then.
//! - A publisher talking to an unversioned 1.0 peer reports a catch-all
//!   [`Event::Subscribe`](crate::Event::Subscribe) right after the handshake (1.0
//!   subscribers filter on their side); libzmq sets this for unversioned peers
//!   only, and so do we.
//! - Command frames from a 2.0 peer are dropped, as libzmq's session drops them.
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
//! - Message properties ([`Msg::property`](crate::Msg::property), libzmq's
//!   `zmq_msg_gets`) hold what libzmq's stream engine compiles at the end of
//!   the handshake, with its precedence: `Peer-Address` (when the owner gave
//!   one), then the authenticator's `User-Id` and metadata, then the peer's
//!   READY/INITIATE properties as sent; ZMTP/1.0 and 2.0 peers give none.
//!   Where we differ: names match ignoring ASCII case (libzmq matches exactly;
//!   the RFC says case-insensitive), `Routing-Id` also finds the peer's
//!   `Identity` (libzmq only maps `Identity` to `Routing-Id`), and libzmq's
//!   private `__fd` is not offered.
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
//! - MAXMSGSIZE ([`Config::with_max_msg_size`](crate::Config::with_max_msg_size))
//!   bounds the whole message, as libzmq documents it. Each frame is checked on
//!   its header, before any allocation, as libzmq checks it; then the message's
//!   bodies are summed, with [`FRAME_COST`](crate::FRAME_COST) (64 bytes: a
//!   `Bytes` handle and its slot) for each frame after the first, so a flood of
//!   empty frames is refused once its handles would outweigh the limit. A
//!   partial message never holds more than MAXMSGSIZE; the frame that tips it
//!   over (itself within the limit) is dropped with the connection. libzmq's
//!   decoders check frames only, so where libzmq takes a multipart message whose
//!   frames each fit, we refuse it if the whole does not: a single frame is held
//!   exactly as libzmq holds it. Either way the connection ends with
//!   [`ConnectionError::MessageTooLarge`](crate::ConnectionError::MessageTooLarge).
//!   Without MAXMSGSIZE, frames up to `isize::MAX` are accepted, but the receive
//!   buffer only grows as bytes arrive (at most doubling, plus 64 KiB).
//! - Metadata lengths are checked against the bytes present; CURVE INITIATE
//!   metadata has no fixed-size buffer (libzmq CVE-2019-13132).
//! - Before the handshake completes, frames are also held to 1 MiB, whatever
//!   MAXMSGSIZE says: an unauthenticated peer cannot make us buffer more.
//! - ZMTP/1.0 and 2.0 frames go through the same decoder: MAXMSGSIZE (per frame
//!   and per message), the 1 MiB handshake cap (for the identity) and the reserve-as-it-arrives
//!   rule apply to them unchanged. A 1.0 length of zero is refused
//!   ([`WireError::EmptyV1Frame`](crate::WireError::EmptyV1Frame)), as libzmq
//!   refuses it.
//! - Metadata lists hold at most 1,024 properties.
//! - A received message may have any number of frames, as in libzmq: without
//!   MAXMSGSIZE a peer can send unbounded data anyway, and with it the frames are
//!   paid for in bytes (above). [`Config::with_max_frames`](crate::Config::with_max_frames)
//!   sets a count limit for those who want one
//!   ([`ConnectionError::TooManyFrames`](crate::ConnectionError::TooManyFrames)).
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
//!
//! [`PeerInfo::protocol`]: crate::PeerInfo::protocol
//! [`PeerInfo::socket_type`]: crate::PeerInfo::socket_type
//! [`ConnectionError::DowngradeRefused`]: crate::ConnectionError::DowngradeRefused
