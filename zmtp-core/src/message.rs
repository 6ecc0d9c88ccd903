//! Messages: one or more frames, each a zero-copy [`Bytes`].

use std::fmt;
use std::str::Utf8Error;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use smallvec::SmallVec;

use crate::properties::Properties;

/// The frames of a message, the first two inline.
pub(crate) type Frames = SmallVec<[Bytes; 2]>;

/// A ZeroMQ message: an ordered list of frames, delivered and sent atomically.
///
/// Up to two frames live inline, so the common one- and two-frame messages cost no
/// heap allocation beyond their payloads (which are usually slices of a receive
/// buffer or of the caller's own `Bytes`).
///
/// `Debug` and `Display` show each frame as text when it is printable UTF-8
/// and as `0x` + hex otherwise, so a received message can be printed as is.
///
/// A received message also carries the [`Properties`] of the connection it
/// arrived on (see [`Msg::property`]), shared with every other message of that
/// connection. Equality compares frames only: the same bytes are the same
/// message whoever sent them, and a message echoed back equals the original.
#[derive(Clone, Default)]
pub struct Msg {
    frames: Frames,
    properties: Option<Arc<Properties>>,
}

impl PartialEq for Msg {
    fn eq(&self, other: &Self) -> bool {
        self.frames == other.frames
    }
}

impl Eq for Msg {}

impl Msg {
    /// A message with no frames yet; push at least one before sending it.
    pub fn new() -> Self {
        Self::default()
    }

    /// A one-frame message.
    pub fn single(frame: impl IntoFrame) -> Self {
        // Built in place, not pushed: every send of a one-part message comes
        // here, and `push` checks capacity and spilling first (callgrind,
        // tcp 64 B sender: 1,181 -> 1,095 instructions per message).
        Self {
            frames: Frames::from_buf_and_len([frame.into_frame(), Bytes::new()], 1),
            properties: None,
        }
    }

    /// Appends a frame.
    pub fn push(&mut self, frame: impl IntoFrame) {
        self.frames.push(frame.into_frame());
    }

    /// Inserts a frame at the front (an envelope part, a routing id).
    pub fn push_front(&mut self, frame: impl IntoFrame) {
        self.frames.insert(0, frame.into_frame());
    }

    /// Appends a frame and returns the message, to build a multipart message
    /// of frames of different types:
    /// `Msg::single("topic").with(vec![1, 2]).with(&buf[..])`.
    #[must_use]
    pub fn with(mut self, frame: impl IntoFrame) -> Self {
        self.push(frame);
        self
    }

    /// A multipart message from frames of one type: `Msg::multipart(["", "hello"])`
    /// (for frames of several types, see [`with`](Self::with) or the tuple
    /// conversions: `Msg::from(("topic", vec![1, 2]))`).
    pub fn multipart<T: IntoFrame>(frames: impl IntoIterator<Item = T>) -> Self {
        frames.into_iter().collect()
    }

    /// The payload as text: the last frame (a one-frame message's only frame,
    /// the body after a ROUTER's envelope); an empty message reads as "".
    pub fn to_str(&self) -> Result<&str, Utf8Error> {
        std::str::from_utf8(self.frames.last().map_or(&[][..], |f| &f[..]))
    }

    /// Frame `i` as text. Panics if there is no frame `i`, as `frames()[i]` does.
    pub fn frame_str(&self, i: usize) -> Result<&str, Utf8Error> {
        std::str::from_utf8(&self.frames[i])
    }

    /// Removes and returns the first frame.
    pub fn pop_front(&mut self) -> Option<Bytes> {
        if self.frames.is_empty() {
            None
        } else {
            Some(self.frames.remove(0))
        }
    }

    /// The frames in order.
    #[inline]
    pub fn frames(&self) -> &[Bytes] {
        &self.frames
    }

    /// The first frame, if any.
    #[inline]
    pub fn first(&self) -> Option<&Bytes> {
        self.frames.first()
    }

    /// Number of frames.
    #[inline]
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether the message has no frames.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Sum of the frame lengths.
    #[inline]
    pub fn byte_len(&self) -> usize {
        // Called for every message on every queue it passes (HWM in bytes);
        // most messages have one frame.
        match self.frames.as_slice() {
            [one] => one.len(),
            frames => frames.iter().map(Bytes::len).sum(),
        }
    }

    /// Consumes the message, yielding its frames.
    pub fn into_frames(self) -> impl Iterator<Item = Bytes> {
        self.frames.into_iter()
    }

    /// The value of a property of the connection this message arrived on, as
    /// text, as libzmq's `zmq_msg_gets`: `"Peer-Address"`, `"User-Id"`,
    /// `"Socket-Type"`, `"Routing-Id"` (or `"Identity"`), or any property the
    /// peer sent or the authenticator granted. Names ignore ASCII case. `None`
    /// when there is no such property, when the value is not UTF-8 (see
    /// [`Msg::property_bytes`]), and always for a message that was not
    /// received from a ZMTP 3 peer.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.as_deref()?.get(name)
    }

    /// [`Msg::property`] as bytes, for values that need not be text.
    pub fn property_bytes(&self, name: &str) -> Option<&[u8]> {
        self.properties.as_deref()?.get_bytes(name)
    }

    /// Every property as (name, value); nothing for a message with none.
    pub fn properties(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.properties.iter().flat_map(|p| p.iter())
    }

    /// The properties themselves, shared: keep them (the peer's address, its
    /// user id) without keeping the message.
    pub fn shared_properties(&self) -> Option<&Arc<Properties>> {
        self.properties.as_ref()
    }

    /// Drops the properties, as libzmq drops a message's metadata when it is
    /// sent: a forwarded message does not carry its first hop's facts on.
    #[inline]
    pub fn clear_properties(&mut self) {
        self.properties = None;
    }

    /// A message as a connection delivers it: its frames and the
    /// connection's properties.
    #[inline]
    pub(crate) fn received(frames: Frames, properties: Option<Arc<Properties>>) -> Self {
        Self { frames, properties }
    }
}

/// What a message frame can be made from.
///
/// Owned buffers (`Bytes`, `Vec<u8>`, `String`, `BytesMut`, `Box<[u8]>`)
/// become the frame without a copy; borrowed ones (`&str`, `&[u8]`,
/// `&[u8; N]`, `&String`, `&Vec<u8>`) are copied, so a message never borrows
/// the caller's buffer and `send(&buf[..])` works with a local `buf`.
pub trait IntoFrame {
    /// The frame's bytes.
    fn into_frame(self) -> Bytes;
}

/// Owned buffers: handed over, no copy.
macro_rules! owned_frame {
    ($($t:ty),*) => {$(
        impl IntoFrame for $t {
            fn into_frame(self) -> Bytes {
                Bytes::from(self)
            }
        }
    )*};
}
owned_frame!(Bytes, Vec<u8>, String, Box<[u8]>);

impl IntoFrame for BytesMut {
    fn into_frame(self) -> Bytes {
        self.freeze()
    }
}

impl IntoFrame for &Bytes {
    fn into_frame(self) -> Bytes {
        self.clone()
    }
}

/// Borrowed buffers: copied, since a queued message outlives the borrow.
macro_rules! borrowed_frame {
    ($($t:ty),*) => {$(
        impl IntoFrame for $t {
            fn into_frame(self) -> Bytes {
                Bytes::copy_from_slice(AsRef::<[u8]>::as_ref(self))
            }
        }
    )*};
}
borrowed_frame!(&str, &[u8], &String, &Vec<u8>);

impl<const N: usize> IntoFrame for &[u8; N] {
    fn into_frame(self) -> Bytes {
        Bytes::copy_from_slice(self)
    }
}

impl<T: IntoFrame> From<T> for Msg {
    fn from(frame: T) -> Self {
        Self::single(frame)
    }
}

/// Multipart messages of mixed frame types: `("topic", vec![1, 2])`.
macro_rules! tuple_msg {
    ($($t:ident),*) => {
        impl<$($t: IntoFrame),*> From<($($t,)*)> for Msg {
            #[allow(non_snake_case)]
            fn from(($($t,)*): ($($t,)*)) -> Self {
                let mut m = Self::new();
                $(m.push($t);)*
                m
            }
        }
    };
}
tuple_msg!(A, B);
tuple_msg!(A, B, C);
tuple_msg!(A, B, C, D);

impl<T: IntoFrame> FromIterator<T> for Msg {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Self {
            frames: iter.into_iter().map(IntoFrame::into_frame).collect(),
            properties: None,
        }
    }
}

/// One frame as `Debug` (quoted text) or `Display` (bare text); `0x` + hex
/// when it is not text a terminal would show as is.
struct FrameFmt<'a>(&'a [u8], bool);

impl fmt::Debug for FrameFmt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match std::str::from_utf8(self.0) {
            Ok(s) if !s.chars().any(|c| c.is_control() && !c.is_whitespace()) => {
                if self.1 {
                    fmt::Debug::fmt(s, f)
                } else {
                    f.write_str(s)
                }
            }
            _ => {
                f.write_str("0x")?;
                self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
    }
}

/// `Msg["hello", 0x0102]`: one entry per frame.
impl fmt::Debug for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Msg")?;
        f.debug_list()
            .entries(self.frames.iter().map(|b| FrameFmt(b, true)))
            .finish()
    }
}

/// Frames separated by ` | `: `hello`, `topic | 0x0102`.
impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, frame) in self.frames.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            fmt::Debug::fmt(&FrameFmt(frame, false), f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_buffer_type_is_a_frame_and_borrowed_ones_are_copied() {
        let text = String::from("text");
        let buf = vec![1u8, 2];
        let m = Msg::from(&text[..])
            .with(&text)
            .with(text.clone())
            .with(&buf)
            .with(&buf[..])
            .with(buf.clone())
            .with(b"lit")
            .with(Bytes::from_static(b"b"))
            .with(BytesMut::from(&b"m"[..]));
        drop((text, buf));
        assert_eq!(m.len(), 9);
        assert_eq!(m.frame_str(0), Ok("text"));
        assert_eq!(&m.frames()[4][..], &[1, 2]);
    }

    #[test]
    fn mixed_frame_types_make_one_message() {
        let body = vec![0xffu8];
        let from_tuple = Msg::from(("topic", &body[..], String::from("x")));
        assert_eq!(from_tuple, Msg::multipart(["topic"]).with(body).with("x"));
        assert_eq!(Msg::multipart(vec![String::new(); 3]).len(), 3);
    }

    #[test]
    fn reads_as_text() {
        assert_eq!(Msg::from("hello").to_str(), Ok("hello"));
        let routed = Msg::from(("id", "", "body"));
        assert_eq!(routed.to_str(), Ok("body"));
        assert_eq!(routed.frame_str(0), Ok("id"));
        assert!(Msg::from(vec![0xff]).to_str().is_err());
        assert_eq!(Msg::new().to_str(), Ok(""));
    }

    #[test]
    fn prints_text_as_text_and_binary_as_hex() {
        let m = Msg::from(("topic", vec![0u8, 0xab], "a\"b\n"));
        assert_eq!(format!("{m:?}"), r#"Msg["topic", 0x00ab, "a\"b\n"]"#);
        assert_eq!(m.to_string(), "topic | 0x00ab | a\"b\n");
        assert_eq!(format!("{:?}", Msg::new()), "Msg[]");
    }
}
